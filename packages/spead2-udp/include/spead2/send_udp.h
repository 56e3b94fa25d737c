/* The UDP send transport: datagrams to one endpoint per substream, sent with
 * sendmmsg, runs of equal-sized packets to one endpoint as one GSO send where the
 * kernel and route accept it. */
#ifndef SPEAD2_SEND_UDP_H
#define SPEAD2_SEND_UDP_H

#include <cstdint>
#include <vector>
#include <sys/socket.h>
#include <spead2/common_socket.h>
#include <spead2/send_fd_writer.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

class udp_writer : public fd_writer
{
public:
    static constexpr std::size_t default_buffer_size = 512 * 1024;

private:
    std::vector<socket_address> endpoints;
    bool gso = true;
    std::vector<mmsghdr> messages;
    std::vector<iovec> iovecs;
    std::vector<std::uint8_t> control;
    std::vector<std::size_t> packets_per_message;

    std::size_t transmit(transmit_packet *packets, std::size_t n) override;
    /// Fill messages for packets[0, n); returns the number of messages.
    std::size_t build_messages(transmit_packet *packets, std::size_t n);

public:
    udp_writer(thread_pool &pool, file_descriptor socket, std::vector<socket_address> endpoints);
    std::size_t num_substreams() const override { return endpoints.size(); }
};

/// A socket for sending to @a endpoints (they must share a family), with the send buffer set.
file_descriptor make_udp_send_socket(const std::vector<socket_address> &endpoints, std::size_t buffer_size);

/* Check that every endpoint is usable on a socket of @a family; throws
 * std::invalid_argument("Endpoint does not match protocol of the socket"). */
void check_endpoint_family(const std::vector<socket_address> &endpoints, int family);

} // namespace spead2::send

#endif
