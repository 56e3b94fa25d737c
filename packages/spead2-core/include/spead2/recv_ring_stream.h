/* A stream that hands completed heaps to the user through a ring buffer. */
#ifndef SPEAD2_RECV_RING_STREAM_H
#define SPEAD2_RECV_RING_STREAM_H

#include <memory>
#include <spead2/common_ringbuffer.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

class SPEAD2_API ring_stream_config
{
private:
    std::size_t heaps = 4;
    bool contiguous_only = true;
    bool incomplete_keep_payload_ranges = false;

public:
    static constexpr std::size_t default_heaps = 4;
    ring_stream_config &set_heaps(std::size_t heaps);  ///< throws std::invalid_argument for 0
    std::size_t get_heaps() const { return heaps; }
    ring_stream_config &set_contiguous_only(bool v) { contiguous_only = v; return *this; }
    bool get_contiguous_only() const { return contiguous_only; }
    ring_stream_config &set_incomplete_keep_payload_ranges(bool v)
    {
        incomplete_keep_payload_ranges = v;
        return *this;
    }
    bool get_incomplete_keep_payload_ranges() const { return incomplete_keep_payload_ranges; }
};

class SPEAD2_API ring_stream : public stream
{
public:
    typedef ringbuffer<any_heap> ringbuffer_type;

private:
    ring_stream_config ring_config;
    ringbuffer_type ring;

protected:
    void heap_ready(live_heap &&h) override;
    void stop_received() override;

public:
    ring_stream(std::shared_ptr<thread_pool> pool, const stream_config &config = stream_config(),
                const ring_stream_config &ring_config = ring_stream_config());
    ~ring_stream() override;

    const ring_stream_config &get_ring_config() const { return ring_config; }
    ringbuffer_type &get_ringbuffer() { return ring; }
    /* Stops the ring first, so that a reader blocked on a full ring is released; the
     * heaps that complete or are flushed after that are counted and dropped (freed
     * on the worker, logged at INFO).  Heaps already in the ring stay retrievable. */
    void stop() override;
};

} // namespace spead2::recv

#endif
