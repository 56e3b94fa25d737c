#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <spead2/common_endian.h>
#include <spead2/common_flavour.h>
#include <spead2/common_logging.h>
#include <spead2/recv_chunk_stream.h>

namespace spead2::recv
{

chunk::~chunk() = default;

chunk_stream_config &chunk_stream_config::set_max_chunks(std::size_t max_chunks)
{
    if (max_chunks == 0)
        throw std::invalid_argument("max_chunks cannot be 0");
    this->max_chunks = max_chunks;
    return *this;
}

chunk_stream_config &chunk_stream_config::enable_packet_presence(std::size_t payload_size)
{
    if (payload_size == 0)
        throw std::invalid_argument("payload_size must not be zero");
    packet_presence_payload_size = payload_size;
    return *this;
}

/* ---- the window ---------------------------------------------------------- */

chunk_window::chunk_window(std::size_t max_chunks, std::uint64_t stream_id)
    : slots(max_chunks), stream_id(stream_id)
{
}

chunk *chunk_window::find(std::int64_t chunk_id) const
{
    if (chunk_id < head || chunk_id >= tail)
        return nullptr;
    return slots[std::size_t(chunk_id) % slots.size()].get();
}

chunk *chunk_window::get(std::int64_t chunk_id, const chunk_allocate_function &allocate,
                         const chunk_ready_function &ready, std::uint64_t *batch_stats)
{
    if (chunk_id < head)
        return nullptr;
    const std::int64_t max_chunks = std::int64_t(slots.size());
    if (chunk_id >= tail)
    {
        if (chunk_id - tail >= max_chunks)
        {
            // The whole window is stale: retire it and restart just below chunk_id.
            flush(ready, batch_stats);
            head = tail = chunk_id - (max_chunks - 1);
        }
        while (chunk_id >= tail)
        {
            if (tail - head == max_chunks)
            {
                std::unique_ptr<chunk> &oldest = slots[std::size_t(head) % slots.size()];
                if (oldest)
                    ready(std::move(oldest), batch_stats);
                oldest.reset();
                head++;
            }
            std::unique_ptr<chunk> &slot = slots[std::size_t(tail) % slots.size()];
            slot = allocate(tail, batch_stats);
            if (slot)
            {
                slot->chunk_id = tail;
                slot->stream_id = stream_id;
            }
            tail++;
        }
    }
    return slots[std::size_t(chunk_id) % slots.size()].get();
}

void chunk_window::flush(const chunk_ready_function &ready, std::uint64_t *batch_stats)
{
    for (; head < tail; head++)
    {
        std::unique_ptr<chunk> &slot = slots[std::size_t(head) % slots.size()];
        if (slot)
            ready(std::move(slot), batch_stats);
        slot.reset();
    }
}

/* ---- the stream ---------------------------------------------------------- */

namespace
{

constexpr std::uint64_t no_chunk = ~std::uint64_t(0);

/// The base stream's configuration: a placed heap must know its length.
stream_config chunk_base_config(stream_config config)
{
    config.set_allow_unsized_heaps(false);
    config.add_stat("too_old_heaps");
    config.add_stat("rejected_heaps");
    return config;
}

} // anonymous namespace

chunk_stream::chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                           const chunk_stream_config &chunk_config)
    : stream(std::move(pool), chunk_base_config(config)),
      chunk_config(chunk_config),
      window(chunk_config.get_max_chunks(), config.get_stream_id()),
      too_old_heaps_index(get_config().get_stat_index("too_old_heaps")),
      rejected_heaps_index(get_config().get_stat_index("rejected_heaps")),
      item_values(chunk_config.get_items().size()),
      extra_scratch(chunk_config.get_max_heap_extra())
{
    if (!chunk_config.get_place())
        throw std::invalid_argument("chunk_config.place is not set");
    if (!chunk_config.get_allocate() || !chunk_config.get_ready())
        throw std::invalid_argument("chunk_config.allocate and chunk_config.ready must be set");
    set_heap_placement(*this);
}

chunk_stream::~chunk_stream()
{
    stop();
}

heap_place chunk_stream::place(const packet_header &packet, std::uint64_t *batch_stats)
{
    const std::vector<item_pointer_t> &ids = chunk_config.get_items();
    std::fill(item_values.begin(), item_values.end(), -1);
    const pointer_decoder decoder(packet.heap_address_bits);
    for (int i = 0; i < packet.n_items; i++)
    {
        const item_pointer_t pointer = load_be64(packet.pointers + 8 * i);
        if (!pointer_decoder::is_immediate(pointer))
            continue;
        const item_pointer_t id = decoder.get_id(pointer);
        for (std::size_t j = 0; j < ids.size(); j++)
            if (ids[j] == id)
                item_values[j] = decoder.get_value(pointer);
    }

    chunk_place_data data{};
    data.packet = packet.pointers - 8;   // the SPEAD header is the 8 bytes before the pointers
    data.packet_size = packet.total_length;
    data.items = item_values.empty() ? nullptr : item_values.data();
    data.chunk_id = -1;
    data.batch_stats = batch_stats;
    data.extra = extra_scratch.empty() ? nullptr : extra_scratch.data();
    chunk_config.get_place()(&data, sizeof(data));

    if (data.chunk_id < 0)
    {
        batch_stats[rejected_heaps_index]++;
        return {nullptr, {no_chunk, 0}};
    }
    chunk *c = window.get(data.chunk_id, chunk_config.get_allocate(), chunk_config.get_ready(), batch_stats);
    if (!c)
    {
        // Behind the window; or no chunk could be had (free ring stopped): dropped quietly.
        if (data.chunk_id < window.get_head())
            batch_stats[too_old_heaps_index]++;
        return {nullptr, {no_chunk, 0}};
    }
    if (data.extra_size > 0 && c->extra)
        std::memcpy(c->extra + data.extra_offset, extra_scratch.data(),
                    std::min(data.extra_size, extra_scratch.size()));
    return {c->data + data.heap_offset, {std::uint64_t(data.chunk_id), data.heap_index}};
}

void chunk_stream::copy(std::uint8_t *dst, const packet_header &packet, const heap_place &place)
{
    chunk *c = window.find(std::int64_t(place.tokens[0]));
    if (!c)
        return;   // the chunk has gone to the user since the heap started: not ours to write
    std::memcpy(dst, packet.payload, packet.payload_length);
    const std::size_t payload_size = chunk_config.get_packet_presence_payload_size();
    if (payload_size > 0 && c->present)
        c->present[place.tokens[1] + std::size_t(packet.payload_offset) / payload_size] = 1;
}

void chunk_stream::heap_ready(live_heap &&h)
{
    const heap_place *where = h.get_place();
    if (!where || !where->data || !h.is_complete())
        return;
    chunk *c = window.find(std::int64_t(where->tokens[0]));
    if (!c)
    {
        // Completed after its chunk left the window.
        if (std::uint64_t *stats = batch_stats())
            stats[too_old_heaps_index]++;
        else
            add_stat(too_old_heaps_index, 1);
        return;
    }
    if (chunk_config.get_packet_presence_payload_size() == 0 && c->present)
        c->present[where->tokens[1]] = 1;
}

void chunk_stream::stop_received()
{
    stream::stop_received();   // live heaps first: they may still mark their chunks
    window.flush(chunk_config.get_ready(), batch_stats());
}

} // namespace spead2::recv
