/* The TCP send transport: the packets as one byte stream over a connected socket. */
#ifndef SPEAD2_SEND_TCP_H
#define SPEAD2_SEND_TCP_H

#include <functional>
#include <system_error>
#include <vector>
#include <sys/uio.h>
#include <spead2/common_socket.h>
#include <spead2/send_fd_writer.h>

namespace spead2::send
{

class tcp_writer : public fd_writer
{
public:
    static constexpr std::size_t default_buffer_size = 212992;

private:
    std::vector<iovec> iovecs;
    std::size_t partial = 0;   ///< bytes of the first unfinished packet already sent
    std::error_code failure;   ///< once the connection fails, every later packet fails too

    std::size_t transmit(transmit_packet *packets, std::size_t n) override;

public:
    /// @a socket must be connected (or connecting: then nothing may be sent until it is).
    tcp_writer(thread_pool &pool, file_descriptor socket);
    std::size_t num_substreams() const override { return 1; }
};

/* A socket for @a endpoint with SO_SNDBUF @a buffer_size, bound to @a interface
 * first unless it is unspecified (0.0.0.0 or ::). */
file_descriptor make_tcp_socket(const socket_address &endpoint, std::size_t buffer_size,
                                const socket_address &interface);
/// Connect, blocking the caller; throws std::system_error (e.g. ECONNREFUSED).
void connect_blocking(int fd, const socket_address &endpoint);
/* Start connecting and return at once; @a done runs once, on a worker of @a pool,
 * with the outcome (no error on success). */
void connect_async(thread_pool &pool, int fd, const socket_address &endpoint,
                   std::function<void(std::error_code)> done);

} // namespace spead2::send

#endif
