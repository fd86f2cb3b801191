#include "devices/pvconsole.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "xen/xen_abi.h"
#include <xen/io/console.h>

#include "events/evtchn.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenstore/xenstored.h"

struct pvconsole {
	struct vm *vm;
	struct xencons_interface *ring;
	uint32_t port;
	int fd;
	pthread_mutex_t lock;       /* the ring's backend side: main loop and input */
	bool connected;             /* the guest has notified us once */
	bool warned;
};

static uint32_t load_acquire(const XENCONS_RING_IDX *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(XENCONS_RING_IDX *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Consumes the guest's output.  Returns true when it took something. */
static bool drain_output(struct pvconsole *pc)
{
	struct xencons_interface *r = pc->ring;
	uint32_t cons = load_acquire(&r->out_cons), prod = load_acquire(&r->out_prod);
	char buf[sizeof(r->out)];
	uint32_t n = prod - cons;

	if (n == 0)
		return false;
	if (n > sizeof(r->out)) {
		/* Indices no honest guest produces: skip to its producer. */
		if (!pc->warned)
			pr_warn("PV console: guest's out ring indices are inconsistent; output dropped");
		pc->warned = true;
		store_release(&r->out_cons, prod);
		return true;
	}
	for (uint32_t i = 0; i < n; i++)
		buf[i] = r->out[MASK_XENCONS_IDX(cons + i, r->out)];
	store_release(&r->out_cons, prod);
	console__write(&pc->vm->console, buf, n);
	return true;
}

/* Moves queued console input into the guest's in ring while it has room. */
static bool fill_input(struct pvconsole *pc)
{
	struct xencons_interface *r = pc->ring;
	uint32_t prod = r->in_prod, used = prod - load_acquire(&r->in_cons);
	char buf[sizeof(r->in)];
	size_t n;

	/* A guest whose in_cons runs ahead of in_prod gets nothing. */
	if (!pc->connected || used >= sizeof(r->in))
		return false;
	n = console__read(&pc->vm->console, buf, sizeof(r->in) - used);
	for (size_t i = 0; i < n; i++)
		r->in[MASK_XENCONS_IDX(prod + i, r->in)] = buf[i];
	if (n)
		store_release(&r->in_prod, prod + (uint32_t)n);
	return n > 0;
}

static void on_guest_notify(int fd, void *opaque)
{
	struct pvconsole *pc = opaque;
	uint64_t count;
	bool notify;

	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return;
	pthread_mutex_lock(&pc->lock);
	pc->connected = true;
	notify = drain_output(pc);
	notify |= fill_input(pc);
	pthread_mutex_unlock(&pc->lock);
	if (notify)
		evtchn__notify_guest(pc->vm, pc->port);
}

static void on_console_input(void *opaque)
{
	struct pvconsole *pc = opaque;
	bool notify;

	pthread_mutex_lock(&pc->lock);
	notify = fill_input(pc);
	pthread_mutex_unlock(&pc->lock);
	if (notify)
		evtchn__notify_guest(pc->vm, pc->port);
}

static int write_xenstore_keys(struct vm *vm, struct pvconsole *pc)
{
	char ring_ref[24], port[16];

	snprintf(ring_ref, sizeof(ring_ref), "%llu",
		 (unsigned long long)(gmem__special_gpa(GMEM_SPECIAL_CONSOLE) >> GMEM_PAGE_SHIFT));
	snprintf(port, sizeof(port), "%u", pc->port);
	/* What libxl writes for a guest's primary console. */
	if (xenstored__write_home(vm, "console/ring-ref", ring_ref) ||
	    xenstored__write_home(vm, "console/port", port) ||
	    xenstored__write_home(vm, "console/type", "xenconsoled") ||
	    xenstored__write_home(vm, "console/limit", "1048576"))
		return -1;
	return 0;
}

int pvconsole__init(struct vm *vm)
{
	struct pvconsole *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -1;
	pc->vm = vm;
	pc->fd = -1;
	pthread_mutex_init(&pc->lock, NULL);
	vm->pvconsole = pc;
	pc->ring = gmem__ptr(&vm->mem, gmem__special_gpa(GMEM_SPECIAL_CONSOLE), GMEM_PAGE_SIZE);
	if (!pc->ring || evtchn__backend_alloc(vm, &pc->port, &pc->fd) ||
	    loop__add(&vm->loop, pc->fd, on_guest_notify, pc) ||
	    console__add_listener(&vm->console, on_console_input, pc) < 0 ||
	    write_xenstore_keys(vm, pc)) {
		pr_err("cannot set up the PV console");
		return -1;
	}
	vm->xen.hvm_param[HVM_PARAM_CONSOLE_EVTCHN] = pc->port;
	return 0;
}

void pvconsole__destroy(struct vm *vm)
{
	struct pvconsole *pc = vm->pvconsole;

	if (!pc)
		return;
	/* What the guest wrote just before it stopped (its notification may
	 * not have been served) still reaches the console. */
	pthread_mutex_lock(&pc->lock);
	if (pc->ring)
		drain_output(pc);
	pthread_mutex_unlock(&pc->lock);
	console__remove_listener(&vm->console, on_console_input, pc);
	if (pc->fd >= 0) {
		loop__remove(&vm->loop, pc->fd);
		evtchn__backend_close(vm, pc->port, pc->fd);
	}
	pthread_mutex_destroy(&pc->lock);
	free(pc);
	vm->pvconsole = NULL;
}
