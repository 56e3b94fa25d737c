#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <spead2/common_logging.h>
#include <spead2/common_socket.h>
#include <spead2/send_udp_xdp.h>

namespace spead2::send
{

/* ---- configuration -------------------------------------------------------------- */

void udp_xdp_config::set_endpoints(std::vector<std::pair<std::string, std::uint16_t>> value)
{
    xdp_check_endpoints(value, false);
    endpoints = std::move(value);
}

/* ---- the writer ----------------------------------------------------------------- */

namespace
{

/// Shortest and longest pause before looking at the rings again when nothing moved.
constexpr std::chrono::microseconds min_backoff{5};
constexpr std::chrono::microseconds max_backoff{1000};

/* The Ethernet address of the unicast @a address (host order) on @a interface, from
 * the kernel's neighbour (ARP) table; we build whole frames, so the kernel's own
 * resolution, which a socket would trigger, never runs for us. */
mac_address neighbour_mac(const network_interface &interface, std::uint32_t address)
{
    const std::string wanted = socket_address::ipv4(address, 0).address_string();
    std::ifstream table("/proc/net/arp");
    std::string line;
    std::getline(table, line);   // the column titles
    while (std::getline(table, line))
    {
        std::istringstream fields(line);
        std::string ip, type, flags, mac, mask, device;
        if (!(fields >> ip >> type >> flags >> mac >> mask >> device) || ip != wanted || device != interface.name)
            continue;
        const unsigned long flag_bits = std::strtoul(flags.c_str(), nullptr, 16);
        unsigned int bytes[6];
        if (!(flag_bits & 0x2)   // ATF_COM: resolved
            || std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &bytes[0], &bytes[1], &bytes[2], &bytes[3],
                           &bytes[4], &bytes[5]) != 6)
            break;
        mac_address result;
        std::copy(bytes, bytes + 6, result.begin());
        return result;
    }
    throw std::runtime_error("the Ethernet address of " + wanted + " on " + interface.name
                             + " is not in the kernel's neighbour table; AF_XDP bypasses the kernel's "
                             "address resolution, so resolve it first (ping it, or ip neigh add " + wanted
                             + " lladdr <MAC> dev " + interface.name + ")");
}

/// Frames of @a frame_size bytes that a packet of @a packet_size bytes takes, with its headers.
std::size_t frames_for(std::size_t packet_size, std::size_t frame_size)
{
    return (packet_size + udp_ipv4_frame_overhead + frame_size - 1) / frame_size;
}

bool transient(int error)
{
    return error == EAGAIN || error == EWOULDBLOCK || error == EBUSY || error == ENOBUFS || error == EINTR;
}

} // anonymous namespace

udp_xdp_writer::udp_xdp_writer(thread_pool &pool, const stream_config &stream_config, const udp_xdp_config &config)
    : pool(pool)
{
    if (config.get_endpoints().empty())
        throw std::invalid_argument("endpoints is empty");
    interface = xdp_find_interface(config.get_interface());
    if (interface.address == 0)
        throw std::runtime_error("interface " + interface.name + " has no IPv4 address to send from");
    const std::size_t max_packet_size = stream_config.get_max_packet_size();
    interface.check_fits_mtu(max_packet_size);
    for (const auto &[host, port] : config.get_endpoints())
    {
        const socket_address endpoint = socket_address::resolve(host, port);
        const std::uint32_t destination = ntohl(endpoint.v4().sin_addr.s_addr);
        const mac_address mac = endpoint.is_multicast() ? multicast_mac(destination)
                                                        : neighbour_mac(interface, destination);
        headers.push_back(interface.udp_header_fields(destination, mac, port, config.get_ttl()));
    }

    const std::size_t frame_size = config.get_frame_size();
    max_frames_per_packet = frames_for(max_packet_size, frame_size);
    if (max_frames_per_packet > config.get_ring_size() || max_frames_per_packet > config.get_frame_count())
        throw std::invalid_argument("a packet of max_packet_size bytes needs "
                                    + std::to_string(max_frames_per_packet)
                                    + " frames, more than ring_size or frame_count");
    socket = std::make_unique<xdp_socket>(interface, config, xdp_socket::direction::transmit);
    if (max_frames_per_packet > 1 && !socket->multi_buffer())
        throw xdp_unavailable("a packet of max_packet_size (" + std::to_string(max_packet_size)
                              + ") bytes with its headers does not fit in a frame of "
                              + std::to_string(frame_size) + " bytes, and this kernel has no AF_XDP "
                              "multi-buffer support (Linux 6.6 or later)");
    free_frames.reserve(socket->frame_count());
    for (std::size_t i = socket->frame_count(); i-- > 0; )
        free_frames.push_back(std::uint64_t(i) * frame_size);
}

udp_xdp_writer::~udp_xdp_writer()
{
    std::unique_lock<std::mutex> lock(mutex);
    idle.wait(lock, [this] { return scheduled == 0; });
}

void udp_xdp_writer::reap()
{
    std::uint32_t index;
    const std::uint32_t n = xsk_ring_cons__peek(&socket->completion, std::uint32_t(socket->frame_count()), &index);
    for (std::uint32_t i = 0; i < n; i++)
        free_frames.push_back(*xsk_ring_cons__comp_addr(&socket->completion, index + i));
    xsk_ring_cons__release(&socket->completion, n);
}

void udp_xdp_writer::fill_packet(transmit_packet &packet, std::uint32_t first_descriptor)
{
    const std::size_t frame_size = socket->get_frame_size();
    std::size_t descriptor = 0;
    xdp_desc *desc = nullptr;
    std::uint8_t *out = nullptr;
    std::size_t used = 0;
    auto next_frame = [&] {
        if (desc)
        {
            desc->len = std::uint32_t(used);
            desc->options = XDP_PKT_CONTD;
        }
        desc = xsk_ring_prod__tx_desc(&socket->tx, first_descriptor + std::uint32_t(descriptor++));
        desc->addr = free_frames.back();
        free_frames.pop_back();
        out = socket->frame(desc->addr);
        used = 0;
    };
    next_frame();
    write_udp_ipv4_headers(out, headers[packet.substream_index], packet.size);
    used = udp_ipv4_frame_overhead;
    for (std::size_t i = 0; i < packet.n_pieces; i++)
    {
        const std::uint8_t *data = packet.pieces[i].ptr;
        std::size_t left = packet.pieces[i].length;
        while (left > 0)
        {
            if (used == frame_size)
                next_frame();
            const std::size_t n = std::min(left, frame_size - used);
            std::memcpy(out + used, data, n);
            used += n;
            data += n;
            left -= n;
        }
    }
    desc->len = std::uint32_t(used);
    desc->options = 0;
}

std::size_t udp_xdp_writer::fill()
{
    const std::size_t frame_size = socket->get_frame_size();
    std::size_t filled = 0;
    while (next_packet < n_packets)
    {
        transmit_packet &packet = packets[next_packet];
        const std::size_t n_frames = frames_for(packet.size, frame_size);
        std::uint32_t first;
        if (free_frames.size() < n_frames
            || xsk_ring_prod__reserve(&socket->tx, std::uint32_t(n_frames), &first) != n_frames)
            break;
        fill_packet(packet, first);
        xsk_ring_prod__submit(&socket->tx, std::uint32_t(n_frames));
        packet_ends[next_packet] = first + std::uint32_t(n_frames);
        next_packet++;
        filled++;
    }
    return filled;
}

std::error_code udp_xdp_writer::kick()
{
    const std::uint32_t produced = *socket->tx.producer;
    std::uint32_t consumed = __atomic_load_n(socket->tx.consumer, __ATOMIC_ACQUIRE);
    /* In copy mode the kernel transmits during the call, a bounded number of frames
     * each time: call again while it keeps taking them.  A zero-copy driver only
     * gets woken and takes them later. */
    while (consumed != produced)
    {
        const bool failed = ::sendto(socket->fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0;
        const int error = failed ? errno : 0;
        if (failed && !transient(error))
        {
            log_warning("AF_XDP transmit on {} failed: {}", interface.name,
                        std::error_code(error, std::system_category()).message());
            return std::error_code(error, std::system_category());
        }
        const std::uint32_t before = consumed;
        consumed = __atomic_load_n(socket->tx.consumer, __ATOMIC_ACQUIRE);
        if (consumed == before)
            break;
    }
    return {};
}

std::size_t udp_xdp_writer::retire(const std::error_code &error)
{
    const std::size_t before = finished_packets;
    if (error)
    {
        // The kernel will not take these: fail them (and what was not submitted yet).
        for (; finished_packets < n_packets; finished_packets++)
            packets[finished_packets].result = error;
        next_packet = n_packets;
        return finished_packets - before;
    }
    const std::uint32_t consumed = __atomic_load_n(socket->tx.consumer, __ATOMIC_ACQUIRE);
    while (finished_packets < next_packet
           && std::int32_t(consumed - packet_ends[finished_packets]) >= 0)
        finished_packets++;
    return finished_packets - before;
}

void udp_xdp_writer::proceed()
{
    std::function<void()> finished;
    {
        std::unique_lock<std::mutex> lock(mutex);
        if (!packets)
            return;   // finished already (cancel() and a continuation both drive it)
        reap();
        std::size_t progress = cancelled ? 0 : fill();
        progress += retire(kick());
        if (cancelled)
        {
            /* What the kernel has not taken yet may still go out; what was never put
             * on the ring will not. */
            for (std::size_t i = next_packet; i < n_packets; i++)
                packets[i].result = std::make_error_code(std::errc::operation_canceled);
            finished_packets = next_packet = n_packets;
        }
        if (finished_packets < n_packets)
        {
            schedule(progress > 0);
            return;
        }
        finished = std::move(done);
        done = nullptr;
        packets = nullptr;
    }
    finished();
}

void udp_xdp_writer::schedule(bool progress)
{
    scheduled++;
    auto task = [this] {
        proceed();
        std::lock_guard<std::mutex> lock(mutex);
        scheduled--;
        if (scheduled == 0)
            idle.notify_all();
    };
    /* Frames come back when the kernel (or the peer that received them) lets go of
     * them; while nothing moves, look less and less often rather than spin a worker. */
    if (progress)
    {
        backoff = std::chrono::microseconds(0);
        pool.post(std::move(task));
    }
    else
    {
        backoff = std::clamp(backoff * 2, min_backoff, max_backoff);
        pool.post_at(thread_pool::clock::now() + backoff, std::move(task));
    }
}

void udp_xdp_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        this->packets = packets;
        n_packets = n;
        next_packet = 0;
        finished_packets = 0;
        packet_ends.resize(n);
        this->done = std::move(done);
    }
    proceed();
}

void udp_xdp_writer::cancel()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        cancelled = true;
    }
    proceed();   // finishes a batch in flight at once
}

} // namespace spead2::send
