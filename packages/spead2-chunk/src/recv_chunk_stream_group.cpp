#include <algorithm>
#include <limits>
#include <stdexcept>
#include <spead2/recv_chunk_stream_group.h>

namespace spead2::recv
{

namespace
{

/// The head of a member that will write nothing more.
constexpr std::int64_t finished = std::numeric_limits<std::int64_t>::max();

} // anonymous namespace

chunk_stream_group_config &chunk_stream_group_config::set_max_chunks(std::size_t max_chunks)
{
    if (max_chunks == 0)
        throw std::invalid_argument("max_chunks cannot be 0");
    this->max_chunks = max_chunks;
    return *this;
}

/* ---- members ------------------------------------------------------------- */

chunk_stream_group_member::chunk_stream_group_member(
    chunk_stream_group &group, std::size_t index, std::shared_ptr<thread_pool> pool,
    const stream_config &config, const chunk_stream_config &chunk_config)
    : chunk_stream(std::move(pool), config, chunk_config, static_cast<chunk_manager &>(*this)),
      group(group), index(index)
{
}

chunk_stream_group_member::~chunk_stream_group_member()
{
    stop_member();
}

chunk *chunk_stream_group_member::allocate(std::int64_t chunk_id, std::uint64_t *batch_stats)
{
    return group.allocate_for(*this, chunk_id, batch_stats);
}

void chunk_stream_group_member::ready(chunk *, std::uint64_t *)
{
    // The group owns the chunk; head_updated tells it this member is done with it.
}

void chunk_stream_group_member::head_updated(std::int64_t head, std::uint64_t *batch_stats)
{
    group.member_head_updated(index, head, batch_stats);
}

void chunk_stream_group_member::request_flush_until(std::int64_t chunk_id)
{
    // Posted: the caller holds the group's lock and perhaps another member's stream lock.
    post_locked([this, chunk_id] { flush_chunks_until(chunk_id); });
}

void chunk_stream_group_member::stop_received()
{
    chunk_stream::stop_received();   // the window's chunks go back to the group first
    group.member_stop_received(*this, batch_stats());
}

void chunk_stream_group_member::stop_member()
{
    chunk_stream::stop();
}

void chunk_stream_group_member::stop()
{
    group.stop();
}

/* ---- the group ----------------------------------------------------------- */

chunk_stream_group::chunk_stream_group(const chunk_stream_group_config &config)
    : config(config), slots(config.get_max_chunks())
{
    if (!config.get_allocate() || !config.get_ready())
        throw std::invalid_argument("chunk_stream_group_config.allocate and .ready must be set");
}

chunk_stream_group::~chunk_stream_group()
{
    stop();
    members.clear();
}

void chunk_stream_group::stream_added(chunk_stream_group_member &)
{
}

void chunk_stream_group::stream_stop_received(chunk_stream_group_member &)
{
}

chunk_stream_group_member &chunk_stream_group::emplace_back(
    std::shared_ptr<thread_pool> pool, const stream_config &config, const chunk_stream_config &chunk_config)
{
    std::lock_guard<std::mutex> lock(mutex);
    if (started || stopped)
        throw std::runtime_error("Cannot add a stream after group has started receiving data");
    if (chunk_config.get_max_chunks() > this->config.get_max_chunks())
        throw std::invalid_argument("stream max_chunks must not be larger than group max_chunks");
    members.push_back(std::make_shared<chunk_stream_group_member>(*this, members.size(), std::move(pool), config,
                                                                  chunk_config));
    member_heads.push_back(0);
    stream_added(*members.back());
    return *members.back();
}

std::int64_t chunk_stream_group::min_member_head() const
{
    std::int64_t result = finished;
    for (std::int64_t h : member_heads)
        result = std::min(result, h);
    return result;
}

chunk *chunk_stream_group::allocate_for(chunk_stream_group_member &member, std::int64_t chunk_id,
                                        std::uint64_t *batch_stats)
{
    std::unique_lock<std::mutex> lock(mutex);
    started = true;
    const std::int64_t max_chunks = std::int64_t(slots.size());
    /* Every step re-reads the state: waiting (for another member's allocation, or in
     * LOSSLESS mode for the members to move on) lets other members change it. */
    while (!stopped && chunk_id >= tail)
    {
        if (allocating)
        {
            heads_moved.wait(lock);
            continue;
        }
        const bool jump = chunk_id - tail >= max_chunks;   // the whole window is stale
        if (head < tail && (jump || tail - head == max_chunks))
        {
            if (config.get_eviction_mode() == chunk_stream_group_config::eviction_mode::LOSSLESS
                && min_member_head() <= head)
                heads_moved.wait(lock);
            else
                retire_head(batch_stats);
            continue;
        }
        if (jump)
            head = tail = chunk_id - (max_chunks - 1);
        /* The free ring may block: not with the group's lock, which members need to
         * hand chunks back (and so to make chunks free). */
        const std::int64_t id = tail;
        allocating = true;
        lock.unlock();
        std::unique_ptr<chunk> c = config.get_allocate()(id, batch_stats);
        lock.lock();
        allocating = false;
        heads_moved.notify_all();
        if (c)
        {
            c->chunk_id = id;
            c->stream_id = member.get_config().get_stream_id();
        }
        slots[std::size_t(id) % slots.size()] = std::move(c);
        tail++;
    }
    if (stopped)
        return nullptr;
    if (chunk_id >= head)
        return slots[std::size_t(chunk_id) % slots.size()].get();
    for (const auto &c : retiring)
        if (c->chunk_id == chunk_id)
            return c.get();   // out of the group's window, but this member has not let it go yet
    return nullptr;
}

void chunk_stream_group::retire_head(std::uint64_t *batch_stats)
{
    std::unique_ptr<chunk> c = std::move(slots[std::size_t(head) % slots.size()]);
    head++;
    if (c)
        retiring.push_back(std::move(c));
    if (config.get_eviction_mode() == chunk_stream_group_config::eviction_mode::LOSSY)
        for (std::size_t i = 0; i < members.size(); i++)
            if (member_heads[i] < head && members[i]->flush_requested < head)
            {
                members[i]->flush_requested = head;
                members[i]->request_flush_until(head);
            }
    deliver(batch_stats);
}

void chunk_stream_group::deliver(std::uint64_t *batch_stats)
{
    const std::int64_t done = min_member_head();
    while (!retiring.empty() && retiring.front()->chunk_id < done)
    {
        std::unique_ptr<chunk> c = std::move(retiring.front());
        retiring.pop_front();
        config.get_ready()(std::move(c), batch_stats);
    }
}

void chunk_stream_group::flush_all(std::uint64_t *batch_stats)
{
    while (head < tail)
        retire_head(batch_stats);
    deliver(batch_stats);
}

void chunk_stream_group::member_head_updated(std::size_t index, std::int64_t head, std::uint64_t *batch_stats)
{
    std::lock_guard<std::mutex> lock(mutex);
    member_heads[index] = std::max(member_heads[index], head);
    deliver(batch_stats);
    heads_moved.notify_all();
}

void chunk_stream_group::member_stop_received(chunk_stream_group_member &member, std::uint64_t *batch_stats)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        member_heads[member.index] = finished;
        if (++stopped_members == members.size())
            flush_all(batch_stats);   // nobody will write again: everything can go
        else
            deliver(batch_stats);
        heads_moved.notify_all();
    }
    stream_stop_received(member);
}

void chunk_stream_group::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopped = true;
        heads_moved.notify_all();   // LOSSLESS members waiting for the others give up
    }
    for (const auto &member : members)
        member->stop_member();
    std::lock_guard<std::mutex> lock(mutex);
    flush_all(nullptr);
}

/* ---- on rings ------------------------------------------------------------ */

chunk_stream_ring_group::chunk_stream_ring_group(const chunk_stream_group_config &config,
                                                 std::shared_ptr<chunk_ringbuffer> data_ring,
                                                 std::shared_ptr<chunk_ringbuffer> free_ring)
    : chunk_ring_pair(std::move(data_ring), std::move(free_ring)),
      chunk_stream_group(with_rings(config, this))
{
}

chunk_stream_ring_group::~chunk_stream_ring_group()
{
    stop();
}

void chunk_stream_ring_group::stream_added(chunk_stream_group_member &)
{
    data_ring->add_producer();
}

void chunk_stream_ring_group::stream_stop_received(chunk_stream_group_member &)
{
    data_ring->remove_producer();
}

void chunk_stream_ring_group::stop()
{
    stop_rings();
    chunk_stream_group::stop();
}

} // namespace spead2::recv
