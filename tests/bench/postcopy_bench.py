#!/usr/bin/python3
"""End-to-end postcopy benchmark: the destination with memfault=on and with
memfault=off, in the same run, over several networks.

    postcopy_bench.py --qemu BIN --guest NAME=IMG [--guest NAME=IMG ...]
                      --out FILE.json [--nets lo,veth:0,veth:0.1,veth:1]
                      [--reps N] [--postcopy-bw MiB/s]
    postcopy_bench.py ... --linux-kernel VMLINUZ --linux-initrd CPIO
                      --guest NAME=linux:VCPUS[:seq|random] ...

Every migration is tests/functional/migrate.py's (the A/B guest, or the Linux
test guest with one memtouch thread per vCPU, integrity checked, memory-fault
exits required with memfault=on).  For the Linux guest the run also keeps
what the guest measured on its own clock (tests/guest/linux/memtouch.c): each
vCPU's stalled time (the gaps of over 1 ms between two page touches) and the
longest gap, on the destination -- the one stall measure that is the same on
both paths, and that counts what async page faults hide from QEMU.  Per migration the
destination logs its fault trace events (migrate.py --dst-trace); this script
turns them into fault-to-resume latencies measured the same way on both
paths: from the vCPU's memory-fault exit to its wake-up (memfault=on), or
from the fault thread reading the vCPU's fault off userfaultfd to the page's
placement (memfault=off, QEMU's blocktime accounting).  It also keeps the
destination's own query-migrate statistics.

Networks ('+preempt' adds postcopy-preempt on both sides): 'lo' runs both QEMUs on loopback in the current namespace;
'veth:RTT' (milliseconds) runs the source and the destination in two network
namespaces of their own, joined by a veth pair, with netem adding RTT/2 on
each end.  The namespaces are created and removed here; that needs root
(tests/bench/run runs this inside the rig).

Standard library only: it runs inside the rig with Debian's python3.
"""

import argparse
import bisect
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "functional"))
from migrate import Migration, parse_args as migrate_args, trace_events  # noqa: E402
from qemu_harness import TestFailure  # noqa: E402

SRC_ADDR, DST_ADDR = "10.77.0.1", "10.77.0.2"


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise TestFailure(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class VethPair:
    """Two network namespaces (each held by a sleeping process) joined by a
    veth pair, netem delay rtt/2 on each end.  Source: SRC_ADDR, destination:
    DST_ADDR."""

    def __init__(self, rtt_ms):
        self.rtt_ms = rtt_ms
        self.holders = []

    def __enter__(self):
        try:
            return self._setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _setup(self):
        for _ in range(2):
            self.holders.append(subprocess.Popen(["unshare", "-n", "sleep", "infinity"]))
        # The holder must have entered its namespace before the links move there.
        deadline = time.monotonic() + 10
        me = os.readlink("/proc/self/ns/net")
        for p in self.holders:
            while os.readlink(f"/proc/{p.pid}/ns/net") == me:
                if time.monotonic() > deadline:
                    raise TestFailure("unshare -n did not enter a new network namespace")
                time.sleep(0.01)
        src, dst = (str(p.pid) for p in self.holders)
        run("ip", "link", "add", "mf-src", "type", "veth", "peer", "name", "mf-dst")
        run("ip", "link", "set", "mf-src", "netns", src)
        run("ip", "link", "set", "mf-dst", "netns", dst)
        for pid, dev, addr in ((src, "mf-src", SRC_ADDR), (dst, "mf-dst", DST_ADDR)):
            ns = ("nsenter", "-t", pid, "-n", "--")
            run(*ns, "ip", "link", "set", "lo", "up")
            run(*ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
            run(*ns, "ip", "link", "set", dev, "up")
            if self.rtt_ms > 0:
                run(*ns, "tc", "qdisc", "add", "dev", dev, "root", "netem",
                    "delay", f"{self.rtt_ms * 1000 / 2:.0f}us")
        # The link carries traffic, with the delay we asked for: a TCP connect
        # to a closed port is refused after exactly one round trip.
        probe = ("import socket, time\n"
                 "best = 1e9\n"
                 "for _ in range(5):\n"
                 "    s = socket.socket(); t = time.monotonic()\n"
                 "    try: s.connect((%r, 9))\n"
                 "    except ConnectionRefusedError: best = min(best, time.monotonic() - t)\n"
                 "    s.close()\n"
                 "print(best * 1000)\n" % DST_ADDR)
        out = run("nsenter", "-t", src, "-n", "--", sys.executable, "-c", probe)
        self.measured_rtt_ms = float(out)
        if self.measured_rtt_ms > 1e6:
            raise TestFailure(f"no round trip over the veth pair to {DST_ADDR}")
        return self

    @property
    def src_ns(self):
        return str(self.holders[0].pid)

    @property
    def dst_ns(self):
        return str(self.holders[1].pid)

    def __exit__(self, *exc):
        # The veth pair goes away with its namespaces.
        for p in self.holders:
            p.kill()
            p.wait()
        return False


# -- the destination's trace --------------------------------------------------------

WAIT = "the page is in flight: wait for it"
ARRIVED = ("the page arrived", "demand paging has ended: re-enter the guest")


def parse_trace(path):
    """Fault-to-resume latencies (µs) of the waits that ended with the page,
    on either path, and the postcopy phase's bounds (s, the destination's
    clock)."""
    lat, uffd_lat, mf_wait, uffd_wait = [], [], {}, {}
    run_t = end_t = None
    kicked = 0
    for t, ev, args in trace_events(path):
        if ev == "kvm_memfault_exit":
            # "cpu N gpa 0x.. size 0x.. flags 0x..: <outcome>"
            cpu, outcome = int(args.split()[1]), args.split(": ", 1)[1]
            if outcome == WAIT:
                mf_wait[cpu] = t
        elif ev == "kvm_memfault_wake":
            cpu, outcome = int(args.split()[1]), args.split(": ", 1)[1]
            t0 = mf_wait.pop(cpu, None)
            if t0 is not None and outcome in ARRIVED:
                lat.append((t - t0) * 1e6)
            elif t0 is not None:
                kicked += 1
        elif ev == "postcopy_blocktime_begin":
            # "addr: 0x.., time: N, cpu: N, exist: N"; cpu -1: not a vCPU
            kv = dict(x.split(": ") for x in args.split(", "))
            if kv["cpu"] != "-1":
                uffd_wait[int(kv["cpu"])] = (kv["addr"], t)
        elif ev == "postcopy_blocktime_end":
            # "addr: 0x.., time: N, affected_cpus: N, affected_non_cpus: N"
            kv = dict(x.split(": ") for x in args.split(", "))
            if kv["affected_cpus"] != "0":
                for cpu, (addr, t0) in list(uffd_wait.items()):
                    if addr == kv["addr"]:
                        uffd_lat.append((t - t0) * 1e6)
                        del uffd_wait[cpu]
        elif ev == "loadvm_postcopy_handle_run":
            run_t = t
        elif ev == "postcopy_ram_incoming_cleanup_entry" and end_t is None:
            end_t = t
    # With memfault, QEMU's blocktime counts the same vCPU waits again (up to
    # the page's placement): the exits' own wait-to-wake times stand for them.
    return sorted(lat or uffd_lat), run_t, end_t, kicked


def _first_after(times, t):
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def parse_path(dst_trace, src_trace):
    """Where each page request's time goes (--trace-path): request sent by
    the destination -> handled by the source's return-path thread -> taken
    off the source's queue by the migration thread -> read off the stream
    by the destination.  Both QEMUs run on one machine: one clock."""
    reqs, src_rp, src_q, src_nd, dst_in = [], {}, {}, {}, {}
    sleep_ms, sleeps, urgent = 0, 0, 0
    for t, ev, args in trace_events(dst_trace):
        if ev == "postcopy_memfault_request":        # "pc.ram offset 0x.. len 0x.."
            reqs.append((t, int(args.split()[2], 16)))
        elif ev == "postcopy_ram_fault_thread_request":   # "... rb=pc.ram offset=0x.. pid=N"
            reqs.append((t, int(args.split("offset=")[1].split()[0], 16)))
        elif ev == "ram_load_postcopy_loop":          # "chan=N addr=0x.. flags=0x.."
            dst_in.setdefault(int(args.split("addr=")[1].split()[0], 16), []).append(t)
    for t, ev, args in trace_events(src_trace):
        if ev == "migrate_handle_rp_req_pages":       # "in pc.ram at 0x.. len 0x.."
            src_rp.setdefault(int(args.split()[3], 16), []).append(t)
        elif ev in ("get_queued_page", "get_queued_page_not_dirty"):   # "pc.ram/0x.. page_abs=.."
            d = src_q if ev == "get_queued_page" else src_nd
            d.setdefault(int(args.split("/")[1].split()[0], 16), []).append(t)
        elif ev == "migration_rate_limit_pre":
            sleeps += 1
            sleep_ms += int(args.split()[0])
        elif ev == "migration_rate_limit_post" and args.strip() == "urgent: 1":
            urgent += 1
    seg = {"return_path": [], "source_queue": [], "stream": [], "request_to_page": []}
    queued = background = 0
    for t0, off in reqs:
        t3 = _first_after(dst_in.get(off, []), t0)
        t1 = _first_after(src_rp.get(off, []), t0)
        if t3 is None or t1 is None:
            continue
        seg["request_to_page"].append((t3 - t0) * 1e6)
        seg["return_path"].append((t1 - t0) * 1e6)
        t2 = _first_after(src_q.get(off, []), t1)
        if t2 is not None and t2 <= t3:
            queued += 1
            seg["source_queue"].append((t2 - t1) * 1e6)
            seg["stream"].append((t3 - t2) * 1e6)
        else:
            background += 1   # the page was already sent, or on its way, when asked for
    out = {"requests": len(reqs), "served_from_queue": queued, "served_by_background": background,
           "source_rate_limit_sleeps": sleeps, "source_rate_limit_sleep_ms": sleep_ms,
           "source_urgent_wakeups": urgent}
    for k, v in seg.items():
        v.sort()
        out[k] = {"n": len(v), "p50_us": quantile(v, 0.5), "p90_us": quantile(v, 0.9)}
    return out


def quantile(v, q):
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else None


# -- one migration ------------------------------------------------------------------

def migrate_once(opts, guest, mode, net, preempt):
    with tempfile.TemporaryDirectory(prefix="mf-bench-") as d:
        trace = os.path.join(d, "dst-trace.log")
        memfault, _, readahead = mode.partition(":")
        mechanism = None
        if memfault == "eom":   # memfault=on with KVM_MEM_EXIT_ON_MISSING
            mechanism = "exit-on-missing"
        if guest.startswith("linux:"):
            _, vcpus, mt_mode = (guest.split(":") + ["seq"])[:3]
            args = ["--qemu", opts.qemu, "--linux-kernel", opts.linux_kernel,
                    "--linux-initrd", opts.linux_initrd, "--smp", vcpus,
                    "--mem", str(opts.linux_mem), "--mt-mode", mt_mode]
        else:
            args = ["--qemu", opts.qemu, "--guest", guest]
        args += ["--memfault", "on" if mechanism else memfault,
                "--postcopy-bw", str(opts.postcopy_bw), "--dst-trace", trace]
        if readahead:
            args += ["--memfault-readahead", readahead]
        if mechanism:
            args += ["--memfault-mechanism", mechanism]
        if opts.trace_path:
            args.append("--trace-path")
        if memfault in ("on", "eom"):
            # The stream at its cap from the switch, as with memfault=off:
            # holding it for the first exit would change what is measured.
            args += ["--expect-exits", "--hold-stream", "0"]
        if preempt:
            args.append("--preempt")
        if net is not None:
            args += ["--src-netns", net.src_ns, "--dst-netns", net.dst_ns, "--dst-addr", DST_ADDR]
        m = Migration(migrate_args(args))
        log = os.path.join(d, "migrate.log")
        with open(log, "w") as out:
            saved = sys.stdout
            sys.stdout = out
            try:
                m.run()
                err = None
            except TestFailure as e:
                err = str(e)
            finally:
                sys.stdout = saved
        if err:
            with open(log) as f:
                sys.stdout.write(f.read()[-4000:])
            raise TestFailure(f"memfault={memfault}: {err}")
        lat, run_t, end_t, kicked = parse_trace(trace)
        path = parse_path(trace, trace + ".src") if opts.trace_path else None
    info = m.result["dst_info"]
    mf = info.get("postcopy-memfault")
    r = {
        "memfault": memfault,
        "readahead": int(readahead) if readahead else None,
        "faults": len(lat),
        "kicked_waits": kicked,
        "p50_us": quantile(lat, 0.5), "p90_us": quantile(lat, 0.9),
        "p99_us": quantile(lat, 0.99), "max_us": lat[-1] if lat else None,
        "blocked_ms": sum(lat) / 1000,
        "quantiles_us": [quantile(lat, q / 100) for q in range(101)] if lat else [],
        "postcopy_s": (end_t - run_t) if run_t and end_t else None,
        "total_time_ms": m.result.get("total_time_ms"),
        "integrity": m.result.get("integrity"),
        "dst_postcopy_blocktime_ms": info.get("postcopy-blocktime"),
        "dst_memfault": mf,
        "path": path,
    }
    if "guest_stalled_ms" in m.result:   # the Linux guest, on its own clock
        stalled = m.result["guest_stalled_ms"]
        r.update(vcpus=len(stalled), guest_stalled_ms=stalled,
                 guest_stalled_total_ms=sum(stalled.values()),
                 guest_longest_stall_ms=m.result["guest_longest_stall_us"] / 1000)
    if memfault == "on" and not mf:
        raise TestFailure("memfault=on but the destination reports no postcopy-memfault")
    return r


def fmt(r):
    f = lambda v: "-" if v is None else f"{v:.0f}"
    ps = "-" if r["postcopy_s"] is None else f"{r['postcopy_s']:.2f}"
    s = (f"{r['faults']} waits, latency p50 {f(r['p50_us'])} p99 {f(r['p99_us'])} "
         f"max {f(r['max_us'])} us, blocked {r['blocked_ms']:.0f} ms, postcopy {ps} s")
    if "guest_stalled_total_ms" in r:
        s += (f"; the guest's own clock: stalled {r['guest_stalled_total_ms']} ms over "
              f"{r['vcpus']} vCPUs, longest stall {r['guest_longest_stall_ms']:.1f} ms")
    p = r.get("path")
    if p:
        s += (f"\n#   path: {p['requests']} requests, {p['served_from_queue']} served from the "
              f"source's queue, {p['served_by_background']} by the background stream; p50 us: "
              f"return path {f(p['return_path']['p50_us'])}, source queue "
              f"{f(p['source_queue']['p50_us'])}, stream {f(p['stream']['p50_us'])}, "
              f"request to page {f(p['request_to_page']['p50_us'])}; source rate limiter: "
              f"{p['source_rate_limit_sleeps']} sleeps, {p['source_rate_limit_sleep_ms']} ms, "
              f"{p['source_urgent_wakeups']} ended early by a request")
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--guest", action="append", required=True, metavar="NAME=IMG",
                    help="an A/B guest image, e.g. sequential=ab-guest.bin, or "
                         "linux:VCPUS[:seq|random], the Linux test guest with that many "
                         "vCPUs (needs --linux-kernel and --linux-initrd)")
    ap.add_argument("--linux-kernel", metavar="VMLINUZ")
    ap.add_argument("--linux-initrd", metavar="CPIO")
    ap.add_argument("--linux-mem", type=int, default=256, metavar="MiB",
                    help="the Linux guest's RAM (memtouch takes 32 MiB per vCPU)")
    ap.add_argument("--out", required=True, help="JSON results")
    ap.add_argument("--nets", default="lo,veth:0,veth:0.1,veth:1",
                    help="comma-separated: lo, veth:RTT_MS; a '+preempt' suffix turns "
                         "postcopy-preempt on")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--modes", default="on,off",
                    help="destination memfault= values to compare (on needs KVM Userfault); "
                         "on:N also sets memfault-readahead=N; eom[:N] is memfault=on with "
                         "memfault-mechanism=exit-on-missing")
    ap.add_argument("--postcopy-bw", type=int, default=16,
                    help="max-postcopy-bandwidth on the source (MiB/s): the background "
                         "stream is slowed so that the guest runs into missing pages")
    ap.add_argument("--trace-path", action="store_true",
                    help="also trace each page request's way through the source, and "
                         "report where its time goes (more tracing: slower)")
    ap.add_argument("--matrix", choices=["full", "quick"], default="full",
                    help="quick: each guest once, each network once, each mode per network")
    opts = ap.parse_args()
    guests = []
    for g in opts.guest:
        name, _, img = g.partition("=")
        if img.startswith("linux:"):
            if not re.fullmatch(r"linux:[1-8](:seq|:random)?", img):
                ap.error(f"--guest {g}: want NAME=linux:VCPUS[:seq|random], 1-8 vCPUs")
            if not (opts.linux_kernel and opts.linux_initrd and os.path.isfile(opts.linux_kernel)
                    and os.path.isfile(opts.linux_initrd)):
                ap.error(f"--guest {g}: needs --linux-kernel and --linux-initrd, existing files")
        elif not img or not os.path.isfile(img):
            ap.error(f"--guest {g}: want NAME=IMAGE of an existing file")
        guests.append((name, img))
    nets = []
    for n in opts.nets.split(","):
        m = re.fullmatch(r"(lo|veth:(\d+(?:\.\d+)?))(\+preempt)?", n)
        if not m:
            ap.error(f"--nets: {n!r} is not lo or veth:RTT_MS, optionally +preempt")
        nets.append((n, float(m.group(2)) if m.group(2) else None, bool(m.group(3))))
    if opts.reps < 1:
        ap.error("--reps must be >= 1")
    opts.modes = opts.modes.split(",")
    if not opts.modes or any(not re.fullmatch(r"(on|auto|eom)(:\d+)?|off", m) for m in opts.modes):
        ap.error("--modes: a comma-separated list of on, off, auto, eom, on:READAHEAD, "
                 "auto:READAHEAD, eom:READAHEAD")

    results = {"postcopy_bw_mib_s": opts.postcopy_bw, "runs": [], "nets": {}}
    t_start = time.monotonic()
    for ni, (net_name, rtt, preempt) in enumerate(nets):
        if rtt is None:
            ctx = None
        else:
            print(f"# network {net_name}: two namespaces, veth pair, netem {rtt / 2} ms each way",
                  flush=True)
            ctx = VethPair(rtt).__enter__()
            results["nets"][net_name] = {"rtt_ms": rtt, "ping_rtt_ms": ctx.measured_rtt_ms}
            print(f"#   ping rtt {ctx.measured_rtt_ms:.3f} ms", flush=True)
        try:
            for gi, (gname, img) in enumerate(guests):
                if opts.matrix == "quick" and gi != ni % len(guests):
                    continue
                for rep in range(opts.reps):
                    # Alternate which mode goes first: drift hits both.
                    modes = opts.modes if rep % 2 == 0 else opts.modes[::-1]
                    for mode in modes:
                        t = time.monotonic()
                        r = migrate_once(opts, img, mode, ctx, preempt)
                        r.update(net=net_name, rtt_ms=rtt, preempt=preempt, guest=gname, rep=rep,
                                 wall_s=time.monotonic() - t)
                        results["runs"].append(r)
                        print(f"ok {len(results['runs'])} - {net_name} {gname} rep {rep} "
                              f"memfault={mode}: {fmt(r)}", flush=True)
        finally:
            if ctx:
                ctx.__exit__(None, None, None)
    results["wall_s"] = time.monotonic() - t_start
    with open(opts.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"# {len(results['runs'])} migrations in {results['wall_s']:.0f} s -> {opts.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TestFailure as e:
        print(f"not ok - {e}", flush=True)
        sys.exit(1)
