/* writer::take_over_pacing (send_stream.h): with rate_method HW a transport that paces
 * itself is offered the rate once, and the stream then stops pacing heaps sent at the
 * configured rate; a transport that declines, and AUTO or SW, keep software pacing;
 * a heap with a rate of its own is always paced in software.  The checks are bounds
 * that hold on a loaded machine: paced sends take at least their duration, unpaced
 * ones far less than theirs. */
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>
#include <spead2/common_thread_pool.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

class pacing_writer : public spead2::send::writer
{
public:
    bool accept;
    int offers = 0;
    double offered_rate = 0;
    std::size_t offered_packet_size = 0;

    explicit pacing_writer(bool accept) : accept(accept) {}

    std::size_t num_substreams() const override { return 1; }

    void write_packets(spead2::send::transmit_packet *, std::size_t, std::function<void()> done) override
    {
        done();   // a NIC that paces would hold the packets; here only the stream's timing matters
    }

    bool take_over_pacing(double rate, std::size_t max_packet_size) override
    {
        offers++;
        offered_rate = rate;
        offered_packet_size = max_packet_size;
        return accept;
    }
};

struct outcome
{
    int offers;
    double offered_rate;
    std::size_t offered_packet_size;
    bool transport_paced;
    double seconds;
};

/// Send @a n_heaps heaps of 100 kB (each at @a heap_rate if non-negative) and time them.
outcome send(spead2::send::rate_method method, double rate, bool accept, int n_heaps = 3, double heap_rate = -1)
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    auto writer = std::make_unique<pacing_writer>(accept);
    pacing_writer *w = writer.get();
    spead2::send::stream_config config;
    config.set_rate(rate).set_rate_method(method).set_max_packet_size(8000);
    spead2::send::stream s(pool, config, std::move(writer));
    std::vector<std::uint8_t> payload(100000);
    spead2::send::heap h;
    h.add_item(0x1000, payload.data(), payload.size(), false);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n_heaps; i++)
        s.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {}, -1, 0, heap_rate);
    s.flush();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {w->offers, w->offered_rate, w->offered_packet_size, s.is_transport_paced(), seconds};
}

int test_hw_accepted()
{
    // At 1 kB/s, 300 kB would take five minutes if the stream still paced them.
    outcome o = send(spead2::send::rate_method::HW, 1000, true);
    CHECK(o.offers == 1 && o.offered_rate == 1000 && o.offered_packet_size == 8000);
    CHECK(o.transport_paced);
    CHECK(o.seconds < 30);
    return 0;
}

int test_hw_declined()
{
    outcome o = send(spead2::send::rate_method::HW, 1e6, false);   // 300 kB at 1 MB/s
    CHECK(o.offers == 1 && !o.transport_paced);
    CHECK(o.seconds >= 0.2);
    return 0;
}

int test_auto_and_sw_are_not_offered()
{
    for (auto method : {spead2::send::rate_method::AUTO, spead2::send::rate_method::SW})
    {
        outcome o = send(method, 1e6, true);
        CHECK(o.offers == 0 && !o.transport_paced);
        CHECK(o.seconds >= 0.2);
    }
    CHECK(send(spead2::send::rate_method::HW, 0, true).offers == 0);   // nothing to pace
    return 0;
}

int test_heap_rate_still_paced_in_software()
{
    outcome o = send(spead2::send::rate_method::HW, 1000, true, 3, 1e6);
    CHECK(o.transport_paced);
    CHECK(o.seconds >= 0.2);
    return 0;
}

} // anonymous namespace

int main()
{
    int failures = test_hw_accepted() + test_hw_declined() + test_auto_and_sw_are_not_offered()
                   + test_heap_rate_still_paced_in_software();
    if (failures == 0)
        std::printf("ok\n");
    return failures;
}
