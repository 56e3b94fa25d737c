#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <spead2/common_logging.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

/* Packets per call to the writer: enough to amortise the call and let transports
 * batch system calls, small enough to keep the scratch memory in cache. */
static constexpr std::size_t max_batch_packets = 64;

stream_config &stream_config::set_rate(double rate)
{
    if (!(rate >= 0.0) || !std::isfinite(rate))
        throw std::invalid_argument("rate must be non-negative");
    this->rate = rate;
    return *this;
}

stream_config &stream_config::set_max_heaps(std::size_t max_heaps)
{
    if (max_heaps == 0)
        throw std::invalid_argument("max_heaps must be positive");
    this->max_heaps = max_heaps;
    return *this;
}

stream_config &stream_config::set_burst_rate_ratio(double ratio)
{
    if (!(ratio >= 1.0) || !std::isfinite(ratio))
        throw std::invalid_argument("burst rate ratio must be at least 1.0 and finite");
    burst_rate_ratio = ratio;
    return *this;
}

writer::~writer() = default;

struct stream::group
{
    std::vector<packet_generator> generators;
    std::vector<std::size_t> substreams;
    std::vector<double> rates;   ///< bytes per second per heap; 0 = unlimited
    group_mode mode = group_mode::SERIAL;
    completion_handler handler;
    std::size_t current = 0;     ///< next generator to take a packet from
    std::size_t remaining = 0;   ///< generators with packets left
    item_pointer_t bytes = 0;
    std::error_code error;

    /// Pick the generator for the next packet, or return false when all are done.
    bool next_generator(std::size_t &index)
    {
        if (remaining == 0)
            return false;
        while (!generators[current].has_next_packet())
            current = (current + 1) % generators.size();
        index = current;
        return true;
    }

    void packet_taken(std::size_t index)
    {
        if (!generators[index].has_next_packet())
            remaining--;
        // SERIAL stays on a heap until it is exhausted; ROUND_ROBIN moves on each packet.
        if (mode == group_mode::ROUND_ROBIN || !generators[index].has_next_packet())
            current = (index + 1) % generators.size();
    }
};

stream::stream(std::shared_ptr<thread_pool> pool, const stream_config &config, std::unique_ptr<writer> transport)
    : pool(std::move(pool)), config(config), transport(std::move(transport)),
    scratch(std::max<std::size_t>(config.get_max_packet_size(), 65536)),
    pacing(config.get_burst_size(), config.get_burst_rate_ratio())
{
    if (config.get_rate_method() == rate_method::HW && config.get_rate() > 0)
        transport_paced = this->transport->take_over_pacing(config.get_rate(), config.get_max_packet_size());
}

void writer::cancel()
{
}

bool writer::take_over_pacing(double, std::size_t)
{
    return false;
}

stream::~stream()
{
    close();
}

void stream::close(std::chrono::steady_clock::duration linger)
{
    std::unique_lock<std::mutex> lock(mutex);
    std::uint64_t seen = batches_written;
    while (!idle_cond.wait_for(lock, linger, [this] { return idle(); }))
    {
        std::uint64_t now = batches_written;
        if (now == seen)
        {
            log_warning("send stream made no progress for {} s: cancelling its queued heaps",
                        std::chrono::duration<double>(linger).count());
            lock.unlock();
            stop();
            return;
        }
        seen = now;
    }
}

void stream::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopped)
            return;
        stopped = true;
    }
    transport->cancel();
    flush();
}

void stream::set_cnt_sequence(item_pointer_t next, item_pointer_t step)
{
    if (step == 0)
        throw std::invalid_argument("step cannot be 0");
    std::lock_guard<std::mutex> lock(mutex);
    next_cnt = next;
    step_cnt = step;
}

void stream::reject(const completion_handler &handler, std::errc error, const char *why)
{
    log_warning("async_send_heap(s): dropping heap because {}", why);
    handler(std::make_error_code(error), 0);
}

bool stream::async_send_heap(const heap &h, completion_handler handler, s_item_pointer_t cnt,
                             std::size_t substream_index, double rate)
{
    heap_reference ref{&h, cnt, substream_index, rate};
    return async_send_heaps(&ref, 1, std::move(handler), group_mode::SERIAL);
}

bool stream::async_send_heaps(const heap_reference *first, std::size_t n, completion_handler handler,
                              group_mode mode)
{
    if (n == 0)
    {
        log_warning("Empty heap group");
        handler(std::make_error_code(std::errc::invalid_argument), 0);
        return false;
    }
    checked_packet_size(config.get_max_packet_size());   // throws synchronously

    auto g = std::make_unique<group>();
    g->mode = mode;
    g->handler = std::move(handler);
    g->generators.reserve(n);
    g->substreams.reserve(n);

    std::unique_lock<std::mutex> lock(mutex);
    if (queued_heaps + n > config.get_max_heaps())
    {
        lock.unlock();
        reject(g->handler, std::errc::resource_unavailable_try_again, "queue is full");
        return false;
    }
    // The group is all or nothing: a rejected group consumes no cnts.
    const item_pointer_t saved_next_cnt = next_cnt;
    const char *failure = nullptr;
    try
    {
        for (std::size_t i = 0; i < n && !failure; i++)
        {
            const heap_reference &ref = first[i];
            const item_pointer_t mask = ref.h->get_flavour().address_mask();
            item_pointer_t cnt;
            if (ref.substream_index >= transport->num_substreams())
                failure = "substream index is out of range";
            else if (ref.cnt < 0)
            {
                cnt = next_cnt & mask;
                next_cnt += step_cnt;
            }
            else if (item_pointer_t(ref.cnt) > mask)
                failure = "cnt is out of range";
            else
                cnt = ref.cnt;
            if (!failure)
            {
                g->generators.emplace_back(*ref.h, cnt, config.get_max_packet_size());
                g->substreams.push_back(ref.substream_index);
                const double configured = transport_paced ? 0.0 : config.get_rate();
                g->rates.push_back(ref.rate < 0 ? configured : ref.rate);
            }
        }
    }
    catch (...)
    {
        next_cnt = saved_next_cnt;
        throw;
    }
    if (failure)
    {
        next_cnt = saved_next_cnt;
        lock.unlock();
        reject(g->handler, std::errc::invalid_argument, failure);
        return false;
    }
    if (stopped)
    {
        next_cnt = saved_next_cnt;
        lock.unlock();
        reject(g->handler, std::errc::operation_canceled, "the stream has been stopped");
        return false;
    }
    if (pool->is_stopped())
    {
        next_cnt = saved_next_cnt;
        lock.unlock();
        reject(g->handler, std::errc::operation_canceled, "the thread pool has been stopped");
        return false;
    }
    g->remaining = n;
    queue.push_back(std::move(g));
    queued_heaps += n;
    const bool start = !active;
    active = true;
    lock.unlock();
    /* An idle stream transmits on the caller's thread: handing the work to a worker
     * and waiting for it would cost two thread wake-ups per heap.  Heaps queued
     * meanwhile by other threads follow in order; if the transport must wait (or
     * the rate limiter sleeps), a worker takes over. */
    if (start)
        run();
    return true;
}

void stream::fill_batch(group &g)
{
    batch.clear();
    pieces.clear();
    piece_start.clear();
    std::size_t used = 0;
    std::size_t index;
    while (batch.size() < max_batch_packets && g.next_generator(index))
    {
        const double rate = g.rates[index];
        // Rate-limited packets go in bursts of burst_size bytes, paced in between.
        if (rate > 0 && pacing.burst_full() && !batch.empty())
            break;
        packet_generator &gen = g.generators[index];
        std::size_t header_size = gen.next_header_size();
        if (used + header_size > scratch.size())
        {
            if (batch.empty())   // only if a header outgrows the initial scratch size
                scratch.resize(header_size);
            else
                break;
        }
        piece_start.push_back(pieces.size());
        std::size_t size = gen.next_packet(scratch.data() + used, pieces);
        used += header_size;
        pacing.add_packet(size, rate);
        batch.push_back(transmit_packet{nullptr, 0, size, g.substreams[index], {}});
        g.packet_taken(index);
    }
    // pieces may have reallocated while filling: point the packets at it only now.
    for (std::size_t i = 0; i < batch.size(); i++)
    {
        std::size_t end = i + 1 < batch.size() ? piece_start[i + 1] : pieces.size();
        batch[i].pieces = pieces.data() + piece_start[i];
        batch[i].n_pieces = end - piece_start[i];
    }
}

void stream::run()
{
    enum { writing = 0, returned = 1, done = 2 };
    while (true)
    {
        {
            std::unique_lock<std::mutex> lock(mutex);
            if (queue.empty())
            {
                active = false;
                pacing.went_idle();
                idle_cond.notify_all();
                return;
            }
            batch_group = queue.front().get();
            if (stopped)
            {
                std::unique_ptr<group> cancelled = std::move(queue.front());
                queue.pop_front();
                queued_heaps -= cancelled->generators.size();
                lock.unlock();
                if (!cancelled->error)
                    cancelled->error = std::make_error_code(std::errc::operation_canceled);
                cancelled->handler(cancelled->error, cancelled->bytes);
                continue;
            }
        }
        const auto now = thread_pool::clock::now();
        if (schedule_run(pacing.batch_start(now)))
            return;
        fill_batch(*batch_group);
        write_state = writing;
        transport->write_packets(batch.data(), batch.size(), [this] {
            if (write_state.exchange(done) == returned)
            {
                batch_done();
                if (!pause_after_batch())
                    run();
            }
        });
        if (write_state.exchange(returned) != done)
            return;   // completes asynchronously; the completion resumes run()
        batch_done();
        if (pause_after_batch())
            return;
    }
}

bool stream::more_queued()
{
    std::lock_guard<std::mutex> lock(mutex);
    return !queue.empty();
}

bool stream::pause_after_batch()
{
    const bool more = more_queued();
    const auto next = pacing.batch_end(thread_pool::clock::now(), more);
    /* With nothing queued there is no timer: the stream goes idle at once, so flush()
     * and the destructor do not wait out a pause before a burst that may never come. */
    return more && schedule_run(next);
}

bool stream::schedule_run(thread_pool::clock::time_point when)
{
    if (when <= thread_pool::clock::now())
        return false;
    try
    {
        pool->post_at(when, [this] { run(); });
        return true;
    }
    catch (std::runtime_error &)
    {
        // The pool is stopping: finish the queue without pacing rather than lose it.
        return false;
    }
}

void stream::batch_done()
{
    batches_written++;
    group &g = *batch_group;
    for (const transmit_packet &packet : batch)
    {
        if (packet.result)
        {
            if (!g.error)
                g.error = packet.result;
        }
        else
            g.bytes += packet.size;
    }
    if (g.remaining > 0)
        return;
    std::unique_ptr<group> finished;
    {
        std::lock_guard<std::mutex> lock(mutex);
        finished = std::move(queue.front());
        queue.pop_front();
        queued_heaps -= finished->generators.size();
    }
    finished->handler(finished->error, finished->bytes);
}

void stream::flush()
{
    std::unique_lock<std::mutex> lock(mutex);
    idle_cond.wait(lock, [this] { return idle(); });
}

bool stream::flush_for(std::chrono::steady_clock::duration timeout)
{
    std::unique_lock<std::mutex> lock(mutex);
    return idle_cond.wait_for(lock, timeout, [this] { return idle(); });
}

} // namespace spead2::send
