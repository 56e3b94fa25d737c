#include <pybind11/native_enum.h>
#include <spead2/common_thread_pool.h>
#include <spead2/py_common.h>
#include <spead2/recv_chunk_stream_group.h>
#include "py_chunk.h"

namespace spead2::python
{

namespace
{

using recv::chunk_stream_group_config;
using recv::chunk_stream_group_member;
using recv::chunk_stream_ring_group;

/* group[index]: a member (negative indices from the end; IndexError outside) or, for a
 * slice, a list of them.  Every member returned keeps the group alive.  One function
 * for both, since pybind11 would apply keep_alive to a failed overload's result. */
py::object getitem(py::object self, py::object index)
{
    const chunk_stream_ring_group &group = self.cast<const chunk_stream_ring_group &>();
    auto member = [&](std::size_t i) {
        py::object out = py::cast(group.get_member_ptr(i));
        py::detail::keep_alive_impl(out, self);
        return out;
    };
    const py::ssize_t size = py::ssize_t(group.size());
    if (py::isinstance<py::slice>(index))
    {
        py::ssize_t start, stop, step, length;
        if (!index.cast<py::slice>().compute(size, &start, &stop, &step, &length))
            throw py::error_already_set();
        py::list out;
        for (py::ssize_t i = 0; i < length; i++)
            out.append(member(std::size_t(start + i * step)));
        return std::move(out);
    }
    py::ssize_t i = index.cast<py::ssize_t>();   // TypeError for what is not an integer
    if (i < 0)
        i += size;
    if (i < 0 || i >= size)
        throw py::index_error("group index out of range");
    return member(std::size_t(i));
}

} // anonymous namespace

void register_chunk_stream_group(py::module_ &m)
{
    py::class_<chunk_stream_group_config> config(
        m, "ChunkStreamGroupConfig", "Window size and eviction policy of a chunk stream group.");
    py::native_enum<chunk_stream_group_config::eviction_mode>(config, "EvictionMode", "enum.Enum",
                                                               "What the group does with a member that lags.")
        .value("LOSSY", chunk_stream_group_config::eviction_mode::LOSSY)
        .value("LOSSLESS", chunk_stream_group_config::eviction_mode::LOSSLESS)
        .finalize();
    config.attr("DEFAULT_MAX_CHUNKS") = chunk_stream_group_config::default_max_chunks;
    config
        .def(py::init([](std::size_t max_chunks, chunk_stream_group_config::eviction_mode mode) {
                 chunk_stream_group_config c;
                 c.set_max_chunks(max_chunks).set_eviction_mode(mode);
                 return c;
             }),
             py::kw_only(), py::arg("max_chunks") = chunk_stream_group_config::default_max_chunks,
             py::arg("eviction_mode") = chunk_stream_group_config::eviction_mode::LOSSY)
        .def_property("max_chunks", &chunk_stream_group_config::get_max_chunks,
                      [](chunk_stream_group_config &c, std::size_t n) { c.set_max_chunks(n); },
                      "Chunks the group fills at once (its window).")
        .def_property("eviction_mode", &chunk_stream_group_config::get_eviction_mode,
                      [](chunk_stream_group_config &c, chunk_stream_group_config::eviction_mode mode) {
                          c.set_eviction_mode(mode);
                      },
                      "What happens to a member still working on the oldest chunk: LOSSY or LOSSLESS.");

    py::class_<chunk_stream_group_member, recv::stream, std::shared_ptr<chunk_stream_group_member>>(
        m, "ChunkStreamGroupMember", "A stream of a chunk stream group; stop() stops the whole group.");

    py::class_<chunk_stream_ring_group, recv::chunk_ring_pair, std::shared_ptr<chunk_stream_ring_group>>(
        m, "ChunkStreamRingGroup", "Chunk streams filling one sequence of chunks together.")
        .def(py::init([](const chunk_stream_group_config &config, std::shared_ptr<chunk_ring> data_ring,
                         std::shared_ptr<chunk_ring> free_ring) {
                 return stop_at_shutdown(
                     make_gil_released_shared<chunk_stream_ring_group>(config, std::move(data_ring), std::move(free_ring)));
             }),
             py::arg("config"), py::arg("data_ringbuffer").none(false), py::arg("free_ringbuffer").none(false),
             py::keep_alive<1, 3>(), py::keep_alive<1, 4>())
        .def_property_readonly("config", [](const chunk_stream_ring_group &g) {
            // A copy without the internal allocate/ready functions: the settings only.
            chunk_stream_group_config c;
            c.set_max_chunks(g.get_config().get_max_chunks()).set_eviction_mode(g.get_config().get_eviction_mode());
            return c;
        }, "A copy of the group's configuration.")
        .def("emplace_back",
             [](std::shared_ptr<chunk_stream_ring_group> g, std::shared_ptr<thread_pool> pool,
                const recv::stream_config &config, const py_chunk_stream_config &chunk_config) {
                 // Without the GIL: a worker dropping a chunk may need it while holding the group's lock.
                 auto member = without_gil([&] {
                     const std::size_t index = g->size();
                     g->emplace_back(std::move(pool), config, chunk_config.config);
                     return g->get_member_ptr(index);
                 });
                 /* At exit the group must stop before the member's thread pool (newest
                  * first), whose worker may be waiting inside the group. */
                 stop_at_shutdown(std::move(g));
                 return member;
             },
             py::arg("thread_pool").none(false), py::arg("config"), py::arg("chunk_stream_config"),
             py::keep_alive<0, 1>(), "Add a member stream (before any reader is added to any member).")
        // A lambda, not &chunk_stream_ring_group::size: GCC's -fsanitize=vptr wrongly reports
        // a call through a member pointer into a base at a non-zero offset (chunk_stream_group).
        .def("__len__", [](const chunk_stream_ring_group &g) { return g.size(); })
        .def("__getitem__", &getitem, py::arg("index"), py::pos_only())
        .def("stop", [](chunk_stream_ring_group &g) { without_gil([&g] { g.stop(); }); },
             "Stop the rings, then every member (flushing their windows).");
}

} // namespace spead2::python
