/* The thread pool's waits on file descriptors (fd_watch): one-shot handlers, cancel()
 * semantics, and fairness between timers, posted tasks and descriptors on one worker. */
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <thread>
#include <vector>
#include <unistd.h>
#include <sys/prctl.h>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include "check.h"

using namespace std::chrono_literals;

namespace
{

struct pipe_pair
{
    spead2::file_descriptor read_end, write_end;
    pipe_pair()
    {
        int fds[2];
        if (pipe(fds) == 0)
        {
            read_end.reset(fds[0]);
            write_end.reset(fds[1]);
        }
    }
    void poke() { [[maybe_unused]] ssize_t n = write(write_end.get(), "x", 1); }
    void drain()
    {
        char buffer[64];
        [[maybe_unused]] ssize_t n = read(read_end.get(), buffer, sizeof(buffer));
    }
};

template<typename F>
bool eventually(F &&condition, std::chrono::milliseconds limit = 5000ms)
{
    auto end = std::chrono::steady_clock::now() + limit;
    while (!condition())
    {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

int test_handler_runs_once_when_ready()
{
    spead2::thread_pool pool(1);
    pipe_pair p;
    spead2::fd_watch watch(pool, p.read_end.get());
    std::atomic<int> calls{0};
    CHECK(watch.async_wait(spead2::fd_event::readable, [&] { calls++; }));
    std::this_thread::sleep_for(20ms);
    CHECK(calls == 0);   // not ready yet
    p.poke();
    CHECK(eventually([&] { return calls == 1; }));
    p.poke();            // one-shot: no new wait, no new call
    std::this_thread::sleep_for(20ms);
    CHECK(calls == 1);
    CHECK(watch.async_wait(spead2::fd_event::readable, [&] { calls++; }));   // still readable: fires at once
    CHECK(eventually([&] { return calls == 2; }));
    return 0;
}

int test_cancel_drops_pending_and_refuses_later_waits()
{
    spead2::thread_pool pool(2);
    pipe_pair p;
    spead2::fd_watch watch(pool, p.read_end.get());
    std::atomic<int> calls{0};
    CHECK(watch.async_wait(spead2::fd_event::readable, [&] { calls++; }));
    CHECK(watch.cancel());
    p.poke();
    std::this_thread::sleep_for(20ms);
    CHECK(calls == 0);
    CHECK(!watch.async_wait(spead2::fd_event::readable, [&] { calls++; }));
    CHECK(!watch.cancel());   // nothing pending any more
    return 0;
}

int test_cancel_waits_for_running_handler()
{
    spead2::thread_pool pool(1);
    pipe_pair p;
    spead2::fd_watch watch(pool, p.read_end.get());
    std::atomic<bool> started{false}, finished{false};
    watch.async_wait(spead2::fd_event::readable, [&] {
        started = true;
        std::this_thread::sleep_for(100ms);
        finished = true;
    });
    p.poke();
    CHECK(eventually([&] { return started.load(); }));
    watch.cancel();
    CHECK(finished);   // cancel() returned only after the handler did
    return 0;
}

int test_cancel_from_own_handler()
{
    spead2::thread_pool pool(1);
    pipe_pair p;
    spead2::fd_watch watch(pool, p.read_end.get());
    std::promise<bool> result;
    watch.async_wait(spead2::fd_event::readable, [&] {
        watch.cancel();   // must not wait for itself
        result.set_value(watch.async_wait(spead2::fd_event::readable, [] {}));
    });
    p.poke();
    auto f = result.get_future();
    CHECK(f.wait_for(5s) == std::future_status::ready);
    CHECK(!f.get());
    return 0;
}

int test_writable_wait()
{
    spead2::thread_pool pool(1);
    pipe_pair p;
    spead2::fd_watch watch(pool, p.write_end.get());
    std::atomic<int> calls{0};
    watch.async_wait(spead2::fd_event::writable, [&] { calls++; });
    CHECK(eventually([&] { return calls == 1; }));   // an empty pipe is writable
    return 0;
}

/* One worker: a task that re-posts itself forever must not starve timers or
 * descriptors (the core's network readers and rate-limited writers share workers). */
int test_one_worker_serves_everything()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    std::atomic<bool> spinning{true};
    std::atomic<long> spins{0};
    std::function<void()> spin = [&] {
        spins++;
        if (spinning)
            pool->post(spin);
    };
    pool->post(spin);

    std::atomic<int> timer_fired{0};
    auto start = spead2::thread_pool::clock::now();
    std::atomic<long long> timer_delay_us{0};
    pool->post_at(start + 20ms, [&] {
        timer_delay_us = std::chrono::duration_cast<std::chrono::microseconds>(
            spead2::thread_pool::clock::now() - start).count();
        timer_fired++;
    });

    std::vector<std::unique_ptr<pipe_pair>> pipes;
    std::vector<std::unique_ptr<spead2::fd_watch>> watches;
    std::atomic<int> reads{0};
    for (int i = 0; i < 4; i++)
    {
        pipes.push_back(std::make_unique<pipe_pair>());
        watches.push_back(std::make_unique<spead2::fd_watch>(*pool, pipes.back()->read_end.get()));
    }
    for (int round = 0; round < 3; round++)
    {
        int before = reads;
        for (int i = 0; i < 4; i++)
        {
            pipe_pair *pp = pipes[i].get();
            watches[i]->async_wait(spead2::fd_event::readable, [&reads, pp] {
                pp->drain();
                reads++;
            });
            pp->poke();
        }
        CHECK(eventually([&] { return reads == before + 4; }));
    }
    CHECK(eventually([&] { return timer_fired == 1; }));
    CHECK(timer_delay_us >= 20000);
    CHECK(timer_delay_us < 1000000);
    CHECK(spins > 100);   // the task stream itself kept running
    spinning = false;
    for (auto &w : watches)
        w->cancel();
    pool->stop();
    return 0;
}

int test_stop_with_pending_wait()
{
    pipe_pair p;
    auto pool = std::make_unique<spead2::thread_pool>(2);
    auto watch = std::make_unique<spead2::fd_watch>(*pool, p.read_end.get());
    std::atomic<int> calls{0};
    watch->async_wait(spead2::fd_event::readable, [&] { calls++; });
    std::atomic<bool> timer_ran{false};
    pool->post_at(spead2::thread_pool::clock::now() + 1h, [&] { timer_ran = true; });
    pool->stop();   // returns although the descriptor never becomes ready; timers run at stop
    CHECK(timer_ran);
    CHECK(calls == 0);
    watch.reset();  // a watch may outlive its pool's workers
    pool.reset();
    return 0;
}

int test_timer_precision()
{
    /* Rate limiting pauses for tens of microseconds: timers must not round up to
     * milliseconds.  The median lateness is checked, so a loaded machine's outliers
     * do not matter. */
    spead2::thread_pool pool(1);
    std::atomic<int> done{0};
    std::vector<long long> late_us(50);
    for (int i = 0; i < 50; i++)
    {
        auto when = spead2::thread_pool::clock::now() + 200us;
        pool.post_at(when, [&, when, i] {
            late_us[i] = std::chrono::duration_cast<std::chrono::microseconds>(
                spead2::thread_pool::clock::now() - when).count();
            done++;
        });
        CHECK(eventually([&] { return done == i + 1; }));
    }
    std::sort(late_us.begin(), late_us.end());
    CHECK(late_us[0] >= 0);
    CHECK(late_us[25] < 500);
    return 0;
}

int test_workers_have_no_timer_slack()
{
    /* With the kernel's default 50 us slack, every pause of a rate-limited stream
     * overshot: a 10 Gb/s stream in 64 KiB bursts (52 us apart) reached 8 Gb/s. */
    spead2::thread_pool pool(2);
    std::promise<std::vector<long>> slacks;
    auto result = slacks.get_future();
    std::atomic<int> seen{0};
    std::vector<long> values(2);
    for (int i = 0; i < 2; i++)
        pool.post([&, i] {
            values[i] = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
            if (++seen == 2)
                slacks.set_value(values);
        });
    CHECK(result.wait_for(5s) == std::future_status::ready);
    for (long slack : result.get())
        CHECK(slack == 1);
    return 0;
}

} // namespace

int main()
{
    int failures = 0;
    failures += test_handler_runs_once_when_ready();
    failures += test_cancel_drops_pending_and_refuses_later_waits();
    failures += test_cancel_waits_for_running_handler();
    failures += test_cancel_from_own_handler();
    failures += test_writable_wait();
    failures += test_one_worker_serves_everything();
    failures += test_stop_with_pending_wait();
    failures += test_timer_precision();
    failures += test_workers_have_no_timer_slack();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
