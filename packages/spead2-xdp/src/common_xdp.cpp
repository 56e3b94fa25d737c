#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spead2/common_logging.h>
#include <spead2/common_socket.h>
#include <spead2/common_xdp.h>
#include "recv_udp_xdp_filter_object.h"

namespace spead2
{

namespace
{

std::string error_text(int error)
{
    return std::error_code(error, std::system_category()).message();
}

bool is_power_of_two(std::size_t value)
{
    return value != 0 && (value & (value - 1)) == 0;
}

/* Must match struct endpoint_key of recv_udp_xdp_filter.bpf.c (network byte order). */
struct endpoint_key
{
    std::uint32_t address;
    std::uint16_t port;
    std::uint16_t zero;
};

endpoint_key make_key(std::uint32_t address, std::uint16_t port)
{
    return {htonl(address), htons(port), 0};
}

std::string permission_hint()
{
    return "AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (or root)";
}

} // anonymous namespace

xdp_mode parse_xdp_mode(const std::string &mode)
{
    if (mode == "auto")
        return xdp_mode::automatic;
    if (mode == "native")
        return xdp_mode::native;
    if (mode == "generic")
        return xdp_mode::generic;
    throw std::invalid_argument("mode must be 'auto', 'native' or 'generic', not '" + mode + "'");
}

const char *xdp_mode_name(xdp_mode mode)
{
    switch (mode)
    {
    case xdp_mode::native:
        return "native";
    case xdp_mode::generic:
        return "generic";
    default:
        return "auto";
    }
}

network_interface xdp_find_interface(const std::string &interface)
{
    if (interface.empty())
        throw std::invalid_argument("interface has not been specified");
    in_addr literal{};
    if (inet_pton(AF_INET, interface.c_str(), &literal) == 1)
        return network_interface::by_address(interface);
    return network_interface::by_name(interface);
}

/* ---- configuration ------------------------------------------------------------- */

void xdp_check_endpoints(const std::vector<std::pair<std::string, std::uint16_t>> &endpoints, bool allow_any)
{
    for (const auto &[host, port] : endpoints)
    {
        in_addr address{};
        if (host.empty() ? !allow_any : inet_pton(AF_INET, host.c_str(), &address) != 1)
            throw std::invalid_argument("endpoint address '" + host + "' is not an IPv4 address");
    }
}

void xdp_config_base::set_interface(const std::string &value)
{
    if (value.empty())
        throw std::invalid_argument("interface must not be empty");
    interface = value;
}

void xdp_config_base::set_frame_size(std::size_t value)
{
    if (value != 2048 && value != 4096)
        throw std::invalid_argument("frame_size must be 2048 or 4096");
    frame_size = value;
}

void xdp_config_base::set_frame_count(std::size_t value)
{
    if (!is_power_of_two(value))
        throw std::invalid_argument("frame_count must be a power of 2");
    frame_count = value;
}

void xdp_config_base::set_ring_size(std::size_t value)
{
    if (!is_power_of_two(value))
        throw std::invalid_argument("ring_size must be a power of 2");
    ring_size = value;
}

/* ---- the filter program -------------------------------------------------------- */

namespace
{

std::mutex filters_mutex;
std::map<unsigned int, std::weak_ptr<xdp_filter>> filters;   // by interface index

} // anonymous namespace

xdp_filter::xdp_filter(const network_interface &interface, xdp_mode mode) : ifindex(interface.index)
{
    LIBBPF_OPTS(bpf_object_open_opts, open_options, .object_name = "spead2_xdp_filter");
    object = bpf_object__open_mem(xdp_filter_object, xdp_filter_object_size, &open_options);
    if (!object)
        throw std::runtime_error("cannot open the embedded XDP program: " + error_text(errno));
    if (int error = bpf_object__load(object))
    {
        bpf_object__close(object);
        if (-error == EPERM || -error == EACCES)
            throw xdp_unavailable("loading the XDP program was refused: " + permission_hint());
        throw xdp_unavailable("loading the XDP program failed: " + error_text(-error));
    }
    program_fd = bpf_program__fd(bpf_object__find_program_by_name(object, "spead2_udp_filter"));
    endpoints_fd = bpf_map__fd(bpf_object__find_map_by_name(object, "spead2_endpoints"));
    sockets_fd = bpf_map__fd(bpf_object__find_map_by_name(object, "spead2_sockets"));

    const std::vector<xdp_mode> tries = mode == xdp_mode::automatic
        ? std::vector<xdp_mode>{xdp_mode::native, xdp_mode::generic} : std::vector<xdp_mode>{mode};
    int error = 0;
    for (xdp_mode attempt : tries)
    {
        LIBBPF_OPTS(bpf_link_create_opts, link_options,
                    .flags = attempt == xdp_mode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
        link_fd = bpf_link_create(program_fd, int(ifindex), BPF_XDP, &link_options);
        error = link_fd < 0 ? -link_fd : 0;
        if (error == 0)
        {
            attached_mode = attempt;
            log_info("XDP program attached to {} in {} mode", interface.name, xdp_mode_name(attempt));
            return;
        }
        // EBUSY/EEXIST: a program is there already; no other mode will help.
        if (error == EBUSY || error == EEXIST)
            break;
    }
    bpf_object__close(object);
    if (error == EBUSY || error == EEXIST)
        throw xdp_unavailable("interface " + interface.name + " already has an XDP program that is not ours; "
                              "spead2 does not replace it (detach it first, e.g. ip link set dev "
                              + interface.name + " xdp off)");
    if (error == EPERM || error == EACCES)
        throw xdp_unavailable("attaching the XDP program to " + interface.name + " was refused: "
                              + permission_hint());
    if (mode == xdp_mode::native && (error == EOPNOTSUPP || error == EINVAL))
        throw xdp_unavailable("the driver of " + interface.name + " has no native XDP support "
                              "(mode 'generic' works on any interface)");
    throw xdp_unavailable("attaching the XDP program to " + interface.name + " failed: " + error_text(error));
}

std::shared_ptr<xdp_filter> xdp_filter::attach(const network_interface &interface, xdp_mode mode)
{
    std::lock_guard<std::mutex> lock(filters_mutex);
    std::shared_ptr<xdp_filter> filter = filters[interface.index].lock();
    if (filter)
    {
        if (mode != xdp_mode::automatic && mode != filter->mode())
            throw xdp_unavailable("the XDP program is attached to " + interface.name + " in "
                                  + xdp_mode_name(filter->mode()) + " mode already (by another reader)");
        return filter;
    }
    // Not make_shared: the constructor is private.
    filter.reset(new xdp_filter(interface, mode));
    filters[interface.index] = filter;
    return filter;
}

xdp_filter::~xdp_filter()
{
    close(link_fd);   // the last reference to the link: the kernel detaches the program
    bpf_object__close(object);
    std::lock_guard<std::mutex> lock(filters_mutex);
    auto pos = filters.find(ifindex);
    if (pos != filters.end() && pos->second.expired())
        filters.erase(pos);
}

void xdp_filter::add_endpoint(std::uint32_t address, std::uint16_t port)
{
    std::lock_guard<std::mutex> lock(endpoints_mutex);
    int &users = endpoint_users[{address, port}];
    if (users == 0)
    {
        const endpoint_key key = make_key(address, port);
        const std::uint8_t value = 1;
        if (bpf_map_update_elem(endpoints_fd, &key, &value, BPF_ANY) != 0)
        {
            const int error = errno;
            endpoint_users.erase({address, port});
            throw std::system_error(error, std::system_category(), "adding an endpoint to the XDP program");
        }
    }
    users++;
}

void xdp_filter::remove_endpoint(std::uint32_t address, std::uint16_t port)
{
    std::lock_guard<std::mutex> lock(endpoints_mutex);
    auto pos = endpoint_users.find({address, port});
    if (pos == endpoint_users.end() || --pos->second > 0)
        return;
    endpoint_users.erase(pos);
    const endpoint_key key = make_key(address, port);
    bpf_map_delete_elem(endpoints_fd, &key);
}

void xdp_filter::set_socket(std::uint32_t queue, int socket_fd)
{
    const int value = socket_fd;
    if (bpf_map_update_elem(sockets_fd, &queue, &value, BPF_NOEXIST) != 0)
    {
        if (errno == EEXIST)
            throw xdp_unavailable("queue " + std::to_string(queue) + " already has an AF_XDP reader");
        throw std::system_error(errno, std::system_category(), "adding the AF_XDP socket to the XDP program");
    }
}

void xdp_filter::clear_socket(std::uint32_t queue)
{
    bpf_map_delete_elem(sockets_fd, &queue);
}

/* ---- frame memory and socket ----------------------------------------------------- */

xdp_socket::xdp_socket(const network_interface &interface, const xdp_config_base &config, direction dir)
    : frame_size(config.get_frame_size())
{
    area_size = config.get_frame_count() * frame_size;
    void *memory = mmap(nullptr, area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::system_error(errno, std::system_category(), "allocating the AF_XDP frame memory");
    area = static_cast<std::uint8_t *>(memory);

    const std::uint32_t ring_size = std::uint32_t(config.get_ring_size());
    xsk_umem_config umem_config{};
    // The fill ring holds every frame, so receive never waits for the fill ring itself.
    umem_config.fill_size = dir == direction::receive ? std::uint32_t(config.get_frame_count()) : ring_size;
    umem_config.comp_size = dir == direction::transmit ? std::uint32_t(config.get_frame_count()) : ring_size;
    umem_config.frame_size = std::uint32_t(frame_size);
    umem_config.frame_headroom = 0;
    if (int error = xsk_umem__create(&umem, area, area_size, &fill, &completion, &umem_config))
    {
        munmap(area, area_size);
        if (-error == EPERM)
            throw xdp_unavailable("creating the AF_XDP frame memory was refused: " + permission_hint()
                                  + " and a large enough RLIMIT_MEMLOCK");
        throw xdp_unavailable("creating the AF_XDP frame memory failed: " + error_text(-error));
    }

    /* Zero-copy where the driver supports it (else copy mode), multi-buffer where the
     * kernel does (6.6 and later; without it, packets larger than a frame would be
     * dropped by the kernel without a trace, so they are refused up front instead). */
    std::vector<std::pair<bool, bool>> tries;   // (zero copy, multi-buffer)
    for (bool zc : {true, false})
    {
        if (zc && !config.get_zero_copy())
            continue;
        for (bool sg : {true, false})
            tries.emplace_back(zc, sg);
    }
    int error = 0;
    /* The kernel frees the queue of a closed AF_XDP socket from a work queue, a little
     * after close() returns: a queue that a socket just left is briefly busy. */
    const auto busy_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (std::size_t i = 0; i < tries.size(); i++)
    {
        const auto [zc, sg] = tries[i];
        xsk_socket_config socket_config{};
        socket_config.rx_size = dir == direction::receive ? ring_size : 0;
        socket_config.tx_size = dir == direction::transmit ? ring_size : 0;
        socket_config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
        socket_config.bind_flags = std::uint16_t((zc ? XDP_ZEROCOPY : XDP_COPY) | (sg ? XDP_USE_SG : 0));
        rx = {};
        tx = {};
        error = -xsk_socket__create(&socket, interface.name.c_str(), config.get_queue(), umem,
                                    dir == direction::receive ? &rx : nullptr,
                                    dir == direction::transmit ? &tx : nullptr, &socket_config);
        if (error == 0)
        {
            zero_copy_ = zc;
            multi_buffer_ = sg;
            log_info("AF_XDP socket on {} queue {}: {} mode{}", interface.name, config.get_queue(),
                     zc ? "zero-copy" : "copy", sg ? ", multi-buffer" : "");
            return;
        }
        socket = nullptr;
        if (error == EPERM || error == EACCES || error == ENOMEM)
            break;
        if (error == EBUSY && std::chrono::steady_clock::now() < busy_deadline)
        {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            i--;   // the same settings again
        }
    }
    xsk_umem__delete(umem);
    munmap(area, area_size);
    if (error == EPERM || error == EACCES)
        throw xdp_unavailable("creating the AF_XDP socket was refused: " + permission_hint());
    if (error == EBUSY)
        throw xdp_unavailable("queue " + std::to_string(config.get_queue()) + " of " + interface.name
                              + " already has an AF_XDP socket (of another reader or process)");
    throw xdp_unavailable("creating the AF_XDP socket on " + interface.name + " queue "
                          + std::to_string(config.get_queue()) + " failed (ring_size "
                          + std::to_string(ring_size) + ", frame_count " + std::to_string(config.get_frame_count())
                          + "): " + error_text(error));
}

xdp_socket::~xdp_socket()
{
    xsk_socket__delete(socket);
    xsk_umem__delete(umem);
    munmap(area, area_size);
}

int xdp_socket::fd() const
{
    return xsk_socket__fd(socket);
}

xdp_statistics xdp_socket::statistics() const
{
    xdp_statistics stats{};
    socklen_t size = sizeof(stats);
    if (getsockopt(fd(), SOL_XDP, XDP_STATISTICS, &stats, &size) != 0)
        log_warning("AF_XDP statistics unavailable: {}", error_text(errno));
    return stats;
}

} // namespace spead2
