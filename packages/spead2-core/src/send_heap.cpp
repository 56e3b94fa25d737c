#include <cstring>
#include <stdexcept>
#include <spead2/send_heap.h>

namespace spead2::send
{

heap::heap(const flavour &f) : heap_flavour(f)
{
}

heap::~heap() = default;

static void check_id(const flavour &f, s_item_pointer_t id)
{
    // Out-of-range IDs would bleed into the neighbouring bits of the item pointer.
    if (id < 0 || item_pointer_t(id) > f.max_id())
        throw std::invalid_argument("Item ID out of range");
}

void heap::add_item(s_item_pointer_t id, const void *ptr, std::size_t length, bool allow_immediate)
{
    check_id(heap_flavour, id);
    item it;
    it.id = id;
    it.allow_immediate = allow_immediate;
    it.ptr = static_cast<const std::uint8_t *>(ptr);
    it.length = length;
    items.push_back(it);
}

void heap::add_inline(s_item_pointer_t id, item_pointer_t value)
{
    check_id(heap_flavour, id);
    item it;
    it.id = id;
    it.is_inline = true;
    it.inline_value = value;
    items.push_back(it);
}

void heap::add_descriptor(const descriptor &d)
{
    std::vector<std::uint8_t> encoded = encode_descriptor(heap_flavour, d);
    std::unique_ptr<std::uint8_t[]> owned(new std::uint8_t[encoded.size()]);
    std::memcpy(owned.get(), encoded.data(), encoded.size());
    add_item(DESCRIPTOR_ID, owned.get(), encoded.size(), false);
    storage.push_back(std::move(owned));
}

} // namespace spead2::send
