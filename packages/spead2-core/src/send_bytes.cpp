#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <spead2/send_bytes.h>

namespace spead2::send
{

bytes_writer::~bytes_writer()
{
    std::free(data);
}

std::uint8_t *bytes_writer::reserve(std::size_t total)
{
    if (total > capacity)
    {
        /* Geometric growth with realloc: large blocks are mmapped, so glibc grows
         * them with mremap instead of copying. */
        std::size_t new_capacity = std::max(total, 2 * capacity);
        void *grown = std::realloc(data, new_capacity);
        if (!grown)
            return nullptr;
        data = static_cast<std::uint8_t *>(grown);
        capacity = new_capacity;
    }
    return data;
}

void bytes_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        std::size_t needed = size;
        for (std::size_t i = 0; i < n; i++)
            needed += packets[i].size;
        std::uint8_t *buffer = reserve(needed);
        for (std::size_t i = 0; i < n; i++)
        {
            if (!buffer)
            {
                packets[i].result = std::make_error_code(std::errc::not_enough_memory);
                continue;
            }
            for (std::size_t j = 0; j < packets[i].n_pieces; j++)
            {
                const buffer_piece &piece = packets[i].pieces[j];
                std::memcpy(buffer + size, piece.ptr, piece.length);
                size += piece.length;
            }
        }
    }
    done();
}

} // namespace spead2::send
