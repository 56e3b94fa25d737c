#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <pybind11/pybind11.h>
#include <spead2/common_logging.h>
#include <spead2/common_ringbuffer.h>
#include <spead2/common_shutdown.h>
#include <spead2/py_common.h>
#include "py_core.h"

namespace py = pybind11;

namespace spead2::python
{

namespace
{

/* Forwards C++ log messages to logging.getLogger("spead2").  Network threads only
 * push onto a bounded queue: they never wait for the GIL.  A dedicated thread takes
 * the GIL to emit.  Stopped at interpreter exit (atexit) so it never runs during
 * finalisation. */
class log_forwarder
{
private:
    static constexpr std::size_t capacity = 1024;
    std::mutex mutex;
    std::condition_variable cond;
    std::deque<std::pair<log_level, std::string>> queue;
    bool overflowed = false;
    bool stopping = false;
    bool exited = false;
    std::condition_variable exited_cond;
    std::thread thread;
    py::object logger;

    void emit(log_level level, const std::string &msg)
    {
        static const char *const methods[] = {"warning", "info", "debug"};
        try
        {
            logger.attr(methods[int(level)])("%s", msg);
        }
        catch (py::error_already_set &e)
        {
            e.discard_as_unraisable("spead2 log forwarding");
        }
    }

    void run()
    {
        std::unique_lock<std::mutex> lock(mutex);
        while (true)
        {
            cond.wait(lock, [this] { return stopping || !queue.empty(); });
            if (queue.empty())
            {
                exited = true;
                exited_cond.notify_all();
                return;
            }
            auto [level, msg] = std::move(queue.front());
            queue.pop_front();
            bool report_overflow = overflowed && queue.empty();
            if (report_overflow)
                overflowed = false;
            lock.unlock();
            /* Not RAII: if the interpreter is finalising, CPython ends this thread with
             * a forced unwind while it takes the GIL, which must not cross a destructor. */
            PyGILState_STATE gil = PyGILState_Ensure();
            emit(level, msg);
            if (report_overflow)
                emit(log_level::warning, "Log ringbuffer was full - some log messages were dropped");
            PyGILState_Release(gil);
            lock.lock();
        }
    }

public:
    log_forwarder() : logger(py::module_::import("logging").attr("getLogger")("spead2"))
    {
        thread = std::thread([this] { run(); });
        set_log_function([this](log_level level, const std::string &msg) { push(level, msg); });
    }

    void push(log_level level, const std::string &msg)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping)
            return;
        if (queue.size() >= capacity)
        {
            overflowed = true;
            return;
        }
        queue.emplace_back(level, msg);
        cond.notify_one();
    }

    /* Emit what is queued, then stop the thread. Called with the GIL held.  A logging
     * handler that blocks must not hang interpreter exit: after a grace period the
     * thread is left to itself. */
    void stop()
    {
        using namespace std::chrono_literals;
        set_log_function(nullptr);
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
        }
        cond.notify_all();
        if (!thread.joinable())
            return;
        bool finished = without_gil([this] {
            std::unique_lock<std::mutex> lock(mutex);
            return exited_cond.wait_for(lock, 2s, [this] { return exited; });
        });
        if (finished)
            thread.join();
        else
            thread.detach();
    }
};

log_forwarder *forwarder = nullptr;

} // namespace

void register_logging(py::module_ &m)
{
    forwarder = new log_forwarder();   // lives until process exit; stopped by _shutdown (atexit)
    m.def("log_info", [](const std::string &msg) { log_info("{}", msg); }, "Emit msg at INFO level through the native logging path.");
    m.def("_shutdown", [] {
        // Streams and pools may log while stopping: the forwarder needs the GIL.
        without_gil([] { shutdown_all(); });
        if (forwarder)
            forwarder->stop();
    }, "Stop every live receive stream and thread pool, then the log forwarder (at exit).");
}

} // namespace spead2::python

PYBIND11_MODULE(_core, m)
{
    using namespace spead2::python;
    /* The public name of this module is spead2._spead2 (user code touches it); every
     * class defined below gets its __module__ from this. */
    m.attr("__name__") = "spead2._spead2";
    m.doc() = "spead2 native core";

    py::register_exception<spead2::ringbuffer_stopped>(m, "Stopped", PyExc_Exception).attr("__doc__") =
        "The stream or ring buffer has stopped: nothing more will come (or may be put).";
    py::register_exception<spead2::ringbuffer_empty>(m, "Empty", PyExc_Exception).attr("__doc__") =
        "Nothing is ready yet (from a call that does not wait, such as get_nowait).";
    py::register_exception<spead2::ringbuffer_full>(m, "Full", PyExc_Exception).attr("__doc__") =
        "There is no room (from a call that does not wait, such as add_free_chunk on a full free ring).";
    py::register_exception_translator([](std::exception_ptr p) {
        try
        {
            if (p)
                std::rethrow_exception(p);
        }
        catch (const std::system_error &e)
        {
            const std::error_code &code = e.code();
            if (code.category() == std::system_category() || code.category() == std::generic_category())
            {
                py::object error = py::reinterpret_steal<py::object>(
                    PyObject_CallFunction(PyExc_OSError, "is", code.value(), code.message().c_str()));
                PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(error.ptr())), error.ptr());
            }
            else
                PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });

    register_logging(m);
    register_common(m);
    register_send(m);
    register_recv(m);
}
