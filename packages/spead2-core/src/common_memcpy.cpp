#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <spead2/common_memcpy.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace spead2
{

#if defined(__x86_64__)

/* Streaming stores write whole cache lines without first reading them in (no
 * read-for-ownership), so a copy into memory that is not in cache moves a third
 * less data through the memory bus, and does not evict what the reader of the
 * source still needs.  Prefetching the source ahead keeps the loads from stalling
 * the stores.  One loop per vector width: the intrinsics differ. */
namespace
{

/// Copy up to the first @a align-byte boundary of @a d (streaming stores must be aligned).
inline void copy_head(std::uint8_t *&d, const std::uint8_t *&s, std::size_t &n, std::size_t align)
{
    std::size_t head = (align - (reinterpret_cast<std::uintptr_t>(d) & (align - 1))) & (align - 1);
    if (head > n)
        head = n;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
}

void *memcpy_nontemporal_sse2(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept
{
    auto *d = static_cast<std::uint8_t *>(dest);
    auto *s = static_cast<const std::uint8_t *>(src);
    copy_head(d, s, n, 16);
    for (std::size_t i = 0; i < n / 64; i++)
    {
        _mm_prefetch(reinterpret_cast<const char *>(s) + 512, _MM_HINT_NTA);
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 16));
        __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 32));
        __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 48));
        _mm_stream_si128(reinterpret_cast<__m128i *>(d), a);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 16), b);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 32), c);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 48), e);
        s += 64;
        d += 64;
    }
    _mm_sfence();   // streaming stores are weakly ordered
    std::memcpy(d, s, n % 64);
    return dest;
}

__attribute__((target("avx2")))
void *memcpy_nontemporal_avx2(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept
{
    auto *d = static_cast<std::uint8_t *>(dest);
    auto *s = static_cast<const std::uint8_t *>(src);
    copy_head(d, s, n, 32);
    for (std::size_t i = 0; i < n / 128; i++)
    {
        _mm_prefetch(reinterpret_cast<const char *>(s) + 512, _MM_HINT_NTA);
        __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(s));
        __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(s + 32));
        __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(s + 64));
        __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(s + 96));
        _mm256_stream_si256(reinterpret_cast<__m256i *>(d), a);
        _mm256_stream_si256(reinterpret_cast<__m256i *>(d + 32), b);
        _mm256_stream_si256(reinterpret_cast<__m256i *>(d + 64), c);
        _mm256_stream_si256(reinterpret_cast<__m256i *>(d + 96), e);
        s += 128;
        d += 128;
    }
    _mm_sfence();
    std::memcpy(d, s, n % 128);
    return dest;
}

} // anonymous namespace

#endif

void *memcpy_nontemporal(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept
{
#if defined(__x86_64__)
    // SSE2 is part of x86-64; AVX2 (twice the bytes per store) where the CPU has it.
    static const memcpy_function best
        = __builtin_cpu_supports("avx2") ? memcpy_nontemporal_avx2 : memcpy_nontemporal_sse2;
    return best(dest, src, n);
#else
    return std::memcpy(dest, src, n);
#endif
}

memcpy_function get_memcpy_function(memcpy_function_id id)
{
    switch (id)
    {
    case memcpy_function_id::STD: return std::memcpy;
    case memcpy_function_id::NONTEMPORAL: return memcpy_nontemporal;
    }
    throw std::invalid_argument("Unknown memcpy function");
}

} // namespace spead2
