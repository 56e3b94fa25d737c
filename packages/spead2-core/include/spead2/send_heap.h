/* A heap to send: an ordered list of items whose values are referenced, not copied. */
#ifndef SPEAD2_SEND_HEAP_H
#define SPEAD2_SEND_HEAP_H

#include <cstdint>
#include <memory>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_flavour.h>

namespace spead2::send
{

struct item
{
    s_item_pointer_t id;
    /// An integer carried in the pointer itself (stream control); ptr/length unused.
    bool is_inline = false;
    /// The value may travel as an immediate if it fits in the address field.
    bool allow_immediate = false;
    const std::uint8_t *ptr = nullptr;
    std::size_t length = 0;
    item_pointer_t inline_value = 0;
};

class SPEAD2_API heap
{
private:
    flavour heap_flavour;
    std::vector<item> items;
    /// Memory owned by the heap (encoded descriptors).
    std::vector<std::unique_ptr<std::uint8_t[]>> storage;
    bool repeat_pointers = false;

public:
    explicit heap(const flavour &f = flavour());
    ~heap();
    heap(heap &&) = default;
    heap &operator=(heap &&) = default;

    const flavour &get_flavour() const { return heap_flavour; }
    const std::vector<item> &get_items() const { return items; }

    /// Reference @a length bytes at @a ptr: they must stay valid while the heap is sent.
    void add_item(s_item_pointer_t id, const void *ptr, std::size_t length, bool allow_immediate);
    /// An inline immediate integer.
    void add_inline(s_item_pointer_t id, item_pointer_t value);
    /// Encode @a d now (copied). Throws std::invalid_argument if its ID does not fit.
    void add_descriptor(const descriptor &d);
    void add_start() { add_inline(STREAM_CTRL_ID, CTRL_STREAM_START); }
    void add_end() { add_inline(STREAM_CTRL_ID, CTRL_STREAM_STOP); }

    void set_repeat_pointers(bool repeat) { repeat_pointers = repeat; }
    bool get_repeat_pointers() const { return repeat_pointers; }
};

} // namespace spead2::send

#endif
