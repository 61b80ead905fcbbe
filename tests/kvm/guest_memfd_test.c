// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM Userfault on guest_memfd memslots (KVM_CAP_GUEST_MEMFD_USERFAULT), the
 * memory userfaultfd cannot demand-page: a vCPU's fault on a guest_memfd
 * memslot never goes through the userspace mapping.  With the capability:
 *  - KVM_MEM_USERFAULT is turned on and off on a guest_memfd memslot that
 *    already holds data; the same file and offset are required, moving it
 *    stays refused;
 *  - dirty logging on a shared guest_memfd memslot logs the guest's writes,
 *    and stays refused on a private one;
 *  - a vCPU exits exactly for the pages whose bit is set, for reads, writes
 *    and instruction fetches; a page written with pwrite() and its bit
 *    cleared is what the guest then reads;
 *  - while the flag is on, the mapping does not invent missing pages, also
 *    where no memslot maps them: a read
 *    through it, and a kernel access through it (write() from it), wait
 *    until pwrite() puts the page in, or until the flag goes off; an access
 *    that cannot wait (/proc/self/mem) fails instead of reading zeros;
 *    pages in the file read as before;
 *  - a vCPU's fault through a second memslot of the file, one without the
 *    flag, exits with USERFAULT for a missing page instead of reading zeros;
 *  - pwrite() writes a page whole, zeroes the rest of a page written in
 *    part, refuses private memory (EPERM) and offsets past the end (EINVAL),
 *    and fails with EFAULT, leaving no page, when its source cannot be read;
 *  - with the flag off again the mapping allocates as before;
 *  - a vCPU running while the flag is turned on and off hundreds of times
 *    never fails (the memslot's bindings move to its replacement).
 * Without it: guest_memfd memslots stay immutable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memfault/memfault.h"
#include "kvm_test.h"

/* UAPI of Linux 6.18 and later that Debian 12's <linux/kvm.h> lacks. */
struct mf_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};
#define MF_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct mf_create_guest_memfd)
#define MF_CAP_GUEST_MEMFD_FLAGS 244
#define MF_GUEST_MEMFD_FLAG_MMAP (1ull << 0)
#define MF_GUEST_MEMFD_FLAG_INIT_SHARED (1ull << 1)
#define MF_MEM_GUEST_MEMFD (1u << 2)

#define SLOT_SIZE (DATA_PAGES * PAGE)
/* The file is twice the memslot, so that another offset is a valid one. */
#define FILE_SIZE (2 * SLOT_SIZE)
#define TOGGLES 300

struct gmem_slot {
	int vm_fd;
	int fd;
	char *mem;
	unsigned long *bitmap;
};

static int gmem_create(int vm_fd, uint64_t flags)
{
	struct mf_create_guest_memfd c = { .size = FILE_SIZE, .flags = flags };
	int fd = ioctl(vm_fd, MF_CREATE_GUEST_MEMFD, &c);

	return fd < 0 ? -errno : fd;
}

/* Memslot 1 at DATA_GPA over the file at @offset: 0 or errno. */
static int set_gmem_region(int vm_fd, uint64_t gpa, uint32_t flags, int fd,
			   uint64_t offset, void *hva, void *bitmap)
{
	struct mf_region2 r = {
		.slot = 1,
		.flags = flags | MF_MEM_GUEST_MEMFD,
		.guest_phys_addr = gpa,
		.memory_size = SLOT_SIZE,
		.userspace_addr = (uintptr_t)hva,
		.guest_memfd_offset = offset,
		.guest_memfd = fd,
		.userfault_bitmap = (uintptr_t)bitmap,
	};

	return ioctl(vm_fd, MF_SET_USER_MEMORY_REGION2, &r) < 0 ? errno : 0;
}

static int gmem_flags(struct gmem_slot *g, uint32_t flags)
{
	return set_gmem_region(g->vm_fd, DATA_GPA, flags, g->fd, 0, g->mem, g->bitmap);
}

static sigjmp_buf sigbus_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_env, 1);
}

/* Read the word at @p; true if that raised SIGBUS. */
static bool read_raises_sigbus(const volatile uint32_t *p, uint32_t *val)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool bus = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_env, 1))
		bus = true;
	else
		*val = *p;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/* A thread that reads a word through the mapping, or has write() read it. */
struct reader {
	const uint32_t *p;
	bool via_write;
	uint32_t val;
	ssize_t r;
	volatile bool done;
};

static void *reader_thread(void *arg)
{
	struct reader *rd = arg;

	if (rd->via_write) {
		int fds[2];

		if (pipe(fds))
			die("pipe");
		rd->r = write(fds[1], rd->p, sizeof(rd->val));
		if (rd->r == sizeof(rd->val) && read(fds[0], &rd->val, sizeof(rd->val)) < 0)
			rd->r = -1;
		close(fds[0]);
		close(fds[1]);
	} else {
		rd->val = *(const volatile uint32_t *)rd->p;
		rd->r = sizeof(rd->val);
	}
	__atomic_store_n(&rd->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Start a reader of @p and check that it is still waiting 200 ms later. */
static bool reader_waits(struct reader *rd, pthread_t *th, const void *p, bool via_write)
{
	*rd = (struct reader){ .p = p, .via_write = via_write };
	if (pthread_create(th, NULL, reader_thread, rd))
		die("pthread_create");
	usleep(200 * 1000);
	return !__atomic_load_n(&rd->done, __ATOMIC_ACQUIRE);
}

static uint32_t placed(unsigned long i)
{
	return 0xfeed0000u + i;
}

static uint32_t precopied(unsigned long i)
{
	return 0xbeef0000u + i;
}

/* A userfault exit: write the page into the file, then clear its bit. */
static bool gmem_resolve(void *ctx, unsigned long i)
{
	struct gmem_slot *g = ctx;
	char page[PAGE];

	if (!bit_test(g->bitmap, i))
		return false;
	memset(page, 0, sizeof(page));
	*(uint32_t *)page = placed(i);
	if (pwrite(g->fd, page, PAGE, i * PAGE) != (ssize_t)PAGE)
		return false;
	bit_clear(g->bitmap, i);
	return true;
}

/* Set the page's bit, then take it out of the file: the documented re-arm. */
static void rearm(struct gmem_slot *g, unsigned long i)
{
	bit_set(g->bitmap, i);
	if (fallocate(g->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, i * PAGE, PAGE))
		die("punching page %lu out of guest_memfd", i);
}

static void check_validation(struct gmem_slot *g)
{
	int other = gmem_create(g->vm_fd, MF_GUEST_MEMFD_FLAG_MMAP | MF_GUEST_MEMFD_FLAG_INIT_SHARED);
	int r;

	if (other < 0)
		die("second guest_memfd: %s", strerror(-other));
	r = set_gmem_region(g->vm_fd, DATA_GPA, MEMFAULT_KVM_MEM_USERFAULT, other, 0,
			    g->mem, g->bitmap);
	tap(r == EINVAL, "guest_memfd: turning KVM_MEM_USERFAULT on with another file rejected with EINVAL (got %d)", r);
	r = set_gmem_region(g->vm_fd, DATA_GPA, MEMFAULT_KVM_MEM_USERFAULT, g->fd, PAGE,
			    g->mem, g->bitmap);
	tap(r == EINVAL, "guest_memfd: turning it on at another offset rejected with EINVAL (got %d)", r);
	r = set_gmem_region(g->vm_fd, DATA_GPA + SLOT_SIZE, 0, g->fd, 0, g->mem, NULL);
	tap(r == EINVAL, "guest_memfd: moving the memslot still rejected with EINVAL (got %d)", r);
	r = gmem_flags(g, 0);
	tap(r == 0, "guest_memfd: an update that changes nothing accepted (got %d)", r);
	close(other);
}

/* Precopy: dirty logging on a shared guest_memfd, refused on a private one. */
static void check_dirty_logging(struct gmem_slot *g, struct vcpu *v)
{
	unsigned long dirty[DATA_PAGES / 64] = { 0 };
	struct kvm_dirty_log log = { .slot = 1, .dirty_bitmap = dirty };
	int priv, r;

	r = gmem_flags(g, KVM_MEM_LOG_DIRTY_PAGES);
	tap(r == 0, "guest_memfd: dirty logging turned on on a shared guest_memfd memslot (got %d)", r);
	r = ioctl(g->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? errno : 0;
	tap(r == 0, "guest_memfd: KVM_GET_DIRTY_LOG (got %d)", r);
	run_over_data_slot("guest_memfd, writes with dirty logging on", v, true,
			   MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT, 0, gmem_resolve, g, "pages");
	memset(dirty, 0, sizeof(dirty));
	r = ioctl(g->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? errno : 0;
	tap(r == 0 && dirty[0] == ~0ul,
	    "guest_memfd: every page the guest wrote is in the dirty log (got %d, %#lx)", r, dirty[0]);
	r = gmem_flags(g, 0);
	tap(r == 0, "guest_memfd: dirty logging turned off (got %d)", r);

	priv = gmem_create(g->vm_fd, 0);
	if (priv < 0)
		die("private guest_memfd: %s", strerror(-priv));
	struct mf_region2 pr = {
		.slot = 2, .flags = MF_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0x800000, .memory_size = SLOT_SIZE,
		.userspace_addr = (uintptr_t)g->mem, .guest_memfd = priv,
	};
	r = ioctl(g->vm_fd, MF_SET_USER_MEMORY_REGION2, &pr) < 0 ? errno : 0;
	tap(r == EINVAL, "guest_memfd: dirty logging on a private guest_memfd rejected with EINVAL (got %d)", r);
	close(priv);
}

static void check_write(struct gmem_slot *g)
{
	char buf[PAGE];
	uint32_t v = 0;
	unsigned long i = 50;
	bool rest_zero = true;
	int priv, r;

	/* Part of a page that is not in the file: the rest reads as zeros. */
	rearm(g, i);
	memset(buf, 0xab, 8);
	r = pwrite(g->fd, buf, 8, i * PAGE + 100) == 8 ? 0 : errno;
	tap(r == 0, "pwrite() of 8 bytes into a page missing from guest_memfd (got %d)", r);
	bool bus = read_raises_sigbus((uint32_t *)(g->mem + i * PAGE + 100), &v);

	for (unsigned long b = 0; b < PAGE && !bus; b++)
		rest_zero &= b >= 100 && b < 108 ? (uint8_t)g->mem[i * PAGE + b] == 0xab
						 : g->mem[i * PAGE + b] == 0;
	tap(!bus && rest_zero, "the page is in the file now: the 8 bytes, zeros around them (SIGBUS: %d)", bus);
	bit_clear(g->bitmap, i);

	r = pwrite(g->fd, buf, PAGE, FILE_SIZE) < 0 ? errno : 0;
	tap(r == EINVAL, "pwrite() past the end of guest_memfd rejected with EINVAL (got %d)", r);
	priv = gmem_create(g->vm_fd, 0);
	if (priv < 0)
		die("private guest_memfd: %s", strerror(-priv));
	r = pwrite(priv, buf, PAGE, 0) < 0 ? errno : 0;
	tap(r == EPERM, "pwrite() into private guest_memfd rejected with EPERM (got %d)", r);
	close(priv);
}

/*
 * A pwrite() whose source cannot be read whole (here its second half is not
 * mapped) fails with EFAULT and leaves no page in the file: a page it added
 * and left half-written would read as zeros.  Such a write once retried its
 * copy forever, so it runs in a child that is killed after 2 s.
 */
static void check_failed_write(struct gmem_slot *g)
{
	unsigned long i = 51;
	char *src = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int status = 0, waited_ms = 0;
	bool returned = false;
	pid_t pid;

	if (src == MAP_FAILED || mprotect(src + PAGE, PAGE, PROT_NONE))
		die("source buffer");
	memset(src, 0x5a, PAGE);
	rearm(g, i);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		ssize_t r = pwrite(g->fd, src + PAGE / 2, PAGE, i * PAGE);

		_exit(r < 0 ? errno : 100);
	}
	for (; waited_ms < 2000; waited_ms += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			returned = true;
			break;
		}
		usleep(10 * 1000);
	}
	if (!returned) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	tap(returned && WIFEXITED(status) && WEXITSTATUS(status) == EFAULT,
	    "guest_memfd: pwrite() from a source that cannot be read whole fails with EFAULT (%s, exit %d)",
	    returned ? "returned" : "still copying after 2 s, killed",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	struct reader rd;
	pthread_t th;
	char page[PAGE] = { 0 };
	bool waits = reader_waits(&rd, &th, g->mem + i * PAGE, false);

	*(uint32_t *)page = placed(i);
	if (pwrite(g->fd, page, PAGE, i * PAGE) != (ssize_t)PAGE)
		die("pwrite of page %lu", i);
	pthread_join(th, NULL);
	tap(waits && rd.val == placed(i),
	    "guest_memfd: the failed write left no page: a read waits for the next pwrite() (waited: %d, %#x)",
	    waits, rd.val);
	bit_clear(g->bitmap, i);
	munmap(src, 2 * PAGE);
}

/*
 * A vCPU's fault through a memslot of the same file without the flag (one the
 * VMM created while postcopy runs) does not zero-fill a missing page either:
 * it exits with KVM_MEMORY_EXIT_FLAG_USERFAULT.
 */
static void check_memslot_without_flag(struct gmem_slot *g, struct vcpu *v)
{
	const uint64_t gpa = 0x800000, page_off = SLOT_SIZE + 5 * PAGE;
	struct mf_region2 r2 = {
		.slot = 2, .flags = MF_MEM_GUEST_MEMFD, .guest_phys_addr = gpa,
		.memory_size = SLOT_SIZE, .userspace_addr = (uintptr_t)(g->mem + SLOT_SIZE),
		.guest_memfd_offset = SLOT_SIZE, .guest_memfd = g->fd,
	};
	char page[PAGE] = { 0 };
	int r;

	if (fallocate(g->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_off, PAGE))
		die("punching a page out of guest_memfd");
	r = ioctl(g->vm_fd, MF_SET_USER_MEMORY_REGION2, &r2) < 0 ? errno : 0;
	tap(r == 0, "guest_memfd: a second memslot of the file, without KVM_MEM_USERFAULT (got %d)", r);
	vcpu_start(v, CODE_GPA, gpa + 5 * PAGE, gpa + 6 * PAGE, PAGE, false);
	r = vcpu_run(v);
	tap(r == EFAULT && v->run->exit_reason == MF_EXIT_MEMORY_FAULT &&
	    mf(v)->flags == MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT && mf(v)->gpa == gpa + 5 * PAGE,
	    "guest_memfd: a read of a missing page through it exits with USERFAULT instead of reading zeros (r=%d, exit %u, flags %#llx, gpa %#llx)",
	    r, v->run->exit_reason, (unsigned long long)mf(v)->flags,
	    (unsigned long long)mf(v)->gpa);
	*(uint32_t *)page = 0xc0de0000u;
	if (pwrite(g->fd, page, PAGE, page_off) != (ssize_t)PAGE)
		die("pwrite into the second memslot's range");
	r = vcpu_run(v);
	tap(r == 0 && is_io_exit(v, DONE_PORT) && *(uint32_t *)(g->mem + page_off) == 0xc0de0000u,
	    "guest_memfd: once the page is written, the read completes (r=%d, exit %u)",
	    r, v->run->exit_reason);
	r2.memory_size = 0;
	r = ioctl(g->vm_fd, MF_SET_USER_MEMORY_REGION2, &r2) < 0 ? errno : 0;
	tap(r == 0, "guest_memfd: the second memslot deleted (got %d)", r);
}

struct toggle_run {
	struct vcpu *v;
	volatile bool stop;
	unsigned long runs, failures;
	int last_r;
	uint32_t last_reason;
};

/* Reads over the memslot, again and again, each must end in DONE_PORT. */
static void *toggle_vcpu(void *arg)
{
	struct toggle_run *t = arg;

	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
		int r;

		vcpu_start(t->v, CODE_GPA, DATA_GPA, DATA_GPA + SLOT_SIZE, PAGE, t->runs & 1);
		r = vcpu_run(t->v);
		if (r || !is_io_exit(t->v, DONE_PORT)) {
			t->failures++;
			t->last_r = r;
			t->last_reason = t->v->run->exit_reason;
		}
		t->runs++;
	}
	return NULL;
}

static void check_toggle_while_running(struct gmem_slot *g, struct vcpu *v)
{
	struct toggle_run t = { .v = v };
	unsigned long toggles = 0;
	pthread_t th;
	int r = 0;

	memset(g->bitmap, 0, 64);
	if (pthread_create(&th, NULL, toggle_vcpu, &t))
		die("pthread_create");
	for (int i = 0; i < TOGGLES && !r; i++, toggles++)
		r = gmem_flags(g, i % 2 ? 0 : MEMFAULT_KVM_MEM_USERFAULT);
	__atomic_store_n(&t.stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	tap(r == 0 && toggles == TOGGLES,
	    "guest_memfd: KVM_MEM_USERFAULT turned on and off %lu times (got %d)", toggles, r);
	tap(t.failures == 0 && t.runs > 0,
	    "guest_memfd: a vCPU running meanwhile never failed: %lu runs, %lu failed (last: r=%d, exit %u)",
	    t.runs, t.failures, t.last_r, t.last_reason);
}

static void guest_memfd_present(void)
{
	struct vm vm = vm_create();
	struct vcpu v = vcpu_create(&vm, 0);
	struct gmem_slot g = { .vm_fd = vm.fd, .bitmap = aligned_alloc(64, 64) };
	uint64_t missing = 0;
	bool ok = true;
	int r;

	memset(g.bitmap, 0, 64);
	g.fd = gmem_create(vm.fd, MF_GUEST_MEMFD_FLAG_MMAP | MF_GUEST_MEMFD_FLAG_INIT_SHARED);
	if (g.fd < 0)
		die("KVM_CREATE_GUEST_MEMFD (mmap, shared): %s", strerror(-g.fd));
	g.mem = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g.fd, 0);
	if (g.mem == MAP_FAILED)
		die("mmap of guest_memfd");

	/* What precopy delivered, through the mapping; then the memslot. */
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		*(uint32_t *)(g.mem + i * PAGE) = precopied(i);
	r = gmem_flags(&g, 0);
	if (r)
		die("guest_memfd memslot: %s", strerror(r));
	check_validation(&g);
	check_dirty_logging(&g, &v);
	/* What precopy sent again after the guest wrote it. */
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		*(uint32_t *)(g.mem + i * PAGE) = precopied(i);
	run_over_data_slot("guest_memfd, reads before postcopy", &v, false,
			   MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT, 0, gmem_resolve, &g, "pages");

	/* Postcopy starts: two pages in three are still at the source. */
	for (unsigned long i = 0; i < DATA_PAGES; i++) {
		if (i % 3) {
			rearm(&g, i);
			missing |= 1ull << i;
		}
	}
	r = gmem_flags(&g, MEMFAULT_KVM_MEM_USERFAULT);
	tap(r == 0, "guest_memfd: KVM_MEM_USERFAULT turned on on a memslot in use (got %d)", r);

	uint32_t val = 0;
	bool bus = read_raises_sigbus((uint32_t *)g.mem, &val);

	tap(!bus && val == precopied(0),
	    "guest_memfd: a page in the file reads as before (%#x, SIGBUS: %d)", val, bus);

	/* Missing pages: accesses through the mapping wait for pwrite(). */
	for (int via_write = 0; via_write < 2; via_write++) {
		unsigned long i = 1 + via_write;
		char page[PAGE] = { 0 };
		struct reader rd;
		pthread_t th;
		bool waited = reader_waits(&rd, &th, g.mem + i * PAGE, via_write);

		*(uint32_t *)page = placed(i);
		if (pwrite(g.fd, page, PAGE, i * PAGE) != (ssize_t)PAGE)
			die("pwrite of page %lu", i);
		pthread_join(th, NULL);
		tap(waited && rd.r == sizeof(rd.val) && rd.val == placed(i),
		    "guest_memfd: %s of a missing page through the mapping waits for pwrite(), then reads it (waited: %d, r=%zd, %#x)",
		    via_write ? "a kernel access (write() from it)" : "a read", waited, rd.r, rd.val);
	}

	/*
	 * A page that no memslot maps (here past the memslot's end) waits too:
	 * the VMM may map it elsewhere in the guest, and must not read zeros.
	 */
	{
		char page[PAGE] = { 0 };
		struct reader rd;
		pthread_t th;
		bool waited = reader_waits(&rd, &th, g.mem + SLOT_SIZE, false);

		*(uint32_t *)page = 0xabcd0000u;
		if (pwrite(g.fd, page, PAGE, SLOT_SIZE) != (ssize_t)PAGE)
			die("pwrite past the memslot");
		pthread_join(th, NULL);
		tap(waited && rd.val == 0xabcd0000u,
		    "guest_memfd: a read of a missing page no memslot maps waits for pwrite() too (waited: %d, %#x)",
		    waited, rd.val);
	}

	/* An access that cannot wait (GUP without retry) fails, reads no zeros. */
	int memfd = open("/proc/self/mem", O_RDONLY);

	if (memfd < 0)
		die("/proc/self/mem");
	ssize_t got = pread(memfd, &val, sizeof(val), (off_t)(uintptr_t)(g.mem + 4 * PAGE));

	r = got < 0 ? errno : 0;
	tap(got < 0 && (r == EIO || r == EFAULT),
	    "guest_memfd: a read of a missing page through /proc/self/mem fails instead of waiting (got %zd, errno %d)",
	    got, r);
	close(memfd);

	run_over_data_slot("guest_memfd, reads", &v, false, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT,
			   missing, gmem_resolve, &g, "pages whose bit was set");
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		ok &= *(uint32_t *)(g.mem + i * PAGE) == (i % 3 ? placed(i) : precopied(i));
	tap(ok, "guest_memfd: every page holds what precopy or pwrite() put there");
	run_over_data_slot("guest_memfd, writes, every bit clear", &v, true,
			   MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT, 0, gmem_resolve, &g, "pages");
	ok = true;
	for (unsigned long i = 0; i < DATA_PAGES; i++)
		ok &= *(uint32_t *)(g.mem + i * PAGE) == DATA_GPA + i * PAGE;
	tap(ok, "guest_memfd: the guest's writes landed in the file");

	missing = 0;
	for (unsigned long i = 1; i < DATA_PAGES; i += 4) {
		rearm(&g, i);
		missing |= 1ull << i;
	}
	run_over_data_slot("guest_memfd, writes to pages re-armed (bit set, then punched out)", &v,
			   true, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT, missing, gmem_resolve, &g,
			   "pages whose bit was set");

	/* Instruction fetch from a missing page. */
	unsigned long xp = 40;
	char code[PAGE];

	rearm(&g, xp);
	check_exec_exits("guest_memfd, ", &v, xp, MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT,
			 "the bit stays set");
	memset(code, 0, sizeof(code));
	memcpy(code, guest_exec, guest_exec_end - guest_exec);
	if (pwrite(g.fd, code, PAGE, xp * PAGE) != (ssize_t)PAGE)
		die("pwrite of the code page");
	bit_clear(g.bitmap, xp);
	r = vcpu_run(&v);
	tap(r == 0 && is_io_exit(&v, EXEC_PORT),
	    "guest_memfd, instruction fetch: the code runs once written and its bit cleared (r=%d, exit %u)",
	    r, v.run->exit_reason);

	check_write(&g);
	check_failed_write(&g);
	check_memslot_without_flag(&g, &v);

	/* The flag off: bits are ignored, the mapping allocates again. */
	struct reader rd;
	pthread_t th;

	rearm(&g, 61);
	bool waited = reader_waits(&rd, &th, g.mem + 61 * PAGE, false);

	r = gmem_flags(&g, 0);
	tap(r == 0, "guest_memfd: KVM_MEM_USERFAULT turned off (got %d)", r);
	pthread_join(th, NULL);
	tap(waited && rd.val == 0,
	    "guest_memfd: a read waiting for a missing page ends when the flag goes off, with the zeros of a new page (waited: %d, %#x)",
	    waited, rd.val);
	memset(g.bitmap, 0xff, 64);
	if (fallocate(g.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 60 * PAGE, PAGE))
		die("punch");
	bus = read_raises_sigbus((uint32_t *)(g.mem + 60 * PAGE), &val);
	tap(!bus && val == 0, "guest_memfd, flag off: the mapping allocates a missing page (%#x, SIGBUS: %d)",
	    val, bus);
	run_over_data_slot("guest_memfd, flag off with every bit set", &v, false,
			   MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT, 0, gmem_resolve, &g, "pages");

	check_toggle_while_running(&g, &v);

	r = set_region(vm.fd, 1, 0, DATA_GPA, 0, g.mem, NULL);
	tap(r == 0, "guest_memfd memslot deleted (got %d)", r);
	close(v.fd);
	close(vm.fd);
	munmap(g.mem, FILE_SIZE);
	close(g.fd);
	free(g.bitmap);
}

static void guest_memfd_absent(void)
{
	long flags = ioctl(kvm_fd, KVM_CHECK_EXTENSION, MF_CAP_GUEST_MEMFD_FLAGS);
	uint64_t shared = MF_GUEST_MEMFD_FLAG_MMAP | MF_GUEST_MEMFD_FLAG_INIT_SHARED;

	if (flags < 0 || (flags & shared) != shared) {
		printf("# no mmap-able shared guest_memfd in this kernel (KVM_CAP_GUEST_MEMFD_FLAGS: %ld)\n",
		       flags);
		return;
	}

	struct vm vm = vm_create();
	struct gmem_slot g = { .vm_fd = vm.fd, .bitmap = aligned_alloc(64, 64) };
	char page[PAGE] = { 0 };
	int r;

	memset(g.bitmap, 0, 64);
	g.fd = gmem_create(vm.fd, shared);
	if (g.fd < 0)
		die("KVM_CREATE_GUEST_MEMFD (mmap, shared): %s", strerror(-g.fd));
	g.mem = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g.fd, 0);
	if (g.mem == MAP_FAILED)
		die("mmap of guest_memfd");
	r = gmem_flags(&g, 0);
	tap(r == 0, "guest_memfd memslot created (got %d)", r);
	r = gmem_flags(&g, MEMFAULT_KVM_MEM_USERFAULT);
	tap(r == EINVAL, "guest_memfd memslots immutable: KVM_MEM_USERFAULT rejected with EINVAL (got %d)", r);
	r = pwrite(g.fd, page, PAGE, 0) < 0 ? errno : 0;
	printf("# pwrite() into guest_memfd: %s\n", r ? strerror(r) : "accepted");
	close(vm.fd);
	munmap(g.mem, FILE_SIZE);
	close(g.fd);
	free(g.bitmap);
}

void guest_memfd_checks(const char *expect)
{
	bool present = ioctl(kvm_fd, KVM_CHECK_EXTENSION,
			     MEMFAULT_KVM_CAP_GUEST_MEMFD_USERFAULT) > 0;

	if (!strcmp(expect, "present"))
		tap(present, "KVM_CAP_GUEST_MEMFD_USERFAULT expected present");
	else if (!strcmp(expect, "absent"))
		tap(!present, "KVM_CAP_GUEST_MEMFD_USERFAULT expected absent");
	if (present) {
		tap(true, "KVM_CAP_GUEST_MEMFD_USERFAULT (%d) reported",
		    MEMFAULT_KVM_CAP_GUEST_MEMFD_USERFAULT);
		guest_memfd_present();
	} else {
		printf("# KVM_CAP_GUEST_MEMFD_USERFAULT (%d): absent\n",
		       MEMFAULT_KVM_CAP_GUEST_MEMFD_USERFAULT);
		guest_memfd_absent();
	}
}
