#include <spead2/common_logging.h>
#include <spead2/recv_ring_stream.h>

namespace spead2::recv
{

ring_stream_config &ring_stream_config::set_heaps(std::size_t heaps)
{
    if (heaps == 0)
        throw std::invalid_argument("heaps must be at least 1");
    this->heaps = heaps;
    return *this;
}

ring_stream::ring_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                         const ring_stream_config &ring_config)
    : stream(std::move(pool), config), ring_config(ring_config), ring(ring_config.get_heaps())
{
}

ring_stream::~ring_stream()
{
    stop();
}

void ring_stream::heap_ready(live_heap &&h)
{
    const s_item_pointer_t cnt = h.get_cnt();
    std::optional<any_heap> out;
    if (h.is_contiguous())
        out.emplace(std::in_place_type<heap>, std::move(h));
    else if (ring_config.get_contiguous_only())
    {
        log_warning("dropped incomplete heap {} ({}/{} bytes of payload)",
                    cnt, h.get_received_length(), h.get_heap_length());
        return;
    }
    else
        out.emplace(std::in_place_type<incomplete_heap>, std::move(h),
                    ring_config.get_incomplete_keep_payload_ranges());

    ring_status status = ring.try_push(std::move(*out));
    if (status == ring_status::full)
    {
        /* Back-pressure: the reader waits for the consumer.  Lossless transports
         * lose nothing by it; lossy ones drop packets meanwhile, so say so. */
        add_stat(stream_stat_indices::WORKER_BLOCKED, 1);
        if (has_lossy_reader())
            log_warning("worker thread blocked by full ringbuffer on heap {}", cnt);
        try
        {
            ring.push(std::move(*out));
            return;
        }
        catch (ringbuffer_stopped &)
        {
            status = ring_status::stopped;
        }
    }
    if (status == ring_status::stopped)
        log_info("dropped heap {} due to external stop", cnt);
}

void ring_stream::stop_received()
{
    stream::stop_received();
    ring.stop();
}

void ring_stream::stop()
{
    ring.stop();
    stream::stop();
}

} // namespace spead2::recv
