/* Objects that own threads or wait on them (thread pools, receive and send streams)
 * register here so that the Python bindings can stop them all at interpreter exit,
 * newest first: no native thread may still be running while the interpreter
 * finalises, and no send stream may wait forever on a stalled peer. */
#ifndef SPEAD2_COMMON_SHUTDOWN_H
#define SPEAD2_COMMON_SHUTDOWN_H

#include <functional>
#include <memory>
#include <spead2/common_defines.h>

namespace spead2
{

/* Call @a stop at shutdown_all() if @a owner is still alive then.  Holding only a
 * weak reference, the registry never prolongs a lifetime, and an object whose
 * destruction has begun is skipped. */
SPEAD2_API void register_for_shutdown(std::weak_ptr<void> owner, std::function<void()> stop);

/// Stop every registered object that is still alive, newest first. Call without the GIL.
SPEAD2_API void shutdown_all();

template<typename T>
std::shared_ptr<T> stop_at_shutdown(std::shared_ptr<T> obj)
{
    T *raw = obj.get();
    register_for_shutdown(obj, [raw] { raw->stop(); });
    return obj;
}

} // namespace spead2

#endif
