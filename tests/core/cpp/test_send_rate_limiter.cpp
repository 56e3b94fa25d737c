/* The send pacing arithmetic, driven with synthetic times so that schedules can be
 * checked to the nanosecond over runs far longer than a real-time test could afford. */
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <spead2/send_rate_limiter.h>
#include "check.h"

using spead2::send::rate_limiter;
using clock_type = rate_limiter::clock;
using std::chrono::nanoseconds;

namespace
{

constexpr std::size_t packet_size = 1472;
constexpr double rate = 625e6;             // 5 Gb/s: 2355.2 ns per packet
constexpr double packet_ns = 2355.2;
// A stream that has been running for 100 days: steady_clock counts from boot.
const clock_type::time_point start{std::chrono::hours(24 * 100)};

long long ns_between(clock_type::time_point a, clock_type::time_point b)
{
    return std::chrono::duration_cast<nanoseconds>(b - a).count();
}

bool near(long long ns, long long expected)
{
    return ns >= expected - 1 && ns <= expected + 1;
}

/// Sends one packet per burst at @a now and returns when the next may go.
clock_type::time_point send_packet(rate_limiter &limiter, clock_type::time_point now, bool more = true)
{
    clock_type::time_point go = limiter.batch_start(now);
    if (go > now)
        go = limiter.batch_start(go);   // as the stream does after waiting
    limiter.add_packet(packet_size, rate);
    return limiter.batch_end(go, more);
}

/* A million packets of 2355.2 ns, each sent exactly when due: the fractions must add
 * up (rounding each packet to a nanosecond would be 200 µs off, and a double count of
 * nanoseconds since boot cannot hold 0.2 ns after 100 days). */
int test_sub_nanosecond_accounting()
{
    rate_limiter limiter(packet_size, 1.05);
    constexpr long long n = 1000000;
    clock_type::time_point t = start;
    for (long long i = 0; i < n; i++)
        t = send_packet(limiter, t);
    const long long expected = (long long) (n * packet_ns);   // 2355200000
    CHECK(ns_between(start, t) >= expected);
    CHECK(ns_between(start, t) <= expected + 1);
    return 0;
}

/// A burst goes out back to back until burst_size bytes are out, then the stream waits.
int test_sleeps_only_between_bursts()
{
    rate_limiter limiter(10 * packet_size, 1.05);
    clock_type::time_point t = start;
    for (int i = 0; i < 9; i++)
    {
        t = send_packet(limiter, t);
        CHECK(t == start);
    }
    // Ten times 2355.2 ns, give or take the last bit of the double sum.
    t = send_packet(limiter, t);
    CHECK(near(ns_between(start, t), 23552));
    // The queue running empty ends a burst early, with the wait of its own bytes only.
    t = send_packet(limiter, t, false);
    CHECK(near(ns_between(start, t), 23552 + 2355));
    return 0;
}

/// After oversleeping, the stream catches up at the burst rate, then resumes the rate.
int test_catch_up_at_burst_rate()
{
    rate_limiter limiter(packet_size, 1.05);
    const clock_type::time_point due = send_packet(limiter, start);
    const auto late = due + nanoseconds(100000);   // the timer fired 100 µs late
    // The late packet is accounted from when it was due, so the schedule does not slip.
    CHECK(send_packet(limiter, late) == start + nanoseconds(4711));   // ceil(2 * 2355.2)
    long long packets = 2;
    clock_type::time_point t = late;
    int catch_up_bursts = 0;
    while (true)
    {
        const clock_type::time_point go = send_packet(limiter, t);
        packets++;
        if (ns_between(t, go) > 2244)
        {
            // Caught up: back on the rate schedule, fractions included.
            CHECK(ns_between(start, go) == (long long) std::ceil(packets * packet_ns));
            t = go;
            break;
        }
        // Behind: each burst waits 2243.05 ns (the burst rate), no less.
        CHECK(ns_between(t, go) >= 2243);
        catch_up_bursts++;
        t = go;
    }
    for (int i = 0; i < 3; i++)
    {
        const clock_type::time_point go = send_packet(limiter, t);
        CHECK(ns_between(t, go) == 2355 || ns_between(t, go) == 2356);
        t = go;
    }
    // Behind by 100 µs, gaining 112.15 ns per burst: about 890 bursts to catch up.
    CHECK(catch_up_bursts > 850 && catch_up_bursts < 930);
    return 0;
}

/// Time spent idle earns no credit, but a schedule still in the future is kept.
int test_idle()
{
    rate_limiter limiter(packet_size, 1.05);
    clock_type::time_point due = send_packet(limiter, start, false);
    limiter.went_idle();
    // Back before the packet's time is up: it must still wait.
    const auto early = start + nanoseconds(1000);
    CHECK(limiter.batch_start(early) == due);
    limiter.batch_start(due);
    limiter.add_packet(packet_size, rate);
    due = limiter.batch_end(due, false);
    // After a second idle, no burst of stored-up credit: the first packet goes at once, the next one is paced.
    limiter.went_idle();
    const auto later = due + std::chrono::seconds(1);
    CHECK(limiter.batch_start(later) == later);
    limiter.add_packet(packet_size, rate);
    CHECK(ns_between(later, limiter.batch_end(later, true)) == 2356);
    return 0;
}

/* The stream keeps no timer once its queue is empty, so a heap queued just after a
 * burst ended (before the stream noticed it was idle) must still wait for its slot. */
int test_burst_queued_after_end_waits()
{
    rate_limiter limiter(packet_size, 1.05);
    const clock_type::time_point due = send_packet(limiter, start, false);
    CHECK(due == start + nanoseconds(2356));
    const auto soon = start + nanoseconds(10);
    CHECK(limiter.batch_start(soon) == due);
    // Woken at the slot, the burst goes and is accounted from its due time.
    CHECK(limiter.batch_start(due) == due);
    limiter.add_packet(packet_size, rate);
    CHECK(near(ns_between(start, limiter.batch_end(due, false)), 4710));
    return 0;
}

/// Unlimited packets are not paced, and the time they take earns limited ones no credit.
int test_unlimited()
{
    rate_limiter limiter(packet_size, 1.05);
    CHECK(limiter.batch_start(start) == start);
    limiter.add_packet(packet_size, 0.0);
    const auto after = start + nanoseconds(50000);
    CHECK(limiter.batch_end(after, true) == after);
    CHECK(limiter.batch_start(after) == after);
    limiter.add_packet(packet_size, rate);
    CHECK(ns_between(after, limiter.batch_end(after, true)) == 2356);
    return 0;
}

} // anonymous namespace

int main()
{
    int failures = 0;
    failures += test_sub_nanosecond_accounting();
    failures += test_sleeps_only_between_bursts();
    failures += test_catch_up_at_burst_rate();
    failures += test_idle();
    failures += test_burst_queued_after_end_waits();
    failures += test_unlimited();
    if (failures)
        return 1;
    std::printf("ok\n");
    return 0;
}
