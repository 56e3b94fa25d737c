/* The plugin's Python module (spead2_udp._udp): one registration function per side. */
#ifndef SPEAD2_UDP_PY_UDP_H
#define SPEAD2_UDP_PY_UDP_H

#include <pybind11/pybind11.h>

namespace spead2::python
{

namespace py = pybind11;

void register_recv(py::module_ &m);
void register_send(py::module_ &m);

} // namespace spead2::python

#endif
