#!/usr/bin/env bash
# Build the Linux test guest (README.md): Debian's 6.12 kernel image, the
# same the rig boots as L1, and an initramfs with busybox, /init and memtouch.
#
#   tests/guest/linux/build.sh OUTDIR INIT MEMTOUCH
#
# Writes OUTDIR/linux-guest.vmlinuz and OUTDIR/linux-guest.cpio.gz.  The
# packages come from Debian's archive, pinned (scripts/pins.sh), cached.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/lib.sh"
. "$MF_ROOT/scripts/linux-pkgs.sh"
out=$1 init=$2 memtouch=$3

linux_select 6.12
linux_resolve
vmlinuz=$(linux_rig_vmlinuz)
tmp=$(mktemp -d "$out/.linux-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
linux_rig_unpack "$tmp" "$vmlinuz" || die "no linux-image package for $LINUX_VER"
[ -f "$tmp/$vmlinuz" ] || die "the packages of linux $LINUX_VER have no $vmlinuz"

bb=$(busybox_deb) || die "busybox-static cannot be had from apt"
dpkg-deb -x "$bb" "$tmp/bb"
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys}
cp "$tmp/bb/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$init" "$root/init"
cp "$memtouch" "$root/bin/memtouch"
chmod +x "$root/init" "$root/bin/memtouch"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$tmp/initrd"
mv "$tmp/initrd" "$out/linux-guest.cpio.gz"
mv "$tmp/$vmlinuz" "$out/linux-guest.vmlinuz"
