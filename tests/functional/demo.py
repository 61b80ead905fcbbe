#!/usr/bin/python3
"""make demo: the main job, with a readable report.

Today: probe the kernel for KVM Userfault, then boot a guest on the built QEMU
with -accel kvm,memfault=auto and report what QEMU decided.  (The postcopy
migration joins this job when the QEMU integration lands.)
"""

import argparse
import os
import platform
import subprocess
import sys
import time

from qemu_harness import GUEST_CPU, Qemu, TestFailure

BOOT_LINE = "qemu-memfault: boot sector reached"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--boot", required=True)
    opts = ap.parse_args()

    print("qemu-memfault demo")
    print("==================")
    print(f"host kernel      {platform.release()}")
    probe = subprocess.run([opts.probe], capture_output=True, text=True)
    for line in probe.stdout.splitlines():
        print(f"  {line}")
    if probe.returncode not in (0, 2):
        print(f"memfault-probe failed: {probe.stderr}")
        return 1

    ver = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True)
    print(f"QEMU             {ver.stdout.splitlines()[0]}")
    print("run              -accel kvm,memfault=auto, boot sector guest")
    t0 = time.monotonic()
    try:
        with Qemu(opts.qemu, ["-accel", "kvm,memfault=auto", "-cpu", GUEST_CPU, "-machine", "pc", "-m", "64",
                              "-drive", f"file={opts.boot},format=raw,if=ide,snapshot=on",
                              "-trace", "kvm_memfault_probe"], name="demo") as q:
            kvm = q.qmp("query-kvm")
            q.wait_serial(BOOT_LINE, 120)
            elapsed = time.monotonic() - t0
            q.qmp("quit")
            q.wait_exit(30)
            trace = [l for l in q.stderr().splitlines() if "kvm_memfault_probe" in l]
    except TestFailure as e:
        print(f"FAILED: {e}")
        return 1
    print(f"accelerator      KVM enabled={kvm['enabled']}")
    print(f"guest            printed {BOOT_LINE!r} after {elapsed:.1f} s")
    print(f"memfault         {trace[0].split('kvm_memfault_probe ', 1)[-1] if trace else '?'}")
    supported = probe.returncode == 0
    print("result           " + ("memory-fault exits available for incoming postcopy"
                                 if supported else
                                 "kernel lacks KVM Userfault: postcopy would use userfaultfd (auto)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
