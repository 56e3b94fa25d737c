/* Chunk streams fed and drained by ring buffers: empty chunks are taken from a free
 * ring, finished chunks are pushed to a data ring, and the user recycles chunks from
 * one to the other (spec python-api.md §6.8, §6.9). */
#ifndef SPEAD2_RECV_CHUNK_RING_STREAM_H
#define SPEAD2_RECV_CHUNK_RING_STREAM_H

#include <cstdint>
#include <memory>
#include <spead2/common_defines.h>
#include <spead2/common_ringbuffer.h>
#include <spead2/recv_chunk_stream.h>

namespace spead2::recv
{

typedef ringbuffer<std::unique_ptr<chunk>> chunk_ringbuffer;

/* The two rings of a chunk stream or group.  Several streams may share them: each
 * registers as a producer of the data ring, which stops when the last one is done. */
class SPEAD2_API chunk_ring_pair
{
protected:
    std::shared_ptr<chunk_ringbuffer> data_ring, free_ring;

    /// A chunk from the free ring, waiting for one; null once the ring is stopped and drained.
    std::unique_ptr<chunk> take_free_chunk();
    /* Push a finished chunk to the data ring, waiting for space; if the ring has been
     * stopped the chunk is dropped (destroyed here) and that is logged. */
    void push_ready_chunk(std::unique_ptr<chunk> &&c);
    /// Stop both rings (first thing in stop(): nothing then stays blocked on them).
    void stop_rings();

    /* @a config (a chunk_stream_config or chunk_stream_group_config) with allocate
     * and ready on @a self's rings.  Static, to be called while @a self's derived part
     * is still being constructed: the functions only run once it is. */
    template<typename Config>
    static Config with_rings(Config config, chunk_ring_pair *self)
    {
        config.set_allocate([self](std::int64_t, std::uint64_t *) { return self->take_free_chunk(); });
        config.set_ready([self](std::unique_ptr<chunk> &&c, std::uint64_t *) { self->push_ready_chunk(std::move(c)); });
        return config;
    }

public:
    chunk_ring_pair(std::shared_ptr<chunk_ringbuffer> data_ring, std::shared_ptr<chunk_ringbuffer> free_ring);
    virtual ~chunk_ring_pair();

    /* Zero @a c's presence flags and put it in the free ring without waiting.  Throws
     * ringbuffer_full if the ring is full (@a c is left with the caller); if the ring
     * has been stopped, @a c is dropped and no exception is thrown. */
    void add_free_chunk(std::unique_ptr<chunk> &&c);

    const std::shared_ptr<chunk_ringbuffer> &get_data_ringbuffer() const { return data_ring; }
    const std::shared_ptr<chunk_ringbuffer> &get_free_ringbuffer() const { return free_ring; }
};

/* A chunk stream on a pair of rings.  A network stop (stop item, end of a lossless
 * reader) flushes the window to the data ring and then removes this stream as its
 * producer; stop() instead stops both rings first, so that nothing stays blocked on
 * them, and drops the chunks that can then no longer be delivered. */
class SPEAD2_API chunk_ring_stream : public chunk_ring_pair, public chunk_stream
{
protected:
    void stop_received() override;

public:
    chunk_ring_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                      const chunk_stream_config &chunk_config, std::shared_ptr<chunk_ringbuffer> data_ring,
                      std::shared_ptr<chunk_ringbuffer> free_ring);
    ~chunk_ring_stream() override;

    void stop() override;
};

} // namespace spead2::recv

#endif
