/*
 * Event-channel upcalls, both ways an HVM/PVH guest asks for them, each
 * triggered by a send on a loopback channel and awaited in `sti; hlt`:
 *  (b) the global callback vector, HVM_PARAM_CALLBACK_IRQ type 2: injected
 *      like ExtINT, so the handler does not EOI the LAPIC;
 *  (a) the per-vCPU vector, HVMOP_set_evtchn_upcall_vector (offered by
 *      XEN_HVM_CPUID_UPCALL_VECTOR): a LAPIC interrupt the handler EOIs.
 * (b) runs first and is then switched off (value 0): Xen has no way back
 * from a per-vCPU vector, which takes precedence once set.
 * 64-bit only: returning from an interrupt in 32-bit protected mode needs
 * IRET, which this machine's PVM cannot emulate at CPL0.  A LAPIC timer
 * bounds each wait, so that a missing upcall fails instead of hanging.
 */
#include "events.h"

#define LAPIC_BASE        0xfee00000u
#define LAPIC_TPR         0x080
#define LAPIC_EOI         0x0b0
#define LAPIC_SVR         0x0f0
#define LAPIC_SVR_ENABLE  0x100
#define LAPIC_LVT_TIMER   0x320
#define LAPIC_TIMER_INIT  0x380
#define LAPIC_TIMER_DIV   0x3e0
#define LAPIC_DIV_128     0xa
/* About 4 s at KVM's 1 GHz APIC bus: the wait for an upcall gives up. */
#define WATCHDOG_COUNT    0x2000000u

#define WATCHDOG_VECTOR   0xf0
#define CALLBACK_VECTOR   0xf2
#define UPCALL_VECTOR     0xf3
#define SPURIOUS_VECTOR   0xff

enum { VIA_CALLBACK, VIA_VECTOR, NR_VIAS };

static volatile struct vcpu_info *vi;
static evtchn_port_t watched_port;
static volatile unsigned int upcalls[NR_VIAS];
static volatile unsigned int watched_seen, watchdog_fired;

/* What Linux's upcall handler does: take the selector, then each pending,
 * unmasked port in the words it names. */
static void scan_events(void)
{
	xen_ulong_t sel;

	vi->evtchn_upcall_pending = 0;
	sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	for (unsigned int w = 0; w < XEN_ULONG_BITS; w++) {
		xen_ulong_t ready;

		if (!(sel & xbit_mask(w)))
			continue;
		ready = shared_info->evtchn_pending[w] & ~shared_info->evtchn_mask[w];
		for (unsigned int b = 0; ready && b < XEN_ULONG_BITS; b++) {
			evtchn_port_t port = w * XEN_ULONG_BITS + b;

			if (!(ready & xbit_mask(b)))
				continue;
			ready &= ~xbit_mask(b);
			evtchn_clear_pending(port);
			if (port == watched_port)
				watched_seen++;
		}
	}
}

static void callback_interrupt(struct trap_frame *frame)
{
	(void)frame;
	upcalls[VIA_CALLBACK]++;
	scan_events();
	/* No EOI: the callback vector does not go through the LAPIC's ISR. */
}

static void upcall_interrupt(struct trap_frame *frame)
{
	(void)frame;
	upcalls[VIA_VECTOR]++;
	scan_events();
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

static void spurious_interrupt(struct trap_frame *frame)
{
	(void)frame;
}

/* The LAPIC timer: a watchdog that owes nothing to event channels. */
static void watchdog_interrupt(struct trap_frame *frame)
{
	(void)frame;
	watchdog_fired = 1;
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

/*
 * Sends on `from`, whose peer `to` we watch, and waits in `sti; hlt` until
 * an upcall handled `to` or the LAPIC timer gave up.
 */
static bool send_and_wait(evtchn_port_t from, evtchn_port_t to)
{
	watched_port = to;
	watched_seen = 0;
	watchdog_fired = 0;
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_INIT, WATCHDOG_COUNT);
	if (evtchn_send(from) != 0)
		return false;
	while (!watched_seen && !watchdog_fired)
		wait_for_interrupt();
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_INIT, 0);
	if (!watched_seen)
		printf("upcall: no upcall for port %u: upcall_pending %u, pending_sel %#lx, "
		       "port pending %d\n", to, vi->evtchn_upcall_pending,
		       (unsigned long)vi->evtchn_pending_sel, evtchn_is_pending(to));
	return watched_seen != 0;
}

static void test_callback_vector(evtchn_port_t a, evtchn_port_t b)
{
	struct xen_hvm_param p = {
		.domid = DOMID_SELF,
		.index = HVM_PARAM_CALLBACK_IRQ,
		.value = (uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | CALLBACK_VECTOR,
	};
	unsigned int before;
	long rc;

	rc = HYPERVISOR_hvm_op(HVMOP_set_param, &p);
	check_long("HVMOP_set_param(HVM_PARAM_CALLBACK_IRQ, type 2 vector 0xf2)", rc, 0);
	p.value = 0;
	rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);
	check(rc == 0 && p.value == ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 |
				     CALLBACK_VECTOR),
	      "HVMOP_get_param(HVM_PARAM_CALLBACK_IRQ) reads it back");

	before = upcalls[VIA_CALLBACK];
	check(send_and_wait(b, a), "callback vector: the loopback event was handled");
	printf("upcall: %u callback upcalls\n", upcalls[VIA_CALLBACK] - before);
	check(upcalls[VIA_CALLBACK] > before, "callback vector: vector 0xf2 ran");
	check(send_and_wait(b, a), "callback vector: a second event was handled too");

	p.value = 0;
	rc = HYPERVISOR_hvm_op(HVMOP_set_param, &p);
	check_long("HVMOP_set_param(HVM_PARAM_CALLBACK_IRQ, 0) switches it off", rc, 0);
}

static void test_upcall_vector(evtchn_port_t a, evtchn_port_t b)
{
	struct xen_hvm_evtchn_upcall_vector op = { .vcpu = 0, .vector = 0x0f };
	unsigned int before, callbacks;
	uint32_t eax, ebx, ecx, edx;
	long rc;

	cpuid(xen_cpuid.base, &eax, &ebx, &ecx, &edx);
	if (!check(eax >= xen_cpuid.base + 4, "CPUID has the Xen HVM features leaf (base + 4)"))
		return;
	cpuid(xen_cpuid.base + 4, &eax, &ebx, &ecx, &edx);
	printf("upcall: CPUID base+4 eax %#x\n", eax);
	if (!check(eax & XEN_HVM_CPUID_UPCALL_VECTOR, "CPUID offers XEN_HVM_CPUID_UPCALL_VECTOR"))
		return;

	check_long("HVMOP_set_evtchn_upcall_vector with vector 0x0f is -EINVAL",
		   HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &op), -XEN_EINVAL);
	op.vector = UPCALL_VECTOR;
	op.vcpu = 4096;
	check_long("HVMOP_set_evtchn_upcall_vector for a missing vCPU is -ENOENT",
		   HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &op), -XEN_ENOENT);
	op.vcpu = 0;
	rc = HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &op);
	check_long("HVMOP_set_evtchn_upcall_vector(vcpu 0, 0xf3)", rc, 0);

	before = upcalls[VIA_VECTOR];
	callbacks = upcalls[VIA_CALLBACK];
	check(send_and_wait(b, a), "per-vCPU vector: the loopback event was handled");
	printf("upcall: %u vector upcalls\n", upcalls[VIA_VECTOR] - before);
	check(upcalls[VIA_VECTOR] > before, "per-vCPU vector: vector 0xf3 ran");
	/* Only an EOI'd vector can be taken again. */
	before = upcalls[VIA_VECTOR];
	check(send_and_wait(b, a), "per-vCPU vector: a second event was handled after EOI");
	check(upcalls[VIA_VECTOR] > before, "per-vCPU vector: vector 0xf3 ran again");
	check_long("the switched-off callback vector stayed quiet",
		   upcalls[VIA_CALLBACK] - callbacks, 0);
}

void guest_main(const struct hvm_start_info *si)
{
	evtchn_port_t a, b;
	long rc;

	(void)si;
	printf("upcall: %u-bit guest\n", GUEST_BITS);
	trap_set_handler(CALLBACK_VECTOR, callback_interrupt);
	trap_set_handler(UPCALL_VECTOR, upcall_interrupt);
	trap_set_handler(SPURIOUS_VECTOR, spurious_interrupt);
	trap_set_handler(WATCHDOG_VECTOR, watchdog_interrupt);
	mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
	mmio_write32(LAPIC_BASE + LAPIC_TPR, 0);
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_DIV, LAPIC_DIV_128);
	mmio_write32(LAPIC_BASE + LAPIC_LVT_TIMER, WATCHDOG_VECTOR);  /* one-shot */

	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	vi = &shared_info->vcpu_info[0];
	rc = evtchn_alloc_unbound(DOMID_SELF, &a);
	check_long("EVTCHNOP_alloc_unbound", rc, 0);
	rc = evtchn_bind_interdomain(DOMID_SELF, a, &b);
	if (!check_long("EVTCHNOP_bind_interdomain (loopback)", rc, 0))
		return;

	test_callback_vector(a, b);
	test_upcall_vector(a, b);
	printf("upcall: done\n");
}
