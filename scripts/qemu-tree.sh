#!/usr/bin/env bash
# The QEMU series is developed as commits in the git checkout build/qemu and
# exported to patches/qemu/*.patch.  Tags in the checkout:
#   upstream   the pinned orig tarball, as Debian ships it
#   base       upstream + what makes the +ds tarball buildable; the series starts here
#   debian/<version>  the Debian version base was made from: a new pin makes a new checkout
#
#   scripts/qemu-tree.sh sync     create the checkout if needed; (re)apply patches/qemu
#                                 with git am when they changed.  Refuses to throw away
#                                 commits or edits that were never exported.
#   scripts/qemu-tree.sh export   write base..HEAD back to patches/qemu (git format-patch)
#   scripts/qemu-tree.sh reset    drop local work and re-apply patches/qemu
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series_tree="$MF_BUILD/qemu" series_dir="$MF_ROOT/patches/qemu"
series_label=QEMU series_cmd=scripts/qemu-tree.sh
. "$MF_ROOT/scripts/series.sh"
tree=$series_tree
vtag() { printf 'debian/%s' "${QEMU_DEB_VERSION//[~:]/_}"; }

create() {
    step "QEMU: unpacking $QEMU_ORIG into a git checkout"
    rm -rf "$tree"; mkdir -p "$tree"
    tar -xJf "$MF_CACHE/downloads/$QEMU_ORIG" -C "$tree" --strip-components=1
    g init -q
    g config core.autocrlf false
    g config gc.auto 0
    series_commit_all "QEMU $QEMU_UPSTREAM ($QEMU_ORIG, Debian $QEMU_DEB_VERSION)"
    g tag upstream

    # The +ds tarball has no firmware blobs; Debian's own patch stops the build
    # from unpacking the edk2 ones.
    local deb
    deb=$(mktemp -d)
    tar -xJf "$MF_CACHE/downloads/$QEMU_DEBIAN" -C "$deb" debian/patches/skip-unpack-edk2-blobs.patch
    g apply "$deb/debian/patches/skip-unpack-edk2-blobs.patch"
    rm -rf "$deb"
    series_commit_all "debian: skip-unpack-edk2-blobs.patch from $QEMU_DEBIAN"
    g tag base
    g tag "$(vtag)"
}

case "${1:-}" in
sync)
    series_sync_version "$(vtag)" ;;
export)
    series_export ;;
reset)
    series_apply ;;
*) die "usage: $0 sync | export | reset" ;;
esac
