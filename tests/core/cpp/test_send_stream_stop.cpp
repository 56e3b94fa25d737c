/* Cancelling a send stream whose transport has stalled (a TCP peer that stopped
 * reading): stop() and close() return, the stalled heap and the queued ones fail with
 * ECANCELED, later sends are refused, and the destructor cannot hang. */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>
#include <spead2/common_thread_pool.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

using namespace std::chrono_literals;

namespace
{

/// Accepts the first batch, then never completes a write until cancelled.
class stalling_writer : public spead2::send::writer
{
public:
    std::mutex mutex;
    std::function<void()> pending_done;
    spead2::send::transmit_packet *pending = nullptr;
    std::size_t pending_n = 0;
    std::atomic<int> batches{0};
    std::atomic<int> cancels{0};

    std::size_t num_substreams() const override { return 1; }

    void write_packets(spead2::send::transmit_packet *packets, std::size_t n, std::function<void()> done) override
    {
        if (batches++ == 0)
        {
            done();
            return;
        }
        std::lock_guard<std::mutex> lock(mutex);
        pending = packets;
        pending_n = n;
        pending_done = std::move(done);
    }

    void cancel() override
    {
        cancels++;
        std::function<void()> done;
        {
            std::lock_guard<std::mutex> lock(mutex);
            for (std::size_t i = 0; i < pending_n; i++)
                pending[i].result = std::make_error_code(std::errc::operation_canceled);
            done = std::move(pending_done);
            pending_done = nullptr;
        }
        if (done)
            done();
    }
};

struct outcome
{
    std::atomic<int> calls{0};
    std::error_code error;
    spead2::item_pointer_t bytes = 0;
};

spead2::send::completion_handler record(outcome &o)
{
    return [&o](const std::error_code &ec, spead2::item_pointer_t bytes) {
        o.error = ec;
        o.bytes = bytes;
        o.calls++;
    };
}

/// Enough packets that the stalling writer's second batch is needed.
struct big_heap
{
    std::vector<std::uint8_t> payload = std::vector<std::uint8_t>(200 * 1024);
    spead2::send::heap heap;
    big_heap() { heap.add_item(0x1000, payload.data(), payload.size(), false); }
};

std::unique_ptr<spead2::send::stream> make_stream(std::shared_ptr<spead2::thread_pool> pool, stalling_writer *&w)
{
    auto writer = std::make_unique<stalling_writer>();
    w = writer.get();
    spead2::send::stream_config config;
    config.set_max_packet_size(1024);
    return std::make_unique<spead2::send::stream>(pool, config, std::move(writer));
}

int test_stop_cancels_stalled_and_queued()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    stalling_writer *w;
    auto s = make_stream(pool, w);
    big_heap big;   // 200 packets: the first batch goes out, the second stalls
    spead2::send::heap small;
    outcome first, second, later;
    CHECK(s->async_send_heap(big.heap, record(first)));
    CHECK(s->async_send_heap(small, record(second)));
    CHECK(first.calls == 0);
    s->stop();
    CHECK(w->cancels == 1);
    CHECK(first.calls == 1);
    CHECK(first.error == std::errc::operation_canceled);
    CHECK(first.bytes > 0);   // the first batch did go out
    CHECK(second.calls == 1);
    CHECK(second.error == std::errc::operation_canceled);
    CHECK(second.bytes == 0);
    CHECK(!s->async_send_heap(small, record(later)));
    CHECK(later.calls == 1);
    CHECK(later.error == std::errc::operation_canceled);
    s->stop();   // idempotent
    CHECK(w->cancels == 1);
    return 0;
}

int test_close_lingers_then_cancels()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    stalling_writer *w;
    auto s = make_stream(pool, w);
    big_heap big;
    outcome o;
    s->async_send_heap(big.heap, record(o));
    auto start = std::chrono::steady_clock::now();
    s->close(100ms);
    auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= 100ms);
    CHECK(o.calls == 1);
    CHECK(o.error == std::errc::operation_canceled);
    return 0;
}

int test_close_of_idle_stream_is_immediate()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    stalling_writer *w;
    auto s = make_stream(pool, w);
    spead2::send::heap small;
    outcome o;
    s->async_send_heap(small, record(o));   // the first batch completes at once
    s->close(10s);
    CHECK(o.calls == 1);
    CHECK(!o.error);
    CHECK(w->cancels == 0);
    return 0;
}

} // namespace

int main()
{
    int failures = 0;
    failures += test_stop_cancels_stalled_and_queued();
    failures += test_close_lingers_then_cancels();
    failures += test_close_of_idle_stream_is_immediate();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
