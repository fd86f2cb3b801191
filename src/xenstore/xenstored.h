/*
 * The VM's xenstore daemon: the store, the guest's connection on its ring
 * page (special page GMEM_SPECIAL_XENSTORE, HVM_PARAM_STORE_PFN) and the
 * event channel that wakes it (HVM_PARAM_STORE_EVTCHN), served from the
 * main loop.  Backends use the store through vm->xenstored->store.
 */
#ifndef PVMM_XENSTORE_XENSTORED_H
#define PVMM_XENSTORE_XENSTORED_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct xs_store;
struct xs_ring;

struct xenstored {
	struct vm *vm;
	struct xs_store *store;
	struct xs_ring *ring;
	uint32_t port;          /* the guest's store event channel */
	int fd;                 /* readable when the guest notifies */
	bool guest_connected;   /* the guest has sent a request */
	char home[32];          /* /local/domain/<domid> */
};

/* Creates the store with the guest's tree (name, memory, control/, device/)
 * and serves the ring.  0, or -1 after logging why. */
int xenstored__start(struct vm *vm, const char *name);
void xenstored__stop(struct vm *vm);

/* Writes H/<relpath> = value in the guest's home, as the toolstack. */
int xenstored__write_home(struct vm *vm, const char *relpath, const char *value);

#endif
