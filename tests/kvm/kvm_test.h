/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the kernel test's files share: the UAPI that Debian 12's headers lack,
 * the guest's layout, the VM plumbing and TAP output (kvm_userfault_test.c).
 */
#ifndef KVM_TEST_H
#define KVM_TEST_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* UAPI that Debian 12's <linux/kvm.h> (6.1) lacks; see docs/kernel-interface.md. */
struct mf_region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t userfault_bitmap;
	uint64_t pad2[13];
};
_Static_assert(sizeof(struct mf_region2) == 160, "kvm_userspace_memory_region2");
#define MF_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct mf_region2)
#define MF_CAP_USER_MEMORY2 231
#define MF_CAP_MEMORY_FAULT_INFO 232
#define MF_EXIT_MEMORY_FAULT 39
#define MF_MEMORY_EXIT_FLAG_PRIVATE (1ull << 3)
struct mf_pre_fault_memory {
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;
	uint64_t padding[5];
};
#define MF_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct mf_pre_fault_memory)
struct mf_memory_fault {
	uint64_t flags;
	uint64_t gpa;
	uint64_t size;
};

#define PAGE 4096ul
#define CODE_GPA 0x1000ul       /* slot 0: 64 KiB, never userfault */
#define DONE_PORT 0x10
#define EXEC_PORT 0x11
#define DATA_GPA 0x100000ul     /* slot 1: the functional tests' data */
#define DATA_PAGES 64ul
#define DP_GPA 0x10000000ul     /* slot 2: demand paging */
#define SENTINEL_EXIT 0xfeedu

/* The guest's code (kvm_userfault_test.c); guest_exec reports on EXEC_PORT. */
extern const unsigned char guest_touch[], guest_touch_end[];
extern const unsigned char guest_exec[], guest_exec_end[];

struct vm {
	int fd;
	void *code;             /* slot 0 backing */
};

struct vcpu {
	int fd;
	struct kvm_run *run;
};

struct data_slot {
	char *mem;
	unsigned long *bitmap;
};

extern int kvm_fd;
extern int tap_n, tap_failed;

void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *map_anon(size_t len);
int set_region(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
	       uint64_t size, void *hva, void *bitmap);
struct vm vm_create(void);
struct vcpu vcpu_create(struct vm *vm, int id);
void vcpu_start(struct vcpu *v, uint64_t rip, uint64_t start, uint64_t end,
		uint64_t stride, bool write);
struct mf_memory_fault *mf(struct vcpu *v);
int vcpu_run(struct vcpu *v);
bool is_io_exit(struct vcpu *v, int port);
void bit_set(unsigned long *bm, unsigned long i);
void bit_clear(unsigned long *bm, unsigned long i);
bool bit_test(unsigned long *bm, unsigned long i);
bool has_userfault(void);
bool run_over_data_slot(const char *what, struct vcpu *v, bool write, uint64_t flag,
			uint64_t expected, bool (*resolve)(void *ctx, unsigned long i),
			void *ctx, const char *pages);
void check_exec_exits(const char *prefix, struct vcpu *v, unsigned long xp,
		      uint64_t flag, const char *still);

/* guest_memfd_test.c: KVM Userfault on guest_memfd; @expect: present|absent|any. */
void guest_memfd_checks(const char *expect);

#endif
