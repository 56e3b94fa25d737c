#include <spead2/recv_mem.h>
#include <spead2/recv_packet.h>

namespace spead2::recv
{

/* Packets per lock of the stream: amortises locking without holding the lock so long
 * that stop() or statistics wait noticeably. */
static constexpr int batch_packets = 64;

mem_reader::mem_reader(stream &owner, const std::uint8_t *ptr, std::size_t length)
    : reader(owner), ptr(ptr), length(length)
{
}

mem_reader::~mem_reader() = default;

void mem_reader::start()
{
    post([this] { run(); });
}

void mem_reader::run()
{
    while (true)
    {
        stream::add_packet_state state(get_stream());
        for (int i = 0; i < batch_packets; i++)
        {
            if (state.is_stopped())
                return;
            packet_header packet;
            packet_status status = length ? decode_packet(packet, ptr, length) : packet_status::ok;
            if (length == 0 || status != packet_status::ok)
            {
                // Without framing, nothing after an undecodable packet can be found.
                if (length != 0)
                    state.add_malformed(status);
                state.stop();
                return;
            }
            ptr += packet.total_length;
            length -= packet.total_length;
            state.add_packet(packet);
        }
    }
}

} // namespace spead2::recv
