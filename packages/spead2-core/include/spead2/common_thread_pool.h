/* Worker threads that run all I/O and protocol processing for the streams using them. */
#ifndef SPEAD2_COMMON_THREAD_POOL_H
#define SPEAD2_COMMON_THREAD_POOL_H

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2
{

class SPEAD2_API thread_pool
{
public:
    typedef std::chrono::steady_clock clock;

private:
    /* The queues and the lock that workers use.  Each worker owns a share, because
     * a task may destroy the pool (by dropping the last reference to it): that
     * worker is then detached and carries on with this state after the pool is gone. */
    struct state;
    std::shared_ptr<state> shared;
    std::vector<std::thread> workers;

public:
    /// Throws std::invalid_argument if @a num_threads < 1.
    explicit thread_pool(int num_threads = 1);
    /// Worker i is pinned to affinity[i % affinity.size()] (no pinning if empty).
    thread_pool(int num_threads, const std::vector<int> &affinity);
    virtual ~thread_pool();

    /// Run @a task on some worker. Throws std::runtime_error once stop() has been called.
    void post(std::function<void()> task);
    /* Run @a task on some worker at @a when (or at stop(), whichever comes first, so
     * that no posted work is lost).  Throws std::runtime_error once stopped. */
    void post_at(clock::time_point when, std::function<void()> task);
    /// Run the remaining tasks, then join the workers. Idempotent.
    void stop();
    int num_threads() const { return int(workers.size()); }
    bool is_stopped();

    /// Pin the calling thread; failures are logged, never thrown.
    static void set_affinity(int core);
};

} // namespace spead2

#endif
