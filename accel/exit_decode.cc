// decode_exit(): see exit_decode.h.
#include "exit_decode.h"

namespace memfault {

namespace {

constexpr std::uint64_t kKnownFlags =
    MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT | MEMFAULT_KVM_MEMORY_EXIT_FLAG_PRIVATE;

ExitDecision fatal(MemfaultStatus why) { return {ExitOutcome::kFatal, why, nullptr, 0, 0}; }

} // namespace

ExitDecision decode_exit(const MemoryFaultExit &e, const Snapshot &regions, Phase phase,
                         std::uint64_t kvm_page_size) {
    // The engine's own end states win over anything the exit says.
    if (phase == Phase::kFailed)
        return fatal(MEMFAULT_FAILED);
    if (phase == Phase::kShutdown)
        return fatal(MEMFAULT_SHUTDOWN);

    // The exit itself.  PRIVATE may accompany USERFAULT (guest_memfd); an
    // exit without USERFAULT is a private/shared conversion, not ours.
    if ((e.flags & ~kKnownFlags) || !(e.flags & MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT))
        return fatal(MEMFAULT_EFLAGS);
    if (e.size == 0 || e.size % kvm_page_size || e.gpa % kvm_page_size)
        return fatal(MEMFAULT_ESIZE);

    // Demand paging has ended: every bit is clear, and the slots may already
    // be gone from the table (they are removed before KVM drops the flag).
    // An exit taken before that is stale; KVM looks again on re-entry.
    if (phase == Phase::kEnded)
        return {ExitOutcome::kRetry, MEMFAULT_RETRY, nullptr, 0, 0};
    const Slot *s = regions.find_gpa(e.gpa);
    // crosses the end of the memslot?
    const bool crosses = s && e.size > s->size - (e.gpa - s->gpa);
    if (!s || crosses) {
        // A slot removed or re-split after KVM took the exit: stale.  An
        // address no slot ever mapped is a bad exit.
        if (regions.stale_range(e.gpa, e.size))
            return {ExitOutcome::kRetry, MEMFAULT_RETRY, nullptr, 0, 0};
        return fatal(s ? MEMFAULT_ESIZE : MEMFAULT_ENOREGION);
    }
    const Block &b = *s->block;
    // acquire: pairs with the seq_cst store in RegionTable::seed_block()
    if (!b.seeded.load(std::memory_order_acquire))
        return fatal(MEMFAULT_ENOTPAGED);

    const std::uint64_t first = (s->offset + (e.gpa - s->gpa)) / kvm_page_size;
    const std::uint64_t n = e.size / kvm_page_size;
    for (std::uint64_t p = first; p < first + n; p++) {
        // acquire: pairs with the release in RegionTable::mark_arrived()
        if (!b.arrived.test(p, std::memory_order_acquire))
            return {ExitOutcome::kRequest, MEMFAULT_WAIT, s, p / b.kvm_per_page, p};
    }
    return {ExitOutcome::kPresent, MEMFAULT_RESOLVED, s, 0, 0};
}

} // namespace memfault
