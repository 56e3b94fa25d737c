/* Header-only pieces of the send bindings that plugin stream classes share with the
 * core: the Python-side heap, heap reference lists and the synchronous send methods. */
#ifndef SPEAD2_PY_SEND_H
#define SPEAD2_PY_SEND_H

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <pybind11/pybind11.h>
#include <spead2/common_logging.h>
#include <spead2/common_ringbuffer.h>
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

/* The Python object wrapping @a obj (an argument, so it has one).  Overloads take
 * typed references so that pybind11 can choose between them; this recovers the
 * object to keep alive. */
template<typename T>
py::object python_object(const T &obj)
{
    return py::cast(&obj, py::return_value_policy::reference);
}

/// Completion of a synchronous send, shared with the stream's completion handler.
struct sync_send_state
{
    std::mutex mutex;
    std::condition_variable cond;
    bool done = false;
    std::error_code error;
    item_pointer_t bytes = 0;
    /* Runs once the send is over (see sync_send).  Kept here rather than captured by
     * the completion handler, which then stays small enough not to allocate. */
    std::function<void()> finished;

    template<typename Duration>
    bool wait_for(const Duration &timeout)
    {
        std::unique_lock<std::mutex> lock(mutex);
        return cond.wait_for(lock, timeout, [this] { return done; });
    }

    bool is_done()
    {
        std::lock_guard<std::mutex> lock(mutex);
        return done;
    }
};

/* Sends abandoned by an interrupted wait: their heaps must stay alive until the
 * stream is done with them, and can only be released with the GIL (held whenever
 * this is touched). */
inline std::vector<std::pair<std::shared_ptr<sync_send_state>, py::object>> &orphaned_sends()
{
    static auto *orphans = new std::vector<std::pair<std::shared_ptr<sync_send_state>, py::object>>();
    return *orphans;
}

/// A single heap of up to this many payload bytes is enqueued without releasing the GIL.
constexpr std::size_t inline_send_bytes = 16384;

inline std::size_t payload_bytes(const send::heap_reference *refs, std::size_t n)
{
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; i++)
        for (const send::item &it : refs[i].h->get_items())
            total += it.length;
    return total;
}

/* How long a loop of such sends may keep the GIL before it lets other Python threads
 * run.  Without a limit it keeps it for the whole loop: a thread that wants it (say a
 * receiver, which gives it up whenever its ring is momentarily empty) gets it back
 * only when CPython forces a switch, once per switch interval (5 ms), and takes a few
 * heaps each time.  Shorter slices share more but slow the sender.  Measured on 2
 * cores, by the end of a loop of 200k tiny heaps a receiving thread had 0.2-2.6% of
 * them without slices, 11-16% with 200 us slices and 20-40% with 100 us; but 100 us
 * cost small-heaps in ../shared/bench 5-15%, while 200 us was within its noise. */
constexpr std::chrono::microseconds inline_send_gil_slice{200};

/* Whether another thread has a Python thread state, so might want the GIL.  The list
 * is read without its lock and only pointers are compared (another thread's state may
 * be freed meanwhile): a stale answer merely moves one yield. */
inline bool other_python_threads()
{
    PyThreadState *self = PyThreadState_Get();
    PyThreadState *head = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(self));
    return head != self || PyThreadState_Next(self) != nullptr;
}

/// CPython's switch interval (sys.getswitchinterval()); needs the GIL.
inline std::chrono::steady_clock::duration python_switch_interval()
{
    constexpr std::chrono::milliseconds cpython_default{5};
    PyObject *get = PySys_GetObject("getswitchinterval");   // borrowed
    PyObject *seconds = get ? PyObject_CallNoArgs(get) : nullptr;
    double value = seconds ? PyFloat_AsDouble(seconds) : -1.0;
    Py_XDECREF(seconds);
    if (value < 0.0)
    {
        PyErr_Clear();
        return cpython_default;
    }
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(value));
}

/* The calling thread's current slice (above): when it began and how long it lasts.
 * A slice lasts as long as the other threads kept the GIL at the last yield (at least
 * inline_send_gil_slice, at most the switch interval): threads that only want a
 * moment (a receiver taking a heap or two) get it every 200 us, while a thread that
 * works for as long as it holds the GIL (a receiver decoding each heap in Python)
 * shares it half and half in turns as long as CPython's own, instead of paying two
 * thread switches every 200 us. */
struct gil_slice
{
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::duration length = inline_send_gil_slice;
};

inline gil_slice &current_gil_slice()
{
    static thread_local gil_slice slice;
    return slice;
}

/* Run @a enqueue (a small send) with the GIL held, except once per slice, when other
 * Python threads exist: then the GIL is released meanwhile and for the shortest sleep
 * the kernel grants (about 50 us with the default timer slack, the time a woken thread
 * needs to take it).  A bare release would not do: the sender takes the GIL back
 * before a waiting thread has even woken up. */
template<typename F>
void small_send_sharing_gil(F &&enqueue)
{
    auto &slice = current_gil_slice();
    const auto now = std::chrono::steady_clock::now();
    if (now - slice.start < slice.length)
        enqueue();
    else if (!other_python_threads())
    {
        enqueue();
        slice.start = now;
        slice.length = inline_send_gil_slice;
    }
    else
    {
        without_gil([&enqueue] {
            enqueue();
            std::this_thread::sleep_for(std::chrono::microseconds(1));
        });
        slice.start = std::chrono::steady_clock::now();
        slice.length = std::clamp<std::chrono::steady_clock::duration>(
            slice.start - now, inline_send_gil_slice, python_switch_interval());
    }
}

/* Send a group and wait (GIL released, interruptible) for it to complete; returns
 * the bytes sent or throws std::system_error (-> OSError).  @a keep_alive holds what
 * the heaps reference, in case a signal interrupts the wait (and is leaked if a daemon
 * thread is ended during it at exit, see leak_without_gil).  @a finished runs once the
 * send is over, interrupted or not (it may run on a worker, without the GIL): when the
 * group completes, or when queueing it throws. */
inline item_pointer_t sync_send(send::stream &s, const send::heap_reference *refs, std::size_t n,
                                send::group_mode mode, py::object keep_alive,
                                std::function<void()> finished = nullptr)
{
    leak_without_gil guard(keep_alive);
    auto &orphans = orphaned_sends();
    orphans.erase(std::remove_if(orphans.begin(), orphans.end(), [](auto &o) { return o.first->is_done(); }),
                  orphans.end());
    auto state = std::make_shared<sync_send_state>();
    state->finished = std::move(finished);
    auto enqueue = [&] {
        try
        {
            s.async_send_heaps(refs, n, [state](const std::error_code &ec, item_pointer_t bytes) {
                if (state->finished)
                    state->finished();
                std::lock_guard<std::mutex> lock(state->mutex);
                state->error = ec;
                state->bytes = bytes;
                state->done = true;
                state->cond.notify_all();
            }, mode);
        }
        catch (...)
        {
            if (state->finished)
                state->finished();
            throw;
        }
    };
    /* A small heap on an idle stream is sent inline in a microsecond or two.  Doing
     * that with the GIL held matters when another Python thread (typically the
     * receiver) waits for the GIL: releasing it would hand it over and cost a thread
     * switch per heap to get it back.  A group of heaps (send_heaps) releases it: the
     * hand-off is shared by the group, and the receiver runs while the group is sent
     * (small-heaps-batch in ../shared/bench went from 0.97x to 1.4x the reference).
     * Nothing on this path takes the GIL. */
    if (n == 1 && payload_bytes(refs, n) <= inline_send_bytes)
        small_send_sharing_gil(enqueue);
    else
        without_gil(enqueue);
    if (!state->is_done())
    {
        try
        {
            interruptible_wait([&state](auto timeout) { return state->wait_for(timeout); });
        }
        catch (py::error_already_set &)
        {
            orphans.emplace_back(state, std::move(keep_alive));
            throw;
        }
    }
    if (state->error)
        throw std::system_error(state->error);
    return state->bytes;
}

/* A stream of class T (constructed as T(pool, config, writer)) over the writer that
 * @a make_writer returns.  The writer is made without the GIL, as a transport's may
 * take a while to set up (opening a device, creating rings, registering memory), and
 * the stream is stopped at interpreter shutdown. */
template<typename T, typename MakeWriter>
std::shared_ptr<T> make_stream_without_gil(std::shared_ptr<thread_pool> pool, const send::stream_config &config,
                                           MakeWriter &&make_writer)
{
    auto stream = without_gil([&] { return make_gil_released_shared<T>(pool, config, make_writer()); });
    return stop_at_shutdown(std::move(stream));
}

/// The send of define_sync_send_methods unless a stream needs its own.
struct plain_sync_send
{
    item_pointer_t operator()(send::stream &s, const send::heap_reference *refs, std::size_t n,
                              send::group_mode mode, py::object keep_alive) const
    {
        return sync_send(s, refs, n, mode, std::move(keep_alive));
    }
};

/* Add send_heap / send_heaps to a synchronous stream class.  @a send is called as
 * send(stream, refs, n, mode, keep_alive) and returns the bytes sent (default: sync_send). */
template<typename Class, typename Send = plain_sync_send>
void define_sync_send_methods(Class &cls, Send send = Send())
{
    using stream_type = typename Class::type;
    cls.def(
           "send_heap",
           [send](stream_type &s, const py_heap &heap, s_item_pointer_t cnt, std::size_t substream_index,
                  double rate) {
               send::heap_reference ref{&heap.h, cnt, substream_index, rate};
               return send(s, &ref, 1, send::group_mode::SERIAL, python_object(heap));
           },
           py::arg("heap"), py::arg("cnt") = -1, py::arg("substream_index") = 0, py::arg("rate") = -1.0,
           "Send a heap and wait until it is transmitted; returns the number of bytes sent.")
        .def(
            "send_heaps",
            [send](stream_type &s, const py_heap_reference_list &heaps, send::group_mode mode) {
                return send(s, heaps.refs.data(), heaps.refs.size(), mode, python_object(heaps));
            },
            py::arg("heaps"), py::arg("mode"),
            "Send a group of heaps atomically, interleaved according to mode; returns the bytes sent.")
        .def(
            "send_heaps",
            [send](stream_type &s, const std::vector<py_heap_reference> &heaps, send::group_mode mode) {
                py::object list = py::cast(py_heap_reference_list(heaps));
                const auto &converted = list.cast<const py_heap_reference_list &>();
                return send(s, converted.refs.data(), converted.refs.size(), mode, std::move(list));
            },
            py::arg("heaps"), py::arg("mode"));
}

/* The native base of an asyncio send stream (spead2._spead2.send.XxxStreamAsyncio):
 * completions are queued by worker threads without the GIL and run later on the
 * Python thread by process_callbacks(), when the event loop sees fd readable. */
template<typename Base>
class async_stream : public Base
{
private:
    struct completion
    {
        std::uint64_t token;
        std::error_code error;
        item_pointer_t bytes;
    };

    std::mutex mutex;
    std::condition_variable pending_cond;
    std::vector<completion> pending;
    readiness_fd ready;
    /// Callback and the objects it keeps alive, per token; touched only with the GIL.
    std::unordered_map<std::uint64_t, std::pair<py::object, py::object>> callbacks;
    std::uint64_t next_token = 0;

    send::completion_handler make_handler(std::uint64_t token)
    {
        return [this, token](const std::error_code &error, item_pointer_t bytes) {
            std::lock_guard<std::mutex> lock(mutex);
            if (pending.empty())
                ready.set();
            pending.push_back({token, error, bytes});
            pending_cond.notify_all();
        };
    }

public:
    using Base::Base;

    ~async_stream() override
    {
        // Completions refer to the callbacks: wait for them (or cancel a stall), then drop the callbacks.
        this->close();
        if (!callbacks.empty())
        {
            py::gil_scoped_acquire gil;
            callbacks.clear();
        }
    }

    int get_fd() const { return ready.get_fd(); }

    /// Queue heaps; @a keep_alive holds what they reference until @a callback has run.
    bool async_send(const send::heap_reference *refs, std::size_t n, send::group_mode mode,
                    py::object callback, py::object keep_alive)
    {
        std::uint64_t token = next_token++;
        callbacks.emplace(token, std::make_pair(std::move(callback), std::move(keep_alive)));
        return without_gil([&] { return this->async_send_heaps(refs, n, make_handler(token), mode); });
    }

    /// Wait (GIL released) for completions, then run their callbacks in order.
    void process_callbacks()
    {
        std::vector<completion> done;
        without_gil([&] {
            std::unique_lock<std::mutex> lock(mutex);
            pending_cond.wait(lock, [this] { return !pending.empty(); });
            done.swap(pending);
            ready.clear();
        });
        for (std::size_t i = 0; i < done.size(); i++)
        {
            auto pos = callbacks.find(done[i].token);
            py::object callback = std::move(pos->second.first);
            callbacks.erase(pos);   // releases the heaps before the callback runs
            py::object error = py::none();
            if (done[i].error)
                error = py::reinterpret_steal<py::object>(PyObject_CallFunction(
                    PyExc_OSError, "is", done[i].error.value(), done[i].error.message().c_str()));
            try
            {
                callback(error, done[i].bytes);
            }
            catch (py::error_already_set &)
            {
                log_warning("send callback raised Python exception; expect deadlocks!");
                for (std::size_t j = i + 1; j < done.size(); j++)
                    callbacks.erase(done[j].token);
                throw;
            }
        }
    }
};

/// Add the asyncio-base interface (fd, async_send_heap(s), flush, process_callbacks).
template<typename Class>
void define_async_send_methods(Class &cls)
{
    using stream_type = typename Class::type;
    cls.def_property_readonly("fd", &stream_type::get_fd,
                              "File descriptor that is readable while completions wait for process_callbacks().")
        .def(
            "async_send_heap",
            [](stream_type &s, const py_heap &heap, py::object callback, s_item_pointer_t cnt,
               std::size_t substream_index, double rate) {
                send::heap_reference ref{&heap.h, cnt, substream_index, rate};
                return s.async_send(&ref, 1, send::group_mode::SERIAL, std::move(callback), python_object(heap));
            },
            py::arg("heap"), py::arg("callback"), py::arg("cnt") = -1, py::arg("substream_index") = 0,
            py::arg("rate") = -1.0,
            "Queue a heap; callback(exc, bytes) runs later from process_callbacks(). False if rejected.")
        .def(
            "async_send_heaps",
            [](stream_type &s, const py_heap_reference_list &heaps, py::object callback, send::group_mode mode) {
                return s.async_send(heaps.refs.data(), heaps.refs.size(), mode, std::move(callback),
                                    python_object(heaps));
            },
            py::arg("heaps"), py::arg("callback"), py::arg("mode"))
        .def(
            "async_send_heaps",
            [](stream_type &s, const std::vector<py_heap_reference> &heaps, py::object callback,
               send::group_mode mode) {
                py::object list = py::cast(py_heap_reference_list(heaps));
                auto &converted = list.cast<py_heap_reference_list &>();
                return s.async_send(converted.refs.data(), converted.refs.size(), mode, std::move(callback), list);
            },
            py::arg("heaps"), py::arg("callback"), py::arg("mode"))
        .def("flush", [](stream_type &s) {
                 // Interruptible: a peer that stopped reading must not trap the caller.
                 interruptible_wait([&s](auto timeout) { return s.flush_for(timeout); });
             }, "Block until every heap queued so far has completed.")
        .def("process_callbacks", &stream_type::process_callbacks,
             "Run the callbacks of completed sends (waits for one if none is ready).");
}

} // namespace spead2::python

#endif
