/*
 * The grant table: GNTTABOP_query_size; grant frames placed with
 * XENMEM_add_to_physmap (frame 0 over a RAM page, frame 1 in a hole of the
 * memory map, as GRUB places them); GNTTABOP_setup_table naming those
 * frames; v1 grant entries used by GNTTABOP_copy in both directions,
 * with the errors for read-only grants, grants for another domain, bad
 * references and copies beyond a page; and switching to version 2 and back.
 * Copies go through our own grants, so the entries name our own domain id.
 */
#include "events.h"

#define GRANTS_PER_FRAME (PAGE_SIZE / sizeof(grant_entry_v1_t))
#define REF_RW          10
#define REF_RO          11
#define REF_OTHER       12
#define REF_FRAME1      (GRANTS_PER_FRAME + 3)
#define FOUR_GIB        0x100000000ull

static uint8_t table_frame0[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t status_frame0[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t granted[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t granted_ro[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t local[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static domid_t self;
static volatile grant_entry_v1_t *table[2];

static xen_pfn_t pfn_of(const void *p)
{
	return (uintptr_t)p / PAGE_SIZE;
}

/* The first page-aligned address after RAM, below 4 GiB, that no memory
 * map entry covers; 0 if there is none. */
static uint64_t find_hole(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *e =
		memmap_find(si, (uintptr_t)_image_start, PAGE_SIZE);
	uint64_t addr;

	if (!e || e->type != XEN_HVM_MEMMAP_TYPE_RAM)
		return 0;
	addr = e->addr + e->size;
	for (unsigned int i = 0; i < si->memmap_entries; i++) {
		addr = (addr + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
		e = memmap_find(si, addr, 1);
		if (!e)
			break;
		addr = e->addr + e->size;
	}
	if (addr + PAGE_SIZE > FOUR_GIB || memmap_find(si, addr, 1))
		return 0;
	return addr;
}

static long map_frame(unsigned long idx, xen_pfn_t gpfn)
{
	struct xen_add_to_physmap xatp = {
		.domid = DOMID_SELF,
		.space = XENMAPSPACE_grant_table,
		.idx = idx,
		.gpfn = gpfn,
	};

	return HYPERVISOR_memory_op(XENMEM_add_to_physmap, (uintptr_t)&xatp);
}

static void grant(grant_ref_t ref, domid_t domid, const void *page, uint16_t flags)
{
	volatile grant_entry_v1_t *e = &table[ref / GRANTS_PER_FRAME][ref % GRANTS_PER_FRAME];

	e->domid = domid;
	e->frame = (uint32_t)pfn_of(page);
	barrier();      /* frame and domid before the flags that validate them */
	e->flags = flags;
}

struct copy_side {
	bool gref;
	uint64_t ref_or_gmfn;
	uint16_t offset;
};

/* One GNTTABOP_copy between our own grants and pages; its status. */
static int16_t copy(struct copy_side src, struct copy_side dst, uint16_t len)
{
	struct gnttab_copy op = { .len = len };
	long rc;

	op.source.domid = op.dest.domid = DOMID_SELF;
	op.source.offset = src.offset;
	op.dest.offset = dst.offset;
	if (src.gref) {
		op.flags |= GNTCOPY_source_gref;
		op.source.u.ref = (grant_ref_t)src.ref_or_gmfn;
	} else {
		op.source.u.gmfn = (xen_pfn_t)src.ref_or_gmfn;
	}
	if (dst.gref) {
		op.flags |= GNTCOPY_dest_gref;
		op.dest.u.ref = (grant_ref_t)dst.ref_or_gmfn;
	} else {
		op.dest.u.gmfn = (xen_pfn_t)dst.ref_or_gmfn;
	}
	rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &op, 1);
	if (rc)
		printf("gnttab: GNTTABOP_copy returned %ld\n", rc);
	return rc ? INT16_MIN : op.status;
}

static struct copy_side by_ref(grant_ref_t ref, uint16_t offset)
{
	return (struct copy_side){ .gref = true, .ref_or_gmfn = ref, .offset = offset };
}

static struct copy_side by_gmfn(const void *page, uint16_t offset)
{
	return (struct copy_side){ .gref = false, .ref_or_gmfn = pfn_of(page),
				   .offset = offset };
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_query_size(uint32_t *max)
{
	struct gnttab_query_size q = { .dom = DOMID_SELF };
	long rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1);

	check_long("GNTTABOP_query_size", rc, 0);
	check_long("GNTTABOP_query_size status", q.status, GNTST_okay);
	printf("gnttab: %u frames of at most %u\n", q.nr_frames, q.max_nr_frames);
	check(q.nr_frames <= q.max_nr_frames, "query_size: nr_frames <= max_nr_frames");
	check(q.max_nr_frames >= 2, "query_size: room for at least 2 frames");
	*max = q.max_nr_frames;
}

static bool test_setup(const struct hvm_start_info *si, uint32_t max)
{
	struct gnttab_setup_table setup = { .dom = DOMID_SELF, .nr_frames = 2 };
	struct gnttab_query_size q = { .dom = DOMID_SELF };
	xen_pfn_t frames[2] = { 0, 0 };
	uint64_t hole = find_hole(si);
	long rc;

	printf("gnttab: hole for frame 1 at %#llx\n", (unsigned long long)hole);
	if (!check(hole != 0, "the memory map has a hole after RAM below 4 GiB"))
		return false;
	rc = map_frame(0, pfn_of(table_frame0));
	check_long("XENMEM_add_to_physmap(grant_table, idx 0) over a RAM page", rc, 0);
	rc = map_frame(1, hole / PAGE_SIZE);
	check_long("XENMEM_add_to_physmap(grant_table, idx 1) into the hole", rc, 0);
	if (rc)
		return false;
	table[0] = (volatile grant_entry_v1_t *)table_frame0;
	table[1] = (volatile grant_entry_v1_t *)(uintptr_t)hole;

	set_xen_guest_handle(setup.frame_list, frames);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
	check_long("GNTTABOP_setup_table(2 frames)", rc, 0);
	check_long("GNTTABOP_setup_table status", setup.status, GNTST_okay);
	check_u64("setup_table frame 0 is where idx 0 was mapped", frames[0],
		  pfn_of(table_frame0));
	check_u64("setup_table frame 1 is where idx 1 was mapped", frames[1],
		  hole / PAGE_SIZE);

	HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1);
	check(q.status == GNTST_okay && q.nr_frames >= 2,
	      "query_size counts the frames now in use");

	setup.nr_frames = max + 1;
	rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
	check(rc == 0 && setup.status == GNTST_general_error,
	      "setup_table beyond max_nr_frames is GNTST_general_error");
	return true;
}

static void test_copy(void)
{
	int16_t st;

	fill(granted, PAGE_SIZE, 0x11);
	fill(granted_ro, PAGE_SIZE, 0x55);
	memset(local, 0, PAGE_SIZE);
	grant(REF_RW, self, granted, GTF_permit_access);
	grant(REF_RO, self, granted_ro, GTF_permit_access | GTF_readonly);
	grant(REF_OTHER, 0, granted, GTF_permit_access);
	grant(REF_FRAME1, self, granted_ro, GTF_permit_access);

	st = copy(by_ref(REF_RW, 100), by_gmfn(local, 200), 300);
	check_long("GNTTABOP_copy from a grant to a local frame", st, GNTST_okay);
	check(memcmp(local + 200, granted + 100, 300) == 0 && local[199] == 0 &&
	      local[500] == 0, "the copied bytes arrived, nothing else");
	check_long("the grant's flags are back to GTF_permit_access after the copy",
		   table[0][REF_RW].flags, GTF_permit_access);

	fill(local, PAGE_SIZE, 0xa0);
	st = copy(by_gmfn(local, 0), by_ref(REF_RW, 4000), 96);
	check_long("GNTTABOP_copy from a local frame into a grant", st, GNTST_okay);
	check(memcmp(granted + 4000, local, 96) == 0 && granted[3999] == (uint8_t)(0x11 + 3999 * 7),
	      "the bytes landed in the granted page");

	memset(local, 0, PAGE_SIZE);
	st = copy(by_ref(REF_RO, 0), by_gmfn(local, 0), PAGE_SIZE);
	check_long("GNTTABOP_copy of a whole page from a read-only grant", st, GNTST_okay);
	check(memcmp(local, granted_ro, PAGE_SIZE) == 0, "the whole page arrived");
	st = copy(by_gmfn(local, 0), by_ref(REF_RO, 0), 16);
	check_long("GNTTABOP_copy into a read-only grant is GNTST_general_error", st,
		   GNTST_general_error);

	st = copy(by_ref(REF_OTHER, 0), by_gmfn(local, 0), 16);
	check_long("GNTTABOP_copy through a grant for domain 0 is GNTST_general_error", st,
		   GNTST_general_error);
	st = copy(by_ref(20, 0), by_gmfn(local, 0), 16);
	check_long("GNTTABOP_copy through an unused entry is GNTST_general_error", st,
		   GNTST_general_error);
	st = copy(by_ref(2 * GRANTS_PER_FRAME + 1000000, 0), by_gmfn(local, 0), 16);
	check_long("GNTTABOP_copy through a reference beyond the table is GNTST_bad_gntref",
		   st, GNTST_bad_gntref);
	st = copy(by_ref(REF_RW, 4000), by_gmfn(local, 0), 200);
	check_long("GNTTABOP_copy with source offset + len > 4096 is GNTST_bad_copy_arg",
		   st, GNTST_bad_copy_arg);
	st = copy(by_gmfn(local, 0), by_ref(REF_RW, 3900), 197);
	check_long("GNTTABOP_copy with dest offset + len > 4096 is GNTST_bad_copy_arg",
		   st, GNTST_bad_copy_arg);

	memset(local, 0, PAGE_SIZE);
	st = copy(by_ref(REF_FRAME1, 8), by_gmfn(local, 8), 64);
	check_long("GNTTABOP_copy through a grant in frame 1 (the hole)", st, GNTST_okay);
	check(memcmp(local + 8, granted_ro + 8, 64) == 0, "frame 1's grant copied the bytes");

	/* Several operations in one call, each with its own status. */
	{
		struct gnttab_copy ops[2];

		memset(ops, 0, sizeof(ops));
		for (unsigned int i = 0; i < 2; i++) {
			ops[i].source.domid = ops[i].dest.domid = DOMID_SELF;
			ops[i].flags = GNTCOPY_source_gref;
			ops[i].source.u.ref = REF_RW;
			ops[i].dest.u.gmfn = pfn_of(local);
			ops[i].dest.offset = (uint16_t)(i * 2048);
			ops[i].len = 16;
		}
		ops[1].source.u.ref = REF_OTHER;
		check_long("GNTTABOP_copy with a batch of 2",
			   HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, 2), 0);
		check(ops[0].status == GNTST_okay && ops[1].status == GNTST_general_error,
		      "each copy in the batch has its own status");
	}
	for (grant_ref_t ref = REF_RW; ref <= REF_OTHER; ref++)
		table[0][ref].flags = 0;
	table[1][REF_FRAME1 % GRANTS_PER_FRAME].flags = 0;
}

static void test_versions(void)
{
	struct gnttab_set_version set = { .version = 2 };
	struct gnttab_get_version get = { .dom = DOMID_SELF };
	struct gnttab_get_status_frames gsf = { .nr_frames = 1, .dom = DOMID_SELF };
	uint64_t status_gfn = 0;
	long rc;

	rc = HYPERVISOR_grant_table_op(GNTTABOP_get_version, &get, 1);
	check(rc == 0 && get.version == 1, "GNTTABOP_get_version is 1 to start with");

	rc = HYPERVISOR_grant_table_op(GNTTABOP_set_version, &set, 1);
	check_long("GNTTABOP_set_version(2)", rc, 0);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_get_version, &get, 1);
	check(rc == 0 && get.version == 2, "GNTTABOP_get_version is 2");

	rc = map_frame(0 | XENMAPIDX_grant_table_status, pfn_of(status_frame0));
	check_long("XENMEM_add_to_physmap(grant_table status frame 0)", rc, 0);
	set_xen_guest_handle(gsf.frame_list, &status_gfn);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_get_status_frames, &gsf, 1);
	check_long("GNTTABOP_get_status_frames(1)", rc, 0);
	check_long("GNTTABOP_get_status_frames status", gsf.status, GNTST_okay);
	check_u64("the status frame is where it was mapped", status_gfn,
		  pfn_of(status_frame0));

	set.version = 3;
	check_long("GNTTABOP_set_version(3) is -EINVAL",
		   HYPERVISOR_grant_table_op(GNTTABOP_set_version, &set, 1), -XEN_EINVAL);
	set.version = 1;
	rc = HYPERVISOR_grant_table_op(GNTTABOP_set_version, &set, 1);
	check_long("GNTTABOP_set_version(1)", rc, 0);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_get_version, &get, 1);
	check(rc == 0 && get.version == 1, "GNTTABOP_get_version is 1 again");
}

void guest_main(const struct hvm_start_info *si)
{
	uint32_t max = 0;
	long rc;

	printf("gnttab: %u-bit guest\n", GUEST_BITS);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	rc = xen_domid(&self);
	if (!check_long("our domain id (status of an unbound port)", rc, 0))
		return;
	printf("gnttab: domain %u\n", self);

	test_query_size(&max);
	if (!test_setup(si, max))
		return;
	test_copy();
	test_versions();
}
