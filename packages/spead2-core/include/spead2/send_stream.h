/* Send streams: a queue of heaps in flight, turned into packets on the thread pool and
 * handed to a writer, the send transport interface. */
#ifndef SPEAD2_SEND_STREAM_H
#define SPEAD2_SEND_STREAM_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_thread_pool.h>
#include <spead2/send_heap.h>
#include <spead2/send_packet_generator.h>
#include <spead2/send_rate_limiter.h>

namespace spead2::send
{

enum class rate_method
{
    SW = 0,
    HW = 1,
    AUTO = 2
};

enum class group_mode
{
    ROUND_ROBIN = 0,
    SERIAL = 1
};

class SPEAD2_API stream_config
{
private:
    std::size_t max_packet_size = default_max_packet_size;
    double rate = 0.0;
    std::size_t burst_size = default_burst_size;
    std::size_t max_heaps = default_max_heaps;
    double burst_rate_ratio = default_burst_rate_ratio;
    rate_method method = rate_method::AUTO;

public:
    static constexpr std::size_t default_max_packet_size = 1472;
    static constexpr std::size_t default_max_heaps = 4;
    static constexpr std::size_t default_burst_size = 65536;
    static constexpr double default_burst_rate_ratio = 1.05;

    /// The setters validate and throw std::invalid_argument.
    stream_config &set_max_packet_size(std::size_t v) { max_packet_size = v; return *this; }
    std::size_t get_max_packet_size() const { return max_packet_size; }
    stream_config &set_rate(double rate);
    double get_rate() const { return rate; }
    stream_config &set_burst_size(std::size_t v) { burst_size = v; return *this; }
    std::size_t get_burst_size() const { return burst_size; }
    stream_config &set_max_heaps(std::size_t max_heaps);
    std::size_t get_max_heaps() const { return max_heaps; }
    stream_config &set_burst_rate_ratio(double ratio);
    double get_burst_rate_ratio() const { return burst_rate_ratio; }
    stream_config &set_rate_method(rate_method m) { method = m; return *this; }
    rate_method get_rate_method() const { return method; }
    double get_burst_rate() const { return rate * burst_rate_ratio; }
};

/// One packet handed to a writer.
struct transmit_packet
{
    const buffer_piece *pieces;
    std::size_t n_pieces;
    std::size_t size;
    std::size_t substream_index;
    std::error_code result;   ///< set by the writer
};

/* The send transport interface.  write_packets() transmits a batch (in order), sets
 * each packet's result, then calls @a done exactly once, either before returning or
 * later from a thread of the stream's thread pool.  Packets and pieces stay valid until @a done is called.
 * It may run on the Python caller's thread with the GIL held (small sends), so it must
 * neither take the GIL nor block. */
class SPEAD2_API writer
{
public:
    virtual ~writer();
    virtual std::size_t num_substreams() const = 0;
    virtual void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) = 0;
    /* Called once, from any thread, when the stream is stopped (stream::stop).  A
     * write that is waiting for the transport (e.g. on an fd_watch for writability)
     * must complete promptly: packets not sent get std::errc::operation_canceled, then
     * done is called.  Writers that never wait need not override it. */
    virtual void cancel();
    /* Pacing by the transport itself (a NIC's packet pacing): offered once, when the
     * stream is built with rate_method::HW and a rate, before any packet is written.
     * Return true to send at no more than @a rate bytes per second (whole packets of up
     * to @a max_packet_size bytes, plus whatever framing the transport adds) without the
     * stream's help: the stream then no longer paces heaps sent at the configured rate
     * (heaps with a rate of their own are still paced in software).  The default
     * declines, and the stream paces in software. */
    virtual bool take_over_pacing(double rate, std::size_t max_packet_size);
};

struct heap_reference
{
    const heap *h;
    s_item_pointer_t cnt = -1;
    std::size_t substream_index = 0;
    double rate = -1.0;
};

typedef std::function<void(const std::error_code &, item_pointer_t bytes_transferred)> completion_handler;

class SPEAD2_API stream
{
private:
    struct group;

    std::shared_ptr<thread_pool> pool;
    const stream_config config;
    std::unique_ptr<writer> transport;

    std::mutex mutex;
    std::condition_variable idle_cond;
    std::deque<std::unique_ptr<group>> queue;
    std::size_t queued_heaps = 0;
    bool active = false;                ///< a worker is draining the queue
    item_pointer_t next_cnt = 1;
    item_pointer_t step_cnt = 1;

    /* State of the batch being written (only touched by the draining worker). */
    std::vector<std::uint8_t> scratch;       ///< headers and item pointers
    std::vector<buffer_piece> pieces;
    std::vector<std::size_t> piece_start;    ///< per packet, index into pieces
    std::vector<transmit_packet> batch;
    group *batch_group = nullptr;
    /// Whichever of "write_packets returned" and "done called" happens second continues.
    std::atomic<int> write_state{0};

    rate_limiter pacing;   ///< only touched by the draining worker
    bool transport_paced = false;   ///< the writer took over pacing at the configured rate
    bool stopped = false;                        ///< protected by mutex
    std::atomic<std::uint64_t> batches_written{0};  ///< progress, for the destructor's linger

    void run();
    bool idle() const { return !active && queue.empty(); }   ///< with mutex held
    void fill_batch(group &g);
    void batch_done();
    bool more_queued();
    /// After a batch: true if a timer will continue run() (a pause before the next burst).
    bool pause_after_batch();
    /* Arranges for run() to continue at @a when.  False if it should go on at once:
     * the time has passed, or the pool is stopping (the queue is then finished unpaced). */
    bool schedule_run(thread_pool::clock::time_point when);
    void reject(const completion_handler &handler, std::errc error, const char *why);

public:
    stream(std::shared_ptr<thread_pool> pool, const stream_config &config, std::unique_ptr<writer> transport);
    virtual ~stream();

    const stream_config &get_config() const { return config; }
    /// Whether the transport paces the configured rate itself (see writer::take_over_pacing).
    bool is_transport_paced() const { return transport_paced; }
    std::size_t get_num_substreams() const { return transport->num_substreams(); }
    writer &get_writer() { return *transport; }

    /* Queue a heap. Returns false if rejected (queue full: EAGAIN; bad cnt or substream:
     * EINVAL; thread pool stopped: ECANCELED); either way @a handler is called exactly
     * once, on this thread if rejected.  An idle stream starts transmitting on this
     * thread, so the handler may also run here before this returns; otherwise it runs
     * on a worker.  @a h must stay alive until then. */
    bool async_send_heap(const heap &h, completion_handler handler, s_item_pointer_t cnt = -1,
                         std::size_t substream_index = 0, double rate = -1.0);
    /// Queue a group of heaps atomically, interleaved according to @a mode.
    bool async_send_heaps(const heap_reference *first, std::size_t n, completion_handler handler, group_mode mode);

    /// Throws std::invalid_argument if step is 0.
    void set_cnt_sequence(item_pointer_t next, item_pointer_t step);
    /// Block until every queued heap has completed.
    void flush();
    /// Like flush(), for at most @a timeout; returns whether the stream is idle.
    bool flush_for(std::chrono::steady_clock::duration timeout);
    /* Stop sending: a write waiting for the transport is cancelled (writer::cancel),
     * queued heaps fail with std::errc::operation_canceled (the heap being sent keeps
     * its error or the bytes already sent), and later sends are rejected with the same
     * error.  Returns once the stream is idle.  Idempotent, callable from any thread;
     * the thread-exit registry calls it for streams alive at interpreter exit. */
    void stop();
    /* Flush, but never forever: like a socket's SO_LINGER, if the transport makes no
     * progress for @a linger (a TCP peer that stopped reading), stop() the stream.
     * The destructor does this with default_linger. */
    void close(std::chrono::steady_clock::duration linger = default_linger);
    static constexpr std::chrono::seconds default_linger{5};
};

} // namespace spead2::send

#endif
