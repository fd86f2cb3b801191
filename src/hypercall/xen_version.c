/*
 * __HYPERVISOR_xen_version: which Xen the guest talks to and what it offers.
 * pvmm answers as Xen 4.17 answers an unprivileged HVM domain.
 */
#include <string.h>

#include "hypercall/hypercall.h"
#include "vcpu/vm.h"

#define XEN_CAPABILITIES "hvm-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p"

/*
 * XENVER_get_features submap 0: only what pvmm does.
 *   writable_page_tables, auto_translated_physmap: the guest owns ordinary
 *     page tables over guest-physical memory; KVM does the second stage.
 *   hvm_safe_pvclock: the pvclock is built from the guest's own TSC (read
 *     from KVM), so it is right for an HVM guest.
 *   not_direct_mapped: guest frame numbers are not host frame numbers.
 *   hvm_callback_vector: event upcalls arrive as a vector
 *     (HVM_PARAM_CALLBACK_IRQ type 2, or HVMOP_set_evtchn_upcall_vector).
 * Not offered: vcpu_time_phys_area, runstate_phys_area, memory_op_vnode.
 */
#define PVMM_FEATURES_0                                 \
	((1u << XENFEAT_writable_page_tables) |         \
	 (1u << XENFEAT_auto_translated_physmap) |      \
	 (1u << XENFEAT_hvm_safe_pvclock) |             \
	 (1u << XENFEAT_hvm_callback_vector) |          \
	 (1u << XENFEAT_not_direct_mapped))

_Static_assert(sizeof(xen_capabilities_info_t) <= 1024 &&
	       sizeof(xen_commandline_t) <= 1024 &&
	       sizeof(xen_changeset_info_t) <= 1024 &&
	       sizeof(xen_extraversion_t) <= 1024, "string buffers fit");
_Static_assert(XL64_SIZE_xen_feature_info <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_xen_platform_parameters <= HCALL_STRUCT_MAX, "structures fit buf");

/* Copies a string into a zeroed fixed-size Xen string buffer at arg. */
static long copy_string_out(struct hcall *hc, const char *s, size_t size)
{
	char buf[1024];   /* the largest: xen_capabilities_info_t, xen_commandline_t */

	memset(buf, 0, size);
	strncpy(buf, s, size - 1);
	return hcall__copy_to(hc, hc->arg[1], buf, size);
}

static long get_features(struct hcall *hc)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	size_t sz = XSIZE(hc->compat, xen_feature_info);
	long ret = hcall__copy_from(hc, hc->arg[1], buf, sz);

	if (ret)
		return ret;
	/* There is one submap (XENFEAT_NR_SUBMAPS); Xen refuses the others. */
	if (xfield__get(buf, XFIELD(hc->compat, xen_feature_info, submap_idx)) != 0)
		return -XEN_EINVAL;
	xfield__set(buf, XFIELD(hc->compat, xen_feature_info, submap), PVMM_FEATURES_0);
	return hcall__copy_to(hc, hc->arg[1], buf, sz);
}

static long compile_info(struct hcall *hc)
{
	xen_compile_info_t info;

	memset(&info, 0, sizeof(info));
	strncpy(info.compiler, "gcc " __VERSION__, sizeof(info.compiler) - 1);
	strncpy(info.compile_by, "pvmm", sizeof(info.compile_by) - 1);
	return hcall__copy_to(hc, hc->arg[1], &info, sizeof(info));
}

static long platform_parameters(struct hcall *hc)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	size_t sz = XSIZE(hc->compat, xen_platform_parameters);

	/* Xen reserves no guest-virtual range from an HVM guest: 0. */
	memset(buf, 0, sz);
	return hcall__copy_to(hc, hc->arg[1], buf, sz);
}

long hc__xen_version(struct hcall *hc)
{
	int cmd = (int)hc->arg[0];   /* Xen's prototype: int cmd */

	switch (cmd) {
	case XENVER_version:
		return (PVMM_XEN_MAJOR << 16) | PVMM_XEN_MINOR;
	case XENVER_extraversion:
		return copy_string_out(hc, PVMM_XEN_EXTRAVERSION, sizeof(xen_extraversion_t));
	case XENVER_compile_info:
		return compile_info(hc);
	case XENVER_capabilities:
		return copy_string_out(hc, XEN_CAPABILITIES, sizeof(xen_capabilities_info_t));
	case XENVER_changeset:
		return copy_string_out(hc, "pvmm " PVMM_VERSION, sizeof(xen_changeset_info_t));
	case XENVER_platform_parameters:
		return platform_parameters(hc);
	case XENVER_get_features:
		return get_features(hc);
	case XENVER_pagesize:
		/* Xen wants a NULL argument here. */
		return hc->arg[1] ? -XEN_EINVAL : (long)GMEM_PAGE_SIZE;
	case XENVER_guest_handle:
		return hcall__copy_to(hc, hc->arg[1], hc->vm->xen.handle,
				      sizeof(xen_domain_handle_t));
	case XENVER_commandline:
		/* There is no hypervisor command line. */
		return copy_string_out(hc, "", sizeof(xen_commandline_t));
	default:
		return hcall__enosys(hc, "xen_version", (unsigned)cmd);
	}
}
