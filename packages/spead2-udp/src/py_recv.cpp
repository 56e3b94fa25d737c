/* The receive side of the plugin's Python module: the add_*_reader functions that the
 * plugin installs on spead2.recv._Stream. */
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <pybind11/pybind11.h>
#include <spead2/py_common.h>
#include <spead2/recv_stream.h>
#include <spead2/recv_tcp.h>
#include <spead2/recv_udp.h>
#ifdef SPEAD2_USE_PCAP
#include <spead2/recv_udp_pcap.h>
#endif
#include "py_udp.h"
#include "py_socket.h"

namespace spead2::python
{

namespace
{

using recv::stream;
using recv::tcp_reader;
using recv::udp_reader;

/* Add a reader whose socket the constructor binds: the spec reports a bind failure
 * (port in use, no permission) as RuntimeError, not OSError. */
template<typename Reader, typename... Args>
void add_binding_reader(stream &s, Args &&... args)
{
    try
    {
        s.emplace_reader<Reader>(std::forward<Args>(args)...);
    }
    catch (std::system_error &e)
    {
        throw std::runtime_error(e.what());
    }
}

void add_udp_reader_port(stream &s, std::uint16_t port, std::size_t max_size, std::size_t buffer_size,
                         const std::string &bind_hostname)
{
    socket_address endpoint = socket_address::resolve(bind_hostname, port);
    add_binding_reader<udp_reader>(s, endpoint, max_size, buffer_size);
}

void add_udp_reader_multicast_v4(stream &s, const std::string &group, std::uint16_t port, std::size_t max_size,
                                 std::size_t buffer_size, const std::string &interface_address)
{
    socket_address interface = socket_address::resolve(interface_address, 0);
    if (!interface.is_v4())
        throw std::invalid_argument("interface address is not an IPv4 address");
    socket_address endpoint = socket_address::resolve(group, port);
    if (endpoint.is_v4() && endpoint.is_unspecified())
    {
        endpoint = interface;
        endpoint.set_port(port);
    }
    if (!endpoint.is_v4())
        throw std::invalid_argument("endpoint is not an IPv4 address");
    if (!endpoint.is_multicast() && !endpoint.same_address(interface))
        throw std::invalid_argument("endpoint is not multicast and does not match interface address");
    add_binding_reader<udp_reader>(s, endpoint, max_size, buffer_size, interface);
}

void add_udp_reader_multicast_v6(stream &s, const std::string &group, std::uint16_t port, std::size_t max_size,
                                 std::size_t buffer_size, unsigned int interface_index)
{
    socket_address endpoint = socket_address::resolve(group, port);
    if (!endpoint.is_v6() || !endpoint.is_multicast())
        throw std::invalid_argument("endpoint is not an IPv6 multicast address");
    add_binding_reader<udp_reader>(s, endpoint, max_size, buffer_size, socket_address(), interface_index);
}

} // namespace

void register_recv(py::module_ &m)
{
    py::module_ recv = public_submodule(m, "recv", "spead2._spead2.recv");
    const char *udp_doc = "Add a UDP reader: bound to a port, joined to a multicast group, or on an existing socket.";
    recv.def("add_udp_reader", &add_udp_reader_port, py::arg("stream"), py::arg("port"),
             py::arg("max_size") = udp_reader::default_max_size,
             py::arg("buffer_size") = udp_reader::default_buffer_size, py::arg("bind_hostname") = "", udp_doc);
    recv.def("add_udp_reader", [](stream &s, const socket_arg &socket, std::size_t max_size) {
        s.emplace_reader<udp_reader>(socket.duplicate(SOCK_DGRAM), max_size);
    }, py::arg("stream"), py::arg("socket"), py::arg("max_size") = udp_reader::default_max_size);
    recv.def("add_udp_reader", &add_udp_reader_multicast_v4, py::arg("stream"), py::arg("multicast_group"),
             py::arg("port"), py::arg("max_size") = udp_reader::default_max_size,
             py::arg("buffer_size") = udp_reader::default_buffer_size, py::arg("interface_address") = "0.0.0.0");
    recv.def("add_udp_reader", &add_udp_reader_multicast_v6, py::arg("stream"), py::arg("multicast_group"),
             py::arg("port"), py::arg("max_size") = udp_reader::default_max_size,
             py::arg("buffer_size") = udp_reader::default_buffer_size, py::arg("interface_index") = 0);

    recv.def("add_tcp_reader", [](stream &s, std::uint16_t port, std::size_t max_size, std::size_t buffer_size,
                                  const std::string &bind_hostname) {
        socket_address endpoint = socket_address::resolve(bind_hostname, port);
        add_binding_reader<tcp_reader>(s, endpoint, max_size, buffer_size);
    }, py::arg("stream"), py::arg("port"), py::arg("max_size") = tcp_reader::default_max_size,
       py::arg("buffer_size") = tcp_reader::default_buffer_size, py::arg("bind_hostname") = "",
       "Add a TCP reader: listen, accept one connection, stop the stream when it closes.");
    recv.def("add_tcp_reader", [](stream &s, const socket_arg &acceptor, std::size_t max_size) {
        s.emplace_reader<tcp_reader>(acceptor.duplicate(SOCK_STREAM), max_size);
    }, py::arg("stream"), py::arg("acceptor"), py::arg("max_size") = tcp_reader::default_max_size);

#ifdef SPEAD2_USE_PCAP
    recv.def("add_udp_pcap_file_reader", [](stream &s, const std::string &filename, const std::string &filter) {
        s.emplace_reader<recv::udp_pcap_file_reader>(filename, filter);
    }, py::arg("stream"), py::arg("filename"), py::arg("filter") = "",
       "Replay the UDP/IPv4 SPEAD packets of a pcap file; the stream stops at its end.");
#endif
}

} // namespace spead2::python
