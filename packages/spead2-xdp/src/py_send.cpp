/* The send side of the plugin's Python module: spead2.send.UdpXdpConfig, UdpXdpStream
 * and its native asyncio base. */
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <pybind11/stl.h>
#include <spead2/py_common.h>
#include <spead2/py_send.h>
#include <spead2/send_udp_xdp.h>
#include "py_xdp.h"

namespace spead2::python
{

namespace
{

using send::stream_config;
using send::udp_xdp_config;
using send::udp_xdp_writer;
typedef std::vector<std::pair<std::string, std::uint16_t>> endpoint_list;

class udp_xdp_stream : public send::stream
{
public:
    using send::stream::stream;

    bool zero_copy() { return static_cast<udp_xdp_writer &>(get_writer()).zero_copy(); }
};

template<typename T>
std::shared_ptr<T> make_xdp_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                                   const udp_xdp_config &xdp_config)
{
    return make_stream_without_gil<T>(pool, config, [&] {
        return std::make_unique<udp_xdp_writer>(*pool, config, xdp_config);
    });
}

template<typename Class>
void define_udp_xdp_stream(Class &cls)
{
    using T = typename Class::type;
    cls.def(py::init(&make_xdp_stream<T>), py::arg("thread_pool").none(false),
            py::arg("config") = stream_config(), py::arg("udp_xdp_config"))
        .def_property_readonly("zero_copy", &T::zero_copy,
                               "Whether the driver took the AF_XDP socket in zero-copy mode.");
}

} // anonymous namespace

void register_send(py::module_ &m)
{
    py::module_ send_module = public_submodule(m, "send", "spead2._spead2.send");
    py::module_::import("spead2_core._core");   // registers the base class spead2.send.Stream

    typedef udp_xdp_config C;
    py::class_<C> config(send_module, "UdpXdpConfig", "Configuration of UdpXdpStream (keyword-only).");
    config
        .def(py::init([](std::string interface, endpoint_list endpoints, std::uint32_t queue, std::size_t frame_size,
                         std::size_t frame_count, std::size_t ring_size, bool zero_copy, std::uint8_t ttl) {
                 C c;
                 set_xdp_config_base(c, interface, queue, frame_size, frame_count, ring_size, zero_copy);
                 c.set_endpoints(std::move(endpoints));
                 c.set_ttl(ttl);
                 return c;
             }),
             py::kw_only(), py::arg("interface") = "", py::arg("endpoints") = endpoint_list(),
             py::arg("queue") = 0, py::arg("frame_size") = C::default_frame_size,
             py::arg("frame_count") = C::default_frame_count, py::arg("ring_size") = C::default_ring_size,
             py::arg("zero_copy") = true, py::arg("ttl") = 1)
        .def_property("endpoints", &C::get_endpoints, setter<C, endpoint_list>(&C::set_endpoints),
                      "(address, port) pairs to send to, one per substream: IPv4 multicast groups, or unicast "
                      "addresses in the kernel's neighbour table (a copy).")
        .def_property("queue", &C::get_queue, setter<C, std::uint32_t>(&C::set_queue),
                      "The transmit queue of the interface.")
        .def_property("ttl", &C::get_ttl, setter<C, std::uint8_t>(&C::set_ttl), "IPv4 TTL of the frames.");
    define_xdp_config_base(config, "Descriptors in the transmit ring (a power of 2).");

    py::class_<udp_xdp_stream, send::stream, std::shared_ptr<udp_xdp_stream>> stream(
        send_module, "UdpXdpStream", "Sends each heap as UDP datagrams through an AF_XDP socket.");
    define_udp_xdp_stream(stream);
    define_sync_send_methods(stream);

    using async = async_stream<udp_xdp_stream>;
    py::class_<async, send::stream, std::shared_ptr<async>> asyncio(
        send_module, "UdpXdpStreamAsyncio", "Native base of spead2.send.asyncio.UdpXdpStream.");
    define_udp_xdp_stream(asyncio);
    define_async_send_methods(asyncio);
}

} // namespace spead2::python
