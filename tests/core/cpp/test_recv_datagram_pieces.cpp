/* add_packet_state::add_datagram for a datagram in pieces (recv_stream.h): the payload
 * reaches the heap intact and the datagram counts as one packet, whether it is copied
 * from the pieces (headers in the first piece), gathered first (headers split, or a
 * stream with a heap placement), or refused (pieces that do not add up). */
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_heap_placement.h>
#include <spead2/recv_live_heap.h>
#include <spead2/recv_stream.h>
#include <spead2/send_bytes.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>
#include "check.h"

namespace
{

using spead2::recv::datagram_piece;
namespace indices = spead2::recv::stream_stat_indices;

constexpr std::size_t value_size = 9000;

std::vector<std::uint8_t> value()
{
    std::vector<std::uint8_t> v(value_size);
    for (std::size_t i = 0; i < value_size; i++)
        v[i] = std::uint8_t(i * 7 + i / 251);
    return v;
}

/// One heap (cnt 1, item 0x1000 = value()) in one packet.
std::vector<std::uint8_t> encode(const std::shared_ptr<spead2::thread_pool> &pool)
{
    auto writer = std::make_unique<spead2::send::bytes_writer>();
    auto *bytes = writer.get();
    spead2::send::stream_config config;
    config.set_max_packet_size(9500);
    spead2::send::stream sender(pool, config, std::move(writer));
    const std::vector<std::uint8_t> v = value();
    spead2::send::heap h;
    h.add_item(0x1000, v.data(), v.size(), false);
    sender.async_send_heap(h, [](const std::error_code &, spead2::item_pointer_t) {}, 1);
    sender.flush();
    std::vector<std::uint8_t> wire;
    bytes->with_value([&wire](const std::uint8_t *p, std::size_t n) { wire.assign(p, p + n); });
    return wire;
}

/// Bytes of the packet's header and item pointers.
std::size_t header_bytes(const std::vector<std::uint8_t> &wire)
{
    spead2::recv::packet_header packet;
    spead2::recv::decode_packet(packet, wire.data(), wire.size());
    return std::size_t(packet.payload - wire.data());
}

/// The packet cut at @a cuts (offsets into it).
std::vector<datagram_piece> cut(const std::vector<std::uint8_t> &wire, std::vector<std::size_t> cuts)
{
    std::vector<datagram_piece> pieces;
    std::size_t start = 0;
    cuts.push_back(wire.size());
    for (std::size_t end : cuts)
    {
        pieces.push_back({wire.data() + start, end - start});
        start = end;
    }
    return pieces;
}

class collecting_stream : public spead2::recv::stream
{
public:
    std::vector<spead2::recv::heap> heaps;

    using stream::stream;
    ~collecting_stream() override { stop(); }

    void heap_ready(spead2::recv::live_heap &&h) override { heaps.emplace_back(std::move(h)); }
};

/// Storage of its own for every heap: a stream whose placement must see contiguous packets.
class placed_stream : public spead2::recv::stream, private spead2::recv::heap_placement
{
public:
    std::vector<std::uint8_t> storage = std::vector<std::uint8_t>(value_size + 64, 0);
    int contiguous_copies = 0;

    explicit placed_stream(std::shared_ptr<spead2::thread_pool> pool)
        : stream(std::move(pool), spead2::recv::stream_config())
    {
        set_heap_placement(*this);
    }
    ~placed_stream() override { stop(); }

private:
    spead2::recv::heap_place place(const spead2::recv::packet_header &, std::uint64_t *) override
    {
        return {storage.data(), {0, 0}};
    }

    void copy(std::uint8_t *dst, const spead2::recv::packet_header &packet,
              const spead2::recv::heap_place &place) override
    {
        contiguous_copies += packet.n_payload_rest == 0;
        heap_placement::copy(dst, packet, place);
    }

    void heap_ready(spead2::recv::live_heap &&) override {}
};

/// The stream received the heap whole, from one packet, with nothing refused.
int check_received(collecting_stream &s)
{
    const std::vector<std::uint8_t> expected = value();
    CHECK(s.heaps.size() == 1);
    bool found = false;
    for (const spead2::recv::item &it : s.heaps[0].get_items())
        if (it.id == 0x1000)
        {
            found = true;
            CHECK(it.length == value_size);
            CHECK(std::memcmp(it.data(), expected.data(), value_size) == 0);
        }
    CHECK(found);
    const spead2::recv::stream_stats stats = s.get_stats();
    CHECK(stats[indices::PACKETS] == 1);
    CHECK(stats[indices::HEAPS] == 1);
    CHECK(stats[stats.index_of("malformed_packets")] == 0);
    CHECK(stats[stats.index_of("rejected_packets")] == 0);
    return 0;
}

int receive_in_pieces(const std::vector<std::size_t> &cuts)
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    const std::vector<std::uint8_t> wire = encode(pool);
    std::vector<std::size_t> at = cuts;
    for (std::size_t &c : at)
        if (c == 0)
            c = header_bytes(wire);   // 0 stands for "just after the item pointers"
    const std::vector<datagram_piece> pieces = cut(wire, at);
    collecting_stream s(pool, spead2::recv::stream_config());
    {
        spead2::recv::stream::add_packet_state state(s);
        CHECK(state.add_datagram(pieces.data(), pieces.size()));
    }
    return check_received(s);
}

int test_pieces_with_the_headers_in_the_first()
{
    return receive_in_pieces({3000, 6000});
}

int test_first_piece_ends_with_the_pointers()
{
    return receive_in_pieces({0, 5000});
}

int test_headers_split_across_pieces()
{
    return receive_in_pieces({20, 4000});   // the pointers run into the second piece: gathered
}

int test_one_piece()
{
    return receive_in_pieces({});
}

int test_pieces_that_do_not_add_up()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    const std::vector<std::uint8_t> wire = encode(pool);
    std::vector<datagram_piece> pieces = cut(wire, {3000, 6000});
    pieces.back().size--;
    collecting_stream s(pool, spead2::recv::stream_config());
    {
        spead2::recv::stream::add_packet_state state(s);
        CHECK(!state.add_datagram(pieces.data(), pieces.size()));
    }
    const spead2::recv::stream_stats stats = s.get_stats();
    CHECK(s.heaps.empty());
    CHECK(stats[stats.index_of("malformed_packets")] == 1);
    CHECK(stats[indices::PACKETS] == 0);
    return 0;
}

int test_placement_sees_a_contiguous_packet()
{
    auto pool = std::make_shared<spead2::thread_pool>(1);
    const std::vector<std::uint8_t> wire = encode(pool);
    const std::vector<datagram_piece> pieces = cut(wire, {3000, 6000});
    placed_stream s(pool);
    {
        spead2::recv::stream::add_packet_state state(s);
        CHECK(state.add_datagram(pieces.data(), pieces.size()));
    }
    CHECK(s.contiguous_copies == 1);
    const std::vector<std::uint8_t> expected = value();
    CHECK(std::memcmp(s.storage.data(), expected.data(), value_size) == 0);
    CHECK(s.get_stats()[indices::PACKETS] == 1);
    return 0;
}

} // anonymous namespace

int main()
{
    int failures = test_pieces_with_the_headers_in_the_first() + test_first_piece_ends_with_the_pointers()
        + test_headers_split_across_pieces() + test_one_piece() + test_pieces_that_do_not_add_up()
        + test_placement_sees_a_contiguous_packet();
    if (failures == 0)
        std::printf("ok\n");
    return failures;
}
