#include <algorithm>
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <spead2/common_thread_pool.h>
#include <spead2/send_tcp.h>

namespace spead2::send
{

namespace
{

std::error_code last_error()
{
    return std::error_code(errno, std::system_category());
}

std::error_code pending_socket_error(int fd)
{
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        return last_error();
    return std::error_code(error, std::system_category());
}

} // namespace

file_descriptor make_tcp_socket(const socket_address &endpoint, std::size_t buffer_size,
                                const socket_address &interface)
{
    file_descriptor fd = make_socket(endpoint.family(), SOCK_STREAM);
    set_socket_buffer_size(fd.get(), SO_SNDBUF, buffer_size);
    if (!interface.is_unspecified())
        bind_socket(fd.get(), interface);
    return fd;
}

void connect_blocking(int fd, const socket_address &endpoint)
{
    if (connect(fd, endpoint.get(), endpoint.size()) == 0)
        return;
    if (errno != EINPROGRESS)
        throw std::system_error(last_error(), "connect " + endpoint.to_string());
    pollfd p{fd, POLLOUT, 0};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            throw std::system_error(last_error(), "poll");
    std::error_code error = pending_socket_error(fd);
    if (error)
        throw std::system_error(error, "connect " + endpoint.to_string());
}

void connect_async(thread_pool &pool, int fd, const socket_address &endpoint,
                   std::function<void(std::error_code)> done)
{
    std::error_code error;
    if (connect(fd, endpoint.get(), endpoint.size()) < 0)
        error = last_error();
    if (error.value() != EINPROGRESS)
    {
        pool.post([done = std::move(done), error] { done(error); });
        return;
    }
    /* The writer will watch this descriptor too, and one epoll set cannot hold the same
     * descriptor twice: wait on a duplicate, dropped when the wait is over. */
    auto dup_fd = std::make_shared<file_descriptor>(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!*dup_fd)
        throw std::system_error(last_error(), "dup");
    auto watch = std::make_shared<std::unique_ptr<fd_watch>>(std::make_unique<fd_watch>(pool, dup_fd->get()));
    (*watch)->async_wait(fd_event::writable, [watch, dup_fd, done = std::move(done)] {
        std::error_code error = pending_socket_error(dup_fd->get());
        done(error);
        watch->reset();   // destroying a watch from its own handler is allowed
    });
}

tcp_writer::tcp_writer(thread_pool &pool, file_descriptor socket) : fd_writer(pool, std::move(socket))
{
}

std::size_t tcp_writer::transmit(transmit_packet *packets, std::size_t n)
{
    std::size_t finished = 0;
    while (finished < n)
    {
        if (failure)
        {
            for (; finished < n; finished++)
                packets[finished].result = failure;
            break;
        }
        iovecs.clear();
        std::size_t skip = partial;
        for (std::size_t i = finished; i < n && iovecs.size() < IOV_MAX; i++)
            for (std::size_t p = 0; p < packets[i].n_pieces && iovecs.size() < IOV_MAX; p++)
            {
                const buffer_piece &piece = packets[i].pieces[p];
                if (skip >= piece.length)
                {
                    skip -= piece.length;
                    continue;
                }
                iovecs.push_back({const_cast<std::uint8_t *>(piece.ptr) + skip, piece.length - skip});
                skip = 0;
            }
        msghdr hdr{};
        hdr.msg_iov = iovecs.data();
        hdr.msg_iovlen = iovecs.size();
        ssize_t sent = sendmsg(get_fd(), &hdr, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0)
        {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            failure = last_error();
            continue;
        }
        std::size_t bytes = std::size_t(sent) + partial;
        while (finished < n && bytes >= packets[finished].size)
            bytes -= packets[finished++].size;
        partial = bytes;
    }
    return finished;
}

} // namespace spead2::send
