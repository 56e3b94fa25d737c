/* The memcpy routines and their use by receive streams: the non-temporal copy is exact
 * at every alignment, is a routine of its own (not std::memcpy under another name),
 * and a stream copies payload with whichever routine its config names. */
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>
#include <spead2/common_logging.h>
#include <spead2/common_memcpy.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

/// Every destination and source alignment, lengths around the 64-byte block size and beyond.
int test_nontemporal_exact()
{
    std::vector<std::uint8_t> src(4096 + 64), dest(4096 + 64);
    for (std::size_t i = 0; i < src.size(); i++)
        src[i] = std::uint8_t(i * 131 + 7);
    for (std::size_t dest_offset = 0; dest_offset < 32; dest_offset++)
        for (std::size_t src_offset = 0; src_offset < 16; src_offset += 5)
            for (std::size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 255, 256, 1000, 4000})
            {
                std::fill(dest.begin(), dest.end(), 0xEE);
                void *ret = spead2::memcpy_nontemporal(dest.data() + dest_offset, src.data() + src_offset, n);
                CHECK(ret == dest.data() + dest_offset);
                CHECK(std::memcmp(dest.data() + dest_offset, src.data() + src_offset, n) == 0);
                // Nothing written outside [dest_offset, dest_offset + n).
                for (std::size_t i = 0; i < dest.size(); i++)
                    if (i < dest_offset || i >= dest_offset + n)
                        CHECK(dest[i] == 0xEE);
            }
    return 0;
}

int test_function_ids()
{
    CHECK(spead2::get_memcpy_function(spead2::memcpy_function_id::STD) == &std::memcpy);
    CHECK(spead2::get_memcpy_function(spead2::memcpy_function_id::NONTEMPORAL) == &spead2::memcpy_nontemporal);
    return 0;
}

std::atomic<std::size_t> copied_bytes{0};

void *counting_memcpy(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept
{
    copied_bytes += n;
    return std::memcpy(dest, src, n);
}

/// The stream's payload copies go through the configured routine.
int test_stream_uses_configured_memcpy(const std::shared_ptr<spead2::thread_pool> &pool)
{
    std::vector<std::uint8_t> values(5000, 0x5A);
    spead2::send::heap data_heap;
    data_heap.add_item(0x1000, values.data(), values.size(), false);
    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    std::vector<std::uint8_t> wire;
    {
        spead2::send::stream sender(pool, spead2::send::stream_config(), std::move(writer));
        sender.async_send_heap(data_heap, [](const std::error_code &, spead2::item_pointer_t) {});
        sender.flush();
        bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
    }
    spead2::recv::stream_config config;
    config.set_memcpy(counting_memcpy);
    spead2::recv::ring_stream receiver(pool, config);
    receiver.emplace_reader<spead2::recv::mem_reader>(wire.data(), wire.size());
    auto popped = receiver.get_ringbuffer().pop();
    auto *h = std::get_if<spead2::recv::heap>(&popped);
    CHECK(h != nullptr && h->get_items().size() == 1);
    CHECK(std::memcmp(h->get_items()[0].data(), values.data(), values.size()) == 0);
    // Every payload byte, and nothing else, went through the configured routine.
    CHECK(copied_bytes == values.size());
    return 0;
}

} // anonymous namespace

int main()
{
    spead2::set_log_function([](spead2::log_level, const std::string &) {});
    auto pool = std::make_shared<spead2::thread_pool>(1);
    if (test_nontemporal_exact() || test_function_ids() || test_stream_uses_configured_memcpy(pool))
        return 1;
    std::puts("ok");
    return 0;
}
