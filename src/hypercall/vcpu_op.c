/*
 * __HYPERVISOR_vcpu_op: per-vCPU operations: bringing secondary vCPUs up
 * and down the PVH way (VCPUOP_initialise with a vcpu_hvm_context, then
 * VCPUOP_up), placing a vCPU's vcpu_info, and the vCPU timers; and
 * __HYPERVISOR_set_timer_op, the older form of the single-shot timer.
 *
 * A vCPU's up/initialised state is under vm->xen.lock, as Xen keeps it
 * under the domain lock; a vCPU that is down parks its thread (vcpu.c).
 */
#include <string.h>

#include "events/timer.h"
#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/domain.h"
#include "xen/time.h"

#define MILLISECS(ms) ((uint64_t)(ms) * 1000000ULL)
/* Xen's bounds on a periodic timer's period: at least 1 ms, and at most
 * STIME_DELTA_MAX, chosen so that now + period cannot overflow. */
#define PERIOD_MIN MILLISECS(1)
#define STIME_DELTA_MAX (UINT64_MAX >> 2)
/* set_timer_op: deadlines at least 2^50 ns (13 days) away are taken for
 * wrapped arithmetic in the guest, and fire after 100 ms instead (Xen). */
#define TIMER_OP_HUGE_OFFSET (1ULL << 50)
#define TIMER_OP_HUGE_DELAY MILLISECS(100)

/* vcpu_info must be aligned as its widest member, a uint64_t: 8 bytes
 * natively, 4 in the i386 ABI of a 32-bit shared_info. */
#define VCPU_INFO_ALIGN_64 8
#define VCPU_INFO_ALIGN_32 4

_Static_assert(XL64_SIZE_vcpu_register_vcpu_info <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_vcpu_set_singleshot_timer <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_vcpu_set_periodic_timer <= HCALL_STRUCT_MAX, "structures fit buf");
/* vcpu_hvm_context has one layout for both widths (fixed-size fields, the
 * 64-bit ones naturally aligned), so it is copied straight into Xen's
 * structure; the generated layouts prove it. */
_Static_assert(XL32_SIZE_vcpu_hvm_context == sizeof(struct vcpu_hvm_context) &&
	       XL64_SIZE_vcpu_hvm_context == sizeof(struct vcpu_hvm_context) &&
	       XL32_OFF_vcpu_hvm_context__cpu_regs == XL64_OFF_vcpu_hvm_context__cpu_regs &&
	       XL32_OFF_vcpu_hvm_context__x86_32_efer == XL64_OFF_vcpu_hvm_context__x86_32_efer &&
	       XL32_OFF_vcpu_hvm_context__x86_32_cs_base == XL64_OFF_vcpu_hvm_context__x86_32_cs_base &&
	       XL32_OFF_vcpu_hvm_context__x86_32_tr_ar == XL64_OFF_vcpu_hvm_context__x86_32_tr_ar &&
	       XL32_OFF_vcpu_hvm_context__x86_64_efer == XL64_OFF_vcpu_hvm_context__x86_64_efer,
	       "vcpu_hvm_context is the same for 32- and 64-bit guests");
/* Xen refuses VCPUOP_initialise for a vCPU with no vcpu_info; with at
 * most XEN_LEGACY_MAX_VCPUS vCPUs every one has a slot in shared_info. */
_Static_assert(PVMM_MAX_VCPUS <= XEN_LEGACY_MAX_VCPUS, "every vCPU has a shared_info slot");

/* Call with vm->xen.lock held. */
static bool vcpu_is_up(const struct vcpu *v)
{
	return v->xen.up;
}

/*
 * Moves v's vcpu_info to gpa, as Xen's map_vcpu_info: the current contents
 * come along (zeros when there were none), then every event is marked
 * pending so that none is lost in the move (the guest copes with the
 * spurious ones), then the time is written.  Called with the lock held.
 */
static void move_vcpu_info(struct vcpu *v, uint64_t gpa, const struct xen_time_sample *s)
{
	struct vm *vm = v->vm;
	bool c = vm->xen.shared_info_compat;
	size_t size = XSIZE(c, vcpu_info);
	uint64_t old_gpa = xen__vcpu_info_gpa(v);
	uint8_t *info = gmem__ptr(&vm->mem, gpa, size);
	uint8_t *old = old_gpa ? gmem__ptr(&vm->mem, old_gpa, size) : NULL;

	if (old)
		memmove(info, old, size);
	else
		memset(info, 0, size);
	v->xen.has_vcpu_info = true;
	v->xen.vcpu_info_gpa = gpa;

	xfield__set(info, XFIELD(c, vcpu_info, evtchn_pending_sel), UINT64_MAX);
	__atomic_store_n(info + XFIELD(c, vcpu_info, evtchn_upcall_pending).off, 1,
			 __ATOMIC_RELEASE);
	if (s)
		xen__write_vcpu_time(v, s);
	xen__vcpu_wake_locked(v);
}

static long register_vcpu_info(struct hcall *hc, struct vcpu *v)
{
	struct vm *vm = hc->vm;
	uint8_t buf[HCALL_STRUCT_MAX];
	struct xen_time_sample sample;
	bool have_time;
	uint64_t gfn, offset, gpa;
	size_t size;
	unsigned int align;
	long ret = hcall__copy_from(hc, hc->arg[2], buf,
				    XSIZE(hc->compat, vcpu_register_vcpu_info));

	if (ret)
		return ret;
	gfn = xfield__get(buf, XFIELD(hc->compat, vcpu_register_vcpu_info, mfn));
	offset = xfield__get(buf, XFIELD(hc->compat, vcpu_register_vcpu_info, offset));
	/* A TSC reading from the calling vCPU serves v too: KVM keeps the
	 * vCPUs' TSCs in step. */
	have_time = xen__time_sample(hc->vcpu, &sample) == 0;

	/* Xen's checks, in Xen's order, all -EINVAL. */
	pthread_mutex_lock(&vm->xen.lock);
	size = XSIZE(vm->xen.shared_info_compat, vcpu_info);
	align = vm->xen.shared_info_compat ? VCPU_INFO_ALIGN_32 : VCPU_INFO_ALIGN_64;
	gpa = (gfn << GMEM_PAGE_SHIFT) + offset;
	if (offset > GMEM_PAGE_SIZE - size || offset % align ||
	    v->xen.has_vcpu_info ||                       /* only once */
	    (v != hc->vcpu && vcpu_is_up(v)) ||           /* self, or a vCPU not running */
	    gfn > (UINT64_MAX >> GMEM_PAGE_SHIFT) ||
	    !gmem__is_ram(&vm->mem, gfn << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE)) {
		ret = -XEN_EINVAL;
	} else {
		move_vcpu_info(v, gpa, have_time ? &sample : NULL);
	}
	pthread_mutex_unlock(&vm->xen.lock);
	return ret;
}

static long is_up(struct hcall *hc, struct vcpu *v)
{
	bool up;

	pthread_mutex_lock(&hc->vm->xen.lock);
	up = vcpu_is_up(v);
	pthread_mutex_unlock(&hc->vm->xen.lock);
	return up;
}

/*
 * Xen's order: the context is copied (-EFAULT), a vCPU initialised before
 * is refused (-EEXIST: once initialised, always, up or down), then the
 * context is checked (-EINVAL).  A vCPU never initialised was never up,
 * so its thread is parked and its registers may be set from here; the
 * lock keeps VCPUOP_up from racing with the load.
 */
static long initialise(struct hcall *hc, struct vcpu *v)
{
	struct vcpu_hvm_context ctx;
	long ret = hcall__copy_from(hc, hc->arg[2], &ctx, XSIZE(hc->compat, vcpu_hvm_context));

	if (ret)
		return ret;
	pthread_mutex_lock(&hc->vm->xen.lock);
	if (v->initialised)
		ret = -XEN_EEXIST;
	else
		ret = vcpu__set_hvm_context(v, &ctx);
	if (!ret)
		v->initialised = true;
	pthread_mutex_unlock(&hc->vm->xen.lock);
	return ret;
}

/* VCPUOP_up: -EINVAL until initialised; bringing up a running vCPU is
 * no error.  The broadcast wakes its parked thread. */
static long up(struct hcall *hc, struct vcpu *v)
{
	long ret = 0;

	pthread_mutex_lock(&hc->vm->xen.lock);
	if (!v->initialised) {
		ret = -XEN_EINVAL;
	} else if (!v->xen.up) {
		v->xen.up = true;
		xen__vcpu_wake_locked(v);
	}
	pthread_mutex_unlock(&hc->vm->xen.lock);
	return ret;
}

/*
 * VCPUOP_down, on the caller itself or on another vCPU.  As Xen, taking
 * the last running vCPU down powers the domain off (a code latched by
 * SCHEDOP_shutdown_code wins).  The caller parks when its hypercall
 * returns (synchronous, as Xen promises); another vCPU is kicked out of
 * KVM_RUN and parks before it would run again.
 */
static long down(struct hcall *hc, struct vcpu *v)
{
	struct vm *vm = hc->vm;
	bool others_up = false;

	pthread_mutex_lock(&vm->xen.lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpu[i] != v && vcpu_is_up(vm->vcpu[i]))
			others_up = true;
	if (others_up)
		v->xen.up = false;
	pthread_mutex_unlock(&vm->xen.lock);

	if (!others_up) {
		pr_info("the last running vCPU went down: the guest shuts down");
		xen__domain_shutdown(vm, SHUTDOWN_poweroff);
	} else if (v != hc->vcpu) {
		vcpu__kick(v);
	}
	return 0;
}

/* Xen's set_timer() takes a signed time: 0 and "negative" deadlines have
 * passed and fire at once.  vtimer__set_singleshot() reads 0 as "stop",
 * so those become 1 ns, also long past. */
static uint64_t singleshot_deadline(uint64_t timeout)
{
	return (int64_t)timeout <= 0 ? 1 : timeout;
}

static long set_singleshot_timer(struct hcall *hc, struct vcpu *v)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	uint64_t timeout;
	uint32_t flags;
	long ret;

	/* Only a vCPU's own single-shot timer, checked before the copy. */
	if (v != hc->vcpu)
		return -XEN_EINVAL;
	ret = hcall__copy_from(hc, hc->arg[2], buf, XSIZE(hc->compat, vcpu_set_singleshot_timer));
	if (ret)
		return ret;
	timeout = xfield__get(buf, XFIELD(hc->compat, vcpu_set_singleshot_timer, timeout_abs_ns));
	flags = (uint32_t)xfield__get(buf, XFIELD(hc->compat, vcpu_set_singleshot_timer, flags));
	if ((flags & VCPU_SSHOTTMR_future) && timeout < xen__system_time(hc->vm))
		return -XEN_ETIME;
	vtimer__set_singleshot(hc->vm, (uint32_t)v->id, singleshot_deadline(timeout));
	return 0;
}

static long stop_singleshot_timer(struct hcall *hc, struct vcpu *v)
{
	if (v != hc->vcpu)
		return -XEN_EINVAL;
	vtimer__set_singleshot(hc->vm, (uint32_t)v->id, 0);
	return 0;
}

/* Any vCPU's periodic timer, as in Xen. */
static long set_periodic_timer(struct hcall *hc, struct vcpu *v)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	uint64_t period;
	long ret = hcall__copy_from(hc, hc->arg[2], buf, XSIZE(hc->compat, vcpu_set_periodic_timer));

	if (ret)
		return ret;
	period = xfield__get(buf, XFIELD(hc->compat, vcpu_set_periodic_timer, period_ns));
	if (period < PERIOD_MIN || period > STIME_DELTA_MAX)
		return -XEN_EINVAL;
	vtimer__set_periodic(hc->vm, (uint32_t)v->id, period);
	return 0;
}

long hc__vcpu_op(struct hcall *hc)
{
	/* Xen's prototype: int cmd, unsigned int vcpuid, handle. */
	int cmd = (int)hc->arg[0];
	struct vcpu *v = xen__vcpu(hc->vm, (uint32_t)hc->arg[1]);

	/* Xen looks the vCPU up before the command. */
	if (!v)
		return -XEN_ENOENT;
	switch (cmd) {
	case VCPUOP_initialise:
		return initialise(hc, v);
	case VCPUOP_up:
		return up(hc, v);
	case VCPUOP_down:
		return down(hc, v);
	case VCPUOP_is_up:
		return is_up(hc, v);
	case VCPUOP_set_periodic_timer:
		return set_periodic_timer(hc, v);
	case VCPUOP_stop_periodic_timer:
		vtimer__set_periodic(hc->vm, (uint32_t)v->id, 0);
		return 0;
	case VCPUOP_set_singleshot_timer:
		return set_singleshot_timer(hc, v);
	case VCPUOP_stop_singleshot_timer:
		return stop_singleshot_timer(hc, v);
	case VCPUOP_register_vcpu_info:
		return register_vcpu_info(hc, v);
	default:
		return hcall__enosys(hc, "vcpu_op", (unsigned)cmd);
	}
}

/*
 * __HYPERVISOR_set_timer_op(timeout): the calling vCPU's single-shot
 * timer.  The argument is a 64-bit s_time_t: rdi for a 64-bit guest, the
 * pair ebx (low), ecx (high) for a 32-bit one.  0 stops the timer; a
 * negative or absurdly distant deadline fires in 100 ms, as Xen does for
 * guests whose jiffies arithmetic wrapped.  Always 0.
 */
long hc__set_timer_op(struct hcall *hc)
{
	uint64_t timeout = hc->compat ? hc->arg[0] | hc->arg[1] << 32 : hc->arg[0];
	uint64_t now = xen__system_time(hc->vm);
	uint32_t id = (uint32_t)hc->vcpu->id;

	if (timeout == 0)
		vtimer__set_singleshot(hc->vm, id, 0);
	else if ((int64_t)timeout < 0 || (timeout > now && timeout - now >= TIMER_OP_HUGE_OFFSET))
		vtimer__set_singleshot(hc->vm, id, now + TIMER_OP_HUGE_DELAY);
	else
		vtimer__set_singleshot(hc->vm, id, timeout);
	return 0;
}
