/* The plugin's Python module (_xdp), registered in two halves. */
#ifndef SPEAD2_PY_XDP_H
#define SPEAD2_PY_XDP_H

#include <pybind11/pybind11.h>

namespace spead2::python
{

namespace py = pybind11;

void register_recv(py::module_ &m);
void register_send(py::module_ &m);

} // namespace spead2::python

#endif
