/* The bytes transport: appends every packet to an in-memory buffer. */
#ifndef SPEAD2_SEND_BYTES_H
#define SPEAD2_SEND_BYTES_H

#include <mutex>
#include <spead2/send_stream.h>

namespace spead2::send
{

class SPEAD2_API bytes_writer : public writer
{
protected:
    mutable std::mutex mutex;
    std::uint8_t *data = nullptr;
    std::size_t size = 0;
    std::size_t capacity = 0;

    /* Make room for @a total bytes (called with @a mutex held) and return the buffer,
     * or nullptr if that is impossible.  The default grows a realloc'd buffer;
     * subclasses may supply memory they own (e.g. the final Python bytes object). */
    virtual std::uint8_t *reserve(std::size_t total);

public:
    bytes_writer() = default;
    ~bytes_writer() override;
    std::size_t num_substreams() const override { return 1; }
    void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) override;
    /// Call @a f with the bytes written so far, under the writer's lock.
    template<typename F>
    auto with_value(F &&f) const
    {
        std::lock_guard<std::mutex> lock(mutex);
        return f(static_cast<const std::uint8_t *>(data), size);
    }
};

} // namespace spead2::send

#endif
