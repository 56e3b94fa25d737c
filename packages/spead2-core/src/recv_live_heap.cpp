#include <algorithm>
#include <cstring>
#include <new>
#include <spead2/common_endian.h>
#include <spead2/common_flavour.h>
#include <spead2/recv_live_heap.h>

namespace spead2::recv
{

/* Below this many pointers a linear scan beats hashing for duplicate detection, and
 * ordinary heaps never get past it. */
static constexpr std::size_t linear_dedup_limit = 32;

live_heap::live_heap(const packet_header &first, bug_compat_mask bug_compat)
    : cnt(first.heap_cnt), heap_address_bits(first.heap_address_bits), bug_compat(bug_compat)
{
}

live_heap::live_heap(const packet_header &first, bug_compat_mask bug_compat, heap_placement &placement,
                     const heap_place &place)
    : live_heap(first, bug_compat)
{
    this->placement = &placement;
    this->place = place;
}

bool live_heap::reserve(std::size_t size, bool exact, memory_allocator &allocator, void *hint,
                        memcpy_function copy)
{
    if (size <= payload_reserved)
        return true;
    if (!exact)
        size = std::max(size, 2 * payload_reserved);
    try
    {
        memory_allocator::pointer grown = allocator.allocate(size, hint);
        if (payload && received_length > 0)
            copy(grown.get(), payload.get(), payload_reserved);
        payload = std::move(grown);
        payload_reserved = size;
        return true;
    }
    catch (std::bad_alloc &)
    {
        // A hostile HEAP_LENGTH must cost one packet, not the process.
        return false;
    }
}

bool live_heap::add_packet(const packet_header &packet, memcpy_function copy, memory_allocator &allocator,
                           bool allow_out_of_order)
{
    if (packet.heap_address_bits != heap_address_bits)
        return false;
    if (packet.heap_length >= 0)
    {
        if (heap_length >= 0 && packet.heap_length != heap_length)
            return false;
        if (packet.heap_length < min_length)
            return false;
    }
    const s_item_pointer_t start = packet.payload_offset;
    const s_item_pointer_t end = start + packet.payload_length;
    /* The packet decoder checks the payload against the packet's own HEAP_LENGTH; a
     * packet without one must still fit the length the heap already has. */
    if (heap_length >= 0 && end > heap_length)
        return false;
    std::map<s_item_pointer_t, s_item_pointer_t>::iterator next_range;
    if (!allow_out_of_order)
    {
        if (start != received_length)
            return false;
    }
    else if (start < end)
    {
        next_range = ranges.upper_bound(start);
        if (next_range != ranges.end() && next_range->first < end)
            return false;
        if (next_range != ranges.begin() && std::prev(next_range)->second > start)
            return false;
    }

    if (heap_length < 0 && packet.heap_length >= 0)
        heap_length = packet.heap_length;
    if (start < end && placement)
    {
        if (place.data)
            placement->copy(place.data + start, packet, place);
    }
    else if (start < end)
    {
        bool ok = heap_length >= 0
            ? reserve(heap_length, true, allocator, const_cast<std::uint8_t *>(packet.payload), copy)
            : reserve(end, false, allocator, const_cast<std::uint8_t *>(packet.payload), copy);
        if (!ok)
            return false;
        std::uint8_t *dst = payload.get() + start;
        std::size_t first = packet.payload_length;
        for (std::size_t i = 0; i < packet.n_payload_rest; i++)
            first -= packet.payload_rest[i].size;
        copy(dst, packet.payload, first);
        dst += first;
        for (std::size_t i = 0; i < packet.n_payload_rest; i++)
        {
            copy(dst, packet.payload_rest[i].data, packet.payload_rest[i].size);
            dst += packet.payload_rest[i].size;
        }
    }

    const pointer_decoder decoder(heap_address_bits);
    for (int i = 0; i < packet.n_items; i++)
    {
        item_pointer_t pointer = load_be64(packet.pointers + 8 * i);
        const bool immediate = pointer_decoder::is_immediate(pointer);
        const s_item_pointer_t id = decoder.get_id(pointer);
        if (!immediate)
            min_length = std::max(min_length, decoder.get_value(pointer));
        if (id >= s_item_pointer_t(HEAP_CNT_ID) && id <= s_item_pointer_t(PAYLOAD_LENGTH_ID))
            continue;
        if (immediate && id == STREAM_CTRL_ID && decoder.get_value(pointer) == CTRL_STREAM_STOP)
            end_of_stream = true;
        // repeat_pointers sends the same pointers in every packet: keep each once.
        bool duplicate;
        if (pointers.size() < linear_dedup_limit)
            duplicate = std::find(pointers.begin(), pointers.end(), pointer) != pointers.end();
        else
        {
            if (seen_pointers.empty())
                seen_pointers.insert(pointers.begin(), pointers.end());
            duplicate = !seen_pointers.insert(pointer).second;
        }
        if (!duplicate)
            pointers.push_back(pointer);
    }

    received_length += packet.payload_length;
    min_length = std::max(min_length, end);
    if (allow_out_of_order && start < end)
    {
        // Merge with the neighbouring ranges so the map stays small.
        s_item_pointer_t merged_start = start, merged_end = end;
        auto it = ranges.lower_bound(start);
        if (it != ranges.begin() && std::prev(it)->second == start)
        {
            --it;
            merged_start = it->first;
            it = ranges.erase(it);
        }
        if (it != ranges.end() && it->first == end)
        {
            merged_end = it->second;
            ranges.erase(it);
        }
        ranges.emplace(merged_start, merged_end);
    }
    return true;
}

bool live_heap::is_complete() const
{
    return heap_length >= 0 && received_length == heap_length && min_length <= heap_length;
}

bool live_heap::is_contiguous() const
{
    return received_length == std::max(heap_length, min_length);
}

std::vector<std::pair<s_item_pointer_t, s_item_pointer_t>> live_heap::payload_ranges() const
{
    if (!ranges.empty())
        return {ranges.begin(), ranges.end()};
    if (received_length > 0)   // in-order mode: one range from the start
        return {{0, received_length}};
    return {};
}

} // namespace spead2::recv
