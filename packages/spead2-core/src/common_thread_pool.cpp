#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <deque>
#include <mutex>
#include <pthread.h>
#include <queue>
#include <sched.h>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <spead2/common_logging.h>
#include <spead2/common_thread_pool.h>

namespace spead2
{

namespace
{

/// The epoll data of the pool's own wake-up eventfd (registration ids start at 1).
constexpr std::uint64_t wake_id = 0;
/// A worker running tasks back to back polls the descriptors after this many.
constexpr unsigned tasks_between_polls = 16;
constexpr int max_events = 16;

/// Set while a worker runs a handler, so that cancel() from that handler does not wait for itself.
thread_local const fd_watch::registration *current_handler = nullptr;

[[noreturn]] void throw_errno(const char *what)
{
    throw std::system_error(errno, std::system_category(), what);
}

} // namespace

struct fd_watch::registration
{
    const int fd;
    const std::uint64_t id;
    std::mutex mutex;
    std::condition_variable idle;
    std::function<void()> handler;   ///< the pending wait's, if any
    bool cancelled = false;
    int running = 0;

    registration(int fd, std::uint64_t id) : fd(fd), id(id) {}

    /// The descriptor is ready: run the pending handler, unless cancelled meanwhile.
    void fire()
    {
        std::function<void()> h;
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (cancelled || !handler)
                return;
            h = std::move(handler);
            handler = nullptr;
            running++;
        }
        const registration *outer = current_handler;
        current_handler = this;
        try
        {
            h();
        }
        catch (std::exception &e)
        {
            log_warning("fd handler raised an exception: {}", e.what());
        }
        current_handler = outer;
        h = nullptr;   // release captures before cancel() may return
        std::lock_guard<std::mutex> lock(mutex);
        if (--running == 0)
            idle.notify_all();
    }
};

struct thread_pool::state
{
    struct timer
    {
        clock::time_point when;
        std::uint64_t seq;   ///< keeps timers with equal deadlines in posting order
        std::function<void()> task;
        bool operator>(const timer &other) const
        {
            return when != other.when ? when > other.when : seq > other.seq;
        }
    };

    std::mutex mutex;
    std::condition_variable cond;     ///< idle workers other than the poller wait here
    std::deque<std::function<void()>> tasks;
    std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers;
    std::uint64_t timer_seq = 0;
    bool stopping = false;

    int epoll_fd = -1;
    int wake_fd = -1;
    bool polling = false;             ///< a worker is in (or about to enter) epoll_wait
    bool wake_pending = false;        ///< wake_fd has been written since the poller last drained it
    clock::time_point poll_deadline;  ///< when the poller's wait times out
    int idle_waiters = 0;
    std::uint64_t next_id = 1;
    std::unordered_map<std::uint64_t, std::shared_ptr<fd_watch::registration>> watches;

    state();
    ~state();
    void run();
    /* Wait for descriptors (blocking up to the next timer, or not at all), then run the
     * handlers of those that are ready.  Called and returns with the lock held. */
    void poll(std::unique_lock<std::mutex> &lock, bool block);
    /// Make the poller return from epoll_wait (lock held).
    void wake_poller();
    /// Work was added (lock held): get an idle worker to look at it.
    void work_added(bool new_deadline, clock::time_point when);
};

thread_pool::state::state()
{
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        throw_errno("epoll_create1");
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0)
    {
        int saved = errno;
        close(epoll_fd);
        errno = saved;
        throw_errno("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_id;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) < 0)
    {
        int saved = errno;
        close(wake_fd);
        close(epoll_fd);
        errno = saved;
        throw_errno("epoll_ctl");
    }
}

thread_pool::state::~state()
{
    close(wake_fd);
    close(epoll_fd);
}

void thread_pool::state::wake_poller()
{
    if (polling && !wake_pending)
    {
        wake_pending = true;
        std::uint64_t one = 1;
        // Cannot fail short of a full counter, which wake_pending rules out.
        [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
    }
}

void thread_pool::state::work_added(bool new_deadline, clock::time_point when)
{
    if (idle_waiters > 0 && !new_deadline)
        cond.notify_one();
    else if (!new_deadline || when < poll_deadline)
        wake_poller();
    else if (idle_waiters > 0 && !polling)
        cond.notify_one();   // nobody is polling to notice the timer; hand it to an idle worker
}

namespace
{

/// epoll_wait until @a deadline (or not at all): microsecond timers need epoll_pwait2.
int epoll_wait_until(int epoll_fd, epoll_event *events, bool block, bool has_deadline,
                     thread_pool::clock::time_point deadline)
{
    if (!block || !has_deadline)
        return epoll_wait(epoll_fd, events, max_events, block ? -1 : 0);
    auto left = deadline - thread_pool::clock::now();
    if (left < decltype(left)::zero())
        left = decltype(left)::zero();
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    static std::atomic<bool> have_pwait2{true};
    if (have_pwait2)
    {
        timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
        int n = epoll_pwait2(epoll_fd, events, max_events, &ts, nullptr);
        if (n >= 0 || errno != ENOSYS)
            return n;
        have_pwait2 = false;   // kernels before 5.11: millisecond waits, rounded up
        log_warning("epoll_pwait2 is unavailable: timers have millisecond resolution");
    }
    return epoll_wait(epoll_fd, events, max_events, int((ns + 999999) / 1000000));
}

} // namespace

void thread_pool::state::poll(std::unique_lock<std::mutex> &lock, bool block)
{
    polling = true;
    const bool has_deadline = !timers.empty();
    poll_deadline = has_deadline ? timers.top().when : clock::time_point::max();
    lock.unlock();
    epoll_event events[max_events];
    int n = epoll_wait_until(epoll_fd, events, block, has_deadline, poll_deadline);
    if (n < 0 && errno != EINTR)
        log_warning("epoll_wait failed: {}", std::error_code(errno, std::system_category()).message());
    std::vector<std::shared_ptr<fd_watch::registration>> ready;
    lock.lock();
    polling = false;
    for (int i = 0; i < n; i++)
    {
        if (events[i].data.u64 == wake_id)
        {
            std::uint64_t count;
            [[maybe_unused]] ssize_t r = read(wake_fd, &count, sizeof(count));
            wake_pending = false;
            continue;
        }
        auto pos = watches.find(events[i].data.u64);
        if (pos != watches.end())   // else destroyed since epoll_wait returned
            ready.push_back(pos->second);
    }
    // Another idle worker takes over polling while this one runs handlers or tasks.
    if (idle_waiters > 0)
        cond.notify_one();
    if (ready.empty())
        return;
    lock.unlock();
    for (auto &r : ready)
        r->fire();
    ready.clear();
    lock.lock();
}

void thread_pool::state::run()
{
    std::unique_lock<std::mutex> lock(mutex);
    unsigned tasks_since_poll = 0;
    while (true)
    {
        std::function<void()> task;
        if (!timers.empty() && (stopping || timers.top().when <= clock::now()))
        {
            task = std::move(const_cast<timer &>(timers.top()).task);
            timers.pop();
        }
        else if (!tasks.empty())
        {
            if (++tasks_since_poll >= tasks_between_polls && !polling && !stopping)
            {
                tasks_since_poll = 0;
                poll(lock, false);
                continue;
            }
            task = std::move(tasks.front());
            tasks.pop_front();
        }
        else if (stopping)
        {
            wake_poller();   // a poller blocked forever would never join
            return;
        }
        else if (!polling)
        {
            tasks_since_poll = 0;
            poll(lock, true);
            continue;
        }
        else
        {
            idle_waiters++;
            cond.wait(lock);
            idle_waiters--;
            continue;
        }
        lock.unlock();
        try
        {
            task();
        }
        catch (std::exception &e)
        {
            log_warning("worker thread caught exception: {}", e.what());
        }
        task = nullptr;   // release captures outside the lock
        lock.lock();
    }
}

thread_pool::thread_pool(int num_threads) : thread_pool(num_threads, {})
{
}

thread_pool::thread_pool(int num_threads, const std::vector<int> &affinity)
{
    if (num_threads < 1)
        throw std::invalid_argument("at least one thread is required");
    shared = std::make_shared<state>();
    workers.reserve(num_threads);
    try
    {
        for (int i = 0; i < num_threads; i++)
        {
            int core = affinity.empty() ? -1 : affinity[i % affinity.size()];
            workers.emplace_back([shared = shared, core] {
                /* Timers pace send streams in bursts tens of microseconds apart; the
                 * default timer slack (50 us) would let each wait overshoot by that. */
                prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
                if (core >= 0)
                    set_affinity(core);
                shared->run();
            });
        }
    }
    catch (...)
    {
        /* Out of threads or memory part-way.  No destructor runs for a constructor
         * that throws, and destroying a running std::thread terminates the process. */
        stop();
        throw;
    }
}

thread_pool::~thread_pool()
{
    stop();
}

void thread_pool::post(std::function<void()> task)
{
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (shared->stopping)
        throw std::runtime_error("thread pool has been stopped");
    shared->tasks.push_back(std::move(task));
    shared->work_added(false, {});
}

bool thread_pool::is_stopped()
{
    std::lock_guard<std::mutex> lock(shared->mutex);
    return shared->stopping;
}

void thread_pool::post_at(clock::time_point when, std::function<void()> task)
{
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (shared->stopping)
        throw std::runtime_error("thread pool has been stopped");
    shared->timers.push(state::timer{when, shared->timer_seq++, std::move(task)});
    shared->work_added(true, when);
}

void thread_pool::stop()
{
    {
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->stopping && workers.empty())
            return;
        shared->stopping = true;
        shared->wake_poller();
    }
    shared->cond.notify_all();
    for (auto &worker : workers)
        if (worker.get_id() != std::this_thread::get_id())
            worker.join();
        else
            worker.detach();   // stop() called from a task: the worker exits by itself
    workers.clear();
}

void thread_pool::set_affinity(int core)
{
    if (core < 0 || core >= CPU_SETSIZE)
    {
        log_warning("Core ID {} is out of range for a CPU_SET", core);
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    int status = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (status != 0)
        log_warning("Failed to bind to core {}: error {}", core, status);
}

fd_watch::fd_watch(thread_pool &owner, int fd) : pool(owner.shared)
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    reg = std::make_shared<registration>(fd, pool->next_id++);
    epoll_event ev{};
    /* Disarmed until async_wait; EPOLLONESHOT even now, because errors and hang-ups
     * are reported whatever the events asked for. */
    ev.events = EPOLLONESHOT;
    ev.data.u64 = reg->id;
    if (epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        throw_errno("epoll_ctl(EPOLL_CTL_ADD)");
    pool->watches.emplace(reg->id, reg);
}

fd_watch::~fd_watch()
{
    release();
}

void fd_watch::release()
{
    cancel();
    if (released)
        return;
    released = true;
    std::lock_guard<std::mutex> lock(pool->mutex);
    epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, reg->fd, nullptr);
    pool->watches.erase(reg->id);
}

int fd_watch::get_fd() const
{
    return reg->fd;
}

bool fd_watch::async_wait(fd_event event, std::function<void()> handler)
{
    std::lock_guard<std::mutex> lock(reg->mutex);
    if (reg->cancelled)
        return false;
    if (reg->handler)
        throw std::logic_error("fd_watch::async_wait: a wait is already pending");
    reg->handler = std::move(handler);
    epoll_event ev{};
    ev.events = std::uint32_t(event) | EPOLLONESHOT;
    ev.data.u64 = reg->id;
    // Under reg->mutex, so that it cannot fire before the handler is in place.
    if (epoll_ctl(pool->epoll_fd, EPOLL_CTL_MOD, reg->fd, &ev) < 0)
    {
        reg->handler = nullptr;
        throw_errno("epoll_ctl(EPOLL_CTL_MOD)");
    }
    return true;
}

bool fd_watch::cancel()
{
    std::unique_lock<std::mutex> lock(reg->mutex);
    reg->cancelled = true;
    std::function<void()> dropped = std::move(reg->handler);
    reg->handler = nullptr;
    const int self = current_handler == reg.get() ? 1 : 0;
    reg->idle.wait(lock, [this, self] { return reg->running <= self; });
    lock.unlock();
    return bool(dropped);   // dropped (and its captures released) without any lock
}

} // namespace spead2
