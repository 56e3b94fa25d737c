/* The bytes transport: appends every packet to an in-memory buffer. */
#ifndef SPEAD2_SEND_BYTES_H
#define SPEAD2_SEND_BYTES_H

#include <mutex>
#include <spead2/send_stream.h>

namespace spead2::send
{

class SPEAD2_API bytes_writer : public writer
{
private:
    mutable std::mutex mutex;
    std::uint8_t *data = nullptr;
    std::size_t size = 0;
    std::size_t capacity = 0;

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

/// A stream whose transport is a bytes_writer.
class SPEAD2_API bytes_stream : public stream
{
public:
    bytes_stream(std::shared_ptr<thread_pool> pool, const stream_config &config = stream_config());
    ~bytes_stream() override;
    const bytes_writer &get_bytes_writer() { return static_cast<const bytes_writer &>(get_writer()); }
};

} // namespace spead2::send

#endif
