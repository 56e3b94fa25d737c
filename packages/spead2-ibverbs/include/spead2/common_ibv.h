/* ibverbs for kernel-bypass UDP: libibverbs loaded lazily (so that a machine without
 * it still imports spead2), owned wrappers of the verbs objects, and the device that
 * serves an interface address.
 *
 * The library is dlopen()ed the first time a transport needs it: "libibverbs.so.1",
 * or the file named by the environment variable SPEAD2_IBV_LIBRARY (a test double of
 * the verbs provider, see tests/ibverbs/double).  Functions that <infiniband/verbs.h>
 * defines inline (posting work requests, polling completion queues, flow steering,
 * rate limits) dispatch through the device context and need no symbol; inlines that
 * fall back to a library symbol (ibv_query_device_ex) are not used. */
#ifndef SPEAD2_COMMON_IBV_H
#define SPEAD2_COMMON_IBV_H

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <infiniband/verbs.h>
#include <spead2/common_interface.h>
#include <spead2/common_raw_packet.h>
#include <spead2/common_socket.h>

namespace spead2
{

/// The exported libibverbs functions the transports call.
struct ibv_api
{
    decltype(&::ibv_get_device_list) get_device_list;
    decltype(&::ibv_free_device_list) free_device_list;
    decltype(&::ibv_get_device_name) get_device_name;
    decltype(&::ibv_open_device) open_device;
    decltype(&::ibv_close_device) close_device;
    decltype(&::ibv_query_device) query_device;
    int (*query_port)(ibv_context *context, std::uint8_t port_num, ibv_port_attr *port_attr);
    decltype(&::ibv_query_gid) query_gid;
    decltype(&::ibv_alloc_pd) alloc_pd;
    decltype(&::ibv_dealloc_pd) dealloc_pd;
    ibv_mr *(*reg_mr)(ibv_pd *pd, void *addr, std::size_t length, int access);
    decltype(&::ibv_dereg_mr) dereg_mr;
    decltype(&::ibv_create_comp_channel) create_comp_channel;
    decltype(&::ibv_destroy_comp_channel) destroy_comp_channel;
    decltype(&::ibv_create_cq) create_cq;
    decltype(&::ibv_destroy_cq) destroy_cq;
    decltype(&::ibv_get_cq_event) get_cq_event;
    decltype(&::ibv_ack_cq_events) ack_cq_events;
    decltype(&::ibv_create_qp) create_qp;
    decltype(&::ibv_modify_qp) modify_qp;
    decltype(&::ibv_destroy_qp) destroy_qp;

    /* The loaded library; throws std::runtime_error naming the library and what to do
     * when it cannot be loaded (then again on every call: it may be installed later). */
    static const ibv_api &get();
    /// The library file that get() loads.
    static std::string library_path();
};

/// Owners of verbs objects, released through the loaded library.
struct ibv_deleter
{
    void operator()(ibv_context *p) const;
    void operator()(ibv_pd *p) const;
    void operator()(ibv_mr *p) const;
    void operator()(ibv_comp_channel *p) const;
    void operator()(ibv_cq *p) const;
    void operator()(ibv_qp *p) const;
    void operator()(ibv_flow *p) const;
};

typedef std::unique_ptr<ibv_context, ibv_deleter> ibv_context_ptr;
typedef std::unique_ptr<ibv_pd, ibv_deleter> ibv_pd_ptr;
typedef std::unique_ptr<ibv_mr, ibv_deleter> ibv_mr_ptr;
typedef std::unique_ptr<ibv_comp_channel, ibv_deleter> ibv_comp_channel_ptr;
typedef std::unique_ptr<ibv_cq, ibv_deleter> ibv_cq_ptr;
typedef std::unique_ptr<ibv_qp, ibv_deleter> ibv_qp_ptr;
typedef std::unique_ptr<ibv_flow, ibv_deleter> ibv_flow_ptr;

/* The network interface with an IPv4 address and the RDMA device serving it (found by
 * the address in the device's GID table, as RoCE lists it). */
struct ibv_interface : network_interface
{
    ibv_context_ptr context;
    std::uint8_t port = 1;

    /* Throws std::invalid_argument ("... interface address ...") for an address that
     * is empty or not IPv4, std::runtime_error for one that does not resolve ("Host
     * not found"), that no interface has, or that no RDMA device serves, and when the
     * library cannot be loaded. */
    static ibv_interface open(const std::string &interface_address);
};

/* The settings a reader and a writer share (spec §2.13, §4.9); @a Derived provides
 * default_buffer_size and default_max_poll.  Setters return the derived config. */
template<typename Derived>
class udp_ibv_config_base
{
private:
    std::vector<std::pair<std::string, std::uint16_t>> endpoints;
    std::string interface_address;
    std::size_t buffer_size = Derived::default_buffer_size;
    int comp_vector = 0;
    int max_poll = Derived::default_max_poll;

    Derived &self() { return static_cast<Derived &>(*this); }

public:
    Derived &set_endpoints(std::vector<std::pair<std::string, std::uint16_t>> endpoints)
    {
        this->endpoints = std::move(endpoints);
        return self();
    }
    const std::vector<std::pair<std::string, std::uint16_t>> &get_endpoints() const { return endpoints; }
    Derived &set_interface_address(std::string address)
    {
        interface_address = std::move(address);
        return self();
    }
    const std::string &get_interface_address() const { return interface_address; }
    /// 0 restores the default.
    Derived &set_buffer_size(std::size_t size)
    {
        buffer_size = size == 0 ? Derived::default_buffer_size : size;
        return self();
    }
    std::size_t get_buffer_size() const { return buffer_size; }
    /// Negative: busy-poll instead of waiting for completion events.
    Derived &set_comp_vector(int comp_vector)
    {
        this->comp_vector = comp_vector;
        return self();
    }
    int get_comp_vector() const { return comp_vector; }
    /// Throws std::invalid_argument("max_poll must be at least 1") below 1.
    Derived &set_max_poll(int max_poll)
    {
        if (max_poll < 1)
            throw std::invalid_argument("max_poll must be at least 1");
        this->max_poll = max_poll;
        return self();
    }
    int get_max_poll() const { return max_poll; }
};

/* The verbs objects of one raw-packet transport: a protection domain, one registered
 * buffer of slots, a completion queue (with a completion channel unless busy
 * polling) and a queue pair in the ready state (RTR to receive, RTS to send). */
struct ibv_queue
{
private:
    const std::uint8_t port;
    const bool send;
    unsigned int unacked_events = 0;

public:
    std::size_t n_slots = 0;
    std::uint32_t max_send_sge = 1;
    std::vector<std::uint8_t> buffer;   ///< n_slots * slot_size bytes, registered
    ibv_pd_ptr pd;
    ibv_mr_ptr mr;
    ibv_comp_channel_ptr channel;
    ibv_cq_ptr cq;
    ibv_qp_ptr qp;

    /* Slots of @a slot_size bytes in @a buffer_size bytes (at least one, at most what
     * the device allows in a queue); @a send: a sending queue with up to
     * @a wanted_send_sge gather entries, else a receiving one. */
    ibv_queue(const ibv_interface &interface, std::size_t buffer_size, std::size_t slot_size, int comp_vector,
              bool send, std::uint32_t wanted_send_sge = 1);
    ~ibv_queue();
    ibv_queue(const ibv_queue &) = delete;
    ibv_queue &operator=(const ibv_queue &) = delete;

    std::uint8_t *slot(std::size_t index, std::size_t slot_size) { return buffer.data() + index * slot_size; }
    /// Take the completion channel's pending events (it is non-blocking), acknowledged in batches.
    void take_events();
    /* Take the queue pair from the error state (where an error completion leaves it)
     * back through RESET to ready; its posted work requests are gone.  Returns false
     * if the device refused. */
    bool restart();
};

/// Completions taken from a completion queue at a time.
constexpr int ibv_poll_batch = 64;

inline std::size_t round_up(std::size_t n, std::size_t to)
{
    return (n + to - 1) / to * to;
}

/// A completion channel that reports readiness on a non-blocking fd.
ibv_comp_channel_ptr make_comp_channel(ibv_context *context);

/* A raw-packet queue pair on @a port; throws std::runtime_error, which says that the
 * process needs CAP_NET_RAW when that is why it failed. */
ibv_qp_ptr make_raw_qp(ibv_pd *pd, ibv_cq *send_cq, ibv_cq *recv_cq, std::uint32_t max_send_wr,
                       std::uint32_t max_recv_wr, std::uint32_t max_send_sge);

/// Move a QP through INIT to RTR (receive) and, if @a send, RTS.
void ibv_qp_ready(ibv_qp *qp, std::uint8_t port, bool send);

/* Steer frames for (@a address, @a port) (host byte order; a multicast group or the
 * interface's own address) arriving on @a port_num to @a qp; @a mac is the frames'
 * destination (the group's multicast MAC, or the interface's). */
ibv_flow_ptr ibv_steer_udp(ibv_qp *qp, std::uint8_t port_num, const mac_address &mac, std::uint32_t address,
                           std::uint16_t port);

/// An IPv4 endpoint, validated: throws std::invalid_argument(@a not_ipv4_message) otherwise.
socket_address ibv_ipv4_endpoint(const std::string &host, std::uint16_t port, const char *not_ipv4_message);

/// Throws std::runtime_error saying that @a what failed, and why (an errno value).
[[noreturn]] void throw_ibv_error(const std::string &what, int error);

} // namespace spead2

#endif
