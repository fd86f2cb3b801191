/*
 * Event channels the way a 2-level-ABI guest uses them: the shared_info
 * page, atomic bit operations on its pending and mask words, the
 * EVTCHNOP_* operations, and SCHEDOP_poll on one port.
 */
#ifndef GUEST_EVENTS_H
#define GUEST_EVENTS_H

#include "guest.h"

#define XEN_ULONG_BITS ((unsigned)sizeof(xen_ulong_t) * 8)
/* The 2-level ABI's port limit: a selector word of XEN_ULONG_BITS bits,
 * each standing for a word of XEN_ULONG_BITS ports. */
#define EVTCHN_2L_NR_PORTS (XEN_ULONG_BITS * XEN_ULONG_BITS)

/* NULL until shared_info_map() succeeded. */
extern volatile struct shared_info *shared_info;

/* Maps shared_info over a page of the image (XENMEM_add_to_physmap,
 * XENMAPSPACE_shared_info); returns the hypercall's result. */
long shared_info_map(void);

/* Xen system time in ns, from vCPU 0's time info in shared_info. */
uint64_t xen_now(void);

/* A full barrier without SSE2's mfence: a locked no-op on the stack. */
static inline void mb(void)
{
#ifdef __x86_64__
	asm volatile("lock; orl $0, (%%rsp)" : : : "memory", "cc");
#else
	asm volatile("lock; orl $0, (%%esp)" : : : "memory", "cc");
#endif
}

/* x86 keeps stores in order and loads in order: the compiler must, too. */
static inline void barrier(void)
{
	asm volatile("" : : : "memory");
}

/* Atomic bit operations on arrays of xen_ulong_t, as shared with Xen. */
static inline xen_ulong_t xbit_mask(unsigned int bit)
{
	return (xen_ulong_t)1 << (bit % XEN_ULONG_BITS);
}

static inline bool xbit_test(const volatile xen_ulong_t *w, unsigned int bit)
{
	return (w[bit / XEN_ULONG_BITS] & xbit_mask(bit)) != 0;
}

static inline void xbit_set(volatile xen_ulong_t *w, unsigned int bit)
{
	__atomic_fetch_or(&w[bit / XEN_ULONG_BITS], xbit_mask(bit),
			  __ATOMIC_SEQ_CST);
}

static inline void xbit_clear(volatile xen_ulong_t *w, unsigned int bit)
{
	__atomic_fetch_and(&w[bit / XEN_ULONG_BITS], ~xbit_mask(bit),
			   __ATOMIC_SEQ_CST);
}

static inline bool xbit_test_and_clear(volatile xen_ulong_t *w, unsigned int bit)
{
	return (__atomic_fetch_and(&w[bit / XEN_ULONG_BITS], ~xbit_mask(bit),
				   __ATOMIC_SEQ_CST) & xbit_mask(bit)) != 0;
}

/* The port's bits in shared_info. */
static inline bool evtchn_is_pending(evtchn_port_t port)
{
	return xbit_test(shared_info->evtchn_pending, port);
}

static inline void evtchn_clear_pending(evtchn_port_t port)
{
	xbit_clear(shared_info->evtchn_pending, port);
}

static inline bool evtchn_is_masked(evtchn_port_t port)
{
	return xbit_test(shared_info->evtchn_mask, port);
}

static inline void evtchn_set_mask(evtchn_port_t port)
{
	xbit_set(shared_info->evtchn_mask, port);
}

/* Forgets every event signalled to a vCPU: its upcall flag and selector. */
static inline void vcpu_events_clear(volatile struct vcpu_info *vi)
{
	vi->evtchn_upcall_pending = 0;
	__atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}

/* EVTCHNOP_*: each returns the hypercall's result. */
long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port);
long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
			     evtchn_port_t *port);
long evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port);
long evtchn_bind_ipi(uint32_t vcpu, evtchn_port_t *port);
long evtchn_send(evtchn_port_t port);
long evtchn_close(evtchn_port_t port);
long evtchn_unmask(evtchn_port_t port);
long evtchn_status(evtchn_port_t port, struct evtchn_status *st);

/* SCHEDOP_poll on one port; deadline is absolute Xen system time, 0 for
 * none. */
long sched_poll(evtchn_port_t port, uint64_t deadline);

/*
 * Waits with SCHEDOP_poll until port is pending (true) or Xen system time
 * passes deadline (false).  The pending bit is left set.
 */
bool evtchn_wait(evtchn_port_t port, uint64_t deadline);

/* The domain's own id, as Xen reports DOMID_SELF resolved in the status
 * of an unbound port it allocated for itself. */
long xen_domid(domid_t *domid);

#endif
