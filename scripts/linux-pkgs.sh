# Debian's linux 6.12 packages for bookworm: which version, and the cached .debs.
# Source it after lib.sh; do not run it.
#
#   linux_resolve            sets LINUX_VER (e.g. 6.12.117-1~deb12u1) and
#                            LINUX_ABI (e.g. 6.12.117+deb12-amd64)
#   linux_deb PKG VER SHA    path of PKG_VER_*.deb in $MF_CACHE/downloads/linux,
#                            downloaded with apt if missing; checked against SHA
#                            unless SHA is empty (apt has checked its signature)
#   linux_headers            unpack linux-headers-$LINUX_ABI, its -common part and
#                            linux-kbuild privately; prints the directory to
#                            build modules against (make -C DIR M=...)
#
# The pinned version (scripts/pins.sh) is used while apt can still get it or its
# .debs are cached.  Debian replaces 6.12 with each security update; when the
# pinned one is gone, the newest linux-source-6.12 is used instead, with the
# image and headers of the same version, and a message says so.
# MF_LINUX_VERSION=VER picks a version explicitly.

LINUX_DL="$MF_CACHE/downloads/linux"

# (apt-cache show exits 0 for an unknown version of a known package.)
apt_has() { [ -n "$(apt-cache show "$1" 2>/dev/null | sed -n '/^Package:/p')" ]; }

linux_deb_name() {   # PKG VER ARCH
    local v=${2//:/%3a}
    printf '%s_%s_%s.deb' "$1" "$v" "$3"
}

linux_resolve() {
    [ -z "${LINUX_VER:-}" ] || return 0
    local want=${MF_LINUX_VERSION:-$LINUX_DEB_VERSION} cand
    if [ -f "$LINUX_DL/$(linux_deb_name linux-source-6.12 "$want" all)" ] ||
       apt_has "linux-source-6.12=$want"; then
        LINUX_VER=$want
    else
        apt_has linux-source-6.12 || as_root apt-get update -q >&2 || true
        cand=$(apt-cache policy linux-source-6.12 2>/dev/null | awk '/Candidate:/ {print $2}')
        [ -n "$cand" ] && [ "$cand" != "(none)" ] ||
            die "linux-source-6.12 is not available from apt: bookworm-security (or bookworm-backports) must be in the system's apt sources"
        step "linux: Debian no longer has the pinned $want; using $cand instead (apt verifies it; update LINUX_DEB_VERSION and its checksums in scripts/pins.sh)"
        LINUX_VER=$cand
    fi
    LINUX_ABI="${LINUX_VER%%-*}+deb12-amd64"
    export LINUX_VER LINUX_ABI
}

linux_pinned() { [ "$LINUX_VER" = "$LINUX_DEB_VERSION" ]; }

linux_deb() {   # PKG VER SHA256|'' -> prints the path
    local pkg=$1 ver=$2 sha=$3 f arch=amd64
    case "$pkg" in linux-source-6.12|linux-headers-*-common) arch=all ;; esac
    f="$LINUX_DL/$(linux_deb_name "$pkg" "$ver" "$arch")"
    if [ ! -f "$f" ]; then
        mkdir -p "$LINUX_DL"
        apt_has "$pkg=$ver" || as_root apt-get update -q >&2 || true
        apt_has "$pkg=$ver" || die "Debian package $pkg=$ver cannot be had from apt (is bookworm-security in the apt sources, and is this version still in the archive?)"
        step "download: $pkg $ver"
        (cd "$LINUX_DL" && apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" >&2) ||
            die "apt-get download $pkg=$ver failed"
        [ -f "$f" ] || die "apt did not produce $f"
    fi
    [ -z "$sha" ] || sha256_check "$f" "$sha"
    printf '%s\n' "$f"
}

linux_source_deb() {
    linux_resolve
    if linux_pinned; then linux_deb linux-source-6.12 "$LINUX_VER" "$LINUX_SOURCE_SHA256"
    else linux_deb linux-source-6.12 "$LINUX_VER" ''; fi
}

linux_image_deb() {
    linux_resolve
    local pkg="linux-image-$LINUX_ABI-unsigned"
    if linux_pinned; then linux_deb "$pkg" "$LINUX_VER" "$LINUX_IMAGE_SHA256"
    elif apt_has "$pkg=$LINUX_VER"; then linux_deb "$pkg" "$LINUX_VER" ''
    else linux_deb "linux-image-$LINUX_ABI" "$LINUX_VER" ''; fi
}

busybox_deb() {
    linux_deb busybox-static "$BUSYBOX_DEB_VERSION" "$BUSYBOX_DEB_SHA256"
}

# The headers are never installed with apt: linux-headers-<abi> depends on
# linux-image-<abi>, which pulls initramfs-tools and, on a machine of this kind,
# a systemd upgrade.  dpkg-deb -x of the three packages into the cache gives
# the same tree; only the top Makefile's absolute include of the -common part
# is pointed at the private copy.  kbuild's own dependencies (libelf, libssl,
# pahole for the modules' BTF) are ordinary build tools (scripts/pins.sh).
linux_headers() {
    linux_resolve
    local base=${LINUX_VER%%-*}+deb12 root dir pkg sha f
    root="$MF_CACHE/linux-headers/$LINUX_VER"
    dir="$root/usr/src/linux-headers-$LINUX_ABI"
    if [ ! -f "$root/.done" ]; then
        rm -rf "$root.tmp"; mkdir -p "$root.tmp"
        for pkg in "linux-headers-$LINUX_ABI" "linux-headers-$base-common" "linux-kbuild-$base"; do
            sha=''
            if linux_pinned; then
                case "$pkg" in
                *-amd64) sha=$LINUX_HEADERS_SHA256 ;;
                *-common) sha=$LINUX_HEADERS_COMMON_SHA256 ;;
                linux-kbuild-*) sha=$LINUX_KBUILD_SHA256 ;;
                esac
            fi
            f=$(linux_deb "$pkg" "$LINUX_VER" "$sha") || return 1
            step "linux: unpacking $(basename "$f") into the cache (not installed)"
            dpkg-deb -x "$f" "$root.tmp" || die "could not unpack $f"
        done
        f="$root.tmp/usr/src/linux-headers-$LINUX_ABI/Makefile"
        grep -q "^include /usr/src/linux-headers-$base-common/Makefile\$" "$f" ||
            die "unexpected top Makefile in linux-headers-$LINUX_ABI $LINUX_VER: $(head -c 200 "$f")"
        sed -i "s|^include /usr/src/|include $root/usr/src/|" "$f"
        rm -rf "$root"; mv "$root.tmp" "$root"
        touch "$root/.done"
    fi
    [ -f "$dir/Module.symvers" ] || die "$dir/Module.symvers is missing (delete $root to unpack again)"
    printf '%s\n' "$dir"
}
