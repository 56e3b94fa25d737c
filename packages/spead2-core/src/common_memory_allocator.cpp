#include <cstring>
#include <iterator>
#include <new>
#include <sys/mman.h>
#include <spead2/common_memory_allocator.h>

namespace spead2
{

void memory_allocator::deleter::operator()(std::uint8_t *ptr) const
{
    allocator->free(ptr, user);
}

/* Blocks at least this large are worth caching; at most this many, and this many
 * bytes, are kept per allocator; a block is reused for requests down to half its
 * size. */
static constexpr std::size_t cache_min_size = std::size_t(256) << 10;
static constexpr std::size_t cache_max_blocks = 8;
static constexpr std::size_t cache_max_bytes = std::size_t(64) << 20;

memory_allocator::~memory_allocator()
{
    for (const auto &block : cache)
        delete[] block.first;
}

memory_allocator::pointer memory_allocator::make_pointer(std::uint8_t *ptr, void *user)
{
    return pointer(ptr, deleter(shared_from_this(), user));
}

memory_allocator::pointer memory_allocator::allocate(std::size_t size, void *)
{
    // The block's size travels in the user pointer, for free().
    if (size >= cache_min_size)
    {
        std::lock_guard<std::mutex> lock(cache_mutex);
        // Most recently freed first: it is the most likely to still be in the CPU cache.
        for (auto it = cache.rbegin(); it != cache.rend(); ++it)
            if (it->second >= size && it->second / 2 <= size)
            {
                auto block = *it;
                cache.erase(std::next(it).base());
                cached_bytes -= block.second;
                return make_pointer(block.first, reinterpret_cast<void *>(block.second));
            }
    }
    /* Default-initialised: the payload is overwritten by packet data anyway.  Nothrow
     * new, with std::bad_alloc thrown here: AddressSanitizer aborts where a throwing new
     * fails, but lets a nothrow one return null (allocator_may_return_null=1), so that a
     * hostile heap size takes the same path under it as without. */
    std::uint8_t *ptr = new (std::nothrow) std::uint8_t[size];
    if (!ptr)
        throw std::bad_alloc();
    return make_pointer(ptr, reinterpret_cast<void *>(size));
}

void memory_allocator::free(std::uint8_t *ptr, void *user)
{
    const std::size_t size = reinterpret_cast<std::size_t>(user);
    if (size >= cache_min_size)
    {
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (cache.size() < cache_max_blocks && cached_bytes + size <= cache_max_bytes)
        {
            cache.emplace_back(ptr, size);
            cached_bytes += size;
            return;
        }
    }
    delete[] ptr;
}

void advise_huge_pages(void *ptr, std::size_t length) noexcept
{
    constexpr std::uintptr_t huge_page = std::uintptr_t(2) << 20;
    std::uintptr_t start = (reinterpret_cast<std::uintptr_t>(ptr) + huge_page - 1) & ~(huge_page - 1);
    std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(ptr) + length) & ~(huge_page - 1);
    if (end > start)
        madvise(reinterpret_cast<void *>(start), end - start, MADV_HUGEPAGE);   // only a hint
}

mmap_allocator::mmap_allocator(int flags, bool prefer_huge) : flags(flags), prefer_huge(prefer_huge)
{
}

mmap_allocator::~mmap_allocator() = default;

memory_allocator::pointer mmap_allocator::allocate(std::size_t size, void *)
{
    // The size is remembered in the deleter's user pointer, for munmap.
    std::size_t map_size = size ? size : 1;
    void *ptr = MAP_FAILED;
    int base_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | flags;
    if (prefer_huge)
        ptr = mmap(nullptr, map_size, PROT_READ | PROT_WRITE, base_flags | MAP_HUGETLB, -1, 0);
    if (ptr == MAP_FAILED)
        ptr = mmap(nullptr, map_size, PROT_READ | PROT_WRITE, base_flags, -1, 0);
    if (ptr == MAP_FAILED)
        throw std::bad_alloc();
    return make_pointer(static_cast<std::uint8_t *>(ptr), reinterpret_cast<void *>(map_size));
}

void mmap_allocator::free(std::uint8_t *ptr, void *user)
{
    munmap(ptr, reinterpret_cast<std::size_t>(user));
}

} // namespace spead2
