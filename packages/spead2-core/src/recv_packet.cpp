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
    case packet_status::too_large: return "packet is larger than the reader's max_size";
    }
    return "unknown";
}

namespace
{

/// What the 8-byte header and the item pointers say, before the payload is looked at.
struct header_fields
{
    int address_bytes = 0;
    std::size_t n_items = 0;
    std::size_t header_size = 0;
    s_item_pointer_t heap_cnt = -1, heap_length = -1, payload_offset = -1, payload_length = -1;
};

packet_status decode_header(header_fields &out, const std::uint8_t *data, std::size_t max_size)
{
    if (max_size < 8)
        return packet_status::too_short;
    if (data[0] != 0x53 || data[1] != 4)
        return packet_status::bad_magic;
    const int id_bytes = data[2];
    out.address_bytes = data[3];
    if (id_bytes == 0 || out.address_bytes == 0 || id_bytes + out.address_bytes != 8)
        return packet_status::bad_widths;
    out.n_items = load_be16(data + 6);
    out.header_size = 8 + 8 * out.n_items;
    if (out.header_size > max_size)
        return packet_status::pointers_truncated;

    const pointer_decoder decoder(out.address_bytes * 8);
    const std::uint8_t *pointers = data + 8;
    for (std::size_t i = 0; i < out.n_items; i++)
    {
        item_pointer_t pointer = load_be64(pointers + 8 * i);
        // The special items count only in immediate mode; the last occurrence wins.
        if (!pointer_decoder::is_immediate(pointer))
            continue;
        switch (decoder.get_id(pointer))
        {
        case HEAP_CNT_ID: out.heap_cnt = decoder.get_value(pointer); break;
        case HEAP_LENGTH_ID: out.heap_length = decoder.get_value(pointer); break;
        case PAYLOAD_OFFSET_ID: out.payload_offset = decoder.get_value(pointer); break;
        case PAYLOAD_LENGTH_ID: out.payload_length = decoder.get_value(pointer); break;
        default: break;
        }
    }
    if (out.heap_cnt < 0 || out.payload_offset < 0 || out.payload_length < 0)
        return packet_status::missing_item;
    return packet_status::ok;
}

} // namespace

packet_status decode_packet(packet_header &out, const std::uint8_t *data, std::size_t max_size)
{
    header_fields h;
    packet_status status = decode_header(h, data, max_size);
    if (status != packet_status::ok)
        return status;
    // Values have at most 56 bits, so these sums cannot overflow.
    if (std::size_t(h.payload_length) > max_size - h.header_size)
        return packet_status::payload_truncated;
    if (h.heap_length >= 0 && h.payload_offset + h.payload_length > h.heap_length)
        return packet_status::payload_beyond_heap;

    out.heap_address_bits = h.address_bytes * 8;
    out.n_items = int(h.n_items);
    out.heap_cnt = h.heap_cnt;
    out.heap_length = h.heap_length;
    out.payload_offset = h.payload_offset;
    out.payload_length = h.payload_length;
    out.pointers = data + 8;
    out.payload = data + h.header_size;
    out.total_length = h.header_size + h.payload_length;
    return packet_status::ok;
}

packet_status packet_size(const std::uint8_t *data, std::size_t available, std::size_t &size)
{
    header_fields h;
    packet_status status = decode_header(h, data, available);
    if (status == packet_status::too_short)
        size = 8;
    else if (status == packet_status::pointers_truncated)
        size = h.header_size;
    else if (status == packet_status::ok)
        size = h.header_size + std::size_t(h.payload_length);
    return status;
}

} // namespace spead2::recv
