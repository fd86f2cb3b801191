#include "xenstore/xenstored.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/evtchn.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenstore/ring.h"
#include "xenstore/store.h"

static void notify_guest(void *opaque)
{
	struct xenstored *xsd = opaque;

	evtchn__notify_guest(xsd->vm, xsd->port);
}

static void on_guest_notify(int fd, void *opaque)
{
	struct xenstored *xsd = opaque;
	uint64_t count;

	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return;
	xsd->guest_connected = true;
	xs__ring_process(xsd->ring);
}

int xenstored__start(struct vm *vm, const char *name)
{
	struct xenstored *xsd = calloc(1, sizeof(*xsd));
	void *page = gmem__ptr(&vm->mem, gmem__special_gpa(GMEM_SPECIAL_XENSTORE), GMEM_PAGE_SIZE);
	int ret;

	if (!xsd || !page)
		goto fail;
	xsd->vm = vm;
	xsd->fd = -1;
	vm->xenstored = xsd;
	snprintf(xsd->home, sizeof(xsd->home), "/local/domain/%u", vm->xen.domid);
	xsd->store = xs__store_create();
	if (!xsd->store)
		goto fail;
	ret = xs__populate_domain(xsd->store, vm->xen.domid, name, vm->mem.ram_size >> 10,
				  vm->xen.handle);
	if (ret) {
		pr_err("cannot build the guest's xenstore tree: %s", strerror(-ret));
		goto fail;
	}
	ret = evtchn__backend_alloc(vm, &xsd->port, &xsd->fd);
	if (ret) {
		pr_err("cannot allocate the xenstore event channel (%d)", ret);
		goto fail;
	}
	vm->xen.hvm_param[HVM_PARAM_STORE_EVTCHN] = xsd->port;
	xsd->ring = xs__ring_create(xsd->store, vm->xen.domid, page, notify_guest, xsd);
	if (!xsd->ring || loop__add(&vm->loop, xsd->fd, on_guest_notify, xsd))
		goto fail;
	return 0;
fail:
	pr_err("cannot start the xenstore service");
	return -1;
}

void xenstored__stop(struct vm *vm)
{
	struct xenstored *xsd = vm->xenstored;

	if (!xsd)
		return;
	if (xsd->fd >= 0) {
		loop__remove(&vm->loop, xsd->fd);
		evtchn__backend_close(vm, xsd->port, xsd->fd);
	}
	if (xsd->ring)
		xs__ring_destroy(xsd->ring);
	if (xsd->store)
		xs__store_destroy(xsd->store);
	free(xsd);
	vm->xenstored = NULL;
}

int xenstored__write_home(struct vm *vm, const char *relpath, const char *value)
{
	char path[256];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", vm->xenstored->home, relpath) >= sizeof(path))
		return -ENAMETOOLONG;
	return xs__write(vm->xenstored->store, path, value);
}
