#include <pybind11/pybind11.h>
#include "py_udp.h"

PYBIND11_MODULE(_udp, m)
{
    m.doc() = "spead2 UDP, TCP and pcap transports (native part of the spead2-udp plugin)";
    spead2::python::register_recv(m);
    spead2::python::register_send(m);
#ifdef SPEAD2_USE_PCAP
    m.attr("HAVE_PCAP") = true;
#else
    m.attr("HAVE_PCAP") = false;
#endif
}
