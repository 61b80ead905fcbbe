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
 *
 * With AB_RANDOM=1 a pass visits the pages in a scattered order instead of
 * address order: x runs through the full period of the LCG
 * x' = (AB_LCG_A * x + AB_LCG_C) mod 2^AB_LOG2 (a = 1 mod 4, c odd: every
 * value once), and page x is touched when x < AB_PAGES.  Each pass uses the
 * same order, so the invariant holds along that order; the benchmarks use it
 * to fault pages the way a real workload does, out of the source's order.
 * AB_RANDOM and AB_LOG2 are recorded at 500 for the tests.
 */
    .set AB_START, 0x100000
    .set AB_END, AB_END_MIB * 0x100000
    .set COM1, 0x3f8
    .set AB_PAGES, (AB_END - AB_START) / 4096
    .set AB_LCG_A, 1103515245
    .set AB_LCG_C, 12345

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
.if AB_RANDOM
pass:
    xor %ebx, %ebx              /* x: the LCG's state, 0 at every pass */
    mov $(1 << AB_LOG2), %ecx   /* one full period */
step:
    cmp $AB_PAGES, %ebx
    jae next
    mov %ebx, %eax
    shl $12, %eax
    incb AB_START(%eax)
next:
    imul $AB_LCG_A, %ebx, %ebx
    add $AB_LCG_C, %ebx
    and $((1 << AB_LOG2) - 1), %ebx
    loop step
.else
pass:
    mov $AB_START, %eax
page:
    incb (%eax)
    add $4096, %eax
    cmp $AB_END, %eax
    jb page
.endif
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

    /* The order of a pass (0: addresses, 1: the LCG) and its period's log2. */
    .org 500
    .word AB_RANDOM
    .word AB_LOG2
    /* Where the loop ends, for the tests: "ABMB" and AB_END_MIB at 504. */
    .org 504
    .ascii "ABMB"
    .word AB_END_MIB
    .word 0xaa55
