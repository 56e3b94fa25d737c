/* The memory allocator interface: where received heap payloads live.
 * Implement allocate() (and free() if the memory is not from operator new[]). */
#ifndef SPEAD2_COMMON_MEMORY_ALLOCATOR_H
#define SPEAD2_COMMON_MEMORY_ALLOCATOR_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <spead2/common_defines.h>

namespace spead2
{

class SPEAD2_API memory_allocator : public std::enable_shared_from_this<memory_allocator>
{
private:
    /* Recently freed large blocks (the default allocate/free only).  Heaps of one size
     * come and go all the time; glibc maps and unmaps each such block afresh, and
     * faulting in a fresh megabyte costs more than filling it. */
    std::mutex cache_mutex;
    std::vector<std::pair<std::uint8_t *, std::size_t>> cache;
    std::size_t cached_bytes = 0;

public:
    class SPEAD2_API deleter
    {
    private:
        std::shared_ptr<memory_allocator> allocator;
        void *user = nullptr;

    public:
        deleter() = default;
        deleter(std::shared_ptr<memory_allocator> allocator, void *user)
            : allocator(std::move(allocator)), user(user) {}
        void operator()(std::uint8_t *ptr) const;
        void *get_user() const { return user; }
        const std::shared_ptr<memory_allocator> &get_allocator() const { return allocator; }
    };

    typedef std::unique_ptr<std::uint8_t[], deleter> pointer;

    memory_allocator() = default;
    virtual ~memory_allocator();

    /* Allocate @a size bytes. @a hint is the packet that caused the allocation (may be
     * null); allocators that place data by content use it. Throws std::bad_alloc. */
    virtual pointer allocate(std::size_t size, void *hint);

protected:
    /// Wrap memory so that free(ptr, user) is called on release.
    pointer make_pointer(std::uint8_t *ptr, void *user = nullptr);
    virtual void free(std::uint8_t *ptr, void *user);
};

/* Ask for transparent huge pages on the 2 MiB-aligned interior of [ptr, ptr+length).
 * Worth it for large buffers that are about to be written for the first time: on
 * virtual machines a 4 KiB page fault can cost more than copying the page. */
SPEAD2_API void advise_huge_pages(void *ptr, std::size_t length) noexcept;

/// Anonymous private mmap per block, pre-faulted; optionally huge pages first.
class SPEAD2_API mmap_allocator : public memory_allocator
{
private:
    int flags;
    bool prefer_huge;

public:
    explicit mmap_allocator(int flags = 0, bool prefer_huge = false);
    ~mmap_allocator() override;
    pointer allocate(std::size_t size, void *hint) override;

protected:
    void free(std::uint8_t *ptr, void *user) override;
};

} // namespace spead2

#endif
