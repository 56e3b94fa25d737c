#include <stdexcept>
#include <spead2/common_logging.h>
#include <spead2/common_raw_packet.h>
#include <spead2/recv_packet.h>
#include <spead2/recv_udp_pcap.h>

namespace spead2::recv
{

namespace
{

/// Packets per task: a task holds the stream's lock, and stop() waits for it.
constexpr int batch_packets = 64;
constexpr std::size_t sll_header_size = 16;
constexpr std::size_t sll2_header_size = 20;

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

std::uint16_t load_be16(const std::uint8_t *p)
{
    return std::uint16_t(p[0] << 8 | p[1]);
}

} // namespace

udp_pcap_file_reader::udp_pcap_file_reader(stream &owner, const std::string &filename,
                                           const std::string &user_filter)
    : reader(owner)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    handle = pcap_open_offline(filename.c_str(), errbuf);
    if (!handle)
        throw std::runtime_error(errbuf);
    link_type = pcap_datalink(handle);
    if (link_type != DLT_EN10MB && link_type != DLT_LINUX_SLL && link_type != DLT_LINUX_SLL2)
    {
        pcap_close(handle);
        throw std::runtime_error("unsupported link type " + std::to_string(link_type) + " in " + filename);
    }
    const std::string filter = user_filter.empty() ? "udp" : "udp and (" + user_filter + ")";
    bpf_program program;
    if (pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0
        || pcap_setfilter(handle, &program) != 0)
    {
        std::string error = pcap_geterr(handle);
        pcap_close(handle);
        throw std::runtime_error(error);
    }
    pcap_freecode(&program);
}

udp_pcap_file_reader::~udp_pcap_file_reader()
{
    pcap_close(handle);
}

void udp_pcap_file_reader::start()
{
    post([this] { run(); });
}

raw_packet_status udp_pcap_file_reader::parse_frame(const pcap_pkthdr &header, const std::uint8_t *frame,
                                                    udp_ipv4_datagram &out) const
{
    if (link_type == DLT_EN10MB)
        return parse_ethernet_udp_ipv4(frame, header.caplen, out);
    // Linux cooked captures: the protocol is at a different place in each version.
    const std::size_t header_size = link_type == DLT_LINUX_SLL ? sll_header_size : sll2_header_size;
    if (header.caplen < header_size)
        return raw_packet_status::truncated;
    const std::uint16_t protocol = load_be16(frame + (link_type == DLT_LINUX_SLL ? 14 : 0));
    if (protocol != ethertype_ipv4)
        return raw_packet_status::not_ipv4;
    return parse_ipv4_udp(frame + header_size, header.caplen - header_size, out);
}

void udp_pcap_file_reader::run()
{
    if (stopping)
        return;
    stream::add_packet_state state(get_stream());
    for (int i = 0; i < batch_packets; i++)
    {
        if (state.is_stopped())
            return;
        pcap_pkthdr *header;
        const u_char *frame;
        int status = pcap_next_ex(handle, &header, &frame);
        if (status != 1)
        {
            if (status == PCAP_ERROR)
                log_warning("pcap reader: {}", pcap_geterr(handle));
            state.stop();   // end of file (or a read error): lossless, so the stream ends
            return;
        }
        if (header->caplen < header->len)
        {
            log_warning("pcap reader: skipping a packet captured truncated ({} of {} bytes)",
                        header->caplen, header->len);
            state.add_malformed(packet_status::payload_truncated);
            continue;
        }
        udp_ipv4_datagram datagram;
        raw_packet_status raw = parse_frame(*header, frame, datagram);
        if (raw == raw_packet_status::truncated || raw == raw_packet_status::bad_length)
        {
            log_info("pcap reader: skipping a frame: {}", raw_packet_status_string(raw));
            state.add_malformed(packet_status::payload_truncated);
            continue;
        }
        if (raw != raw_packet_status::ok)
            continue;   // not UDP/IPv4 at all (e.g. UDP over IPv6, which "udp" also matches)
        state.add_datagram(datagram.payload, datagram.payload_size);
    }
    post([this] { run(); });
}

} // namespace spead2::recv
