#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include <spead2/common_ibv.h>
#include <spead2/common_logging.h>

namespace spead2
{

/* ---- the library ----------------------------------------------------------- */

std::string ibv_api::library_path()
{
    const char *path = std::getenv("SPEAD2_IBV_LIBRARY");
    return path && *path ? path : "libibverbs.so.1";
}

namespace
{

template<typename T>
void load_symbol(void *handle, const std::string &path, const char *name, T &out)
{
    void *symbol = dlsym(handle, name);
    if (!symbol)
        throw std::runtime_error("Symbol " + std::string(name) + " not found in " + path
                                 + " (rdma-core's libibverbs is too old or this is not libibverbs)");
    out = reinterpret_cast<T>(symbol);
}

} // anonymous namespace

const ibv_api &ibv_api::get()
{
    static std::mutex mutex;
    static std::unique_ptr<ibv_api> api;
    std::lock_guard<std::mutex> lock(mutex);
    if (api)
        return *api;
    const std::string path = library_path();
    // Never unloaded: verbs objects may outlive any owner of the handle.
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        throw std::runtime_error("Could not open " + path + ": " + dlerror()
                                 + " (install rdma-core's libibverbs, e.g. the libibverbs1 package, "
                                   "and the driver of the NIC, e.g. libmlx5)");
    auto loaded = std::make_unique<ibv_api>();
    load_symbol(handle, path, "ibv_get_device_list", loaded->get_device_list);
    load_symbol(handle, path, "ibv_free_device_list", loaded->free_device_list);
    load_symbol(handle, path, "ibv_get_device_name", loaded->get_device_name);
    load_symbol(handle, path, "ibv_open_device", loaded->open_device);
    load_symbol(handle, path, "ibv_close_device", loaded->close_device);
    load_symbol(handle, path, "ibv_query_device", loaded->query_device);
    load_symbol(handle, path, "ibv_query_port", loaded->query_port);
    load_symbol(handle, path, "ibv_query_gid", loaded->query_gid);
    load_symbol(handle, path, "ibv_alloc_pd", loaded->alloc_pd);
    load_symbol(handle, path, "ibv_dealloc_pd", loaded->dealloc_pd);
    load_symbol(handle, path, "ibv_reg_mr", loaded->reg_mr);
    load_symbol(handle, path, "ibv_dereg_mr", loaded->dereg_mr);
    load_symbol(handle, path, "ibv_create_comp_channel", loaded->create_comp_channel);
    load_symbol(handle, path, "ibv_destroy_comp_channel", loaded->destroy_comp_channel);
    load_symbol(handle, path, "ibv_create_cq", loaded->create_cq);
    load_symbol(handle, path, "ibv_destroy_cq", loaded->destroy_cq);
    load_symbol(handle, path, "ibv_get_cq_event", loaded->get_cq_event);
    load_symbol(handle, path, "ibv_ack_cq_events", loaded->ack_cq_events);
    load_symbol(handle, path, "ibv_create_qp", loaded->create_qp);
    load_symbol(handle, path, "ibv_modify_qp", loaded->modify_qp);
    load_symbol(handle, path, "ibv_destroy_qp", loaded->destroy_qp);
    api = std::move(loaded);
    return *api;
}

void throw_ibv_error(const std::string &what, int error)
{
    // RuntimeError in Python, as the spec has it for every device failure.
    throw std::runtime_error(what + " failed: " + std::strerror(error));
}

/* ---- owners ---------------------------------------------------------------- */

void ibv_deleter::operator()(ibv_context *p) const { ibv_api::get().close_device(p); }
void ibv_deleter::operator()(ibv_pd *p) const { ibv_api::get().dealloc_pd(p); }
void ibv_deleter::operator()(ibv_mr *p) const { ibv_api::get().dereg_mr(p); }
void ibv_deleter::operator()(ibv_comp_channel *p) const { ibv_api::get().destroy_comp_channel(p); }
void ibv_deleter::operator()(ibv_cq *p) const { ibv_api::get().destroy_cq(p); }
void ibv_deleter::operator()(ibv_qp *p) const { ibv_api::get().destroy_qp(p); }
void ibv_deleter::operator()(ibv_flow *p) const { ibv_destroy_flow(p); }

/* ---- finding the device ------------------------------------------------------ */

namespace
{

/// Whether port @a port of @a context lists @a address (IPv4-mapped) among its GIDs.
bool serves(const ibv_api &api, ibv_context *context, std::uint8_t port, std::uint32_t address)
{
    ibv_port_attr attr{};
    if (api.query_port(context, port, &attr) != 0)
        return false;
    ibv_gid wanted{};
    wanted.raw[10] = wanted.raw[11] = 0xff;
    const std::uint32_t network_order = htonl(address);
    std::memcpy(wanted.raw + 12, &network_order, 4);
    for (int index = 0; index < attr.gid_tbl_len; index++)
    {
        ibv_gid gid{};
        if (api.query_gid(context, port, index, &gid) == 0 && std::memcmp(gid.raw, wanted.raw, 16) == 0)
            return true;
    }
    return false;
}

} // anonymous namespace

ibv_interface ibv_interface::open(const std::string &interface_address)
{
    ibv_interface out;
    static_cast<network_interface &>(out) = network_interface::by_address(interface_address);

    const ibv_api &api = ibv_api::get();
    int n_devices = 0;
    ibv_device **devices = api.get_device_list(&n_devices);
    std::unique_ptr<ibv_device *, void (*)(ibv_device **)> device_owner(devices, api.free_device_list);
    if (!devices || n_devices == 0)
        // NULL with ENOSYS: the kernel has no RDMA support loaded at all.
        throw std::runtime_error("No RDMA device found (is there an RDMA-capable NIC, e.g. a ConnectX, "
                                 "with its driver and ib_uverbs loaded?)");
    for (int i = 0; i < n_devices; i++)
    {
        ibv_context_ptr context(api.open_device(devices[i]));
        if (!context)
            continue;
        ibv_device_attr attr{};
        const int ports = api.query_device(context.get(), &attr) == 0 ? attr.phys_port_cnt : 1;
        for (int port = 1; port <= ports; port++)
            if (serves(api, context.get(), std::uint8_t(port), out.address))
            {
                log_info("interface {} ({}) is served by RDMA device {} port {}", interface_address, out.name,
                         api.get_device_name(devices[i]), port);
                out.context = std::move(context);
                out.port = std::uint8_t(port);
                return out;
            }
    }
    throw std::runtime_error("No RDMA device serves interface address " + interface_address + " (" + out.name
                             + "): ibverbs needs an RDMA-capable NIC such as a ConnectX");
}

/* ---- queue pairs and steering --------------------------------------------------- */

ibv_queue::ibv_queue(const ibv_interface &interface, std::size_t buffer_size, std::size_t slot_size,
                     int comp_vector, bool send, std::uint32_t wanted_send_sge)
    : port(interface.port), send(send)
{
    const ibv_api &api = ibv_api::get();
    ibv_context *context = interface.context.get();
    ibv_device_attr device{};
    if (int error = api.query_device(context, &device))
        throw_ibv_error("ibv_query_device", error);
    n_slots = std::max<std::size_t>(1, buffer_size / slot_size);
    n_slots = std::min<std::size_t>({n_slots, std::size_t(device.max_qp_wr), std::size_t(device.max_cqe)});
    max_send_sge = std::min<std::uint32_t>(wanted_send_sge, std::uint32_t(std::max(1, device.max_sge)));
    buffer.resize(n_slots * slot_size);

    pd.reset(api.alloc_pd(context));
    if (!pd)
        throw_ibv_error("ibv_alloc_pd", errno);
    mr.reset(api.reg_mr(pd.get(), buffer.data(), buffer.size(), IBV_ACCESS_LOCAL_WRITE));
    if (!mr)
        throw_ibv_error("ibv_reg_mr", errno);
    if (comp_vector >= 0)
        channel = make_comp_channel(context);
    // Taken modulo the vectors there are, so that users can number readers 0, 1, 2...
    const int vectors = std::max(1, context->num_comp_vectors);
    cq.reset(api.create_cq(context, int(n_slots), nullptr, channel.get(), comp_vector >= 0 ? comp_vector % vectors : 0));
    if (!cq)
        throw_ibv_error("ibv_create_cq", errno);
    const std::uint32_t slots = std::uint32_t(n_slots);
    qp = make_raw_qp(pd.get(), cq.get(), cq.get(), send ? slots : 1, send ? 1 : slots, max_send_sge);
    ibv_qp_ready(qp.get(), interface.port, send);
}

ibv_queue::~ibv_queue()
{
    if (unacked_events)
        ibv_api::get().ack_cq_events(cq.get(), unacked_events);   // destroying the CQ waits for them
    // The queue pair goes before the buffer it may still be delivering into.
    qp.reset();
}

void ibv_queue::take_events()
{
    const ibv_api &api = ibv_api::get();
    ibv_cq *event_cq;
    void *event_context;
    while (api.get_cq_event(channel.get(), &event_cq, &event_context) == 0)
        unacked_events++;
    if (unacked_events >= 64)
    {
        // Acknowledging takes a lock in the library: do it in batches.
        api.ack_cq_events(cq.get(), unacked_events);
        unacked_events = 0;
    }
}

bool ibv_queue::restart()
{
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_RESET;
    if (ibv_api::get().modify_qp(qp.get(), &attr, IBV_QP_STATE) != 0)
        return false;
    ibv_qp_ready(qp.get(), port, send);
    return true;
}

ibv_comp_channel_ptr make_comp_channel(ibv_context *context)
{
    ibv_comp_channel_ptr channel(ibv_api::get().create_comp_channel(context));
    if (!channel)
        throw_ibv_error("ibv_create_comp_channel", errno);
    const int flags = fcntl(channel->fd, F_GETFL);
    if (flags < 0 || fcntl(channel->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        throw_ibv_error("fcntl on the completion channel", errno);
    return channel;
}

ibv_qp_ptr make_raw_qp(ibv_pd *pd, ibv_cq *send_cq, ibv_cq *recv_cq, std::uint32_t max_send_wr,
                       std::uint32_t max_recv_wr, std::uint32_t max_send_sge)
{
    ibv_qp_init_attr attr{};
    attr.send_cq = send_cq;
    attr.recv_cq = recv_cq;
    attr.qp_type = IBV_QPT_RAW_PACKET;
    attr.cap.max_send_wr = max_send_wr;
    attr.cap.max_recv_wr = max_recv_wr;
    attr.cap.max_send_sge = max_send_sge;
    attr.cap.max_recv_sge = 1;
    ibv_qp_ptr qp(ibv_api::get().create_qp(pd, &attr));
    if (!qp)
    {
        const int error = errno;
        if (error == EPERM || error == EACCES)
            throw std::runtime_error("Cannot create a raw packet queue pair (" + std::string(std::strerror(error))
                                     + "): the process needs the CAP_NET_RAW capability (run as root, or "
                                       "setcap cap_net_raw+ep on the Python interpreter)");
        throw_ibv_error("ibv_create_qp", error);
    }
    return qp;
}

void ibv_qp_ready(ibv_qp *qp, std::uint8_t port, bool send)
{
    const ibv_api &api = ibv_api::get();
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_INIT;
    attr.port_num = port;
    if (int error = api.modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PORT))
        throw_ibv_error("ibv_modify_qp to INIT", error);
    attr = ibv_qp_attr{};
    attr.qp_state = IBV_QPS_RTR;
    if (int error = api.modify_qp(qp, &attr, IBV_QP_STATE))
        throw_ibv_error("ibv_modify_qp to RTR", error);
    if (send)
    {
        attr = ibv_qp_attr{};
        attr.qp_state = IBV_QPS_RTS;
        if (int error = api.modify_qp(qp, &attr, IBV_QP_STATE))
            throw_ibv_error("ibv_modify_qp to RTS", error);
    }
}

ibv_flow_ptr ibv_steer_udp(ibv_qp *qp, std::uint8_t port_num, const mac_address &mac, std::uint32_t address,
                           std::uint16_t port)
{
    // The attribute is followed in memory by its specs, as the verbs API lays it out.
    struct
    {
        ibv_flow_attr attr;
        ibv_flow_spec_eth eth;
        ibv_flow_spec_ipv4 ip;
        ibv_flow_spec_tcp_udp udp;
    } rule{};
    static_assert(sizeof(rule) == sizeof(rule.attr) + sizeof(rule.eth) + sizeof(rule.ip) + sizeof(rule.udp),
                  "flow specs must follow the attribute without padding");
    rule.attr.type = IBV_FLOW_ATTR_NORMAL;
    rule.attr.size = sizeof(rule);
    rule.attr.num_of_specs = 3;
    rule.attr.port = port_num;
    rule.eth.type = IBV_FLOW_SPEC_ETH;
    rule.eth.size = sizeof(rule.eth);
    std::memcpy(rule.eth.val.dst_mac, mac.data(), 6);
    std::memset(rule.eth.mask.dst_mac, 0xff, 6);
    rule.ip.type = IBV_FLOW_SPEC_IPV4;
    rule.ip.size = sizeof(rule.ip);
    rule.ip.val.dst_ip = htonl(address);
    rule.ip.mask.dst_ip = 0xffffffff;
    rule.udp.type = IBV_FLOW_SPEC_UDP;
    rule.udp.size = sizeof(rule.udp);
    rule.udp.val.dst_port = htons(port);
    rule.udp.mask.dst_port = 0xffff;
    ibv_flow_ptr flow(ibv_create_flow(qp, &rule.attr));
    if (!flow)
        throw_ibv_error("ibv_create_flow (flow steering)", errno);
    return flow;
}

socket_address ibv_ipv4_endpoint(const std::string &host, std::uint16_t port, const char *not_ipv4_message)
{
    in_addr parsed{};
    if (inet_pton(AF_INET, host.c_str(), &parsed) != 1)
    {
        // A name may still resolve to IPv4; an IPv6 literal or name never qualifies.
        socket_address resolved = socket_address::resolve(host, port);
        if (!resolved.is_v4())
            throw std::invalid_argument(not_ipv4_message);
        return resolved;
    }
    return socket_address::ipv4(ntohl(parsed.s_addr), port);
}

} // namespace spead2
