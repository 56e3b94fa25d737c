/* Logging: the core never prints; it hands messages to a replaceable sink.
 * The Python bindings install a sink that forwards to the "spead2" logger
 * without ever blocking a network thread on the GIL. */
#ifndef SPEAD2_COMMON_LOGGING_H
#define SPEAD2_COMMON_LOGGING_H

#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <spead2/common_defines.h>

namespace spead2
{

enum class log_level : int
{
    warning = 0,
    info = 1,
    debug = 2
};

typedef std::function<void(log_level, const std::string &)> log_function;

/// Replace the sink, returning the previous one. The default writes to stderr.
SPEAD2_API log_function set_log_function(log_function f);
SPEAD2_API void log_msg(log_level level, const std::string &msg);

namespace detail
{
inline void format_into(std::ostringstream &out, const char *fmt)
{
    out << fmt;
}

template<typename T, typename... Ts>
void format_into(std::ostringstream &out, const char *fmt, T &&value, Ts &&... rest)
{
    for (; *fmt; fmt++)
    {
        if (fmt[0] == '{' && fmt[1] == '}')
        {
            out << std::forward<T>(value);
            format_into(out, fmt + 2, std::forward<Ts>(rest)...);
            return;
        }
        out << *fmt;
    }
}
} // namespace detail

/// Format with "{}" placeholders.
template<typename... Ts>
std::string format(const char *fmt, Ts &&... args)
{
    std::ostringstream out;
    detail::format_into(out, fmt, std::forward<Ts>(args)...);
    return out.str();
}

template<typename... Ts>
void log_warning(const char *fmt, Ts &&... args)
{
    log_msg(log_level::warning, format(fmt, std::forward<Ts>(args)...));
}

template<typename... Ts>
void log_info(const char *fmt, Ts &&... args)
{
    log_msg(log_level::info, format(fmt, std::forward<Ts>(args)...));
}

} // namespace spead2

#endif
