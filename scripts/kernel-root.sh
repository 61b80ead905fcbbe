#!/usr/bin/env bash
# A private Debian trixie build root for the modules of kernels that Debian
# builds for trixie (linux 7.3 from trixie-backports).  Their linux-headers and
# linux-kbuild packages want trixie's compiler (gcc-14, which built the kernel:
# CONFIG_CC_VERSION_TEXT), binutils 2.44 and pahole 1.30 (the modules' BTF),
# and kbuild's host tools link glibc >= 2.38, libelf1t64 and libssl3t64, none
# of which bookworm has.  Nothing of trixie is installed on the machine: the
# packages listed in scripts/kernel-root.lock (name, version, sha256: the
# closure of what a module build runs) are downloaded with the private apt
# (scripts/debian-apt.sh) into $MF_CACHE/downloads/kernel-root, checked, and
# unpacked with dpkg-deb -x into $MF_CACHE/kernel-root/<hash>; no maintainer
# script runs.  Commands run in it chrooted, in a private mount namespace in
# which $MF_BUILD and $MF_CACHE appear at their own paths.
#
#   scripts/kernel-root.sh path          unpack the root if needed; print it
#   scripts/kernel-root.sh run CMD...    run CMD in the root, in the current
#                                        directory (under $MF_BUILD or $MF_CACHE)
#   scripts/kernel-root.sh lock          resolve the package list again against
#                                        trixie (private apt) and rewrite the lock
#
# Debian's archive keeps only the current version of a trixie package.  When a
# point release has replaced a locked one that is not cached, the current one
# is used instead (apt checks its signature), with a message saying so; run
# `lock` then and commit the new lock.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LOCK="$MF_ROOT/scripts/kernel-root.lock"
DL="$MF_CACHE/downloads/kernel-root"
APT="$MF_ROOT/scripts/debian-apt.sh"
# What a module build runs: the compiler and binutils, make, the shell tools
# kbuild's recipes use, pahole for BTF, kmod, bc, ccache; kbuild's own tools
# bring in libelf1t64, libssl3t64 and zlib1g through the list below.
PACKAGES='gcc-14 libc6-dev binutils make pahole libelf1t64 libssl3t64 zlib1g
 bc kmod ccache dash bash coreutils sed grep mawk findutils diffutils tar gzip
 xz-utils perl-base'

# The closure of $PACKAGES in trixie, as the lock's lines: NAME VERSION SHA256 FILE.
resolve() {
    local tmp
    tmp=$(mktemp -d)
    : > "$tmp/status"
    "$APT" update >&2
    # An empty dpkg status: apt resolves the whole closure, as for a new root.
    "$APT" apt-get -o Dir::State::status="$tmp/status" \
        -o Dir::State::extended_states="$tmp/ext" -o Dir::Cache="$tmp/cache" \
        -o APT::Architectures=amd64 -o APT::Install-Recommends=false \
        -t trixie install --print-uris -qq $PACKAGES > "$tmp/uris" ||
        die "apt could not resolve the build root's packages in trixie"
    # 'URI' FILE SIZE HASH; the sha256 comes from the (signed) Packages index.
    local f n v h
    while read -r _ f _; do
        n=${f%%_*} v=${f#*_}; v=${v%_*}; v=${v//%3a/:}
        h=$("$APT" apt-cache show "$n=$v" | sed -n 's/^SHA256: //p' | head -n1)
        [ -n "$h" ] || die "no sha256 for $n $v in the index"
        printf '%s %s %s %s\n' "$n" "$v" "$h" "$f"
    done < "$tmp/uris" | sort
    rm -rf "$tmp"
}

# FILE for NAME=VERSION in $DL, downloaded if missing; checked against SHA256.
# When the archive no longer has VERSION, the current version is taken.
fetch_deb() {   # NAME VERSION SHA256 FILE
    local name=$1 ver=$2 sha=$3 file=$4 f
    f="$DL/$file"
    if [ ! -f "$f" ]; then
        (cd "$DL" && "$APT" download "$name=$ver" >/dev/null 2>&1) || true
    fi
    if [ -f "$f" ]; then
        sha256_check "$f" "$sha"
        printf '%s\n' "$f"; return
    fi
    step "kernel root: trixie no longer has $name $ver; taking its current version (apt checks it; run scripts/kernel-root.sh lock)"
    (cd "$DL" && "$APT" download "$name" >&2) || die "could not download $name from trixie"
    f=$(ls -t "$DL/${name}_"*.deb | head -n1)
    printf '%s\n' "$f"
}

root_path() {
    [ -f "$LOCK" ] || die "$LOCK is missing (scripts/kernel-root.sh lock writes it)"
    local key root n=0 total f name ver sha file
    key=$(sha256sum < "$LOCK" | cut -c1-16)
    root="$MF_CACHE/kernel-root/$key"
    if [ ! -f "$root/.done" ]; then
        mkdir -p "$DL"
        "$APT" update >&2
        total=$(grep -c . "$LOCK")
        step "kernel root: downloading and unpacking $total trixie packages into the cache (not installed; ~300 MB, ~1 min)"
        rm -rf "$root.tmp"; mkdir -p "$root.tmp"
        while read -r name ver sha file; do
            case "$name" in ''|'#'*) continue ;; esac
            f=$(fetch_deb "$name" "$ver" "$sha" "$file") || exit 1
            dpkg-deb -x "$f" "$root.tmp" || die "could not unpack $f"
            n=$((n + 1))
            [ $((n % 20)) != 0 ] || step "kernel root: $n/$total packages unpacked"
        done < "$LOCK"
        # What maintainer scripts would have set up: awk is an alternative.
        ln -sfn mawk "$root.tmp/usr/bin/awk"
        [ -x "$root.tmp/usr/bin/x86_64-linux-gnu-gcc-14" ] || die "the kernel root has no gcc-14"
        rm -rf "$root"; mv "$root.tmp" "$root"
        touch "$root/.done"
        step "kernel root: ready ($root)"
    fi
    printf '%s\n' "$root"
}

# Run "$@" chrooted into the root, in a mount namespace of its own (nothing
# outside sees its mounts, and they vanish with it): /dev, /proc, and
# $MF_BUILD and $MF_CACHE at their own paths.
run_in_root() {
    local root userns=()
    root=$(root_path)
    [ "$(id -u)" = 0 ] || userns=(--map-root-user)
    unshare "${userns[@]}" --mount --propagation private -- /bin/sh -c '
        root=$1 wd=$2; shift 2
        for d in /dev /proc "$MF_BUILD" "$MF_CACHE"; do
            mkdir -p "$root$d" && mount --rbind "$d" "$root$d" || exit 125
        done
        exec chroot "$root" /usr/bin/env -i PATH=/usr/bin HOME=/tmp LANG=C.UTF-8 \
            /bin/sh -c "cd \"\$0\" 2>/dev/null || cd /; exec \"\$@\"" "$wd" "$@"' \
        sh "$root" "$PWD" "$@"
}

case "${1:-}" in
path) root_path ;;
run) shift; [ $# -gt 0 ] || die "usage: $0 run CMD..."; run_in_root "$@" ;;
lock)
    {
        echo "# The trixie build root of scripts/kernel-root.sh: NAME VERSION SHA256 FILE."
        echo "# Written by 'scripts/kernel-root.sh lock' (apt's resolution of its package list)."
        resolve
    } > "$LOCK.tmp"
    mv "$LOCK.tmp" "$LOCK"
    step "kernel root: wrote ${LOCK#"$MF_ROOT"/} ($(grep -vc '^#' "$LOCK") packages)" ;;
*) die "usage: $0 path | run CMD... | lock" ;;
esac
