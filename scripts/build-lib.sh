#!/usr/bin/env bash
# Build the C++ library (and its tests) with meson in build/lib and install the
# library, its C header and its pkg-config file into build/prefix.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tools_env

src="$MF_ROOT" bld="$MF_BUILD/lib" prefix="$MF_BUILD/prefix"
qemu_bin="$MF_BUILD/qemu/build/qemu-system-x86_64"
if [ ! -f "$bld/build.ninja" ]; then
    step "library: meson setup (clang++, C++20)"
    CC=gcc CXX=clang++ "$MF_PYTHON" "$MF_BUILD/tools/usr/bin/meson" setup "$bld" "$src" \
        --prefix="$prefix" --libdir=lib --buildtype=debugoptimized \
        -Dqemu_binary="$qemu_bin" >/dev/null
fi
step "library: build"
NINJA_STATUS='[library %f/%t] ' ninja -C "$bld" | grep -v '^ninja: Entering' || die "library build failed"
ninja -C "$bld" install >/dev/null || die "library install failed"
