#include <stdexcept>
#include <spead2/py_common.h>
#include "py_chunk.h"

namespace spead2::python
{

/* ---- buffers ----------------------------------------------------------- */

void chunk_buffer::release(Py_buffer *view)
{
    PyBuffer_Release(view);
    delete view;
}

chunk_buffer::chunk_buffer(py::object obj) : obj(std::move(obj))
{
    if (this->obj.is_none())
        return;
    auto *export_view = new Py_buffer;
    // The exporter's own errors: "ndarray is not C-contiguous", "Object is not writable."
    if (PyObject_GetBuffer(this->obj.ptr(), export_view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0)
    {
        delete export_view;
        throw py::error_already_set();
    }
    view.reset(export_view);
}

void chunk_buffer::leak()
{
    view.release();
    obj.release();
}

/* ---- chunks in flight ---------------------------------------------------- */

inflight_chunk::inflight_chunk(py::object obj) : owner(std::move(obj))
{
    py_chunk &state = owner.cast<py_chunk &>();
    if (!state.data.is_set())
        throw py::value_error("data buffer is not set");
    if (!state.present.is_set())
        throw py::value_error("present buffer is not set");
    present_buffer = std::move(state.present);
    data_buffer = std::move(state.data);
    extra_buffer = std::move(state.extra);
    chunk_id = state.chunk_id;
    stream_id = state.stream_id;
    present = present_buffer.data();
    present_size = present_buffer.size();
    data = data_buffer.data();
    data_size = data_buffer.size();
    extra = extra_buffer.data();
    extra_size = extra_buffer.size();
}

inflight_chunk::~inflight_chunk()
{
    if (!owner)
        return;   // restored: nothing of Python's left here
    if (interpreter_finalizing())
    {
        // No GIL to be had: leak rather than touch the interpreter.
        present_buffer.leak();
        data_buffer.leak();
        extra_buffer.leak();
        owner.release();
        return;
    }
    py::gil_scoped_acquire gil;
    present_buffer = chunk_buffer();
    data_buffer = chunk_buffer();
    extra_buffer = chunk_buffer();
    owner = py::object();
}

py::object inflight_chunk::restore()
{
    py_chunk &state = owner.cast<py_chunk &>();
    state.present = std::move(present_buffer);
    state.data = std::move(data_buffer);
    state.extra = std::move(extra_buffer);
    state.chunk_id = chunk_id;
    state.stream_id = stream_id;
    return std::move(owner);
}

py::object restore_chunk(std::unique_ptr<recv::chunk> &&c)
{
    // Every chunk reaching Python came from Python: rings and streams only move them.
    return static_cast<inflight_chunk &>(*c).restore();
}

/* ---- rings --------------------------------------------------------------- */

namespace
{

py::object ring_get(chunk_ring &ring, bool wait)
{
    return ring_pop(ring, wait, restore_chunk);
}

void ring_put(chunk_ring &ring, py::object chunk, bool wait)
{
    auto flying = std::make_unique<inflight_chunk>(std::move(chunk));
    std::unique_ptr<recv::chunk> item = std::move(flying);
    leak_without_gil guard(item);
    while (true)
    {
        switch (ring.try_push(std::move(item)))
        {
        case ring_status::ok:
            return;
        case ring_status::stopped:
            restore_chunk(std::move(item));   // the caller keeps a usable chunk
            throw ringbuffer_stopped();
        default:
            if (!wait)
            {
                restore_chunk(std::move(item));
                throw ringbuffer_full();
            }
        }
        try
        {
            interruptible_wait([&ring](auto timeout) { return ring.wait_for_space(timeout); });
        }
        catch (...)
        {
            if (PyGILState_Check())   // not a daemon thread ended at exit (see leak_without_gil)
                restore_chunk(std::move(item));
            throw;
        }
    }
}

py::object buffer_getter(const chunk_buffer &buffer)
{
    return buffer.is_set() ? buffer.object() : py::none();
}

} // anonymous namespace

void register_chunk(py::module_ &m)
{
    py::class_<py_chunk>(m, "Chunk", py::dynamic_attr(),
                         "A chunk of heaps: user buffers that a chunk stream fills.")
        .def(py::init([](std::int64_t chunk_id, std::uint64_t stream_id, py::object present, py::object data,
                         py::object extra) {
                 auto self = std::make_unique<py_chunk>();
                 self->chunk_id = chunk_id;
                 self->stream_id = stream_id;
                 self->present = chunk_buffer(std::move(present));
                 self->data = chunk_buffer(std::move(data));
                 self->extra = chunk_buffer(std::move(extra));
                 return self;
             }),
             py::kw_only(), py::arg("chunk_id") = -1, py::arg("stream_id") = 0, py::arg("present") = py::none(),
             py::arg("data") = py::none(), py::arg("extra") = py::none())
        .def_readwrite("chunk_id", &py_chunk::chunk_id, "The chunk's ID, set by the stream that fills it.")
        .def_readwrite("stream_id", &py_chunk::stream_id, "StreamConfig.stream_id of the stream that filled it.")
        .def_property("present", [](const py_chunk &c) { return buffer_getter(c.present); },
                      [](py_chunk &c, py::object obj) { c.present = chunk_buffer(std::move(obj)); },
                      "One byte per heap (or packet) slot, set to 1 when it arrived; None while in flight.")
        .def_property("data", [](const py_chunk &c) { return buffer_getter(c.data); },
                      [](py_chunk &c, py::object obj) { c.data = chunk_buffer(std::move(obj)); },
                      "The buffer that receives heap payloads; None while in flight.")
        .def_property("extra", [](const py_chunk &c) { return buffer_getter(c.extra); },
                      [](py_chunk &c, py::object obj) { c.extra = chunk_buffer(std::move(obj)); },
                      "Optional buffer for per-heap data the place callback writes; None while in flight.");

    py::class_<chunk_ring, std::shared_ptr<chunk_ring>>(m, "ChunkRingbuffer", py::dynamic_attr(),
                                                         "A bounded, thread-safe FIFO of chunks.")
        .def(py::init([](std::size_t maxsize) {
                 if (maxsize == 0)
                     throw std::invalid_argument("maxsize must be at least 1");
                 return std::make_shared<chunk_ring>(maxsize);
             }),
             py::arg("maxsize"))
        .def_property_readonly("maxsize", &chunk_ring::capacity, "The most chunks the ring holds.")
        .def_property_readonly("data_fd", &chunk_ring::get_data_fd,
                               "File descriptor that is readable while chunks are waiting (for event loops).")
        .def_property_readonly("space_fd", &chunk_ring::get_space_fd,
                               "File descriptor that is readable while there is room (for event loops).")
        .def("qsize", &chunk_ring::size, "Chunks in the ring now.")
        .def("empty", [](const chunk_ring &r) { return r.size() == 0; }, "Whether the ring holds no chunk.")
        .def("full", [](const chunk_ring &r) { return r.size() == r.capacity(); }, "Whether the ring has no room.")
        .def("get", [](chunk_ring &r) { return ring_get(r, true); },
             "The next chunk, waiting for one (spead2.Stopped once stopped and drained).")
        .def("get_nowait", [](chunk_ring &r) { return ring_get(r, false); },
             "The next chunk (spead2.Empty if none, spead2.Stopped once stopped and drained).")
        .def("put", [](chunk_ring &r, py::object c) { ring_put(r, std::move(c), true); }, py::arg("chunk"),
             "Add a chunk, waiting for space (spead2.Stopped if stopped).")
        .def("put_nowait", [](chunk_ring &r, py::object c) { ring_put(r, std::move(c), false); },
             py::arg("chunk"), "Add a chunk (spead2.Full if full, spead2.Stopped if stopped).")
        .def("stop", [](chunk_ring &r) { r.stop(); return true; },
             "Stop: puts fail, gets drain what is left then raise spead2.Stopped. Returns True.")
        .def("add_producer", &chunk_ring::add_producer,
             "Count one more producer; the ring stops when the last one calls remove_producer.")
        .def("remove_producer", &chunk_ring::remove_producer,
             "One producer is done; the last one stops the ring (returns True if this call did).")
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", [](chunk_ring &r) { return stop_iteration_at_stop([&r] { return ring_get(r, true); }); });
}

} // namespace spead2::python
