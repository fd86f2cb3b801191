/* Event channels and shared_info: see events.h. */
#include "events.h"

volatile struct shared_info *shared_info;

/* The RAM page under it is given up to the shared_info mapping. */
static uint8_t shared_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

long shared_info_map(void)
{
	struct xen_add_to_physmap xatp = {
		.domid = DOMID_SELF,
		.space = XENMAPSPACE_shared_info,
		.idx = 0,
		.gpfn = (uintptr_t)shared_info_page / PAGE_SIZE,
	};
	long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, (uintptr_t)&xatp);

	if (rc == 0)
		shared_info = (volatile struct shared_info *)shared_info_page;
	return rc;
}

uint64_t xen_now(void)
{
	return pvclock_read(&shared_info->vcpu_info[0].time);
}

long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port)
{
	struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = remote };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);

	*port = op.port;
	return rc;
}

long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
			     evtchn_port_t *port)
{
	struct evtchn_bind_interdomain op = {
		.remote_dom = remote,
		.remote_port = remote_port,
	};
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);

	*port = op.local_port;
	return rc;
}

long evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
	struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);

	*port = op.port;
	return rc;
}

long evtchn_bind_ipi(uint32_t vcpu, evtchn_port_t *port)
{
	struct evtchn_bind_ipi op = { .vcpu = vcpu };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op);

	*port = op.port;
	return rc;
}

long evtchn_send(evtchn_port_t port)
{
	struct evtchn_send op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_send, &op);
}

long evtchn_close(evtchn_port_t port)
{
	struct evtchn_close op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
}

long evtchn_unmask(evtchn_port_t port)
{
	struct evtchn_unmask op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}

long evtchn_status(evtchn_port_t port, struct evtchn_status *st)
{
	memset(st, 0, sizeof(*st));
	st->dom = DOMID_SELF;
	st->port = port;
	return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

long sched_poll(evtchn_port_t port, uint64_t deadline)
{
	evtchn_port_t ports[1] = { port };
	struct sched_poll poll = { .nr_ports = 1, .timeout = deadline };

	set_xen_guest_handle(poll.ports, ports);
	return HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

bool evtchn_wait(evtchn_port_t port, uint64_t deadline)
{
	/* Bounded: a poll that returns at once forever must not hang us. */
	for (unsigned int i = 0; i < 100000; i++) {
		if (evtchn_is_pending(port))
			return true;
		if (deadline && xen_now() >= deadline)
			return false;
		if (sched_poll(port, deadline) < 0)
			return evtchn_is_pending(port);
	}
	return evtchn_is_pending(port);
}

long xen_domid(domid_t *domid)
{
	struct evtchn_status st;
	evtchn_port_t port;
	long rc = evtchn_alloc_unbound(DOMID_SELF, &port);

	if (rc)
		return rc;
	rc = evtchn_status(port, &st);
	if (rc == 0 && st.status != EVTCHNSTAT_unbound)
		rc = -XEN_EINVAL;
	*domid = st.u.unbound.dom;
	evtchn_close(port);
	return rc;
}
