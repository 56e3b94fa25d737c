#include <algorithm>
#include <condition_variable>
#include <pybind11/native_enum.h>
#include <pybind11/stl.h>
#include <spead2/common_descriptor.h>
#include <spead2/common_memory_allocator.h>
#include <spead2/py_common.h>
#include <spead2/py_send.h>
#include <spead2/send_bytes.h>
#include <spead2/send_inproc.h>
#include <spead2/send_packet_generator.h>
#include "py_core.h"

namespace py = pybind11;

namespace spead2::python
{

namespace
{

/* Parameters that hand the Heap object back (HeapReference.heap is the same object)
 * take a py::object; this gives them the TypeError a typed parameter would. */
py_heap &checked_heap(const py::object &heap)
{
    if (!py::isinstance<py_heap>(heap))
        throw py::type_error("heap must be a spead2.send.Heap, not " + std::string(py::str(py::type::of(heap).attr("__name__"))));
    return heap.cast<py_heap &>();
}

/// spead2.send.PacketGenerator: packets of one heap as bytes objects, without a stream.
class py_packet_generator
{
private:
    py::object heap_owner;
    send::packet_generator gen;
    std::vector<std::uint8_t> scratch;
    std::vector<send::buffer_piece> pieces;

public:
    py_packet_generator(py::object heap, item_pointer_t cnt, std::size_t max_packet_size)
        : heap_owner(heap), gen(checked_heap(heap).h, cnt, max_packet_size),
        scratch(gen.get_max_packet_size())
    {
    }

    py::bytes next()
    {
        if (!gen.has_next_packet())
            throw py::stop_iteration();
        pieces.clear();
        std::size_t size = gen.next_packet(scratch.data(), pieces);
        py::bytes out = py::reinterpret_steal<py::bytes>(PyBytes_FromStringAndSize(nullptr, size));
        char *dest = PyBytes_AS_STRING(out.ptr());
        for (const auto &piece : pieces)
        {
            std::memcpy(dest, piece.ptr, piece.length);
            dest += piece.length;
        }
        return out;
    }
};

/* The Python BytesStream writes packets straight into the bytes object that getvalue()
 * hands out, so each byte is copied once.  (Fresh memory costs more to fault in than
 * to copy: a second buffer plus a copy in getvalue() halved the encode rate.)  The
 * bytes object can only grow with the GIL held, so senders reserve room for their
 * heaps before sending, and it grows only while nothing is in flight. */
class py_bytes_writer : public send::bytes_writer
{
private:
    PyObject *storage = nullptr;   ///< a bytes object nobody else references
    py::object value;              ///< what getvalue() returned last
    std::size_t reserved = 0;      ///< room promised to heaps in flight
    std::condition_variable idle;

    /* Untouched virtual memory costs no RSS, and growing a mapping later moves it,
     * which splits its huge pages: so reserve generously up front. */
    static constexpr std::size_t min_reservation = std::size_t(64) << 20;

    /* A new object rather than _PyBytes_Resize, which frees the old contents if it
     * fails.  Only called while nothing is in flight, with the GIL held. */
    void grow(std::size_t total)
    {
        std::size_t new_capacity = std::max({total, 2 * capacity, min_reservation});
        PyObject *grown = PyBytes_FromStringAndSize(nullptr, new_capacity);
        if (!grown)
        {
            PyErr_Clear();
            new_capacity = total;
            grown = PyBytes_FromStringAndSize(nullptr, new_capacity);
            if (!grown)
                throw py::error_already_set();
        }
        auto *grown_data = reinterpret_cast<std::uint8_t *>(PyBytes_AS_STRING(grown));
        // Untouched memory: have it faulted in as huge pages.
        advise_huge_pages(grown_data, new_capacity);
        if (size)
            std::memcpy(grown_data, data, size);
        Py_XDECREF(storage);
        storage = grown;
        data = grown_data;
        capacity = new_capacity;
    }

protected:
    std::uint8_t *reserve(std::size_t total) override { return total <= capacity ? data : nullptr; }

public:
    ~py_bytes_writer() override
    {
        data = nullptr;   // owned by storage, not by the base class
        if (storage)
        {
            py::gil_scoped_acquire gil;
            Py_DECREF(storage);
        }
        if (value)
        {
            py::gil_scoped_acquire gil;
            value = py::object();
        }
    }

    /// Promise room for @a extra bytes; false if that needs growth while heaps are in flight.
    bool try_reserve(std::size_t extra)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (size + reserved + extra > capacity)
        {
            if (reserved)
                return false;
            grow(size + extra);
        }
        reserved += extra;
        return true;
    }

    /// Called when a heap is done with its room (any thread, GIL or not).
    void release(std::size_t extra)
    {
        std::lock_guard<std::mutex> lock(mutex);
        reserved -= extra;
        if (reserved == 0)
            idle.notify_all();
    }

    /// Wait until no heap is in flight (GIL released meanwhile; Ctrl-C interrupts).
    void wait_idle()
    {
        interruptible_wait([this](auto timeout) {
            std::unique_lock<std::mutex> lock(mutex);
            return idle.wait_for(lock, timeout, [this] { return reserved == 0; });
        });
    }

    py::object getvalue()
    {
        /* The lock is taken after the GIL, as senders take it.  A sender may reserve
         * between the wait and the lock: the buffer then waits for that heap too,
         * rather than being taken from under it. */
        std::unique_lock<std::mutex> lock(mutex, std::defer_lock);
        while (true)
        {
            wait_idle();
            lock.lock();
            if (reserved == 0)
                break;
            lock.unlock();
        }
        if (storage)
        {
            // Hand the written part over and start afresh for any later packets.
            if (_PyBytes_Resize(&storage, size) != 0)
                storage = nullptr;
            py::object current = py::reinterpret_steal<py::object>(storage);
            storage = nullptr;
            data = nullptr;
            size = capacity = 0;
            if (!current)
                throw py::error_already_set();
            value = value ? py::object(value + current) : current;
        }
        if (!value)
            value = py::bytes();
        return value;
    }
};

class py_bytes_stream : public send::stream
{
public:
    py_bytes_stream(std::shared_ptr<thread_pool> pool, const send::stream_config &config)
        : send::stream(std::move(pool), config, std::make_unique<py_bytes_writer>())
    {
    }

    py_bytes_writer &bytes_writer() { return static_cast<py_bytes_writer &>(get_writer()); }
};

item_pointer_t bytes_stream_send(py_bytes_stream &s, const send::heap_reference *refs, std::size_t n,
                                 send::group_mode mode, py::object keep_alive)
{
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; i++)
        total += send::packet_generator(*refs[i].h, 0, s.get_config().get_max_packet_size()).total_size();
    py_bytes_writer &writer = s.bytes_writer();
    while (!writer.try_reserve(total))
        writer.wait_idle();
    /* The room is given back when the heaps are done, not when this call ends: an
     * interrupted send carries on in the background, and getvalue() waits for it
     * instead of taking the buffer from under its remaining packets. */
    return sync_send(s, refs, n, mode, std::move(keep_alive), [&writer, total] { writer.release(total); });
}

/// Constructor and queues property shared by InprocStream and InprocStreamAsyncio.
template<typename Class>
void define_inproc_stream(Class &cls)
{
    using stream_type = typename Class::type;
    cls.def(py::init([](std::shared_ptr<thread_pool> pool, const std::vector<std::shared_ptr<inproc_queue>> &queues,
                        const send::stream_config &config) {
                // pybind11 converts None in a list of holders to a null pointer.
                for (std::size_t i = 0; i < queues.size(); i++)
                    if (!queues[i])
                        throw py::type_error("queues[" + std::to_string(i) + "] must be a spead2.InprocQueue, not None");
                return stop_at_shutdown(make_gil_released_shared<stream_type>(std::move(pool), queues, config));
            }),
            py::arg("thread_pool").none(false), py::arg("queues"), py::arg("config") = send::stream_config(),
            py::keep_alive<1, 3>())
        .def_property_readonly("queues", [](stream_type &s) {
            py::list out;
            for (const auto &q : s.get_queues())
                out.append(py::cast(q));
            return out;
        }, "The queues, one per substream.");
}

void register_config(py::module_ &m)
{
    py::native_enum<send::rate_method>(m, "RateMethod", "enum.Enum", "How the send rate is limited.")
        .value("SW", send::rate_method::SW)
        .value("HW", send::rate_method::HW)
        .value("AUTO", send::rate_method::AUTO)
        .finalize();
    py::native_enum<send::group_mode>(m, "GroupMode", "enum.Enum", "Packet order of a group of heaps.")
        .value("ROUND_ROBIN", send::group_mode::ROUND_ROBIN)
        .value("SERIAL", send::group_mode::SERIAL)
        .finalize();

    using config = send::stream_config;
    py::class_<config>(m, "StreamConfig", "Configuration shared by all send streams (keyword-only constructor).")
        .def(py::init<>())
        .def_property("max_packet_size", &config::get_max_packet_size, &config::set_max_packet_size,
                      "Largest packet, in bytes: SPEAD header, item pointers and payload (not UDP/IP headers).")
        .def_property("rate", &config::get_rate, &config::set_rate,
                      "Transmission rate in bytes per second, packet headers included; 0 sends as fast as possible.")
        .def_property("burst_size", &config::get_burst_size, &config::set_burst_size,
                      "Bytes that may be sent back to back before the rate limit applies.")
        .def_property("max_heaps", &config::get_max_heaps, &config::set_max_heaps,
                      "Heaps that may be queued or in flight at once; more fail with EAGAIN.")
        .def_property("burst_rate_ratio", &config::get_burst_rate_ratio, &config::set_burst_rate_ratio,
                      "How much faster than rate a stream that fell behind may catch up (at least 1).")
        .def_property("rate_method", &config::get_rate_method, &config::set_rate_method,
                      "Who paces the rate: the stream (SW), the transport (HW) or either (AUTO).")
        .def_property_readonly("burst_rate", &config::get_burst_rate, "rate times burst_rate_ratio.")
        .def_property_readonly_static("DEFAULT_MAX_PACKET_SIZE", [](py::object) { return config::default_max_packet_size; })
        .def_property_readonly_static("DEFAULT_MAX_HEAPS", [](py::object) { return config::default_max_heaps; })
        .def_property_readonly_static("DEFAULT_BURST_SIZE", [](py::object) { return config::default_burst_size; })
        .def_property_readonly_static("DEFAULT_BURST_RATE_RATIO", [](py::object) { return config::default_burst_rate_ratio; })
        .def_property_readonly_static("DEFAULT_RATE_METHOD", [](py::object) { return send::rate_method::AUTO; });
}

void register_heap(py::module_ &m)
{
    py::class_<py_heap>(m, "Heap", "A heap prepared for sending; item values are referenced, not copied.")
        .def(py::init<const flavour &>(), py::arg("flavour") = flavour())
        .def_property_readonly("flavour", [](const py_heap &h) { return h.h.get_flavour(); }, "The heap's flavour.")
        .def_property(
            "repeat_pointers", [](const py_heap &h) { return h.h.get_repeat_pointers(); },
            [](py_heap &h, bool repeat) { h.h.set_repeat_pointers(repeat); },
            "Whether every packet repeats the heap's immediate item pointers (a receiver then sees them\n"
            "in whichever packet arrives first).")
        .def(
            "add_item",
            [](py_heap &h, py::object item) {
                // Interned names and method calls without bound-method objects: this runs
                // once per item and heap, so it is a good part of a small heap's cost.
                static PyObject *const id_name = PyUnicode_InternFromString("id");
                static PyObject *const to_buffer_name = PyUnicode_InternFromString("to_buffer");
                static PyObject *const allow_immediate_name = PyUnicode_InternFromString("allow_immediate");
                auto checked = [](PyObject *result) {
                    if (!result)
                        throw py::error_already_set();
                    return py::reinterpret_steal<py::object>(result);
                };
                s_item_pointer_t id = checked(PyObject_GetAttr(item.ptr(), id_name)).cast<s_item_pointer_t>();
                py::object buffer = checked(PyObject_CallMethodNoArgs(item.ptr(), to_buffer_name));
                bool allow_immediate =
                    checked(PyObject_CallMethodNoArgs(item.ptr(), allow_immediate_name)).cast<bool>();
                buffer_view view = request_contiguous_buffer(buffer);
                h.h.add_item(id, view.ptr, view.size, allow_immediate);
                h.owners.push_back(std::move(view.owner));
            },
            py::arg("item"), "Add an item's current value (referenced until the heap is freed).")
        .def(
            "add_descriptor",
            [](py_heap &h, py::object descriptor) {
                py::object raw = descriptor.attr("to_raw")(h.h.get_flavour());
                h.h.add_descriptor(raw.cast<const spead2::descriptor &>());
            },
            py::arg("descriptor"), "Encode and add an item's descriptor.")
        .def("add_start", [](py_heap &h) { h.h.add_start(); }, "Add a stream-start control item.")
        .def("add_end", [](py_heap &h) { h.h.add_end(); }, "Add a stream-stop control item.");

    py::class_<py_packet_generator>(m, "PacketGenerator", "Splits a heap into packets (bytes) without a stream.")
        .def(py::init<py::object, item_pointer_t, std::size_t>(), py::arg("heap"), py::arg("cnt"),
             py::arg("max_packet_size"))
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", &py_packet_generator::next);

    py::class_<py_heap_reference>(m, "HeapReference", "A heap with per-heap parameters for send_heaps.")
        .def(py::init([](py::object heap, s_item_pointer_t cnt, std::size_t substream_index, double rate) {
                 checked_heap(heap);
                 return py_heap_reference{heap, cnt, substream_index, rate};
             }),
             py::arg("heap"), py::kw_only(), py::arg("cnt") = -1, py::arg("substream_index") = 0,
             py::arg("rate") = -1.0)
        .def_property_readonly("heap", [](const py_heap_reference &r) { return r.heap; }, "The heap.")
        .def_readwrite("cnt", &py_heap_reference::cnt, "Heap cnt to send it with; -1 takes the stream's next.")
        .def_readwrite("substream_index", &py_heap_reference::substream_index, "Substream to send it to.")
        .def_readwrite("rate", &py_heap_reference::rate, "Rate for this heap in bytes per second; -1 uses the stream's.");

    py::class_<py_heap_reference_list>(m, "HeapReferenceList",
                                       "An immutable, pre-converted list of HeapReference for send_heaps.")
        .def(py::init<const std::vector<py_heap_reference> &>(), py::arg("heaps"))
        .def("__len__", [](const py_heap_reference_list &l) { return l.refs.size(); })
        .def("__getitem__", [](const py_heap_reference_list &l, const py::slice &slice) {
            std::size_t start, stop, step, length;
            if (!slice.compute(l.refs.size(), &start, &stop, &step, &length))
                throw py::error_already_set();
            py_heap_reference_list out;
            for (std::size_t i = 0; i < length; i++, start += step)
            {
                out.refs.push_back(l.refs[start]);
                out.heaps.push_back(l.heaps[start]);
            }
            return out;
        });
}

} // namespace

void register_send(py::module_ &parent)
{
    py::module_ m = public_submodule(parent, "send", "spead2._spead2.send");
    register_config(m);
    register_heap(m);

    py::class_<send::stream, std::shared_ptr<send::stream>>(m, "Stream", "Base class of all send streams.")
        .def("set_cnt_sequence", &send::stream::set_cnt_sequence, py::arg("next"), py::arg("step"),
             "Give heaps sent with cnt=-1 the cnts next, next + step, next + 2 * step, ...")
        .def_property_readonly("num_substreams", &send::stream::get_num_substreams,
                               "Number of substreams (endpoints or queues).");

    py::class_<py_bytes_stream, send::stream, std::shared_ptr<py_bytes_stream>> bytes_stream(
        m, "BytesStream", "Appends every packet to an in-memory buffer; getvalue() returns the bytes.");
    bytes_stream
        .def(py::init([](std::shared_ptr<thread_pool> pool, const send::stream_config &config) {
                 return stop_at_shutdown(make_gil_released_shared<py_bytes_stream>(std::move(pool), config));
             }),
             py::arg("thread_pool").none(false), py::arg("config") = send::stream_config())
        .def("getvalue", [](py_bytes_stream &s) { return s.bytes_writer().getvalue(); },
             "All bytes written so far.");
    define_sync_send_methods(bytes_stream, &bytes_stream_send);

    py::class_<send::inproc_stream, send::stream, std::shared_ptr<send::inproc_stream>> inproc_stream(
        m, "InprocStream", "Sends packets into in-process queues; substream i goes to queues[i].");
    define_inproc_stream(inproc_stream);
    define_sync_send_methods(inproc_stream);

    using inproc_async = async_stream<send::inproc_stream>;
    py::class_<inproc_async, send::stream, std::shared_ptr<inproc_async>> inproc_stream_asyncio(
        m, "InprocStreamAsyncio", "Native base of spead2.send.asyncio.InprocStream.");
    define_inproc_stream(inproc_stream_asyncio);
    define_async_send_methods(inproc_stream_asyncio);
}

} // namespace spead2::python
