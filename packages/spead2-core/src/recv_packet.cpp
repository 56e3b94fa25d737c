#include <spead2/common_endian.h>
#include <spead2/common_flavour.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

const char *packet_status_message(packet_status status)
{
    switch (status)
    {
    case packet_status::ok: return "ok";
    case packet_status::too_short: return "packet is shorter than a header";
    case packet_status::bad_magic: return "bad magic or version";
    case packet_status::bad_widths: return "item pointer widths are not SPEAD-64-*";
    case packet_status::pointers_truncated: return "item pointers extend past the end of the packet";
    case packet_status::missing_item: return "missing HEAP_CNT, PAYLOAD_OFFSET or PAYLOAD_LENGTH";
    case packet_status::payload_truncated: return "payload extends past the end of the packet";
    case packet_status::payload_beyond_heap: return "payload extends past HEAP_LENGTH";
    case packet_status::size_mismatch: return "datagram size does not match the packet size";
    }
    return "unknown";
}

packet_status decode_packet(packet_header &out, const std::uint8_t *data, std::size_t max_size)
{
    if (max_size < 8)
        return packet_status::too_short;
    if (data[0] != 0x53 || data[1] != 4)
        return packet_status::bad_magic;
    const int id_bytes = data[2];
    const int address_bytes = data[3];
    if (id_bytes == 0 || address_bytes == 0 || id_bytes + address_bytes != 8)
        return packet_status::bad_widths;
    const std::size_t n_items = load_be16(data + 6);
    const std::size_t header_size = 8 + 8 * n_items;
    if (header_size > max_size)
        return packet_status::pointers_truncated;

    const pointer_decoder decoder(address_bytes * 8);
    s_item_pointer_t heap_cnt = -1, heap_length = -1, payload_offset = -1, payload_length = -1;
    const std::uint8_t *pointers = data + 8;
    for (std::size_t i = 0; i < n_items; i++)
    {
        item_pointer_t pointer = load_be64(pointers + 8 * i);
        // The special items count only in immediate mode; the last occurrence wins.
        if (!pointer_decoder::is_immediate(pointer))
            continue;
        switch (decoder.get_id(pointer))
        {
        case HEAP_CNT_ID: heap_cnt = decoder.get_value(pointer); break;
        case HEAP_LENGTH_ID: heap_length = decoder.get_value(pointer); break;
        case PAYLOAD_OFFSET_ID: payload_offset = decoder.get_value(pointer); break;
        case PAYLOAD_LENGTH_ID: payload_length = decoder.get_value(pointer); break;
        default: break;
        }
    }
    if (heap_cnt < 0 || payload_offset < 0 || payload_length < 0)
        return packet_status::missing_item;
    // Values have at most 56 bits, so these sums cannot overflow.
    if (std::size_t(payload_length) > max_size - header_size)
        return packet_status::payload_truncated;
    if (heap_length >= 0 && payload_offset + payload_length > heap_length)
        return packet_status::payload_beyond_heap;

    out.heap_address_bits = address_bytes * 8;
    out.n_items = int(n_items);
    out.heap_cnt = heap_cnt;
    out.heap_length = heap_length;
    out.payload_offset = payload_offset;
    out.payload_length = payload_length;
    out.pointers = pointers;
    out.payload = data + header_size;
    out.total_length = header_size + payload_length;
    return packet_status::ok;
}

} // namespace spead2::recv
