#include <algorithm>
#include <cstring>
#include <spead2/common_inproc.h>
#include <spead2/common_ringbuffer.h>

namespace spead2
{

inproc_queue::packet::packet(std::size_t size)
    : data(new std::uint8_t[size]), size(size), capacity(size)
{
}

inproc_queue::~inproc_queue() = default;

void inproc_queue::wake_one()
{
    if (!waiters.empty())
    {
        waiter w = std::move(waiters.front().second);
        waiters.erase(waiters.begin());
        w();
    }
}

void inproc_queue::add_packet(const std::uint8_t *data, std::size_t size)
{
    packet p(size);
    std::memcpy(p.data.get(), data, size);
    add_packet(std::move(p));
}

void inproc_queue::add_packet(packet &&p)
{
    std::lock_guard<std::mutex> lock(mutex);
    if (stopped)
        throw ringbuffer_stopped();
    packets.push_back(std::move(p));
    wake_one();
}

void inproc_queue::take_spares_locked(std::vector<packet> &out, std::size_t max)
{
    while (max > 0 && !spares.empty())
    {
        spare_bytes -= spares.back().capacity;
        out.push_back(std::move(spares.back()));
        spares.pop_back();
        max--;
    }
}

void inproc_queue::add_packets(std::vector<packet> &&ps, std::vector<packet> &spares_out, std::size_t max_spares)
{
    std::lock_guard<std::mutex> lock(mutex);
    if (stopped)
        throw ringbuffer_stopped();
    for (auto &p : ps)
        packets.push_back(std::move(p));
    ps.clear();
    wake_one();
    take_spares_locked(spares_out, max_spares);
}

void inproc_queue::stop()
{
    std::lock_guard<std::mutex> lock(mutex);
    stopped = true;
    while (!waiters.empty())
        wake_one();
}

bool inproc_queue::pop(std::vector<packet> &out, std::size_t max, const void *owner, waiter wake, bool &drained)
{
    std::lock_guard<std::mutex> lock(mutex);
    if (packets.empty() && !stopped)
    {
        auto pos = std::find_if(waiters.begin(), waiters.end(), [owner](const auto &w) { return w.first == owner; });
        if (pos != waiters.end())
            pos->second = std::move(wake);
        else
            waiters.emplace_back(owner, std::move(wake));
        return false;
    }
    std::size_t n = std::min(max, packets.size());
    for (std::size_t i = 0; i < n; i++)
    {
        out.push_back(std::move(packets.front()));
        packets.pop_front();
    }
    drained = stopped && packets.empty();
    // Several consumers may share a queue: pass on the wake-up if packets remain.
    if (!packets.empty())
        wake_one();
    return true;
}

void inproc_queue::recycle(std::vector<packet> &used)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto &p : used)
        {
            if (spare_bytes + p.capacity > max_spare_bytes)
                break;
            spare_bytes += p.capacity;
            spares.push_back(std::move(p));
        }
    }
    used.clear();   // frees what did not fit, outside the lock
}

std::size_t inproc_queue::cancel_wait(const void *owner)
{
    std::lock_guard<std::mutex> lock(mutex);
    waiters.erase(std::remove_if(waiters.begin(), waiters.end(), [owner](const auto &w) { return w.first == owner; }),
                  waiters.end());
    return packets.size();
}

} // namespace spead2
