# Pinned inputs from Debian's archive.  Every download is checked against these.
# Changing a version means changing its checksum in the same commit.

# QEMU 10.2.2 from Debian's source package (sid).  The newest QEMU whose source
# Debian's archive serves here: 11.1.x is listed in sid and trixie-backports but
# its source files are not served (HTTP 404; docs/testing.md, "Versions").
QEMU_DEB_VERSION='1:10.2.2+ds-1'
QEMU_UPSTREAM='10.2.2'
QEMU_ORIG='qemu_10.2.2+ds.orig.tar.xz'
QEMU_ORIG_SHA256='be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb'
QEMU_DEBIAN='qemu_10.2.2+ds-1.debian.tar.xz'
QEMU_DEBIAN_SHA256='ddf75aceab4f8f77374f3cb34fc97b41514895aeb293ce8b2ddd5e072bb0f5c0'

# QEMU 10.2 needs meson >= 1.5 and pycotap; bookworm's meson is 1.0.  These are
# trixie's pure-Python packages, unpacked into the build tree, never installed.
MESON_DEB='meson_1.7.0-1_all.deb'
MESON_DEB_VERSION='1.7.0-1'
MESON_DEB_SHA256='e92d04e60e784336883d537755d09b7dcb856809fa318a0931df3898e84ded95'
PYCOTAP_DEB='python3-pycotap_1.3.1-2_all.deb'
PYCOTAP_DEB_VERSION='1.3.1-2'
PYCOTAP_DEB_SHA256='7e8dbf3ac06434275a461d0de79792e2b80126febc53866c89027adde5192ac9'

# Packages from the machine's own Debian (bookworm) that building and testing need.
BUILD_DEPS='build-essential pkg-config ninja-build ccache git xz-utils ca-certificates
 python3 python3-venv clang lld llvm libclang-rt-14-dev
 libgtest-dev libgmock-dev googletest libbenchmark-dev
 libglib2.0-dev libpixman-1-dev libslirp-dev libfdt-dev zlib1g-dev
 seabios qemu-system-data ipxe-qemu binutils'
# QEMU 10.2's build compiles pc-bios/dtb when dtc is there and otherwise wants the
# .dtb files, which Debian's +ds tarball does not ship.
BUILD_DEPS="$BUILD_DEPS device-tree-compiler"

# Debian's linux 6.12 for bookworm (bookworm-security), for our KVM modules and the
# rig.  If the archive no longer has this version, scripts/linux-pkgs.sh takes the
# newest linux-source-6.12 and the image/headers of the same version (apt checks
# their signatures) and says so.
LINUX_DEB_VERSION='6.12.117-1~deb12u1'
LINUX_SOURCE_SHA256='e849faf31ca3555757f3a8877cb01af92122f744f75d1f3102734651c4e14703'
LINUX_IMAGE_SHA256='5de3e329c887173debec07ff1325c975cf4f286d364929d17fecb1e1325c5c46'
# Unpacked into the cache for the module build, never installed (linux-pkgs.sh).
LINUX_HEADERS_SHA256='8ee4c67f8399bc6f9aa1c5256d9d1b1b7eace76c7acca519e63f1b7df5fc4bd0'
LINUX_HEADERS_COMMON_SHA256='0c70107dda266a9d26dc119d80a71589202b17fbf4d4ddf544681c89e2002742'
LINUX_KBUILD_SHA256='69761d1daf39e43485d278cc7066f77c15edc3b881d6e47afd61cf0da0985677'
# Debian's linux 7.3 for trixie (trixie-backports), the second kernel our KVM
# modules are built for and the rig boots (--kernel 7.3).  Its kernel and modules
# come in two packages (linux-binary-unsigned-<abi>, linux-modules-<abi>).
# Built in the trixie build root of scripts/kernel-root.sh (scripts/kernel-root.lock).
LINUX73_DEB_VERSION='7.3.4-1~bpo13+1'
LINUX73_SOURCE_SHA256='703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3'
LINUX73_BINARY_SHA256='f7192653d0b077ddb7059842822a9f4dc28395ec9e5fd2fc31064cc3b1ed3edb'
LINUX73_MODULES_SHA256='b3ea01922c9f133767a83cf6891c19b3693858ded617bf22d1e34f95382c08ea'
LINUX73_HEADERS_SHA256='1c43249a7b98aee4af60f2b822ddb04a9e96c1c9e8b013e5f74d3d9faf318699'
LINUX73_HEADERS_COMMON_SHA256='886647d4a7b05d2aedd22f8e16917c5b75e97e8946966d6bac48962c40b19a06'
LINUX73_KBUILD_SHA256='248cce12d48862f7d38ca51efdb759c031192543d144f18bd36a5df37f156244'
# busybox for the rig's initramfs (unpacked, never installed).
BUSYBOX_DEB_VERSION='1:1.35.0-4+deb12u1+b1'
BUSYBOX_DEB_SHA256='3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744'
# Building kvm modules: the kernel's compiler, and kbuild's pahole (the modules' BTF).
BUILD_DEPS="$BUILD_DEPS qemu-system-x86 cpio kmod bc gcc-12 pahole libelf1"
# The rig's state dumps of a stuck command (tests/rig/dump-state).
BUILD_DEPS="$BUILD_DEPS gdb"
# tests/libvirt: Debian's libvirt daemon (no libvirt-daemon-system: no services).
BUILD_DEPS="$BUILD_DEPS libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
# The benchmarks: network namespaces (iproute2, util-linux: unshare, nsenter) and
# the report's plots.
BUILD_DEPS="$BUILD_DEPS iproute2 util-linux python3-matplotlib"
# The rig's L0 (tests/rig/run): bookworm-backports' QEMU 10.0 with TCG, unpacked
# into the cache (scripts/rig-l0.sh), never installed.  The system's Debian QEMU
# 7.2 (qemu-system-x86 above) stays: the older L0 (--l0 7.2), and the unmodified
# source of the rig's migrations from QEMU 7.2.
RIG_L0_DEB_VERSION='1:10.0.2+ds-2+deb13u1~bpo12+1'
RIG_L0_X86_SHA256='4a6b1856c8b0d7df4ff8e70249e12c473ccf8d516aadb4ae14d3d938faed0c65'
RIG_L0_COMMON_SHA256='23a4672a138832d7173855e981aa8282c73ef5e04e080fa7ada9f82c6b34f507'
RIG_L0_DATA_SHA256='2d831088187087013b3fcbd19bdfb955b182a2d5a08f6dafa0ad1c6d2007fb4e'
