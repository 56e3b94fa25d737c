/* Sending UDP through ibverbs: frames (Ethernet, IPv4 and UDP headers built here)
 * posted to a raw-packet queue pair; item data in registered memory regions is sent
 * from where it is, without a copy; the NIC's packet pacing can take over the rate
 * (spec python-api.md §2.13). */
#ifndef SPEAD2_SEND_UDP_IBV_H
#define SPEAD2_SEND_UDP_IBV_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_ibv.h>
#include <spead2/common_raw_packet.h>
#include <spead2/common_thread_pool.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

class SPEAD2_API udp_ibv_config : public udp_ibv_config_base<udp_ibv_config>
{
public:
    static constexpr std::size_t default_buffer_size = 512 * 1024;
    static constexpr int default_max_poll = 10;

    /// A buffer to register with the NIC (pointer and size in bytes).
    typedef std::pair<const void *, std::size_t> memory_region;

private:
    std::uint8_t ttl = 1;
    std::vector<memory_region> memory_regions;

public:
    udp_ibv_config &set_ttl(std::uint8_t ttl) { this->ttl = ttl; return *this; }
    std::uint8_t get_ttl() const { return ttl; }
    /* Throws std::invalid_argument("memory region must have non-zero size") or
     * ("memory regions overlap"). */
    udp_ibv_config &set_memory_regions(std::vector<memory_region> regions);
    const std::vector<memory_region> &get_memory_regions() const { return memory_regions; }
};

/* One substream per endpoint (IPv4 multicast groups).  A batch completes (done) only
 * when the NIC has finished with every frame of it, since frames may point into the
 * heap's own memory. */
class SPEAD2_API udp_ibv_writer : public writer
{
private:
    struct registered_region
    {
        const std::uint8_t *start;
        std::size_t size;
        ibv_mr_ptr mr;
    };

    thread_pool &pool;
    const int comp_vector;
    const int max_poll;
    const std::size_t slot_size;   ///< a frame: headers, then the data that is copied
    ibv_interface interface;
    std::vector<udp_ipv4_header_fields> headers;   ///< per substream
    std::unique_ptr<ibv_queue> queue;
    std::vector<registered_region> regions;        ///< the user's, sorted by address
    std::unique_ptr<fd_watch> watch;

    std::mutex mutex;   ///< the batch in flight
    transmit_packet *packets = nullptr;
    std::size_t n_packets = 0, next_packet = 0, outstanding = 0;
    std::size_t free_slots = 0, next_slot = 0;
    std::function<void()> done;
    bool cancelled = false;
    bool qp_failed = false;   ///< an error completion stopped the queue pair
    std::vector<ibv_wc> completions;

    const registered_region *region_of(const std::uint8_t *data, std::size_t size) const;
    /// Post what fits of the batch; reap completions; finish or arrange to continue.
    void proceed();
    /// Take completions (with the lock held); a failed one sets its packet's result.
    void reap();
    void wait_for_completions();
    void poll_then_proceed();
    /// After an error completion, with nothing outstanding (lock held).
    void restart_qp();

public:
    udp_ibv_writer(thread_pool &pool, const stream_config &stream_config, const udp_ibv_config &config);
    ~udp_ibv_writer() override;

    std::size_t num_substreams() const override { return headers.size(); }
    void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) override;
    void cancel() override;
    bool take_over_pacing(double rate, std::size_t max_packet_size) override;
};

} // namespace spead2::send

#endif
