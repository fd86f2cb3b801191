/*
 * What makes the image a Xen PVH guest: the PHYS32_ENTRY ELF note naming
 * the 32-bit entry point, and the page Xen fills with hypercall stubs.
 */
#include <xen/elfnote.h>

	.section .note.GNU-stack, "", @progbits

	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f           /* name size */
	.long 4f - 3f           /* descriptor size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.long _start            /* physical address of the 32-bit entry */
4:	.balign 4

/* ud2 until Xen fills it: calling a hypercall before that faults. */
	.section .text.hypercall_page, "ax"
	.balign 4096
	.globl hypercall_page
hypercall_page:
	.fill 2048, 2, 0x0b0f
	.size hypercall_page, 4096
