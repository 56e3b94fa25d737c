#include <algorithm>
#include <spead2/common_logging.h>
#include <spead2/recv_chunk_ring_stream.h>

namespace spead2::recv
{

chunk_ring_pair::chunk_ring_pair(std::shared_ptr<chunk_ringbuffer> data_ring,
                                 std::shared_ptr<chunk_ringbuffer> free_ring)
    : data_ring(std::move(data_ring)), free_ring(std::move(free_ring))
{
    if (!this->data_ring || !this->free_ring)
        throw std::invalid_argument("data_ringbuffer and free_ringbuffer must be given");
}

chunk_ring_pair::~chunk_ring_pair() = default;

std::unique_ptr<chunk> chunk_ring_pair::take_free_chunk()
{
    try
    {
        return free_ring->pop();
    }
    catch (ringbuffer_stopped &)
    {
        return nullptr;
    }
}

void chunk_ring_pair::push_ready_chunk(std::unique_ptr<chunk> &&c)
{
    try
    {
        data_ring->push(std::move(c));
    }
    catch (ringbuffer_stopped &)
    {
        log_info("dropped chunk {} due to external stop", c->chunk_id);
        c.reset();
    }
}

void chunk_ring_pair::stop_rings()
{
    free_ring->stop();
    data_ring->stop();
}

void chunk_ring_pair::add_free_chunk(std::unique_ptr<chunk> &&c)
{
    std::fill(c->present, c->present + c->present_size, 0);
    switch (free_ring->try_push(std::move(c)))
    {
    case ring_status::full:
        throw ringbuffer_full();
    case ring_status::stopped:
        c.reset();
        break;
    default:
        break;
    }
}

chunk_ring_stream::chunk_ring_stream(std::shared_ptr<thread_pool> pool, const stream_config &config,
                                     const chunk_stream_config &chunk_config,
                                     std::shared_ptr<chunk_ringbuffer> data_ring,
                                     std::shared_ptr<chunk_ringbuffer> free_ring)
    : chunk_ring_pair(std::move(data_ring), std::move(free_ring)),
      chunk_stream(std::move(pool), config, with_rings(chunk_config, this))
{
    this->data_ring->add_producer();
}

chunk_ring_stream::~chunk_ring_stream()
{
    stop();
}

void chunk_ring_stream::stop_received()
{
    chunk_stream::stop_received();
    data_ring->remove_producer();
}

void chunk_ring_stream::stop()
{
    stop_rings();
    chunk_stream::stop();
}

} // namespace spead2::recv
