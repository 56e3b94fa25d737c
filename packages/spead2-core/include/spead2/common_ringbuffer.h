/* Bounded multi-producer, multi-consumer queue with stop semantics and a pollable fd. */
#ifndef SPEAD2_COMMON_RINGBUFFER_H
#define SPEAD2_COMMON_RINGBUFFER_H

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>
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

template<typename T>
class ringbuffer
{
private:
    mutable std::mutex mutex;
    std::condition_variable data_cond, space_cond;
    std::deque<T> items;
    std::size_t cap;
    bool stopped = false;
    readiness_fd data_fd;

    T pop_locked()
    {
        T item = std::move(items.front());
        items.pop_front();
        if (items.empty() && !stopped)
            data_fd.clear();
        space_cond.notify_one();
        return item;
    }

    void push_locked(T &&item)
    {
        items.push_back(std::move(item));
        if (items.size() == 1)
            data_fd.set();
        data_cond.notify_one();
    }

public:
    explicit ringbuffer(std::size_t capacity) : cap(capacity) {}

    std::size_t capacity() const { return cap; }
    std::size_t size() const
    {
        std::lock_guard<std::mutex> lock(mutex);
        return items.size();
    }
    int get_data_fd() const { return data_fd.get_fd(); }

    /// Blocks while full. Throws ringbuffer_stopped.
    void push(T &&item)
    {
        std::unique_lock<std::mutex> lock(mutex);
        space_cond.wait(lock, [this] { return stopped || items.size() < cap; });
        if (stopped)
            throw ringbuffer_stopped();
        push_locked(std::move(item));
    }

    /// Throws ringbuffer_full or ringbuffer_stopped.
    void try_push(T &&item)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopped)
            throw ringbuffer_stopped();
        if (items.size() >= cap)
            throw ringbuffer_full();
        push_locked(std::move(item));
    }

    /// Blocks while empty. Throws ringbuffer_stopped once stopped and drained.
    T pop()
    {
        std::unique_lock<std::mutex> lock(mutex);
        data_cond.wait(lock, [this] { return stopped || !items.empty(); });
        if (items.empty())
            throw ringbuffer_stopped();
        return pop_locked();
    }

    /// Throws ringbuffer_empty, or ringbuffer_stopped once stopped and drained.
    T try_pop()
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (items.empty())
        {
            if (stopped)
                throw ringbuffer_stopped();
            throw ringbuffer_empty();
        }
        return pop_locked();
    }

    /* Wait until an item is available or the ring is stopped, for at most @a timeout.
     * Lets callers that must poll for signals (Python) wait without spinning. */
    template<typename Rep, typename Period>
    bool wait_for_data(const std::chrono::duration<Rep, Period> &timeout)
    {
        std::unique_lock<std::mutex> lock(mutex);
        return data_cond.wait_for(lock, timeout, [this] { return stopped || !items.empty(); });
    }

    /// Wake all waiters; pushes fail from now on, pops drain what is left. Idempotent.
    void stop()
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopped = true;
        data_fd.set();
        data_cond.notify_all();
        space_cond.notify_all();
    }

    bool is_stopped() const
    {
        std::lock_guard<std::mutex> lock(mutex);
        return stopped;
    }
};

} // namespace spead2

#endif
