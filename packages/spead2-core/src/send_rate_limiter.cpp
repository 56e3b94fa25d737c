#include <algorithm>
#include <cmath>
#include <spead2/send_rate_limiter.h>

namespace spead2::send
{

namespace
{

/// Clock ticks taken by @a bytes at @a bytes_per_second.
double duration_ticks(std::size_t bytes, double bytes_per_second)
{
    typedef rate_limiter::clock::period period;
    return double(bytes) / bytes_per_second * double(period::den) / double(period::num);
}

} // anonymous namespace

void rate_limiter::precise_time::advance(double ticks)
{
    const double total = fraction + ticks;
    const double whole_ticks = std::floor(total);
    whole += clock::duration(clock::rep(whole_ticks));
    fraction = total - whole_ticks;
}

rate_limiter::clock::time_point rate_limiter::precise_time::ceil() const
{
    return fraction > 0.0 ? whole + clock::duration(1) : whole;
}

void rate_limiter::precise_time::raise_to(clock::time_point t)
{
    if (whole < t)
    {
        whole = t;
        fraction = 0.0;
    }
}

rate_limiter::rate_limiter(std::size_t burst_size, double burst_rate_ratio)
    : burst_size(burst_size), burst_rate_ratio(burst_rate_ratio)
{
}

rate_limiter::clock::time_point rate_limiter::wait_until(clock::time_point next, clock::time_point now)
{
    if (next > now)
        waited_for = next;
    return next;
}

rate_limiter::clock::time_point rate_limiter::batch_start(clock::time_point now)
{
    if (idle)
    {
        idle = false;
        waited_for.reset();   // a wait from before the idle spell is over
        rate_target.raise_to(now);
        burst_target.raise_to(now);
    }
    clock::time_point start = now;
    if (burst_bytes == 0)
    {
        /* A new burst waits for its slot however the stream got here: a timer, an idle
         * spell shorter than the last burst's due time, or a heap queued just after
         * the last burst ended (the stream does not keep a timer with nothing queued). */
        start = std::max({now, rate_target.ceil(), burst_target.ceil()});
        burst_start = waited_for.value_or(start);
    }
    waited_for.reset();
    return wait_until(start, now);
}

void rate_limiter::add_packet(std::size_t size, double rate)
{
    if (rate > 0)
    {
        burst_bytes += size;
        burst_rate_ticks += duration_ticks(size, rate);
        burst_burst_ticks += duration_ticks(size, rate * burst_rate_ratio);
    }
}

rate_limiter::clock::time_point rate_limiter::batch_end(clock::time_point now, bool more)
{
    if (burst_bytes == 0)
    {
        // Unlimited: time spent on it earns no credit for later limited heaps.
        rate_target.raise_to(now);
        burst_target.raise_to(now);
        return now;
    }
    if (more && !burst_full())
        return now;
    rate_target.advance(burst_rate_ticks);
    burst_target.raise_to(burst_start);
    burst_target.advance(burst_burst_ticks);
    burst_rate_ticks = burst_burst_ticks = 0.0;
    burst_bytes = 0;
    return wait_until(std::max(rate_target.ceil(), burst_target.ceil()), now);
}

} // namespace spead2::send
