/*
 * qemu-memfault: the C ABI between QEMU and the memfault library.
 *
 * This is the only header QEMU's C code includes.  It compiles as C11 and as
 * C++20; no C++ type and no exception crosses it.  Every function documents
 * the MemfaultStatus values it returns; memfault_status_str() turns any of
 * them into a message suitable for error_setg().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MEMFAULT_MEMFAULT_H
#define MEMFAULT_MEMFAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define MEMFAULT_ABI_VERSION 1

/*
 * KVM Userfault UAPI (docs/kernel-interface.md).  No mainline <linux/kvm.h>
 * has these yet; the values match the interface our patches/linux implement
 * and the v3 upstream posting.  The capability number alone is not trusted:
 * mainline later gave 243 to an arm64 capability, so memfault_kvm_probe()
 * also checks that a memslot with KVM_MEM_USERFAULT is accepted.
 */
#define MEMFAULT_KVM_CAP_USERFAULT              243
#define MEMFAULT_KVM_MEM_USERFAULT              (1u << 3)
#define MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT (1ull << 4)

typedef enum MemfaultStatus {
    MEMFAULT_OK = 0,
    /* The kernel lacks something memfault needs (see the probe's reason). */
    MEMFAULT_UNSUPPORTED,
    /* An argument was invalid (NULL pointer, bad fd, bad size...). */
    MEMFAULT_EINVAL,
    /* A system call failed unexpectedly; the function documents where errno went. */
    MEMFAULT_ESYS,
} MemfaultStatus;

/* A static, never-NULL English message for @status (unknown values included). */
const char *memfault_status_str(MemfaultStatus status);

/* ---- Capability probe ------------------------------------------------- */

typedef struct MemfaultKvmSupport {
    /* True when memory-fault exits for missing pages can be used. */
    bool supported;
    /* KVM_CHECK_EXTENSION results on /dev/kvm (negative: -errno). */
    int64_t cap_user_memory2;
    int64_t cap_memory_fault_info;
    int64_t cap_userfault;
    /*
     * 0 when a scratch VM accepted a memslot with KVM_MEM_USERFAULT, the
     * errno of KVM_SET_USER_MEMORY_REGION2 when it did not, -1 when that
     * test was not reached (a capability was already missing).
     */
    int slot_errno;
    /* Why not supported, naming the missing capability; "" when supported. */
    char reason[256];
} MemfaultKvmSupport;

/*
 * Probe KVM Userfault on the kernel behind @kvm_fd (an open /dev/kvm).
 * It needs KVM_CAP_USER_MEMORY2, KVM_CAP_MEMORY_FAULT_INFO and
 * KVM_CAP_USERFAULT, and a scratch VM (created and destroyed here, so the
 * caller's VM is never touched) must accept a memslot with KVM_MEM_USERFAULT.
 *
 * Returns MEMFAULT_OK with @out filled in, whether or not it is supported;
 * MEMFAULT_EINVAL for a negative fd or NULL @out; MEMFAULT_ESYS when the
 * scratch VM or its memory could not be created (errno in out->slot_errno,
 * text in out->reason).
 */
MemfaultStatus memfault_kvm_probe(int kvm_fd, MemfaultKvmSupport *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMFAULT_MEMFAULT_H */
