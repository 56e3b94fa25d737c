/* stream::post_locked (recv_stream.h): work a stream subclass posts from any thread
 * runs on the stream's thread pool as a batch would, with the stream's lock and the
 * batch statistics, is waited for by stop(), and is skipped once the stream stopped. */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_live_heap.h>
#include <spead2/recv_stream.h>
#include "check.h"

namespace
{

spead2::recv::stream_config config_with_pokes()
{
    spead2::recv::stream_config config;
    config.add_stat("pokes");
    return config;
}

class poked_stream : public spead2::recv::stream
{
public:
    std::size_t pokes_index;
    std::atomic<int> runs{0};
    std::atomic<int> runs_with_batch_stats{0};

    explicit poked_stream(std::shared_ptr<spead2::thread_pool> pool)
        : stream(std::move(pool), config_with_pokes()), pokes_index(get_config().get_stat_index("pokes"))
    {
    }

    ~poked_stream() override { stop(); }

    /// Count a poke from the worker; @a delay keeps the task busy (to race with stop()).
    void poke(std::chrono::milliseconds delay = std::chrono::milliseconds(0))
    {
        post_locked([this, delay] {
            std::this_thread::sleep_for(delay);
            if (std::uint64_t *stats = batch_stats())
            {
                stats[pokes_index]++;
                runs_with_batch_stats++;
            }
            runs++;
        });
    }

protected:
    void heap_ready(spead2::recv::live_heap &&) override {}
};

int wait_for_runs(poked_stream &s, int expected)
{
    for (int i = 0; i < 2000 && s.runs < expected; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return s.runs;
}

int test_runs_as_a_batch()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    poked_stream s(pool);
    s.poke();
    s.poke();
    CHECK(wait_for_runs(s, 2) == 2);
    CHECK(s.runs_with_batch_stats == 2);
    // The batch's counters reach the totals when the task's batch ends.
    for (int i = 0; i < 2000 && s.get_stats()[s.pokes_index] < 2; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(s.get_stats()[s.pokes_index] == 2);
    return 0;
}

int test_stop_waits_for_posted_work()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    poked_stream s(pool);
    s.poke(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));   // the task is running
    s.stop();
    CHECK(s.runs == 1);
    CHECK(s.get_stats()[s.pokes_index] == 1);
    return 0;
}

int test_skipped_after_stop()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    poked_stream s(pool);
    s.stop();
    s.poke();
    pool->stop();   // runs (or discards) everything posted
    CHECK(s.runs == 0);
    return 0;
}

} // anonymous namespace

int main()
{
    int failures = test_runs_as_a_batch() + test_stop_waits_for_posted_work() + test_skipped_after_stop();
    if (failures == 0)
        std::printf("ok\n");
    return failures;
}
