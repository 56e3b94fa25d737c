/* AF_XDP plumbing shared by the reader and the writer: our XDP program on an
 * interface, a UMEM (the frame memory the kernel and we hand back and forth) and an
 * AF_XDP socket bound to one queue of the interface.
 *
 * Errors say what to do: xdp_unavailable (a std::runtime_error) when AF_XDP cannot
 * start here (permission, driver, a program that is not ours, refused ring sizes),
 * which a caller may answer by falling back to the kernel's socket path;
 * std::invalid_argument for settings that can never work. */
#ifndef SPEAD2_COMMON_XDP_H
#define SPEAD2_COMMON_XDP_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#include <spead2/common_interface.h>

// Kernel headers older than 6.6 lack the multi-buffer (scatter-gather) constants.
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

namespace spead2
{

/// AF_XDP cannot start on this machine or interface (see the message for why).
class xdp_unavailable : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

enum class xdp_mode
{
    automatic,   ///< the driver's native XDP where it has it, else generic
    native,      ///< in the driver, before any socket buffer is allocated
    generic      ///< after the kernel has built a socket buffer: works on any interface
};

/// Parse "auto", "native" or "generic"; throws std::invalid_argument otherwise.
xdp_mode parse_xdp_mode(const std::string &mode);
const char *xdp_mode_name(xdp_mode mode);

/* The interface given as a name ("eth0") or an IPv4 address ("10.0.0.1"); the
 * address is that of the interface in both cases (0 if the interface has none). */
network_interface xdp_find_interface(const std::string &interface);

/* Throws std::invalid_argument unless every host is an IPv4 address literal ("" too,
 * meaning any address of the interface, if @a allow_any). */
void xdp_check_endpoints(const std::vector<std::pair<std::string, std::uint16_t>> &endpoints, bool allow_any);

/* Ring and frame settings shared by the reader's and writer's configs, validated
 * when set: sizes are powers of two, frames 2048 or 4096 bytes (a page at most, the
 * kernel's limit for aligned frames). */
class xdp_config_base
{
public:
    static constexpr std::size_t default_frame_size = 4096;
    static constexpr std::size_t default_frame_count = 4096;
    /// As many descriptors as frames: a ring never runs out before the frame memory does.
    static constexpr std::size_t default_ring_size = 4096;

private:
    std::string interface;
    std::uint32_t queue = 0;
    std::size_t frame_size = default_frame_size;
    std::size_t frame_count = default_frame_count;
    std::size_t ring_size = default_ring_size;
    bool zero_copy = true;

public:
    void set_interface(const std::string &value);
    void set_queue(std::uint32_t value) { queue = value; }
    void set_frame_size(std::size_t value);
    void set_frame_count(std::size_t value);
    void set_ring_size(std::size_t value);
    void set_zero_copy(bool value) { zero_copy = value; }

    const std::string &get_interface() const { return interface; }
    std::uint32_t get_queue() const { return queue; }
    std::size_t get_frame_size() const { return frame_size; }
    std::size_t get_frame_count() const { return frame_count; }
    std::size_t get_ring_size() const { return ring_size; }
    bool get_zero_copy() const { return zero_copy; }
};

/* Our filter program attached to one interface, shared by every reader on it in this
 * process: each adds its endpoints and the socket of its queue, and the program is
 * detached when the last reader goes.  Attached through a BPF link, which never
 * replaces a program that is there already (xdp_unavailable instead: the effect of
 * XDP_FLAGS_UPDATE_IF_NOEXIST), detaches only ours, and goes with the process that
 * holds it, however that process ends: a killed receiver leaves no program behind. */
class xdp_filter
{
private:
    bpf_object *object = nullptr;
    unsigned int ifindex;
    xdp_mode attached_mode;
    int program_fd = -1;
    int link_fd = -1;   ///< the BPF link that attaches the program
    int endpoints_fd = -1;
    int sockets_fd = -1;
    std::mutex endpoints_mutex;
    /// Readers per endpoint (address, port): readers of several queues share them.
    std::map<std::pair<std::uint32_t, std::uint16_t>, int> endpoint_users;

    xdp_filter(const network_interface &interface, xdp_mode mode);

public:
    /* The filter on @a interface, attached in @a mode if this is the first user;
     * a later user asking for another explicit mode gets xdp_unavailable. */
    static std::shared_ptr<xdp_filter> attach(const network_interface &interface, xdp_mode mode);
    ~xdp_filter();
    xdp_filter(const xdp_filter &) = delete;
    xdp_filter &operator=(const xdp_filter &) = delete;

    xdp_mode mode() const { return attached_mode; }
    /* Steer UDP to @a address (host order; 0: any address of the interface) : @a port
     * to the sockets.  Counted: an endpoint stays until every reader that added it
     * has removed it. */
    void add_endpoint(std::uint32_t address, std::uint16_t port);
    void remove_endpoint(std::uint32_t address, std::uint16_t port);
    /// Throws xdp_unavailable if the queue already has a socket.
    void set_socket(std::uint32_t queue, int socket_fd);
    void clear_socket(std::uint32_t queue);
};

/* Frame memory (UMEM) and one AF_XDP socket on it, bound to a queue of an interface.
 * The reader uses the receive and fill rings, the writer the transmit and completion
 * rings; the unused pair is not created. */
class xdp_socket
{
public:
    enum class direction
    {
        receive,
        transmit
    };

private:
    std::uint8_t *area = nullptr;
    std::size_t area_size = 0;
    std::size_t frame_size;
    xsk_umem *umem = nullptr;
    xsk_socket *socket = nullptr;
    bool zero_copy_ = false;
    bool multi_buffer_ = false;

public:
    /* The producer/consumer structs are zeroed before libxdp fills them: libxdp 1.3.1
     * leaves the fill ring's cached producer uninitialised, and frames are then
     * handed to the kernel twice. */
    xsk_ring_prod fill{};
    xsk_ring_cons completion{};
    xsk_ring_cons rx{};
    xsk_ring_prod tx{};

    xdp_socket(const network_interface &interface, const xdp_config_base &config, direction dir);
    ~xdp_socket();
    xdp_socket(const xdp_socket &) = delete;
    xdp_socket &operator=(const xdp_socket &) = delete;

    int fd() const;
    std::uint8_t *frame(std::uint64_t address) const { return area + address; }
    std::size_t get_frame_size() const { return frame_size; }
    std::size_t frame_count() const { return area_size / frame_size; }
    bool zero_copy() const { return zero_copy_; }
    /// Whether packets may span several descriptors (XDP_USE_SG was accepted).
    bool multi_buffer() const { return multi_buffer_; }
    /// The kernel's drop counters for this socket (XDP_STATISTICS).
    xdp_statistics statistics() const;
};

} // namespace spead2

#endif
