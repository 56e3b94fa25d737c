/* libFuzzer target for the SPEAD receive path of spead2-core.
 *
 * Input layout (see fuzz/README.md):
 *
 *   byte 0  stream flags
 *           bits 0-1  max_heaps - 1                (1..4)
 *           bit  2    substreams - 1               (1..2)
 *           bit  3    allow_out_of_order
 *           bit  4    allow_unsized_heaps
 *           bit  5    stop_on_stop_item
 *           bit  6    contiguous_only              (ring_stream_config)
 *           bit  7    incomplete_keep_payload_ranges (ring_stream_config)
 *   byte 1  bits 0-2  bug_compat                   (0..7)
 *           bits 3-4  ring heaps - 1               (1..4)
 *           bits 5-7  chunking for (c): bytes per read 1, 7, 64, 1000, 9000, all;
 *                     odd values also use a max_size of 512 instead of 65536
 *   rest    the bytes a buffer reader is fed: concatenated SPEAD packets
 *
 * (The configuration takes two bytes because its ten bits do not fit in one.
 * fuzz/corpus.py writes the same header for the seeds, and
 * tests/core/test_fuzz_smoke.py decodes it to replay inputs through Python.)
 *
 * Every input is run twice:
 *   (a) spead2::recv::decode_packet back to back over the packet bytes, as the buffer
 *       reader does, touching every pointer and payload byte of every accepted packet
 *       and checking the packet_header invariants;
 *   (b) through a real ring_stream fed by a mem_reader, draining every heap and touching
 *       every byte of every item, descriptor and statistic, then checking that the
 *       statistics agree with (a);
 *   (c) through byte_stream_framer, the TCP reader's framing, as a byte stream arriving
 *       in reads of a chosen size: what it leaves unconsumed is always less than a
 *       packet, and on well-formed input it finds exactly the packets (a) finds.
 *
 * Allocation failure: live_heap::reserve catches std::bad_alloc so that a hostile
 * HEAP_LENGTH costs one packet.  Under ASan a throwing operator new[] that cannot be
 * satisfied aborts the process (allocator_may_return_null only affects malloc and
 * nothrow new), so build.sh links with -Wl,--wrap=_Znam and __wrap__Znam below
 * throws std::bad_alloc for any new[] larger than kMaxArrayAlloc, the way a real
 * process without that much address space would.  This covers the stream's allocator
 * and the private one used when decoding descriptors.
 */

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <spead2/common_defines.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_logging.h>
#include <spead2/common_ringbuffer.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_byte_stream.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_packet.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/recv_stream.h>

/* ---- operator new[] cap (see the header comment) ------------------------------ */

static constexpr std::size_t kMaxArrayAlloc = std::size_t(256) << 20;  // 256 MiB

extern "C" void *__real__Znam(std::size_t size);

extern "C" void *__wrap__Znam(std::size_t size)
{
    if (size > kMaxArrayAlloc)
        throw std::bad_alloc();
    return __real__Znam(size);
}

/* ---- helpers -------------------------------------------------------------------- */

namespace
{

// Results are folded into this so that the compiler cannot drop the reads.
volatile std::uint64_t g_sink;

[[noreturn]] void fail(const char *what, unsigned long long a = 0, unsigned long long b = 0)
{
    std::fprintf(stderr, "fuzz_recv: invariant violated: %s (%llu, %llu)\n", what, a, b);
    std::abort();
}

std::uint64_t touch(const void *ptr, std::size_t length)
{
    const std::uint8_t *p = static_cast<const std::uint8_t *>(ptr);
    std::uint64_t sum = length;
    for (std::size_t i = 0; i < length; i++)
        sum = sum * 31 + p[i];
    return sum;
}

std::uint64_t touch(const std::string &s)
{
    return touch(s.data(), s.size());
}

struct decode_result
{
    std::uint64_t packets = 0;   ///< packets decoded before the first failure / end
    bool malformed = false;      ///< the bytes did not end on a packet boundary
    std::size_t max_packet = 0;  ///< size of the largest packet decoded
};

/* (a) decode_packet back to back, exactly as recv::mem_reader walks its buffer. */
decode_result decode_all(const std::uint8_t *ptr, std::size_t length)
{
    using namespace spead2::recv;
    decode_result result;
    std::uint64_t sum = 0;
    while (length > 0)
    {
        packet_header h;
        packet_status status = decode_packet(h, ptr, length);
        sum += std::uint64_t(status);
        const char *message = packet_status_message(status);
        sum += touch(message, std::strlen(message));
        if (status != packet_status::ok)
        {
            result.malformed = true;
            break;
        }
        if (h.total_length == 0 || h.total_length > length)
            fail("total_length outside the buffer", h.total_length, length);
        if (h.n_items < 0 || h.payload_length < 0 || h.payload_offset < 0 || h.heap_cnt < 0)
            fail("negative header field", h.n_items, h.payload_length);
        if (h.pointers != ptr + 8
            || h.payload != h.pointers + 8 * std::size_t(h.n_items)
            || h.total_length != 8 + 8 * std::size_t(h.n_items) + std::size_t(h.payload_length))
            fail("inconsistent packet layout", h.total_length, h.n_items);
        if (h.heap_length >= 0 && h.payload_offset + h.payload_length > h.heap_length)
            fail("payload beyond heap length accepted", h.payload_offset + h.payload_length, h.heap_length);
        if (h.heap_address_bits < 8 || h.heap_address_bits > 56 || h.heap_address_bits % 8 != 0)
            fail("bad heap_address_bits", h.heap_address_bits);
        sum += touch(h.pointers, 8 * std::size_t(h.n_items));
        sum += touch(h.payload, std::size_t(h.payload_length));
        sum += h.heap_cnt + h.heap_length + h.payload_offset;
        ptr += h.total_length;
        length -= h.total_length;
        result.packets++;
        result.max_packet = std::max(result.max_packet, h.total_length);
    }
    g_sink = g_sink + sum;
    return result;
}

std::uint64_t consume_heap(const spead2::recv::heap_base &h)
{
    using namespace spead2::recv;
    std::uint64_t sum = std::uint64_t(h.get_cnt());
    const spead2::flavour &f = h.get_flavour();
    sum += f.get_heap_address_bits() + f.get_bug_compat();
    const std::size_t address_bytes = f.get_address_bytes();
    for (const item &it : h.get_items())
    {
        if (it.is_immediate && it.length != address_bytes)
            fail("immediate item with the wrong length", it.length, address_bytes);
        sum += std::uint64_t(it.id) + it.immediate_value + it.is_immediate;
        sum += touch(it.data(), it.length);
    }
    sum += h.is_start_of_stream();
    sum += h.is_end_of_stream();
    if (auto *complete = dynamic_cast<const heap *>(&h))
    {
        for (const spead2::descriptor &d : complete->get_descriptors())
        {
            sum += std::uint64_t(d.id) + touch(d.name) + touch(d.description) + touch(d.numpy_header);
            for (const auto &field : d.format)
                sum += std::uint64_t(field.first) + std::uint64_t(field.second);
            for (auto dim : d.shape)
                sum += std::uint64_t(dim);
        }
    }
    else if (auto *incomplete = dynamic_cast<const incomplete_heap *>(&h))
    {
        sum += std::uint64_t(incomplete->get_heap_length()) + std::uint64_t(incomplete->get_received_length());
        for (const auto &range : incomplete->get_payload_ranges())
        {
            if (range.first >= range.second)
                fail("empty or reversed payload range", range.first, range.second);
            sum += std::uint64_t(range.first) + std::uint64_t(range.second);
        }
    }
    else
        fail("heap of unknown type");
    return sum;
}

const std::shared_ptr<spead2::thread_pool> &pool()
{
    static const std::shared_ptr<spead2::thread_pool> p = [] {
        spead2::set_log_function([](spead2::log_level, const std::string &) {});
        return std::make_shared<spead2::thread_pool>(1);
    }();
    return p;
}

/* Set SPEAD2_FUZZ_NO_STATS_CHECK=1 to skip the statistics cross-checks (e.g. to keep
 * fuzzing past a known accounting bug). */
bool stats_checks_enabled()
{
    static const bool enabled = [] {
        const char *v = std::getenv("SPEAD2_FUZZ_NO_STATS_CHECK");
        return !(v && *v && *v != '0');
    }();
    return enabled;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    pool();
    return 0;
}

/// A stream that counts the heaps it assembles (the framer's tests need no ring).
class counting_stream : public spead2::recv::stream
{
public:
    std::uint64_t heaps = 0;
    using stream::stream;

protected:
    void heap_ready(spead2::recv::live_heap &&) override { heaps++; }
};

/* (c) the byte-stream framing, fed like a TCP reader: a buffer that receives @a chunk
 * bytes per read and is compacted after each feed. */
void frame_all(const std::uint8_t *ptr, std::size_t length, std::size_t chunk, std::size_t max_size,
               const spead2::recv::stream_config &config, const decode_result &decoded)
{
    using namespace spead2::recv;
    stream_config framed_config = config;
    framed_config.set_stop_on_stop_item(false);
    counting_stream s(pool(), framed_config);
    byte_stream_framer framer(max_size);
    std::vector<std::uint8_t> pending;
    for (std::size_t offset = 0; offset < length; offset += chunk)
    {
        const std::size_t n = std::min(chunk, length - offset);
        pending.insert(pending.end(), ptr + offset, ptr + offset + n);
        std::size_t used;
        {
            stream::add_packet_state state(s);
            used = framer.feed(state, pending.data(), pending.size());
        }
        if (used > pending.size())
            fail("framer consumed more than it was given", used, pending.size());
        pending.erase(pending.begin(), pending.begin() + used);
        if (pending.size() >= framer.buffer_size())
            fail("framer left more than a packet unconsumed", pending.size(), framer.buffer_size());
    }
    s.stop();
    const stream_stats stats = s.get_stats();
    g_sink = g_sink + stats[stream_stat_indices::PACKETS] + s.heaps;
    // Well-formed input whose packets all fit: the framer sees exactly the decoder's packets.
    if (stats_checks_enabled() && !decoded.malformed && decoded.max_packet <= max_size
        && stats[stream_stat_indices::PACKETS] != decoded.packets)
        fail("framer found different packets than decode_packet", stats[stream_stat_indices::PACKETS],
             decoded.packets);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    using namespace spead2::recv;
    namespace idx = stream_stat_indices;

    if (size < 2)
        return 0;
    const std::uint8_t flags = data[0];
    const std::uint8_t extra = data[1];
    const std::uint8_t *packets = data + 2;
    const std::size_t length = size - 2;

    // (a) the decoder on its own
    const decode_result decoded = decode_all(packets, length);

    // (b) a real ring_stream fed by a mem_reader
    stream_config config;
    config.set_max_heaps(1 + (flags & 3))
        .set_substreams(1 + ((flags >> 2) & 1))
        .set_allow_out_of_order(flags & 0x08)
        .set_allow_unsized_heaps(flags & 0x10)
        .set_stop_on_stop_item(flags & 0x20)
        .set_bug_compat(extra & 7);
    ring_stream_config ring_config;
    ring_config.set_contiguous_only(flags & 0x40)
        .set_incomplete_keep_payload_ranges(flags & 0x80)
        .set_heaps(1 + ((extra >> 3) & 3));

    std::uint64_t sum = 0;
    std::uint64_t delivered = 0;
    {
        ring_stream stream(pool(), config, ring_config);
        stream.emplace_reader<mem_reader>(packets, length);
        auto &ring = stream.get_ringbuffer();
        std::optional<any_heap> h;
        while (true)
        {
            // The non-blocking pop first, as the Python binding does.
            spead2::ring_status status = ring.try_pop(h);
            if (status == spead2::ring_status::empty)
            {
                try
                {
                    h.emplace(ring.pop());
                    status = spead2::ring_status::ok;
                }
                catch (spead2::ringbuffer_stopped &)
                {
                    status = spead2::ring_status::stopped;
                }
            }
            if (status == spead2::ring_status::stopped)
                break;
            sum += std::visit([](const auto &popped) { return consume_heap(popped); }, *h);
            delivered++;
        }
        stream.stop();
        const stream_stats stats = stream.get_stats();
        for (std::size_t i = 0; i < stats.size(); i++)
            sum += stats[i];
        const std::uint64_t malformed = stats[stats.index_of(stream_extension_stats::MALFORMED_PACKETS)];
        const std::uint64_t rejected = stats[stats.index_of(stream_extension_stats::REJECTED_PACKETS)];

        if (stats_checks_enabled())
        {
            // Every heap in the ring was counted; with contiguous_only=false, every heap counted arrives.
            if (delivered > stats[idx::HEAPS])
                fail("more heaps delivered than counted", delivered, stats[idx::HEAPS]);
            if (!ring_config.get_contiguous_only() && delivered != stats[idx::HEAPS])
                fail("heaps counted but not delivered (contiguous_only=false)", delivered, stats[idx::HEAPS]);
            if (stats[idx::INCOMPLETE_HEAPS_EVICTED] + stats[idx::INCOMPLETE_HEAPS_FLUSHED] > stats[idx::HEAPS])
                fail("more incomplete heaps than heaps", stats[idx::INCOMPLETE_HEAPS_EVICTED]
                     + stats[idx::INCOMPLETE_HEAPS_FLUSHED], stats[idx::HEAPS]);
            if (rejected > stats[idx::PACKETS])
                fail("more packets rejected than received", rejected, stats[idx::PACKETS]);
            if (malformed > 1)
                fail("buffer reader counted more than one malformed packet", malformed);
            // The reader sees the same packets as (a), unless a stop item ended it early.
            if (stats[idx::PACKETS] > decoded.packets)
                fail("stream counted more packets than decode_packet accepts", stats[idx::PACKETS], decoded.packets);
            if (!config.get_stop_on_stop_item())
            {
                if (stats[idx::PACKETS] != decoded.packets)
                    fail("stream skipped packets", stats[idx::PACKETS], decoded.packets);
                if (malformed != (decoded.malformed ? 1 : 0))
                    fail("malformed count disagrees with decode_packet", malformed, decoded.malformed);
            }
        }
    }
    g_sink = g_sink + sum;

    // (c) the byte-stream framing
    static constexpr std::size_t chunks[] = {1, 7, 64, 1000, 9000, 1 << 30, 1 << 30, 1 << 30};
    const unsigned chunking = extra >> 5;
    frame_all(packets, length, chunks[chunking], chunking % 2 ? 512 : 65536, config, decoded);
    return 0;
}
