/* Basic types and protocol constants shared by every part of spead2. */
#ifndef SPEAD2_COMMON_DEFINES_H
#define SPEAD2_COMMON_DEFINES_H

#include <cstddef>
#include <cstdint>

/* libspead2_core.so is built with hidden visibility; everything that plugins may use
 * carries SPEAD2_API.  Polymorphic and exception classes must also have an out-of-line
 * key function (usually the destructor) so that their type_info lives only in the
 * core library: that is what makes dynamic_cast and catch work across modules. */
#define SPEAD2_API __attribute__((visibility("default")))

namespace spead2
{

typedef std::uint64_t item_pointer_t;
typedef std::int64_t s_item_pointer_t;
static constexpr int item_pointer_bits = 64;

typedef std::uint32_t bug_compat_mask;
enum : bug_compat_mask
{
    BUG_COMPAT_DESCRIPTOR_WIDTHS = 1,
    BUG_COMPAT_SHAPE_BIT_1 = 2,
    BUG_COMPAT_SWAP_ENDIAN = 4,
    BUG_COMPAT_PYSPEAD_0_5_2 = 7
};

enum : item_pointer_t
{
    NULL_ID = 0x00,
    HEAP_CNT_ID = 0x01,
    HEAP_LENGTH_ID = 0x02,
    PAYLOAD_OFFSET_ID = 0x03,
    PAYLOAD_LENGTH_ID = 0x04,
    DESCRIPTOR_ID = 0x05,
    STREAM_CTRL_ID = 0x06,

    DESCRIPTOR_NAME_ID = 0x10,
    DESCRIPTOR_DESCRIPTION_ID = 0x11,
    DESCRIPTOR_SHAPE_ID = 0x12,
    DESCRIPTOR_FORMAT_ID = 0x13,
    DESCRIPTOR_ID_ID = 0x14,
    DESCRIPTOR_DTYPE_ID = 0x15
};

enum : item_pointer_t
{
    CTRL_STREAM_START = 0,
    CTRL_DESCRIPTOR_REISSUE = 1,
    CTRL_STREAM_STOP = 2,
    CTRL_DESCRIPTOR_UPDATE = 3
};

/* The memcpy interface: copies packet payload into heap memory on receive.
 * Same contract as std::memcpy. */
typedef void *(*memcpy_function)(void *__restrict dest, const void *__restrict src, std::size_t n);

enum class memcpy_function_id
{
    STD = 0,
    NONTEMPORAL = 1
};

} // namespace spead2

#endif
