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

} // namespace memfault::kvm
