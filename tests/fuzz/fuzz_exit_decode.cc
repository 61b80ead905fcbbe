// libFuzzer target: exit decoding and region lookup.
//
// The input builds a small region table (blocks, slots, seeding, arrivals:
// invalid registrations included), then throws exits and lookups at it.
// Every decision is checked against a brute-force model of the table, and
// the bitmap range operations against a plain bool vector.  Any crash,
// sanitizer report or __builtin_trap() is a finding.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "atomic_bitmap.h"
#include "exit_decode.h"
#include "region_table.h"

using namespace memfault;

namespace {

#define FUZZ_CHECK(c)                                                                             \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            std::fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);           \
            __builtin_trap();                                                                     \
        }                                                                                         \
    } while (0)

constexpr std::uint64_t kPage = 4096;

std::uint64_t pick_addr(FuzzedDataProvider &p) {
    // Mostly page-ish numbers near the regions, sometimes anything at all.
    switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return p.ConsumeIntegral<std::uint64_t>();
    case 1: return p.ConsumeIntegralInRange<std::uint64_t>(0, 64) * kPage;
    default: return p.ConsumeIntegralInRange<std::uint64_t>(0, 1 << 14) * kPage +
                    (p.ConsumeBool() ? p.ConsumeIntegralInRange<std::uint64_t>(0, kPage) : 0);
    }
}

void fuzz_bitmap(FuzzedDataProvider &p) {
    const std::uint64_t n = p.ConsumeIntegralInRange<std::uint64_t>(1, 300);
    AtomicBitmap b(n);
    std::vector<bool> ref(n);
    for (int i = 0; i < 16 && p.remaining_bytes(); i++) {
        std::uint64_t first = p.ConsumeIntegralInRange<std::uint64_t>(0, n - 1);
        std::uint64_t len = p.ConsumeIntegralInRange<std::uint64_t>(0, n - first);
        unsigned take = static_cast<unsigned>(std::min<std::uint64_t>(len, 64));
        unsigned long bits = p.ConsumeIntegral<unsigned long>();
        switch (p.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: {
            std::uint64_t newly = b.set_range(first, len, std::memory_order_relaxed), want = 0;
            for (std::uint64_t k = first; k < first + len; k++)
                want += !ref[k], ref[k] = true;
            FUZZ_CHECK(newly == want);
            break;
        }
        case 1:
            b.clear_range(first, len, std::memory_order_relaxed);
            for (std::uint64_t k = first; k < first + len; k++)
                ref[k] = false;
            break;
        case 2:
            if (!take)
                break;
            b.or_bits(first, take, bits, std::memory_order_relaxed);
            for (unsigned k = 0; k < take; k++)
                if ((bits >> k) & 1)
                    ref[first + k] = true;
            break;
        case 3:
            if (!take)
                break;
            b.and_not_bits(first, take, bits, std::memory_order_relaxed);
            for (unsigned k = 0; k < take; k++)
                if ((bits >> k) & 1)
                    ref[first + k] = false;
            break;
        }
        if (take) {
            unsigned long got = b.load_bits(first, take, std::memory_order_relaxed), want = 0;
            for (unsigned k = 0; k < take; k++)
                want |= static_cast<unsigned long>(ref[first + k]) << k;
            FUZZ_CHECK(got == want);
        }
        bool all = true;
        for (std::uint64_t k = first; k < first + len; k++)
            all = all && ref[k];
        FUZZ_CHECK(b.all_set(first, len, std::memory_order_relaxed) == all);
    }
    for (std::uint64_t k = 0; k < n; k++)
        FUZZ_CHECK(b.test(k, std::memory_order_relaxed) == ref[k]);
}

using Range = std::pair<std::uint64_t, std::uint64_t>; // [begin, end)

// Whether [gpa, gpa + size) lies inside the union of @rs (size > 0).
bool covered(std::vector<Range> rs, std::uint64_t gpa, std::uint64_t size) {
    if (gpa + size < gpa)
        return false;
    std::sort(rs.begin(), rs.end());
    std::uint64_t reach = gpa; // covered from gpa up to here
    for (const auto &[lo, hi] : rs)
        if (lo <= reach && hi > reach)
            reach = hi;
    return reach >= gpa + size;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    FuzzedDataProvider p(data, size);
    if (p.ConsumeBool()) {
        fuzz_bitmap(p);
        return 0;
    }
    RegionTable t{kPage};
    std::vector<Range> removed; // the model of Snapshot::retired
    const char *ids[] = {"a", "b", "c"};
    const int nblocks = p.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < nblocks; i++) {
        std::uint64_t psize = p.ConsumeBool() ? kPage : (p.ConsumeBool() ? 2 * 1024 * 1024 : 3000);
        std::uint64_t len = p.ConsumeIntegralInRange<std::uint64_t>(0, 16) * 2 * 1024 * 1024 +
                            (p.ConsumeBool() ? 0 : p.ConsumeIntegralInRange<std::uint64_t>(0, 8) * kPage);
        t.add_block(ids[i], len, psize); // may refuse: that is part of the test
    }
    const int nslots = p.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < nslots; i++) {
        std::uint64_t gpa = pick_addr(p), sz = pick_addr(p), off = pick_addr(p);
        MemfaultStatus s = t.add_slot(static_cast<std::uint32_t>(p.ConsumeIntegralInRange<int>(0, 7)), gpa,
                                      sz, static_cast<std::uintptr_t>(pick_addr(p)),
                                      ids[p.ConsumeIntegralInRange<int>(0, 2)], off, p.ConsumeBool());
        FUZZ_CHECK(s == MEMFAULT_OK || s == MEMFAULT_EINVAL || s == MEMFAULT_ENOBLOCK || s == MEMFAULT_EEXIST);
        if (p.ConsumeIntegralInRange<int>(0, 7) == 0) {
            auto id = static_cast<std::uint32_t>(p.ConsumeIntegralInRange<int>(0, 7));
            const Slot *gone = t.current().find_id(id);
            MemfaultStatus r = t.remove_slot(id);
            FUZZ_CHECK((r == MEMFAULT_OK) == (gone != nullptr));
            if (gone)
                removed.emplace_back(gone->gpa, gone->gpa + gone->size);
        }
    }
    const Snapshot &snap = t.current();
    std::vector<Range> live;
    for (const Slot *s : snap.by_gpa)
        live.emplace_back(s->gpa, s->gpa + s->size);
    std::vector<Range> ever = live;
    ever.insert(ever.end(), removed.begin(), removed.end());
    // The table's invariants: sorted, non-overlapping, inside their blocks.
    for (std::size_t i = 0; i < snap.by_gpa.size(); i++) {
        const Slot *s = snap.by_gpa[i];
        FUZZ_CHECK(s->size > 0 && s->gpa % kPage == 0 && s->size % kPage == 0);
        FUZZ_CHECK(s->offset + s->size <= s->block->length);
        if (i)
            FUZZ_CHECK(snap.by_gpa[i - 1]->gpa + snap.by_gpa[i - 1]->size <= s->gpa);
    }
    for (const auto &bs : snap.blocks) {
        if (p.ConsumeBool()) {
            std::vector<unsigned long> rx((bs.block->arrived.nbits() + 63) / 64);
            for (auto &w : rx)
                w = p.ConsumeBool() ? p.ConsumeIntegral<unsigned long>() : 0;
            FUZZ_CHECK(t.seed_block(bs.block->idstr, rx.data(), bs.block->arrived.nbits()) == MEMFAULT_OK);
            for (int k = 0; k < 4 && bs.block->pages(); k++) {
                std::uint64_t bp = p.ConsumeIntegralInRange<std::uint64_t>(0, bs.block->pages() - 1);
                t.mark_arrived(*bs.block, bp * bs.block->kvm_per_page, bs.block->kvm_per_page);
                FUZZ_CHECK(bs.block->page_present(bp));
            }
        }
    }

    while (p.remaining_bytes()) {
        const auto mech = p.ConsumeBool() ? MEMFAULT_MECHANISM_EXIT_ON_MISSING
                                          : MEMFAULT_MECHANISM_USERFAULT;
        const std::uint64_t own = mech == MEMFAULT_MECHANISM_EXIT_ON_MISSING
                                      ? MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING
                                      : MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT;
        MemoryFaultExit e{pick_addr(p), pick_addr(p),
                          p.ConsumeBool() ? own : p.ConsumeIntegral<std::uint64_t>()};
        Phase ph = static_cast<Phase>(p.ConsumeIntegralInRange<int>(0, 3));
        ExitDecision d = decode_exit(e, snap, ph, kPage, mech);

        // Brute-force model of the lookup.
        const Slot *model = nullptr;
        for (const Slot *s : snap.by_gpa)
            if (e.gpa >= s->gpa && e.gpa - s->gpa < s->size)
                model = s;
        FUZZ_CHECK(snap.find_gpa(e.gpa) == model);
        std::uintptr_t h = static_cast<std::uintptr_t>(e.gpa);
        const Slot *hs = snap.find_host(h);
        FUZZ_CHECK(!hs || (h >= hs->host && h - hs->host < hs->size));

        switch (d.outcome) {
        case ExitOutcome::kFatal:
            FUZZ_CHECK(d.reason != MEMFAULT_OK && d.reason != MEMFAULT_WAIT && d.reason != MEMFAULT_RESOLVED);
            if (d.reason == MEMFAULT_ENOREGION)
                FUZZ_CHECK(!model && !covered(ever, e.gpa, e.size));
            break;
        case ExitOutcome::kRetry:
            // Ended, or a stale exit: [gpa, end) in space live and removed
            // slots cover, not in live ones alone.
            FUZZ_CHECK(ph == Phase::kEnded ||
                       (ph == Phase::kRunning && covered(ever, e.gpa, e.size) &&
                        !covered(live, e.gpa, e.size)));
            break;
        case ExitOutcome::kPopulate:
            // Exit-on-missing only, on a live slot, for a page not missing
            // for the engine (or any page after the end).
            FUZZ_CHECK(mech == MEMFAULT_MECHANISM_EXIT_ON_MISSING);
            FUZZ_CHECK(e.flags == MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING);
            FUZZ_CHECK(d.slot == model && model);
            FUZZ_CHECK(e.size && e.size % kPage == 0 && e.gpa % kPage == 0);
            FUZZ_CHECK(e.gpa + e.size <= model->gpa + model->size);
            FUZZ_CHECK(ph == Phase::kEnded ? d.reason == MEMFAULT_RETRY
                                           : d.reason == MEMFAULT_RESOLVED);
            break;
        case ExitOutcome::kPresent:
        case ExitOutcome::kRequest: {
            FUZZ_CHECK(ph == Phase::kRunning);
            FUZZ_CHECK(d.slot == model && model);
            FUZZ_CHECK(e.flags & own);
            if (mech == MEMFAULT_MECHANISM_EXIT_ON_MISSING)
                FUZZ_CHECK(d.outcome == ExitOutcome::kRequest);
            FUZZ_CHECK(e.size && e.size % kPage == 0 && e.gpa % kPage == 0);
            FUZZ_CHECK(e.gpa + e.size <= model->gpa + model->size);
            const Block &b = *model->block;
            FUZZ_CHECK(b.seeded.load());
            if (d.outcome == ExitOutcome::kRequest) {
                FUZZ_CHECK(d.block_page < b.pages());
                FUZZ_CHECK(!b.arrived.test(d.kvm_page, std::memory_order_relaxed));
                FUZZ_CHECK(d.kvm_page / b.kvm_per_page == d.block_page);
            }
            break;
        }
        }
    }
    return 0;
}
