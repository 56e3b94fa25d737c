/* Heaps handed to the user: frozen, with their items located. */
#ifndef SPEAD2_RECV_HEAP_H
#define SPEAD2_RECV_HEAP_H

#include <cstdint>
#include <utility>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_flavour.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/recv_live_heap.h>

namespace spead2::recv
{

struct item
{
    s_item_pointer_t id;
    std::uint8_t *ptr;      ///< value bytes (for immediates: HAB/8 big-endian bytes)
    std::size_t length;
    item_pointer_t immediate_value;
    bool is_immediate;
};

class SPEAD2_API heap_base
{
private:
    s_item_pointer_t cnt;
    flavour heap_flavour;
    std::vector<item> items;
    /// Storage for the big-endian bytes of immediate items.
    std::vector<std::uint8_t> immediate_bytes;
    memory_allocator::pointer payload;

protected:
    /* Locate items (protocol.md §10): addressed by address then immediates by value;
     * NULL pointers bound the previous item; zero-length addressed items vanish.
     * Without @a keep_payload only immediates are kept. */
    heap_base(live_heap &&h, bool keep_payload);

public:
    virtual ~heap_base();
    heap_base(heap_base &&) = default;
    heap_base &operator=(heap_base &&) = default;

    s_item_pointer_t get_cnt() const { return cnt; }
    const flavour &get_flavour() const { return heap_flavour; }
    const std::vector<item> &get_items() const { return items; }
    const std::uint8_t *get_payload() const { return payload.get(); }
    bool is_start_of_stream() const;
    bool is_end_of_stream() const;
};

/// A heap all of whose payload arrived.
class SPEAD2_API heap : public heap_base
{
public:
    explicit heap(live_heap &&h);
    ~heap() override;
    /// Decode the DESCRIPTOR items, in item order (undecodable ones are skipped).
    std::vector<descriptor> get_descriptors() const;
};

/// A heap that was evicted or flushed before all its payload arrived.
class SPEAD2_API incomplete_heap : public heap_base
{
private:
    s_item_pointer_t heap_length;
    s_item_pointer_t received_length;
    std::vector<std::pair<s_item_pointer_t, s_item_pointer_t>> payload_ranges;

public:
    incomplete_heap(live_heap &&h, bool keep_payload_ranges);
    ~incomplete_heap() override;
    s_item_pointer_t get_heap_length() const { return heap_length; }
    s_item_pointer_t get_received_length() const { return received_length; }
    const std::vector<std::pair<s_item_pointer_t, s_item_pointer_t>> &get_payload_ranges() const
    {
        return payload_ranges;
    }
};

} // namespace spead2::recv

#endif
