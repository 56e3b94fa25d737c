/* The chunking receiver: heap payloads written straight into large user buffers
 * ("chunks"), placed by a user callback from each heap's first packet, handed over a
 * chunk at a time with a presence mask (spec python-api.md §6).  Built on the core's
 * heap_placement extension point only. */
#ifndef SPEAD2_RECV_CHUNK_STREAM_H
#define SPEAD2_RECV_CHUNK_STREAM_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/recv_heap_placement.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* What a place callback sees and returns, one heap at a time.  The layout is an ABI
 * (numba and C callbacks are compiled against it): fields are only ever appended. */
struct chunk_place_data
{
    const std::uint8_t *packet;   ///< in: the heap's first packet, whole
    std::size_t packet_size;      ///< in
    std::int64_t *items;          ///< in: one value per configured item ID, -1 if absent
    std::int64_t chunk_id;        ///< out: preset to -1 (a negative id rejects the heap)
    std::size_t heap_index;       ///< out: index into the chunk's presence array
    std::size_t heap_offset;      ///< out: byte offset of the payload in the chunk's data
    std::uint64_t *batch_stats;   ///< in: the batch's statistics
    std::uint8_t *extra;          ///< in: scratch of max_heap_extra bytes (null if 0)
    std::size_t extra_offset;     ///< out: where in the chunk's extra to copy the scratch
    std::size_t extra_size;       ///< out: how many scratch bytes to copy (0: none)
};

typedef std::function<void(chunk_place_data *data, std::size_t data_size)> chunk_place_function;

/* A chunk: buffers the stream writes into, and the id it was assigned.  The buffers
 * belong to whoever made the chunk (e.g. numpy arrays held by the Python object); a
 * subclass keeps them alive. */
class SPEAD2_API chunk
{
public:
    std::int64_t chunk_id = -1;
    std::uint64_t stream_id = 0;
    std::uint8_t *present = nullptr;
    std::size_t present_size = 0;
    std::uint8_t *data = nullptr;
    std::size_t data_size = 0;
    std::uint8_t *extra = nullptr;
    std::size_t extra_size = 0;

    virtual ~chunk();
};

/* Where a stream's chunks come from and go to, for chunk_stream_config: allocate may
 * block (a free ring) and returns null when no chunk can be had (the ring was
 * stopped): heaps for that chunk are dropped.  ready may block (a full data ring).
 * Both run with the stream's lock held. */
typedef std::function<std::unique_ptr<chunk>(std::int64_t chunk_id, std::uint64_t *batch_stats)> chunk_allocate_function;
typedef std::function<void(std::unique_ptr<chunk> &&c, std::uint64_t *batch_stats)> chunk_ready_function;

class SPEAD2_API chunk_stream_config
{
private:
    std::vector<item_pointer_t> items;
    std::size_t max_chunks = default_max_chunks;
    chunk_place_function place;
    std::size_t max_heap_extra = 0;
    std::size_t packet_presence_payload_size = 0;
    chunk_allocate_function allocate;
    chunk_ready_function ready;

public:
    static constexpr std::size_t default_max_chunks = 2;

    chunk_stream_config &set_items(const std::vector<item_pointer_t> &items) { this->items = items; return *this; }
    const std::vector<item_pointer_t> &get_items() const { return items; }
    /// Throws std::invalid_argument for 0.
    chunk_stream_config &set_max_chunks(std::size_t max_chunks);
    std::size_t get_max_chunks() const { return max_chunks; }
    chunk_stream_config &set_place(chunk_place_function place) { this->place = std::move(place); return *this; }
    const chunk_place_function &get_place() const { return place; }
    chunk_stream_config &set_max_heap_extra(std::size_t size) { max_heap_extra = size; return *this; }
    std::size_t get_max_heap_extra() const { return max_heap_extra; }
    /// Mark packets, not heaps, as present; throws std::invalid_argument for 0.
    chunk_stream_config &enable_packet_presence(std::size_t payload_size);
    chunk_stream_config &disable_packet_presence() { packet_presence_payload_size = 0; return *this; }
    std::size_t get_packet_presence_payload_size() const { return packet_presence_payload_size; }
    chunk_stream_config &set_allocate(chunk_allocate_function f) { allocate = std::move(f); return *this; }
    const chunk_allocate_function &get_allocate() const { return allocate; }
    chunk_stream_config &set_ready(chunk_ready_function f) { ready = std::move(f); return *this; }
    const chunk_ready_function &get_ready() const { return ready; }
};

/* Who owns the chunks of a window: gives them out and takes them back.  A stream
 * fed by functions (chunk_stream_config's allocate and ready) owns its chunks alone;
 * streams of a group share chunks that the group owns.  Called with the stream's
 * lock held, from the thread processing a batch (or stopping the stream). */
class SPEAD2_API chunk_manager
{
public:
    virtual ~chunk_manager();
    /* A chunk for @a chunk_id, its chunk_id and stream_id set, or null if none can be
     * had (heaps for it are dropped).  May block. */
    virtual chunk *allocate(std::int64_t chunk_id, std::uint64_t *batch_stats) = 0;
    /// @a c has left the window, oldest first: the stream will not touch it again. May block.
    virtual void ready(chunk *c, std::uint64_t *batch_stats) = 0;
    /// The window's head moved to @a head: no chunk id below it will be asked for or written.
    virtual void head_updated(std::int64_t head, std::uint64_t *batch_stats);
};

/* The sliding window of chunks under construction: ids head..tail-1, at most
 * max_chunks of them.  A chunk leaving the window (oldest first) is ready. */
class SPEAD2_API chunk_window
{
private:
    std::vector<chunk *> slots;   ///< chunk id i lives in slots[i % size]; null if none was had
    std::int64_t head = 0, tail = 0;

    void retire_head(chunk_manager &manager, std::uint64_t *batch_stats);

public:
    explicit chunk_window(std::size_t max_chunks);

    std::int64_t get_head() const { return head; }
    std::int64_t get_tail() const { return tail; }

    /* The chunk for @a chunk_id, allocating (and back-filling the ids below it) and
     * retiring the oldest as needed; null if the id is behind the window or no chunk
     * could be allocated for it. */
    chunk *get(std::int64_t chunk_id, chunk_manager &manager, std::uint64_t *batch_stats);
    /// The chunk for @a chunk_id if it is still in the window (never allocates).
    chunk *find(std::int64_t chunk_id) const;
    /// Retire every chunk with an id below @a chunk_id, oldest first; the head moves there at least.
    void flush_until(std::int64_t chunk_id, chunk_manager &manager, std::uint64_t *batch_stats);
    /// Retire every chunk in the window, oldest first.
    void flush(chunk_manager &manager, std::uint64_t *batch_stats) { flush_until(tail, manager, batch_stats); }
};

/* A receive stream whose heaps are placed into chunks.  Adds the statistics
 * too_old_heaps and rejected_heaps (after the user's custom ones) and forces
 * allow_unsized_heaps off: a heap must know its length to be placed.  Payloads are
 * copied into chunks with the memcpy function of the config passed in; the
 * effective config (get_config) names a function of its own instead. */
class SPEAD2_API chunk_stream : public stream, private heap_placement
{
private:
    /// The manager of a stream fed by chunk_stream_config's allocate and ready functions.
    class function_manager : public chunk_manager
    {
    private:
        chunk_allocate_function allocate_function;
        chunk_ready_function ready_function;
        std::uint64_t stream_id;

    public:
        function_manager(chunk_allocate_function allocate, chunk_ready_function ready, std::uint64_t stream_id);
        chunk *allocate(std::int64_t chunk_id, std::uint64_t *batch_stats) override;
        void ready(chunk *c, std::uint64_t *batch_stats) override;
    };

    chunk_stream_config chunk_config;
    std::unique_ptr<function_manager> own_manager;
    chunk_manager &manager;
    chunk_window window;
    std::size_t too_old_heaps_index, rejected_heaps_index;
    memcpy_function user_memcpy;   ///< from the config passed in (e.g. non-temporal for big chunks)
    std::vector<std::int64_t> item_values;
    std::vector<std::uint8_t> extra_scratch;

    heap_place place(const packet_header &packet, std::uint64_t *batch_stats) override;
    void copy(std::uint8_t *dst, const packet_header &packet, const heap_place &place) override;
    void count(std::size_t index, std::uint64_t *batch_stats);
    /// Why the callback's placement does not fit in @a c, or null if it does.
    const char *misplaced(const chunk_place_data &data, const chunk &c, std::int64_t heap_length) const;
    bool warned_misplaced = false;

    /// Exactly one of @a own_manager and @a manager is given.
    chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                 const chunk_stream_config &chunk_config, std::unique_ptr<function_manager> own_manager,
                 chunk_manager *manager);

protected:
    /* For subclasses whose chunks come from elsewhere (a group): @a manager must
     * outlive the stream; chunk_config's allocate and ready are ignored. */
    chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                 const chunk_stream_config &chunk_config, chunk_manager &manager);

    void heap_ready(live_heap &&h) override;
    void stop_received() override;
    /* Retire the chunks below @a chunk_id (call with the stream's lock held, e.g. from
     * post_locked): for an owner that needs its chunks back before this stream's
     * data would retire them. */
    void flush_chunks_until(std::int64_t chunk_id);

public:
    /// Chunks come from chunk_config's allocate and go to its ready (both required).
    chunk_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                 const chunk_stream_config &chunk_config);
    ~chunk_stream() override;

    const chunk_stream_config &get_chunk_config() const { return chunk_config; }
    std::size_t get_too_old_heaps_index() const { return too_old_heaps_index; }
    std::size_t get_rejected_heaps_index() const { return rejected_heaps_index; }
};

} // namespace spead2::recv

#endif
