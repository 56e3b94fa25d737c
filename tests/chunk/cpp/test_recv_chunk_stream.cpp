/* The chunk stream's C++ core (packages/spead2-chunk): placement by callback, the
 * window (back-fill, retirement in id order, stale jumps), presence per heap and per
 * packet, rejected and too-old heaps, extra data, and no write into a chunk after it
 * has gone to the user. */
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_chunk_stream.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_packet.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

constexpr spead2::item_pointer_t timestamp_id = 0x1600;
constexpr std::size_t heap_size = 3000;   // three packets of 1472-byte packets
constexpr std::size_t heaps_per_chunk = 4;
constexpr std::uint64_t stream_id = 17;

/// A chunk that owns its buffers.
struct owned_chunk : spead2::recv::chunk
{
    std::vector<std::uint8_t> present_buf, data_buf, extra_buf;

    owned_chunk()
        : present_buf(heaps_per_chunk * 3), data_buf(heaps_per_chunk * heap_size, 0xEE), extra_buf(heaps_per_chunk)
    {
        present = present_buf.data();
        present_size = present_buf.size();
        data = data_buf.data();
        data_size = data_buf.size();
        extra = extra_buf.data();
        extra_size = extra_buf.size();
    }
};

/// Heaps with the given timestamps (an immediate), payload bytes all (timestamp mod 251).
std::vector<std::uint8_t> encode(const std::vector<std::int64_t> &timestamps, bool end)
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    spead2::send::stream sender(pool, spead2::send::stream_config(), std::move(writer));
    std::vector<std::vector<std::uint8_t>> values;
    for (std::int64_t ts : timestamps)
    {
        values.emplace_back(heap_size, std::uint8_t(ts % 251));
        spead2::send::heap h;
        h.add_inline(timestamp_id, spead2::item_pointer_t(ts));
        h.add_item(0x1601, values.back().data(), heap_size, false);
        h.set_repeat_pointers(true);
        sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {});
        sender.flush();
    }
    if (end)
    {
        spead2::send::heap h;
        h.add_end();
        sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {});
        sender.flush();
    }
    std::vector<std::uint8_t> wire;
    bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
    return wire;
}

/// The chunks a stream made ready, in order, and the stream's statistics.
struct result
{
    std::vector<std::unique_ptr<spead2::recv::chunk>> chunks;
    std::uint64_t too_old = 0, rejected = 0, heaps = 0;
};

/// Changes a sound placement into a bad one (for the bad-input tests).
typedef std::function<void(spead2::recv::chunk_place_data *data)> distortion;

result receive(const std::vector<std::uint8_t> &wire, std::size_t max_chunks, std::size_t packet_presence = 0,
               std::vector<std::uint8_t> *sizes_seen = nullptr, distortion distort = nullptr)
{
    result out;
    spead2::recv::chunk_stream_config config;
    config.set_items({timestamp_id}).set_max_chunks(max_chunks).set_max_heap_extra(1);
    if (packet_presence)
        config.enable_packet_presence(packet_presence);
    config.set_place([sizes_seen, distort](spead2::recv::chunk_place_data *data, std::size_t size) {
        if (sizes_seen)
            sizes_seen->push_back(std::uint8_t(size));
        if (data->items[0] < 0)
            return;   // no timestamp (the end heap): rejected
        const auto ts = std::size_t(data->items[0]);
        data->chunk_id = std::int64_t(ts / heaps_per_chunk);
        data->heap_index = ts % heaps_per_chunk;
        data->heap_offset = (ts % heaps_per_chunk) * heap_size;
        data->extra[0] = std::uint8_t(0x80 | ts);
        data->extra_offset = ts % heaps_per_chunk;
        data->extra_size = 1;
        if (distort && ts % 2 == 1)   // odd timestamps only: the even ones must still land
            distort(data);
    });
    config.set_allocate([](std::int64_t, std::uint64_t *) { return std::make_unique<owned_chunk>(); });
    config.set_ready([&out](std::unique_ptr<spead2::recv::chunk> &&c, std::uint64_t *) {
        out.chunks.push_back(std::move(c));
    });
    auto pool = std::make_shared<spead2::thread_pool>(1);
    spead2::recv::stream_config base;
    base.set_max_heaps(2).set_stream_id(stream_id);
    auto s = std::make_unique<spead2::recv::chunk_stream>(pool, base, config);
    s->emplace_reader<spead2::recv::mem_reader>(wire.data(), wire.size());
    for (int i = 0; i < 500 && !s->is_stopped(); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s->stop();
    const spead2::recv::stream_stats stats = s->get_stats();
    out.too_old = stats[s->get_too_old_heaps_index()];
    out.rejected = stats[s->get_rejected_heaps_index()];
    out.heaps = stats[spead2::recv::stream_stat_indices::HEAPS];
    return out;
}

bool heap_is(const spead2::recv::chunk &c, std::size_t index, std::int64_t ts)
{
    for (std::size_t j = 0; j < heap_size; j++)
        if (c.data[index * heap_size + j] != std::uint8_t(ts % 251))
            return false;
    return c.present[index] == 1 && c.extra[index] == std::uint8_t(0x80 | ts);
}

int test_heaps_placed_in_order()
{
    std::vector<std::uint8_t> sizes;
    // Chunk 10 first: 7, 8, 9 are back-filled (max_chunks 4); ts 37 is chunk 9.
    result r = receive(encode({40, 41, 37, 43, 42}, true), 4, 0, &sizes);
    CHECK(r.chunks.size() == 4);
    for (std::size_t i = 0; i < r.chunks.size(); i++)
    {
        CHECK(r.chunks[i]->chunk_id == std::int64_t(7 + i));
        CHECK(r.chunks[i]->stream_id == stream_id);   // back-filled ones too
    }
    const spead2::recv::chunk &c10 = *r.chunks[3];
    CHECK(heap_is(c10, 0, 40) && heap_is(c10, 1, 41) && heap_is(c10, 2, 42) && heap_is(c10, 3, 43));
    CHECK(heap_is(*r.chunks[2], 1, 37));
    CHECK(r.chunks[2]->present[0] == 0 && r.chunks[0]->present[0] == 0);
    CHECK(r.chunks[2]->data[0] == 0xEE);   // nothing written where no heap was placed
    CHECK(r.rejected == 1);                 // the end heap has no timestamp
    CHECK(r.too_old == 0);
    CHECK(sizes.size() == 6 && sizes[0] == sizeof(spead2::recv::chunk_place_data));
    CHECK(sizeof(spead2::recv::chunk_place_data) == 80);
    return 0;
}

int test_window_moves_and_too_old()
{
    // max_chunks 2: chunk 0, then 1, then 5 (a jump: 0 and 1 retired, 4 and 5 allocated),
    // then ts 2 (chunk 0) is behind the window.
    result r = receive(encode({0, 5, 21, 2}, true), 2);
    CHECK(r.chunks.size() == 4);
    const std::int64_t ids[] = {0, 1, 4, 5};
    for (std::size_t i = 0; i < 4; i++)
        CHECK(r.chunks[i]->chunk_id == ids[i]);
    CHECK(heap_is(*r.chunks[0], 0, 0));
    CHECK(heap_is(*r.chunks[1], 1, 5));
    CHECK(heap_is(*r.chunks[3], 1, 21));
    CHECK(r.chunks[0]->present[2] == 0);   // ts 2 was too old
    CHECK(r.too_old == 1);
    return 0;
}

/// The packets of @a wire, each as its own byte vector.
std::vector<std::vector<std::uint8_t>> split(const std::vector<std::uint8_t> &wire)
{
    std::vector<std::vector<std::uint8_t>> out;
    for (std::size_t pos = 0; pos < wire.size();)
    {
        spead2::recv::packet_header packet;
        if (spead2::recv::decode_packet(packet, wire.data() + pos, wire.size() - pos) != spead2::recv::packet_status::ok)
            break;
        out.emplace_back(wire.begin() + pos, wire.begin() + pos + packet.total_length);
        pos += packet.total_length;
    }
    return out;
}

int test_no_write_after_chunk_left()
{
    // Heap ts 1 (chunk 0) starts; heap ts 4 (chunk 1) retires chunk 0 (max_chunks 1)
    // before the rest of heap 1 arrives: those packets must not touch chunk 0.
    auto p = split(encode({1, 4}, true));   // heap 1: p[0..2], heap 4: p[3..5], end: p[6]
    CHECK(p.size() == 7);
    std::vector<std::uint8_t> wire;
    for (std::size_t i : {0, 3, 1, 2, 4, 5, 6})
        wire.insert(wire.end(), p[i].begin(), p[i].end());
    result r = receive(wire, 1);
    CHECK(r.chunks.size() == 2);
    const spead2::recv::chunk &c0 = *r.chunks[0];
    CHECK(c0.chunk_id == 0);
    CHECK(c0.present[1] == 0);
    CHECK(c0.data[heap_size + 0] == 1);                  // the first packet was written in time
    CHECK(c0.data[heap_size + heap_size - 1] == 0xEE);   // the last one was not
    CHECK(r.too_old == 1);                                // heap 1 completed after its chunk left
    CHECK(heap_is(*r.chunks[1], 0, 4));
    return 0;
}

int test_packet_presence()
{
    // Payload 3000 bytes in packets of 1472 - header: three packets per heap; with a
    // 1024-byte "payload size" each packet marks present[index + offset / 1024].
    result r = receive(encode({1}, true), 2, 1024);
    CHECK(r.chunks.size() == 1);
    const spead2::recv::chunk &c = *r.chunks[0];
    int marked = 0;
    for (std::size_t i = 0; i < c.present_size; i++)
        marked += c.present[i];
    CHECK(marked == 3);
    CHECK(c.present[1] == 1);   // the first packet, offset 0
    return 0;
}

/* A callback that places heaps outside the chunk: those heaps are rejected and
 * counted, nothing is written out of bounds (run under ASan by
 * scripts/sanitize.sh), and the others still land. */
int test_bad_placements()
{
    const distortion distortions[] = {
        [](spead2::recv::chunk_place_data *d) { d->heap_offset = heaps_per_chunk * heap_size - heap_size + 1; },
        [](spead2::recv::chunk_place_data *d) { d->heap_offset = SIZE_MAX - 10; },   // offset + length wraps
        [](spead2::recv::chunk_place_data *d) { d->heap_index = heaps_per_chunk * 3; },
        [](spead2::recv::chunk_place_data *d) { d->heap_index = SIZE_MAX; },
        [](spead2::recv::chunk_place_data *d) { d->extra_offset = heaps_per_chunk; },
        [](spead2::recv::chunk_place_data *d) { d->extra_offset = SIZE_MAX; },
        [](spead2::recv::chunk_place_data *d) { d->extra_size = 2; },   // more than max_heap_extra (1)
        [](spead2::recv::chunk_place_data *d) { d->chunk_id = INT64_MAX; },
    };
    for (const distortion &distort : distortions)
    {
        result r = receive(encode({0, 1, 2, 3}, true), 2, 0, nullptr, distort);
        CHECK(r.rejected == 1 + 2);   // the end heap, ts 1 and ts 3
        CHECK(r.chunks.size() >= 1 && r.chunks[0]->chunk_id == 0);
        const spead2::recv::chunk &c = *r.chunks[0];
        CHECK(heap_is(c, 0, 0) && heap_is(c, 2, 2));
        CHECK(c.present[1] == 0 && c.present[3] == 0);
    }
    // Packet presence: the heap's last packet would mark past the end of present.
    result r = receive(encode({0, 1}, true), 2, 1024, nullptr, [](spead2::recv::chunk_place_data *d) {
        d->heap_index = heaps_per_chunk * 3 - 2;   // three flags from here: one too many
    });
    CHECK(r.rejected == 2);
    return 0;
}

/// Chunk ids far apart, up to the largest that can be allocated: the window follows.
int test_far_chunk_ids()
{
    const std::int64_t far = INT64_MAX - 2;
    result r = receive(encode({0, 1}, true), 2, 0, nullptr, [far](spead2::recv::chunk_place_data *d) {
        d->chunk_id = far;
    });
    CHECK(r.rejected == 1);
    CHECK(r.chunks.size() == 3);   // chunk 0, then the window jumps to far - 1, far
    CHECK(r.chunks[0]->chunk_id == 0 && r.chunks[1]->chunk_id == far - 1 && r.chunks[2]->chunk_id == far);
    CHECK(r.chunks[2]->present[1] == 1);
    return 0;
}

int test_config_validation()
{
    spead2::recv::chunk_stream_config config;
    bool threw = false;
    try
    {
        config.set_max_chunks(0);
    }
    catch (std::invalid_argument &e)
    {
        threw = std::strcmp(e.what(), "max_chunks cannot be 0") == 0;
    }
    CHECK(threw);
    threw = false;
    try
    {
        config.enable_packet_presence(0);
    }
    catch (std::invalid_argument &e)
    {
        threw = std::strcmp(e.what(), "payload_size must not be zero") == 0;
    }
    CHECK(threw);
    CHECK(config.enable_packet_presence(64).get_packet_presence_payload_size() == 64);
    CHECK(config.disable_packet_presence().get_packet_presence_payload_size() == 0);
    return 0;
}

} // namespace

int main()
{
    int failures = 0;
    failures += test_heaps_placed_in_order();
    failures += test_window_moves_and_too_old();
    failures += test_no_write_after_chunk_left();
    failures += test_packet_presence();
    failures += test_bad_placements();
    failures += test_far_chunk_ids();
    failures += test_config_validation();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
