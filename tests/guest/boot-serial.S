/*
 * A boot sector that prints a line to COM1 and halts: the smallest guest
 * that proves QEMU ran guest code under the accelerator.  Linked at 0x7c00.
 */
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov $msg, %si
    mov $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
2:  hlt
    jmp 2b
msg:
    .asciz "qemu-memfault: boot sector reached\n"
    .org 510
    .word 0xaa55
