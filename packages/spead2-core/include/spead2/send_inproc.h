/* The inproc send transport: substream i goes to queues[i]. */
#ifndef SPEAD2_SEND_INPROC_H
#define SPEAD2_SEND_INPROC_H

#include <memory>
#include <vector>
#include <spead2/common_inproc.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

class SPEAD2_API inproc_writer : public writer
{
private:
    std::vector<std::shared_ptr<inproc_queue>> queues;
    /// Buffers of packets the receivers consumed, handed back by the queues.
    std::vector<inproc_queue::packet> spares;

    inproc_queue::packet make_packet(std::size_t size);

public:
    /// Throws std::invalid_argument if @a queues is empty or holds a null pointer.
    explicit inproc_writer(std::vector<std::shared_ptr<inproc_queue>> queues);
    ~inproc_writer() override;
    std::size_t num_substreams() const override { return queues.size(); }
    const std::vector<std::shared_ptr<inproc_queue>> &get_queues() const { return queues; }
    /// A stopped queue fails the packet with ECANCELED.
    void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) override;
};

/// A send stream over an inproc_writer.
class SPEAD2_API inproc_stream : public stream
{
public:
    inproc_stream(std::shared_ptr<thread_pool> pool, std::vector<std::shared_ptr<inproc_queue>> queues,
                  const stream_config &config = stream_config());
    ~inproc_stream() override;
    const std::vector<std::shared_ptr<inproc_queue>> &get_queues()
    {
        return static_cast<inproc_writer &>(get_writer()).get_queues();
    }
};

} // namespace spead2::send

#endif
