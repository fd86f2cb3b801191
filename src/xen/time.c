#include "xen/time.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "hypercall/xen_layout.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"

#define MSR_IA32_TSC 0x10
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

/* vcpu_time_info is made of fixed-width fields only: one layout serves
 * both guest widths, and so does vcpu_info's size and the time's place. */
_Static_assert(sizeof(struct vcpu_time_info) == 32, "vcpu_time_info is 32 bytes");
_Static_assert(XL64_LEN_vcpu_info__time == sizeof(struct vcpu_time_info) &&
	       XL32_LEN_vcpu_info__time == sizeof(struct vcpu_time_info),
	       "vcpu_time_info has one layout");
_Static_assert(XL64_OFF_vcpu_info__time == XL32_OFF_vcpu_info__time &&
	       XL64_SIZE_vcpu_info == XL32_SIZE_vcpu_info,
	       "vcpu_info has one size and keeps its time at one offset");

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/*
 * The guest reads these pages while pvmm writes them (a seqlock: version
 * odd, fields, version even).  x86 keeps stores in program order, so only
 * the compiler has to be stopped from reordering them.
 */
static void guest_store_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void guest_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

void xen__time_init(struct vm *vm)
{
	vm->xen.boot_mono_ns = clock_ns(CLOCK_MONOTONIC);
	vm->xen.boot_wall_ns = clock_ns(CLOCK_REALTIME);
}

uint64_t xen__system_time(const struct vm *vm)
{
	return clock_ns(CLOCK_MONOTONIC) - vm->xen.boot_mono_ns;
}

void xen__pvclock_scale(uint32_t tsc_khz, uint32_t *mul, int8_t *shift)
{
	/* Nanoseconds per tick = num / den; find the shift s that puts
	 * num / (den * 2^s) in [1/2, 1), then mul = that fraction * 2^32. */
	uint64_t num = NSEC_PER_MSEC, den = tsc_khz;
	int s = 0;

	if (!tsc_khz) {
		*mul = 0;
		*shift = 0;
		return;
	}
	while (num >= den) {
		den <<= 1;
		s++;
	}
	while (num * 2 < den) {
		num <<= 1;
		s--;
	}
	/* num < den <= 2^32 here, so num << 32 fits. */
	*mul = (uint32_t)((num << 32) / den);
	*shift = (int8_t)s;
}

uint64_t xen__vcpu_info_gpa(struct vcpu *v)
{
	const struct xen_domain *d = &v->vm->xen;
	bool c = d->shared_info_compat;

	if (v->xen.has_vcpu_info)
		return v->xen.vcpu_info_gpa;
	if (d->has_shared_info && v->id >= 0 && v->id < XEN_LEGACY_MAX_VCPUS)
		return (d->shared_info_gfn << GMEM_PAGE_SHIFT) +
		       XFIELD(c, shared_info, vcpu_info).off +
		       (uint64_t)v->id * XSIZE(c, vcpu_info);
	return 0;
}

int xen__time_sample(struct vcpu *v, struct xen_time_sample *s)
{
	union {
		struct kvm_msrs msrs;
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} u;
	uint64_t before, after;
	int ret;

	memset(&u, 0, sizeof(u));
	u.msrs.nmsrs = 1;
	u.msrs.entries[0].index = MSR_IA32_TSC;
	before = clock_ns(CLOCK_MONOTONIC);
	ret = ioctl(v->fd, KVM_GET_MSRS, &u.msrs);
	after = clock_ns(CLOCK_MONOTONIC);
	if (ret != 1) {
		pr_warn_once("vcpu%d: cannot read the guest TSC (KVM_GET_MSRS: %s): no pvclock",
			     v->id, ret < 0 ? strerror(errno) : "MSR not returned");
		return -1;
	}
	s->tsc = u.msrs.entries[0].data;
	/* The TSC was read somewhere inside the ioctl: take the middle. */
	s->ns = before + (after - before) / 2 - v->vm->xen.boot_mono_ns;
	return 0;
}

void xen__write_vcpu_time(struct vcpu *v, const struct xen_time_sample *s)
{
	struct vm *vm = v->vm;
	struct vcpu_time_info t;
	uint64_t gpa = xen__vcpu_info_gpa(v);
	uint8_t *p;

	if (!gpa)
		return;
	/* Registration and mapping checked that vcpu_info lies in RAM. */
	p = gmem__ptr(&vm->mem, gpa + XL64_OFF_vcpu_info__time, sizeof(t));
	if (!p)
		return;

	memset(&t, 0, sizeof(t));
	t.tsc_timestamp = s->tsc;
	t.system_time = s->ns;
	xen__pvclock_scale(vm->tsc_khz, &t.tsc_to_system_mul, &t.tsc_shift);
	t.flags = XEN_PVCLOCK_TSC_STABLE_BIT;

	/* The version lives on the host: the guest may scribble on its copy. */
	v->xen.time_version = (v->xen.time_version + 1) | 1;
	guest_store32(p + offsetof(struct vcpu_time_info, version), v->xen.time_version);
	guest_store_barrier();
	memcpy(p + offsetof(struct vcpu_time_info, tsc_timestamp), &t.tsc_timestamp,
	       sizeof(t) - offsetof(struct vcpu_time_info, tsc_timestamp));
	guest_store_barrier();
	v->xen.time_version++;
	guest_store32(p + offsetof(struct vcpu_time_info, version), v->xen.time_version);

	v->xen.tsc_at_update = s->tsc;
	v->xen.ns_at_update = s->ns;
}

void xen__update_vcpu_time(struct vcpu *v)
{
	struct xen_time_sample s;

	if (xen__time_sample(v, &s))
		return;
	pthread_mutex_lock(&v->vm->xen.lock);
	xen__write_vcpu_time(v, &s);
	pthread_mutex_unlock(&v->vm->xen.lock);
}

void xen__write_wallclock(struct vm *vm)
{
	struct xen_domain *d = &vm->xen;
	bool c = d->shared_info_compat;
	struct xfield version = XFIELD(c, shared_info, wc_version);
	uint64_t wall, sys, sec;
	uint8_t *sh;

	if (!d->has_shared_info)
		return;
	sh = gmem__frame(&vm->mem, d->shared_info_gfn);
	if (!sh)
		return;

	/* Wall time at system time 0, from the host's clock now: this follows
	 * any correction the host's clock received since boot. */
	wall = clock_ns(CLOCK_REALTIME);
	sys = xen__system_time(vm);
	d->boot_wall_ns = wall > sys ? wall - sys : 0;
	sec = d->boot_wall_ns / NSEC_PER_SEC;

	d->wc_version = (d->wc_version + 1) | 1;
	guest_store32(sh + version.off, d->wc_version);
	guest_store_barrier();
	xfield__set(sh, XFIELD(c, shared_info, wc_sec), (uint32_t)sec);
	xfield__set(sh, XFIELD(c, shared_info, wc_nsec), d->boot_wall_ns % NSEC_PER_SEC);
	xfield__set(sh, XFIELD(c, shared_info, wc_sec_hi), sec >> 32);
	guest_store_barrier();
	d->wc_version++;
	guest_store32(sh + version.off, d->wc_version);
}

void xen__update_wallclock(struct vm *vm)
{
	pthread_mutex_lock(&vm->xen.lock);
	xen__write_wallclock(vm);
	pthread_mutex_unlock(&vm->xen.lock);
}
