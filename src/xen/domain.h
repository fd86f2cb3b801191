/*
 * The Xen view of a VM: what a Xen hypervisor keeps for a domain and its
 * vCPUs, and that pvmm's hypercalls read and change.
 */
#ifndef PVMM_XEN_DOMAIN_H
#define PVMM_XEN_DOMAIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "xen/xen_abi.h"

#define PVMM_DOMID 1               /* the guest; backends inside pvmm are domain 0 */
#define PVMM_XEN_MAJOR 4
#define PVMM_XEN_MINOR 17
#define PVMM_XEN_EXTRAVERSION ".0-pvmm"

/* The port the hypercall-page stubs write to: `out %eax, $PORT` with the
 * hypercall number in EAX.  An 8-bit port, so the stub clobbers no argument
 * register. */
#define PVMM_HYPERCALL_PORT 0x9c
/* The MSR a guest writes to have pvmm fill its hypercall page (CPUID leaf
 * 0x40000002 EBX tells the guest). */
#define PVMM_HYPERCALL_MSR 0x40000000u

struct xen_domain {
	pthread_mutex_t lock;       /* everything below, and the guest pages they name */
	pthread_cond_t wake;        /* CLOCK_MONOTONIC; broadcast by xen__vcpu_wake() */
	uint16_t domid;
	bool has_shared_info;
	/* The guest page that holds shared_info (XENMAPSPACE_shared_info): pvmm
	 * keeps the structure there, in guest RAM. */
	uint64_t shared_info_gfn;
	/* 32-bit (compat) layout of shared_info and of the event-channel bitmap
	 * words, latched from the guest's mode as Xen does. */
	bool shared_info_compat;
	uint32_t wc_version;        /* shared_info wallclock version, host copy */
	uint64_t hvm_param[HVM_NR_PARAMS];
	int shutdown_code;          /* SHUTDOWN_* set by SCHEDOP_shutdown_code, or -1 */
	uint8_t handle[16];         /* xen_domain_handle_t: the VM's UUID */
	uint64_t boot_mono_ns;      /* CLOCK_MONOTONIC at Xen system time 0 */
	uint64_t boot_wall_ns;      /* CLOCK_REALTIME at Xen system time 0 */
};

struct xen_vcpu {
	/* Running, not down (Xen: not VPF_down): the boot vCPU from the
	 * start, others after VCPUOP_up; VCPUOP_down clears it for any. */
	bool up;
	bool has_vcpu_info;         /* registered by VCPUOP_register_vcpu_info */
	uint64_t vcpu_info_gpa;
	/* Guest TSC and Xen system time at the last pvclock update. */
	uint64_t tsc_at_update;
	uint64_t ns_at_update;
	uint32_t time_version;      /* vcpu_time_info version, host copy */
};

struct vm;
struct vcpu;

/*
 * Sets up the Xen domain of a VM whose guest memory exists: lock, domain
 * id, UUID, clocks and the HVM parameters the toolstack would set (the
 * xenstore and console ring pages).
 */
void xen__domain_init(struct vm *vm);

/*
 * Ends SCHEDOP_block/SCHEDOP_poll waits so that the waiting vCPU looks
 * again: call after making an event pending for v, or when the VM stops.
 * xen__vcpu_wake() takes vm->xen.lock; a caller that holds it (and made the
 * event pending under it) calls xen__vcpu_wake_locked().
 */
void xen__vcpu_wake(struct vcpu *v);
void xen__vcpu_wake_locked(struct vcpu *v);

/*
 * Chooses the 32-bit or 64-bit layout of shared_info.  Xen samples the
 * guest's mode when it fills the hypercall page and when the guest sets
 * HVM_PARAM_CALLBACK_IRQ; pvmm does the same.
 */
void xen__latch_shared_info_layout(struct vm *vm, bool compat);

/* Whether a guest may name domid in an operation on a domain: 0 for itself
 * (DOMID_SELF or its own id), -XEN_EPERM for domain 0 (it exists, but an
 * unprivileged guest may not act on it), -XEN_ESRCH for any other. */
long xen__check_domid(const struct vm *vm, uint16_t domid);

/*
 * The domain shuts down for reason (SHUTDOWN_*, at most SHUTDOWN_MAX): as
 * Xen, a code latched earlier by SCHEDOP_shutdown_code wins; the VM stops
 * with the matching PVMM_EXIT_* status.  Takes the domain lock.
 */
void xen__domain_shutdown(struct vm *vm, unsigned int reason);

/* The vCPU with this id, or NULL. */
struct vcpu *xen__vcpu(struct vm *vm, uint64_t id);

#endif
