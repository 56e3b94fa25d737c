/* The packet decoder: validates one SPEAD packet (protocol.md §8) and locates its parts. */
#ifndef SPEAD2_RECV_PACKET_H
#define SPEAD2_RECV_PACKET_H

#include <cstddef>
#include <cstdint>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2::recv
{

/// One buffer of a datagram that arrived in several (see stream::add_packet_state).
struct datagram_piece
{
    const std::uint8_t *data;
    std::size_t size;
};

/// Put the bytes of @a n pieces, in order, in @a out (replacing what it held).
inline void gather(const datagram_piece *pieces, std::size_t n, std::vector<std::uint8_t> &out)
{
    out.clear();
    for (std::size_t i = 0; i < n; i++)
        out.insert(out.end(), pieces[i].data, pieces[i].data + pieces[i].size);
}

struct packet_header
{
    int heap_address_bits = 0;
    int n_items = 0;
    s_item_pointer_t heap_cnt = 0;
    s_item_pointer_t heap_length = -1;   ///< -1 when the packet has no HEAP_LENGTH
    s_item_pointer_t payload_offset = 0;
    s_item_pointer_t payload_length = 0;
    const std::uint8_t *pointers = nullptr;  ///< n_items big-endian 64-bit item pointers
    const std::uint8_t *payload = nullptr;
    std::size_t total_length = 0;
    /* A payload in pieces (a datagram delivered in several buffers): @a payload holds
     * its first part, these the rest, in order; payload_length covers them all.  Set
     * only by add_packet_state::add_datagram for streams without a heap placement, so
     * that placements always see a contiguous payload. */
    const datagram_piece *payload_rest = nullptr;
    std::size_t n_payload_rest = 0;
};

enum class packet_status
{
    ok,
    too_short,           ///< fewer than 8 bytes
    bad_magic,           ///< not 0x53 0x04
    bad_widths,          ///< item-ID / address widths are not a SPEAD-64-* split
    pointers_truncated,  ///< item pointers run past the data
    missing_item,        ///< no immediate HEAP_CNT, PAYLOAD_OFFSET or PAYLOAD_LENGTH
    payload_truncated,   ///< payload runs past the data
    payload_beyond_heap, ///< offset + length exceeds HEAP_LENGTH
    size_mismatch,       ///< a datagram's length differs from the packet's (transports check this)
    too_large            ///< larger than the transport's max_size (transports check this)
};

/// Human-readable reason for a rejection, for log messages.
SPEAD2_API const char *packet_status_message(packet_status status);

/* Decode the packet at @a data (at most @a max_size bytes available). Never reads past
 * @a max_size, whatever the bytes. On ok, @a out describes the packet and
 * out.total_length is its size. */
SPEAD2_API packet_status decode_packet(packet_header &out, const std::uint8_t *data, std::size_t max_size);

/* For byte-stream transports (TCP), which must find where each packet ends: the size
 * of the packet at @a data, from its header and item pointers alone.
 * - ok: @a size is the whole packet's size (it may exceed @a available);
 * - too_short / pointers_truncated: more bytes are needed to tell; @a size is how
 *   many are needed at least;
 * - bad_magic / bad_widths / missing_item: these bytes do not start a packet. */
SPEAD2_API packet_status packet_size(const std::uint8_t *data, std::size_t available, std::size_t &size);

} // namespace spead2::recv

#endif
