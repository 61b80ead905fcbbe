// The in-flight table (inflight_table.h).
#include "inflight_table.h"

#include <utility>

namespace memfault {

InflightTable::Entry &InflightTable::Map::find_or_add(PageKey key, std::uint64_t hash,
                                                      bool &created) {
    // At most half full: probes stay short and there is always an empty cell.
    if ((size_ + 1) * 2 > cells_.size())
        grow();
    const std::size_t mask = cells_.size() - 1;
    std::size_t i = home(hash);
    for (; cells_[i].used; i = (i + 1) & mask) {
        if (cells_[i].key == key) {
            created = false;
            return cells_[i].entry;
        }
    }
    cells_[i].used = true;
    cells_[i].key = key;
    size_++;
    created = true;
    return cells_[i].entry;
}

bool InflightTable::Map::take(PageKey key, std::uint64_t hash, Entry &out) {
    const std::size_t mask = cells_.size() - 1;
    std::size_t i = home(hash);
    for (; cells_[i].used; i = (i + 1) & mask)
        if (cells_[i].key == key)
            break;
    if (!cells_[i].used)
        return false;
    out = std::move(cells_[i].entry);
    // Backward shift: move each later cell of the probe run whose home is
    // not in (i, j] into the hole, so every key stays reachable from its
    // home without tombstones.
    for (std::size_t j = (i + 1) & mask; cells_[j].used; j = (j + 1) & mask) {
        const std::size_t k = home(hash_of(cells_[j].key));
        const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        cells_[i].key = cells_[j].key;
        cells_[i].entry = std::move(cells_[j].entry);
        i = j;
    }
    cells_[i].used = false;
    cells_[i].entry = Entry{};
    size_--;
    return true;
}

void InflightTable::Map::grow() {
    std::vector<Cell> old(cells_.size() * 2);
    old.swap(cells_);
    shift_--;
    const std::size_t mask = cells_.size() - 1;
    for (Cell &c : old) {
        if (!c.used)
            continue;
        std::size_t i = home(hash_of(c.key));
        while (cells_[i].used)
            i = (i + 1) & mask;
        cells_[i].used = true;
        cells_[i].key = c.key;
        cells_[i].entry = std::move(c.entry);
    }
}

bool InflightTable::complete(PageKey key, std::vector<Waiter> &out, bool first_arrival) {
    const std::uint64_t h = hash_of(key);
    Shard &s = shard_of(key);
    // Taken out under the lock, read after it: the waiters of a page are
    // this call's alone once it is out of the table.
    Entry e;
    bool found;
    {
        MutexLock l(s.mu);
        if (first_arrival)
            s.counts.arrived++;
        found = s.map.take(key, h, e);
        if (!found && first_arrival)
            s.counts.unrequested++;
    }
    if (!found)
        return false;
    if (e.has_first)
        out.push_back(e.first);
    out.insert(out.end(), e.more.begin(), e.more.end());
    return true;
}

std::vector<PageKey> InflightTable::keys() const {
    std::vector<PageKey> out;
    for (const Shard &s : shards_) {
        MutexLock l(s.mu);
        s.map.for_each_key([&](PageKey k) { out.push_back(k); });
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
