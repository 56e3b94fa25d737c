/* The receive side of the plugin's Python module: spead2.recv.UdpXdpConfig and the
 * native add_udp_xdp_reader that the plugin's Python wrapper calls. */
#include <string>
#include <utility>
#include <vector>
#include <pybind11/stl.h>
#include <spead2/py_common.h>
#include <spead2/recv_udp_xdp.h>
#include "py_xdp.h"

namespace spead2::python
{

using recv::udp_xdp_config;
typedef std::vector<std::pair<std::string, std::uint16_t>> endpoint_list;

namespace
{

/// The reader's settings plus what the Python wrapper does when AF_XDP cannot start.
class udp_xdp_config_py : public udp_xdp_config
{
public:
    bool fallback = false;
};

} // anonymous namespace

void register_recv(py::module_ &m)
{
    py::module_ recv = public_submodule(m, "recv", "spead2._spead2.recv");
    py::module_::import("spead2_core._core");   // registers spead2.recv._Stream

    typedef udp_xdp_config_py C;
    py::class_<C> config(recv, "UdpXdpConfig", "Configuration of add_udp_xdp_reader (keyword-only).");
    config.attr("DEFAULT_MAX_SIZE") = C::default_max_size;
    config.attr("DEFAULT_MAX_POLL") = C::default_max_poll;
    config
        .def(py::init([](std::string interface, endpoint_list endpoints, std::uint32_t queue, std::size_t frame_size,
                         std::size_t frame_count, std::size_t ring_size, const std::string &mode, bool zero_copy,
                         std::size_t max_size, bool busy_poll, int max_poll, bool fallback) {
                 C c;
                 set_xdp_config_base(c, interface, queue, frame_size, frame_count, ring_size, zero_copy);
                 c.set_endpoints(std::move(endpoints));
                 c.set_mode(parse_xdp_mode(mode));
                 c.set_max_size(max_size);
                 c.set_busy_poll(busy_poll);
                 c.set_max_poll(max_poll);
                 c.fallback = fallback;
                 return c;
             }),
             py::kw_only(), py::arg("interface") = "", py::arg("endpoints") = endpoint_list(),
             py::arg("queue") = 0, py::arg("frame_size") = C::default_frame_size,
             py::arg("frame_count") = C::default_frame_count, py::arg("ring_size") = C::default_ring_size,
             py::arg("mode") = "auto", py::arg("zero_copy") = true, py::arg("max_size") = C::default_max_size,
             py::arg("busy_poll") = false, py::arg("max_poll") = C::default_max_poll, py::arg("fallback") = false)
        .def_property("endpoints", &C::get_endpoints, setter<C, endpoint_list>(&C::set_endpoints),
                      "(address, port) pairs to receive: multicast groups, addresses of the interface, "
                      "or \"\" for any address (a copy).")
        .def_property("queue", &C::get_queue, setter<C, std::uint32_t>(&C::set_queue),
                      "The receive queue of the interface to take the frames from.")
        .def_property("mode", [](const C &c) { return std::string(xdp_mode_name(c.get_mode())); },
                      [](C &c, const std::string &mode) { c.set_mode(parse_xdp_mode(mode)); },
                      "Where the XDP program runs: 'native' (in the driver), 'generic' (any interface) "
                      "or 'auto' (native where the driver has it).")
        .def_property("max_size", &C::get_max_size, setter<C, std::size_t>(&C::set_max_size),
                      "Largest UDP payload accepted, in bytes.")
        .def_property("busy_poll", &C::get_busy_poll, setter<C, bool>(&C::set_busy_poll),
                      "Poll the receive ring continuously instead of waiting for the socket to be readable.")
        .def_property("max_poll", &C::get_max_poll, setter<C, int>(&C::set_max_poll),
                      "Polls per turn when busy polling (at least 1).")
        .def_readwrite("fallback", &C::fallback,
                       "When AF_XDP cannot start: False raises RuntimeError; True warns and receives "
                       "through the kernel's UDP sockets instead (needs spead2-udp).");

    define_xdp_config_base(config, "Descriptors in the receive ring (a power of 2).");

    recv.def("add_udp_xdp_reader", [](recv::stream &s, const C &config) {
        // Loading the program and setting up the rings takes a while: not with the GIL.
        without_gil([&] { s.emplace_reader<recv::udp_xdp_reader>(config); });
    }, py::arg("stream"), py::arg("config"),
       "Add an AF_XDP reader receiving the endpoints of config (a spead2.recv.UdpXdpConfig); "
       "raises XdpUnavailable when AF_XDP cannot start.");
    recv.def("count_fallback", [](recv::stream &s) { count_udp_xdp_stat(s, recv::udp_xdp_stats::XDP_FALLBACKS); },
             py::arg("stream"), "Count, in the stream's xdp_fallbacks, a reader that fell back to UDP sockets.");
}

} // namespace spead2::python
