/* Header-only helpers for pybind11 bindings, shared by the core's _core module and by
 * plugin modules (which cannot link against symbols of another extension module). */
#ifndef SPEAD2_PY_COMMON_H
#define SPEAD2_PY_COMMON_H

#include <chrono>
#include <cstdint>
#include <memory>
#include <exception>
#include <optional>
#include <thread>
#include <type_traits>
#include <sys/syscall.h>
#include <unistd.h>
#include <pybind11/pybind11.h>
#include <spead2/common_defines.h>
#include <spead2/common_ringbuffer.h>
#include <spead2/common_shutdown.h>

namespace spead2::python
{

namespace py = pybind11;

inline bool interpreter_finalizing()
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* Run @a f without the GIL (for blocking calls).  A daemon thread that takes the GIL
 * back while the interpreter finalises is ended by CPython with a forced unwind; that
 * is harmless in ordinary code (pybind11 lets it through) but terminates the process
 * if it crosses a destructor, so the GIL is restored explicitly, not by RAII. */
template<typename F>
auto without_gil(F &&f) -> decltype(f())
{
    using result_type = decltype(f());
    std::exception_ptr error;
    PyThreadState *state = PyEval_SaveThread();
    if constexpr (std::is_void_v<result_type>)
    {
        try
        {
            f();
        }
        catch (...)
        {
            error = std::current_exception();
        }
        PyEval_RestoreThread(state);   // outside any try: a forced unwind passes through
        if (error)
            std::rethrow_exception(error);
    }
    else
    {
        std::optional<result_type> result;
        try
        {
            result.emplace(f());
        }
        catch (...)
        {
            error = std::current_exception();
        }
        PyEval_RestoreThread(state);
        if (error)
            std::rethrow_exception(error);
        return std::move(*result);
    }
}

/* Guards @a owner (a py::object, or a std::unique_ptr to what holds Python references)
 * in a frame that calls without_gil.  Should the frame be left without the GIL, which
 * happens only when CPython ends a daemon thread that takes the GIL back while the
 * interpreter finalises (the forced unwind above), @a owner is leaked: releasing it
 * would touch the interpreter without the GIL. */
template<typename Owner>
class leak_without_gil
{
private:
    Owner &owner;

public:
    explicit leak_without_gil(Owner &owner) : owner(owner) {}
    leak_without_gil(const leak_without_gil &) = delete;
    leak_without_gil &operator=(const leak_without_gil &) = delete;

    ~leak_without_gil()
    {
        if (!PyGILState_Check())
            (void) owner.release();
    }
};

/* RAII GIL release for code that already runs inside a destructor (holder deleters),
 * where a forced unwind would terminate the process whatever we do: a non-main
 * thread that finds the interpreter finalising waits forever instead (the process is
 * exiting).  Prefer without_gil everywhere else. */
class gil_release
{
private:
    bool main_thread;
    PyThreadState *state;

public:
    /* The interpreter is finalised by the thread that started it, the process's
     * initial thread, whose thread ID is the process ID (no Python call needed, which
     * matters: this may run during finalisation). */
    gil_release() : main_thread(syscall(SYS_gettid) == getpid()), state(PyEval_SaveThread())
    {
    }
    gil_release(const gil_release &) = delete;
    gil_release &operator=(const gil_release &) = delete;

    ~gil_release()
    {
        if (!main_thread && interpreter_finalizing())
            while (true)
                std::this_thread::sleep_for(std::chrono::hours(1));
        PyEval_RestoreThread(state);
    }
};

/* Deleter for holders of objects whose destructor may block (joining threads,
 * flushing queues): the GIL is released meanwhile, so that a worker thread that
 * needs it cannot deadlock against the destruction. */
struct gil_release_deleter
{
    template<typename T>
    void operator()(T *ptr) const
    {
        if (ptr && PyGILState_Check())
        {
            gil_release release;
            delete ptr;
        }
        else
            delete ptr;
    }
};

template<typename T, typename... Args>
std::shared_ptr<T> make_gil_released_shared(Args &&... args)
{
    return std::shared_ptr<T>(new T(std::forward<Args>(args)...), gil_release_deleter());
}

/* A shared copy of @a value (Python objects: references, buffer views) that any
 * thread may drop last, a worker destroying a stream included: the GIL is taken to
 * release it, and at interpreter exit, when there is no GIL to be had, it is leaked
 * rather than touch the interpreter. */
template<typename T>
std::shared_ptr<T> make_gil_safe_shared(T value)
{
    return std::shared_ptr<T>(new T(std::move(value)), [](T *ptr) {
        if (interpreter_finalizing())
            return;
        py::gil_scoped_acquire gil;
        delete ptr;
    });
}

/// A C-contiguous byte view of a Python buffer, kept valid by @a owner (a memoryview).
struct buffer_view
{
    py::object owner;
    const std::uint8_t *ptr = nullptr;
    std::size_t size = 0;
};

/* Raises TypeError for objects without the buffer protocol and ValueError (numpy's
 * "ndarray is not C-contiguous") for non-contiguous ones. */
inline buffer_view request_contiguous_buffer(py::handle obj)
{
    // The memoryview holds its own export, so the memory cannot move while it lives.
    buffer_view out;
    out.owner = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(obj.ptr()));
    if (!out.owner)
        throw py::error_already_set();
    const Py_buffer *view = PyMemoryView_GET_BUFFER(out.owner.ptr());
    if (!PyBuffer_IsContiguous(view, 'C'))
    {
        // Let the exporter refuse in its own words (numpy: "ndarray is not C-contiguous").
        Py_buffer contiguous;
        if (PyObject_GetBuffer(obj.ptr(), &contiguous, PyBUF_C_CONTIGUOUS) != 0)
            throw py::error_already_set();
        PyBuffer_Release(&contiguous);
        throw py::value_error("buffer is not C-contiguous");
    }
    out.ptr = static_cast<const std::uint8_t *>(view->buf);
    out.size = view->len;
    return out;
}

/* Wait for @a ready (a callable returning true when done, given a timeout) with the
 * GIL released, checking for signals between waits so that Ctrl-C interrupts. */
template<typename Wait>
void interruptible_wait(Wait &&wait)
{
    using namespace std::chrono_literals;
    while (true)
    {
        bool done = without_gil([&wait] { return wait(50ms); });
        if (done)
            return;
        if (PyErr_CheckSignals() != 0)
            throw py::error_already_set();
    }
}

/* Take the next item of @a ring for Python and return @a convert of it: tried first
 * (when items are waiting, releasing the GIL to wait costs more than the pop), then,
 * if @a wait, waited for with the GIL released and Ctrl-C honoured.  Throws
 * ringbuffer_empty (not waiting) or ringbuffer_stopped (stopped and drained). */
template<typename T, typename Convert>
py::object ring_pop(ringbuffer<T> &ring, bool wait, Convert &&convert)
{
    std::optional<T> item;
    while (true)
    {
        switch (ring.try_pop(item))
        {
        case ring_status::ok:
            return convert(std::move(*item));
        case ring_status::stopped:
            throw ringbuffer_stopped();
        default:
            if (!wait)
                throw ringbuffer_empty();
        }
        interruptible_wait([&ring](auto timeout) { return ring.wait_for_data(timeout); });
    }
}

/// For __next__ of a ring's consumer: @a get's result, with the ring's end as StopIteration.
template<typename F>
auto stop_iteration_at_stop(F &&get) -> decltype(get())
{
    try
    {
        return get();
    }
    catch (ringbuffer_stopped &)
    {
        throw py::stop_iteration();
    }
}

/* Give the classes defined in @a scope the public module name that spead2 4.x used
 * (e.g. "spead2._spead2.send"), whatever extension module defines them. */
inline py::module_ public_submodule(py::module_ &m, const char *name, const char *public_name)
{
    py::module_ sub = m.def_submodule(name);
    sub.attr("__name__") = public_name;
    return sub;
}

} // namespace spead2::python

#endif
