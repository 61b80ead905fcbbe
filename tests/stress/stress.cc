// Stress: many vCPU threads faulting on random pages against a fake source
// that answers in random order, drops sends (a paused postcopy), delivers
// duplicates and unrequested pages, while other threads kick vCPUs, request
// pages like the userfaultfd fault thread, resend, read stats and hot-plug a
// memslot.  Built with ThreadSanitizer and with AddressSanitizer+UBSan; any
// report, invariant violation or hang (watchdog) fails the run.
//
//   stress [--seconds N] [--seed N]
//
// Invariants checked:
//  - a vCPU only resumes (RESOLVED / ARRIVED) on a page the source placed;
//  - every status is one the ABI documents for that call;
//  - at the end of a round, every userfault bit equals "not arrived" in every
//    slot (seeding, hot-plug and arrivals raced but agree);
//  - teardown (shutdown, fail, or free) while vCPUs wait returns them all;
//  - in the rounds with a sender thread (ops->requests_queued, as QEMU runs
//    it), no vCPU thread ever sends; in every round, no callback on a vCPU
//    thread (its own sends included) comes after the teardown returned.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "memfault/memfault.h"

namespace {

constexpr std::uint64_t kPage = 4096, kHuge = 2ull << 20, kGiB = 1ull << 30;
constexpr std::uint64_t kUF = MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT;
constexpr std::uint32_t kVcpus = 8;
constexpr std::uint64_t kRamPages = 1 << 18; // 1 GiB: pages stay missing for the whole round
constexpr std::uint64_t kHugePages = 16;   // 32 MiB of 2M pages
constexpr std::uint64_t kHotPages = 256;
// The last kReserved pages of "ram" are touched only in the teardown phase
// and never delivered before it, so vCPUs are sure to be waiting then.
constexpr std::uint64_t kReserved = 4096;

std::atomic<int> g_violations{0};
// Faults that joined another's request, over all rounds (main thread only).
std::uint64_t g_joined = 0;
#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::fprintf(stderr, "VIOLATION %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            std::fprintf(stderr, __VA_ARGS__);                                                    \
            std::fprintf(stderr, "\n");                                                           \
            g_violations++;                                                                       \
        }                                                                                         \
    } while (0)

struct Req {
    int block; // 0 ram, 1 huge, 2 hot
    std::uint64_t offset, len;
};

int block_of(const char *id) {
    if (!std::strcmp(id, "ram")) return 0;
    if (!std::strcmp(id, "huge")) return 1;
    if (!std::strcmp(id, "hot")) return 2;
    return -1;
}
const char *kIds[] = {"ram", "huge", "hot"};
const std::uint64_t kPsize[] = {kPage, kHuge, kPage};
const std::uint64_t kNpages[] = {kRamPages, kHugePages, kHotPages};

thread_local bool t_vcpu = false; // this thread is a vCPU thread

// The fake migration source plus what it placed.
struct Source {
    bool queued = false;                 // vCPUs queue, sender_thread() sends
    std::atomic<bool> torn_down{false};  // teardown returned: no callback may follow
    std::mutex qmu;
    std::condition_variable qcv;
    bool qpending = false; // guarded by qmu: requests_queued was called
    std::mutex mu;
    std::deque<Req> queue;       // requests received, served in random order
    std::atomic<unsigned> drop_permille{20};
    std::vector<std::atomic<bool>> placed[3]; // per block page: "UFFDIO_COPY done"
    std::atomic<std::uint64_t> sends{0};

    Source() {
        for (int b = 0; b < 3; b++)
            placed[b] = std::vector<std::atomic<bool>>(kNpages[b]);
    }

    static int send_cb(void *opaque, const char *id, std::uint64_t off, std::uint64_t len) {
        auto *s = static_cast<Source *>(opaque);
        int b = block_of(id);
        CHECK(b >= 0, "request for unknown block %s", id);
        if (b < 0) return -EINVAL;
        CHECK(off % kPsize[b] == 0 && len % kPsize[b] == 0 && len > 0,
              "misaligned request %s+%#llx len %#llx", id, (unsigned long long)off,
              (unsigned long long)len);
        CHECK(off + len <= kNpages[b] * kPsize[b], "request past the block end");
        CHECK(!(s->queued && t_vcpu), "a vCPU thread sent a request with a sender thread");
        CHECK(!(t_vcpu && s->torn_down.load()), "a vCPU thread sent a request after the teardown returned");
        s->sends++;
        thread_local std::minstd_rand r(std::hash<std::thread::id>{}(std::this_thread::get_id()));
        if (r() % 1000 < s->drop_permille.load(std::memory_order_relaxed))
            return -EIO; // "postcopy paused": the engine must keep it for resend
        std::lock_guard<std::mutex> l(s->mu);
        s->queue.push_back({b, off, len});
        return 0;
    }

    static void queued_cb(void *opaque) {
        auto *s = static_cast<Source *>(opaque);
        CHECK(!s->torn_down.load(), "requests_queued after the teardown returned");
        {
            std::lock_guard<std::mutex> l(s->qmu);
            s->qpending = true;
        }
        s->qcv.notify_one();
    }

    static void wait_cb(void *opaque, const char *, std::uint64_t, std::uint32_t) {
        CHECK(!static_cast<Source *>(opaque)->torn_down.load(), "wait_begin after the teardown returned");
    }

    // Place one block page and tell the engine, like ram_load_postcopy.
    void place(MemfaultEngine *e, int b, std::uint64_t page) {
        placed[b][page].store(true, std::memory_order_release);
        MemfaultStatus s = memfault_page_arrived(e, kIds[b], page * kPsize[b], kPsize[b]);
        CHECK(s == MEMFAULT_OK, "page_arrived: %s", memfault_status_str(s));
    }
};

struct Round {
    MemfaultEngine *e = nullptr;
    Source src;
    std::atomic<bool> stop{false};       // stop generating faults
    std::atomic<bool> stop_helpers{false};
    std::atomic<bool> final_phase{false}; // fault only on reserved pages
    // The helpers were joined: nothing places a page or kicks any more.
    // Set by the main thread (release); read by vCPU threads before a wait.
    std::atomic<bool> helpers_gone{false};
    std::atomic<std::uint64_t> faults{0}, resumes{0}, kicked{0}, teardown_returns{0};
    std::atomic<bool> vcpu_done[kVcpus] = {}; // set after a vCPU thread's last engine call
    // The vCPU entered a wait after it saw helpers_gone: only the teardown
    // can end it.  (MemfaultVcpuStats.waiting cannot tell: it stays true
    // for a wait a helper completed until the vCPU thread runs again.)
    std::atomic<bool> stuck_for_good[kVcpus] = {};
    std::uint32_t readahead;
};

std::uint64_t gpa_of(int b, std::uint64_t byte_off) {
    switch (b) {
    case 0: return byte_off < kRamPages * kPage / 2 ? byte_off : 4 * kGiB + byte_off - kRamPages * kPage / 2;
    case 1: return 8 * kGiB + byte_off;
    default: return 16 * kGiB + byte_off;
    }
}

void vcpu_loop(Round &R, std::uint32_t v, std::uint64_t seed);
void vcpu_thread(Round &R, std::uint32_t v, std::uint64_t seed) {
    t_vcpu = true;
    vcpu_loop(R, v, seed);
    R.vcpu_done[v].store(true, std::memory_order_release);
}

void vcpu_loop(Round &R, std::uint32_t v, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!R.stop.load(std::memory_order_relaxed)) {
        int b = rng() % 16 == 0 ? 2 : (rng() % 4 == 0 ? 1 : 0);
        std::uint64_t byte_off = (rng() % (kNpages[b] * kPsize[b] / kPage)) * kPage;
        if (R.final_phase.load(std::memory_order_relaxed)) {
            b = 0;
            byte_off = (kRamPages - kReserved + rng() % kReserved) * kPage;
        } else if (b == 0) {
            byte_off = (rng() % (kRamPages - kReserved)) * kPage;
        }
        std::uint64_t page = byte_off / kPsize[b];
        std::uint64_t gpa = gpa_of(b, byte_off);
        R.faults++;
        for (;;) {
            MemfaultStatus s = memfault_vcpu_handle_exit(R.e, v, gpa, kPage, kUF);
            if (s == MEMFAULT_RESOLVED) {
                CHECK(R.src.placed[b][page].load(std::memory_order_acquire),
                      "vCPU %u resumed on unplaced page %s:%llu", v, kIds[b], (unsigned long long)page);
                R.resumes++;
                break;
            }
            if (b == 2 && s == MEMFAULT_RETRY)
                break; // the hot-plugged slot is out right now: a stale exit
            if (s == MEMFAULT_SHUTDOWN || s == MEMFAULT_FAILED) {
                R.teardown_returns++;
                return;
            }
            CHECK(s == MEMFAULT_WAIT, "handle_exit: %s", memfault_status_str(s));
            if (s != MEMFAULT_WAIT)
                return;
            if (R.helpers_gone.load(std::memory_order_acquire))
                R.stuck_for_good[v].store(true, std::memory_order_release);
            s = memfault_vcpu_wait(R.e, v, -1);
            if (s == MEMFAULT_ARRIVED) {
                CHECK(R.src.placed[b][page].load(std::memory_order_acquire),
                      "vCPU %u woke for unplaced page %s:%llu", v, kIds[b], (unsigned long long)page);
                R.resumes++;
                break;
            }
            if (s == MEMFAULT_KICKED) {
                R.kicked++;
                continue; // back to "QEMU's loop", then re-enter and fault again
            }
            if (s == MEMFAULT_SHUTDOWN || s == MEMFAULT_FAILED) {
                R.teardown_returns++;
                return;
            }
            CHECK(false, "wait: %s", memfault_status_str(s));
            return;
        }
    }
}

// The listen thread: serve queued requests in random order, sometimes twice.
void listen_thread(Round &R, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        Req q;
        {
            std::lock_guard<std::mutex> l(R.src.mu);
            if (R.src.queue.empty()) {
                q.len = 0;
            } else {
                std::size_t i = rng() % R.src.queue.size();
                q = R.src.queue[i];
                R.src.queue.erase(R.src.queue.begin() + static_cast<long>(i));
            }
        }
        if (!q.len) {
            std::this_thread::sleep_for(std::chrono::microseconds(20));
            continue;
        }
        for (std::uint64_t off = q.offset; off < q.offset + q.len; off += kPsize[q.block]) {
            R.src.place(R.e, q.block, off / kPsize[q.block]);
            if (rng() % 50 == 0)
                R.src.place(R.e, q.block, off / kPsize[q.block]); // duplicate
        }
    }
}

// The background stream (and the preempt channel): pages nobody asked for.
void background_thread(Round &R, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        int b = static_cast<int>(rng() % 3);
        R.src.place(R.e, b, rng() % (kNpages[b] - (b == 0 ? kReserved : 0)));
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
    }
}

// QEMU's fault thread as the sender: woken by requests_queued, sends the
// queue; a failed send (paused) is tried again later.
void sender_thread(Round &R) {
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        {
            std::unique_lock<std::mutex> l(R.src.qmu);
            R.src.qcv.wait_for(l, std::chrono::milliseconds(1), [&] { return R.src.qpending; });
            R.src.qpending = false;
        }
        MemfaultStatus s = memfault_send_queued(R.e);
        CHECK(s == MEMFAULT_OK || s == MEMFAULT_ESEND, "send_queued: %s", memfault_status_str(s));
    }
}

void kicker_thread(Round &R, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        MemfaultStatus s = rng() % 8 == 0 ? memfault_vcpu_kick_all(R.e)
                                          : memfault_vcpu_kick(R.e, static_cast<std::uint32_t>(rng() % kVcpus));
        CHECK(s == MEMFAULT_OK, "kick: %s", memfault_status_str(s));
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    }
}

// The userfaultfd fault thread, the recovery path and a stats reader.
void misc_thread(Round &R, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        int b = static_cast<int>(rng() % 2);
        std::uint64_t np = kNpages[b] - (b == 0 ? kReserved : 0);
        MemfaultStatus s = memfault_request_page(R.e, kIds[b], (rng() % np) * kPsize[b] + rng() % kPsize[b]);
        CHECK(s == MEMFAULT_OK || s == MEMFAULT_WAIT || s == MEMFAULT_RESOLVED || s == MEMFAULT_ESEND ||
                  s == MEMFAULT_SHUTDOWN || s == MEMFAULT_FAILED,
              "request_page: %s", memfault_status_str(s));
        if (rng() % 16 == 0) {
            s = memfault_resend_requests(R.e);
            CHECK(s == MEMFAULT_OK || s == MEMFAULT_ESEND, "resend: %s", memfault_status_str(s));
        }
        MemfaultStats st;
        CHECK(memfault_get_stats(R.e, &st) == MEMFAULT_OK, "stats");
        CHECK(st.latency_p50_ns <= st.latency_max_ns, "p50 > max");
        MemfaultVcpuStats vs;
        CHECK(memfault_get_vcpu_stats(R.e, static_cast<std::uint32_t>(rng() % kVcpus), &vs) == MEMFAULT_OK, "vstats");
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    }
}

// Hot-plug: the "hot" block's slot comes and goes while vCPUs fault on it.
void hotplug_thread(Round &R, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bool in = true;
    while (!R.stop_helpers.load(std::memory_order_relaxed)) {
        MemfaultStatus s = in ? memfault_slot_remove(R.e, 10)
                              : memfault_slot_add(R.e, 10, 16 * kGiB, kHotPages * kPage,
                                                  reinterpret_cast<void *>(0x7f4000000000ull), "hot", 0);
        CHECK(s == MEMFAULT_OK, "hotplug: %s", memfault_status_str(s));
        in = !in;
        std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 800));
    }
    if (!in)
        memfault_slot_add(R.e, 10, 16 * kGiB, kHotPages * kPage, reinterpret_cast<void *>(0x7f4000000000ull), "hot", 0);
}

// Every userfault bit of @slot equals "not placed" for its page.
void check_bitmap(Round &R, std::uint32_t slot, int b, std::uint64_t block_off) {
    unsigned long *bm;
    std::uint64_t n;
    if (memfault_slot_bitmap(R.e, slot, &bm, &n) != MEMFAULT_OK) {
        CHECK(false, "slot %u has no bitmap", slot);
        return;
    }
    for (std::uint64_t i = 0; i < n; i++) {
        bool bit = (__atomic_load_n(&bm[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
        std::uint64_t page = (block_off + i * kPage) / kPsize[b];
        bool placed = R.src.placed[b][page].load(std::memory_order_acquire);
        if (bit == placed) {
            CHECK(false, "slot %u bit %llu is %d but page placed=%d", slot, (unsigned long long)i, bit, placed);
            return;
        }
    }
}

enum class Teardown { kShutdown, kFail, kFree };

void run_round(std::uint64_t seed, double seconds, std::uint32_t readahead, Teardown how, bool queued) {
    Round R;
    R.readahead = readahead;
    R.src.queued = queued;
    MemfaultConfig c{kVcpus, 0, readahead, MEMFAULT_MECHANISM_USERFAULT};
    MemfaultOps ops{&Source::send_cb, &Source::wait_cb, queued ? &Source::queued_cb : nullptr};
    if (memfault_engine_new(&c, &ops, &R.src, &R.e) != MEMFAULT_OK) {
        CHECK(false, "engine_new");
        return;
    }
    auto ok = [](MemfaultStatus s) { CHECK(s == MEMFAULT_OK, "setup: %s", memfault_status_str(s)); };
    ok(memfault_block_add(R.e, "ram", kRamPages * kPage, kPage));
    ok(memfault_block_add(R.e, "huge", kHugePages * kHuge, kHuge));
    ok(memfault_block_add(R.e, "hot", kHotPages * kPage, kPage));
    const std::uint64_t half = kRamPages * kPage / 2;
    ok(memfault_slot_add(R.e, 0, 0, half, reinterpret_cast<void *>(0x7f0000000000ull), "ram", 0));
    ok(memfault_slot_add(R.e, 1, 4 * kGiB, half, reinterpret_cast<void *>(0x7f0000000000ull + half), "ram", half));
    ok(memfault_slot_add(R.e, 2, 8 * kGiB, kHugePages * kHuge, reinterpret_cast<void *>(0x7f1000000000ull), "huge", 0));
    ok(memfault_slot_add(R.e, 3, 2 * kGiB, 1ull << 20, reinterpret_cast<void *>(0x7f2000000000ull), "ram", 0)); // alias
    ok(memfault_slot_add(R.e, 10, 16 * kGiB, kHotPages * kPage, reinterpret_cast<void *>(0x7f4000000000ull), "hot", 0));

    // Precopy delivered ~10% of the pages before postcopy started.
    std::mt19937_64 rng(seed);
    for (int b = 0; b < 3; b++) {
        std::uint64_t kvm_per = kPsize[b] / kPage, nbits = kNpages[b] * kvm_per;
        std::vector<unsigned long> rx((nbits + 63) / 64, 0);
        for (std::uint64_t p = 0; p < kNpages[b]; p++) {
            if (rng() % 10 == 0 && !(b == 0 && p >= kRamPages - kReserved)) {
                R.src.placed[b][p].store(true, std::memory_order_relaxed);
                for (std::uint64_t k = 0; k < kvm_per; k++)
                    rx[(p * kvm_per + k) / 64] |= 1ul << ((p * kvm_per + k) % 64);
            }
        }
        ok(memfault_block_seed(R.e, kIds[b], rx.data(), nbits));
    }

    std::vector<std::thread> vcpus, helpers;
    for (std::uint32_t v = 0; v < kVcpus; v++)
        vcpus.emplace_back(vcpu_thread, std::ref(R), v, seed * 100 + v);
    helpers.emplace_back(listen_thread, std::ref(R), seed + 1);
    helpers.emplace_back(background_thread, std::ref(R), seed + 2);
    helpers.emplace_back(kicker_thread, std::ref(R), seed + 3);
    helpers.emplace_back(misc_thread, std::ref(R), seed + 4);
    helpers.emplace_back(hotplug_thread, std::ref(R), seed + 5);
    if (queued)
        helpers.emplace_back(sender_thread, std::ref(R));

    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));

    // Teardown while vCPUs wait: stop delivering, let the vCPUs run into
    // missing pages (every send now "fails"), then stop them.
    R.src.drop_permille = 1000;
    R.stop_helpers = true;
    for (auto &t : helpers)
        t.join();
    R.helpers_gone.store(true, std::memory_order_release);
    // Now fault only on reserved pages, which nothing will deliver: every
    // vCPU soon blocks in a wait that only the teardown can end.  (Read-ahead
    // may have fetched a few at the range's start; the vCPUs move past them.)
    // A kick ends the waits entered before: a vCPU waiting for a page whose
    // request was dropped faults again and waits anew, now for good.
    R.final_phase = true;
    CHECK(memfault_vcpu_kick_all(R.e) == MEMFAULT_OK, "kick_all");
    for (std::uint32_t v = 0; v < kVcpus; v++) {
        MemfaultVcpuStats vs{};
        while (!R.vcpu_done[v].load(std::memory_order_acquire) &&
               !(R.stuck_for_good[v].load(std::memory_order_acquire) &&
                 memfault_get_vcpu_stats(R.e, v, &vs) == MEMFAULT_OK && vs.waiting))
            std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    R.stop = true;
    MemfaultStats st;
    memfault_get_stats(R.e, &st);
    if (how == Teardown::kFree) {
        memfault_engine_free(R.e); // returns only once every waiter has left
        R.src.torn_down = true;
        for (auto &t : vcpus)
            t.join();
        R.e = nullptr;
    } else {
        // Before tearing down: the bitmaps agree with the placed pages.
        check_bitmap(R, 0, 0, 0);
        check_bitmap(R, 1, 0, half);
        check_bitmap(R, 2, 1, 0);
        check_bitmap(R, 3, 0, 0);
        check_bitmap(R, 10, 2, 0);
        CHECK((how == Teardown::kShutdown ? memfault_engine_shutdown(R.e) : memfault_engine_fail(R.e)) == MEMFAULT_OK,
              "teardown");
        R.src.torn_down = true; // vCPUs still run into exits: they must call nothing back
        for (auto &t : vcpus)
            t.join();
        memfault_engine_free(R.e);
    }
    std::printf("round seed=%llu readahead=%u teardown=%d queued=%d: faults=%llu resumes=%llu kicked=%llu "
                "exits=%llu sent=%llu failed=%llu joined=%llu arrived=%llu dup=%llu unreq=%llu "
                "resends=%llu inflight=%llu p50=%lluns p99=%lluns max=%lluns waiting-at-teardown=%llu\n",
                (unsigned long long)seed, readahead, static_cast<int>(how), queued,
                (unsigned long long)R.faults.load(), (unsigned long long)R.resumes.load(),
                (unsigned long long)R.kicked.load(), (unsigned long long)st.exits,
                (unsigned long long)st.requests_sent, (unsigned long long)st.requests_failed,
                (unsigned long long)st.requests_joined, (unsigned long long)st.pages_arrived,
                (unsigned long long)st.arrivals_duplicate, (unsigned long long)st.arrivals_unrequested,
                (unsigned long long)st.resends, (unsigned long long)st.inflight,
                (unsigned long long)st.latency_p50_ns, (unsigned long long)st.latency_p99_ns,
                (unsigned long long)st.latency_max_ns, (unsigned long long)R.teardown_returns.load());
    CHECK(R.resumes.load() > 0, "no vCPU ever resumed");
    CHECK(R.teardown_returns.load() == kVcpus, "%llu of %u vCPUs were waiting at teardown",
          (unsigned long long)R.teardown_returns.load(), kVcpus);
    // A join needs two vCPUs on one page at once: a handful per round, none
    // in some rounds under TSan, so the check is over the whole run.
    g_joined += st.requests_joined;
}

} // namespace

int main(int argc, char **argv) {
    double seconds = 10;
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--seconds"))
            seconds = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seed"))
            seed = std::strtoull(argv[i + 1], nullptr, 0);
    }
    std::printf("stress: %.1f s, seed %llu\n", seconds, (unsigned long long)seed);
    std::fflush(stdout);

    // Watchdog: a hang is a failure, with a core dump's worth of context.
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds * 3 + 30);
        while (!done && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!done) {
            std::fprintf(stderr, "HANG: stress did not finish; aborting\n");
            std::abort();
        }
    });

    const Teardown how[] = {Teardown::kShutdown, Teardown::kFree, Teardown::kFail};
    const std::uint32_t ra[] = {0, 4, 1, 8};
    const int rounds = 6;
    for (int r = 0; r < rounds; r++)
        run_round(seed + static_cast<std::uint64_t>(r) * 1000, seconds / rounds, ra[r % 4], how[r % 3],
                  r % 2 == 1);
    CHECK(g_joined > 0, "no fault ever joined another in %d rounds", rounds);
    done = true;
    watchdog.join();
    if (g_violations) {
        std::fprintf(stderr, "FAILED: %d invariant violations\n", g_violations.load());
        return 1;
    }
    std::printf("OK\n");
    return 0;
}
