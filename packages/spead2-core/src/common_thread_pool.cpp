#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <pthread.h>
#include <queue>
#include <sched.h>
#include <stdexcept>
#include <spead2/common_logging.h>
#include <spead2/common_thread_pool.h>

namespace spead2
{

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
    std::condition_variable cond;
    std::deque<std::function<void()>> tasks;
    std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers;
    std::uint64_t timer_seq = 0;
    bool stopping = false;

    void run();
};

thread_pool::thread_pool(int num_threads) : thread_pool(num_threads, {})
{
}

thread_pool::thread_pool(int num_threads, const std::vector<int> &affinity)
    : shared(std::make_shared<state>())
{
    if (num_threads < 1)
        throw std::invalid_argument("at least one thread is required");
    workers.reserve(num_threads);
    try
    {
        for (int i = 0; i < num_threads; i++)
        {
            int core = affinity.empty() ? -1 : affinity[i % affinity.size()];
            workers.emplace_back([shared = shared, core] {
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

void thread_pool::state::run()
{
    std::unique_lock<std::mutex> lock(mutex);
    while (true)
    {
        std::function<void()> task;
        if (!tasks.empty())
        {
            task = std::move(tasks.front());
            tasks.pop_front();
        }
        else if (!timers.empty() && (stopping || timers.top().when <= clock::now()))
        {
            task = std::move(const_cast<timer &>(timers.top()).task);
            timers.pop();
        }
        else if (stopping)
            return;   // nothing left to run
        else
        {
            if (timers.empty())
                cond.wait(lock);
            else
                cond.wait_until(lock, timers.top().when);
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

void thread_pool::post(std::function<void()> task)
{
    {
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->stopping)
            throw std::runtime_error("thread pool has been stopped");
        shared->tasks.push_back(std::move(task));
    }
    shared->cond.notify_one();
}

bool thread_pool::is_stopped()
{
    std::lock_guard<std::mutex> lock(shared->mutex);
    return shared->stopping;
}

void thread_pool::post_at(clock::time_point when, std::function<void()> task)
{
    {
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->stopping)
            throw std::runtime_error("thread pool has been stopped");
        shared->timers.push(state::timer{when, shared->timer_seq++, std::move(task)});
    }
    // A new earliest deadline must shorten some worker's wait.
    shared->cond.notify_all();
}

void thread_pool::stop()
{
    {
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->stopping && workers.empty())
            return;
        shared->stopping = true;
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

} // namespace spead2
