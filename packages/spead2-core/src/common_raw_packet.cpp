#include <stdexcept>
#include <spead2/common_raw_packet.h>

namespace spead2
{

namespace
{

std::uint16_t load_be16(const std::uint8_t *p)
{
    return std::uint16_t(p[0] << 8 | p[1]);
}

std::uint32_t load_be32(const std::uint8_t *p)
{
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

void store_be16(std::uint8_t *p, std::uint16_t v)
{
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}

void store_be32(std::uint8_t *p, std::uint32_t v)
{
    store_be16(p, std::uint16_t(v >> 16));
    store_be16(p + 2, std::uint16_t(v));
}

constexpr std::uint16_t ethertype_vlan = 0x8100;

} // namespace

const char *raw_packet_status_string(raw_packet_status status)
{
    switch (status)
    {
    case raw_packet_status::ok: return "ok";
    case raw_packet_status::truncated: return "truncated";
    case raw_packet_status::not_ipv4: return "not IPv4";
    case raw_packet_status::not_udp: return "not UDP";
    case raw_packet_status::fragmented: return "IP fragment";
    case raw_packet_status::bad_length: return "bad length field";
    }
    return "unknown";
}

raw_packet_status parse_ethernet_udp_ipv4(const std::uint8_t *frame, std::size_t size, udp_ipv4_datagram &out)
{
    if (size < ethernet_header_size)
        return raw_packet_status::truncated;
    std::size_t offset = 12;
    std::uint16_t ethertype = load_be16(frame + offset);
    if (ethertype == ethertype_vlan)
    {
        offset += 4;
        if (size < offset + 2)
            return raw_packet_status::truncated;
        ethertype = load_be16(frame + offset);
    }
    if (ethertype != ethertype_ipv4)
        return raw_packet_status::not_ipv4;
    offset += 2;
    return parse_ipv4_udp(frame + offset, size - offset, out);
}

raw_packet_status parse_ipv4_udp(const std::uint8_t *packet, std::size_t size, udp_ipv4_datagram &out)
{
    if (size < ipv4_min_header_size)
        return raw_packet_status::truncated;
    if (packet[0] >> 4 != 4)
        return raw_packet_status::not_ipv4;
    const std::size_t header_size = (packet[0] & 0xf) * 4;
    const std::size_t total_length = load_be16(packet + 2);
    if (header_size < ipv4_min_header_size || total_length < header_size)
        return raw_packet_status::bad_length;
    if (size < total_length)
        return raw_packet_status::truncated;
    // More-fragments flag or a non-zero fragment offset.
    if ((load_be16(packet + 6) & 0x3fff) != 0)
        return raw_packet_status::fragmented;
    if (packet[9] != ip_protocol_udp)
        return raw_packet_status::not_udp;
    const std::uint8_t *udp = packet + header_size;
    const std::size_t ip_payload = total_length - header_size;
    if (ip_payload < udp_header_size)
        return raw_packet_status::truncated;
    const std::size_t udp_length = load_be16(udp + 4);
    if (udp_length < udp_header_size)
        return raw_packet_status::bad_length;
    if (udp_length > ip_payload)
        return raw_packet_status::truncated;
    out.source_address = load_be32(packet + 12);
    out.destination_address = load_be32(packet + 16);
    out.source_port = load_be16(udp);
    out.destination_port = load_be16(udp + 2);
    out.payload = udp + udp_header_size;
    out.payload_size = udp_length - udp_header_size;
    return raw_packet_status::ok;
}

std::uint16_t ipv4_checksum(const std::uint8_t *header, std::size_t size)
{
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < size; i += 2)
        sum += load_be16(header + i);
    if (size % 2)
        sum += std::uint32_t(header[size - 1]) << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(~sum);
}

mac_address multicast_mac(std::uint32_t group)
{
    return {0x01, 0x00, 0x5e, std::uint8_t((group >> 16) & 0x7f), std::uint8_t(group >> 8), std::uint8_t(group)};
}

void write_udp_ipv4_headers(std::uint8_t *out, const udp_ipv4_header_fields &fields, std::size_t payload_size)
{
    const std::size_t ip_length = ipv4_min_header_size + udp_header_size + payload_size;
    if (ip_length > 65535)
        throw std::length_error("UDP payload too large for IPv4");
    std::uint8_t *eth = out;
    for (int i = 0; i < 6; i++)
    {
        eth[i] = fields.destination_mac[i];
        eth[6 + i] = fields.source_mac[i];
    }
    store_be16(eth + 12, ethertype_ipv4);

    std::uint8_t *ip = eth + ethernet_header_size;
    ip[0] = 0x45;   // version 4, 5 words
    ip[1] = fields.dscp_ecn;
    store_be16(ip + 2, std::uint16_t(ip_length));
    store_be16(ip + 4, fields.identification);
    store_be16(ip + 6, 0x4000);   // don't fragment
    ip[8] = fields.ttl;
    ip[9] = ip_protocol_udp;
    store_be16(ip + 10, 0);
    store_be32(ip + 12, fields.source_address);
    store_be32(ip + 16, fields.destination_address);
    store_be16(ip + 10, ipv4_checksum(ip, ipv4_min_header_size));

    std::uint8_t *udp = ip + ipv4_min_header_size;
    store_be16(udp, fields.source_port);
    store_be16(udp + 2, fields.destination_port);
    store_be16(udp + 4, std::uint16_t(udp_header_size + payload_size));
    store_be16(udp + 6, 0);
}

} // namespace spead2
