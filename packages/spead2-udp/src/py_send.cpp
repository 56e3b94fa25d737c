/* The send side of the plugin's Python module: UdpStream, TcpStream and their native
 * asyncio bases, built on the core's send bindings (py_send.h). */
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <spead2/common_shutdown.h>
#include <spead2/py_common.h>
#include <spead2/py_send.h>
#include <spead2/send_tcp.h>
#include <spead2/send_udp.h>
#include "py_socket.h"
#include "py_udp.h"

namespace spead2::python
{

namespace
{

using send::stream_config;
using send::tcp_writer;
using send::udp_writer;
typedef std::vector<std::pair<std::string, std::uint16_t>> endpoint_list;

/// spead2.send.UdpStream: a send stream whose writer is a udp_writer.
class udp_stream : public send::stream
{
public:
    using send::stream::stream;
};

/// spead2.send.TcpStream
class tcp_stream : public send::stream
{
public:
    using send::stream::stream;
};

std::vector<socket_address> resolve_all(const endpoint_list &endpoints)
{
    std::vector<socket_address> out;
    out.reserve(endpoints.size());
    for (const auto &[host, port] : endpoints)
        out.push_back(socket_address::resolve(host, port));
    return out;
}

template<typename T>
std::shared_ptr<T> make_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                               std::unique_ptr<send::writer> writer)
{
    return stop_at_shutdown(make_gil_released_shared<T>(std::move(pool), config, std::move(writer)));
}

/* How the UdpStream overloads configure the socket beyond the endpoints. */
struct udp_options
{
    std::size_t buffer_size = udp_writer::default_buffer_size;
    std::string interface_address;   ///< overloads 1 and 3
    int ttl = -1;                    ///< overloads 2-4
    bool by_index = false;           ///< overload 4
    unsigned int interface_index = 0;
};

/// The ttl overloads are for multicast only, each with its family's way of choosing an interface.
void check_multicast_endpoints(const std::vector<socket_address> &endpoints, const udp_options &options)
{
    for (const auto &e : endpoints)
    {
        if (options.by_index && !(e.is_v6() && e.is_multicast()))
            throw std::invalid_argument("endpoint is not an IPv4 multicast address");   // sic: 4.x's message
        if (!options.by_index && !options.interface_address.empty() && !(e.is_v4() && e.is_multicast()))
            throw std::invalid_argument("endpoint is not an IPv4 multicast address");
        if (!e.is_multicast())
            throw std::invalid_argument("endpoint is not a multicast address");
    }
}

template<typename T>
std::shared_ptr<T> make_udp_stream(std::shared_ptr<thread_pool> pool, const endpoint_list &endpoint_names,
                                   const stream_config &config, const udp_options &options)
{
    if (endpoint_names.empty())
        throw std::invalid_argument("Endpoint list must be non-empty");
    std::vector<socket_address> endpoints = resolve_all(endpoint_names);
    const bool ttl_overload = options.ttl >= 0;
    if (ttl_overload)
        check_multicast_endpoints(endpoints, options);
    file_descriptor socket = send::make_udp_send_socket(endpoints, options.buffer_size);
    if (ttl_overload)
    {
        set_multicast_ttl(socket.get(), endpoints[0].family(), options.ttl);
        if (options.by_index)
            set_multicast_interface_v6(socket.get(), options.interface_index);
        else if (!options.interface_address.empty())
        {
            socket_address interface = socket_address::resolve(options.interface_address, 0);
            if (!interface.is_v4())
                throw std::invalid_argument("interface address is not an IPv4 address");
            set_multicast_interface_v4(socket.get(), interface);
        }
    }
    else if (!options.interface_address.empty())
    {
        socket_address interface = socket_address::resolve(options.interface_address, 0);
        bind_socket(socket.get(), interface);
    }
    auto writer = std::make_unique<udp_writer>(*pool, std::move(socket), std::move(endpoints));
    return make_stream<T>(std::move(pool), config, std::move(writer));
}

template<typename Class>
void define_udp_stream(Class &cls)
{
    using T = typename Class::type;
    cls.def(py::init([](std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                        const stream_config &config, std::size_t buffer_size, const std::string &interface_address) {
                udp_options options;
                options.buffer_size = buffer_size;
                options.interface_address = interface_address;
                return make_udp_stream<T>(std::move(pool), endpoints, config, options);
            }),
            py::arg("thread_pool").none(false), py::arg("endpoints"), py::arg("config") = stream_config(),
            py::arg("buffer_size") = udp_writer::default_buffer_size, py::arg("interface_address") = "")
        .def(py::init([](std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                         const stream_config &config, std::size_t buffer_size, std::uint8_t ttl) {
                 udp_options options;
                 options.buffer_size = buffer_size;
                 options.ttl = ttl;
                 return make_udp_stream<T>(std::move(pool), endpoints, config, options);
             }),
             py::arg("thread_pool").none(false), py::arg("endpoints"), py::arg("config") = stream_config(),
             py::arg("buffer_size") = udp_writer::default_buffer_size, py::arg("ttl"))
        .def(py::init([](std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                         const stream_config &config, std::size_t buffer_size, std::uint8_t ttl,
                         const std::string &interface_address) {
                 udp_options options;
                 options.buffer_size = buffer_size;
                 options.ttl = ttl;
                 // Overload 3 is IPv4-only even with an empty interface address.
                 options.interface_address = interface_address.empty() ? "0.0.0.0" : interface_address;
                 return make_udp_stream<T>(std::move(pool), endpoints, config, options);
             }),
             py::arg("thread_pool").none(false), py::arg("endpoints"), py::arg("config") = stream_config(),
             py::arg("buffer_size") = udp_writer::default_buffer_size, py::arg("ttl"), py::arg("interface_address"))
        .def(py::init([](std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                         const stream_config &config, std::size_t buffer_size, std::uint8_t ttl,
                         unsigned int interface_index) {
                 udp_options options;
                 options.buffer_size = buffer_size;
                 options.ttl = ttl;
                 options.by_index = true;
                 options.interface_index = interface_index;
                 return make_udp_stream<T>(std::move(pool), endpoints, config, options);
             }),
             py::arg("thread_pool").none(false), py::arg("endpoints"), py::arg("config") = stream_config(),
             py::arg("buffer_size") = udp_writer::default_buffer_size, py::arg("ttl"), py::arg("interface_index"))
        .def(py::init([](std::shared_ptr<thread_pool> pool, const socket_arg &socket, const endpoint_list &names,
                         const stream_config &config) {
                 file_descriptor fd = socket.duplicate(SOCK_DGRAM);
                 if (names.empty())
                     throw std::invalid_argument("Endpoint list must be non-empty");
                 std::vector<socket_address> endpoints = resolve_all(names);
                 send::check_endpoint_family(endpoints, socket_family_and_type(fd.get()).first);
                 auto writer = std::make_unique<udp_writer>(*pool, std::move(fd), std::move(endpoints));
                 return make_stream<T>(std::move(pool), config, std::move(writer));
             }),
             py::arg("thread_pool").none(false), py::arg("socket"), py::arg("endpoints"),
             py::arg("config") = stream_config())
        .def_property_readonly_static("DEFAULT_BUFFER_SIZE", [](py::object) { return udp_writer::default_buffer_size; });
}

template<typename T>
std::shared_ptr<T> make_tcp_from_socket(std::shared_ptr<thread_pool> pool, const socket_arg &socket,
                                        const stream_config &config)
{
    auto writer = std::make_unique<tcp_writer>(*pool, socket.duplicate(SOCK_STREAM));
    return make_stream<T>(std::move(pool), config, std::move(writer));
}

/// Resolve the single endpoint and make the (unconnected) socket.
std::pair<socket_address, file_descriptor> tcp_endpoint_socket(const endpoint_list &endpoints,
                                                               std::size_t buffer_size,
                                                               const std::string &interface_address)
{
    if (endpoints.size() != 1)
        throw std::invalid_argument("endpoints must contain exactly one element");
    socket_address endpoint = socket_address::resolve(endpoints[0].first, endpoints[0].second);
    socket_address interface;   // unspecified: let the OS choose
    if (!interface_address.empty())
        interface = socket_address::resolve(interface_address, 0);
    file_descriptor fd = send::make_tcp_socket(endpoint, buffer_size, interface);
    return {endpoint, std::move(fd)};
}

} // namespace

void register_send(py::module_ &m)
{
    py::module_ send_module = public_submodule(m, "send", "spead2._spead2.send");
    py::module_::import("spead2_core._core");   // registers the base class spead2.send.Stream

    py::class_<udp_stream, send::stream, std::shared_ptr<udp_stream>> udp(
        send_module, "UdpStream", "Sends each heap as UDP datagrams to endpoints[substream_index].");
    define_udp_stream(udp);
    define_sync_send_methods(udp);

    using udp_async = async_stream<udp_stream>;
    py::class_<udp_async, send::stream, std::shared_ptr<udp_async>> udp_asyncio(
        send_module, "UdpStreamAsyncio", "Native base of spead2.send.asyncio.UdpStream.");
    define_udp_stream(udp_asyncio);
    define_async_send_methods(udp_asyncio);

    py::class_<tcp_stream, send::stream, std::shared_ptr<tcp_stream>> tcp(
        send_module, "TcpStream", "Sends the packets as a byte stream over one TCP connection.");
    tcp.def(py::init(&make_tcp_from_socket<tcp_stream>), py::arg("thread_pool").none(false), py::arg("socket"),
            py::arg("config") = stream_config())
        .def(py::init([](std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                         const stream_config &config, std::size_t buffer_size, const std::string &interface_address) {
                 auto [endpoint, fd] = tcp_endpoint_socket(endpoints, buffer_size, interface_address);
                 without_gil([&, &endpoint = endpoint, &fd = fd] { send::connect_blocking(fd.get(), endpoint); });
                 auto writer = std::make_unique<tcp_writer>(*pool, std::move(fd));
                 return make_stream<tcp_stream>(std::move(pool), config, std::move(writer));
             }),
             py::arg("thread_pool").none(false), py::arg("endpoints"), py::arg("config") = stream_config(),
             py::arg("buffer_size") = tcp_writer::default_buffer_size, py::arg("interface_address") = "")
        .def_property_readonly_static("DEFAULT_BUFFER_SIZE", [](py::object) { return tcp_writer::default_buffer_size; });
    define_sync_send_methods(tcp);

    using tcp_async = async_stream<tcp_stream>;
    py::class_<tcp_async, send::stream, std::shared_ptr<tcp_async>> tcp_asyncio(
        send_module, "TcpStreamAsyncio", "Native base of spead2.send.asyncio.TcpStream.");
    tcp_asyncio.def(py::init(&make_tcp_from_socket<tcp_async>), py::arg("thread_pool").none(false),
                    py::arg("socket"), py::arg("config") = stream_config())
        .def(py::init([](py::object callback, std::shared_ptr<thread_pool> pool, const endpoint_list &endpoints,
                         const stream_config &config, std::size_t buffer_size, const std::string &interface_address) {
                 auto [endpoint, fd] = tcp_endpoint_socket(endpoints, buffer_size, interface_address);
                 const int raw_fd = fd.get();
                 auto writer = std::make_unique<tcp_writer>(*pool, std::move(fd));
                 auto stream = make_stream<tcp_async>(pool, config, std::move(writer));
                 // The completion handler may be destroyed on a worker without the GIL
                 // (after running, or never run when the stream goes first): the
                 // reference it holds is dropped with the GIL taken.
                 auto held = make_gil_safe_shared(std::move(callback));
                 send::connect_async(*pool, raw_fd, endpoint, [held](std::error_code error) {
                     py::gil_scoped_acquire gil;
                     try
                     {
                         py::object arg = py::none();
                         if (error)
                             arg = py::reinterpret_steal<py::object>(PyObject_CallFunction(
                                 PyExc_OSError, "is", error.value(), error.message().c_str()));
                         (*held)(arg);
                     }
                     catch (py::error_already_set &e)
                     {
                         e.discard_as_unraisable("TcpStream connect callback");
                     }
                     *held = py::none();
                 });
                 return stream;
             }),
             py::arg("callback"), py::arg("thread_pool").none(false), py::arg("endpoints"),
             py::arg("config") = stream_config(), py::arg("buffer_size") = tcp_writer::default_buffer_size,
             py::arg("interface_address") = "")
        .def_property_readonly_static("DEFAULT_BUFFER_SIZE", [](py::object) { return tcp_writer::default_buffer_size; });
    define_async_send_methods(tcp_asyncio);
}

} // namespace spead2::python
