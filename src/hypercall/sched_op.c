/*
 * __HYPERVISOR_sched_op: yielding, waiting for events and shutting down.
 *
 * A waiting vCPU sleeps on its domain's wake condition (vm->xen.wake) and
 * looks again each time xen__vcpu_wake() is called: by whoever makes an
 * event pending, and by vm__stop().
 */
#include <sched.h>
#include <time.h>

#include "events/evtchn.h"
#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/time.h"

#define X86_EFLAGS_IF (1u << 9)
#define NSEC_PER_SEC 1000000000ULL
/* Xen's limit on SCHEDOP_poll's port list ("fairly arbitrary"). */
#define POLL_MAX_PORTS 128

_Static_assert(XL64_SIZE_sched_poll <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_sched_shutdown <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_sched_remote_shutdown <= HCALL_STRUCT_MAX, "structures fit buf");

/* Tells whether the wait is over; called with vm->xen.lock held. */
typedef bool (*wait_done_fn)(struct vcpu *v, const void *arg);

/* Host pointer to a byte of v's vcpu_info, or NULL when it has none. */
static uint8_t *vcpu_info_byte(struct vcpu *v, uint16_t off)
{
	uint64_t gpa = xen__vcpu_info_gpa(v);

	return gpa ? gmem__ptr(&v->vm->mem, gpa + off, 1) : NULL;
}

static bool upcall_pending(struct vcpu *v)
{
	uint8_t *p = vcpu_info_byte(v, XFIELD(v->vm->xen.shared_info_compat, vcpu_info,
					      evtchn_upcall_pending).off);

	return p && __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static bool block_done(struct vcpu *v, const void *arg)
{
	(void)arg;
	return upcall_pending(v);
}

/*
 * Sleeps until done() holds, the VM stops, or Xen system time reaches
 * deadline (0: no deadline).
 */
static void wait_until(struct vcpu *v, wait_done_fn done, const void *arg, uint64_t deadline)
{
	struct vm *vm = v->vm;
	struct xen_domain *d = &vm->xen;
	struct timespec at = { 0 };

	if (deadline) {
		/* deadline < 2^63, so this does not wrap. */
		uint64_t mono = d->boot_mono_ns + deadline;

		at.tv_sec = (time_t)(mono / NSEC_PER_SEC);
		at.tv_nsec = (long)(mono % NSEC_PER_SEC);
	}
	pthread_mutex_lock(&d->lock);
	while (!atomic_load(&vm->stopping) && !done(v, arg)) {
		if (!deadline)
			pthread_cond_wait(&d->wake, &d->lock);
		else if (xen__system_time(vm) >= deadline)
			break;
		else
			pthread_cond_timedwait(&d->wake, &d->lock, &at);
	}
	pthread_mutex_unlock(&d->lock);
}

static long sched_block(struct hcall *hc)
{
	struct vcpu *v = hc->vcpu;
	uint8_t *mask;

	/* As Xen, blocking enables event delivery: clear the upcall mask. */
	pthread_mutex_lock(&hc->vm->xen.lock);
	mask = vcpu_info_byte(v, XFIELD(hc->vm->xen.shared_info_compat, vcpu_info,
					evtchn_upcall_mask).off);
	if (mask)
		__atomic_store_n(mask, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hc->vm->xen.lock);

	wait_until(v, block_done, NULL, 0);
	return 0;
}

struct poll_ports {
	const uint32_t *port;
	unsigned int nr;
};

/* An event the guest can take now (Xen: "local events need delivery").
 * One it has disabled interrupts against does not count, or a poll with
 * interrupts off would return at once, again and again. */
static bool event_deliverable(struct vcpu *v)
{
	return upcall_pending(v) && (vcpu__regs(v)->rflags & X86_EFLAGS_IF);
}

static bool poll_done(struct vcpu *v, const void *arg)
{
	const struct poll_ports *pp = arg;

	if (event_deliverable(v))
		return true;
	for (unsigned int i = 0; i < pp->nr; i++)
		if (evtchn__port_pending_locked(v->vm, pp->port[i]))
			return true;
	return false;
}

/* The first look, in Xen's order: a deliverable event or a pending port
 * ends the poll (1) before a later port is found out of range (-EINVAL). */
static long poll_first_look(struct vcpu *v, const struct poll_ports *pp)
{
	struct vm *vm = v->vm;
	long ret = 0;

	pthread_mutex_lock(&vm->xen.lock);
	if (event_deliverable(v))
		ret = 1;
	for (unsigned int i = 0; !ret && i < pp->nr; i++) {
		if (pp->port[i] >= evtchn__max_ports(vm))
			ret = -XEN_EINVAL;
		else if (evtchn__port_pending_locked(vm, pp->port[i]))
			ret = 1;
	}
	pthread_mutex_unlock(&vm->xen.lock);
	return ret;
}

static long sched_poll(struct hcall *hc)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	uint32_t ports[POLL_MAX_PORTS];
	struct poll_ports pp = { .port = ports };
	size_t sz = XSIZE(hc->compat, sched_poll);
	uint64_t list, timeout;
	long ret = hcall__copy_from(hc, hc->arg[1], buf, sz);

	if (ret)
		return ret;
	list = xfield__get(buf, XFIELD(hc->compat, sched_poll, ports));
	pp.nr = (unsigned int)xfield__get(buf, XFIELD(hc->compat, sched_poll, nr_ports));
	timeout = xfield__get(buf, XFIELD(hc->compat, sched_poll, timeout));
	if (pp.nr > POLL_MAX_PORTS)
		return -XEN_EINVAL;
	if (pp.nr && hcall__copy_from(hc, list, ports, pp.nr * sizeof(ports[0])))
		return -XEN_EFAULT;

	ret = poll_first_look(hc->vcpu, &pp);
	if (ret)
		return ret < 0 ? ret : 0;

	/* Xen's timeout is a signed s_time_t: "negative" ones have passed. */
	if ((int64_t)timeout < 0)
		return 0;
	wait_until(hc->vcpu, poll_done, &pp, timeout);
	return 0;
}

/* Reads struct sched_shutdown's reason into *reason; 0 or -XEN_E*. */
static long read_reason(struct hcall *hc, unsigned int *reason)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	long ret = hcall__copy_from(hc, hc->arg[1], buf, XSIZE(hc->compat, sched_shutdown));

	if (ret)
		return ret;
	*reason = (unsigned int)xfield__get(buf, XFIELD(hc->compat, sched_shutdown, reason));
	return *reason > SHUTDOWN_MAX ? -XEN_EINVAL : 0;
}

static long sched_shutdown(struct hcall *hc)
{
	unsigned int reason;
	long ret = read_reason(hc, &reason);

	if (ret)
		return ret;
	xen__domain_shutdown(hc->vm, reason);
	return 0;
}

static long sched_shutdown_code(struct hcall *hc)
{
	struct xen_domain *d = &hc->vm->xen;
	unsigned int reason;
	long ret = read_reason(hc, &reason);

	if (ret)
		return ret;
	/* The first code latched stays. */
	pthread_mutex_lock(&d->lock);
	if (d->shutdown_code < 0)
		d->shutdown_code = (int)reason;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static long sched_remote_shutdown(struct hcall *hc)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	long ret = hcall__copy_from(hc, hc->arg[1], buf,
				    XSIZE(hc->compat, sched_remote_shutdown));
	uint16_t domid;

	if (ret)
		return ret;
	domid = (uint16_t)xfield__get(buf, XFIELD(hc->compat, sched_remote_shutdown,
						    domain_id));
	/* Xen looks the domain up by number (DOMID_SELF is no domain there),
	 * then lets only a privileged domain shut one down, itself included:
	 * a guest uses SCHEDOP_shutdown. */
	if (domid == hc->vm->xen.domid || domid == 0)
		return -XEN_EPERM;
	return -XEN_ESRCH;
}

long hc__sched_op(struct hcall *hc)
{
	int cmd = (int)hc->arg[0];   /* Xen's prototype: int cmd */

	switch (cmd) {
	case SCHEDOP_yield:
		sched_yield();
		return 0;
	case SCHEDOP_block:
		return sched_block(hc);
	case SCHEDOP_shutdown:
		return sched_shutdown(hc);
	case SCHEDOP_poll:
		return sched_poll(hc);
	case SCHEDOP_remote_shutdown:
		return sched_remote_shutdown(hc);
	case SCHEDOP_shutdown_code:
		return sched_shutdown_code(hc);
	default:
		return hcall__enosys(hc, "sched_op", (unsigned)cmd);
	}
}
