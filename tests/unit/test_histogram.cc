#include <gtest/gtest.h>

#include "latency_histogram.h"

namespace memfault {
namespace {

TEST(LatencyHistogram, BucketsAreMonotonicAndTight) {
    unsigned prev = 0;
    for (std::uint64_t v = 0; v < 100000; v += 7) {
        unsigned b = LatencyHistogram::bucket_of(v);
        EXPECT_GE(b, prev);
        prev = b;
        EXPECT_GE(LatencyHistogram::bucket_max(b), v);
        // 12.5% buckets: the top of a bucket is within 1/8 of any value in it.
        EXPECT_LE(LatencyHistogram::bucket_max(b), v + v / 8 + 1) << v;
    }
    EXPECT_LT(LatencyHistogram::bucket_of(~0ull), LatencyHistogram::kBuckets);
}

TEST(LatencyHistogram, Quantiles) {
    LatencyHistogram h;
    for (int i = 1; i <= 1000; i++)
        h.record(static_cast<std::uint64_t>(i) * 1000);
    std::array<std::uint64_t, LatencyHistogram::kBuckets> acc{};
    h.accumulate(acc);
    auto p50 = LatencyHistogram::quantile(acc, 0.5, h.max());
    auto p99 = LatencyHistogram::quantile(acc, 0.99, h.max());
    EXPECT_NEAR(static_cast<double>(p50), 500000.0, 500000.0 / 8);
    EXPECT_NEAR(static_cast<double>(p99), 990000.0, 990000.0 / 8);
    EXPECT_EQ(h.max(), 1000000u);
    EXPECT_LE(LatencyHistogram::quantile(acc, 1.0, h.max()), h.max());
    std::array<std::uint64_t, LatencyHistogram::kBuckets> empty{};
    EXPECT_EQ(LatencyHistogram::quantile(empty, 0.5, 0), 0u);
}

} // namespace
} // namespace memfault
