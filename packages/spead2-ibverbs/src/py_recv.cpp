/* The receive side of the plugin's Python module: spead2.recv.UdpIbvConfig and the
 * add_udp_ibv_reader function the plugin installs on spead2.recv._Stream. */
#include <string>
#include <utility>
#include <vector>
#include <pybind11/stl.h>
#include <spead2/py_common.h>
#include <spead2/recv_udp_ibv.h>
#include "py_ibverbs.h"

namespace spead2::python
{

using recv::udp_ibv_config;
typedef std::vector<std::pair<std::string, std::uint16_t>> endpoint_list;

void register_recv(py::module_ &m)
{
    py::module_ recv = public_submodule(m, "recv", "spead2._spead2.recv");
    py::module_::import("spead2_core._core");   // registers spead2.recv._Stream

    py::class_<udp_ibv_config> config(recv, "UdpIbvConfig", "Configuration of add_udp_ibv_reader (keyword-only).");
    config.attr("DEFAULT_BUFFER_SIZE") = udp_ibv_config::default_buffer_size;
    config.attr("DEFAULT_MAX_SIZE") = udp_ibv_config::default_max_size;
    config.attr("DEFAULT_MAX_POLL") = udp_ibv_config::default_max_poll;
    config
        .def(py::init([](endpoint_list endpoints, std::string interface_address, std::size_t buffer_size,
                         std::size_t max_size, int comp_vector, int max_poll) {
                 udp_ibv_config c;
                 c.set_endpoints(std::move(endpoints))
                     .set_interface_address(std::move(interface_address))
                     .set_buffer_size(buffer_size)
                     .set_max_size(max_size)
                     .set_comp_vector(comp_vector)
                     .set_max_poll(max_poll);
                 return c;
             }),
             py::kw_only(), py::arg("endpoints") = endpoint_list(), py::arg("interface_address") = "",
             py::arg("buffer_size") = udp_ibv_config::default_buffer_size,
             py::arg("max_size") = udp_ibv_config::default_max_size, py::arg("comp_vector") = 0,
             py::arg("max_poll") = udp_ibv_config::default_max_poll)
        .def_property("endpoints", &udp_ibv_config::get_endpoints,
                      [](udp_ibv_config &c, endpoint_list e) { c.set_endpoints(std::move(e)); },
                      "(address, port) pairs to receive: multicast groups, or the interface's own address (a copy).")
        .def_property("interface_address", &udp_ibv_config::get_interface_address,
                      [](udp_ibv_config &c, std::string a) { c.set_interface_address(std::move(a)); },
                      "IPv4 address of the interface of the RDMA NIC.")
        .def_property("buffer_size", &udp_ibv_config::get_buffer_size,
                      [](udp_ibv_config &c, std::size_t n) { c.set_buffer_size(n); },
                      "Bytes of receive buffers (0 restores the default).")
        .def_property("max_size", &udp_ibv_config::get_max_size,
                      [](udp_ibv_config &c, std::size_t n) { c.set_max_size(n); },
                      "Largest UDP payload accepted, in bytes.")
        .def_property("comp_vector", &udp_ibv_config::get_comp_vector,
                      [](udp_ibv_config &c, int n) { c.set_comp_vector(n); },
                      "Completion vector for completion events; negative polls instead.")
        .def_property("max_poll", &udp_ibv_config::get_max_poll,
                      [](udp_ibv_config &c, int n) { c.set_max_poll(n); },
                      "Polls per turn when busy polling (at least 1).");

    recv.def("add_udp_ibv_reader", [](recv::stream &s, const udp_ibv_config &config) {
        // Opening the device and registering memory can take a while: not with the GIL.
        without_gil([&] { s.emplace_reader<recv::udp_ibv_reader>(config); });
    }, py::arg("stream"), py::arg("config"),
       "Add an ibverbs reader receiving the endpoints of config (a spead2.recv.UdpIbvConfig).");
}

} // namespace spead2::python
