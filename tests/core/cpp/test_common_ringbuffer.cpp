/* The ring buffer between a receive worker and its consumer: status codes instead of
 * exceptions for the routine outcomes, an item left untouched when a push fails, FIFO
 * order across wrap-around, the stop protocol, and a readiness fd that reflects the
 * ring's state whenever it is first asked for. */
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <poll.h>
#include <thread>
#include <spead2/common_ringbuffer.h>
#include "check.h"

namespace
{

using spead2::ring_status;
typedef spead2::ringbuffer<std::unique_ptr<int>> ring_type;

bool readable(int fd)
{
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

int test_status_codes()
{
    ring_type ring(2);
    std::optional<std::unique_ptr<int>> out;
    CHECK(ring.try_pop(out) == ring_status::empty && !out);
    for (int i = 0; i < 2; i++)
        CHECK(ring.try_push(std::make_unique<int>(i)) == ring_status::ok);
    auto extra = std::make_unique<int>(99);
    CHECK(ring.try_push(std::move(extra)) == ring_status::full);
    CHECK(extra && *extra == 99);   // a refused item stays with the caller
    CHECK(ring.size() == 2 && ring.capacity() == 2);
    // FIFO across several wrap-arounds of the two slots.
    for (int i = 2; i < 9; i++)
    {
        CHECK(ring.try_pop(out) == ring_status::ok && **out == i - 2);
        CHECK(ring.try_push(std::make_unique<int>(i)) == ring_status::ok);
    }
    ring.stop();
    CHECK(ring.try_push(std::make_unique<int>(0)) == ring_status::stopped);
    CHECK(ring.try_pop(out) == ring_status::ok && **out == 7);
    CHECK(ring.try_pop(out) == ring_status::ok && **out == 8);
    CHECK(ring.try_pop(out) == ring_status::stopped);
    bool thrown = false;
    try
    {
        ring.pop();
    }
    catch (spead2::ringbuffer_stopped &)
    {
        thrown = true;
    }
    CHECK(thrown);
    return 0;
}

int test_blocking_push_released_by_pop_and_stop()
{
    ring_type ring(1);
    CHECK(ring.try_push(std::make_unique<int>(1)) == ring_status::ok);
    std::thread producer([&ring] { ring.push(std::make_unique<int>(2)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(*ring.pop() == 1);   // makes room: the blocked push completes
    CHECK(*ring.pop() == 2);
    producer.join();

    CHECK(ring.try_push(std::make_unique<int>(3)) == ring_status::ok);
    bool stopped = false;
    std::thread blocked([&ring, &stopped] {
        try
        {
            ring.push(std::make_unique<int>(4));
        }
        catch (spead2::ringbuffer_stopped &)
        {
            stopped = true;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ring.stop();
    blocked.join();
    CHECK(stopped);
    CHECK(*ring.pop() == 3);
    return 0;
}

int test_readiness_fd()
{
    // Asked for late, the fd still starts out in step with the contents.
    ring_type ring(2);
    CHECK(ring.try_push(std::make_unique<int>(1)) == ring_status::ok);
    const int fd = ring.get_data_fd();
    CHECK(fd == ring.get_data_fd());
    CHECK(readable(fd));
    std::optional<std::unique_ptr<int>> out;
    CHECK(ring.try_pop(out) == ring_status::ok);
    CHECK(!readable(fd));
    CHECK(ring.try_push(std::make_unique<int>(2)) == ring_status::ok);
    CHECK(readable(fd));
    CHECK(ring.try_pop(out) == ring_status::ok);
    CHECK(!readable(fd));
    ring.stop();
    CHECK(readable(fd));   // stopped: readable for good

    ring_type stopped_first(1);
    stopped_first.stop();
    CHECK(readable(stopped_first.get_data_fd()));
    return 0;
}

int test_space_fd()
{
    ring_type ring(2);
    CHECK(ring.try_push(std::make_unique<int>(1)) == ring_status::ok);
    const int fd = ring.get_space_fd();
    CHECK(fd == ring.get_space_fd());
    CHECK(readable(fd));   // one slot free
    CHECK(ring.try_push(std::make_unique<int>(2)) == ring_status::ok);
    CHECK(!readable(fd));  // full
    std::optional<std::unique_ptr<int>> out;
    CHECK(ring.try_pop(out) == ring_status::ok);
    CHECK(readable(fd));
    CHECK(ring.try_push(std::make_unique<int>(3)) == ring_status::ok);
    CHECK(!readable(fd));
    ring.stop();
    CHECK(readable(fd));   // stopped: a producer must wake up to see it

    ring_type full_first(1);
    CHECK(full_first.try_push(std::make_unique<int>(1)) == ring_status::ok);
    CHECK(!readable(full_first.get_space_fd()));
    return 0;
}

int test_wait_for_space()
{
    ring_type ring(1);
    CHECK(ring.wait_for_space(std::chrono::milliseconds(0)));
    CHECK(ring.try_push(std::make_unique<int>(1)) == ring_status::ok);
    CHECK(!ring.wait_for_space(std::chrono::milliseconds(20)));
    std::thread popper([&ring] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ring.pop();
    });
    CHECK(ring.wait_for_space(std::chrono::seconds(5)));
    popper.join();
    CHECK(ring.try_push(std::make_unique<int>(2)) == ring_status::ok);
    std::thread stopper([&ring] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ring.stop();
    });
    CHECK(ring.wait_for_space(std::chrono::seconds(5)));   // stopped counts as ready
    stopper.join();
    return 0;
}

int test_producers()
{
    ring_type ring(2);
    CHECK(!ring.remove_producer());   // none registered: nothing happens
    CHECK(!ring.is_stopped());
    ring.add_producer();
    ring.add_producer();
    CHECK(ring.try_push(std::make_unique<int>(1)) == ring_status::ok);
    CHECK(!ring.remove_producer());
    CHECK(!ring.is_stopped());
    CHECK(ring.remove_producer());    // the last one stops the ring
    CHECK(ring.is_stopped());
    CHECK(*ring.pop() == 1);          // what was pushed stays retrievable
    CHECK(!ring.remove_producer());
    return 0;
}

} // anonymous namespace

int main()
{
    if (test_status_codes() || test_blocking_push_released_by_pop_and_stop() || test_readiness_fd()
        || test_space_fd() || test_wait_for_space() || test_producers())
        return 1;
    std::puts("ok");
    return 0;
}
