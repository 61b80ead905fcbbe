// The in-flight table: block pages requested from the source and not yet
// arrived, with the vCPUs waiting for each.
//
// A page enters the table when the first thread faults on it (that thread
// sends the request) and leaves it when it arrives (the arriving thread takes
// the waiter list and wakes them).  Anyone faulting on a page in the table
// joins: it adds itself as a waiter and sends nothing.  A failed send leaves
// the page in the table, so memfault_resend_requests() finds it.
//
// The table is split into shards, each with its own mutex, so vCPUs faulting
// on memory of their own rarely share a lock; each shard is a hash table
// that allocates nothing per page.  No thread ever holds two shard locks,
// and nothing is called (send, wake) with a shard lock held.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sync.h"

namespace memfault {

// (block index, block page) packed into one word: 16 bits of block, 48 of page.
using PageKey = std::uint64_t;
constexpr PageKey make_key(std::uint32_t block, std::uint64_t page) {
    return (static_cast<std::uint64_t>(block) << 48) | (page & ((std::uint64_t{1} << 48) - 1));
}
constexpr std::uint32_t key_block(PageKey k) { return static_cast<std::uint32_t>(k >> 48); }
constexpr std::uint64_t key_page(PageKey k) { return k & ((std::uint64_t{1} << 48) - 1); }

// A vCPU waiting for a page: its index and the generation of that wait
// (VcpuWaiter ignores a wake for an older generation).
struct Waiter {
    std::uint32_t vcpu;
    std::uint64_t gen;
};

class InflightTable {
public:
    enum class Join {
        kPresent, // the page arrived meanwhile: nothing recorded
        kCreated, // first: the caller sends the request
        kJoined,  // already in flight: the caller sends nothing
    };

    // Record interest in @key.  @waiter (may be null: the fault thread) is
    // added to the waiters; a vCPU already waiting there has its generation
    // updated instead of being added twice.  @present() is evaluated under
    // the shard lock: the arrival marks the page present *before* taking the
    // same lock to complete it, so either we see it present or it sees us.
    template <class Present>
    Join join(PageKey key, const Waiter *waiter, Present present);

    // Read-ahead: insert @key with no waiter if it is neither present nor in
    // flight.  Returns whether it was inserted.
    template <class Present>
    bool insert_if_absent(PageKey key, Present present);

    // The page arrived: remove it and append its waiters to @out.  Returns
    // false when it was not in flight.  @first_arrival: the page was not
    // present before (counted here, under the lock the arrival takes anyway,
    // rather than in a counter every arriving thread would bounce).
    bool complete(PageKey key, std::vector<Waiter> &out, bool first_arrival);

    struct ArrivalCounts {
        std::uint64_t arrived = 0;     // first arrivals
        std::uint64_t unrequested = 0; // ... of pages not in flight
    };
    ArrivalCounts arrival_counts() const;

    // Every key in flight now (for resend), unsorted.
    std::vector<PageKey> keys() const;
    std::uint64_t size() const;

private:
    // Most pages have one waiter: it is stored inline, more go to `more`.
    struct Entry {
        Waiter first{0, 0};
        bool has_first = false;
        std::vector<Waiter> more;

        void add(const Waiter &w) {
            // A vCPU already waiting here (re-joined after a kick) only gets
            // its generation updated.
            if (has_first && first.vcpu == w.vcpu) {
                first.gen = w.gen;
                return;
            }
            for (auto &x : more) {
                if (x.vcpu == w.vcpu) {
                    x.gen = w.gen;
                    return;
                }
            }
            if (!has_first) {
                first = w;
                has_first = true;
            } else {
                more.push_back(w);
            }
        }
    };

    // One shard's pages: an open-addressing hash table (linear probing,
    // deletion by backward shift, so no tombstones).  A page's request and
    // arrival allocate nothing once the table has grown to the number of
    // pages in flight; a node-based map costs a malloc and a free per page.
    class Map {
    public:
        Map() : cells_(kInitial) {}
        // The entry of @key; @created says whether it was added now.
        Entry &find_or_add(PageKey key, std::uint64_t hash, bool &created);
        // Whether @key was there; its entry is moved to @out and removed.
        bool take(PageKey key, std::uint64_t hash, Entry &out);
        std::uint64_t size() const { return size_; }
        template <class F> void for_each_key(F f) const {
            for (const Cell &c : cells_)
                if (c.used)
                    f(c.key);
        }

    private:
        struct Cell {
            PageKey key = 0;
            bool used = false;
            Entry entry;
        };
        static constexpr std::size_t kInitial = 16; // 1 << (64 - shift_)
        std::size_t home(std::uint64_t hash) const {
            // A multiplicative hash's best bits are its top ones.
            return static_cast<std::size_t>(hash >> shift_);
        }
        void grow();

        std::vector<Cell> cells_;
        unsigned shift_ = 64 - 4; // 64 - log2(cells_.size())
        std::uint64_t size_ = 0;
    };

    struct alignas(64) Shard {
        mutable Mutex mu;
        Map map MF_GUARDED_BY(mu);
        ArrivalCounts counts MF_GUARDED_BY(mu);
    };
    static constexpr unsigned kShardBits = 6;
    static constexpr unsigned kShards = 1u << kShardBits;

    // A shard holds runs of 1 << kRunBits (64) neighbouring pages: a vCPU's
    // stream and its read-ahead stay in one shard, and vCPUs working on
    // memory of their own do not pass shard locks back and forth.  Runs are
    // spread over the shards by Fibonacci hashing.
    static constexpr unsigned kRunBits = 6;
    static std::uint64_t hash_of(PageKey k) { return k * 0x9E3779B97F4A7C15ull; }
    Shard &shard_of(PageKey k) { return shards_[hash_of(k >> kRunBits) >> (64 - kShardBits)]; }

    std::array<Shard, kShards> shards_;
};

template <class Present>
InflightTable::Join InflightTable::join(PageKey key, const Waiter *waiter, Present present) {
    const std::uint64_t h = hash_of(key);
    Shard &s = shard_of(key);
    MutexLock l(s.mu);
    if (present())
        return Join::kPresent;
    bool created;
    Entry &e = s.map.find_or_add(key, h, created);
    if (waiter)
        e.add(*waiter);
    return created ? Join::kCreated : Join::kJoined;
}

template <class Present>
bool InflightTable::insert_if_absent(PageKey key, Present present) {
    const std::uint64_t h = hash_of(key);
    Shard &s = shard_of(key);
    MutexLock l(s.mu);
    if (present())
        return false;
    bool created;
    s.map.find_or_add(key, h, created);
    return created;
}

} // namespace memfault
