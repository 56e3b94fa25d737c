#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <spead2/common_interface.h>
#include <spead2/common_socket.h>

namespace spead2
{

namespace
{

typedef std::unique_ptr<ifaddrs, void (*)(ifaddrs *)> ifaddrs_ptr;

ifaddrs_ptr interface_addresses()
{
    ifaddrs *list = nullptr;
    if (getifaddrs(&list) != 0)
        throw std::system_error(errno, std::system_category(), "getifaddrs");
    return ifaddrs_ptr(list, freeifaddrs);
}

std::uint32_t ipv4_of(const ifaddrs *p)
{
    return ntohl(reinterpret_cast<const sockaddr_in *>(p->ifa_addr)->sin_addr.s_addr);
}

/// Complete @a out (its name set) with the link-layer fields and the MTU.
void fill_link(network_interface &out, const ifaddrs *list)
{
    for (const ifaddrs *p = list; p; p = p->ifa_next)
        if (p->ifa_addr && p->ifa_addr->sa_family == AF_PACKET && out.name == p->ifa_name)
        {
            const auto *link = reinterpret_cast<const sockaddr_ll *>(p->ifa_addr);
            if (link->sll_halen == out.mac.size())
                std::memcpy(out.mac.data(), link->sll_addr, out.mac.size());
            out.index = unsigned(link->sll_ifindex);
        }
    if (out.index == 0)
        out.index = if_nametoindex(out.name.c_str());
    file_descriptor sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, out.name.c_str(), IFNAMSIZ - 1);
    if (sock && ioctl(sock.get(), SIOCGIFMTU, &request) == 0)
        out.mtu = unsigned(request.ifr_mtu);
}

} // anonymous namespace

network_interface network_interface::by_address(const std::string &interface_address)
{
    if (interface_address.empty())
        throw std::invalid_argument("interface address has not been specified");
    const socket_address resolved = socket_address::resolve(interface_address, 0);
    if (!resolved.is_v4())
        throw std::invalid_argument("interface address " + interface_address + " is not an IPv4 address");
    network_interface out;
    out.address = ntohl(resolved.v4().sin_addr.s_addr);
    const ifaddrs_ptr list = interface_addresses();
    for (const ifaddrs *p = list.get(); p && out.name.empty(); p = p->ifa_next)
        if (p->ifa_addr && p->ifa_addr->sa_family == AF_INET && ipv4_of(p) == out.address)
            out.name = p->ifa_name;
    if (out.name.empty())
        throw std::runtime_error("No network interface has the interface address " + interface_address);
    fill_link(out, list.get());
    return out;
}

network_interface network_interface::by_name(const std::string &name)
{
    network_interface out;
    const ifaddrs_ptr list = interface_addresses();
    for (const ifaddrs *p = list.get(); p; p = p->ifa_next)
        if (name == p->ifa_name)
        {
            out.name = name;
            if (p->ifa_addr && p->ifa_addr->sa_family == AF_INET && out.address == 0)
                out.address = ipv4_of(p);
        }
    if (out.name.empty())
        throw std::runtime_error("No network interface is called " + name);
    fill_link(out, list.get());
    return out;
}

void network_interface::check_fits_mtu(std::size_t max_packet_size) const
{
    if (mtu > 0 && max_packet_size + ipv4_min_header_size + udp_header_size > mtu)
        throw std::invalid_argument("max_packet_size (" + std::to_string(max_packet_size)
                                    + ") does not fit in the MTU of " + name + " (" + std::to_string(mtu)
                                    + ") with the IPv4 and UDP headers");
}

udp_ipv4_header_fields network_interface::udp_header_fields(std::uint32_t destination_address,
                                                            const mac_address &destination_mac,
                                                            std::uint16_t port, std::uint8_t ttl) const
{
    udp_ipv4_header_fields fields;
    fields.source_mac = mac;
    fields.destination_mac = destination_mac;
    fields.source_address = address;
    fields.destination_address = destination_address;
    fields.source_port = port;
    fields.destination_port = port;
    fields.ttl = ttl;
    return fields;
}

} // namespace spead2
