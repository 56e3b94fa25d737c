#include <pybind11/pybind11.h>
#include "py_chunk.h"

PYBIND11_MODULE(_chunk, m)
{
    m.doc() = "spead2 chunking receiver (native part of the spead2-chunk plugin)";
    spead2::python::register_chunk(m);
    spead2::python::register_chunk_stream(m);
    spead2::python::register_chunk_stream_group(m);
}
