/*
 * PVH entry of the 64-bit guests: the 32-bit entry (flat protected mode,
 * paging off, EBX = physical address of struct hvm_start_info, no stack)
 * switches to long mode on the static page tables below and calls
 * guest_entry().
 */
	.section .note.GNU-stack, "", @progbits

#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS  0x080
#define TABLE   (PTE_P | PTE_RW)

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

	lgdt gdt_desc
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* CR4.PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $0x100, %eax                /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax           /* CR0.PG | CR0.PE */
	movl %eax, %cr0
	ljmp $0x08, $start64

	.code64
start64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $boot_stack_top, %esp      /* zero-extends into RSP */
	movl entry_state(%rip), %edi
	call guest_entry
1:	hlt
	jmp 1b

/*
 * A secondary vCPU started by VCPUOP_initialise (VCPU_HVM_MODE_32B): flat
 * segments, paging off, ESP = a 16-byte aligned stack top, EBX = its vCPU
 * id (see smp.c).  It enters long mode on the same page tables.
 */
	.code32
	.globl ap_start
ap_start:
	lgdt gdt_desc
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* CR4.PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $0x100, %eax                /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax           /* CR0.PG | CR0.PE */
	movl %eax, %cr0
	ljmp $0x08, $ap64

	.code64
ap64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl %esp, %esp                 /* zero-extends into RSP */
	movl %ebx, %edi
	call ap_entry
2:	hlt
	jmp 2b

	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9b000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff        /* 0x10: data */
gdt_end:
	.balign 4
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

/*
 * Page tables, built by the assembler so that start-up runs no loops:
 *   0 .. 4 GiB          identity, 2 MiB pages; 0xfe000000 .. 4 GiB (IOAPIC,
 *                       LAPIC) uncached
 *   0xffff800000000000  the same 4 GiB again (a high alias)
 *   0xffff800100000000  two 4 KiB pages in swapped physical order
 */
	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad pdpt_low + TABLE
	.fill 255, 8, 0
	.quad pdpt_high + TABLE         /* PML4[256]: 0xffff800000000000 */
	.fill 255, 8, 0
pdpt_low:
	.quad pd_4g + TABLE, pd_4g + 0x1000 + TABLE
	.quad pd_4g + 0x2000 + TABLE, pd_4g + 0x3000 + TABLE
	.fill 508, 8, 0
pdpt_high:
	.quad pd_4g + TABLE, pd_4g + 0x1000 + TABLE
	.quad pd_4g + 0x2000 + TABLE, pd_4g + 0x3000 + TABLE
	.quad pd_scatter + TABLE        /* 0xffff800100000000 */
	.fill 507, 8, 0
pd_4g:
	.set addr, 0
	.rept 2048
	.if addr >= 0xfe000000
	.quad addr + (PTE_P | PTE_RW | PTE_PS | PTE_PWT | PTE_PCD)
	.else
	.quad addr + (PTE_P | PTE_RW | PTE_PS)
	.endif
	.set addr, addr + 0x200000
	.endr
pd_scatter:
	.quad pt_scatter + TABLE
	.fill 511, 8, 0
pt_scatter:
	.quad scatter_page_b + TABLE
	.quad scatter_page_a + TABLE
	.fill 510, 8, 0

	.section .bss.pages, "aw", @nobits
	.balign 4096
	.globl scatter_page_a, scatter_page_b
scatter_page_a:
	.skip 4096
scatter_page_b:
	.skip 4096

	.section .bss.stack, "aw", @nobits
	.balign 16
boot_stack:
	.skip 16384
boot_stack_top:
