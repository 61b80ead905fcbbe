# Shared helpers for the project's shell scripts.  Source it; do not run it.
#
# Layout (all overridable from the environment):
#   MF_ROOT       the repository
#   MF_BUILD      build products of this checkout   (default: $MF_ROOT/build)
#   MF_CACHE      downloads and ccache, shared by every checkout on the machine
#                 (default: ${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memfault)

MF_ROOT=${MF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MF_BUILD=${MF_BUILD:-$MF_ROOT/build}
MF_CACHE=${MF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memfault}
export MF_ROOT MF_BUILD MF_CACHE

# shellcheck source=scripts/pins.sh
. "$MF_ROOT/scripts/pins.sh"

MF_T0=${MF_T0:-$(date +%s)}
export MF_T0

# Progress lines: "[  42s] configure: fetching QEMU source".
step() { printf '[%4ss] %s\n' "$(($(date +%s) - MF_T0))" "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root (we may already be root; sudo otherwise).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# sha256_check FILE EXPECTED: fail loudly on a mismatch, never continue with it.
sha256_check() {
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || die "checksum mismatch for $1: expected $2, got $got (delete it to re-download)"
}

# Debian packages missing from the system, among "$@".
missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$p"
    done
}

# apt_install PKG...: install only what is missing, with apt's own progress.
apt_install() {
    local need
    need=$(missing_packages "$@")
    [ -n "$need" ] || return 0
    step "apt: installing $(echo "$need" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need ||
    { as_root apt-get update -q && \
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need; } ||
        die "could not install: $need"
}

# QEMU's configure names the compiler in meson's native file, where meson does
# not add ccache by itself: the ccache package's masquerading links do, so a
# fresh checkout builds from the cache ($MF_CACHE/ccache, shared by checkouts).
qemu_ccache_flags() {
    if [ -x /usr/lib/ccache/cc ]; then echo --cc=/usr/lib/ccache/cc --cxx=/usr/lib/ccache/c++; fi
}

# ninja for a QEMU build, showing every EVERY-th progress line and every
# failure under LABEL; returns ninja's status.
#   qemu_ninja LABEL EVERY BUILD_DIR TARGET...
qemu_ninja() {
    local label=$1 every=$2
    shift 2
    NINJA_STATUS="[$label %f/%t %es] " ninja -C "$@" |
        awk -v l="[$label " -v e="$every" \
            'index($0, l) == 1 { n++; if (n % e && $0 !~ /FAILED/) next } { print; fflush() }'
    return "${PIPESTATUS[0]}"
}

# Tools unpacked from trixie packages (meson, pycotap) come first.
tools_env() {
    export PATH="$MF_BUILD/tools/usr/bin:$PATH"
    export PYTHONPATH="$MF_BUILD/tools/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
    export CCACHE_DIR="$MF_CACHE/ccache"
    export CCACHE_BASEDIR="$MF_ROOT"
    export CCACHE_NOHASHDIR=1
    # Debian's python (not a pyenv one) runs meson, so the unpacked modules match it.
    MF_PYTHON=/usr/bin/python3
    export MF_PYTHON
}
