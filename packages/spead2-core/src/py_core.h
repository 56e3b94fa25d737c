/* Private to the _core extension: registration functions of its binding files. */
#ifndef SPEAD2_PY_CORE_H
#define SPEAD2_PY_CORE_H

#include <pybind11/pybind11.h>

namespace spead2::python
{

void register_common(pybind11::module_ &m);
void register_logging(pybind11::module_ &m);
void register_send(pybind11::module_ &m);
void register_recv(pybind11::module_ &m);

} // namespace spead2::python

#endif
