// decode_exit(): see exit_decode.h.
#include "exit_decode.h"

namespace memfault {

namespace {

ExitDecision fatal(MemfaultStatus why) { return {ExitOutcome::kFatal, why, nullptr, 0, 0}; }

// The flags each mechanism's exits carry.  PRIVATE may accompany USERFAULT
// (guest_memfd); an exit-on-missing exit is never private (KVM refuses the
// flag on guest_memfd slots).  An exit without the mechanism's flag is a
// private/shared conversion or the other mechanism's: not ours.
bool flags_ok(std::uint64_t flags, MemfaultMechanism m) {
    if (m == MEMFAULT_MECHANISM_EXIT_ON_MISSING)
        return flags == MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING;
    constexpr std::uint64_t known =
        MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT | MEMFAULT_KVM_MEMORY_EXIT_FLAG_PRIVATE;
    return !(flags & ~known) && (flags & MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT);
}

} // namespace

ExitDecision decode_exit(const MemoryFaultExit &e, const Snapshot &regions, Phase phase,
                         std::uint64_t kvm_page_size, MemfaultMechanism mechanism) {
    // The engine's own end states win over anything the exit says.
    if (phase == Phase::kFailed)
        return fatal(MEMFAULT_FAILED);
    if (phase == Phase::kShutdown)
        return fatal(MEMFAULT_SHUTDOWN);

    if (!flags_ok(e.flags, mechanism))
        return fatal(MEMFAULT_EFLAGS);
    if (e.size == 0 || e.size % kvm_page_size || e.gpa % kvm_page_size)
        return fatal(MEMFAULT_ESIZE);

    const bool eom = mechanism == MEMFAULT_MECHANISM_EXIT_ON_MISSING;
    const Slot *s = regions.find_gpa(e.gpa);
    // crosses the end of the memslot?
    const bool crosses = s && e.size > s->size - (e.gpa - s->gpa);

    // Demand paging has ended: every bit is clear, and the slots may already
    // be gone from the table (they are removed before KVM drops the flag).
    // An exit taken before that is stale; KVM looks again on re-entry.  With
    // exit-on-missing nothing is missing any more either, but KVM exits until
    // its flag is dropped for a page it cannot map at once: fault it in.
    if (phase == Phase::kEnded) {
        if (eom && s && !crosses)
            return {ExitOutcome::kPopulate, MEMFAULT_RETRY, s, 0, 0};
        return {ExitOutcome::kRetry, MEMFAULT_RETRY, nullptr, 0, 0};
    }
    if (!s || crosses) {
        // A slot removed or re-split after KVM took the exit: stale.  An
        // address no slot ever mapped is a bad exit.
        if (regions.stale_range(e.gpa, e.size))
            return {ExitOutcome::kRetry, MEMFAULT_RETRY, nullptr, 0, 0};
        return fatal(s ? MEMFAULT_ESIZE : MEMFAULT_ENOREGION);
    }
    const Block &b = *s->block;
    // acquire: pairs with the seq_cst store in RegionTable::seed_block()
    if (!b.seeded.load(std::memory_order_acquire)) {
        // KVM Userfault exits only where the seed set a bit.  Exit-on-missing
        // exits for any page KVM cannot map at once; one of a block the
        // engine does not page is the kernel's (swap, migration), not a
        // page to fetch.
        if (eom)
            return {ExitOutcome::kPopulate, MEMFAULT_RESOLVED, s, 0, 0};
        return fatal(MEMFAULT_ENOTPAGED);
    }

    const std::uint64_t first = (s->offset + (e.gpa - s->gpa)) / kvm_page_size;
    const std::uint64_t n = e.size / kvm_page_size;
    for (std::uint64_t p = first; p < first + n; p++) {
        // acquire: pairs with the release in RegionTable::mark_arrived()
        if (!b.arrived.test(p, std::memory_order_acquire))
            return {ExitOutcome::kRequest, MEMFAULT_WAIT, s, p / b.kvm_per_page, p};
    }
    if (eom)
        return {ExitOutcome::kPopulate, MEMFAULT_RESOLVED, s, 0, 0};
    return {ExitOutcome::kPresent, MEMFAULT_RESOLVED, s, 0, 0};
}

} // namespace memfault
