/* Socket helpers shared by every network transport: addresses and name resolution,
 * owned descriptors, buffer sizes and multicast membership.  Errors are reported the
 * way the Python API specifies them: std::invalid_argument (-> ValueError) for bad
 * arguments, std::runtime_error containing "Host not found" for resolution failures,
 * std::system_error (-> OSError) for what the kernel refuses. */
#ifndef SPEAD2_COMMON_SOCKET_H
#define SPEAD2_COMMON_SOCKET_H

#include <cstdint>
#include <string>
#include <utility>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spead2/common_defines.h>

namespace spead2
{

/// An IPv4 or IPv6 address with a port (a sockaddr_in or sockaddr_in6).
class SPEAD2_API socket_address
{
private:
    sockaddr_storage storage{};

public:
    /// The unspecified IPv4 address 0.0.0.0, port 0.
    socket_address();
    /// From a sockaddr returned by the kernel; throws std::invalid_argument unless IPv4/IPv6.
    socket_address(const sockaddr *addr, socklen_t len);
    static socket_address ipv4(std::uint32_t host_order_address, std::uint16_t port);

    /* Resolve @a host (an IP literal or a name; "" is 0.0.0.0) with @a port.  Prefers
     * IPv4 when a name has both.  Throws std::runtime_error("... Host not found ..."). */
    static socket_address resolve(const std::string &host, std::uint16_t port);

    int family() const { return storage.ss_family; }
    bool is_v4() const { return family() == AF_INET; }
    bool is_v6() const { return family() == AF_INET6; }
    bool is_multicast() const;
    bool is_unspecified() const;
    std::uint16_t port() const;
    void set_port(std::uint16_t port);
    /// The IPv6 scope (interface index), needed to bind a link-local address; ignored for IPv4.
    void set_scope_id(unsigned int interface_index);
    /// Compares the addresses only (not ports or scope ids).
    bool same_address(const socket_address &other) const;
    const sockaddr_in &v4() const { return *reinterpret_cast<const sockaddr_in *>(&storage); }
    const sockaddr_in6 &v6() const { return *reinterpret_cast<const sockaddr_in6 *>(&storage); }
    const sockaddr *get() const { return reinterpret_cast<const sockaddr *>(&storage); }
    sockaddr *get() { return reinterpret_cast<sockaddr *>(&storage); }
    socklen_t size() const { return is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }
    /// The address alone ("10.0.0.1", "ff02::1").
    std::string address_string() const;
    /// "10.0.0.1:8888" or "[ff02::1]:8888".
    std::string to_string() const;
};

/// A file descriptor that is closed when its owner is destroyed (move-only).
class SPEAD2_API file_descriptor
{
private:
    int fd = -1;

public:
    file_descriptor() = default;
    explicit file_descriptor(int fd) : fd(fd) {}
    ~file_descriptor() { reset(); }
    file_descriptor(file_descriptor &&other) noexcept : fd(std::exchange(other.fd, -1)) {}
    file_descriptor &operator=(file_descriptor &&other) noexcept;
    file_descriptor(const file_descriptor &) = delete;
    file_descriptor &operator=(const file_descriptor &) = delete;

    int get() const { return fd; }
    explicit operator bool() const { return fd >= 0; }
    void reset(int new_fd = -1);
    int release() { return std::exchange(fd, -1); }
};

/// A new non-blocking, close-on-exec socket; throws std::system_error.
SPEAD2_API file_descriptor make_socket(int family, int type, int protocol = 0);

/* A close-on-exec duplicate of a user's socket (the user may close the original).
 * Its flags are shared with the original, so they are left alone: transports use
 * MSG_DONTWAIT instead of O_NONBLOCK.  Throws std::invalid_argument unless it is an
 * IPv4/IPv6 socket of @a type. */
SPEAD2_API file_descriptor duplicate_socket(int fd, int type);

/// The socket's address family and type (SO_DOMAIN, SO_TYPE); throws std::system_error.
SPEAD2_API std::pair<int, int> socket_family_and_type(int fd);

/* Set SO_RCVBUF or SO_SNDBUF (@a option) to @a size (0 keeps the OS default).  If the
 * OS grants less (its cap, e.g. net.core.rmem_max) a warning is logged, naming the
 * sysctl to raise; it is not an error. */
SPEAD2_API void set_socket_buffer_size(int fd, int option, std::size_t size);

/// Bind, throwing std::system_error naming the address (e.g. EADDRINUSE).
SPEAD2_API void bind_socket(int fd, const socket_address &address);
SPEAD2_API socket_address local_address(int fd);

/* Join IPv4 multicast @a group on the interface with address @a interface (0.0.0.0:
 * the OS chooses).  Throws std::invalid_argument for non-IPv4 arguments and
 * std::system_error (e.g. ENODEV for a missing interface). */
SPEAD2_API void join_multicast_v4(int fd, const socket_address &group, const socket_address &interface);
/// Join IPv6 multicast @a group on interface @a interface_index (0: the OS chooses).
SPEAD2_API void join_multicast_v6(int fd, const socket_address &group, unsigned int interface_index);
/// Outgoing IPv4 multicast interface, by address.
SPEAD2_API void set_multicast_interface_v4(int fd, const socket_address &interface);
/// Outgoing IPv6 multicast interface, by index.
SPEAD2_API void set_multicast_interface_v6(int fd, unsigned int interface_index);
/// Multicast TTL (IPv4) or hop limit (IPv6), by the socket's family.
SPEAD2_API void set_multicast_ttl(int fd, int family, int ttl);

} // namespace spead2

#endif
