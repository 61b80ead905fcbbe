#!/usr/bin/env bash
# Configure (when needed) and build QEMU from build/qemu into build/qemu/build,
# linked against the library in build/prefix through pkg-config.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tools_env

src="$MF_BUILD/qemu" bld="$MF_BUILD/qemu/build"
export PKG_CONFIG_PATH="$MF_BUILD/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

flags=(--target-list=x86_64-softmmu --enable-kvm --disable-tcg --enable-memfault
       --disable-docs --disable-rust --disable-install-blobs --disable-werror
       --python=/usr/bin/python3)
# shellcheck disable=SC2207
flags+=($(qemu_ccache_flags))
want="${flags[*]}"
if [ "$(cat "$bld/.mf-configure" 2>/dev/null)" != "$want" ]; then
    step "QEMU: configure ${flags[*]:0:4}"
    rm -rf "$bld"; mkdir -p "$bld"
    (cd "$bld" && ../configure "${flags[@]}" > configure.log 2>&1) ||
        { tail -30 "$bld/configure.log"; die "QEMU configure failed (full log: build/qemu/build/configure.log)"; }
    echo "$want" > "$bld/.mf-configure"
fi

step "QEMU: build qemu-system-x86_64, migration-test and test-postcopy-memfault (ccache: $CCACHE_DIR)"
qemu_ninja QEMU 100 "$bld" qemu-system-x86_64 tests/qtest/migration-test \
    tests/unit/test-postcopy-memfault "$@" ||
    die "QEMU build failed"

# A QEMU run from its build tree looks for firmware in qemu-bundle: point it at
# Debian's seabios, qemu-system-data and ipxe-qemu files.
fw="$bld/qemu-bundle/usr/local/share/qemu"
mkdir -p "$fw"
for d in /usr/share/seabios /usr/share/qemu /usr/lib/ipxe/qemu; do
    for f in "$d"/*; do
        t="$fw/${f##*/}"
        [ -e "$f" ] && [ ! -e "$t" ] && [ ! -L "$t" ] && ln -s "$f" "$t"
    done
done
true
