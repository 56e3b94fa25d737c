#include <iostream>
#include <mutex>
#include <spead2/common_logging.h>

namespace spead2
{

namespace
{

const char *level_name(log_level level)
{
    switch (level)
    {
    case log_level::warning: return "warning";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
    }
    return "unknown";
}

void log_to_stderr(log_level level, const std::string &msg)
{
    std::cerr << "spead2: " << level_name(level) << ": " << msg << '\n';
}

std::mutex sink_mutex;
log_function sink = log_to_stderr;

} // namespace

log_function set_log_function(log_function f)
{
    std::lock_guard<std::mutex> lock(sink_mutex);
    log_function old = std::move(sink);
    sink = f ? std::move(f) : log_function(log_to_stderr);
    return old;
}

void log_msg(log_level level, const std::string &msg)
{
    std::lock_guard<std::mutex> lock(sink_mutex);
    sink(level, msg);
}

} // namespace spead2
