#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <sys/socket.h>
#include <spead2/common_logging.h>
#include <spead2/recv_tcp.h>

namespace spead2::recv
{

namespace
{

/// recv() calls made in one go before the worker looks at its other work.
constexpr int max_reads_per_wake = 16;

file_descriptor listening_socket(const socket_address &endpoint, std::size_t buffer_size)
{
    file_descriptor fd = make_socket(endpoint.family(), SOCK_STREAM);
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Set before accept, so that the connection inherits it.
    set_socket_buffer_size(fd.get(), SO_RCVBUF, buffer_size);
    bind_socket(fd.get(), endpoint);
    if (listen(fd.get(), 1) < 0)
        throw std::system_error(errno, std::system_category(), "listen");
    return fd;
}

} // namespace

tcp_reader::tcp_reader(stream &owner, const socket_address &endpoint, std::size_t max_size, std::size_t buffer_size)
    : tcp_reader(owner, listening_socket(endpoint, buffer_size), max_size)
{
}

tcp_reader::tcp_reader(stream &owner, file_descriptor acceptor, std::size_t max_size)
    : reader(owner), acceptor(std::move(acceptor)), accept_watch(owner.get_thread_pool(), this->acceptor.get()),
      framer(max_size), buffer(std::max<std::size_t>(framer.buffer_size(), 256 * 1024))
{
}

void tcp_reader::start()
{
    accept_watch.async_wait(fd_event::readable, [this] { accept_ready(); });
}

void tcp_reader::stop()
{
    accept_watch.release();   // once it returns, peer_watch is no longer being created
    acceptor.reset();
    if (peer_watch)
        peer_watch->release();
    peer.reset();             // the peer sees the connection close, as with 4.x
}

void tcp_reader::accept_ready()
{
    int fd = accept4(acceptor.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
    {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR)
            accept_watch.async_wait(fd_event::readable, [this] { accept_ready(); });
        else
        {
            log_warning("TCP reader: accept failed: {}", std::error_code(errno, std::system_category()).message());
            stream::add_packet_state state(get_stream());
            state.stop();
        }
        return;
    }
    // Exactly one connection is served: later ones are never accepted.
    peer.reset(fd);
    peer_watch = std::make_unique<fd_watch>(get_thread_pool(), peer.get());
    read_ready();
}

void tcp_reader::read_ready()
{
    for (int round = 0; round < max_reads_per_wake; round++)
    {
        if (head == tail)
            head = tail = 0;
        else if (tail == buffer.size() || head > buffer.size() / 2)
        {
            std::memmove(buffer.data(), buffer.data() + head, tail - head);
            tail -= head;
            head = 0;
        }
        ssize_t n = ::recv(peer.get(), buffer.data() + tail, buffer.size() - tail, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        stream::add_packet_state state(get_stream());
        if (n <= 0)
        {
            if (n < 0)
                log_warning("TCP reader: connection failed: {}",
                            std::error_code(errno, std::system_category()).message());
            if (tail > head)
                log_info("TCP reader: discarding {} bytes of a partial packet at end of connection", tail - head);
            state.stop();   // lossless: the end of the connection ends the stream
            return;
        }
        tail += std::size_t(n);
        head += framer.feed(state, buffer.data() + head, tail - head);
        if (state.is_stopped())
            return;
    }
    peer_watch->async_wait(fd_event::readable, [this] { read_ready(); });
}

} // namespace spead2::recv
