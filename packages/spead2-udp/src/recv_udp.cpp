#include <cerrno>
#include <cstring>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <system_error>
#include <spead2/common_logging.h>
#include <spead2/recv_packet.h>
#include <spead2/recv_udp.h>

#ifndef UDP_GRO
#define UDP_GRO 104   // Linux >= 5.0; older C library headers lack the name
#endif

namespace spead2::recv
{

namespace
{

/// Datagrams per recvmmsg call.
constexpr std::size_t batch_datagrams = 64;
/// Batches read in one go before the worker looks at its other work.
constexpr int max_batches_per_wake = 16;
/// Room for the SO_RXQ_OVFL and UDP_GRO control messages.
constexpr std::size_t control_size = CMSG_SPACE(sizeof(std::uint32_t)) + CMSG_SPACE(sizeof(int));
/// With GRO, the kernel hands over up to a whole 64 KiB super-datagram.
constexpr std::size_t gro_slot_size = 65536;

file_descriptor bound_socket(const socket_address &endpoint, std::size_t buffer_size,
                             const socket_address &interface, unsigned int interface_index)
{
    file_descriptor fd = make_socket(endpoint.family(), SOCK_DGRAM);
    set_socket_buffer_size(fd.get(), SO_RCVBUF, buffer_size);
    if (endpoint.is_multicast())
    {
        // Several receivers of one group on one host must each get every packet.
        int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    socket_address bind_address = endpoint;
    bind_address.set_scope_id(interface_index);   // a link-local group (ff02::) needs it
    bind_socket(fd.get(), bind_address);
    if (endpoint.is_multicast())
    {
        if (endpoint.is_v4())
            join_multicast_v4(fd.get(), endpoint, interface);
        else
            join_multicast_v6(fd.get(), endpoint, interface_index);
    }
    return fd;
}

} // namespace

udp_reader::udp_reader(stream &owner, const socket_address &endpoint, std::size_t max_size,
                       std::size_t buffer_size, const socket_address &interface, unsigned int interface_index)
    : udp_reader(owner, bound_socket(endpoint, buffer_size, interface, interface_index), max_size, true)
{
}

udp_reader::udp_reader(stream &owner, file_descriptor sock, std::size_t max_size)
    : udp_reader(owner, std::move(sock), max_size, false)
{
}

udp_reader::udp_reader(stream &owner, file_descriptor sock, std::size_t max_size, bool own_socket)
    : reader(owner), socket(std::move(sock)), watch(owner.get_thread_pool(), socket.get()), max_size(max_size)
{
    int one = 1;
    /* The kernel's count of receive buffers dropped for want of space.  With GRO one
     * buffer may be a run of datagrams, counted once: the count is a lower bound. */
    if (setsockopt(socket.get(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
        log_info("SO_RXQ_OVFL unavailable: socket drops will not be counted");
    /* GRO hands over runs of same-sized datagrams from one sender as one buffer: a
     * fraction of the per-datagram cost.  It needs every buffer to hold 64 KiB.  Not
     * on a user's socket: its options are the user's (and shared with the original). */
    if (own_socket)
        gro = setsockopt(socket.get(), SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    // One more byte than max_size, so that a longer datagram shows as such.
    slot_size = gro ? std::max(gro_slot_size, max_size + 1) : max_size + 1;
    setup_batch();
}

void udp_reader::setup_batch()
{
    buffer.resize(batch_datagrams * slot_size);
    messages.resize(batch_datagrams);
    iovecs.resize(batch_datagrams);
    control.resize(batch_datagrams * control_size);
    for (std::size_t i = 0; i < batch_datagrams; i++)
    {
        iovecs[i].iov_base = buffer.data() + i * slot_size;
        iovecs[i].iov_len = slot_size;
        std::memset(&messages[i], 0, sizeof(messages[i]));
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
}

void udp_reader::start()
{
    // Every run() goes through the watch, so that stop() (cancel) can exclude it.
    watch.async_wait(fd_event::readable, [this] { run(); });
}

void udp_reader::stop()
{
    watch.cancel();
    /* The kernel reports drops with the next datagram it delivers, and none may come:
     * read the counter itself so that the final statistics include every drop. */
    std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof(meminfo);
    if (getsockopt(socket.get(), SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 && len > SK_MEMINFO_DROPS * 4
        && meminfo[SK_MEMINFO_DROPS] != drops_seen)
    {
        stream::add_packet_state state(get_stream());
        count_drops(meminfo[SK_MEMINFO_DROPS], state);
    }
    // Free the port now, as 4.x does, not when the stream object is collected.
    watch.release();
    socket.reset();
}

void udp_reader::count_drops(std::uint32_t total, stream::add_packet_state &state)
{
    // The kernel's counter is cumulative (and wraps): count what is new since last seen.
    if (total != drops_seen)
        state.add_transport_dropped(std::uint32_t(total - drops_seen));
    drops_seen = total;
}

void udp_reader::process(const mmsghdr &message, stream::add_packet_state &state)
{
    const std::uint8_t *data = static_cast<const std::uint8_t *>(message.msg_hdr.msg_iov->iov_base);
    std::size_t length = message.msg_len;
    std::size_t segment = length;
    for (cmsghdr *c = CMSG_FIRSTHDR(&message.msg_hdr); c; c = CMSG_NXTHDR(const_cast<msghdr *>(&message.msg_hdr), c))
    {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
        {
            int size;
            std::memcpy(&size, CMSG_DATA(c), sizeof(size));
            if (size > 0)
                segment = std::size_t(size);
        }
        else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
        {
            std::uint32_t drops;
            std::memcpy(&drops, CMSG_DATA(c), sizeof(drops));
            count_drops(drops, state);
        }
    }
    if (message.msg_hdr.msg_flags & MSG_TRUNC)
    {
        state.add_malformed(packet_status::too_large);
        return;
    }
    for (std::size_t offset = 0; offset < length; offset += segment)
    {
        const std::size_t size = std::min(segment, length - offset);
        if (size > max_size)
        {
            state.add_malformed(packet_status::too_large);
            continue;
        }
        state.add_datagram(data + offset, size);
    }
}

void udp_reader::run()
{
    for (int round = 0; round < max_batches_per_wake; round++)
    {
        for (std::size_t i = 0; i < batch_datagrams; i++)
        {
            messages[i].msg_hdr.msg_control = control.data() + i * control_size;
            messages[i].msg_hdr.msg_controllen = control_size;
            messages[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(socket.get(), messages.data(), batch_datagrams, MSG_DONTWAIT, nullptr);
        if (n < 0)
        {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warning("UDP reader: recvmmsg failed: {}", std::error_code(errno, std::system_category()).message());
            break;
        }
        {
            stream::add_packet_state state(get_stream());
            for (int i = 0; i < n; i++)
            {
                if (state.is_stopped())
                    return;
                process(messages[i], state);
            }
            if (state.is_stopped())
                return;
        }
        if (std::size_t(n) < batch_datagrams)
            break;   // the socket is (almost certainly) empty
    }
    // Level-triggered: if datagrams remain, this fires again at once, after other work.
    watch.async_wait(fd_event::readable, [this] { run(); });
}

} // namespace spead2::recv
