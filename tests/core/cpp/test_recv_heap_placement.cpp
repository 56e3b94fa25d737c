/* The heap-placement extension point (recv_heap_placement.h): a stream subclass that
 * stores payloads in one big buffer of its own, decided from each heap's first
 * packet, refuses some heaps without storage, sees every packet's copy, reads the
 * placement back when a heap finishes and counts into the batch's statistics. */
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>
#include <chrono>
#include <thread>
#include <spead2/common_endian.h>
#include <spead2/common_inproc.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_inproc.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_stream.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

constexpr std::size_t heap_size = 5000;   // four packets of at most 1472 bytes
constexpr std::size_t n_heaps = 6;

/// Heaps with cnt 1..n_heaps, heap i's payload bytes all (i * 11) mod 256; cnt 3 is to be refused.
std::vector<std::uint8_t> encode(const std::shared_ptr<spead2::thread_pool> &pool)
{
    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    spead2::send::stream sender(pool, spead2::send::stream_config(), std::move(writer));
    std::vector<std::vector<std::uint8_t>> values;
    for (std::size_t i = 1; i <= n_heaps; i++)
    {
        values.emplace_back(heap_size, std::uint8_t(i * 11));
        spead2::send::heap h;
        h.add_item(0x1000, values.back().data(), heap_size, false);
        sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {}, std::int64_t(i));
        sender.flush();
    }
    std::vector<std::uint8_t> wire;
    bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
    return wire;
}

class slab_stream : public spead2::recv::stream, private spead2::recv::heap_placement
{
public:
    std::vector<std::uint8_t> slab = std::vector<std::uint8_t>((n_heaps + 1) * heap_size, 0);
    std::size_t refused_index, placed_index;
    int copies = 0;
    int misplaced_copies = 0;
    int first_packets_with_offset = 0;
    std::vector<std::uint64_t> finished_tokens;
    int finished_without_storage = 0;
    int finished_with_batch_stats = 0;
    int finished_without_batch_stats = 0;

    slab_stream(std::shared_ptr<spead2::thread_pool> pool, spead2::recv::stream_config config)
        : stream(std::move(pool), add_stats(config))
    {
        refused_index = get_config().get_stat_index("refused");
        placed_index = get_config().get_stat_index("placed");
        set_heap_placement(*this);
    }

    ~slab_stream() override { stop(); }

private:
    static spead2::recv::stream_config &add_stats(spead2::recv::stream_config &config)
    {
        config.add_stat("refused");
        config.add_stat("placed");
        return config;
    }

    spead2::recv::heap_place place(const spead2::recv::packet_header &packet, std::uint64_t *stats) override
    {
        if (packet.payload_offset != 0)
            first_packets_with_offset++;
        // The item pointers reach the decision: the heap carries item 0x1000.
        bool has_item = false;
        for (int i = 0; i < packet.n_items; i++)
            has_item |= (spead2::load_be64(packet.pointers + 8 * i) >> 40 & 0x7fffff) == 0x1000;
        if (packet.heap_cnt == 3 || !has_item)
        {
            stats[refused_index]++;
            return {};
        }
        stats[placed_index]++;
        return {slab.data() + packet.heap_cnt * heap_size, {std::uint64_t(packet.heap_cnt), 0}};
    }

    void copy(std::uint8_t *dst, const spead2::recv::packet_header &packet,
              const spead2::recv::heap_place &place) override
    {
        copies++;
        if (dst != place.data + packet.payload_offset)
            misplaced_copies++;
        heap_placement::copy(dst, packet, place);
    }

    void heap_ready(spead2::recv::live_heap &&h) override
    {
        const spead2::recv::heap_place *where = h.get_place();
        if (!where)
            return;
        if (where->data)
            finished_tokens.push_back(where->tokens[0]);
        else
            finished_without_storage++;
        if (batch_stats())
            finished_with_batch_stats++;
        else
            finished_without_batch_stats++;
    }
};

int test_payload_lands_in_the_slab()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    std::vector<std::uint8_t> wire = encode(pool);
    slab_stream s(pool, spead2::recv::stream_config());
    s.emplace_reader<spead2::recv::mem_reader>(wire.data(), wire.size());
    for (int i = 0; i < 500 && !s.is_stopped(); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(s.is_stopped());
    s.stop();

    for (std::size_t cnt = 1; cnt <= n_heaps; cnt++)
    {
        const std::uint8_t expected = cnt == 3 ? 0 : std::uint8_t(cnt * 11);
        for (std::size_t j = 0; j < heap_size; j++)
            if (s.slab[cnt * heap_size + j] != expected)
            {
                std::fprintf(stderr, "heap %zu byte %zu: %d, expected %d\n", cnt, j, s.slab[cnt * heap_size + j],
                             expected);
                return 1;
            }
    }
    CHECK(s.first_packets_with_offset == 0);
    CHECK(s.copies == int(n_heaps - 1) * 4);
    CHECK(s.misplaced_copies == 0);   // every packet of every placed heap, none of the refused one
    CHECK((s.finished_tokens == std::vector<std::uint64_t>{1, 2, 4, 5, 6}));
    CHECK(s.finished_without_storage == 1);
    CHECK(s.finished_with_batch_stats == int(n_heaps));
    CHECK(s.finished_without_batch_stats == 0);
    const spead2::recv::stream_stats stats = s.get_stats();
    CHECK(stats[s.refused_index] == 1);   // once, not once per packet
    CHECK(stats[s.placed_index] == n_heaps - 1);
    CHECK(stats[spead2::recv::stream_stat_indices::HEAPS] == n_heaps);
    CHECK(stats[spead2::recv::stream_stat_indices::PACKETS] == n_heaps * 4);
    CHECK(stats[stats.index_of("rejected_packets")] == 0);   // the refused heap's packets are absorbed
    return 0;
}

int test_heaps_flushed_by_stop_have_no_batch()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    std::vector<std::uint8_t> wire = encode(pool);
    // Only the first packet of each heap: every heap stays incomplete until stop() flushes it.
    auto queue = std::make_shared<spead2::inproc_queue>();
    std::size_t pos = 0, firsts = 0;
    while (pos < wire.size())
    {
        spead2::recv::packet_header packet;
        CHECK(spead2::recv::decode_packet(packet, wire.data() + pos, wire.size() - pos)
              == spead2::recv::packet_status::ok);
        const std::size_t size = packet.total_length;
        if (packet.payload_offset == 0 && packet.heap_length > 0)
        {
            queue->add_packet(wire.data() + pos, size);
            firsts++;
        }
        pos += size;
    }
    CHECK(firsts == n_heaps);
    spead2::recv::stream_config config;
    config.set_max_heaps(n_heaps);
    slab_stream s(pool, config);
    s.emplace_reader<spead2::recv::inproc_reader>(queue);
    for (int i = 0; i < 500 && s.get_stats()[spead2::recv::stream_stat_indices::PACKETS] < n_heaps; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(s.finished_tokens.empty());
    s.stop();
    CHECK(s.finished_without_batch_stats == int(n_heaps));   // flushed by stop(), outside any batch
    CHECK(s.finished_with_batch_stats == 0);
    CHECK(s.get_stats()[spead2::recv::stream_stat_indices::INCOMPLETE_HEAPS_FLUSHED] == n_heaps);
    return 0;
}

} // namespace

int main()
{
    int failures = 0;
    failures += test_payload_lands_in_the_slab();
    failures += test_heaps_flushed_by_stop_have_no_batch();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
