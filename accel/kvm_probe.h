// Internals of memfault_kvm_probe(), exposed for tests.
#pragma once

#include <cstdint>

#include "memfault/memfault.h"

namespace memfault::kvm {

// Create a scratch VM on @kvm_fd and try a one-page memslot with KVM_MEM_USERFAULT,
// its bitmap pointer offset by @bitmap_misalign bytes from an aligned buffer.
// Returns 0 when accepted, the positive errno of the memslot update when
// rejected, or -errno when the scratch VM or its memory could not be created.
int try_userfault_memslot(int kvm_fd, std::uint64_t bitmap_misalign);

// The same with KVM_MEM_EXIT_ON_MISSING (no bitmap), with @extra_flags added.
int try_exit_on_missing_memslot(int kvm_fd, std::uint32_t extra_flags);

} // namespace memfault::kvm
