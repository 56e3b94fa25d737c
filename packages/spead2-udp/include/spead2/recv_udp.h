/* The UDP receive transport: one socket, read with recvmmsg (and GRO where the kernel
 * has it) by whichever worker of the stream's thread pool sees it readable. */
#ifndef SPEAD2_RECV_UDP_H
#define SPEAD2_RECV_UDP_H

#include <cstdint>
#include <vector>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Lossy: datagrams the socket's buffer could not hold are counted (from the kernel's
 * SO_RXQ_OVFL counter, read once more at stop) as transport_dropped_packets, datagrams larger than max_size
 * as malformed_packets.  It never stops the stream by itself. */
class udp_reader : public reader
{
public:
    static constexpr std::size_t default_max_size = 9200;
    static constexpr std::size_t default_buffer_size = 8 * 1024 * 1024;

private:
    file_descriptor socket;   ///< declared before the watch, which must go first
    fd_watch watch;
    const std::size_t max_size;
    bool gro = false;
    std::size_t slot_size;
    std::vector<std::uint8_t> buffer;
    std::vector<mmsghdr> messages;
    std::vector<iovec> iovecs;
    std::vector<std::uint8_t> control;
    std::uint32_t drops_seen = 0;

    udp_reader(stream &owner, file_descriptor socket, std::size_t max_size, bool own_socket);
    void setup_batch();
    void run();
    void process(const mmsghdr &message, stream::add_packet_state &state);
    void count_drops(std::uint32_t total, stream::add_packet_state &state);

public:
    /* A socket bound to @a endpoint; a multicast endpoint is also joined, IPv4 on
     * @a interface (0.0.0.0: the OS chooses), IPv6 on @a interface_index. */
    udp_reader(stream &owner, const socket_address &endpoint, std::size_t max_size, std::size_t buffer_size,
               const socket_address &interface = socket_address(), unsigned int interface_index = 0);
    /// A duplicate of a user's bound UDP socket (options left as they are).
    udp_reader(stream &owner, file_descriptor socket, std::size_t max_size);

    void start() override;
    void stop() override;
    bool lossy() const override { return true; }
};

} // namespace spead2::recv

#endif
