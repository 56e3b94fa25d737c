/* The packet encoder: splits a heap into packets exactly as protocol.md §5.4 describes. */
#ifndef SPEAD2_SEND_PACKET_GENERATOR_H
#define SPEAD2_SEND_PACKET_GENERATOR_H

#include <cstddef>
#include <cstdint>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/send_heap.h>

namespace spead2::send
{

/// A contiguous piece of a packet.
struct buffer_piece
{
    const std::uint8_t *ptr;
    std::size_t length;
};

class SPEAD2_API packet_generator
{
private:
    const heap &h;
    item_pointer_t cnt;
    std::size_t max_packet_size;      ///< rounded down to a multiple of 8
    std::size_t max_item_pointers;    ///< heap item pointers per packet
    std::vector<item_pointer_t> pointers;  ///< heap item pointers, incl. the NULL padding one
    std::size_t payload_size;         ///< HEAP_LENGTH: real payload plus padding
    std::size_t real_payload_size;

    /// Heap item pointers in the packet after @a sent have gone out.
    std::size_t pointers_in_packet(std::size_t sent) const;

    std::size_t next_pointer = 0;
    std::size_t payload_offset = 0;
    std::size_t next_item = 0;         ///< item supplying the next payload bytes
    std::size_t next_item_offset = 0;

public:
    /// Throws std::invalid_argument if the packet size is too small (for repeat_pointers too).
    packet_generator(const heap &h, item_pointer_t cnt, std::size_t max_packet_size);

    bool has_next_packet() const { return payload_offset < payload_size; }
    /// Bytes of header and item pointers in the next packet.
    std::size_t next_header_size() const;
    /// Total size of all packets (computed without generating them).
    std::size_t total_size() const;
    std::size_t get_max_packet_size() const { return max_packet_size; }

    /* Emit the next packet: its header and pointers are written to @a scratch (which
     * must hold get_max_packet_size() bytes) and the pieces of the whole packet are
     * appended to @a pieces.  Returns the packet size. */
    std::size_t next_packet(std::uint8_t *scratch, std::vector<buffer_piece> &pieces);
};

/// Round down to a multiple of 8 and check it leaves room for one pointer and 8 bytes.
SPEAD2_API std::size_t checked_packet_size(std::size_t max_packet_size);

} // namespace spead2::send

#endif
