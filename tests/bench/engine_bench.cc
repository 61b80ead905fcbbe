// The engine's own cost per fault, against a model of QEMU's current scheme,
// in the same run.
//
// One iteration = one fault on a fresh page, resolved end to end with the
// transport taken out (send_request is a no-op and the "listen thread" is
// the faulting thread itself, calling page_arrived right after the request):
//   handle_exit (decode + in-flight insert + send)  -> MEMFAULT_WAIT
//   page_arrived (arrived bit + userfault bit + complete + wake)
//   wait                                           -> MEMFAULT_ARRIVED
// Each thread is one vCPU faulting on its own pages.
//
// Baseline: QEMU's destination bookkeeping -- one ordered map of requested
// pages (page_requested, a GTree) under one mutex (page_request_mutex), a
// receivedmap bit test before and a bit set on placement -- with the same
// per-vCPU wake as the engine, so the difference is the table and its lock.
// The engine also times every fault (two clock reads, its latency histogram
// and blocked time), which QEMU does only with the postcopy-blocktime
// capability: BM_QemuBlocktime adds a model of 10.2's blocktime bookkeeping
// (a clock read and an entry in an address hash at the request, a clock read
// and the list walk at placement, all under page_request_mutex), the
// like-for-like comparison for an engine that always measures.
//
// Counters: p50_ns / p99_ns / max_ns are per-fault latencies measured around
// each iteration; items_per_second is faults per second over all threads.
// MEMFAULT_BENCH_ITERS sets the faults per thread (default 200000).
#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <forward_list>
#include <map>
#include <unordered_map>
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>

#include "atomic_bitmap.h"
#include "latency_histogram.h"
#include "memfault/memfault.h"
#include "sync.h"
#include "vcpu_waiter.h"

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kUF = MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT;
constexpr int kMaxThreads = 8;

std::int64_t iters() {
    const char *e = std::getenv("MEMFAULT_BENCH_ITERS");
    return e ? std::atoll(e) : 200000;
}

std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Per-thread latency histograms, read by thread 0 after the run's final
// barrier (Google Benchmark synchronises the threads at loop start and end).
struct alignas(64) PerThread {
    std::unique_ptr<memfault::LatencyHistogram> h;
};
std::array<PerThread, kMaxThreads> g_lat;

void reset_latency() {
    for (auto &p : g_lat)
        p.h = std::make_unique<memfault::LatencyHistogram>();
}

void report_latency(benchmark::State &state, int threads) {
    std::array<std::uint64_t, memfault::LatencyHistogram::kBuckets> acc{};
    std::uint64_t max = 0;
    for (int i = 0; i < threads; i++) {
        g_lat[i].h->accumulate(acc);
        max = std::max(max, g_lat[i].h->max());
    }
    using H = memfault::LatencyHistogram;
    state.counters["p50_ns"] = static_cast<double>(H::quantile(acc, 0.50, max));
    state.counters["p99_ns"] = static_cast<double>(H::quantile(acc, 0.99, max));
    state.counters["max_ns"] = static_cast<double>(max);
}

// ---- the engine ------------------------------------------------------------

int send_nothing(void *, const char *, std::uint64_t, std::uint64_t) { return 0; }

MemfaultEngine *g_engine;

void BM_Engine(benchmark::State &state) {
    const int threads = state.threads();
    const std::uint64_t per_thread = static_cast<std::uint64_t>(iters());
    const std::uint64_t pages = per_thread * static_cast<std::uint64_t>(threads);
    if (state.thread_index() == 0) {
        MemfaultConfig c{static_cast<std::uint32_t>(threads), 0, 0, MEMFAULT_MECHANISM_USERFAULT};
        MemfaultOps ops{send_nothing, nullptr, nullptr};
        if (memfault_engine_new(&c, &ops, nullptr, &g_engine) != MEMFAULT_OK ||
            memfault_block_add(g_engine, "pc.ram", pages * kPage, kPage) != MEMFAULT_OK ||
            memfault_slot_add(g_engine, 0, 0, pages * kPage, nullptr, "pc.ram", 0) != MEMFAULT_OK ||
            memfault_block_seed(g_engine, "pc.ram", nullptr, pages) != MEMFAULT_OK)
            state.SkipWithError("engine setup failed");
        reset_latency();
    }
    const auto v = static_cast<std::uint32_t>(state.thread_index());
    std::uint64_t page = per_thread * v;
    for (auto _ : state) {
        const std::uint64_t gpa = page * kPage, t0 = now_ns();
        MemfaultStatus s = memfault_vcpu_handle_exit(g_engine, v, gpa, kPage, kUF);
        MemfaultStatus a = memfault_page_arrived(g_engine, "pc.ram", gpa, kPage);
        MemfaultStatus w = memfault_vcpu_wait(g_engine, v, -1);
        g_lat[v].h->record(now_ns() - t0);
        if (s != MEMFAULT_WAIT || a != MEMFAULT_OK || w != MEMFAULT_ARRIVED) {
            state.SkipWithError("unexpected status");
            break;
        }
        page++;
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        report_latency(state, threads);
        MemfaultStats st;
        memfault_get_stats(g_engine, &st);
        state.counters["engine_p50_ns"] = static_cast<double>(st.latency_p50_ns);
        state.counters["engine_p99_ns"] = static_cast<double>(st.latency_p99_ns);
        memfault_engine_free(g_engine);
        g_engine = nullptr;
    }
}

// ---- the baseline: QEMU's page_requested tree under page_request_mutex -------

class QemuScheme {
public:
    QemuScheme(std::uint64_t pages, int vcpus, bool blocktime)
        : receivedmap_(pages), waiters_(new memfault::VcpuWaiter[vcpus]), blocktime_(blocktime),
          bt_total_ns_(static_cast<std::size_t>(vcpus)), bt_faults_(static_cast<std::size_t>(vcpus)),
          bt_current_(static_cast<std::size_t>(vcpus)) {
        for (int v = 0; v < vcpus; v++)
            bt_tid_to_vcpu_[1000u + static_cast<std::uint32_t>(v)] = v;
    }

    // migrate_send_rp_req_pages(): dedup under the mutex, send outside it.
    bool request(std::uint64_t haddr, std::uint32_t vcpu, std::uint64_t gen) MF_EXCLUDES(mu_) {
        if (receivedmap_.test(haddr / kPage, std::memory_order_acquire))
            return false;
        bool send = false;
        {
            memfault::MutexLock l(mu_);
            auto [it, inserted] = page_requested_.try_emplace(haddr);
            it->second.push_back({vcpu, gen});
            if (inserted) {
                page_requested_count_++;
                send = true;
            }
            if (blocktime_)
                blocktime_begin(haddr, 1000u + vcpu);
        }
        if (send)
            send_nothing(nullptr, "pc.ram", haddr, kPage);
        return true;
    }

    // qemu_ufd_copy_ioctl() after UFFDIO_COPY: under the mutex set the
    // receivedmap bit and drop the tree entry; then the kernel wakes sleepers.
    void placed(std::uint64_t haddr) MF_EXCLUDES(mu_) {
        std::vector<Waiter> woken;
        {
            memfault::MutexLock l(mu_);
            receivedmap_.set_range(haddr / kPage, 1, std::memory_order_release);
            if (blocktime_)
                blocktime_end(haddr);
            auto it = page_requested_.find(haddr);
            if (it != page_requested_.end()) {
                woken.swap(it->second);
                page_requested_.erase(it);
                page_requested_count_--;
            }
        }
        for (auto &w : woken)
            waiters_[w.vcpu].complete(w.gen);
    }

    memfault::VcpuWaiter &waiter(std::uint32_t v) { return waiters_[v]; }

private:
    struct Waiter {
        std::uint32_t vcpu;
        std::uint64_t gen;
    };
    // 10.2's BlocktimeVCPUEntry: allocated per fault, kept in a list per address.
    struct BlocktimeEntry {
        int cpu;
        std::uint64_t fault_time;
    };

    // mark_postcopy_blocktime_begin(): the clock, tid -> vCPU, the counters,
    // an entry prepended to the address's list in vcpu_addr_hash.
    void blocktime_begin(std::uint64_t addr, std::uint32_t tid) MF_REQUIRES(mu_) {
        const std::uint64_t now = now_ns();
        const auto t = bt_tid_to_vcpu_.find(tid);
        const int cpu = t == bt_tid_to_vcpu_.end() ? -1 : t->second;
        if (cpu >= 0) {
            bt_faults_[static_cast<std::size_t>(cpu)]++;
            if (bt_current_[static_cast<std::size_t>(cpu)]++ == 0) {
                bt_cpus_down_++;
                bt_last_begin_ = now;
            }
        }
        bt_addr_hash_[addr].push_front(new BlocktimeEntry{cpu, now});
    }

    // mark_postcopy_blocktime_end(): the clock, the address's list walked
    // (latency bucket, per-vCPU blocktime), freed and removed.
    void blocktime_end(std::uint64_t addr) MF_REQUIRES(mu_) {
        const std::uint64_t now = now_ns();
        const auto it = bt_addr_hash_.find(addr);
        if (it == bt_addr_hash_.end())
            return;
        int affected = 0;
        for (BlocktimeEntry *e : it->second) {
            const std::uint64_t passed = now - e->fault_time, us = passed / 1000;
            bt_latency_buckets_[std::min(us ? 63 - __builtin_clzll(us) : 0, 31)]++;
            if (e->cpu >= 0 && --bt_current_[static_cast<std::size_t>(e->cpu)] == 0) {
                bt_total_ns_[static_cast<std::size_t>(e->cpu)] += passed;
                affected++;
            }
            delete e;
        }
        bt_addr_hash_.erase(it);
        bt_cpus_down_ -= affected;
    }

    memfault::Mutex mu_;
    std::map<std::uint64_t, std::vector<Waiter>> page_requested_ MF_GUARDED_BY(mu_);
    std::uint64_t page_requested_count_ MF_GUARDED_BY(mu_) = 0;
    memfault::AtomicBitmap receivedmap_;
    std::unique_ptr<memfault::VcpuWaiter[]> waiters_;
    const bool blocktime_;
    // PostcopyBlocktimeContext, under page_request_mutex as in 10.2.
    std::unordered_map<std::uint32_t, int> bt_tid_to_vcpu_; // written before the run
    std::unordered_map<std::uint64_t, std::forward_list<BlocktimeEntry *>> bt_addr_hash_ MF_GUARDED_BY(mu_);
    std::vector<std::uint64_t> bt_total_ns_ MF_GUARDED_BY(mu_);
    std::vector<std::uint64_t> bt_faults_ MF_GUARDED_BY(mu_);
    std::vector<std::uint8_t> bt_current_ MF_GUARDED_BY(mu_);
    std::array<std::uint64_t, 32> bt_latency_buckets_ MF_GUARDED_BY(mu_){};
    std::uint64_t bt_last_begin_ MF_GUARDED_BY(mu_) = 0;
    int bt_cpus_down_ MF_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<QemuScheme> g_qemu;

void run_qemu_scheme(benchmark::State &state, bool blocktime) {
    const int threads = state.threads();
    const std::uint64_t per_thread = static_cast<std::uint64_t>(iters());
    if (state.thread_index() == 0) {
        g_qemu = std::make_unique<QemuScheme>(per_thread * static_cast<std::uint64_t>(threads),
                                              threads, blocktime);
        reset_latency();
    }
    const auto v = static_cast<std::uint32_t>(state.thread_index());
    std::uint64_t page = per_thread * v;
    for (auto _ : state) {
        const std::uint64_t haddr = page * kPage, t0 = now_ns();
        memfault::VcpuWaiter &w = g_qemu->waiter(v);
        const std::uint64_t gen = w.begin_wait();
        g_qemu->request(haddr, v, gen);
        g_qemu->placed(haddr);
        auto end = w.wait(nullptr, [] { return false; }, [](memfault::VcpuWaiter::End e) { return e; });
        g_lat[v].h->record(now_ns() - t0);
        if (end != memfault::VcpuWaiter::End::kArrived) {
            state.SkipWithError("baseline wait did not see its page");
            break;
        }
        page++;
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        report_latency(state, threads);
        g_qemu.reset();
    }
}

void BM_QemuBaseline(benchmark::State &state) { run_qemu_scheme(state, false); }
void BM_QemuBlocktime(benchmark::State &state) { run_qemu_scheme(state, true); }

void configure(benchmark::internal::Benchmark *b) {
    b->Iterations(iters())->UseRealTime()->Unit(benchmark::kNanosecond);
    for (int t = 1; t <= kMaxThreads; t *= 2)
        b->Threads(t);
}

BENCHMARK(BM_Engine)->Apply(configure);
BENCHMARK(BM_QemuBaseline)->Apply(configure);
BENCHMARK(BM_QemuBlocktime)->Apply(configure);

} // namespace

BENCHMARK_MAIN();
