#include <pybind11/pybind11.h>
#include <string>
#include <spead2/common_socket.h>
#include <spead2/common_xdp.h>
#include "py_xdp.h"

PYBIND11_MODULE(_xdp, m)
{
    namespace py = pybind11;
    using namespace spead2::python;
    m.doc() = "spead2 AF_XDP transports (native part of the spead2-xdp plugin)";
    // A RuntimeError that the plugin may answer by falling back to the socket path.
    py::register_exception<spead2::xdp_unavailable>(m, "XdpUnavailable", PyExc_RuntimeError);
    register_recv(m);
    register_send(m);
    m.def("interface_address", [](const std::string &interface) {
        const std::uint32_t address = spead2::xdp_find_interface(interface).address;
        return address ? spead2::socket_address::ipv4(address, 0).address_string() : std::string();
    }, py::arg("interface"), "The IPv4 address of an interface given by name or address (\"\" if none).");
}
