#include <mutex>
#include <utility>
#include <vector>
#include <spead2/common_shutdown.h>

namespace spead2
{

namespace
{

struct entry
{
    std::weak_ptr<void> owner;
    std::function<void()> stop;
};

std::mutex registry_mutex;
std::vector<entry> registry;
std::size_t prune_at = 64;

} // namespace

void register_for_shutdown(std::weak_ptr<void> owner, std::function<void()> stop)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (registry.size() >= prune_at)
    {
        // Forget the dead; amortised by letting the list double between prunes.
        std::vector<entry> alive;
        for (auto &e : registry)
            if (!e.owner.expired())
                alive.push_back(std::move(e));
        registry = std::move(alive);
        prune_at = std::max<std::size_t>(64, 2 * registry.size());
    }
    registry.push_back({std::move(owner), std::move(stop)});
}

void shutdown_all()
{
    std::vector<entry> entries;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        entries.swap(registry);
    }
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
        if (std::shared_ptr<void> alive = it->owner.lock())
            it->stop();
}

} // namespace spead2
