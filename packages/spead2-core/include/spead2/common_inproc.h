/* An in-process packet queue: the medium of the inproc transport (send::inproc_writer
 * to recv::inproc_reader).  Unbounded and lossless, so a sender may send everything
 * before a receiver exists. */
#ifndef SPEAD2_COMMON_INPROC_H
#define SPEAD2_COMMON_INPROC_H

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2
{

class SPEAD2_API inproc_queue
{
public:
    struct packet
    {
        std::unique_ptr<std::uint8_t[]> data;
        std::size_t size = 0;       ///< bytes of packet
        std::size_t capacity = 0;   ///< bytes allocated at data

        packet() = default;
        /// An uninitialised buffer of @a size bytes.
        explicit packet(std::size_t size);
    };

    /* Called (with the queue's lock held, so it must only post work) once packets are
     * available or the queue has stopped, after a consumer found it empty. */
    typedef std::function<void()> waiter;

    /* Bytes of consumed packet buffers kept for writers to reuse.  Packets are
     * allocated by the sender's thread and freed by the receiver's: recycling them
     * keeps both off the allocator's locks and the memory from being returned to the
     * OS and faulted in again. */
    static constexpr std::size_t max_spare_bytes = std::size_t(4) << 20;

private:
    std::mutex mutex;
    std::deque<packet> packets;
    bool stopped = false;
    std::vector<std::pair<const void *, waiter>> waiters;
    std::vector<packet> spares;
    std::size_t spare_bytes = 0;

    void wake_one();
    void take_spares_locked(std::vector<packet> &out, std::size_t max);

public:
    ~inproc_queue();

    /// Copy a packet in. Throws ringbuffer_stopped after stop().
    void add_packet(const std::uint8_t *data, std::size_t size);
    /// Take ownership of a packet. Throws ringbuffer_stopped after stop().
    void add_packet(packet &&p);
    /* Take ownership of several packets at once: one lock and at most one wake-up
     * for the batch.  Throws ringbuffer_stopped (adding none) after stop().  In the
     * same lock, moves up to @a max_spares recycled buffers into @a spares. */
    void add_packets(std::vector<packet> &&ps, std::vector<packet> &spares, std::size_t max_spares);
    /// Consumers drain what is left, then see the end. Idempotent.
    void stop();

    /* Move up to @a max packets into @a out.  If there are none and the queue is not
     * stopped, register @a wake under @a owner (replacing a previous one) and return
     * false.  Otherwise return true; @a drained tells whether the queue is stopped
     * and now empty. */
    bool pop(std::vector<packet> &out, std::size_t max, const void *owner, waiter wake, bool &drained);
    /* Hand consumed packets back (clearing @a used) so that writers can reuse their
     * buffers, up to max_spare_bytes; the rest are freed. */
    void recycle(std::vector<packet> &used);
    /* Forget @a owner's waiter: after this returns it will not be called.  Returns
     * the number of packets queued at that moment. */
    std::size_t cancel_wait(const void *owner);
};

} // namespace spead2

#endif
