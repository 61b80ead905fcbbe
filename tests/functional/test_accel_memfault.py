#!/usr/bin/python3
"""-accel kvm,memfault=on|off|auto on the KVM of the kernel it runs on.

    test_accel_memfault.py --qemu BIN --boot IMG --expect absent|present|no-kvm CASE...

CASE is one of: boot, auto, off, on, invalid, readahead, mechanism, help (QOM
introspection),
no-kvm.
--expect says what the kernel under test has: KVM with KVM Userfault
("present": the rig with our modules), KVM without it ("absent": the rig with
Debian's modules, tests/rig/run --stock), or no /dev/kvm at all ("no-kvm":
tests/rig/run --no-kvm, the case of a machine whose kernel does not bind KVM).
Every case given runs, each printing "ok CASE" or "FAIL CASE: why"; the exit
status is 1 when any failed.
"""

import argparse
import os
import sys

from qemu_harness import GUEST_CPU, Qemu, TestFailure, check

BOOT_LINE = "qemu-memfault: boot sector reached"
# SeaBIOS is slow to reach the boot sector under some hosts' KVM (~20 s seen).
BOOT_TIMEOUT = 120


def guest_args(opts, accel="kvm", trace=True):
    return ["-accel", accel, "-cpu", GUEST_CPU, "-machine", "pc", "-m", "64",
            "-drive", f"file={opts.boot},format=raw,if=ide,snapshot=on"] + \
        (["-trace", "kvm_memfault_probe"] if trace else [])


def boot_and_check_kvm(opts, accel):
    """Boot the boot sector under @accel; return QEMU's stderr."""
    with Qemu(opts.qemu, guest_args(opts, accel), name="boot") as q:
        kvm = q.qmp("query-kvm")
        check(kvm == {"enabled": True, "present": True},
              f"QEMU is not running on KVM: query-kvm says {kvm}")
        q.wait_serial(BOOT_LINE, BOOT_TIMEOUT)
        q.qmp("quit")
        check(q.wait_exit(30) == 0, "QEMU did not quit cleanly")
        return q.stderr()


def probe_lines(stderr):
    return [l for l in stderr.splitlines() if "kvm_memfault_probe" in l]


def others(stderr):
    """stderr minus the trace lines we asked for."""
    return [l for l in stderr.splitlines() if "kvm_memfault_probe" not in l]


def case_boot(opts):
    """Default accelerator options: boots under KVM, memfault resolves to auto."""
    err = boot_and_check_kvm(opts, "kvm")
    probe = probe_lines(err)
    check(len(probe) == 1 and "memfault=auto" in probe[0],
          f"expected one kvm_memfault_probe trace with memfault=auto, got {probe}")


def case_auto(opts):
    """auto starts and runs; on a kernel without KVM Userfault it says nothing."""
    err = boot_and_check_kvm(opts, "kvm,memfault=auto")
    probe = probe_lines(err)
    want = "supported=1" if opts.expect == "present" else "supported=0"
    check(len(probe) == 1 and "memfault=auto" in probe[0] and want in probe[0],
          f"expected the probe trace to record memfault=auto {want}, got {probe}")
    check(others(err) == [], f"memfault=auto printed something: {others(err)}")


def case_off(opts):
    """off runs and never probes the kernel."""
    err = boot_and_check_kvm(opts, "kvm,memfault=off")
    probe = probe_lines(err)
    check(len(probe) == 1 and "memfault=off supported=0 mechanism=- disabled" in probe[0],
          f"expected memfault=off to skip the probe, got {probe}")
    check(others(err) == [], f"memfault=off printed something: {others(err)}")


def refused(opts, accel, what, trace=True):
    """Start QEMU with @accel, which must make it refuse to start: exit
    status 1, the guest never ran.  Returns QEMU's stderr."""
    q = Qemu(opts.qemu, guest_args(opts, accel, trace), name="refused", qmp=False).start()
    try:
        rc = q.wait_exit(60)
        err = q.stderr()
        print(err, end="")
        check(rc == 1, f"{what}: exit status {rc}, want 1")
        check(q.serial() == "", f"the guest ran despite {what}")
        return err
    finally:
        q.cleanup()


def case_on(opts):
    """on: refuses to start naming the capability (absent), or runs (present)."""
    if opts.expect == "present":
        boot_and_check_kvm(opts, "kvm,memfault=on")
        return
    err = refused(opts, "kvm,memfault=on", "memfault=on on a kernel without KVM Userfault")
    first = others(err)[0] if others(err) else ""
    check("memfault=on" in first and "KVM_CAP_USERFAULT" in first,
          f"the first line must name memfault=on and KVM_CAP_USERFAULT: {first!r}")


def case_invalid(opts):
    """An invalid value is rejected with QEMU's message and the valid values."""
    err = refused(opts, "kvm,memfault=maybe", "memfault=maybe")
    check("Parameter 'memfault' does not accept value 'maybe'" in err,
          "missing QEMU's usual invalid-value message")
    check("Valid values are on, off and auto." in err, "the valid values are not listed")
    check(probe_lines(err) == [], "QEMU probed the kernel despite a bad option")


def case_readahead(opts):
    """memfault-readahead: pages, at most the engine's 512; others refused."""
    err = refused(opts, "kvm,memfault-readahead=513", "memfault-readahead=513")
    check("memfault-readahead must be at most 512 pages" in err,
          f"no clear message for a read-ahead over the limit: {others(err)}")
    err = refused(opts, "kvm,memfault-readahead=lots", "memfault-readahead=lots")
    check("memfault-readahead" in err, f"the message does not name the option: {others(err)}")
    boot_and_check_kvm(opts, "kvm,memfault-readahead=512")
    boot_and_check_kvm(opts, "kvm,memfault-readahead=0")


def case_mechanism(opts):
    """memfault-mechanism: the probe names the one chosen; a named one that
    the kernel lacks is refused with memfault=on, naming its capability."""
    if opts.expect == "present":
        # Our modules have both: auto prefers KVM Userfault.
        for accel, want in (("kvm,memfault=on", "mechanism=userfault"),
                            ("kvm,memfault=on,memfault-mechanism=userfault",
                             "mechanism=userfault"),
                            ("kvm,memfault=on,memfault-mechanism=exit-on-missing",
                             "mechanism=exit-on-missing")):
            probe = probe_lines(boot_and_check_kvm(opts, accel))
            check(len(probe) == 1 and "supported=1" in probe[0] and want in probe[0],
                  f"{accel}: expected the probe trace to record {want}, got {probe}")
    else:
        err = refused(opts, "kvm,memfault=on,memfault-mechanism=exit-on-missing",
                      "memfault-mechanism=exit-on-missing on a kernel without it")
        first = others(err)[0] if others(err) else ""
        check("memfault=on" in first and "KVM_CAP_EXIT_ON_MISSING" in first
              and "KVM_CAP_USERFAULT" not in first,
              f"the first line must name memfault=on and KVM_CAP_EXIT_ON_MISSING alone: {first!r}")
        err = refused(opts, "kvm,memfault=on", "memfault=on on a kernel with neither")
        first = others(err)[0] if others(err) else ""
        check("KVM_CAP_USERFAULT" in first and "KVM_CAP_EXIT_ON_MISSING" in first,
              f"with neither mechanism, the first line must name both capabilities: {first!r}")
        probe = probe_lines(boot_and_check_kvm(
            opts, "kvm,memfault=auto,memfault-mechanism=exit-on-missing"))
        check(len(probe) == 1 and "supported=0 mechanism=-" in probe[0],
              f"auto must fall back quietly, got {probe}")
    err = refused(opts, "kvm,memfault-mechanism=bitmap", "memfault-mechanism=bitmap")
    check("Invalid memfault-mechanism 'bitmap'" in err,
          f"no clear message for a bad mechanism: {others(err)}")
    check("Valid values are auto, userfault and exit-on-missing." in err,
          "the valid mechanisms are not listed")


def case_no_kvm(opts):
    """Without /dev/kvm, every memfault value fails exactly as -accel kvm does
    (QEMU's own message): memfault adds nothing to a machine without KVM."""
    check(opts.expect == "no-kvm", "the no-kvm case needs --expect no-kvm")
    check(not os.path.exists("/dev/kvm"), "/dev/kvm exists: not a kernel without KVM")
    plain = refused(opts, "kvm", "-accel kvm without /dev/kvm", trace=False)
    check("/dev/kvm" in plain or "KVM" in plain,
          f"QEMU's failure does not mention KVM: {plain!r}")
    for value in ("on", "auto", "off"):
        err = refused(opts, f"kvm,memfault={value}", f"memfault={value} without /dev/kvm",
                      trace=False)
        # QEMU prefixes each line with the option it came from.
        err = err.replace(f"-accel kvm,memfault={value}: ", "-accel kvm: ")
        check(err == plain,
              f"memfault={value} must fail as plain -accel kvm does ({plain!r}), got {err!r}")


def case_help(opts):
    """The property is introspectable, with its values and a description."""
    with Qemu(opts.qemu, ["-machine", "none", "-accel", "kvm"], name="help") as q:
        props = {p["name"]: p for p in q.qmp("qom-list-properties", typename="kvm-accel")}
        q.qmp("quit")
    check("memfault" in props, f"kvm-accel has no memfault property: {sorted(props)}")
    p = props["memfault"]
    print(p)
    check(p.get("type") == "on|off|auto", f"memfault type is {p.get('type')!r}")
    check("postcopy" in p.get("description", ""), "memfault has no useful description")
    r = props.get("memfault-readahead", {})
    print(r)
    check(r.get("type") == "uint32", f"memfault-readahead type is {r.get('type')!r}")
    check("default: 16" in r.get("description", ""),
          "memfault-readahead's description does not give its default")
    m = props.get("memfault-mechanism", {})
    print(m)
    check(m.get("type") == "string", f"memfault-mechanism type is {m.get('type')!r}")
    check("exit-on-missing" in m.get("description", "") and "default" in m.get("description", ""),
          "memfault-mechanism's description does not list its values and default")


CASES = {name[5:].replace("_", "-"): fn for name, fn in globals().items()
         if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--boot", required=True)
    ap.add_argument("--expect", choices=["absent", "present", "no-kvm"], required=True)
    ap.add_argument("case", choices=sorted(CASES), nargs="+")
    opts = ap.parse_args()
    failed = 0
    for case in opts.case:
        print(f"== {case}: {CASES[case].__doc__.splitlines()[0]}", flush=True)
        try:
            CASES[case](opts)
        except TestFailure as e:
            print(f"FAIL {case}: {e}", flush=True)
            failed += 1
            continue
        print(f"ok {case}", flush=True)
    if len(opts.case) > 1:
        print(f"{len(opts.case) - failed} of {len(opts.case)} cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
