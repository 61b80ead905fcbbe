#!/usr/bin/python3
"""make demo: the main job, with a readable report.

A real postcopy live migration whose destination resolves missing pages with
KVM memory-fault exits (-accel kvm,memfault=on).  demo.sh runs this inside the
rig (tests/rig/run: Debian's linux 6.12 with our KVM modules); then the same
migration with memfault=off (classic userfaultfd postcopy), for comparison.
With --host it runs on this machine's KVM instead, with memfault=auto.
"""

import argparse
import io
import os
import platform
import subprocess
import sys
from contextlib import redirect_stdout

from migrate import Migration, fmt_stats, parse_args
from qemu_harness import TestFailure


def section(title):
    print(f"\n{title}\n{'-' * len(title)}", flush=True)


def kernel_report(opts):
    print(f"kernel           {platform.release()} ({'rig L1' if not opts.host else 'this machine'})")
    mods = opts.modules
    if not opts.host:
        loaded = sorted(m for m in ("kvm", "kvm_amd", "kvm_intel") if os.path.isdir(f"/sys/module/{m}"))
        print(f"kvm modules      {', '.join(loaded)}: ours, built from patches/linux"
              + (f" ({mods})" if mods else ""))
    probe = subprocess.run([opts.probe], capture_output=True, text=True)
    for line in probe.stdout.splitlines():
        print(f"  probe: {line}")
    if probe.returncode not in (0, 2):
        raise TestFailure(f"memfault-probe failed: {probe.stderr}")
    ver = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True)
    print(f"QEMU             {ver.stdout.splitlines()[0]} (patches/qemu applied)")
    return probe.returncode == 0


def migrate(opts, memfault, quiet=False):
    args = ["--qemu", opts.qemu, "--guest", opts.guest, "--memfault", memfault,
            "--postcopy-bw", str(opts.postcopy_bw)]
    if memfault == "on":
        args.append("--expect-exits")
    mopts = parse_args(args)
    m = Migration(mopts)
    out = io.StringIO()
    try:
        if quiet:
            with redirect_stdout(out):
                m.run()
        else:
            m.run()
    except TestFailure:
        if quiet:
            print(out.getvalue())
        raise
    return mopts, m


def report(mopts, m):
    r = m.result
    section("settings")
    print(f"source           QEMU {r['src_version']}: -accel {r['src_accel']}, -machine {mopts.machine}, "
          f"-cpu qemu64,pni=off, -m {mopts.mem}, capability postcopy-ram")
    print(f"destination      QEMU {r['dst_version']}: -accel {r['dst_accel']}, -incoming defer, "
          "capabilities postcopy-ram, postcopy-blocktime")
    print(f"guest            A/B boot sector: increments one byte per 4 KiB page of "
          f"[1, {mopts.end_mib}) MiB in a loop")
    print("migration        TCP on loopback; precopy for 2 guest passes, then migrate-start-postcopy;"
          f" max-postcopy-bandwidth {mopts.postcopy_bw} MiB/s")
    section("timeline")
    for t, what in m.timeline:
        print(f"  {t:6.1f} s  {what}")
    section("statistics (destination query-migrate)")
    print(f"migration        total {r['total_time_ms']} ms, downtime {r['downtime_ms']} ms")
    for line in fmt_stats(r["dst_info"]):
        print(line)
    section("verdict")
    print(f"integrity        OK: {r['integrity']}")


def blocked_ms(info):
    """Time the vCPUs were blocked on missing pages, in ms, and by which path."""
    mf = info.get("postcopy-memfault")
    if mf:
        # QEMU's postcopy-blocktime counts the same waits (up to the page's
        # placement, not the vCPU's resume): adding it would count them twice.
        return sum(v["blocktime"] for v in mf["vcpus"]) / 1000, mf["exits"]
    return info.get("postcopy-blocktime") or 0, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--modules", help="the kvm module build in use, for the report")
    ap.add_argument("--postcopy-bw", type=int, default=16,
                    help="max-postcopy-bandwidth (MiB/s): slow the background stream so the "
                         "guest runs into missing pages")
    ap.add_argument("--host", action="store_true",
                    help="run on this machine's KVM with memfault=auto (no rig)")
    opts = ap.parse_args()

    print("qemu-memfault demo: postcopy live migration with KVM memory-fault exits")
    print("=======================================================================")
    try:
        supported = kernel_report(opts)
        mode = "auto" if opts.host else "on"
        if not supported and mode == "on":
            raise TestFailure("this kernel lacks KVM Userfault: run the demo through the rig")
        section(f"migration with -accel kvm,memfault={mode}")
        print("running (about 10 s) ...", flush=True)
        mopts, m = migrate(opts, mode, quiet=True)
        report(mopts, m)
        if opts.host:
            return 0
        section("the same migration with memfault=off (userfaultfd postcopy)")
        print("running (about 10 s) ...", flush=True)
        _, off = migrate(opts, "off", quiet=True)
        print(f"integrity        OK: {off.result['integrity']}")
        for line in fmt_stats(off.result["dst_info"]):
            print(line)
    except TestFailure as e:
        print(f"\nFAILED: {e}")
        return 1
    on_b, on_exits = blocked_ms(m.result["dst_info"])
    off_b, _ = blocked_ms(off.result["dst_info"])
    print(f"\ncomparison: memfault=on {m.result['total_time_ms']} ms total, vCPU blocked "
          f"{on_b:.1f} ms over {on_exits} memory-fault exits | memfault=off "
          f"{off.result['total_time_ms']} ms total, vCPU blocked {off_b:.1f} ms in userfaultfd "
          "| both: memory intact (one run each; rig timings are TCG-distorted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
