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
#define MEMFAULT_ABI_VERSION 4

/*
 * KVM Userfault UAPI (docs/kernel-interface.md).  No mainline <linux/kvm.h>
 * has these yet; the values match the interface our patches/linux implement
 * and the v3 upstream posting, except the capability's number: upstream
 * has assigned none, and the postings' 243 belongs to another capability
 * in later kernels (7.3: KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED), so
 * patches/linux use 1024, a local number no kernel uses, until upstream
 * assigns one.  The number alone is still not trusted: memfault_kvm_probe()
 * also checks that a memslot with KVM_MEM_USERFAULT is accepted.
 */
#define MEMFAULT_KVM_CAP_USERFAULT              1024
#define MEMFAULT_KVM_MEM_USERFAULT              (1u << 3)
#define MEMFAULT_KVM_MEMORY_EXIT_FLAG_USERFAULT (1ull << 4)

/*
 * KVM_MEM_EXIT_ON_MISSING (docs/kernel-interface.md): the other design of
 * memory-fault exits, without a bitmap.  A vCPU fault that KVM cannot
 * resolve from the userspace mapping without waiting (e.g. for userfaultfd)
 * exits with KVM_MEMORY_EXIT_FLAG_MISSING.  Local values of patches/linux,
 * like KVM Userfault's; a memslot takes one of the two flags, never both.
 */
#define MEMFAULT_KVM_CAP_EXIT_ON_MISSING        1025
#define MEMFAULT_KVM_MEM_EXIT_ON_MISSING        (1u << 4)
#define MEMFAULT_KVM_MEMORY_EXIT_FLAG_MISSING   (1ull << 5)

/*
 * KVM_MEM_USERFAULT on guest_memfd memslots (docs/kernel-interface.md): the
 * flag turned on and off on such memslots, write() into shared guest_memfd,
 * and faults of its mapping that do not allocate pages of userfault
 * memslots.  A local number of patches/linux (7.3) as well.
 */
#define MEMFAULT_KVM_CAP_GUEST_MEMFD_USERFAULT  1026

typedef enum MemfaultStatus {
    MEMFAULT_OK = 0,
    /* The kernel lacks something memfault needs (see the probe's reason). */
    MEMFAULT_UNSUPPORTED,
    /* An argument was invalid (NULL pointer, bad fd, bad size...). */
    MEMFAULT_EINVAL,
    /* A system call failed unexpectedly; the function documents where errno went. */
    MEMFAULT_ESYS,

    /* -- Outcomes of a fault (not errors) -- */
    /* The page is present: re-enter the guest. */
    MEMFAULT_RESOLVED,
    /* The page is in flight (this call sent the request or joined one). */
    MEMFAULT_WAIT,
    /* Nothing to wait for, re-enter the guest (demand paging has ended). */
    MEMFAULT_RETRY,

    /* -- How a memfault_vcpu_wait() ended (not errors) -- */
    MEMFAULT_ARRIVED,   /* the page this vCPU waits for is in place */
    MEMFAULT_KICKED,    /* memfault_vcpu_kick[_all]() asked the vCPU to leave */
    MEMFAULT_TIMEDOUT,  /* the wait's timeout passed */

    /* -- The engine is going away or the migration failed -- */
    MEMFAULT_SHUTDOWN,  /* memfault_engine_shutdown() (or _free) was called */
    MEMFAULT_FAILED,    /* memfault_engine_fail(): the migration failed */

    /* -- A bad memory-fault exit or request: fatal for that vCPU -- */
    MEMFAULT_EFLAGS,     /* exit flags lack the mechanism's flag or have unknown bits */
    MEMFAULT_ENOREGION,  /* address outside every registered memslot */
    MEMFAULT_ESIZE,      /* size 0, not a page multiple, misaligned or crossing a memslot */
    MEMFAULT_ENOTPAGED,  /* the page's RAMBlock is not being demand-paged */

    /* -- Registration and requests -- */
    MEMFAULT_ENOBLOCK,   /* no RAMBlock with that idstr, or offset outside it */
    MEMFAULT_EEXIST,     /* slot id, RAMBlock idstr or guest range already registered */
    MEMFAULT_EBUSY,      /* the RAMBlock was already seeded */
    MEMFAULT_ESEND,      /* ops->send_request failed; the request stays recorded */
    MEMFAULT_ENOMEM,     /* out of memory */
} MemfaultStatus;

/* A static, never-NULL English message for @status (unknown values included). */
const char *memfault_status_str(MemfaultStatus status);

/*
 * True for the statuses that mean "stop this vCPU / report an error":
 * everything except OK, RESOLVED, WAIT, RETRY, ARRIVED, KICKED, TIMEDOUT.
 */
bool memfault_status_is_error(MemfaultStatus status);

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

    /* The same for KVM_MEM_EXIT_ON_MISSING (ABI 4). */
    bool exit_on_missing;
    int64_t cap_exit_on_missing;
    int eom_slot_errno;
    char eom_reason[256];
} MemfaultKvmSupport;

/*
 * Probe KVM Userfault on the kernel behind @kvm_fd (an open /dev/kvm).
 * It needs KVM_CAP_USER_MEMORY2, KVM_CAP_MEMORY_FAULT_INFO and
 * KVM_CAP_USERFAULT, and a scratch VM (created and destroyed here, so the
 * caller's VM is never touched) must accept a memslot with KVM_MEM_USERFAULT.
 * Exit-on-missing is probed the same way, independently: it needs the
 * first two capabilities, KVM_CAP_EXIT_ON_MISSING, and a memslot with
 * KVM_MEM_EXIT_ON_MISSING (out->exit_on_missing, out->eom_*).
 *
 * Returns MEMFAULT_OK with @out filled in, whether or not it is supported;
 * MEMFAULT_EINVAL for a negative fd or NULL @out; MEMFAULT_ESYS when the
 * scratch VM or its memory could not be created (errno in out->slot_errno,
 * text in out->reason).
 */
MemfaultStatus memfault_kvm_probe(int kvm_fd, MemfaultKvmSupport *out);

/* ---- The memfault engine ---------------------------------------------- */
/*
 * Lifecycle of a page request (docs/engine.md has the long version):
 *
 *  1. Setup (BQL held, no vCPU running memfault code yet):
 *     memfault_engine_new(); memfault_block_add() for every RAMBlock;
 *     memfault_slot_add() for every KVM memslot; memfault_slot_bitmap()
 *     gives the address QEMU puts in kvm_userspace_memory_region2's
 *     userfault_bitmap.  Slots may be added and removed later too.
 *  2. Postcopy starts listening: memfault_block_seed() per RAMBlock from its
 *     receivedmap.  Every page not yet received gets its bit set; from now
 *     on KVM exits with KVM_EXIT_MEMORY_FAULT on those pages.
 *  3. A vCPU thread (without the BQL) gets such an exit and calls
 *     memfault_vcpu_handle_exit().  The first thread to want a page creates
 *     the request: with ops->requests_queued it queues it for the sender
 *     thread (memfault_send_queued(), ops->send_request), so that a vCPU
 *     thread never does network I/O; without, it sends it itself.  Later
 *     faults on the same page (other vCPUs, or the userfaultfd fault thread
 *     through memfault_request_page()) join it and send nothing.  On
 *     MEMFAULT_WAIT the vCPU calls memfault_vcpu_wait().
 *  4. The listen / preempt thread places the page (UFFDIO_COPY), sets the
 *     receivedmap bit, then calls memfault_page_arrived(): the page's bits
 *     are cleared with a release store (KVM's read of the bitmap pairs with
 *     it) and every vCPU waiting for it wakes with MEMFAULT_ARRIVED.
 *  5. A wait also ends on memfault_vcpu_kick() (QEMU's cpu kick: pause,
 *     exit_request, quit) with MEMFAULT_KICKED; the request stays in flight
 *     and the vCPU joins it again when it re-enters and faults again.
 *  6. Postcopy paused: sends fail (-EIO) but requests stay recorded (and
 *     queued ones stay queued); after recovery memfault_resend_requests()
 *     sends every request in flight again, the queued ones too, and
 *     memfault_send_queued() goes on with what is queued later.
 *  7. The end: memfault_engine_end() when every page is in place (bits
 *     cleared, later exits RETRY); memfault_engine_fail() when the
 *     migration failed; memfault_engine_shutdown() / _free() to tear down.
 *     Waiting vCPUs always return: MEMFAULT_FAILED / MEMFAULT_SHUTDOWN.
 *
 * Threads: every function may be called from any thread unless it says
 * otherwise; none takes or needs the BQL; none calls back into QEMU except
 * through the ops, always with no engine lock held (so that they may call
 * the engine again, except memfault_engine_end/fail/shutdown: see below).
 * A given vCPU index must be driven by one thread at a time (its vCPU
 * thread).
 *
 * Callbacks on vCPU threads (ops->requests_queued, ops->wait_begin, and
 * ops->send_request when there is no ops->requests_queued) are made only
 * while demand paging runs, and memfault_engine_end(), _fail() and
 * _shutdown() return only after every such callback in progress has
 * returned: after them, no vCPU thread is inside the VMM's callbacks, so the
 * VMM may tear down what those use.  (A callback may call them: they do not
 * wait for the callback they are called from.  Their caller must not hold a
 * lock that a callback takes: QEMU's wait_begin takes page_request_mutex.)
 * The other threads that call ops->send_request, those in
 * memfault_send_queued(), memfault_request_page() or
 * memfault_resend_requests(), the VMM joins itself.
 */

typedef struct MemfaultEngine MemfaultEngine;

/* KVM_MEMORY_EXIT_FLAG_PRIVATE: may accompany USERFAULT on guest_memfd slots. */
#define MEMFAULT_KVM_MEMORY_EXIT_FLAG_PRIVATE   (1ull << 3)

/* The largest MemfaultConfig.readahead_pages. */
#define MEMFAULT_READAHEAD_MAX 512

/* How KVM tells the engine about a missing page (MemfaultConfig.mechanism). */
typedef enum MemfaultMechanism {
    /*
     * KVM Userfault: the engine seeds the slots' bitmaps (memfault_slot_bitmap)
     * and exits carry KVM_MEMORY_EXIT_FLAG_USERFAULT.
     */
    MEMFAULT_MECHANISM_USERFAULT = 0,
    /*
     * KVM_MEM_EXIT_ON_MISSING: no bitmap for KVM; a fault that KVM cannot
     * resolve from the VMM's mapping without waiting exits with
     * KVM_MEMORY_EXIT_FLAG_MISSING.  The engine still keeps its record of
     * arrived pages (memfault_block_seed() is still needed).  An exit for a
     * page that is not missing for the engine (arrived, or of a block that
     * is not demand-paged) is never a request: the first such exit of a
     * vCPU on a page re-enters (the page was most likely placed after the
     * exit), a second one in a row on the same page faults it in with
     * madvise(MADV_POPULATE_WRITE) in the vCPU thread (the kernel swapped
     * or migrated it), then re-enters.
     */
    MEMFAULT_MECHANISM_EXIT_ON_MISSING = 1,
} MemfaultMechanism;

typedef struct MemfaultOps {
    /*
     * Ask the migration source for @len bytes at @offset of RAMBlock @idstr
     * (a REQ_PAGES_ID message; always name the block).  @offset and @len
     * are multiples of the block's page size.  Called concurrently from
     * vCPU threads, the fault thread and memfault_resend_requests().
     * Returns 0 or -errno (e.g. -EIO while postcopy is paused); a failed
     * request stays recorded for memfault_resend_requests().
     */
    int (*send_request)(void *opaque, const char *idstr, uint64_t offset, uint64_t len);
    /*
     * Optional (NULL: not called).  vCPU @vcpu begins to wait for the block
     * page at @offset of RAMBlock @idstr: it sent the request or joined one
     * in flight.  Called on that vCPU's thread, after the send, before
     * memfault_vcpu_handle_exit() returns MEMFAULT_WAIT, with no engine lock
     * held; not again when the vCPU faults on the same page after a kick
     * (the same wait goes on).  The page may have arrived by then.  QEMU
     * counts the wait in postcopy's blocktime and latency statistics, as it
     * counts a userfault, and ends it when it places the page.
     */
    void (*wait_begin)(void *opaque, const char *idstr, uint64_t offset, uint32_t vcpu);
    /*
     * Optional (NULL: vCPU threads send their own requests).  When set, a
     * vCPU thread never calls send_request: memfault_vcpu_handle_exit()
     * queues the request it creates and calls this, on the vCPU thread, when
     * the queue was empty; the VMM's sender thread then calls
     * memfault_send_queued().  It must not block (QEMU writes an eventfd):
     * a vCPU thread must never wait for network I/O, which a kick cannot
     * interrupt.  Requests created by memfault_request_page() are still sent
     * by its caller, which is expected to be the sender thread.
     */
    void (*requests_queued)(void *opaque);
} MemfaultOps;

typedef struct MemfaultConfig {
    /* vCPU indexes passed to memfault_vcpu_*() are < max_vcpus (>= 1). */
    uint32_t max_vcpus;
    /* The page size of the userfault bitmaps (KVM's PAGE_SIZE); 0 = 4096. */
    uint64_t kvm_page_size;
    /*
     * Read-ahead, per vCPU: a vCPU's request covers its faulting block page
     * and up to window - 1 following ones, stopping at the first page
     * already present or in flight and at the end of the block.  The window
     * starts at 1; it doubles, up to readahead_pages, when the vCPU's next
     * fault is forward within a window of its previous one or no further
     * than the end of its last request (a stream), and halves otherwise.
     * The request stays one message.  A vCPU that faults on a page of its
     * stream's last request, in its back half, asks for the next window at
     * once (asynchronous read-ahead), so that it travels while the vCPU
     * works through this one.  Faults of other threads
     * (memfault_request_page()) ask for one page.  0 or 1 = off (one page
     * per request).  At most MEMFAULT_READAHEAD_MAX.  Also the longest run
     * memfault_resend_requests() coalesces.
     */
    uint32_t readahead_pages;
    /* A MemfaultMechanism (ABI 4). */
    uint32_t mechanism;
} MemfaultConfig;

/*
 * Create an engine.  @ops is copied; @opaque is passed to every callback.
 * Returns MEMFAULT_OK and *@out; MEMFAULT_EINVAL (NULL argument, no
 * send_request, max_vcpus 0, page size not a power of two >= 4096,
 * readahead_pages > MEMFAULT_READAHEAD_MAX, unknown mechanism);
 * MEMFAULT_ENOMEM.
 */
MemfaultStatus memfault_engine_new(const MemfaultConfig *config, const MemfaultOps *ops,
                                   void *opaque, MemfaultEngine **out);

/*
 * Free @e (NULL is ignored).  The normal order is memfault_engine_shutdown(),
 * then make sure no thread is inside an engine call, then free.  As a safety
 * net, free itself shuts down and waits until every vCPU *blocked* in
 * memfault_vcpu_wait() (MemfaultVcpuStats.waiting) has returned, so it may
 * be called while vCPUs are blocked there; no other call may be running or
 * start.
 */
void memfault_engine_free(MemfaultEngine *e);

/*
 * Register a RAMBlock: @idstr (copied, 1..255 bytes), @length (its
 * max_length, a multiple of @page_size), @page_size (the block's host page
 * size, a power of two multiple of the KVM page size, e.g. 2M for
 * hugetlbfs).  Returns MEMFAULT_OK, MEMFAULT_EINVAL, MEMFAULT_EEXIST (idstr
 * already registered), MEMFAULT_ENOMEM.
 */
MemfaultStatus memfault_block_add(MemfaultEngine *e, const char *idstr, uint64_t length,
                                  uint64_t page_size);

/*
 * Register KVM memslot @slot: guest range [@gpa, @gpa + @size) backed by
 * @host, which is @offset bytes into RAMBlock @idstr.  gpa, size and offset
 * are multiples of the KVM page size.  The slot's bitmap is allocated here;
 * if the block is already seeded it starts with the bits of the pages not
 * yet arrived.  Returns MEMFAULT_OK, MEMFAULT_EINVAL (alignment, size 0,
 * NULL), MEMFAULT_ENOBLOCK (unknown idstr or range outside the block),
 * MEMFAULT_EEXIST (slot id or overlapping guest range), MEMFAULT_ENOMEM.
 */
MemfaultStatus memfault_slot_add(MemfaultEngine *e, uint32_t slot, uint64_t gpa, uint64_t size,
                                 void *host, const char *idstr, uint64_t offset);

/*
 * Unregister memslot @slot (after QEMU removed it from KVM).  Its bitmap
 * stays allocated until memfault_engine_free(), so a stale pointer in KVM
 * is never a use-after-free.  Returns MEMFAULT_OK, MEMFAULT_ENOREGION.
 */
MemfaultStatus memfault_slot_remove(MemfaultEngine *e, uint32_t slot);

/*
 * The userfault bitmap of @slot for KVM_SET_USER_MEMORY_REGION2: *@bitmap
 * (8-byte aligned; bit i = KVM page i of the slot, set = missing) and
 * *@nbits.  Owned by the engine.  Returns MEMFAULT_OK, MEMFAULT_EINVAL,
 * MEMFAULT_ENOREGION.
 */
MemfaultStatus memfault_slot_bitmap(MemfaultEngine *e, uint32_t slot, unsigned long **bitmap,
                                    uint64_t *nbits);

/*
 * Start demand paging RAMBlock @idstr: @receivedmap (may be NULL = nothing
 * received) has one bit per KVM page of the block (QEMU's receivedmap for a
 * 4 KiB target page), @nbits = length / KVM page size.  Every page not
 * received gets its bit set in every slot mapping it.  Arrivals before,
 * during or after the seed are all fine: the engine keeps its own record of
 * arrived pages and never sets a bit for one of them.  Returns MEMFAULT_OK,
 * MEMFAULT_EINVAL (@nbits wrong), MEMFAULT_ENOBLOCK, MEMFAULT_EBUSY
 * (already seeded, or demand paging has ended), MEMFAULT_SHUTDOWN,
 * MEMFAULT_FAILED.
 */
MemfaultStatus memfault_block_seed(MemfaultEngine *e, const char *idstr,
                                   const unsigned long *receivedmap, uint64_t nbits);

/*
 * A vCPU thread got KVM_EXIT_MEMORY_FAULT (@gpa, @size, @flags from
 * kvm_run->memory_fault).  @flags must be the mechanism's: USERFAULT
 * (PRIVATE may come with it) or MISSING.  Call without the BQL.  Returns:
 *   MEMFAULT_RESOLVED   the page is present: re-enter the guest (with
 *                       exit-on-missing, after faulting it in);
 *   MEMFAULT_WAIT       the page is in flight: call memfault_vcpu_wait();
 *   MEMFAULT_RETRY      demand paging has ended, or the exit was taken on a
 *                       slot removed since: re-enter the guest;
 * and, fatal for this exit (stop the VM, report memfault_status_str()):
 *   MEMFAULT_EFLAGS, MEMFAULT_ENOREGION, MEMFAULT_ESIZE, MEMFAULT_ENOTPAGED,
 *   MEMFAULT_FAILED, MEMFAULT_SHUTDOWN, MEMFAULT_EINVAL (bad vCPU or NULL),
 *   MEMFAULT_ESYS (exit-on-missing: the page could not be faulted in, e.g.
 *   it is poisoned; errno says why).
 * A send failure still returns MEMFAULT_WAIT: the request is recorded and
 * memfault_resend_requests() sends it after recovery.  If @size covers
 * several pages, the vCPU waits for the first missing one; re-entering
 * faults on the next.
 */
MemfaultStatus memfault_vcpu_handle_exit(MemfaultEngine *e, uint32_t vcpu, uint64_t gpa,
                                         uint64_t size, uint64_t flags);

/*
 * Block the vCPU until the page of its last MEMFAULT_WAIT is in place, it is
 * kicked, or the engine ends; never spins.  @timeout_ns < 0 waits forever.
 * Returns MEMFAULT_ARRIVED (re-enter the guest), MEMFAULT_KICKED (handle
 * exit_request / pause, then re-enter: it will fault and join again),
 * MEMFAULT_TIMEDOUT, MEMFAULT_RETRY (demand paging ended), MEMFAULT_FAILED,
 * MEMFAULT_SHUTDOWN, MEMFAULT_EINVAL (bad vCPU, or no wait pending).
 */
MemfaultStatus memfault_vcpu_wait(MemfaultEngine *e, uint32_t vcpu, int64_t timeout_ns);

/*
 * End @vcpu's current memfault_vcpu_wait(), or its next one if it is not
 * waiting (a kick is never lost).  Any thread.  Returns MEMFAULT_OK,
 * MEMFAULT_EINVAL.
 */
MemfaultStatus memfault_vcpu_kick(MemfaultEngine *e, uint32_t vcpu);
MemfaultStatus memfault_vcpu_kick_all(MemfaultEngine *e);

/*
 * The userfaultfd fault thread (a non-vCPU access) needs the page at
 * @offset of RAMBlock @idstr.  Shares the in-flight table with the vCPUs;
 * does not wait.  Returns MEMFAULT_OK (this call sent the request),
 * MEMFAULT_WAIT (already in flight: nothing sent), MEMFAULT_RESOLVED
 * (present), MEMFAULT_ESEND (send failed; recorded), MEMFAULT_ENOBLOCK,
 * MEMFAULT_ENOTPAGED, MEMFAULT_RETRY (ended), MEMFAULT_FAILED,
 * MEMFAULT_SHUTDOWN, MEMFAULT_EINVAL.
 */
MemfaultStatus memfault_request_page(MemfaultEngine *e, const char *idstr, uint64_t offset);

/*
 * A page was placed (after UFFDIO_COPY / ZEROPAGE and after the receivedmap
 * bit was set): @len bytes at @offset of RAMBlock @idstr, or at host
 * address @host.  Both are multiples of the block's page size.  Clears the
 * bits with a release store and wakes the waiters.  Arrivals before or
 * without a request, and duplicates, are fine.  Returns MEMFAULT_OK,
 * MEMFAULT_EINVAL (alignment), MEMFAULT_ENOBLOCK / MEMFAULT_ENOREGION.
 */
MemfaultStatus memfault_page_arrived(MemfaultEngine *e, const char *idstr, uint64_t offset,
                                     uint64_t len);
MemfaultStatus memfault_page_arrived_host(MemfaultEngine *e, const void *host, uint64_t len);

/*
 * The sender thread (ops->requests_queued was called): send the queued
 * requests through ops->send_request, oldest first.  One thread at a time.
 * Returns MEMFAULT_OK (the queue is empty; also when nothing was queued),
 * MEMFAULT_ESEND (a send failed: that request and every later one stay
 * queued, in order, for the next call; e.g. postcopy paused, call again
 * after recovery), MEMFAULT_RETRY, MEMFAULT_FAILED or MEMFAULT_SHUTDOWN
 * (demand paging is over: the queue was dropped, nothing sent),
 * MEMFAULT_EINVAL.
 */
MemfaultStatus memfault_send_queued(MemfaultEngine *e);

/*
 * Postcopy recovery: send every request still in flight again (coalesced
 * into runs of up to readahead_pages), the queued ones included, which
 * leaves the send queue empty.  The engine is the record of what is in
 * flight: a VMM need not keep its own.  Returns MEMFAULT_OK, MEMFAULT_ESEND
 * (some sends failed; they stay recorded), MEMFAULT_EINVAL.
 */
MemfaultStatus memfault_resend_requests(MemfaultEngine *e);

/*
 * Every page is in place (postcopy END): clear every bit, later exits
 * return MEMFAULT_RETRY, waiting vCPUs wake with MEMFAULT_RETRY.
 * These three return once no vCPU thread is inside a callback (see
 * "Threads" above), and drop the send queue.
 */
MemfaultStatus memfault_engine_end(MemfaultEngine *e);
/* The migration failed: waits end and later exits return MEMFAULT_FAILED. */
MemfaultStatus memfault_engine_fail(MemfaultEngine *e);
/* Teardown: waits end and later calls return MEMFAULT_SHUTDOWN. */
MemfaultStatus memfault_engine_shutdown(MemfaultEngine *e);

/* ---- Statistics (readable at any time, from any thread) ------------- */

typedef struct MemfaultStats {
    uint64_t exits;              /* memory-fault exits handled */
    uint64_t exits_present;      /* ... whose page was already present */
    uint64_t requests_sent;      /* send_request calls that returned 0 */
    uint64_t requests_queued;    /* requests vCPUs queued for the sender */
    uint64_t requests_failed;    /* send_request calls that failed */
    uint64_t pages_requested;    /* block pages named by successful sends */
    uint64_t requests_joined;    /* faults that joined another thread's in-flight
                                    request (saved); a re-fault after a kick is not one */
    uint64_t pages_arrived;      /* first arrivals of a block page */
    uint64_t arrivals_unrequested; /* ... with no request in flight */
    uint64_t arrivals_duplicate; /* arrivals of pages already present */
    uint64_t resends;            /* requests sent by memfault_resend_requests() */
    uint64_t kicks;              /* waits ended by a kick */
    uint64_t inflight;           /* block pages in flight now */
    /* fault-to-resume latency over every vCPU (exit to re-entry), ns */
    uint64_t latency_count;
    uint64_t latency_p50_ns;
    uint64_t latency_p90_ns;
    uint64_t latency_p99_ns;
    uint64_t latency_max_ns;
    /*
     * Exit-on-missing exits, the second in a row of a vCPU on a page that
     * was not missing for the engine, resolved by faulting the page in (the
     * kernel had taken it away: swap, migration) (ABI 4); included in
     * exits_present unless demand paging had ended.
     */
    uint64_t exits_populated;
} MemfaultStats;

typedef struct MemfaultVcpuStats {
    uint64_t exits;
    uint64_t requests_sent;      /* requests this vCPU created: sent itself,
                                    or queued for the sender thread */
    uint64_t requests_joined;    /* faults that joined a request of another thread */
    uint64_t waits;
    uint64_t blocked_ns;         /* time from exits to the end of their waits, however
                                    they ended (kick, failure...), a wait in progress
                                    included */
    uint64_t latency_max_ns;
    bool waiting;                /* blocked in memfault_vcpu_wait() right now */
} MemfaultVcpuStats;

/* Returns MEMFAULT_OK or MEMFAULT_EINVAL (NULL, bad vCPU). */
MemfaultStatus memfault_get_stats(MemfaultEngine *e, MemfaultStats *out);
MemfaultStatus memfault_get_vcpu_stats(MemfaultEngine *e, uint32_t vcpu, MemfaultVcpuStats *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMFAULT_MEMFAULT_H */
