/* A base for send transports on a non-blocking file descriptor (UDP and TCP sockets,
 * and kernel-bypass sockets that are kicked through one): when the kernel would
 * block, the write waits for writability on the thread pool (fd_watch) instead of
 * blocking the caller or a worker, and stream::stop() cancels that wait. */
#ifndef SPEAD2_SEND_FD_WRITER_H
#define SPEAD2_SEND_FD_WRITER_H

#include <functional>
#include <mutex>
#include <spead2/common_defines.h>
#include <spead2/common_socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/send_stream.h>

namespace spead2::send
{

class SPEAD2_API fd_writer : public writer
{
private:
    file_descriptor fd;   ///< declared before the watch, which must go first
    fd_watch watch;

    std::mutex mutex;
    bool cancelled = false;
    /// The write waiting for writability (valid while waiting).
    bool waiting = false;
    transmit_packet *packets = nullptr;
    std::size_t n_packets = 0, next_packet = 0;
    std::function<void()> done;

    /// Transmit from next_packet; finish or wait.  Called without the lock.
    void proceed(transmit_packet *packets, std::size_t n, std::size_t next, std::function<void()> done);
    static void fail_rest(transmit_packet *packets, std::size_t n, std::size_t next);

protected:
    /* Transmit as many of @a packets[0, n) as the descriptor takes without blocking,
     * setting the result of each packet it finishes (sent, or failed with an error
     * that retrying would not fix), and return how many it finished.  Returning fewer
     * than @a n means "would block": it is called again with the rest once the
     * descriptor is writable.  A transport that writes part of a packet (a byte
     * stream) remembers how much itself. */
    virtual std::size_t transmit(transmit_packet *packets, std::size_t n) = 0;
    int get_fd() const { return fd.get(); }

public:
    fd_writer(thread_pool &pool, file_descriptor fd);
    ~fd_writer() override;
    void write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done) final;
    void cancel() final;
};

} // namespace spead2::send

#endif
