/* A pool of fixed-size blocks, refilled in the background when it runs low. */
#ifndef SPEAD2_COMMON_MEMORY_POOL_H
#define SPEAD2_COMMON_MEMORY_POOL_H

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>
#include <spead2/common_memory_allocator.h>
#include <spead2/common_thread_pool.h>

namespace spead2
{

class SPEAD2_API memory_pool : public memory_allocator
{
private:
    std::shared_ptr<thread_pool> refill_pool;
    const std::size_t lower, upper, max_free, initial, low_water;
    const std::shared_ptr<memory_allocator> base_allocator;
    mutable std::mutex mutex;
    std::vector<pointer> pool;
    bool refilling = false;
    std::atomic<bool> warn_on_empty{true};

    pointer allocate_block();
    void refill();

protected:
    void free(std::uint8_t *ptr, void *user) override;

public:
    memory_pool(std::size_t lower, std::size_t upper, std::size_t max_free, std::size_t initial,
                std::shared_ptr<memory_allocator> allocator = nullptr);
    memory_pool(std::shared_ptr<thread_pool> refill_pool,
                std::size_t lower, std::size_t upper, std::size_t max_free, std::size_t initial,
                std::size_t low_water, std::shared_ptr<memory_allocator> allocator = nullptr);
    ~memory_pool() override;

    pointer allocate(std::size_t size, void *hint) override;
    void set_warn_on_empty(bool warn) { warn_on_empty = warn; }
    bool get_warn_on_empty() const { return warn_on_empty; }
    std::size_t free_blocks() const;
};

} // namespace spead2

#endif
