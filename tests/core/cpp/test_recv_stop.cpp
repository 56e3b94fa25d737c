/* stop() on a stream whose worker is blocked on a full ring: every heap that was
 * available is counted, the ring's heaps stay retrievable, and the heaps that no
 * longer fit are released at once: no payload outlives its heap. */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>
#include <spead2/common_inproc.h>
#include <spead2/common_logging.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_inproc.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

constexpr std::size_t n_heaps = 10;
constexpr std::size_t ring_heaps = 4;

/// Counts the payload blocks alive.
class counting_allocator : public spead2::memory_allocator
{
public:
    std::atomic<int> live{0};

    pointer allocate(std::size_t size, void *) override
    {
        live++;
        return make_pointer(new std::uint8_t[size]);
    }

protected:
    void free(std::uint8_t *ptr, void *) override
    {
        delete[] ptr;
        live--;
    }
};

/// n_heaps single-packet heaps of 100 bytes each, as (packet start, size) into @a wire.
std::vector<std::pair<std::size_t, std::size_t>> encode(const std::shared_ptr<spead2::thread_pool> &pool,
                                                        std::vector<std::uint8_t> &wire)
{
    std::vector<std::uint8_t> values(100, 7);
    spead2::send::heap h;
    h.add_item(0x1000, values.data(), values.size(), false);
    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    std::vector<std::pair<std::size_t, std::size_t>> packets;
    spead2::send::stream sender(pool, spead2::send::stream_config(), std::move(writer));
    for (std::size_t i = 0; i < n_heaps; i++)
    {
        const std::size_t start = bytes->with_value([](const std::uint8_t *, std::size_t n) { return n; });
        sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {});
        sender.flush();
        const std::size_t end = bytes->with_value([](const std::uint8_t *, std::size_t n) { return n; });
        packets.emplace_back(start, end - start);
    }
    bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
    return packets;
}

bool wait_until_blocked(const spead2::recv::ring_stream &s)
{
    for (int i = 0; i < 500; i++)
    {
        if (s.get_stats()[spead2::recv::stream_stat_indices::WORKER_BLOCKED] > 0)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

/// @a add_reader feeds the stream; then the blocked stream is stopped and checked.
template<typename AddReader>
int check_stop_while_blocked(const std::shared_ptr<spead2::thread_pool> &pool, AddReader &&add_reader)
{
    auto allocator = std::make_shared<counting_allocator>();
    {
        spead2::recv::stream_config config;
        config.set_memory_allocator(allocator);
        spead2::recv::ring_stream receiver(pool, config, spead2::recv::ring_stream_config().set_heaps(ring_heaps));
        add_reader(receiver);
        CHECK(wait_until_blocked(receiver));
        receiver.stop();
        CHECK(receiver.get_stats()[spead2::recv::stream_stat_indices::HEAPS] == n_heaps);
        // Only the heaps in the ring hold payload: the dropped ones are already freed.
        CHECK(allocator->live == int(ring_heaps));
        for (std::size_t i = 0; i < ring_heaps; i++)
        {
            auto popped = receiver.get_ringbuffer().pop();
            CHECK(std::get<spead2::recv::heap>(popped).get_cnt() == spead2::s_item_pointer_t(i + 1));
        }
        CHECK(allocator->live == 0);
        std::optional<spead2::recv::any_heap> none;
        CHECK(receiver.get_ringbuffer().try_pop(none) == spead2::ring_status::stopped);
    }
    CHECK(allocator->live == 0);
    return 0;
}

} // anonymous namespace

int main()
{
    spead2::set_log_function([](spead2::log_level, const std::string &) {});
    auto pool = std::make_shared<spead2::thread_pool>(1);
    std::vector<std::uint8_t> wire;
    const auto packets = encode(pool, wire);

    if (check_stop_while_blocked(pool, [&wire](spead2::recv::ring_stream &s) {
            s.emplace_reader<spead2::recv::mem_reader>(wire.data(), wire.size());
        }))
        return 1;
    for (bool stop_queue : {false, true})
    {
        auto queue = std::make_shared<spead2::inproc_queue>();
        for (const auto &[start, size] : packets)
            queue->add_packet(wire.data() + start, size);
        if (stop_queue)
            queue->stop();
        if (check_stop_while_blocked(pool, [&queue](spead2::recv::ring_stream &s) {
                s.emplace_reader<spead2::recv::inproc_reader>(queue);
            }))
            return 1;
    }
    std::puts("ok");
    return 0;
}
