/* The XDP program of the AF_XDP reader: IPv4/UDP frames addressed to one of the
 * reader's endpoints go to the AF_XDP socket of the queue they arrived on; every
 * other frame (ARP, IPv6, other addresses or ports, IP fragments) goes on to the
 * kernel's network stack untouched, so the interface stays usable for everything else.
 *
 * Compiled with clang -target bpf at build time and embedded in the plugin, which
 * fills the two maps.  Marked "xdp.frags" so that the kernel hands it frames larger
 * than a page (jumbo frames arrive in several buffers), which are then split over
 * several AF_XDP descriptors. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Must match struct xdp_endpoint_key in common_xdp.h: both in network byte order.
 * An address of 0 matches any destination address (a reader bound to 0.0.0.0). */
struct endpoint_key
{
    __u32 address;
    __u16 port;
    __u16 zero;
};

struct
{
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct endpoint_key);
    __type(value, __u8);
} spead2_endpoints SEC(".maps");

/* Receive queue index -> AF_XDP socket. */
struct
{
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u32);
} spead2_sockets SEC(".maps");

SEC("xdp.frags")
int spead2_udp_filter(struct xdp_md *ctx)
{
    void *data = (void *) (long) ctx->data;
    void *data_end = (void *) (long) ctx->data_end;

    struct ethhdr *eth = data;
    if ((void *) (eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *) (eth + 1);
    if ((void *) (ip + 1) > data_end || ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    // Fragments (more-fragments flag or an offset): the kernel reassembles them.
    if (ip->frag_off & bpf_htons(0x3fff))
        return XDP_PASS;
    struct udphdr *udp = (void *) ip + ip->ihl * 4;
    if ((void *) (udp + 1) > data_end)
        return XDP_PASS;

    struct endpoint_key key = {ip->daddr, udp->dest, 0};
    if (!bpf_map_lookup_elem(&spead2_endpoints, &key))
    {
        key.address = 0;
        if (!bpf_map_lookup_elem(&spead2_endpoints, &key))
            return XDP_PASS;
    }
    // No socket on this queue: the kernel gets the frame rather than losing it.
    return bpf_redirect_map(&spead2_sockets, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
