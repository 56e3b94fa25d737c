/* The memory buffer reader: a built-in receive transport over concatenated packets. */
#ifndef SPEAD2_RECV_MEM_H
#define SPEAD2_RECV_MEM_H

#include <cstddef>
#include <cstdint>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* Decodes packets back to back; stops at the first bytes that are not a valid packet,
 * and stops the stream at the end of the buffer.  Lossless.  The caller keeps the
 * memory alive until the stream has stopped. */
class SPEAD2_API mem_reader : public reader
{
private:
    const std::uint8_t *ptr;
    std::size_t length;

    void run();

public:
    mem_reader(stream &owner, const std::uint8_t *ptr, std::size_t length);
    ~mem_reader() override;
    void start() override;
    bool lossy() const override { return false; }
};

} // namespace spead2::recv

#endif
