#!/usr/bin/env bash
# make demo: the main job -- a postcopy migration whose destination uses KVM
# memory-fault exits, inside the rig (Debian's linux 6.12 with our KVM modules,
# docs/rig.md) -- and its report.  If the rig itself cannot run, the same
# migration runs on this machine's KVM with memfault=auto instead, where the
# machine has one.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
tools_env
qemu="$MF_BUILD/qemu/build/qemu-system-x86_64"
guest="$MF_BUILD/lib/tests/guest/ab-guest.bin"
args=(--qemu "$qemu" --probe "$MF_BUILD/lib/memfault-probe" --guest "$guest")
[ -f "$guest" ] || ninja -C "$MF_BUILD/lib" tests/guest/ab-guest.bin >/dev/null
args+=(--modules "$(basename "$(readlink -f "$MF_BUILD/kvm-modules/current" 2>/dev/null || echo none)")")
cd "$MF_ROOT/tests/functional"
rc=0
"$MF_ROOT/tests/rig/run" --timeout 300 -- "$MF_PYTHON" demo.py "${args[@]}" || rc=$?
if [ "$rc" = 125 ]; then
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        step "demo: the rig could not run (see above), and this machine has no usable /dev/kvm to run the migration on instead"
        exit "$rc"
    fi
    step "demo: the rig could not run (see above); the migration on this machine's KVM instead"
    exec "$MF_PYTHON" demo.py "${args[@]}" --host
fi
exit "$rc"
