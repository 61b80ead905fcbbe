# Debian's linux packages our KVM modules are built for and the rig boots:
# 6.12 for bookworm (bookworm-security, the system's apt) and 7.3 for trixie
# (trixie-backports, the private apt of scripts/debian-apt.sh).  Which version,
# and the cached .debs.  Source it after lib.sh; do not run it.
#
#   linux_select 6.12|7.3    the kernel the functions below are about
#                            (default: $MF_KERNEL, else 6.12)
#   linux_resolve            sets LINUX_VER (e.g. 6.12.117-1~deb12u1) and
#                            LINUX_ABI (e.g. 6.12.117+deb12-amd64)
#   linux_deb PKG VER SHA    path of PKG_VER_*.deb in $MF_CACHE/downloads/linux,
#                            downloaded with apt if missing; checked against SHA
#                            unless SHA is empty (apt has checked its signature)
#   linux_headers            unpack linux-headers-$LINUX_ABI, its -common part and
#                            linux-kbuild privately; prints the directory to
#                            build modules against (make -C DIR M=...)
#   linux_rig_debs           the packages holding vmlinuz and the modules
#   linux_rig_vmlinuz        vmlinuz's path in them; linux_rig_moddir: the modules'
#   linux_rig_unpack DIR MEMBER...  extract those paths of them into DIR
#
# The pinned version (scripts/pins.sh) is used while apt can still get it or its
# .debs are cached.  Debian replaces 6.12 with each security update and 7.3
# with each backport; when the pinned one is gone, the newest linux-source-<series>
# is used instead, with the image and headers of the same version, and a
# message says so.  MF_LINUX_VERSION=VER picks a version explicitly.

LINUX_DL="$MF_CACHE/downloads/linux"

linux_select() {
    local s=${1:-${LINUX_SERIES:-${MF_KERNEL:-6.12}}}
    [ "${LINUX_SERIES:-}" = "$s" ] && [ -n "${LINUX_PIN:-}" ] && return 0
    unset LINUX_VER LINUX_ABI
    case "$s" in
    6.12)
        LINUX_PIN=$LINUX_DEB_VERSION LINUX_SUFFIX=+deb12 LINUX_APT=system
        LINUX_PIN_SOURCE=$LINUX_SOURCE_SHA256 LINUX_PIN_HEADERS=$LINUX_HEADERS_SHA256
        LINUX_PIN_COMMON=$LINUX_HEADERS_COMMON_SHA256 LINUX_PIN_KBUILD=$LINUX_KBUILD_SHA256
        LINUX_PIN_IMAGE=$LINUX_IMAGE_SHA256 LINUX_PIN_MODULES='' ;;
    7.3)
        LINUX_PIN=$LINUX73_DEB_VERSION LINUX_SUFFIX=+deb13 LINUX_APT=private
        LINUX_PIN_SOURCE=$LINUX73_SOURCE_SHA256 LINUX_PIN_HEADERS=$LINUX73_HEADERS_SHA256
        LINUX_PIN_COMMON=$LINUX73_HEADERS_COMMON_SHA256 LINUX_PIN_KBUILD=$LINUX73_KBUILD_SHA256
        LINUX_PIN_IMAGE=$LINUX73_BINARY_SHA256 LINUX_PIN_MODULES=$LINUX73_MODULES_SHA256 ;;
    *) die "unknown kernel '$s': 6.12 or 7.3" ;;
    esac
    LINUX_SERIES=$s
    export LINUX_SERIES
}

# apt-cache/apt-get for the selected kernel: the system's for 6.12, the private
# one for 7.3.
linux_apt_cache() {
    if [ "$LINUX_APT" = system ]; then apt-cache "$@"
    else "$MF_ROOT/scripts/debian-apt.sh" apt-cache "$@"; fi
}
linux_apt_update() {
    if [ "$LINUX_APT" = system ]; then as_root apt-get update -q >&2
    else "$MF_ROOT/scripts/debian-apt.sh" update >&2; fi
}
linux_apt_download() {
    if [ "$LINUX_APT" = system ]; then apt-get -q -o APT::Sandbox::User=root download "$@"
    else "$MF_ROOT/scripts/debian-apt.sh" download "$@"; fi
}

# (apt-cache show exits 0 for an unknown version of a known package.)
apt_has() { [ -n "$(linux_apt_cache show "$1" 2>/dev/null | sed -n '/^Package:/p')" ]; }

linux_deb_name() {   # PKG VER ARCH
    local v=${2//:/%3a}
    printf '%s_%s_%s.deb' "$1" "$v" "$3"
}

linux_resolve() {
    linux_select
    [ -z "${LINUX_VER:-}" ] || return 0
    local want=${MF_LINUX_VERSION:-$LINUX_PIN} cand src="linux-source-$LINUX_SERIES"
    if [ -f "$LINUX_DL/$(linux_deb_name "$src" "$want" all)" ] ||
       apt_has "$src=$want"; then
        LINUX_VER=$want
    else
        apt_has "$src" || linux_apt_update || true
        cand=$(linux_apt_cache policy "$src" 2>/dev/null | awk '/Candidate:/ {print $2}')
        [ -n "$cand" ] && [ "$cand" != "(none)" ] ||
            die "$src is not available from apt (6.12: bookworm-security or bookworm-backports in the system's apt sources; 7.3: trixie-backports, scripts/debian-apt.sh)"
        step "linux: Debian no longer has the pinned $src $want; using $cand instead (apt verifies it; update scripts/pins.sh)"
        LINUX_VER=$cand
    fi
    LINUX_ABI="${LINUX_VER%%-*}$LINUX_SUFFIX-amd64"
    export LINUX_VER LINUX_ABI
}

linux_pinned() { [ "$LINUX_VER" = "$LINUX_PIN" ]; }

linux_deb() {   # PKG VER SHA256|'' -> prints the path
    local pkg=$1 ver=$2 sha=$3 f arch=amd64
    case "$pkg" in linux-source-*|linux-headers-*-common) arch=all ;; esac
    f="$LINUX_DL/$(linux_deb_name "$pkg" "$ver" "$arch")"
    if [ ! -f "$f" ]; then
        mkdir -p "$LINUX_DL"
        apt_has "$pkg=$ver" || linux_apt_update || true
        apt_has "$pkg=$ver" || die "Debian package $pkg=$ver cannot be had from apt (is it still in the archive?)"
        step "download: $pkg $ver"
        (cd "$LINUX_DL" && linux_apt_download "$pkg=$ver" >&2) ||
            die "apt-get download $pkg=$ver failed"
        [ -f "$f" ] || die "apt did not produce $f"
    fi
    [ -z "$sha" ] || sha256_check "$f" "$sha"
    printf '%s\n' "$f"
}

linux_pin() { if linux_pinned; then printf '%s' "$1"; fi; }

linux_source_deb() {
    linux_resolve
    linux_deb "linux-source-$LINUX_SERIES" "$LINUX_VER" "$(linux_pin "$LINUX_PIN_SOURCE")"
}

# The packages that hold the rig's vmlinuz and modules.  6.12: one
# linux-image-<abi>-unsigned; 7.3: linux-binary-unsigned-<abi> (vmlinuz) and
# linux-modules-<abi>.
linux_rig_debs() {
    linux_resolve
    local pkg
    case "$LINUX_SERIES" in
    6.12)
        pkg="linux-image-$LINUX_ABI-unsigned"
        if linux_pinned || apt_has "$pkg=$LINUX_VER"; then
            linux_deb "$pkg" "$LINUX_VER" "$(linux_pin "$LINUX_PIN_IMAGE")"
        else linux_deb "linux-image-$LINUX_ABI" "$LINUX_VER" ''; fi ;;
    7.3)
        linux_deb "linux-binary-unsigned-$LINUX_ABI" "$LINUX_VER" "$(linux_pin "$LINUX_PIN_IMAGE")" &&
        linux_deb "linux-modules-$LINUX_ABI" "$LINUX_VER" "$(linux_pin "$LINUX_PIN_MODULES")" ;;
    esac
}
# Extract MEMBERs (paths as linux_rig_vmlinuz/linux_rig_moddir give them)
# of linux_rig_debs into DIR.  6.12 has the kernel and its modules in one
# package, 7.3 in two: each member comes from the package that has it, and
# the caller checks that every one arrived.
linux_rig_unpack() {
    local dir=$1 imgs img; shift
    imgs=$(linux_rig_debs) || return 1
    for img in $imgs; do
        step "linux: unpacking from $(basename "$img")"
        dpkg-deb --fsys-tarfile "$img" | tar -x -C "$dir" "$@" 2>/dev/null || true
    done
}
linux_rig_vmlinuz() {
    case "$LINUX_SERIES" in
    6.12) printf './boot/vmlinuz-%s\n' "$LINUX_ABI" ;;
    *) printf './usr/lib/modules/%s/vmlinuz.unsigned\n' "$LINUX_ABI" ;;
    esac
}
linux_rig_moddir() {
    case "$LINUX_SERIES" in
    6.12) printf './lib/modules/%s/kernel\n' "$LINUX_ABI" ;;
    *) printf './usr/lib/modules/%s/kernel\n' "$LINUX_ABI" ;;
    esac
}

busybox_deb() {
    local LINUX_APT=system
    linux_deb busybox-static "$BUSYBOX_DEB_VERSION" "$BUSYBOX_DEB_SHA256"
}

# The headers are never installed with apt: linux-headers-<abi> depends on
# linux-image-<abi>, which pulls initramfs-tools and, on a machine of this kind,
# a systemd upgrade (7.3's are trixie's, not installable here at all).
# dpkg-deb -x of the three packages into the cache gives the same tree; only
# the top Makefile's absolute paths to itself and its -common part are pointed
# at the private copy.  kbuild's own dependencies (libelf, libssl, pahole for
# the modules' BTF) are build tools: bookworm's for 6.12 (scripts/pins.sh),
# the trixie build root's for 7.3 (scripts/kernel-root.sh).
linux_headers() {
    linux_resolve
    local base=${LINUX_VER%%-*}$LINUX_SUFFIX root dir pkg sha f
    root="$MF_CACHE/linux-headers/$LINUX_VER"
    dir="$root/usr/src/linux-headers-$LINUX_ABI"
    if [ ! -f "$root/.done" ]; then
        rm -rf "$root.tmp"; mkdir -p "$root.tmp"
        for pkg in "linux-headers-$LINUX_ABI" "linux-headers-$base-common" "linux-kbuild-$base"; do
            case "$pkg" in
            *-amd64) sha=$LINUX_PIN_HEADERS ;;
            *-common) sha=$LINUX_PIN_COMMON ;;
            linux-kbuild-*) sha=$LINUX_PIN_KBUILD ;;
            esac
            f=$(linux_deb "$pkg" "$LINUX_VER" "$(linux_pin "$sha")") || return 1
            step "linux: unpacking $(basename "$f") into the cache (not installed)"
            dpkg-deb -x "$f" "$root.tmp" || die "could not unpack $f"
        done
        f="$root.tmp/usr/src/linux-headers-$LINUX_ABI/Makefile"
        grep -q "^include /usr/src/linux-headers-$base-common/Makefile\$" "$f" ||
            die "unexpected top Makefile in linux-headers-$LINUX_ABI $LINUX_VER: $(head -c 200 "$f")"
        sed -i -e "s|^include /usr/src/|include $root/usr/src/|" \
               -e "s|^KBUILD_OUTPUT=/usr/src/|KBUILD_OUTPUT=$root/usr/src/|" "$f"
        rm -rf "$root"; mv "$root.tmp" "$root"
        touch "$root/.done"
    fi
    [ -f "$dir/Module.symvers" ] || die "$dir/Module.symvers is missing (delete $root to unpack again)"
    printf '%s\n' "$dir"
}
