#include <algorithm>
#include <spead2/recv_byte_stream.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

std::size_t byte_stream_framer::feed(stream::add_packet_state &state, const std::uint8_t *data, std::size_t size)
{
    std::size_t used = 0;
    while (!state.is_stopped())
    {
        const std::size_t available = size - used;
        if (skip > 0)
        {
            const std::size_t n = std::min(skip, available);
            used += n;
            skip -= n;
            if (skip > 0)
                break;
            continue;
        }
        std::size_t packet_bytes = 0;
        packet_status status = packet_size(data + used, available, packet_bytes);
        if (status == packet_status::too_short || status == packet_status::pointers_truncated)
        {
            if (packet_bytes <= max_size)
                break;   // wait for more bytes
            status = packet_status::too_large;   // its header alone exceeds max_size
        }
        else if (status == packet_status::ok && packet_bytes > max_size)
        {
            state.add_malformed(packet_status::too_large);
            skip = packet_bytes;
            continue;
        }
        if (status == packet_status::ok)
        {
            if (packet_bytes > available)
                break;
            packet_header packet;
            status = decode_packet(packet, data + used, packet_bytes);
            if (status == packet_status::ok)
                state.add_packet(packet);
            else
                state.add_malformed(status);
            used += packet_bytes;
            continue;
        }
        // Not the start of a packet (so at least 8 bytes): skip those that looked like a header.
        state.add_malformed(status);
        used += 8;
    }
    return used;
}

} // namespace spead2::recv
