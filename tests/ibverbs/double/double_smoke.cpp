/* Drives libspead2_ibv_double.so through <infiniband/verbs.h> the way an
 * ibverbs application does (linked directly against the double), for
 * tests/ibverbs/test_double.py.  Run inside the namespace of the double's
 * interface; the test plays the peer with ordinary sockets.
 *
 *   double_smoke list
 *   double_smoke info   IFADDR
 *   double_smoke recv    IFADDR GROUP PORT SMALL_PORT OVERFLOW_PORT COUNT
 *   double_smoke send    IFADDR GROUP PORT COUNT PAYLOAD_SIZE RATE_KBPS
 *   double_smoke errors  IFADDR
 *   double_smoke channel IFADDR
 *   double_smoke eperm   IFADDR
 *
 * Prints KEY value lines for the test to check, and "OK" last on success.
 */
#include <infiniband/verbs.h>

#include "check.h"
#include "ibv_double.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHeaders = 14 + 20 + 8;  // Ethernet + IPv4 + UDP
constexpr size_t kSlot = 2048;
constexpr uint16_t kSourcePort = 40000;

// The specs follow the attr back to back, as ibv_create_flow reads them.
struct RawFlow {
    ibv_flow_attr attr;
    ibv_flow_spec_eth eth;
    ibv_flow_spec_ipv4 ip;
    ibv_flow_spec_tcp_udp udp;
};
static_assert(sizeof(RawFlow) == sizeof(ibv_flow_attr) + sizeof(ibv_flow_spec_eth) + sizeof(ibv_flow_spec_ipv4)
                                     + sizeof(ibv_flow_spec_tcp_udp),
              "no padding between the specs");

struct Interface {
    std::string name;
    uint8_t mac[6];
    int mtu;
};

bool find_interface(in_addr addr, Interface &out) {
    ifaddrs *list;
    if (getifaddrs(&list) != 0)
        return false;
    bool found = false;
    for (ifaddrs *a = list; a && !found; a = a->ifa_next) {
        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET
            && reinterpret_cast<sockaddr_in *>(a->ifa_addr)->sin_addr.s_addr == addr.s_addr) {
            out.name = a->ifa_name;
            found = true;
        }
    }
    freeifaddrs(list);
    if (!found)
        return false;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq req{};
    std::strncpy(req.ifr_name, out.name.c_str(), IFNAMSIZ - 1);
    bool ok = ioctl(fd, SIOCGIFHWADDR, &req) == 0;
    std::memcpy(out.mac, req.ifr_hwaddr.sa_data, 6);
    ok = ok && ioctl(fd, SIOCGIFMTU, &req) == 0;
    out.mtu = req.ifr_mtu;
    close(fd);
    return ok;
}

/* The device serving an interface address: the one whose GID table holds the
 * address as an IPv4-mapped IPv6 address (RoCE v2). */
ibv_context *open_by_address(in_addr addr) {
    int n = 0;
    ibv_device **list = ibv_get_device_list(&n);
    if (!list)
        return nullptr;
    ibv_context *found = nullptr;
    for (int i = 0; i < n && !found; i++) {
        ibv_context *ctx = ibv_open_device(list[i]);
        if (!ctx)
            continue;
        ibv_port_attr port;
        if (ibv_query_port(ctx, 1, &port) == 0) {
            for (int j = 0; j < port.gid_tbl_len && !found; j++) {
                ibv_gid gid;
                if (ibv_query_gid(ctx, 1, j, &gid) != 0)
                    continue;
                static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (std::memcmp(gid.raw, prefix, 12) == 0 && std::memcmp(gid.raw + 12, &addr, 4) == 0)
                    found = ctx;
            }
        }
        if (!found)
            ibv_close_device(ctx);
    }
    ibv_free_device_list(list);
    return found;
}

void multicast_mac(in_addr group, uint8_t mac[6]) {
    const auto *g = reinterpret_cast<const uint8_t *>(&group);
    uint8_t m[6] = {0x01, 0x00, 0x5e, uint8_t(g[1] & 0x7f), g[2], g[3]};
    std::memcpy(mac, m, 6);
}

ibv_flow *steer(ibv_qp *qp, in_addr group, uint16_t port) {
    RawFlow flow{};
    flow.attr.type = IBV_FLOW_ATTR_NORMAL;
    flow.attr.size = sizeof(flow);
    flow.attr.num_of_specs = 3;
    flow.attr.port = 1;
    flow.eth.type = IBV_FLOW_SPEC_ETH;
    flow.eth.size = sizeof(flow.eth);
    multicast_mac(group, flow.eth.val.dst_mac);
    std::memset(flow.eth.mask.dst_mac, 0xff, 6);
    flow.ip.type = IBV_FLOW_SPEC_IPV4;
    flow.ip.size = sizeof(flow.ip);
    flow.ip.val.dst_ip = group.s_addr;
    flow.ip.mask.dst_ip = 0xffffffff;
    flow.udp.type = IBV_FLOW_SPEC_UDP;
    flow.udp.size = sizeof(flow.udp);
    flow.udp.val.dst_port = htons(port);
    flow.udp.mask.dst_port = 0xffff;
    return ibv_create_flow(qp, &flow.attr);
}

/* Ones' complement sum, independent of the double's own implementation. */
uint32_t add_words(const uint8_t *p, size_t len, uint32_t sum) {
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += uint32_t(p[i]) << 8 | p[i + 1];
    if (len & 1)
        sum += uint32_t(p[len - 1]) << 8;
    return sum;
}

uint16_t finish(uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

uint32_t udp_pseudo_sum(const uint8_t *ip, uint16_t udp_len) {
    return add_words(ip + 12, 8, 0) + 17 + udp_len;
}

/* Builds Ethernet + IPv4 + UDP headers (checksums included) into out[0..42). */
void build_headers(uint8_t *out, const Interface &iface, in_addr src, in_addr group, uint16_t port,
                   const uint8_t *payload, size_t payload_len, uint16_t ident) {
    multicast_mac(group, out);
    std::memcpy(out + 6, iface.mac, 6);
    out[12] = 0x08;
    out[13] = 0x00;
    uint8_t *ip = out + 14;
    uint16_t total = uint16_t(20 + 8 + payload_len);
    uint8_t ip_header[20] = {0x45, 0, uint8_t(total >> 8), uint8_t(total), uint8_t(ident >> 8), uint8_t(ident),
                             0x40, 0, 1, 17, 0, 0};
    std::memcpy(ip_header + 12, &src, 4);
    std::memcpy(ip_header + 16, &group, 4);
    uint16_t ip_sum = finish(add_words(ip_header, 20, 0));
    ip_header[10] = uint8_t(ip_sum >> 8);
    ip_header[11] = uint8_t(ip_sum);
    std::memcpy(ip, ip_header, 20);
    uint8_t *udp = ip + 20;
    uint16_t udp_len = uint16_t(8 + payload_len);
    uint8_t udp_header[8] = {uint8_t(kSourcePort >> 8), uint8_t(kSourcePort & 0xff), uint8_t(port >> 8),
                             uint8_t(port), uint8_t(udp_len >> 8), uint8_t(udp_len), 0, 0};
    uint32_t sum = udp_pseudo_sum(ip, udp_len);
    sum = add_words(udp_header, 8, sum);
    sum = add_words(payload, payload_len, sum);
    uint16_t udp_sum = finish(sum);
    if (udp_sum == 0)
        udp_sum = 0xffff;
    udp_header[6] = uint8_t(udp_sum >> 8);
    udp_header[7] = uint8_t(udp_sum);
    std::memcpy(udp, udp_header, 8);
}

bool checksums_valid(const uint8_t *frame, size_t len) {
    if (len < kHeaders)
        return false;
    const uint8_t *ip = frame + 14;
    const uint8_t *udp = ip + 20;
    uint16_t udp_len = uint16_t(udp[4] << 8 | udp[5]);
    if (14 + 20 + size_t(udp_len) > len)
        return false;
    return finish(add_words(ip, 20, 0)) == 0 && finish(add_words(udp, udp_len, udp_pseudo_sum(ip, udp_len))) == 0;
}

std::string hex(const uint8_t *p, size_t len) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < len; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 0xf];
    }
    return s;
}

struct spead2_ibv_double_stats stats() {
    struct spead2_ibv_double_stats s;
    spead2_ibv_double_stats(&s, sizeof(s));
    return s;
}

int to_state(ibv_qp *qp, ibv_qp_state state) {
    ibv_qp_attr attr{};
    attr.qp_state = state;
    attr.port_num = 1;
    return ibv_modify_qp(qp, &attr, IBV_QP_STATE | (state == IBV_QPS_INIT ? IBV_QP_PORT : 0));
}

int bring_up(ibv_qp *qp) {
    CHECK(to_state(qp, IBV_QPS_INIT) == 0);
    CHECK(to_state(qp, IBV_QPS_RTR) == 0);
    CHECK(to_state(qp, IBV_QPS_RTS) == 0);
    return 0;
}

ibv_qp *raw_qp(ibv_pd *pd, ibv_cq *send_cq, ibv_cq *recv_cq, uint32_t send_wr, uint32_t recv_wr,
               uint32_t send_sge = 1, uint32_t inline_data = 0, uint32_t recv_sge = 1) {
    ibv_qp_init_attr attr{};
    attr.send_cq = send_cq;
    attr.recv_cq = recv_cq;
    attr.qp_type = IBV_QPT_RAW_PACKET;
    attr.cap.max_send_wr = send_wr;
    attr.cap.max_recv_wr = recv_wr;
    attr.cap.max_send_sge = send_sge;
    attr.cap.max_recv_sge = recv_sge;
    attr.cap.max_inline_data = inline_data;
    return ibv_create_qp(pd, &attr);
}

int post_recv_slot(ibv_qp *qp, ibv_mr *mr, uint8_t *base, size_t slot, size_t size) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(base + slot * kSlot), uint32_t(size), mr->lkey};
    ibv_recv_wr wr{};
    wr.wr_id = slot;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_recv_wr *bad = nullptr;
    return ibv_post_recv(qp, &wr, &bad);
}

/* Waits for one completion on a CQ without a channel. */
bool wait_completion(ibv_cq *cq, ibv_wc &wc, double seconds) {
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
        int n = ibv_poll_cq(cq, 1, &wc);
        if (n == 1)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

struct Args {
    in_addr ifaddr{};
    Interface iface;
    ibv_context *ctx = nullptr;
};

int open_common(const char *ifaddr, Args &args) {
    CHECK(inet_pton(AF_INET, ifaddr, &args.ifaddr) == 1);
    CHECK(find_interface(args.ifaddr, args.iface));
    args.ctx = open_by_address(args.ifaddr);
    CHECK(args.ctx != nullptr);
    return 0;
}

/* A frame nobody on the far side listens to: broadcast, local experimental EtherType. */
void fill_junk_frame(uint8_t *frame, size_t len) {
    std::memset(frame, 0, len);
    std::memset(frame, 0xff, 12);
    frame[12] = 0x88;
    frame[13] = 0xb5;
}

bool fd_readable(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    return poll(&pfd, 1, timeout_ms) == 1;
}

/* ---------------------------------------------------------------- commands */

int cmd_list() {
    int n = -1;
    ibv_device **list = ibv_get_device_list(&n);
    CHECK(list != nullptr);
    std::printf("DEVICES %d\n", n);
    for (int i = 0; i < n; i++)
        std::printf("NAME %s\n", ibv_get_device_name(list[i]));
    CHECK(list[n] == nullptr);
    ibv_free_device_list(list);
    std::printf("OK\n");
    return 0;
}

int cmd_info(const char *ifaddr) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    std::printf("NAME %s\n", ibv_get_device_name(a.ctx->device));
    ibv_port_attr port;
    CHECK(ibv_query_port(a.ctx, 1, &port) == 0);
    std::printf("PORT_STATE %d\nLINK_LAYER %d\nACTIVE_MTU %d\nGID_TBL_LEN %d\n", int(port.state),
                int(port.link_layer), int(port.active_mtu), port.gid_tbl_len);
    ibv_device_attr_ex ex;
    CHECK(ibv_query_device_ex(a.ctx, nullptr, &ex) == 0);
    std::printf("PHYS_PORTS %d\nMAX_QP_WR %d\nMAX_SGE %d\n", int(ex.orig_attr.phys_port_cnt),
                ex.orig_attr.max_qp_wr, ex.orig_attr.max_sge);
    std::printf("RATE_MIN %u\nRATE_MAX %u\nRATE_QPTS %u\n", ex.packet_pacing_caps.qp_rate_limit_min,
                ex.packet_pacing_caps.qp_rate_limit_max, ex.packet_pacing_caps.supported_qpts);
    std::printf("RAW_QPT_BIT %u\n", 1u << IBV_QPT_RAW_PACKET);
    std::printf("NUM_COMP_VECTORS %d\n", a.ctx->num_comp_vectors);
    std::printf("STATS_SIZE %zu\n", sizeof(struct spead2_ibv_double_stats));
    CHECK(ibv_close_device(a.ctx) == 0);
    std::printf("OK\n");
    return 0;
}

int cmd_recv(const char *ifaddr, const char *group_str, int port, int small_port, int overflow_port, int count) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    in_addr group;
    CHECK(inet_pton(AF_INET, group_str, &group) == 1);
    spead2_ibv_double_reset_stats();

    ibv_pd *pd = ibv_alloc_pd(a.ctx);
    CHECK(pd);
    // Slots: count for the main QP, 1 for the small one, 4 for the overflow one.
    std::vector<uint8_t> buffer(size_t(count + 5) * kSlot);
    ibv_mr *mr = ibv_reg_mr(pd, buffer.data(), buffer.size(), IBV_ACCESS_LOCAL_WRITE);
    CHECK(mr);
    ibv_comp_channel *channel = ibv_create_comp_channel(a.ctx);
    CHECK(channel);
    int cq_tag = 0;
    ibv_cq *cq = ibv_create_cq(a.ctx, count + 8, &cq_tag, channel, 3);
    CHECK(cq);
    ibv_qp *qp = raw_qp(pd, cq, cq, 1, uint32_t(count), 1, 0, 3);
    CHECK(qp);
    CHECK(bring_up(qp) == 0);
    ibv_flow *flow = steer(qp, group, uint16_t(port));
    CHECK(flow);
    for (int i = 0; i < count; i++) {
        if (i % 2 == 0) {
            CHECK(post_recv_slot(qp, mr, buffer.data(), size_t(i), kSlot) == 0);
        } else {
            // Scattered: 50 bytes, an empty SGE, the rest of the slot.
            uintptr_t slot = reinterpret_cast<uintptr_t>(buffer.data() + size_t(i) * kSlot);
            ibv_sge sge[3] = {{slot, 50, mr->lkey}, {slot + 50, 0, mr->lkey}, {slot + 50, kSlot - 50, mr->lkey}};
            ibv_recv_wr wr{};
            wr.wr_id = uint64_t(i);
            wr.sg_list = sge;
            wr.num_sge = 3;
            ibv_recv_wr *bad = nullptr;
            CHECK(ibv_post_recv(qp, &wr, &bad) == 0);
        }
    }

    // A second QP with a buffer too small for what will arrive.
    ibv_cq *small_cq = ibv_create_cq(a.ctx, 4, nullptr, nullptr, 0);
    CHECK(small_cq);
    ibv_qp *small_qp = raw_qp(pd, small_cq, small_cq, 1, 1);
    CHECK(small_qp);
    CHECK(bring_up(small_qp) == 0);
    ibv_flow *small_flow = steer(small_qp, group, uint16_t(small_port));
    CHECK(small_flow);
    CHECK(post_recv_slot(small_qp, mr, buffer.data(), size_t(count), 64) == 0);

    // And one whose CQ holds fewer completions than it has WRs.
    ibv_cq *overflow_cq = ibv_create_cq(a.ctx, 2, nullptr, nullptr, 0);
    CHECK(overflow_cq);
    ibv_qp *overflow_qp = raw_qp(pd, overflow_cq, overflow_cq, 1, 4);
    CHECK(overflow_qp);
    CHECK(bring_up(overflow_qp) == 0);
    ibv_flow *overflow_flow = steer(overflow_qp, group, uint16_t(overflow_port));
    CHECK(overflow_flow);
    for (int i = 1; i <= 4; i++)
        CHECK(post_recv_slot(overflow_qp, mr, buffer.data(), size_t(count + i), kSlot) == 0);

    // Nothing arrives before the traffic, and a non-blocking get says so.
    pollfd pfd{channel->fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, 0) == 0);
    CHECK(fcntl(channel->fd, F_SETFL, fcntl(channel->fd, F_GETFL) | O_NONBLOCK) == 0);
    ibv_cq *ev_cq = nullptr;
    void *ev_ctx = nullptr;
    CHECK(ibv_get_cq_event(channel, &ev_cq, &ev_ctx) == -1 && errno == EAGAIN);
    CHECK(ibv_req_notify_cq(cq, 0) == 0);
    std::printf("READY\n");
    std::fflush(stdout);

    int received = 0;
    unsigned events = 0;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (received < count && Clock::now() < deadline) {
        int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        int ready = poll(&pfd, 1, std::max(ms, 0));
        CHECK(ready >= 0);
        if (ready == 0)
            break;
        CHECK(ibv_get_cq_event(channel, &ev_cq, &ev_ctx) == 0);
        CHECK(ev_cq == cq && ev_ctx == &cq_tag);
        events++;
        ibv_ack_cq_events(ev_cq, 1);
        // Re-arm before draining: a completion landing in between raises a new event.
        CHECK(ibv_req_notify_cq(cq, 0) == 0);
        ibv_wc wc[16];
        int n;
        while ((n = ibv_poll_cq(cq, 16, wc)) > 0) {
            for (int i = 0; i < n; i++) {
                CHECK(wc[i].status == IBV_WC_SUCCESS);
                CHECK(wc[i].opcode == IBV_WC_RECV);
                CHECK(wc[i].qp_num == qp->qp_num);
                const uint8_t *frame = buffer.data() + wc[i].wr_id * kSlot;
                size_t len = wc[i].byte_len;
                CHECK(len >= kHeaders);
                bool csum_ok = checksums_valid(frame, len);
                uint16_t dport = uint16_t(frame[36] << 8 | frame[37]);
                std::printf("FRAME %d %d %d %d %s\n", int(wc[i].wr_id), int(dport), int(csum_ok),
                            int((wc[i].wc_flags & IBV_WC_IP_CSUM_OK) != 0),
                            hex(frame + kHeaders, len - kHeaders).c_str());
                received++;
            }
        }
        CHECK(n == 0);
    }
    std::printf("EVENTS %u\n", events);

    ibv_wc wc;
    if (wait_completion(small_cq, wc, 2.0))
        std::printf("SMALL %d %u\n", int(wc.status), wc.byte_len);
    else
        std::printf("SMALL none\n");

    // Stragglers (more frames than WRs) are counted as drops, not delivered.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(ibv_poll_cq(cq, 1, &wc) == 0);
    ibv_wc overflow_wc[4];
    std::printf("OVERFLOW_COMPLETIONS %d\n", ibv_poll_cq(overflow_cq, 4, overflow_wc));
    auto s = stats();
    std::printf("STATS rx_frames=%llu rx_errors=%llu dropped_no_wr=%llu dropped_cq_full=%llu\n",
                (unsigned long long) s.rx_frames, (unsigned long long) s.rx_errors,
                (unsigned long long) s.rx_dropped_no_wr, (unsigned long long) s.rx_dropped_cq_full);

    CHECK(ibv_destroy_flow(small_flow) == 0);
    CHECK(ibv_destroy_qp(small_qp) == 0);
    CHECK(ibv_destroy_cq(small_cq) == 0);
    CHECK(ibv_destroy_flow(overflow_flow) == 0);
    CHECK(ibv_destroy_qp(overflow_qp) == 0);
    CHECK(ibv_destroy_cq(overflow_cq) == 0);
    CHECK(ibv_destroy_flow(flow) == 0);
    CHECK(ibv_destroy_qp(qp) == 0);
    CHECK(ibv_destroy_cq(cq) == 0);
    CHECK(ibv_destroy_comp_channel(channel) == 0);
    CHECK(ibv_dereg_mr(mr) == 0);
    CHECK(ibv_dealloc_pd(pd) == 0);
    CHECK(ibv_close_device(a.ctx) == 0);
    CHECK(stats().live_qps == 0);
    std::printf("OK\n");
    return 0;
}

int cmd_send(const char *ifaddr, const char *group_str, int port, int count, int payload_size, uint32_t rate_kbps) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    in_addr group;
    CHECK(inet_pton(AF_INET, group_str, &group) == 1);
    CHECK(payload_size > 0 && kHeaders + size_t(payload_size) <= kSlot);
    spead2_ibv_double_reset_stats();

    ibv_pd *pd = ibv_alloc_pd(a.ctx);
    CHECK(pd);
    // Slot i: headers at the start, payload right after (one SGE), or the
    // payload kept in a separate region (two SGEs).
    std::vector<uint8_t> frames(size_t(count) * kSlot);
    std::vector<uint8_t> payloads(size_t(count) * kSlot);
    std::vector<uint8_t> big(size_t(a.iface.mtu) + 64, 0);
    ibv_mr *frames_mr = ibv_reg_mr(pd, frames.data(), frames.size(), 0);
    ibv_mr *payloads_mr = ibv_reg_mr(pd, payloads.data(), payloads.size(), 0);
    ibv_mr *big_mr = ibv_reg_mr(pd, big.data(), big.size(), 0);
    CHECK(frames_mr && payloads_mr && big_mr);
    constexpr uint32_t kInline = 256;
    const int depth = 16;
    ibv_cq *cq = ibv_create_cq(a.ctx, depth, nullptr, nullptr, 0);
    CHECK(cq);
    ibv_qp *qp = raw_qp(pd, cq, cq, depth, 1, 2, kInline);
    CHECK(qp);
    CHECK(bring_up(qp) == 0);
    if (rate_kbps) {
        ibv_qp_rate_limit_attr too_fast{};
        too_fast.rate_limit = 100000001;
        CHECK(ibv_modify_qp_rate_limit(qp, &too_fast) == EINVAL);
        ibv_qp_rate_limit_attr rl{};
        rl.rate_limit = rate_kbps;
        CHECK(ibv_modify_qp_rate_limit(qp, &rl) == 0);
        CHECK(spead2_ibv_double_qp_rate_limit(qp) == rate_kbps);
        CHECK(stats().last_rate_limit_kbps == rate_kbps);
    }

    // A receiving QP steered to the very flow being sent: a NIC does not hear itself.
    ibv_cq *rx_cq = ibv_create_cq(a.ctx, 8, nullptr, nullptr, 0);
    CHECK(rx_cq);
    ibv_qp *rx_qp = raw_qp(pd, cq, rx_cq, 1, 4);
    CHECK(rx_qp);
    CHECK(bring_up(rx_qp) == 0);
    std::vector<uint8_t> rx_buffer(4 * kSlot);
    ibv_mr *rx_mr = ibv_reg_mr(pd, rx_buffer.data(), rx_buffer.size(), IBV_ACCESS_LOCAL_WRITE);
    CHECK(rx_mr);
    ibv_flow *rx_flow = steer(rx_qp, group, uint16_t(port));
    CHECK(rx_flow);
    for (size_t i = 0; i < 4; i++)
        CHECK(post_recv_slot(rx_qp, rx_mr, rx_buffer.data(), i, kSlot) == 0);

    for (int i = 0; i < count; i++) {
        uint8_t *frame = frames.data() + size_t(i) * kSlot;
        uint8_t *payload = (i % 3 == 0 ? frame + kHeaders : payloads.data() + size_t(i) * kSlot);
        for (int j = 0; j < payload_size; j++)
            payload[j] = uint8_t(i * 7 + j);
        build_headers(frame, a.iface, a.ifaddr, group, uint16_t(port), payload, size_t(payload_size), uint16_t(i));
        if (i % 4 == 3) {
            // Left to the NIC's checksum offload (IBV_SEND_IP_CSUM).
            frame[14 + 10] = frame[14 + 11] = 0;
            frame[14 + 20 + 6] = frame[14 + 20 + 7] = 0;
        }
    }

    auto start = Clock::now();
    int posted = 0, completed = 0;
    while (completed < count) {
        while (posted < count && posted - completed < depth) {
            int i = posted;
            uint8_t *frame = frames.data() + size_t(i) * kSlot;
            ibv_sge sge[2];
            ibv_send_wr wr{};
            wr.wr_id = uint64_t(i);
            wr.sg_list = sge;
            wr.opcode = IBV_WR_SEND;
            wr.send_flags = IBV_SEND_SIGNALED;
            if (i % 3 == 0) {
                sge[0] = {reinterpret_cast<uintptr_t>(frame), uint32_t(kHeaders + payload_size), frames_mr->lkey};
                wr.num_sge = 1;
            } else {
                sge[0] = {reinterpret_cast<uintptr_t>(frame), uint32_t(kHeaders), frames_mr->lkey};
                sge[1] = {reinterpret_cast<uintptr_t>(payloads.data() + size_t(i) * kSlot), uint32_t(payload_size),
                          payloads_mr->lkey};
                wr.num_sge = 2;
                if (i % 3 == 2 && kHeaders + payload_size <= kInline) {
                    wr.send_flags |= IBV_SEND_INLINE;
                    sge[0].lkey = sge[1].lkey = 0;  // inline data needs no registration
                }
            }
            if (i % 4 == 3)
                wr.send_flags |= IBV_SEND_IP_CSUM;
            ibv_send_wr *bad = nullptr;
            CHECK(ibv_post_send(qp, &wr, &bad) == 0);
            posted++;
        }
        ibv_wc wc;
        CHECK(wait_completion(cq, wc, 10.0));
        CHECK(wc.status == IBV_WC_SUCCESS);
        CHECK(wc.opcode == IBV_WC_SEND);
        CHECK(wc.wr_id == uint64_t(completed));
        completed++;
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("ELAPSED %.6f\n", elapsed);
    std::printf("FRAME_BYTES %zu\n", kHeaders + size_t(payload_size));

    // One byte more than the link takes: an error completion, and the QP leaves RTS.
    ibv_sge big_sge{reinterpret_cast<uintptr_t>(big.data()), uint32_t(a.iface.mtu + 14 + 1), big_mr->lkey};
    std::memcpy(big.data(), frames.data(), kHeaders);
    ibv_send_wr big_wr{};
    big_wr.wr_id = 999;
    big_wr.sg_list = &big_sge;
    big_wr.num_sge = 1;
    big_wr.opcode = IBV_WR_SEND;
    ibv_send_wr *bad = nullptr;
    CHECK(ibv_post_send(qp, &big_wr, &bad) == 0);
    ibv_wc wc;
    CHECK(wait_completion(cq, wc, 5.0));
    CHECK(wc.wr_id == 999);
    std::printf("OVERSIZE %d\n", int(wc.status));

    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::printf("LOOPBACK %d\n", ibv_poll_cq(rx_cq, 1, &wc));
    auto s = stats();
    std::printf("STATS tx_frames=%llu tx_errors=%llu rx_frames=%llu\n", (unsigned long long) s.tx_frames,
                (unsigned long long) s.tx_errors, (unsigned long long) s.rx_frames);

    CHECK(ibv_destroy_flow(rx_flow) == 0);
    CHECK(ibv_destroy_qp(rx_qp) == 0);
    CHECK(ibv_destroy_qp(qp) == 0);
    CHECK(ibv_destroy_cq(rx_cq) == 0);
    CHECK(ibv_destroy_cq(cq) == 0);
    for (ibv_mr *mr : {frames_mr, payloads_mr, big_mr, rx_mr})
        CHECK(ibv_dereg_mr(mr) == 0);
    CHECK(ibv_dealloc_pd(pd) == 0);
    CHECK(ibv_close_device(a.ctx) == 0);
    std::printf("OK\n");
    return 0;
}

int cmd_errors(const char *ifaddr) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    ibv_context *ctx = a.ctx;

    ibv_port_attr port;
    CHECK(ibv_query_port(ctx, 2, &port) == EINVAL);
    ibv_gid gid;
    CHECK(ibv_query_gid(ctx, 1, 9999, &gid) == -1 && errno == EINVAL);

    ibv_pd *pd = ibv_alloc_pd(ctx);
    CHECK(pd);
    std::vector<uint8_t> buffer(8 * kSlot);
    ibv_mr *mr = ibv_reg_mr(pd, buffer.data(), buffer.size(), IBV_ACCESS_LOCAL_WRITE);
    CHECK(mr);
    CHECK(ibv_reg_mr(pd, buffer.data(), 0, IBV_ACCESS_LOCAL_WRITE) == nullptr && errno == EINVAL);
    CHECK(ibv_create_cq(ctx, 0, nullptr, nullptr, 0) == nullptr && errno == EINVAL);
    CHECK(ibv_create_cq(ctx, 4, nullptr, nullptr, ctx->num_comp_vectors) == nullptr && errno == EINVAL);
    ibv_comp_channel *channel = ibv_create_comp_channel(ctx);
    CHECK(channel);
    ibv_cq *cq = ibv_create_cq(ctx, 16, nullptr, channel, 0);
    CHECK(cq);

    // Capabilities beyond the device's limits, and QP types other than raw packet.
    ibv_device_attr dev;
    CHECK(ibv_query_device(ctx, &dev) == 0);
    CHECK(raw_qp(pd, cq, cq, uint32_t(dev.max_qp_wr) + 1, 1) == nullptr && errno == EINVAL);
    CHECK(raw_qp(pd, cq, cq, 1, 1, uint32_t(dev.max_sge) + 1) == nullptr && errno == EINVAL);
    ibv_qp_init_attr ud{};
    ud.send_cq = ud.recv_cq = cq;
    ud.qp_type = IBV_QPT_UD;
    ud.cap.max_send_wr = ud.cap.max_recv_wr = ud.cap.max_send_sge = ud.cap.max_recv_sge = 1;
    CHECK(ibv_create_qp(pd, &ud) == nullptr && errno == EOPNOTSUPP);

    ibv_qp *qp = raw_qp(pd, cq, cq, 2, 4);
    CHECK(qp);
    CHECK(qp->state == IBV_QPS_RESET);

    // Posting in RESET.
    ibv_sge sge{reinterpret_cast<uintptr_t>(buffer.data()), 64, mr->lkey};
    ibv_send_wr swr{};
    swr.sg_list = &sge;
    swr.num_sge = 1;
    swr.opcode = IBV_WR_SEND;
    ibv_send_wr *bad_send = nullptr;
    CHECK(ibv_post_send(qp, &swr, &bad_send) == EINVAL && bad_send == &swr);
    ibv_recv_wr rwr{};
    rwr.sg_list = &sge;
    rwr.num_sge = 1;
    ibv_recv_wr *bad_recv = nullptr;
    CHECK(ibv_post_recv(qp, &rwr, &bad_recv) == EINVAL && bad_recv == &rwr);

    // State machine.
    CHECK(to_state(qp, IBV_QPS_RTR) == EINVAL);
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_INIT;
    CHECK(ibv_modify_qp(qp, &attr, IBV_QP_STATE) == EINVAL);  // without the port
    attr.port_num = 2;
    CHECK(ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PORT) == EINVAL);
    CHECK(to_state(qp, IBV_QPS_INIT) == 0);
    CHECK(qp->state == IBV_QPS_INIT);
    CHECK(to_state(qp, IBV_QPS_RTS) == EINVAL);
    CHECK(ibv_post_recv(qp, &rwr, &bad_recv) == 0);
    CHECK(to_state(qp, IBV_QPS_RTR) == 0);
    bad_send = nullptr;
    CHECK(ibv_post_send(qp, &swr, &bad_send) == EINVAL && bad_send == &swr);
    CHECK(to_state(qp, IBV_QPS_RTS) == 0);

    // Flow specs the double must reject.
    RawFlow flow{};
    flow.attr.type = IBV_FLOW_ATTR_NORMAL;
    flow.attr.size = sizeof(flow);
    flow.attr.num_of_specs = 1;
    flow.attr.port = 1;
    flow.eth.type = IBV_FLOW_SPEC_ETH;
    flow.eth.size = sizeof(flow.eth) - 2;
    CHECK(ibv_create_flow(qp, &flow.attr) == nullptr && errno == EINVAL);
    flow.eth.size = sizeof(flow.eth);
    flow.attr.port = 2;
    CHECK(ibv_create_flow(qp, &flow.attr) == nullptr && errno == EINVAL);
    flow.attr.port = 1;
    flow.attr.type = IBV_FLOW_ATTR_SNIFFER;
    CHECK(ibv_create_flow(qp, &flow.attr) == nullptr && errno == EOPNOTSUPP);
    flow.attr.type = IBV_FLOW_ATTR_NORMAL;
    ibv_flow *f = ibv_create_flow(qp, &flow.attr);
    CHECK(f);

    // Send work requests the QP cannot take.
    ibv_sge two[2] = {sge, sge};
    swr.sg_list = two;
    swr.num_sge = 2;
    CHECK(ibv_post_send(qp, &swr, &bad_send) == EINVAL);
    swr.sg_list = &sge;
    swr.num_sge = 1;
    swr.opcode = IBV_WR_RDMA_WRITE;
    CHECK(ibv_post_send(qp, &swr, &bad_send) == EINVAL);
    swr.opcode = IBV_WR_SEND;
    swr.send_flags = IBV_SEND_INLINE;  // the QP asked for no inline data
    CHECK(ibv_post_send(qp, &swr, &bad_send) == EINVAL);
    swr.send_flags = 0;

    // Unsignalled sends keep their slots until a signalled completion is polled.
    fill_junk_frame(buffer.data(), 64);
    CHECK(ibv_post_send(qp, &swr, &bad_send) == 0);
    CHECK(ibv_post_send(qp, &swr, &bad_send) == 0);
    CHECK(ibv_post_send(qp, &swr, &bad_send) == ENOMEM);

    // Everything a destroy refuses while something still depends on it.
    CHECK(ibv_destroy_qp(qp) == EBUSY);
    CHECK(ibv_destroy_cq(cq) == EBUSY);
    CHECK(ibv_dealloc_pd(pd) == EBUSY);
    CHECK(ibv_destroy_comp_channel(channel) == EBUSY);

    // A bad lkey is found when the "NIC" reads the buffer: an error completion,
    // after which the QP is in error and flushes new receives.
    ibv_qp *qp2 = raw_qp(pd, cq, cq, 4, 4);
    CHECK(qp2);
    CHECK(bring_up(qp2) == 0);
    ibv_sge bad_key = sge;
    bad_key.lkey = mr->lkey + 0x1000;
    swr.sg_list = &bad_key;
    swr.send_flags = IBV_SEND_SIGNALED;
    swr.wr_id = 42;
    CHECK(ibv_post_send(qp2, &swr, &bad_send) == 0);
    ibv_wc wc;
    CHECK(wait_completion(cq, wc, 5.0));
    CHECK(wc.wr_id == 42 && wc.status == IBV_WC_LOC_PROT_ERR && wc.qp_num == qp2->qp_num);
    rwr.wr_id = 43;
    CHECK(ibv_post_recv(qp2, &rwr, &bad_recv) == 0);
    CHECK(wait_completion(cq, wc, 5.0));
    CHECK(wc.wr_id == 43 && wc.status == IBV_WC_WR_FLUSH_ERR);
    std::printf("STATUS_STR %s\n", ibv_wc_status_str(IBV_WC_LOC_PROT_ERR));

    // Back to RESET and up again: a QP can be reused.
    CHECK(to_state(qp2, IBV_QPS_RESET) == 0);
    CHECK(bring_up(qp2) == 0);

    CHECK(ibv_destroy_flow(f) == 0);
    CHECK(ibv_destroy_qp(qp) == 0);
    CHECK(ibv_destroy_qp(qp2) == 0);
    CHECK(ibv_destroy_cq(cq) == 0);
    CHECK(ibv_destroy_comp_channel(channel) == 0);
    CHECK(ibv_dereg_mr(mr) == 0);
    CHECK(ibv_dealloc_pd(pd) == 0);
    CHECK(ibv_close_device(ctx) == 0);
    std::printf("OK\n");
    return 0;
}

/* One event per arming, for completions after the arming; ack before destroy;
 * and ibv_close_device cleaning up what the user left. */
int cmd_channel(const char *ifaddr) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    ibv_pd *pd = ibv_alloc_pd(a.ctx);
    CHECK(pd);
    std::vector<uint8_t> frame(64);
    fill_junk_frame(frame.data(), frame.size());
    ibv_mr *mr = ibv_reg_mr(pd, frame.data(), frame.size(), 0);
    CHECK(mr);
    ibv_comp_channel *channel = ibv_create_comp_channel(a.ctx);
    CHECK(channel);
    int tag = 0;
    ibv_cq *cq = ibv_create_cq(a.ctx, 16, &tag, channel, 1);
    CHECK(cq);
    ibv_qp *qp = raw_qp(pd, cq, cq, 8, 1);
    CHECK(qp);
    CHECK(bring_up(qp) == 0);

    uint64_t next_id = 0;
    auto send_one = [&]() -> int {
        ibv_sge sge{reinterpret_cast<uintptr_t>(frame.data()), uint32_t(frame.size()), mr->lkey};
        ibv_send_wr wr{};
        wr.wr_id = next_id++;
        wr.sg_list = &sge;
        wr.num_sge = 1;
        wr.opcode = IBV_WR_SEND;
        wr.send_flags = IBV_SEND_SIGNALED;
        ibv_send_wr *bad = nullptr;
        CHECK(ibv_post_send(qp, &wr, &bad) == 0);
        return 0;
    };
    ibv_wc wc;

    // Not armed: a completion raises no event.
    CHECK(send_one() == 0);
    CHECK(wait_completion(cq, wc, 5.0) && wc.status == IBV_WC_SUCCESS);
    CHECK(!fd_readable(channel->fd, 100));

    // Armed: the next completion raises exactly one event (blocking get).
    CHECK(ibv_req_notify_cq(cq, 0) == 0);
    CHECK(send_one() == 0);
    CHECK(fd_readable(channel->fd, 5000));
    ibv_cq *ev_cq = nullptr;
    void *ev_ctx = nullptr;
    CHECK(ibv_get_cq_event(channel, &ev_cq, &ev_ctx) == 0);
    CHECK(ev_cq == cq && ev_ctx == &tag);
    CHECK(send_one() == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(!fd_readable(channel->fd, 0));  // the arming was used up
    CHECK(ibv_poll_cq(cq, 1, &wc) == 1 && ibv_poll_cq(cq, 1, &wc) == 1);

    // Solicited-only: raw packet completions are never solicited, errors are.
    CHECK(ibv_req_notify_cq(cq, 1) == 0);
    CHECK(send_one() == 0);
    CHECK(wait_completion(cq, wc, 5.0));
    CHECK(!fd_readable(channel->fd, 100));
    CHECK(ibv_req_notify_cq(cq, 0) == 0);
    CHECK(send_one() == 0);
    CHECK(fd_readable(channel->fd, 5000));
    CHECK(ibv_get_cq_event(channel, &ev_cq, &ev_ctx) == 0);
    CHECK(ibv_poll_cq(cq, 1, &wc) == 1);
    ibv_ack_cq_events(cq, 2);  // both events, in one call

    CHECK(ibv_destroy_qp(qp) == 0);
    CHECK(ibv_destroy_cq(cq) == 0);  // would wait forever with an event unacknowledged
    CHECK(ibv_destroy_comp_channel(channel) == 0);

    // Left behind on purpose: closing the device destroys it all, threads included.
    ibv_comp_channel *left_channel = ibv_create_comp_channel(a.ctx);
    ibv_cq *left_cq = ibv_create_cq(a.ctx, 4, nullptr, left_channel, 0);
    CHECK(left_cq);
    ibv_qp *left_qp = raw_qp(pd, left_cq, left_cq, 1, 1);
    CHECK(left_qp);
    CHECK(bring_up(left_qp) == 0);
    CHECK(steer(left_qp, a.ifaddr, 9) != nullptr);
    CHECK(stats().live_qps == 1);
    CHECK(ibv_close_device(a.ctx) == 0);
    CHECK(stats().live_qps == 0);
    std::printf("OK\n");
    return 0;
}

int cmd_eperm(const char *ifaddr) {
    Args a;
    CHECK(open_common(ifaddr, a) == 0);
    ibv_pd *pd = ibv_alloc_pd(a.ctx);
    CHECK(pd);
    ibv_cq *cq = ibv_create_cq(a.ctx, 4, nullptr, nullptr, 0);
    CHECK(cq);
    ibv_qp *qp = raw_qp(pd, cq, cq, 1, 1);
    int err = errno;
    CHECK(qp == nullptr);
    std::printf("ERRNO %s\n", err == EPERM ? "EPERM" : std::strerror(err));
    CHECK(ibv_destroy_cq(cq) == 0);
    CHECK(ibv_dealloc_pd(pd) == 0);
    CHECK(ibv_close_device(a.ctx) == 0);
    std::printf("OK\n");
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    std::string cmd = argc > 1 ? argv[1] : "";
    int result = 2;
    if (cmd == "list" && argc == 2)
        result = cmd_list();
    else if (cmd == "info" && argc == 3)
        result = cmd_info(argv[2]);
    else if (cmd == "recv" && argc == 8)
        result = cmd_recv(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]),
                          std::atoi(argv[7]));
    else if (cmd == "send" && argc == 8)
        result = cmd_send(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]),
                          uint32_t(std::strtoul(argv[7], nullptr, 10)));
    else if (cmd == "errors" && argc == 3)
        result = cmd_errors(argv[2]);
    else if (cmd == "channel" && argc == 3)
        result = cmd_channel(argv[2]);
    else if (cmd == "eperm" && argc == 3)
        result = cmd_eperm(argv[2]);
    else
        std::fprintf(stderr, "usage: see the comment at the top of double_smoke.cpp\n");
    std::fflush(stdout);
    return result;
}
