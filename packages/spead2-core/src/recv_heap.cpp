#include <algorithm>
#include <cstring>
#include <memory>
#include <spead2/common_endian.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

item::item(s_item_pointer_t id, std::uint8_t *ptr, std::size_t length)
    : ptr(ptr), id(id), length(length)
{
}

item::item(s_item_pointer_t id, item_pointer_t value, std::size_t address_bytes)
    : id(id), length(address_bytes), immediate_value(value), is_immediate(true)
{
    store_be(immediate_bytes, value, address_bytes);
}

heap_base::heap_base(live_heap &&h, bool keep_payload)
    : cnt(h.cnt), heap_flavour(h.heap_address_bits, h.bug_compat)
{
    const pointer_decoder decoder(h.heap_address_bits);
    const std::size_t address_bytes = h.heap_address_bits / 8;
    const s_item_pointer_t payload_size = std::max(h.heap_length, h.min_length);
    if (keep_payload)
        payload = std::move(h.payload);

    /* Addressed pointers first, by address, then immediates by value; the sort is
     * stable so equal keys keep arrival order (protocol.md §10). */
    std::vector<item_pointer_t> &pointers = h.pointers;
    auto sort_key = [&decoder](item_pointer_t p) {
        return std::make_pair(pointer_decoder::is_immediate(p), decoder.get_value(p));
    };
    std::stable_sort(pointers.begin(), pointers.end(),
                     [&sort_key](item_pointer_t a, item_pointer_t b) { return sort_key(a) < sort_key(b); });

    // more_items is non-empty exactly when the items live there (see get_items).
    const bool use_inline = pointers.size() <= inline_items;
    if (!use_inline)
        more_items.reserve(pointers.size());
    auto add = [&](const item &it) {
        if (use_inline)
            inline_item_storage[n_items] = it;
        else
            more_items.push_back(it);
        n_items++;
    };
    for (std::size_t i = 0; i < pointers.size(); i++)
    {
        const item_pointer_t p = pointers[i];
        const s_item_pointer_t id = decoder.get_id(p);
        const s_item_pointer_t value = decoder.get_value(p);
        if (pointer_decoder::is_immediate(p))
        {
            if (id != NULL_ID)
                add(item(id, item_pointer_t(value), address_bytes));
        }
        else if (keep_payload && id != NULL_ID)
        {
            // A NULL pointer is not reported, but still bounds the item before it.
            s_item_pointer_t end = payload_size;
            if (i + 1 < pointers.size() && !pointer_decoder::is_immediate(pointers[i + 1]))
                end = decoder.get_value(pointers[i + 1]);
            end = std::min(end, payload_size);
            if (end > value)   // zero-length addressed items vanish
                add(item(id, payload.get() + value, std::size_t(end - value)));
        }
    }
}

heap_base::~heap_base() = default;

namespace
{

bool has_control_value(const item_range &items, item_pointer_t value)
{
    for (const item &it : items)
        if (it.id == STREAM_CTRL_ID && load_be(it.data(), std::min<std::size_t>(it.length, 8)) == value)
            return true;
    return false;
}

/* Assemble the heap inside a DESCRIPTOR item's value: the same packet rules as a
 * stream, with room for one live heap (protocol.md §7.6).  Returns the first heap
 * that completes, or that is contiguous when the next one starts. */
std::unique_ptr<heap> assemble_descriptor_heap(const std::uint8_t *data, std::size_t length,
                                               bug_compat_mask bug_compat)
{
    static const std::shared_ptr<memory_allocator> allocator = std::make_shared<memory_allocator>();
    std::unique_ptr<live_heap> current;
    std::unique_ptr<heap> result;
    auto finish = [&](std::unique_ptr<live_heap> &h) {
        if (!result && h->is_contiguous())
            result = std::make_unique<heap>(std::move(*h));
        h.reset();
    };

    std::size_t pos = 0;
    packet_header packet;
    while (!result && pos < length && decode_packet(packet, data + pos, length - pos) == packet_status::ok)
    {
        pos += packet.total_length;
        bool single = packet.heap_length >= 0 && packet.heap_length == packet.payload_length;
        if (current && (single || current->get_cnt() != packet.heap_cnt))
            finish(current);
        if (!current)
        {
            if (packet.payload_offset != 0)
                continue;
            current = std::make_unique<live_heap>(packet, bug_compat);
        }
        current->add_packet(packet, std::memcpy, *allocator, false);
        if (current->is_complete())
            finish(current);
    }
    if (current)
        finish(current);
    return result;
}

} // namespace

bool heap_base::is_start_of_stream() const
{
    return has_control_value(get_items(), CTRL_STREAM_START);
}

bool heap_base::is_end_of_stream() const
{
    return has_control_value(get_items(), CTRL_STREAM_STOP);
}

heap::heap(live_heap &&h) : heap_base(std::move(h), true)
{
}

heap::~heap() = default;

std::vector<descriptor> heap::get_descriptors() const
{
    std::vector<descriptor> out;
    const bug_compat_mask bug_compat = get_flavour().get_bug_compat();
    const bool wide = bug_compat & BUG_COMPAT_DESCRIPTOR_WIDTHS;
    const std::uint8_t variable_flag = (bug_compat & BUG_COMPAT_SHAPE_BIT_1) ? 2 : 1;
    for (const item &it : get_items())
    {
        if (it.id != DESCRIPTOR_ID || it.is_immediate)
            continue;
        std::unique_ptr<heap> h = assemble_descriptor_heap(it.data(), it.length, bug_compat);
        if (!h)
            continue;
        const std::size_t address_bytes = h->get_flavour().get_address_bytes();
        const std::size_t format_entry = 1 + (wide ? 3 : 8 - address_bytes);
        const std::size_t shape_entry = 1 + (wide ? 7 : address_bytes);
        descriptor d;
        bool has_id = false;
        for (const item &field : h->get_items())
        {
            const std::uint8_t *field_data = field.data();
            const char *bytes = reinterpret_cast<const char *>(field_data);
            switch (field.id)
            {
            case DESCRIPTOR_ID_ID:
                if (field.is_immediate)
                {
                    d.id = field.immediate_value;
                    has_id = true;
                }
                break;
            case DESCRIPTOR_NAME_ID:
                d.name.assign(bytes, field.length);
                break;
            case DESCRIPTOR_DESCRIPTION_ID:
                d.description.assign(bytes, field.length);
                break;
            case DESCRIPTOR_FORMAT_ID:
                // A trailing partial entry is ignored.
                for (std::size_t off = 0; off + format_entry <= field.length; off += format_entry)
                    d.format.emplace_back(bytes[off], load_be(field_data + off + 1, format_entry - 1));
                break;
            case DESCRIPTOR_SHAPE_ID:
                for (std::size_t off = 0; off + shape_entry <= field.length; off += shape_entry)
                {
                    if (field_data[off] & variable_flag)
                        d.shape.push_back(-1);
                    else
                        d.shape.push_back(load_be(field_data + off + 1, shape_entry - 1));
                }
                break;
            case DESCRIPTOR_DTYPE_ID:
                d.numpy_header.assign(bytes, field.length);
                break;
            default:
                break;
            }
        }
        if (!has_id || d.id == 0)
            continue;
        if (!d.numpy_header.empty())
        {
            d.format.clear();
            d.shape.clear();
        }
        out.push_back(std::move(d));
    }
    return out;
}

incomplete_heap::incomplete_heap(live_heap &&h, bool keep_payload_ranges)
    : heap_base(std::move(h), false),
    heap_length(h.get_heap_length()), received_length(h.get_received_length())
{
    if (keep_payload_ranges)
        payload_ranges = h.payload_ranges();
}

incomplete_heap::~incomplete_heap() = default;

} // namespace spead2::recv
