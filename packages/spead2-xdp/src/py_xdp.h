/* The plugin's Python module (_xdp), registered in two halves. */
#ifndef SPEAD2_PY_XDP_H
#define SPEAD2_PY_XDP_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <pybind11/pybind11.h>
#include <spead2/common_xdp.h>

namespace spead2::python
{

namespace py = pybind11;

/// A property setter of a Config class from its member function @a set taking a Value.
template<typename Config, typename Value, typename Setter>
auto setter(Setter set)
{
    return [set](Config &c, Value value) { (c.*set)(std::move(value)); };
}

/// The constructor arguments every AF_XDP config has ("" leaves the interface unset).
inline void set_xdp_config_base(xdp_config_base &c, const std::string &interface, std::uint32_t queue,
                                std::size_t frame_size, std::size_t frame_count, std::size_t ring_size,
                                bool zero_copy)
{
    if (!interface.empty())
        c.set_interface(interface);
    c.set_queue(queue);
    c.set_frame_size(frame_size);
    c.set_frame_count(frame_count);
    c.set_ring_size(ring_size);
    c.set_zero_copy(zero_copy);
}

/* The properties every AF_XDP config has (xdp_config_base): on the receive and the
 * send config alike; @a ring_size_doc says which ring ring_size sizes. */
template<typename Class>
void define_xdp_config_base(Class &cls, const char *ring_size_doc)
{
    using C = typename Class::type;
    cls.def_property("interface", &C::get_interface, setter<C, std::string>(&C::set_interface),
                     "The network interface: its name (\"eth0\") or its IPv4 address.")
        .def_property("frame_size", &C::get_frame_size, setter<C, std::size_t>(&C::set_frame_size),
                      "Bytes per frame of the frame memory: 2048 or 4096 (larger packets span frames).")
        .def_property("frame_count", &C::get_frame_count, setter<C, std::size_t>(&C::set_frame_count),
                      "Frames in the frame memory (a power of 2).")
        .def_property("ring_size", &C::get_ring_size, setter<C, std::size_t>(&C::set_ring_size), ring_size_doc)
        .def_property("zero_copy", &C::get_zero_copy, setter<C, bool>(&C::set_zero_copy),
                      "Try zero-copy first (falls back to copy mode where the driver lacks it).");
    cls.attr("DEFAULT_FRAME_SIZE") = C::default_frame_size;
    cls.attr("DEFAULT_FRAME_COUNT") = C::default_frame_count;
    cls.attr("DEFAULT_RING_SIZE") = C::default_ring_size;
}

void register_recv(py::module_ &m);
void register_send(py::module_ &m);

} // namespace spead2::python

#endif
