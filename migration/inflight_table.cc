// The in-flight table (inflight_table.h).
#include "inflight_table.h"

namespace memfault {

bool InflightTable::complete(PageKey key, std::vector<Waiter> &out) {
    Shard &s = shard_of(key);
    MutexLock l(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end())
        return false;
    out.insert(out.end(), it->second.waiters.begin(), it->second.waiters.end());
    s.map.erase(it);
    return true;
}

std::vector<PageKey> InflightTable::keys() const {
    std::vector<PageKey> out;
    for (const Shard &s : shards_) {
        MutexLock l(s.mu);
        for (const auto &kv : s.map)
            out.push_back(kv.first);
    }
    return out;
}

std::uint64_t InflightTable::size() const {
    std::uint64_t n = 0;
    for (const Shard &s : shards_) {
        MutexLock l(s.mu);
        n += s.map.size();
    }
    return n;
}

} // namespace memfault
