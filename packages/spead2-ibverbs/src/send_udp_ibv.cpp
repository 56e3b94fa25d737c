#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <arpa/inet.h>
#include <spead2/common_logging.h>
#include <spead2/send_udp_ibv.h>

namespace spead2::send
{

/* ---- configuration -------------------------------------------------------------- */

udp_ibv_config &udp_ibv_config::set_memory_regions(std::vector<memory_region> regions)
{
    std::vector<memory_region> sorted = regions;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); i++)
    {
        if (sorted[i].second == 0)
            throw std::invalid_argument("memory region must have non-zero size");
        if (i > 0 && static_cast<const std::uint8_t *>(sorted[i - 1].first) + sorted[i - 1].second
                         > static_cast<const std::uint8_t *>(sorted[i].first))
            throw std::invalid_argument("memory regions overlap");
    }
    memory_regions = std::move(regions);
    return *this;
}

/* ---- the writer ---------------------------------------------------------------------- */

namespace
{

/// Scatter-gather entries per frame we ask for (the device may allow fewer).
constexpr std::uint32_t wanted_sge = 4;

} // anonymous namespace

udp_ibv_writer::udp_ibv_writer(thread_pool &pool, const stream_config &stream_config, const udp_ibv_config &config)
    : pool(pool),
      comp_vector(config.get_comp_vector()),
      max_poll(config.get_max_poll()),
      slot_size(round_up(stream_config.get_max_packet_size() + udp_ipv4_frame_overhead, 64))
{
    if (config.get_endpoints().empty())
        throw std::invalid_argument("endpoints is empty");
    std::vector<socket_address> endpoints;
    for (const auto &[host, port] : config.get_endpoints())
    {
        socket_address address = ibv_ipv4_endpoint(host, port, "endpoint is not an IPv4 multicast address");
        if (!address.is_multicast())
            throw std::invalid_argument("endpoint is not an IPv4 multicast address");
        endpoints.push_back(address);
    }
    interface = ibv_interface::open(config.get_interface_address());
    const ibv_api &api = ibv_api::get();
    // A frame the link cannot carry fails on the NIC, and that stops the queue pair.
    interface.check_fits_mtu(stream_config.get_max_packet_size());
    for (const socket_address &endpoint : endpoints)
    {
        const std::uint32_t group = ntohl(endpoint.v4().sin_addr.s_addr);
        headers.push_back(interface.udp_header_fields(group, multicast_mac(group), endpoint.port(), config.get_ttl()));
    }

    queue = std::make_unique<ibv_queue>(interface, config.get_buffer_size(), slot_size, comp_vector, true,
                                        wanted_sge);
    free_slots = queue->n_slots;
    for (const auto &[start, size] : config.get_memory_regions())
    {
        auto *bytes = static_cast<const std::uint8_t *>(start);
        // The NIC only reads these, but ibv_reg_mr takes a non-const address.
        ibv_mr_ptr region(api.reg_mr(queue->pd.get(), const_cast<std::uint8_t *>(bytes), size, 0));
        if (!region)
            throw_ibv_error("ibv_reg_mr (memory region)", errno);
        regions.push_back({bytes, size, std::move(region)});
    }
    std::sort(regions.begin(), regions.end(),
              [](const registered_region &a, const registered_region &b) { return a.start < b.start; });

    if (queue->channel)
        watch = std::make_unique<fd_watch>(pool, queue->channel->fd);
    completions.resize(ibv_poll_batch);
}

udp_ibv_writer::~udp_ibv_writer()
{
    if (watch)
        watch->release();
    regions.clear();   // user memory is deregistered before the queue (and its domain) goes
}

const udp_ibv_writer::registered_region *udp_ibv_writer::region_of(const std::uint8_t *data, std::size_t size) const
{
    auto after = std::upper_bound(regions.begin(), regions.end(), data,
                                  [](const std::uint8_t *p, const registered_region &r) { return p < r.start; });
    if (after == regions.begin())
        return nullptr;
    const registered_region &r = *std::prev(after);
    return data + size <= r.start + r.size ? &r : nullptr;
}

void udp_ibv_writer::reap()
{
    while (outstanding > 0)
    {
        const int n = ibv_poll_cq(queue->cq.get(), ibv_poll_batch, completions.data());
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
        {
            const ibv_wc &wc = completions[i];
            if (wc.status != IBV_WC_SUCCESS)
            {
                if (wc.status != IBV_WC_WR_FLUSH_ERR)
                {
                    log_warning("ibverbs writer: send completion error: {}", int(wc.status));
                    qp_failed = true;
                }
                packets[wc.wr_id].result = std::make_error_code(std::errc::io_error);
            }
        }
        outstanding -= std::size_t(n);
        free_slots += std::size_t(n);
    }
}

void udp_ibv_writer::proceed()
{
    std::function<void()> finished;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!packets)
            return;   // finished already (cancel() and a completion event both drive it)
        reap();
        while (next_packet < n_packets && free_slots > 0 && !cancelled)
        {
            transmit_packet &packet = packets[next_packet];
            std::uint8_t *slot = queue->slot(next_slot, slot_size);
            write_udp_ipv4_headers(slot, headers[packet.substream_index], packet.size);
            // Sent from a registered region where possible; otherwise copied after the headers.
            ibv_sge sges[wanted_sge];
            std::uint32_t n_sge = 1;
            std::size_t used = udp_ipv4_frame_overhead;
            sges[0] = {reinterpret_cast<std::uint64_t>(slot), std::uint32_t(used), queue->mr->lkey};
            bool copying = true;   // the last sge is the slot's and may grow
            for (std::size_t i = 0; i < packet.n_pieces; i++)
            {
                const buffer_piece &piece = packet.pieces[i];
                const registered_region *region = region_of(piece.ptr, piece.length);
                if (region && n_sge + 1 < queue->max_send_sge)
                {
                    sges[n_sge++] = {reinterpret_cast<std::uint64_t>(piece.ptr), std::uint32_t(piece.length),
                                     region->mr->lkey};
                    copying = false;
                    continue;
                }
                std::memcpy(slot + used, piece.ptr, piece.length);
                if (!copying)
                {
                    sges[n_sge++] = {reinterpret_cast<std::uint64_t>(slot + used), 0, queue->mr->lkey};
                    copying = true;
                }
                sges[n_sge - 1].length += std::uint32_t(piece.length);
                used += piece.length;
            }
            ibv_send_wr wr{};
            wr.wr_id = next_packet;
            wr.sg_list = sges;
            wr.num_sge = int(n_sge);
            wr.opcode = IBV_WR_SEND;
            wr.send_flags = IBV_SEND_SIGNALED;
            ibv_send_wr *bad = nullptr;
            if (int error = ibv_post_send(queue->qp.get(), &wr, &bad))
            {
                packet.result = std::error_code(error, std::system_category());
                next_packet++;
                continue;
            }
            next_slot = (next_slot + 1) % queue->n_slots;
            free_slots--;
            outstanding++;
            next_packet++;
        }
        if (cancelled)
            for (; next_packet < n_packets; next_packet++)
                packets[next_packet].result = std::make_error_code(std::errc::operation_canceled);
        if (next_packet < n_packets || outstanding > 0)
        {
            if (watch)
            {
                /* Arm, then look again: a completion that arrived before arming raises
                 * no event, and waiting for one would wait forever. */
                ibv_req_notify_cq(queue->cq.get(), 0);
                const std::size_t before = outstanding;
                reap();
                if (outstanding != before)
                {
                    pool.post([this] { proceed(); });
                    return;
                }
            }
            wait_for_completions();
            return;
        }
        if (qp_failed)
            restart_qp();
        finished = std::move(done);
        done = nullptr;
        packets = nullptr;
    }
    finished();
}

void udp_ibv_writer::restart_qp()
{
    /* An error completion leaves the queue pair in the error state, where every later
     * send would fail too: with nothing outstanding, take it back through RESET. */
    queue->restart();
    free_slots = queue->n_slots;
    next_slot = 0;
    qp_failed = false;
}

void udp_ibv_writer::wait_for_completions()
{
    if (!watch)
    {
        // Busy polling: come back on a worker after the other work queued there.
        pool.post([this] { poll_then_proceed(); });
        return;
    }
    watch->async_wait(fd_event::readable, [this] {
        queue->take_events();
        proceed();
    });
}

void udp_ibv_writer::poll_then_proceed()
{
    // Up to max_poll looks at the queue before going round the pool again.
    for (int i = 1; i < max_poll; i++)
    {
        std::lock_guard<std::mutex> lock(mutex);
        const std::size_t before = outstanding;
        reap();
        if (outstanding != before || outstanding == 0)
            break;
    }
    proceed();
}

void udp_ibv_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        this->packets = packets;
        n_packets = n;
        next_packet = 0;
        this->done = std::move(done);
    }
    proceed();
}

void udp_ibv_writer::cancel()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        cancelled = true;
    }
    /* Frames already posted complete by themselves (the NIC sends or flushes them); a
     * batch waiting for the event goes on from the next completion. */
    if (watch)
        watch->cancel();
    bool waiting;
    {
        std::lock_guard<std::mutex> lock(mutex);
        waiting = packets != nullptr;
    }
    if (waiting)
        while (true)
        {
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (!packets)
                    break;
            }
            proceed();
        }
}

bool udp_ibv_writer::take_over_pacing(double rate, std::size_t max_packet_size)
{
    /* Through the context, not ibv_query_device_ex(): that inline falls back to a
     * library symbol, and the library is only ever reached through ibv_api. */
    ibv_device_attr_ex attr{};
    verbs_context *vctx = verbs_get_ctx_op(interface.context.get(), query_device_ex);
    if (!vctx || vctx->query_device_ex(interface.context.get(), nullptr, &attr, sizeof(attr)) != 0
        || !(attr.packet_pacing_caps.supported_qpts & (1U << IBV_QPT_RAW_PACKET)))
    {
        log_info("ibverbs writer: the NIC has no packet pacing; the rate is kept in software");
        return false;
    }
    // The NIC paces whole frames: add the headers this writer puts in front of each packet.
    const double frame_factor = double(max_packet_size + udp_ipv4_frame_overhead) / double(max_packet_size);
    const double kbps = rate * 8.0 * frame_factor / 1000.0;
    const auto &caps = attr.packet_pacing_caps;
    if (kbps < caps.qp_rate_limit_min || kbps > caps.qp_rate_limit_max)
    {
        log_info("ibverbs writer: {} kb/s is outside the NIC's packet pacing range ({} to {} kb/s); "
                 "the rate is kept in software", kbps, caps.qp_rate_limit_min, caps.qp_rate_limit_max);
        return false;
    }
    ibv_qp_rate_limit_attr limit{};
    limit.rate_limit = std::uint32_t(kbps + 0.5);
    limit.typical_pkt_sz = std::uint16_t(std::min<std::size_t>(max_packet_size + udp_ipv4_frame_overhead, 65535));
    if (int error = ibv_modify_qp_rate_limit(queue->qp.get(), &limit))
    {
        log_info("ibverbs writer: the NIC refused a rate limit of {} kb/s ({}); the rate is kept in software",
                 limit.rate_limit, std::error_code(error, std::system_category()).message());
        return false;
    }
    return true;
}

} // namespace spead2::send
