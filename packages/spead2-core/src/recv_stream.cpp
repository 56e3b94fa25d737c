#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <spead2/common_logging.h>
#include <spead2/common_memcpy.h>
#include <spead2/recv_stream.h>

namespace spead2::recv
{

/* ---- statistics ---------------------------------------------------------- */

stream_stat_config::stream_stat_config(std::string name, mode m) : name(std::move(name)), stat_mode(m)
{
}

std::uint64_t stream_stat_config::combine(std::uint64_t a, std::uint64_t b) const
{
    return stat_mode == mode::COUNTER ? a + b : std::max(a, b);
}

bool stream_stat_config::operator==(const stream_stat_config &other) const
{
    return name == other.name && stat_mode == other.stat_mode;
}

stream_stats::stream_stats(std::shared_ptr<const stream_stat_list> config,
                           std::shared_ptr<const stream_stat_list> extensions,
                           std::vector<std::uint64_t> values)
    : config(std::move(config)), extensions(std::move(extensions)), values(std::move(values))
{
}

/// Index of @a name in @a config followed by @a extensions; throws std::out_of_range.
static std::size_t find_stat(const stream_stat_list &config, const stream_stat_list &extensions,
                             const std::string &name)
{
    for (std::size_t i = 0; i < config.size(); i++)
        if (config[i].get_name() == name)
            return i;
    for (std::size_t i = 0; i < extensions.size(); i++)
        if (extensions[i].get_name() == name)
            return config.size() + i;
    throw std::out_of_range(name + " is not a known statistic name");
}

/// The statistic at @a index of @a config followed by @a extensions.
static const stream_stat_config &stat_at(const stream_stat_list &config, const stream_stat_list &extensions,
                                         std::size_t index)
{
    return index < config.size() ? config[index] : extensions[index - config.size()];
}

std::size_t stream_stats::index_of(const std::string &name) const
{
    return find_stat(*config, *extensions, name);
}

stream_stats &stream_stats::operator+=(const stream_stats &other)
{
    if ((config != other.config && *config != *other.config)
        || (extensions != other.extensions && *extensions != *other.extensions))
        throw std::invalid_argument("config must match to add stats together");
    for (std::size_t i = 0; i < values.size(); i++)
        values[i] = stat_at(*config, *extensions, i).combine(values[i], other.values[i]);
    return *this;
}

/* ---- configuration ------------------------------------------------------- */

static std::shared_ptr<stream_stat_list> core_stats()
{
    using m = stream_stat_config::mode;
    // In index order (stream_stat_indices), which is not the historic property order.
    return std::make_shared<stream_stat_list>(stream_stat_list{
        stream_stat_config("heaps"),
        stream_stat_config("incomplete_heaps_evicted"),
        stream_stat_config("incomplete_heaps_flushed"),
        stream_stat_config("packets"),
        stream_stat_config("batches"),
        stream_stat_config("max_batch", m::MAXIMUM),
        stream_stat_config("single_packet_heaps"),
        stream_stat_config("search_dist"),
        stream_stat_config("worker_blocked"),
    });
}

stream_config::stream_config()
    : memcpy(std::memcpy), allocator(std::make_shared<memory_allocator>()), stats(core_stats()),
    extension_stats(std::make_shared<stream_stat_list>())
{
}

stream_config &stream_config::set_max_heaps(std::size_t max_heaps)
{
    if (max_heaps == 0)
        throw std::invalid_argument("max_heaps cannot be 0");
    this->max_heaps = max_heaps;
    return *this;
}

stream_config &stream_config::set_substreams(std::size_t substreams)
{
    if (substreams == 0)
        throw std::invalid_argument("substreams cannot be 0");
    this->substreams = substreams;
    return *this;
}

stream_config &stream_config::set_bug_compat(bug_compat_mask bug_compat)
{
    if (bug_compat & ~BUG_COMPAT_PYSPEAD_0_5_2)
        throw std::invalid_argument("unknown compatibility bits in bug_compat");
    this->bug_compat = bug_compat;
    return *this;
}

stream_config &stream_config::set_memcpy(memcpy_function_id id)
{
    memcpy = get_memcpy_function(id);
    return *this;
}

stream_config &stream_config::set_memcpy(memcpy_function f)
{
    memcpy = f;
    return *this;
}

stream_config &stream_config::set_memory_allocator(std::shared_ptr<memory_allocator> allocator)
{
    if (!allocator)
        throw std::invalid_argument("memory_allocator cannot be null");
    this->allocator = std::move(allocator);
    return *this;
}

std::size_t stream_config::add_stat(const std::string &name, stream_stat_config::mode mode)
{
    for (const auto &s : *stats)
        if (s.get_name() == name)
            throw std::invalid_argument("A statistic called " + name + " already exists");
    // Copy on write: configs are copied freely and must not share later additions.
    stats = std::make_shared<stream_stat_list>(*stats);
    stats->emplace_back(name, mode);
    return stats->size() - 1;
}

std::size_t stream_config::add_extension_stat(const std::string &name, stream_stat_config::mode mode)
{
    for (std::size_t i = 0; i < extension_stats->size(); i++)
        if ((*extension_stats)[i].get_name() == name)
        {
            if ((*extension_stats)[i].get_mode() != mode)
                throw std::invalid_argument("A statistic called " + name + " already exists with another mode");
            return stats->size() + i;
        }
    extension_stats = std::make_shared<stream_stat_list>(*extension_stats);
    extension_stats->emplace_back(name, mode);
    return stats->size() + extension_stats->size() - 1;
}

std::size_t stream_config::get_stat_index(const std::string &name) const
{
    return find_stat(*stats, *extension_stats, name);
}

namespace
{

std::mutex transport_stats_mutex;

stream_stat_list &transport_stats()
{
    static stream_stat_list stats;
    return stats;
}

} // anonymous namespace

void register_transport_stat(const std::string &name, stream_stat_config::mode mode)
{
    std::lock_guard<std::mutex> lock(transport_stats_mutex);
    for (const auto &s : transport_stats())
        if (s.get_name() == name)
        {
            if (s.get_mode() != mode)
                throw std::invalid_argument("A transport statistic called " + name
                                            + " is registered already with another mode");
            return;
        }
    transport_stats().emplace_back(name, mode);
}

/* ---- reader -------------------------------------------------------------- */

reader::reader(stream &owner) : owner(owner)
{
}

reader::~reader() = default;

void reader::stop()
{
}

thread_pool &reader::get_thread_pool() const
{
    return owner.get_thread_pool();
}

void reader::post(std::function<void()> task)
{
    owner.post_tracked(std::move(task));
}

/* ---- stream -------------------------------------------------------------- */

stream::stream(std::shared_ptr<thread_pool> pool, const stream_config &config)
    : pool(std::move(pool)), config(config)
{
    stream_config adjusted = config;
    malformed_packets_index = adjusted.add_extension_stat(stream_extension_stats::MALFORMED_PACKETS);
    rejected_packets_index = adjusted.add_extension_stat(stream_extension_stats::REJECTED_PACKETS);
    transport_dropped_index = adjusted.add_extension_stat(stream_extension_stats::TRANSPORT_DROPPED_PACKETS);
    {
        std::lock_guard<std::mutex> lock(transport_stats_mutex);
        for (const auto &s : transport_stats())
            adjusted.add_extension_stat(s.get_name(), s.get_mode());
    }
    this->config = adjusted;
    stats_config = std::make_shared<const stream_stat_list>(adjusted.get_stats());
    extension_stats_config = std::make_shared<const stream_stat_list>(adjusted.get_extension_stats());
    stats.resize(stats_config->size() + extension_stats_config->size());
    heap_slots.resize(config.get_max_heaps() * config.get_substreams());
    next_slot.resize(config.get_substreams());
}

stream::~stream()
{
    // Derived classes must have called stop() already; this only guards the readers.
    std::unique_lock<std::mutex> lock(outstanding_mutex);
    outstanding_cond.wait(lock, [this] { return outstanding == 0; });
}

void stream::task_done()
{
    std::lock_guard<std::mutex> lock(outstanding_mutex);
    if (--outstanding == 0)
        outstanding_cond.notify_all();
}

void stream::post_tracked(std::function<void()> task)
{
    {
        std::lock_guard<std::mutex> lock(outstanding_mutex);
        outstanding++;
    }
    stream *s = this;
    try
    {
        get_thread_pool().post([s, task = std::move(task)] {
            try
            {
                task();
            }
            catch (...)
            {
                s->task_done();
                throw;
            }
            s->task_done();
        });
    }
    catch (std::runtime_error &)
    {
        /* The thread pool was stopped under us: nothing will ever run, so stop the
         * stream rather than leave it waiting for data forever. */
        log_warning("thread pool stopped: receive stream cannot run its readers");
        s->task_done();
        add_packet_state state(*this);
        state.stop();
    }
}

void stream::post_locked(std::function<void()> task)
{
    post_tracked([this, task = std::move(task)] {
        add_packet_state batch(*this);
        if (!batch.is_stopped())
            task();
    });
}

stream_stats stream::get_stats() const
{
    std::lock_guard<std::mutex> lock(stats_mutex);
    return stream_stats(stats_config, extension_stats_config, stats);
}

const stream_stat_config &stream::stat_config(std::size_t index) const
{
    return stat_at(*stats_config, *extension_stats_config, index);
}

void stream::add_stat(std::size_t index, std::uint64_t value)
{
    std::lock_guard<std::mutex> lock(stats_mutex);
    stats[index] = stat_config(index).combine(stats[index], value);
}

void stream::add_reader(const std::function<std::unique_ptr<reader>(stream &)> &factory)
{
    std::lock_guard<std::mutex> readers_lock(readers_mutex);
    /* Not under queue_mutex: a reader blocked on a full ring holds it, and the caller
     * may be the very consumer that would drain the ring. */
    if (stopped || stop_requested)
        return;   // a stopped stream silently takes no more data
    if (config.get_explicit_start() && started)
        throw std::runtime_error("Cannot add readers after explicit start");
    readers.push_back(factory(*this));
    if (readers.back()->lossy())
        lossy = true;
    if (!config.get_explicit_start())
        readers.back()->start();
}

void stream::start()
{
    std::lock_guard<std::mutex> readers_lock(readers_mutex);
    if (!config.get_explicit_start() || started)
        return;
    started = true;
    for (auto &r : readers)
        r->start();
}

bool stream::is_stopped()
{
    return stopped;
}

void stream::stop()
{
    stop_requested = true;
    {
        std::lock_guard<std::mutex> readers_lock(readers_mutex);
        if (!readers_stopped)
        {
            readers_stopped = true;
            for (auto &r : readers)
                r->stop();
        }
    }
    {
        /* Readers finish what they already hold first, so that every heap that was
         * available is accounted for (stop() on a blocked stream must not lose
         * count of the rest of a buffer). */
        std::unique_lock<std::mutex> lock(outstanding_mutex);
        outstanding_cond.wait(lock, [this] { return outstanding == 0; });
    }
    std::lock_guard<std::mutex> lock(queue_mutex);
    if (!stopped)
        stop_received();
}

void stream::stop_received()
{
    stopped = true;
    flush_live_heaps();
}

void stream::flush_live_heaps()
{
    // Oldest first: each substream's slots in ring order starting at the next victim.
    const std::size_t max_heaps = config.get_max_heaps();
    std::uint64_t flushed = 0;
    for (std::size_t sub = 0; sub < next_slot.size(); sub++)
        for (std::size_t i = 0; i < max_heaps; i++)
        {
            auto &slot = heap_slots[sub * max_heaps + (next_slot[sub] + i) % max_heaps];
            if (slot)
            {
                std::unique_ptr<live_heap> h = std::move(slot);
                flushed++;
                heap_ready(std::move(*h));
            }
        }
    std::lock_guard<std::mutex> lock(stats_mutex);
    stats[stream_stat_indices::HEAPS] += flushed;
    stats[stream_stat_indices::INCOMPLETE_HEAPS_FLUSHED] += flushed;
}

void stream::evict(std::unique_ptr<live_heap> &slot)
{
    std::unique_ptr<live_heap> h = std::move(slot);
    {
        std::lock_guard<std::mutex> lock(stats_mutex);
        stats[stream_stat_indices::HEAPS]++;
        stats[stream_stat_indices::INCOMPLETE_HEAPS_EVICTED]++;
    }
    heap_ready(std::move(*h));
}

/* ---- packet processing --------------------------------------------------- */

stream::add_packet_state::add_packet_state(stream &owner)
    : owner(owner), lock(owner.queue_mutex), batch_stats(owner.stats.size())
{
    owner.active_batch_stats = batch_stats.data();
}

stream::add_packet_state::~add_packet_state()
{
    owner.active_batch_stats = nullptr;
    lock.unlock();
    fold_stats();
}

void stream::add_packet_state::fold_stats()
{
    std::uint64_t packets = batch_stats[stream_stat_indices::PACKETS]
                            + batch_stats[owner.malformed_packets_index];
    if (packets > 0)
    {
        batch_stats[stream_stat_indices::BATCHES] = 1;
        batch_stats[stream_stat_indices::MAX_BATCH] = packets;
    }
    else if (std::all_of(batch_stats.begin(), batch_stats.end(), [](std::uint64_t v) { return v == 0; }))
        return;   // an empty batch (e.g. a reader's final stop) leaves the stats lock alone
    std::lock_guard<std::mutex> stats_lock(owner.stats_mutex);
    for (std::size_t i = 0; i < batch_stats.size(); i++)
        owner.stats[i] = owner.stat_config(i).combine(owner.stats[i], batch_stats[i]);
    std::fill(batch_stats.begin(), batch_stats.end(), 0);
}

void stream::add_packet_state::add_malformed(packet_status status)
{
    batch_stats[owner.malformed_packets_index]++;
    log_info("packet rejected: {}", packet_status_message(status));
}

bool stream::add_packet_state::add_datagram(const std::uint8_t *data, std::size_t size)
{
    packet_header packet;
    packet_status status = decode_packet(packet, data, size);
    if (status == packet_status::ok && packet.total_length != size)
        status = packet_status::size_mismatch;
    if (status != packet_status::ok)
    {
        add_malformed(status);
        return false;
    }
    return add_packet(packet);
}

bool stream::add_packet_state::add_datagram(const datagram_piece *pieces, std::size_t n)
{
    if (n == 1)
        return add_datagram(pieces[0].data, pieces[0].size);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; i++)
        total += pieces[i].size;
    std::size_t packet_bytes;
    // packet_size reads the header and pointers only if they are all in the first piece.
    if (n == 0 || owner.placement || packet_size(pieces[0].data, pieces[0].size, packet_bytes) != packet_status::ok)
    {
        gather(pieces, n, gathered);
        return add_datagram(gathered.data(), gathered.size());
    }
    packet_header packet;
    // Reads only the header and the pointers, which are in the first piece.
    packet_status status = decode_packet(packet, pieces[0].data, total);
    if (status == packet_status::ok && packet.total_length != total)
        status = packet_status::size_mismatch;
    if (status != packet_status::ok)
    {
        add_malformed(status);
        return false;
    }
    if (packet.payload < pieces[0].data + pieces[0].size)
    {
        packet.payload_rest = pieces + 1;
        packet.n_payload_rest = n - 1;
    }
    else
    {
        // The first piece ends with the pointers: the payload starts in the second.
        packet.payload = pieces[1].data;
        packet.payload_rest = pieces + 2;
        packet.n_payload_rest = n - 2;
    }
    return add_packet(packet);
}

void stream::add_packet_state::add_transport_dropped(std::uint64_t packets)
{
    batch_stats[owner.transport_dropped_index] += packets;
}

void stream::add_packet_state::stop()
{
    // Statistics must be complete by the time a consumer sees the end of the stream.
    fold_stats();
    if (!owner.stopped)
        owner.stop_received();
}

bool stream::add_packet_state::add_packet(const packet_header &packet)
{
    const stream_config &config = owner.config;
    batch_stats[stream_stat_indices::PACKETS]++;
    auto reject = [this] {
        batch_stats[owner.rejected_packets_index]++;
        return false;
    };
    if (packet.heap_length < 0 && !config.get_allow_unsized_heaps())
    {
        log_info("packet rejected because it has no HEAP_LEN");
        return reject();
    }

    const std::size_t max_heaps = config.get_max_heaps();
    const std::size_t sub = std::size_t(packet.heap_cnt) % config.get_substreams();
    std::unique_ptr<live_heap> *slots = &owner.heap_slots[sub * max_heaps];
    std::unique_ptr<live_heap> *slot = nullptr;
    const bool single = packet.heap_length >= 0 && packet.heap_length == packet.payload_length;
    bool created = false;
    if (!single)
    {
        for (std::size_t i = 0; i < max_heaps; i++)
        {
            batch_stats[stream_stat_indices::SEARCH_DIST]++;
            if (slots[i] && slots[i]->get_cnt() == packet.heap_cnt)
            {
                slot = &slots[i];
                break;
            }
        }
    }
    if (!slot)
    {
        if (!config.get_allow_out_of_order() && packet.payload_offset != 0)
            return reject();
        // A new heap takes the substream's next slot, evicting its occupant.
        std::size_t &next = owner.next_slot[sub];
        slot = &slots[next];
        next = (next + 1) % max_heaps;
        if (*slot)
            owner.evict(*slot);
        /* A heap in one packet is normally complete at once and leaves the slot
         * again below; one that is not (an item address beyond its length) stays
         * live like any other, to be evicted or flushed, as the reference does. */
        if (single)
            batch_stats[stream_stat_indices::SINGLE_PACKET_HEAPS]++;
        if (owner.placement)
            *slot = std::make_unique<live_heap>(packet, config.get_bug_compat(), *owner.placement,
                                                owner.placement->place(packet, batch_stats.data()));
        else
            *slot = std::make_unique<live_heap>(packet, config.get_bug_compat());
        created = true;
    }

    live_heap &h = **slot;
    if (!h.add_packet(packet, config.get_memcpy(), *config.get_memory_allocator(),
                      config.get_allow_out_of_order()))
    {
        if (created)
            slot->reset();   // e.g. its memory could not be allocated
        return reject();
    }
    if (h.is_end_of_stream() && config.get_stop_on_stop_item())
    {
        // The stop heap is consumed, not delivered; the rest is flushed.
        slot->reset();
        stop();
        return true;
    }
    if (h.is_complete())
    {
        std::unique_ptr<live_heap> done = std::move(*slot);
        batch_stats[stream_stat_indices::HEAPS]++;
        owner.heap_ready(std::move(*done));
    }
    return true;
}

} // namespace spead2::recv
