#include <algorithm>
#include <stdexcept>
#include <spead2/common_endian.h>
#include <spead2/send_packet_generator.h>

namespace spead2::send
{

/* Header plus the four standard pointers that start every packet. */
static constexpr std::size_t packet_prefix = 8 + 4 * 8;
/* Zero bytes for padding (at most 9 bytes of padding land in any one packet). */
static const std::uint8_t padding_zeros[64] = {};

std::size_t checked_packet_size(std::size_t max_packet_size)
{
    std::size_t size = max_packet_size & ~std::size_t(7);
    // Room for the prefix, one more pointer and 8 bytes of payload.
    if (size < packet_prefix + 16)
        throw std::invalid_argument("packet size is too small");
    return size;
}

packet_generator::packet_generator(const heap &h, item_pointer_t cnt, std::size_t max_packet_size)
    : h(h), cnt(cnt), max_packet_size(checked_packet_size(max_packet_size)),
    max_item_pointers((this->max_packet_size - packet_prefix - 8) / 8)
{
    const flavour &f = h.get_flavour();
    const std::size_t address_bytes = f.get_address_bytes();
    const auto &items = h.get_items();
    pointers.reserve(items.size() + 1);
    std::size_t address = 0;
    for (const item &it : items)
    {
        if (it.is_inline)
            pointers.push_back(f.make_immediate(it.id, it.inline_value));
        else if (it.allow_immediate && it.length <= address_bytes)
            // Raw bytes right-aligned in the field, not reinterpreted (protocol.md §5.2).
            pointers.push_back(f.make_immediate(it.id, load_be(it.ptr, it.length)));
        else
        {
            pointers.push_back(f.make_address(it.id, address));
            address += it.length;
        }
    }
    real_payload_size = address;

    /* Every packet must carry payload so that packets of a heap have distinct offsets:
     * pad when the pointers need more packets than the payload would fill. The +1
     * applies even for an exact multiple, leaving room for the NULL pointer. */
    const std::size_t item_packets = items.size() / max_item_pointers + 1;
    if (h.get_repeat_pointers() && item_packets > 1)
        throw std::invalid_argument("packet size is too small to repeat item pointers");
    const std::size_t min_payload = (item_packets - 1) * 8 + 1;
    payload_size = real_payload_size;
    if (payload_size < min_payload)
    {
        payload_size = min_payload;
        pointers.push_back(f.make_address(NULL_ID, real_payload_size));
    }
    if (payload_size > f.address_mask())
        throw std::invalid_argument("heap is too large for the flavour's heap address bits");
}

std::size_t packet_generator::pointers_in_packet(std::size_t sent) const
{
    return h.get_repeat_pointers() ? pointers.size() : std::min(max_item_pointers, pointers.size() - sent);
}

std::size_t packet_generator::next_header_size() const
{
    return packet_prefix + 8 * pointers_in_packet(next_pointer);
}

std::size_t packet_generator::total_size() const
{
    std::size_t total = 0, offset = 0, sent_pointers = 0;
    while (offset < payload_size)
    {
        std::size_t n = pointers_in_packet(sent_pointers);
        std::size_t len = std::min(payload_size - offset, max_packet_size - packet_prefix - 8 * n);
        total += packet_prefix + 8 * n + len;
        offset += len;
        sent_pointers += n;
    }
    return total;
}

std::size_t packet_generator::next_packet(std::uint8_t *scratch, std::vector<buffer_piece> &pieces)
{
    const flavour &f = h.get_flavour();
    const bool repeat = h.get_repeat_pointers();
    const std::size_t first = repeat ? 0 : next_pointer;
    const std::size_t n = pointers_in_packet(next_pointer);
    const std::size_t header_size = packet_prefix + 8 * n;
    const std::size_t length = std::min(payload_size - payload_offset, max_packet_size - header_size);

    const std::size_t address_bytes = f.get_address_bytes();
    scratch[0] = 0x53;
    scratch[1] = 4;
    scratch[2] = std::uint8_t(8 - address_bytes);
    scratch[3] = std::uint8_t(address_bytes);
    scratch[4] = scratch[5] = 0;
    scratch[6] = std::uint8_t((n + 4) >> 8);
    scratch[7] = std::uint8_t(n + 4);
    store_be64(scratch + 8, f.make_immediate(HEAP_CNT_ID, cnt));
    store_be64(scratch + 16, f.make_immediate(HEAP_LENGTH_ID, payload_size));
    store_be64(scratch + 24, f.make_immediate(PAYLOAD_OFFSET_ID, payload_offset));
    store_be64(scratch + 32, f.make_immediate(PAYLOAD_LENGTH_ID, length));
    for (std::size_t i = 0; i < n; i++)
        store_be64(scratch + packet_prefix + 8 * i, pointers[first + i]);
    pieces.push_back({scratch, header_size});

    /* Real payload first, then padding.  (The reference emits the padding first when
     * one packet holds both, corrupting the data: see docs/differences.rst.) */
    const auto &items = h.get_items();
    std::size_t remaining = length;
    while (remaining > 0 && next_item < items.size())
    {
        const item &it = items[next_item];
        bool addressed = !it.is_inline && !(it.allow_immediate && it.length <= address_bytes);
        if (!addressed || next_item_offset == it.length)
        {
            next_item++;
            next_item_offset = 0;
            continue;
        }
        std::size_t take = std::min(remaining, it.length - next_item_offset);
        pieces.push_back({it.ptr + next_item_offset, take});
        next_item_offset += take;
        remaining -= take;
    }
    while (remaining > 0)
    {
        std::size_t take = std::min(remaining, sizeof(padding_zeros));
        pieces.push_back({padding_zeros, take});
        remaining -= take;
    }

    payload_offset += length;
    if (!repeat)
        next_pointer += n;
    return header_size + length;
}

} // namespace spead2::send
