// decode_exit() with made-up exits: every outcome, every bad input.
#include <gtest/gtest.h>

#include "exit_decode.h"
#include "region_table.h"

namespace memfault {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kUF = MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT;
constexpr std::uint64_t kPriv = MEMFAULT_KVM_MEMORY_EXIT_FLAG_PRIVATE;
constexpr std::uint64_t kMiss = MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING;
constexpr auto kEom = MEMFAULT_MECHANISM_EXIT_ON_MISSING;
constexpr std::uint64_t kGiB = 1ull << 30, kMiB = 1ull << 20;

class ExitDecode : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(t.add_block("pc.ram", 64 * kMiB, kPage), MEMFAULT_OK);
        ASSERT_EQ(t.add_block("huge", 8 * kMiB, 2 * kMiB), MEMFAULT_OK);
        ASSERT_EQ(t.add_block("rom", 1 * kMiB, kPage), MEMFAULT_OK);
        // pc.ram split over two slots, as QEMU does below/above 4G.
        ASSERT_EQ(t.add_slot(0, 0, 32 * kMiB, 0x7f0000000000, "pc.ram", 0, true), MEMFAULT_OK);
        ASSERT_EQ(t.add_slot(1, 4 * kGiB, 32 * kMiB, 0x7f0002000000, "pc.ram", 32 * kMiB, true),
                  MEMFAULT_OK);
        ASSERT_EQ(t.add_slot(2, 8 * kGiB, 8 * kMiB, 0x7f1000000000, "huge", 0, true), MEMFAULT_OK);
        ASSERT_EQ(t.add_slot(3, 0xfff00000, 1 * kMiB, 0x7f2000000000, "rom", 0, true), MEMFAULT_OK);
        ASSERT_EQ(t.seed_block("pc.ram", nullptr, 64 * kMiB / kPage), MEMFAULT_OK);
        ASSERT_EQ(t.seed_block("huge", nullptr, 8 * kMiB / kPage), MEMFAULT_OK);
        // "rom" is never seeded: not demand-paged.
    }
    ExitDecision decode(std::uint64_t gpa, std::uint64_t size, std::uint64_t flags,
                        Phase p = Phase::kRunning,
                        MemfaultMechanism m = MEMFAULT_MECHANISM_USERFAULT) {
        return decode_exit({gpa, size, flags}, t.current(), p, kPage, m);
    }
    ExitDecision eom(std::uint64_t gpa, std::uint64_t size, std::uint64_t flags,
                     Phase p = Phase::kRunning) {
        return decode(gpa, size, flags, p, kEom);
    }
    RegionTable t{kPage};
};

TEST_F(ExitDecode, MissingPageIsARequestForItsBlockPage) {
    auto d = decode(0x5000, kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.reason, MEMFAULT_WAIT);
    ASSERT_NE(d.slot, nullptr);
    EXPECT_EQ(d.slot->id, 0u);
    EXPECT_EQ(d.block_page, 5u);
    // Second slot: the block offset includes the slot's offset.
    d = decode(4 * kGiB + 0x3000, kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.block_page, 32 * kMiB / kPage + 3);
}

TEST_F(ExitDecode, PrivateWithUserfaultIsAccepted) {
    EXPECT_EQ(decode(0x5000, kPage, kUF | kPriv).outcome, ExitOutcome::kRequest);
}

TEST_F(ExitDecode, HugePageBlockRequestsTheHugePage) {
    auto d = decode(8 * kGiB + 2 * kMiB + 5 * kPage, kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.block_page, 1u);
    EXPECT_EQ(d.kvm_page, 512u + 5u);
}

TEST_F(ExitDecode, ArrivedPageIsPresent) {
    Block &b = *t.current().find_block("pc.ram")->block;
    t.mark_arrived(b, 5, 1);
    auto d = decode(0x5000, kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kPresent);
    EXPECT_EQ(d.reason, MEMFAULT_RESOLVED);
}

TEST_F(ExitDecode, MultiPageExitWaitsForTheFirstMissing) {
    Block &b = *t.current().find_block("pc.ram")->block;
    t.mark_arrived(b, 8, 2);
    auto d = decode(0x8000, 4 * kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.block_page, 10u);
    t.mark_arrived(b, 10, 2);
    EXPECT_EQ(decode(0x8000, 4 * kPage, kUF).outcome, ExitOutcome::kPresent);
}

TEST_F(ExitDecode, UnknownFlagsAreFatal) {
    EXPECT_EQ(decode(0x5000, kPage, kUF | (1ull << 5)).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(decode(0x5000, kPage, kUF | (1ull << 63)).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(decode(0x5000, kPage, ~0ull).outcome, ExitOutcome::kFatal);
}

TEST_F(ExitDecode, ExitWithoutUserfaultIsNotOurs) {
    EXPECT_EQ(decode(0x5000, kPage, 0).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(decode(0x5000, kPage, kPriv).reason, MEMFAULT_EFLAGS); // a conversion exit
}

TEST_F(ExitDecode, GpaOutsideEveryRegion) {
    EXPECT_EQ(decode(32 * kMiB, kPage, kUF).reason, MEMFAULT_ENOREGION); // just past slot 0
    EXPECT_EQ(decode(2 * kGiB, kPage, kUF).reason, MEMFAULT_ENOREGION);
    EXPECT_EQ(decode(~0ull & ~(kPage - 1), kPage, kUF).reason, MEMFAULT_ENOREGION);
}

TEST_F(ExitDecode, BadSizes) {
    EXPECT_EQ(decode(0x5000, 0, kUF).reason, MEMFAULT_ESIZE);
    EXPECT_EQ(decode(0x5000, 100, kUF).reason, MEMFAULT_ESIZE);
    EXPECT_EQ(decode(0x5000, kPage + 1, kUF).reason, MEMFAULT_ESIZE);
    EXPECT_EQ(decode(0x5001, kPage, kUF).reason, MEMFAULT_ESIZE);                // misaligned gpa
    EXPECT_EQ(decode(32 * kMiB - kPage, 2 * kPage, kUF).reason, MEMFAULT_ESIZE); // crosses slot end
    EXPECT_EQ(decode(0, ~0ull & ~(kPage - 1), kUF).reason, MEMFAULT_ESIZE);      // huge
}

TEST_F(ExitDecode, RegionNotDemandPaged) {
    EXPECT_EQ(decode(0xfff00000, kPage, kUF).reason, MEMFAULT_ENOTPAGED);
}

TEST_F(ExitDecode, PhaseDecides) {
    EXPECT_EQ(decode(0x5000, kPage, kUF, Phase::kEnded).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(decode(0x5000, kPage, kUF, Phase::kFailed).reason, MEMFAULT_FAILED);
    EXPECT_EQ(decode(0x5000, kPage, kUF, Phase::kShutdown).reason, MEMFAULT_SHUTDOWN);
    // Bad input is still reported as such after the end.
    EXPECT_EQ(decode(0x5000, 0, kUF, Phase::kEnded).reason, MEMFAULT_ESIZE);
}

// Issue 17, item 3: an exit KVM took before demand paging ended, or before a
// slot was removed or re-split, is decoded after.  Re-entering is right: KVM
// looks at the current slots and bits again.
TEST_F(ExitDecode, AfterTheEndEveryWellFormedExitIsRetry) {
    ASSERT_EQ(t.remove_slot(0), MEMFAULT_OK); // end-of-postcopy detach
    EXPECT_EQ(decode(0x5000, kPage, kUF, Phase::kEnded).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(decode(2 * kGiB, kPage, kUF, Phase::kEnded).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(decode(0xfff00000, kPage, kUF, Phase::kEnded).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(decode(8 * kGiB + 8 * kMiB - kPage, 2 * kPage, kUF, Phase::kEnded).outcome,
              ExitOutcome::kRetry);
    // A malformed exit is still not ours.
    EXPECT_EQ(decode(0x5000, kPage, kPriv, Phase::kEnded).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(decode(0x5001, kPage, kUF, Phase::kEnded).reason, MEMFAULT_ESIZE);
}

TEST_F(ExitDecode, ExitOnARemovedSlotIsRetry) {
    ASSERT_EQ(t.remove_slot(1), MEMFAULT_OK);
    auto d = decode(4 * kGiB + 0x3000, kPage, kUF);
    EXPECT_EQ(d.outcome, ExitOutcome::kRetry);
    EXPECT_EQ(d.reason, MEMFAULT_RETRY);
    // The other slots are unaffected.
    EXPECT_EQ(decode(0x5000, kPage, kUF).outcome, ExitOutcome::kRequest);
}

TEST_F(ExitDecode, ExitOnAReSplitSlotIsRetryOrDecodedAnew) {
    // Slot 0 (0-32 MiB) becomes 0-16 MiB, as when a region is carved out of it.
    ASSERT_EQ(t.remove_slot(0), MEMFAULT_OK);
    ASSERT_EQ(t.add_slot(5, 0, 16 * kMiB, 0x7f0000000000, "pc.ram", 0, true), MEMFAULT_OK);
    EXPECT_EQ(decode(0x5000, kPage, kUF).outcome, ExitOutcome::kRequest);
    EXPECT_EQ(decode(20 * kMiB, kPage, kUF).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(decode(16 * kMiB - kPage, 2 * kPage, kUF).outcome, ExitOutcome::kRetry);
}

TEST_F(ExitDecode, AnAddressNoSlotEverMappedStaysFatal) {
    ASSERT_EQ(t.remove_slot(0), MEMFAULT_OK);
    EXPECT_EQ(decode(2 * kGiB, kPage, kUF).reason, MEMFAULT_ENOREGION);
    EXPECT_EQ(decode(32 * kMiB, kPage, kUF).reason, MEMFAULT_ENOREGION);
    // Crossing from a live slot into space no slot ever mapped.
    EXPECT_EQ(decode(4 * kGiB + 32 * kMiB - kPage, 2 * kPage, kUF).reason, MEMFAULT_ESIZE);
}

TEST(ExitDecodeEmpty, NoRegionsAtAll) {
    RegionTable t{kPage};
    EXPECT_EQ(decode_exit({0, kPage, kUF}, t.current(), Phase::kRunning, kPage,
                          MEMFAULT_MECHANISM_USERFAULT)
                  .reason,
              MEMFAULT_ENOREGION);
}

// ---- Exit on missing ------------------------------------------------------

TEST_F(ExitDecode, ExitOnMissingRequestsAMissingPageAsUserfaultDoes) {
    auto d = eom(0x5000, kPage, kMiss);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.block_page, 5u);
    d = eom(8 * kGiB + 2 * kMiB + 5 * kPage, kPage, kMiss);
    EXPECT_EQ(d.outcome, ExitOutcome::kRequest);
    EXPECT_EQ(d.block_page, 1u);
}

TEST_F(ExitDecode, EachMechanismTakesOnlyItsOwnFlag) {
    EXPECT_EQ(eom(0x5000, kPage, kUF).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(eom(0x5000, kPage, kMiss | kPriv).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(eom(0x5000, kPage, kMiss | kUF).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(eom(0x5000, kPage, 0).reason, MEMFAULT_EFLAGS);
    EXPECT_EQ(decode(0x5000, kPage, kMiss).reason, MEMFAULT_EFLAGS);
}

// A page the engine has, or one of a block it does not page, is the kernel's
// (swapped out, migrating): the vCPU faults it in, it asks the source nothing.
TEST_F(ExitDecode, ExitOnMissingPopulatesWhatIsNotMissing) {
    Block &b = *t.current().find_block("pc.ram")->block;
    t.mark_arrived(b, 5, 1);
    auto d = eom(0x5000, kPage, kMiss);
    EXPECT_EQ(d.outcome, ExitOutcome::kPopulate);
    EXPECT_EQ(d.reason, MEMFAULT_RESOLVED);
    ASSERT_NE(d.slot, nullptr);
    EXPECT_EQ(d.slot->id, 0u);
    d = eom(0xfff00000, kPage, kMiss); // "rom" is not demand-paged
    EXPECT_EQ(d.outcome, ExitOutcome::kPopulate);
    EXPECT_EQ(d.reason, MEMFAULT_RESOLVED);
}

TEST_F(ExitDecode, ExitOnMissingAfterTheEndPopulatesOrRetries) {
    auto d = eom(0x5000, kPage, kMiss, Phase::kEnded);
    EXPECT_EQ(d.outcome, ExitOutcome::kPopulate);
    EXPECT_EQ(d.reason, MEMFAULT_RETRY);
    ASSERT_EQ(t.remove_slot(0), MEMFAULT_OK);
    EXPECT_EQ(eom(0x5000, kPage, kMiss, Phase::kEnded).outcome, ExitOutcome::kRetry);
    EXPECT_EQ(eom(0x5000, kPage, kMiss, Phase::kFailed).reason, MEMFAULT_FAILED);
}

} // namespace
} // namespace memfault
