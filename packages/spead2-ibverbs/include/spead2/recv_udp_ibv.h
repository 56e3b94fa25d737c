/* Receiving UDP through ibverbs: a raw-packet queue pair whose flows steer the
 * endpoints' frames into one registered buffer, bypassing the kernel's network stack
 * (spec python-api.md §4.9). */
#ifndef SPEAD2_RECV_UDP_IBV_H
#define SPEAD2_RECV_UDP_IBV_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_ibv.h>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

class SPEAD2_API udp_ibv_config : public udp_ibv_config_base<udp_ibv_config>
{
public:
    static constexpr std::size_t default_buffer_size = 16 * 1024 * 1024;
    static constexpr std::size_t default_max_size = 9200;
    static constexpr int default_max_poll = 10;

private:
    std::size_t max_size = default_max_size;

public:
    /// Throws std::invalid_argument("max_size must be positive") for 0.
    udp_ibv_config &set_max_size(std::size_t size);
    std::size_t get_max_size() const { return max_size; }
};

/* Lossy.  Frames that do not carry a UDP/IPv4 datagram for one of the endpoints and
 * datagrams larger than max_size are counted as malformed_packets (and logged);
 * frames the NIC dropped for lack of a free buffer are not seen (the NIC's own
 * counters have them). */
class SPEAD2_API udp_ibv_reader : public reader
{
private:
    struct endpoint
    {
        std::uint32_t address;   ///< host byte order
        std::uint16_t port;
    };

    std::vector<endpoint> endpoints;
    const std::size_t max_size;
    const int comp_vector;
    const int max_poll;
    std::size_t slot_size = 0;
    bool qp_failed = false;   ///< an error completion stopped the queue pair
    std::size_t malformed_index;
    ibv_interface interface;
    std::vector<file_descriptor> group_members;   ///< sockets that joined the multicast groups
    std::unique_ptr<ibv_queue> queue;
    std::vector<ibv_flow_ptr> flows;
    std::unique_ptr<fd_watch> watch;   ///< on the completion channel (not when busy-polling)
    std::vector<ibv_recv_wr> recv_wrs;
    std::vector<ibv_sge> recv_sges;
    std::vector<ibv_wc> completions;
    std::atomic<bool> stopping{false};

    void post_receives(const ibv_wc *done, int n);
    /// Take what the completion queue holds; returns the number of completions.
    int poll(stream::add_packet_state &state);
    void process(const ibv_wc &wc, stream::add_packet_state &state);
    void restart_qp();
    void malformed(stream::add_packet_state &state, const char *why);
    void run_events();
    void run_busy();

public:
    udp_ibv_reader(stream &owner, const udp_ibv_config &config);
    ~udp_ibv_reader() override;

    void start() override;
    void stop() override;
    bool lossy() const override { return true; }
};

} // namespace spead2::recv

#endif
