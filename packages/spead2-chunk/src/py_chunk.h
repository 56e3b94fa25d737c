/* Python bindings of the chunking receiver: how a Python Chunk's buffers travel
 * through rings and streams without the GIL. */
#ifndef SPEAD2_PY_CHUNK_H
#define SPEAD2_PY_CHUNK_H

#include <cstdint>
#include <memory>
#include <pybind11/pybind11.h>
#include <spead2/common_ringbuffer.h>
#include <spead2/recv_chunk_ring_stream.h>

namespace spead2::python
{

namespace py = pybind11;

/* A buffer assigned to a Chunk: the object as assigned and its writable, C-contiguous
 * export, held for as long as the buffer is assigned (or in flight). */
class chunk_buffer
{
private:
    py::object obj;
    std::unique_ptr<Py_buffer, void (*)(Py_buffer *)> view{nullptr, release};

    static void release(Py_buffer *view);

public:
    chunk_buffer() = default;
    /// None clears; otherwise the exporter's own errors (TypeError, ValueError, BufferError).
    explicit chunk_buffer(py::object obj);

    bool is_set() const { return bool(view); }
    /// Forget the object and the export without releasing them (no GIL at interpreter exit).
    void leak();
    const py::object &object() const { return obj; }
    std::uint8_t *data() const { return view ? static_cast<std::uint8_t *>(view->buf) : nullptr; }
    std::size_t size() const { return view ? std::size_t(view->len) : 0; }
};

/// The state of a Python Chunk object while it is in Python's hands.
struct py_chunk
{
    std::int64_t chunk_id = -1;
    std::uint64_t stream_id = 0;
    chunk_buffer present, data, extra;
};

/* A chunk in flight (in a ring or a stream): it holds the Python object and its
 * buffers, which read as None meanwhile.  Destroyed without the GIL it takes it: a
 * chunk dropped by a worker (its data ring stopped) is released there. */
class inflight_chunk : public recv::chunk
{
private:
    py::object owner;
    chunk_buffer present_buffer, data_buffer, extra_buffer;

public:
    /// Take @a obj's buffers (it must be a Chunk whose data and present are set).
    explicit inflight_chunk(py::object obj);
    ~inflight_chunk() override;

    /// Give the buffers back to the Python object, with the id the stream assigned; returns it.
    py::object restore();
};

/* The Python ChunkRingbuffer is the C++ ring itself (held by shared_ptr), so that a
 * stream's ring converts back to the very Python object the user passed in. */
typedef recv::chunk_ringbuffer chunk_ring;

/// The Python ChunkStreamConfig: the C++ configuration and the Python form of its callback.
struct py_chunk_stream_config
{
    recv::chunk_stream_config config;
    py::object place = py::none();   ///< as assigned, for the getter

    void set_place(py::object obj);
};

/// Take a chunk that came from Python out of flight: its Python object, buffers restored.
py::object restore_chunk(std::unique_ptr<recv::chunk> &&c);

void register_chunk(py::module_ &m);
void register_chunk_stream(py::module_ &m);
void register_chunk_stream_group(py::module_ &m);

} // namespace spead2::python

#endif
