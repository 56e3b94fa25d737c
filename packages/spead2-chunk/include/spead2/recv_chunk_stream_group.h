/* Chunk stream groups: several chunk streams (members, each with its own thread
 * pool, typically one per port or interface) filling the same sequence of chunks,
 * so that one logical stream is received by several threads (spec python-api.md
 * §6.10, §6.11).  The group owns the chunks and keeps its own window; a chunk is
 * ready once every member's window has moved past it. */
#ifndef SPEAD2_RECV_CHUNK_STREAM_GROUP_H
#define SPEAD2_RECV_CHUNK_STREAM_GROUP_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/recv_chunk_ring_stream.h>
#include <spead2/recv_chunk_stream.h>

namespace spead2::recv
{

class SPEAD2_API chunk_stream_group_config
{
public:
    /* What happens when the group's window must move on while a member still holds
     * its oldest chunk.  LOSSY: the member is made to let it go (data for it arriving
     * later is dropped).  LOSSLESS: the member that needs the newer chunk waits until
     * every member is done with the oldest (a member that receives nothing stalls the
     * group). */
    enum class eviction_mode
    {
        LOSSY,
        LOSSLESS
    };

    static constexpr std::size_t default_max_chunks = 2;

private:
    std::size_t max_chunks = default_max_chunks;
    eviction_mode mode = eviction_mode::LOSSY;
    chunk_allocate_function allocate;
    chunk_ready_function ready;

public:
    /// Throws std::invalid_argument for 0.
    chunk_stream_group_config &set_max_chunks(std::size_t max_chunks);
    std::size_t get_max_chunks() const { return max_chunks; }
    chunk_stream_group_config &set_eviction_mode(eviction_mode mode) { this->mode = mode; return *this; }
    eviction_mode get_eviction_mode() const { return mode; }
    /// Where the group's chunks come from and go to (as chunk_stream_config's); called with the group's lock held.
    chunk_stream_group_config &set_allocate(chunk_allocate_function f) { allocate = std::move(f); return *this; }
    const chunk_allocate_function &get_allocate() const { return allocate; }
    chunk_stream_group_config &set_ready(chunk_ready_function f) { ready = std::move(f); return *this; }
    const chunk_ready_function &get_ready() const { return ready; }
};

class chunk_stream_group;

/* A member of a group: a chunk stream whose chunks are the group's.  stop() stops
 * the whole group. */
class SPEAD2_API chunk_stream_group_member : private chunk_manager, public chunk_stream
{
    friend class chunk_stream_group;

private:
    chunk_stream_group &group;
    std::size_t index;   ///< in the group
    /// Highest flush target asked of this member so far (under the group's lock).
    std::int64_t flush_requested = 0;

    chunk *allocate(std::int64_t chunk_id, std::uint64_t *batch_stats) override;
    void ready(chunk *c, std::uint64_t *batch_stats) override;
    void head_updated(std::int64_t head, std::uint64_t *batch_stats) override;

    /// From another member's thread: let go of the chunks below @a chunk_id soon (posted).
    void request_flush_until(std::int64_t chunk_id);
    /// Stop this stream alone (the group stops its members with it).
    void stop_member();

protected:
    void stop_received() override;

public:
    chunk_stream_group_member(chunk_stream_group &group, std::size_t index, std::shared_ptr<thread_pool> pool,
                              const stream_config &config, const chunk_stream_config &chunk_config);
    ~chunk_stream_group_member() override;

    chunk_stream_group &get_group() const { return group; }
    void stop() override;
};

class SPEAD2_API chunk_stream_group
{
    friend class chunk_stream_group_member;

private:
    chunk_stream_group_config config;

    std::mutex mutex;   ///< everything below; taken after a member's stream lock, never before
    std::condition_variable heads_moved;   ///< or an allocation finished, or stopped
    std::vector<std::shared_ptr<chunk_stream_group_member>> members;
    /// Per member: no chunk id below it will be written by that member again.
    std::vector<std::int64_t> member_heads;
    std::size_t stopped_members = 0;
    std::vector<std::unique_ptr<chunk>> slots;   ///< the window: id i in slots[i % size]
    std::int64_t head = 0, tail = 0;
    /// Chunks out of the window that some member may still write (ascending ids).
    std::deque<std::unique_ptr<chunk>> retiring;
    bool started = false;
    bool stopped = false;
    /// A member is taking a chunk from the allocate function (without the lock).
    bool allocating = false;

    std::int64_t min_member_head() const;
    /// Move the window's oldest chunk to retiring; LOSSY: make members that hold it let go.
    void retire_head(std::uint64_t *batch_stats);
    /// Hand over the retiring chunks that no member will write any more, oldest first.
    void deliver(std::uint64_t *batch_stats);
    /// Retire the whole window and deliver what no member holds.
    void flush_all(std::uint64_t *batch_stats);

    chunk *allocate_for(chunk_stream_group_member &member, std::int64_t chunk_id, std::uint64_t *batch_stats);
    void member_head_updated(std::size_t index, std::int64_t head, std::uint64_t *batch_stats);
    void member_stop_received(chunk_stream_group_member &member, std::uint64_t *batch_stats);

protected:
    /// A member was added (e.g. to register it as a producer of a ring).
    virtual void stream_added(chunk_stream_group_member &member);
    /// A member stopped because its data ended, after the group delivered what it could.
    virtual void stream_stop_received(chunk_stream_group_member &member);

public:
    explicit chunk_stream_group(const chunk_stream_group_config &config);
    virtual ~chunk_stream_group();
    chunk_stream_group(const chunk_stream_group &) = delete;
    chunk_stream_group &operator=(const chunk_stream_group &) = delete;

    const chunk_stream_group_config &get_config() const { return config; }

    /* Add a member with its own thread pool.  Throws std::invalid_argument if its
     * window is larger than the group's, std::runtime_error once the group has
     * received data or been stopped. */
    chunk_stream_group_member &emplace_back(std::shared_ptr<thread_pool> pool, const stream_config &config,
                                            const chunk_stream_config &chunk_config);
    std::size_t size() const { return members.size(); }
    chunk_stream_group_member &operator[](std::size_t i) const { return *members[i]; }
    const std::shared_ptr<chunk_stream_group_member> &get_member_ptr(std::size_t i) const { return members[i]; }

    /* Stop every member (each flushing its window), then hand over every chunk the
     * group still holds.  LOSSLESS members waiting for others are released first. */
    virtual void stop();
};

/* A group on a pair of rings, as chunk_ring_stream: every member is a producer of
 * the data ring; stop() stops both rings first. */
class SPEAD2_API chunk_stream_ring_group : public chunk_ring_pair, public chunk_stream_group
{
protected:
    void stream_added(chunk_stream_group_member &member) override;
    void stream_stop_received(chunk_stream_group_member &member) override;

public:
    chunk_stream_ring_group(const chunk_stream_group_config &config, std::shared_ptr<chunk_ringbuffer> data_ring,
                            std::shared_ptr<chunk_ringbuffer> free_ring);
    ~chunk_stream_ring_group() override;

    void stop() override;
};

} // namespace spead2::recv

#endif
