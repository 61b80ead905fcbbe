// The memfault engine: region table + exit decoding + in-flight table +
// per-vCPU waiting + statistics, behind the C ABI in memfault.h (abi.cc is
// the thin extern "C" layer; everything here returns MemfaultStatus and
// never lets an exception out except std::bad_alloc, which abi.cc maps).
//
// Lock rules (each lock is next to what it guards):
//   RegionTable::mu_      registration and seeding only; vCPUs never take it.
//   InflightTable shard   one at a time; never held across a call out.
//   VcpuWaiter::mu_       a leaf: nothing else is taken while it is held.
//   SendQueue::mu_        a leaf.
// Nothing is held while an ops callback runs, so it may re-enter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "exit_decode.h"
#include "inflight_table.h"
#include "latency_histogram.h"
#include "memfault/memfault.h"
#include "region_table.h"
#include "send_queue.h"
#include "vcpu_waiter.h"

namespace memfault {

class Engine {
public:
    static MemfaultStatus validate(const MemfaultConfig &c, const MemfaultOps &ops);
    Engine(const MemfaultConfig &c, const MemfaultOps &ops, void *opaque);
    // Shuts down and waits for every vCPU to leave wait().
    ~Engine();
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;

    MemfaultStatus block_add(std::string_view idstr, std::uint64_t length, std::uint64_t page_size);
    MemfaultStatus slot_add(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                            std::uintptr_t host, std::string_view idstr, std::uint64_t offset);
    MemfaultStatus slot_remove(std::uint32_t slot);
    MemfaultStatus slot_bitmap(std::uint32_t slot, unsigned long **bitmap, std::uint64_t *nbits);
    MemfaultStatus block_seed(std::string_view idstr, const unsigned long *received,
                              std::uint64_t nbits);

    MemfaultStatus handle_exit(std::uint32_t vcpu, std::uint64_t gpa, std::uint64_t size,
                               std::uint64_t flags);
    MemfaultStatus wait(std::uint32_t vcpu, std::int64_t timeout_ns);
    MemfaultStatus kick(std::uint32_t vcpu);
    MemfaultStatus kick_all();

    MemfaultStatus request_page(std::string_view idstr, std::uint64_t offset);
    MemfaultStatus page_arrived(std::string_view idstr, std::uint64_t offset, std::uint64_t len);
    MemfaultStatus page_arrived_host(std::uintptr_t host, std::uint64_t len);
    MemfaultStatus send_queued();
    MemfaultStatus resend_requests();

    MemfaultStatus end() { return move_to(Phase::kEnded); }
    MemfaultStatus fail() { return move_to(Phase::kFailed); }
    MemfaultStatus shutdown() { return move_to(Phase::kShutdown); }

    void stats(MemfaultStats &out) const;
    MemfaultStatus vcpu_stats(std::uint32_t vcpu, MemfaultVcpuStats &out) const;

    const RegionTable &regions() const { return regions_; }

private:
    // A statistic with a single writer: relaxed load + store, no RMW.
    struct OwnedCounter {
        std::atomic<std::uint64_t> v{0};
        void add(std::uint64_t d = 1) { v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
        std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
    };
    // A statistic written by several threads (fault thread, listen and
    // preempt threads, resend): relaxed RMW.  Ordering with nothing.
    struct SharedCounter {
        std::atomic<std::uint64_t> v{0};
        void add(std::uint64_t d = 1) { v.fetch_add(d, std::memory_order_relaxed); }
        std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
    };

    struct alignas(64) Vcpu {
        VcpuWaiter waiter;
        // The vCPU thread's current fault "episode": from its first exit on a
        // page to resuming with that page present (kicks and re-faults on the
        // same page in between do not restart it).  vCPU thread only.
        bool episode_open = false;
        PageKey episode_key = 0;
        std::uint64_t episode_start_ns = 0;
        // Written by the vCPU thread only.
        OwnedCounter exits, present, populated, sent, failed, pages_requested, queued, joined,
            waits, kicks, blocked_ns;
        // When the current wait began (its exit), 0 when not blocked.  Written
        // by the vCPU thread, read by vcpu_stats(); relaxed: a statistic.
        std::atomic<std::uint64_t> blocked_since_ns{0};
        LatencyHistogram latency;
        // Read-ahead, vCPU thread only: the block and page of the vCPU's last
        // exit that needed a page, and the window its next request may cover.
        std::uint32_t ra_block = UINT32_MAX;
        std::uint64_t ra_page = 0;
        std::uint32_t ra_window = 1;
        // The block page after the vCPU's last request (0: no stream): where
        // read_ahead_early() goes on.
        std::uint64_t ra_next = 0;
        // Exit-on-missing, vCPU thread only: the gpa of the last exit on an
        // arrived page that was re-entered without faulting it in.
        std::uint64_t unpopulated_gpa = UINT64_MAX;
        // This vCPU's thread is inside that many callouts.  Per vCPU, so that
        // vCPUs do not bounce one cache line twice per fault.  seq_cst, with
        // phase_'s store in move_to(): either move_to() sees the increment
        // and waits, or the vCPU sees the new phase and calls nothing (a
        // store-load pair, as in Dekker).
        std::atomic<std::uint32_t> callouts{0};
    };

    struct alignas(64) SharedStats {
        SharedCounter sent, failed, pages_requested, joined, duplicate, resends;
    };

    Phase phase() const {
        // acquire: pairs with the release CAS in move_to(); a thread that
        // sees the new phase also sees what happened before the transition
        return static_cast<Phase>(phase_.load(std::memory_order_acquire));
    }
    MemfaultStatus move_to(Phase p);
    static MemfaultStatus phase_status(Phase p);

    // Send [first, first + n) block pages of @b.  Returns 0 or -errno.
    int send(const Block &b, std::uint64_t first, std::uint64_t n);
    // vCPU-thread callouts (ops_.requests_queued, ops_.wait_begin, and
    // ops_.send_request without requests_queued) happen between
    // enter_callout(v) returning true and leave_callout(v); move_to() waits
    // for those of other threads.  False: demand paging is over, call nothing.
    bool enter_callout(Vcpu &v);
    void leave_callout(Vcpu &v);
    // ops_.wait_begin, when set: @vcpu begins to wait for @block_page of @b.
    // Inside a callout.
    void report_wait(const Block &b, std::uint64_t block_page, std::uint32_t vcpu);
    // Add block page @bp of @b to the in-flight table; false when it is past
    // the block, present or in flight already.
    bool claim(const Block &b, std::uint64_t bp);
    // Read-ahead: up to @window - 1 pages after @bp, each claim()ed (the first
    // that cannot be ends it).  Returns how many were added.
    std::uint64_t readahead(const Block &b, std::uint64_t bp, std::uint32_t window);
    // A vCPU needs @bp of @b: move its read-ahead window (see memfault.h).
    void adapt_window(Vcpu &v, const Block &b, std::uint64_t bp);
    // Hand [first, first + n) of @b, just added to the table, to the source:
    // queued for the sender (returns true when it must be told) or sent.
    bool issue(Vcpu &v, const Block &b, std::uint64_t first, std::uint64_t n);
    // @v joined @bp, in flight: if that is its stream's last request and the
    // vCPU is in its back half, request the next window now (asynchronous
    // read-ahead).  Returns issue()'s answer, false when nothing was asked.
    bool read_ahead_early(Vcpu &v, const Block &b, std::uint64_t bp);
    void finish_episode(Vcpu &v, std::uint64_t now_ns);
    // Exit-on-missing: fault in the page of exit (@gpa, @size) in @s, which
    // is not missing for the engine.  MEMFAULT_OK or MEMFAULT_ESYS (errno).
    static MemfaultStatus populate(const Slot &s, std::uint64_t gpa, std::uint64_t size);
    // A wait ended: add it to the vCPU's blocked time.
    static void end_blocked(Vcpu &v, std::uint64_t now_ns);
    MemfaultStatus arrive(Block &b, std::uint64_t offset, std::uint64_t len);

    const std::uint64_t kvm_page_size_;
    const std::uint32_t readahead_pages_;
    const MemfaultMechanism mechanism_;
    const MemfaultOps ops_;
    void *const opaque_;
    const std::uint32_t nvcpus_;

    RegionTable regions_;
    InflightTable inflight_;
    std::unique_ptr<Vcpu[]> vcpus_;
    SharedStats shared_;
    SendQueue queue_; // requests vCPUs created, for send_queued()
    std::atomic<int> phase_{static_cast<int>(Phase::kRunning)};
};

} // namespace memfault
