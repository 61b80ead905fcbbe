#!/usr/bin/python3
"""Turn a tests/bench/run results directory into report.md, PNG plots and
meta.json.  Fails (exit 1) when a part of the benchmark is missing or
produced no data, so that the quick run in `make check` catches a broken
benchmark.

    report.py DIR [--command CMD] [--elapsed S]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PAGE = 4096


class Missing(Exception):
    pass


def load(d, name):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        raise Missing(f"{name} is missing: that part of the benchmark did not run")
    with open(path) as f:
        return json.load(f)


def git(*args, cwd=ROOT):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


def versions(d):
    build = os.environ.get("MF_BUILD", os.path.join(ROOT, "build"))
    qtree = os.path.join(build, "qemu")
    rig = load(d, "rig.json")
    dirty = " (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "library commit": git("rev-parse", "--short=12", "HEAD") + dirty,
        "QEMU": f"{open(os.path.join(qtree, 'VERSION')).read().strip()} (Debian "
                "source package, see scripts/pins.sh) + patches/qemu, "
                f"{git('rev-list', '--count', 'base..HEAD', cwd=qtree)} patches, "
                f"tree {git('rev-parse', '--short=12', 'HEAD^{tree}', cwd=qtree)}",
        "rig L1 kernel": rig["kernel"] + f", {rig['l1_cpus']} vCPUs ({rig['cpu_model']})",
        "KVM modules": f"{rig['kvm_modules']} (patches/linux)",
        "L0": "Debian's qemu-system-x86 7.2, TCG (multi-threaded), on "
              f"{platform.release()}, {os.cpu_count()} CPUs",
    }


def f0(v):
    return "-" if v is None else f"{v:.0f}"


# -- demand paging -------------------------------------------------------------------

def dp_best(runs):
    """Per (mode, vcpus): the run with the most pages/s (best of reps)."""
    best = {}
    for r in runs:
        if not r["ok"]:
            raise Missing(f"demand paging {r['mode']} at {r['vcpus']} vCPUs failed its checks")
        k = (r["mode"], r["vcpus"])
        if k not in best or r["pages_per_s"] > best[k]["pages_per_s"]:
            best[k] = r
    return best


def dp_table(title, runs, out):
    best = dp_best(runs)
    vcpus = sorted({v for _, v in best})
    if not any(m == "kvm-exit" for m, _ in best):
        raise Missing("demand paging ran without KVM Userfault exits")
    delay = runs[0]["delay_us"]
    out.append(f"### {title}\n")
    out.append(f"Each vCPU writes its own {runs[0]['pages_per_vcpu']} pages; "
               f"{delay} µs wait before each page is supplied. Best of "
               f"{1 + max(r['rep'] for r in runs)} runs by pages/s; the latency is the guest's "
               "own (rdtsc around each first write) in that run.\n")
    out.append("| vCPUs | userfaultfd pages/s | exits pages/s | **ratio** | p50 µs uffd / exits "
               "| p99 µs uffd / exits |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for v in vcpus:
        u, e = best[("uffd", v)], best[("kvm-exit", v)]
        ratios[v] = e["pages_per_s"] / u["pages_per_s"]
        out.append(f"| {v} | {u['pages_per_s']:.0f} | {e['pages_per_s']:.0f} | "
                   f"**{ratios[v]:.2f}** | {u['p50_us']:.0f} / {e['p50_us']:.0f} | "
                   f"{u['p99_us']:.0f} / {e['p99_us']:.0f} |")
    out.append("")
    return best, vcpus, ratios


def dp_plot(d, sets):
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, (best, vcpus, _), style in sets:
        for mode, color, name in (("uffd", "tab:blue", "userfaultfd"),
                                  ("kvm-exit", "tab:red", "memory-fault exits")):
            ax.plot(vcpus, [best[(mode, v)]["pages_per_s"] for v in vcpus], style,
                    color=color, marker="o", label=f"{name}{label}")
    ax.set_xlabel("vCPUs")
    ax.set_ylabel("pages/s (all vCPUs)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sets[0][1][1], [str(v) for v in sets[0][1][1]])
    ax.set_yscale("log")
    ax.set_title("Demand paging in the rig (TCG-distorted: compare lines, not values)",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "demand-paging.png"), dpi=110)
    plt.close(fig)


# -- end-to-end postcopy ---------------------------------------------------------------

def e2e_groups(pc):
    groups = {}
    for r in pc["runs"]:
        groups.setdefault((r["net"], r["guest"]), {}).setdefault(r["memfault"], []).append(r)
    for k, g in groups.items():
        for mode in ("on", "off"):
            if mode not in g:
                raise Missing(f"postcopy {k[0]} {k[1]}: no memfault={mode} run")
            for r in g[mode]:
                if not r["faults"]:
                    raise Missing(f"postcopy {k[0]} {k[1]} memfault={mode} rep {r['rep']}: the "
                                  "destination's trace shows no vCPU waiting for a page")
    return groups


def med(runs, key):
    vals = [r[key] for r in runs if r[key] is not None]
    return statistics.median(vals) if vals else None


def e2e_table(pc, out):
    groups = e2e_groups(pc)
    bw = pc["postcopy_bw_mib_s"]
    xfer_ms = PAGE / (bw * (1 << 20)) * 1000
    out.append(f"Median over {1 + max(r['rep'] for r in pc['runs'])} run(s) per line. "
               "**waits**: vCPU faults that waited for a page; latency: fault-to-resume of those "
               "waits, from the destination's trace (same method on both paths, see below); "
               "**blocked**: their sum; **postcopy**: RUN to the end of postcopy on the "
               "destination; **exits**: memory-fault exits in the destination's `query-migrate`; "
               "**own**: the destination's own `query-migrate` figures: memfault's latency "
               "histogram (from the exit, before the request is sent, to the wake-up; 12.5% "
               "buckets), or QEMU's userfaultfd `postcopy-blocktime`, which counts whole "
               "milliseconds per fault and so undercounts sub-millisecond waits. The trace-based "
               "p50 misses the request's send on the memfault side and the fault thread's "
               "wake-up on the userfaultfd side; **own p50 on / off** compares memfault's own "
               "p50 (which includes the send) with the same userfaultfd p50, a bound that "
               "favours userfaultfd.\n")
    out.append("| network | guest | memfault | waits | p50 µs | p99 µs | max µs | blocked ms "
               "| postcopy s | exits | own p50 / p99 µs | **p50 on/off** | own p50 on / off |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for (net, guest), g in sorted(groups.items(), key=lambda kv: (net_order(kv[0][0]), kv[0][1])):
        p50 = {m: med(g[m], "p50_us") for m in ("on", "off")}
        ratios[(net, guest)] = p50["on"] / p50["off"] if p50["off"] else None
        own = {k: statistics.median(r["dst_memfault"][k] for r in g["on"])
               for k in ("latency-p50", "latency-p99")}
        own_ratio = own["latency-p50"] / p50["off"] if p50["off"] else None
        for m in ("on", "off"):
            rs = g[m]
            exits = statistics.median([r["dst_memfault"]["exits"] if r["dst_memfault"] else 0
                                       for r in rs])
            ps = med(rs, "postcopy_s")
            ratio = f"**{ratios[(net, guest)]:.2f}**" if m == "on" and ratios[(net, guest)] else ""
            ownr = f"{own_ratio:.2f}" if m == "on" and own_ratio else ""
            owns = (f"{own['latency-p50']:.0f} / {own['latency-p99']:.0f}" if m == "on" else
                    f"blocktime {med(rs, 'dst_postcopy_blocktime_ms'):.0f} ms")
            out.append(f"| {net} | {guest} | {m} | {f0(med(rs, 'faults'))} | "
                       f"{f0(p50[m])} | {f0(med(rs, 'p99_us'))} | {f0(med(rs, 'max_us'))} | "
                       f"{f0(med(rs, 'blocked_ms'))} | {'-' if ps is None else f'{ps:.2f}'} | "
                       f"{exits:.0f} | {owns} | {ratio} | {ownr} |")
    out.append("")
    return groups, ratios, xfer_ms


def path_table(pc, out):
    """With postcopy_bench.py --trace-path: where a page request's time goes."""
    runs = [r for r in pc["runs"] if r.get("path")]
    if not runs:
        raise Missing("postcopy-path.json has no run with a request path")
    out.append("### Where the time goes\n")
    out.append("A separate pass (postcopy-path.json) with `--trace-path`: both QEMUs trace each page request (one clock: both "
               "run in L1). Medians in µs over the requests of one run: **return path** = "
               "destination sends the request -> the source's return-path thread handles it; "
               "**source queue** -> the migration thread takes the page off its queue; "
               "**stream** -> the destination reads the page off the migration stream; "
               "**request to page** = the three together. **wait** is the vCPU's whole wait "
               "(p50 above), which adds the exit/fault before the request and the placement "
               "and wake-up after the page.\n")
    out.append("| network | guest | memfault | requests | from queue / background | return path "
               "| source queue | stream | request to page | wait |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(runs, key=lambda r: (net_order(r["net"]), r["guest"], r["memfault"], r["rep"])):
        p = r["path"]
        out.append(f"| {r['net']} | {r['guest']} | {r['memfault']} | {p['requests']} | "
                   f"{p['served_from_queue']} / {p['served_by_background']} | "
                   f"{f0(p['return_path']['p50_us'])} | {f0(p['source_queue']['p50_us'])} | "
                   f"{f0(p['stream']['p50_us'])} | {f0(p['request_to_page']['p50_us'])} | "
                   f"{f0(r['p50_us'])} |")
    out.append("")


def net_order(net):
    base, _, preempt = net.partition("+")
    return (-1 if base == "lo" else float(base.split(":")[1])) + (0.5 if preempt else 0)


def e2e_plot(d, pc, groups):
    nets = sorted({n for n, _ in groups}, key=net_order)
    guests = sorted({g for _, g in groups})
    fig, axes = plt.subplots(len(guests), len(nets), figsize=(3.4 * len(nets), 3.0 * len(guests)),
                             squeeze=False, sharey=True)
    for i, guest in enumerate(guests):
        for j, net in enumerate(nets):
            ax = axes[i][j]
            g = groups.get((net, guest))
            if not g:
                ax.set_visible(False)
                continue
            for mode, color in (("on", "tab:red"), ("off", "tab:blue")):
                for k, r in enumerate(g[mode]):
                    qs = r["quantiles_us"]
                    ax.plot([max(x, 1) for x in qs], [p / 100 for p in range(len(qs))],
                            color=color, alpha=0.85 if k == 0 else 0.45,
                            label=f"memfault={mode}" if k == 0 else None)
            ax.set_xscale("log")
            ax.set_title(f"{net}, {guest}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if i == len(guests) - 1:
                ax.set_xlabel("fault-to-resume (µs)")
            if j == 0:
                ax.set_ylabel("fraction of waits")
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Postcopy fault latency CDF, destination memfault=on vs off (rig, TCG)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "latency-cdf.png"), dpi=110)
    plt.close(fig)


# -- engine ---------------------------------------------------------------------------

def engine_table(eng, out):
    rows = {}
    for b in eng["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["name"].split("/")[0]
        threads = int(b["name"].split("threads:")[1].split("_")[0])
        rows[(name, threads)] = b
    threads = sorted({t for _, t in rows})
    if not threads or not all(("BM_Engine", t) in rows and ("BM_QemuBaseline", t) in rows
                              for t in threads):
        raise Missing("engine.json lacks the engine or the baseline benchmark")
    # The blocktime model (tests/bench/engine_bench.cc) is in runs since library 0.4.2.
    bt = all(("BM_QemuBlocktime", t) in rows for t in threads)
    out.append("| threads | engine p50 / p99 ns | QEMU-style p50 / p99 ns | engine faults/s "
               "| QEMU-style faults/s | **throughput ratio** |" +
               (" QEMU + blocktime faults/s | **ratio to it** |" if bt else ""))
    out.append("|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if bt else ""))
    for t in threads:
        e, b = rows[("BM_Engine", t)], rows[("BM_QemuBaseline", t)]
        line = (f"| {t} | {e['p50_ns']:.0f} / {e['p99_ns']:.0f} | {b['p50_ns']:.0f} / "
                f"{b['p99_ns']:.0f} | {e['items_per_second']:.3g} | "
                f"{b['items_per_second']:.3g} | "
                f"**{e['items_per_second'] / b['items_per_second']:.2f}** |")
        if bt:
            k = rows[("BM_QemuBlocktime", t)]
            line += (f" {k['items_per_second']:.3g} | "
                     f"**{e['items_per_second'] / k['items_per_second']:.2f}** |")
        out.append(line)
    out.append("")
    if bt:
        out.append("The engine times every fault (its latency histogram and blocked time, "
                   "shown in query-migrate); QEMU does so only with the postcopy-blocktime "
                   "capability, whose bookkeeping the last columns add to the baseline.\n")


# -- the report -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--command", default="tests/bench/run")
    ap.add_argument("--elapsed", type=int)
    o = ap.parse_args()
    d = o.dir
    quick = os.path.basename(os.path.normpath(d)).endswith("-quick") or "--quick" in o.command
    meta = {"command": o.command, "elapsed_s": o.elapsed, "quick": quick, "versions": versions(d)}
    out = ["# Benchmarks: memory-fault exits vs userfaultfd\n"]
    if quick:
        out.append("**Quick run** (`--quick`): every path once on small sizes, to show the "
                   "benchmarks work. Not a measurement.\n")
    out.append("Command: `" + o.command + "`" +
               (f" ({o.elapsed} s)" if o.elapsed else "") + "\n")
    out.append("| | |\n|---|---|")
    for k, v in meta["versions"].items():
        out.append(f"| {k} | {v} |")
    out.append("")
    out.append("**TCG distortion.** Parts 1 and 2 run in the rig: L1 (Debian's 6.12 with our "
               "modules) is itself a TCG guest of L0, and the measured VMs are L2 guests under "
               "nested SVM that TCG emulates. Every exit from L2 to L1, every IPI and every "
               "context switch in L1 costs one to two orders of magnitude more than on "
               "hardware, and L0 runs L1's vCPUs on the machine's own (few, shared) CPUs. "
               "Absolute pages/s and latencies are therefore meaningless; only the ratios "
               "between two lines measured in the same run carry information, and even they "
               "weigh exits and wake-ups (expensive under TCG) more than hardware would. "
               "Part 3 runs on the host without nesting.\n")

    targets = []
    # 1. demand paging
    out.append("## 1. Demand paging (rig)\n")
    out.append("`kvm-userfault-test --demand-paging` (tests/kvm/kvm_userfault_test.c): a VM "
               "whose vCPUs each write their own pages of a memslot. userfaultfd: a "
               "reader thread resolves MISSING faults with UFFDIO_COPY. Exits: the vCPU thread "
               "resolves its own KVM Userfault exit (UFFDIO_COPY without wake, clear the bit, "
               "re-enter).\n")
    dp0 = dp_table("No delay", load(d, "demand-paging.json"), out)
    delay_runs = load(d, "demand-paging-delay.json")
    delay = delay_runs[0]["delay_us"]
    dpd = dp_table("With a per-page delay (network stand-in)", delay_runs, out)
    dp_plot(d, [("", dp0, "-"), (f" +{delay} µs/page", dpd, "--")])
    out.append("![pages/s vs vCPUs](demand-paging.png)\n")
    r2 = dp0[2].get(2)
    grows = all(dp0[2][a] <= dp0[2][b] * 1.05 for a, b in zip(dp0[1], dp0[1][1:]))
    targets.append(("demand paging: exits >= 2x userfaultfd pages/s at 2 vCPUs",
                    r2 is not None and r2 >= 2, "-" if r2 is None else f"{r2:.2f}x"))
    targets.append(("demand paging: the ratio grows with the vCPU count",
                    grows and len(dp0[1]) > 1,
                    ", ".join(f"{v}: {dp0[2][v]:.2f}" for v in dp0[1])))
    grows_d = all(dpd[2][a] <= dpd[2][b] * 1.05 for a, b in zip(dpd[1], dpd[1][1:]))
    targets.append((f"demand paging with {delay} µs per page: the ratio grows with the vCPU count",
                    grows_d and len(dpd[1]) > 1,
                    ", ".join(f"{v}: {dpd[2][v]:.2f}" for v in dpd[1])))

    # 2. end-to-end
    pc = load(d, "postcopy.json")
    out.append("## 2. End-to-end postcopy (rig)\n")
    out.append("tests/bench/postcopy_bench.py: two of our QEMUs in L1 migrate the A/B guest "
               "(tests/guest/ab-guest.S: 128 MiB, the guest increments one byte in every page of "
               "[1, 64) MiB, pass after pass; *sequential* goes in address order, *random* in "
               "an LCG order) with postcopy; source `memfault=off`, destination `memfault=on` "
               "or `off`, alternating which goes first. Postcopy starts after 2 guest passes "
               f"of precopy; the source's `max-postcopy-bandwidth` is {pc['postcopy_bw_mib_s']} "
               "MiB/s, so that the guest runs ahead of the background stream and faults. "
               "Every migration checks the guest's memory (A/B invariant) on the destination. "
               "Networks: *lo* is loopback; *veth:RTT* puts source and destination in two "
               "network namespaces joined by a veth pair, netem delaying each direction by "
               "RTT/2 ms; *+preempt* turns postcopy-preempt on (urgent pages on a channel of "
               "their own).\n")
    if pc["nets"]:
        out.append("Measured round trips (TCP connect refused, best of 5): " + ", ".join(
            f"{n}: {v['ping_rtt_ms']:.3f} ms" for n, v in sorted(pc["nets"].items(),
                                                                 key=lambda kv: net_order(kv[0])))
            + ".\n")
    groups, ratios, xfer_ms = e2e_table(pc, out)
    e2e_plot(d, pc, groups)
    out.append("![latency CDF](latency-cdf.png)\n")
    out.append("How latency is measured: the destination runs with `-trace` of "
               "`kvm_memfault_exit`/`kvm_memfault_wake` (memfault=on: from the exit that starts "
               "a wait to the wake-up, in the vCPU thread) and "
               "`postcopy_blocktime_begin`/`_end` (memfault=off: from the fault thread "
               "reading the vCPU's fault off userfaultfd to the placement of the page). Both "
               "start a little after the fault itself (the exit trace follows the request's "
               "send; the fault thread reads the fault after the kernel queued it) and end at "
               "the wake-up. The destination's own `query-migrate` figures are in "
               "postcopy.json (`dst_memfault`: the engine's histogram; "
               "`dst_postcopy_blocktime_ms`).\n")
    if os.path.exists(os.path.join(d, "postcopy-path.json")):
        path_table(load(d, "postcopy-path.json"), out)
    elif not quick:
        raise Missing("postcopy-path.json is missing: the --trace-path pass did not run")
    for (net, guest), r in sorted(ratios.items(), key=lambda kv: (net_order(kv[0][0]), kv[0][1])):
        targets.append((f"end to end, {net} {guest}: p50 with memfault=on <= 0.7x off",
                        r is not None and r <= 0.7, "-" if r is None else f"{r:.2f}x"))
    for (net, guest), g in sorted(groups.items(), key=lambda kv: (net_order(kv[0][0]), kv[0][1])):
        if net.startswith("lo"):
            continue
        rtt = float(net.split("+")[0].split(":")[1])
        bound = 1.5 * (rtt + xfer_ms) * 1000
        p50 = med(g["on"], "p50_us")
        targets.append((f"end to end, {net} {guest}: memfault=on p50 <= 1.5 x (RTT + 4 KiB at "
                        f"{pc['postcopy_bw_mib_s']} MiB/s) = {bound:.0f} µs",
                        p50 is not None and p50 <= bound, f"{f0(p50)} µs"))

    # 3. engine
    out.append("## 3. Engine cost per fault (this machine)\n")
    out.append("tests/bench/engine_bench.cc (docs/benchmarks-engine.md explains both sides): "
               "the engine's exit -> request -> arrival -> wake round trip against a model of "
               "QEMU 10.0's `page_requested` GTree under one mutex, transport excluded. Median "
               "of the repetitions.\n")
    engine_table(load(d, "engine.json"), out)

    out.append("## Targets\n")
    out.append("| target | met | measured |")
    out.append("|---|---|---|")
    for what, ok, val in targets:
        out.append(f"| {what} | {'yes' if ok else '**no**'} | {val} |")
    out.append("")
    meta["targets"] = [{"target": t, "met": ok, "measured": v} for t, ok, v in targets]
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(out))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("\n".join(out[-(len(targets) + 4):]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Missing as e:
        print(f"report: error: {e}", file=sys.stderr)
        sys.exit(1)
