#include <cerrno>
#include <cstdint>
#include <system_error>
#include <sys/eventfd.h>
#include <unistd.h>
#include <spead2/common_ringbuffer.h>

namespace spead2
{

ringbuffer_stopped::~ringbuffer_stopped() = default;
ringbuffer_empty::~ringbuffer_empty() = default;
ringbuffer_full::~ringbuffer_full() = default;

readiness_fd::readiness_fd() : fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (fd < 0)
        throw std::system_error(errno, std::system_category(), "eventfd");
}

readiness_fd::~readiness_fd()
{
    close(fd);
}

void readiness_fd::set()
{
    std::uint64_t one = 1;
    // EAGAIN (counter saturated) still leaves the fd readable, which is all we need.
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
    {
    }
}

void readiness_fd::clear()
{
    std::uint64_t value;
    while (read(fd, &value, sizeof(value)) < 0 && errno == EINTR)
    {
    }
}

} // namespace spead2
