// The engine through its C ABI, with a fake source that fails loudly on any
// request it was not told to expect.
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "fake_source.h"
#include "memfault/memfault.h"

namespace {

constexpr std::uint64_t kPage = 4096, kMiB = 1ull << 20, kGiB = 1ull << 30;
constexpr std::uint64_t kUF = MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT;
constexpr std::uint32_t kVcpus = 8;
constexpr std::int64_t kForever = -1;
// Waits that must end do so quickly; a generous bound turns a hang into a failure.
constexpr std::int64_t kBound = 10'000'000'000; // 10 s

class Engine : public ::testing::Test {
protected:
    void SetUp() override { create(0); }
    void TearDown() override { memfault_engine_free(e); }

    void create(std::uint32_t readahead, bool queued = false) {
        memfault_engine_free(e);
        MemfaultConfig c{kVcpus, 0, readahead, MEMFAULT_MECHANISM_USERFAULT};
        MemfaultOps ops = queued ? src.ops_queued() : src.ops();
        ASSERT_EQ(memfault_engine_new(&c, &ops, src.opaque(), &e), MEMFAULT_OK);
        // pc.ram: 64 MiB of 4K pages over two slots; huge: 8 MiB of 2M pages.
        ASSERT_EQ(memfault_block_add(e, "pc.ram", 64 * kMiB, kPage), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_add(e, "huge", 8 * kMiB, 2 * kMiB), MEMFAULT_OK);
        ASSERT_EQ(memfault_slot_add(e, 0, 0, 32 * kMiB, host(0), "pc.ram", 0), MEMFAULT_OK);
        ASSERT_EQ(memfault_slot_add(e, 1, 4 * kGiB, 32 * kMiB, host(32 * kMiB), "pc.ram", 32 * kMiB),
                  MEMFAULT_OK);
        ASSERT_EQ(memfault_slot_add(e, 2, 8 * kGiB, 8 * kMiB, host(1 * kGiB), "huge", 0), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_seed(e, "pc.ram", nullptr, 64 * kMiB / kPage), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_seed(e, "huge", nullptr, 8 * kMiB / kPage), MEMFAULT_OK);
    }
    static void *host(std::uint64_t off) { return reinterpret_cast<void *>(0x7f0000000000ull + off); }

    MemfaultStatus fault(std::uint32_t vcpu, std::uint64_t gpa) {
        return memfault_vcpu_handle_exit(e, vcpu, gpa, kPage, kUF);
    }
    MemfaultStatus arrive(std::uint64_t off, const char *id = "pc.ram", std::uint64_t len = kPage) {
        return memfault_page_arrived(e, id, off, len);
    }
    MemfaultStats stats() {
        MemfaultStats s;
        EXPECT_EQ(memfault_get_stats(e, &s), MEMFAULT_OK);
        return s;
    }
    bool userfault_bit(std::uint32_t slot, std::uint64_t page) {
        unsigned long *bm;
        std::uint64_t n;
        EXPECT_EQ(memfault_slot_bitmap(e, slot, &bm, &n), MEMFAULT_OK);
        return (__atomic_load_n(&bm[page / 64], __ATOMIC_ACQUIRE) >> (page % 64)) & 1;
    }

    FakeSource src;
    MemfaultEngine *e = nullptr;
};

TEST_F(Engine, OneFaultOneRequestThenArrival) {
    src.expect("pc.ram", 0x5000, kPage);
    EXPECT_TRUE(userfault_bit(0, 5));
    EXPECT_EQ(fault(0, 0x5000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, 0), MEMFAULT_TIMEDOUT);
    EXPECT_EQ(arrive(0x5000), MEMFAULT_OK);
    EXPECT_FALSE(userfault_bit(0, 5));
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(fault(0, 0x5000), MEMFAULT_RESOLVED) << "a stale exit after arrival";
    auto s = stats();
    EXPECT_EQ(s.exits, 2u);
    EXPECT_EQ(s.requests_sent, 1u);
    EXPECT_EQ(s.pages_arrived, 1u);
    EXPECT_EQ(s.inflight, 0u);
    EXPECT_EQ(s.latency_count, 2u);
}

TEST_F(Engine, NThreadsFaultingOnePageSendOneRequest) {
    src.expect("pc.ram", 4 * kGiB - 4 * kGiB + 32 * kMiB + 0x7000, kPage); // slot 1, page 7
    std::barrier start(kVcpus + 1);
    std::vector<std::thread> t;
    std::atomic<int> arrived{0};
    for (std::uint32_t v = 0; v < kVcpus; v++)
        t.emplace_back([&, v] {
            start.arrive_and_wait();
            ASSERT_EQ(fault(v, 4 * kGiB + 0x7000), MEMFAULT_WAIT);
            start.arrive_and_wait(); // everyone has joined before the page arrives
            ASSERT_EQ(memfault_vcpu_wait(e, v, kBound), MEMFAULT_ARRIVED);
            arrived++;
        });
    start.arrive_and_wait();
    start.arrive_and_wait();
    EXPECT_EQ(arrive(32 * kMiB + 0x7000), MEMFAULT_OK);
    for (auto &x : t)
        x.join();
    EXPECT_EQ(arrived.load(), static_cast<int>(kVcpus));
    EXPECT_EQ(src.count(), 1u);
    auto s = stats();
    EXPECT_EQ(s.requests_sent, 1u);
    EXPECT_EQ(s.requests_joined, kVcpus - 1);
}

TEST_F(Engine, FaultsOnDifferentPagesSendOneRequestEach) {
    for (std::uint32_t v = 0; v < kVcpus; v++)
        src.expect("pc.ram", (100 + v) * kPage, kPage);
    std::vector<std::thread> t;
    for (std::uint32_t v = 0; v < kVcpus; v++)
        t.emplace_back([&, v] {
            ASSERT_EQ(fault(v, (100 + v) * kPage), MEMFAULT_WAIT);
            ASSERT_EQ(arrive((100 + v) * kPage), MEMFAULT_OK);
            ASSERT_EQ(memfault_vcpu_wait(e, v, kBound), MEMFAULT_ARRIVED);
        });
    for (auto &x : t)
        x.join();
    EXPECT_EQ(stats().requests_sent, kVcpus);
    EXPECT_EQ(stats().requests_joined, 0u);
}

TEST_F(Engine, ArrivalBeforeTheRequest) {
    EXPECT_EQ(arrive(0x9000), MEMFAULT_OK);              // background stream got there first
    EXPECT_EQ(fault(0, 0x9000), MEMFAULT_RESOLVED);      // no request: the fake would fail
    EXPECT_EQ(memfault_vcpu_wait(e, 0, 0), MEMFAULT_EINVAL) << "nothing to wait for";
    EXPECT_EQ(stats().arrivals_unrequested, 1u);
}

TEST_F(Engine, ArrivalDuringTheRequest) {
    // The page lands while send_request is still running on the vCPU thread.
    src.expect("pc.ram", 0xa000, kPage);
    src.on_send = [&](const Request &r) { return memfault_page_arrived(e, r.idstr.c_str(), r.offset, r.len) == MEMFAULT_OK ? 0 : -EIO; };
    EXPECT_EQ(fault(0, 0xa000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, 0), MEMFAULT_ARRIVED) << "arrived already: no sleep";
}

TEST_F(Engine, ArrivalAfterTheRequestWhileWaiting) {
    src.expect("pc.ram", 0xb000, kPage);
    EXPECT_EQ(fault(3, 0xb000), MEMFAULT_WAIT);
    std::thread w([&] { EXPECT_EQ(memfault_vcpu_wait(e, 3, kBound), MEMFAULT_ARRIVED); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(arrive(0xb000), MEMFAULT_OK);
    w.join();
    MemfaultVcpuStats vs;
    ASSERT_EQ(memfault_get_vcpu_stats(e, 3, &vs), MEMFAULT_OK);
    EXPECT_GE(vs.blocked_ns, 10'000'000u);
    EXPECT_EQ(vs.exits, 1u);
    EXPECT_EQ(vs.requests_sent, 1u);
    EXPECT_EQ(vs.waits, 1u);
    EXPECT_FALSE(vs.waiting);
}

TEST_F(Engine, DuplicateAndUnrequestedArrivals) {
    src.expect("pc.ram", 0xc000, kPage);
    EXPECT_EQ(fault(0, 0xc000), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(0xc000), MEMFAULT_OK);
    EXPECT_EQ(arrive(0xc000), MEMFAULT_OK);
    EXPECT_EQ(arrive(0xd000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    auto s = stats();
    EXPECT_EQ(s.pages_arrived, 2u);
    EXPECT_EQ(s.arrivals_duplicate, 1u);
    EXPECT_EQ(s.arrivals_unrequested, 1u);
}

TEST_F(Engine, KickWhileWaitingThenRejoinWithoutANewRequest) {
    src.expect("pc.ram", 0xe000, kPage);
    EXPECT_EQ(fault(1, 0xe000), MEMFAULT_WAIT);
    std::thread w([&] { EXPECT_EQ(memfault_vcpu_wait(e, 1, kForever), MEMFAULT_KICKED); });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(memfault_vcpu_kick(e, 1), MEMFAULT_OK);
    w.join();
    // Back from QEMU's loop, the vCPU faults again: joins, sends nothing.
    EXPECT_EQ(fault(1, 0xe000), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(0xe000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 1, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(stats().kicks, 1u);
    EXPECT_EQ(stats().requests_sent, 1u);
    EXPECT_EQ(stats().requests_joined, 0u) << "rejoining its own request saves nothing";
    MemfaultVcpuStats vs;
    ASSERT_EQ(memfault_get_vcpu_stats(e, 1, &vs), MEMFAULT_OK);
    EXPECT_GE(vs.blocked_ns, 10'000'000u) << "the wait a kick ended is blocked time too";
}

// QEMU's blocktime counts a vCPU's wait from ops->wait_begin to the page's
// placement: once per wait, for the sender and for every vCPU that joins,
// never for a fault that did not wait, nor again after a kick.
TEST_F(Engine, WaitBeginIsReportedOncePerWait) {
    src.expect("pc.ram", 0x21000, kPage);
    EXPECT_EQ(fault(0, 0x21000), MEMFAULT_WAIT);
    EXPECT_EQ(fault(2, 0x21000), MEMFAULT_WAIT); // joins vCPU 0's request
    EXPECT_EQ(memfault_vcpu_kick(e, 2), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_KICKED);
    EXPECT_EQ(fault(2, 0x21000), MEMFAULT_WAIT); // the same wait goes on
    EXPECT_EQ(arrive(0x21000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(fault(3, 0x21000), MEMFAULT_RESOLVED); // present: no wait
    src.expect("pc.ram", 0x22000, kPage, -EIO);      // a failed send still waits
    EXPECT_EQ(fault(4, 0x22000), MEMFAULT_WAIT);
    const std::vector<Wait> want{
        {"pc.ram", 0x21000, 0}, {"pc.ram", 0x21000, 2}, {"pc.ram", 0x22000, 4}};
    EXPECT_EQ(src.waits(), want);
}

TEST_F(Engine, BlockedTimeCountsAWaitInProgressAndOneEndedByFailure) {
    src.expect("pc.ram", 0x11000, kPage);
    EXPECT_EQ(fault(3, 0x11000), MEMFAULT_WAIT);
    std::thread w([&] { EXPECT_EQ(memfault_vcpu_wait(e, 3, kForever), MEMFAULT_FAILED); });
    // The thread's wait begins whenever the scheduler lets it: wait for it,
    // not for a fixed time, then let 20 ms pass inside the wait.
    MemfaultVcpuStats vs{};
    while (memfault_get_vcpu_stats(e, 3, &vs) == MEMFAULT_OK && !vs.waiting)
        std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(memfault_get_vcpu_stats(e, 3, &vs), MEMFAULT_OK);
    EXPECT_TRUE(vs.waiting);
    EXPECT_GE(vs.blocked_ns, 20'000'000u) << "a wait in progress counts up to now";
    EXPECT_EQ(memfault_engine_fail(e), MEMFAULT_OK);
    w.join();
    ASSERT_EQ(memfault_get_vcpu_stats(e, 3, &vs), MEMFAULT_OK);
    EXPECT_FALSE(vs.waiting);
    EXPECT_GE(vs.blocked_ns, 20'000'000u) << "a page that never came still blocked the vCPU";
    EXPECT_EQ(stats().latency_count, 0u) << "no fault was resolved";
}

TEST_F(Engine, KickIsNeverLost) {
    EXPECT_EQ(memfault_vcpu_kick_all(e), MEMFAULT_OK); // before the vCPU waits
    src.expect("pc.ram", 0xf000, kPage);
    EXPECT_EQ(fault(2, 0xf000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_KICKED);
    EXPECT_EQ(fault(2, 0xf000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, 0), MEMFAULT_TIMEDOUT) << "a kick ends one wait only";
    EXPECT_EQ(arrive(0xf000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_ARRIVED);
}

TEST_F(Engine, ShutdownWhileNThreadsWait) {
    src.allow_any();
    std::vector<std::thread> t;
    std::atomic<int> shut{0};
    std::barrier in(kVcpus + 1);
    for (std::uint32_t v = 0; v < kVcpus; v++)
        t.emplace_back([&, v] {
            EXPECT_EQ(fault(v, (v % 3) * kPage), MEMFAULT_WAIT);
            in.arrive_and_wait();
            if (memfault_vcpu_wait(e, v, kBound) == MEMFAULT_SHUTDOWN)
                shut++;
        });
    // Every vCPU has faulted; the shutdown ends the waits in progress and
    // those about to begin alike, whatever the scheduler does meanwhile.
    in.arrive_and_wait();
    EXPECT_EQ(memfault_engine_shutdown(e), MEMFAULT_OK);
    for (auto &x : t)
        x.join();
    EXPECT_EQ(shut.load(), static_cast<int>(kVcpus));
    EXPECT_EQ(fault(0, 0x10000), MEMFAULT_SHUTDOWN);
}

TEST_F(Engine, FreeWhileNThreadsWait) {
    src.allow_any();
    std::vector<std::thread> t;
    std::barrier in(kVcpus + 1);
    for (std::uint32_t v = 0; v < kVcpus; v++)
        t.emplace_back([&, v] {
            ASSERT_EQ(fault(v, 0x20000), MEMFAULT_WAIT);
            in.arrive_and_wait();
            EXPECT_EQ(memfault_vcpu_wait(e, v, kForever), MEMFAULT_SHUTDOWN);
        });
    in.arrive_and_wait();
    // Free is allowed once they are blocked in the wait (not while entering it).
    for (std::uint32_t v = 0; v < kVcpus; v++) {
        MemfaultVcpuStats vs{};
        while (memfault_get_vcpu_stats(e, v, &vs) == MEMFAULT_OK && !vs.waiting)
            std::this_thread::yield();
    }
    memfault_engine_free(e); // must wake them all and return
    e = nullptr;
    for (auto &x : t)
        x.join();
}

TEST_F(Engine, FailWakesWaitersAndFailsLaterExits) {
    src.expect("pc.ram", 0x30000, kPage);
    EXPECT_EQ(fault(0, 0x30000), MEMFAULT_WAIT);
    std::thread w([&] { EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_FAILED); });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(memfault_engine_fail(e), MEMFAULT_OK);
    w.join();
    EXPECT_EQ(fault(1, 0x31000), MEMFAULT_FAILED);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x31000), MEMFAULT_FAILED);
    EXPECT_EQ(memfault_engine_end(e), MEMFAULT_OK) << "no going back from failed";
    EXPECT_EQ(fault(1, 0x31000), MEMFAULT_FAILED);
}

TEST_F(Engine, EndClearsBitsWakesWaitersAndLaterExitsRetry) {
    src.expect("pc.ram", 0x40000, kPage);
    EXPECT_EQ(fault(0, 0x40000), MEMFAULT_WAIT);
    std::thread w([&] { EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_RETRY); });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(memfault_engine_end(e), MEMFAULT_OK);
    w.join();
    EXPECT_FALSE(userfault_bit(0, 0x41));
    EXPECT_EQ(fault(1, 0x41000), MEMFAULT_RETRY);
    EXPECT_EQ(memfault_block_seed(e, "pc.ram", nullptr, 64 * kMiB / kPage), MEMFAULT_EBUSY);
}

// Issue 17, item 3: QEMU removes the slots from the engine at the end of
// postcopy before KVM drops the flag, and a slot can be removed or re-split
// during postcopy; an exit a vCPU took before is decoded after.  It must
// re-enter, not stop the VM, and send nothing.
TEST_F(Engine, StaleExitsAfterTheEndOrASlotRemovalRetry) {
    EXPECT_EQ(memfault_slot_remove(e, 1), MEMFAULT_OK);
    EXPECT_EQ(fault(0, 4 * kGiB + 0x3000), MEMFAULT_RETRY);
    EXPECT_EQ(fault(0, 2 * kGiB), MEMFAULT_ENOREGION); // never mapped
    EXPECT_EQ(memfault_engine_end(e), MEMFAULT_OK);
    EXPECT_EQ(memfault_slot_remove(e, 0), MEMFAULT_OK);
    EXPECT_EQ(memfault_slot_remove(e, 2), MEMFAULT_OK);
    EXPECT_EQ(fault(0, 0x5000), MEMFAULT_RETRY);
    EXPECT_EQ(fault(1, 8 * kGiB), MEMFAULT_RETRY);
    EXPECT_EQ(stats().requests_sent, 0u);
}

TEST_F(Engine, EveryBadExitIsAClearStatusAndSendsNothing) {
    // No expectations: any request fails the test.
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0x5000, kPage, kUF | (1ull << 7)), MEMFAULT_EFLAGS);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0x5000, kPage, 0), MEMFAULT_EFLAGS);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 2 * kGiB, kPage, kUF), MEMFAULT_ENOREGION);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0x5000, 0, kUF), MEMFAULT_ESIZE);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0x5000, 123, kUF), MEMFAULT_ESIZE);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0x5004, kPage, kUF), MEMFAULT_ESIZE);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 32 * kMiB - kPage, 2 * kPage, kUF), MEMFAULT_ESIZE);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, kVcpus, 0x5000, kPage, kUF), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_vcpu_handle_exit(nullptr, 0, 0x5000, kPage, kUF), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_vcpu_wait(e, kVcpus, 0), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, 0), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_vcpu_kick(e, kVcpus), MEMFAULT_EINVAL);
    // A region that is registered but not demand-paged.
    ASSERT_EQ(memfault_block_add(e, "rom", kMiB, kPage), MEMFAULT_OK);
    ASSERT_EQ(memfault_slot_add(e, 9, 0xfff00000, kMiB, host(2 * kGiB), "rom", 0), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 0xfff00000, kPage, kUF), MEMFAULT_ENOTPAGED);
    EXPECT_EQ(memfault_request_page(e, "rom", 0), MEMFAULT_ENOTPAGED);
    EXPECT_EQ(src.count(), 0u);
    for (auto s : {MEMFAULT_EFLAGS, MEMFAULT_ENOREGION, MEMFAULT_ESIZE, MEMFAULT_ENOTPAGED})
        EXPECT_TRUE(memfault_status_is_error(s));
}

TEST_F(Engine, BadArrivalsAndRegistrations) {
    EXPECT_EQ(arrive(0x5000, "nope"), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(arrive(0x5001), MEMFAULT_EINVAL);
    EXPECT_EQ(arrive(0x5000, "pc.ram", 0), MEMFAULT_EINVAL);
    EXPECT_EQ(arrive(0x5000, "pc.ram", 100), MEMFAULT_EINVAL);
    EXPECT_EQ(arrive(64 * kMiB), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(arrive(0, "huge", kPage), MEMFAULT_EINVAL) << "a huge page arrives whole";
    EXPECT_EQ(memfault_page_arrived_host(e, reinterpret_cast<void *>(16), kPage), MEMFAULT_ENOREGION);
    EXPECT_EQ(memfault_page_arrived(e, nullptr, 0, kPage), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_request_page(e, "nope", 0), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 64 * kMiB), MEMFAULT_ENOBLOCK);
    EXPECT_EQ(memfault_block_add(e, "pc.ram", kMiB, kPage), MEMFAULT_EEXIST);
    EXPECT_EQ(memfault_slot_add(e, 0, 16 * kGiB, kMiB, host(0), "pc.ram", 0), MEMFAULT_EEXIST);
    EXPECT_EQ(memfault_slot_add(e, 7, 0x1000, kMiB, host(0), "pc.ram", 0), MEMFAULT_EEXIST);
    EXPECT_EQ(memfault_slot_remove(e, 77), MEMFAULT_ENOREGION);
    unsigned long *bm;
    std::uint64_t n;
    EXPECT_EQ(memfault_slot_bitmap(e, 77, &bm, &n), MEMFAULT_ENOREGION);
    EXPECT_EQ(memfault_slot_bitmap(e, 0, nullptr, &n), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_block_seed(e, "pc.ram", nullptr, 64 * kMiB / kPage), MEMFAULT_EBUSY);
    EXPECT_EQ(stats().pages_arrived, 0u);
}

TEST_F(Engine, ConfigValidation) {
    MemfaultOps ops = src.ops(), none{nullptr, nullptr, nullptr};
    MemfaultEngine *x = nullptr;
    MemfaultConfig ok{1, 0, 0, MEMFAULT_MECHANISM_USERFAULT};
    EXPECT_EQ(memfault_engine_new(nullptr, &ops, nullptr, &x), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_engine_new(&ok, &none, nullptr, &x), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_engine_new(&ok, &ops, nullptr, nullptr), MEMFAULT_EINVAL);
    MemfaultConfig bad[] = {{0, 0, 0, 0}, {1, 1000, 0, 0}, {1, 2048, 0, 0}, {1, 0, 513, 0},
                            {1, 0, 0, 2}};
    for (auto &c : bad) {
        EXPECT_EQ(memfault_engine_new(&c, &ops, nullptr, &x), MEMFAULT_EINVAL);
        EXPECT_EQ(x, nullptr);
    }
    memfault_engine_free(nullptr);
}

TEST_F(Engine, BitmapIsWhatKvmReads) {
    unsigned long *bm;
    std::uint64_t n;
    ASSERT_EQ(memfault_slot_bitmap(e, 1, &bm, &n), MEMFAULT_OK);
    EXPECT_EQ(n, 32 * kMiB / kPage);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(bm) % 8, 0u);
    EXPECT_EQ(bm[0], ~0ul);
    ASSERT_EQ(memfault_page_arrived_host(e, host(32 * kMiB + 3 * kPage), 2 * kPage), MEMFAULT_OK);
    EXPECT_EQ(bm[0], ~0ul & ~(0b11ul << 3));
}

TEST_F(Engine, SeedFromReceivedmap) {
    ASSERT_EQ(memfault_block_add(e, "r", kMiB, kPage), MEMFAULT_OK);
    ASSERT_EQ(memfault_slot_add(e, 5, 32 * kGiB, kMiB, host(3 * kGiB), "r", 0), MEMFAULT_OK);
    std::vector<unsigned long> rx(4, 0);
    rx[0] = 0xff; // pages 0-7 came during precopy
    ASSERT_EQ(memfault_block_seed(e, "r", rx.data(), 256), MEMFAULT_OK);
    EXPECT_FALSE(userfault_bit(5, 7));
    EXPECT_TRUE(userfault_bit(5, 8));
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 32 * kGiB + 7 * kPage, kPage, kUF), MEMFAULT_RESOLVED);
}

// Issue 17, item 6: QEMU publishes the engine before seeding, because the
// fault thread already places pages.  A page placed after the seed's input
// (receivedmap) was read, but before the seed, is reported to the engine
// first: the seed must not mark it missing again.
TEST_F(Engine, AnArrivalBeforeTheSeedIsNotMarkedMissing) {
    ASSERT_EQ(memfault_block_add(e, "r", kMiB, kPage), MEMFAULT_OK);
    ASSERT_EQ(memfault_slot_add(e, 5, 32 * kGiB, kMiB, host(3 * kGiB), "r", 0), MEMFAULT_OK);
    std::vector<unsigned long> rx(4, 0); // read before the page below was placed
    ASSERT_EQ(memfault_page_arrived(e, "r", 9 * kPage, kPage), MEMFAULT_OK);
    ASSERT_EQ(memfault_block_seed(e, "r", rx.data(), 256), MEMFAULT_OK);
    EXPECT_FALSE(userfault_bit(5, 9)) << "a page in place would make KVM exit for good";
    EXPECT_TRUE(userfault_bit(5, 10));
    EXPECT_EQ(memfault_vcpu_handle_exit(e, 0, 32 * kGiB + 9 * kPage, kPage, kUF), MEMFAULT_RESOLVED);
}

TEST_F(Engine, HugePageRequestsAreBlockPageAligned) {
    src.expect("huge", 2 * kMiB, 2 * kMiB);
    EXPECT_EQ(fault(0, 8 * kGiB + 2 * kMiB + 37 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(fault(1, 8 * kGiB + 2 * kMiB + 300 * kPage), MEMFAULT_WAIT) << "same huge page: joins";
    EXPECT_TRUE(userfault_bit(2, 512));
    EXPECT_EQ(arrive(2 * kMiB, "huge", 2 * kMiB), MEMFAULT_OK);
    for (unsigned i = 512; i < 1024; i++)
        ASSERT_FALSE(userfault_bit(2, i)) << i;
    EXPECT_TRUE(userfault_bit(2, 511));
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(memfault_vcpu_wait(e, 1, kBound), MEMFAULT_ARRIVED);
}

TEST_F(Engine, FaultThreadSharesTheInflightTable) {
    src.expect("pc.ram", 0x50000, kPage);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x50123), MEMFAULT_OK);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x50000), MEMFAULT_WAIT); // joined
    EXPECT_EQ(fault(0, 0x50000), MEMFAULT_WAIT);                         // joined
    src.expect("pc.ram", 0x60000, kPage);
    EXPECT_EQ(fault(1, 0x60000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x60000), MEMFAULT_WAIT); // joined the vCPU's
    EXPECT_EQ(arrive(0x50000), MEMFAULT_OK);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x50000), MEMFAULT_RESOLVED);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(stats().requests_joined, 3u);
}

TEST_F(Engine, FailedSendIsKeptAndResent) {
    src.expect("pc.ram", 0x70000, kPage, -EIO); // postcopy paused
    EXPECT_EQ(fault(0, 0x70000), MEMFAULT_WAIT);
    src.expect("pc.ram", 0x71000, kPage, -EIO);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x71000), MEMFAULT_ESEND);
    EXPECT_EQ(stats().requests_failed, 2u);
    EXPECT_EQ(stats().inflight, 2u);
    // Recovery: both sent again, coalescing off so one request each.
    src.expect("pc.ram", 0x70000, kPage);
    src.expect("pc.ram", 0x71000, kPage);
    EXPECT_EQ(memfault_resend_requests(e), MEMFAULT_OK);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(stats().resends, 2u);
    EXPECT_EQ(arrive(0x70000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
}

TEST_F(Engine, ResendFailureIsReported) {
    src.expect("pc.ram", 0x70000, kPage);
    EXPECT_EQ(fault(0, 0x70000), MEMFAULT_WAIT);
    src.expect("pc.ram", 0x70000, kPage, -EIO);
    EXPECT_EQ(memfault_resend_requests(e), MEMFAULT_ESEND);
    EXPECT_EQ(stats().inflight, 1u);
}

class EngineReadahead : public Engine {
protected:
    void SetUp() override { create(4); }
};

TEST_F(EngineReadahead, TheWindowGrowsWithAStreamUpToItsMaximum) {
    src.expect("pc.ram", 10 * kPage, kPage); // the first fault: window 1
    EXPECT_EQ(fault(0, 10 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(10 * kPage), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    src.expect("pc.ram", 11 * kPage, 2 * kPage); // forward, within reach: 2
    EXPECT_EQ(fault(0, 11 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(11 * kPage, "pc.ram", 2 * kPage), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    src.expect("pc.ram", 13 * kPage, 4 * kPage); // 4, the maximum
    EXPECT_EQ(fault(0, 13 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(13 * kPage, "pc.ram", 4 * kPage), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    src.expect("pc.ram", 17 * kPage, 4 * kPage); // stays at 4
    EXPECT_EQ(fault(0, 17 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(stats().pages_requested, 11u);
    EXPECT_EQ(stats().requests_sent, 4u);
    // A fault inside the window joins, and still counts as the stream's.
    src.expect("pc.ram", 39 * kPage, kPage);
    EXPECT_EQ(fault(1, 39 * kPage), MEMFAULT_WAIT) << "vCPU 1: its own window, 1";
    EXPECT_EQ(fault(0, 18 * kPage), MEMFAULT_WAIT) << "joins the read-ahead";
}

TEST_F(EngineReadahead, TheWindowHalvesOffTheStreamAndEachVcpuHasItsOwn) {
    for (std::uint64_t p : {100, 101, 103}) { // windows 1, 2, 4
        src.expect("pc.ram", p * kPage, (p == 100 ? 1 : p == 101 ? 2 : 4) * kPage);
        EXPECT_EQ(fault(0, p * kPage), MEMFAULT_WAIT);
    }
    EXPECT_TRUE(src.all_expected_seen());
    src.expect("pc.ram", 500 * kPage, kPage); // vCPU 1 knows nothing of vCPU 0's stream
    EXPECT_EQ(fault(1, 500 * kPage), MEMFAULT_WAIT);
    src.expect("pc.ram", 300 * kPage, 2 * kPage); // vCPU 0 jumps: 4 -> 2
    EXPECT_EQ(fault(0, 300 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(fault(0, 300 * kPage), MEMFAULT_WAIT) << "the same page again (a kick): no change";
    src.expect("pc.ram", 200 * kPage, kPage); // backwards: 2 -> 1
    EXPECT_EQ(fault(0, 200 * kPage), MEMFAULT_WAIT);
    src.expect("pc.ram", 205 * kPage, kPage); // forward, but out of reach: stays 1
    EXPECT_EQ(fault(0, 205 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
}

// Asynchronous read-ahead: a vCPU that reaches the back half of its stream's
// last request asks for the next window at once, so that it travels while the
// vCPU works through the rest of this one.
TEST_F(EngineReadahead, TheBackHalfOfAWindowAsksForTheNextOne) {
    src.expect("pc.ram", 10 * kPage, kPage);
    EXPECT_EQ(fault(0, 10 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(10 * kPage), MEMFAULT_OK);
    src.expect("pc.ram", 11 * kPage, 2 * kPage); // window 2: 11, 12
    EXPECT_EQ(fault(0, 11 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(11 * kPage), MEMFAULT_OK);
    src.expect("pc.ram", 13 * kPage, 4 * kPage); // 12 in flight, back half: 13..16 now
    EXPECT_EQ(fault(0, 12 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(arrive(12 * kPage), MEMFAULT_OK);
    EXPECT_EQ(fault(0, 13 * kPage), MEMFAULT_WAIT) << "front half of 13..16: nothing new";
    EXPECT_EQ(src.count(), 3u);
    EXPECT_EQ(arrive(13 * kPage, "pc.ram", 2 * kPage), MEMFAULT_OK);
    src.expect("pc.ram", 17 * kPage, 4 * kPage); // 15, back half: 17..20
    EXPECT_EQ(fault(0, 15 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
    // Another vCPU joining this stream's pages has no stream of its own there.
    EXPECT_EQ(fault(1, 20 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(src.count(), 4u);
    // Pages that arrived in time take no exit: the next fault, at the end of
    // what the stream asked for, is still the stream's (window stays 4).
    EXPECT_EQ(arrive(15 * kPage, "pc.ram", 6 * kPage), MEMFAULT_OK);
    src.expect("pc.ram", 21 * kPage, 4 * kPage);
    EXPECT_EQ(fault(0, 21 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
    // Off the stream nothing is asked early: a jump halves the window.
    src.expect("pc.ram", 300 * kPage, 2 * kPage);
    EXPECT_EQ(fault(0, 300 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(fault(2, 301 * kPage), MEMFAULT_WAIT) << "vCPU 2 joins";
    EXPECT_EQ(src.count(), 6u);
}

TEST_F(EngineReadahead, StopsAtPagesPresentOrInFlightAndAtTheEndOfTheBlock) {
    // Ramp vCPU 0 up to 4 at the end of the block: 1, 2, then 4 cut at the end.
    const std::uint64_t end = 64 * kMiB;
    src.expect("pc.ram", end - 8 * kPage, kPage);
    EXPECT_EQ(fault(0, 4 * kGiB + 32 * kMiB - 8 * kPage), MEMFAULT_WAIT);
    src.expect("pc.ram", end - 7 * kPage, 2 * kPage);
    EXPECT_EQ(fault(0, 4 * kGiB + 32 * kMiB - 7 * kPage), MEMFAULT_WAIT);
    EXPECT_EQ(arrive(end - 3 * kPage), MEMFAULT_OK);
    src.expect("pc.ram", end - 5 * kPage, 2 * kPage); // window 4, stops at the page present
    EXPECT_EQ(fault(0, 4 * kGiB + 32 * kMiB - 5 * kPage), MEMFAULT_WAIT);
    src.expect("pc.ram", end - 2 * kPage, 2 * kPage); // window 4, stops at the end of the block
    EXPECT_EQ(fault(0, 4 * kGiB + 32 * kMiB - 2 * kPage), MEMFAULT_WAIT);
    // vCPU 1's stream runs into vCPU 0's request in flight.
    src.expect("pc.ram", 20 * kPage, kPage);
    EXPECT_EQ(fault(1, 20 * kPage), MEMFAULT_WAIT);
    src.expect("pc.ram", 23 * kPage, kPage);
    EXPECT_EQ(memfault_request_page(e, "pc.ram", 23 * kPage), MEMFAULT_OK) << "one page, no stream";
    src.expect("pc.ram", 21 * kPage, 2 * kPage);
    EXPECT_EQ(fault(1, 21 * kPage), MEMFAULT_WAIT);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(stats().inflight, 11u);
    // Resend coalesces runs of up to 4 pages: 20..22 + 23 (one run), end-8..end-5,
    // end-4, end-2..end-1.
    src.expect("pc.ram", 20 * kPage, 4 * kPage);
    src.expect("pc.ram", end - 8 * kPage, 4 * kPage);
    src.expect("pc.ram", end - 4 * kPage, kPage);
    src.expect("pc.ram", end - 2 * kPage, 2 * kPage);
    EXPECT_EQ(memfault_resend_requests(e), MEMFAULT_OK);
    EXPECT_TRUE(src.all_expected_seen());
}

// A source that misbehaves must not take the engine down with it.
TEST_F(Engine, MaliciousSourceCannotBreakTheEngine) {
    // Returns garbage (a positive "errno"): counted as a failure, kept for resend.
    src.expect("pc.ram", 0x80000, kPage, 12345);
    EXPECT_EQ(fault(0, 0x80000), MEMFAULT_WAIT);
    EXPECT_EQ(stats().requests_failed, 1u);
    // Delivers the wrong page: the vCPU keeps waiting (a timeout proves it is
    // not woken by someone else's page).
    EXPECT_EQ(arrive(0x81000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, 1'000'000), MEMFAULT_TIMEDOUT);
    // Re-enters the engine from inside the send: another fault and a kick.
    src.expect("pc.ram", 0x90000, kPage);
    src.expect("pc.ram", 0x91000, kPage);
    src.on_send = [&](const Request &r) {
        if (r.offset == 0x90000) {
            EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x91000), MEMFAULT_OK);
            EXPECT_EQ(memfault_request_page(e, "pc.ram", 0x90000), MEMFAULT_WAIT);
            EXPECT_EQ(memfault_vcpu_kick(e, 1), MEMFAULT_OK);
        }
        return 0;
    };
    EXPECT_EQ(fault(1, 0x90000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 1, kBound), MEMFAULT_KICKED);
    // Fails the migration from inside the send.
    src.expect("pc.ram", 0xa0000, kPage);
    src.on_send = [&](const Request &) { return memfault_engine_fail(e) == MEMFAULT_OK ? -EIO : 0; };
    EXPECT_EQ(fault(2, 0xa0000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_FAILED);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_FAILED);
}

// A provider that calls back in from a vCPU's send may fault another vCPU
// there, whose send ends the engine: fail() must not wait for the callouts
// of its own thread, whichever vCPU they were made for (counted on the
// inner vCPU, the inner callout would be waited for forever).
TEST_F(Engine, FailFromASendNestedInAnotherVcpusSend) {
    src.allow_any();
    src.on_send = [&](const Request &r) {
        if (r.offset == 0xb0000)
            EXPECT_EQ(fault(3, 0xb1000), MEMFAULT_WAIT);
        if (r.offset == 0xb1000)
            EXPECT_EQ(memfault_engine_fail(e), MEMFAULT_OK);
        return 0;
    };
    EXPECT_EQ(fault(2, 0xb0000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_FAILED);
    EXPECT_EQ(memfault_vcpu_wait(e, 3, kBound), MEMFAULT_FAILED);
    // Every callout was left: ending the engine again from outside returns.
    EXPECT_EQ(memfault_engine_shutdown(e), MEMFAULT_OK);
}

TEST_F(Engine, StatsAreReadableWhileBusy) {
    src.allow_any();
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop) {
            MemfaultStats s;
            ASSERT_EQ(memfault_get_stats(e, &s), MEMFAULT_OK);
            ASSERT_LE(s.latency_p50_ns, s.latency_max_ns);
        }
    });
    for (std::uint64_t p = 0; p < 2000; p++) {
        ASSERT_EQ(fault(0, p * kPage), MEMFAULT_WAIT);
        ASSERT_EQ(arrive(p * kPage), MEMFAULT_OK);
        ASSERT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    }
    stop = true;
    reader.join();
    auto s = stats();
    EXPECT_EQ(s.latency_count, 2000u);
    EXPECT_GT(s.latency_p50_ns, 0u);
    EXPECT_LE(s.latency_p50_ns, s.latency_p90_ns);
    EXPECT_LE(s.latency_p90_ns, s.latency_p99_ns);
    EXPECT_LE(s.latency_p99_ns, s.latency_max_ns);
}

} // namespace

// A VMM with a sender thread (ops->requests_queued, QEMU's fault thread): a
// vCPU thread queues its requests and never sends; the sender sends them.
class EngineQueued : public Engine {
protected:
    void SetUp() override { create(0, true); }
};

TEST_F(EngineQueued, VcpuThreadsQueueAndTheSenderSends) {
    EXPECT_EQ(fault(0, 0x5000), MEMFAULT_WAIT);
    EXPECT_EQ(fault(1, 0x6000), MEMFAULT_WAIT);
    EXPECT_EQ(fault(2, 0x5000), MEMFAULT_WAIT) << "joins the queued request";
    EXPECT_EQ(src.count(), 0u) << "a vCPU thread sent a request";
    EXPECT_EQ(src.notifications(), 1) << "the sender is told once per empty queue";
    const std::vector<Wait> want{{"pc.ram", 0x5000, 0}, {"pc.ram", 0x6000, 1}, {"pc.ram", 0x5000, 2}};
    EXPECT_EQ(src.waits(), want) << "waits begin when queued, not when sent";

    src.expect("pc.ram", 0x5000, kPage);
    src.expect("pc.ram", 0x6000, kPage);
    std::thread sender([&] { EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK); });
    const std::thread::id sender_id = sender.get_id();
    sender.join();
    const std::vector<Request> order{{"pc.ram", 0x5000, kPage}, {"pc.ram", 0x6000, kPage}};
    EXPECT_EQ(src.requests(), order) << "oldest first";
    for (const auto &id : src.senders())
        EXPECT_EQ(id, sender_id);
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK) << "nothing left";
    EXPECT_EQ(src.count(), 2u);

    src.expect("pc.ram", 0x7000, kPage);
    EXPECT_EQ(fault(3, 0x7000), MEMFAULT_WAIT);
    EXPECT_EQ(src.notifications(), 2) << "the queue was empty again";
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK);

    auto s = stats();
    EXPECT_EQ(s.requests_queued, 3u);
    EXPECT_EQ(s.requests_sent, 3u);
    EXPECT_EQ(s.requests_joined, 1u);
    MemfaultVcpuStats vs;
    ASSERT_EQ(memfault_get_vcpu_stats(e, 1, &vs), MEMFAULT_OK);
    EXPECT_EQ(vs.requests_sent, 1u) << "a vCPU's requests count whoever sent them";
    EXPECT_EQ(arrive(0x5000), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(memfault_vcpu_wait(e, 2, kBound), MEMFAULT_ARRIVED);
}

TEST_F(EngineQueued, AFailedSendKeepsItAndEverythingAfterInOrder) {
    EXPECT_EQ(fault(0, 0x10000), MEMFAULT_WAIT);
    EXPECT_EQ(fault(1, 0x11000), MEMFAULT_WAIT);
    src.expect("pc.ram", 0x10000, kPage, -EIO); // postcopy paused
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_ESEND);
    EXPECT_EQ(src.count(), 1u) << "nothing is sent after a failure";
    EXPECT_EQ(stats().requests_failed, 1u);
    EXPECT_EQ(stats().inflight, 2u);
    src.expect("pc.ram", 0x10000, kPage); // recovered
    src.expect("pc.ram", 0x11000, kPage);
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK);
    EXPECT_TRUE(src.all_expected_seen());
    const std::vector<Request> order{
        {"pc.ram", 0x10000, kPage}, {"pc.ram", 0x10000, kPage}, {"pc.ram", 0x11000, kPage}};
    EXPECT_EQ(src.requests(), order);
}

// Recovery: the resend covers every request in flight, the queued ones too,
// so the sender must not send those a second time (QEMU: the listen thread
// resends on RESUME, then the fault thread runs its queue again).
TEST_F(EngineQueued, TheResendTakesTheQueueWithIt) {
    EXPECT_EQ(fault(0, 0x30000), MEMFAULT_WAIT);
    src.expect("pc.ram", 0x30000, kPage, -EIO); // postcopy paused
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_ESEND);
    EXPECT_EQ(fault(1, 0x31000), MEMFAULT_WAIT); // queued during the pause
    src.expect("pc.ram", 0x30000, kPage);
    src.expect("pc.ram", 0x31000, kPage);
    EXPECT_EQ(memfault_resend_requests(e), MEMFAULT_OK);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK);
    EXPECT_EQ(src.count(), 3u) << "a queued request was sent again after the resend";
    // The queue works on afterwards.
    src.expect("pc.ram", 0x32000, kPage);
    EXPECT_EQ(fault(2, 0x32000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_OK);
    EXPECT_TRUE(src.all_expected_seen());
    EXPECT_EQ(stats().inflight, 3u);
}

TEST_F(EngineQueued, TheEndDropsTheQueue) {
    EXPECT_EQ(fault(0, 0x20000), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_engine_end(e), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_RETRY);
    EXPECT_EQ(memfault_send_queued(e), MEMFAULT_RETRY);
    EXPECT_EQ(src.count(), 0u) << "a request sent after the end";
}

// The teardown contract: once end/fail/shutdown returned, no vCPU thread is
// inside a callback, because the VMM frees what they use right after (QEMU:
// the fault thread's eventfd, postcopy's blocktime state).  Without
// ops->requests_queued the vCPU sends itself, and its send is covered too
// (the engine before 0.4.1 returned from fail() with a vCPU inside its send).
TEST_F(EngineQueued, EndWaitsForCallbacksInProgress) {
    enum Callback { kRequestsQueued, kWaitBegin, kSendRequest };
    for (Callback cb : {kRequestsQueued, kWaitBegin, kSendRequest}) {
        const char *name = cb == kRequestsQueued ? "requests_queued"
                           : cb == kWaitBegin    ? "wait_begin"
                                                 : "send_request";
        create(0, cb != kSendRequest);
        src.allow_any();
        std::atomic<bool> inside{false}, release{false}, ended{false};
        auto block = [&] {
            inside = true;
            while (!release)
                std::this_thread::yield();
        };
        src.on_queued = cb == kRequestsQueued ? std::function<void()>(block) : nullptr;
        src.on_wait = cb == kWaitBegin ? std::function<void()>(block) : nullptr;
        src.on_send = cb == kSendRequest ? std::function<int(const Request &)>([&](const Request &) {
            block();
            return 0;
        })
                                         : nullptr;
        std::thread vcpu([&] { EXPECT_EQ(fault(0, 0x30000), MEMFAULT_WAIT); });
        while (!inside)
            std::this_thread::yield();
        std::thread ender([&] {
            EXPECT_EQ(memfault_engine_fail(e), MEMFAULT_OK);
            ended = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_FALSE(ended) << "fail() returned while a vCPU was in " << name;
        release = true;
        vcpu.join();
        ender.join();
        EXPECT_TRUE(ended);
        src.on_queued = nullptr;
        src.on_wait = nullptr;
        src.on_send = nullptr;
        // After the end nothing calls back.
        const int before = src.notifications();
        const std::size_t waits = src.waits().size(), sends = src.count();
        EXPECT_EQ(fault(1, 0x31000), MEMFAULT_FAILED) << name;
        EXPECT_EQ(src.notifications(), before) << name;
        EXPECT_EQ(src.waits().size(), waits) << name;
        EXPECT_EQ(src.count(), sends) << name;
    }
}

namespace {

// ---- Exit on missing: the same engine without a bitmap for KVM ------------

constexpr std::uint64_t kMiss = MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING;
constexpr std::uint64_t kPages = 64;

// One block, one slot, backed by real anonymous memory: an exit for a page
// the engine has must fault that page in.
class EngineEom : public ::testing::Test {
protected:
    void SetUp() override {
        mem = static_cast<char *>(::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        ASSERT_NE(mem, MAP_FAILED);
        MemfaultConfig c{kVcpus, 0, 0, MEMFAULT_MECHANISM_EXIT_ON_MISSING};
        MemfaultOps ops = src.ops();
        ASSERT_EQ(memfault_engine_new(&c, &ops, src.opaque(), &e), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_add(e, "pc.ram", kPages * kPage, kPage), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_add(e, "rom", kPage, kPage), MEMFAULT_OK);
        ASSERT_EQ(memfault_slot_add(e, 0, 0, kPages * kPage, mem, "pc.ram", 0), MEMFAULT_OK);
        ASSERT_EQ(memfault_block_seed(e, "pc.ram", nullptr, kPages), MEMFAULT_OK);
    }
    void TearDown() override {
        memfault_engine_free(e);
        ::munmap(mem, kPages * kPage);
    }
    MemfaultStatus fault(std::uint32_t vcpu, std::uint64_t page, std::uint64_t flags = kMiss) {
        return memfault_vcpu_handle_exit(e, vcpu, page * kPage, kPage, flags);
    }
    bool resident(std::uint64_t page) {
        unsigned char v = 0;
        EXPECT_EQ(::mincore(mem + page * kPage, kPage, &v), 0);
        return v & 1;
    }
    MemfaultStats stats() {
        MemfaultStats st;
        EXPECT_EQ(memfault_get_stats(e, &st), MEMFAULT_OK);
        return st;
    }

    FakeSource src;
    MemfaultEngine *e = nullptr;
    char *mem = nullptr;
};

TEST_F(EngineEom, AMissingPageIsRequestedAndWaitedForAsWithUserfault) {
    src.expect("pc.ram", 3 * kPage, kPage);
    EXPECT_EQ(fault(0, 3), MEMFAULT_WAIT);
    EXPECT_EQ(memfault_page_arrived(e, "pc.ram", 3 * kPage, kPage), MEMFAULT_OK);
    EXPECT_EQ(memfault_vcpu_wait(e, 0, kBound), MEMFAULT_ARRIVED);
    EXPECT_EQ(stats().exits_populated, 0u);
}

// An exit on an arrived page: the first time, the page was most likely placed
// after the exit, and re-entering maps it; a second exit on it means the
// kernel took it away (swap, migration), and the vCPU faults it back in
// itself.  Never a request (the fake fails on any).
TEST_F(EngineEom, AnArrivedPageIsFaultedInNotRequested) {
    EXPECT_EQ(memfault_page_arrived(e, "pc.ram", 5 * kPage, kPage), MEMFAULT_OK);
    ASSERT_FALSE(resident(5));
    EXPECT_EQ(fault(0, 5), MEMFAULT_RESOLVED);
    EXPECT_FALSE(resident(5)) << "the first exit re-enters without a syscall";
    EXPECT_EQ(fault(0, 5), MEMFAULT_RESOLVED);
    EXPECT_TRUE(resident(5)) << "the second exit must fault the page in, or KVM exits again";
    auto st = stats();
    EXPECT_EQ(st.exits_populated, 1u);
    EXPECT_EQ(st.exits_present, 2u);
    EXPECT_EQ(st.requests_sent, 0u);
    // Another vCPU's exit on the same page is that vCPU's first.
    EXPECT_EQ(fault(1, 5), MEMFAULT_RESOLVED);
    EXPECT_EQ(stats().exits_populated, 1u);
}

TEST_F(EngineEom, AfterTheEndAnExitFaultsThePageInAndRetries) {
    EXPECT_EQ(memfault_engine_end(e), MEMFAULT_OK);
    EXPECT_EQ(fault(1, 7), MEMFAULT_RETRY);
    EXPECT_EQ(fault(1, 7), MEMFAULT_RETRY);
    EXPECT_TRUE(resident(7));
    EXPECT_EQ(stats().exits_populated, 1u);
}

TEST_F(EngineEom, AUserfaultExitIsNotThisEnginesKind) {
    EXPECT_EQ(fault(0, 3, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT), MEMFAULT_EFLAGS);
    EXPECT_EQ(fault(0, 3, kMiss | MEMFAULT_KVM_MEMORY_EXIT_FLAG_PRIVATE), MEMFAULT_EFLAGS);
}

// A page that cannot be faulted in would exit forever: that is fatal for
// the vCPU, with errno, never a silent loop.
TEST_F(EngineEom, APageThatCannotBeFaultedInIsFatal) {
    EXPECT_EQ(memfault_page_arrived(e, "pc.ram", 9 * kPage, kPage), MEMFAULT_OK);
    ASSERT_EQ(::mprotect(mem + 9 * kPage, kPage, PROT_READ), 0);
    EXPECT_EQ(fault(2, 9), MEMFAULT_RESOLVED);
    errno = 0;
    EXPECT_EQ(fault(2, 9), MEMFAULT_ESYS);
    EXPECT_NE(errno, 0);
    EXPECT_EQ(stats().exits_populated, 0u);
}

} // namespace
