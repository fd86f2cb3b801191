/*
 * Hypercalls through the hypercall page, as any Xen HVM/PVH guest makes
 * them: hypercall N is `call hypercall_page + N * 32`.  Arguments go in
 * rdi, rsi, rdx, r10, r8 (64-bit) or ebx, ecx, edx, esi, edi (32-bit); the
 * result comes back in rax/eax.  Xen may clobber every argument register,
 * so all five are in/out operands whether the call uses them or not.
 */
#ifndef GUEST_HYPERCALL_H
#define GUEST_HYPERCALL_H

#include "xen.h"

extern char hypercall_page[4096];

#define HYPERCALL_STUB "call hypercall_page + %c[offset]"

#if defined(__x86_64__)
#define _hypercall5(nr, a1, a2, a3, a4, a5) ({				\
	unsigned long __a1 = (unsigned long)(a1);			\
	unsigned long __a2 = (unsigned long)(a2);			\
	unsigned long __a3 = (unsigned long)(a3);			\
	register unsigned long __a4 asm("r10") = (unsigned long)(a4);	\
	register unsigned long __a5 asm("r8") = (unsigned long)(a5);	\
	long __ret;							\
	asm volatile(HYPERCALL_STUB					\
		: "=a" (__ret), "+D" (__a1), "+S" (__a2), "+d" (__a3),	\
		  "+r" (__a4), "+r" (__a5)				\
		: [offset] "i" ((nr) * 32)				\
		: "memory", "cc");					\
	__ret;								\
})
#elif defined(__i386__)
#define _hypercall5(nr, a1, a2, a3, a4, a5) ({				\
	unsigned long __a1 = (unsigned long)(a1);			\
	unsigned long __a2 = (unsigned long)(a2);			\
	unsigned long __a3 = (unsigned long)(a3);			\
	unsigned long __a4 = (unsigned long)(a4);			\
	unsigned long __a5 = (unsigned long)(a5);			\
	long __ret;							\
	asm volatile(HYPERCALL_STUB					\
		: "=a" (__ret), "+b" (__a1), "+c" (__a2), "+d" (__a3),	\
		  "+S" (__a4), "+D" (__a5)				\
		: [offset] "i" ((nr) * 32)				\
		: "memory", "cc");					\
	__ret;								\
})
#else
#error "x86 guests only"
#endif

#define _hypercall0(nr)			_hypercall5(nr, 0, 0, 0, 0, 0)
#define _hypercall1(nr, a1)		_hypercall5(nr, a1, 0, 0, 0, 0)
#define _hypercall2(nr, a1, a2)		_hypercall5(nr, a1, a2, 0, 0, 0)
#define _hypercall3(nr, a1, a2, a3)	_hypercall5(nr, a1, a2, a3, 0, 0)
#define _hypercall4(nr, a1, a2, a3, a4)	_hypercall5(nr, a1, a2, a3, a4, 0)

/*
 * Pointer arguments are unsigned long so that tests can pass addresses that
 * are deliberately invalid or reached through another mapping.
 */
static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
	return _hypercall2(__HYPERVISOR_xen_version, cmd, arg);
}

static inline long HYPERVISOR_console_io(int cmd, int count, unsigned long buf)
{
	return _hypercall3(__HYPERVISOR_console_io, cmd, count, buf);
}

static inline long HYPERVISOR_memory_op(unsigned int cmd, unsigned long arg)
{
	return _hypercall2(__HYPERVISOR_memory_op, cmd, arg);
}

static inline long HYPERVISOR_hvm_op(int op, void *arg)
{
	return _hypercall2(__HYPERVISOR_hvm_op, op, arg);
}

static inline long HYPERVISOR_vcpu_op(int cmd, unsigned int vcpuid, void *arg)
{
	return _hypercall3(__HYPERVISOR_vcpu_op, cmd, vcpuid, arg);
}

static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{
	return _hypercall2(__HYPERVISOR_sched_op, cmd, arg);
}

static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{
	return _hypercall2(__HYPERVISOR_event_channel_op, cmd, arg);
}

static inline long HYPERVISOR_grant_table_op(unsigned int cmd, void *uop,
					     unsigned int count)
{
	return _hypercall3(__HYPERVISOR_grant_table_op, cmd, uop, count);
}

/* The deadline is absolute Xen system time in ns, 0 to cancel.  A 32-bit
 * guest passes the 64-bit value in two registers, low half first. */
static inline long HYPERVISOR_set_timer_op(uint64_t deadline)
{
#ifdef __x86_64__
	return _hypercall1(__HYPERVISOR_set_timer_op, deadline);
#else
	return _hypercall2(__HYPERVISOR_set_timer_op, (uint32_t)deadline,
			   (uint32_t)(deadline >> 32));
#endif
}

#endif
