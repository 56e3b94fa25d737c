/* Sending UDP through AF_XDP: each packet becomes an Ethernet frame (headers from the
 * core's raw-packet helpers) written into the socket's frame memory and handed to
 * the driver through the transmit ring, bypassing the kernel's UDP/IP stack.  The
 * stream's own rate limiter paces it. */
#ifndef SPEAD2_SEND_UDP_XDP_H
#define SPEAD2_SEND_UDP_XDP_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>
#include <spead2/common_raw_packet.h>
#include <spead2/common_thread_pool.h>
#include <spead2/common_xdp.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

class udp_xdp_config : public xdp_config_base
{
private:
    std::vector<std::pair<std::string, std::uint16_t>> endpoints;
    std::uint8_t ttl = 1;

public:
    /* One substream per endpoint: IPv4 multicast groups, or unicast addresses whose
     * Ethernet address the kernel's neighbour table has (see udp_xdp_writer).  Throws
     * std::invalid_argument for a host that is not an IPv4 literal. */
    void set_endpoints(std::vector<std::pair<std::string, std::uint16_t>> value);
    void set_ttl(std::uint8_t value) { ttl = value; }

    const std::vector<std::pair<std::string, std::uint16_t>> &get_endpoints() const { return endpoints; }
    std::uint8_t get_ttl() const { return ttl; }
};

/* Transmits on one queue of the interface.  A packet is finished (and its result
 * set) once the kernel has taken its frames from the transmit ring: in copy mode it
 * has then copied them, in zero-copy mode the driver owns them until the completion
 * ring returns them, and only then are they reused.  Needs no XDP program.
 *
 * Throws xdp_unavailable when AF_XDP cannot start (permission, ring sizes), and
 * std::invalid_argument / std::runtime_error for settings that cannot work here:
 * packets larger than the MTU, than a frame without multi-buffer support, or a
 * unicast endpoint without a neighbour entry. */
class udp_xdp_writer : public writer
{
private:
    thread_pool &pool;
    network_interface interface;
    std::vector<udp_ipv4_header_fields> headers;   ///< per substream
    std::unique_ptr<xdp_socket> socket;
    std::size_t max_frames_per_packet;

    std::mutex mutex;   ///< everything below
    std::vector<std::uint64_t> free_frames;   ///< frame addresses the kernel has given back
    transmit_packet *packets = nullptr;       ///< the batch in flight, null when idle
    std::size_t n_packets = 0;
    std::size_t next_packet = 0;      ///< next to put on the transmit ring
    std::size_t finished_packets = 0; ///< taken by the kernel (results set)
    /// Transmit-ring producer index just after each submitted, unfinished packet.
    std::vector<std::uint32_t> packet_ends;
    std::function<void()> done;
    bool cancelled = false;
    /// Continuations posted to the pool and not yet run (the destructor waits for them).
    std::size_t scheduled = 0;
    std::condition_variable idle;
    std::chrono::microseconds backoff{0};

    /// Take the frames of the completion ring back (lock held).
    void reap();
    /// Put packets on the ring while frames and descriptors last; returns how many (lock held).
    std::size_t fill();
    /// Write @a packet into free frames, described from @a first_descriptor of the ring.
    void fill_packet(transmit_packet &packet, std::uint32_t first_descriptor);
    /* Ask the kernel to transmit until it takes no more descriptors; returns the error
     * of the last attempt if it was one that retrying would not fix (lock held). */
    std::error_code kick();
    /// Mark packets the kernel has taken as finished; returns how many (lock held).
    std::size_t retire(const std::error_code &error);
    /// Transmit what can be transmitted now; finish the batch or schedule a retry.
    void proceed();
    /// Run proceed() again on the pool: at once after @a progress, else after a backoff (lock held).
    void schedule(bool progress);

public:
    udp_xdp_writer(thread_pool &pool, const stream_config &stream_config, const udp_xdp_config &config);
    ~udp_xdp_writer() override;

    std::size_t num_substreams() const override { return headers.size(); }
    void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) override;
    void cancel() override;
    /// Whether the driver took the socket in zero-copy mode.
    bool zero_copy() const { return socket->zero_copy(); }
};

} // namespace spead2::send

#endif
