#!/usr/bin/env bash
# The rig's L0 QEMU (the TCG that runs L1): prints the command line prefix to
# run it, one word per line, fetching and unpacking it first when needed.
#
#   scripts/rig-l0.sh [10.0|10.2|7.2]     (default: $MF_RIG_L0, else 10.2)
#
#   10.0  bookworm-backports' qemu-system-x86 (scripts/pins.sh: RIG_L0_*),
#         downloaded with the private apt, checked, unpacked with dpkg-deb -x
#         into $MF_CACHE/l0/<version>; every library it links is bookworm's.
#   10.2  QEMU 10.2.2 built here with TCG only, from the series' base: the
#         pinned source in build/qemu at tag "base" (Debian's patches, none of
#         ours), in a worktree under build/qemu-l0; built on first use
#         (~10 min on 2 cores with an empty ccache).
#   7.2   the system's Debian QEMU (/usr/bin/qemu-system-x86_64), the L0 of
#         earlier measurements (docs/rig.md), kept to compare against.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

which=${1:-${MF_RIG_L0:-10.2}}
case "$which" in
7.2)
    q=/usr/bin/qemu-system-x86_64
    [ -x "$q" ] || apt_install qemu-system-x86
    "$q" --version | grep -q 'version 7\.2\.' ||
        die "$q is not Debian bookworm's QEMU 7.2: $("$q" --version | head -n 1)"
    printf '%s\n' "$q"
    exit 0 ;;
10.0) ;;
10.2)
    src=$MF_BUILD/qemu bld=$MF_BUILD/qemu-l0
    [ -d "$src/.git" ] || die "no QEMU source in build/qemu: run ./configure first"
    # The source's tree, not the commit: build/qemu is made again with new
    # commit dates whenever the series changes, from the same source.
    want=$(git -C "$src" rev-parse 'base^{tree}')
    if [ "$(cat "$bld/.done" 2>/dev/null)" != "$want" ]; then
        step "rig: building the L0 QEMU 10.2.2 (TCG only, without the series) into build/qemu-l0 (~10 min on 2 cores, less with ccache)"
        tools_env
        rm -rf "$bld"
        git -C "$src" worktree prune
        git -C "$src" worktree add -q -f --detach "$bld/src" base
        # The release tarball's subprojects (keycodemapdb, softfloat) are not in git.
        cp -an "$src/subprojects/." "$bld/src/subprojects/"
        mkdir -p "$bld/src/build"
        flags=(--target-list=x86_64-softmmu --enable-tcg --disable-kvm --disable-docs
               --disable-rust --disable-install-blobs --disable-werror --disable-gtk
               --disable-sdl --disable-vnc --disable-spice --python=/usr/bin/python3)
        # shellcheck disable=SC2207
        flags+=($(qemu_ccache_flags))
        (cd "$bld/src/build" && ../configure "${flags[@]}" > configure.log 2>&1) ||
            die "L0 QEMU configure failed (log: build/qemu-l0/src/build/configure.log)"
        qemu_ninja 'L0 QEMU' 200 "$bld/src/build" qemu-system-x86_64 >&2 ||
            die "L0 QEMU build failed"
        echo "$want" > "$bld/.done"
    fi
    # Firmware: the system's SeaBIOS and qemu-system-data's option ROMs.
    printf '%s\n' "$bld/src/build/qemu-system-x86_64" -L /usr/share/seabios -L /usr/share/qemu
    exit 0 ;;
*) die "unknown L0 '$which': 10.0 (bookworm-backports), 10.2 (built here) or 7.2 (the system's)" ;;
esac

ver=$RIG_L0_DEB_VERSION
dir="$MF_CACHE/l0/${ver//[~:]/_}"
if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
    for p in "qemu-system-x86:amd64:$RIG_L0_X86_SHA256" "qemu-system-common:amd64:$RIG_L0_COMMON_SHA256" \
             "qemu-system-data:all:$RIG_L0_DATA_SHA256"; do
        IFS=: read -r pkg arch sha <<< "$p"
        f=$("$MF_ROOT/scripts/debian-apt.sh" fetch "${pkg}_${ver//:/%3a}_$arch.deb" "$sha" \
            download "$pkg=$ver")
        dpkg-deb -x "$f" "$dir.tmp"
    done
    missing=$(ldd "$dir.tmp/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
    [ -z "$missing" ] || die "the L0 QEMU $ver needs libraries this system lacks: $missing"
    rm -rf "$dir"; mv "$dir.tmp" "$dir"
    touch "$dir/.done"
    step "rig: L0 QEMU $ver unpacked into $dir"
fi
# SeaBIOS comes from the system's seabios package (the data package links to it).
printf '%s\n' "$dir/usr/bin/qemu-system-x86_64" -L "$dir/usr/share/qemu" -L /usr/share/seabios
