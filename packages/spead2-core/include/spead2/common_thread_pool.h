/* Worker threads that run all I/O and protocol processing for the streams using them:
 * posted tasks, timers, and handlers for file descriptors that became ready. */
#ifndef SPEAD2_COMMON_THREAD_POOL_H
#define SPEAD2_COMMON_THREAD_POOL_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2
{

class fd_watch;

/* Idle workers take turns waiting in epoll_wait for file descriptors (fd_watch), the
 * next timer and new tasks, so one worker can serve any number of sockets and timers.
 * Due timers run before queued tasks, and a worker busy with a stream of tasks still
 * polls the file descriptors every few tasks: no kind of work starves another. */
class SPEAD2_API thread_pool
{
    friend class fd_watch;

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
    /// Throws std::invalid_argument if @a num_threads < 1, std::system_error if epoll is unavailable.
    explicit thread_pool(int num_threads = 1);
    /// Worker i is pinned to affinity[i % affinity.size()] (no pinning if empty).
    thread_pool(int num_threads, const std::vector<int> &affinity);
    virtual ~thread_pool();

    /// Run @a task on some worker. Throws std::runtime_error once stop() has been called.
    void post(std::function<void()> task);
    /* Run @a task on some worker at @a when (or at stop(), whichever comes first, so
     * that no posted work is lost).  Throws std::runtime_error once stopped. */
    void post_at(clock::time_point when, std::function<void()> task);
    /* Run the remaining tasks and timers, then join the workers.  Waits on file
     * descriptors that have not fired are abandoned (their handlers never run).
     * Idempotent. */
    void stop();
    int num_threads() const { return int(workers.size()); }
    bool is_stopped();

    /// Pin the calling thread; failures are logged, never thrown.
    static void set_affinity(int core);
};

/// What an fd_watch waits for.
enum class fd_event : std::uint32_t
{
    readable = 0x001,   ///< EPOLLIN
    writable = 0x004    ///< EPOLLOUT
};

/* A file descriptor whose readiness the workers of a thread pool watch: the one-shot
 * wait that readers and writers of network (and kernel-bypass) transports use instead
 * of occupying a worker.  The usual pattern, on a non-blocking descriptor: read until
 * EAGAIN, then async_wait(readable, handler that reads again).
 *
 * At most one wait is pending at a time; its handler runs once, on a worker.  cancel()
 * gives the guarantee stream::stop() relies on: once it returns, no handler of this
 * watch is running or will run.  Destroy or release() the watch before closing the
 * descriptor: a closed descriptor's number may be reused by another watch.
 * The pool may be stopped first: the watch then simply never fires. */
class SPEAD2_API fd_watch
{
public:
    struct registration;

private:
    std::shared_ptr<thread_pool::state> pool;
    std::shared_ptr<registration> reg;
    bool released = false;

public:
    /// Throws std::system_error if epoll refuses @a fd (e.g. a regular file).
    fd_watch(thread_pool &pool, int fd);
    ~fd_watch();
    fd_watch(const fd_watch &) = delete;
    fd_watch &operator=(const fd_watch &) = delete;

    /* Run @a handler once, on a worker, when the descriptor is ready for @a event
     * (at once if it already is).  Returns false, dropping the handler, once
     * cancel() has been called.  Throws std::logic_error if a wait is pending. */
    bool async_wait(fd_event event, std::function<void()> handler);
    /* Drop the pending wait, if any, and refuse later ones; then wait for a handler
     * that is running (other than the caller itself) to return.  Returns true if a
     * wait was pending.  Callable from any thread, including the handler. */
    bool cancel();
    /* cancel(), then take the descriptor out of the pool's epoll set: it may then be
     * closed (a reader's stop() closing its socket), and the watch is inert.  The
     * destructor does this; idempotent. */
    void release();
    int get_fd() const;
};

} // namespace spead2

#endif
