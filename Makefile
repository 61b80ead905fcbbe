# Entry points.  A new user needs two:  make demo  and  make check.
#   make                 build everything (runs ./configure: fetch, patch, build)
#   make demo            build, then run the main job with a readable report
#   make check           build, then run the test suites; last line "N passed, N failed"
#   make check-full      make check plus QEMU's whole postcopy qtest set
#                        (~15 min more)
#   make soak            SOAK_N (200) postcopy migrations with memfault=on in the
#                        rig, plain/preempt x sequential/random, memory checked
#                        each time, a tally at the end; then SOAK_LINUX_N (20)
#                        of the Linux test guest, 2 vCPUs (tests/guest/linux);
#                        SOAK_JOBS (2) L1s at a time, under the L0 QEMU SOAK_L0
#                        (10.2).  Every run must take memory-fault exits
#                        (migrate.py --expect-exits holds the stream back
#                        until the first one)
#   make bench           the full benchmarks (tests/bench/run; ~1 h, results in
#                        build/bench/<date>; docs/benchmarks.md is one such run)
#   make export-patches  write the commits of build/qemu back to patches/qemu
.PHONY: all build demo check check-full soak bench export-patches clean distclean

all: build

build:
	./configure

demo: build
	tests/functional/demo.sh

check: build
	scripts/check.sh

check-full: build
	MF_CHECK_FULL=1 scripts/check.sh

SOAK_N ?= 200
SOAK_LINUX_N ?= 20
SOAK_JOBS ?= 2
SOAK_L0 ?= 10.2
LINUX_GUEST = $(CURDIR)/build/lib/tests/guest/linux-guest
soak: build
	rc=0; \
	tests/rig/migrate-loop --l0 $(SOAK_L0) --jobs $(SOAK_JOBS) --vary --runs $(SOAK_N) --per-boot 20 -- \
	    --memfault on --expect-exits --postcopy-bw 16 || rc=1; \
	tests/rig/migrate-loop --l0 $(SOAK_L0) --jobs $(SOAK_JOBS) --runs $(SOAK_LINUX_N) --per-boot 5 -- \
	    --linux-kernel $(LINUX_GUEST).vmlinuz --linux-initrd $(LINUX_GUEST).cpio.gz \
	    --smp 2 --mem 256 --memfault on --expect-exits --postcopy-bw 16 || rc=1; \
	exit $$rc

bench: build
	tests/bench/run

export-patches:
	scripts/qemu-tree.sh export

clean:
	rm -rf build/lib build/qemu/build

# Also drops the QEMU checkout: commit and export your QEMU work first.
distclean:
	rm -rf build
