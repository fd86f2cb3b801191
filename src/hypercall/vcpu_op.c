/*
 * __HYPERVISOR_vcpu_op: per-vCPU operations.  So far: placing a vCPU's
 * vcpu_info where the guest wants it, and asking whether a vCPU runs.
 */
#include <string.h>

#include "hypercall/hypercall.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/domain.h"
#include "xen/time.h"

/* vcpu_info must be aligned as its widest member, a uint64_t: 8 bytes
 * natively, 4 in the i386 ABI of a 32-bit shared_info. */
#define VCPU_INFO_ALIGN_64 8
#define VCPU_INFO_ALIGN_32 4

_Static_assert(XL64_SIZE_vcpu_register_vcpu_info <= HCALL_STRUCT_MAX, "structure fits buf");

static bool vcpu_is_up(const struct vcpu *v)
{
	return v->id == 0 || v->xen.up;
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

long hc__vcpu_op(struct hcall *hc)
{
	/* Xen's prototype: int cmd, unsigned int vcpuid, handle. */
	int cmd = (int)hc->arg[0];
	struct vcpu *v = xen__vcpu(hc->vm, (uint32_t)hc->arg[1]);

	/* Xen looks the vCPU up before the command. */
	if (!v)
		return -XEN_ENOENT;
	switch (cmd) {
	case VCPUOP_register_vcpu_info:
		return register_vcpu_info(hc, v);
	case VCPUOP_is_up:
		return is_up(hc, v);
	default:
		return hcall__enosys(hc, "vcpu_op", (unsigned)cmd);
	}
}
