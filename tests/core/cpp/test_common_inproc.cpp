/* The inproc queue hands consumed packet buffers back to writers: a writer reuses
 * them instead of allocating, the queue keeps at most max_spare_bytes of them, and
 * inproc_writer reuses a buffer only when it fits without wasting half of it. */
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>
#include <spead2/common_inproc.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_inproc.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/send_heap.h>
#include <spead2/send_inproc.h>
#include "check.h"

namespace
{

using spead2::inproc_queue;

std::vector<inproc_queue::packet> pop_all(inproc_queue &queue)
{
    std::vector<inproc_queue::packet> out;
    bool drained = false;
    queue.pop(out, 1000000, &queue, [] {}, drained);
    return out;
}

int test_spares_come_back()
{
    inproc_queue queue;
    std::vector<inproc_queue::packet> batch, spares;
    for (int i = 0; i < 3; i++)
        batch.emplace_back(1000);
    std::set<const std::uint8_t *> buffers;
    for (const auto &p : batch)
        buffers.insert(p.data.get());
    queue.add_packets(std::move(batch), spares, 10);
    CHECK(spares.empty());   // nothing consumed yet

    auto consumed = pop_all(queue);
    CHECK(consumed.size() == 3);
    queue.recycle(consumed);
    CHECK(consumed.empty());

    std::vector<inproc_queue::packet> next;
    next.emplace_back(10);
    queue.add_packets(std::move(next), spares, 2);   // at most the number asked for
    CHECK(spares.size() == 2);
    for (const auto &p : spares)
        CHECK(buffers.count(p.data.get()) == 1 && p.capacity == 1000);
    spares.clear();
    queue.add_packets({}, spares, 10);
    CHECK(spares.size() == 1);
    return 0;
}

int test_spares_bounded_by_bytes()
{
    inproc_queue queue;
    const std::size_t size = 1 << 20;
    const std::size_t n = inproc_queue::max_spare_bytes / size + 3;
    std::vector<inproc_queue::packet> batch, spares;
    for (std::size_t i = 0; i < n; i++)
        batch.emplace_back(size);
    queue.add_packets(std::move(batch), spares, 0);
    auto consumed = pop_all(queue);
    queue.recycle(consumed);
    queue.add_packets({}, spares, n);
    std::size_t bytes = 0;
    for (const auto &p : spares)
        bytes += p.capacity;
    CHECK(bytes == inproc_queue::max_spare_bytes);
    return 0;
}

/// Payload of the only item of each heap received from @a queue.
std::vector<std::vector<std::uint8_t>> receive(const std::shared_ptr<spead2::thread_pool> &pool,
                                               std::shared_ptr<inproc_queue> queue)
{
    std::vector<std::vector<std::uint8_t>> out;
    spead2::recv::ring_stream receiver(pool, spead2::recv::stream_config(),
                                       spead2::recv::ring_stream_config().set_heaps(64));
    receiver.emplace_reader<spead2::recv::inproc_reader>(std::move(queue));
    try
    {
        while (true)
        {
            auto h = receiver.get_ringbuffer().pop();
            const auto &items = std::get<spead2::recv::heap>(h).get_items();
            out.emplace_back(items[0].data(), items[0].data() + items[0].length);
        }
    }
    catch (spead2::ringbuffer_stopped &)
    {
    }
    return out;
}

int test_writer_reuses_buffers_intact()
{
    // Heaps of alternating sizes: recycled buffers of one size must not corrupt the other.
    auto pool = std::make_shared<spead2::thread_pool>(1);
    auto queue = std::make_shared<inproc_queue>();
    std::vector<std::vector<std::uint8_t>> sent;
    for (int round = 0; round < 2; round++)
    {
        spead2::send::inproc_stream sender(pool, {queue},
                                           spead2::send::stream_config().set_max_packet_size(1472));
        for (int i = 0; i < 40; i++)
        {
            std::vector<std::uint8_t> value(i % 2 ? 5000 : 300);
            for (std::size_t j = 0; j < value.size(); j++)
                value[j] = std::uint8_t(i * 31 + j);
            sent.push_back(value);
            spead2::send::heap h;
            h.add_item(0x1000, sent.back().data(), sent.back().size(), false);
            sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {});
            sender.flush();
        }
        if (round == 0)
        {
            // Consume (copy back) the first round, so that the second reuses its buffers.
            auto consumed = pop_all(*queue);
            for (auto &p : consumed)
                queue->add_packet(p.data.get(), p.size);
            queue->recycle(consumed);
        }
    }
    queue->stop();
    CHECK(receive(pool, queue) == sent);
    return 0;
}

int test_writer_refuses_null_queue()
{
    bool refused = false;
    try
    {
        spead2::send::inproc_writer writer({std::make_shared<inproc_queue>(), nullptr});
    }
    catch (std::invalid_argument &)
    {
        refused = true;
    }
    CHECK(refused);
    return 0;
}

} // anonymous namespace

int main()
{
    if (test_spares_come_back() || test_spares_bounded_by_bytes() || test_writer_reuses_buffers_intact()
        || test_writer_refuses_null_queue())
        return 1;
    std::puts("ok");
    return 0;
}
