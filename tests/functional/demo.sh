#!/usr/bin/env bash
# make demo: run the main job on the built tree and print its report.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
tools_env
exec "$MF_PYTHON" "$MF_ROOT/tests/functional/demo.py" \
    --qemu "$MF_BUILD/qemu/build/qemu-system-x86_64" \
    --probe "$MF_BUILD/lib/memfault-probe" \
    --boot "$MF_BUILD/lib/tests/guest/boot-serial.bin"
