/* Uses the installed C++ API the way a plugin does: only the public headers and
 * libspead2_core.so.  A symbol missing SPEAD2_API fails the link; type information
 * not owned by the library makes the dynamic_cast / catch checks below fail. */
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>
#include <spead2/common_logging.h>
#include <spead2/common_memory_pool.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

/* A third-party reader that reports through custom statistics: each batch adds to a
 * counter and offers a value to a maximum; the stream folds the batches by mode. */
class stats_reader : public spead2::recv::reader
{
    std::size_t counter_index, maximum_index;

public:
    stats_reader(spead2::recv::stream &owner, std::size_t counter_index, std::size_t maximum_index)
        : reader(owner), counter_index(counter_index), maximum_index(maximum_index)
    {
    }

    void start() override
    {
        post([this] {
            for (std::uint64_t batch_maximum : {5, 30, 10})
            {
                spead2::recv::stream::add_packet_state state(get_stream());
                state.stat(counter_index) += 2;
                state.stat(maximum_index) = batch_maximum;
            }
            spead2::recv::stream::add_packet_state(get_stream()).stop();
        });
    }

    bool lossy() const override { return false; }
};

int check_custom_stats(const std::shared_ptr<spead2::thread_pool> &pool)
{
    spead2::recv::stream_config config;
    const std::size_t counter = config.add_stat("frames");
    const std::size_t maximum = config.add_stat("largest_gap", spead2::recv::stream_stat_config::mode::MAXIMUM);
    CHECK(counter == spead2::recv::stream_stat_indices::CUSTOM_STATS);
    spead2::recv::ring_stream receiver(pool, config);
    receiver.emplace_reader<stats_reader>(counter, maximum);
    bool stopped = false;
    try
    {
        receiver.get_ringbuffer().pop();
    }
    catch (spead2::ringbuffer_stopped &)
    {
        stopped = true;
    }
    CHECK(stopped);
    auto stats = receiver.get_stats();
    CHECK(stats[stats.index_of("frames")] == 6);
    CHECK(stats[stats.index_of("largest_gap")] == 30);
    CHECK(stats[spead2::recv::stream_stat_indices::BATCHES] == 0);
    return 0;
}

} // anonymous namespace

int main()
{
    spead2::set_log_function([](spead2::log_level, const std::string &) {});
    auto pool = std::make_shared<spead2::thread_pool>(1);

    // Send: one heap with an immediate and a 1000-byte addressed item, then a stop heap.
    std::vector<std::uint8_t> values(1000);
    for (std::size_t i = 0; i < values.size(); i++)
        values[i] = std::uint8_t(i * 7);
    std::uint8_t small[2] = {0x12, 0x34};
    spead2::send::heap data_heap;
    data_heap.add_item(0x1000, small, sizeof(small), true);
    data_heap.add_item(0x1001, values.data(), values.size(), false);
    spead2::send::heap stop_heap;
    stop_heap.add_end();

    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    std::vector<std::uint8_t> wire;
    {
        spead2::send::stream sender(pool, spead2::send::stream_config().set_max_packet_size(256), std::move(writer));
        std::size_t sent = 0;
        for (const auto *h : {&data_heap, &stop_heap})
            sender.async_send_heap(*h, [&sent](const std::error_code &ec, spead2::item_pointer_t n) {
                if (!ec)
                    sent += n;
            });
        sender.flush();
        bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
        CHECK(sent == wire.size());
    }
    CHECK(wire.size() > values.size());

    // Receive through a memory pool.
    spead2::recv::stream_config config;
    config.set_memory_allocator(std::make_shared<spead2::memory_pool>(512, 4096, 4, 2));
    spead2::recv::ring_stream receiver(pool, config);
    receiver.emplace_reader<spead2::recv::mem_reader>(wire.data(), wire.size());
    auto popped = receiver.get_ringbuffer().pop();
    auto *h = std::get_if<spead2::recv::heap>(&popped);
    CHECK(h != nullptr);
    CHECK(h->get_cnt() == 1);
    const auto items = h->get_items();
    CHECK(items.size() == 2);
    CHECK(items[0].id == 0x1001 && items[0].length == values.size());
    CHECK(std::memcmp(items[0].data(), values.data(), values.size()) == 0);
    CHECK(items[1].id == 0x1000 && items[1].is_immediate && items[1].immediate_value == 0x1234);

    bool stopped = false;
    try
    {
        receiver.get_ringbuffer().pop();
    }
    catch (spead2::ringbuffer_stopped &)
    {
        stopped = true;   // thrown inside libspead2_core.so, caught here
    }
    CHECK(stopped);
    auto stats = receiver.get_stats();
    CHECK(stats[spead2::recv::stream_stat_indices::HEAPS] == 1);
    CHECK(stats[stats.index_of("malformed_packets")] == 0);
    if (check_custom_stats(pool))
        return 1;
    std::puts("ok");
    return 0;
}
