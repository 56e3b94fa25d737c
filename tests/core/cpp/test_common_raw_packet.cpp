/* Ethernet/IPv4/UDP helpers: frames built by write_udp_ipv4_headers parse back to the
 * same fields, the IPv4 checksum verifies, and every malformed frame yields a status
 * without reading past its end. */
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>
#include <spead2/common_raw_packet.h>
#include "check.h"

namespace
{

/// Where the UDP length field is in a frame built by write_udp_ipv4_headers.
constexpr std::size_t udp_length_at = spead2::ethernet_header_size + spead2::ipv4_min_header_size + 4;

std::vector<std::uint8_t> build_frame(std::size_t payload_size, spead2::udp_ipv4_header_fields &fields)
{
    fields.source_mac = {0x02, 0, 0, 0, 0, 1};
    fields.destination_mac = spead2::multicast_mac(0xef010203);   // 239.1.2.3
    fields.source_address = 0x0a000001;                            // 10.0.0.1
    fields.destination_address = 0xef010203;
    fields.source_port = 40000;
    fields.destination_port = 8888;
    fields.ttl = 4;
    fields.identification = 0x1234;
    std::vector<std::uint8_t> frame(spead2::udp_ipv4_frame_overhead + payload_size);
    spead2::write_udp_ipv4_headers(frame.data(), fields, payload_size);
    for (std::size_t i = 0; i < payload_size; i++)
        frame[spead2::udp_ipv4_frame_overhead + i] = std::uint8_t(i * 7);
    return frame;
}

int test_round_trip()
{
    spead2::udp_ipv4_header_fields fields;
    auto frame = build_frame(1000, fields);
    CHECK(frame[0] == 0x01 && frame[1] == 0x00 && frame[2] == 0x5e);
    CHECK(frame[3] == 0x01 && frame[4] == 0x02 && frame[5] == 0x03);
    // A header whose checksum is right sums to zero.
    CHECK(spead2::ipv4_checksum(frame.data() + spead2::ethernet_header_size, spead2::ipv4_min_header_size) == 0);
    spead2::udp_ipv4_datagram d;
    CHECK(spead2::parse_ethernet_udp_ipv4(frame.data(), frame.size(), d) == spead2::raw_packet_status::ok);
    CHECK(d.source_address == fields.source_address);
    CHECK(d.destination_address == fields.destination_address);
    CHECK(d.source_port == 40000 && d.destination_port == 8888);
    CHECK(d.payload_size == 1000);
    CHECK(d.payload == frame.data() + spead2::udp_ipv4_frame_overhead);
    return 0;
}

int test_known_checksum()
{
    // The worked example of RFC 1071 style checks: 45 00 00 73 00 00 40 00 40 11 .. c0 a8 00 01 c0 a8 00 c7
    const std::uint8_t header[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    CHECK(spead2::ipv4_checksum(header, sizeof(header)) == 0xb861);
    return 0;
}

int test_malformed_frames()
{
    spead2::udp_ipv4_header_fields fields;
    auto frame = build_frame(100, fields);
    spead2::udp_ipv4_datagram d;
    using spead2::raw_packet_status;
    // Every truncation is caught (and, under ASan, nothing past the end is read).
    for (std::size_t size = 0; size < frame.size(); size++)
    {
        std::vector<std::uint8_t> cut(frame.begin(), frame.begin() + size);
        CHECK(spead2::parse_ethernet_udp_ipv4(cut.data(), cut.size(), d) == raw_packet_status::truncated);
    }
    auto other = frame;
    other[12] = 0x86;   // IPv6 ethertype
    other[13] = 0xdd;
    CHECK(spead2::parse_ethernet_udp_ipv4(other.data(), other.size(), d) == raw_packet_status::not_ipv4);
    other = frame;
    other[spead2::ethernet_header_size + 9] = 6;   // TCP
    CHECK(spead2::parse_ethernet_udp_ipv4(other.data(), other.size(), d) == raw_packet_status::not_udp);
    other = frame;
    other[spead2::ethernet_header_size + 6] = 0x20;   // more fragments
    CHECK(spead2::parse_ethernet_udp_ipv4(other.data(), other.size(), d) == raw_packet_status::fragmented);
    other = frame;
    other[spead2::ethernet_header_size] = 0x44;   // IHL 4 words: below the minimum
    CHECK(spead2::parse_ethernet_udp_ipv4(other.data(), other.size(), d) == raw_packet_status::bad_length);
    other = frame;
    other[udp_length_at] = 0;   // UDP length 4: shorter than its own header
    other[udp_length_at + 1] = 4;
    CHECK(spead2::parse_ethernet_udp_ipv4(other.data(), other.size(), d) == raw_packet_status::bad_length);
    // An 802.1Q tag is skipped.
    std::vector<std::uint8_t> tagged(frame.begin(), frame.begin() + 12);
    const std::uint8_t tag[4] = {0x81, 0x00, 0x00, 0x05};
    tagged.insert(tagged.end(), tag, tag + 4);
    tagged.insert(tagged.end(), frame.begin() + 12, frame.end());
    CHECK(spead2::parse_ethernet_udp_ipv4(tagged.data(), tagged.size(), d) == raw_packet_status::ok);
    CHECK(d.payload_size == 100);
    return 0;
}

int test_too_large()
{
    spead2::udp_ipv4_header_fields fields;
    std::vector<std::uint8_t> out(spead2::udp_ipv4_frame_overhead);
    try
    {
        spead2::write_udp_ipv4_headers(out.data(), fields, 65536);
        return 1;
    }
    catch (std::length_error &)
    {
    }
    return 0;
}

} // namespace

int main()
{
    int failures = 0;
    failures += test_round_trip();
    failures += test_known_checksum();
    failures += test_malformed_frames();
    failures += test_too_large();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
