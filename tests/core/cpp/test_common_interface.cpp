/* network_interface finds the loopback interface by address and by name, and says
 * clearly when an address or a name belongs to no interface; it checks payloads
 * against its MTU and gives the header fields of frames sent from it. */
#include <cstdio>
#include <stdexcept>
#include <string>
#include <spead2/common_interface.h>
#include "check.h"

namespace
{

int test_loopback()
{
    const spead2::network_interface by_address = spead2::network_interface::by_address("127.0.0.1");
    CHECK(by_address.name == "lo");
    CHECK(by_address.index > 0);
    CHECK(by_address.address == 0x7f000001);
    CHECK(by_address.mtu > 0);
    const spead2::network_interface by_name = spead2::network_interface::by_name("lo");
    CHECK(by_name.index == by_address.index);
    CHECK(by_name.address == 0x7f000001);
    CHECK(by_name.mtu == by_address.mtu);
    return 0;
}

template<typename Error, typename Function>
int check_throws(Function &&function, const std::string &expected)
{
    try
    {
        function();
    }
    catch (const Error &e)
    {
        CHECK(std::string(e.what()).find(expected) != std::string::npos);
        return 0;
    }
    CHECK(!"no exception");
    return 1;
}

int test_errors()
{
    int failures = 0;
    failures += check_throws<std::runtime_error>([] { spead2::network_interface::by_address("192.0.2.77"); },
                                                 "No network interface has the interface address 192.0.2.77");
    failures += check_throws<std::invalid_argument>([] { spead2::network_interface::by_address(""); },
                                                    "interface address has not been specified");
    failures += check_throws<std::invalid_argument>([] { spead2::network_interface::by_address("::1"); },
                                                    "is not an IPv4 address");
    failures += check_throws<std::runtime_error>([] { spead2::network_interface::by_name("no-such-if0"); },
                                                 "No network interface is called no-such-if0");
    return failures;
}

} // namespace

int test_frames()
{
    spead2::network_interface interface;
    interface.name = "eth9";
    interface.address = 0x0a000001;
    interface.mac = {2, 0, 0, 0, 0, 1};
    interface.mtu = 1500;
    interface.check_fits_mtu(1472);   // 1472 + 20 + 8 = 1500
    if (check_throws<std::invalid_argument>([&] { interface.check_fits_mtu(1473); },
                                            "max_packet_size (1473) does not fit in the MTU of eth9 (1500) "
                                            "with the IPv4 and UDP headers"))
        return 1;
    interface.mtu = 0;   // unknown: nothing to check against
    interface.check_fits_mtu(65000);

    const spead2::mac_address group_mac = {1, 0, 0x5e, 1, 2, 3};
    const spead2::udp_ipv4_header_fields fields = interface.udp_header_fields(0xef010203, group_mac, 7148, 4);
    CHECK(fields.source_mac == interface.mac);
    CHECK(fields.destination_mac == group_mac);
    CHECK(fields.source_address == 0x0a000001);
    CHECK(fields.destination_address == 0xef010203);
    CHECK(fields.source_port == 7148 && fields.destination_port == 7148);
    CHECK(fields.ttl == 4);
    return 0;
}

int main()
{
    int failures = test_loopback() + test_errors() + test_frames();
    if (failures == 0)
        std::printf("ok\n");
    return failures != 0;
}
