// The in-flight table (inflight_table.h).
#include "inflight_table.h"

namespace memfault {

bool InflightTable::complete(PageKey key, std::vector<Waiter> &out, bool first_arrival) {
    Shard &s = shard_of(key);
    MutexLock l(s.mu);
    auto it = s.map.find(key);
    if (first_arrival)
        s.counts.arrived++;
    if (it == s.map.end()) {
        if (first_arrival)
            s.counts.unrequested++;
        return false;
    }
    if (it->second.has_first)
        out.push_back(it->second.first);
    out.insert(out.end(), it->second.more.begin(), it->second.more.end());
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

InflightTable::ArrivalCounts InflightTable::arrival_counts() const {
    ArrivalCounts c;
    for (const Shard &s : shards_) {
        MutexLock l(s.mu);
        c.arrived += s.counts.arrived;
        c.unrequested += s.counts.unrequested;
    }
    return c;
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
