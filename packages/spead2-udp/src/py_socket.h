/* A Python socket argument: matches, during overload resolution, only objects with a
 * fileno() method, so that socket overloads never swallow other arguments. */
#ifndef SPEAD2_UDP_PY_SOCKET_H
#define SPEAD2_UDP_PY_SOCKET_H

#include <stdexcept>
#include <string>
#include <pybind11/pybind11.h>
#include <spead2/common_socket.h>

namespace spead2::python
{

struct socket_arg
{
    int fd = -1;

    /* A duplicate of the socket, which must be an IPv4/IPv6 socket of @a type:
     * anything else raises TypeError, as a non-matching overload would. */
    file_descriptor duplicate(int type) const
    {
        try
        {
            return duplicate_socket(fd, type);
        }
        catch (std::invalid_argument &e)
        {
            throw pybind11::type_error(e.what());
        }
    }
};

} // namespace spead2::python

namespace pybind11::detail
{

template<>
struct type_caster<spead2::python::socket_arg>
{
    PYBIND11_TYPE_CASTER(spead2::python::socket_arg, const_name("socket.socket"));

    bool load(handle src, bool)
    {
        if (!hasattr(src, "fileno") || isinstance<str>(src))
            return false;
        object fd = src.attr("fileno")();
        if (!isinstance<int_>(fd))
            return false;
        value.fd = fd.cast<int>();
        return value.fd >= 0;
    }
};

} // namespace pybind11::detail

#endif
