#include <cstring>
#include <stdexcept>
#include <spead2/common_memcpy.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace spead2
{

void *memcpy_nontemporal(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept
{
#if defined(__x86_64__)
    auto *d = static_cast<std::uint8_t *>(dest);
    auto *s = static_cast<const std::uint8_t *>(src);
    // Head: reach 16-byte alignment of the destination with an ordinary copy.
    std::size_t head = (16 - (reinterpret_cast<std::uintptr_t>(d) & 15)) & 15;
    if (head > n)
        head = n;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    // SSE2 is part of x86-64, so streaming stores are always available here.
    std::size_t blocks = n / 64;
    for (std::size_t i = 0; i < blocks; i++)
    {
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
