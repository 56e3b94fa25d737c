/* Big-endian loads and stores: everything on the SPEAD wire is network order. */
#ifndef SPEAD2_COMMON_ENDIAN_H
#define SPEAD2_COMMON_ENDIAN_H

#include <cstdint>
#include <cstring>

namespace spead2
{

inline std::uint64_t load_be64(const std::uint8_t *p)
{
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

inline void store_be64(std::uint8_t *p, std::uint64_t v)
{
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

inline std::uint16_t load_be16(const std::uint8_t *p)
{
    return std::uint16_t((p[0] << 8) | p[1]);
}

/// Load an unsigned big-endian integer of 0..8 bytes.
inline std::uint64_t load_be(const std::uint8_t *p, std::size_t bytes)
{
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

/// Store the low @a bytes bytes of @a v big-endian (0..8 bytes).
inline void store_be(std::uint8_t *p, std::uint64_t v, std::size_t bytes)
{
    for (std::size_t i = bytes; i > 0; i--)
    {
        p[i - 1] = std::uint8_t(v);
        v >>= 8;
    }
}

} // namespace spead2

#endif
