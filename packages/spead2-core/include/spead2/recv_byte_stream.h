/* Framing SPEAD packets out of a byte stream (TCP, pipes): where UDP delivers one
 * packet per datagram, a byte-stream transport must find each packet's end from its
 * header.  Shared by every such transport, and fuzzed on its own (fuzz/). */
#ifndef SPEAD2_RECV_BYTE_STREAM_H
#define SPEAD2_RECV_BYTE_STREAM_H

#include <cstddef>
#include <cstdint>
#include <spead2/common_defines.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Bytes that cannot start a packet are skipped 8 at a time (a header's size) and
 * packets longer than max_size are skipped whole; each counts as a malformed packet.
 * The transport keeps the bytes: feed() consumes what it can and the transport
 * presents the rest again with more bytes after it. */
class SPEAD2_API byte_stream_framer
{
private:
    std::size_t max_size;
    std::size_t skip = 0;   ///< bytes of an oversized packet still to skip

public:
    explicit byte_stream_framer(std::size_t max_size) : max_size(max_size) {}

    /* Add the whole packets in @a data[0, size) to @a state; returns the bytes
     * consumed.  The rest (fewer than max_size bytes, unless the stream stopped) is
     * the start of a packet still incomplete.  Stops early once the stream stops. */
    std::size_t feed(stream::add_packet_state &state, const std::uint8_t *data, std::size_t size);
    /// Bytes a transport should be able to buffer: a packet of max_size and the next one's start.
    std::size_t buffer_size() const { return 2 * max_size; }
    std::size_t get_max_size() const { return max_size; }
};

} // namespace spead2::recv

#endif
