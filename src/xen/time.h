/*
 * Xen time keeping: system time, the per-vCPU pvclock (struct
 * vcpu_time_info in vcpu_info) and the wallclock in shared_info.
 *
 * Xen system time is nanoseconds since the VM was created, on the host's
 * CLOCK_MONOTONIC.  A guest reads it without a hypercall through pvclock:
 *
 *   now = system_time + (((tsc - tsc_timestamp) << tsc_shift) * mul) >> 32
 *
 * (a negative tsc_shift shifts right), and wall time as wallclock + now.
 */
#ifndef PVMM_XEN_TIME_H
#define PVMM_XEN_TIME_H

#include <stdint.h>

struct vm;
struct vcpu;

/* Starts Xen system time at 0 now (domain creation). */
void xen__time_init(struct vm *vm);

/* Nanoseconds since the VM was created. */
uint64_t xen__system_time(const struct vm *vm);

/*
 * Rewrites v's pvclock (version odd, fields, version even) from a fresh
 * reading of its TSC.  Call on v's thread, or while v is not running: the
 * TSC is read with KVM_GET_MSRS on v's file descriptor.
 */
void xen__update_vcpu_time(struct vcpu *v);

/* Rewrites the wallclock in shared_info, if the guest has mapped it. */
void xen__update_wallclock(struct vm *vm);

/*
 * Guest physical address of v's vcpu_info: the one the guest registered,
 * else its slot in shared_info; 0 when it has neither.  Call with
 * vm->xen.lock held: the answer changes under it.
 */
uint64_t xen__vcpu_info_gpa(struct vcpu *v);

/* A guest TSC value and the Xen system time at which it was read. */
struct xen_time_sample {
	uint64_t tsc;
	uint64_t ns;
};

/* Reads v's TSC (on v's thread, as above); 0, or -1 after a warning. */
int xen__time_sample(struct vcpu *v, struct xen_time_sample *s);

/*
 * Writes v's pvclock from a sample, which may come from another vCPU: KVM
 * keeps the vCPUs' TSCs in step, which XEN_PVCLOCK_TSC_STABLE_BIT also
 * promises the guest.  Call with vm->xen.lock held.
 */
void xen__write_vcpu_time(struct vcpu *v, const struct xen_time_sample *s);

/* xen__update_wallclock() with vm->xen.lock held. */
void xen__write_wallclock(struct vm *vm);

/*
 * The pvclock scale for a TSC of tsc_khz kHz: mul and shift such that
 * ((ticks << shift) * mul) >> 32 (>> -shift when shift is negative) is
 * ticks in nanoseconds, with mul in [2^31, 2^32) for full precision.
 * tsc_khz 0 yields mul 0.
 */
void xen__pvclock_scale(uint32_t tsc_khz, uint32_t *mul, int8_t *shift);

/* The guest's side of the formula, for checking a scale. */
static inline uint64_t xen__pvclock_ticks_to_ns(uint64_t ticks, uint32_t mul,
						 int8_t shift)
{
	if (shift >= 0)
		ticks <<= shift;
	else
		ticks >>= -shift;
	return (uint64_t)(((unsigned __int128)ticks * mul) >> 32);
}

#endif
