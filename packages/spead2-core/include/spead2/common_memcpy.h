#ifndef SPEAD2_COMMON_MEMCPY_H
#define SPEAD2_COMMON_MEMCPY_H

#include <cstddef>
#include <spead2/common_defines.h>

namespace spead2
{

/* Copy with non-temporal stores where the CPU has them (bypasses the cache, which
 * helps when the heap is consumed by another core much later); else std::memcpy. */
SPEAD2_API void *memcpy_nontemporal(void *__restrict dest, const void *__restrict src, std::size_t n) noexcept;

/// Throws std::invalid_argument for an unknown id.
SPEAD2_API memcpy_function get_memcpy_function(memcpy_function_id id);

} // namespace spead2

#endif
