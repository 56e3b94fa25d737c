#include <algorithm>
#include <spead2/recv_inproc.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

static constexpr std::size_t batch_packets = 64;

inproc_reader::inproc_reader(stream &owner, std::shared_ptr<inproc_queue> queue)
    : reader(owner), queue(std::move(queue))
{
}

inproc_reader::~inproc_reader()
{
    // A waiter registered by a run() that raced with stop() must not outlive us.
    queue->cancel_wait(this);
}

void inproc_reader::start()
{
    post([this] { run(); });
}

void inproc_reader::stop()
{
    /* The waiter is called under the queue's lock and posts through post(), which
     * the stream counts; once cancelled here it cannot fire, so stream::stop() can
     * safely wait for what was already posted. */
    stop_budget = queue->cancel_wait(this);
    stopping = true;
}

void inproc_reader::run()
{
    while (true)
    {
        /* Read once: a pop that began before stop() is not part of the snapshot that
         * stop() took, so it must not be charged to the budget. */
        const bool draining = stopping;
        std::size_t max = batch_packets;
        if (draining)
        {
            max = std::min(max, stop_budget.load());
            if (max == 0)
                return;
        }
        batch.clear();
        bool drained = false;
        auto wake = [this] {
            if (!stopping)
                post([this] { run(); });
        };
        if (!queue->pop(batch, max, this, wake, drained))
            return;   // the waiter resumes us
        if (draining)
            stop_budget -= std::min(stop_budget.load(), batch.size());
        {
            stream::add_packet_state state(get_stream());
            for (const auto &p : batch)
            {
                if (state.is_stopped())
                    return;
                state.add_datagram(p.data.get(), p.size);
            }
            if (drained)
            {
                state.stop();
                return;
            }
            if (state.is_stopped())
                return;
        }
        // Outside the stream's lock: the payloads have been copied into heaps.
        queue->recycle(batch);
    }
}

} // namespace spead2::recv
