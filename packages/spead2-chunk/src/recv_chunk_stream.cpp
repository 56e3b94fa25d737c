#include <algorithm>
#include <cstring>
#include <limits>
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

chunk_manager::~chunk_manager() = default;

void chunk_manager::head_updated(std::int64_t, std::uint64_t *)
{
}

chunk_window::chunk_window(std::size_t max_chunks)
    : slots(max_chunks, nullptr)
{
}

chunk *chunk_window::find(std::int64_t chunk_id) const
{
    if (chunk_id < head || chunk_id >= tail)
        return nullptr;
    return slots[std::size_t(chunk_id) % slots.size()];
}

void chunk_window::retire_head(chunk_manager &manager, std::uint64_t *batch_stats)
{
    chunk *&oldest = slots[std::size_t(head) % slots.size()];
    chunk *c = oldest;
    oldest = nullptr;
    head++;
    if (c)
        manager.ready(c, batch_stats);
}

chunk *chunk_window::get(std::int64_t chunk_id, chunk_manager &manager, std::uint64_t *batch_stats)
{
    if (chunk_id < head)
        return nullptr;
    const std::int64_t max_chunks = std::int64_t(slots.size());
    if (chunk_id >= tail)
    {
        const std::int64_t old_head = head;
        if (chunk_id - tail >= max_chunks)
        {
            // The whole window is stale: retire it and restart just below chunk_id.
            while (head < tail)
                retire_head(manager, batch_stats);
            head = tail = chunk_id - (max_chunks - 1);
        }
        while (chunk_id >= tail)
        {
            if (tail - head == max_chunks)
                retire_head(manager, batch_stats);
            // Tell the owner before asking for more: a group may be waiting for this head.
            if (head != old_head)
                manager.head_updated(head, batch_stats);
            slots[std::size_t(tail) % slots.size()] = manager.allocate(tail, batch_stats);
            tail++;
        }
    }
    return slots[std::size_t(chunk_id) % slots.size()];
}

void chunk_window::flush_until(std::int64_t chunk_id, chunk_manager &manager, std::uint64_t *batch_stats)
{
    if (chunk_id <= head)
        return;
    while (head < tail && head < chunk_id)
        retire_head(manager, batch_stats);
    head = chunk_id;
    tail = std::max(tail, head);
    manager.head_updated(head, batch_stats);
}

/* ---- the stream ---------------------------------------------------------- */

namespace
{

constexpr std::uint64_t no_chunk = ~std::uint64_t(0);

/* The memcpy of the base stream's configuration: the core never calls it (payloads go
 * through the placement's copy, which uses the user's choice); it shows in
 * stream.config that this stream copies its own way (Python's getter of a function
 * that is not a standard one raises ValueError, as the reference's does). */
void *copy_into_chunk(void *__restrict dest, const void *__restrict src, std::size_t n)
{
    return std::memcpy(dest, src, n);
}

/// The base stream's configuration: a placed heap must know its length.
stream_config chunk_base_config(stream_config config)
{
    config.set_allow_unsized_heaps(false);
    config.set_memcpy(copy_into_chunk);
    config.add_stat("too_old_heaps");
    config.add_stat("rejected_heaps");
    return config;
}

} // anonymous namespace

chunk_stream::function_manager::function_manager(chunk_allocate_function allocate, chunk_ready_function ready,
                                                 std::uint64_t stream_id)
    : allocate_function(std::move(allocate)), ready_function(std::move(ready)), stream_id(stream_id)
{
    if (!allocate_function || !ready_function)
        throw std::invalid_argument("chunk_config.allocate and chunk_config.ready must be set");
}

chunk *chunk_stream::function_manager::allocate(std::int64_t chunk_id, std::uint64_t *batch_stats)
{
    std::unique_ptr<chunk> c = allocate_function(chunk_id, batch_stats);
    if (c)
    {
        c->chunk_id = chunk_id;
        c->stream_id = stream_id;
    }
    return c.release();
}

void chunk_stream::function_manager::ready(chunk *c, std::uint64_t *batch_stats)
{
    ready_function(std::unique_ptr<chunk>(c), batch_stats);
}

chunk_stream::chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                           const chunk_stream_config &chunk_config,
                           std::unique_ptr<function_manager> own_manager, chunk_manager *manager)
    : stream(std::move(pool), chunk_base_config(config)),
      chunk_config(chunk_config),
      own_manager(std::move(own_manager)),
      manager(manager ? *manager : *this->own_manager),
      window(chunk_config.get_max_chunks()),
      too_old_heaps_index(get_config().get_stat_index("too_old_heaps")),
      rejected_heaps_index(get_config().get_stat_index("rejected_heaps")),
      user_memcpy(config.get_memcpy()),
      item_values(chunk_config.get_items().size()),
      extra_scratch(chunk_config.get_max_heap_extra())
{
    if (!chunk_config.get_place())
        throw std::invalid_argument("chunk_config.place is not set");
    set_heap_placement(*this);
}

chunk_stream::chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                           const chunk_stream_config &chunk_config, chunk_manager &manager)
    : chunk_stream(std::move(pool), config, chunk_config, nullptr, &manager)
{
}

chunk_stream::chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                           const chunk_stream_config &chunk_config)
    : chunk_stream(std::move(pool), config, chunk_config,
                   std::make_unique<function_manager>(chunk_config.get_allocate(), chunk_config.get_ready(),
                                                     config.get_stream_id()),
                   nullptr)
{
}

chunk_stream::~chunk_stream()
{
    stop();
}

void chunk_stream::count(std::size_t index, std::uint64_t *batch_stats)
{
    if (batch_stats)
        batch_stats[index]++;
    else
        add_stat(index, 1);
}

void chunk_stream::flush_chunks_until(std::int64_t chunk_id)
{
    window.flush_until(chunk_id, manager, batch_stats());
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

    if (data.chunk_id < 0 || data.chunk_id == std::numeric_limits<std::int64_t>::max())
    {
        batch_stats[rejected_heaps_index]++;
        return {nullptr, {no_chunk, 0}};
    }
    chunk *c = window.get(data.chunk_id, manager, batch_stats);
    if (!c)
    {
        // Behind the window; or no chunk could be had (free ring stopped): dropped quietly.
        if (data.chunk_id < window.get_head())
            batch_stats[too_old_heaps_index]++;
        return {nullptr, {no_chunk, 0}};
    }
    if (const char *problem = misplaced(data, *c, packet.heap_length))
    {
        batch_stats[rejected_heaps_index]++;
        if (!warned_misplaced)
        {
            log_warning("heap {} rejected: {} (chunk {}); further such heaps are only counted in rejected_heaps",
                        packet.heap_cnt, problem, data.chunk_id);
            warned_misplaced = true;
        }
        return {nullptr, {no_chunk, 0}};
    }
    if (data.extra_size > 0)
        std::memcpy(c->extra + data.extra_offset, extra_scratch.data(), data.extra_size);
    return {c->data + data.heap_offset, {std::uint64_t(data.chunk_id), data.heap_index}};
}

const char *chunk_stream::misplaced(const chunk_place_data &data, const chunk &c, std::int64_t heap_length) const
{
    const std::size_t length = std::size_t(heap_length);
    if (data.heap_offset > c.data_size || length > c.data_size - data.heap_offset)
        return "heap_offset + heap length is past the end of the chunk's data";
    const std::size_t payload_size = chunk_config.get_packet_presence_payload_size();
    // The last presence flag the heap can set: its own, or that of its last packet.
    const std::size_t last_flag = payload_size == 0 || length == 0 ? 0 : (length - 1) / payload_size;
    if (data.heap_index >= c.present_size || last_flag >= c.present_size - data.heap_index)
        return "heap_index is past the end of the chunk's present";
    if (data.extra_size > extra_scratch.size())
        return "extra_size is larger than max_heap_extra";
    if (data.extra_size > 0
        && (data.extra_offset > c.extra_size || data.extra_size > c.extra_size - data.extra_offset))
        return "extra_offset + extra_size is past the end of the chunk's extra";
    return nullptr;
}

void chunk_stream::copy(std::uint8_t *dst, const packet_header &packet, const heap_place &place)
{
    chunk *c = window.find(std::int64_t(place.tokens[0]));
    if (!c)
        return;   // the chunk has gone to the user since the heap started: not ours to write
    user_memcpy(dst, packet.payload, packet.payload_length);
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
        count(too_old_heaps_index, batch_stats());   // completed after its chunk left the window
        return;
    }
    if (chunk_config.get_packet_presence_payload_size() == 0 && c->present)
        c->present[where->tokens[1]] = 1;
}

void chunk_stream::stop_received()
{
    stream::stop_received();   // live heaps first: they may still mark their chunks
    window.flush(manager, batch_stats());
}

} // namespace spead2::recv
