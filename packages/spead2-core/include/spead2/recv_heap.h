/* Heaps handed to the user: frozen, with their items located. */
#ifndef SPEAD2_RECV_HEAP_H
#define SPEAD2_RECV_HEAP_H

#include <array>
#include <cstdint>
#include <utility>
#include <variant>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_flavour.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/recv_live_heap.h>

namespace spead2::recv
{

class SPEAD2_API item
{
private:
    std::uint8_t *ptr = nullptr;         ///< addressed items: the value in the payload
    std::uint8_t immediate_bytes[8] = {};   ///< immediates: HAB/8 big-endian bytes

public:
    s_item_pointer_t id = 0;
    std::size_t length = 0;
    item_pointer_t immediate_value = 0;
    bool is_immediate = false;

    item() = default;
    /// An addressed item: @a length bytes at @a ptr (inside the heap's payload).
    item(s_item_pointer_t id, std::uint8_t *ptr, std::size_t length);
    /// An immediate item of @a address_bytes bytes.
    item(s_item_pointer_t id, item_pointer_t value, std::size_t address_bytes);

    /* The value's bytes.  An immediate carries them itself, so that items can be
     * copied and moved with their heap without pointing into the old place. */
    std::uint8_t *data() { return is_immediate ? immediate_bytes : ptr; }
    const std::uint8_t *data() const { return is_immediate ? immediate_bytes : ptr; }
};

/// The items of a heap, valid while the heap is neither moved nor destroyed.
class item_range
{
private:
    const item *first;
    std::size_t n;

public:
    item_range(const item *first, std::size_t n) : first(first), n(n) {}
    const item *begin() const { return first; }
    const item *end() const { return first + n; }
    std::size_t size() const { return n; }
    bool empty() const { return n == 0; }
    const item &operator[](std::size_t i) const { return first[i]; }
};

class SPEAD2_API heap_base
{
private:
    /* Small heaps (a timestamp and a few immediates, the common control and metadata
     * heaps) keep their items inline, so that assembling one allocates nothing that
     * the consuming thread has to free: frees across threads contend on the
     * allocator's locks. */
    static constexpr std::size_t inline_items = 8;

    s_item_pointer_t cnt;
    flavour heap_flavour;
    std::size_t n_items = 0;
    std::array<item, inline_items> inline_item_storage;
    std::vector<item> more_items;   ///< all the items, when there are more than inline_items
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
    item_range get_items() const
    {
        return item_range(n_items > inline_items ? more_items.data() : inline_item_storage.data(), n_items);
    }
    const std::uint8_t *get_payload() const { return payload.get(); }
    bool is_start_of_stream() const;
    bool is_end_of_stream() const;
};

/// A heap all of whose payload arrived.
class SPEAD2_API heap : public heap_base
{
public:
    explicit heap(live_heap &&h);
    heap(heap &&) = default;
    heap &operator=(heap &&) = default;
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
    incomplete_heap(incomplete_heap &&) = default;
    incomplete_heap &operator=(incomplete_heap &&) = default;
    ~incomplete_heap() override;
    s_item_pointer_t get_heap_length() const { return heap_length; }
    s_item_pointer_t get_received_length() const { return received_length; }
    const std::vector<std::pair<s_item_pointer_t, s_item_pointer_t>> &get_payload_ranges() const
    {
        return payload_ranges;
    }
};

/// A heap as a stream hands it on: by value, so that handing it on allocates nothing.
typedef std::variant<heap, incomplete_heap> any_heap;

} // namespace spead2::recv

#endif
