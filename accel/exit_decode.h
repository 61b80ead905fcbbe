// Exit decoding: a pure function from one KVM_EXIT_MEMORY_FAULT (gpa, size,
// flags) and the engine's state to what the vCPU must do.  No side effects,
// no locks, no allocation: unit tests feed it made-up exits and the fuzzer
// feeds it garbage.  Every bad input is an outcome with a reason, never a
// crash or an abort.
#pragma once

#include <cstdint>

#include "memfault/memfault.h"
#include "region_table.h"

namespace memfault {

// Where the engine is in its life; only moves forward (kRunning first).
enum class Phase : int {
    kRunning = 0, // demand paging the seeded blocks
    kEnded,       // every page is in place (memfault_engine_end)
    kFailed,      // the migration failed
    kShutdown,    // tearing down
};

struct MemoryFaultExit {
    std::uint64_t gpa;
    std::uint64_t size;
    std::uint64_t flags;
};

enum class ExitOutcome {
    kPresent,  // the page is in place: re-enter
    kRequest,  // missing: request (or join) block page `block_page` and wait
    kRetry,    // nothing to do: re-enter
    kPopulate, // exit-on-missing only: the page is not missing for the engine,
               // yet KVM could not map it without waiting (placed since the
               // exit, or swapped out, migrating): re-enter, faulting it in
               // through `slot` if need be (`reason` RESOLVED, or RETRY
               // after the end)
    kFatal,    // `reason` says why
};

struct ExitDecision {
    ExitOutcome outcome;
    MemfaultStatus reason;   // RESOLVED / WAIT / RETRY, or the fatal status
    const Slot *slot;        // kPresent, kRequest
    std::uint64_t block_page; // kRequest: the first missing block page
    std::uint64_t kvm_page;   // kRequest: the faulting KVM page in the block
};

// @mechanism: the engine's MemfaultMechanism, which decides the exit flag
// expected and what a page that is not missing means.
ExitDecision decode_exit(const MemoryFaultExit &exit, const Snapshot &regions, Phase phase,
                         std::uint64_t kvm_page_size, MemfaultMechanism mechanism);

} // namespace memfault
