// A log-linear latency histogram: 8 buckets per power of two (12.5% wide),
// exact below 8 ns, capped at 2^40 ns (18 minutes).  One writer (the vCPU
// thread that owns it) updates it with relaxed load+store, no RMW; any
// thread may read it at any time and gets a consistent-enough picture (each
// counter is individually atomic; a reader may miss the sample in progress).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace memfault {

class LatencyHistogram {
public:
    static constexpr unsigned kSubBits = 3;
    static constexpr unsigned kSub = 1u << kSubBits;
    static constexpr unsigned kMaxLog2 = 40;
    static constexpr unsigned kBuckets = (kMaxLog2 - kSubBits + 1) * kSub + kSub;

    static unsigned bucket_of(std::uint64_t ns) {
        if (ns < kSub)
            return static_cast<unsigned>(ns);
        if (ns >= (std::uint64_t{1} << (kMaxLog2 + 1)))
            ns = (std::uint64_t{1} << (kMaxLog2 + 1)) - 1;
        unsigned e = 63u - static_cast<unsigned>(__builtin_clzll(ns)); // >= kSubBits
        unsigned sub = static_cast<unsigned>(ns >> (e - kSubBits)) & (kSub - 1);
        return (e - kSubBits + 1) * kSub + sub;
    }
    // The largest value that falls in bucket @b.
    static std::uint64_t bucket_max(unsigned b) {
        if (b < kSub)
            return b;
        unsigned e = b / kSub + kSubBits - 1, sub = b % kSub;
        std::uint64_t lo = static_cast<std::uint64_t>(kSub + sub) << (e - kSubBits);
        return lo + (std::uint64_t{1} << (e - kSubBits)) - 1;
    }

    // Single writer only.
    void record(std::uint64_t ns) {
        auto &c = counts_[bucket_of(ns)];
        // relaxed: statistics; readers need no ordering with anything else
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (ns > max_.load(std::memory_order_relaxed))
            max_.store(ns, std::memory_order_relaxed);
    }

    std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }

    // Add this histogram's counts into @acc.
    void accumulate(std::array<std::uint64_t, kBuckets> &acc) const {
        for (unsigned i = 0; i < kBuckets; i++)
            acc[i] += counts_[i].load(std::memory_order_relaxed);
    }

    // The value at quantile @q (0..1) of @acc: the top of its bucket, never
    // above @max.  0 when empty.
    static std::uint64_t quantile(const std::array<std::uint64_t, kBuckets> &acc, double q,
                                  std::uint64_t max) {
        std::uint64_t total = 0;
        for (auto c : acc)
            total += c;
        if (!total)
            return 0;
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
        if (rank >= total)
            rank = total - 1;
        std::uint64_t seen = 0;
        for (unsigned i = 0; i < kBuckets; i++) {
            seen += acc[i];
            if (seen > rank)
                return bucket_max(i) < max ? bucket_max(i) : max;
        }
        return max;
    }

private:
    std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
    std::atomic<std::uint64_t> max_{0};
};

} // namespace memfault
