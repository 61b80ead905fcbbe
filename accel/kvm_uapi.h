// KVM UAPI pieces the library needs that Debian 12's <linux/kvm.h> (6.1) lacks.
// Layouts follow the kernel's include/uapi/linux/kvm.h; the userfault additions
// follow docs/kernel-interface.md.  Only what the library uses is here.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace memfault::kvm {

inline constexpr unsigned long kCapUserMemory2 = 231;     // KVM_CAP_USER_MEMORY2 (6.8)
inline constexpr unsigned long kCapMemoryFaultInfo = 232; // KVM_CAP_MEMORY_FAULT_INFO (6.8)

// KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
struct UserspaceMemoryRegion2 {
    std::uint32_t slot;
    std::uint32_t flags;
    std::uint64_t guest_phys_addr;
    std::uint64_t memory_size;
    std::uint64_t userspace_addr;
    std::uint64_t guest_memfd_offset;
    std::uint32_t guest_memfd;
    std::uint32_t pad1;
    std::uint64_t userfault_bitmap; // pad2[0] in mainline; KVM Userfault's bitmap
    std::uint64_t pad2[13];
};
static_assert(sizeof(UserspaceMemoryRegion2) == 160, "kvm_userspace_memory_region2 is 160 bytes");

inline constexpr unsigned long kSetUserMemoryRegion2 =
    _IOW(KVMIO, 0x49, UserspaceMemoryRegion2);

} // namespace memfault::kvm
