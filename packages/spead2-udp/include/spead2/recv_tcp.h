/* The TCP receive transport: accepts one connection and parses the byte stream into
 * packets by their headers. */
#ifndef SPEAD2_RECV_TCP_H
#define SPEAD2_RECV_TCP_H

#include <cstdint>
#include <memory>
#include <vector>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_byte_stream.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Lossless: when the peer closes the connection (or it fails), the stream stops.
 * Framing as byte_stream_framer does; a partial packet at the end of the connection
 * is discarded. */
class tcp_reader : public reader
{
public:
    static constexpr std::size_t default_max_size = 65536;
    static constexpr std::size_t default_buffer_size = 212992;

private:
    // Descriptors are declared before their watches, which must go first.
    file_descriptor acceptor;
    fd_watch accept_watch;
    file_descriptor peer;
    std::unique_ptr<fd_watch> peer_watch;
    byte_stream_framer framer;
    std::vector<std::uint8_t> buffer;
    std::size_t head = 0, tail = 0;   ///< unparsed bytes are buffer[head, tail)

    void accept_ready();
    void read_ready();

public:
    /// Listen on @a endpoint (SO_REUSEADDR, backlog 1) with SO_RCVBUF @a buffer_size.
    tcp_reader(stream &owner, const socket_address &endpoint, std::size_t max_size, std::size_t buffer_size);
    /// Accept from a duplicate of a user's listening socket.
    tcp_reader(stream &owner, file_descriptor acceptor, std::size_t max_size);

    void start() override;
    void stop() override;
    bool lossy() const override { return false; }
};

} // namespace spead2::recv

#endif
