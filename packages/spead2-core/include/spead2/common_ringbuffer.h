/* Bounded multi-producer, multi-consumer queue with stop semantics and a pollable fd. */
#ifndef SPEAD2_COMMON_RINGBUFFER_H
#define SPEAD2_COMMON_RINGBUFFER_H

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2
{

class SPEAD2_API ringbuffer_stopped : public std::runtime_error
{
public:
    ringbuffer_stopped() : std::runtime_error("ring buffer has been stopped") {}
    ~ringbuffer_stopped() override;
};

class SPEAD2_API ringbuffer_empty : public std::runtime_error
{
public:
    ringbuffer_empty() : std::runtime_error("ring buffer is empty") {}
    ~ringbuffer_empty() override;
};

class SPEAD2_API ringbuffer_full : public std::runtime_error
{
public:
    ringbuffer_full() : std::runtime_error("ring buffer is full") {}
    ~ringbuffer_full() override;
};

/* An eventfd that is readable while a ringbuffer has items or is stopped, so that
 * event loops (asyncio) can wait for it. */
class SPEAD2_API readiness_fd
{
private:
    int fd;

public:
    readiness_fd();
    ~readiness_fd();
    readiness_fd(const readiness_fd &) = delete;
    readiness_fd &operator=(const readiness_fd &) = delete;
    int get_fd() const { return fd; }
    void set();    ///< make readable
    void clear();  ///< make unreadable
};

/// Outcome of a non-blocking ring operation (failures are no exceptions: they are routine).
enum class ring_status
{
    ok,
    empty,
    full,
    stopped
};

/* The hot path (a worker pushing, a consumer popping) holds the lock only to move an
 * item: nothing is allocated (fixed slots), nothing is thrown, and waiters are woken
 * after the lock is released, so the woken thread does not block on it at once. */
template<typename T>
class ringbuffer
{
private:
    mutable std::mutex mutex;
    std::condition_variable data_cond, space_cond;
    std::vector<std::optional<T>> slots;
    std::size_t head = 0;    ///< slot of the oldest item
    std::size_t count = 0;
    bool stopped = false;
    std::size_t data_waiters = 0, space_waiters = 0;
    /* Created on first use: only event-loop consumers need it, and keeping it in step
     * costs a system call whenever the ring becomes empty or non-empty. */
    std::unique_ptr<readiness_fd> data_fd;
    /// Likewise for event-loop producers: readable while there is space or the ring is stopped.
    std::unique_ptr<readiness_fd> space_fd;
    /// Producers registered with add_producer() that have not yet called remove_producer().
    std::size_t producers = 0;

    /// With the lock held; returns whether a consumer waits to be woken.
    bool push_locked(T &&item)
    {
        slots[(head + count) % slots.size()].emplace(std::move(item));
        if (++count == 1 && data_fd)
            data_fd->set();
        if (count == slots.size() && space_fd && !stopped)
            space_fd->clear();
        return data_waiters > 0;
    }

    /// With the lock held and count > 0; returns whether a producer waits to be woken.
    bool pop_locked(std::optional<T> &out)
    {
        std::optional<T> &slot = slots[head];
        out.emplace(std::move(*slot));
        slot.reset();
        head = (head + 1) % slots.size();
        if (count-- == slots.size() && space_fd)
            space_fd->set();
        if (count == 0 && !stopped && data_fd)
            data_fd->clear();
        return space_waiters > 0;
    }

public:
    explicit ringbuffer(std::size_t capacity) : slots(capacity) {}

    std::size_t capacity() const { return slots.size(); }
    std::size_t size() const
    {
        std::lock_guard<std::mutex> lock(mutex);
        return count;
    }

    int get_data_fd()
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!data_fd)
        {
            data_fd = std::make_unique<readiness_fd>();
            if (count > 0 || stopped)
                data_fd->set();
        }
        return data_fd->get_fd();
    }

    int get_space_fd()
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!space_fd)
        {
            space_fd = std::make_unique<readiness_fd>();
            if (count < slots.size() || stopped)
                space_fd->set();
        }
        return space_fd->get_fd();
    }

    /// Blocks while full. Throws ringbuffer_stopped.
    void push(T &&item)
    {
        std::unique_lock<std::mutex> lock(mutex);
        space_waiters++;
        space_cond.wait(lock, [this] { return stopped || count < slots.size(); });
        space_waiters--;
        if (stopped)
            throw ringbuffer_stopped();
        bool wake = push_locked(std::move(item));
        lock.unlock();
        if (wake)
            data_cond.notify_one();
    }

    /// Returns ok, full or stopped; @a item is left untouched unless ok.
    ring_status try_push(T &&item)
    {
        std::unique_lock<std::mutex> lock(mutex);
        if (stopped)
            return ring_status::stopped;
        if (count == slots.size())
            return ring_status::full;
        bool wake = push_locked(std::move(item));
        lock.unlock();
        if (wake)
            data_cond.notify_one();
        return ring_status::ok;
    }

    /// Blocks while empty. Throws ringbuffer_stopped once stopped and drained.
    T pop()
    {
        std::unique_lock<std::mutex> lock(mutex);
        data_waiters++;
        data_cond.wait(lock, [this] { return stopped || count > 0; });
        data_waiters--;
        if (count == 0)
            throw ringbuffer_stopped();
        std::optional<T> out;
        bool wake = pop_locked(out);
        lock.unlock();
        if (wake)
            space_cond.notify_one();
        return std::move(*out);
    }

    /// Returns ok (filling @a out), empty, or stopped once stopped and drained.
    ring_status try_pop(std::optional<T> &out)
    {
        std::unique_lock<std::mutex> lock(mutex);
        if (count == 0)
            return stopped ? ring_status::stopped : ring_status::empty;
        bool wake = pop_locked(out);
        lock.unlock();
        if (wake)
            space_cond.notify_one();
        return ring_status::ok;
    }

    /* Wait until an item is available or the ring is stopped, for at most @a timeout.
     * Lets callers that must poll for signals (Python) wait without spinning. */
    template<typename Rep, typename Period>
    bool wait_for_data(const std::chrono::duration<Rep, Period> &timeout)
    {
        std::unique_lock<std::mutex> lock(mutex);
        data_waiters++;
        bool ready = data_cond.wait_for(lock, timeout, [this] { return stopped || count > 0; });
        data_waiters--;
        return ready;
    }

    /// As wait_for_data, for space to push (or the ring stopped).
    template<typename Rep, typename Period>
    bool wait_for_space(const std::chrono::duration<Rep, Period> &timeout)
    {
        std::unique_lock<std::mutex> lock(mutex);
        space_waiters++;
        bool ready = space_cond.wait_for(lock, timeout, [this] { return stopped || count < slots.size(); });
        space_waiters--;
        return ready;
    }

    /// Wake all waiters; pushes fail from now on, pops drain what is left. Idempotent.
    void stop()
    {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopped = true;
            if (data_fd)
                data_fd->set();
            if (space_fd)
                space_fd->set();
        }
        data_cond.notify_all();
        space_cond.notify_all();
    }

    /* Producer counting, for rings that several producers share (e.g. streams feeding
     * one consumer): the ring stops when the last registered producer is done. */
    void add_producer()
    {
        std::lock_guard<std::mutex> lock(mutex);
        producers++;
    }

    /// Returns true if this call stopped the ring (it was the last producer).
    bool remove_producer()
    {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (producers == 0 || --producers > 0)
                return false;
        }
        stop();
        return true;
    }

    bool is_stopped() const
    {
        std::lock_guard<std::mutex> lock(mutex);
        return stopped;
    }
};

} // namespace spead2

#endif
