#!/usr/bin/python3
"""End-to-end postcopy migration of the A/B guest, with memory integrity checked.

    migrate.py --qemu BIN --guest IMG [options]

Starts a source and a destination QEMU on this machine's /dev/kvm, boots the
A/B guest (tests/guest/ab-guest.S) on the source, migrates it over TCP on
loopback, switches to postcopy after a few passes of the guest, waits for the
migration to complete, then checks on the destination that the guest kept
running and that its memory holds the A/B invariant.  Prints a summary with
the destination's postcopy statistics; exits non-zero, with a line starting
"FAIL", on any broken expectation.

Scenarios (--scenario):
  plain    migrate, postcopy, complete
  recover  cut the migration while postcopy is active (migrate-pause on the
           source, or --cut proxy: close a TCP proxy the migration runs
           through), wait for postcopy-paused on both sides, migrate-recover
           on the destination, resume the source, complete
  kill     SIGKILL the source while postcopy is active: the destination must
           reach postcopy-paused, keep answering QMP (also commands that need
           the vCPU, which may be waiting for a page) and quit in bounded time
  stall    postcopy runs through a TCP proxy that stops reading the return
           path (the destination's page requests) until the destination's
           socket is full, as with a source that stopped reading or a network
           that stopped carrying them; then the destination must answer stop,
           HMP info registers (run on the vCPU) and quit within 2 s each: a
           vCPU thread never waits for the network.  The migration runs over
           Unix sockets, where unread data counts against the writer's send
           buffer: with --wmem-default small, a few unread requests fill the
           destination's; postcopy runs at --slow-bw
  device-fail  the source has a device the destination lacks, so the
           destination fails to load the device state after postcopy began
           (QEMU 10.2's postcopy-device state): both sides report failed, the
           source runs the guest again with its memory intact, the destination
           (memfault set up, no vCPU run) answers QMP and quits cleanly
  refuse-userfault  the destination runs with a KVM that refuses
           KVM_MEM_USERFAULT on big memslots (--refuse-userfault-lib, preloaded):
           demand paging cannot start at LISTEN.  With --memfault auto the
           destination warns once and postcopy completes on userfaultfd, memory
           intact and no postcopy-memfault statistics; with --memfault on the
           destination fails saying why, and the source runs the guest again
           with its memory intact, as in device-fail

  precopy  no postcopy: precopy converges and completes (a downtime limit of
           5 s), memory intact on the destination
  refuse-guest-memfd  with --guest-memfd and a destination that cannot
           demand-page guest_memfd (--memfault off, or a kernel without KVM
           Userfault for it): the destination refuses the postcopy-ram
           capability with one message naming what is missing; then the
           guest migrates by precopy, memory intact, or, with
           --expect-blocked (a kernel that cannot log guest_memfd's dirty
           pages), the source refuses to migrate, saying why

With --guest-memfd both sides keep guest RAM in memory-backend-guest-memfd
(a shared guest_memfd, Linux 7.3 with patches/linux), which userfaultfd cannot
demand-page: postcopy needs memfault's KVM Userfault on it.

With --linux-kernel and --linux-initrd the guest is the Linux test guest
(tests/guest/linux): Debian's kernel with --smp vCPUs, each running a thread of
memtouch that verifies its own memory pass after pass.  Its progress lines
stand for the A/B guest's passes; integrity is memtouch's own check on every
page of every pass (a mismatch, an oops or a panic fails the test at once), and
the summary gives the longest stall the guest's threads saw after the switch.

Standard library only: Debian's python3 runs it, in CI and inside the rig.
"""

import argparse
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from qemu_harness import GUEST_CPU, Qemu, TestFailure, check

MiB = 1 << 20
PAGE = 4096
BOOT_TIMEOUT = 120
# The Linux guest's CPU: QEMU does not offer async page faults' interrupt
# delivery (KVM_FEATURE_ASYNC_PF_INT) with this model by default, and Linux
# 5.10 and later turn async page faults off without it.  A Linux guest on a
# current host has them, and they change what a postcopy fault costs it.
LINUX_GUEST_CPU = GUEST_CPU + ",kvm-asyncpf-int=on"
# The Linux guest boots in ~40 s in the rig's L1 on an idle machine, and its
# first pass faults in every page of memtouch's memory through two levels of
# nested paging: minutes on a busy one.
LINUX_BOOT_TIMEOUT = 400
# --dst-trace: where a vCPU's wait for a page begins and ends, on either path
# (memory-fault exits; userfaultfd, from the blocktime accounting), and where
# postcopy runs and ends.
TRACE_EVENTS = ("kvm_memfault_exit", "kvm_memfault_wake",
                "postcopy_blocktime_begin", "postcopy_blocktime_end",
                "loadvm_postcopy_handle_run", "postcopy_ram_incoming_cleanup_entry")
# --trace-path: a page request's way, destination (request sent, page read off
# the stream) and source (request handled, page taken off the queue, rate
# limiter sleeps).
TRACE_PATH_DST = ("postcopy_memfault_request", "postcopy_ram_fault_thread_request",
                  "ram_load_postcopy_loop", "ram_discard_range")
TRACE_PATH_SRC = ("migrate_handle_rp_req_pages", "get_queued_page", "get_queued_page_not_dirty",
                  "migration_rate_limit_pre", "migration_rate_limit_post")
# memfault: the engine is the one record of the pages the destination asked
# for (issue 17 item 9).  Every RAMBlock of these guests is demand-paged by it,
# so upstream's page_requested tree, which this event fills, must stay empty.
ONE_TABLE_EVENT = "postcopy_page_req_add"
# ... traced together with one that every memfault setup logs, which proves
# the log is read right, and the engine's re-send when RESUME is handled.
ONE_TABLE_WITNESS = "postcopy_memfault_setup"
RESEND_EVENT = "postcopy_memfault_resend"
# Each request the engine hands to the return path: "pc.ram offset 0x.. len 0x..".
REQUEST_EVENT = "postcopy_memfault_request"
# When the destination's VM started (its "dst-postcopy-bh-vm-started"
# checkpoint) and when postcopy ended there: a run without memory-fault exits
# tells from them whether its vCPUs ran while pages were still missing.
TIMELINE_EVENTS = ("vmstate_downtime_checkpoint", "postcopy_ram_incoming_cleanup_entry")
# A -trace log line: QEMU 10.2 writes "2026-11-30T09:20:01.123456Z event args"
# with -msg timestamp=on; QEMU 10.0 and 7.2 wrote "pid@sec.usec:event args".
TRACE_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\w+) (.*)$")
TRACE_LINE_OLD = re.compile(r"^\d+@(\d+)\.(\d+):(\w+) (.*)$")


def dst_timeline(events):
    """From a destination's trace (trace_events()): when its VM started and
    when postcopy ended, counted from demand paging's start at LISTEN."""
    first = {}
    for t, ev, args in events:
        key = args.strip() if ev == "vmstate_downtime_checkpoint" else ev
        first.setdefault(key, t)
    t0 = first.get(ONE_TABLE_WITNESS)
    if t0 is None:
        return None
    at = {what: first.get(key) for what, key in
          (("VM started", "dst-postcopy-bh-vm-started"),
           ("postcopy ended", "postcopy_ram_incoming_cleanup_entry"))}
    return ", ".join(f"{what} {(t - t0) * 1000:.0f} ms" if t is not None else f"{what}: not seen"
                     for what, t in at.items()) + " after LISTEN"


def trace_events(path):
    """(time in s since the epoch, event, arguments) of each line of a -trace
    log written with -msg timestamp=on (--dst-trace); tests/bench reads them
    too."""
    with open(path, errors="replace") as f:
        for line in f:
            m = TRACE_LINE.match(line)
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
                yield t, m.group(2), m.group(3)
                continue
            m = TRACE_LINE_OLD.match(line)
            if m:
                yield int(m.group(1)) + int(m.group(2)) / 1e6, m.group(3), m.group(4)


def log(msg):
    print(msg, flush=True)


# -- QEMU helpers -----------------------------------------------------------------

def qmp(q, command, **args):
    """q.qmp with a socket timeout turned into a test failure."""
    try:
        return q.qmp(command, **args)
    except OSError as e:   # socket.timeout included
        raise TestFailure(f"{q.name}: QMP {command} did not answer: {e}") from None


def status(q):
    return qmp(q, "query-migrate").get("status", "none")


def wait_status(q, wanted, timeout, bad=("failed", "cancelled")):
    """Poll query-migrate until its status is in @wanted; return the info."""
    last = None

    def reached():
        nonlocal last
        info = qmp(q, "query-migrate")
        last = info.get("status", "none")
        if last in wanted:
            return info
        if last in bad or (last == "completed" and "completed" not in wanted):
            raise TestFailure(f"{q.name}: migration {last} while waiting for "
                              f"{'/'.join(wanted)}: {info.get('error-desc', '')}\n"
                              f"stderr:\n{q.stderr()}")
        return None

    return q.wait_until(reached, timeout, f"migration status {'/'.join(wanted)}",
                        lambda: f"{q.name}: migration status {last!r}, not {'/'.join(wanted)} "
                                f"after {timeout}s")


# The Linux test guest (--linux-kernel): its vCPU count, None for the A/B guest.
LINUX_CPUS = None
MEMTOUCH_PASS = re.compile(r"memtouch: cpu (\d+) pass (\d+) ok, longest stall (\d+) us, "
                           r"stalled (\d+) ms")
# Lines of the Linux guest that end a test at once: memtouch found a page
# that does not hold what it wrote, or the guest kernel broke.
LINUX_BROKEN = re.compile(r"memtouch: MISMATCH.*|memtouch: .*out of memory.*|"
                          r"Kernel panic.*|BUG: .*|Oops: .*|general protection fault.*|"
                          r"memtouch-guest: memtouch exited.*")


def passes(q):
    """Full passes the guest printed on @q's COM1: the A/B guest's, or the
    fewest any thread of the Linux guest's memtouch completed."""
    out = q.serial()
    if LINUX_CPUS is None:
        return out.count("B")
    best = {}
    for m in MEMTOUCH_PASS.finditer(out):
        best[int(m.group(1))] = max(best.get(int(m.group(1)), 0), int(m.group(2)))
    return min(best.values()) if len(best) == LINUX_CPUS else 0


def check_linux_guest(q):
    """The Linux guest found its memory wrong or broke: fail now, saying what."""
    if LINUX_CPUS is not None:
        m = LINUX_BROKEN.search(q.serial())
        check(m is None, f"{q.name}: the Linux guest says: {m.group(0) if m else ''}")


# Said of a source guest's reset while nothing of memfault has run yet: the
# source runs memfault=off, and the destination only stores pages until
# postcopy starts.  The rig counts it as the environment's failure.
BEFORE_POSTCOPY = " before the switch to postcopy"


def reset_message(name, when, how):
    """What a test says of a guest that asked for a reset; tests/rig/run
    matches its words for the source before postcopy (MF_RIG_SRC_RESET)."""
    return f"{name}: the guest asked for a reset{when} ({how})"


def check_not_reset(q, when=""):
    """With -action reboot=shutdown,shutdown=pause a guest that asked for a
    reset is left paused in state 'shutdown'.  (On AMD, KVM reinitialises
    the vCPU on a shutdown: its registers at the fault are gone.)"""
    st = qmp(q, "query-status")["status"]
    how = ("a triple fault: the A/B guest has no handler for any exception" if LINUX_CPUS is None
           else "a triple fault or a panic: see its serial output")
    check(st != "shutdown", reset_message(q.name, when, how) + " and is paused there")


def wait_passes(q, n, timeout, when=""):
    def done():
        check_linux_guest(q)
        if passes(q) >= n:
            return True
        check_not_reset(q, when)
        return False
    q.wait_until(done, timeout, f"{n} guest passes",
                 lambda: f"{q.name}: the guest printed {passes(q)} passes, not {n}, "
                         f"within {timeout}s")


def netns(ns):
    """The command prefix that runs a program in network namespace @ns: a
    name for ip netns, or the pid of a process in it (none for None)."""
    if not ns:
        return []
    return ["nsenter", "-t", ns, "-n", "--"] if ns.isdigit() else ["ip", "netns", "exec", ns]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """A proxy whose connections can all be cut at once, or whose return
    direction (target to client) can stop being read.  TCP on loopback to
    @target (a port), or, with @unix_dir, Unix sockets: it listens on
    @unix_dir/proxy.sock (self.uri) and connects to @target, a path.  The
    stall scenario uses Unix sockets: there a writer's unread data counts
    against its own send buffer, every small write a whole buffer entry, so a
    few hundred unread page requests fill it.  (Over TCP the peer's receive
    window and segment coalescing let thousands through first; a tiny
    receive buffer made the kernel drop the target's acknowledgements too.)"""

    def __init__(self, target, unix_dir=None, sndbuf=0):
        self.stalled = threading.Event()
        self.sndbuf = sndbuf
        if unix_dir:
            self.family, self.target = socket.AF_UNIX, target
            self.lsock = socket.socket(socket.AF_UNIX)
            path = os.path.join(unix_dir, "proxy.sock")
            self.lsock.bind(path)
            self.uri = f"unix:{path}"
        else:
            self.family, self.target = socket.AF_INET, ("127.0.0.1", target)
            self.lsock = socket.socket()
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.lsock.bind(("127.0.0.1", 0))
            self.uri = f"tcp:127.0.0.1:{self.lsock.getsockname()[1]}"
        self.lsock.listen(8)
        self.socks = []
        self.lock = threading.Lock()
        self.cut_done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.socket(self.family)
            if self.sndbuf:   # the proxy's own, whatever --wmem-default says
                for x in (c, u):
                    x.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            u.connect(self.target)
            with self.lock:
                if self.cut_done:
                    c.close(); u.close()
                    continue
                self.socks += [c, u]
            for a, b, ret in ((c, u, False), (u, c, True)):
                threading.Thread(target=self._pump, args=(a, b, ret), daemon=True).start()

    def _pump(self, a, b, ret):
        try:
            while True:
                if ret and self.stalled.is_set():
                    # Stop reading, without closing anything: the target's
                    # sends pile up, and its peer sees no end of stream.
                    threading.Event().wait()
                data = a.recv(1 << 16)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stall_return(self):
        """Stop reading what the target sends (the return path)."""
        self.stalled.set()

    def cut(self):
        """Close every connection, as a network failure would, and stop accepting."""
        with self.lock:
            self.cut_done = True
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self.lsock.close()


# -- the A/B invariant ------------------------------------------------------------

class IntegrityFailure(TestFailure):
    """check_ab() found a page out of step: @addr, whose first byte is @value."""

    def __init__(self, msg, addr, value):
        super().__init__(msg)
        self.addr, self.value = addr, value


def check_ab(path, start, end, total_passes=None, order=None):
    """Every page's first byte equals v or v-1 (mod 256), in the guest's order
    (@order: page indices; default address order) one run of v then one run
    of v-1: the guest stopped somewhere in a pass.
    With @total_passes (the 'B's printed on the source and the destination
    together, S), v must also be S+1 (stopped within a pass) or S (stopped
    between passes), mod 256: no pass was lost in the move.
    Returns a description; raises TestFailure otherwise."""
    with open(path, "rb") as f:
        mem = f.read()
    check(len(mem) == end - start, f"pmemsave wrote {len(mem)} bytes, want {end - start}")
    vals = mem[::PAGE]
    if order is not None:
        check(sorted(order) == list(range(len(vals))), "the guest's order is not a permutation")
        vals = bytes(vals[i] for i in order)
    else:
        order = range(len(vals))
    first = vals[0]
    boundary = None
    for i, v in enumerate(vals):
        if v == first and boundary is None:
            continue
        if boundary is None and v == (first - 1) & 0xff:
            boundary = i
            continue
        if boundary is not None and v == (first - 1) & 0xff:
            continue
        addr = start + order[i] * PAGE
        want = f"{first}" if boundary is None else f"{(first - 1) & 0xff}"
        raise IntegrityFailure(
            f"memory integrity broken at guest address {addr:#x}: first byte {v}, want {want} "
            f"(page 0 holds {first}" + (f", step to {(first - 1) & 0xff} at "
                                         f"{start + order[boundary] * PAGE:#x})"
                                         if boundary else ")"), addr, v)
    if total_passes is not None:
        ok = {total_passes & 0xff, (total_passes + 1) & 0xff}
        check(first in ok, f"memory holds {first} at page 0 but the guest printed {total_passes} "
                           f"passes in all: want {sorted(ok)} (mod 256)")
    where = ("none (a pass had just ended)" if boundary is None
             else f"{start + order[boundary] * PAGE:#x}")
    return (f"{len(vals)} pages, value {first} then {(first - 1) & 0xff}, boundary at {where}")


# -- the migration ----------------------------------------------------------------

# Scenarios that migrate by precopy alone.
PRECOPY_SCENARIOS = ("precopy", "refuse-guest-memfd")
# --hold-stream: how long the stream is held waiting for the first exit.
HOLD_TIMEOUT = 30


class Migration:
    def __init__(self, opts):
        global LINUX_CPUS
        # Which guest the module's helpers (passes(), the guest checks) read
        # for: set here, so that a caller running migrations in-process
        # (tests/bench/postcopy_bench.py) gets the same as main().
        LINUX_CPUS = opts.smp if opts.linux_kernel else None
        self.o = opts
        self.timeline = []
        self.t0 = None
        self.result = {}

    def mark(self, what):
        t = time.monotonic() - self.t0
        self.timeline.append((t, what))
        log(f"[{t:6.1f}s] {what}")

    def vm_args(self, accel):
        o = self.o
        # A reset (the A/B guest triple-faults on any exception) would start
        # the loop over and show later as a page out of step: pause instead,
        # so that the failure says so (check_not_reset()).
        cpu = LINUX_GUEST_CPU if o.linux_kernel else GUEST_CPU
        args = ["-accel", accel, "-cpu", cpu, "-machine", o.machine,
                "-m", str(o.mem), "-smp", str(o.smp), "-action", "reboot=shutdown,shutdown=pause"]
        if o.guest_memfd:
            args += ["-object", f"memory-backend-guest-memfd,id=ram0,size={o.mem}M",
                     "-machine", "memory-backend=ram0"]
        if o.linux_kernel:
            return args + ["-kernel", o.linux_kernel, "-initrd", o.linux_initrd, "-append",
                           f"console=ttyS0 quiet panic=-1 rdinit=/init mt.threads={o.smp} "
                           f"mt.mib={o.mt_mib} mt.mode={o.mt_mode}"]
        return args + ["-drive", f"file={o.guest},format=raw,if=ide,snapshot=on"]

    def caps(self, dest):
        if self.o.scenario in PRECOPY_SCENARIOS:
            return []
        c = [{"capability": "postcopy-ram", "state": True}]
        if self.o.preempt:
            c.append({"capability": "postcopy-preempt", "state": True})
        if dest:
            c.append({"capability": "postcopy-blocktime", "state": True})
        return c

    def run(self):
        o = self.o
        src_accel = o.src_accel or ("kvm,memfault=off" if o.src_qemu == o.qemu else "kvm")
        dst_accel = f"kvm,memfault={o.memfault}"
        if o.memfault_readahead is not None:
            dst_accel += f",memfault-readahead={o.memfault_readahead}"
        if o.memfault_mechanism is not None:
            dst_accel += f",memfault-mechanism={o.memfault_mechanism}"
        self.result.update(src_accel=src_accel, dst_accel=dst_accel)
        src_args = self.vm_args(src_accel)
        if o.scenario == "device-fail":
            # No RAM of its own, so the RAM blocks still match; its state
            # travels in postcopy's device package and has nowhere to go.
            src_args += ["-device", "virtio-rng-pci"]
        if o.dst_trace and o.trace_path:
            src_args += ["-msg", "timestamp=on", "-D", o.dst_trace + ".src"] + \
                [a for ev in TRACE_PATH_SRC for a in ("-trace", ev)]
        src = Qemu(o.src_qemu, src_args, name="src", prefix=netns(o.src_netns))
        src.name = "source"
        dst_args = self.vm_args(dst_accel) + ["-incoming", "defer"]
        if o.scenario == "stall":   # thread names, e.g. "CPU 0/KVM", for stall()
            dst_args += ["-name", "dst,debug-threads=on"]
        if o.dst_trace:
            dst_args += ["-msg", "timestamp=on", "-D", o.dst_trace] + \
                [a for ev in TRACE_EVENTS + (TRACE_PATH_DST if o.trace_path else ())
                 for a in ("-trace", ev)]
        dst_prefix = netns(o.dst_netns)
        if o.scenario == "refuse-userfault":
            dst_prefix += ["env", f"LD_PRELOAD={os.path.abspath(o.refuse_userfault_lib)}"]
        dst = Qemu(o.qemu, dst_args, name="dst", prefix=dst_prefix)
        dst.name = "destination"
        self.dst_log = o.dst_trace
        if o.memfault != "off":   # check_dst_trace() reads these
            if not self.dst_log:
                self.dst_log = os.path.join(dst.dir, "dst-trace.log")
                dst.args += ["-msg", "timestamp=on", "-D", self.dst_log]
            dst.args += [a for ev in (ONE_TABLE_EVENT, ONE_TABLE_WITNESS, RESEND_EVENT,
                                      REQUEST_EVENT) + TIMELINE_EVENTS
                         for a in ("-trace", ev)]
        self.src, self.dst = src, dst
        proxy = None
        ok = False
        try:
            self.t0 = time.monotonic()
            src.start()
            dst.start()
            for q in (src, dst):
                kvm = qmp(q, "query-kvm")
                check(kvm.get("enabled"), f"{q.name} is not running on KVM: {kvm}")
            for q, key in ((src, "src_version"), (dst, "dst_version")):
                v = qmp(q, "query-version")
                pkg = v.get("package", "").strip()
                self.result[key] = "%(major)d.%(minor)d.%(micro)d" % v["qemu"] + \
                    (f" ({pkg})" if pkg else "")
            wait_passes(src, 1, BOOT_TIMEOUT if LINUX_CPUS is None else LINUX_BOOT_TIMEOUT,
                        BEFORE_POSTCOPY)
            self.mark(f"source guest running (pass {passes(src)})")
            if LINUX_CPUS is not None:   # what the guest kernel set up: async PF, clock
                out = src.serial()
                up = re.search(r"memtouch-guest: up: (.*)", out)
                kvm = re.search(r"memtouch: (KVM offers .*|not a KVM guest.*)", out)
                self.result["guest_up"] = "; ".join(m.group(1).strip() for m in (up, kvm) if m)

            if o.scenario == "refuse-guest-memfd":
                self.refuse_guest_memfd()
            qmp(dst, "migrate-set-capabilities", capabilities=self.caps(dest=True))
            port = free_port()
            # A destination that fails stays, to be asked why.
            fails = o.scenario == "device-fail" or (o.scenario == "refuse-userfault" and
                                                    o.memfault == "on")
            incoming = {"exit-on-error": False} if fails else {}
            dst_uri = f"tcp:{o.dst_addr}:{port}"
            if o.scenario == "stall":
                dst_uri = "unix:" + os.path.join(dst.dir, "dst.sock")
            qmp(dst, "migrate-incoming", uri=dst_uri, **incoming)
            qmp(src, "migrate-set-capabilities", capabilities=self.caps(dest=False))
            # Precopy must not converge: the switch to postcopy is ours to make.
            qmp(src, "migrate-set-parameters",
                **{"downtime-limit": 5000 if o.scenario in PRECOPY_SCENARIOS else 1})
            if o.postcopy_bw or self.hold_stream():
                qmp(src, "migrate-set-parameters",
                    **{"max-postcopy-bandwidth": (self.hold_stream() or o.postcopy_bw) * MiB})
            if o.scenario in ("recover", "kill", "stall"):
                # Slow postcopy down so that it is still running when the cut comes.
                qmp(src, "migrate-set-parameters",
                    **{"max-postcopy-bandwidth": o.slow_bw * MiB})
            if o.scenario == "recover" and o.cut == "proxy":
                proxy = Proxy(port)
            if o.scenario == "stall":
                proxy = Proxy(dst_uri[len("unix:"):], unix_dir=dst.dir, sndbuf=1 << 20)
            first = passes(src)
            if o.expect_blocked:
                self.check_blocked(dst_uri)
                ok = True
                return
            qmp(src, "migrate", uri=proxy.uri if proxy else dst_uri)
            self.mark("migrate (precopy) started")
            if o.scenario in PRECOPY_SCENARIOS:
                self.precopy_complete()
                ok = True
                return
            wait_status(src, ("active",), 30)
            wait_passes(src, first + o.passes, 120, BEFORE_POSTCOPY)
            info = qmp(src, "query-migrate")
            check(info["status"] == "active",
                  f"source: status {info['status']} before the switch to postcopy, not active")
            self.result["precopy_syncs"] = info.get("ram", {}).get("dirty-sync-count")
            self.mark(f"{passes(src) - first} guest passes during precopy, "
                      f"{self.result['precopy_syncs']} RAM dirty syncs; migrate-start-postcopy")
            qmp(src, "migrate-start-postcopy")
            if fails:
                self.device_fail()
                if o.scenario == "refuse-userfault":
                    self.check_refused()
                ok = True
                return
            wait_status(src, ("postcopy-active", "completed"), 60)
            wait_status(dst, ("postcopy-active", "completed"), 60)
            self.mark("postcopy active on both sides")
            dst_passes_at_switch = passes(dst)
            if self.hold_stream():
                self.release_stream()
            if o.qemu_read:
                self.qemu_reads_guest_memfd()

            if o.scenario == "kill":
                self.kill_source()
                ok = True
                return
            if o.scenario == "stall":
                try:
                    self.stall(proxy)
                except TestFailure as e:
                    log(f"stall: {e}; where the destination's threads wait:")
                    self.log_stacks(self.dst)
                    raise
                ok = True
                return
            if o.scenario == "recover":
                self.cut_and_recover(proxy)

            info = wait_status(src, ("completed",), o.complete_timeout)
            self.mark("source: completed")
            wait_status(dst, ("completed",), 60)
            done = "destination: completed"
            if LINUX_CPUS is None:
                # How far the destination's A/B guest got while pages were
                # missing.  In a run without memory-fault exits, passes say
                # it ran behind the stream, on pages already there; none,
                # that it barely ran.  The Linux guest numbers its passes
                # from the source's, so its count here would mean nothing.
                self.result["dst_postcopy_passes"] = passes(dst) - dst_passes_at_switch
                done += (f"; its guest made {self.result['dst_postcopy_passes']} "
                         "passes during postcopy")
            self.mark(done)
            self.result["total_time_ms"] = info.get("total-time")
            self.result["downtime_ms"] = info.get("downtime")
            self.check_destination()
            if o.scenario == "refuse-userfault":
                self.check_refused()
            ok = True
        finally:
            if proxy:
                proxy.cut()
            if not ok:
                self.log_registers()
            for q in (src, dst):
                self.result[f"stderr_{q.name}"] = q.stderr() if q.proc else ""
                if not ok:
                    log(f"--- {q.name} stderr ---\n{q.stderr()}--- {q.name} serial (last 200) ---\n"
                        f"{q.serial()[-200:]}")
                q.cleanup()

    def qemu_reads_guest_memfd(self):
        """QEMU itself reads guest_memfd RAM that is likely still at the
        source (the loop's last page, just after the switch): the kernel must
        make the read wait for the page, not end QEMU nor read a zero page.
        The A/B guest has written every page of its loop at least once."""
        gpa = self.o.end_mib * MiB - PAGE
        t = time.monotonic()
        out = qmp(self.dst, "human-monitor-command", **{"command-line": f"xp /1wx {gpa:#x}"})
        dt = (time.monotonic() - t) * 1000
        m = re.search(r":\s*(0x[0-9a-f]+)", out)
        check(m and int(m.group(1), 16) != 0,
              f"destination: QEMU's own read of gpa {gpa:#x} during postcopy gave {out.strip()!r}, "
              "not the guest's data")
        self.result["qemu_read"] = f"gpa {gpa:#x}: {m.group(1)} after {dt:.0f} ms"
        self.mark(f"QEMU read guest_memfd RAM during postcopy: {self.result['qemu_read']}")

    def expect_refused(self, q, command, reason, accepted, **args):
        """QMP @command on @q must fail with @reason in its message (else
        the test fails, saying @accepted); returns the message."""
        try:
            qmp(q, command, **args)
        except TestFailure as e:
            msg = str(e)
            check(reason in msg, f"{q.name}: {command} refused, but not for guest_memfd: {msg}")
            return msg
        raise TestFailure(f"{q.name}: {accepted}")

    def refuse_guest_memfd(self):
        """The destination cannot demand-page its guest_memfd RAM: setting
        postcopy-ram must fail, saying so, before anything started."""
        msg = self.expect_refused(
            self.dst, "migrate-set-capabilities", "userfaultfd cannot demand-page guest_memfd",
            "accepted postcopy-ram for guest_memfd RAM it cannot demand-page",
            capabilities=[{"capability": "postcopy-ram", "state": True}])
        self.result["refused"] = msg
        self.mark(f"destination refused postcopy-ram: {msg}")

    def check_blocked(self, uri):
        """The source's guest_memfd RAM cannot be migrated (no dirty
        logging for it): migrate must fail, naming why, and the guest run on."""
        msg = self.expect_refused(
            self.src, "migrate", "KVM cannot log dirty pages of guest_memfd",
            "started migrating guest_memfd RAM whose dirty pages KVM cannot log", uri=uri)
        self.result["blocked"] = msg
        self.mark(f"source refused to migrate: {msg}")
        n = passes(self.src)
        wait_passes(self.src, n + 2, 60)
        self.mark("source guest still running")

    def precopy_complete(self):
        """No postcopy: precopy converges, then the destination's guest runs
        on with its memory intact."""
        info = wait_status(self.src, ("completed",), self.o.complete_timeout)
        self.mark(f"source: completed by precopy (downtime {info.get('downtime')} ms)")
        wait_status(self.dst, ("completed",), 60)
        self.result["total_time_ms"] = info.get("total-time")
        self.result["downtime_ms"] = info.get("downtime")
        self.check_destination()

    def check_destination(self):
        dst = self.dst
        n = passes(dst)
        wait_passes(dst, n + 2, 60)
        self.mark(f"destination guest running: {passes(dst)} passes after the switch")
        check_not_reset(self.src)
        qmp(dst, "stop")
        check_not_reset(dst)
        st = qmp(dst, "query-status")
        check(st["status"] == "paused", f"destination: {st} after stop")
        info = qmp(dst, "query-migrate")
        self.result["dst_info"] = info
        verdict = self.ab_verdict() if LINUX_CPUS is None else self.linux_verdict()
        self.result["integrity"] = verdict
        self.mark(f"integrity ok: {verdict}")
        self.check_stats(info)
        qmp(dst, "quit")
        check(dst.wait_exit(30) == 0, "destination did not quit cleanly")
        self.mark("destination quit")
        self.check_dst_trace(info)

    def check_dst_trace(self, info):
        """With memfault demand paging, from the destination's trace: no
        request went into upstream's page_requested (the engine kept them
        all), the recovery re-sent the engine's requests once, and requests
        read ahead when asked to.  Read once the destination quit, so that its
        trace log is complete."""
        if "postcopy-memfault" not in info:
            return
        timed = list(trace_events(self.dst_log))
        events = [(ev, args) for _, ev, args in timed]
        names = [ev for ev, _ in events]
        self.result["dst_timeline"] = dst_timeline(timed)
        check(ONE_TABLE_WITNESS in names,
              f"destination: no {ONE_TABLE_WITNESS} in its trace log {self.dst_log}: "
              "the log is not what this test reads")
        added = names.count(ONE_TABLE_EVENT)
        check(added == 0, f"destination: {added} page requests went into page_requested "
                          "beside the memfault engine's in-flight table")
        self.mark("every page request was the engine's alone (page_requested stayed empty)")
        if self.o.scenario == "recover":   # one RESUME, one re-send of the engine's requests
            resends = [args for ev, args in events if ev == RESEND_EVENT]
            check(len(resends) == 1, f"destination: {len(resends)} re-sends of the memfault "
                                     "engine's requests on RESUME, want 1")
            self.mark(f"the engine re-sent its requests on RESUME: {resends[0].strip()}")
        lens = [int(m.group(1), 16) for ev, args in events if ev == REQUEST_EVENT
                for m in [re.search(r"len 0x([0-9a-f]+)", args)] if m]
        if lens:
            self.result["request_pages"] = (f"{sum(lens) // PAGE} pages in {len(lens)} requests, "
                                            f"largest {max(lens) // PAGE}")
        if self.o.expect_readahead:
            check(any(n > PAGE for n in lens),
                  f"destination: none of its {len(lens)} page requests read ahead "
                  f"(memfault-readahead={self.o.memfault_readahead})")
            self.mark(f"requests read ahead: {self.result['request_pages']}")

    def ab_verdict(self):
        """The A/B invariant over the destination's memory (stopped)."""
        o, dst = self.o, self.dst
        path = os.path.join(dst.dir, "mem.bin")
        start, end = MiB, o.end_mib * MiB
        qmp(dst, "pmemsave", val=start, size=end - start, filename=path)
        total = passes(self.src) + passes(dst)
        try:
            verdict = check_ab(path, start, end, total, o.order) + f", {total} passes in all"
        except IntegrityFailure as e:
            if o.dst_trace and o.trace_path:
                self.log_page_history(e.addr)
            raise TestFailure(f"{e}; {self.source_copy(e.addr, e.value)}") from None
        os.unlink(path)
        return verdict

    def linux_verdict(self):
        """The Linux guest checked its own memory on every pass; what is left
        is to make sure it said nothing bad, and to record its stalls."""
        o, dst = self.o, self.dst
        check_linux_guest(dst)
        lines = list(MEMTOUCH_PASS.finditer(dst.serial()))
        longest = max((int(m.group(3)) for m in lines), default=0)
        stalled = {}
        for m in lines:
            stalled[m.group(1)] = stalled.get(m.group(1), 0) + int(m.group(4))
        self.result["guest_stall"] = (f"longest {longest / 1000:.1f} ms; stalled (gaps over 1 ms) "
                                      + ", ".join(f"cpu {c} {v} ms" for c, v in sorted(stalled.items())))
        # The same for tests/bench: on the guest's clock, from its first line
        # on the destination (which covers the switch) to the quit.
        self.result["guest_longest_stall_us"] = longest
        self.result["guest_stalled_ms"] = {int(c): v for c, v in stalled.items()}
        return (f"memtouch verified {o.mt_mib} MiB per vCPU on every pass, "
                f"{passes(dst)} passes on the destination")

    def log_page_history(self, gpa):
        """What the destination's trace (--trace-path) says happened to the
        page at @gpa: discarded at the switch, asked for (exit or userfault),
        read off the stream.  The A/B loop is in pc.ram below 3.5 GiB, where
        the RAM block's offset is the guest-physical address."""
        def hit(ev, args):
            f = args.replace("=", " ").replace(":", " ").split()
            if ev == "ram_discard_range":          # "pc.ram: start: <hex> <hex len>"
                if f[0] != "pc.ram":
                    return False
                start, size = int(f[2], 16), int(f[3], 16)
            elif ev == "ram_load_postcopy_loop":   # "chan=N addr=0x.. flags=0x.."
                start, size = int(f[3], 16), PAGE
            elif ev in ("kvm_memfault_exit", "kvm_memfault_wake"):   # "cpu N gpa 0x.. [size 0x..]"
                start = int(f[3], 16)
                size = int(f[5], 16) if ev == "kvm_memfault_exit" else PAGE
            elif ev == "postcopy_memfault_request":                  # "pc.ram offset 0x.. len 0x.."
                start, size = int(f[2], 16), int(f[4], 16)
            elif ev == "postcopy_ram_fault_thread_request":          # "... offset 0x.. pid N"
                start, size = int(f[f.index("offset") + 1], 16), PAGE
            else:
                return ev == "loadvm_postcopy_handle_run"
            return start <= gpa < start + size
        lines = []
        try:
            for t, ev, args in trace_events(self.o.dst_trace):
                line = f"{t:.6f} {ev} {args}"
                try:
                    if hit(ev, args):
                        lines.append(line)
                except (ValueError, IndexError):
                    lines.append("(unparsed) " + line)
        except OSError as e:
            lines.append(f"(no trace: {e})")
        log(f"--- the destination's trace of the page at {gpa:#x} ---")
        for line in lines or ["(no line)"]:
            log(line)

    def log_registers(self):
        """On a failure, each live QEMU's view of its vCPU state.  The
        source's, read from KVM when it stopped, is what it sent: a
        destination that refused it (KVM_SET_SREGS failing with EINVAL) can
        be told apart from a source that read nonsense from its KVM."""
        for q in (self.src, self.dst):
            if not q or not q.proc or q.proc.poll() is not None:
                continue
            try:
                regs = q.qmp("human-monitor-command", **{"command-line": "info registers"})
            except (OSError, TestFailure) as e:
                regs = f"(no answer: {e})"
            log(f"--- {q.name} info registers ---\n{regs}")

    def source_copy(self, addr, value):
        """Where a page went out of step: the source (stopped after the
        migration) still holds its last copy of the page."""
        src = self.src
        if src.proc.poll() is not None:
            return "the source has exited: its copy cannot be compared"
        path = os.path.join(src.dir, "page.bin")
        try:
            qmp(src, "pmemsave", val=addr, size=PAGE, filename=path)
            with open(path, "rb") as f:
                b = f.read(1)[0]
        except (TestFailure, OSError, IndexError) as e:
            return f"the source's copy could not be read: {e}"
        if b == value:
            return (f"the source's copy of that page holds {b} too: the write was lost "
                    "on the source itself")
        return (f"the source's copy of that page holds {b}: the destination's copy is older "
                "(a write the source's dirty logging missed, or one lost on the destination)")

    def hold_stream(self):
        """MiB/s the background stream is held to from the switch until the
        destination's first memory-fault exit, or 0.

        A run that must show exits needs its vCPU to meet a missing page.  One
        L1 CPU runs both QEMUs, and now and then the destination's vCPU thread
        got the CPU only after the stream (16 MiB/s, ~4 s for the A/B guest)
        had delivered every page: memory intact, no exit, a failed test without
        a bug (3 runs of about 200 in docs/rig.md's loops).  Held, the stream
        needs a minute to win that race; requested pages still go out at once
        (an urgent request ends QEMU's rate-limit sleep)."""
        o = self.o
        return o.hold_stream if (o.expect_exits and o.scenario == "plain") else 0

    def release_stream(self):
        """Wait for the destination's first exit, then give the stream its
        --postcopy-bw (0: unlimited).  Without an exit in HOLD_TIMEOUT s the
        stream is released all the same, and check_stats fails the run."""
        o = self.o
        t = time.monotonic()
        exits = self.wait_for_exits(HOLD_TIMEOUT)
        qmp(self.src, "migrate-set-parameters",
            **{"max-postcopy-bandwidth": o.postcopy_bw * MiB})
        waited = time.monotonic() - t
        self.mark(f"stream held at {o.hold_stream} MiB/s for {waited:.1f} s: "
                  + (f"{exits} memory-fault exits" if exits else "no memory-fault exit yet")
                  + f"; released to {o.postcopy_bw or 'unlimited'} MiB/s")

    def check_stats(self, info):
        o = self.o
        mf = info.get("postcopy-memfault")
        if o.expect_exits:
            check(mf is not None, "destination: query-migrate has no postcopy-memfault: "
                                  "memory-fault exits were not used")
            exited = mf["exits"] > 0 and mf["requests"] > 0
            why = []
            if not exited:
                if "dst_postcopy_passes" in self.result:
                    why.append(f"its guest made {self.result['dst_postcopy_passes']} passes "
                               "during postcopy")
                if self.dst_log and os.path.exists(self.dst_log):
                    # When did its vCPU start, against the stream's end?
                    why.append(dst_timeline(list(trace_events(self.dst_log))) or
                               "no timeline in its trace")
            check(exited,
                  f"destination: memfault exits={mf['exits']} requests={mf['requests']}, "
                  "want both > 0" + (f" ({'; '.join(why)})" if why else ""))
        if mf is not None and o.memfault_mechanism in ("userfault", "exit-on-missing"):
            check(mf.get("mechanism") == o.memfault_mechanism,
                  f"destination: query-migrate says mechanism {mf.get('mechanism')!r}, "
                  f"want {o.memfault_mechanism}")
        if o.expect_no_memfault:
            check(mf is None, f"destination: unexpected postcopy-memfault {mf}")

    def device_fail(self):
        o, src, dst = self.o, self.src, self.dst
        info = wait_status(dst, ("failed",), 60, bad=("cancelled", "completed"))
        self.mark(f"destination: failed ({info.get('error-desc', 'no error-desc')})")
        info = wait_status(src, ("failed",), 60, bad=("cancelled", "completed"))
        self.mark(f"source: failed ({info.get('error-desc', 'no error-desc')})")
        self.result["dst_info"] = qmp(dst, "query-migrate")
        dst_status = qmp(dst, "query-status")["status"]
        check(dst_status != "running", f"destination VM {dst_status} after a failed load")
        src.wait_until(lambda: qmp(src, "query-status")["status"] == "running", 10,
                       "the source VM running again",
                       lambda: f"source VM {qmp(src, 'query-status')['status']}, not running, "
                               "after the destination failed in postcopy-device")
        self.mark("source VM running again")
        wait_passes(src, passes(src) + 2, 60)
        self.mark(f"source guest running: {passes(src)} passes")
        qmp(src, "stop")
        check_not_reset(src)
        start, end = MiB, o.end_mib * MiB
        path = os.path.join(src.dir, "mem.bin")
        qmp(src, "pmemsave", val=start, size=end - start, filename=path)
        verdict = check_ab(path, start, end, passes(src), o.order) + \
            f", {passes(src)} passes, all on the source"
        os.unlink(path)
        self.result["integrity"] = verdict
        self.mark(f"integrity ok on the source: {verdict}")
        self.cont_failed_destination()
        qmp(dst, "quit")
        check(dst.wait_exit(30) == 0, "destination did not quit cleanly")
        self.mark("destination quit")

    def check_refused(self):
        """refuse-userfault: KVM refused the flag (else the test tested
        nothing), and the destination said what it did about it."""
        o, err = self.o, self.dst.stderr()
        check("kvm-refuse-userfault:" in err,
              "the destination's KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_USERFAULT was never "
              "refused: the preloaded library did not act, so this run tested nothing")
        if o.memfault == "auto":
            want = "memfault=auto: postcopy continues with userfaultfd alone"
        else:
            want = "with memfault=on the migration cannot go on: "
        lines = [line for line in err.splitlines() if want in line]
        check(len(lines) == 1, f"the destination's stderr has {len(lines)} lines with "
                               f"'{want}', want 1")
        self.result["refused"] = lines[0].strip()
        self.mark(f"destination said: {lines[0].strip()}")

    def cont_failed_destination(self):
        """`cont` on a destination whose postcopy failed: most of the guest's
        RAM never arrived, so its guest must not run.  QEMU 10.2 keeps such
        a destination in the inmigrate state, where cont only sets autostart;
        should that change, memfault keeps the missing pages marked on a
        failure, so that a vCPU touching one stops the VM instead of reading
        zeros once userfaultfd is gone."""
        dst = self.dst
        try:
            qmp(dst, "cont")
        except TestFailure as e:
            self.mark(f"destination: cont refused after the failure: {e}")
            return
        n = passes(dst)
        time.sleep(3)
        st = qmp(dst, "query-status")["status"]
        self.result["cont_after_failure"] = st
        self.mark(f"destination: cont after the failure; VM {st}, {passes(dst) - n} guest passes")
        check(st != "running",
              f"the destination ran its guest for 3 s after its postcopy failed ({passes(dst) - n} "
              "passes) on memory that never arrived")

    def wait_for_exits(self, seconds):
        """With --expect-exits, wait up to @seconds for the destination's first
        memory-fault exit, or until its postcopy is no longer active (no exit
        can come then); returns the exits counted.  The callers check the
        state that follows."""
        t = time.monotonic()
        exits = 0
        while self.o.expect_exits and time.monotonic() - t < seconds:
            info = qmp(self.dst, "query-migrate")
            exits = (info.get("postcopy-memfault") or {}).get("exits", 0)
            if exits > 0 or info.get("status") != "postcopy-active":
                break
            time.sleep(0.05)
        return exits

    @staticmethod
    def threads(pid):
        """[(tid, name, kernel stack)] of process @pid (root only)."""
        out = []
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{pid}/task/{tid}/stack") as f:
                    stack = f.read()
            except OSError:
                continue
            out.append((int(tid), name, stack))
        return out

    def log_stacks(self, q):
        """Where every thread of @q waits: kernel stacks, then gdb's user
        stacks (minutes under the rig's TCG: only on a failure)."""
        if not q.proc or q.proc.poll() is not None:
            return
        for tid, name, stack in self.threads(q.proc.pid):
            log(f"--- {q.name} thread {tid} ({name}) ---\n{stack.rstrip()}")
        try:
            out = subprocess.run(["gdb", "-nx", "-batch", "-p", str(q.proc.pid),
                                  "-ex", "set pagination off", "-ex", "thread apply all bt 20"],
                                 capture_output=True, text=True, timeout=150).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            out = f"(gdb: {e})"
        log(f"--- {q.name}: gdb thread apply all bt ---\n" +
            "\n".join(l for l in out.splitlines() if l and not l.startswith(("[New LWP", "warning:"))))

    def stall(self, proxy):
        """The return path stops being read: the destination's page requests
        pile up until its socket is full and a send blocks (a thread sleeps in
        the kernel waiting for buffer space).  That thread must not be a vCPU
        thread, and stop, info registers and quit must each answer within 2 s."""
        dst = self.dst
        self.wait_for_exits(5)
        proxy.stall_return()
        self.mark("the proxy stopped reading the return path")
        # A sender sleeping for buffer space: Unix sockets wait in
        # sock_alloc_send_pskb() (sock_wait_for_wmem() may be inlined), TCP
        # in sk_stream_wait_memory().
        waits = ("sock_alloc_send_pskb", "sock_wait_for_wmem", "sk_stream_wait_memory")
        t, senders = time.monotonic(), []
        while time.monotonic() - t < 90:
            senders = [(tid, name) for tid, name, stack in self.threads(dst.proc.pid)
                       if any(w in stack for w in waits)]
            if senders or status(dst) != "postcopy-active":
                break
            time.sleep(0.2)
        mf = qmp(dst, "query-migrate").get("postcopy-memfault") or {}
        self.result["dst_info"] = qmp(dst, "query-migrate")
        check(senders, f"no destination thread blocked in a send within 90 s of the stall "
                       f"(migration {status(dst)}; memfault {mf})")
        names = ", ".join(f"{name} ({tid})" for tid, name in senders)
        self.result["blocked_senders"] = names
        self.mark(f"the destination's return path is full: blocked in a send: {names}; "
                  f"{mf.get('exits')} memory-fault exits, {mf.get('requests')} requests sent")
        vcpus = [name for _, name in senders if name.startswith("CPU ")]
        check(not vcpus, f"a vCPU thread is blocked in a network send: {', '.join(vcpus)}")
        time.sleep(1)   # let a vCPU run into the next missing page
        dst._qmp.settimeout(2)
        steps = {}
        try:
            for name, cmd, args in (("stop", "stop", {}),
                                    ("info registers", "human-monitor-command",
                                     {"command-line": "info registers"})):
                t = time.monotonic()
                r = qmp(dst, cmd, **args)
                steps[name] = time.monotonic() - t
                if name == "stop":
                    st = qmp(dst, "query-status")["status"]
                    check(st == "paused", f"destination: {st} after stop")
                else:
                    check("EIP=" in r or "RIP=" in r, f"info registers gave {r[:200]!r}")
                self.mark(f"destination: {name} answered in {steps[name]:.2f} s")
            t = time.monotonic()
            try:
                dst.qmp("quit")
            except (OSError, TestFailure):
                pass   # the reply may be lost when QEMU exits
            rc = dst.wait_exit(2)
            steps["quit"] = time.monotonic() - t
            self.mark(f"destination quit in {steps['quit']:.2f} s, exit status {rc}")
        finally:
            self.result["stall"] = {k: round(v, 3) for k, v in steps.items()}
        check(rc == 0, f"destination exit status {rc} after quit")

    def kill_source(self):
        o, src, dst = self.o, self.src, self.dst
        # Let the destination run into missing pages first.
        self.wait_for_exits(5)
        st = status(dst)
        check(st == "postcopy-active",
              f"destination status {st} before the kill, not postcopy-active (lower --slow-bw?)")
        # QEMU 10.0 and 10.2 refuse to cancel an outgoing migration once
        # postcopy started (the source no longer has the whole guest state).
        try:
            qmp(src, "migrate_cancel")
            refused = False
        except TestFailure as e:
            check("cannot cancel" in str(e), str(e))
            refused = True
            self.result["cancel"] = str(e).split("'desc': ", 1)[-1].strip("}'\"")
            self.mark(f"source: migrate_cancel refused during postcopy: {self.result['cancel']}")
        if refused:
            check(status(src) == "postcopy-active",
                  "the source left postcopy-active after a refused migrate_cancel")
        else:
            # Older QEMUs (7.2) accept it: report what the source does then.
            check(o.src_qemu != o.qemu, "migrate_cancel was accepted on the source during postcopy")
            time.sleep(1)
            n = passes(src)
            sst = qmp(src, "query-status")["status"]
            time.sleep(1)
            self.result["cancel"] = (f"accepted; source migration {status(src)}, source VM {sst}, "
                                     f"{passes(src) - n} source guest passes in 1 s")
            self.mark(f"source: migrate_cancel during postcopy {self.result['cancel']}")
            self.mark(f"destination: migration {status(dst)}")
        os.killpg(src.proc.pid, signal.SIGKILL)
        src.proc.wait()
        self.mark("source killed (SIGKILL)")
        wait_status(dst, ("postcopy-paused",), 30)
        self.mark("destination: postcopy-paused")
        st = qmp(dst, "query-status")
        self.mark(f"destination answers QMP: query-status {st['status']}")
        n = passes(dst)
        time.sleep(2)
        stuck = passes(dst) == n
        self.mark("destination guest " + ("made no progress in 2 s: its vCPU waits for a page"
                                          if stuck else "still made progress"))
        self.result["vcpu_stuck"] = stuck
        check(stuck, "the destination guest kept making passes without its source")
        mf = qmp(dst, "query-migrate").get("postcopy-memfault")
        self.result["dst_info"] = qmp(dst, "query-migrate")
        if o.expect_exits:
            check(mf and mf["exits"] > 0, f"no memory-fault exits before the kill: {mf}")
        # HMP "info registers" runs on the vCPU thread (run_on_cpu): it only
        # answers if a kick ends the vCPU's wait for the page.  A vCPU asleep in
        # userfaultfd (classic postcopy) cannot be kicked: then it is only reported.
        kick_timeout = 30 if o.expect_exits else 10
        dst._qmp.settimeout(kick_timeout)
        try:
            r = dst.qmp("human-monitor-command", **{"command-line": "info registers"})
            check("EIP=" in r or "RIP=" in r, f"info registers gave {r[:200]!r}")
            self.result["kick"] = True
            self.mark("destination: info registers answered (run_on_cpu kicked the waiting vCPU)")
        except OSError:
            self.result["kick"] = False
            self.mark(f"destination: info registers did not answer in {kick_timeout} s: "
                      "the vCPU cannot leave its wait for the page")
            check(not o.expect_exits, "a vCPU waiting for a page after memory-fault exits "
                                      "did not answer run_on_cpu")
        t = time.monotonic()
        try:
            if self.result["kick"]:
                dst.qmp("quit")
            else:   # the QMP stream still owes the HMP reply: quit with a signal
                dst.proc.send_signal(signal.SIGTERM)
        except (OSError, TestFailure):
            pass   # the reply may be lost when QEMU exits
        if not o.expect_exits:
            try:
                rc = dst.proc.wait(timeout=o.quit_timeout)
            except Exception:
                self.mark(f"destination did not exit within {o.quit_timeout} s of the quit "
                          "request (classic postcopy: vCPU asleep in userfaultfd)")
                self.result["quit"] = None
                return
        else:
            rc = dst.wait_exit(o.quit_timeout)
        self.result["quit"] = time.monotonic() - t
        self.mark(f"destination quit in {time.monotonic() - t:.1f} s, exit status {rc}")
        check(rc == 0, f"destination exit status {rc} after quit")

    def cut_and_recover(self, proxy):
        o, src, dst = self.o, self.src, self.dst
        # Be sure the destination is demand paging when the cut comes, and
        # that postcopy is not about to end: the background stream is held
        # to 1 MiB/s meanwhile (requested pages go out regardless).  At
        # --slow-bw a slow destination once took the whole wait to exit, and
        # the cut came as the source completed: it failed, not paused.
        qmp(src, "migrate-set-parameters", **{"max-postcopy-bandwidth": MiB})
        self.wait_for_exits(10)
        info = qmp(src, "query-migrate")
        left = info.get("ram", {}).get("remaining", 0)
        check(info["status"] == "postcopy-active" and left >= 4 * MiB,
              f"postcopy about to end before the cut (source {info['status']}, {left} bytes "
              "left): the destination was too slow to take a memory-fault exit")
        if proxy:
            proxy.cut()
            self.mark("network cut (proxy closed every connection)")
        else:
            qmp(src, "migrate-pause")
            self.mark("migrate-pause on the source")
        wait_status(src, ("postcopy-paused",), 60)
        wait_status(dst, ("postcopy-paused",), 60)
        self.mark("postcopy-paused on both sides")
        st = qmp(dst, "query-status")
        self.result["paused_info"] = qmp(dst, "query-migrate")
        n = passes(dst)
        time.sleep(1)
        self.mark(f"destination while paused: status {st['status']}, "
                  f"{passes(dst) - n} guest passes in 1 s")
        port = free_port()
        qmp(dst, "migrate-recover", uri=f"tcp:127.0.0.1:{port}")
        wait_status(dst, ("postcopy-recover-setup", "postcopy-recover", "postcopy-paused"), 30)
        qmp(src, "migrate-set-parameters", **{"max-postcopy-bandwidth": o.postcopy_bw * MiB})
        qmp(src, "migrate", uri=f"tcp:127.0.0.1:{port}", resume=True)
        self.mark("migrate-recover on the destination, migrate resume=true on the source")
        wait_status(src, ("postcopy-active", "completed"), 60)
        self.mark("postcopy resumed")


def fmt_stats(info):
    lines = []
    mf = info.get("postcopy-memfault")
    if mf is None:
        lines.append("postcopy-memfault      absent (memory-fault exits not used)")
    else:
        lines.append(f"postcopy-memfault      mechanism {mf.get('mechanism', '?')}, "
                     f"exits {mf['exits']} (present {mf['exits-present']}, "
                     f"faulted in {mf.get('exits-populated', '?')}), "
                     f"requests {mf['requests']}, requests-joined {mf['requests-joined']}, "
                     f"request-failures {mf['request-failures']}, "
                     f"pages-arrived {mf['pages-arrived']}")
        lines.append(f"  latency (us)         p50 {mf['latency-p50']}, p90 {mf['latency-p90']}, "
                     f"p99 {mf['latency-p99']}, max {mf['latency-max']}")
        for v in mf["vcpus"]:
            lines.append(f"  cpu {v['cpu-index']:<16} exits {v['exits']}, blocktime {v['blocktime']} us, "
                         f"latency max {v['latency-max']} us")
    bt = info.get("postcopy-blocktime")
    vbt = info.get("postcopy-vcpu-blocktime")
    lines.append(f"postcopy blocktime     total {bt if bt is not None else 'absent'} ms, "
                 f"per vCPU {vbt if vbt is not None else 'absent'} ms")
    return lines


def summary(m, opts):
    r = m.result
    log("")
    log("summary")
    log(f"  scenario               {opts.scenario}" + (" + postcopy-preempt" if opts.preempt else "")
        + (f" (cut: {opts.cut})" if opts.scenario == "recover" else ""))
    log(f"  source                 {opts.src_qemu} ({r.get('src_version', '?')}), "
        f"-accel {r.get('src_accel')}, -machine {opts.machine}")
    log(f"  destination            {opts.qemu} ({r.get('dst_version', '?')}), -accel {r.get('dst_accel')}")
    if opts.linux_kernel:
        log(f"  guest                  Linux ({os.path.basename(opts.linux_kernel)}), -m {opts.mem}, "
            f"-smp {opts.smp}, memtouch {opts.mt_mib} MiB per vCPU, {opts.mt_mode} order")
    else:
        log(f"  guest                  -m {opts.mem}, A/B loop over [1, {opts.end_mib}) MiB")
    if "total_time_ms" in r:
        log(f"  migration              total {r['total_time_ms']} ms, downtime {r['downtime_ms']} ms, "
            f"{r.get('precopy_syncs')} precopy dirty syncs before postcopy")
    if "integrity" in r:
        log(f"  integrity              ok: {r['integrity']}")
    if "guest_up" in r:
        log(f"  guest kernel           {r['guest_up']}")
    if "guest_stall" in r:
        log(f"  guest's own stalls     {r['guest_stall']} (after the switch, guest clock)")
    if r.get("request_pages"):
        log(f"  memfault requests      {r['request_pages']} (destination trace)")
    if r.get("dst_timeline"):
        log(f"  destination timeline   {r['dst_timeline']} (destination trace)")
    if r.get("qemu_read"):
        log(f"  QEMU's own read        {r['qemu_read']} (HMP xp during postcopy)")
    if r.get("blocked"):
        log(f"  migration blocked      {r['blocked']}")
    if r.get("refused"):
        log(f"  memfault refused       {r['refused']}")
    if r.get("blocked_senders"):
        log(f"  blocked in a send      {r['blocked_senders']} (return path stalled)")
    if r.get("stall"):
        log("  return path stalled    " + ", ".join(f"{k} {v:.2f} s" for k, v in r["stall"].items()))
    if "dst_info" in r:
        for line in fmt_stats(r["dst_info"]):
            log("  " + line)
    for side in ("source", "destination"):
        err = r.get(f"stderr_{side}", "").strip()
        if err:
            log(f"  {side} stderr:")
            for line in err.splitlines()[-15:]:
                log(f"    {line}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True, help="destination QEMU (ours)")
    ap.add_argument("--src-qemu", help="source QEMU (default: --qemu)")
    ap.add_argument("--src-accel", help="source -accel (default: kvm,memfault=off for ours, "
                                        "kvm for another binary)")
    ap.add_argument("--guest", help="the A/B boot sector image")
    ap.add_argument("--linux-kernel", metavar="VMLINUZ",
                    help="boot the Linux test guest instead (tests/guest/linux): its kernel")
    ap.add_argument("--linux-initrd", metavar="CPIO", help="... and its initramfs")
    ap.add_argument("--guest-memfd", action="store_true",
                    help="guest RAM in memory-backend-guest-memfd on both sides")
    ap.add_argument("--qemu-read", action="store_true",
                    help="with --guest-memfd: right after the switch, read a page QEMU likely "
                         "lacks with HMP xp (QEMU's own access must wait, not read zeros)")
    ap.add_argument("--expect-blocked", action="store_true",
                    help="refuse-guest-memfd: the source must refuse to migrate")
    ap.add_argument("--smp", type=int, default=1, help="guest vCPUs (the A/B guest has one)")
    ap.add_argument("--mt-mib", type=int, default=32,
                    help="Linux guest: memory each memtouch thread verifies (MiB)")
    ap.add_argument("--mt-mode", choices=["seq", "random"], default="seq",
                    help="Linux guest: the order memtouch visits its pages in")
    ap.add_argument("--end-mib", type=int,
                    help="the guest's loop end (MiB; default: read from the image)")
    ap.add_argument("--mem", type=int, default=128, help="guest RAM (MiB)")
    ap.add_argument("--machine", default="pc-i440fx-7.2")
    ap.add_argument("--memfault", choices=["on", "off", "auto"], default="auto",
                    help="destination -accel kvm,memfault=")
    ap.add_argument("--memfault-readahead", type=int, metavar="PAGES",
                    help="destination -accel kvm,memfault-readahead= (default: QEMU's)")
    ap.add_argument("--memfault-mechanism", choices=["auto", "userfault", "exit-on-missing"],
                    help="destination -accel kvm,memfault-mechanism= (default: QEMU's, auto); "
                         "a named one is also required in query-migrate")
    ap.add_argument("--expect-readahead", action="store_true",
                    help="fail unless some memfault page request covered more than one page")
    ap.add_argument("--preempt", action="store_true", help="postcopy-preempt on both sides")
    ap.add_argument("--passes", type=int,
                    help="guest passes during precopy (default 2; 0 for the Linux guest, whose "
                         "passes are slow enough for precopy to move nearly everything)")
    ap.add_argument("--scenario", choices=["plain", "recover", "kill", "stall", "device-fail",
                                           "refuse-userfault", "precopy",
                                           "refuse-guest-memfd"],
                    default="plain")
    ap.add_argument("--refuse-userfault-lib", metavar="SO",
                    help="refuse-userfault: the library preloaded into the destination "
                         "(build/lib/tests/functional/libkvm-refuse-userfault.so)")
    ap.add_argument("--cut", choices=["pause", "proxy"], default="proxy",
                    help="recover: how the connection is cut")
    ap.add_argument("--postcopy-bw", type=int, default=0,
                    help="max-postcopy-bandwidth on the source (MiB/s; 0: unlimited)")
    ap.add_argument("--hold-stream", type=int, default=1, metavar="MiB/s",
                    help="with --expect-exits, plain scenario: hold the background stream to "
                         "this bandwidth from the switch until the destination's first "
                         f"memory-fault exit (at most {HOLD_TIMEOUT} s), then --postcopy-bw; "
                         "0: never hold (a measurement of the stream itself)")
    ap.add_argument("--slow-bw", type=int, default=8,
                    help="recover, kill: max-postcopy-bandwidth (MiB/s) until the cut")
    ap.add_argument("--wmem-default", type=int, metavar="BYTES",
                    help="set net.core.wmem_default (the send buffer of every new socket that "
                         "does not set its own, Unix ones included) for the run and restore it "
                         "after; for a machine of the test's own, like the rig's L1")
    ap.add_argument("--complete-timeout", type=int, default=120)
    ap.add_argument("--quit-timeout", type=int, default=30)
    ap.add_argument("--expect-exits", action="store_true",
                    help="require memory-fault exits and requests on the destination")
    ap.add_argument("--expect-no-memfault", action="store_true",
                    help="require postcopy-memfault to be absent")
    ap.add_argument("--src-netns", metavar="NAME|PID",
                    help="run the source in this network namespace (a name for ip netns, "
                         "or the pid of a process in it)")
    ap.add_argument("--dst-netns", metavar="NAME|PID",
                    help="run the destination in this network namespace")
    ap.add_argument("--dst-addr", default="127.0.0.1",
                    help="the destination's address for the migration stream")
    ap.add_argument("--dst-trace", metavar="FILE",
                    help="the destination logs its postcopy fault trace events, with "
                         "timestamps, to FILE (tests/bench reads them)")
    ap.add_argument("--trace-path", action="store_true",
                    help="with --dst-trace: also log where each page request goes "
                         "(request, the source's handling, the page on the stream); the "
                         "source logs to FILE.src")
    opts = ap.parse_args(argv)
    if opts.trace_path and not opts.dst_trace:
        ap.error("--trace-path needs --dst-trace")
    if opts.expect_readahead and (opts.memfault == "off" or (opts.memfault_readahead or 0) < 2):
        ap.error("--expect-readahead needs memfault and --memfault-readahead of 2 or more")
    if opts.scenario == "refuse-guest-memfd" and not opts.guest_memfd:
        ap.error("--scenario refuse-guest-memfd needs --guest-memfd")
    if opts.qemu_read and (not opts.guest_memfd or opts.linux_kernel):
        ap.error("--qemu-read needs --guest-memfd and the A/B guest")
    if opts.expect_blocked and opts.scenario != "refuse-guest-memfd":
        ap.error("--expect-blocked goes with --scenario refuse-guest-memfd")
    if opts.scenario in PRECOPY_SCENARIOS and opts.expect_exits:
        ap.error(f"--scenario {opts.scenario} has no postcopy: no --expect-exits")
    if opts.scenario == "refuse-userfault":
        if not opts.refuse_userfault_lib:
            ap.error("--scenario refuse-userfault needs --refuse-userfault-lib")
        if opts.memfault == "off":
            ap.error("--scenario refuse-userfault needs --memfault on or auto")
        if opts.memfault == "auto":     # userfaultfd alone: no exits, no statistics
            opts.expect_exits, opts.expect_no_memfault = False, True
    opts.src_qemu = opts.src_qemu or opts.qemu
    if opts.passes is None:
        opts.passes = 0 if opts.linux_kernel else 2
    if opts.linux_kernel:
        if not opts.linux_initrd:
            ap.error("--linux-kernel needs --linux-initrd")
        if opts.scenario not in ("plain", "recover", "kill"):
            ap.error(f"--scenario {opts.scenario} checks the A/B guest's memory: not with a Linux guest")
        opts.end_mib, opts.order = None, None
        return opts
    if not opts.guest:
        ap.error("--guest (the A/B guest) or --linux-kernel and --linux-initrd are needed")
    if opts.smp != 1:
        ap.error("the A/B guest has one vCPU")
    end_mib, opts.order = guest_layout(opts.guest)
    if opts.end_mib is None:
        opts.end_mib = end_mib
    if opts.order is not None and opts.end_mib != end_mib:
        ap.error("--end-mib cannot change the loop of a guest with a scattered order")
    return opts


def guest_layout(image):
    """What the A/B guest records in its sector: the loop's end ("ABMB", le16
    MiB at 504) and its order (le16 at 500: 1 for the LCG; le16 log2 of its
    period at 502).  Returns (end_mib, order): order is None for address
    order, else the page indices in the order a pass visits them."""
    with open(image, "rb") as f:
        sector = f.read(512)
    if len(sector) != 512 or sector[504:508] != b"ABMB" or sector[510:] != b"\x55\xaa":
        raise SystemExit(f"{image} is not the A/B guest (tests/guest/ab-guest.S)")
    end_mib = int.from_bytes(sector[508:510], "little")
    if int.from_bytes(sector[500:502], "little") == 0:
        return end_mib, None
    # The guest's LCG (ab-guest.S): full period over 2^log2, pages < n kept.
    log2, n = int.from_bytes(sector[502:504], "little"), (end_mib - 1) * 256
    mask, x, order = (1 << log2) - 1, 0, []
    for _ in range(1 << log2):
        if x < n:
            order.append(x)
        x = (1103515245 * x + 12345) & mask
    return end_mib, order


WMEM_DEFAULT = "/proc/sys/net/core/wmem_default"


def main(argv=None):
    opts = parse_args(argv)
    m = Migration(opts)
    saved = None
    try:
        if opts.wmem_default:
            with open(WMEM_DEFAULT) as f:
                saved = f.read()
            with open(WMEM_DEFAULT, "w") as f:
                f.write(str(opts.wmem_default))
            log(f"net.core.wmem_default: {opts.wmem_default} for this run (was {saved.strip()})")
        m.run()
    except TestFailure as e:
        summary(m, opts)
        log(f"FAIL {opts.scenario}: {e}")
        return 1
    finally:
        if saved is not None:
            with open(WMEM_DEFAULT, "w") as f:
                f.write(saved)
    summary(m, opts)
    log(f"ok {opts.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
