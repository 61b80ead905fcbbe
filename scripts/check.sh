#!/usr/bin/env bash
# The project's test command (make check): every suite through meson test, then
# one summary line, "N passed, N failed", which is always the last line printed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

summary() {
    "$MF_PYTHON" - "$MF_BUILD/lib/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {}
tails = []
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        counts[r["result"]] = counts.get(r["result"], 0) + 1
        if r["result"] not in ("OK", "EXPECTEDFAIL"):
            out = (r.get("stdout") or "") + (r.get("stderr") or "")
            tails.append((r["name"], r["result"], out.rstrip().splitlines()[-12:]))
except FileNotFoundError:
    pass
# meson printed each failed test's log as it ended, far above; CI keeps only
# the end of the output, so each failure's last lines come again here, where
# they are kept with the summary (the rig's own "rig: error:" line among them).
for name, result, lines in tails:
    print(f"---- {name}: {result}, its last {len(lines)} lines ----")
    for l in lines:
        print("  " + l[:200])
ok = counts.pop("OK", 0) + counts.pop("EXPECTEDFAIL", 0)
# No test of the project skips (docs/testing.md): a skip is a test that did
# not run, e.g. exit status 77 from a crash, and counts as failed.
skip = counts.get("SKIP", 0)
failed = sum(counts.values())
if skip:
    print(f"{skip} skipped (counted as failed: no test of the project skips)")
print(f"{ok} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
}

tools_env
rm -f "$MF_BUILD/lib/meson-logs/testlog.json"
step "check: running the test suites (meson test)"
# Suite rig-full (QEMU's whole postcopy qtest set on Debian's kvm modules, and
# the memfault recovery qtest, which hangs now and then in the rig, docs/rig.md)
# only when asked: make check-full (MF_CHECK_FULL=1), or scripts/check.sh
# --suite NAME.
args=("$@")
[ $# -gt 0 ] || [ "${MF_CHECK_FULL:-0}" = 1 ] || args=(--no-suite rig-full)
# Two tests at a time (MF_CHECK_JOBS): a rig test is one L1 with one CPU, i.e.
# one core and 2-4 GiB; the benchmarks run alone (is_parallel: false).
"$MF_ROOT/scripts/meson" test -C "$MF_BUILD/lib" --print-errorlogs \
    --num-processes "${MF_CHECK_JOBS:-2}" "${args[@]}"
rc=$?
summary || rc=1
exit $rc
