/*
 * __HYPERVISOR_memory_op: the guest's memory map and reservation (the
 * balloon operations are src/balloon's), and placing Xen pages
 * (shared_info) in its physical address space.
 */
#include <string.h>

#include "balloon/balloon.h"
#include "grant/gnttab.h"
#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/domain.h"
#include "xen/time.h"

/* Xen's memory_op command word: the sub-op in the low bits, the progress of
 * a preempted operation (start_extent) above them. */
#define MEMOP_EXTENT_SHIFT 6
#define MEMOP_CMD_MASK ((1u << MEMOP_EXTENT_SHIFT) - 1)

/* XENMEM_memory_map entries are BIOS e820 entries: packed, little-endian
 * u64 address, u64 size, u32 type. */
#define E820_ENTRY_SIZE 20
#define MAX_MAP_ENTRIES 16

_Static_assert(XL64_SIZE_xen_memory_map <= HCALL_STRUCT_MAX &&
	       XL64_SIZE_xen_add_to_physmap <= HCALL_STRUCT_MAX, "structures fit buf");

static long memory_map(struct hcall *hc)
{
	struct gmem_range range[MAX_MAP_ENTRIES];
	uint8_t buf[HCALL_STRUCT_MAX];
	uint8_t entries[MAX_MAP_ENTRIES * E820_ENTRY_SIZE];
	size_t sz = XSIZE(hc->compat, xen_memory_map);
	struct xfield nr_field = XFIELD(hc->compat, xen_memory_map, nr_entries);
	int nr = gmem__memory_map(&hc->vm->mem, range, MAX_MAP_ENTRIES);
	uint64_t want;
	long ret = hcall__copy_from(hc, hc->arg[1], buf, sz);

	if (ret)
		return ret;
	/* As Xen: as many entries as fit, and the count written back. */
	want = xfield__get(buf, nr_field);
	if (want < (uint64_t)nr)
		nr = (int)want;
	for (int i = 0; i < nr; i++) {
		uint8_t *e = entries + i * E820_ENTRY_SIZE;

		memcpy(e, &range[i].addr, 8);
		memcpy(e + 8, &range[i].size, 8);
		memcpy(e + 16, &range[i].type, 4);
	}
	ret = hcall__copy_to(hc, xfield__get(buf, XFIELD(hc->compat, xen_memory_map, buffer)),
			     entries, (size_t)nr * E820_ENTRY_SIZE);
	if (ret)
		return ret;
	xfield__set(buf, nr_field, (uint64_t)nr);
	return hcall__copy_to(hc, hc->arg[1], buf, sz);
}

/* XENMEM_current_reservation, maximum_reservation, maximum_gpfn: arg
 * points at a domid_t. */
static long domain_memory(struct hcall *hc, unsigned int op)
{
	const struct guest_mem *m = &hc->vm->mem;
	struct gmem_range range[MAX_MAP_ENTRIES];
	uint16_t domid;
	long ret = hcall__copy_from(hc, hc->arg[1], &domid, sizeof(domid));
	int nr;

	if (!ret)
		ret = xen__check_domid(hc->vm, domid);
	if (ret)
		return ret;
	if (op == XENMEM_current_reservation)
		return (long)balloon__current_pages(hc->vm);
	if (op == XENMEM_maximum_reservation)
		return (long)balloon__maximum_pages(hc->vm);
	/* The highest frame anything is mapped at, the special pages too. */
	nr = gmem__memory_map(m, range, MAX_MAP_ENTRIES);
	return nr ? (long)((range[nr - 1].addr + range[nr - 1].size) >> GMEM_PAGE_SHIFT) - 1 : 0;
}

/*
 * Puts shared_info at guest frame gfn.  Xen moves its own page there; pvmm
 * keeps the structure in the guest's page itself, so the contents move with
 * it: copied from the old frame, or zeroed the first time, then every
 * vCPU's time and the wallclock written.  self is the calling vCPU, whose
 * TSC reading serves all vCPUs.
 */
static void map_shared_info(struct vcpu *self, uint64_t gfn)
{
	struct vm *vm = self->vm;
	struct xen_domain *d = &vm->xen;
	struct xen_time_sample s;
	bool have_time = xen__time_sample(self, &s) == 0;
	uint8_t *page = gmem__frame(&vm->mem, gfn);
	uint8_t *old;

	pthread_mutex_lock(&d->lock);
	if (!d->has_shared_info)
		memset(page, 0, GMEM_PAGE_SIZE);
	else if ((old = gmem__frame(&vm->mem, d->shared_info_gfn)) && old != page)
		/* Two holes may show the same special page: then it stays. */
		memcpy(page, old, GMEM_PAGE_SIZE);
	d->has_shared_info = true;
	d->shared_info_gfn = gfn;
	xen__write_wallclock(vm);
	for (int i = 0; have_time && i < vm->nr_vcpus; i++)
		if (vm->vcpu[i] && !vm->vcpu[i]->xen.has_vcpu_info)
			xen__write_vcpu_time(vm->vcpu[i], &s);
	pthread_mutex_unlock(&d->lock);
}

static long add_to_physmap(struct hcall *hc, uint64_t start_extent)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	bool c = hc->compat;
	uint32_t space;
	uint64_t idx, gfn;
	long ret;

	/* Xen's own progress marker for gmfn_range: it fits in `size`. */
	if (start_extent > UINT16_MAX)
		return -XEN_EDOM;
	ret = hcall__copy_from(hc, hc->arg[1], buf, XSIZE(c, xen_add_to_physmap));
	if (ret)
		return ret;
	space = (uint32_t)xfield__get(buf, XFIELD(c, xen_add_to_physmap, space));
	idx = xfield__get(buf, XFIELD(c, xen_add_to_physmap, idx));
	gfn = xfield__get(buf, XFIELD(c, xen_add_to_physmap, gpfn));
	/* Foreign mappings go through add_to_physmap_batch only. */
	if (space == XENMAPSPACE_gmfn_foreign)
		return -XEN_ENOSYS;
	ret = xen__check_domid(hc->vm,
			       (uint16_t)xfield__get(buf, XFIELD(c, xen_add_to_physmap, domid)));
	if (ret)
		return ret;

	switch (space) {
	case XENMAPSPACE_shared_info:
		if (idx != 0)
			return -XEN_EINVAL;
		/* pvmm keeps shared_info in the page itself: a RAM page, or a
		 * hole of the memory map (GRUB's choice), which then shows a
		 * special page kept for it. */
		if (gfn <= (UINT64_MAX >> GMEM_PAGE_SHIFT) && gmem__is_hole(&hc->vm->mem, gfn) &&
		    gmem__add_alias(&hc->vm->mem, gfn,
				    gmem__special_gpa(GMEM_SPECIAL_SHARED_INFO) >> GMEM_PAGE_SHIFT)) {
			pr_warn_once("guest put shared_info where no page can go (frame %#llx)",
				     (unsigned long long)gfn);
			return -XEN_EINVAL;
		}
		if (gfn > (UINT64_MAX >> GMEM_PAGE_SHIFT) ||
		    !gmem__frame(&hc->vm->mem, gfn) ||
		    (!gmem__is_ram(&hc->vm->mem, gfn << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE) &&
		     gmem__frame(&hc->vm->mem, gfn) !=
		     gmem__ptr(&hc->vm->mem, gmem__special_gpa(GMEM_SPECIAL_SHARED_INFO), GMEM_PAGE_SIZE))) {
			pr_warn_once("guest put shared_info outside RAM (frame %#llx)",
				     (unsigned long long)gfn);
			return -XEN_EINVAL;
		}
		map_shared_info(hc->vcpu, gfn);
		return 0;
	case XENMAPSPACE_grant_table:
		return gnttab__add_to_physmap(hc->vm, idx, gfn);
	default:
		return hcall__enosys(hc, "memory_op add_to_physmap space", space);
	}
}

long hc__memory_op(struct hcall *hc)
{
	uint64_t cmd = hc->arg[0];   /* Xen's prototype: unsigned long cmd */
	unsigned int op = (unsigned int)(cmd & MEMOP_CMD_MASK);
	uint64_t start_extent = cmd >> MEMOP_EXTENT_SHIFT;

	switch (op) {
	case XENMEM_increase_reservation:
	case XENMEM_decrease_reservation:
	case XENMEM_populate_physmap:
		return balloon__memory_op(hc, op, start_extent);
	case XENMEM_memory_map:
		/* An architecture sub-op: Xen matches the whole word. */
		if (start_extent)
			break;
		return memory_map(hc);
	case XENMEM_maximum_ram_page:
		if (start_extent)
			return -XEN_EINVAL;
		/* Xen's max_page: one past the highest frame of RAM. */
		return (long)gmem__ram_end_pfn(&hc->vm->mem);
	case XENMEM_current_reservation:
	case XENMEM_maximum_reservation:
	case XENMEM_maximum_gpfn:
		if (start_extent)
			return -XEN_EINVAL;
		return domain_memory(hc, op);
	case XENMEM_add_to_physmap:
		return add_to_physmap(hc, start_extent);
	default:
		break;
	}
	return hcall__enosys(hc, "memory_op", cmd);
}
