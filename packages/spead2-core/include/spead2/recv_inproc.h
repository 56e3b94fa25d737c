/* The inproc receive transport: packets from an inproc_queue. */
#ifndef SPEAD2_RECV_INPROC_H
#define SPEAD2_RECV_INPROC_H

#include <atomic>
#include <memory>
#include <vector>
#include <spead2/common_inproc.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Lossless: when the queue is stopped and drained, the stream stops.  Waits without
 * occupying a worker: an empty queue calls it back when packets arrive.  When the
 * stream is stopped, it still reads the packets that were queued at that moment. */
class SPEAD2_API inproc_reader : public reader
{
private:
    std::shared_ptr<inproc_queue> queue;
    std::vector<inproc_queue::packet> batch;
    std::atomic<bool> stopping{false};
    /// Packets still to read once stopping: those queued when stop() was called.
    std::atomic<std::size_t> stop_budget{0};

    void run();

public:
    inproc_reader(stream &owner, std::shared_ptr<inproc_queue> queue);
    ~inproc_reader() override;
    void start() override;
    void stop() override;
    bool lossy() const override { return false; }
};

} // namespace spead2::recv

#endif
