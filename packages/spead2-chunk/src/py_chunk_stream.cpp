#include <cstring>
#include <string>
#include <pybind11/stl.h>
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
 * function for None or a capsule holding no pointer. */
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
        return [fn](recv::chunk_place_data *data, std::size_t size) { fn(data, size); };
    }
    if (std::strcmp(name, place_signature_user_data) == 0)
    {
        auto fn = reinterpret_cast<void (*)(void *, std::size_t, void *)>(pointer);
        void *user_data = PyCapsule_GetContext(first.ptr());
        return [fn, user_data](recv::chunk_place_data *data, std::size_t size) { fn(data, size, user_data); };
    }
    throw py::value_error(std::string("Invalid callback signature \"") + name + "\". Expected one of:\n  "
                          + place_signature + "\n  " + place_signature_user_data);
}

} // anonymous namespace

/// The Python ChunkStreamConfig: the C++ configuration and the Python form of its callback.
struct py_chunk_stream_config
{
    recv::chunk_stream_config config;
    py::object place = py::none();   ///< as assigned (it keeps the callback's code and data alive)

    void set_place(py::object obj)
    {
        recv::chunk_place_function fn = place_from_python(obj);
        place = fn ? std::move(obj) : py::none();
        config.set_place(std::move(fn));
    }
};

void register_chunk_stream(py::module_ &m)
{
    py::class_<py_chunk_stream_config> config(m, "ChunkStreamConfig",
                                              "How a chunk stream places heaps into chunks (spec 6.3).");
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
                      })
        .def_property("max_chunks", [](const py_chunk_stream_config &c) { return c.config.get_max_chunks(); },
                      [](py_chunk_stream_config &c, std::size_t n) { c.config.set_max_chunks(n); })
        .def_property("place", [](const py_chunk_stream_config &c) { return c.place; },
                      &py_chunk_stream_config::set_place)
        .def_property("max_heap_extra",
                      [](const py_chunk_stream_config &c) { return c.config.get_max_heap_extra(); },
                      [](py_chunk_stream_config &c, std::size_t n) { c.config.set_max_heap_extra(n); })
        .def_property_readonly("packet_presence_payload_size", [](const py_chunk_stream_config &c) {
            return c.config.get_packet_presence_payload_size();
        })
        .def("enable_packet_presence", [](py::object self, std::size_t payload_size) {
                 self.cast<py_chunk_stream_config &>().config.enable_packet_presence(payload_size);
                 return self;
             }, py::arg("payload_size"), "Mark packets rather than heaps as present; returns this config.")
        .def("disable_packet_presence", [](py::object self) {
                 self.cast<py_chunk_stream_config &>().config.disable_packet_presence();
                 return self;
             }, "Mark whole heaps as present again; returns this config.");
}

} // namespace spead2::python
