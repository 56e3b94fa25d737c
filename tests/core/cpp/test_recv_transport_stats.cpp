/* register_transport_stat and stream::add_stat (recv_stream.h): a transport declares
 * extension statistics once, every receive stream made afterwards has them by name
 * (outside the 4.x layout), and counts made outside any batch land in them. */
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_live_heap.h>
#include <spead2/recv_stream.h>
#include "check.h"

namespace
{

using spead2::recv::stream_stat_config;

class plain_stream : public spead2::recv::stream
{
public:
    using stream::stream;
    ~plain_stream() override { stop(); }
    void heap_ready(spead2::recv::live_heap &&) override {}
};

int test_streams_made_afterwards_have_it()
{
    auto pool = std::make_shared<spead2::thread_pool>();
    spead2::recv::stream_config config;
    config.add_stat("mine");
    plain_stream before(pool, config);
    bool found = true;
    try
    {
        before.get_stats().index_of("test_transport_readers");
    }
    catch (std::out_of_range &)
    {
        found = false;
    }
    CHECK(!found);

    spead2::recv::register_transport_stat("test_transport_readers");
    spead2::recv::register_transport_stat("test_transport_readers");   // again: harmless
    spead2::recv::register_transport_stat("test_transport_peak", stream_stat_config::mode::MAXIMUM);
    plain_stream after(pool, config);
    auto stats = after.get_stats();
    // The 4.x layout is untouched: core statistics and the user's.
    CHECK(stats.size() == before.get_stats().size());
    CHECK(stats.get_config().back().get_name() == "mine");
    const std::size_t readers = after.get_config().get_stat_index("test_transport_readers");
    const std::size_t peak = after.get_config().get_stat_index("test_transport_peak");
    CHECK(readers >= stats.size() && peak >= stats.size());
    CHECK(stats.index_of("test_transport_readers") == readers);
    CHECK(stats[readers] == 0);

    after.add_stat(readers, 1);
    after.add_stat(readers, 2);
    after.add_stat(peak, 7);
    after.add_stat(peak, 3);
    stats = after.get_stats();
    CHECK(stats[readers] == 3);
    CHECK(stats[peak] == 7);
    return 0;
}

int test_another_mode_is_refused()
{
    spead2::recv::register_transport_stat("test_transport_mode");
    try
    {
        spead2::recv::register_transport_stat("test_transport_mode", stream_stat_config::mode::MAXIMUM);
    }
    catch (std::invalid_argument &)
    {
        return 0;
    }
    CHECK(!"registering a name with another mode should throw");
    return 1;
}

} // anonymous namespace

int main()
{
    int failures = test_streams_made_afterwards_have_it() + test_another_mode_is_refused();
    if (failures == 0)
        std::printf("ok\n");
    return failures;
}
