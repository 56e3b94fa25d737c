/* Building and parsing Ethernet / IPv4 / UDP headers, for transports that see whole
 * frames: capture files (pcap) and kernel-bypass readers and writers.  Parsing checks
 * every length against the bytes actually present, so a truncated or hostile frame
 * yields a status, never an out-of-bounds read. */
#ifndef SPEAD2_COMMON_RAW_PACKET_H
#define SPEAD2_COMMON_RAW_PACKET_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <spead2/common_defines.h>

namespace spead2
{

typedef std::array<std::uint8_t, 6> mac_address;

constexpr std::size_t ethernet_header_size = 14;
constexpr std::size_t ipv4_min_header_size = 20;
constexpr std::size_t udp_header_size = 8;
/// Ethernet + IPv4 (no options) + UDP, as built by write_udp_ipv4_headers.
constexpr std::size_t udp_ipv4_frame_overhead = ethernet_header_size + ipv4_min_header_size + udp_header_size;
constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint8_t ip_protocol_udp = 17;

/// Why a frame did not yield a UDP datagram.
enum class raw_packet_status
{
    ok,
    truncated,        ///< fewer bytes than a header or length field says
    not_ipv4,         ///< another ethertype (ARP, IPv6, ...) or IP version
    not_udp,          ///< another IP protocol
    fragmented,       ///< an IP fragment (SPEAD over UDP needs whole datagrams)
    bad_length        ///< a length field smaller than its header
};

SPEAD2_API const char *raw_packet_status_string(raw_packet_status status);

/// A UDP/IPv4 datagram found in a frame: addresses in host byte order, payload in place.
struct udp_ipv4_datagram
{
    std::uint32_t source_address = 0;
    std::uint32_t destination_address = 0;
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;
    const std::uint8_t *payload = nullptr;
    std::size_t payload_size = 0;
};

/// Parse an Ethernet frame (an optional 802.1Q tag is skipped) carrying UDP/IPv4.
SPEAD2_API raw_packet_status parse_ethernet_udp_ipv4(const std::uint8_t *frame, std::size_t size,
                                                     udp_ipv4_datagram &out);
/// Parse an IPv4 packet (from its first byte) carrying UDP.
SPEAD2_API raw_packet_status parse_ipv4_udp(const std::uint8_t *packet, std::size_t size, udp_ipv4_datagram &out);

/// The one's-complement sum used by the IPv4 header checksum (RFC 1071).
SPEAD2_API std::uint16_t ipv4_checksum(const std::uint8_t *header, std::size_t size);

/// The Ethernet address a IPv4 multicast group maps to (01:00:5e + low 23 bits).
SPEAD2_API mac_address multicast_mac(std::uint32_t host_order_group);

/// Fields of the headers write_udp_ipv4_headers builds (addresses in host byte order).
struct udp_ipv4_header_fields
{
    mac_address source_mac{};
    mac_address destination_mac{};
    std::uint32_t source_address = 0;
    std::uint32_t destination_address = 0;
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;
    std::uint8_t ttl = 1;
    std::uint8_t dscp_ecn = 0;
    std::uint16_t identification = 0;
};

/* Write the udp_ipv4_frame_overhead bytes of Ethernet, IPv4 (don't-fragment, header
 * checksum computed) and UDP (checksum 0, "none", which IPv4 allows) headers for a
 * payload of @a payload_size bytes.  Throws std::length_error if the datagram would
 * exceed IPv4's 65535-byte limit. */
SPEAD2_API void write_udp_ipv4_headers(std::uint8_t *out, const udp_ipv4_header_fields &fields,
                                       std::size_t payload_size);

} // namespace spead2

#endif
