/* Receive streams: configuration, statistics, heap assembly from packets, and the
 * reader interface that receive transports implement. */
#ifndef SPEAD2_RECV_STREAM_H
#define SPEAD2_RECV_STREAM_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_heap_placement.h>
#include <spead2/recv_live_heap.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

class stream;

class SPEAD2_API stream_stat_config
{
public:
    enum class mode
    {
        COUNTER = 0,
        MAXIMUM = 1
    };

private:
    std::string name;
    mode stat_mode;

public:
    explicit stream_stat_config(std::string name, mode m = mode::COUNTER);
    const std::string &get_name() const { return name; }
    mode get_mode() const { return stat_mode; }
    std::uint64_t combine(std::uint64_t a, std::uint64_t b) const;
    bool operator==(const stream_stat_config &other) const;
    bool operator!=(const stream_stat_config &other) const { return !(*this == other); }
};

namespace stream_stat_indices
{
static constexpr std::size_t HEAPS = 0;
static constexpr std::size_t INCOMPLETE_HEAPS_EVICTED = 1;
static constexpr std::size_t INCOMPLETE_HEAPS_FLUSHED = 2;
static constexpr std::size_t PACKETS = 3;
static constexpr std::size_t BATCHES = 4;
static constexpr std::size_t MAX_BATCH = 5;
static constexpr std::size_t SINGLE_PACKET_HEAPS = 6;
static constexpr std::size_t SEARCH_DIST = 7;
static constexpr std::size_t WORKER_BLOCKED = 8;
static constexpr std::size_t CUSTOM_STATS = 9;
} // namespace stream_stat_indices

/* Where statistics go (one rule for every stream type).  A stream's statistics are
 * laid out in two parts:
 *
 * 1. The spead2 4.x layout that users index into: the core statistics
 *    (stream_stat_indices), then the user's custom ones (stream_config::add_stat),
 *    then those a stream type defines the way 4.x does (chunk streams append theirs
 *    to the config they were given).  stream_stats::size(), get_config() and the
 *    indices cover exactly this part, so they match 4.x.
 * 2. Extension statistics: counts this implementation keeps beyond 4.x
 *    (stream_config::add_extension_stat; those of a transport, for every stream:
 *    register_transport_stat).  They come after part 1, are found by
 *    name (index_of) and are not part of size() or get_config(); a user statistic of
 *    the same name takes precedence in name lookups.
 *
 * Every receive stream has the extension statistics below, so that no dropped
 * packet goes uncounted. */
namespace stream_extension_stats
{
static constexpr const char *MALFORMED_PACKETS = "malformed_packets";  ///< failed packet decoding
static constexpr const char *REJECTED_PACKETS = "rejected_packets";    ///< refused by heap assembly
/// Lost by the transport before the stream saw them (e.g. a UDP socket's full receive buffer).
static constexpr const char *TRANSPORT_DROPPED_PACKETS = "transport_dropped_packets";
} // namespace stream_extension_stats

typedef std::vector<stream_stat_config> stream_stat_list;

/* Declare an extension statistic that every receive stream constructed afterwards
 * has (0 until something counts it), for counts a transport keeps beyond
 * stream_extension_stats: a plugin declares its own once, when it loads, and its
 * readers find them with get_config().get_stat_index(name).  Declaring a name
 * again is harmless; with another mode it throws std::invalid_argument.  Streams
 * that already exist are unchanged. */
SPEAD2_API void register_transport_stat(const std::string &name,
                                        stream_stat_config::mode mode = stream_stat_config::mode::COUNTER);

/// A snapshot of a stream's statistics (both parts, see stream_extension_stats).
class SPEAD2_API stream_stats
{
private:
    std::shared_ptr<const stream_stat_list> config;       ///< the 4.x layout
    std::shared_ptr<const stream_stat_list> extensions;
    std::vector<std::uint64_t> values;                    ///< config, then extensions

public:
    stream_stats(std::shared_ptr<const stream_stat_list> config, std::shared_ptr<const stream_stat_list> extensions,
                 std::vector<std::uint64_t> values);
    /// The 4.x layout (core, custom, stream type's); extension statistics are not in it.
    const stream_stat_list &get_config() const { return *config; }
    /// Size of the 4.x layout; extension statistics follow at indices size() and up.
    std::size_t size() const { return config->size(); }
    std::uint64_t &operator[](std::size_t index) { return values[index]; }
    std::uint64_t operator[](std::size_t index) const { return values[index]; }
    /// Index of a statistic in either part (the 4.x layout first); throws std::out_of_range.
    std::size_t index_of(const std::string &name) const;
    /// Element-wise combine; throws std::invalid_argument if the configs differ.
    stream_stats &operator+=(const stream_stats &other);
};

class SPEAD2_API stream_config
{
private:
    std::size_t max_heaps = 4;
    std::size_t substreams = 1;
    bug_compat_mask bug_compat = 0;
    memcpy_function memcpy;
    std::shared_ptr<memory_allocator> allocator;
    bool stop_on_stop_item = true;
    bool allow_unsized_heaps = true;
    bool allow_out_of_order = false;
    std::uint64_t stream_id = 0;
    bool explicit_start = false;
    std::shared_ptr<stream_stat_list> stats;
    std::shared_ptr<stream_stat_list> extension_stats;

public:
    static constexpr std::size_t default_max_heaps = 4;

    stream_config();

    /// The setters validate and throw std::invalid_argument.
    stream_config &set_max_heaps(std::size_t max_heaps);
    std::size_t get_max_heaps() const { return max_heaps; }
    stream_config &set_substreams(std::size_t substreams);
    std::size_t get_substreams() const { return substreams; }
    stream_config &set_bug_compat(bug_compat_mask bug_compat);
    bug_compat_mask get_bug_compat() const { return bug_compat; }
    stream_config &set_memcpy(memcpy_function_id id);
    stream_config &set_memcpy(memcpy_function f);
    memcpy_function get_memcpy() const { return memcpy; }
    stream_config &set_memory_allocator(std::shared_ptr<memory_allocator> allocator);
    const std::shared_ptr<memory_allocator> &get_memory_allocator() const { return allocator; }
    stream_config &set_stop_on_stop_item(bool v) { stop_on_stop_item = v; return *this; }
    bool get_stop_on_stop_item() const { return stop_on_stop_item; }
    stream_config &set_allow_unsized_heaps(bool v) { allow_unsized_heaps = v; return *this; }
    bool get_allow_unsized_heaps() const { return allow_unsized_heaps; }
    stream_config &set_allow_out_of_order(bool v) { allow_out_of_order = v; return *this; }
    bool get_allow_out_of_order() const { return allow_out_of_order; }
    stream_config &set_stream_id(std::uint64_t v) { stream_id = v; return *this; }
    std::uint64_t get_stream_id() const { return stream_id; }
    stream_config &set_explicit_start(bool v) { explicit_start = v; return *this; }
    bool get_explicit_start() const { return explicit_start; }

    /// The 4.x layout: core statistics, then custom ones.
    const stream_stat_list &get_stats() const { return *stats; }
    const stream_stat_list &get_extension_stats() const { return *extension_stats; }
    /// Register a statistic in the 4.x layout; throws std::invalid_argument if the name exists there.
    std::size_t add_stat(const std::string &name,
                         stream_stat_config::mode mode = stream_stat_config::mode::COUNTER);
    /* Register an extension statistic (see stream_extension_stats), or find the one
     * already registered under that name (throws std::invalid_argument if its mode
     * differs).  Returns its index, valid until the 4.x layout grows. */
    std::size_t add_extension_stat(const std::string &name,
                                   stream_stat_config::mode mode = stream_stat_config::mode::COUNTER);
    /// Index of a statistic in either part (the 4.x layout first); throws std::out_of_range.
    std::size_t get_stat_index(const std::string &name) const;
    std::size_t next_stat_index() const { return stats->size(); }
};

/* The receive transport interface.  A reader feeds packets to its stream through
 * stream::add_packet_state, running its work on the stream's thread pool via post()
 * so that stream::stop() can wait for that work to drain. */
class SPEAD2_API reader
{
private:
    stream &owner;

protected:
    stream &get_stream() const { return owner; }
    thread_pool &get_thread_pool() const;
    /* Run @a task on the thread pool, tracked so that stream::stop() waits for it.
     * The task must return promptly once the stream is stopped. */
    void post(std::function<void()> task);

public:
    explicit reader(stream &owner);
    virtual ~reader();

    /// Begin receiving (called once: when added, or at stream::start with explicit_start).
    virtual void start() = 0;
    /* Called once, when stop() is requested, before the stream stops, from any
     * thread.  Stop taking new data and let posted work finish: cancel waits for
     * I/O; a lossy reader drops what it has not read yet; a lossless one finishes
     * the data it already holds (a buffer, packets already queued), whose heaps are
     * then counted and dropped, because a stopping stream no longer delivers. */
    virtual void stop();
    /// True if the transport can lose packets (then it never stops the stream itself).
    virtual bool lossy() const = 0;
};

/* A receive stream: assembles heaps from the packets its readers deliver and hands
 * them to heap_ready().  Subclasses decide what happens to heaps (e.g. ring_stream). */
class SPEAD2_API stream
{
    friend class reader;

private:
    std::shared_ptr<thread_pool> pool;
    stream_config config;
    std::shared_ptr<const stream_stat_list> stats_config, extension_stats_config;
    std::size_t malformed_packets_index, rejected_packets_index, transport_dropped_index;

    /// Protects the live heaps and the stopped flag; held by a reader for a whole batch.
    std::mutex queue_mutex;
    std::vector<std::unique_ptr<live_heap>> heap_slots;  ///< max_heaps per substream
    std::vector<std::size_t> next_slot;                  ///< per substream
    std::atomic<bool> stopped{false};
    /// Set by stop(): no more readers are added.
    std::atomic<bool> stop_requested{false};

    mutable std::mutex stats_mutex;
    std::vector<std::uint64_t> stats;

    std::mutex readers_mutex;
    std::vector<std::unique_ptr<reader>> readers;
    bool started = false;
    bool readers_stopped = false;
    /// Some reader can lose packets: blocking it on a full ring deserves a warning.
    std::atomic<bool> lossy{false};

    std::mutex outstanding_mutex;
    std::condition_variable outstanding_cond;
    std::size_t outstanding = 0;

    heap_placement *placement = nullptr;
    /// The statistics of the batch being processed, while one is (under queue_mutex).
    std::uint64_t *active_batch_stats = nullptr;

    const stream_stat_config &stat_config(std::size_t index) const;
    void flush_live_heaps();
    void evict(std::unique_ptr<live_heap> &slot);
    void task_done();
    /// Run @a task on the thread pool, counted in outstanding so that stop() waits for it.
    void post_tracked(std::function<void()> task);

protected:
    /// Called with queue_mutex held for every heap that leaves the stream's assembly.
    virtual void heap_ready(live_heap &&h) = 0;
    /* The stream has stopped (stop item, end of a lossless reader or stop()): flush live
     * heaps.  Called once, with queue_mutex held; overrides must call the base. */
    virtual void stop_received();
    bool has_lossy_reader() const { return lossy; }
    /* Store heap payloads through @a placement (see recv_heap_placement.h), which the
     * subclass owns and keeps alive until the stream has stopped.  Call it in the
     * subclass's constructor, before any reader is added. */
    void set_heap_placement(heap_placement &placement) { this->placement = &placement; }
    /* In heap_ready(): the statistics of the reader's batch that finished the heap
     * (counters are added to the totals when the batch ends), or null when no batch
     * is being processed (heaps flushed by stop()): then use add_stat. */
    std::uint64_t *batch_stats() const { return active_batch_stats; }
    /* Run @a task on the thread pool as if it were a batch of packets: with the
     * stream's lock held and batch_stats() set (its counters are added to the totals
     * afterwards), and tracked so that stop() waits for it.  Skipped if the stream
     * has stopped by the time it runs.  For work a subclass must do under the lock
     * without a packet to trigger it, e.g. retiring buffers when asked from another
     * thread that must not wait for this stream's lock. */
    void post_locked(std::function<void()> task);

public:
    /* A batch of packets from one reader: holds the stream lock for its lifetime and
     * folds the batch's statistics into the stream's when destroyed. */
    class SPEAD2_API add_packet_state
    {
    private:
        stream &owner;
        std::unique_lock<std::mutex> lock;
        std::vector<std::uint64_t> batch_stats;
        std::vector<std::uint8_t> gathered;   ///< a datagram in pieces, when it must be contiguous

        void fold_stats();

    public:
        explicit add_packet_state(stream &owner);
        ~add_packet_state();
        add_packet_state(const add_packet_state &) = delete;
        add_packet_state &operator=(const add_packet_state &) = delete;

        /* True once the stream has stopped (stop item, end of a lossless reader, or
         * the end of stop()): the reader should return.  While stop() waits for
         * readers to finish, this is still false (see reader::stop). */
        bool is_stopped() const { return owner.stopped; }
        /// Feed one decoded packet. Returns false if it was rejected.
        bool add_packet(const packet_header &packet);
        /* Decode and feed a packet that fills a whole datagram (or queue entry) of
         * @a size bytes; one that does not decode, or whose size differs, is counted
         * as malformed.  Returns true if the packet was decoded and accepted. */
        bool add_datagram(const std::uint8_t *data, std::size_t size);
        /* The same for a datagram that arrived in @a n pieces, in order (kernel-bypass
         * transports receive a jumbo frame in several buffers).  Its payload is copied
         * from the pieces straight into the heap, without gathering the datagram
         * first, when the header and item pointers lie in the first piece and the
         * stream has no heap placement; otherwise it is gathered (placements and
         * allocators see a contiguous packet). */
        bool add_datagram(const datagram_piece *pieces, std::size_t n);
        /// Count (and log) a packet that failed decoding.
        void add_malformed(packet_status status);
        /// Count packets the transport reports it lost (its own drop counter's increase).
        void add_transport_dropped(std::uint64_t packets);
        /// The transport has no more data: stop the stream as a stop item would.
        void stop();
        std::uint64_t &stat(std::size_t index) { return batch_stats[index]; }
    };

    stream(std::shared_ptr<thread_pool> pool, const stream_config &config);
    virtual ~stream();
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;

    const stream_config &get_config() const { return config; }
    thread_pool &get_thread_pool() const { return *pool; }
    const std::shared_ptr<thread_pool> &get_thread_pool_ptr() const { return pool; }
    stream_stats get_stats() const;
    /* Add @a value to statistic @a index (as its mode combines) outside any batch:
     * for counts made when no packet is being processed, by a subclass, a reader
     * being set up, or a plugin's own code.  Thread-safe. */
    void add_stat(std::size_t index, std::uint64_t value);

    /* Construct a reader in place.  Ignored once the stream has stopped; throws
     * std::runtime_error after an explicit start. */
    template<typename T, typename... Args>
    void emplace_reader(Args &&... args)
    {
        add_reader([&](stream &s) { return std::unique_ptr<reader>(new T(s, std::forward<Args>(args)...)); });
    }
    void add_reader(const std::function<std::unique_ptr<reader>(stream &)> &factory);

    /// Start readers added so far (only meaningful with explicit_start).
    void start();
    /* Stop receiving: tell the readers (reader::stop), wait for their work to
     * finish, then flush the live heaps.  Every heap is counted, including those
     * that complete meanwhile.  heap_ready must not block by then: a subclass
     * whose heap_ready can wait (a full ring) unblocks it before calling this.
     * Idempotent. */
    virtual void stop();
    bool is_stopped();
};

} // namespace spead2::recv

#endif
