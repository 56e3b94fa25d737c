/* Pacing of a send stream: when each batch of packets may go out. */
#ifndef SPEAD2_SEND_RATE_LIMITER_H
#define SPEAD2_SEND_RATE_LIMITER_H

#include <chrono>
#include <cstddef>
#include <optional>
#include <spead2/common_defines.h>

namespace spead2::send
{

/* Packets go out in bursts of burst_size bytes, back to back; a burst ends early when
 * the queue runs empty.  The next burst may start neither before the schedule at the
 * requested rate (so the long-run rate is exact) nor before the schedule at the burst
 * rate (so a stream that fell behind, e.g. after the timer overslept, catches up no
 * faster than rate * burst_rate_ratio).  Time spent idle earns no credit.
 *
 * Pure bookkeeping: the caller supplies the times, which keeps the arithmetic testable
 * without real clocks.  A packet's duration is rarely a whole number of nanoseconds
 * (1472 bytes at 5 Gb/s is 2355.2 ns), so the schedules keep the fraction of a clock tick
 * beside an integer time point: rounding each packet would skew the rate by up to a
 * few percent, and a double count of nanoseconds would lose the fraction once a stream
 * has run for a few weeks. */
class SPEAD2_API rate_limiter
{
public:
    typedef std::chrono::steady_clock clock;

private:
    /// A clock time point plus a fraction of a tick in [0, 1).
    struct precise_time
    {
        clock::time_point whole;
        double fraction = 0.0;

        void advance(double ticks);
        /// The first tick at or after this time.
        clock::time_point ceil() const;
        /// Moves this time forward to @a t if it is earlier.
        void raise_to(clock::time_point t);
    };

    std::size_t burst_size;
    double burst_rate_ratio;

    precise_time rate_target;      ///< earliest start of the next burst at the requested rate
    precise_time burst_target;     ///< earliest start of the next burst at the burst rate
    /* The burst in progress started when it was due (the time waited for, not the later
     * wake-up), so that timer latency does not accumulate into the schedule. */
    clock::time_point burst_start;
    double burst_rate_ticks = 0.0;   ///< the burst's duration at the requested rate(s)
    double burst_burst_ticks = 0.0;  ///< the burst's duration at the burst rate(s)
    std::size_t burst_bytes = 0;
    std::optional<clock::time_point> waited_for;   ///< the caller was told to wait until then
    bool idle = true;

    /// Returns @a next, remembering it as the start of the following burst if it is after @a now.
    clock::time_point wait_until(clock::time_point next, clock::time_point now);

public:
    rate_limiter(std::size_t burst_size, double burst_rate_ratio);

    /// The queue ran empty: the time until the next heap arrives earns no credit.
    void went_idle() { idle = true; }

    /* A batch is about to be filled at @a now.  Returns when it may start: if that is
     * later than @a now, the caller waits and then calls this again. */
    clock::time_point batch_start(clock::time_point now);

    /// Whether the burst in progress is full: the next rate-limited packet starts a new batch.
    bool burst_full() const { return burst_bytes >= burst_size; }

    /// Accounts a packet of @a size bytes sent at @a rate bytes per second (0: unlimited).
    void add_packet(std::size_t size, double rate);

    /* The batch went out; @a more: the queue still holds packets, so a burst that is not
     * yet full goes on back to back.  Returns when the next batch may start (with
     * nothing queued the caller need not wait: batch_start enforces it later). */
    clock::time_point batch_end(clock::time_point now, bool more);
};

} // namespace spead2::send

#endif // SPEAD2_SEND_RATE_LIMITER_H
