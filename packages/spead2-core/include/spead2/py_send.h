/* Header-only pieces of the send bindings that plugin stream classes share with the
 * core: the Python-side heap, heap reference lists and the synchronous send methods. */
#ifndef SPEAD2_PY_SEND_H
#define SPEAD2_PY_SEND_H

#include <future>
#include <system_error>
#include <utility>
#include <vector>
#include <pybind11/pybind11.h>
#include <spead2/py_common.h>
#include <spead2/send_heap.h>
#include <spead2/send_stream.h>

namespace spead2::python
{

/// spead2.send.Heap: a heap plus the Python buffers its items reference.
struct py_heap
{
    send::heap h;
    std::vector<py::object> owners;

    explicit py_heap(const flavour &f) : h(f) {}
};

/// spead2.send.HeapReference
struct py_heap_reference
{
    py::object heap;   ///< the py_heap, returned as the same object
    s_item_pointer_t cnt = -1;
    std::size_t substream_index = 0;
    double rate = -1.0;
};

/// spead2.send.HeapReferenceList: converted once, reusable, keeps its heaps alive.
struct py_heap_reference_list
{
    std::vector<send::heap_reference> refs;
    std::vector<py::object> heaps;

    py_heap_reference_list() = default;
    explicit py_heap_reference_list(const std::vector<py_heap_reference> &list)
    {
        refs.reserve(list.size());
        heaps.reserve(list.size());
        for (const auto &r : list)
        {
            refs.push_back(send::heap_reference{&r.heap.cast<py_heap &>().h, r.cnt, r.substream_index, r.rate});
            heaps.push_back(r.heap);
        }
    }
};

/* Send a group and wait (GIL released) for it to complete; returns the bytes sent or
 * throws std::system_error (-> OSError) with the failure. */
inline item_pointer_t sync_send(send::stream &s, const send::heap_reference *refs, std::size_t n,
                                send::group_mode mode)
{
    std::promise<std::pair<std::error_code, item_pointer_t>> promise;
    auto future = promise.get_future();
    {
        py::gil_scoped_release release;
        s.async_send_heaps(refs, n, [&promise](const std::error_code &ec, item_pointer_t bytes) {
            promise.set_value({ec, bytes});
        }, mode);
        // Not interruptible: the heaps reference Python buffers until completion.
        future.wait();
    }
    auto [error, bytes] = future.get();
    if (error)
        throw std::system_error(error);
    return bytes;
}

/* Add send_heap / send_heaps to a synchronous stream class.  @a send is called as
 * send(stream, refs, n, mode) and returns the bytes sent (default: sync_send). */
template<typename Class, typename Send = decltype(&sync_send)>
void define_sync_send_methods(Class &cls, Send send = &sync_send)
{
    using stream_type = typename Class::type;
    cls.def(
           "send_heap",
           [send](stream_type &s, const py_heap &heap, s_item_pointer_t cnt, std::size_t substream_index,
                  double rate) {
               send::heap_reference ref{&heap.h, cnt, substream_index, rate};
               return send(s, &ref, 1, send::group_mode::SERIAL);
           },
           py::arg("heap"), py::arg("cnt") = -1, py::arg("substream_index") = 0, py::arg("rate") = -1.0,
           "Send a heap and wait until it is transmitted; returns the number of bytes sent.")
        .def(
            "send_heaps",
            [send](stream_type &s, const py_heap_reference_list &heaps, send::group_mode mode) {
                return send(s, heaps.refs.data(), heaps.refs.size(), mode);
            },
            py::arg("heaps"), py::arg("mode"),
            "Send a group of heaps atomically, interleaved according to mode; returns the bytes sent.")
        .def(
            "send_heaps",
            [send](stream_type &s, const std::vector<py_heap_reference> &heaps, send::group_mode mode) {
                py_heap_reference_list list(heaps);
                return send(s, list.refs.data(), list.refs.size(), mode);
            },
            py::arg("heaps"), py::arg("mode"));
}

} // namespace spead2::python

#endif
