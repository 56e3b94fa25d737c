/* The SPEAD protocol variant: SPEAD-64-<heap_address_bits> plus bug-compatibility flags. */
#ifndef SPEAD2_COMMON_FLAVOUR_H
#define SPEAD2_COMMON_FLAVOUR_H

#include <spead2/common_defines.h>

namespace spead2
{

class SPEAD2_API flavour
{
private:
    int heap_address_bits = 40;
    bug_compat_mask bug_compat = 0;

public:
    flavour() = default;
    /// Throws std::invalid_argument for anything but version 4, 64-bit pointers, 8..56 address bits.
    flavour(int version, int item_pointer_bits, int heap_address_bits, bug_compat_mask bug_compat = 0);
    explicit flavour(int heap_address_bits, bug_compat_mask bug_compat = 0);

    int get_version() const { return 4; }
    int get_item_pointer_bits() const { return item_pointer_bits; }
    int get_heap_address_bits() const { return heap_address_bits; }
    bug_compat_mask get_bug_compat() const { return bug_compat; }

    /// Bytes of an immediate value / address field.
    int get_address_bytes() const { return heap_address_bits / 8; }
    item_pointer_t address_mask() const { return (item_pointer_t(1) << heap_address_bits) - 1; }
    /// Largest item ID that fits in the pointer's ID field.
    item_pointer_t max_id() const { return (item_pointer_t(1) << (63 - heap_address_bits)) - 1; }

    item_pointer_t make_immediate(item_pointer_t id, item_pointer_t value) const
    {
        return (item_pointer_t(1) << 63) | (id << heap_address_bits) | (value & address_mask());
    }
    item_pointer_t make_address(item_pointer_t id, item_pointer_t address) const
    {
        return (id << heap_address_bits) | (address & address_mask());
    }

    bool operator==(const flavour &other) const
    {
        return heap_address_bits == other.heap_address_bits && bug_compat == other.bug_compat;
    }
    bool operator!=(const flavour &other) const { return !(*this == other); }
};

/// Accessors for a 64-bit item pointer in a given heap-address width.
class pointer_decoder
{
private:
    int heap_address_bits;
    item_pointer_t address_mask;

public:
    explicit pointer_decoder(int heap_address_bits)
        : heap_address_bits(heap_address_bits),
          address_mask((item_pointer_t(1) << heap_address_bits) - 1) {}

    static bool is_immediate(item_pointer_t p) { return p >> 63; }
    s_item_pointer_t get_id(item_pointer_t p) const
    {
        return (p & ~(item_pointer_t(1) << 63)) >> heap_address_bits;
    }
    s_item_pointer_t get_value(item_pointer_t p) const { return p & address_mask; }
    int get_heap_address_bits() const { return heap_address_bits; }
};

} // namespace spead2

#endif
