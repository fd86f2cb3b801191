/*
 * Xen event channels, 2-level ABI: the guest's ports, their bindings
 * (unbound, interdomain, VIRQ, IPI), the pending and mask bitmaps in
 * shared_info, and upcall delivery to the notified vCPU.
 *
 * Backends inside pvmm are domain 0.  A backend's end of an interdomain
 * channel is an eventfd that becomes readable when the guest sends, so a
 * backend thread waits on a descriptor and never runs on a vCPU thread.
 *
 * All state is under vm->xen.lock (the one Xen domain lock), which also
 * guards shared_info; the wait in SCHEDOP_block/poll sleeps on it.
 */
#ifndef PVMM_EVENTS_EVTCHN_H
#define PVMM_EVENTS_EVTCHN_H

#include <stdbool.h>
#include <stdint.h>

#include "xen/xen_abi.h"

struct hcall;
struct vm;
struct vcpu;

/* Ports a 2-level guest can use: the bitmap holds word-size^2 bits. */
#define EVTCHN_MAX_PORTS_64 (64 * 64)
#define EVTCHN_MAX_PORTS_32 (32 * 32)

int evtchn__init(struct vm *vm);
void evtchn__destroy(struct vm *vm);

long hc__event_channel_op(struct hcall *hc);

/* Number of ports the guest may use (by its shared_info width). */
uint32_t evtchn__max_ports(const struct vm *vm);

/* Raises a VIRQ bound on vcpu (e.g. VIRQ_TIMER); dropped if unbound. */
void evtchn__raise_virq(struct vm *vm, uint32_t vcpu, uint32_t virq);

/* Makes port pending in the guest and delivers the upcall, as an event
 * from the port's peer.  Safe from any thread. */
void evtchn__notify_guest(struct vm *vm, uint32_t port);

/* Whether port is pending in shared_info (SCHEDOP_poll). Caller holds
 * vm->xen.lock. */
bool evtchn__port_pending_locked(struct vm *vm, uint32_t port);

/* --- The backend (domain 0) side --- */

/*
 * Allocates a fresh guest port already connected to a backend, as a
 * toolstack does for the xenstore and console channels.  *fd becomes
 * readable whenever the guest sends on the port; the backend owns it.
 * Returns 0 or -XEN_E*.
 */
int evtchn__backend_alloc(struct vm *vm, uint32_t *guest_port, int *fd);

/* Connects to the guest's unbound port (allocated with remote domain 0),
 * as a Xen backend does with EVTCHNOP_bind_interdomain. */
int evtchn__backend_bind(struct vm *vm, uint32_t guest_port, int *fd);

/* Closes the backend's end: the guest's port turns unbound (as in Xen when
 * the remote end closes) and fd is closed. */
void evtchn__backend_close(struct vm *vm, uint32_t guest_port, int fd);

/* HVMOP_set_evtchn_upcall_vector: v's own LAPIC vector for upcalls. */
long evtchn__set_upcall_vector(struct vm *vm, uint32_t vcpu, uint8_t vector);

/* The domain-wide callback vector v should be given now (its upcall is
 * pending and no per-vCPU vector is set), or -1.  Read by v's own thread
 * before each KVM_RUN; lock-free. */
int evtchn__callback_due(struct vcpu *v);

/* Sends an upcall vector to v: per-vCPU vector, or the domain-wide
 * callback vector, whichever the guest configured. Caller holds the lock. */
void evtchn__deliver_upcall_locked(struct vcpu *v);

#endif
