#include <cstring>
#include <stdexcept>
#include <spead2/common_ringbuffer.h>
#include <spead2/send_inproc.h>

namespace spead2::send
{

inproc_writer::inproc_writer(std::vector<std::shared_ptr<inproc_queue>> queues) : queues(std::move(queues))
{
    if (this->queues.empty())
        throw std::invalid_argument("queues is empty");
    for (const auto &queue : this->queues)
        if (!queue)
            throw std::invalid_argument("queues must not contain null pointers");
}

inproc_writer::~inproc_writer() = default;

inproc_queue::packet inproc_writer::make_packet(std::size_t size)
{
    while (!spares.empty())
    {
        inproc_queue::packet p = std::move(spares.back());
        spares.pop_back();
        // Reuse only a buffer that fits without wasting more than half of it.
        if (p.capacity >= size && p.capacity / 2 <= size)
        {
            p.size = size;
            return p;
        }
    }
    return inproc_queue::packet(size);
}

void inproc_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    /* Consecutive packets for the same queue go in together: one lock and at most
     * one reader wake-up per run, not per packet. */
    std::vector<inproc_queue::packet> run;
    run.reserve(n);
    std::size_t run_start = 0;
    auto flush = [&](std::size_t end) {
        if (run.empty())
            return;
        try
        {
            // Enough spares for a full batch, no more: several queues may hand them back.
            const std::size_t wanted = spares.size() < n ? n - spares.size() : 0;
            queues[packets[run_start].substream_index]->add_packets(std::move(run), spares, wanted);
        }
        catch (ringbuffer_stopped &)
        {
            for (std::size_t i = run_start; i < end; i++)
                packets[i].result = std::make_error_code(std::errc::operation_canceled);
        }
        run.clear();
    };
    for (std::size_t i = 0; i < n; i++)
    {
        transmit_packet &p = packets[i];
        if (!run.empty() && p.substream_index != packets[run_start].substream_index)
            flush(i);
        if (run.empty())
            run_start = i;
        inproc_queue::packet copy = make_packet(p.size);
        std::uint8_t *dest = copy.data.get();
        for (std::size_t j = 0; j < p.n_pieces; j++)
        {
            std::memcpy(dest, p.pieces[j].ptr, p.pieces[j].length);
            dest += p.pieces[j].length;
        }
        run.push_back(std::move(copy));
    }
    flush(n);
    done();
}

inproc_stream::inproc_stream(std::shared_ptr<thread_pool> pool, std::vector<std::shared_ptr<inproc_queue>> queues,
                             const stream_config &config)
    : stream(std::move(pool), config, std::make_unique<inproc_writer>(std::move(queues)))
{
}

inproc_stream::~inproc_stream() = default;

} // namespace spead2::send
