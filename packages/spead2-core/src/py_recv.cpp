#include <tuple>
#include <pybind11/native_enum.h>
#include <pybind11/stl.h>
#include <spead2/common_memcpy.h>
#include <spead2/py_common.h>
#include <spead2/recv_heap.h>
#include <spead2/recv_inproc.h>
#include <spead2/recv_mem.h>
#include <spead2/recv_ring_stream.h>
#include <spead2/recv_stream.h>
#include "py_core.h"

namespace py = pybind11;

namespace spead2::python
{

namespace
{

using namespace spead2::recv;

/// spead2.recv.RawItem: one item of a received heap; keeps the heap alive.
struct py_raw_item
{
    std::shared_ptr<heap_base> owner;
    const item *it;
};

py::list heap_items(const std::shared_ptr<heap_base> &h)
{
    py::list out;
    for (const item &it : h->get_items())
        if (it.id != DESCRIPTOR_ID)   // descriptors are for get_descriptors()
            out.append(py_raw_item{h, &it});
    return out;
}

/* The heap moves out of the ring into memory allocated here, on the consuming
 * thread, which also frees it: nothing allocated by a worker is freed here. */
py::object to_python(any_heap &&h)
{
    return std::visit([](auto &&value) -> py::object {
        using T = std::decay_t<decltype(value)>;
        return py::cast(std::shared_ptr<heap_base>(std::make_shared<T>(std::move(value))));
    }, std::move(h));
}

py::object pop_heap(ring_stream &s, bool wait)
{
    return ring_pop(s.get_ringbuffer(), wait, to_python);
}

void register_stats(py::module_ &m)
{
    py::class_<stream_stat_config> stat_config(m, "StreamStatConfig", "Name and combining mode of a statistic.");
    py::native_enum<stream_stat_config::mode>(stat_config, "Mode", "enum.Enum", "How values are combined.")
        .value("COUNTER", stream_stat_config::mode::COUNTER)
        .value("MAXIMUM", stream_stat_config::mode::MAXIMUM)
        .finalize();
    stat_config
        .def(py::init<std::string, stream_stat_config::mode>(), py::arg("name"),
             py::arg("mode") = stream_stat_config::mode::COUNTER)
        .def_property_readonly("name", &stream_stat_config::get_name, "The statistic's name.")
        .def_property_readonly("mode", &stream_stat_config::get_mode,
                               "How values combine: COUNTER adds them, MAXIMUM keeps the larger.")
        .def("combine", &stream_stat_config::combine, "Combine two values of this statistic according to its mode.")
        .def("__eq__", [](const stream_stat_config &a, const stream_stat_config &b) { return a == b; }, py::is_operator())
        .def("__ne__", [](const stream_stat_config &a, const stream_stat_config &b) { return a != b; }, py::is_operator());

    auto names = [](const stream_stats &s) {
        py::list out;
        for (const auto &c : s.get_config())
            out.append(c.get_name());
        return out;
    };
    auto values = [](const stream_stats &s) {
        py::list out;
        for (std::size_t i = 0; i < s.size(); i++)
            out.append(s[i]);
        return out;
    };
    py::class_<stream_stats> stats(m, "StreamStats", "A snapshot of a stream's statistics, usable as a mapping.");
    stats
        .def("__getitem__", [](const stream_stats &s, std::size_t index) {
            if (index >= s.size())
                throw py::index_error("stats index out of range");
            return s[index];
        })
        .def("__getitem__", [](const stream_stats &s, const std::string &name) {
            try
            {
                return s[s.index_of(name)];
            }
            catch (std::out_of_range &)
            {
                throw py::key_error(name);
            }
        })
        .def("__setitem__", [](stream_stats &s, std::size_t index, std::uint64_t value) {
            if (index >= s.size())
                throw py::index_error("stats index out of range");
            s[index] = value;
        })
        .def("__setitem__", [](stream_stats &s, const std::string &name, std::uint64_t value) {
            try
            {
                s[s.index_of(name)] = value;
            }
            catch (std::out_of_range &)
            {
                throw py::key_error(name);
            }
        })
        // Names reach the extension statistics too (malformed_packets, ...): see recv_stream.h.
        .def("__contains__", [](const stream_stats &s, const std::string &name) {
            try
            {
                s.index_of(name);
                return true;
            }
            catch (std::out_of_range &)
            {
                return false;
            }
        })
        .def("get", [](const stream_stats &s, const std::string &name, py::object default_) -> py::object {
            try
            {
                return py::int_(s[s.index_of(name)]);
            }
            catch (std::out_of_range &)
            {
                return default_;
            }
        }, py::arg("name"), py::arg("default") = py::none(), py::pos_only(),
        "The statistic called name (extension statistics too), or default if there is none.")
        .def("__len__", &stream_stats::size)
        .def("__iter__", [names](const stream_stats &s) { return py::iter(names(s)); })
        .def("keys", [names](const stream_stats &s) { return py::iter(names(s)); },
             "Names of the statistics of the indexed layout, in index order.")
        .def("values", [values](const stream_stats &s) { return py::iter(values(s)); },
             "Values of the statistics of the indexed layout, in index order.")
        .def("items", [names, values](const stream_stats &s) {
            py::list out;
            py::list n = names(s), v = values(s);
            for (std::size_t i = 0; i < s.size(); i++)
                out.append(py::make_tuple(n[i], v[i]));
            return py::iter(out);
        }, "(name, value) pairs of the statistics of the indexed layout, in index order.")
        .def("__add__", [](const stream_stats &a, const stream_stats &b) {
            stream_stats out = a;
            out += b;
            return out;
        })
        .def("__iadd__", [](stream_stats &a, const stream_stats &b) -> stream_stats & { return a += b; })
        .def_property_readonly("config", [](const stream_stats &s) { return s.get_config(); },
                               "Name and mode of each statistic of the indexed layout, in index order.");

    py::module_ indices = public_submodule(m, "stream_stat_indices", "spead2._spead2.recv.stream_stat_indices");
    static const std::tuple<const char *, std::size_t, const char *> core_stats[] = {
        {"heaps", stream_stat_indices::HEAPS, "Heaps received, complete or not (incomplete ones included)."},
        {"incomplete_heaps_evicted", stream_stat_indices::INCOMPLETE_HEAPS_EVICTED,
         "Incomplete heaps evicted to make room for newer ones: packets were lost."},
        {"incomplete_heaps_flushed", stream_stat_indices::INCOMPLETE_HEAPS_FLUSHED,
         "Incomplete heaps flushed when the stream stopped."},
        {"packets", stream_stat_indices::PACKETS, "Packets received (including those refused)."},
        {"batches", stream_stat_indices::BATCHES, "Batches of packets the readers handed to the stream."},
        {"max_batch", stream_stat_indices::MAX_BATCH, "Packets in the largest batch."},
        {"single_packet_heaps", stream_stat_indices::SINGLE_PACKET_HEAPS,
         "Heaps that arrived in one packet (handed on without being assembled)."},
        {"search_dist", stream_stat_indices::SEARCH_DIST,
         "Live heaps looked at to find the heap of each packet, in total."},
        {"worker_blocked", stream_stat_indices::WORKER_BLOCKED,
         "Times a reader had to wait for room in the ring buffer."},
    };
    for (const auto &[name, index, doc] : core_stats)
    {
        std::string upper(name);
        for (char &c : upper)
            c = char(std::toupper(c));
        indices.attr(upper.c_str()) = index;
        std::size_t i = index;
        stats.def_property(
            name, [i](const stream_stats &s) { return s[i]; },
            [i](stream_stats &s, std::uint64_t value) { s[i] = value; }, doc);
    }
}

void register_configs(py::module_ &m)
{
    py::class_<stream_config>(m, "StreamConfig", "Receive stream configuration (keyword-only constructor).")
        .def(py::init<>())
        .def_property("max_heaps", &stream_config::get_max_heaps, &stream_config::set_max_heaps,
                      "Heaps assembled at once per substream; a packet of a new heap evicts the oldest.")
        .def_property("substreams", &stream_config::get_substreams, &stream_config::set_substreams,
                      "Heaps are split between this many sets of max_heaps slots, by heap cnt.")
        .def_property("bug_compat", &stream_config::get_bug_compat, &stream_config::set_bug_compat,
                      "Bug-compatibility flags of the sender's flavour (spead2.BUG_COMPAT_*).")
        .def_property(
            "memcpy",
            [](const stream_config &c) {
                for (auto id : {memcpy_function_id::STD, memcpy_function_id::NONTEMPORAL})
                    if (c.get_memcpy() == get_memcpy_function(id))
                        return int(id);
                throw std::invalid_argument("memcpy function is not one of the standard ones");
            },
            [](stream_config &c, int id) {
                if (id != int(memcpy_function_id::STD) && id != int(memcpy_function_id::NONTEMPORAL))
                    throw std::invalid_argument("Unknown memcpy function");
                c.set_memcpy(memcpy_function_id(id));
            },
            "How payload is copied: spead2.MEMCPY_STD or spead2.MEMCPY_NONTEMPORAL.")
        .def_property(
            "memory_allocator", &stream_config::get_memory_allocator,
            [](stream_config &c, py::object allocator) {
                // The reference accepts None and crashes later; refuse it now.
                if (!py::isinstance<memory_allocator>(allocator))
                    throw py::type_error("memory_allocator must be a spead2.MemoryAllocator");
                c.set_memory_allocator(allocator.cast<std::shared_ptr<memory_allocator>>());
            },
            "Where heap payloads are allocated (a spead2.MemoryAllocator, such as a MemoryPool).")
        .def_property("stop_on_stop_item", &stream_config::get_stop_on_stop_item, &stream_config::set_stop_on_stop_item,
                      "Whether a stop item ends the stream (otherwise its heap is delivered like any other).")
        .def_property("allow_unsized_heaps", &stream_config::get_allow_unsized_heaps,
                      &stream_config::set_allow_unsized_heaps,
                      "Whether heaps without HEAP_LENGTH are accepted (else their packets are refused).")
        .def_property("allow_out_of_order", &stream_config::get_allow_out_of_order,
                      &stream_config::set_allow_out_of_order,
                      "Whether a heap's packets may arrive in any order (else one out of order is refused).")
        .def_property("stream_id", &stream_config::get_stream_id, &stream_config::set_stream_id,
                      "A number of your choice identifying the stream (chunk streams copy it into chunks).")
        .def_property("explicit_start", &stream_config::get_explicit_start, &stream_config::set_explicit_start,
                      "Whether readers wait for start() before they deliver packets.")
        .def_property_readonly("stats", &stream_config::get_stats,
                               "Name and mode of each statistic of the indexed layout: the core ones, then custom ones.")
        .def("add_stat", &stream_config::add_stat, py::arg("name"),
             py::arg("mode") = stream_stat_config::mode::COUNTER,
             "Add a custom statistic; returns its index in the stream's statistics.")
        .def("get_stat_index", [](const stream_config &c, const std::string &name) {
            // Indices are those of the 4.x layout; extension statistics have none here.
            std::size_t index = c.get_stat_index(name);
            if (index >= c.get_stats().size())
                throw std::out_of_range(name + " is not a known statistic name");
            return index;
        }, py::arg("name"), "The index of the statistic called name in the indexed layout.")
        .def("next_stat_index", &stream_config::next_stat_index, "The index that add_stat would give next.")
        .def_property_readonly_static("DEFAULT_MAX_HEAPS", [](py::object) { return stream_config::default_max_heaps; });

    py::class_<ring_stream_config>(m, "RingStreamConfig", "Ring buffer configuration of recv.Stream (keyword-only constructor).")
        .def(py::init<>())
        .def_property("heaps", &ring_stream_config::get_heaps, &ring_stream_config::set_heaps,
                      "Capacity of the ring buffer, in heaps.")
        .def_property("contiguous_only", &ring_stream_config::get_contiguous_only,
                      &ring_stream_config::set_contiguous_only,
                      "Whether only complete heaps are delivered (else IncompleteHeap objects too).")
        .def_property("incomplete_keep_payload_ranges", &ring_stream_config::get_incomplete_keep_payload_ranges,
                      &ring_stream_config::set_incomplete_keep_payload_ranges,
                      "Whether an IncompleteHeap lists the payload ranges that arrived (payload_ranges).")
        .def_property_readonly_static("DEFAULT_HEAPS", [](py::object) { return ring_stream_config::default_heaps; });
}

void register_heaps(py::module_ &m)
{
    py::class_<py_raw_item>(m, "RawItem", py::buffer_protocol(), "An item of a received heap; exposes its bytes.")
        .def_property_readonly("id", [](const py_raw_item &r) { return r.it->id; }, "The item ID.")
        .def_property_readonly("is_immediate", [](const py_raw_item &r) { return r.it->is_immediate; },
                               "Whether the value was carried in the item pointer.")
        .def_property_readonly("immediate_value", [](const py_raw_item &r) { return r.it->immediate_value; },
                               "The value of an immediate item, as an integer.")
        .def_buffer([](py_raw_item &r) {
            return py::buffer_info(const_cast<std::uint8_t *>(r.it->data()), 1, py::format_descriptor<std::uint8_t>::format(), 1,
                                   {py::ssize_t(r.it->length)}, {py::ssize_t(1)}, false);
        });

    py::class_<heap_base, std::shared_ptr<heap_base>>(m, "HeapBase", "Common part of received heaps.")
        .def_property_readonly("cnt", &heap_base::get_cnt, "The heap cnt: the heap's number in the stream.")
        .def_property_readonly("flavour", [](const heap_base &h) { return flavour(h.get_flavour()); },
                               "The flavour the heap was received with.")
        .def("get_items", [](const std::shared_ptr<heap_base> &h) { return heap_items(h); },
             "The heap's items (not descriptors), addressed by address then immediates by value.")
        .def("is_start_of_stream", &heap_base::is_start_of_stream, "Whether the heap holds a stream-start control item.")
        .def("is_end_of_stream", &heap_base::is_end_of_stream, "Whether the heap holds a stream-stop control item.");

    py::class_<heap, heap_base, std::shared_ptr<heap>>(m, "Heap", "A heap all of whose payload arrived.")
        .def("get_descriptors", &heap::get_descriptors,
             "The descriptors the heap carries, undecoded (spead2._spead2.RawDescriptor objects).");

    py::class_<incomplete_heap, heap_base, std::shared_ptr<incomplete_heap>>(
        m, "IncompleteHeap", "A heap handed on before all its payload arrived; carries only immediates.")
        .def_property_readonly("heap_length", &incomplete_heap::get_heap_length,
                               "Payload length from HEAP_LENGTH, or -1 if the packets that arrived did not say.")
        .def_property_readonly("received_length", &incomplete_heap::get_received_length,
                               "Bytes of payload that arrived.")
        .def_property_readonly("payload_ranges", &incomplete_heap::get_payload_ranges,
                               "(start, end) byte ranges of the payload that arrived; empty unless\n"
                               "RingStreamConfig.incomplete_keep_payload_ranges is set.");
}

/* Configuration getters return copies (pybind11 would otherwise hand out references
 * into the stream, letting Python mutate a running stream's settings). */
void register_streams(py::module_ &m)
{
    py::class_<stream, std::shared_ptr<stream>>(m, "_Stream", "Base of receive streams: readers, statistics, stop.")
        .def_property_readonly("stats", &stream::get_stats, "A snapshot of the stream's statistics.")
        .def_property_readonly("config", [](const stream &s) { return stream_config(s.get_config()); },
                               "A copy of the stream's configuration.")
        .def("start", &stream::start, "Start the readers of a stream made with explicit_start.")
        .def("stop", [](stream &s) { without_gil([&s] { s.stop(); }); },
             "Stop the stream: the readers stop and the heaps being assembled are flushed.")
        .def_property_readonly_static("DEFAULT_UDP_MAX_SIZE", [](py::object) { return 9200; })
        .def_property_readonly_static("DEFAULT_UDP_BUFFER_SIZE", [](py::object) { return 8388608; })
        .def_property_readonly_static("DEFAULT_TCP_MAX_SIZE", [](py::object) { return 65536; })
        .def_property_readonly_static("DEFAULT_TCP_BUFFER_SIZE", [](py::object) { return 212992; });

    py::class_<ring_stream, stream, std::shared_ptr<ring_stream>> ring(
        m, "Stream", "A receive stream that delivers heaps through a ring buffer.");
    py::class_<ring_stream::ringbuffer_type>(ring, "Ringbuffer", "Live view of a stream's ring buffer.")
        .def("size", &ring_stream::ringbuffer_type::size, "Heaps waiting in the ring buffer.")
        .def("capacity", &ring_stream::ringbuffer_type::capacity, "The most heaps the ring buffer holds.");
    ring.def(py::init([](std::shared_ptr<thread_pool> pool, const stream_config &config,
                         const ring_stream_config &ring_config) {
                 return stop_at_shutdown(make_gil_released_shared<ring_stream>(std::move(pool), config, ring_config));
             }),
             py::arg("thread_pool").none(false), py::arg("config") = stream_config(),
             py::arg("ring_config") = ring_stream_config())
        .def("get", [](ring_stream &s) { return pop_heap(s, true); },
             "Wait for the next heap; raises spead2.Stopped once stopped and drained.")
        .def("get_nowait", [](ring_stream &s) { return pop_heap(s, false); },
             "The next heap if one is ready; raises spead2.Empty or spead2.Stopped.")
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", [](ring_stream &s) { return stop_iteration_at_stop([&s] { return pop_heap(s, true); }); })
        .def_property_readonly("fd", [](ring_stream &s) { return s.get_ringbuffer().get_data_fd(); },
                               "File descriptor that is readable while heaps are waiting (for event loops).")
        .def_property_readonly("ringbuffer", &ring_stream::get_ringbuffer, py::return_value_policy::reference_internal,
                               "A live view of the ring buffer.")
        .def_property_readonly("ring_config", [](const ring_stream &s) { return ring_stream_config(s.get_ring_config()); },
                               "A copy of the ring buffer's configuration.");

    m.def("_add_buffer_reader", [](py::object stream_obj, py::object buffer) {
        buffer_view view = request_contiguous_buffer(buffer);
        stream_obj.cast<stream &>().emplace_reader<mem_reader>(view.ptr, view.size);
        // The reader points into the buffer: it must outlive the stream.
        py::detail::keep_alive_impl(stream_obj, view.owner);
    }, py::arg("stream"), py::arg("buffer"));

    m.def("_add_inproc_reader", [](stream &s, std::shared_ptr<inproc_queue> queue) {
        s.emplace_reader<inproc_reader>(std::move(queue));
    }, py::arg("stream"), py::arg("queue").none(false));
}

} // namespace

void register_recv(py::module_ &parent)
{
    py::module_ m = public_submodule(parent, "recv", "spead2._spead2.recv");
    register_stats(m);
    register_configs(m);
    register_heaps(m);
    register_streams(m);
}

} // namespace spead2::python
