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
# QEMU's configure names the compiler in meson's native file, where meson does
# not add ccache by itself: the ccache package's masquerading links do, so a
# fresh checkout builds from the cache ($MF_CACHE/ccache, shared by checkouts).
[ -x /usr/lib/ccache/cc ] && flags+=(--cc=/usr/lib/ccache/cc --cxx=/usr/lib/ccache/c++)
want="${flags[*]}"
if [ "$(cat "$bld/.mf-configure" 2>/dev/null)" != "$want" ]; then
    step "QEMU: configure ${flags[*]:0:4}"
    rm -rf "$bld"; mkdir -p "$bld"
    (cd "$bld" && ../configure "${flags[@]}" > configure.log 2>&1) ||
        { tail -30 "$bld/configure.log"; die "QEMU configure failed (full log: build/qemu/build/configure.log)"; }
    echo "$want" > "$bld/.mf-configure"
fi

step "QEMU: build qemu-system-x86_64 and migration-test (ccache: $CCACHE_DIR)"
NINJA_STATUS='[QEMU %f/%t %es] ' ninja -C "$bld" qemu-system-x86_64 tests/qtest/migration-test "$@" |
    awk '/^\[QEMU/ { n++; if (n % 100 && $0 !~ /FAILED/) next } { print; fflush() }'
[ "${PIPESTATUS[0]}" = 0 ] || die "QEMU build failed"

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
