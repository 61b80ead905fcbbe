#!/usr/bin/env bash
# A private apt for Debian's archive: trixie (meson, pycotap), sid (QEMU's source),
# trixie-backports (the 7.3 kernel) and bookworm-backports (the rig's L0 QEMU, the
# unmodified 10.0 source of the rig's migrations).  Its own sources list, lists and
# cache under $MF_CACHE/apt.
# The system's apt configuration and state are never touched.
#
#   scripts/debian-apt.sh update            refresh the lists (at most daily, or when
#                                           the suites below change)
#   scripts/debian-apt.sh source PKG=VER    download a source package into the cwd
#   scripts/debian-apt.sh download PKG=VER  download a binary package into the cwd
#   scripts/debian-apt.sh apt-get|apt-cache ARG...
#                                           run apt-get or apt-cache with the private
#                                           sources and lists (queries, resolutions)
#   scripts/debian-apt.sh fetch FILE SHA256 source|download PKG=VER
#                                           FILE in $MF_CACHE/downloads, downloaded when
#                                           missing and checked against SHA256 (pins.sh);
#                                           prints its path
set -euo pipefail
. "$(dirname "$0")/lib.sh"

APT_DIR="$MF_CACHE/apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc"
cat > "$APT_DIR/etc/trixie.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
LIST

apt_private() { apt_cmd apt-get -q "$@"; }
apt_cmd() {
    local cmd=$1; shift
    "$cmd" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::sourcelist="$APT_DIR/etc/trixie.list" \
        -o Dir::Etc::Preferences=/dev/null \
        -o Dir::Etc::PreferencesParts=/dev/null \
        -o Dir::State::Lists="$APT_DIR/lists" \
        -o Dir::Cache="$APT_DIR/cache" \
        -o APT::Sandbox::User=root \
        "$@"
}

case "${1:-}" in
update)
    stamp="$APT_DIR/lists/.updated"
    want=$(sha256sum < "$APT_DIR/etc/trixie.list" | cut -c1-16)
    if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ] || [ "$(cat "$stamp")" != "$want" ]; then
        step "apt (trixie, sid, trixie-backports, bookworm-backports; private): updating package lists"
        apt_private update
        echo "$want" > "$stamp"
    fi ;;
source)   shift; apt_private source --download-only "$@" ;;
apt-get|apt-cache) apt_cmd "$@" ;;
download) shift; apt_private download "$@" ;;
fetch)
    [ $# = 5 ] || die "usage: $0 fetch FILE SHA256 source|download PKG=VER"
    dl="$MF_CACHE/downloads" f="$MF_CACHE/downloads/$2"
    if [ ! -f "$f" ]; then
        mkdir -p "$dl"
        self="$MF_ROOT/scripts/debian-apt.sh"
        "$self" update >&2
        step "download: $5"
        (cd "$dl" && "$self" "$4" "$5" >&2) || die "could not download $5 with the private apt"
        [ -f "$f" ] || die "apt did not produce $2 (is $5 still in Debian's archive: trixie, sid, trixie-backports or bookworm-backports?)"
    fi
    sha256_check "$f" "$3"
    printf '%s\n' "$f" ;;
*) die "usage: $0 update | source PKG=VER | download PKG=VER | apt-get|apt-cache ARG... | fetch FILE SHA256 KIND PKG=VER" ;;
esac
