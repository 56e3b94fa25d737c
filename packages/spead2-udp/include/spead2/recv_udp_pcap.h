/* Replays UDP/IPv4 packets from a pcap capture file (libpcap), as a receive transport. */
#ifndef SPEAD2_RECV_UDP_PCAP_H
#define SPEAD2_RECV_UDP_PCAP_H

#include <atomic>
#include <string>
#include <pcap/pcap.h>
#include <spead2/common_raw_packet.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Lossless: at the end of the file the stream stops.  Ethernet and Linux cooked
 * (SLL, SLL2) captures; @a user_filter (a BPF expression) is ANDed with "udp".
 * Frames captured truncated are skipped and counted as malformed packets; frames
 * that are not UDP/IPv4 at all (UDP over IPv6 passes "udp") are skipped. */
class udp_pcap_file_reader : public reader
{
private:
    pcap_t *handle = nullptr;
    int link_type;
    std::atomic<bool> stopping{false};

    void run();
    raw_packet_status parse_frame(const pcap_pkthdr &header, const std::uint8_t *frame,
                                  udp_ipv4_datagram &out) const;

public:
    /// Throws std::runtime_error if the file cannot be opened or the filter compiled.
    udp_pcap_file_reader(stream &owner, const std::string &filename, const std::string &user_filter = "");
    ~udp_pcap_file_reader() override;

    void start() override;
    /// A file is not data already held: stop() ends the replay at the next batch.
    void stop() override { stopping = true; }
    bool lossy() const override { return false; }
};

} // namespace spead2::recv

#endif
