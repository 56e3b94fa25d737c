#include <stdexcept>
#include <spead2/common_descriptor.h>
#include <spead2/common_endian.h>

namespace spead2
{

std::vector<std::uint8_t> encode_descriptor(const flavour &f, const descriptor &d)
{
    const int address_bytes = f.get_address_bytes();
    const bool wide = f.get_bug_compat() & BUG_COMPAT_DESCRIPTOR_WIDTHS;
    // Format bit widths use the item-ID width, shape sizes the address width (§7.2, §7.3).
    const std::size_t format_size_bytes = wide ? 3 : 8 - address_bytes;
    const std::size_t shape_size_bytes = wide ? 7 : address_bytes;
    const std::uint8_t variable_flag = (f.get_bug_compat() & BUG_COMPAT_SHAPE_BIT_1) ? 2 : 1;

    /* The ID travels both in an item pointer's ID field and as an immediate value, so
     * it must fit both (the reference silently corrupts the packet otherwise). */
    if (d.id <= 0 || item_pointer_t(d.id) > f.max_id() || item_pointer_t(d.id) > f.address_mask())
        throw std::invalid_argument("Item ID out of range");

    const bool has_dtype = !d.numpy_header.empty();
    const std::size_t format_length = d.format.size() * (1 + format_size_bytes);
    const std::size_t shape_length = d.shape.size() * (1 + shape_size_bytes);
    const std::size_t payload_length = d.name.size() + d.description.size() + format_length
                                       + shape_length + d.numpy_header.size();
    const int n_pointers = has_dtype ? 10 : 9;
    const std::size_t header_length = 8 + 8 * n_pointers;

    std::vector<std::uint8_t> out(header_length + payload_length);
    std::uint8_t *p = out.data();
    p[0] = 0x53;
    p[1] = 4;
    p[2] = std::uint8_t(8 - address_bytes);
    p[3] = std::uint8_t(address_bytes);
    p[4] = p[5] = 0;
    p[6] = 0;
    p[7] = std::uint8_t(n_pointers);
    p += 8;

    std::size_t address = 0;
    auto put = [&](item_pointer_t pointer) {
        store_be64(p, pointer);
        p += 8;
    };
    put(f.make_immediate(HEAP_CNT_ID, 1));
    put(f.make_immediate(HEAP_LENGTH_ID, payload_length));
    put(f.make_immediate(PAYLOAD_OFFSET_ID, 0));
    put(f.make_immediate(PAYLOAD_LENGTH_ID, payload_length));
    put(f.make_immediate(DESCRIPTOR_ID_ID, d.id));
    put(f.make_address(DESCRIPTOR_NAME_ID, address));
    address += d.name.size();
    put(f.make_address(DESCRIPTOR_DESCRIPTION_ID, address));
    address += d.description.size();
    put(f.make_address(DESCRIPTOR_FORMAT_ID, address));
    address += format_length;
    put(f.make_address(DESCRIPTOR_SHAPE_ID, address));
    address += shape_length;
    if (has_dtype)
        put(f.make_address(DESCRIPTOR_DTYPE_ID, address));

    auto put_bytes = [&](const std::string &s) {
        std::copy(s.begin(), s.end(), p);
        p += s.size();
    };
    put_bytes(d.name);
    put_bytes(d.description);
    for (const auto &field : d.format)
    {
        *p++ = std::uint8_t(field.first);
        store_be(p, field.second, format_size_bytes);
        p += format_size_bytes;
    }
    for (s_item_pointer_t size : d.shape)
    {
        bool variable = size < 0;
        *p++ = variable ? variable_flag : 0;
        store_be(p, variable ? 0 : size, shape_size_bytes);
        p += shape_size_bytes;
    }
    put_bytes(d.numpy_header);
    return out;
}

} // namespace spead2
