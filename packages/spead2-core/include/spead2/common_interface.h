/* The host's network interfaces as seen by transports that build or receive whole
 * Ethernet frames (kernel bypass: ibverbs, AF_XDP): which interface has an IPv4
 * address or a name, and its index, MAC address and MTU. */
#ifndef SPEAD2_COMMON_INTERFACE_H
#define SPEAD2_COMMON_INTERFACE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <spead2/common_defines.h>
#include <spead2/common_raw_packet.h>

namespace spead2
{

struct SPEAD2_API network_interface
{
    std::string name;            ///< e.g. "enp1s0f0"
    unsigned int index = 0;      ///< the kernel's interface index
    std::uint32_t address = 0;   ///< an IPv4 address of the interface (host byte order), 0 if none
    mac_address mac{};           ///< all zero for interfaces without one (loopback)
    unsigned int mtu = 0;        ///< 0 if the kernel would not say

    /* The interface that has the IPv4 address @a interface_address (a literal or a
     * host name).  Throws std::invalid_argument ("interface address ...") for an
     * empty or non-IPv4 address, std::runtime_error ("Host not found") for a name
     * that does not resolve, and std::runtime_error ("No network interface has the
     * interface address ...") when no interface has it. */
    static network_interface by_address(const std::string &interface_address);

    /* The interface called @a name, with its first IPv4 address.  Throws
     * std::runtime_error ("No network interface is called ...") if there is none. */
    static network_interface by_name(const std::string &name);

    /* For transports that build whole frames, whose oversized frames the NIC would
     * fail rather than fragment: throws std::invalid_argument ("max_packet_size (N)
     * does not fit in the MTU of ...") unless a UDP payload of @a max_packet_size bytes
     * with its IPv4 and UDP headers fits in the MTU (if the kernel gave one). */
    void check_fits_mtu(std::size_t max_packet_size) const;

    /* The header fields of frames sent from this interface (its MAC and IPv4 address)
     * to @a destination_address (host order) at @a destination_mac.  No socket owns a
     * port here, so the source port mirrors the destination's. */
    udp_ipv4_header_fields udp_header_fields(std::uint32_t destination_address, const mac_address &destination_mac,
                                             std::uint16_t port, std::uint8_t ttl) const;
};

} // namespace spead2

#endif
