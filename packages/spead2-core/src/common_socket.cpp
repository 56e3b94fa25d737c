#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <stdexcept>
#include <system_error>
#include <unistd.h>
#include <spead2/common_logging.h>
#include <spead2/common_socket.h>

namespace spead2
{

namespace
{

[[noreturn]] void throw_errno(const std::string &what)
{
    throw std::system_error(errno, std::system_category(), what);
}

void set_option(int fd, int level, int option, const void *value, socklen_t size, const char *what)
{
    if (setsockopt(fd, level, option, value, size) < 0)
        throw_errno(what);
}

} // namespace

socket_address::socket_address()
{
    auto &a = reinterpret_cast<sockaddr_in &>(storage);
    a.sin_family = AF_INET;
}

socket_address::socket_address(const sockaddr *addr, socklen_t len)
{
    if ((addr->sa_family != AF_INET && addr->sa_family != AF_INET6) || len > socklen_t(sizeof(storage)))
        throw std::invalid_argument("not an IPv4 or IPv6 address");
    std::memcpy(&storage, addr, len);
}

socket_address socket_address::ipv4(std::uint32_t host_order_address, std::uint16_t port)
{
    socket_address out;
    auto &a = reinterpret_cast<sockaddr_in &>(out.storage);
    a.sin_addr.s_addr = htonl(host_order_address);
    a.sin_port = htons(port);
    return out;
}

socket_address socket_address::resolve(const std::string &host, std::uint16_t port)
{
    if (host.empty())
        return ipv4(INADDR_ANY, port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;   // one entry per address, whatever the protocol
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo *result = nullptr;
    int status = getaddrinfo(host.c_str(), nullptr, &hints, &result);
    if (status == EAI_NONAME || status == EAI_ADDRFAMILY)
    {
        // Literals of a family the host has no address of (e.g. ::1 without IPv6 routes).
        hints.ai_flags = 0;
        status = getaddrinfo(host.c_str(), nullptr, &hints, &result);
    }
    if (status != 0)
        throw std::runtime_error("resolve: Host not found (" + host + "): " + gai_strerror(status));
    const addrinfo *chosen = nullptr;
    for (const addrinfo *ai = result; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || (ai->ai_family == AF_INET6 && !chosen))
            if (!chosen || chosen->ai_family != AF_INET)
                chosen = ai;
    if (!chosen)
    {
        freeaddrinfo(result);
        throw std::runtime_error("resolve: Host not found (" + host + "): no IPv4 or IPv6 address");
    }
    socket_address out(chosen->ai_addr, chosen->ai_addrlen);
    freeaddrinfo(result);
    out.set_port(port);
    return out;
}

bool socket_address::is_multicast() const
{
    if (is_v4())
        return IN_MULTICAST(ntohl(v4().sin_addr.s_addr));
    return IN6_IS_ADDR_MULTICAST(&v6().sin6_addr);
}

bool socket_address::is_unspecified() const
{
    if (is_v4())
        return v4().sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&v6().sin6_addr);
}

std::uint16_t socket_address::port() const
{
    return ntohs(is_v4() ? v4().sin_port : v6().sin6_port);
}

void socket_address::set_port(std::uint16_t port)
{
    if (is_v4())
        reinterpret_cast<sockaddr_in &>(storage).sin_port = htons(port);
    else
        reinterpret_cast<sockaddr_in6 &>(storage).sin6_port = htons(port);
}

void socket_address::set_scope_id(unsigned int interface_index)
{
    if (is_v6())
        reinterpret_cast<sockaddr_in6 &>(storage).sin6_scope_id = interface_index;
}

bool socket_address::same_address(const socket_address &other) const
{
    if (family() != other.family())
        return false;
    if (is_v4())
        return v4().sin_addr.s_addr == other.v4().sin_addr.s_addr;
    return IN6_ARE_ADDR_EQUAL(&v6().sin6_addr, &other.v6().sin6_addr);
}

std::string socket_address::address_string() const
{
    char buffer[INET6_ADDRSTRLEN];
    const void *addr = is_v4() ? static_cast<const void *>(&v4().sin_addr) : &v6().sin6_addr;
    inet_ntop(family(), addr, buffer, sizeof(buffer));
    return buffer;
}

std::string socket_address::to_string() const
{
    if (is_v6())
        return "[" + address_string() + "]:" + std::to_string(port());
    return address_string() + ":" + std::to_string(port());
}

file_descriptor &file_descriptor::operator=(file_descriptor &&other) noexcept
{
    if (this != &other)
        reset(other.release());
    return *this;
}

void file_descriptor::reset(int new_fd)
{
    if (fd >= 0)
        ::close(fd);
    fd = new_fd;
}

file_descriptor make_socket(int family, int type, int protocol)
{
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        throw_errno("socket");
    return file_descriptor(fd);
}

std::pair<int, int> socket_family_and_type(int fd)
{
    int family = 0, type = 0;
    socklen_t len = sizeof(family);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
        throw_errno("getsockopt(SO_DOMAIN)");
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        throw_errno("getsockopt(SO_TYPE)");
    return {family, type};
}

file_descriptor duplicate_socket(int fd, int type)
{
    auto [family, actual_type] = socket_family_and_type(fd);
    if ((family != AF_INET && family != AF_INET6) || actual_type != type)
        throw std::invalid_argument(type == SOCK_DGRAM ? "socket is not an IPv4/IPv6 UDP socket"
                                                       : "socket is not an IPv4/IPv6 TCP socket");
    file_descriptor dup(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!dup)
        throw_errno("dup");
    return dup;
}

void set_socket_buffer_size(int fd, int option, std::size_t size)
{
    if (size == 0)
        return;
    int requested = size > std::size_t(INT32_MAX / 2) ? INT32_MAX / 2 : int(size);
    set_option(fd, SOL_SOCKET, option, &requested, sizeof(requested), "setsockopt(buffer size)");
    int actual = 0;
    socklen_t len = sizeof(actual);
    if (getsockopt(fd, SOL_SOCKET, option, &actual, &len) < 0)
        throw_errno("getsockopt(buffer size)");
    // Linux reports twice what it grants, to account for its bookkeeping.
    if (actual / 2 < requested)
    {
        const bool receive = option == SO_RCVBUF;
        log_warning("requested {} buffer size {} but only received {}: refer to documentation for details "
                    "on increasing buffer size (sysctl {})",
                    receive ? "socket" : "send", requested, actual / 2,
                    receive ? "net.core.rmem_max" : "net.core.wmem_max");
    }
}

void bind_socket(int fd, const socket_address &address)
{
    if (::bind(fd, address.get(), address.size()) < 0)
        throw_errno("bind " + address.to_string());
}

socket_address local_address(int fd)
{
    sockaddr_storage storage{};
    socklen_t len = sizeof(storage);
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&storage), &len) < 0)
        throw_errno("getsockname");
    return socket_address(reinterpret_cast<sockaddr *>(&storage), len);
}

void join_multicast_v4(int fd, const socket_address &group, const socket_address &interface)
{
    if (!group.is_v4() || !interface.is_v4())
        throw std::invalid_argument("IPv4 multicast needs IPv4 group and interface addresses");
    ip_mreqn request{};
    request.imr_multiaddr = group.v4().sin_addr;
    request.imr_address = interface.v4().sin_addr;
    set_option(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request),
               ("join multicast group " + group.address_string() + " on " + interface.address_string()).c_str());
}

void join_multicast_v6(int fd, const socket_address &group, unsigned int interface_index)
{
    if (!group.is_v6())
        throw std::invalid_argument("IPv6 multicast needs an IPv6 group address");
    ipv6_mreq request{};
    request.ipv6mr_multiaddr = group.v6().sin6_addr;
    request.ipv6mr_interface = interface_index;
    set_option(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof(request),
               ("join multicast group " + group.address_string() + " on interface "
                + std::to_string(interface_index)).c_str());
}

void set_multicast_interface_v4(int fd, const socket_address &interface)
{
    if (!interface.is_v4())
        throw std::invalid_argument("interface address is not an IPv4 address");
    in_addr addr = interface.v4().sin_addr;
    set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, &addr, sizeof(addr), "setsockopt(IP_MULTICAST_IF)");
}

void set_multicast_interface_v6(int fd, unsigned int interface_index)
{
    set_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &interface_index, sizeof(interface_index),
               "setsockopt(IPV6_MULTICAST_IF)");
}

void set_multicast_ttl(int fd, int family, int ttl)
{
    if (family == AF_INET)
    {
        unsigned char value = static_cast<unsigned char>(ttl);
        set_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, &value, sizeof(value), "setsockopt(IP_MULTICAST_TTL)");
    }
    else
        set_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl), "setsockopt(IPV6_MULTICAST_HOPS)");
}

} // namespace spead2
