/*
 * Event channels, 2-level ABI: a loopback interdomain pair (alloc_unbound
 * and bind_interdomain to our own domain), what a send sets in shared_info
 * and vcpu_info, masking and EVTCHNOP_unmask, EVTCHNOP_status in every
 * state, VIRQ and IPI bindings and their errors, close, port exhaustion
 * and EVTCHNOP_reset, and the FIFO ABI's absence.  No upcall is set up:
 * the guest looks at the bits with interrupts off.
 */
#include "events.h"

static domid_t self;
static volatile struct vcpu_info *vi;

/* Port bitmap for the exhaustion test: each port once. */
static uint8_t seen_port[EVTCHN_2L_NR_PORTS / 8];
static uint8_t fifo_control_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static const char *const state_names[] = {
	[EVTCHNSTAT_closed] = "closed",
	[EVTCHNSTAT_unbound] = "unbound",
	[EVTCHNSTAT_interdomain] = "interdomain",
	[EVTCHNSTAT_pirq] = "pirq",
	[EVTCHNSTAT_virq] = "virq",
	[EVTCHNSTAT_ipi] = "ipi",
};

static bool selector_set(evtchn_port_t port)
{
	return (vi->evtchn_pending_sel & xbit_mask(port / XEN_ULONG_BITS)) != 0;
}

/* Forgets everything a previous send left, so that the next one shows. */
static void reset_bits(evtchn_port_t port)
{
	evtchn_clear_pending(port);
	vcpu_events_clear(vi);
}

/* EVTCHNOP_status of port; checks the call and the state. */
static bool status_is(evtchn_port_t port, uint32_t state, struct evtchn_status *st,
		      const char *what)
{
	char name[96];
	long rc = evtchn_status(port, st);

	snprintf(name, sizeof(name), "EVTCHNOP_status(%s port %u)", what, port);
	if (!check_long(name, rc, 0))
		return false;
	snprintf(name, sizeof(name), "%s port %u is %s", what, port,
		 state < 6 ? state_names[state] : "?");
	return check_long(name, st->status, state);
}

static void test_loopback(evtchn_port_t *a, evtchn_port_t *b)
{
	struct evtchn_status st;
	long rc;

	rc = evtchn_alloc_unbound(DOMID_SELF, a);
	check_long("EVTCHNOP_alloc_unbound(DOMID_SELF, DOMID_SELF)", rc, 0);
	printf("evtchn: unbound port %u\n", *a);
	check(*a != 0, "alloc_unbound never returns port 0");
	if (status_is(*a, EVTCHNSTAT_unbound, &st, "unbound")) {
		self = st.u.unbound.dom;
		printf("evtchn: DOMID_SELF is domain %u\n", self);
		check(self < DOMID_FIRST_RESERVED,
		      "unbound status names our real domain id for DOMID_SELF");
	}
	check_long("unbound port status vcpu is 0", st.vcpu, 0);

	rc = evtchn_bind_interdomain(DOMID_SELF, *a, b);
	check_long("EVTCHNOP_bind_interdomain(DOMID_SELF, unbound port)", rc, 0);
	printf("evtchn: loopback %u <-> %u\n", *a, *b);
	check(*b != *a && *b != 0, "bind_interdomain returns a new port");
	if (status_is(*a, EVTCHNSTAT_interdomain, &st, "remote end")) {
		check_long("remote end's peer domain", st.u.interdomain.dom, self);
		check_long("remote end's peer port", st.u.interdomain.port, *b);
	}
	if (status_is(*b, EVTCHNSTAT_interdomain, &st, "local end")) {
		check_long("local end's peer domain", st.u.interdomain.dom, self);
		check_long("local end's peer port", st.u.interdomain.port, *a);
	}
	check_long("bind_interdomain to an already bound port is -EINVAL",
		   evtchn_bind_interdomain(DOMID_SELF, *a, &(evtchn_port_t){ 0 }),
		   -XEN_EINVAL);
}

static void test_send(evtchn_port_t a, evtchn_port_t b)
{
	evtchn_clear_pending(b);
	reset_bits(a);
	check_long("EVTCHNOP_send on the local end", evtchn_send(b), 0);
	check(evtchn_is_pending(a), "send marks the peer port pending");
	check(!evtchn_is_pending(b), "send does not mark the sending port");
	check(selector_set(a), "send sets the peer's word in evtchn_pending_sel");
	check(vi->evtchn_upcall_pending == 1, "send sets evtchn_upcall_pending");

	/* The other direction, too. */
	reset_bits(b);
	check_long("EVTCHNOP_send on the remote end", evtchn_send(a), 0);
	check(evtchn_is_pending(b), "send from the remote end marks the local end");
	evtchn_clear_pending(a);
	evtchn_clear_pending(b);
}

static void test_mask(evtchn_port_t a, evtchn_port_t b)
{
	evtchn_set_mask(a);
	reset_bits(a);
	check_long("EVTCHNOP_send to a masked port", evtchn_send(b), 0);
	check(evtchn_is_pending(a), "a masked port still becomes pending");
	check(!selector_set(a), "a masked port leaves evtchn_pending_sel alone");
	check(vi->evtchn_upcall_pending == 0, "a masked port raises no upcall");

	check_long("EVTCHNOP_unmask", evtchn_unmask(a), 0);
	check(!evtchn_is_masked(a), "EVTCHNOP_unmask clears the mask bit");
	check(selector_set(a), "unmasking a pending port sets evtchn_pending_sel");
	check(vi->evtchn_upcall_pending == 1,
	      "unmasking a pending port sets evtchn_upcall_pending");

	/* Nothing pending: unmasking raises nothing. */
	evtchn_set_mask(a);
	reset_bits(a);
	check_long("EVTCHNOP_unmask of a port with nothing pending", evtchn_unmask(a), 0);
	check(!selector_set(a) && vi->evtchn_upcall_pending == 0,
	      "unmasking an idle port raises nothing");
	check_long("EVTCHNOP_unmask of an invalid port is -EINVAL",
		   evtchn_unmask(EVTCHN_2L_NR_PORTS + 5), -XEN_EINVAL);
}

static void test_virq(void)
{
	struct evtchn_status st;
	evtchn_port_t port, again;
	long rc;

	rc = evtchn_bind_virq(VIRQ_TIMER, 0, &port);
	check_long("EVTCHNOP_bind_virq(VIRQ_TIMER, vcpu 0)", rc, 0);
	if (status_is(port, EVTCHNSTAT_virq, &st, "VIRQ")) {
		check_long("VIRQ port status names VIRQ_TIMER", st.u.virq, VIRQ_TIMER);
		check_long("VIRQ port status names vcpu 0", st.vcpu, 0);
	}
	check_long("bind_virq(VIRQ_TIMER) twice on one vCPU is -EEXIST",
		   evtchn_bind_virq(VIRQ_TIMER, 0, &again), -XEN_EEXIST);
	check_long("bind_virq with virq == NR_VIRQS is -EINVAL",
		   evtchn_bind_virq(NR_VIRQS, 0, &again), -XEN_EINVAL);
	check_long("bind_virq with a huge virq is -EINVAL",
		   evtchn_bind_virq(0x80000000u, 0, &again), -XEN_EINVAL);

	check_long("close the VIRQ port", evtchn_close(port), 0);
	rc = evtchn_bind_virq(VIRQ_TIMER, 0, &again);
	check_long("bind_virq(VIRQ_TIMER) again after close", rc, 0);
	if (rc == 0)
		evtchn_close(again);
}

static void test_ipi(void)
{
	struct evtchn_status st;
	evtchn_port_t port;
	long rc;

	rc = evtchn_bind_ipi(0, &port);
	check_long("EVTCHNOP_bind_ipi(vcpu 0)", rc, 0);
	if (status_is(port, EVTCHNSTAT_ipi, &st, "IPI"))
		check_long("IPI port status names vcpu 0", st.vcpu, 0);
	reset_bits(port);
	check_long("EVTCHNOP_send on an IPI port", evtchn_send(port), 0);
	check(evtchn_is_pending(port), "an IPI to ourselves is pending");
	check(selector_set(port) && vi->evtchn_upcall_pending == 1,
	      "an IPI sets evtchn_pending_sel and evtchn_upcall_pending");
	evtchn_close(port);
}

static void test_close(evtchn_port_t a, evtchn_port_t b)
{
	struct evtchn_status st;

	check_long("EVTCHNOP_close of the remote end", evtchn_close(a), 0);
	status_is(a, EVTCHNSTAT_closed, &st, "closed");
	if (status_is(b, EVTCHNSTAT_unbound, &st, "orphaned peer"))
		check_long("the orphaned peer is unbound to our domain",
			   st.u.unbound.dom, self);
	check_long("send on a closed port is -EINVAL", evtchn_send(a), -XEN_EINVAL);
	check_long("send on an out-of-range port is -EINVAL",
		   evtchn_send(EVTCHN_2L_NR_PORTS + 5), -XEN_EINVAL);
	check_long("send on an unbound port is dropped without error",
		   evtchn_send(b), 0);
	check_long("close of a closed port is -EINVAL", evtchn_close(a), -XEN_EINVAL);
	check_long("EVTCHNOP_status of an out-of-range port is -EINVAL",
		   evtchn_status(EVTCHN_2L_NR_PORTS + 5, &st), -XEN_EINVAL);
	check_long("EVTCHNOP_close of the orphaned peer", evtchn_close(b), 0);
}

static void test_exhaustion(void)
{
	unsigned int allocated = 0, duplicates = 0;
	evtchn_port_t port, highest = 0;
	bool port0 = false;
	long rc;

	memset(seen_port, 0, sizeof(seen_port));
	/* Bounded by the limit and a margin: a VMM without one must not
	 * keep us here. */
	for (unsigned int i = 0; i <= EVTCHN_2L_NR_PORTS + 16; i++) {
		rc = evtchn_alloc_unbound(DOMID_SELF, &port);
		if (rc)
			break;
		allocated++;
		if (port == 0)
			port0 = true;
		if (port >= EVTCHN_2L_NR_PORTS)
			continue;
		if (seen_port[port / 8] & (1u << (port % 8)))
			duplicates++;
		seen_port[port / 8] |= (uint8_t)(1u << (port % 8));
		if (port > highest)
			highest = port;
	}
	printf("evtchn: %u ports allocated, highest %u, then %ld\n", allocated,
	       highest, rc);
	check_long("alloc_unbound until the ports run out ends in -ENOSPC", rc,
		   -XEN_ENOSPC);
	check_long("the highest port is the 2-level limit - 1", highest,
		   EVTCHN_2L_NR_PORTS - 1);
	check(!port0, "port 0 was never returned");
	check_long("no port was returned twice", duplicates, 0);

	{
		struct evtchn_reset reset = { .dom = DOMID_SELF };

		rc = HYPERVISOR_event_channel_op(EVTCHNOP_reset, &reset);
	}
	check_long("EVTCHNOP_reset(DOMID_SELF)", rc, 0);
	rc = evtchn_alloc_unbound(DOMID_SELF, &port);
	check_long("alloc_unbound after EVTCHNOP_reset", rc, 0);
	check_long("EVTCHNOP_reset freed every port: the first one is 1", port, 1);
	evtchn_close(port);
}

/* Last: under a Xen with FIFO support this switches the domain over. */
static void test_fifo(void)
{
	struct evtchn_init_control init = {
		.control_gfn = (uintptr_t)fifo_control_page / PAGE_SIZE,
		.offset = 0,
		.vcpu = 0,
	};

	check_long("EVTCHNOP_init_control (FIFO ABI) is -ENOSYS",
		   HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &init),
		   -XEN_ENOSYS);
}

void guest_main(const struct hvm_start_info *si)
{
	evtchn_port_t a = 0, b = 0;

	(void)si;
	printf("evtchn: %u-bit guest, 2-level limit %u ports\n", GUEST_BITS,
	       EVTCHN_2L_NR_PORTS);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	vi = &shared_info->vcpu_info[0];

	test_loopback(&a, &b);
	test_send(a, b);
	test_mask(a, b);
	test_virq();
	test_ipi();
	test_close(a, b);
	test_exhaustion();
	test_fifo();
}
