// LD_PRELOAD into a destination QEMU: a KVM that refuses KVM_MEM_USERFAULT on
// big memslots.  KVM_SET_USER_MEMORY_REGION2 then fails with ENOMEM when it
// would set the flag on a slot of MF_REFUSE_USERFAULT_MIB (default 64) or
// more, as a kernel short of memory for a big slot's bookkeeping would.  The
// probe's scratch slot is small and passes, so memfault=on|auto resolve as on
// a kernel with KVM Userfault, and it is demand paging's start, at LISTEN,
// that fails: what memfault=auto must survive and memfault=on must report
// (tests/functional/migrate.py --scenario refuse-userfault).
//
// Every refusal is logged to stderr; the test checks that one happened.
// Everything else, including the same ioctl without the flag, reaches KVM.
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvm_uapi.h"
#include "memfault/memfault.h"

namespace {

using IoctlFn = int (*)(int, unsigned long, ...);

IoctlFn real_ioctl() {
    static IoctlFn fn = reinterpret_cast<IoctlFn>(dlsym(RTLD_NEXT, "ioctl"));
    if (!fn) {
        fprintf(stderr, "kvm-refuse-userfault: no ioctl() to forward to: %s\n", dlerror());
        abort();
    }
    return fn;
}

std::uint64_t min_size() {
    const char *s = getenv("MF_REFUSE_USERFAULT_MIB");
    return (s && *s ? strtoull(s, nullptr, 10) : 64) << 20;
}

} // namespace

extern "C" int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req == memfault::kvm::kSetUserMemoryRegion2) {
        auto *r = static_cast<const memfault::kvm::UserspaceMemoryRegion2 *>(arg);
        if ((r->flags & MEMFAULT_KVM_MEM_USERFAULT) && r->memory_size >= min_size()) {
            fprintf(stderr, "kvm-refuse-userfault: KVM_SET_USER_MEMORY_REGION2 slot %u "
                    "gpa 0x%llx size 0x%llx with KVM_MEM_USERFAULT: refused (ENOMEM)\n",
                    r->slot & 0xffff, (unsigned long long)r->guest_phys_addr,
                    (unsigned long long)r->memory_size);
            errno = ENOMEM;
            return -1;
        }
    }
    return real_ioctl()(fd, req, arg);
}
