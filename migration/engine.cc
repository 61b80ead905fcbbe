// The memfault engine (engine.h): the request lifecycle end to end.
#include "engine.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <thread>
#include <vector>

namespace memfault {

namespace {

std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool is_pow2(std::uint64_t v) { return v && !(v & (v - 1)); }

constexpr std::uint32_t kMaxReadahead = MEMFAULT_READAHEAD_MAX;

} // namespace

MemfaultStatus Engine::validate(const MemfaultConfig &c, const MemfaultOps &ops) {
    std::uint64_t ps = c.kvm_page_size ? c.kvm_page_size : 4096;
    if (!ops.send_request || c.max_vcpus == 0 || !is_pow2(ps) || ps < 4096 ||
        c.readahead_pages > kMaxReadahead ||
        (c.mechanism != MEMFAULT_MECHANISM_USERFAULT &&
         c.mechanism != MEMFAULT_MECHANISM_EXIT_ON_MISSING))
        return MEMFAULT_EINVAL;
    return MEMFAULT_OK;
}

Engine::Engine(const MemfaultConfig &c, const MemfaultOps &ops, void *opaque)
    : kvm_page_size_(c.kvm_page_size ? c.kvm_page_size : 4096),
      readahead_pages_(c.readahead_pages > 1 ? c.readahead_pages : 1),
      mechanism_(static_cast<MemfaultMechanism>(c.mechanism)), ops_(ops), opaque_(opaque),
      nvcpus_(c.max_vcpus), regions_(kvm_page_size_), vcpus_(new Vcpu[c.max_vcpus]) {}

Engine::~Engine() {
    shutdown();
    for (std::uint32_t i = 0; i < nvcpus_; i++)
        vcpus_[i].waiter.drain();
}

// ---- phase ---------------------------------------------------------------

MemfaultStatus Engine::phase_status(Phase p) {
    switch (p) {
    case Phase::kRunning: return MEMFAULT_OK;
    case Phase::kEnded: return MEMFAULT_RETRY;
    case Phase::kFailed: return MEMFAULT_FAILED;
    case Phase::kShutdown: return MEMFAULT_SHUTDOWN;
    }
    return MEMFAULT_EINVAL;
}

namespace {
// The callouts the calling thread is inside in one engine, and the vCPU
// whose count holds them all: its outermost callout's.
thread_local struct {
    const void *engine = nullptr;
    void *vcpu = nullptr;
    std::uint32_t depth = 0;
} tls_callouts;
} // namespace

MemfaultStatus Engine::move_to(Phase p) {
    int cur = phase_.load(std::memory_order_relaxed);
    // Only forward.  seq_cst: pairs with the acquire in phase(), and with
    // each vCPU's callouts in enter_callout() (a store-load pair needs
    // seq_cst on both).
    while (cur < static_cast<int>(p) &&
           !phase_.compare_exchange_weak(cur, static_cast<int>(p), std::memory_order_seq_cst,
                                         std::memory_order_relaxed)) {
    }
    if (cur < static_cast<int>(p)) {
        if (p == Phase::kEnded)
            regions_.clear_all_userfault_bits();
        // Each waiter re-checks the phase under its own mutex, which poke()
        // takes after the store above: no waiter can miss the transition.
        for (std::uint32_t i = 0; i < nvcpus_; i++)
            vcpus_[i].waiter.poke();
        queue_.clear(); // nothing is sent any more
    }
    // Whoever moved the phase, return only once no vCPU thread is inside a
    // callout it began before it could see the new phase.  Callouts are short
    // (an eventfd write, a statistics lock), so yielding is enough, except a
    // vCPU's own send without ops->requests_queued, which lasts as long as
    // the network makes it: after a while, sleep between looks.
    // A callout may end the engine itself (a provider failing the migration
    // from inside its send): the callouts this thread is inside are not waited for.
    unsigned spins = 0;
    for (std::uint32_t i = 0; i < nvcpus_; i++) {
        const Vcpu &v = vcpus_[i];
        const std::uint32_t own =
            tls_callouts.engine == this && tls_callouts.vcpu == &v ? tls_callouts.depth : 0;
        for (; v.callouts.load(std::memory_order_seq_cst) > own; spins++) {
            if (spins < 1000)
                std::this_thread::yield();
            else
                std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    }
    return MEMFAULT_OK;
}

bool Engine::enter_callout(Vcpu &v) {
    // A callout inside one of this thread's callouts (a provider calling
    // back in) counts on the outer one's vCPU, so that move_to() can tell
    // every callout of the calling thread from other threads'.  (Callouts
    // nested across two engines are not followed: a VMM has one engine.)
    const bool nested = tls_callouts.engine == this && tls_callouts.depth;
    Vcpu &c = nested ? *static_cast<Vcpu *>(tls_callouts.vcpu) : v;
    c.callouts.fetch_add(1, std::memory_order_seq_cst);
    if (static_cast<Phase>(phase_.load(std::memory_order_seq_cst)) != Phase::kRunning) {
        c.callouts.fetch_sub(1, std::memory_order_release);
        return false;
    }
    if (!nested && tls_callouts.depth == 0) {
        tls_callouts.engine = this;
        tls_callouts.vcpu = &v;
    }
    if (tls_callouts.engine == this)
        tls_callouts.depth++;
    return true;
}

void Engine::leave_callout(Vcpu &v) {
    Vcpu *c = &v;
    if (tls_callouts.engine == this) {
        c = static_cast<Vcpu *>(tls_callouts.vcpu);
        if (--tls_callouts.depth == 0) {
            tls_callouts.engine = nullptr;
            tls_callouts.vcpu = nullptr;
        }
    }
    // release: what the callout did happens before move_to()'s return
    c->callouts.fetch_sub(1, std::memory_order_release);
}

// ---- registration --------------------------------------------------------

MemfaultStatus Engine::block_add(std::string_view idstr, std::uint64_t length,
                                 std::uint64_t page_size) {
    return regions_.add_block(idstr, length, page_size);
}

MemfaultStatus Engine::slot_add(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                std::uintptr_t host, std::string_view idstr, std::uint64_t offset) {
    return regions_.add_slot(slot, gpa, size, host, idstr, offset, phase() == Phase::kRunning);
}

MemfaultStatus Engine::slot_remove(std::uint32_t slot) { return regions_.remove_slot(slot); }

MemfaultStatus Engine::slot_bitmap(std::uint32_t slot, unsigned long **bitmap, std::uint64_t *nbits) {
    const Slot *s = regions_.current().find_id(slot);
    if (!s)
        return MEMFAULT_ENOREGION;
    *bitmap = const_cast<Slot *>(s)->userfault.kvm_address();
    *nbits = s->userfault.nbits();
    return MEMFAULT_OK;
}

MemfaultStatus Engine::block_seed(std::string_view idstr, const unsigned long *received,
                                  std::uint64_t nbits) {
    Phase p = phase();
    if (p == Phase::kEnded)
        return MEMFAULT_EBUSY;
    if (p != Phase::kRunning)
        return phase_status(p);
    return regions_.seed_block(idstr, received, nbits);
}

// ---- requests ------------------------------------------------------------

int Engine::send(const Block &b, std::uint64_t first, std::uint64_t n) {
    int r = ops_.send_request(opaque_, b.idstr.c_str(), first * b.page_size, n * b.page_size);
    return r > 0 ? -r : r; // a provider returning +errno is still a failure
}

void Engine::report_wait(const Block &b, std::uint64_t block_page, std::uint32_t vcpu) {
    if (ops_.wait_begin)
        ops_.wait_begin(opaque_, b.idstr.c_str(), block_page * b.page_size, vcpu);
}

bool Engine::claim(const Block &b, std::uint64_t bp) {
    return bp < b.pages() &&
           inflight_.insert_if_absent(make_key(b.index, bp), [&] { return b.page_present(bp); });
}

std::uint64_t Engine::readahead(const Block &b, std::uint64_t bp, std::uint32_t window) {
    std::uint64_t extra = 0;
    for (std::uint64_t k = 1; k < window; k++) {
        if (!claim(b, bp + k))
            break;
        extra++;
    }
    return extra;
}

void Engine::adapt_window(Vcpu &v, const Block &b, std::uint64_t bp) {
    if (readahead_pages_ <= 1)
        return;
    const bool same_block = v.ra_block == b.index;
    // Forward, within a window of the last fault or at most at the end of
    // what the stream asked for (pages that arrived in time took no exit).
    if (same_block && bp > v.ra_page &&
        (bp - v.ra_page <= v.ra_window || bp <= v.ra_next)) {
        // A stream.
        v.ra_window = std::min(v.ra_window * 2, readahead_pages_);
    } else if (!same_block || bp != v.ra_page) { // the same page again (a kick) says nothing
        v.ra_window = std::max(v.ra_window / 2, 1u);
        v.ra_next = 0; // no stream to read ahead of
    }
    v.ra_block = b.index;
    v.ra_page = bp;
}

bool Engine::issue(Vcpu &v, const Block &b, std::uint64_t first, std::uint64_t n) {
    if (ops_.requests_queued) {
        v.queued.add();
        return queue_.push({&b, first, n});
    }
    // Without a sender thread the vCPU sends the request itself: a callout
    // like the others, which end(), fail() and shutdown() wait for.
    if (!enter_callout(v))
        return false; // over: the wait that follows returns the phase's status
    const int r = send(b, first, n);
    leave_callout(v);
    if (r == 0) {
        v.sent.add();
        v.pages_requested.add(n);
    } else {
        v.failed.add(); // still recorded: resend_requests() retries it
    }
    return false;
}

bool Engine::read_ahead_early(Vcpu &v, const Block &b, std::uint64_t bp) {
    // Only a stream's own request, from its back half on: the vCPU then works
    // through the rest of it while the next window travels.
    if (readahead_pages_ <= 1 || v.ra_block != b.index || v.ra_next <= bp ||
        v.ra_next - bp > std::max(v.ra_window / 2, 1u))
        return false;
    const std::uint64_t first = v.ra_next;
    if (!claim(b, first))
        return false; // past the block, in flight or present already: nothing to ask for
    const std::uint64_t n = 1 + readahead(b, first, v.ra_window);
    v.ra_next = first + n;
    return issue(v, b, first, n);
}

void Engine::finish_episode(Vcpu &v, std::uint64_t now) {
    if (!v.episode_open)
        return;
    v.latency.record(now - v.episode_start_ns);
    v.episode_open = false;
}

void Engine::end_blocked(Vcpu &v, std::uint64_t now) {
    // relaxed: a statistic; vcpu_stats() reads it the same way
    const std::uint64_t since = v.blocked_since_ns.load(std::memory_order_relaxed);
    if (since) {
        v.blocked_ns.add(now - since);
        v.blocked_since_ns.store(0, std::memory_order_relaxed);
    }
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14; glibc 2.36 has it
#endif

MemfaultStatus Engine::populate(const Slot &s, std::uint64_t gpa, std::uint64_t size) {
    void *host = reinterpret_cast<void *>(s.host + (gpa - s.gpa));
    // Faults the page in as the VMM's own write would, waiting for whatever
    // KVM would not wait for (swap-in, migration).  The page is not missing
    // for the engine, so userfaultfd does not hold it back.  EINTR/EAGAIN:
    // re-enter, KVM exits again if it still cannot map the page.
    if (::madvise(host, size, MADV_POPULATE_WRITE) == 0 || errno == EINTR || errno == EAGAIN)
        return MEMFAULT_OK;
    return MEMFAULT_ESYS;
}

MemfaultStatus Engine::handle_exit(std::uint32_t vcpu, std::uint64_t gpa, std::uint64_t size,
                                   std::uint64_t flags) {
    if (vcpu >= nvcpus_)
        return MEMFAULT_EINVAL;
    const std::uint64_t t0 = now_ns();
    Vcpu &v = vcpus_[vcpu];
    v.exits.add();
    const ExitDecision d =
        decode_exit({gpa, size, flags}, regions_.current(), phase(), kvm_page_size_, mechanism_);
    switch (d.outcome) {
    case ExitOutcome::kFatal:
    case ExitOutcome::kRetry:
        v.episode_open = false;
        return d.reason;
    case ExitOutcome::kPopulate:
        // Most often the page was placed between the exit and now, and
        // re-entering maps it.  Fault it in only when the vCPU exits on it
        // again: then the kernel took it away (swap, migration).
        if (v.unpopulated_gpa != gpa) {
            v.unpopulated_gpa = gpa;
        } else if (populate(*d.slot, gpa, size) != MEMFAULT_OK) {
            v.episode_open = false;
            return MEMFAULT_ESYS;
        } else {
            v.unpopulated_gpa = UINT64_MAX;
            v.populated.add();
        }
        if (d.reason == MEMFAULT_RETRY) {
            v.episode_open = false;
            return MEMFAULT_RETRY;
        }
        [[fallthrough]];
    case ExitOutcome::kPresent: {
        v.present.add();
        if (!v.episode_open) { // a fault that never waited: it still cost this much
            v.episode_open = true;
            v.episode_start_ns = t0;
        }
        const std::uint64_t now = now_ns();
        finish_episode(v, now);
        v.blocked_ns.add(now - t0);
        return MEMFAULT_RESOLVED;
    }
    case ExitOutcome::kRequest:
        break;
    }

    const Block &b = *d.slot->block;
    const PageKey key = make_key(b.index, d.block_page);
    adapt_window(v, b, d.block_page);
    // The same page again after a kick: this vCPU's own request (or the one it
    // joined) is still in flight; joining it again saves nothing.
    const bool refault = v.episode_open && v.episode_key == key;
    if (!v.episode_open || v.episode_key != key) {
        v.episode_open = true;
        v.episode_key = key;
        v.episode_start_ns = t0;
    }
    // Register before the page can be completed: the arrival wakes (vcpu, gen).
    const Waiter w{vcpu, v.waiter.begin_wait()};
    const std::uint64_t bp = d.block_page;
    bool notify = false; // a request was queued: tell the sender
    switch (inflight_.join(key, &w, [&] { return b.page_present(bp); })) {
    case InflightTable::Join::kPresent: {
        v.waiter.cancel_wait();
        v.present.add();
        const std::uint64_t now = now_ns();
        finish_episode(v, now);
        v.blocked_ns.add(now - t0);
        return MEMFAULT_RESOLVED;
    }
    case InflightTable::Join::kJoined:
        if (!refault)
            v.joined.add();
        notify = read_ahead_early(v, b, bp);
        break;
    case InflightTable::Join::kCreated: {
        const std::uint64_t n = 1 + readahead(b, bp, v.ra_window);
        v.ra_next = bp + n;
        notify = issue(v, b, bp, n);
        break;
    }
    }
    if ((notify || (!refault && ops_.wait_begin)) && enter_callout(v)) {
        if (notify)
            ops_.requests_queued(opaque_);
        if (!refault)
            report_wait(b, bp, vcpu);
        leave_callout(v);
    }
    v.blocked_since_ns.store(t0, std::memory_order_relaxed);
    return MEMFAULT_WAIT;
}

MemfaultStatus Engine::wait(std::uint32_t vcpu, std::int64_t timeout_ns) {
    if (vcpu >= nvcpus_)
        return MEMFAULT_EINVAL;
    Vcpu &v = vcpus_[vcpu];
    if (!v.waiter.wait_pending())
        return MEMFAULT_EINVAL;
    v.waits.add();
    std::chrono::steady_clock::time_point deadline;
    if (timeout_ns >= 0)
        deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
    // Everything after the wake happens in on_end, under the waiter's mutex:
    // once wait() returns, ~Engine() may already be freeing us.
    return v.waiter.wait(
        timeout_ns >= 0 ? &deadline : nullptr, [this] { return phase() != Phase::kRunning; },
        [&](VcpuWaiter::End end) {
            // Every wait counts as blocked time, whatever ended it; only an
            // arrival ends the fault-to-resume latency episode.
            const std::uint64_t now = now_ns();
            end_blocked(v, now);
            switch (end) {
            case VcpuWaiter::End::kArrived:
                finish_episode(v, now);
                return MEMFAULT_ARRIVED;
            case VcpuWaiter::End::kKicked:
                v.kicks.add();
                return MEMFAULT_KICKED;
            case VcpuWaiter::End::kTimedOut:
                return MEMFAULT_TIMEDOUT;
            case VcpuWaiter::End::kPhase:
                break;
            }
            v.episode_open = false;
            return phase_status(phase());
        });
}

MemfaultStatus Engine::kick(std::uint32_t vcpu) {
    if (vcpu >= nvcpus_)
        return MEMFAULT_EINVAL;
    vcpus_[vcpu].waiter.kick();
    return MEMFAULT_OK;
}

MemfaultStatus Engine::kick_all() {
    for (std::uint32_t i = 0; i < nvcpus_; i++)
        vcpus_[i].waiter.kick();
    return MEMFAULT_OK;
}

MemfaultStatus Engine::request_page(std::string_view idstr, std::uint64_t offset) {
    if (Phase p = phase(); p != Phase::kRunning)
        return phase_status(p);
    const Snapshot::BlockSlots *bs = regions_.current().find_block(idstr);
    if (!bs || offset >= bs->block->length)
        return MEMFAULT_ENOBLOCK;
    const Block &b = *bs->block;
    // acquire: pairs with the seq_cst store in RegionTable::seed_block()
    if (!b.seeded.load(std::memory_order_acquire))
        return MEMFAULT_ENOTPAGED;
    const std::uint64_t bp = offset / b.page_size;
    switch (inflight_.join(make_key(b.index, bp), nullptr, [&] { return b.page_present(bp); })) {
    case InflightTable::Join::kPresent:
        return MEMFAULT_RESOLVED;
    case InflightTable::Join::kJoined:
        shared_.joined.add();
        return MEMFAULT_WAIT;
    case InflightTable::Join::kCreated:
        break;
    }
    // A non-vCPU access (device emulation, KVM's own) shows no stream: one page.
    const std::uint64_t n = 1;
    if (send(b, bp, n) != 0) {
        shared_.failed.add();
        return MEMFAULT_ESEND;
    }
    shared_.sent.add();
    shared_.pages_requested.add(n);
    return MEMFAULT_OK;
}

// ---- arrival -------------------------------------------------------------

MemfaultStatus Engine::arrive(Block &b, std::uint64_t offset, std::uint64_t len) {
    if (len == 0 || offset % b.page_size || len % b.page_size)
        return MEMFAULT_EINVAL;
    if (offset >= b.length || len > b.length - offset)
        return MEMFAULT_ENOBLOCK;
    // Reused across calls: an arrival allocates nothing once warmed up.
    thread_local std::vector<Waiter> waiters;
    for (std::uint64_t bp = offset / b.page_size; bp < (offset + len) / b.page_size; bp++) {
        // 1. arrived bit + userfault bits (release), 2. take the waiters under
        // the shard lock (InflightTable::join() re-checks presence under the
        // same lock), 3. wake them with no shard lock held.
        std::uint64_t newly = regions_.mark_arrived(b, bp * b.kvm_per_page, b.kvm_per_page);
        waiters.clear();
        inflight_.complete(make_key(b.index, bp), waiters, newly != 0);
        if (!newly)
            shared_.duplicate.add();
        for (const Waiter &w : waiters)
            if (w.vcpu < nvcpus_)
                vcpus_[w.vcpu].waiter.complete(w.gen);
    }
    return MEMFAULT_OK;
}

MemfaultStatus Engine::page_arrived(std::string_view idstr, std::uint64_t offset, std::uint64_t len) {
    const Snapshot::BlockSlots *bs = regions_.current().find_block(idstr);
    if (!bs)
        return MEMFAULT_ENOBLOCK;
    return arrive(*bs->block, offset, len);
}

MemfaultStatus Engine::page_arrived_host(std::uintptr_t host, std::uint64_t len) {
    const Slot *s = regions_.current().find_host(host);
    if (!s)
        return MEMFAULT_ENOREGION;
    return arrive(*s->block, s->offset + (host - s->host), len);
}

MemfaultStatus Engine::send_queued() {
    QueuedRequest r;
    while (queue_.pop(r)) {
        if (Phase p = phase(); p != Phase::kRunning) {
            queue_.clear();
            return phase_status(p);
        }
        if (send(*r.block, r.first, r.n) != 0) {
            shared_.failed.add();
            queue_.push_front(r); // first again next time; still in flight
            return MEMFAULT_ESEND;
        }
        shared_.sent.add();
        shared_.pages_requested.add(r.n);
    }
    if (Phase p = phase(); p != Phase::kRunning)
        return phase_status(p);
    return MEMFAULT_OK;
}

MemfaultStatus Engine::resend_requests() {
    // Every queued request is in the table (created before it was queued),
    // so this sends it: drop the queue first, or the sender sends it again.
    // One queued after the clear is sent by the sender (and maybe here too,
    // if it made the keys below: a duplicate the source ignores).
    queue_.clear();
    std::vector<PageKey> keys = inflight_.keys();
    std::sort(keys.begin(), keys.end());
    const Snapshot &snap = regions_.current();
    MemfaultStatus st = MEMFAULT_OK;
    for (std::size_t i = 0; i < keys.size();) {
        // A run of consecutive pages of one block, at most readahead_pages_.
        std::size_t j = i + 1;
        while (j < keys.size() && j - i < readahead_pages_ && keys[j] == keys[j - 1] + 1 &&
               key_block(keys[j]) == key_block(keys[i]))
            j++;
        const Block &b = *snap.blocks.at(snap.by_index.at(key_block(keys[i]))).block;
        if (send(b, key_page(keys[i]), j - i) == 0) {
            shared_.resends.add();
            shared_.pages_requested.add(j - i);
        } else {
            shared_.failed.add();
            st = MEMFAULT_ESEND;
        }
        i = j;
    }
    return st;
}

// ---- statistics ----------------------------------------------------------

void Engine::stats(MemfaultStats &o) const {
    o = MemfaultStats{};
    std::array<std::uint64_t, LatencyHistogram::kBuckets> acc{};
    std::uint64_t max = 0;
    for (std::uint32_t i = 0; i < nvcpus_; i++) {
        const Vcpu &v = vcpus_[i];
        o.exits += v.exits.get();
        o.exits_present += v.present.get();
        o.exits_populated += v.populated.get();
        o.requests_sent += v.sent.get();
        o.requests_queued += v.queued.get();
        o.requests_failed += v.failed.get();
        o.pages_requested += v.pages_requested.get();
        o.requests_joined += v.joined.get();
        o.kicks += v.kicks.get();
        v.latency.accumulate(acc);
        max = std::max(max, v.latency.max());
    }
    o.requests_sent += shared_.sent.get() + shared_.resends.get();
    o.requests_failed += shared_.failed.get();
    o.pages_requested += shared_.pages_requested.get();
    o.requests_joined += shared_.joined.get();
    const InflightTable::ArrivalCounts ac = inflight_.arrival_counts();
    o.pages_arrived = ac.arrived;
    o.arrivals_unrequested = ac.unrequested;
    o.arrivals_duplicate = shared_.duplicate.get();
    o.resends = shared_.resends.get();
    o.inflight = inflight_.size();
    for (auto c : acc)
        o.latency_count += c;
    o.latency_p50_ns = LatencyHistogram::quantile(acc, 0.50, max);
    o.latency_p90_ns = LatencyHistogram::quantile(acc, 0.90, max);
    o.latency_p99_ns = LatencyHistogram::quantile(acc, 0.99, max);
    o.latency_max_ns = max;
}

MemfaultStatus Engine::vcpu_stats(std::uint32_t vcpu, MemfaultVcpuStats &o) const {
    if (vcpu >= nvcpus_)
        return MEMFAULT_EINVAL;
    Vcpu &v = vcpus_[vcpu];
    o = MemfaultVcpuStats{};
    o.exits = v.exits.get();
    o.requests_sent = v.sent.get() + v.queued.get();
    o.requests_joined = v.joined.get();
    o.waits = v.waits.get();
    o.blocked_ns = v.blocked_ns.get();
    // A wait in progress counts up to now (relaxed: a statistic, racing the
    // vCPU thread's own update at most by one wait).
    const std::uint64_t since = v.blocked_since_ns.load(std::memory_order_relaxed);
    const std::uint64_t now = now_ns();
    if (since && now > since)
        o.blocked_ns += now - since;
    o.latency_max_ns = v.latency.max();
    o.waiting = v.waiter.is_waiting();
    return MEMFAULT_OK;
}

} // namespace memfault
