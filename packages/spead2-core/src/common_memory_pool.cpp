#include <spead2/common_logging.h>
#include <spead2/common_memory_pool.h>

namespace spead2
{

/* Pooled blocks are handed out wrapped in a pointer whose deleter comes back to the
 * pool; the block's original pointer (from the base allocator) travels as the user
 * pointer so the pool can keep or release it.  Requests outside [lower, upper] go
 * straight to the base allocator. */

memory_pool::memory_pool(std::size_t lower, std::size_t upper, std::size_t max_free, std::size_t initial,
                         std::shared_ptr<memory_allocator> allocator)
    : memory_pool(nullptr, lower, upper, max_free, initial, 0, std::move(allocator))
{
}

memory_pool::memory_pool(std::shared_ptr<thread_pool> refill_pool,
                         std::size_t lower, std::size_t upper, std::size_t max_free, std::size_t initial,
                         std::size_t low_water, std::shared_ptr<memory_allocator> allocator)
    : refill_pool(std::move(refill_pool)), lower(lower), upper(upper), max_free(max_free),
    initial(initial), low_water(low_water),
    base_allocator(allocator ? std::move(allocator) : std::make_shared<memory_allocator>())
{
    pool.reserve(max_free);
    for (std::size_t i = 0; i < initial; i++)
        pool.push_back(allocate_block());
}

memory_pool::~memory_pool() = default;

memory_allocator::pointer memory_pool::allocate_block()
{
    return base_allocator->allocate(upper, nullptr);
}

std::size_t memory_pool::free_blocks() const
{
    std::lock_guard<std::mutex> lock(mutex);
    return pool.size();
}

memory_allocator::pointer memory_pool::allocate(std::size_t size, void *hint)
{
    if (size < lower || size > upper)
        return base_allocator->allocate(size, hint);

    pointer block;
    bool start_refill = false;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!pool.empty())
        {
            block = std::move(pool.back());
            pool.pop_back();
        }
        if (refill_pool && pool.size() < low_water && !refilling)
            refilling = start_refill = true;
    }
    if (start_refill)
    {
        std::weak_ptr<memory_allocator> weak = shared_from_this();
        try
        {
            refill_pool->post([weak] {
                if (auto self = weak.lock())
                    static_cast<memory_pool &>(*self).refill();
            });
        }
        catch (std::runtime_error &)
        {
            std::lock_guard<std::mutex> lock(mutex);
            refilling = false;   // thread pool stopped: allocate on demand instead
        }
    }
    if (!block)
    {
        if (warn_on_empty)
            log_warning("memory pool is empty when allocating {} bytes", size);
        block = allocate_block();
    }
    std::uint8_t *ptr = block.get();
    // Hand ownership of the base block to the user pointer; free() takes it back.
    auto *owned = new pointer(std::move(block));
    return make_pointer(ptr, owned);
}

void memory_pool::refill()
{
    while (true)
    {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (pool.size() >= initial || pool.size() >= max_free)
            {
                refilling = false;
                return;
            }
        }
        pointer block = allocate_block();
        std::lock_guard<std::mutex> lock(mutex);
        if (pool.size() < max_free)
            pool.push_back(std::move(block));
    }
}

void memory_pool::free(std::uint8_t *, void *user)
{
    std::unique_ptr<pointer> owned(static_cast<pointer *>(user));
    if (!owned)
        return;
    std::lock_guard<std::mutex> lock(mutex);
    if (pool.size() < max_free)
        pool.push_back(std::move(*owned));
}

} // namespace spead2
