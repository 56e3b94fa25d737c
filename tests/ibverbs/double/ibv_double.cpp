/* libspead2_ibv_double.so: a software stand-in for libibverbs plus a provider,
 * so that ibverbs code (the spead2 ibverbs plugin) can be tested end to end on
 * machines without an RDMA NIC.
 *
 * It behaves like a ConnectX NIC in Ethernet mode serving one netdev, named by
 * SPEAD2_IBV_DOUBLE_INTERFACE (typically one end of a veth pair): raw-packet QPs
 * receive what flow steering rules select and send whole Ethernet frames.  The
 * "hardware" is an AF_PACKET socket per QP with a receive thread (frames matched
 * against the QP's flows, scattered into posted receive WRs) and a send thread
 * (WRs gathered, paced, written to the wire), so completions arrive
 * asynchronously, as they do from a NIC.
 *
 * Contexts are laid out as <infiniband/verbs.h> expects of a real provider
 * (struct verbs_context with abi_compat = __VERBS_ABI_IS_EXTENDED), so callers'
 * static inline verbs (ibv_post_send, ibv_poll_cq, ibv_create_flow,
 * ibv_query_device_ex, ibv_query_port, ...) dispatch into this library.
 *
 * Known differences from a ConnectX (worth knowing when a test fails or passes):
 * - The AF_PACKET sockets only tap the netdev: the kernel in the double's
 *   namespace still sees every received frame (a NIC's steering takes them from
 *   it), so e.g. a unicast datagram to a port nobody there listens on draws an
 *   ICMP port unreachable.  Frames a QP sends reach neither other QPs of the
 *   double nor that kernel (a ConnectX may loop multicast back to other QPs).
 * - Overlapping flows on several QPs give each QP a copy.
 * - ibv_req_notify_cq fires for the next completion added after it (the IB rule);
 *   completions already in the CQ do not fire, where a ConnectX may fire at once.
 * - post_send outside RTS fails with EINVAL, in the error state too (a ConnectX
 *   accepts the post and flushes it; post_recv in the error state flushes here).
 * - A full CQ drops the completion (counted in the stats) instead of the CQ
 *   going to the error state with an asynchronous event.  No asynchronous
 *   events at all: async_fd never becomes readable.
 * - Pacing is strict (no bursts) and counts frame bytes only (no preamble,
 *   inter-frame gap or FCS); max_burst_sz and typical_pkt_sz are ignored.
 * - ibv_reg_mr neither pins nor checks the memory (a real one fails with EFAULT
 *   on unmapped addresses); keys are checked when the "NIC" uses them.
 * - Only ETH, IPV4, UDP and TCP flow specs, only IBV_FLOW_ATTR_NORMAL rules;
 *   no ibv_create_qp_ex/WQs/RSS/TSO/mlx5dv (their verbs_context ops stay NULL,
 *   so the inline wrappers report EOPNOTSUPP).
 *
 * Written from the public header and man pages only.
 */
#include <infiniband/verbs.h>
// verbs.h turns these names into inline wrappers; the library must define the
// exported functions under their real names.
#undef ibv_query_port
#undef ibv_reg_mr
#undef ibv_reg_mr_iova

#include "ibv_double.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#define DOUBLE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Device limits, in the range of a ConnectX-5; create calls are validated against them.
constexpr int kMaxQp = 1024;
constexpr int kMaxQpWr = 32768;
constexpr int kMaxSge = 30;
constexpr int kMaxCq = 1024;
constexpr int kMaxCqe = 4194303;
constexpr int kMaxMr = 65536;
constexpr int kMaxPd = 1024;
constexpr uint32_t kMaxInline = 512;
constexpr int kNumCompVectors = 4;
constexpr int kGidTableLen = 16;
constexpr uint32_t kRateLimitMinKbps = 1;
constexpr uint32_t kRateLimitMaxKbps = 100000000;  // 100 Gb/s, the reported link speed
constexpr uint8_t kPort = 1;
constexpr const char *kDeviceName = "spead2_double0";
// Largest frame the receive thread reads whole; bigger ones cannot come from an
// MTU-limited link and are dropped.
constexpr size_t kMaxFrame = 65536;
constexpr size_t kVlanHeader = 4;
constexpr std::chrono::microseconds kPacingSlack{200};

using Clock = std::chrono::steady_clock;

struct Counters {
    std::atomic<uint64_t> rx_frames{0};
    std::atomic<uint64_t> rx_errors{0};
    std::atomic<uint64_t> rx_dropped_no_wr{0};
    std::atomic<uint64_t> rx_dropped_cq_full{0};
    std::atomic<uint64_t> tx_frames{0};
    std::atomic<uint64_t> tx_errors{0};
    std::atomic<uint64_t> tx_cq_overflow{0};
    std::atomic<uint64_t> cq_events{0};
    std::atomic<uint32_t> last_rate_limit_kbps{0};
    std::atomic<uint32_t> live_qps{0};
};
Counters g_counters;

std::atomic<uint32_t> g_next_qp_num{0x108};
std::atomic<uint32_t> g_next_handle{1};

uint16_t load_be16(const uint8_t *p) { return uint16_t(p[0] << 8 | p[1]); }
void store_be16(uint8_t *p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }

/* ---------------------------------------------------------------- interface */

struct InterfaceInfo {
    unsigned index = 0;
    int mtu = 0;
    bool running = false;  // up with carrier
    uint8_t mac[6] = {};
};

bool query_interface(const std::string &name, InterfaceInfo &info) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return false;
    info.index = if_nametoindex(name.c_str());
    if (info.index == 0)
        return false;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    bool ok = ioctl(fd, SIOCGIFMTU, &req) == 0;
    info.mtu = req.ifr_mtu;
    ok = ok && ioctl(fd, SIOCGIFFLAGS, &req) == 0;
    info.running = (req.ifr_flags & IFF_UP) && (req.ifr_flags & IFF_RUNNING);
    ok = ok && ioctl(fd, SIOCGIFHWADDR, &req) == 0;
    std::memcpy(info.mac, req.ifr_hwaddr.sa_data, 6);
    close(fd);
    return ok;
}

/* The GID table of a RoCE v2 port: IPv4 addresses as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), then IPv6 addresses, read live like the kernel's table. */
std::vector<ibv_gid> interface_gids(const std::string &name) {
    std::vector<ibv_gid> v4, v6;
    ifaddrs *list = nullptr;
    if (getifaddrs(&list) != 0)
        return {};
    for (ifaddrs *a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || !a->ifa_name || name != a->ifa_name)
            continue;
        ibv_gid gid{};
        if (a->ifa_addr->sa_family == AF_INET) {
            gid.raw[10] = 0xff;
            gid.raw[11] = 0xff;
            std::memcpy(gid.raw + 12, &reinterpret_cast<sockaddr_in *>(a->ifa_addr)->sin_addr, 4);
            v4.push_back(gid);
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            std::memcpy(gid.raw, &reinterpret_cast<sockaddr_in6 *>(a->ifa_addr)->sin6_addr, 16);
            v6.push_back(gid);
        }
    }
    freeifaddrs(list);
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
}

/* RoCE leaves room for its own headers (GRH, UDP, BTH, extended headers,
 * ICRC: 96 bytes) before choosing the IB MTU, so a 1500-byte netdev reports
 * 1024 and a 9000-byte one 4096, as ConnectX cards do. */
ibv_mtu roce_mtu(int netdev_mtu) {
    int usable = netdev_mtu - 96;
    if (usable >= 4096) return IBV_MTU_4096;
    if (usable >= 2048) return IBV_MTU_2048;
    if (usable >= 1024) return IBV_MTU_1024;
    if (usable >= 512) return IBV_MTU_512;
    return IBV_MTU_256;
}

/* ----------------------------------------------------------------- frames */

uint64_t sum_words(const uint8_t *p, size_t len, uint64_t acc = 0) {
    for (; len >= 2; p += 2, len -= 2)
        acc += load_be16(p);
    if (len)
        acc += uint64_t(p[0]) << 8;
    return acc;
}

uint16_t fold_checksum(uint64_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc & 0xffff);
}

struct FrameView {
    const uint8_t *data = nullptr;
    size_t len = 0;
    uint16_t ether_type = 0;   // after any VLAN tag
    uint16_t vlan_tci = 0;
    int ip_version = 0;        // 4 or 6 when the IP header is complete
    size_t l3 = 0, l3_header_len = 0;
    uint32_t src_ip = 0, dst_ip = 0;  // network order
    int l4_proto = -1;         // IPPROTO_UDP or IPPROTO_TCP when its header is present
    size_t l4 = 0, l4_len = 0;  // L4 segment (header + payload) as the IP header says
    uint16_t src_port = 0, dst_port = 0;  // network order
};

FrameView parse_frame(const uint8_t *data, size_t len) {
    FrameView f;
    f.data = data;
    f.len = len;
    if (len < 14)
        return f;
    size_t off = 12;
    f.ether_type = load_be16(data + off);
    if ((f.ether_type == ETH_P_8021Q || f.ether_type == ETH_P_8021AD) && len >= 18) {
        f.vlan_tci = load_be16(data + 14);
        f.ether_type = load_be16(data + 16);
        off = 16;
    }
    off += 2;
    int proto = -1;
    if (f.ether_type == ETH_P_IP && len >= off + 20) {
        size_t ihl = size_t(data[off] & 0xf) * 4;
        size_t total = load_be16(data + off + 2);
        if ((data[off] >> 4) != 4 || ihl < 20 || total < ihl || off + total > len)
            return f;
        f.ip_version = 4;
        f.l3 = off;
        f.l3_header_len = ihl;
        std::memcpy(&f.src_ip, data + off + 12, 4);
        std::memcpy(&f.dst_ip, data + off + 16, 4);
        bool first_fragment = (load_be16(data + off + 6) & 0x1fff) == 0;
        if (first_fragment)
            proto = data[off + 9];
        f.l4 = off + ihl;
        f.l4_len = total - ihl;
    } else if (f.ether_type == ETH_P_IPV6 && len >= off + 40) {
        size_t payload = load_be16(data + off + 4);
        if ((data[off] >> 4) != 6 || off + 40 + payload > len)
            return f;
        f.ip_version = 6;
        f.l3 = off;
        f.l3_header_len = 40;
        proto = data[off + 6];  // extension headers are not followed
        f.l4 = off + 40;
        f.l4_len = payload;
    }
    size_t min_header = proto == IPPROTO_UDP ? 8 : proto == IPPROTO_TCP ? 20 : 0;
    if (min_header && f.l4_len >= min_header) {
        f.l4_proto = proto;
        std::memcpy(&f.src_port, data + f.l4, 2);
        std::memcpy(&f.dst_port, data + f.l4 + 2, 2);
    }
    return f;
}

size_t l4_checksum_offset(const FrameView &f) {
    return f.l4 + (f.l4_proto == IPPROTO_UDP ? 6 : 16);
}

uint64_t pseudo_header_sum(const FrameView &f) {
    uint64_t acc;
    if (f.ip_version == 4)
        acc = sum_words(f.data + f.l3 + 12, 8);
    else
        acc = sum_words(f.data + f.l3 + 8, 32);
    return acc + uint64_t(f.l4_proto) + f.l4_len;
}

/* Fills in the UDP/TCP checksum (and the IPv4 header checksum when asked):
 * what a NIC's checksum offload does. */
void fill_checksums(uint8_t *frame, size_t len, bool ipv4_header) {
    FrameView f = parse_frame(frame, len);
    if (ipv4_header && f.ip_version == 4) {
        store_be16(frame + f.l3 + 10, 0);
        store_be16(frame + f.l3 + 10, fold_checksum(sum_words(frame + f.l3, f.l3_header_len)));
    }
    if (f.l4_proto < 0)
        return;
    size_t at = l4_checksum_offset(f);
    store_be16(frame + at, 0);
    uint16_t sum = fold_checksum(sum_words(frame + f.l4, f.l4_len, pseudo_header_sum(f)));
    if (sum == 0 && f.l4_proto == IPPROTO_UDP)
        sum = 0xffff;  // 0 means "no checksum" in UDP
    store_be16(frame + at, sum);
}

/* What a NIC reports as IBV_WC_IP_CSUM_OK: IPv4 header and UDP/TCP checksums verified. */
bool checksums_ok(const FrameView &f) {
    if (f.ip_version != 4 || f.l4_proto < 0)
        return false;
    if (fold_checksum(sum_words(f.data + f.l3, f.l3_header_len)) != 0)
        return false;
    if (f.l4_proto == IPPROTO_UDP && load_be16(f.data + f.l4 + 6) == 0)
        return true;
    return fold_checksum(sum_words(f.data + f.l4, f.l4_len, pseudo_header_sum(f))) == 0;
}

/* ------------------------------------------------------------------ flows */

struct FlowRule {
    bool has_eth = false;
    ibv_flow_eth_filter eth_val{}, eth_mask{};
    bool has_ipv4 = false;
    ibv_flow_ipv4_filter ipv4_val{}, ipv4_mask{};
    int l4_proto = -1;
    ibv_flow_tcp_udp_filter l4_val{}, l4_mask{};

    bool matches(const FrameView &f) const {
        if (f.len < 14)
            return false;
        if (has_eth) {
            for (int i = 0; i < 6; i++) {
                if ((f.data[i] & eth_mask.dst_mac[i]) != eth_val.dst_mac[i]
                    || (f.data[6 + i] & eth_mask.src_mac[i]) != eth_val.src_mac[i])
                    return false;
            }
            if ((htons(f.ether_type) & eth_mask.ether_type) != eth_val.ether_type
                || (htons(f.vlan_tci) & eth_mask.vlan_tag) != eth_val.vlan_tag)
                return false;
        }
        if (has_ipv4) {
            if (f.ip_version != 4
                || (f.src_ip & ipv4_mask.src_ip) != ipv4_val.src_ip
                || (f.dst_ip & ipv4_mask.dst_ip) != ipv4_val.dst_ip)
                return false;
        }
        if (l4_proto >= 0) {
            if (f.l4_proto != l4_proto
                || (f.dst_port & l4_mask.dst_port) != l4_val.dst_port
                || (f.src_port & l4_mask.src_port) != l4_val.src_port)
                return false;
        }
        return true;
    }
};

/* Parses the specs that follow struct ibv_flow_attr in memory.  Returns 0 or an errno. */
int parse_flow_attr(const ibv_flow_attr *attr, FlowRule &rule) {
    const uint8_t *p = reinterpret_cast<const uint8_t *>(attr + 1);
    for (unsigned i = 0; i < attr->num_of_specs; i++) {
        ibv_flow_spec spec_header;
        std::memcpy(&spec_header.hdr, p, sizeof(spec_header.hdr));
        auto type = spec_header.hdr.type;
        uint16_t size = spec_header.hdr.size;
        switch (type) {
        case IBV_FLOW_SPEC_ETH: {
            ibv_flow_spec_eth spec;
            if (size != sizeof(spec) || rule.has_eth)
                return EINVAL;
            std::memcpy(&spec, p, sizeof(spec));
            rule.has_eth = true;
            rule.eth_mask = spec.mask;
            for (int j = 0; j < 6; j++) {
                rule.eth_val.dst_mac[j] = spec.val.dst_mac[j] & spec.mask.dst_mac[j];
                rule.eth_val.src_mac[j] = spec.val.src_mac[j] & spec.mask.src_mac[j];
            }
            rule.eth_val.ether_type = spec.val.ether_type & spec.mask.ether_type;
            rule.eth_val.vlan_tag = spec.val.vlan_tag & spec.mask.vlan_tag;
            break;
        }
        case IBV_FLOW_SPEC_IPV4: {
            ibv_flow_spec_ipv4 spec;
            if (size != sizeof(spec) || rule.has_ipv4)
                return EINVAL;
            std::memcpy(&spec, p, sizeof(spec));
            rule.has_ipv4 = true;
            rule.ipv4_mask = spec.mask;
            rule.ipv4_val.src_ip = spec.val.src_ip & spec.mask.src_ip;
            rule.ipv4_val.dst_ip = spec.val.dst_ip & spec.mask.dst_ip;
            break;
        }
        case IBV_FLOW_SPEC_UDP:
        case IBV_FLOW_SPEC_TCP: {
            ibv_flow_spec_tcp_udp spec;
            if (size != sizeof(spec) || rule.l4_proto >= 0)
                return EINVAL;
            std::memcpy(&spec, p, sizeof(spec));
            rule.l4_proto = type == IBV_FLOW_SPEC_UDP ? IPPROTO_UDP : IPPROTO_TCP;
            rule.l4_mask = spec.mask;
            rule.l4_val.dst_port = spec.val.dst_port & spec.mask.dst_port;
            rule.l4_val.src_port = spec.val.src_port & spec.mask.src_port;
            break;
        }
        case IBV_FLOW_SPEC_IPV6:
        case IBV_FLOW_SPEC_IPV4_EXT:
        case IBV_FLOW_SPEC_ESP:
        case IBV_FLOW_SPEC_VXLAN_TUNNEL:
        case IBV_FLOW_SPEC_GRE:
        case IBV_FLOW_SPEC_MPLS:
        case IBV_FLOW_SPEC_ACTION_TAG:
        case IBV_FLOW_SPEC_ACTION_DROP:
        case IBV_FLOW_SPEC_ACTION_HANDLE:
        case IBV_FLOW_SPEC_ACTION_COUNT:
            return EOPNOTSUPP;  // valid verbs, not implemented by the double
        default:
            return EINVAL;
        }
        p += size;
    }
    return 0;
}

/* ---------------------------------------------------------------- objects */

struct Context;
struct Mr;
struct Qp;
struct Cq;

struct Device {
    ibv_device ibv{};
    std::mutex mutex;
    std::string ifname;  // from the environment at the last ibv_get_device_list
};
Device g_device;

struct Pd {
    ibv_pd ibv{};
    Context *ctx = nullptr;
    // Held shared while the "DMA engine" reads or writes registered memory, so
    // that ibv_dereg_mr cannot remove a region in the middle of a copy.
    std::shared_mutex mr_lock;
    std::map<uint32_t, Mr *> mrs;  // by lkey
    int qps = 0;  // guarded by Context::mutex

    // Host address of [addr, addr + len) in the region with this lkey, or null
    // if the key is unknown, the range is outside it or the access is missing.
    uint8_t *translate(uint32_t lkey, uint64_t addr, uint32_t len, unsigned need_access);
};

struct Mr {
    ibv_mr ibv{};
    Pd *pd = nullptr;
    uint64_t iova = 0;
    unsigned access = 0;
};

uint8_t *Pd::translate(uint32_t lkey, uint64_t addr, uint32_t len, unsigned need_access) {
    auto it = mrs.find(lkey);
    if (it == mrs.end())
        return nullptr;
    const Mr &mr = *it->second;
    if ((mr.access & need_access) != need_access)
        return nullptr;
    if (addr < mr.iova || addr - mr.iova > mr.ibv.length || len > mr.ibv.length - (addr - mr.iova))
        return nullptr;
    return static_cast<uint8_t *>(mr.ibv.addr) + (addr - mr.iova);
}

struct Channel {
    ibv_comp_channel ibv{};
    Context *ctx = nullptr;
    int write_fd = -1;
    std::mutex mutex;
    // One entry per byte in the pipe; null where the CQ was destroyed before
    // its event was read.
    std::deque<Cq *> events;

    void post(Cq *cq) {
        std::lock_guard<std::mutex> lock(mutex);
        char byte = 1;
        if (write(write_fd, &byte, 1) == 1) {
            events.push_back(cq);
            g_counters.cq_events++;
        }
    }
};

struct Cqe {
    ibv_wc wc;
    Qp *qp;
    bool send;
    uint64_t seq;  // send queue position, to free SQ slots when polled
};

struct Cq {
    enum class Arm { none, next, solicited };

    ibv_cq ibv{};
    Context *ctx = nullptr;
    Channel *channel = nullptr;
    size_t capacity = 0;
    std::mutex mutex;
    std::deque<Cqe> entries;
    Arm arm = Arm::none;
    int qps = 0;                   // guarded by Context::mutex
    uint32_t events_reported = 0;  // guarded by ibv.mutex, like comp_events_completed

    bool push(const Cqe &cqe);
    void remove_qp(const Qp *qp);
};

struct Flow {
    ibv_flow ibv{};
    Qp *qp = nullptr;
    FlowRule rule;
};

struct RecvWr {
    uint64_t wr_id;
    std::vector<ibv_sge> sges;
};

struct SendWr {
    uint64_t wr_id;
    uint64_t seq;
    unsigned flags;
    bool signaled;
    std::vector<ibv_sge> sges;
    std::vector<uint8_t> inline_data;  // IBV_SEND_INLINE: copied at post time
};

struct Qp {
    ibv_qp ibv{};
    Context *ctx = nullptr;
    Pd *pd = nullptr;
    Cq *send_cq = nullptr;
    Cq *recv_cq = nullptr;
    ibv_qp_cap cap{};
    bool sig_all = false;
    int sock = -1;
    int stop_fd = -1;

    std::mutex mutex;
    std::condition_variable tx_cv;
    ibv_qp_state state = IBV_QPS_RESET;
    uint64_t generation = 0;  // bumped by a reset, so in-flight sends are forgotten
    bool stopping = false;
    std::deque<RecvWr> rq;
    std::deque<SendWr> sq;
    std::vector<Flow *> flows;
    uint32_t rate_kbps = 0;
    Clock::time_point next_send{};
    uint64_t sq_posted = 0;

    // Like a NIC's work queues, a slot stays in use until the completion that
    // covers it is polled (for the SQ: a later signalled WR frees the unsignalled
    // ones before it).  Updated by poll_cq under the CQ's lock.
    std::atomic<uint64_t> sq_released{0};
    std::atomic<uint32_t> rq_in_use{0};

    std::thread rx_thread, tx_thread;

    void rx_loop();
    void tx_loop();
    void deliver(const uint8_t *frame, size_t len);
    void enter_error_locked();
    void reset_locked();
    void release_send(uint64_t seq);
    void stop_threads();
    Cqe make_cqe(uint64_t wr_id, ibv_wc_status status, ibv_wc_opcode opcode, bool send, uint64_t seq) const;
};

struct Context {
    verbs_context vctx{};  // first, so that a verbs_context * is a Context *
    std::string ifname;
    int async_pipe[2] = {-1, -1};
    std::mutex mutex;
    std::set<Pd *> pds;
    std::set<Mr *> mrs;
    std::set<Channel *> channels;
    std::set<Cq *> cqs;
    std::set<Qp *> qps;
    uint32_t next_key = 0x100;
};

Context *context_of(ibv_context *ctx) {
    return reinterpret_cast<Context *>(verbs_get_ctx(ctx));
}
Pd *pd_of(ibv_pd *pd) { return reinterpret_cast<Pd *>(pd); }
Mr *mr_of(ibv_mr *mr) { return reinterpret_cast<Mr *>(mr); }
Cq *cq_of(ibv_cq *cq) { return reinterpret_cast<Cq *>(cq); }
Qp *qp_of(ibv_qp *qp) { return reinterpret_cast<Qp *>(qp); }
Channel *channel_of(ibv_comp_channel *ch) { return reinterpret_cast<Channel *>(ch); }
Flow *flow_of(ibv_flow *flow) { return reinterpret_cast<Flow *>(flow); }

bool Cq::push(const Cqe &cqe) {
    std::lock_guard<std::mutex> lock(mutex);
    if (entries.size() >= capacity)
        return false;
    entries.push_back(cqe);
    bool fire = arm == Arm::next || (arm == Arm::solicited && cqe.wc.status != IBV_WC_SUCCESS);
    if (fire) {
        arm = Arm::none;
        if (channel)
            channel->post(this);
    }
    return true;
}

void Cq::remove_qp(const Qp *qp) {
    std::lock_guard<std::mutex> lock(mutex);
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [qp](const Cqe &e) { return e.qp == qp; }),
                  entries.end());
}

/* ---------------------------------------------------------------- QP engine */

Cqe Qp::make_cqe(uint64_t wr_id, ibv_wc_status status, ibv_wc_opcode opcode, bool send, uint64_t seq) const {
    Cqe cqe{};
    cqe.wc.wr_id = wr_id;
    cqe.wc.status = status;
    cqe.wc.opcode = opcode;
    cqe.wc.qp_num = ibv.qp_num;
    cqe.qp = const_cast<Qp *>(this);
    cqe.send = send;
    cqe.seq = seq;
    return cqe;
}

void Qp::release_send(uint64_t seq) {
    uint64_t released = sq_released.load();
    while (released < seq + 1 && !sq_released.compare_exchange_weak(released, seq + 1)) {
    }
}

/* The IB rule: a work request completed in error takes the QP to the error
 * state; outstanding receives are flushed now, sends by the send thread (which
 * may hold one in flight and must keep completions in order). */
void Qp::enter_error_locked() {
    state = IBV_QPS_ERR;
    for (const RecvWr &wr : rq) {
        if (!recv_cq->push(make_cqe(wr.wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, false, 0)))
            rq_in_use--;
    }
    rq.clear();
    tx_cv.notify_all();
}

void Qp::reset_locked() {
    state = IBV_QPS_RESET;
    generation++;
    rq.clear();
    sq.clear();
    // Completions of the old incarnation go too, so the slot accounting restarts
    // clean (with none left, poll_cq cannot touch the counters, and none are
    // added while this QP's lock is held).
    send_cq->remove_qp(this);
    recv_cq->remove_qp(this);
    rq_in_use = 0;
    sq_released = sq_posted;
    tx_cv.notify_all();
}

void Qp::deliver(const uint8_t *frame, size_t len) {
    std::lock_guard<std::mutex> lock(mutex);
    if (state != IBV_QPS_RTR && state != IBV_QPS_RTS)
        return;
    if (flows.empty())
        return;
    FrameView view = parse_frame(frame, len);
    bool matched = std::any_of(flows.begin(), flows.end(),
                               [&view](const Flow *flow) { return flow->rule.matches(view); });
    if (!matched)
        return;
    if (rq.empty()) {
        g_counters.rx_dropped_no_wr++;
        return;
    }
    const RecvWr &wr = rq.front();
    ibv_wc_status status = IBV_WC_SUCCESS;
    uint64_t room = 0;
    for (const ibv_sge &sge : wr.sges)
        room += sge.length;
    {
        std::shared_lock<std::shared_mutex> mr_lock(pd->mr_lock);
        for (const ibv_sge &sge : wr.sges) {
            if (sge.length && !pd->translate(sge.lkey, sge.addr, sge.length, IBV_ACCESS_LOCAL_WRITE))
                status = IBV_WC_LOC_PROT_ERR;
        }
        if (status == IBV_WC_SUCCESS && len > room)
            status = IBV_WC_LOC_LEN_ERR;
        if (status == IBV_WC_SUCCESS) {
            size_t done = 0;
            for (const ibv_sge &sge : wr.sges) {
                if (done == len)
                    break;
                size_t n = std::min<size_t>(sge.length, len - done);
                if (n == 0)
                    continue;
                std::memcpy(pd->translate(sge.lkey, sge.addr, sge.length, IBV_ACCESS_LOCAL_WRITE),
                            frame + done, n);
                done += n;
            }
        }
    }
    Cqe cqe = make_cqe(wr.wr_id, status, IBV_WC_RECV, false, 0);
    cqe.wc.byte_len = uint32_t(len);
    if (status == IBV_WC_SUCCESS && checksums_ok(view))
        cqe.wc.wc_flags = IBV_WC_IP_CSUM_OK;
    if (!recv_cq->push(cqe)) {
        // The WR stays posted: the frame is lost, not the buffer.
        g_counters.rx_dropped_cq_full++;
        return;
    }
    rq.pop_front();
    if (status == IBV_WC_SUCCESS) {
        g_counters.rx_frames++;
    } else {
        g_counters.rx_errors++;
        enter_error_locked();
    }
}

void Qp::rx_loop() {
    // Frames are read kVlanHeader bytes in, so a VLAN tag that the kernel
    // stripped into the auxdata can be put back in front of them.
    std::vector<uint8_t> buffer(kMaxFrame + kVlanHeader);
    uint8_t *const landing = buffer.data() + kVlanHeader;
    pollfd fds[2] = {{sock, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents)
            return;
        // Drain what is queued before going back to poll.
        for (int batch = 0; batch < 256; batch++) {
            sockaddr_ll from{};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
            iovec iov{landing, kMaxFrame};
            msghdr msg{};
            msg.msg_name = &from;
            msg.msg_namelen = sizeof(from);
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof(control);
            ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_TRUNC);
            if (n < 0)
                break;
            // The wire never shows a NIC its own transmissions (nor the host
            // stack's, which leave through other queues).
            if (from.sll_pkttype == PACKET_OUTGOING || size_t(n) > kMaxFrame)
                continue;
            uint8_t *frame = landing;
            size_t len = size_t(n);
            unsigned status = 0;
            for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
                    tpacket_auxdata aux;
                    std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
                    status = aux.tp_status;
                    if ((status & TP_STATUS_VLAN_VALID) && len >= 12) {
                        uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
                        frame = buffer.data();
                        std::memmove(frame, landing, 12);
                        store_be16(frame + 12, tpid);
                        store_be16(frame + 14, aux.tp_vlan_tci);
                        len += kVlanHeader;
                    }
                }
            }
            // A frame from a local peer (veth) may still carry the partial
            // checksum of checksum offload; a real wire carries the final one.
            if (status & TP_STATUS_CSUMNOTREADY)
                fill_checksums(frame, len, false);
            deliver(frame, len);
        }
    }
}

void Qp::tx_loop() {
    std::vector<uint8_t> frame;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
        tx_cv.wait(lock, [this] { return stopping || !sq.empty(); });
        if (stopping)
            return;
        if (state == IBV_QPS_ERR) {
            for (const SendWr &wr : sq) {
                if (!send_cq->push(make_cqe(wr.wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_SEND, true, wr.seq)))
                    release_send(wr.seq);
            }
            sq.clear();
            continue;
        }
        uint64_t gen = generation;
        if (rate_kbps) {
            auto now = Clock::now();
            if (next_send > now) {
                uint32_t rate = rate_kbps;
                tx_cv.wait_until(lock, next_send, [&] {
                    return stopping || generation != gen || state == IBV_QPS_ERR || rate_kbps != rate;
                });
                continue;  // re-examine: the rate, the state or the queue may have changed
            }
            // Keep to the schedule across small wake-up delays, but give no
            // credit for idle time: after a pause the next frame starts it anew.
            if (now - next_send > kPacingSlack)
                next_send = now;
        }
        SendWr wr = std::move(sq.front());
        sq.pop_front();
        lock.unlock();

        ibv_wc_status status = IBV_WC_SUCCESS;
        if (wr.flags & IBV_SEND_INLINE) {
            frame = std::move(wr.inline_data);
        } else {
            frame.clear();
            std::shared_lock<std::shared_mutex> mr_lock(pd->mr_lock);
            for (const ibv_sge &sge : wr.sges) {
                const uint8_t *src = pd->translate(sge.lkey, sge.addr, sge.length, 0);
                if (!src) {
                    status = IBV_WC_LOC_PROT_ERR;
                    break;
                }
                frame.insert(frame.end(), src, src + sge.length);
            }
        }
        if (status == IBV_WC_SUCCESS) {
            if (wr.flags & IBV_SEND_IP_CSUM)
                fill_checksums(frame.data(), frame.size(), true);
            ssize_t sent;
            do {
                sent = send(sock, frame.data(), frame.size(), 0);
            } while (sent < 0 && errno == EINTR);
            if (sent < 0)
                status = errno == EMSGSIZE ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_QP_OP_ERR;
        }

        lock.lock();
        if (generation != gen)
            continue;  // reset while on the wire: the WR no longer exists
        if (rate_kbps) {
            auto duration = std::chrono::nanoseconds(uint64_t(frame.size()) * 8000000ULL / rate_kbps);
            next_send += std::chrono::duration_cast<Clock::duration>(duration);
        }
        if (status == IBV_WC_SUCCESS) {
            g_counters.tx_frames++;
            if (wr.signaled && !send_cq->push(make_cqe(wr.wr_id, status, IBV_WC_SEND, true, wr.seq))) {
                g_counters.tx_cq_overflow++;
                release_send(wr.seq);
            }
        } else {
            g_counters.tx_errors++;
            if (!send_cq->push(make_cqe(wr.wr_id, status, IBV_WC_SEND, true, wr.seq))) {
                g_counters.tx_cq_overflow++;
                release_send(wr.seq);
            }
            enter_error_locked();
        }
    }
}

void Qp::stop_threads() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
    }
    tx_cv.notify_all();
    uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = write(stop_fd, &one, sizeof(one));
    if (rx_thread.joinable())
        rx_thread.join();
    if (tx_thread.joinable())
        tx_thread.join();
}

/* -------------------------------------------------------- teardown helpers */

void free_qp(Qp *qp) {
    qp->stop_threads();
    qp->send_cq->remove_qp(qp);
    qp->recv_cq->remove_qp(qp);
    for (Flow *flow : qp->flows)
        delete flow;
    close(qp->sock);
    close(qp->stop_fd);
    pthread_cond_destroy(&qp->ibv.cond);
    pthread_mutex_destroy(&qp->ibv.mutex);
    g_counters.live_qps--;
    delete qp;
}

void free_cq(Cq *cq) {
    pthread_cond_destroy(&cq->ibv.cond);
    pthread_mutex_destroy(&cq->ibv.mutex);
    delete cq;
}

void free_channel(Channel *channel) {
    close(channel->ibv.fd);
    close(channel->write_fd);
    delete channel;
}

/* ------------------------------------------------------------ attributes */

void fill_device_attr(const Context *ctx, ibv_device_attr &attr) {
    attr = ibv_device_attr{};
    std::snprintf(attr.fw_ver, sizeof(attr.fw_ver), "1.0.0 (spead2 ibverbs double)");
    InterfaceInfo info;
    query_interface(ctx->ifname, info);
    // EUI-64 from the MAC address, as Ethernet NICs derive their node GUID.
    uint8_t guid[8] = {uint8_t(info.mac[0] ^ 2), info.mac[1], info.mac[2], 0xff, 0xfe,
                       info.mac[3], info.mac[4], info.mac[5]};
    std::memcpy(&attr.node_guid, guid, 8);
    attr.sys_image_guid = attr.node_guid;
    attr.max_mr_size = UINT64_MAX;
    attr.page_size_cap = 0xfffffffffffff000ULL;
    attr.max_qp = kMaxQp;
    attr.max_qp_wr = kMaxQpWr;
    attr.device_cap_flags = IBV_DEVICE_RAW_MULTI | IBV_DEVICE_UD_IP_CSUM | IBV_DEVICE_RAW_IP_CSUM
                            | IBV_DEVICE_MANAGED_FLOW_STEERING;
    attr.max_sge = kMaxSge;
    attr.max_sge_rd = kMaxSge;
    attr.max_cq = kMaxCq;
    attr.max_cqe = kMaxCqe;
    attr.max_mr = kMaxMr;
    attr.max_pd = kMaxPd;
    attr.atomic_cap = IBV_ATOMIC_NONE;
    attr.max_raw_ethy_qp = kMaxQp;
    attr.max_pkeys = 1;
    attr.local_ca_ack_delay = 16;
    attr.phys_port_cnt = 1;
}

int fill_port_attr(const Context *ctx, uint8_t port_num, ibv_port_attr &attr) {
    if (port_num != kPort)
        return EINVAL;
    InterfaceInfo info;
    if (!query_interface(ctx->ifname, info))
        return ENODEV;
    attr = ibv_port_attr{};
    attr.state = info.running ? IBV_PORT_ACTIVE : IBV_PORT_DOWN;
    attr.max_mtu = IBV_MTU_4096;
    attr.active_mtu = roce_mtu(info.mtu);
    attr.gid_tbl_len = kGidTableLen;
    attr.port_cap_flags = IBV_PORT_CM_SUP | IBV_PORT_IP_BASED_GIDS;
    attr.max_msg_sz = 0x40000000;
    attr.pkey_tbl_len = 1;
    attr.max_vl_num = 1;
    attr.active_width = 2;   // 4X
    attr.active_speed = 32;  // EDR: with 4X, 100 Gb/s
    attr.phys_state = info.running ? 5 : 3;  // LinkUp : Disabled
    attr.link_layer = IBV_LINK_LAYER_ETHERNET;
    return 0;
}

int query_port_full(ibv_context *context, uint8_t port_num, ibv_port_attr *port_attr, size_t port_attr_len) {
    ibv_port_attr attr;
    int err = fill_port_attr(context_of(context), port_num, attr);
    if (err)
        return err;
    std::memcpy(port_attr, &attr, std::min(port_attr_len, sizeof(attr)));
    return 0;
}

int query_device_ex(ibv_context *context, const ibv_query_device_ex_input *input,
                    ibv_device_attr_ex *attr, size_t attr_size) {
    if ((input && input->comp_mask) || attr_size < sizeof(ibv_device_attr))
        return EINVAL;
    ibv_device_attr_ex full{};
    fill_device_attr(context_of(context), full.orig_attr);
    full.device_cap_flags_ex = full.orig_attr.device_cap_flags;
    full.packet_pacing_caps.qp_rate_limit_min = kRateLimitMinKbps;
    full.packet_pacing_caps.qp_rate_limit_max = kRateLimitMaxKbps;
    full.packet_pacing_caps.supported_qpts = 1u << IBV_QPT_RAW_PACKET;
    full.raw_packet_caps = IBV_RAW_PACKET_CAP_IP_CSUM;
    full.phys_port_cnt_ex = 1;
    std::memcpy(attr, &full, std::min(attr_size, sizeof(full)));
    return 0;
}

/* ------------------------------------------------------------- data path */

int post_send(ibv_qp *ibqp, ibv_send_wr *wr, ibv_send_wr **bad_wr) {
    Qp *qp = qp_of(ibqp);
    std::lock_guard<std::mutex> lock(qp->mutex);
    int err = 0;
    for (; wr; wr = wr->next) {
        if (qp->state != IBV_QPS_RTS || wr->opcode != IBV_WR_SEND
            || wr->num_sge < 0 || uint32_t(wr->num_sge) > qp->cap.max_send_sge)
            err = EINVAL;
        else if (qp->sq_posted - qp->sq_released.load() >= qp->cap.max_send_wr)
            err = ENOMEM;
        if (err)
            break;
        SendWr entry;
        entry.wr_id = wr->wr_id;
        entry.seq = qp->sq_posted;
        entry.flags = wr->send_flags;
        entry.signaled = qp->sig_all || (wr->send_flags & IBV_SEND_SIGNALED);
        if (wr->send_flags & IBV_SEND_INLINE) {
            size_t total = 0;
            for (int i = 0; i < wr->num_sge; i++)
                total += wr->sg_list[i].length;
            if (total > qp->cap.max_inline_data) {
                err = EINVAL;
                break;
            }
            entry.inline_data.reserve(total);
            for (int i = 0; i < wr->num_sge; i++) {
                const auto *src = reinterpret_cast<const uint8_t *>(uintptr_t(wr->sg_list[i].addr));
                entry.inline_data.insert(entry.inline_data.end(), src, src + wr->sg_list[i].length);
            }
        } else {
            entry.sges.assign(wr->sg_list, wr->sg_list + wr->num_sge);
        }
        qp->sq.push_back(std::move(entry));
        qp->sq_posted++;
    }
    qp->tx_cv.notify_all();
    if (err && bad_wr)
        *bad_wr = wr;
    return err;
}

int post_recv(ibv_qp *ibqp, ibv_recv_wr *wr, ibv_recv_wr **bad_wr) {
    Qp *qp = qp_of(ibqp);
    std::lock_guard<std::mutex> lock(qp->mutex);
    int err = 0;
    for (; wr; wr = wr->next) {
        if (qp->state == IBV_QPS_RESET || wr->num_sge < 0 || uint32_t(wr->num_sge) > qp->cap.max_recv_sge)
            err = EINVAL;
        else if (qp->rq_in_use.load() >= qp->cap.max_recv_wr)
            err = ENOMEM;
        if (err)
            break;
        qp->rq_in_use++;
        if (qp->state == IBV_QPS_ERR) {
            // A QP in error flushes whatever is posted to it.
            if (!qp->recv_cq->push(qp->make_cqe(wr->wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, false, 0)))
                qp->rq_in_use--;
            continue;
        }
        qp->rq.push_back(RecvWr{wr->wr_id, std::vector<ibv_sge>(wr->sg_list, wr->sg_list + wr->num_sge)});
    }
    if (err && bad_wr)
        *bad_wr = wr;
    return err;
}

int poll_cq(ibv_cq *ibcq, int num_entries, ibv_wc *wc) {
    if (num_entries < 0)
        return -1;
    Cq *cq = cq_of(ibcq);
    std::lock_guard<std::mutex> lock(cq->mutex);
    int n = 0;
    while (n < num_entries && !cq->entries.empty()) {
        const Cqe &cqe = cq->entries.front();
        wc[n++] = cqe.wc;
        if (cqe.send)
            cqe.qp->release_send(cqe.seq);
        else
            cqe.qp->rq_in_use--;
        cq->entries.pop_front();
    }
    return n;
}

int req_notify_cq(ibv_cq *ibcq, int solicited_only) {
    Cq *cq = cq_of(ibcq);
    std::lock_guard<std::mutex> lock(cq->mutex);
    cq->arm = solicited_only ? Cq::Arm::solicited : Cq::Arm::next;
    return 0;
}

/* ------------------------------------------------------------- flows */

ibv_flow *create_flow(ibv_qp *ibqp, ibv_flow_attr *attr) {
    Qp *qp = qp_of(ibqp);
    int err = 0;
    FlowRule rule;
    if (!attr || attr->comp_mask || attr->port != kPort
        || (attr->flags & ~uint32_t(IBV_FLOW_ATTR_FLAGS_DONT_TRAP)))
        err = EINVAL;
    else if (attr->type != IBV_FLOW_ATTR_NORMAL)
        err = EOPNOTSUPP;
    else
        err = parse_flow_attr(attr, rule);
    if (err) {
        errno = err;
        return nullptr;
    }
    auto *flow = new (std::nothrow) Flow;
    if (!flow) {
        errno = ENOMEM;
        return nullptr;
    }
    flow->ibv.context = qp->ibv.context;
    flow->ibv.handle = g_next_handle++;
    flow->qp = qp;
    flow->rule = rule;
    std::lock_guard<std::mutex> lock(qp->mutex);
    qp->flows.push_back(flow);
    return &flow->ibv;
}

int destroy_flow(ibv_flow *ibflow) {
    Flow *flow = flow_of(ibflow);
    Qp *qp = flow->qp;
    {
        std::lock_guard<std::mutex> lock(qp->mutex);
        auto it = std::find(qp->flows.begin(), qp->flows.end(), flow);
        if (it == qp->flows.end())
            return EINVAL;
        qp->flows.erase(it);
    }
    delete flow;
    return 0;
}

int apply_rate_limit(Qp *qp, uint32_t kbps) {
    if (kbps != 0 && (kbps < kRateLimitMinKbps || kbps > kRateLimitMaxKbps))
        return EINVAL;
    qp->rate_kbps = kbps;
    // The new rate applies from the next frame, not after the gap the old one set.
    qp->next_send = std::min(qp->next_send, Clock::now());
    qp->tx_cv.notify_all();
    g_counters.last_rate_limit_kbps = kbps;
    return 0;
}

int modify_qp_rate_limit(ibv_qp *ibqp, ibv_qp_rate_limit_attr *attr) {
    if (!attr || attr->comp_mask)
        return EINVAL;
    Qp *qp = qp_of(ibqp);
    std::lock_guard<std::mutex> lock(qp->mutex);
    return apply_rate_limit(qp, attr->rate_limit);
}

bool transition_allowed(ibv_qp_state from, ibv_qp_state to, int mask) {
    if (to == IBV_QPS_RESET || to == IBV_QPS_ERR)
        return true;
    switch (from) {
    case IBV_QPS_RESET:
        return to == IBV_QPS_INIT && (mask & IBV_QP_PORT);
    case IBV_QPS_INIT:
        return to == IBV_QPS_INIT || to == IBV_QPS_RTR;
    case IBV_QPS_RTR:
        return to == IBV_QPS_RTS;
    case IBV_QPS_RTS:
        return to == IBV_QPS_RTS;
    default:
        return false;
    }
}

}  // namespace

/* =============================================================== exports */

DOUBLE_EXPORT int spead2_ibv_double_stats(struct spead2_ibv_double_stats *stats, size_t size) {
    struct spead2_ibv_double_stats s{};
    s.rx_frames = g_counters.rx_frames;
    s.rx_errors = g_counters.rx_errors;
    s.rx_dropped_no_wr = g_counters.rx_dropped_no_wr;
    s.rx_dropped_cq_full = g_counters.rx_dropped_cq_full;
    s.tx_frames = g_counters.tx_frames;
    s.tx_errors = g_counters.tx_errors;
    s.tx_cq_overflow = g_counters.tx_cq_overflow;
    s.cq_events = g_counters.cq_events;
    s.last_rate_limit_kbps = g_counters.last_rate_limit_kbps;
    s.live_qps = g_counters.live_qps;
    std::memcpy(stats, &s, std::min(size, sizeof(s)));
    return 0;
}

DOUBLE_EXPORT void spead2_ibv_double_reset_stats(void) {
    for (auto *c : {&g_counters.rx_frames, &g_counters.rx_errors, &g_counters.rx_dropped_no_wr,
                    &g_counters.rx_dropped_cq_full, &g_counters.tx_frames, &g_counters.tx_errors,
                    &g_counters.tx_cq_overflow, &g_counters.cq_events})
        c->store(0);
    g_counters.last_rate_limit_kbps = 0;
}

DOUBLE_EXPORT uint32_t spead2_ibv_double_qp_rate_limit(struct ibv_qp *ibqp) {
    Qp *qp = qp_of(ibqp);
    std::lock_guard<std::mutex> lock(qp->mutex);
    return qp->rate_kbps;
}

/* ---------------------------------------------------------------- devices */

DOUBLE_EXPORT struct ibv_device **ibv_get_device_list(int *num_devices) {
    const char *name = std::getenv("SPEAD2_IBV_DOUBLE_INTERFACE");
    InterfaceInfo info;
    bool present = name && query_interface(name, info);
    auto **list = static_cast<ibv_device **>(std::calloc(present ? 2 : 1, sizeof(ibv_device *)));
    if (!list) {
        errno = ENOMEM;
        return nullptr;
    }
    if (present) {
        std::lock_guard<std::mutex> lock(g_device.mutex);
        g_device.ifname = name;
        ibv_device &dev = g_device.ibv;
        dev.node_type = IBV_NODE_CA;
        dev.transport_type = IBV_TRANSPORT_IB;  // what RoCE devices report
        std::snprintf(dev.name, sizeof(dev.name), "%s", kDeviceName);
        std::snprintf(dev.dev_name, sizeof(dev.dev_name), "uverbs_double0");
        std::snprintf(dev.dev_path, sizeof(dev.dev_path), "/sys/class/infiniband_verbs/uverbs_double0");
        std::snprintf(dev.ibdev_path, sizeof(dev.ibdev_path), "/sys/class/infiniband/%s", kDeviceName);
        list[0] = &dev;
    }
    if (num_devices)
        *num_devices = present ? 1 : 0;
    return list;
}

DOUBLE_EXPORT void ibv_free_device_list(struct ibv_device **list) {
    std::free(list);
}

DOUBLE_EXPORT const char *ibv_get_device_name(struct ibv_device *device) {
    return device ? device->name : nullptr;
}

DOUBLE_EXPORT struct ibv_context *ibv_open_device(struct ibv_device *device) {
    if (device != &g_device.ibv) {
        errno = ENODEV;
        return nullptr;
    }
    std::string ifname;
    {
        std::lock_guard<std::mutex> lock(g_device.mutex);
        ifname = g_device.ifname;
    }
    if (if_nametoindex(ifname.c_str()) == 0) {
        errno = ENODEV;
        return nullptr;
    }
    auto *ctx = new (std::nothrow) Context;
    if (!ctx) {
        errno = ENOMEM;
        return nullptr;
    }
    ctx->ifname = ifname;
    // Never readable: the double raises no asynchronous events, but users may
    // poll or fcntl the fd as on a real device.
    if (pipe2(ctx->async_pipe, O_CLOEXEC) != 0) {
        int err = errno;
        delete ctx;
        errno = err;
        return nullptr;
    }
    verbs_context &v = ctx->vctx;
    v.sz = sizeof(verbs_context);
    v.query_port = query_port_full;
    v.query_device_ex = query_device_ex;
    v.ibv_create_flow = create_flow;
    v.ibv_destroy_flow = destroy_flow;
    v.modify_qp_rate_limit = modify_qp_rate_limit;
    ibv_context &c = v.context;
    c.device = device;
    c.ops.poll_cq = poll_cq;
    c.ops.req_notify_cq = req_notify_cq;
    c.ops.post_send = post_send;
    c.ops.post_recv = post_recv;
    c.cmd_fd = -1;
    c.async_fd = ctx->async_pipe[0];
    c.num_comp_vectors = kNumCompVectors;
    pthread_mutex_init(&c.mutex, nullptr);
    c.abi_compat = __VERBS_ABI_IS_EXTENDED;
    return &c;
}

/* Like closing the uverbs fd: whatever the user left behind is destroyed. */
DOUBLE_EXPORT int ibv_close_device(struct ibv_context *context) {
    Context *ctx = context_of(context);
    for (Qp *qp : ctx->qps)
        free_qp(qp);
    for (Cq *cq : ctx->cqs)
        free_cq(cq);
    for (Channel *channel : ctx->channels)
        free_channel(channel);
    for (Mr *mr : ctx->mrs)
        delete mr;
    for (Pd *pd : ctx->pds)
        delete pd;
    close(ctx->async_pipe[0]);
    close(ctx->async_pipe[1]);
    pthread_mutex_destroy(&context->mutex);
    delete ctx;
    return 0;
}

DOUBLE_EXPORT int ibv_query_device(struct ibv_context *context, struct ibv_device_attr *device_attr) {
    fill_device_attr(context_of(context), *device_attr);
    return 0;
}

/* The old exported entry point, which fills the layout that predates
 * ibv_port_attr's trailing fields (the inline ___ibv_query_port uses
 * verbs_context::query_port instead). */
DOUBLE_EXPORT int ibv_query_port(struct ibv_context *context, uint8_t port_num,
                                 struct _compat_ibv_port_attr *port_attr) {
    ibv_port_attr attr;
    int err = fill_port_attr(context_of(context), port_num, attr);
    if (err)
        return err;
    std::memcpy(port_attr, &attr, offsetof(ibv_port_attr, link_layer) + sizeof(attr.link_layer));
    return 0;
}

DOUBLE_EXPORT int ibv_query_gid(struct ibv_context *context, uint8_t port_num, int index, union ibv_gid *gid) {
    if (port_num != kPort || index < 0 || index >= kGidTableLen) {
        errno = EINVAL;
        return -1;
    }
    auto gids = interface_gids(context_of(context)->ifname);
    *gid = size_t(index) < gids.size() ? gids[index] : ibv_gid{};
    return 0;
}

DOUBLE_EXPORT const char *ibv_wc_status_str(enum ibv_wc_status status) {
    static const char *const names[] = {
        "success", "local length error", "local QP operation error", "local EE context operation error",
        "local protection error", "Work Request Flushed Error", "memory management operation error",
        "bad response error", "local access error", "remote invalid request error", "remote access error",
        "remote operation error", "transport retry counter exceeded", "RNR retry counter exceeded",
        "local RDD violation error", "remote invalid RD request", "aborted error",
        "invalid EE context number", "invalid EE context state", "fatal error", "response timeout error",
        "general error", "TM error", "TM rendezvous incomplete"};
    if (unsigned(status) < sizeof(names) / sizeof(names[0]))
        return names[status];
    return "unknown";
}

/* ----------------------------------------------------------- PDs and MRs */

DOUBLE_EXPORT struct ibv_pd *ibv_alloc_pd(struct ibv_context *context) {
    Context *ctx = context_of(context);
    auto *pd = new (std::nothrow) Pd;
    if (!pd) {
        errno = ENOMEM;
        return nullptr;
    }
    pd->ibv.context = context;
    pd->ibv.handle = g_next_handle++;
    pd->ctx = ctx;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    ctx->pds.insert(pd);
    return &pd->ibv;
}

DOUBLE_EXPORT int ibv_dealloc_pd(struct ibv_pd *ibpd) {
    Pd *pd = pd_of(ibpd);
    Context *ctx = pd->ctx;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    if (pd->qps || !pd->mrs.empty())
        return errno = EBUSY;
    ctx->pds.erase(pd);
    delete pd;
    return 0;
}

namespace {

/* The exported variants share this rather than calling each other: a call
 * through an exported name could bind to a real libibverbs loaded globally in
 * the same process. */
ibv_mr *register_mr(ibv_pd *ibpd, void *addr, size_t length, uint64_t iova, unsigned access) {
    Pd *pd = pd_of(ibpd);
    Context *ctx = pd->ctx;
    bool remote_write = access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC);
    if (length == 0 || (remote_write && !(access & IBV_ACCESS_LOCAL_WRITE))) {
        errno = EINVAL;
        return nullptr;
    }
    auto *mr = new (std::nothrow) Mr;
    if (!mr) {
        errno = ENOMEM;
        return nullptr;
    }
    mr->pd = pd;
    mr->iova = iova;
    mr->access = access;
    mr->ibv.context = ibpd->context;
    mr->ibv.pd = ibpd;
    mr->ibv.addr = addr;
    mr->ibv.length = length;
    mr->ibv.handle = g_next_handle++;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    // Keys look like a NIC's (index in the upper bits, a variant byte below).
    mr->ibv.lkey = mr->ibv.rkey = ctx->next_key++ << 8 | 0x5d;
    {
        std::unique_lock<std::shared_mutex> mr_lock(pd->mr_lock);
        pd->mrs[mr->ibv.lkey] = mr;
    }
    ctx->mrs.insert(mr);
    return &mr->ibv;
}

}  // namespace

DOUBLE_EXPORT struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access) {
    return register_mr(pd, addr, length, uintptr_t(addr), unsigned(access));
}

DOUBLE_EXPORT struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
                                             uint64_t iova, int access) {
    return register_mr(pd, addr, length, iova, unsigned(access));
}

DOUBLE_EXPORT struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
                                              uint64_t iova, unsigned int access) {
    return register_mr(pd, addr, length, iova, access);
}

DOUBLE_EXPORT int ibv_dereg_mr(struct ibv_mr *ibmr) {
    Mr *mr = mr_of(ibmr);
    Pd *pd = mr->pd;
    std::lock_guard<std::mutex> lock(pd->ctx->mutex);
    {
        std::unique_lock<std::shared_mutex> mr_lock(pd->mr_lock);
        pd->mrs.erase(mr->ibv.lkey);
    }
    pd->ctx->mrs.erase(mr);
    delete mr;
    return 0;
}

/* ------------------------------------------------- completion channels, CQs */

DOUBLE_EXPORT struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context) {
    Context *ctx = context_of(context);
    auto *channel = new (std::nothrow) Channel;
    if (!channel) {
        errno = ENOMEM;
        return nullptr;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        int err = errno;
        delete channel;
        errno = err;
        return nullptr;
    }
    // The write side must never block a receive thread; the read side keeps
    // whatever blocking mode the user gives it.
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    channel->ibv.context = context;
    channel->ibv.fd = fds[0];
    channel->ibv.refcnt = 0;
    channel->write_fd = fds[1];
    channel->ctx = ctx;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    ctx->channels.insert(channel);
    return &channel->ibv;
}

DOUBLE_EXPORT int ibv_destroy_comp_channel(struct ibv_comp_channel *ibchannel) {
    Channel *channel = channel_of(ibchannel);
    Context *ctx = channel->ctx;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    if (channel->ibv.refcnt)
        return errno = EBUSY;
    ctx->channels.erase(channel);
    free_channel(channel);
    return 0;
}

DOUBLE_EXPORT struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
                                           struct ibv_comp_channel *ibchannel, int comp_vector) {
    Context *ctx = context_of(context);
    Channel *channel = ibchannel ? channel_of(ibchannel) : nullptr;
    if (cqe < 1 || cqe > kMaxCqe || comp_vector < 0 || comp_vector >= kNumCompVectors
        || (channel && channel->ctx != ctx)) {
        errno = EINVAL;
        return nullptr;
    }
    auto *cq = new (std::nothrow) Cq;
    if (!cq) {
        errno = ENOMEM;
        return nullptr;
    }
    cq->ibv.context = context;
    cq->ibv.channel = ibchannel;
    cq->ibv.cq_context = cq_context;
    cq->ibv.handle = g_next_handle++;
    cq->ibv.cqe = cqe;
    pthread_mutex_init(&cq->ibv.mutex, nullptr);
    pthread_cond_init(&cq->ibv.cond, nullptr);
    cq->ctx = ctx;
    cq->channel = channel;
    cq->capacity = size_t(cqe);
    std::lock_guard<std::mutex> lock(ctx->mutex);
    if (channel)
        channel->ibv.refcnt++;
    ctx->cqs.insert(cq);
    return &cq->ibv;
}

/* As in libibverbs, waits until every event returned by ibv_get_cq_event for
 * this CQ has been acknowledged. */
DOUBLE_EXPORT int ibv_destroy_cq(struct ibv_cq *ibcq) {
    Cq *cq = cq_of(ibcq);
    Context *ctx = cq->ctx;
    {
        std::lock_guard<std::mutex> lock(ctx->mutex);
        if (cq->qps)
            return errno = EBUSY;
        ctx->cqs.erase(cq);
        if (cq->channel)
            cq->channel->ibv.refcnt--;
    }
    if (cq->channel) {
        std::lock_guard<std::mutex> lock(cq->channel->mutex);
        std::replace(cq->channel->events.begin(), cq->channel->events.end(), cq, static_cast<Cq *>(nullptr));
    }
    pthread_mutex_lock(&ibcq->mutex);
    while (ibcq->comp_events_completed != cq->events_reported)
        pthread_cond_wait(&ibcq->cond, &ibcq->mutex);
    pthread_mutex_unlock(&ibcq->mutex);
    free_cq(cq);
    return 0;
}

DOUBLE_EXPORT int ibv_get_cq_event(struct ibv_comp_channel *ibchannel, struct ibv_cq **cq_out, void **cq_context) {
    Channel *channel = channel_of(ibchannel);
    for (;;) {
        char byte;
        ssize_t r = read(ibchannel->fd, &byte, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;  // errno from read: EAGAIN when the user made the fd non-blocking
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        std::lock_guard<std::mutex> lock(channel->mutex);
        if (channel->events.empty())
            continue;
        Cq *cq = channel->events.front();
        channel->events.pop_front();
        if (!cq)
            continue;
        pthread_mutex_lock(&cq->ibv.mutex);
        cq->events_reported++;
        pthread_mutex_unlock(&cq->ibv.mutex);
        *cq_out = &cq->ibv;
        *cq_context = cq->ibv.cq_context;
        return 0;
    }
}

DOUBLE_EXPORT void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents) {
    pthread_mutex_lock(&cq->mutex);
    cq->comp_events_completed += nevents;
    pthread_cond_broadcast(&cq->cond);
    pthread_mutex_unlock(&cq->mutex);
}

/* --------------------------------------------------------------------- QPs */

DOUBLE_EXPORT struct ibv_qp *ibv_create_qp(struct ibv_pd *ibpd, struct ibv_qp_init_attr *attr) {
    Pd *pd = pd_of(ibpd);
    Context *ctx = pd->ctx;
    if (!attr) {
        errno = EINVAL;
        return nullptr;
    }
    if (attr->qp_type != IBV_QPT_RAW_PACKET) {
        errno = EOPNOTSUPP;
        return nullptr;
    }
    // The kernel checks CAP_NET_RAW for raw packet QPs before anything else;
    // a packet socket needs the same capability.
    int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return nullptr;
    auto fail = [sock](int err) -> ibv_qp * {
        close(sock);
        errno = err;
        return nullptr;
    };
    const ibv_qp_cap &cap = attr->cap;
    if (!attr->send_cq || !attr->recv_cq || attr->srq
        || cq_of(attr->send_cq)->ctx != ctx || cq_of(attr->recv_cq)->ctx != ctx
        || cap.max_send_wr > uint32_t(kMaxQpWr) || cap.max_recv_wr > uint32_t(kMaxQpWr)
        || cap.max_send_sge > uint32_t(kMaxSge) || cap.max_recv_sge > uint32_t(kMaxSge)
        || cap.max_inline_data > kMaxInline)
        return fail(EINVAL);

    InterfaceInfo info;
    if (!query_interface(ctx->ifname, info))
        return fail(ENODEV);
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = int(info.index);
    // Protocol 0 at socket() and ETH_P_ALL at bind(): nothing from other interfaces slips in between.
    if (bind(sock, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0)
        return fail(errno);
    int one = 1;
    setsockopt(sock, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
#ifdef PACKET_IGNORE_OUTGOING
    setsockopt(sock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
    // Room for bursts: the NIC's receive ring is the posted WRs, not this buffer.
    int rcvbuf = 16 << 20;
    if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
        setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    // Flow steering sees every multicast frame, whatever the netdev's MAC filter holds.
    packet_mreq mreq{};
    mreq.mr_ifindex = int(info.index);
    mreq.mr_type = PACKET_MR_ALLMULTI;
    setsockopt(sock, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq));

    int stop_fd = eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0)
        return fail(errno);
    auto *qp = new (std::nothrow) Qp;
    if (!qp) {
        close(stop_fd);
        return fail(ENOMEM);
    }
    qp->ctx = ctx;
    qp->pd = pd;
    qp->send_cq = cq_of(attr->send_cq);
    qp->recv_cq = cq_of(attr->recv_cq);
    qp->cap = cap;
    qp->sig_all = attr->sq_sig_all != 0;
    qp->sock = sock;
    qp->stop_fd = stop_fd;
    ibv_qp &q = qp->ibv;
    q.context = ibpd->context;
    q.qp_context = attr->qp_context;
    q.pd = ibpd;
    q.send_cq = attr->send_cq;
    q.recv_cq = attr->recv_cq;
    q.handle = g_next_handle++;
    q.qp_num = g_next_qp_num++ & 0xffffff;
    q.state = IBV_QPS_RESET;
    q.qp_type = IBV_QPT_RAW_PACKET;
    pthread_mutex_init(&q.mutex, nullptr);
    pthread_cond_init(&q.cond, nullptr);
    try {
        qp->rx_thread = std::thread(&Qp::rx_loop, qp);
        qp->tx_thread = std::thread(&Qp::tx_loop, qp);
    } catch (const std::system_error &) {
        qp->stop_threads();
        pthread_cond_destroy(&q.cond);
        pthread_mutex_destroy(&q.mutex);
        close(stop_fd);
        delete qp;
        return fail(EAGAIN);
    }
    g_counters.live_qps++;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    pd->qps++;
    qp->send_cq->qps++;
    qp->recv_cq->qps++;
    ctx->qps.insert(qp);
    return &q;
}

DOUBLE_EXPORT int ibv_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask) {
    Qp *qp = qp_of(ibqp);
    std::lock_guard<std::mutex> lock(qp->mutex);
    ibv_qp_state cur = qp->state;
    if ((attr_mask & IBV_QP_CUR_STATE) && attr->cur_qp_state != cur)
        return errno = EINVAL;
    if ((attr_mask & IBV_QP_PORT) && attr->port_num != kPort)
        return errno = EINVAL;
    if ((attr_mask & IBV_QP_RATE_LIMIT) && attr->rate_limit
        && (attr->rate_limit < kRateLimitMinKbps || attr->rate_limit > kRateLimitMaxKbps))
        return errno = EINVAL;
    if (attr_mask & IBV_QP_STATE) {
        ibv_qp_state next = attr->qp_state;
        if (!transition_allowed(cur, next, attr_mask))
            return errno = EINVAL;
        if (next == IBV_QPS_RESET)
            qp->reset_locked();
        else if (next == IBV_QPS_ERR)
            qp->enter_error_locked();
        else
            qp->state = next;
        ibqp->state = next;
    }
    if (attr_mask & IBV_QP_RATE_LIMIT)
        apply_rate_limit(qp, attr->rate_limit);
    qp->tx_cv.notify_all();
    return 0;
}

/* libibverbs itself only has the inline wrapper (which reaches
 * verbs_context::modify_qp_rate_limit); the symbol is exported as well for
 * callers that look every verb up with dlsym.  An asm label, since verbs.h
 * already defines an inline function of this name. */
DOUBLE_EXPORT int exported_modify_qp_rate_limit(struct ibv_qp *qp, struct ibv_qp_rate_limit_attr *attr)
    __asm__("ibv_modify_qp_rate_limit");
int exported_modify_qp_rate_limit(struct ibv_qp *qp, struct ibv_qp_rate_limit_attr *attr) {
    return modify_qp_rate_limit(qp, attr);
}

/* Fails with EBUSY while flows are attached, as the kernel does. */
DOUBLE_EXPORT int ibv_destroy_qp(struct ibv_qp *ibqp) {
    Qp *qp = qp_of(ibqp);
    Context *ctx = qp->ctx;
    {
        std::lock_guard<std::mutex> lock(qp->mutex);
        if (!qp->flows.empty())
            return errno = EBUSY;
    }
    {
        std::lock_guard<std::mutex> lock(ctx->mutex);
        ctx->qps.erase(qp);
        qp->pd->qps--;
        qp->send_cq->qps--;
        qp->recv_cq->qps--;
    }
    free_qp(qp);
    return 0;
}
