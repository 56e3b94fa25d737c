/* Heap placement: a stream that stores heap payloads in memory it manages itself
 * (large user buffers shared by many heaps, device memory, ...) instead of one
 * allocation per heap.  A stream subclass installs a policy with
 * stream::set_heap_placement(); the policy decides where each heap goes from the
 * heap's first packet, copies every packet's payload itself, and the subclass's
 * heap_ready() reads the decision back from the finished heap (live_heap::get_place). */
#ifndef SPEAD2_RECV_HEAP_PLACEMENT_H
#define SPEAD2_RECV_HEAP_PLACEMENT_H

#include <cstddef>
#include <cstdint>
#include <spead2/common_defines.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

/// Where one heap's payload is stored.
struct heap_place
{
    /* Byte 0 of the payload; the packet at payload offset k is copied to data + k.
     * Null: the heap has no storage.  It is still assembled (so that its later
     * packets are neither stored, nor rejected, nor counted again) and reaches
     * heap_ready like any other, but no payload byte is copied: a policy that
     * refuses a heap counts it once, in place(). */
    std::uint8_t *data = nullptr;
    /// Opaque to the core: for the policy and the stream (e.g. which buffer, which slot).
    std::uint64_t tokens[2] = {0, 0};
};

class SPEAD2_API heap_placement
{
public:
    virtual ~heap_placement();

    /* The first packet to arrive of a new heap: @a packet has its header, its item
     * pointers and its payload.  @a batch_stats is the statistics array of the batch
     * being processed (indexed like stream_stats; counters are added to the stream's
     * totals when the batch ends).  Runs on a reader's thread with the stream's lock
     * held: it must not block for long, and must not call back into the stream. */
    virtual heap_place place(const packet_header &packet, std::uint64_t *batch_stats) = 0;

    /* Copy @a packet's payload to @a dst (place.data + its payload offset): a packet
     * at a time, so that a policy can note which packets arrived.  Not called for a
     * heap without storage.  The default is a plain memcpy. */
    virtual void copy(std::uint8_t *dst, const packet_header &packet, const heap_place &place);
};

} // namespace spead2::recv

#endif
