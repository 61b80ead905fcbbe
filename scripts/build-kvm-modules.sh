#!/usr/bin/env bash
# Replacement kvm.ko, kvm-amd.ko and kvm-intel.ko for Debian's linux 6.12 with
# our KVM Userfault series (patches/linux), built out of tree against the
# matching linux-headers package (unpacked into the cache, never installed).  They load into Debian's linux-image of the
# same version, in the rig or on a Debian 12 machine running that kernel.
#
#   scripts/build-kvm-modules.sh [build]   fetch, sync the checkout, build (default)
#   scripts/build-kvm-modules.sh sync      only create/update the checkout build/linux
#   scripts/build-kvm-modules.sh export    write base..HEAD of build/linux to patches/linux
#   scripts/build-kvm-modules.sh reset     drop local work in build/linux, re-apply patches/linux
#   scripts/build-kvm-modules.sh checkpatch  run the kernel's checkpatch.pl on patches/linux
#   scripts/build-kvm-modules.sh path      print the directory holding the built modules
#
# build/linux is a git checkout of the KVM part of linux-source-6.12 (arch/x86/kvm,
# virt/kvm, the KVM headers, Documentation/virt/kvm, checkpatch); tag "base" is
# Debian's source, the series is developed as commits on top of it.
# Output: $MF_CACHE/kvm-modules/<version>-<hash of the sources>/, shared by all
# checkouts; build/kvm-modules/current links to it.  Rebuilds are incremental
# (build/kvm-build keeps the objects, ccache keeps the compiler's work).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/scripts/linux-pkgs.sh"

series_tree="$MF_BUILD/linux" series_dir="$MF_ROOT/patches/linux"
series_label=linux series_cmd=scripts/build-kvm-modules.sh
. "$MF_ROOT/scripts/series.sh"
tree=$series_tree
stamp="$tree/.git/memfault-series"
vtag() { printf 'debian/%s' "${LINUX_VER//[~:]/_}"; }

# What the checkout holds from the source package.
PATHS=(arch/x86/kvm virt/kvm 'include/linux/kvm*' include/uapi/linux/kvm.h
       'arch/x86/include/asm/kvm*' arch/x86/include/uapi/asm/kvm.h
       Documentation/virt/kvm scripts/checkpatch.pl scripts/spelling.txt
       scripts/const_structs.checkpatch)

create() {
    local deb
    deb=$(linux_source_deb)
    step "linux: extracting the KVM sources from linux-source-6.12 $LINUX_VER (~15 s)"
    rm -rf "$tree" "$tree.tmp"; mkdir -p "$tree.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.12.tar.xz |
        tar -xJ -C "$tree.tmp" --strip-components=1 --wildcards \
            "${PATHS[@]/#/linux-source-6.12/}" ||
        die "could not extract the KVM sources from $deb"
    mv "$tree.tmp" "$tree"
    g init -q
    g config gc.auto 0
    series_commit_all "linux-source-6.12 $LINUX_VER: KVM subset"
    g tag base
    g tag "$(vtag)"
}

sync_tree() {
    linux_resolve
    if [ ! -d "$tree/.git" ] || ! g rev-parse -q --verify "$(vtag)" >/dev/null; then
        if [ -d "$tree/.git" ] && [ -f "$stamp" ] && [ -n "$(series_unexported)" ]; then
            die "build/linux has $(series_unexported) and is based on another linux version: export or drop them first"
        fi
        create
        rm -f "$stamp"
    fi
    series_sync
}

# Copy the checkout's tracked files into the build directory, touching only the
# files whose content changed, so that make rebuilds only what it must.
sync_copy() {   # DEST
    local f
    g ls-files -z | while IFS= read -r -d '' f; do
        if ! cmp -s "$tree/$f" "$1/$f"; then
            mkdir -p "$1/$(dirname "$f")"
            cp "$tree/$f" "$1/$f"
        fi
    done
}

# The in-tree Makefile refers to $(srctree); out of tree that is the headers
# package, which has no KVM sources.  Point it at our copy, and put our KVM
# headers before the installed ones (NOSTDINC_FLAGS precedes LINUXINCLUDE).
# trace.h includes itself as ../../arch/x86/kvm/trace.h relative to an include
# directory, hence include/trace.  The installed kernel's config predates the
# Kconfig symbol our series adds, so it is defined here when the series selects it.
write_makefile() {   # DIR
    local mk="$1/arch/x86/kvm/Makefile" tmp
    tmp=$(mktemp)
    {
        echo "NOSTDINC_FLAGS += -I\$(KVM_TREE)/include -I\$(KVM_TREE)/include/uapi -I\$(KVM_TREE)/include/trace"
        if grep -q 'select HAVE_KVM_USERFAULT' "$tree/arch/x86/kvm/Kconfig"; then
            echo "ccflags-y += -DCONFIG_HAVE_KVM_USERFAULT=1"
        fi
        sed -e 's|\$(srctree)/arch/x86/kvm|$(KVM_TREE)/arch/x86/kvm|' \
            -e 's|\$(srctree)/virt/kvm/Makefile.kvm|$(KVM_TREE)/virt/kvm/Makefile.kvm|' \
            "$tree/arch/x86/kvm/Makefile"
    } > "$tmp"
    grep -q 'KVM_TREE)/virt/kvm/Makefile.kvm' "$tmp" || die "unexpected arch/x86/kvm/Makefile in linux $LINUX_VER"
    if cmp -s "$tmp" "$mk"; then rm -f "$tmp"; else mv "$tmp" "$mk"; fi
    mkdir -p "$1/include/trace"
}

source_key() {
    { echo "$LINUX_VER"; sed -n '/^write_makefile()/,/^}/p' "$0"; g diff base; } |
        sha256sum | cut -c1-16
}

build() {
    sync_tree
    local kdir
    kdir=$(linux_headers)
    linux_image_deb >/dev/null   # what the rig boots, fetched now so tests need no network
    busybox_deb >/dev/null
    local key out work
    key=$(source_key)
    out="$MF_CACHE/kvm-modules/$LINUX_VER-$key"
    mkdir -p "$MF_BUILD/kvm-modules"
    if [ -f "$out/.done" ]; then
        step "kvm modules: up to date ($out)"
    else
        work="$MF_BUILD/kvm-build/$LINUX_ABI"
        mkdir -p "$work"
        sync_copy "$work"
        write_makefile "$work"
        command -v gcc-12 >/dev/null || die "gcc-12 (the compiler of Debian's 6.12 kernel) is missing: apt-get install gcc-12"
        local cc=gcc-12
        command -v ccache >/dev/null && cc="ccache gcc-12"
        export CCACHE_DIR="$MF_CACHE/ccache" CCACHE_BASEDIR="$MF_BUILD" CCACHE_NOHASHDIR=1
        step "kvm modules: building kvm.ko, kvm-amd.ko, kvm-intel.ko for $LINUX_ABI (~1.5 min from scratch on 2 cores)"
        make -C "$kdir" M="$work/arch/x86/kvm" KVM_TREE="$work" CC="$cc" \
            -j"${MF_JOBS:-2}" modules 2>&1 |
            sed -u -n -e 's/^ *\(CC \[M\]\|LD \[M\]\) *\(.*\)/[kvm modules] \1 \2/p' \
                   -e '/error\|warning:/p' >&2
        [ "${PIPESTATUS[0]}" = 0 ] || die "kvm module build failed (rerun: make -C $kdir M=$work/arch/x86/kvm KVM_TREE=$work modules)"
        rm -rf "$out.tmp"; mkdir -p "$out.tmp"
        cp "$work/arch/x86/kvm/kvm.ko" "$work/arch/x86/kvm/kvm-amd.ko" \
           "$work/arch/x86/kvm/kvm-intel.ko" "$out.tmp/"
        echo "$LINUX_VER $LINUX_ABI $(g rev-parse HEAD)" > "$out.tmp/.done"
        rm -rf "$out"; mv "$out.tmp" "$out"
        step "kvm modules: built into $out"
    fi
    ln -sfn "$out" "$MF_BUILD/kvm-modules/current"
    echo "$LINUX_ABI" > "$MF_BUILD/kvm-modules/abi"
}

case "${1:-build}" in
build) build ;;
sync) sync_tree ;;
path) [ -f "$MF_BUILD/kvm-modules/current/.done" ] || die "no modules built yet: run $0"
      readlink -f "$MF_BUILD/kvm-modules/current" ;;
export)
    series_export ;;
reset)
    linux_resolve
    [ -d "$tree/.git" ] || create
    series_apply ;;
checkpatch)
    sync_tree
    rc=0
    for p in $(series_files); do
        echo "== ${p#"$MF_ROOT"/}"
        perl "$tree/scripts/checkpatch.pl" --no-tree --no-signoff --strict "$p" || rc=1
    done
    exit $rc ;;
*) die "usage: $0 [build|sync|export|reset|checkpatch|path]" ;;
esac
