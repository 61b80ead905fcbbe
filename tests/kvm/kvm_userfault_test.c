// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM Userfault test, in the style of the kernel's KVM selftests: a VM with
 * its own tiny guest code (32-bit protected mode, no paging, so guest
 * addresses are guest-physical) that reads, writes or executes pages of a
 * memslot with KVM_MEM_USERFAULT, and checks every exit.
 *
 *   kvm-userfault-test [--expect present|absent|any] [--expect-gmem present|absent|any]
 *       Functional checks.  With the capability: exits happen exactly for
 *       pages whose bit is set, with the right gpa/size/flags, for reads,
 *       writes and instruction fetches; clearing the bit lets the vCPU go
 *       on; pages mapped before the flag was turned on exit afterwards;
 *       a slot without the flag is unaffected; a page re-armed by setting
 *       its bit and then discarding it exits again; flags-only updates
 *       that keep the flag (dirty logging on/off) and moving a slot keep
 *       the exits; deleting a slot succeeds whatever its bitmap field
 *       holds; an unreadable bitmap gives a bare EFAULT; invalid flag
 *       combinations give EINVAL; only 4 KiB mappings while the flag is
 *       on, huge ones again after it is off.  Without it
 *       (stock kernel): reports the capability absent and checks that the
 *       flag is rejected.  --expect makes the absence/presence a failure.
 *       The same for KVM_MEM_EXIT_ON_MISSING, on memory whose missing pages
 *       userfaultfd holds back: exits exactly for the pages not placed yet
 *       (reads, writes, instruction fetches, pages discarded again), none
 *       for pages UFFDIO_COPY or UFFDIO_ZEROPAGE placed (writes to the
 *       zero page included) nor on memory without userfaultfd,
 *       KVM_PRE_FAULT_MEMORY fails instead of waiting, and the flag is
 *       refused with KVM_MEM_USERFAULT, KVM_MEM_READONLY and through the
 *       first version of the ioctl.  KVM Userfault on guest_memfd memslots
 *       (KVM_CAP_GUEST_MEMFD_USERFAULT) is checked by guest_memfd_test.c;
 *       --expect-gmem makes its absence/presence a failure.
 *
 *   kvm-userfault-test --demand-paging [--vcpus 1,2,4,8] [--pages N]
 *                      [--reps R] [--delay-us D] [--json FILE]
 *       Each vCPU writes its own N pages.  Pages are supplied either by a
 *       userfaultfd reader thread (MISSING, UFFDIO_COPY) or by the vCPU
 *       thread itself after a KVM Userfault exit (UFFDIO_COPY with DONTWAKE,
 *       then clear the bit), or by the vCPU thread after an exit-on-missing
 *       exit (UFFDIO_COPY, no bitmap); --delay-us sleeps that long before supplying
 *       each page, a stand-in for the network.  Prints pages/s for both, per
 *       vCPU count, and the fault latency the guest itself measured (rdtsc
 *       around each first write); --json writes every run's figures.
 *
 * Output is TAP; the exit status is 0 when every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "memfault/memfault.h"
#include "kvm_test.h"

/*
 * Guest code, 32-bit: touch [esi, edi) with stride ebx; edx = 0 read,
 * 1 write (stores the address into the page); then "out DONE_PORT".
 */
/* The same for writes, storing the TSC cycles of each first write at +4. */
extern const unsigned char guest_touch_timed[], guest_touch_timed_end[];
#define TIMED_GPA (CODE_GPA + 0x800)
__asm__(".pushsection .rodata\n"
	".code32\n"
	".globl guest_touch, guest_touch_end, guest_exec, guest_exec_end\n"
	"guest_touch:\n"
	"1: cmp %edi, %esi\n"
	"   jae 3f\n"
	"   test %edx, %edx\n"
	"   jz 2f\n"
	"   movl %esi, (%esi)\n"
	"   add %ebx, %esi\n"
	"   jmp 1b\n"
	"2: movl (%esi), %eax\n"
	"   add %ebx, %esi\n"
	"   jmp 1b\n"
	"3: outb %al, $0x10\n"
	"   hlt\n"
	"   jmp 3b\n"
	"guest_touch_end:\n"
	"guest_touch_timed:\n"   /* write every page, time it with rdtsc */
	"1: cmp %edi, %esi\n"
	"   jae 2f\n"
	"   rdtsc\n"
	"   mov %eax, %ecx\n"
	"   movl %esi, (%esi)\n"
	"   rdtsc\n"
	"   sub %ecx, %eax\n"
	"   movl %eax, 4(%esi)\n"   /* the cycles that first write took */
	"   add %ebx, %esi\n"
	"   jmp 1b\n"
	"2: outb %al, $0x10\n"
	"   hlt\n"
	"   jmp 2b\n"
	"guest_touch_timed_end:\n"
	"guest_exec:\n"
	"   outb %al, $0x11\n"
	"   hlt\n"
	"guest_exec_end:\n"
	".code64\n"
	".popsection\n");

int kvm_fd;
int tap_n, tap_failed;

void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
}

void die(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d: %s)\n", errno, strerror(errno));
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- VM plumbing --------------------------------------------------------- */

void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu", len);
	return p;
}

int set_region(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
		      uint64_t size, void *hva, void *bitmap)
{
	struct mf_region2 r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
		.userfault_bitmap = (uintptr_t)bitmap,
	};

	return ioctl(vm_fd, MF_SET_USER_MEMORY_REGION2, &r) < 0 ? errno : 0;
}

struct vm vm_create(void)
{
	struct vm vm;

	vm.fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm.fd < 0)
		die("KVM_CREATE_VM");
	vm.code = map_anon(0x10000);
	memcpy((char *)vm.code + CODE_GPA, guest_touch, guest_touch_end - guest_touch);
	memcpy((char *)vm.code + TIMED_GPA, guest_touch_timed,
	       guest_touch_timed_end - guest_touch_timed);
	if (set_region(vm.fd, 0, 0, 0, 0x10000, vm.code, NULL))
		die("code memslot");
	return vm;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

struct vcpu vcpu_create(struct vm *vm, int id)
{
	struct vcpu v;
	struct kvm_sregs sregs;
	long sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	v.fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (v.fd < 0 || sz <= 0)
		die("KVM_CREATE_VCPU");
	v.run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd, 0);
	if (v.run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(v.fd, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	/* Flat 32-bit protected mode, paging off: gva == gpa. */
	seg(&sregs.cs, 8, 11);
	seg(&sregs.ds, 16, 3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.cr0 = 0x11;       /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v.fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
	return v;
}

void vcpu_start(struct vcpu *v, uint64_t rip, uint64_t start,
		       uint64_t end, uint64_t stride, bool write)
{
	struct kvm_regs regs = {
		.rip = rip,
		.rflags = 2,
		.rsi = start,
		.rdi = end,
		.rbx = stride,
		.rdx = write,
	};

	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
}

struct mf_memory_fault *mf(struct vcpu *v)
{
	return (struct mf_memory_fault *)(void *)&v->run->hw;
}

/* KVM_RUN: returns 0 or errno. */
int vcpu_run(struct vcpu *v)
{
	v->run->exit_reason = SENTINEL_EXIT;
	return ioctl(v->fd, KVM_RUN, 0) < 0 ? errno : 0;
}

bool is_io_exit(struct vcpu *v, int port)
{
	return v->run->exit_reason == KVM_EXIT_IO && v->run->io.port == port;
}

void bit_set(unsigned long *bm, unsigned long i)
{
	__atomic_fetch_or(&bm[i / 64], 1ul << (i % 64), __ATOMIC_RELAXED);
}

/* Pairs with KVM's read of the bit: the page is in place before the clear. */
void bit_clear(unsigned long *bm, unsigned long i)
{
	__atomic_fetch_and(&bm[i / 64], ~(1ul << (i % 64)), __ATOMIC_RELEASE);
}

bool bit_test(unsigned long *bm, unsigned long i)
{
	return __atomic_load_n(&bm[i / 64], __ATOMIC_RELAXED) & (1ul << (i % 64));
}

bool has_userfault(void)
{
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_USERFAULT) > 0;
}

static bool has_exit_on_missing(void)
{
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_EXIT_ON_MISSING) > 0;
}

/* ---- Functional checks ---------------------------------------------------- */

static struct data_slot data_slot_new(void)
{
	struct data_slot d = {
		.mem = map_anon(DATA_PAGES * PAGE),
		.bitmap = aligned_alloc(64, 64),
	};

	memset(d.bitmap, 0, 64);
	return d;
}

_Static_assert(DATA_PAGES <= 64, "one bit per data page in a uint64_t");

/*
 * Run the guest over the data slot until it is done.  The exits must be
 * exactly the pages in @expected (bit i: page i), in the order the guest
 * touches them, with @flag alone and the page's gpa and size.  @resolve makes
 * page i available; false if that exit should not have come.
 */
bool run_over_data_slot(const char *what, struct vcpu *v, bool write, uint64_t flag,
			       uint64_t expected, bool (*resolve)(void *ctx, unsigned long i),
			       void *ctx, const char *pages)
{
	unsigned long next = 0, exits = 0, want = __builtin_popcountll(expected);
	int r;

	vcpu_start(v, CODE_GPA, DATA_GPA, DATA_GPA + DATA_PAGES * PAGE, PAGE, write);
	for (;;) {
		r = vcpu_run(v);
		if (r == 0 && is_io_exit(v, DONE_PORT))
			break;
		if (r != EFAULT || v->run->exit_reason != MF_EXIT_MEMORY_FAULT) {
			tap(false, "%s: unexpected KVM_RUN result %d (%s), exit reason %u",
			    what, r, strerror(r), v->run->exit_reason);
			return false;
		}
		struct mf_memory_fault f = *mf(v);

		while (next < DATA_PAGES && !(expected & (1ull << next)))
			next++;
		if (f.flags != flag || f.size != PAGE || next >= DATA_PAGES ||
		    f.gpa != DATA_GPA + next * PAGE || !resolve(ctx, next)) {
			tap(false, "%s: exit flags %#llx gpa %#llx size %#llx, expected flags %#llx gpa %#lx size %#lx",
			    what, (unsigned long long)f.flags, (unsigned long long)f.gpa,
			    (unsigned long long)f.size, (unsigned long long)flag,
			    DATA_GPA + next * PAGE, PAGE);
			return false;
		}
		exits++;
		next++;
	}
	tap(exits == want, "%s: %lu exits for the %lu %s, gpa/size/flags right",
	    what, exits, want, pages);
	return exits == want;
}

/* A userfault exit: the page's bit must be set; clearing it resolves the exit. */
static bool userfault_resolve(void *ctx, unsigned long i)
{
	struct data_slot *d = ctx;

	if (!bit_test(d->bitmap, i))
		return false;
	bit_clear(d->bitmap, i);
	return true;
}

/* The userfault exits must be exactly the pages whose bit is in @expected_bits. */
static bool touch_all(const char *what, struct vcpu *v, struct data_slot *d,
		      bool write, unsigned long *expected_bits)
{
	return run_over_data_slot(what, v, write, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT,
				  expected_bits[0], userfault_resolve, d,
				  "pages whose bit was set");
}

/*
 * Start the guest at page @xp of the data slot, which must be missing: KVM_RUN
 * must exit with @flag alone, the page's gpa and size, and exit again while
 * the page stays missing (@still says why, for the message).
 */
void check_exec_exits(const char *prefix, struct vcpu *v, unsigned long xp,
			     uint64_t flag, const char *still)
{
	int r;

	vcpu_start(v, DATA_GPA + xp * PAGE, 0, 0, 0, false);
	r = vcpu_run(v);
	tap(r == EFAULT && v->run->exit_reason == MF_EXIT_MEMORY_FAULT &&
	    mf(v)->flags == flag && mf(v)->gpa == DATA_GPA + xp * PAGE && mf(v)->size == PAGE,
	    "%sinstruction fetch: exit with gpa %#llx size %#llx flags %#llx (r=%d)", prefix,
	    (unsigned long long)mf(v)->gpa, (unsigned long long)mf(v)->size,
	    (unsigned long long)mf(v)->flags, r);
	r = vcpu_run(v);
	tap(r == EFAULT && mf(v)->gpa == DATA_GPA + xp * PAGE,
	    "%sinstruction fetch: exits again while %s", prefix, still);
}

static void check_flag_validation(struct vm *vm)
{
	struct data_slot d = data_slot_new();
	int r;

	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT | KVM_MEM_READONLY,
		       0x800000, DATA_PAGES * PAGE, d.mem, d.bitmap);
	tap(r == EINVAL, "KVM_MEM_USERFAULT | KVM_MEM_READONLY rejected with EINVAL (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000,
		       DATA_PAGES * PAGE, d.mem, (char *)d.bitmap + 4);
	tap(r == EINVAL, "bitmap not aligned to 8 bytes rejected with EINVAL (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000,
		       DATA_PAGES * PAGE, d.mem, NULL);
	tap(r == EINVAL, "NULL bitmap rejected with EINVAL (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000, DATA_PAGES * PAGE,
		       d.mem, (void *)0xffff800000000000ul);
	tap(r == EINVAL, "kernel-address bitmap rejected with EINVAL (got %d)", r);

	struct kvm_userspace_memory_region v1 = {
		.slot = 5, .flags = MEMFAULT_KVM_MEM_USERFAULT, .guest_phys_addr = 0x800000,
		.memory_size = DATA_PAGES * PAGE, .userspace_addr = (uintptr_t)d.mem,
	};
	r = ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &v1) < 0 ? errno : 0;
	tap(r == EINVAL, "KVM_MEM_USERFAULT through KVM_SET_USER_MEMORY_REGION (v1) rejected with EINVAL (got %d)", r);

	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000,
		       DATA_PAGES * PAGE, d.mem, d.bitmap);
	tap(r == 0, "KVM_MEM_USERFAULT with a valid bitmap accepted (got %d)", r);
	unsigned long *other = aligned_alloc(64, 64);

	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000,
		       DATA_PAGES * PAGE, d.mem, other);
	tap(r == EINVAL, "changing the bitmap while the flag stays set rejected with EINVAL (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT | KVM_MEM_LOG_DIRTY_PAGES,
		       0x800000, DATA_PAGES * PAGE, d.mem, d.bitmap);
	tap(r == 0, "KVM_MEM_USERFAULT together with dirty logging accepted (got %d)", r);
	r = set_region(vm->fd, 5, 0, 0x800000, 0, d.mem, NULL);
	tap(r == 0, "slot deleted (got %d)", r);
	free(other);
}


/*
 * A moved slot keeps exiting, at its new address; deleting a slot with
 * KVM_MEM_USERFAULT succeeds whatever its bitmap field holds (a delete must
 * not fail over the bitmap of a slot it drops).
 */
static void check_move_and_delete(struct vm *vm, struct vcpu *v)
{
	struct data_slot d = data_slot_new();
	void *bogus[] = { NULL, (char *)d.bitmap + 4, (void *)0xffff800000000000ul };
	const char *what[] = { "NULL", "misaligned", "kernel-address" };
	uint64_t from = 0xa00000, to = 0xc00000;
	int r;

	bit_set(d.bitmap, 0);
	r = set_region(vm->fd, 6, MEMFAULT_KVM_MEM_USERFAULT, from, DATA_PAGES * PAGE,
		       d.mem, d.bitmap);
	if (r)
		die("userfault memslot to move: %s", strerror(r));
	r = set_region(vm->fd, 6, MEMFAULT_KVM_MEM_USERFAULT, to, DATA_PAGES * PAGE,
		       d.mem, d.bitmap);
	tap(r == 0, "KVM_MEM_USERFAULT slot moved, keeping the flag and the bitmap (got %d)", r);
	vcpu_start(v, CODE_GPA, to, to + PAGE, PAGE, false);
	r = vcpu_run(v);
	tap(r == EFAULT && v->run->exit_reason == MF_EXIT_MEMORY_FAULT &&
	    mf(v)->flags == MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT && mf(v)->gpa == to,
	    "moved slot: exit at the new address (r=%d, exit reason %u, gpa %#llx)",
	    r, v->run->exit_reason, (unsigned long long)mf(v)->gpa);
	bit_clear(d.bitmap, 0);
	r = vcpu_run(v);
	tap(r == 0 && is_io_exit(v, DONE_PORT),
	    "moved slot: the read completes once the bit is cleared (r=%d, exit %u)",
	    r, v->run->exit_reason);
	r = set_region(vm->fd, 6, 0, to, 0, d.mem, NULL);
	tap(r == 0, "moved slot deleted (got %d)", r);

	for (unsigned int i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		r = set_region(vm->fd, 6, MEMFAULT_KVM_MEM_USERFAULT, from,
			       DATA_PAGES * PAGE, d.mem, d.bitmap);
		if (r)
			die("userfault memslot to delete: %s", strerror(r));
		r = set_region(vm->fd, 6, MEMFAULT_KVM_MEM_USERFAULT, from, 0, d.mem,
			       bogus[i]);
		tap(r == 0, "delete with KVM_MEM_USERFAULT and a %s bitmap succeeds (got %d)",
		    what[i], r);
		if (r)
			set_region(vm->fd, 6, 0, from, 0, d.mem, NULL);
	}
	munmap(d.mem, DATA_PAGES * PAGE);
	free(d.bitmap);
}

/* ---- Mapping sizes, from the VM's binary stats ---------------------------- */

/* The VM statistic @name (e.g. "pages_2m"), or -1 if KVM does not have it. */
static int64_t vm_stat(int vm_fd, const char *name)
{
	struct kvm_stats_header h;
	int fd = ioctl(vm_fd, KVM_GET_STATS_FD, NULL);
	int64_t val = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		goto out;
	size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	char *descs = malloc(dsz * h.num_desc);

	if (!descs || pread(fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc))
		goto out_free;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsz);
		uint64_t v;

		if (strcmp(d->name, name))
			continue;
		if (pread(fd, &v, sizeof(v), h.data_offset + d->offset) == sizeof(v))
			val = (int64_t)v;
		break;
	}
out_free:
	free(descs);
out:
	close(fd);
	return val;
}

#define HUGE_GPA 0x40000000ul
#define HUGE_SIZE (4ul << 20)

/* Guest reads every 4 KiB page of the huge-page slot; no userfault bits set. */
static bool huge_touch(struct vcpu *v)
{
	vcpu_start(v, CODE_GPA, HUGE_GPA, HUGE_GPA + HUGE_SIZE, PAGE, false);
	return vcpu_run(v) == 0 && is_io_exit(v, DONE_PORT);
}

/*
 * Only 4 KiB mappings while the flag is on; huge mappings again once it is
 * off.  Needs transparent huge pages behind the slot, and KVM's pages_2m stat.
 */
static void check_mapping_sizes(void)
{
	struct vm vm = vm_create();
	struct vcpu v = vcpu_create(&vm, 0);
	char *raw = mmap(NULL, HUGE_SIZE + (2ul << 20), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *mem = (char *)(((uintptr_t)raw + (2ul << 20) - 1) & ~((2ul << 20) - 1));
	unsigned long *bitmap = aligned_alloc(64, HUGE_SIZE / PAGE / 8);
	int64_t p2m;

	if (raw == MAP_FAILED || !bitmap)
		die("huge-page slot memory");
	memset(bitmap, 0, HUGE_SIZE / PAGE / 8);
	madvise(mem, HUGE_SIZE, MADV_HUGEPAGE);
	memset(mem, 1, HUGE_SIZE);
	if (set_region(vm.fd, 3, 0, HUGE_GPA, HUGE_SIZE, mem, NULL))
		die("huge-page memslot");
	bool ok = huge_touch(&v);

	p2m = vm_stat(vm.fd, "pages_2m");
	if (!ok || p2m <= 0) {
		printf("ok %d - # SKIP huge mappings: none without the flag either (pages_2m=%lld; THP off?)\n",
		       ++tap_n, (long long)p2m);
	} else {
		tap(true, "flag off: the guest's accesses got %lld 2 MiB mappings", (long long)p2m);
		int r = set_region(vm.fd, 3, MEMFAULT_KVM_MEM_USERFAULT, HUGE_GPA, HUGE_SIZE, mem, bitmap);

		ok = r == 0 && huge_touch(&v);
		p2m = vm_stat(vm.fd, "pages_2m");
		tap(ok && p2m == 0, "flag on (no bits set): only 4 KiB mappings (pages_2m=%lld, pages_4k=%lld)",
		    (long long)p2m, (long long)vm_stat(vm.fd, "pages_4k"));
		r = set_region(vm.fd, 3, 0, HUGE_GPA, HUGE_SIZE, mem, NULL);
		ok = r == 0 && huge_touch(&v);
		p2m = vm_stat(vm.fd, "pages_2m");
		tap(ok && p2m > 0, "flag off again: huge mappings come back (pages_2m=%lld)", (long long)p2m);
	}
	close(v.fd);
	close(vm.fd);
	munmap(raw, HUGE_SIZE + (2ul << 20));
	free(bitmap);
}

static int functional_present(void)
{
	struct vm vm = vm_create();
	struct vcpu v = vcpu_create(&vm, 0);
	struct data_slot d = data_slot_new();
	unsigned long expect[1];
	int r;

	tap(true, "KVM_CAP_USERFAULT (%d) reported: %d", MEMFAULT_KVM_CAP_USERFAULT,
	    ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_USERFAULT));
	check_flag_validation(&vm);
	check_move_and_delete(&vm, &v);

	/* Reads: every third page marked, the flag on from the start. */
	for (unsigned long i = 0; i < DATA_PAGES; i++) {
		*(uint32_t *)(d.mem + i * PAGE) = 0xdead0000 + i;
		if (i % 3 == 0)
			bit_set(d.bitmap, i);
	}
	expect[0] = d.bitmap[0];
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		       DATA_PAGES * PAGE, d.mem, d.bitmap);
	if (r)
		die("userfault memslot: %s", strerror(r));
	touch_all("reads", &v, &d, false, expect);
	touch_all("reads again, all bits clear", &v, &d, false, (unsigned long[]){0});

	/*
	 * Writes: the pages were all mapped by the reads.  Mark the odd pages
	 * and turn the flag off and on: the zap makes them exit again.
	 */
	r = set_region(vm.fd, 1, 0, DATA_GPA, DATA_PAGES * PAGE, d.mem, NULL);
	tap(r == 0, "flag turned off (got %d)", r);
	for (unsigned long i = 1; i < DATA_PAGES; i += 2)
		bit_set(d.bitmap, i);
	expect[0] = d.bitmap[0];
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		       DATA_PAGES * PAGE, d.mem, d.bitmap);
	tap(r == 0, "flag turned on again (got %d)", r);
	touch_all("writes after re-enabling (mapped pages zapped)", &v, &d, true, expect);
	bool data_ok = true;

	for (unsigned long i = 0; i < DATA_PAGES; i++)
		data_ok &= *(uint32_t *)(d.mem + i * PAGE) == DATA_GPA + i * PAGE;
	tap(data_ok, "guest writes landed in the slot's memory");

	/* A slot without the flag ignores its bits entirely. */
	r = set_region(vm.fd, 1, 0, DATA_GPA, DATA_PAGES * PAGE, d.mem, NULL);
	memset(d.bitmap, 0xff, 64);
	touch_all("flag off with every bit set: no exits", &v, &d, true, (unsigned long[]){0});

	/* Pages mapped while the flag was off exit once it is on (zap). */
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		       DATA_PAGES * PAGE, d.mem, d.bitmap);
	expect[0] = ~0ul;
	touch_all("reads of pages mapped before the flag was turned on", &v, &d, false, expect);

	/*
	 * Every page is mapped now.  Re-arm single pages the documented way:
	 * set the bit, then discard the page, which is what takes KVM's
	 * mapping away.  Flags-only updates that keep the flag (dirty logging
	 * on, then off) must keep the exits coming.
	 */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t flags = MEMFAULT_KVM_MEM_USERFAULT | (pass ? 0 : KVM_MEM_LOG_DIRTY_PAGES);
		char what[128];

		r = set_region(vm.fd, 1, flags, DATA_GPA, DATA_PAGES * PAGE, d.mem, d.bitmap);
		tap(r == 0, "flags-only update keeping KVM_MEM_USERFAULT, dirty logging %s (got %d)",
		    pass ? "off" : "on", r);
		for (unsigned long i = pass; i < DATA_PAGES; i += 5) {
			bit_set(d.bitmap, i);
			if (madvise(d.mem + i * PAGE, PAGE, MADV_DONTNEED))
				die("MADV_DONTNEED");
		}
		expect[0] = d.bitmap[0];
		snprintf(what, sizeof(what), "%s of pages re-armed (bit set, then discarded), dirty logging %s",
			 pass ? "writes" : "reads", pass ? "off" : "on");
		touch_all(what, &v, &d, pass, expect);
	}

	/* Instruction fetch from a marked page. */
	unsigned long xp = 40;

	memcpy(d.mem + xp * PAGE, guest_exec, guest_exec_end - guest_exec);
	set_region(vm.fd, 1, 0, DATA_GPA, DATA_PAGES * PAGE, d.mem, NULL);
	bit_set(d.bitmap, xp);
	set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		   DATA_PAGES * PAGE, d.mem, d.bitmap);
	check_exec_exits("", &v, xp, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT,
			 "the bit stays set");
	bit_clear(d.bitmap, xp);
	r = vcpu_run(&v);
	tap(r == 0 && is_io_exit(&v, EXEC_PORT),
	    "instruction fetch: the code runs once the bit is cleared (r=%d, exit %u)",
	    r, v.run->exit_reason);

	/* An unreadable bitmap: a bare EFAULT, no memory-fault exit. */
	set_region(vm.fd, 1, 0, DATA_GPA, DATA_PAGES * PAGE, d.mem, NULL);
	unsigned long *gone = map_anon(PAGE);

	munmap(gone, PAGE);
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		       DATA_PAGES * PAGE, d.mem, gone);
	tap(r == 0, "unmapped (but user-range) bitmap accepted by the memslot (got %d)", r);
	vcpu_start(&v, CODE_GPA, DATA_GPA, DATA_GPA + PAGE, PAGE, false);
	r = vcpu_run(&v);
	tap(r == EFAULT && v.run->exit_reason != MF_EXIT_MEMORY_FAULT,
	    "unreadable bitmap: KVM_RUN fails with a bare EFAULT (r=%d, exit reason %u)",
	    r, v.run->exit_reason);

	check_mapping_sizes();
	return 0;
}

static int functional_absent(void)
{
	struct vm vm = vm_create();
	struct data_slot d = data_slot_new();
	int cap = ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_USERFAULT);
	int r;

	printf("# KVM_CAP_USERFAULT (%d): absent (KVM_CHECK_EXTENSION returned %d)\n",
	       MEMFAULT_KVM_CAP_USERFAULT, cap);
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_USERFAULT, DATA_GPA,
		       DATA_PAGES * PAGE, d.mem, d.bitmap);
	tap(r == EINVAL, "KVM_MEM_USERFAULT rejected with EINVAL by a kernel without KVM Userfault (got %d)", r);
	printf("# capability absent, flag rejected\n");
	return 0;
}

static int exit_on_missing_absent(void)
{
	struct vm vm = vm_create();
	char *mem = map_anon(DATA_PAGES * PAGE);
	int r;

	printf("# KVM_CAP_EXIT_ON_MISSING (%d): absent (KVM_CHECK_EXTENSION returned %d)\n",
	       MEMFAULT_KVM_CAP_EXIT_ON_MISSING,
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_EXIT_ON_MISSING));
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_EXIT_ON_MISSING, DATA_GPA,
		       DATA_PAGES * PAGE, mem, NULL);
	tap(r == EINVAL, "KVM_MEM_EXIT_ON_MISSING rejected with EINVAL by a kernel without it (got %d)", r);
	close(vm.fd);
	return 0;
}

/* ---- Demand paging ------------------------------------------------------- */

enum dp_mode { DP_UFFD, DP_EXIT, DP_EOM, DP_MODES };
static const char *const dp_mode_name[] = { "uffd", "kvm-exit", "exit-on-missing" };

struct dp {
	enum dp_mode mode;
	int nr_vcpus;
	unsigned long pages;    /* per vCPU */
	unsigned int delay_us;  /* before supplying each page: the "network" */
	char *mem;
	char *src;              /* page contents to copy in */
	unsigned long *bitmap;
	int uffd;
	int stop_fd[2];
	struct vm vm;
	unsigned long uffd_faults;
	unsigned long exits[64];
	int err;
};

struct dp_vcpu {
	struct dp *dp;
	struct vcpu v;
	int id;
	/* For the watchdog's report; written by the vCPU thread only. */
	unsigned long runs, retries;
	uint64_t last_gpa;
	bool done;
	pid_t tid;
};

/* A stuck thread's state and kernel stack (root only), for the watchdog. */
static void dp_print_task(pid_t tid)
{
	char path[64], line[256];
	const char *what[] = { "stat", "wchan", "stack" };

	for (unsigned int i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, what[i]);
		FILE *f = fopen(path, "r");

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			printf("# watchdog:   %s: %s%s", what[i], line,
			       strchr(line, '\n') ? "" : "\n");
		fclose(f);
	}
}

/* A run that has not finished after this long is reported and failed. */
#define DP_WATCHDOG_S 120

/* What one run measured; lat_us holds every page's latency, sorted. */
struct dp_result {
	double pages_per_s;
	double *lat_us;
	unsigned long n;
	bool ok;
};

static void dp_delay(const struct dp *dp)
{
	struct timespec ts = { .tv_nsec = dp->delay_us * 1000l };

	if (dp->delay_us)
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
			;
}

static int uffd_copy(int uffd, void *dst, void *src, bool wake)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = PAGE,
		.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
	};

	if (ioctl(uffd, UFFDIO_COPY, &c) == 0)
		return 0;
	return errno;
}

static void *dp_reader(void *arg)
{
	struct dp *dp = arg;
	struct pollfd pfd[2] = {
		{ .fd = dp->uffd, .events = POLLIN },
		{ .fd = dp->stop_fd[0], .events = POLLIN },
	};

	for (;;) {
		struct uffd_msg msg;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[1].revents)
			return NULL;
		if (read(dp->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN)
				continue;
			die("read uffd");
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t addr = msg.arg.pagefault.address & ~(PAGE - 1);

		dp_delay(dp);
		int r = uffd_copy(dp->uffd, (void *)addr, dp->src, true);

		if (r == EEXIST) {
			struct uffdio_range w = { .start = addr, .len = PAGE };

			ioctl(dp->uffd, UFFDIO_WAKE, &w);
		} else if (r) {
			errno = r;
			die("UFFDIO_COPY");
		}
		__atomic_fetch_add(&dp->uffd_faults, 1, __ATOMIC_RELAXED);
	}
}

static void *dp_vcpu_thread(void *arg)
{
	struct dp_vcpu *c = arg;
	struct dp *dp = c->dp;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	for (;;) {
		int r = vcpu_run(&c->v);

		__atomic_store_n(&c->runs, c->runs + 1, __ATOMIC_RELAXED);
		if (r == 0 && is_io_exit(&c->v, DONE_PORT)) {
			__atomic_store_n(&c->done, true, __ATOMIC_RELAXED);
			return NULL;
		}
		if (r == EINTR || r == EAGAIN) {
			__atomic_store_n(&c->retries, c->retries + 1, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t want = dp->mode == DP_EXIT ? MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT
						    : MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING;

		if (dp->mode != DP_UFFD && r == EFAULT &&
		    c->v.run->exit_reason == MF_EXIT_MEMORY_FAULT && mf(&c->v)->flags == want) {
			uint64_t gpa = mf(&c->v)->gpa;

			__atomic_store_n(&c->last_gpa, gpa, __ATOMIC_RELAXED);
			unsigned long i = (gpa - DP_GPA) / PAGE;
			char *hva = dp->mem + i * PAGE;

			dp_delay(dp);
			int e = uffd_copy(dp->uffd, hva, dp->src, false);

			if (e == EEXIST) {
				struct uffdio_range w = { .start = (uintptr_t)hva, .len = PAGE };

				ioctl(dp->uffd, UFFDIO_WAKE, &w);
			} else if (e) {
				errno = e;
				die("UFFDIO_COPY (vCPU %d)", c->id);
			}
			if (dp->mode == DP_EXIT)
				bit_clear(dp->bitmap, i);
			dp->exits[c->id]++;
			continue;
		}
		fprintf(stderr, "vCPU %d: KVM_RUN %d (%s), exit reason %u\n", c->id, r,
			strerror(r), c->v.run->exit_reason);
		dp->err = 1;
		return NULL;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted @v. */
static double quantile(const double *v, unsigned long n, double q)
{
	unsigned long i = (unsigned long)(q * (n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* One measurement. */
static struct dp_result dp_run(enum dp_mode mode, int nr_vcpus, unsigned long pages,
			       unsigned int delay_us)
{
	struct dp dp = { .mode = mode, .nr_vcpus = nr_vcpus, .pages = pages,
			 .delay_us = delay_us };
	size_t len = nr_vcpus * pages * PAGE;
	unsigned long nbits = nr_vcpus * pages;
	struct dp_vcpu *vc = calloc(nr_vcpus, sizeof(*vc));
	pthread_t *th = calloc(nr_vcpus, sizeof(*th)), reader;
	struct dp_result res = { .n = nbits };

	dp.vm = vm_create();
	dp.mem = map_anon(len);
	dp.src = map_anon(PAGE);
	memset(dp.src, 0x5a, PAGE);
	dp.bitmap = aligned_alloc(64, (nbits / 64 + 8) * 8);
	memset(dp.bitmap, mode == DP_EXIT ? 0xff : 0, (nbits / 64 + 8) * 8);

	dp.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (dp.uffd < 0)
		die("userfaultfd");
	struct uffdio_api api = { .api = UFFD_API };

	if (ioctl(dp.uffd, UFFDIO_API, &api))
		die("UFFDIO_API");
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)dp.mem, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(dp.uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	if (pipe(dp.stop_fd))
		die("pipe");
	uint32_t flags = mode == DP_EXIT ? MEMFAULT_KVM_MEM_USERFAULT :
			 mode == DP_EOM ? MEMFAULT_KVM_MEM_EXIT_ON_MISSING : 0;
	int r = set_region(dp.vm.fd, 2, flags, DP_GPA, len, dp.mem,
			   mode == DP_EXIT ? dp.bitmap : NULL);

	if (r) {
		errno = r;
		die("demand-paging memslot");
	}
	for (int i = 0; i < nr_vcpus; i++) {
		vc[i].dp = &dp;
		vc[i].id = i;
		vc[i].v = vcpu_create(&dp.vm, i);
		uint64_t base = DP_GPA + (uint64_t)i * pages * PAGE;

		vcpu_start(&vc[i].v, TIMED_GPA, base, base + pages * PAGE, PAGE, true);
	}
	/* The guest's rdtsc runs at the vCPU's TSC rate. */
	long tsc_khz = ioctl(vc[0].v.fd, KVM_GET_TSC_KHZ, 0);

	if (tsc_khz <= 0)
		die("KVM_GET_TSC_KHZ");
	/*
	 * The reader runs in every mode: in the exit modes it only sees
	 * accesses that do not come from vCPU faults (there should be none).
	 */
	pthread_create(&reader, NULL, dp_reader, &dp);
	double t0 = now();

	for (int i = 0; i < nr_vcpus; i++)
		pthread_create(&th[i], NULL, dp_vcpu_thread, &vc[i]);
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += DP_WATCHDOG_S;
	for (int i = 0; i < nr_vcpus; i++) {
		if (pthread_timedjoin_np(th[i], NULL, &deadline) == 0)
			continue;
		/* Say what each vCPU was doing, then fail: never hang. */
		for (int j = 0; j < nr_vcpus; j++) {
			uint64_t gpa = __atomic_load_n(&vc[j].last_gpa, __ATOMIC_RELAXED);
			unsigned long bit = gpa ? (gpa - DP_GPA) / PAGE : 0;

			printf("# watchdog: vCPU %d %s: %lu KVM_RUNs, %lu EINTR/EAGAIN, %lu exits, last exit gpa 0x%llx (bit %s), exit reason %u\n",
			       j, __atomic_load_n(&vc[j].done, __ATOMIC_RELAXED) ? "done" : "running",
			       __atomic_load_n(&vc[j].runs, __ATOMIC_RELAXED),
			       __atomic_load_n(&vc[j].retries, __ATOMIC_RELAXED),
			       __atomic_load_n(&dp.exits[j], __ATOMIC_RELAXED),
			       (unsigned long long)gpa,
			       gpa ? (bit_test(dp.bitmap, bit) ? "set" : "clear") : "-",
			       vc[j].v.run->exit_reason);
			if (!__atomic_load_n(&vc[j].done, __ATOMIC_RELAXED))
				dp_print_task(__atomic_load_n(&vc[j].tid, __ATOMIC_RELAXED));
		}
		die("demand paging %s with %d vCPUs did not finish in %d s",
		    dp_mode_name[mode], nr_vcpus, DP_WATCHDOG_S);
	}
	double t = now() - t0;

	if (write(dp.stop_fd[1], "x", 1) != 1)
		die("write");
	pthread_join(reader, NULL);

	unsigned long exits = 0;

	for (int i = 0; i < nr_vcpus; i++)
		exits += dp.exits[i];
	bool ok = !dp.err;

	res.lat_us = calloc(nbits, sizeof(double));
	for (unsigned long i = 0; i < nbits; i++) {
		uint32_t *w = (uint32_t *)(dp.mem + i * PAGE);

		ok &= w[0] == (uint32_t)(DP_GPA + i * PAGE);
		res.lat_us[i] = w[1] * 1000.0 / tsc_khz;
	}
	qsort(res.lat_us, nbits, sizeof(double), cmp_double);
	if (mode != DP_UFFD)
		ok &= exits == nbits;
	else
		ok &= dp.uffd_faults == nbits;
	printf("# %-8s vcpus=%d pages=%lu delay=%uus: %.3f s, %lu exits, %lu uffd faults, latency (us) p50 %.1f p99 %.1f max %.1f%s\n",
	       dp_mode_name[mode], nr_vcpus, nbits, delay_us, t, exits, dp.uffd_faults,
	       quantile(res.lat_us, nbits, 0.5), quantile(res.lat_us, nbits, 0.99),
	       res.lat_us[nbits - 1], ok ? "" : "  FAILED");

	for (int i = 0; i < nr_vcpus; i++) {
		munmap(vc[i].v.run, ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0));
		close(vc[i].v.fd);
	}
	close(dp.vm.fd);
	close(dp.uffd);
	close(dp.stop_fd[0]);
	close(dp.stop_fd[1]);
	munmap(dp.mem, len);
	munmap(dp.src, PAGE);
	munmap(dp.vm.code, 0x10000);
	free(dp.bitmap);
	free(vc);
	free(th);
	res.ok = ok;
	res.pages_per_s = nbits / t;
	return res;
}

/* One run as a JSON object: figures and 101 latency quantiles (0..100%). */
static void dp_json(FILE *f, bool first, enum dp_mode mode, int vcpus, unsigned long pages,
		    unsigned int delay_us, int rep, const struct dp_result *r)
{
	fprintf(f, "%s\n  {\"mode\": \"%s\", \"vcpus\": %d, \"pages_per_vcpu\": %lu, ",
		first ? "" : ",", dp_mode_name[mode], vcpus, pages);
	fprintf(f, "\"delay_us\": %u, \"rep\": %d, \"ok\": %s, \"pages_per_s\": %.1f, ",
		delay_us, rep, r->ok ? "true" : "false", r->pages_per_s);
	fprintf(f, "\"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, \"quantiles_us\": [",
		quantile(r->lat_us, r->n, 0.5), quantile(r->lat_us, r->n, 0.99),
		r->lat_us[r->n - 1]);
	for (int q = 0; q <= 100; q++)
		fprintf(f, "%s%.2f", q ? ", " : "", quantile(r->lat_us, r->n, q / 100.0));
	fprintf(f, "]}");
}

static int demand_paging(const char *vcpu_list, unsigned long pages, int reps,
			 unsigned int delay_us, const char *json)
{
	char buf[128];
	int counts[16], n = 0;
	FILE *jf = NULL;

	snprintf(buf, sizeof(buf), "%s", vcpu_list);
	for (char *s = strtok(buf, ","); s && n < 16; s = strtok(NULL, ","))
		counts[n++] = atoi(s);
	if (!has_userfault())
		printf("# KVM_CAP_USERFAULT absent: no kvm-exit mode\n");
	if (!has_exit_on_missing())
		printf("# KVM_CAP_EXIT_ON_MISSING absent: no exit-on-missing mode\n");
	if (json) {
		jf = fopen(json, "w");
		if (!jf)
			die("%s", json);
		fprintf(jf, "[");
	}
	printf("# demand paging: each vCPU writes its own %lu pages (4 KiB), %u us per page before it is supplied; best of %d; latency from the guest's rdtsc\n",
	       pages, delay_us, reps);
	double res[16][DP_MODES] = { 0 }, p50[16][DP_MODES] = { 0 }, p99[16][DP_MODES] = { 0 };
	bool first = true;

	for (int i = 0; i < n; i++) {
		if (counts[i] < 1 || counts[i] > 64)
			die("bad vCPU count %d", counts[i]);
		/* The guest runs without paging: its pages must lie below 4 GiB. */
		if (DP_GPA + (uint64_t)counts[i] * pages * PAGE > 0xfec00000ul)
			die("%d vCPUs x %lu pages do not fit below the 4 GiB hole", counts[i], pages);
		for (int rep = 0; rep < reps; rep++) {
			/* Alternate the modes so that drift in the machine hits both. */
			for (int m = 0; m < DP_MODES; m++) {
				if ((m == DP_EXIT && !has_userfault()) ||
				    (m == DP_EOM && !has_exit_on_missing()))
					continue;
				struct dp_result r = dp_run(m, counts[i], pages, delay_us);

				tap(r.ok, "demand paging %s, %d vCPUs", dp_mode_name[m], counts[i]);
				if (jf)
					dp_json(jf, first, m, counts[i], pages, delay_us, rep, &r);
				first = false;
				if (r.ok && r.pages_per_s > res[i][m]) {
					res[i][m] = r.pages_per_s;
					p50[i][m] = quantile(r.lat_us, r.n, 0.5);
					p99[i][m] = quantile(r.lat_us, r.n, 0.99);
				}
				free(r.lat_us);
			}
		}
	}
	if (jf) {
		fprintf(jf, "\n]\n");
		if (fclose(jf))
			die("%s", json);
	}
	printf("#\n# | vCPUs | userfaultfd (pages/s) | KVM Userfault exits (pages/s) | exit-on-missing (pages/s) | ratios to userfaultfd | p50 (us) | p99 (us) |\n");
	printf("# |------:|------:|------:|------:|------:|------:|------:|\n");
	for (int i = 0; i < n; i++)
		printf("# | %d | %.0f | %.0f | %.0f | %.2f / %.2f | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f |\n",
		       counts[i], res[i][0], res[i][1], res[i][2],
		       res[i][0] > 0 ? res[i][1] / res[i][0] : 0,
		       res[i][0] > 0 ? res[i][2] / res[i][0] : 0,
		       p50[i][0], p50[i][1], p50[i][2], p99[i][0], p99[i][1], p99[i][2]);
	return 0;
}

/* ---- Exit on missing ---------------------------------------------------- */

/* Anonymous memory whose missing pages a (never read) userfaultfd holds back. */
static char *uffd_missing_mem(size_t len, int *uffd)
{
	char *mem = map_anon(len);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)mem, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	*uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (*uffd < 0 || ioctl(*uffd, UFFDIO_API, &api) || ioctl(*uffd, UFFDIO_REGISTER, &reg))
		die("userfaultfd on the exit-on-missing slot");
	return mem;
}

/* Place page @i of @mem with its marker, as a postcopy destination would. */
static void eom_place(int uffd, char *mem, unsigned long i)
{
	uint32_t src[PAGE / 4] = { 0xdead0000 + i };
	int e = uffd_copy(uffd, mem + i * PAGE, src, false);

	if (e) {
		errno = e;
		die("UFFDIO_COPY of page %lu", i);
	}
}

struct eom_slot {
	int uffd;
	char *mem;
};

/* An exit-on-missing exit: place the page, as a postcopy destination would. */
static bool eom_resolve(void *ctx, unsigned long i)
{
	struct eom_slot *e = ctx;

	eom_place(e->uffd, e->mem, i);
	return true;
}

/* The exit-on-missing exits must be exactly the pages in @missing. */
static bool eom_touch_all(const char *what, struct vcpu *v, int uffd, char *mem,
			  bool write, uint64_t missing)
{
	struct eom_slot e = { .uffd = uffd, .mem = mem };

	return run_over_data_slot(what, v, write, MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING, missing,
				  eom_resolve, &e, "missing pages");
}

static void eom_check_flag_validation(struct vm *vm)
{
	char *mem = map_anon(DATA_PAGES * PAGE);
	unsigned long *bitmap = aligned_alloc(64, 64);
	int r;

	memset(bitmap, 0, 64);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_EXIT_ON_MISSING | MEMFAULT_KVM_MEM_USERFAULT,
		       0x800000, DATA_PAGES * PAGE, mem, bitmap);
	tap(r == EINVAL, "KVM_MEM_EXIT_ON_MISSING | KVM_MEM_USERFAULT rejected with EINVAL (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_EXIT_ON_MISSING | KVM_MEM_READONLY,
		       0x800000, DATA_PAGES * PAGE, mem, NULL);
	tap(r == EINVAL, "KVM_MEM_EXIT_ON_MISSING | KVM_MEM_READONLY rejected with EINVAL (got %d)", r);

	struct kvm_userspace_memory_region v1 = {
		.slot = 5, .flags = MEMFAULT_KVM_MEM_EXIT_ON_MISSING, .guest_phys_addr = 0x800000,
		.memory_size = DATA_PAGES * PAGE, .userspace_addr = (uintptr_t)mem,
	};
	r = ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &v1) < 0 ? errno : 0;
	tap(r == EINVAL, "KVM_MEM_EXIT_ON_MISSING through KVM_SET_USER_MEMORY_REGION (v1) rejected with EINVAL (got %d)", r);

	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_EXIT_ON_MISSING, 0x800000,
		       DATA_PAGES * PAGE, mem, NULL);
	tap(r == 0, "KVM_MEM_EXIT_ON_MISSING accepted (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_EXIT_ON_MISSING | KVM_MEM_LOG_DIRTY_PAGES,
		       0x800000, DATA_PAGES * PAGE, mem, NULL);
	tap(r == 0, "KVM_MEM_EXIT_ON_MISSING together with dirty logging accepted (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_USERFAULT, 0x800000, DATA_PAGES * PAGE,
		       mem, bitmap);
	tap(r == 0, "switching the slot to KVM_MEM_USERFAULT in one update accepted (got %d)", r);
	r = set_region(vm->fd, 5, MEMFAULT_KVM_MEM_EXIT_ON_MISSING, 0x800000, DATA_PAGES * PAGE,
		       mem, NULL);
	tap(r == 0, "and back to KVM_MEM_EXIT_ON_MISSING (got %d)", r);
	r = set_region(vm->fd, 5, 0, 0x800000, 0, mem, NULL);
	tap(r == 0, "slot deleted (got %d)", r);
	munmap(mem, DATA_PAGES * PAGE);
	free(bitmap);
}

static int exit_on_missing_present(void)
{
	struct vm vm = vm_create();
	struct vcpu v = vcpu_create(&vm, 0);
	int uffd, r;
	char *mem = uffd_missing_mem(DATA_PAGES * PAGE, &uffd);
	uint64_t missing = 0;
	bool data_ok = true;

	tap(true, "KVM_CAP_EXIT_ON_MISSING (%d) reported: %d", MEMFAULT_KVM_CAP_EXIT_ON_MISSING,
	    ioctl(kvm_fd, KVM_CHECK_EXTENSION, MEMFAULT_KVM_CAP_EXIT_ON_MISSING));
	eom_check_flag_validation(&vm);

	/*
	 * A third of the pages placed with UFFDIO_COPY, a third with
	 * UFFDIO_ZEROPAGE, a third left missing.
	 */
	for (unsigned long i = 0; i < DATA_PAGES; i++) {
		if (i % 3 == 0) {
			eom_place(uffd, mem, i);
		} else if (i % 3 == 1) {
			struct uffdio_zeropage z = {
				.range = { .start = (uintptr_t)mem + i * PAGE, .len = PAGE },
				.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
			};

			if (ioctl(uffd, UFFDIO_ZEROPAGE, &z))
				die("UFFDIO_ZEROPAGE");
		} else {
			missing |= 1ull << i;
		}
	}
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_EXIT_ON_MISSING, DATA_GPA,
		       DATA_PAGES * PAGE, mem, NULL);
	if (r)
		die("exit-on-missing memslot: %s", strerror(r));
	eom_touch_all("exit on missing, reads", &v, uffd, mem, false, missing);
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		data_ok &= *(uint32_t *)(mem + i * PAGE) == (i % 3 == 1 ? 0 : 0xdead0000 + i);
	tap(data_ok, "exit on missing: the placed pages hold what was placed, the zero pages zeros");
	eom_touch_all("exit on missing, writes, zero pages included: no exits", &v, uffd, mem,
		      true, 0);
	data_ok = true;
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		data_ok &= *(uint32_t *)(mem + i * PAGE) == DATA_GPA + i * PAGE;
	tap(data_ok, "exit on missing: guest writes landed in the slot's memory");

	/*
	 * Pages discarded again are missing again: userfaultfd holds them
	 * back, so they exit, with dirty logging on too.
	 */
	r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_EXIT_ON_MISSING | KVM_MEM_LOG_DIRTY_PAGES,
		       DATA_GPA, DATA_PAGES * PAGE, mem, NULL);
	tap(r == 0, "flags-only update keeping KVM_MEM_EXIT_ON_MISSING, dirty logging on (got %d)", r);
	missing = 0;
	for (unsigned long i = 2; i < DATA_PAGES; i += 7) {
		if (madvise(mem + i * PAGE, PAGE, MADV_DONTNEED))
			die("MADV_DONTNEED");
		missing |= 1ull << i;
	}
	eom_touch_all("exit on missing, writes to discarded pages", &v, uffd, mem, true, missing);

	/* Instruction fetch from a missing page. */
	unsigned long xp = 40;

	if (madvise(mem + xp * PAGE, PAGE, MADV_DONTNEED))
		die("MADV_DONTNEED");
	check_exec_exits("exit on missing, ", &v, xp, MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING,
			 "the page is missing");
	char code[PAGE];

	memset(code, 0, sizeof(code));
	memcpy(code, guest_exec, guest_exec_end - guest_exec);
	if ((r = uffd_copy(uffd, mem + xp * PAGE, code, false)))
		die("UFFDIO_COPY of the code page: %s", strerror(r));
	r = vcpu_run(&v);
	tap(r == 0 && is_io_exit(&v, EXEC_PORT),
	    "exit on missing, instruction fetch: the code runs once the page is placed (r=%d, exit %u)",
	    r, v.run->exit_reason);

	/* KVM_PRE_FAULT_MEMORY has no exit to report: it fails instead of waiting. */
	if (madvise(mem, PAGE, MADV_DONTNEED))
		die("MADV_DONTNEED");
	struct mf_pre_fault_memory pf = { .gpa = DATA_GPA, .size = PAGE };

	r = ioctl(v.fd, MF_PRE_FAULT_MEMORY, &pf) < 0 ? errno : 0;
	if (r == EOPNOTSUPP || r == ENOTTY || r == EINVAL)
		printf("ok %d - # SKIP KVM_PRE_FAULT_MEMORY not available here (%s; no TDP?)\n",
		       ++tap_n, strerror(r));
	else
		tap(r == EFAULT, "exit on missing: KVM_PRE_FAULT_MEMORY on a missing page fails with EFAULT instead of waiting (got %d)", r);

	/* Memory that no userfaultfd manages: the kernel provides it at once. */
	char *plain = map_anon(DATA_PAGES * PAGE);

	r = set_region(vm.fd, 1, 0, DATA_GPA, 0, mem, NULL);
	if (r == 0)
		r = set_region(vm.fd, 1, MEMFAULT_KVM_MEM_EXIT_ON_MISSING, DATA_GPA,
			       DATA_PAGES * PAGE, plain, NULL);
	tap(r == 0, "exit-on-missing slot re-created on memory without userfaultfd (got %d)", r);
	eom_touch_all("exit on missing, reads of never-touched memory without userfaultfd: no exits",
		      &v, uffd, plain, false, 0);
	eom_touch_all("exit on missing, writes of it: no exits", &v, uffd, plain, true, 0);

	close(v.fd);
	close(vm.fd);
	close(uffd);
	munmap(mem, DATA_PAGES * PAGE);
	munmap(plain, DATA_PAGES * PAGE);
	return 0;
}

int main(int argc, char **argv)
{
	const char *expect = "any", *expect_gmem = "any", *vcpus = "1,2,4,8";
	unsigned long pages = 1024;
	const char *json = NULL;
	bool dp = false;
	int reps = 1;
	unsigned int delay_us = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = argv[++i];
		else if (!strcmp(argv[i], "--expect-gmem") && i + 1 < argc)
			expect_gmem = argv[++i];
		else if (!strcmp(argv[i], "--demand-paging"))
			dp = true;
		else if (!strcmp(argv[i], "--vcpus") && i + 1 < argc)
			vcpus = argv[++i];
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--delay-us") && i + 1 < argc)
			delay_us = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--expect present|absent|any] [--expect-gmem present|absent|any] | --demand-paging [--vcpus 1,2,4,8] [--pages N] [--reps R] [--delay-us D] [--json FILE]\n",
				argv[0]);
			return 2;
		}
	}
	if (dp && (pages < 1 || reps < 1 || delay_us > 1000000)) {
		fprintf(stderr, "%s: --pages and --reps must be >= 1, --delay-us <= 1000000\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		die("/dev/kvm");
	printf("TAP version 13\n");
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, MF_CAP_USER_MEMORY2) <= 0)
		die("KVM_CAP_USER_MEMORY2 missing: kernel older than 6.8");

	bool present = has_userfault();

	if (dp) {
		demand_paging(vcpus, pages, reps, delay_us, json);
	} else {
		bool eom = has_exit_on_missing();

		if (!strcmp(expect, "present")) {
			tap(present, "KVM_CAP_USERFAULT expected present");
			tap(eom, "KVM_CAP_EXIT_ON_MISSING expected present");
		} else if (!strcmp(expect, "absent")) {
			tap(!present, "KVM_CAP_USERFAULT expected absent");
			tap(!eom, "KVM_CAP_EXIT_ON_MISSING expected absent");
		}
		if (present)
			functional_present();
		else
			functional_absent();
		if (eom)
			exit_on_missing_present();
		else
			exit_on_missing_absent();
		guest_memfd_checks(expect_gmem);
	}
	printf("1..%d\n# %d passed, %d failed\n", tap_n, tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}
