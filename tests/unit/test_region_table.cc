// Region table and userfault bitmaps: registration rules, bitmap layout,
// seeding from a receivedmap, arrival clearing every alias, huge pages.
#include <gtest/gtest.h>

#include "atomic_bitmap.h"
#include "region_table.h"

namespace memfault {
namespace {

constexpr std::uint64_t kPage = 4096, kMiB = 1ull << 20;

bool bit(Slot *s, std::uint64_t i) {
    // The layout KVM reads: an array of unsigned long.
    const unsigned long *w = s->userfault.kvm_address();
    return (w[i / 64] >> (i % 64)) & 1;
}

Slot *slot(RegionTable &t, std::uint32_t id) { return const_cast<Slot *>(t.current().find_id(id)); }

TEST(AtomicBitmap, RangesAndBitLoads) {
    AtomicBitmap b(200);
    EXPECT_EQ(b.words(), 4u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.kvm_address()) % 8, 0u);
    EXPECT_EQ(b.set_range(60, 10, std::memory_order_relaxed), 10u);
    EXPECT_EQ(b.set_range(65, 10, std::memory_order_relaxed), 5u);
    EXPECT_TRUE(b.all_set(60, 15, std::memory_order_relaxed));
    EXPECT_FALSE(b.all_set(59, 2, std::memory_order_relaxed));
    EXPECT_EQ(b.load_bits(60, 64, std::memory_order_relaxed), (1ul << 15) - 1);
    b.clear_range(62, 3, std::memory_order_relaxed);
    EXPECT_EQ(b.load_bits(60, 8, std::memory_order_relaxed), 0b11100011ul);
    b.or_bits(126, 8, 0xff, std::memory_order_relaxed);
    EXPECT_TRUE(b.all_set(126, 8, std::memory_order_relaxed));
    b.and_not_bits(126, 8, 0x81, std::memory_order_relaxed);
    EXPECT_FALSE(b.test(126, std::memory_order_relaxed));
    EXPECT_TRUE(b.test(127, std::memory_order_relaxed));
    EXPECT_FALSE(b.test(133, std::memory_order_relaxed));
}

TEST(RegionTable, RegistrationRules) {
    RegionTable t{kPage};
    EXPECT_EQ(t.add_block("", kMiB, kPage), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_block("a", kMiB, 3000), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_block("a", kMiB, 2048), MEMFAULT_EINVAL); // below the KVM page
    EXPECT_EQ(t.add_block("a", kMiB + kPage, 2 * kMiB), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_block("a", 0, kPage), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_block("a", 4 * kMiB, kPage), MEMFAULT_OK);
    EXPECT_EQ(t.add_block("a", 4 * kMiB, kPage), MEMFAULT_EEXIST);

    EXPECT_EQ(t.add_slot(0, 0, kMiB, 0, "nope", 0, true), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(t.add_slot(0, 0, 0, 0, "a", 0, true), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_slot(0, 100, kMiB, 0, "a", 0, true), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_slot(0, 0, kMiB, 0, "a", 100, true), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_slot(0, 0, 8 * kMiB, 0, "a", 0, true), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(t.add_slot(0, 0, kMiB, 0, "a", 4 * kMiB, true), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(t.add_slot(0, ~0ull & ~(kPage - 1), kMiB, 0, "a", 0, true), MEMFAULT_EINVAL);
    EXPECT_EQ(t.add_slot(0, 0, kMiB, 0x1000000, "a", 0, true), MEMFAULT_OK);
    EXPECT_EQ(t.add_slot(0, 8 * kMiB, kMiB, 0, "a", 0, true), MEMFAULT_EEXIST);   // same id
    EXPECT_EQ(t.add_slot(1, kMiB / 2, kMiB, 0, "a", 0, true), MEMFAULT_EEXIST);   // overlap
    EXPECT_EQ(t.add_slot(1, kMiB, kMiB, 0x1100000, "a", kMiB, true), MEMFAULT_OK); // adjacent

    EXPECT_EQ(t.current().find_gpa(kMiB - kPage)->id, 0u);
    EXPECT_EQ(t.current().find_gpa(kMiB)->id, 1u);
    EXPECT_EQ(t.current().find_gpa(2 * kMiB), nullptr);
    EXPECT_EQ(t.current().find_host(0x1100000 + 5)->id, 1u);

    const Snapshot *before = &t.current();
    EXPECT_EQ(t.remove_slot(0), MEMFAULT_OK);
    EXPECT_EQ(t.remove_slot(0), MEMFAULT_ENOREGION);
    EXPECT_EQ(t.current().find_gpa(0), nullptr);
    // Readers holding an old snapshot still see a valid table.
    EXPECT_EQ(before->find_gpa(0)->id, 0u);
}

TEST(RegionTable, SeedSetsExactlyTheMissingPages) {
    RegionTable t{kPage};
    ASSERT_EQ(t.add_block("ram", 2 * kMiB, kPage), MEMFAULT_OK); // 512 pages
    ASSERT_EQ(t.add_slot(0, 0, kMiB, 0, "ram", 0, true), MEMFAULT_OK);
    ASSERT_EQ(t.add_slot(1, 16 * kMiB, kMiB, 0, "ram", kMiB, true), MEMFAULT_OK);
    EXPECT_FALSE(bit(slot(t, 0), 0)) << "no bits before seeding";

    std::vector<unsigned long> received(512 / 64, 0);
    for (unsigned i = 0; i < 512; i += 3)
        received[i / 64] |= 1ul << (i % 64);
    EXPECT_EQ(t.seed_block("ram", received.data(), 100), MEMFAULT_EINVAL);
    EXPECT_EQ(t.seed_block("nope", received.data(), 512), MEMFAULT_ENOBLOCK);
    ASSERT_EQ(t.seed_block("ram", received.data(), 512), MEMFAULT_OK);
    EXPECT_EQ(t.seed_block("ram", received.data(), 512), MEMFAULT_EBUSY);
    for (unsigned i = 0; i < 512; i++) {
        Slot *s = slot(t, i < 256 ? 0 : 1);
        EXPECT_EQ(bit(s, i % 256), i % 3 != 0) << "page " << i;
    }
}

TEST(RegionTable, ArrivalClearsEveryAliasAndSlotsAddedLaterAreSeeded) {
    RegionTable t{kPage};
    ASSERT_EQ(t.add_block("ram", kMiB, kPage), MEMFAULT_OK);
    ASSERT_EQ(t.add_slot(0, 0, kMiB, 0, "ram", 0, true), MEMFAULT_OK);
    ASSERT_EQ(t.add_slot(1, 64 * kMiB, 64 * kPage, 0, "ram", 64 * kPage, true), MEMFAULT_OK); // alias
    ASSERT_EQ(t.seed_block("ram", nullptr, 256), MEMFAULT_OK);
    EXPECT_TRUE(bit(slot(t, 0), 70));
    EXPECT_TRUE(bit(slot(t, 1), 6));
    Block &b = *t.current().find_block("ram")->block;
    EXPECT_EQ(t.mark_arrived(b, 70, 1), 1u);
    EXPECT_EQ(t.mark_arrived(b, 70, 1), 0u);
    EXPECT_FALSE(bit(slot(t, 0), 70));
    EXPECT_FALSE(bit(slot(t, 1), 6));
    EXPECT_TRUE(bit(slot(t, 1), 7));
    // A slot registered after seeding starts with the missing pages' bits.
    ASSERT_EQ(t.add_slot(2, 128 * kMiB, 64 * kPage, 0, "ram", 64 * kPage, true), MEMFAULT_OK);
    EXPECT_FALSE(bit(slot(t, 2), 6));
    EXPECT_TRUE(bit(slot(t, 2), 7));
    // ...unless demand paging has ended.
    ASSERT_EQ(t.add_slot(3, 256 * kMiB, 64 * kPage, 0, "ram", 64 * kPage, false), MEMFAULT_OK);
    EXPECT_FALSE(bit(slot(t, 3), 7));
    t.clear_all_userfault_bits();
    EXPECT_FALSE(bit(slot(t, 0), 0));
    EXPECT_FALSE(bit(slot(t, 2), 7));
}

TEST(RegionTable, HugePageArrivalClearsAllItsSmallPages) {
    RegionTable t{kPage};
    ASSERT_EQ(t.add_block("huge", 4 * kMiB, 2 * kMiB), MEMFAULT_OK);
    ASSERT_EQ(t.add_slot(0, 0, 4 * kMiB, 0, "huge", 0, true), MEMFAULT_OK);
    ASSERT_EQ(t.seed_block("huge", nullptr, 1024), MEMFAULT_OK);
    Block &b = *t.current().find_block("huge")->block;
    EXPECT_EQ(b.kvm_per_page, 512u);
    t.mark_arrived(b, 512, 512);
    for (unsigned i = 0; i < 1024; i++)
        EXPECT_EQ(bit(slot(t, 0), i), i < 512) << i;
    EXPECT_TRUE(b.page_present(1));
    EXPECT_FALSE(b.page_present(0));
}

} // namespace
} // namespace memfault
