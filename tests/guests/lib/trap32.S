/* Interrupt and exception entry, 32-bit: see trap.c. */
	.section .note.GNU-stack, "", @progbits

	.text
	.balign 16
	.globl trap_stubs
trap_stubs:
	.set vec, 0
	.rept 256
	.org trap_stubs + vec * 16
	/* Vectors for which the CPU pushes no error code get a zero one, so
	 * that every frame has the same layout. */
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushl $0
	.endif
	pushl $vec
	jmp trap_common
	.set vec, vec + 1
	.endr

trap_common:
	cld
	pushal
	pushl %esp              /* struct trap_frame * */
	call trap_dispatch
	addl $4, %esp
	popal
	addl $8, %esp           /* vector and error code */
	iret
