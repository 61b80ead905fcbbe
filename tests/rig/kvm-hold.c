// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-hold: keep KVM's static keys enabled for the life of the rig's L1.
 *
 * Creating the first VM, and the first vCPU of each kind, flips static keys
 * in L1's kernel and kvm.ko (preempt_notifier_key, kvm_has_noapic_vcpu,
 * apic_sw_disabled); destroying the last one flips them back.  Each flip
 * patches kernel text through an int3, and L0's multi-threaded TCG now and
 * then runs a stale translation of a patched site on the other CPU, which
 * kills L1 with "Oops: int3" (docs/rig.md).  The rig's /init runs this while
 * L1 has one CPU online, then brings the others up: with these two VMs alive,
 * the keys never flip again, however many VMs the job creates.
 *
 *   kvm-hold READY_FILE     creates the VMs, writes READY_FILE, sleeps
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int vm_with_vcpu(int kvm, int irqchip)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);

	if (vm < 0) {
		perror("kvm-hold: KVM_CREATE_VM");
		return -1;
	}
	if (irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		perror("kvm-hold: KVM_CREATE_IRQCHIP");
		return -1;
	}
	if (ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		perror("kvm-hold: KVM_CREATE_VCPU");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int kvm;

	if (argc != 2) {
		fprintf(stderr, "usage: %s READY_FILE\n", argv[0]);
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("kvm-hold: /dev/kvm");
		return 1;
	}
	/* An in-kernel local APIC (what QEMU creates), and none (the kernel test). */
	if (vm_with_vcpu(kvm, 1) || vm_with_vcpu(kvm, 0))
		return 1;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		perror("kvm-hold: ready file");
		return 1;
	}
	close(fd);
	for (;;)
		pause();
}
