/* A heap being assembled from packets (protocol.md §9). */
#ifndef SPEAD2_RECV_LIVE_HEAP_H
#define SPEAD2_RECV_LIVE_HEAP_H

#include <cstdint>
#include <map>
#include <unordered_set>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/recv_heap_placement.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

class SPEAD2_API live_heap
{
    friend class heap_base;

private:
    s_item_pointer_t cnt;
    int heap_address_bits;
    bug_compat_mask bug_compat;
    s_item_pointer_t heap_length = -1;
    s_item_pointer_t received_length = 0;
    /// Bytes the payload must have: largest address or payload end seen.
    s_item_pointer_t min_length = 0;
    bool end_of_stream = false;
    memory_allocator::pointer payload;
    std::size_t payload_reserved = 0;
    /// Item pointers in arrival order, exact duplicates stored once.
    std::vector<item_pointer_t> pointers;
    std::unordered_set<item_pointer_t> seen_pointers;
    /// Received payload ranges (start -> end), merged; only in out-of-order mode.
    std::map<s_item_pointer_t, s_item_pointer_t> ranges;
    /// Set when a heap_placement policy stores the payload (then payload stays empty).
    heap_placement *placement = nullptr;
    heap_place place;

    bool reserve(std::size_t size, bool exact, memory_allocator &allocator, void *hint, memcpy_function copy);

public:
    live_heap(const packet_header &first, bug_compat_mask bug_compat);
    /// A heap whose payload @a placement stores at @a place (see recv_heap_placement.h).
    live_heap(const packet_header &first, bug_compat_mask bug_compat, heap_placement &placement,
              const heap_place &place);

    /* Add a packet that belongs to this heap. Returns false if the heap refuses it
     * (inconsistent length, gap or duplicate, address width mismatch).  @a copy and
     * @a allocator are not used for a placed heap. */
    bool add_packet(const packet_header &packet, memcpy_function copy, memory_allocator &allocator,
                    bool allow_out_of_order);

    s_item_pointer_t get_cnt() const { return cnt; }
    s_item_pointer_t get_heap_length() const { return heap_length; }
    s_item_pointer_t get_received_length() const { return received_length; }
    bool is_end_of_stream() const { return end_of_stream; }
    /// Where a placement policy put the payload; null if the heap owns its payload.
    const heap_place *get_place() const { return placement ? &place : nullptr; }
    bool is_complete() const;
    bool is_contiguous() const;
    /// Payload ranges received, merged and sorted.
    std::vector<std::pair<s_item_pointer_t, s_item_pointer_t>> payload_ranges() const;
};

} // namespace spead2::recv

#endif
