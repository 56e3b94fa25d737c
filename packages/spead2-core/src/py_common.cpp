#include <pybind11/operators.h>
#include <pybind11/stl.h>
#include <spead2/common_defines.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_flavour.h>
#include <spead2/common_inproc.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/common_memory_pool.h>
#include <spead2/common_thread_pool.h>
#include <spead2/py_common.h>
#include "py_core.h"

namespace py = pybind11;

namespace spead2::python
{

namespace
{

void register_constants(py::module_ &m)
{
#define EXPORT(name) m.attr(#name) = int(name)
    EXPORT(BUG_COMPAT_DESCRIPTOR_WIDTHS);
    EXPORT(BUG_COMPAT_SHAPE_BIT_1);
    EXPORT(BUG_COMPAT_SWAP_ENDIAN);
    EXPORT(BUG_COMPAT_PYSPEAD_0_5_2);
    EXPORT(NULL_ID);
    EXPORT(HEAP_CNT_ID);
    EXPORT(HEAP_LENGTH_ID);
    EXPORT(PAYLOAD_OFFSET_ID);
    EXPORT(PAYLOAD_LENGTH_ID);
    EXPORT(DESCRIPTOR_ID);
    EXPORT(STREAM_CTRL_ID);
    EXPORT(DESCRIPTOR_NAME_ID);
    EXPORT(DESCRIPTOR_DESCRIPTION_ID);
    EXPORT(DESCRIPTOR_SHAPE_ID);
    EXPORT(DESCRIPTOR_FORMAT_ID);
    EXPORT(DESCRIPTOR_ID_ID);
    EXPORT(DESCRIPTOR_DTYPE_ID);
    EXPORT(CTRL_STREAM_START);
    EXPORT(CTRL_DESCRIPTOR_REISSUE);
    EXPORT(CTRL_STREAM_STOP);
    EXPORT(CTRL_DESCRIPTOR_UPDATE);
#undef EXPORT
    m.attr("MEMCPY_STD") = int(memcpy_function_id::STD);
    m.attr("MEMCPY_NONTEMPORAL") = int(memcpy_function_id::NONTEMPORAL);
}

py::object shape_to_python(const std::vector<s_item_pointer_t> &shape)
{
    py::list out;
    for (s_item_pointer_t size : shape)
        out.append(size < 0 ? py::object(py::none()) : py::object(py::int_(size)));
    return out;
}

std::vector<s_item_pointer_t> shape_from_python(const py::iterable &shape)
{
    std::vector<s_item_pointer_t> out;
    for (py::handle size : shape)
        out.push_back(size.is_none() ? -1 : size.cast<s_item_pointer_t>());
    return out;
}

} // namespace

void register_common(py::module_ &m)
{
    register_constants(m);

    py::class_<flavour>(m, "Flavour", "SPEAD protocol variant: SPEAD-64-<heap_address_bits> plus bug-compatibility flags.")
        .def(py::init<int, int, int, bug_compat_mask>(),
             py::arg("version"), py::arg("item_pointer_bits"), py::arg("heap_address_bits"),
             py::arg("bug_compat") = 0)
        .def(py::init<>())
        .def(py::self == py::self)
        .def(py::self != py::self)
        .def_property_readonly("version", &flavour::get_version, "SPEAD version (always 4).")
        .def_property_readonly("item_pointer_bits", &flavour::get_item_pointer_bits, "Bits in an item pointer (always 64).")
        .def_property_readonly("heap_address_bits", &flavour::get_heap_address_bits,
                               "Bits of an item pointer that hold an address or immediate value; the rest, less the\n"
                               "immediate flag, hold the item ID.")
        .def_property_readonly("bug_compat", &flavour::get_bug_compat, "Bug-compatibility flags (spead2.BUG_COMPAT_*).");

    py::class_<thread_pool, std::shared_ptr<thread_pool>>(m, "ThreadPool",
                                                          "Native worker threads that run network I/O and protocol processing.")
        .def(py::init([](int threads) { return stop_at_shutdown(make_gil_released_shared<thread_pool>(threads)); }),
             py::arg("threads") = 1)
        .def(py::init([](int threads, const std::vector<int> &affinity) {
                 return stop_at_shutdown(make_gil_released_shared<thread_pool>(threads, affinity));
             }),
             py::arg("threads"), py::arg("affinity"))
        .def("stop", [](thread_pool &p) { without_gil([&p] { p.stop(); }); },
             "Stop the worker threads, abandoning pending work; the streams using the pool stop working.")
        .def_static("set_affinity", &thread_pool::set_affinity, "Pin the calling thread to a CPU core.");

    py::class_<memory_allocator, std::shared_ptr<memory_allocator>>(m, "MemoryAllocator",
                                                                    "The default allocator for received heap payloads.")
        .def(py::init<>());
    py::class_<mmap_allocator, memory_allocator, std::shared_ptr<mmap_allocator>>(
        m, "MmapAllocator", "Allocates each block with an anonymous mmap, optionally trying huge pages first.")
        .def(py::init<int, bool>(), py::arg("flags") = 0, py::arg("prefer_huge") = false);
    py::class_<memory_pool, memory_allocator, std::shared_ptr<memory_pool>>(
        m, "MemoryPool", "A pool of fixed-size blocks for heaps of size lower..upper, refilled in the background.")
        .def(py::init([](std::size_t lower, std::size_t upper, std::size_t max_free, std::size_t initial,
                         std::shared_ptr<memory_allocator> allocator) {
                 gil_release release;
                 return std::make_shared<memory_pool>(lower, upper, max_free, initial, std::move(allocator));
             }),
             py::arg("lower"), py::arg("upper"), py::arg("max_free"), py::arg("initial"),
             py::arg("allocator") = nullptr)
        .def(py::init([](std::shared_ptr<thread_pool> pool, std::size_t lower, std::size_t upper,
                         std::size_t max_free, std::size_t initial, std::size_t low_water,
                         std::shared_ptr<memory_allocator> allocator) {
                 gil_release release;
                 return std::make_shared<memory_pool>(std::move(pool), lower, upper, max_free, initial,
                                                      low_water, std::move(allocator));
             }),
             py::arg("thread_pool").none(false), py::arg("lower"), py::arg("upper"), py::arg("max_free"),
             py::arg("initial"), py::arg("low_water"), py::arg("allocator") = nullptr)
        .def_property("warn_on_empty", &memory_pool::get_warn_on_empty, &memory_pool::set_warn_on_empty,
                      "Whether to log a warning when the pool is empty and a block must be allocated.");

    py::class_<inproc_queue, std::shared_ptr<inproc_queue>>(
        m, "InprocQueue", "An unbounded, thread-safe, lossless in-process packet queue.")
        .def(py::init<>())
        .def(
            "add_packet",
            [](inproc_queue &q, py::object packet) {
                buffer_view view = request_contiguous_buffer(packet);
                q.add_packet(view.ptr, view.size);
            },
            "Copy a packet into the queue (raises spead2.Stopped after stop()).")
        .def("stop", &inproc_queue::stop, "Mark the end of the stream; receivers drain the rest, then stop.");

    py::class_<descriptor>(m, "RawDescriptor", "An item descriptor in its undecoded, wire-level form.")
        .def(py::init<>())
        .def_readwrite("id", &descriptor::id)
        .def_property(
            "name", [](const descriptor &d) { return py::bytes(d.name); },
            [](descriptor &d, const py::bytes &value) { d.name = value; })
        .def_property(
            "description", [](const descriptor &d) { return py::bytes(d.description); },
            [](descriptor &d, const py::bytes &value) { d.description = value; })
        .def_property(
            "shape", [](const descriptor &d) { return shape_to_python(d.shape); },
            [](descriptor &d, const py::iterable &value) { d.shape = shape_from_python(value); })
        .def_property(
            "format",
            [](const descriptor &d) {
                py::list out;
                for (const auto &field : d.format)
                {
                    /* A code is one byte on the wire, any byte: as a str it is that
                     * code point (Latin-1), which is also what the setter accepts. */
                    auto code = py::reinterpret_steal<py::str>(
                        PyUnicode_FromOrdinal(static_cast<unsigned char>(field.first)));
                    if (!code)
                        throw py::error_already_set();
                    out.append(py::make_tuple(code, field.second));
                }
                return out;
            },
            [](descriptor &d, const std::vector<std::pair<char, s_item_pointer_t>> &value) { d.format = value; })
        .def_property(
            "numpy_header", [](const descriptor &d) { return py::bytes(d.numpy_header); },
            [](descriptor &d, const py::bytes &value) { d.numpy_header = value; });
}

} // namespace spead2::python
