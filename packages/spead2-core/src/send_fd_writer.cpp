#include <system_error>
#include <spead2/send_fd_writer.h>

namespace spead2::send
{

fd_writer::fd_writer(thread_pool &pool, file_descriptor fd) : fd(std::move(fd)), watch(pool, this->fd.get())
{
}

// Out of line, so that the class's type information lives in the core only.
fd_writer::~fd_writer() = default;

void fd_writer::fail_rest(transmit_packet *packets, std::size_t n, std::size_t next)
{
    for (std::size_t i = next; i < n; i++)
        packets[i].result = std::make_error_code(std::errc::operation_canceled);
}

void fd_writer::write_packets(transmit_packet *packets, std::size_t n, std::function<void()> done)
{
    proceed(packets, n, 0, std::move(done));
}

void fd_writer::proceed(transmit_packet *packets, std::size_t n, std::size_t next, std::function<void()> done)
{
    next += transmit(packets + next, n - next);
    if (next == n)
    {
        done();
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!cancelled)
        {
            waiting = true;
            this->packets = packets;
            n_packets = n;
            next_packet = next;
            this->done = std::move(done);
            // Under the lock: cancel() either sees this wait or prevents it.
            watch.async_wait(fd_event::writable, [this] {
                std::unique_lock<std::mutex> lock(mutex);
                if (!waiting)
                    return;
                waiting = false;
                auto resumed = std::move(this->done);
                this->done = nullptr;
                transmit_packet *p = this->packets;
                const std::size_t total = n_packets, from = next_packet;
                lock.unlock();
                proceed(p, total, from, std::move(resumed));
            });
            return;
        }
    }
    fail_rest(packets, n, next);
    done();
}

void fd_writer::cancel()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        cancelled = true;
    }
    watch.cancel();   // no handler is running or will run after this
    std::unique_lock<std::mutex> lock(mutex);
    if (!waiting)
        return;
    waiting = false;
    auto finished = std::move(done);
    done = nullptr;
    lock.unlock();
    fail_rest(packets, n_packets, next_packet);
    finished();
}

} // namespace spead2::send
