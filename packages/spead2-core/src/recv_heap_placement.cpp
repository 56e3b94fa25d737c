#include <cstring>
#include <spead2/recv_heap_placement.h>

namespace spead2::recv
{

heap_placement::~heap_placement() = default;

void heap_placement::copy(std::uint8_t *dst, const packet_header &packet, const heap_place &)
{
    std::memcpy(dst, packet.payload, packet.payload_length);
}

} // namespace spead2::recv
