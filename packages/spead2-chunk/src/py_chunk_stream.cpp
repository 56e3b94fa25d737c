#include <cstring>
#include <string>
#include <pybind11/stl.h>
#include <spead2/common_thread_pool.h>
#include <spead2/py_common.h>
#include "py_chunk.h"

namespace spead2::python
{

namespace
{

constexpr const char *place_signature = "void (void *, size_t)";
constexpr const char *place_signature_user_data = "void (void *, size_t, void *)";

/* The place callback from its Python form: a sequence (e.g. scipy.LowLevelCallable)
 * whose first element is a capsule named by the C signature.  Returns an empty
 * function for None or a capsule holding no pointer.  The function keeps @a place
 * alive (its code and user data), whatever later becomes of the config. */
recv::chunk_place_function place_from_python(const py::object &place)
{
    if (place.is_none())
        return {};
    py::tuple parts(place);   // TypeError for what is not a sequence
    py::object first = parts[0];   // IndexError("tuple index out of range") when empty
    if (!PyCapsule_CheckExact(first.ptr()))
        throw py::type_error("Object of type '" + std::string(Py_TYPE(first.ptr())->tp_name)
                             + "' is not an instance of 'capsule'");
    const char *name = PyCapsule_GetName(first.ptr());
    void *pointer = PyCapsule_GetPointer(first.ptr(), name);
    if (!pointer)
    {
        PyErr_Clear();
        return {};
    }
    if (!name)
        throw py::value_error("Signature missing from capsule");
    if (std::strcmp(name, place_signature) == 0)
    {
        auto fn = reinterpret_cast<void (*)(void *, std::size_t)>(pointer);
        return [fn, keep = make_gil_safe_shared(place)](recv::chunk_place_data *data, std::size_t size) {
            fn(data, size);
        };
    }
    if (std::strcmp(name, place_signature_user_data) == 0)
    {
        auto fn = reinterpret_cast<void (*)(void *, std::size_t, void *)>(pointer);
        void *user_data = PyCapsule_GetContext(first.ptr());
        return [fn, user_data, keep = make_gil_safe_shared(place)](recv::chunk_place_data *data, std::size_t size) {
            fn(data, size, user_data);
        };
    }
    throw py::value_error(std::string("Invalid callback signature \"") + name + "\". Expected one of:\n  "
                          + place_signature + "\n  " + place_signature_user_data);
}

} // anonymous namespace

void py_chunk_stream_config::set_place(py::object obj)
{
    recv::chunk_place_function fn = place_from_python(obj);
    place = fn ? std::move(obj) : py::none();
    config.set_place(std::move(fn));
}

void register_chunk_stream(py::module_ &m)
{
    py::class_<py_chunk_stream_config> config(m, "ChunkStreamConfig",
                                              "How a chunk stream places heaps into chunks.");
    config.attr("DEFAULT_MAX_CHUNKS") = recv::chunk_stream_config::default_max_chunks;
    config
        .def(py::init([](const std::vector<item_pointer_t> &items, std::size_t max_chunks, py::object place,
                         std::size_t max_heap_extra) {
                 auto self = std::make_unique<py_chunk_stream_config>();
                 self->config.set_items(items).set_max_chunks(max_chunks).set_max_heap_extra(max_heap_extra);
                 self->set_place(std::move(place));
                 return self;
             }),
             py::kw_only(), py::arg("items") = std::vector<item_pointer_t>(),
             py::arg("max_chunks") = recv::chunk_stream_config::default_max_chunks, py::arg("place") = py::none(),
             py::arg("max_heap_extra") = 0)
        .def_property("items", [](const py_chunk_stream_config &c) { return c.config.get_items(); },
                      [](py_chunk_stream_config &c, const std::vector<item_pointer_t> &items) {
                          c.config.set_items(items);
                      },
                      "IDs of the immediate items whose values the place callback gets, in that order.")
        .def_property("max_chunks", [](const py_chunk_stream_config &c) { return c.config.get_max_chunks(); },
                      [](py_chunk_stream_config &c, std::size_t n) { c.config.set_max_chunks(n); },
                      "Chunks the stream fills at once (its window).")
        .def_property("place", [](const py_chunk_stream_config &c) { return c.place; },
                      &py_chunk_stream_config::set_place,
                      "The place callback: a sequence whose first element is a PyCapsule (scipy.LowLevelCallable).")
        .def_property("max_heap_extra",
                      [](const py_chunk_stream_config &c) { return c.config.get_max_heap_extra(); },
                      [](py_chunk_stream_config &c, std::size_t n) { c.config.set_max_heap_extra(n); },
                      "Bytes of scratch space the place callback gets for chunk.extra.")
        .def_property_readonly("packet_presence_payload_size", [](const py_chunk_stream_config &c) {
            return c.config.get_packet_presence_payload_size();
        }, "Payload bytes per packet with packet presence enabled; 0 when heaps are marked.")
        .def("enable_packet_presence", [](py::object self, std::size_t payload_size) {
                 self.cast<py_chunk_stream_config &>().config.enable_packet_presence(payload_size);
                 return self;
             }, py::arg("payload_size"), "Mark packets rather than heaps as present; returns this config.")
        .def("disable_packet_presence", [](py::object self) {
                 self.cast<py_chunk_stream_config &>().config.disable_packet_presence();
                 return self;
             }, "Mark whole heaps as present again; returns this config.");

    py::class_<recv::chunk_ring_pair, std::shared_ptr<recv::chunk_ring_pair>>(
        m, "ChunkRingPair", "Base of chunk streams and groups fed and drained by a pair of ChunkRingbuffers.")
        .def("add_free_chunk", [](recv::chunk_ring_pair &self, py::object chunk) {
                 std::unique_ptr<recv::chunk> flying = std::make_unique<inflight_chunk>(std::move(chunk));
                 try
                 {
                     self.add_free_chunk(std::move(flying));
                 }
                 catch (ringbuffer_full &)
                 {
                     restore_chunk(std::move(flying));   // the caller keeps a usable chunk
                     throw;
                 }
             }, py::arg("chunk"),
             "Zero the chunk's present flags and put it in the free ring (spead2.Full if it is full).")
        .def_property_readonly("data_ringbuffer", &recv::chunk_ring_pair::get_data_ringbuffer,
                               "The ring that ready chunks are put on (the object given).")
        .def_property_readonly("free_ringbuffer", &recv::chunk_ring_pair::get_free_ringbuffer,
                               "The ring that empty chunks are taken from (the object given).");

    py::class_<recv::chunk_ring_stream, recv::chunk_ring_pair, recv::stream, std::shared_ptr<recv::chunk_ring_stream>>(
        m, "ChunkRingStream", "A chunk stream on a pair of rings.")
        .def(py::init([](std::shared_ptr<thread_pool> pool, const recv::stream_config &config,
                         const py_chunk_stream_config &chunk_config, std::shared_ptr<chunk_ring> data_ring,
                         std::shared_ptr<chunk_ring> free_ring) {
                 return stop_at_shutdown(make_gil_released_shared<recv::chunk_ring_stream>(
                     std::move(pool), config, chunk_config.config, std::move(data_ring), std::move(free_ring)));
             }),
             py::arg("thread_pool").none(false), py::arg("config") = recv::stream_config(),
             py::arg("chunk_stream_config"), py::arg("data_ringbuffer").none(false),
             py::arg("free_ringbuffer").none(false),
             // The rings' Python objects, so that data_ringbuffer returns them (and their subclass).
             py::keep_alive<1, 5>(), py::keep_alive<1, 6>());
}

} // namespace spead2::python
