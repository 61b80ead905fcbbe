#!/usr/bin/env bash
# The QEMU series is developed as commits in the git checkout build/qemu and
# exported to patches/qemu/*.patch.  Tags in the checkout:
#   upstream   the pinned orig tarball, as Debian ships it
#   base       upstream + what makes the +ds tarball buildable; the series starts here
#
#   scripts/qemu-tree.sh sync     create the checkout if needed; (re)apply patches/qemu
#                                 with git am when they changed.  Refuses to throw away
#                                 commits or edits that were never exported.
#   scripts/qemu-tree.sh export   write base..HEAD back to patches/qemu (git format-patch)
#   scripts/qemu-tree.sh reset    drop local work and re-apply patches/qemu
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree="$MF_BUILD/qemu"
stamp="$tree/.git/memfault-series"
patches=("$MF_ROOT"/patches/qemu/*.patch)
[ -e "${patches[0]}" ] || patches=()

# Commits made by these scripts carry a project identity, not a person's.
export GIT_COMMITTER_NAME='qemu-memfault build' GIT_COMMITTER_EMAIL='build@qemu-memfault.invalid'
g() { git -C "$tree" "$@"; }

series_hash() { cat "${patches[@]}" /dev/null | sha256sum | cut -d' ' -f1; }

create() {
    step "QEMU: unpacking $QEMU_ORIG into a git checkout"
    rm -rf "$tree"; mkdir -p "$tree"
    tar -xJf "$MF_CACHE/downloads/$QEMU_ORIG" -C "$tree" --strip-components=1
    g init -q
    g config core.autocrlf false
    g config gc.auto 0
    g add -A
    GIT_AUTHOR_NAME="$GIT_COMMITTER_NAME" GIT_AUTHOR_EMAIL="$GIT_COMMITTER_EMAIL" \
        g commit -q -m "QEMU $QEMU_UPSTREAM ($QEMU_ORIG, Debian $QEMU_DEB_VERSION)"
    g tag upstream

    # The +ds tarball has no firmware blobs; Debian's own patch stops the build
    # from unpacking the edk2 ones.
    local deb
    deb=$(mktemp -d)
    tar -xJf "$MF_CACHE/downloads/$QEMU_DEBIAN" -C "$deb" debian/patches/skip-unpack-edk2-blobs.patch
    g apply "$deb/debian/patches/skip-unpack-edk2-blobs.patch"
    rm -rf "$deb"
    g add -A
    GIT_AUTHOR_NAME="$GIT_COMMITTER_NAME" GIT_AUTHOR_EMAIL="$GIT_COMMITTER_EMAIL" \
        g commit -q -m "debian: skip-unpack-edk2-blobs.patch from $QEMU_DEBIAN"
    g tag base
}

apply_series() {
    g reset -q --hard base
    if [ "${#patches[@]}" -gt 0 ]; then
        step "QEMU: git am ${#patches[@]} patches from patches/qemu"
        g am -q --whitespace=nowarn "${patches[@]}" ||
            { g am --abort || true; die "patches/qemu do not apply to QEMU $QEMU_UPSTREAM"; }
    fi
    printf '%s %s\n' "$(series_hash)" "$(g rev-parse HEAD)" > "$stamp"
}

# Local work in the checkout that patches/qemu does not hold.
unexported() {
    local recorded_head
    recorded_head=$(cut -d' ' -f2 "$stamp" 2>/dev/null || true)
    [ -n "$(g status --porcelain --untracked-files=no)" ] && { echo "uncommitted edits"; return; }
    [ "$(g rev-parse HEAD)" != "$recorded_head" ] && { echo "commits that were never exported"; return; }
    true
}

case "${1:-}" in
sync)
    [ -d "$tree/.git" ] && g rev-parse -q --verify base >/dev/null || create
    if [ "$(cut -d' ' -f1 "$stamp" 2>/dev/null)" != "$(series_hash)" ]; then
        why=$(unexported)
        [ -z "$why" ] || [ ! -f "$stamp" ] ||
            die "build/qemu has $why, and patches/qemu changed: run 'make export-patches' to keep the checkout's series, or 'scripts/qemu-tree.sh reset' to take patches/qemu"
        apply_series
    fi ;;
export)
    [ -z "$(g status --porcelain --untracked-files=no)" ] || die "build/qemu has uncommitted edits: commit them first"
    rm -f "$MF_ROOT"/patches/qemu/*.patch
    g format-patch -q --zero-commit --no-signature -o "$MF_ROOT/patches/qemu" base..HEAD
    patches=("$MF_ROOT"/patches/qemu/*.patch)
    [ -e "${patches[0]}" ] || patches=()
    printf '%s %s\n' "$(series_hash)" "$(g rev-parse HEAD)" > "$stamp"
    step "QEMU: exported ${#patches[@]} patches to patches/qemu" ;;
reset)
    apply_series ;;
*) die "usage: $0 sync | export | reset" ;;
esac
