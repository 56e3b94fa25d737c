#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <spead2/send_bytes.h>

namespace spead2::send
{

bytes_writer::~bytes_writer()
{
    std::free(data);
}

void bytes_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        std::size_t needed = size;
        for (std::size_t i = 0; i < n; i++)
            needed += packets[i].size;
        if (needed > capacity)
        {
            /* Geometric growth with realloc: large blocks are mmapped, so glibc grows
             * them with mremap instead of copying. */
            std::size_t new_capacity = std::max(needed, 2 * capacity);
            void *grown = std::realloc(data, new_capacity);
            if (!grown)
            {
                for (std::size_t i = 0; i < n; i++)
                    packets[i].result = std::make_error_code(std::errc::not_enough_memory);
                done();
                return;
            }
            data = static_cast<std::uint8_t *>(grown);
            capacity = new_capacity;
        }
        for (std::size_t i = 0; i < n; i++)
            for (std::size_t j = 0; j < packets[i].n_pieces; j++)
            {
                const buffer_piece &piece = packets[i].pieces[j];
                std::memcpy(data + size, piece.ptr, piece.length);
                size += piece.length;
            }
    }
    done();
}

bytes_stream::bytes_stream(std::shared_ptr<thread_pool> pool, const stream_config &config)
    : stream(std::move(pool), config, std::make_unique<bytes_writer>())
{
}

bytes_stream::~bytes_stream() = default;

} // namespace spead2::send
