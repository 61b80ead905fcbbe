// memfault_kvm_probe(): does this kernel have KVM Userfault, and
// KVM_MEM_EXIT_ON_MISSING?
//
// Capabilities first, then the real test: a scratch VM must accept a memslot
// with KVM_MEM_USERFAULT (KVM_MEM_EXIT_ON_MISSING).  The capability number
// alone proves nothing (it has moved between postings and mainline reused
// it), and an unknown memslot flag is rejected with EINVAL, so the memslot
// update is what decides.
#include "kvm_probe.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "kvm_uapi.h"

namespace memfault::kvm {

namespace {

// Closes an fd / unmaps memory on every return path.
struct Fd {
    int fd = -1;
    ~Fd() { if (fd >= 0) ::close(fd); }
};
struct Mapping {
    void *p = MAP_FAILED;
    std::size_t len = 0;
    ~Mapping() { if (p != MAP_FAILED) ::munmap(p, len); }
};

std::int64_t check_extension(int fd, unsigned long cap) {
    int r = ::ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? -errno : r;
}

struct Cap {
    std::int64_t value; // KVM_CHECK_EXTENSION's answer
    const char *name;
    unsigned num;
};

// For the first of @caps the kernel does not report, say so in @reason,
// naming @what it therefore lacks, and return true; false if it has them all.
bool missing_cap(std::initializer_list<Cap> caps, const char *what, char (&reason)[256]) {
    for (const Cap &c : caps) {
        if (c.value <= 0) {
            std::snprintf(reason, sizeof(reason),
                          "the kernel does not report %s (capability %u): it lacks %s", c.name,
                          c.num, what);
            return true;
        }
    }
    return false;
}

} // namespace

namespace {

// A one-page memslot with @flags (and @bitmap) on a scratch VM: 0 when
// accepted, the errno when rejected, -errno when the VM or memory failed.
int try_memslot(int kvm_fd, std::uint32_t flags, std::uintptr_t bitmap) {
    Fd vm{::ioctl(kvm_fd, KVM_CREATE_VM, 0)};
    if (vm.fd < 0)
        return -errno;

    const long page = ::sysconf(_SC_PAGESIZE);
    Mapping mem;
    mem.len = static_cast<std::size_t>(page);
    mem.p = ::mmap(nullptr, mem.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem.p == MAP_FAILED)
        return -errno;

    UserspaceMemoryRegion2 region{};
    region.slot = 0;
    region.flags = flags;
    region.guest_phys_addr = 0;
    region.memory_size = static_cast<std::uint64_t>(page);
    region.userspace_addr = reinterpret_cast<std::uintptr_t>(mem.p);
    region.userfault_bitmap = bitmap;
    if (::ioctl(vm.fd, kSetUserMemoryRegion2, &region) < 0)
        return errno;
    return 0;
}

} // namespace

int try_userfault_memslot(int kvm_fd, std::uint64_t bitmap_misalign) {
    alignas(8) unsigned char bitmap[16] = {}; // one page => one bit
    return try_memslot(kvm_fd, MEMFAULT_KVM_MEM_USERFAULT,
                       reinterpret_cast<std::uintptr_t>(bitmap) + bitmap_misalign);
}

int try_exit_on_missing_memslot(int kvm_fd, std::uint32_t extra_flags) {
    return try_memslot(kvm_fd, MEMFAULT_KVM_MEM_EXIT_ON_MISSING | extra_flags, 0);
}

namespace {

// The verdict of a scratch memslot with @flag (@r from try_*_memslot()),
// whose capability @cap (number @num) the kernel reports: into @slot_errno
// and, unless accepted, @reason, which ends in @lacks.  MEMFAULT_ESYS when
// no scratch VM could be made; MEMFAULT_OK otherwise, *@accepted saying.
MemfaultStatus memslot_verdict(int r, const char *flag, const char *cap, unsigned num,
                               const char *lacks, int &slot_errno, char (&reason)[256],
                               bool &accepted) {
    accepted = false;
    if (r < 0) {
        slot_errno = -r;
        std::snprintf(reason, sizeof(reason), "could not create a scratch VM to probe %s: %s",
                      flag, std::strerror(-r));
        return MEMFAULT_ESYS;
    }
    slot_errno = r;
    if (r != 0) {
        std::snprintf(reason, sizeof(reason),
                      "the kernel reports %s (capability %u) but rejects a memslot with %s: %s%s",
                      cap, num, flag, std::strerror(r), lacks);
        return MEMFAULT_OK;
    }
    accepted = true;
    return MEMFAULT_OK;
}

// Fills out->exit_on_missing and out->eom_*; the first two capabilities are
// already in @out.  MEMFAULT_OK or MEMFAULT_ESYS (no scratch VM).
MemfaultStatus probe_exit_on_missing(int kvm_fd, MemfaultKvmSupport *out) {
    out->eom_slot_errno = -1;
    out->cap_exit_on_missing = check_extension(kvm_fd, MEMFAULT_KVM_CAP_EXIT_ON_MISSING);
    if (missing_cap({{out->cap_user_memory2, "KVM_CAP_USER_MEMORY2", 231},
                     {out->cap_memory_fault_info, "KVM_CAP_MEMORY_FAULT_INFO", 232},
                     {out->cap_exit_on_missing, "KVM_CAP_EXIT_ON_MISSING",
                      MEMFAULT_KVM_CAP_EXIT_ON_MISSING}},
                    "KVM_MEM_EXIT_ON_MISSING", out->eom_reason))
        return MEMFAULT_OK;
    return memslot_verdict(try_exit_on_missing_memslot(kvm_fd, 0), "KVM_MEM_EXIT_ON_MISSING",
                           "KVM_CAP_EXIT_ON_MISSING", MEMFAULT_KVM_CAP_EXIT_ON_MISSING, "",
                           out->eom_slot_errno, out->eom_reason, out->exit_on_missing);
}

} // namespace

} // namespace memfault::kvm

using namespace memfault::kvm;

extern "C" MemfaultStatus memfault_kvm_probe(int kvm_fd, MemfaultKvmSupport *out) {
    if (kvm_fd < 0 || out == nullptr)
        return MEMFAULT_EINVAL;
    *out = MemfaultKvmSupport{};
    out->slot_errno = -1;
    out->cap_user_memory2 = check_extension(kvm_fd, kCapUserMemory2);
    out->cap_memory_fault_info = check_extension(kvm_fd, kCapMemoryFaultInfo);
    out->cap_userfault = check_extension(kvm_fd, MEMFAULT_KVM_CAP_USERFAULT);
    if (probe_exit_on_missing(kvm_fd, out) != MEMFAULT_OK) {
        std::snprintf(out->reason, sizeof(out->reason), "%s", out->eom_reason);
        return MEMFAULT_ESYS;
    }

    if (missing_cap({{out->cap_user_memory2, "KVM_CAP_USER_MEMORY2", 231},
                     {out->cap_memory_fault_info, "KVM_CAP_MEMORY_FAULT_INFO", 232},
                     {out->cap_userfault, "KVM_CAP_USERFAULT", MEMFAULT_KVM_CAP_USERFAULT}},
                    "KVM Userfault", out->reason))
        return MEMFAULT_OK;

    return memslot_verdict(try_userfault_memslot(kvm_fd, 0), "KVM_MEM_USERFAULT",
                           "KVM_CAP_USERFAULT", MEMFAULT_KVM_CAP_USERFAULT,
                           "; it lacks KVM Userfault", out->slot_errno, out->reason,
                           out->supported);
}
