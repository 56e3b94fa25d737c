/* The send side of the plugin's Python module: spead2.send.UdpIbvConfig, UdpIbvStream
 * and its native asyncio base. */
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <pybind11/stl.h>
#include <spead2/py_common.h>
#include <spead2/py_send.h>
#include <spead2/send_udp_ibv.h>
#include "py_ibverbs.h"

namespace spead2::python
{

namespace
{

using send::stream_config;
using send::udp_ibv_writer;
typedef std::vector<std::pair<std::string, std::uint16_t>> endpoint_list;

/// A new list with the same items (py::list(list) would share the list itself).
py::list copy_list(const py::list &items)
{
    return py::reinterpret_steal<py::list>(PySequence_List(items.ptr()));
}

/// spead2.send.UdpIbvConfig: the C++ configuration and the buffers of its memory regions.
struct py_udp_ibv_config
{
    send::udp_ibv_config config;
    py::list regions = py::list();   ///< as assigned, for the getter and to keep them alive
    std::vector<buffer_view> views;

    void set_memory_regions(const py::list &objects)
    {
        std::vector<buffer_view> new_views;
        std::vector<send::udp_ibv_config::memory_region> pairs;
        for (py::handle obj : objects)
        {
            new_views.push_back(request_contiguous_buffer(obj));
            pairs.emplace_back(new_views.back().ptr, new_views.back().size);
        }
        config.set_memory_regions(std::move(pairs));   // validates
        views = std::move(new_views);
        regions = copy_list(objects);
    }
};

/* The stream holds the memory regions' buffers (the NIC reads them while sending),
 * released with the GIL whichever thread destroys the stream (make_gil_safe_shared). */
class udp_ibv_stream : public send::stream
{
public:
    std::shared_ptr<void> buffers;

    using send::stream::stream;
};

template<typename T>
std::shared_ptr<T> make_ibv_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                                   const py_udp_ibv_config &ibv_config)
{
    std::shared_ptr<void> buffers = make_gil_safe_shared(ibv_config.views);
    auto stream = make_stream_without_gil<T>(pool, config, [&] {
        return std::make_unique<udp_ibv_writer>(*pool, config, ibv_config.config);
    });
    stream->buffers = std::move(buffers);
    return stream;
}

template<typename Class>
void define_udp_ibv_stream(Class &cls)
{
    using T = typename Class::type;
    cls.def(py::init(&make_ibv_stream<T>), py::arg("thread_pool").none(false),
            py::arg("config") = stream_config(), py::arg("udp_ibv_config"));
}

} // anonymous namespace

void register_send(py::module_ &m)
{
    py::module_ send_module = public_submodule(m, "send", "spead2._spead2.send");
    py::module_::import("spead2_core._core");   // registers the base class spead2.send.Stream

    py::class_<py_udp_ibv_config> config(send_module, "UdpIbvConfig",
                                         "Configuration of UdpIbvStream (keyword-only).");
    config.attr("DEFAULT_BUFFER_SIZE") = send::udp_ibv_config::default_buffer_size;
    config.attr("DEFAULT_MAX_POLL") = send::udp_ibv_config::default_max_poll;
    config
        .def(py::init([](endpoint_list endpoints, std::string interface_address, std::size_t buffer_size,
                         std::uint8_t ttl, int comp_vector, int max_poll, const py::list &memory_regions) {
                 auto c = std::make_unique<py_udp_ibv_config>();
                 c->config.set_endpoints(std::move(endpoints))
                     .set_interface_address(std::move(interface_address))
                     .set_buffer_size(buffer_size)
                     .set_ttl(ttl)
                     .set_comp_vector(comp_vector)
                     .set_max_poll(max_poll);
                 c->set_memory_regions(memory_regions);
                 return c;
             }),
             py::kw_only(), py::arg("endpoints") = endpoint_list(), py::arg("interface_address") = "",
             py::arg("buffer_size") = send::udp_ibv_config::default_buffer_size, py::arg("ttl") = 1,
             py::arg("comp_vector") = 0, py::arg("max_poll") = send::udp_ibv_config::default_max_poll,
             py::arg("memory_regions") = py::list())
        .def_property("endpoints", [](const py_udp_ibv_config &c) { return c.config.get_endpoints(); },
                      [](py_udp_ibv_config &c, endpoint_list e) { c.config.set_endpoints(std::move(e)); },
                      "(group, port) pairs to send to, IPv4 multicast, one per substream (a copy).")
        .def_property("interface_address", [](const py_udp_ibv_config &c) { return c.config.get_interface_address(); },
                      [](py_udp_ibv_config &c, std::string a) { c.config.set_interface_address(std::move(a)); },
                      "IPv4 address of the interface of the RDMA NIC.")
        .def_property("buffer_size", [](const py_udp_ibv_config &c) { return c.config.get_buffer_size(); },
                      [](py_udp_ibv_config &c, std::size_t n) { c.config.set_buffer_size(n); },
                      "Bytes of frame buffers (0 restores the default).")
        .def_property("ttl", [](const py_udp_ibv_config &c) { return c.config.get_ttl(); },
                      [](py_udp_ibv_config &c, std::uint8_t n) { c.config.set_ttl(n); }, "IPv4 TTL of the frames.")
        .def_property("comp_vector", [](const py_udp_ibv_config &c) { return c.config.get_comp_vector(); },
                      [](py_udp_ibv_config &c, int n) { c.config.set_comp_vector(n); },
                      "Completion vector for completion events; negative polls instead.")
        .def_property("max_poll", [](const py_udp_ibv_config &c) { return c.config.get_max_poll(); },
                      [](py_udp_ibv_config &c, int n) { c.config.set_max_poll(n); },
                      "Polls per turn when busy polling (at least 1).")
        .def_property("memory_regions", [](const py_udp_ibv_config &c) { return copy_list(c.regions); },
                      &py_udp_ibv_config::set_memory_regions,
                      "Buffers registered with the NIC, sent from where they are (the objects assigned).");

    py::class_<udp_ibv_stream, send::stream, std::shared_ptr<udp_ibv_stream>> stream(
        send_module, "UdpIbvStream", "Sends each heap as UDP datagrams to multicast endpoints, through ibverbs.");
    define_udp_ibv_stream(stream);
    define_sync_send_methods(stream);

    using async = async_stream<udp_ibv_stream>;
    py::class_<async, send::stream, std::shared_ptr<async>> asyncio(
        send_module, "UdpIbvStreamAsyncio", "Native base of spead2.send.asyncio.UdpIbvStream.");
    define_udp_ibv_stream(asyncio);
    define_async_send_methods(asyncio);
}

} // namespace spead2::python
