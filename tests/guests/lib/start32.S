/*
 * PVH entry of the 32-bit guests: flat protected mode, paging off, EBX =
 * physical address of struct hvm_start_info, no stack.  The guest stays in
 * this mode: virtual addresses are physical ones.
 */
	.section .note.GNU-stack, "", @progbits

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	movl $boot_stack_top, %esp
	pushfl
	popl entry_state + 12   /* eflags */
	cli
	movl %ebx, entry_state + 0
	movl %cr0, %eax
	movl %eax, entry_state + 4
	movl %cr4, %eax
	movl %eax, entry_state + 8

	/* The entry GDT is unspecified: load ours before touching selectors. */
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs

	subl $12, %esp          /* 16-byte alignment at the call */
	pushl %ebx
	call guest_entry
2:	hlt
	jmp 2b

/*
 * A secondary vCPU started by VCPUOP_initialise (VCPU_HVM_MODE_32B): flat
 * segments, paging off, ESP = a 16-byte aligned stack top, EBX = its vCPU
 * id (see smp.c).
 */
	.globl ap_start
ap_start:
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	subl $12, %esp
	pushl %ebx
	call ap_entry
3:	hlt
	jmp 3b

	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08: code, flat 4 GiB */
	.quad 0x00cf93000000ffff        /* 0x10: data, flat 4 GiB */
gdt_end:
	.balign 4
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .bss.stack, "aw", @nobits
	.balign 16
boot_stack:
	.skip 16384
boot_stack_top:
