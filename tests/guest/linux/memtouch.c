/*
 * memtouch: the load of the Linux test guest (tests/guest/linux/README.md).
 *
 *   memtouch THREADS MIB seq|random
 *
 * One thread per CPU, pinned to it, each owning MIB MiB of its own.  Pass
 * after pass a thread checks that every page of its memory holds what the
 * previous pass wrote there, then writes the pass number.  A page that
 * does not hold it is guest memory corruption: the thread prints what it
 * found and the program exits 1, and nothing is retried.
 *
 * Every half second (at the end of a pass) each thread prints a line, which
 * the host parses (tests/functional/migrate.py --linux-guest):
 *   memtouch: cpu C pass P ok, longest stall S us, stalled M ms
 * P is the last pass completed, S the longest time between touching two
 * consecutive pages since the previous line, and M the sum of such gaps
 * over 1 ms: how long this vCPU was away from the guest (waiting for a
 * postcopy page, say), on the guest's own clock.  A vCPU
 * with async page faults keeps running other work while one page is
 * fetched; this thread, which has nothing else to do, still stalls.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define GAP_COUNTED_NS 1000000u     /* gaps over 1 ms add to "stalled" */
#define REPORT_NS 500000000u        /* a line every half second at most */

struct worker {
    pthread_t thread;
    unsigned cpu;
    size_t pages;
    int random;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One line per write(): lines of different threads never mix on the tty. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (n > (int)sizeof(buf) - 2) {
        n = sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    if (write(STDOUT_FILENO, buf, n) < 0) {
        /* The console is gone: nothing to tell anyone. */
    }
}

/* What pass @pass writes into page @page of @cpu: unlike any other page's. */
static uint64_t tag(unsigned cpu, size_t page, uint64_t pass)
{
    return ((uint64_t)cpu << 56) | ((uint64_t)page << 24) | (pass & 0xffffff);
}

/*
 * The visiting order: address order, or a full-period LCG over the next
 * power of two (pages past the end skipped), like the A/B guest's.
 */
static size_t *visiting_order(size_t pages, int random)
{
    size_t *order = malloc(pages * sizeof(*order));
    size_t n = 0, period = 1, x = 0;

    if (!order) {
        return NULL;
    }
    if (!random) {
        for (n = 0; n < pages; n++) {
            order[n] = n;
        }
        return order;
    }
    while (period < pages) {
        period <<= 1;
    }
    for (size_t i = 0; i < period; i++) {
        if (x < pages) {
            order[n++] = x;
        }
        x = (1103515245u * x + 12345u) & (period - 1);
    }
    return order;
}

static void *run(void *opaque)
{
    struct worker *w = opaque;
    size_t *order = visiting_order(w->pages, w->random);
    uint8_t *mem = mmap(NULL, w->pages * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cpu_set_t set;

    if (!order || mem == MAP_FAILED) {
        say("memtouch: cpu %u: out of memory for %zu pages", w->cpu, w->pages);
        exit(1);
    }
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set)) {
        say("memtouch: cpu %u: cannot pin the thread: %s", w->cpu, strerror(errno));
    }
    uint64_t last = now_ns(), reported = last, longest = 0, stalled = 0;

    for (uint64_t pass = 1;; pass++) {
        for (size_t i = 0; i < w->pages; i++) {
            size_t page = order[i];
            volatile uint64_t *p = (volatile uint64_t *)(mem + page * PAGE);
            uint64_t want = tag(w->cpu, page, pass - 1), now;

            /* Two words, half a page apart: a zeroed or stale page shows. */
            if (pass > 1 && (p[0] != want || p[PAGE / 16] != want)) {
                say("memtouch: MISMATCH cpu %u pass %llu page %zu (va %p): "
                    "0x%016llx 0x%016llx, want 0x%016llx", w->cpu,
                    (unsigned long long)pass, page, (void *)p,
                    (unsigned long long)p[0], (unsigned long long)p[PAGE / 16],
                    (unsigned long long)want);
                exit(1);
            }
            p[0] = p[PAGE / 16] = tag(w->cpu, page, pass);
            now = now_ns();
            if (now - last > longest) {
                longest = now - last;
            }
            if (now - last > GAP_COUNTED_NS) {
                stalled += now - last;
            }
            last = now;
        }
        if (last - reported >= REPORT_NS || pass == 1) {
            say("memtouch: cpu %u pass %llu ok, longest stall %llu us, "
                "stalled %llu ms", w->cpu, (unsigned long long)pass,
                (unsigned long long)(longest / 1000),
                (unsigned long long)(stalled / 1000000));
            reported = last;
            longest = stalled = 0;
        }
    }
    return NULL;
}

/*
 * What KVM offers this guest (CPUID 0x40000001): Linux turns async page
 * faults on when async-pf-int is offered, unless booted with no-kvmapf.
 */
static void say_kvm_features(void)
{
    unsigned a, b, c, d;
    char sig[13] = "";

    __cpuid(0x40000000, a, b, c, d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    if (strcmp(sig, "KVMKVMKVM") || a < 0x40000001) {
        say("memtouch: not a KVM guest (hypervisor signature '%s')", sig);
        return;
    }
    __cpuid(0x40000001, a, b, c, d);
    say("memtouch: KVM offers kvmclock %s, async-pf %s, async-pf-int %s, "
        "steal-time %s", (a >> 3) & 1 ? "yes" : "no", (a >> 4) & 1 ? "yes" : "no",
        (a >> 14) & 1 ? "yes" : "no", (a >> 5) & 1 ? "yes" : "no");
}

int main(int argc, char **argv)
{
    unsigned threads;
    unsigned long mib;
    struct worker *w;

    if (argc != 4 || (strcmp(argv[3], "seq") && strcmp(argv[3], "random"))) {
        fprintf(stderr, "usage: memtouch THREADS MIB seq|random\n");
        return 2;
    }
    threads = strtoul(argv[1], NULL, 10);
    mib = strtoul(argv[2], NULL, 10);
    if (threads == 0 || threads > 64 || mib == 0) {
        fprintf(stderr, "memtouch: THREADS 1-64 and MIB > 0, not %s %s\n",
                argv[1], argv[2]);
        return 2;
    }
    w = calloc(threads, sizeof(*w));
    if (!w) {
        return 1;
    }
    say("memtouch: %u threads, %lu MiB each, %s order", threads, mib, argv[3]);
    say_kvm_features();
    for (unsigned i = 0; i < threads; i++) {
        w[i].cpu = i;
        w[i].pages = (size_t)mib * (1024 * 1024 / PAGE);
        w[i].random = !strcmp(argv[3], "random");
        if (pthread_create(&w[i].thread, NULL, run, &w[i])) {
            say("memtouch: cannot start thread %u", i);
            return 1;
        }
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
    }
    return 0;
}
