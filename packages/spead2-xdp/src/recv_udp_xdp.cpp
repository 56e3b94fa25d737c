#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spead2/common_logging.h>
#include <spead2/common_raw_packet.h>
#include <spead2/recv_udp_xdp.h>

namespace spead2::recv
{

/* ---- configuration -------------------------------------------------------------- */

void udp_xdp_config::set_endpoints(std::vector<std::pair<std::string, std::uint16_t>> value)
{
    xdp_check_endpoints(value, true);
    endpoints = std::move(value);
}

void udp_xdp_config::set_max_size(std::size_t value)
{
    if (value == 0)
        throw std::invalid_argument("max_size must be positive");
    max_size = value;
}

void udp_xdp_config::set_max_poll(int value)
{
    if (value < 1)
        throw std::invalid_argument("max_poll must be at least 1");
    max_poll = value;
}

/* ---- statistics ------------------------------------------------------------------ */

namespace
{

// When the plugin's library loads: before any stream that one of its readers could join.
const bool stats_registered = [] {
    register_transport_stat(udp_xdp_stats::XDP_READERS);
    register_transport_stat(udp_xdp_stats::XDP_FALLBACKS);
    return true;
}();

} // anonymous namespace

void count_udp_xdp_stat(stream &owner, const char *name)
{
    std::size_t index;
    try
    {
        index = owner.get_config().get_stat_index(name);
    }
    catch (std::out_of_range &)
    {
        return;   // a stream made before this plugin loaded
    }
    owner.add_stat(index, 1);
}

/* ---- the reader ----------------------------------------------------------------- */

namespace
{

/// Descriptors taken from the receive ring at a time.
constexpr std::uint32_t rx_batch = 64;
/// Ethernet (with an 802.1Q tag), IPv4 with options and UDP in front of a datagram.
constexpr std::size_t frame_headroom = ethernet_header_size + 4 + 60 + udp_header_size;

} // anonymous namespace

udp_xdp_reader::udp_xdp_reader(stream &owner, const udp_xdp_config &config)
    : reader(owner),
      max_size(config.get_max_size()),
      queue_index(config.get_queue()),
      busy_poll(config.get_busy_poll()),
      max_poll(config.get_max_poll()),
      malformed_index(owner.get_config().get_stat_index(stream_extension_stats::MALFORMED_PACKETS))
{
    if (config.get_endpoints().empty())
        throw std::invalid_argument("endpoints is empty");
    if (config.get_interface().empty())
        throw std::invalid_argument("interface has not been specified");
    interface = xdp_find_interface(config.get_interface());
    for (const auto &[host, port] : config.get_endpoints())
    {
        const socket_address address = socket_address::resolve(host, port);
        const std::uint32_t ip = ntohl(address.v4().sin_addr.s_addr);
        if (address.is_multicast())
        {
            // Join through the kernel too, so that IGMP tells the switches to forward the group.
            file_descriptor member(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            ip_mreqn request{};
            request.imr_multiaddr.s_addr = htonl(ip);
            request.imr_ifindex = int(interface.index);
            if (!member || setsockopt(member.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request)) != 0)
                throw std::system_error(errno, std::system_category(),
                                        "joining multicast group " + address.address_string());
            group_members.push_back(std::move(member));
        }
        endpoints.push_back({ip, port});
    }

    // The program first: a program that is not ours is the clearest reason to give up.
    filter = xdp_filter::attach(interface, config.get_mode());
    socket = std::make_unique<xdp_socket>(interface, config, xdp_socket::direction::receive);
    if (!socket->multi_buffer() && interface.mtu + ethernet_header_size + 4 > socket->get_frame_size())
        throw xdp_unavailable("interface " + interface.name + " has an MTU of " + std::to_string(interface.mtu)
                              + ", more than a frame of " + std::to_string(socket->get_frame_size())
                              + " bytes holds, and this kernel has no AF_XDP multi-buffer support (Linux 6.6 "
                              "or later): larger frames would be dropped unseen");
    // The socket first: until it is there, the program passes the endpoints' frames on.
    filter->set_socket(queue_index, socket->fd());
    for (const endpoint &e : endpoints)
        filter->add_endpoint(e.address, e.port);

    if (!busy_poll)
        watch = std::make_unique<fd_watch>(get_thread_pool(), socket->fd());
    done_frames.reserve(rx_batch);
    count_udp_xdp_stat(owner, udp_xdp_stats::XDP_READERS);
}

udp_xdp_reader::~udp_xdp_reader()
{
    if (watch)
        watch->release();
    for (const endpoint &e : endpoints)
        filter->remove_endpoint(e.address, e.port);
    filter->clear_socket(queue_index);
}

void udp_xdp_reader::malformed(stream::add_packet_state &state, const char *why)
{
    state.stat(malformed_index)++;
    log_info("AF_XDP reader: frame dropped: {}", why);
}

void udp_xdp_reader::process(const datagram_piece *frames, std::size_t n, std::size_t size,
                             stream::add_packet_state &state)
{
    /* The headers are parsed in place, in the first frame: the parser reads no further
     * than them, whatever size says.  A first frame too short to hold them all (a
     * driver may split anywhere) is gathered first. */
    if (n > 1 && frames[0].size < frame_headroom)
    {
        gather(frames, n, gathered);
        const datagram_piece whole{gathered.data(), gathered.size()};
        process(&whole, 1, whole.size, state);
        return;
    }
    udp_ipv4_datagram datagram;
    const raw_packet_status status = parse_ethernet_udp_ipv4(frames[0].data, size, datagram);
    if (status != raw_packet_status::ok)
    {
        malformed(state, raw_packet_status_string(status));
        return;
    }
    const bool ours = std::any_of(endpoints.begin(), endpoints.end(), [&datagram](const endpoint &e) {
        return (e.address == 0 || e.address == datagram.destination_address) && e.port == datagram.destination_port;
    });
    if (!ours)
        malformed(state, "not addressed to an endpoint of this reader");
    else if (datagram.payload_size > max_size)
        malformed(state, "larger than max_size");
    else if (n == 1)
        state.add_datagram(datagram.payload, datagram.payload_size);
    else
    {
        // The UDP payload, frame by frame (without what may follow it in the last frame).
        payload_pieces.clear();
        std::size_t left = datagram.payload_size;
        const std::uint8_t *from = datagram.payload;
        for (std::size_t i = 0; i < n && left > 0; i++)
        {
            const std::uint8_t *end = frames[i].data + frames[i].size;
            if (i > 0)
                from = frames[i].data;
            const std::size_t take = std::min(left, std::size_t(end - from));
            payload_pieces.push_back({from, take});
            left -= take;
        }
        state.add_datagram(payload_pieces.data(), payload_pieces.size());
    }
}

std::size_t udp_xdp_reader::poll(stream::add_packet_state &state)
{
    std::uint32_t first = 0;
    const std::uint32_t n = xsk_ring_cons__peek(&socket->rx, rx_batch, &first);
    done_frames.clear();
    for (std::uint32_t i = 0; i < n; i++)
    {
        const xdp_desc *desc = xsk_ring_cons__rx_desc(&socket->rx, first + i);
        const datagram_piece frame{socket->frame(desc->addr), desc->len};
        const bool continues = desc->options & XDP_PKT_CONTD;
        if (!continues && packet_frames.empty())
        {
            if (!state.is_stopped())
                process(&frame, 1, frame.size, state);
            done_frames.push_back(desc->addr);
            continue;
        }
        /* A packet in several frames (multi-buffer): its frames are kept (not given back
         * to the kernel, even across polls) until its last one has arrived. */
        packet_frames.push_back(frame);
        packet_addresses.push_back(desc->addr);
        packet_size += frame.size;
        if (!continues)
        {
            if (packet_size > max_size + frame_headroom)
                malformed(state, "larger than max_size");
            else if (!state.is_stopped())
                process(packet_frames.data(), packet_frames.size(), packet_size, state);
            done_frames.insert(done_frames.end(), packet_addresses.begin(), packet_addresses.end());
            packet_frames.clear();
            packet_addresses.clear();
            packet_size = 0;
        }
    }
    if (n == 0)
        return 0;
    xsk_ring_cons__release(&socket->rx, n);
    // The fill ring has room for every frame, so the frames always go straight back.
    const std::uint32_t back = std::uint32_t(done_frames.size());
    std::uint32_t slot = 0;
    if (xsk_ring_prod__reserve(&socket->fill, back, &slot) == back)
    {
        for (std::uint32_t i = 0; i < back; i++)
            *xsk_ring_prod__fill_addr(&socket->fill, slot + i) = done_frames[i];
        xsk_ring_prod__submit(&socket->fill, back);
    }
    else
        log_warning("AF_XDP reader: fill ring full; {} frames not returned", back);
    return n;
}

void udp_xdp_reader::count_kernel_drops(stream::add_packet_state &state)
{
    const xdp_statistics stats = socket->statistics();
    const std::uint64_t total = stats.rx_dropped + stats.rx_ring_full + stats.rx_invalid_descs;
    if (total > kernel_dropped)
    {
        state.add_transport_dropped(total - kernel_dropped);
        kernel_dropped = total;
    }
}

void udp_xdp_reader::run_events()
{
    bool stopped;
    {
        stream::add_packet_state state(get_stream());
        while (poll(state) == rx_batch && !state.is_stopped())
        {
        }
        count_kernel_drops(state);
        stopped = state.is_stopped();
    }
    if (!stopped && !stopping)
        watch->async_wait(fd_event::readable, [this] { run_events(); });
}

void udp_xdp_reader::run_busy()
{
    bool stopped = false;
    for (int i = 0; i < max_poll && !stopped; i++)
    {
        stream::add_packet_state state(get_stream());
        poll(state);
        // The counters cost a system call: once a turn, not on every empty poll.
        if (i == max_poll - 1)
            count_kernel_drops(state);
        stopped = state.is_stopped();
    }
    // Yield the worker between rounds (other work of the pool, and stop()).
    if (!stopped && !stopping)
        post([this] { run_busy(); });
}

void udp_xdp_reader::start()
{
    std::uint32_t slot = 0;
    const std::uint32_t frames = std::uint32_t(socket->frame_count());
    if (xsk_ring_prod__reserve(&socket->fill, frames, &slot) != frames)
        throw std::logic_error("AF_XDP fill ring smaller than the frame count");
    for (std::uint32_t i = 0; i < frames; i++)
        *xsk_ring_prod__fill_addr(&socket->fill, slot + i) = std::uint64_t(i) * socket->get_frame_size();
    xsk_ring_prod__submit(&socket->fill, frames);
    if (watch)
        watch->async_wait(fd_event::readable, [this] { run_events(); });
    else
        post([this] { run_busy(); });
}

void udp_xdp_reader::stop()
{
    stopping = true;
    if (watch)
        watch->cancel();
    group_members.clear();   // leave the groups now, as the UDP reader frees its port
}

} // namespace spead2::recv
