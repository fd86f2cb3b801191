#include "events/evtchn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/time.h"

enum port_state {
	PORT_FREE,
	PORT_RESERVED,      /* port 0, never handed out */
	PORT_UNBOUND,
	PORT_INTERDOMAIN,
	PORT_VIRQ,
	PORT_IPI,
};

struct evtchn_port {
	uint8_t state;
	uint16_t remote_domid;   /* UNBOUND: who may bind; INTERDOMAIN: the peer */
	uint32_t remote_port;    /* INTERDOMAIN with the guest itself (loopback) */
	int backend_fd;          /* INTERDOMAIN with domain 0: the backend's eventfd */
	uint32_t virq;
	uint32_t vcpu;           /* the vCPU notified */
};

struct evtchn_table {
	struct evtchn_port port[EVTCHN_MAX_PORTS_64];
	uint32_t virq_port[PVMM_MAX_VCPUS][NR_VIRQS];   /* 0: not bound */
	uint8_t upcall_vector[PVMM_MAX_VCPUS];          /* 0: none */
};

#define MSI_ADDRESS_BASE 0xfee00000u
#define BACKEND_DOMID 0

int evtchn__init(struct vm *vm)
{
	struct evtchn_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->port[0].state = PORT_RESERVED;
	vm->evtchn = t;
	return 0;
}

void evtchn__destroy(struct vm *vm)
{
	free(vm->evtchn);
	vm->evtchn = NULL;
}

uint32_t evtchn__max_ports(const struct vm *vm)
{
	return vm->xen.shared_info_compat ? EVTCHN_MAX_PORTS_32 : EVTCHN_MAX_PORTS_64;
}

/* --- shared_info and vcpu_info bits, in guest memory --- */

/* The guest may write these bytes at any moment: every access is atomic.
 * A little-endian bitmap of words is a bitmap of bytes, whatever the word
 * size, so bit N is bit N % 8 of byte N / 8. */
static uint8_t *shinfo_bitmap(struct vm *vm, struct xfield f, uint32_t bit)
{
	if (!vm->xen.has_shared_info || bit / 8 >= f.size)
		return NULL;
	return gmem__ptr(&vm->mem, (vm->xen.shared_info_gfn << GMEM_PAGE_SHIFT) + f.off + bit / 8, 1);
}

static bool bit_test_and_set(uint8_t *byte, uint32_t bit)
{
	uint8_t m = (uint8_t)(1u << (bit % 8));

	return __atomic_fetch_or(byte, m, __ATOMIC_SEQ_CST) & m;
}

static bool bit_test_and_clear(uint8_t *byte, uint32_t bit)
{
	uint8_t m = (uint8_t)(1u << (bit % 8));

	return __atomic_fetch_and(byte, (uint8_t)~m, __ATOMIC_SEQ_CST) & m;
}

static bool bit_test(const uint8_t *byte, uint32_t bit)
{
	return (__atomic_load_n(byte, __ATOMIC_ACQUIRE) >> (bit % 8)) & 1;
}

static uint8_t *pending_byte(struct vm *vm, uint32_t port)
{
	return shinfo_bitmap(vm, XFIELD(vm->xen.shared_info_compat, shared_info, evtchn_pending), port);
}

static uint8_t *mask_byte(struct vm *vm, uint32_t port)
{
	return shinfo_bitmap(vm, XFIELD(vm->xen.shared_info_compat, shared_info, evtchn_mask), port);
}

static uint8_t *vcpu_info_field(struct vcpu *v, struct xfield f, uint32_t bit)
{
	uint64_t gpa = xen__vcpu_info_gpa(v);

	if (!gpa || bit / 8 >= f.size)
		return NULL;
	return gmem__ptr(&v->vm->mem, gpa + f.off + bit / 8, 1);
}

bool evtchn__port_pending_locked(struct vm *vm, uint32_t port)
{
	uint8_t *p = pending_byte(vm, port);

	return p && bit_test(p, port);
}

/* --- upcalls --- */

void evtchn__deliver_upcall_locked(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint8_t vector = vm->evtchn->upcall_vector[v->id];
	uint64_t via = vm->xen.hvm_param[HVM_PARAM_CALLBACK_IRQ];

	if (vector) {
		/* A LAPIC interrupt the guest EOIs, to this vCPU's APIC. */
		vm__signal_msi(vm, MSI_ADDRESS_BASE | ((uint64_t)v->id << 12), vector);
	} else if ((via >> 56) == HVM_PARAM_CALLBACK_TYPE_VECTOR && (uint8_t)via >= 0x10) {
		/* v's thread injects it before it next enters the guest. */
		vcpu__kick(v);
	} else if (via) {
		pr_warn_once("HVM_PARAM_CALLBACK_IRQ %#llx: only vector callbacks (type 2) are supported",
			     (unsigned long long)via);
	}
	xen__vcpu_wake_locked(v);
}

int evtchn__callback_due(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t via = __atomic_load_n(&vm->xen.hvm_param[HVM_PARAM_CALLBACK_IRQ], __ATOMIC_RELAXED);
	uint64_t gpa;
	const uint8_t *upcall;

	if ((via >> 56) != HVM_PARAM_CALLBACK_TYPE_VECTOR || (uint8_t)via < 0x10 ||
	    __atomic_load_n(&vm->evtchn->upcall_vector[v->id], __ATOMIC_RELAXED))
		return -1;
	/* As Xen: the vector is due for as long as upcall_pending is set. */
	gpa = __atomic_load_n(&v->xen.vcpu_info_gpa, __ATOMIC_ACQUIRE);
	if (!v->xen.has_vcpu_info) {
		if (!__atomic_load_n(&vm->xen.has_shared_info, __ATOMIC_ACQUIRE))
			return -1;
		pthread_mutex_lock(&vm->xen.lock);
		gpa = xen__vcpu_info_gpa(v);
		pthread_mutex_unlock(&vm->xen.lock);
	}
	upcall = gpa ? gmem__ptr(&vm->mem, gpa + XFIELD(vm->xen.shared_info_compat, vcpu_info,
							 evtchn_upcall_pending).off, 1)
		     : NULL;
	return upcall && __atomic_load_n(upcall, __ATOMIC_ACQUIRE) ? (uint8_t)via : -1;
}

long evtchn__set_upcall_vector(struct vm *vm, uint32_t vcpu, uint8_t vector)
{
	struct vcpu *v = xen__vcpu(vm, vcpu);
	uint8_t *upcall;

	if (!v)
		return -XEN_ENOENT;
	/* Vectors below 0x10 are exceptions, not interrupts. */
	if (vector < 0x10)
		return -XEN_EINVAL;
	pthread_mutex_lock(&vm->xen.lock);
	vm->evtchn->upcall_vector[v->id] = vector;
	/* As Xen: an upcall already pending is delivered now. */
	upcall = vcpu_info_field(v, XFIELD(vm->xen.shared_info_compat, vcpu_info,
					   evtchn_upcall_pending), 0);
	if (upcall && __atomic_load_n(upcall, __ATOMIC_ACQUIRE))
		evtchn__deliver_upcall_locked(v);
	pthread_mutex_unlock(&vm->xen.lock);
	return 0;
}

/* Xen's 2-level "mark events pending": pending_sel, then upcall_pending. */
static void mark_pending_locked(struct vm *vm, uint32_t port, uint32_t vcpu_id)
{
	bool compat = vm->xen.shared_info_compat;
	uint32_t word = port / (compat ? 32 : 64);
	struct vcpu *v = xen__vcpu(vm, vcpu_id);
	uint8_t *sel, *upcall;

	if (!v)
		return;
	sel = vcpu_info_field(v, XFIELD(compat, vcpu_info, evtchn_pending_sel), word);
	upcall = vcpu_info_field(v, XFIELD(compat, vcpu_info, evtchn_upcall_pending), 0);
	if (!sel || !upcall || bit_test_and_set(sel, word))
		return;
	if (__atomic_exchange_n(upcall, 1, __ATOMIC_SEQ_CST) == 0)
		evtchn__deliver_upcall_locked(v);
}

static void set_pending_locked(struct vm *vm, uint32_t port)
{
	struct evtchn_port *p = &vm->evtchn->port[port];
	uint8_t *pending = pending_byte(vm, port), *mask = mask_byte(vm, port);

	if (!pending || !mask) {
		pr_warn_once("event on port %u before the guest mapped shared_info: dropped", port);
		return;
	}
	if (bit_test_and_set(pending, port))
		return;
	if (!bit_test(mask, port))
		mark_pending_locked(vm, port, p->vcpu);
	/* SCHEDOP_poll waits on a port whether it is masked or not. */
	struct vcpu *v = xen__vcpu(vm, p->vcpu);
	if (v)
		xen__vcpu_wake_locked(v);
}

void evtchn__notify_guest(struct vm *vm, uint32_t port)
{
	pthread_mutex_lock(&vm->xen.lock);
	if (port < evtchn__max_ports(vm) && vm->evtchn->port[port].state == PORT_INTERDOMAIN)
		set_pending_locked(vm, port);
	pthread_mutex_unlock(&vm->xen.lock);
}

void evtchn__raise_virq(struct vm *vm, uint32_t vcpu, uint32_t virq)
{
	uint32_t port;

	if (vcpu >= PVMM_MAX_VCPUS || virq >= NR_VIRQS)
		return;
	pthread_mutex_lock(&vm->xen.lock);
	port = vm->evtchn->virq_port[vcpu][virq];
	if (port)
		set_pending_locked(vm, port);
	pthread_mutex_unlock(&vm->xen.lock);
}

/* --- port allocation --- */

static long alloc_port_locked(struct vm *vm, uint32_t *out)
{
	uint32_t max = evtchn__max_ports(vm);

	for (uint32_t port = 1; port < max; port++) {
		if (vm->evtchn->port[port].state == PORT_FREE) {
			vm->evtchn->port[port] = (struct evtchn_port){ .state = PORT_UNBOUND, .backend_fd = -1 };
			*out = port;
			return 0;
		}
	}
	return -XEN_ENOSPC;
}

static bool port_valid(struct vm *vm, uint32_t port)
{
	return port < evtchn__max_ports(vm);
}

/* Closes a port; its interdomain peer, if any, turns unbound (Xen rules). */
static void close_port_locked(struct vm *vm, uint32_t port)
{
	struct evtchn_table *t = vm->evtchn;
	struct evtchn_port *p = &t->port[port];
	uint8_t *pending = pending_byte(vm, port);

	switch (p->state) {
	case PORT_VIRQ:
		if (p->vcpu < PVMM_MAX_VCPUS && t->virq_port[p->vcpu][p->virq] == port)
			t->virq_port[p->vcpu][p->virq] = 0;
		break;
	case PORT_INTERDOMAIN:
		if (p->remote_domid == vm->xen.domid) {
			struct evtchn_port *peer = &t->port[p->remote_port];
			peer->state = PORT_UNBOUND;
			peer->remote_domid = vm->xen.domid;
		}
		/* A backend peer keeps its eventfd; it learns of the close
		 * through xenbus and calls evtchn__backend_close(). */
		break;
	}
	*p = (struct evtchn_port){ .state = PORT_FREE, .backend_fd = -1 };
	if (pending)
		bit_test_and_clear(pending, port);
}

/* --- the hypercall --- */

static long resolve_domid(struct vm *vm, domid_t *dom)
{
	if (*dom == DOMID_SELF)
		*dom = vm->xen.domid;
	if (*dom == vm->xen.domid || *dom == BACKEND_DOMID)
		return 0;
	return -XEN_ESRCH;
}

static long op_alloc_unbound(struct vm *vm, struct evtchn_alloc_unbound *a)
{
	long ret = xen__check_domid(vm, a->dom);

	if (ret)
		return ret;
	ret = resolve_domid(vm, &a->remote_dom);
	if (!ret)
		ret = alloc_port_locked(vm, &a->port);
	if (!ret)
		vm->evtchn->port[a->port].remote_domid = a->remote_dom;
	return ret;
}

static long op_bind_interdomain(struct vm *vm, struct evtchn_bind_interdomain *b)
{
	struct evtchn_port *remote, *local;
	uint32_t lport;
	long ret = resolve_domid(vm, &b->remote_dom);

	if (ret)
		return ret;
	/* Domain 0's ports are pvmm's backends; a guest cannot bind to them. */
	if (b->remote_dom != vm->xen.domid)
		return -XEN_EINVAL;
	if (!port_valid(vm, b->remote_port))
		return -XEN_EINVAL;
	remote = &vm->evtchn->port[b->remote_port];
	if (remote->state != PORT_UNBOUND || remote->remote_domid != vm->xen.domid)
		return -XEN_EINVAL;
	ret = alloc_port_locked(vm, &lport);
	if (ret)
		return ret;
	local = &vm->evtchn->port[lport];
	*local = (struct evtchn_port){ .state = PORT_INTERDOMAIN, .remote_domid = vm->xen.domid,
				       .remote_port = b->remote_port, .backend_fd = -1 };
	remote->state = PORT_INTERDOMAIN;
	remote->remote_port = lport;
	b->local_port = lport;
	/* Xen: notifications sent to the unbound port may be lost, so the new
	 * local port is always made pending. */
	set_pending_locked(vm, lport);
	return 0;
}

static long op_bind_virq(struct vm *vm, struct evtchn_bind_virq *b)
{
	uint32_t port;
	long ret;

	if (b->virq >= NR_VIRQS)
		return -XEN_EINVAL;
	if (!xen__vcpu(vm, b->vcpu))
		return -XEN_ENOENT;
	/* Global VIRQs are delivered to vCPU 0 first (bind_vcpu moves them). */
	if (b->virq != VIRQ_TIMER && b->virq != VIRQ_DEBUG && b->virq != VIRQ_XENOPROF &&
	    b->virq != VIRQ_XENPMU && b->vcpu != 0)
		return -XEN_EINVAL;
	if (vm->evtchn->virq_port[b->vcpu][b->virq])
		return -XEN_EEXIST;
	ret = alloc_port_locked(vm, &port);
	if (ret)
		return ret;
	vm->evtchn->port[port] = (struct evtchn_port){ .state = PORT_VIRQ, .virq = b->virq,
						       .vcpu = b->vcpu, .backend_fd = -1 };
	vm->evtchn->virq_port[b->vcpu][b->virq] = port;
	b->port = port;
	return 0;
}

static long op_bind_ipi(struct vm *vm, struct evtchn_bind_ipi *b)
{
	uint32_t port;
	long ret;

	if (!xen__vcpu(vm, b->vcpu))
		return -XEN_ENOENT;
	ret = alloc_port_locked(vm, &port);
	if (ret)
		return ret;
	vm->evtchn->port[port] = (struct evtchn_port){ .state = PORT_IPI, .vcpu = b->vcpu,
						       .backend_fd = -1 };
	b->port = port;
	return 0;
}

static long op_close(struct vm *vm, uint32_t port)
{
	if (!port_valid(vm, port) || vm->evtchn->port[port].state == PORT_FREE ||
	    vm->evtchn->port[port].state == PORT_RESERVED)
		return -XEN_EINVAL;
	close_port_locked(vm, port);
	return 0;
}

static void signal_backend(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn_once("cannot notify a backend: %s", strerror(errno));
}

static long op_send(struct vm *vm, uint32_t port)
{
	struct evtchn_port *p;

	if (!port_valid(vm, port))
		return -XEN_EINVAL;
	p = &vm->evtchn->port[port];
	switch (p->state) {
	case PORT_INTERDOMAIN:
		if (p->backend_fd >= 0)
			signal_backend(p->backend_fd);
		else
			set_pending_locked(vm, p->remote_port);
		return 0;
	case PORT_IPI:
		set_pending_locked(vm, port);
		return 0;
	case PORT_UNBOUND:
		return 0;   /* silently dropped, as in Xen */
	default:
		return -XEN_EINVAL;
	}
}

static long op_status(struct vm *vm, struct evtchn_status *s)
{
	long ret = xen__check_domid(vm, s->dom);
	struct evtchn_port *p;

	if (ret)
		return ret;
	if (!port_valid(vm, s->port))
		return -XEN_EINVAL;
	p = &vm->evtchn->port[s->port];
	memset(&s->u, 0, sizeof(s->u));
	s->vcpu = p->vcpu;
	switch (p->state) {
	case PORT_FREE:
	case PORT_RESERVED:
		s->status = EVTCHNSTAT_closed;
		break;
	case PORT_UNBOUND:
		s->status = EVTCHNSTAT_unbound;
		s->u.unbound.dom = p->remote_domid;
		break;
	case PORT_INTERDOMAIN:
		s->status = EVTCHNSTAT_interdomain;
		s->u.interdomain.dom = p->remote_domid;
		/* A backend's port number is its own business: report 0. */
		s->u.interdomain.port = p->backend_fd >= 0 ? 0 : p->remote_port;
		break;
	case PORT_VIRQ:
		s->status = EVTCHNSTAT_virq;
		s->u.virq = p->virq;
		break;
	case PORT_IPI:
		s->status = EVTCHNSTAT_ipi;
		break;
	}
	return 0;
}

static long op_bind_vcpu(struct vm *vm, struct evtchn_bind_vcpu *b)
{
	struct evtchn_port *p;

	if (!port_valid(vm, b->port))
		return -XEN_EINVAL;
	if (!xen__vcpu(vm, b->vcpu))
		return -XEN_ENOENT;
	p = &vm->evtchn->port[b->port];
	switch (p->state) {
	case PORT_VIRQ:
		if (p->virq == VIRQ_TIMER || p->virq == VIRQ_DEBUG)
			return -XEN_EINVAL;   /* per-vCPU VIRQs stay where they are */
		vm->evtchn->virq_port[p->vcpu][p->virq] = 0;
		vm->evtchn->virq_port[b->vcpu][p->virq] = b->port;
		break;
	case PORT_UNBOUND:
	case PORT_INTERDOMAIN:
		break;
	default:
		return -XEN_EINVAL;
	}
	p->vcpu = b->vcpu;
	/* A pending, unmasked event follows the port to its new vCPU. */
	uint8_t *pending = pending_byte(vm, b->port), *mask = mask_byte(vm, b->port);
	if (pending && mask && bit_test(pending, b->port) && !bit_test(mask, b->port))
		mark_pending_locked(vm, b->port, p->vcpu);
	return 0;
}

static long op_unmask(struct vm *vm, uint32_t port)
{
	uint8_t *pending, *mask;

	if (!port_valid(vm, port))
		return -XEN_EINVAL;
	pending = pending_byte(vm, port);
	mask = mask_byte(vm, port);
	if (!pending || !mask)
		return 0;
	/* Xen re-raises an event that became pending while masked. */
	if (bit_test_and_clear(mask, port) && bit_test(pending, port))
		mark_pending_locked(vm, port, vm->evtchn->port[port].vcpu);
	return 0;
}

static long op_reset(struct vm *vm, domid_t dom)
{
	long ret = xen__check_domid(vm, dom);

	if (ret)
		return ret;
	for (uint32_t port = 1; port < EVTCHN_MAX_PORTS_64; port++) {
		/* As Xen: every channel closes, backends' included (their
		 * ends stop hearing the guest until it binds again). */
		if (vm->evtchn->port[port].state != PORT_FREE)
			close_port_locked(vm, port);
	}
	return 0;
}

/* Argument sizes: every event-channel struct is made of 16- and 32-bit
 * fields, so the 32- and 64-bit layouts are the same. */
_Static_assert(XL32_SIZE_evtchn_status == XL64_SIZE_evtchn_status, "evtchn_status layout");
_Static_assert(XL32_SIZE_evtchn_alloc_unbound == XL64_SIZE_evtchn_alloc_unbound, "layout");
_Static_assert(XL32_SIZE_evtchn_bind_interdomain == XL64_SIZE_evtchn_bind_interdomain, "layout");

union evtchn_args {
	struct evtchn_alloc_unbound alloc_unbound;
	struct evtchn_bind_interdomain bind_interdomain;
	struct evtchn_bind_virq bind_virq;
	struct evtchn_bind_ipi bind_ipi;
	struct evtchn_close close;
	struct evtchn_send send;
	struct evtchn_status status;
	struct evtchn_bind_vcpu bind_vcpu;
	struct evtchn_unmask unmask;
	struct evtchn_reset reset;
};

static size_t arg_size(unsigned cmd)
{
	switch (cmd) {
	case EVTCHNOP_alloc_unbound: return sizeof(struct evtchn_alloc_unbound);
	case EVTCHNOP_bind_interdomain: return sizeof(struct evtchn_bind_interdomain);
	case EVTCHNOP_bind_virq: return sizeof(struct evtchn_bind_virq);
	case EVTCHNOP_bind_ipi: return sizeof(struct evtchn_bind_ipi);
	case EVTCHNOP_close: return sizeof(struct evtchn_close);
	case EVTCHNOP_send: return sizeof(struct evtchn_send);
	case EVTCHNOP_status: return sizeof(struct evtchn_status);
	case EVTCHNOP_bind_vcpu: return sizeof(struct evtchn_bind_vcpu);
	case EVTCHNOP_unmask: return sizeof(struct evtchn_unmask);
	case EVTCHNOP_reset: return sizeof(struct evtchn_reset);
	default: return 0;
	}
}

static long evtchn_op_locked(struct vm *vm, unsigned cmd, union evtchn_args *a)
{
	switch (cmd) {
	case EVTCHNOP_alloc_unbound: return op_alloc_unbound(vm, &a->alloc_unbound);
	case EVTCHNOP_bind_interdomain: return op_bind_interdomain(vm, &a->bind_interdomain);
	case EVTCHNOP_bind_virq: return op_bind_virq(vm, &a->bind_virq);
	case EVTCHNOP_bind_ipi: return op_bind_ipi(vm, &a->bind_ipi);
	case EVTCHNOP_close: return op_close(vm, a->close.port);
	case EVTCHNOP_send: return op_send(vm, a->send.port);
	case EVTCHNOP_status: return op_status(vm, &a->status);
	case EVTCHNOP_bind_vcpu: return op_bind_vcpu(vm, &a->bind_vcpu);
	case EVTCHNOP_unmask: return op_unmask(vm, a->unmask.port);
	case EVTCHNOP_reset: return op_reset(vm, a->reset.dom);
	}
	return -XEN_ENOSYS;
}

/* Which ops return results in their argument struct. */
static bool writes_back(unsigned cmd)
{
	return cmd == EVTCHNOP_alloc_unbound || cmd == EVTCHNOP_bind_interdomain ||
	       cmd == EVTCHNOP_bind_virq || cmd == EVTCHNOP_bind_ipi || cmd == EVTCHNOP_status;
}

long hc__event_channel_op(struct hcall *hc)
{
	unsigned cmd = (unsigned)hc->arg[0];
	size_t size = arg_size(cmd);
	union evtchn_args a;
	long ret;

	/* FIFO ops (init_control, expand_array, set_priority) are absent:
	 * -ENOSYS makes guests use the 2-level ABI. */
	if (!size)
		return hcall__enosys(hc, "event_channel_op", cmd);
	if (hcall__copy_from(hc, hc->arg[1], &a, size))
		return -XEN_EFAULT;
	pthread_mutex_lock(&hc->vm->xen.lock);
	ret = evtchn_op_locked(hc->vm, cmd, &a);
	pthread_mutex_unlock(&hc->vm->xen.lock);
	if (ret == 0 && writes_back(cmd) && hcall__copy_to(hc, hc->arg[1], &a, size))
		return -XEN_EFAULT;
	return ret;
}

/* --- backends --- */

static int new_backend_fd(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int evtchn__backend_alloc(struct vm *vm, uint32_t *guest_port, int *fd)
{
	int efd = new_backend_fd();
	long ret;

	if (efd < 0)
		return -XEN_ENOMEM;
	pthread_mutex_lock(&vm->xen.lock);
	ret = alloc_port_locked(vm, guest_port);
	if (!ret)
		vm->evtchn->port[*guest_port] = (struct evtchn_port){
			.state = PORT_INTERDOMAIN, .remote_domid = BACKEND_DOMID,
			.backend_fd = efd,
		};
	pthread_mutex_unlock(&vm->xen.lock);
	if (ret) {
		close(efd);
		return (int)ret;
	}
	*fd = efd;
	return 0;
}

int evtchn__backend_bind(struct vm *vm, uint32_t guest_port, int *fd)
{
	int efd = new_backend_fd();
	int ret = 0;

	if (efd < 0)
		return -XEN_ENOMEM;
	pthread_mutex_lock(&vm->xen.lock);
	struct evtchn_port *p = port_valid(vm, guest_port) ? &vm->evtchn->port[guest_port] : NULL;
	if (!p || p->state != PORT_UNBOUND || p->remote_domid != BACKEND_DOMID) {
		ret = -XEN_EINVAL;
	} else {
		p->state = PORT_INTERDOMAIN;
		p->backend_fd = efd;
		set_pending_locked(vm, guest_port);   /* as bind_interdomain does */
	}
	pthread_mutex_unlock(&vm->xen.lock);
	if (ret) {
		close(efd);
		return ret;
	}
	*fd = efd;
	return 0;
}

void evtchn__backend_close(struct vm *vm, uint32_t guest_port, int fd)
{
	pthread_mutex_lock(&vm->xen.lock);
	if (port_valid(vm, guest_port)) {
		struct evtchn_port *p = &vm->evtchn->port[guest_port];
		if (p->state == PORT_INTERDOMAIN && p->backend_fd == fd) {
			p->state = PORT_UNBOUND;
			p->backend_fd = -1;
		}
	}
	pthread_mutex_unlock(&vm->xen.lock);
	close(fd);
}
