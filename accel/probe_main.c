/*
 * memfault-probe: does this machine's kernel have KVM Userfault?
 * Prints the probe's findings; exit status 0 when supported, 2 when not,
 * 3 when there is no KVM to ask (no /dev/kvm, or no read/write access to it),
 * 1 on any other error.  Written in C against the public header, as QEMU uses it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memfault/memfault.h"

int main(int argc, char **argv)
{
    const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
    MemfaultKvmSupport s;
    MemfaultStatus st;
    int fd = open(dev, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        int err = errno;

        /* One line that says what is missing: KVM itself, not KVM Userfault. */
        if (err == ENOENT || err == ENODEV || err == ENXIO) {
            fprintf(stderr, "memfault-probe: %s: %s: this machine has no usable KVM "
                    "(and so no KVM Userfault)\n", dev, strerror(err));
            return 3;
        }
        if (err == EACCES || err == EPERM) {
            fprintf(stderr, "memfault-probe: %s: %s: KVM needs read/write access to it "
                    "(e.g. membership of its group)\n", dev, strerror(err));
            return 3;
        }
        fprintf(stderr, "memfault-probe: %s: %s\n", dev, strerror(err));
        return 1;
    }
    st = memfault_kvm_probe(fd, &s);
    close(fd);
    if (st != MEMFAULT_OK) {
        fprintf(stderr, "memfault-probe: %s: %s\n", memfault_status_str(st), s.reason);
        return 1;
    }
    printf("KVM_CAP_USER_MEMORY2:      %lld\n", (long long)s.cap_user_memory2);
    printf("KVM_CAP_MEMORY_FAULT_INFO: %lld\n", (long long)s.cap_memory_fault_info);
    printf("KVM_CAP_USERFAULT (%d):   %lld\n", MEMFAULT_KVM_CAP_USERFAULT,
           (long long)s.cap_userfault);
    if (s.slot_errno >= 0) {
        printf("KVM_MEM_USERFAULT memslot: %s\n",
               s.slot_errno == 0 ? "accepted" : strerror(s.slot_errno));
    } else {
        printf("KVM_MEM_USERFAULT memslot: not tried\n");
    }
    printf("KVM Userfault:             %s%s%s\n", s.supported ? "present" : "absent",
           s.supported ? "" : " - ", s.reason);
    printf("KVM_CAP_EXIT_ON_MISSING (%d): %lld\n", MEMFAULT_KVM_CAP_EXIT_ON_MISSING,
           (long long)s.cap_exit_on_missing);
    printf("exit on missing:           %s%s%s\n", s.exit_on_missing ? "present" : "absent",
           s.exit_on_missing ? "" : " - ", s.eom_reason);
    return s.supported ? 0 : 2;
}
