#include <algorithm>
#include <stdexcept>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spead2/common_logging.h>
#include <spead2/common_raw_packet.h>
#include <spead2/recv_udp_ibv.h>

namespace spead2::recv
{

/* ---- configuration -------------------------------------------------------------- */

udp_ibv_config &udp_ibv_config::set_max_size(std::size_t size)
{
    if (size == 0)
        throw std::invalid_argument("max_size must be positive");
    max_size = size;
    return *this;
}

/* ---- the reader -------------------------------------------------------------------- */

namespace
{

/// Room in a slot beyond max_size: Ethernet (with an 802.1Q tag), IPv4 with options, UDP.
constexpr std::size_t frame_headroom = ethernet_header_size + 4 + 60 + udp_header_size;

/// Validate the endpoints before anything is opened (errors as spec §4.9).
std::vector<socket_address> check_endpoints(const udp_ibv_config &config)
{
    if (config.get_endpoints().empty())
        throw std::invalid_argument("endpoints is empty");
    std::vector<socket_address> out;
    for (const auto &[host, port] : config.get_endpoints())
        out.push_back(ibv_ipv4_endpoint(host, port, "endpoint is not an IPv4 address"));
    return out;
}

} // anonymous namespace

udp_ibv_reader::udp_ibv_reader(stream &owner, const udp_ibv_config &config)
    : reader(owner),
      max_size(config.get_max_size()),
      comp_vector(config.get_comp_vector()),
      max_poll(config.get_max_poll()),
      malformed_index(owner.get_config().get_stat_index(stream_extension_stats::MALFORMED_PACKETS))
{
    const std::vector<socket_address> addresses = check_endpoints(config);
    interface = ibv_interface::open(config.get_interface_address());
    /* Room for any frame the interface can deliver, not just max_size: a frame longer
     * than its buffer is a local length error, which puts the queue pair in the error
     * state.  Datagrams over max_size are dropped (and counted) here instead. */
    slot_size = round_up(std::max<std::size_t>(config.get_max_size() + frame_headroom,
                                               interface.mtu + ethernet_header_size + 4),
                         64);
    queue = std::make_unique<ibv_queue>(interface, config.get_buffer_size(), slot_size, comp_vector, false);

    for (const socket_address &address : addresses)
    {
        std::uint32_t ip = ntohl(address.v4().sin_addr.s_addr);
        mac_address mac = interface.mac;
        if (address.is_multicast())
        {
            mac = multicast_mac(ip);
            // Join through the kernel too, so that IGMP tells the switches to forward the group.
            file_descriptor member(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            ip_mreq request{};
            request.imr_multiaddr.s_addr = htonl(ip);
            request.imr_interface.s_addr = htonl(interface.address);
            if (!member || setsockopt(member.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request)) != 0)
                throw_ibv_error("joining multicast group " + address.address_string(), errno);
            group_members.push_back(std::move(member));
        }
        else if (address.is_unspecified())
            ip = interface.address;
        endpoints.push_back({ip, address.port()});
        flows.push_back(ibv_steer_udp(queue->qp.get(), interface.port, mac, ip, address.port()));
    }

    if (queue->channel)
        watch = std::make_unique<fd_watch>(get_thread_pool(), queue->channel->fd);
    recv_wrs.resize(queue->n_slots);
    recv_sges.resize(queue->n_slots);
    completions.resize(ibv_poll_batch);
}

udp_ibv_reader::~udp_ibv_reader()
{
    if (watch)
        watch->release();
    flows.clear();   // before the queue pair they steer to
}

void udp_ibv_reader::post_receives(const ibv_wc *done, int n)
{
    // Each slot's work request id is its index; chain them into one post.
    for (int i = 0; i < n; i++)
    {
        const std::size_t slot = done ? std::size_t(done[i].wr_id) : std::size_t(i);
        recv_sges[i] = {reinterpret_cast<std::uint64_t>(queue->slot(slot, slot_size)), std::uint32_t(slot_size),
                        queue->mr->lkey};
        recv_wrs[i] = {};
        recv_wrs[i].wr_id = slot;
        recv_wrs[i].sg_list = &recv_sges[i];
        recv_wrs[i].num_sge = 1;
        recv_wrs[i].next = i + 1 < n ? &recv_wrs[i + 1] : nullptr;
    }
    if (n == 0)
        return;
    ibv_recv_wr *bad = nullptr;
    if (int error = ibv_post_recv(queue->qp.get(), recv_wrs.data(), &bad))
        log_warning("ibverbs reader: ibv_post_recv failed: {}", std::error_code(error, std::system_category()).message());
}

void udp_ibv_reader::malformed(stream::add_packet_state &state, const char *why)
{
    state.stat(malformed_index)++;
    log_info("ibverbs reader: frame dropped: {}", why);
}

void udp_ibv_reader::process(const ibv_wc &wc, stream::add_packet_state &state)
{
    if (wc.status != IBV_WC_SUCCESS)
    {
        // Flushed receives follow the error that stopped the queue pair: not frames.
        if (wc.status != IBV_WC_WR_FLUSH_ERR)
        {
            malformed(state, "receive completion error");
            qp_failed = true;
        }
        return;
    }
    const std::uint8_t *frame = queue->slot(std::size_t(wc.wr_id), slot_size);
    udp_ipv4_datagram datagram;
    const raw_packet_status status = parse_ethernet_udp_ipv4(frame, wc.byte_len, datagram);
    if (status != raw_packet_status::ok)
    {
        malformed(state, raw_packet_status_string(status));
        return;
    }
    const bool ours = std::any_of(endpoints.begin(), endpoints.end(), [&datagram](const endpoint &e) {
        return e.address == datagram.destination_address && e.port == datagram.destination_port;
    });
    if (!ours)
        malformed(state, "not addressed to an endpoint of this reader");
    else if (datagram.payload_size > max_size)
        malformed(state, "larger than max_size");
    else
        state.add_datagram(datagram.payload, datagram.payload_size);
}

int udp_ibv_reader::poll(stream::add_packet_state &state)
{
    int total = 0;
    while (true)
    {
        const int n = ibv_poll_cq(queue->cq.get(), ibv_poll_batch, completions.data());
        if (n <= 0)
        {
            if (n < 0)
                log_warning("ibverbs reader: ibv_poll_cq failed");
            break;
        }
        for (int i = 0; i < n && !state.is_stopped(); i++)
            process(completions[i], state);
        if (!qp_failed)
            post_receives(completions.data(), n);
        total += n;
        if (n < ibv_poll_batch)
            break;
    }
    if (qp_failed)
        restart_qp();
    return total;
}

void udp_ibv_reader::restart_qp()
{
    /* An error completion leaves the queue pair in the error state, flushing every
     * receive: take it back through RESET and give it all the buffers again (the
     * flushed completions have all been taken by then). */
    log_warning("ibverbs reader: receive error; restarting the queue pair");
    while (ibv_poll_cq(queue->cq.get(), ibv_poll_batch, completions.data()) > 0)
    {
    }
    if (queue->restart())
        post_receives(nullptr, int(queue->n_slots));
    qp_failed = false;
}

void udp_ibv_reader::run_events()
{
    queue->take_events();
    bool stopped;
    {
        stream::add_packet_state state(get_stream());
        /* Arm before polling: a completion arriving after the poll then still raises
         * an event, and none is lost between the two. */
        ibv_req_notify_cq(queue->cq.get(), 0);
        poll(state);
        stopped = state.is_stopped();
    }
    if (!stopped && !stopping)
        watch->async_wait(fd_event::readable, [this] { run_events(); });
}

void udp_ibv_reader::run_busy()
{
    bool stopped = false;
    for (int i = 0; i < max_poll && !stopped; i++)
    {
        stream::add_packet_state state(get_stream());
        poll(state);
        stopped = state.is_stopped();
    }
    // Yield the worker between rounds (other work of the pool, and stop()).
    if (!stopped && !stopping)
        post([this] { run_busy(); });
}

void udp_ibv_reader::start()
{
    post_receives(nullptr, int(queue->n_slots));
    if (watch)
    {
        ibv_req_notify_cq(queue->cq.get(), 0);
        watch->async_wait(fd_event::readable, [this] { run_events(); });
    }
    else
        post([this] { run_busy(); });
}

void udp_ibv_reader::stop()
{
    stopping = true;
    if (watch)
        watch->cancel();
    group_members.clear();   // leave the groups now, as the UDP reader frees its port
}

} // namespace spead2::recv
