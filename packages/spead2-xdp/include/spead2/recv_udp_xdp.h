/* Receiving UDP through AF_XDP: our XDP program redirects the endpoints' datagrams on
 * one queue of an interface to an AF_XDP socket, bypassing the kernel's network stack;
 * every other frame reaches the kernel as before. */
#ifndef SPEAD2_RECV_UDP_XDP_H
#define SPEAD2_RECV_UDP_XDP_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/common_xdp.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Extension statistics that every receive stream has while this plugin is loaded
 * (register_transport_stat): which path the stream receives through. */
namespace udp_xdp_stats
{
/// AF_XDP readers added to the stream.
static constexpr const char *XDP_READERS = "xdp_readers";
/// Requests for an AF_XDP reader that fell back to the kernel's UDP sockets.
static constexpr const char *XDP_FALLBACKS = "xdp_fallbacks";
} // namespace udp_xdp_stats

/// Count one more of the udp_xdp_stats statistic @a name in @a owner.
void count_udp_xdp_stat(stream &owner, const char *name);

class udp_xdp_config : public xdp_config_base
{
public:
    static constexpr std::size_t default_max_size = 9200;
    static constexpr int default_max_poll = 10;

private:
    std::vector<std::pair<std::string, std::uint16_t>> endpoints;
    std::size_t max_size = default_max_size;
    xdp_mode mode = xdp_mode::automatic;
    bool busy_poll = false;
    int max_poll = default_max_poll;

public:
    /// Throws std::invalid_argument for a host that is not an IPv4 literal.
    void set_endpoints(std::vector<std::pair<std::string, std::uint16_t>> value);
    /// Throws std::invalid_argument("max_size must be positive") for 0.
    void set_max_size(std::size_t value);
    void set_mode(xdp_mode value) { mode = value; }
    void set_busy_poll(bool value) { busy_poll = value; }
    /// Throws std::invalid_argument("max_poll must be at least 1") below 1.
    void set_max_poll(int value);

    const std::vector<std::pair<std::string, std::uint16_t>> &get_endpoints() const { return endpoints; }
    std::size_t get_max_size() const { return max_size; }
    xdp_mode get_mode() const { return mode; }
    bool get_busy_poll() const { return busy_poll; }
    int get_max_poll() const { return max_poll; }
};

/* Lossy.  Datagrams larger than max_size and frames that are not IPv4/UDP for an
 * endpoint are counted as malformed_packets (and logged); what the kernel dropped
 * because our rings were full is counted as transport_dropped_packets. */
class udp_xdp_reader : public reader
{
private:
    struct endpoint
    {
        std::uint32_t address;   ///< host byte order; 0 for any address of the interface
        std::uint16_t port;
    };

    network_interface interface;
    std::vector<endpoint> endpoints;
    const std::size_t max_size;
    const std::uint32_t queue_index;
    const bool busy_poll;
    const int max_poll;
    const std::size_t malformed_index;
    std::vector<file_descriptor> group_members;   ///< sockets that joined the multicast groups
    std::unique_ptr<xdp_socket> socket;
    std::shared_ptr<xdp_filter> filter;
    std::unique_ptr<fd_watch> watch;
    /// A packet that spans several frames (multi-buffer), while its frames arrive.
    std::vector<datagram_piece> packet_frames;
    std::vector<std::uint64_t> packet_addresses;
    std::size_t packet_size = 0;
    std::vector<datagram_piece> payload_pieces;
    std::vector<std::uint8_t> gathered;   ///< a packet whose first frame cannot hold its headers
    std::vector<std::uint64_t> done_frames;   ///< to give back to the kernel (fill ring)
    std::uint64_t kernel_dropped = 0;   ///< the socket's drop counters, as last seen
    std::atomic<bool> stopping{false};

    /// A frame, or the @a n frames of a multi-buffer packet of @a size bytes in all.
    void process(const datagram_piece *frames, std::size_t n, std::size_t size, stream::add_packet_state &state);
    void malformed(stream::add_packet_state &state, const char *why);
    /// Take what the receive ring holds; returns the number of descriptors.
    std::size_t poll(stream::add_packet_state &state);
    void count_kernel_drops(stream::add_packet_state &state);
    void run_events();
    void run_busy();

public:
    udp_xdp_reader(stream &owner, const udp_xdp_config &config);
    ~udp_xdp_reader() override;

    void start() override;
    void stop() override;
    bool lossy() const override { return true; }
    /// The mode the XDP program runs in, and whether the socket is zero-copy.
    xdp_mode mode() const { return filter->mode(); }
    bool zero_copy() const { return socket->zero_copy(); }
};

} // namespace spead2::recv

#endif
