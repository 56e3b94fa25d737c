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

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                     \
        }                                                                 \
    } while (0)

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
    auto base = receiver.get_ringbuffer().pop();
    auto *h = dynamic_cast<spead2::recv::heap *>(base.get());
    CHECK(h != nullptr);
    CHECK(h->get_cnt() == 1);
    const auto &items = h->get_items();
    CHECK(items.size() == 2);
    CHECK(items[0].id == 0x1001 && items[0].length == values.size());
    CHECK(std::memcmp(items[0].ptr, values.data(), values.size()) == 0);
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
    std::puts("ok");
    return 0;
}
