#!/usr/bin/env bash
# Replacement kvm.ko, kvm-amd.ko and kvm-intel.ko for Debian's linux 6.12 and
# 7.3 with our KVM Userfault series (patches/linux/<series>), built out of tree
# against the matching linux-headers package (unpacked into the cache, never
# installed).  They load into Debian's kernel of the same version, in the rig
# or on a Debian machine running that kernel.
#
#   scripts/build-kvm-modules.sh [--kernel 6.12|7.3|all] [COMMAND]
#     build        fetch, sync the checkout, build (default)
#     sync         only create/update the checkout build/linux-<series>
#     export       write base..HEAD of build/linux-<series> to patches/linux/<series>
#     reset        drop local work in build/linux-<series>, re-apply the patches
#     checkpatch   run the kernel's checkpatch.pl on patches/linux/<series>
#     path         print the directory holding the built modules
#   --kernel defaults to $MF_KERNEL, else 6.12; "all" (build, checkpatch) does both.
#
# build/linux-<series> is a git checkout of the KVM part of linux-source-<series>
# (arch/x86/kvm, virt/kvm, the KVM headers, Documentation/virt/kvm, checkpatch);
# tag "base" is Debian's source, the series is developed as commits on top of it.
# 6.12 is built with the machine's gcc-12, as Debian built it; 7.3 with trixie's
# gcc-14 in the private trixie build root of scripts/kernel-root.sh.
# Output: $MF_CACHE/kvm-modules/<version>-<hash of the sources>/, shared by all
# checkouts; build/kvm-modules/<series> links to it (and build/kvm-modules/current
# to 6.12's).  Rebuilds are incremental (build/kvm-build keeps the objects,
# ccache keeps the compiler's work).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/scripts/linux-pkgs.sh"

kernel=${MF_KERNEL:-6.12}
if [ "${1:-}" = --kernel ]; then kernel=${2:?--kernel 6.12|7.3|all}; shift 2; fi
if [ "$kernel" = all ]; then
    case "${1:-build}" in
    build|checkpatch)
        rc=0
        for k in 6.12 7.3; do "$0" --kernel "$k" "$@" || rc=$?; done
        exit $rc ;;
    *) die "--kernel all: only build and checkpatch" ;;
    esac
fi
linux_select "$kernel"

series_tree="$MF_BUILD/linux-$LINUX_SERIES" series_dir="$MF_ROOT/patches/linux/$LINUX_SERIES"
series_label="linux $LINUX_SERIES" series_cmd="scripts/build-kvm-modules.sh --kernel $LINUX_SERIES"
. "$MF_ROOT/scripts/series.sh"
tree=$series_tree
vtag() { printf 'debian/%s' "${LINUX_VER//[~:]/_}"; }

# What the checkout holds from the source package.
PATHS=(arch/x86/kvm virt/kvm 'include/linux/kvm*' include/uapi/linux/kvm.h
       'arch/x86/include/asm/kvm*' arch/x86/include/uapi/asm/kvm.h
       Documentation/virt/kvm scripts/checkpatch.pl scripts/spelling.txt
       scripts/const_structs.checkpatch)

create() {
    local deb
    deb=$(linux_source_deb)
    local src="linux-source-$LINUX_SERIES"
    step "linux: extracting the KVM sources from $src $LINUX_VER (~20 s)"
    rm -rf "$tree" "$tree.tmp"; mkdir -p "$tree.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$src.tar.xz" |
        tar -xJ -C "$tree.tmp" --strip-components=1 --wildcards \
            "${PATHS[@]/#/$src/}" ||
        die "could not extract the KVM sources from $deb"
    mv "$tree.tmp" "$tree"
    g init -q
    g config gc.auto 0
    series_commit_all "$src $LINUX_VER: KVM subset"
    g tag base
    g tag "$(vtag)"
}

sync_tree() {
    linux_resolve
    series_sync_version "$(vtag)"
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
# Kconfig symbols our series adds, so they are defined here when the series selects them.
write_makefile() {   # DIR
    local mk="$1/arch/x86/kvm/Makefile" tmp
    tmp=$(mktemp)
    {
        echo "NOSTDINC_FLAGS += -I\$(KVM_TREE)/include -I\$(KVM_TREE)/include/uapi -I\$(KVM_TREE)/include/trace"
        local sym
        for sym in HAVE_KVM_USERFAULT HAVE_KVM_EXIT_ON_MISSING; do
            if grep -q "select $sym\$" "$tree/arch/x86/kvm/Kconfig"; then
                echo "ccflags-y += -DCONFIG_$sym=1"
            fi
        done
        sed -e 's|\$(srctree)/arch/x86/kvm|$(KVM_TREE)/arch/x86/kvm|g' \
            -e 's|\$(srctree)/virt/kvm|$(KVM_TREE)/virt/kvm|g' \
            "$tree/arch/x86/kvm/Makefile"
    } > "$tmp"
    grep -q 'KVM_TREE)/virt/kvm/Makefile.kvm' "$tmp" || die "unexpected arch/x86/kvm/Makefile in linux $LINUX_VER"
    if cmp -s "$tmp" "$mk"; then rm -f "$tmp"; else mv "$tmp" "$mk"; fi
    mkdir -p "$1/include/trace"
}

source_key() {
    { echo "$LINUX_VER"; sed -n '/^write_makefile()/,/^}/p' "$0"
      [ "$LINUX_SERIES" = 6.12 ] || cat "$MF_ROOT/scripts/kernel-root.lock"
      g diff base; } |
        sha256sum | cut -c1-16
}

# The compiler of Debian's kernel: 6.12 (bookworm) was built with gcc-12, which
# the machine has; 7.3 (trixie) with trixie's gcc-14, run in the private trixie
# build root together with kbuild's host tools, which need trixie's libraries.
# Sets kmake: the command that runs make.
toolchain() {   # KDIR
    local want have
    want=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$1/.config")
    case "$LINUX_SERIES" in
    6.12)
        local cc=x86_64-linux-gnu-gcc-12
        command -v $cc >/dev/null || die "gcc-12 (the compiler of Debian's 6.12 kernel) is missing: apt-get install gcc-12"
        have=$($cc --version | head -n1)
        command -v ccache >/dev/null && cc="ccache $cc"
        export CCACHE_DIR="$MF_CACHE/ccache" CCACHE_BASEDIR="$MF_BUILD" CCACHE_NOHASHDIR=1
        kmake=(make CC="$cc") ;;
    *)
        "$MF_ROOT/scripts/kernel-root.sh" path >/dev/null
        have=$("$MF_ROOT/scripts/kernel-root.sh" run x86_64-linux-gnu-gcc-14 --version | head -n1)
        # trixie's ccache has a cache of its own (its format is not bookworm's).
        kmake=("$MF_ROOT/scripts/kernel-root.sh" run env
               CCACHE_DIR="$MF_CACHE/ccache-trixie" CCACHE_BASEDIR="$MF_BUILD" CCACHE_NOHASHDIR=1
               make CC="ccache x86_64-linux-gnu-gcc-14" HOSTCC=x86_64-linux-gnu-gcc-14
               DEB_BUILD_ARCH=amd64) ;;
    esac
    # The modules must be built as the kernel was: retpolines, return thunks,
    # IBT and call-depth tracking are compiler options the headers' config picks.
    [ "$have" = "$want" ] ||
        step "kvm modules: WARNING: the compiler is '$have', Debian built $LINUX_ABI with '$want'"
}

build() {
    sync_tree
    local kdir
    kdir=$(linux_headers)
    linux_rig_debs >/dev/null    # what the rig boots, fetched now so tests need no network
    busybox_deb >/dev/null
    local key out work t0 kmake
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
        toolchain "$kdir"
        t0=$(date +%s)
        step "kvm modules: building kvm.ko, kvm-amd.ko, kvm-intel.ko for $LINUX_ABI (~2 min from scratch on 2 cores)"
        "${kmake[@]}" -C "$kdir" M="$work/arch/x86/kvm" KVM_TREE="$work" \
            -j"${MF_JOBS:-2}" modules 2>&1 |
            sed -u -n -e 's/^ *\(CC \[M\]\|LD \[M\]\) *\(.*\)/[kvm modules] \1 \2/p' \
                   -e '/error\|warning:/p' >&2
        [ "${PIPESTATUS[0]}" = 0 ] || die "kvm module build failed (rerun: ${kmake[*]} -C $kdir M=$work/arch/x86/kvm KVM_TREE=$work modules)"
        rm -rf "$out.tmp"; mkdir -p "$out.tmp"
        cp "$work/arch/x86/kvm/kvm.ko" "$work/arch/x86/kvm/kvm-amd.ko" \
           "$work/arch/x86/kvm/kvm-intel.ko" "$out.tmp/"
        echo "$LINUX_VER $LINUX_ABI $(g rev-parse HEAD)" > "$out.tmp/.done"
        rm -rf "$out"; mv "$out.tmp" "$out"
        step "kvm modules: built into $out in $(($(date +%s) - t0)) s"
    fi
    ln -sfn "$out" "$MF_BUILD/kvm-modules/$LINUX_SERIES"
    [ "$LINUX_SERIES" != 6.12 ] || ln -sfn "$out" "$MF_BUILD/kvm-modules/current"
}

case "${1:-build}" in
build) build ;;
sync) sync_tree ;;
path) [ -f "$MF_BUILD/kvm-modules/$LINUX_SERIES/.done" ] || die "no $LINUX_SERIES modules built yet: run $0 --kernel $LINUX_SERIES"
      readlink -f "$MF_BUILD/kvm-modules/$LINUX_SERIES" ;;
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
*) die "usage: $0 [--kernel 6.12|7.3|all] [build|sync|export|reset|checkpatch|path]" ;;
esac
