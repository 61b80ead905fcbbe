/*
 * A/B migration test guest: a 512-byte boot sector (linked at 0x7c00).
 *
 * It switches to 32-bit protected mode with flat segments, then loops
 * forever over guest memory [1 MiB, AB_END_MIB MiB), incrementing the first
 * byte of every 4 KiB page, and writes 'B' to COM1 after every full pass
 * ('A' once, before the first).  Stopped at any moment, memory therefore
 * holds one value v for the pages before the loop's position and v-1 (mod
 * 256) for the pages after it: the invariant tests/functional/migrate.py
 * checks on a migration's destination.
 *
 * AB_END_MIB comes from the build (--defsym) and is recorded at offset 504
 * (after "ABMB") for the tests; memory below 1 MiB is left alone (BIOS
 * data, this code).
 */
    .set AB_START, 0x100000
    .set AB_END, AB_END_MIB * 0x100000
    .set COM1, 0x3f8

    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    /* A20 through the "fast A20" port (System Control Port A). */
    inb $0x92, %al
    or $2, %al
    and $0xfe, %al
    outb %al, $0x92
    lgdtl gdt_desc
    mov %cr0, %eax
    or $1, %eax                 /* PE */
    mov %eax, %cr0
    ljmpl $0x08, $pm

    .code32
pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %esp
    mov $COM1, %dx
    mov $'A', %al
    outb %al, %dx
pass:
    mov $AB_START, %eax
page:
    incb (%eax)
    add $4096, %eax
    cmp $AB_END, %eax
    jb page
    mov $'B', %al
    outb %al, %dx
    jmp pass

    .p2align 3
gdt:
    .quad 0                     /* null */
    .quad 0x00cf9a000000ffff    /* 0x08: code, base 0, limit 4 GiB, 32-bit */
    .quad 0x00cf92000000ffff    /* 0x10: data, base 0, limit 4 GiB */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long gdt

    /* Where the loop ends, for the tests: "ABMB" and AB_END_MIB at 504. */
    .org 504
    .ascii "ABMB"
    .word AB_END_MIB
    .word 0xaa55
