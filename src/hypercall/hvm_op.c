/*
 * __HYPERVISOR_hvm_op: the HVM parameters, through which the toolstack
 * tells the guest where its xenstore and console rings are.
 */
#include "events/evtchn.h"
#include "hypercall/hypercall.h"
#include "vcpu/vm.h"
#include "xen/domain.h"

_Static_assert(XL64_SIZE_xen_hvm_param <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_xen_hvm_pagetable_dying <= HCALL_STRUCT_MAX, "structures fit buf");

/* The parameters Xen lets a guest set on itself; the rest belong to the
 * toolstack (-EPERM). */
static bool guest_may_set(uint32_t index)
{
	switch (index) {
	case HVM_PARAM_CALLBACK_IRQ:
	case HVM_PARAM_VM86_TSS:
	case HVM_PARAM_VM86_TSS_SIZED:
	case HVM_PARAM_ACPI_IOPORTS_LOCATION:
	case HVM_PARAM_VM_GENERATION_ID_ADDR:
	case HVM_PARAM_STORE_EVTCHN:
	case HVM_PARAM_CONSOLE_EVTCHN:
	case HVM_PARAM_X87_FIP_WIDTH:
		return true;
	default:
		return false;
	}
}

/* The parameters Xen lets a guest read on itself. */
static bool guest_may_get(uint32_t index)
{
	switch (index) {
	case HVM_PARAM_STORE_PFN:
	case HVM_PARAM_CONSOLE_PFN:
	case HVM_PARAM_ALTP2M:
		return true;
	default:
		return guest_may_set(index);
	}
}

static long set_param(struct hcall *hc, uint32_t index, uint64_t value)
{
	struct xen_domain *d = &hc->vm->xen;

	if (!guest_may_set(index))
		return -XEN_EPERM;
	/* Xen checks this one's value: the FPU instruction pointer width. */
	if (index == HVM_PARAM_X87_FIP_WIDTH &&
	    value != 0 && value != 2 && value != 4 && value != 8)
		return -XEN_EINVAL;
	pthread_mutex_lock(&d->lock);
	d->hvm_param[index] = value;
	pthread_mutex_unlock(&d->lock);
	/* Among the first things PV drivers do: Xen samples the guest's
	 * width here for shared_info's layout. */
	if (index == HVM_PARAM_CALLBACK_IRQ)
		xen__latch_shared_info_layout(hc->vm, hc->compat);
	return 0;
}

static long param_op(struct hcall *hc, bool set)
{
	struct xen_domain *d = &hc->vm->xen;
	uint8_t buf[HCALL_STRUCT_MAX];
	size_t sz = XSIZE(hc->compat, xen_hvm_param);
	struct xfield value = XFIELD(hc->compat, xen_hvm_param, value);
	uint32_t index;
	uint16_t domid;
	long ret = hcall__copy_from(hc, hc->arg[1], buf, sz);

	if (ret)
		return ret;
	index = (uint32_t)xfield__get(buf, XFIELD(hc->compat, xen_hvm_param, index));
	domid = (uint16_t)xfield__get(buf, XFIELD(hc->compat, xen_hvm_param, domid));
	/* Xen's order: the index, then the domain. */
	if (index >= HVM_NR_PARAMS)
		return -XEN_EINVAL;
	ret = xen__check_domid(hc->vm, domid);
	if (ret)
		return ret;
	if (set)
		return set_param(hc, index, xfield__get(buf, value));

	if (!guest_may_get(index))
		return -XEN_EPERM;
	pthread_mutex_lock(&d->lock);
	xfield__set(buf, value, d->hvm_param[index]);
	pthread_mutex_unlock(&d->lock);
	return hcall__copy_to(hc, hc->arg[1], buf, sz);
}

static long pagetable_dying(struct hcall *hc)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	long ret = hcall__copy_from(hc, hc->arg[1], buf,
				    XSIZE(hc->compat, xen_hvm_pagetable_dying));

	if (ret)
		return ret;
	ret = xen__check_domid(hc->vm, (uint16_t)xfield__get(
		buf, XFIELD(hc->compat, xen_hvm_pagetable_dying, domid)));
	/* The hint serves shadow paging only; with hardware paging (KVM's
	 * second stage here) Xen answers -EINVAL, and guests take that as
	 * "not supported". */
	return ret ? ret : -XEN_EINVAL;
}

static long set_upcall_vector(struct hcall *hc)
{
	struct xen_hvm_evtchn_upcall_vector a;

	/* uint32_t and uint8_t: the same layout for both widths. */
	if (hcall__copy_from(hc, hc->arg[1], &a, sizeof(a)))
		return -XEN_EFAULT;
	return evtchn__set_upcall_vector(hc->vm, a.vcpu, a.vector);
}

long hc__hvm_op(struct hcall *hc)
{
	uint64_t op = hc->arg[0];   /* Xen's prototype: unsigned long op */

	switch (op) {
	case HVMOP_set_param:
		return param_op(hc, true);
	case HVMOP_get_param:
		return param_op(hc, false);
	case HVMOP_set_evtchn_upcall_vector:
		return set_upcall_vector(hc);
	case HVMOP_pagetable_dying:
		return pagetable_dying(hc);
	default:
		return hcall__enosys(hc, "hvm_op", op);
	}
}
