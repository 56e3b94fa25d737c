/* Item descriptors: their in-memory form and their encoding as a single SPEAD packet. */
#ifndef SPEAD2_COMMON_DESCRIPTOR_H
#define SPEAD2_COMMON_DESCRIPTOR_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include <spead2/common_defines.h>
#include <spead2/common_flavour.h>

namespace spead2
{

struct SPEAD2_API descriptor
{
    s_item_pointer_t id = 0;
    std::string name;
    std::string description;
    /// (code, bits) per field
    std::vector<std::pair<char, s_item_pointer_t>> format;
    /// -1 marks a variable-length dimension
    std::vector<s_item_pointer_t> shape;
    std::string numpy_header;
};

/* Decoding lives with received heaps (recv::heap::get_descriptors).
 *
 * Encode @a d as the complete SPEAD packet that travels as the value of a DESCRIPTOR
 * item (protocol.md §7). Throws std::invalid_argument if the ID does not fit. */
SPEAD2_API std::vector<std::uint8_t> encode_descriptor(const flavour &f, const descriptor &d);

} // namespace spead2

#endif
