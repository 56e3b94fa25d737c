#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/udp.h>
#include <stdexcept>
#include <system_error>
#include <spead2/common_logging.h>
#include <spead2/send_udp.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103   // Linux >= 4.18; older C library headers lack the name
#endif

namespace spead2::send
{

namespace
{

/* A GSO send carries at most this many payload bytes (below IPv4's 65507) and
 * segments (older kernels' UDP_MAX_SEGMENTS). */
constexpr std::size_t gso_max_bytes = 65000;
constexpr std::size_t gso_max_segments = 64;
constexpr std::size_t control_size = CMSG_SPACE(sizeof(std::uint16_t));

bool would_block(int error)
{
    return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS;
}

} // namespace

void check_endpoint_family(const std::vector<socket_address> &endpoints, int family)
{
    for (const auto &endpoint : endpoints)
        if (endpoint.family() != family)
            throw std::invalid_argument("Endpoint does not match protocol of the socket");
}

file_descriptor make_udp_send_socket(const std::vector<socket_address> &endpoints, std::size_t buffer_size)
{
    if (endpoints.empty())
        throw std::invalid_argument("Endpoint list must be non-empty");
    check_endpoint_family(endpoints, endpoints[0].family());
    file_descriptor fd = make_socket(endpoints[0].family(), SOCK_DGRAM);
    set_socket_buffer_size(fd.get(), SO_SNDBUF, buffer_size);
    return fd;
}

udp_writer::udp_writer(thread_pool &pool, file_descriptor socket, std::vector<socket_address> endpoints)
    : fd_writer(pool, std::move(socket)), endpoints(std::move(endpoints))
{
    if (this->endpoints.empty())
        throw std::invalid_argument("Endpoint list must be non-empty");
}

std::size_t udp_writer::build_messages(transmit_packet *packets, std::size_t n)
{
    messages.resize(n);
    packets_per_message.resize(n);
    control.resize(n * control_size);
    std::size_t total_pieces = 0;
    for (std::size_t i = 0; i < n; i++)
        total_pieces += packets[i].n_pieces;
    iovecs.resize(total_pieces);

    std::size_t m = 0, iov = 0;
    for (std::size_t i = 0; i < n; m++)
    {
        /* A run of packets to one endpoint, all of the first one's size but the last
         * (which may be shorter), goes as one GSO send that the kernel segments. */
        std::size_t j = i + 1;
        if (gso)
        {
            std::size_t bytes = packets[i].size;
            while (j < n && j - i < gso_max_segments && packets[j].substream_index == packets[i].substream_index
                   && packets[j].size <= packets[i].size && bytes + packets[j].size <= gso_max_bytes
                   && packets[j - 1].size == packets[i].size)
                bytes += packets[j++].size;
        }
        msghdr &hdr = messages[m].msg_hdr;
        std::memset(&hdr, 0, sizeof(hdr));
        const socket_address &dest = endpoints[packets[i].substream_index];
        hdr.msg_name = const_cast<sockaddr *>(dest.get());
        hdr.msg_namelen = dest.size();
        hdr.msg_iov = iovecs.data() + iov;
        for (std::size_t k = i; k < j; k++)
            for (std::size_t p = 0; p < packets[k].n_pieces; p++)
            {
                iovecs[iov].iov_base = const_cast<std::uint8_t *>(packets[k].pieces[p].ptr);
                iovecs[iov].iov_len = packets[k].pieces[p].length;
                iov++;
            }
        hdr.msg_iovlen = iovecs.data() + iov - hdr.msg_iov;
        if (j - i > 1)
        {
            hdr.msg_control = control.data() + m * control_size;
            hdr.msg_controllen = control_size;
            cmsghdr *c = CMSG_FIRSTHDR(&hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
            std::uint16_t segment = std::uint16_t(packets[i].size);
            std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
        }
        packets_per_message[m] = j - i;
        i = j;
    }
    return m;
}

std::size_t udp_writer::transmit(transmit_packet *packets, std::size_t n)
{
    std::size_t finished = 0;
    while (finished < n)
    {
        const std::size_t n_messages = build_messages(packets + finished, n - finished);
        int sent = sendmmsg(get_fd(), messages.data(), n_messages, MSG_DONTWAIT);
        if (sent > 0)
        {
            for (int m = 0; m < sent; m++)
                finished += packets_per_message[m];
            continue;
        }
        const int error = errno;
        if (error == EINTR)
            continue;
        if (would_block(error))
            return finished;
        if (packets_per_message[0] > 1 && (error == EIO || error == EINVAL || error == EOPNOTSUPP))
        {
            // The device or route cannot segment: send packet by packet from now on.
            log_info("UDP GSO unavailable ({}); sending datagrams singly",
                     std::error_code(error, std::system_category()).message());
            gso = false;
            continue;
        }
        // This packet cannot be sent (e.g. EMSGSIZE): fail it and go on.
        packets[finished].result = std::error_code(error, std::system_category());
        finished++;
    }
    return finished;
}

} // namespace spead2::send
