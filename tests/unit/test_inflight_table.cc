// The in-flight table against a plain map: joins, read-ahead inserts and
// arrivals in random order over enough pages that every shard's hash table
// grows, probes wrap around its end and deletions shift runs back.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "inflight_table.h"

namespace memfault {
namespace {

bool never_present() { return false; }

TEST(InflightTable, ALifecycle) {
    InflightTable t;
    const PageKey k = make_key(1, 42);
    const Waiter a{0, 7}, b{3, 1}, a_again{0, 8};
    EXPECT_EQ(t.join(k, &a, never_present), InflightTable::Join::kCreated);
    EXPECT_EQ(t.join(k, &b, never_present), InflightTable::Join::kJoined);
    EXPECT_EQ(t.join(k, &a_again, never_present), InflightTable::Join::kJoined);
    EXPECT_EQ(t.join(k, nullptr, never_present), InflightTable::Join::kJoined);
    EXPECT_EQ(t.join(make_key(1, 43), &a, [] { return true; }), InflightTable::Join::kPresent);
    EXPECT_FALSE(t.insert_if_absent(k, never_present));
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.keys(), std::vector<PageKey>{k});

    std::vector<Waiter> out;
    EXPECT_TRUE(t.complete(k, out, true));
    ASSERT_EQ(out.size(), 2u); // vCPU 0 once, with its newer generation
    EXPECT_EQ(out[0].vcpu, 0u);
    EXPECT_EQ(out[0].gen, 8u);
    EXPECT_EQ(out[1].vcpu, 3u);
    EXPECT_EQ(t.size(), 0u);
    out.clear();
    EXPECT_FALSE(t.complete(k, out, false)); // a duplicate
    EXPECT_FALSE(t.complete(make_key(2, 0), out, true)); // unrequested
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(t.arrival_counts().arrived, 2u);
    EXPECT_EQ(t.arrival_counts().unrequested, 1u);
}

TEST(InflightTable, MatchesAMapUnderRandomOperations) {
    InflightTable t;
    // The model: each page in flight and its waiters, one per vCPU.
    std::map<PageKey, std::map<std::uint32_t, std::uint64_t>> model;
    std::mt19937_64 rng(12345);
    // Enough pages that 64 shards of 16 cells each must grow several times;
    // two blocks, so keys differ in their top bits too.
    constexpr std::uint64_t kPages = 20000;
    std::uint64_t gen = 0, arrived = 0, unrequested = 0;
    for (int op = 0; op < 400000; op++) {
        const PageKey k = make_key(static_cast<std::uint32_t>(rng() % 2), rng() % kPages);
        const bool in = model.count(k) != 0;
        switch (rng() % 4) {
        case 0:
        case 1: { // a vCPU (or the fault thread) joins
            const Waiter w{static_cast<std::uint32_t>(rng() % 6), ++gen};
            const bool fault_thread = w.vcpu == 5;
            const auto j = t.join(k, fault_thread ? nullptr : &w, never_present);
            ASSERT_EQ(j, in ? InflightTable::Join::kJoined : InflightTable::Join::kCreated);
            auto &m = model[k];
            if (!fault_thread)
                m[w.vcpu] = w.gen;
            break;
        }
        case 2: // read-ahead
            ASSERT_EQ(t.insert_if_absent(k, never_present), !in);
            model[k];
            break;
        case 3: { // an arrival
            std::vector<Waiter> out;
            const bool first = rng() % 2;
            ASSERT_EQ(t.complete(k, out, first), in);
            arrived += first;
            unrequested += first && !in;
            std::map<std::uint32_t, std::uint64_t> got;
            for (const Waiter &w : out)
                ASSERT_TRUE(got.emplace(w.vcpu, w.gen).second) << "vCPU " << w.vcpu << " twice";
            if (in) {
                ASSERT_EQ(got, model[k]);
                model.erase(k);
            } else {
                ASSERT_TRUE(got.empty());
            }
            break;
        }
        }
        if (op % 50000 == 0)
            ASSERT_EQ(t.size(), model.size());
    }
    EXPECT_EQ(t.size(), model.size());
    std::vector<PageKey> keys = t.keys(), want;
    std::sort(keys.begin(), keys.end());
    for (const auto &kv : model)
        want.push_back(kv.first);
    EXPECT_EQ(keys, want);
    EXPECT_EQ(t.arrival_counts().arrived, arrived);
    EXPECT_EQ(t.arrival_counts().unrequested, unrequested);

    // Drain it in random order: every key must still be found after the
    // deletions before it moved its neighbours.
    std::shuffle(want.begin(), want.end(), rng);
    for (PageKey k : want) {
        std::vector<Waiter> out;
        ASSERT_TRUE(t.complete(k, out, false)) << std::hex << k;
    }
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(t.keys().empty());
}

} // namespace
} // namespace memfault
