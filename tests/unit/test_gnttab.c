/*
 * Grant tables on real guest memory: where the frames are and how
 * add_to_physmap moves them, the table operations, version switching,
 * backend mappings and the in-use marks they leave in guest memory,
 * GNTTABOP_copy, concurrent use, and the hypercall decoding for both guest
 * widths.  The hypercall tests run on a vCPU whose registers say paging is
 * off (so guest-virtual addresses are physical ones): the real
 * hcall__copy_from/copy_to, with no KVM needed.
 */
#include <check.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grant/gnttab.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "check_main.h"

#define PG          GMEM_PAGE_SIZE
#define RAM         (16ULL << 20)
#define RAM_END_GFN (RAM / PG)
#define BACKEND     0           /* pvmm's backends are domain 0 */
#define SELF        PVMM_DOMID
#define GFN_A       0x300       /* granted pages */
#define GFN_B       0x301
#define SCRATCH     0x10000ULL  /* hypercall arguments */
#define LIST        0x11000ULL  /* frame lists */
#define STATUS_IDX(i) (XENMAPIDX_grant_table_status | (i))

static struct vm vm;

static uint64_t special(unsigned page)
{
	return gmem__special_gpa((enum gmem_special_page)page) >> GMEM_PAGE_SHIFT;
}

static uint8_t *page(uint64_t gfn)
{
	uint8_t *p = gmem__frame(&vm.mem, gfn);

	ck_assert_ptr_nonnull(p);
	return p;
}

static bool page_is_zero(uint64_t gfn)
{
	const uint8_t *p = page(gfn);

	for (size_t i = 0; i < PG; i++)
		if (p[i])
			return false;
	return true;
}

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	ck_assert_int_eq(gmem__init(&vm.mem, RAM), 0);
	vm.xen.domid = PVMM_DOMID;
	ck_assert_int_eq(gnttab__init(&vm), 0);
}

static void teardown(void)
{
	gnttab__destroy(&vm);
	ck_assert_ptr_null(vm.gnttab);
	gmem__free(&vm.mem);
}

static uint32_t nr_frames(void)
{
	uint32_t nr = 0, max = 0;

	ck_assert_int_eq(gnttab__query_size(&vm, DOMID_SELF, &nr, &max), GNTST_okay);
	ck_assert_uint_eq(max, GNTTAB_MAX_FRAMES);
	return nr;
}

/* Where shared frame i is now, found as a guest would (without growing). */
static uint64_t frame_gfn(unsigned i)
{
	uint64_t gfns[GNTTAB_MAX_FRAMES];
	uint32_t nr = nr_frames();

	ck_assert_uint_lt(i, nr);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, nr, gfns), GNTST_okay);
	return gfns[i];
}

static uint64_t status_gfn(unsigned i)
{
	uint64_t gfns[GNTTAB_MAX_STATUS_FRAMES];

	ck_assert_int_eq(gnttab__get_status_frames(&vm, DOMID_SELF, i + 1, gfns), GNTST_okay);
	return gfns[i];
}

static grant_entry_v1_t *v1(grant_ref_t ref)
{
	return (grant_entry_v1_t *)page(frame_gfn(ref / 512)) + ref % 512;
}

static grant_entry_v2_t *v2(grant_ref_t ref)
{
	return (grant_entry_v2_t *)page(frame_gfn(ref / 256)) + ref % 256;
}

static grant_status_t *status(grant_ref_t ref)
{
	return (grant_status_t *)page(status_gfn(ref / 2048)) + ref % 2048;
}

/* A guest granting: domid and frame first, then the flags. */
static void grant1(grant_ref_t ref, uint16_t domid, uint32_t gfn, uint16_t flags)
{
	grant_entry_v1_t *e = v1(ref);

	e->domid = domid;
	e->frame = gfn;
	__atomic_store_n(&e->flags, flags, __ATOMIC_SEQ_CST);
}

static void grant2(grant_ref_t ref, uint16_t domid, uint64_t gfn, uint16_t flags)
{
	grant_entry_v2_t *e = v2(ref);

	e->hdr.domid = domid;
	e->full_page.frame = gfn;
	__atomic_store_n(&e->hdr.flags, flags, __ATOMIC_SEQ_CST);
}

static void set_version(uint32_t version)
{
	uint32_t v = version;

	ck_assert_int_eq(gnttab__set_version(&vm, &v), 0);
	ck_assert_uint_eq(v, version);
}

/* ---- frames ---- */

START_TEST(initial_table_is_one_zeroed_v1_frame_in_its_special_page)
{
	uint32_t version = 0;

	ck_assert_uint_eq(nr_frames(), 1);
	ck_assert_int_eq(gnttab__get_version(&vm, DOMID_SELF, &version), 0);
	ck_assert_uint_eq(version, 1);
	ck_assert_uint_eq(frame_gfn(0), special(GMEM_SPECIAL_GNTTAB_FIRST));
	ck_assert(page_is_zero(frame_gfn(0)));
}
END_TEST

START_TEST(setup_table_grows_reports_frames_and_checks_domain)
{
	uint64_t gfns[GNTTAB_MAX_FRAMES];

	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, 4, gfns), GNTST_okay);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(gfns[i], special(GMEM_SPECIAL_GNTTAB_FIRST + i));
	ck_assert_uint_eq(nr_frames(), 4);
	/* The table never shrinks. */
	ck_assert_int_eq(gnttab__setup_table(&vm, SELF, 2, gfns), GNTST_okay);
	ck_assert_uint_eq(nr_frames(), 4);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, GNTTAB_MAX_FRAMES + 1, gfns),
			 GNTST_general_error);
	ck_assert_uint_eq(nr_frames(), 4);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, GNTTAB_MAX_FRAMES, gfns), GNTST_okay);
	ck_assert_uint_eq(gfns[63], special(GMEM_SPECIAL_GNTTAB_FIRST + 63));
	ck_assert_uint_eq(nr_frames(), GNTTAB_MAX_FRAMES);
	ck_assert_int_eq(gnttab__setup_table(&vm, 0, 1, gfns), GNTST_permission_denied);
	ck_assert_int_eq(gnttab__setup_table(&vm, 7, 1, gfns), GNTST_bad_domain);
}
END_TEST

START_TEST(query_size_checks_domain)
{
	uint32_t nr = 99, max = 99;

	ck_assert_int_eq(gnttab__query_size(&vm, 0, &nr, &max), GNTST_permission_denied);
	ck_assert_int_eq(gnttab__query_size(&vm, 7, &nr, &max), GNTST_bad_domain);
	ck_assert_int_eq(gnttab__query_size(&vm, SELF, &nr, &max), GNTST_okay);
	ck_assert_uint_eq(nr, 1);
}
END_TEST

START_TEST(add_to_physmap_moves_contents_and_zeroes_old_place)
{
	uint64_t old = frame_gfn(0);

	grant1(3, BACKEND, GFN_A, GTF_permit_access);
	memset(page(old) + 2048, 0x5a, 100);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 0, 0x100), 0);
	ck_assert_uint_eq(frame_gfn(0), 0x100);
	ck_assert(page_is_zero(old));
	ck_assert_uint_eq(((grant_entry_v1_t *)page(0x100))[3].frame, GFN_A);
	ck_assert_uint_eq(page(0x100)[2048 + 99], 0x5a);

	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 0, 0x101), 0);
	ck_assert(page_is_zero(0x100));
	ck_assert_uint_eq(v1(3)->frame, GFN_A);
	ck_assert_ptr_eq(v1(3), (grant_entry_v1_t *)page(0x101) + 3);

	/* The same place again changes nothing. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 0, 0x101), 0);
	ck_assert_uint_eq(v1(3)->frame, GFN_A);
}
END_TEST

START_TEST(add_to_physmap_grows_and_refuses_bad_places)
{
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 5, 0x105), 0);
	ck_assert_uint_eq(nr_frames(), 6);
	ck_assert_uint_eq(frame_gfn(5), 0x105);
	ck_assert_uint_eq(frame_gfn(4), special(GMEM_SPECIAL_GNTTAB_FIRST + 4));

	ck_assert_int_eq(gnttab__add_to_physmap(&vm, GNTTAB_MAX_FRAMES, 0x200), -XEN_EINVAL);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, UINT64_MAX, 0x200), -XEN_EINVAL);
	/* Not RAM nor a usable hole: a special page, the interrupt
	 * controllers' window, past any address. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, special(GMEM_SPECIAL_XENSTORE)),
			 -XEN_EINVAL);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, 0xFEC00), -XEN_EINVAL);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, UINT64_MAX), -XEN_EINVAL);
	/* Where another frame of the table is. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, 0x105), -XEN_EINVAL);
	/* Status frames exist in version 2 only. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(0), 0x200), -XEN_EINVAL);
	/* Refusals neither grow nor move anything. */
	ck_assert_uint_eq(nr_frames(), 6);
	ck_assert_uint_eq(frame_gfn(1), special(GMEM_SPECIAL_GNTTAB_FIRST + 1));
	ck_assert(page_is_zero(0x200));
}
END_TEST

START_TEST(add_to_physmap_into_a_hole_aliases_the_frame)
{
	uint8_t *home = gmem__frame(&vm.mem, special(GMEM_SPECIAL_GNTTAB_FIRST + 1));
	uint8_t *ram = gmem__frame(&vm.mem, 0x120);

	/* GRUB puts the table in the first hole of its memory map. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, 0x120), 0);
	ram[0] = 0x5a;
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, RAM_END_GFN), 0);
	ck_assert_uint_eq(frame_gfn(1), RAM_END_GFN);
	/* The contents went home, the hole shows them, the RAM page is zero. */
	ck_assert_ptr_eq(gmem__frame(&vm.mem, RAM_END_GFN), home);
	ck_assert_uint_eq(home[0], 0x5a);
	ck_assert(page_is_zero(0x120));
	/* From one hole to another keeps the contents. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, RAM_END_GFN + 1), 0);
	ck_assert_uint_eq(((uint8_t *)gmem__frame(&vm.mem, RAM_END_GFN + 1))[0], 0x5a);
	/* The hole is no longer a hole. */
	ck_assert(!gmem__is_hole(&vm.mem, RAM_END_GFN));
}
END_TEST

/* ---- backend mappings ---- */

START_TEST(map_read_then_write_sets_and_clears_marks)
{
	struct gnttab_mapping r, w;

	grant1(10, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 10, false, &r), GNTST_okay);
	ck_assert_ptr_eq(r.page, gmem__frame(&vm.mem, GFN_A));
	ck_assert_uint_eq(r.gfn, GFN_A);
	ck_assert_uint_eq(r.ref, 10);
	ck_assert(!r.write);
	ck_assert_uint_eq(v1(10)->flags, GTF_permit_access | GTF_reading);

	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 10, true, &w), GNTST_okay);
	ck_assert_uint_eq(v1(10)->flags, GTF_permit_access | GTF_reading | GTF_writing);
	memset(w.page, 0xee, 16);
	ck_assert_uint_eq(page(GFN_A)[15], 0xee);

	gnttab__unmap(&vm, &w);
	ck_assert_ptr_null(w.page);
	ck_assert_uint_eq(v1(10)->flags, GTF_permit_access | GTF_reading);
	gnttab__unmap(&vm, &r);
	ck_assert_uint_eq(v1(10)->flags, GTF_permit_access);
	ck_assert_uint_eq(v1(10)->domid, BACKEND);
	ck_assert_uint_eq(v1(10)->frame, GFN_A);
}
END_TEST

START_TEST(readonly_grant_refused_for_write)
{
	struct gnttab_mapping m;

	grant1(11, BACKEND, GFN_A, GTF_permit_access | GTF_readonly);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 11, true, &m), GNTST_general_error);
	ck_assert_uint_eq(v1(11)->flags, GTF_permit_access | GTF_readonly);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 11, false, &m), GNTST_okay);
	ck_assert_uint_eq(v1(11)->flags, GTF_permit_access | GTF_readonly | GTF_reading);
	/* Still refused while read-mapped. */
	{
		struct gnttab_mapping w;

		ck_assert_int_eq(gnttab__map(&vm, BACKEND, 11, true, &w), GNTST_general_error);
	}
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(v1(11)->flags, GTF_permit_access | GTF_readonly);
}
END_TEST

START_TEST(grant_for_another_domain_refused)
{
	struct gnttab_mapping m;

	grant1(12, SELF, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 12, false, &m), GNTST_general_error);
	grant1(12, 3, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 12, false, &m), GNTST_general_error);
	ck_assert_uint_eq(v1(12)->flags, GTF_permit_access);
}
END_TEST

START_TEST(entry_pinned_by_one_domain_refused_to_another)
{
	struct gnttab_mapping a, b;

	grant1(13, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 13, false, &a), GNTST_okay);
	ck_assert_int_eq(gnttab__map(&vm, 4, 13, false, &b), GNTST_general_error);
	gnttab__unmap(&vm, &a);
	ck_assert_uint_eq(v1(13)->flags, GTF_permit_access);
}
END_TEST

START_TEST(ref_beyond_table_refused)
{
	struct gnttab_mapping m;
	uint64_t gfns[2];

	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 512, false, &m), GNTST_bad_gntref);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, UINT32_MAX, false, &m), GNTST_bad_gntref);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, 2, gfns), GNTST_okay);
	grant1(512, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 512, false, &m), GNTST_okay);
	ck_assert_ptr_eq(v1(512), (grant_entry_v1_t *)page(gfns[1]));
	gnttab__unmap(&vm, &m);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 1024, false, &m), GNTST_bad_gntref);
}
END_TEST

START_TEST(frame_outside_ram_refused_and_marks_undone)
{
	const uint64_t bad[] = {
		special(GMEM_SPECIAL_XENSTORE), special(GMEM_SPECIAL_GNTTAB_FIRST),
		RAM_END_GFN, 0xFFFFFFFF,
	};
	struct gnttab_mapping m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		grant1(14, BACKEND, (uint32_t)bad[i], GTF_permit_access);
		ck_assert_int_eq(gnttab__map(&vm, BACKEND, 14, false, &m), GNTST_bad_page);
		ck_assert_int_eq(gnttab__map(&vm, BACKEND, 14, true, &m), GNTST_bad_page);
		ck_assert_uint_eq(v1(14)->flags, GTF_permit_access);
	}
}
END_TEST

START_TEST(revoked_and_non_access_entries_refused)
{
	static const uint16_t flags[] = {
		GTF_invalid, GTF_accept_transfer, GTF_transitive,
		GTF_reading | GTF_writing,      /* marks without a grant */
	};
	struct gnttab_mapping m;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		grant1(15, BACKEND, GFN_A, flags[i]);
		ck_assert_int_eq(gnttab__map(&vm, BACKEND, 15, false, &m), GNTST_general_error);
		ck_assert_uint_eq(v1(15)->flags, flags[i]);
	}
}
END_TEST

START_TEST(revocation_while_mapped_ends_cleanly)
{
	struct gnttab_mapping m;

	grant1(16, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 16, true, &m), GNTST_okay);
	/* A misbehaving guest overwrites the entry while it is mapped. */
	__atomic_store_n(&v1(16)->flags, 0, __ATOMIC_SEQ_CST);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(v1(16)->flags, 0);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 16, false, &m), GNTST_general_error);

	/* Guest bits set meanwhile survive the unmap. */
	grant1(16, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 16, false, &m), GNTST_okay);
	__atomic_fetch_or(&v1(16)->flags, GTF_PWT, __ATOMIC_SEQ_CST);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(v1(16)->flags, GTF_permit_access | GTF_PWT);
}
END_TEST

START_TEST(pins_are_counted_and_limited)
{
	static struct gnttab_mapping m[129];

	grant1(17, BACKEND, GFN_A, GTF_permit_access);
	for (int i = 0; i < 128; i++)
		ck_assert_int_eq(gnttab__map(&vm, BACKEND, 17, false, &m[i]), GNTST_okay);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 17, false, &m[128]), GNTST_general_error);
	for (int i = 0; i < 127; i++)
		gnttab__unmap(&vm, &m[i]);
	ck_assert_uint_eq(v1(17)->flags, GTF_permit_access | GTF_reading);
	gnttab__unmap(&vm, &m[127]);
	ck_assert_uint_eq(v1(17)->flags, GTF_permit_access);
}
END_TEST

START_TEST(mapping_survives_a_table_move)
{
	struct gnttab_mapping m;

	grant1(18, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 18, true, &m), GNTST_okay);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 0, 0x100), 0);
	ck_assert_uint_eq(((grant_entry_v1_t *)page(0x100))[18].flags,
			  GTF_permit_access | GTF_reading | GTF_writing);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(((grant_entry_v1_t *)page(0x100))[18].flags, GTF_permit_access);
}
END_TEST

/* ---- versions ---- */

START_TEST(switch_v1_v2_v1_keeps_reserved_entries_only)
{
	uint32_t version = 0;
	uint64_t gfns[2];

	grant1(1, BACKEND, GFN_A, GTF_permit_access | GTF_readonly);
	grant1(20, BACKEND, GFN_B, GTF_permit_access);
	set_version(2);
	ck_assert_int_eq(gnttab__get_version(&vm, SELF, &version), 0);
	ck_assert_uint_eq(version, 2);
	ck_assert_uint_eq(v2(1)->hdr.flags, GTF_permit_access | GTF_readonly);
	ck_assert_uint_eq(v2(1)->hdr.domid, BACKEND);
	ck_assert_uint_eq(v2(1)->full_page.frame, GFN_A);
	/* Where v1 entry 20 was (bytes 160..167) is v2 entry 10: cleared. */
	ck_assert_uint_eq(v2(10)->hdr.flags, 0);
	ck_assert_uint_eq(v2(10)->hdr.domid, 0);
	/* One shared frame needs one status frame, in its special page. */
	ck_assert_uint_eq(status_gfn(0), special(GMEM_SPECIAL_GNTTAB_STATUS_FIRST));
	ck_assert_int_eq(gnttab__get_status_frames(&vm, DOMID_SELF, 2, gfns), GNTST_general_error);
	ck_assert_uint_eq(*status(1), 0);
	set_version(2);         /* no change, no effect */
	ck_assert_uint_eq(v2(1)->full_page.frame, GFN_A);

	grant2(21, BACKEND, GFN_B, GTF_permit_access);
	set_version(1);
	ck_assert_uint_eq(v1(1)->flags, GTF_permit_access | GTF_readonly);
	ck_assert_uint_eq(v1(1)->frame, GFN_A);
	/* v2 entry 21 covered v1 entries 42 and 43: no crud read as v1. */
	ck_assert_uint_eq(v1(42)->flags, 0);
	ck_assert_uint_eq(v1(43)->flags, 0);
	ck_assert_uint_eq(v1(43)->domid, 0);
	/* Version 1 has no status frames. */
	ck_assert_int_eq(gnttab__get_status_frames(&vm, DOMID_SELF, 1, gfns), GNTST_general_error);
	ck_assert_int_eq(gnttab__get_status_frames(&vm, DOMID_SELF, 0, gfns), GNTST_okay);
}
END_TEST

START_TEST(switch_refused_while_a_grant_is_in_use)
{
	struct gnttab_mapping m;
	uint32_t version = 2;

	grant1(20, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 20, false, &m), GNTST_okay);
	ck_assert_int_eq(gnttab__set_version(&vm, &version), -XEN_EBUSY);
	ck_assert_uint_eq(version, 1);
	ck_assert_uint_eq(v1(20)->flags, GTF_permit_access | GTF_reading);
	gnttab__unmap(&vm, &m);
	set_version(2);
}
END_TEST

START_TEST(reserved_entry_stays_mapped_across_switches)
{
	struct gnttab_mapping m;

	grant1(1, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 1, true, &m), GNTST_okay);
	set_version(2);
	/* The marks move to the status word. */
	ck_assert_uint_eq(v2(1)->hdr.flags, GTF_permit_access);
	ck_assert_uint_eq(*status(1), GTF_reading | GTF_writing);
	set_version(1);
	ck_assert_uint_eq(v1(1)->flags, GTF_permit_access | GTF_reading | GTF_writing);
	set_version(2);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(*status(1), 0);
	ck_assert_uint_eq(v2(1)->hdr.flags, GTF_permit_access);
}
END_TEST

START_TEST(set_version_rejects_unknown_versions)
{
	static const uint32_t bad[] = { 0, 3, UINT32_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t v = bad[i];

		ck_assert_int_eq(gnttab__set_version(&vm, &v), -XEN_EINVAL);
		ck_assert_uint_eq(v, 1);
	}
}
END_TEST

START_TEST(v2_to_v1_refused_for_unrepresentable_reserved_entries)
{
	uint32_t version = 1;

	set_version(2);
	grant2(2, BACKEND, 1ULL << 32, GTF_permit_access);
	ck_assert_int_eq(gnttab__set_version(&vm, &version), -XEN_ERANGE);
	ck_assert_uint_eq(version, 2);
	grant2(2, BACKEND, 0, GTF_transitive);
	version = 1;
	ck_assert_int_eq(gnttab__set_version(&vm, &version), -XEN_ERANGE);
	/* Past the reserved entries anything goes (and is dropped). */
	grant2(2, 0, 0, 0);
	grant2(9, BACKEND, 1ULL << 40, GTF_permit_access);
	set_version(1);
}
END_TEST

START_TEST(v2_marks_go_to_the_status_word)
{
	struct gnttab_mapping m;

	set_version(2);
	grant2(30, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 30, true, &m), GNTST_okay);
	ck_assert_ptr_eq(m.page, gmem__frame(&vm.mem, GFN_A));
	ck_assert_uint_eq(*status(30), GTF_reading | GTF_writing);
	ck_assert_uint_eq(v2(30)->hdr.flags, GTF_permit_access);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(*status(30), 0);

	/* Readonly, wrong domain, and grants that cannot be mapped. */
	grant2(31, BACKEND, GFN_A, GTF_permit_access | GTF_readonly);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 31, true, &m), GNTST_general_error);
	ck_assert_uint_eq(*status(31), 0);
	grant2(32, SELF, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 32, false, &m), GNTST_general_error);
	grant2(33, BACKEND, GFN_A, GTF_permit_access | GTF_sub_page);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 33, false, &m), GNTST_general_error);
	grant2(34, BACKEND, 0, GTF_transitive);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 34, false, &m), GNTST_general_error);
	grant2(35, BACKEND, 1ULL << 60, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 35, false, &m), GNTST_bad_page);
	ck_assert_uint_eq(*status(35), 0);
	/* Version 2 has 256 entries per frame. */
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 256, false, &m), GNTST_bad_gntref);
}
END_TEST

START_TEST(v2_status_frames_move_grow_and_go)
{
	struct gnttab_mapping m;
	uint64_t old;

	set_version(2);
	old = status_gfn(0);
	grant2(40, BACKEND, GFN_A, GTF_permit_access);
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 40, false, &m), GNTST_okay);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(0), 0x120), 0);
	ck_assert_uint_eq(status_gfn(0), 0x120);
	ck_assert(page_is_zero(old));
	ck_assert_uint_eq(((grant_status_t *)page(0x120))[40], GTF_reading);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(((grant_status_t *)page(0x120))[40], 0);

	/* Status frame 1 exists once the table has 16 frames. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(1), 0x121), 0);
	ck_assert_uint_eq(nr_frames(), 16);
	ck_assert_uint_eq(status_gfn(1), 0x121);
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(GNTTAB_MAX_STATUS_FRAMES), 0x122),
			 -XEN_EINVAL);
	/* A shared frame cannot land on a status frame. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 3, 0x120), -XEN_EINVAL);

	/* Back to version 1: the status frames leave the guest's RAM. */
	((grant_status_t *)page(0x120))[7] = 0x1234;
	set_version(1);
	ck_assert(page_is_zero(0x120));
	ck_assert(page_is_zero(0x121));
	set_version(2);
	ck_assert_uint_eq(status_gfn(0), special(GMEM_SPECIAL_GNTTAB_STATUS_FIRST));
}
END_TEST

START_TEST(v2_growth_adds_status_frames)
{
	uint64_t gfns[GNTTAB_MAX_FRAMES];

	set_version(2);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, 9, gfns), GNTST_okay);
	ck_assert_uint_eq(status_gfn(1), special(GMEM_SPECIAL_GNTTAB_STATUS_FIRST + 1));
	ck_assert_int_eq(gnttab__get_status_frames(&vm, DOMID_SELF, 3, gfns), GNTST_general_error);
	/* Placing an existing status frame does not grow the table. */
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(1), 0x130), 0);
	ck_assert_uint_eq(nr_frames(), 9);
	ck_assert_uint_eq(status_gfn(1), 0x130);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, GNTTAB_MAX_FRAMES, gfns), GNTST_okay);
	ck_assert_uint_eq(status_gfn(GNTTAB_MAX_STATUS_FRAMES - 1),
			  special(GMEM_SPECIAL_GNTTAB_STATUS_FIRST + GNTTAB_MAX_STATUS_FRAMES - 1));
}
END_TEST

/* ---- GNTTABOP_copy ---- */

static struct gnttab_copy copy_op(uint16_t flags, uint64_t src, uint16_t src_dom,
				  uint16_t src_off, uint64_t dst, uint16_t dst_dom,
				  uint16_t dst_off, uint16_t len)
{
	struct gnttab_copy op = { .flags = flags, .len = len };

	if (flags & GNTCOPY_source_gref)
		op.source.u.ref = (grant_ref_t)src;
	else
		op.source.u.gmfn = src;
	if (flags & GNTCOPY_dest_gref)
		op.dest.u.ref = (grant_ref_t)dst;
	else
		op.dest.u.gmfn = dst;
	op.source.domid = src_dom;
	op.source.offset = src_off;
	op.dest.domid = dst_dom;
	op.dest.offset = dst_off;
	return op;
}

static void fill(uint64_t gfn)
{
	for (size_t i = 0; i < PG; i++)
		page(gfn)[i] = (uint8_t)(i * 7 + 1);
}

START_TEST(copy_between_two_grants)
{
	struct gnttab_copy op = copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref,
					40, DOMID_SELF, 100, 41, SELF, 200, 1000);

	/* The guest copies through grants it gave itself. */
	grant1(40, SELF, GFN_A, GTF_permit_access | GTF_readonly);
	grant1(41, SELF, GFN_B, GTF_permit_access);
	fill(GFN_A);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_okay);
	ck_assert_mem_eq(page(GFN_B) + 200, page(GFN_A) + 100, 1000);
	ck_assert_uint_eq(page(GFN_B)[199], 0);
	ck_assert_uint_eq(page(GFN_B)[1200], 0);
	ck_assert_uint_eq(v1(40)->flags, GTF_permit_access | GTF_readonly);
	ck_assert_uint_eq(v1(41)->flags, GTF_permit_access);
}
END_TEST

START_TEST(copy_between_gref_and_gmfn)
{
	struct gnttab_copy to_frame = copy_op(GNTCOPY_source_gref, 42, SELF, 0,
					      GFN_B, DOMID_SELF, 4000, 96);
	struct gnttab_copy to_grant = copy_op(GNTCOPY_dest_gref, GFN_B, DOMID_SELF, 4000,
					      42, DOMID_SELF, 10, 96);

	grant1(42, SELF, GFN_A, GTF_permit_access);
	fill(GFN_A);
	ck_assert_int_eq(gnttab__copy(&vm, &to_frame), GNTST_okay);
	ck_assert_mem_eq(page(GFN_B) + 4000, page(GFN_A), 96);
	ck_assert_int_eq(gnttab__copy(&vm, &to_grant), GNTST_okay);
	ck_assert_mem_eq(page(GFN_A) + 10, page(GFN_B) + 4000, 96);
	ck_assert_uint_eq(v1(42)->flags, GTF_permit_access);
}
END_TEST

START_TEST(copy_checks_domains_and_frames)
{
	struct gnttab_copy op;

	grant1(43, SELF, GFN_A, GTF_permit_access);
	/* As Xen: frames are named for DOMID_SELF only. */
	op = copy_op(0, GFN_A, SELF, 0, GFN_B, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_permission_denied);
	op = copy_op(GNTCOPY_source_gref, 43, 0, 0, GFN_B, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_domain);
	op = copy_op(0, RAM_END_GFN, DOMID_SELF, 0, GFN_B, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_page);
	op = copy_op(0, GFN_A, DOMID_SELF, 0, special(GMEM_SPECIAL_CONSOLE), DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_page);
	op = copy_op(GNTCOPY_dest_gref, GFN_B, DOMID_SELF, 0, 9999, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_gntref);
}
END_TEST

START_TEST(copy_past_the_page_is_bad_copy_arg)
{
	struct gnttab_copy op;

	grant1(44, SELF, GFN_A, GTF_permit_access);
	op = copy_op(GNTCOPY_source_gref, 44, DOMID_SELF, 4000, GFN_B, DOMID_SELF, 0, 97);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_copy_arg);
	op = copy_op(GNTCOPY_source_gref, 44, DOMID_SELF, 0, GFN_B, DOMID_SELF, 4095, 2);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_bad_copy_arg);
	ck_assert_uint_eq(v1(44)->flags, GTF_permit_access);
	op = copy_op(GNTCOPY_source_gref, 44, DOMID_SELF, 0, GFN_B, DOMID_SELF, 0, PG);
	fill(GFN_A);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_okay);
	ck_assert_mem_eq(page(GFN_B), page(GFN_A), PG);
}
END_TEST

START_TEST(copy_checks_the_grants)
{
	struct gnttab_copy op;
	struct gnttab_mapping m;

	grant1(45, SELF, GFN_A, GTF_permit_access);
	grant1(46, SELF, GFN_B, GTF_permit_access | GTF_readonly);
	op = copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref, 45, DOMID_SELF, 0,
		     46, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_general_error);
	/* The source pin was dropped with the failure. */
	ck_assert_uint_eq(v1(45)->flags, GTF_permit_access);
	ck_assert_uint_eq(v1(46)->flags, GTF_permit_access | GTF_readonly);
	/* A grant made to domain 0 is not the guest's to copy through. */
	grant1(47, BACKEND, GFN_A, GTF_permit_access);
	op = copy_op(GNTCOPY_source_gref, 47, DOMID_SELF, 0, GFN_B, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_general_error);
	/* Nor one a backend holds. */
	ck_assert_int_eq(gnttab__map(&vm, BACKEND, 47, false, &m), GNTST_okay);
	grant1(47, SELF, GFN_A, GTF_permit_access | GTF_reading);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_general_error);
	gnttab__unmap(&vm, &m);
	ck_assert_uint_eq(v1(47)->flags, GTF_permit_access);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_okay);
}
END_TEST

START_TEST(copy_within_one_grant_and_one_page)
{
	struct gnttab_copy op = copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref,
					48, DOMID_SELF, 0, 48, DOMID_SELF, 10, 100);
	uint8_t expect[100];

	grant1(48, SELF, GFN_A, GTF_permit_access);
	fill(GFN_A);
	memcpy(expect, page(GFN_A), sizeof(expect));
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_okay);
	ck_assert_mem_eq(page(GFN_A) + 10, expect, sizeof(expect));
	ck_assert_uint_eq(v1(48)->flags, GTF_permit_access);
}
END_TEST

START_TEST(copy_respects_v2_sub_page_grants)
{
	grant_entry_v2_t *e;
	struct gnttab_copy op;

	set_version(2);
	e = v2(50);
	e->hdr.domid = SELF;
	e->sub_page.frame = GFN_A;
	e->sub_page.page_off = 256;
	e->sub_page.length = 512;
	__atomic_store_n(&e->hdr.flags, GTF_permit_access | GTF_sub_page, __ATOMIC_SEQ_CST);
	fill(GFN_A);
	op = copy_op(GNTCOPY_source_gref, 50, DOMID_SELF, 256, GFN_B, DOMID_SELF, 0, 512);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_okay);
	ck_assert_mem_eq(page(GFN_B), page(GFN_A) + 256, 512);
	op = copy_op(GNTCOPY_source_gref, 50, DOMID_SELF, 255, GFN_B, DOMID_SELF, 0, 8);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_general_error);
	op = copy_op(GNTCOPY_source_gref, 50, DOMID_SELF, 700, GFN_B, DOMID_SELF, 0, 69);
	ck_assert_int_eq(gnttab__copy(&vm, &op), GNTST_general_error);
	ck_assert_uint_eq(*status(50), 0);
}
END_TEST

/* ---- concurrency ---- */

#define ROUNDS 20000

struct worker {
	grant_ref_t ref;
	bool write;
	int ok, refused;
};

static atomic_bool stop_guest;

static void *backend_thread(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct gnttab_mapping m;
		int rc = gnttab__map(&vm, BACKEND, w->ref, w->write, &m);

		if (rc == GNTST_okay) {
			uint8_t *byte = (uint8_t *)m.page + i % PG;

			if (w->write)
				__atomic_store_n(byte, (uint8_t)i, __ATOMIC_RELAXED);
			else
				(void)__atomic_load_n(byte, __ATOMIC_RELAXED);
			gnttab__unmap(&vm, &m);
			w->ok++;
		} else {
			/* Only the cmpxchg retry limit may refuse here. */
			ck_assert_int_eq(rc, GNTST_general_error);
			w->refused++;
		}
	}
	return NULL;
}

/* A guest that keeps changing the cache bits of its entries atomically, and
 * moving its table between two pages. */
static void *guest_thread(void *arg)
{
	unsigned moves = 0;

	(void)arg;
	while (!atomic_load(&stop_guest)) {
		grant_entry_v1_t *t;

		ck_assert_int_eq(gnttab__add_to_physmap(&vm, 0, moves++ % 2 ? 0x100 : 0x101), 0);
		t = (grant_entry_v1_t *)page(frame_gfn(0));
		for (int i = 0; i < 100; i++) {
			__atomic_fetch_xor(&t[60].flags, GTF_PAT, __ATOMIC_SEQ_CST);
			__atomic_fetch_xor(&t[61].flags, GTF_PCD, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

START_TEST(concurrent_backends_and_guest)
{
	struct worker w[4] = {
		{ .ref = 60, .write = false }, { .ref = 60, .write = false },
		{ .ref = 61, .write = true }, { .ref = 61, .write = true },
	};
	pthread_t t[4], guest;

	grant1(60, BACKEND, GFN_A, GTF_permit_access);
	grant1(61, BACKEND, GFN_B, GTF_permit_access);
	atomic_store(&stop_guest, false);
	ck_assert_int_eq(pthread_create(&guest, NULL, guest_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, backend_thread, &w[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop_guest, true);
	pthread_join(guest, NULL);

	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(w[i].ok + w[i].refused, ROUNDS);
		ck_assert_int_gt(w[i].ok, 0);
	}
	/* Every pin is gone with its marks; the guest's toggles (an even
	 * number per pass) left its bits as they were. */
	ck_assert_uint_eq(v1(60)->flags, GTF_permit_access);
	ck_assert_uint_eq(v1(61)->flags, GTF_permit_access);
	ck_assert_uint_eq(v1(60)->frame, GFN_A);
	set_version(2);         /* nothing is left in use */
}
END_TEST

/* ---- the hypercall, through a vCPU with paging off ---- */

static struct kvm_run *run;
static struct vcpu cpu;

static void setup_hc(void)
{
	setup();
	run = calloc(1, sizeof(*run));
	ck_assert_ptr_nonnull(run);
	run->s.regs.sregs.cr0 = 1;      /* protected mode, paging off */
	cpu = (struct vcpu){ .vm = &vm, .run = run };
}

static void teardown_hc(void)
{
	free(run);
	teardown();
}

static long hypercall(bool compat, uint64_t cmd, uint64_t uop, uint64_t count)
{
	struct hcall hc = {
		.vcpu = &cpu, .vm = &vm, .compat = compat, .nr = __HYPERVISOR_grant_table_op,
		.arg = { cmd, uop, count },
	};

	return hc__grant_table_op(&hc);
}

static void put(uint64_t gpa, const void *p, size_t len)
{
	ck_assert_int_eq(gmem__write(&vm.mem, gpa, p, len), 0);
}

static void get(uint64_t gpa, void *p, size_t len)
{
	ck_assert_int_eq(gmem__read(&vm.mem, gpa, p, len), 0);
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;

	get(gpa, &v, sizeof(v));
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	get(gpa, &v, sizeof(v));
	return v;
}

START_TEST(hc_query_size_and_setup_table_native)
{
	struct gnttab_query_size q = { .dom = DOMID_SELF, .status = 99 };
	struct gnttab_setup_table s = { .dom = DOMID_SELF, .nr_frames = 3 };
	uint64_t frames[4] = { 0 };

	put(SCRATCH, &q, sizeof(q));
	ck_assert_int_eq(hypercall(false, GNTTABOP_query_size, SCRATCH, 1), 0);
	get(SCRATCH, &q, sizeof(q));
	ck_assert_int_eq(q.status, GNTST_okay);
	ck_assert_uint_eq(q.nr_frames, 1);
	ck_assert_uint_eq(q.max_nr_frames, GNTTAB_MAX_FRAMES);

	set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)LIST);
	s.status = 99;
	put(SCRATCH, &s, sizeof(s));
	ck_assert_int_eq(gnttab__add_to_physmap(&vm, 1, 0x150), 0);
	ck_assert_int_eq(hypercall(false, GNTTABOP_setup_table, SCRATCH, 1), 0);
	get(SCRATCH, &s, sizeof(s));
	ck_assert_int_eq(s.status, GNTST_okay);
	get(LIST, frames, sizeof(frames));
	ck_assert_uint_eq(frames[0], special(GMEM_SPECIAL_GNTTAB_FIRST));
	ck_assert_uint_eq(frames[1], 0x150);
	ck_assert_uint_eq(frames[2], special(GMEM_SPECIAL_GNTTAB_FIRST + 2));
	ck_assert_uint_eq(frames[3], 0);

	/* Too many frames: the status says so, the list is untouched. */
	s.nr_frames = GNTTAB_MAX_FRAMES + 1;
	put(SCRATCH, &s, sizeof(s));
	memset(frames, 0, sizeof(frames));
	put(LIST, frames, sizeof(frames));
	ck_assert_int_eq(hypercall(false, GNTTABOP_setup_table, SCRATCH, 1), 0);
	get(SCRATCH, &s, sizeof(s));
	ck_assert_int_eq(s.status, GNTST_general_error);
	ck_assert_uint_eq(get32(LIST), 0);

	/* A list the guest cannot reach. */
	s.nr_frames = 1;
	set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)(RAM - 4));
	put(SCRATCH, &s, sizeof(s));
	ck_assert_int_eq(hypercall(false, GNTTABOP_setup_table, SCRATCH, 1), 0);
	get(SCRATCH, &s, sizeof(s));
	ck_assert_int_eq(s.status, GNTST_bad_virt_addr);

	ck_assert_int_eq(hypercall(false, GNTTABOP_query_size, SCRATCH, 2), -XEN_EINVAL);
	ck_assert_int_eq(hypercall(false, GNTTABOP_setup_table, SCRATCH, 0), -XEN_EINVAL);
	ck_assert_int_eq(hypercall(false, GNTTABOP_query_size, RAM - 8, 1), -XEN_EFAULT);
}
END_TEST

/* The 32-bit layouts, written out by hand from the i386 ABI. */
START_TEST(hc_query_size_and_setup_table_compat)
{
	uint8_t s[16] = { 0 };
	uint16_t self = DOMID_SELF;
	uint32_t nr = 2, list = (uint32_t)LIST, frames[3] = { 0 };

	memcpy(s + 0, &self, 2);        /* dom */
	memcpy(s + 4, &nr, 4);          /* nr_frames */
	memcpy(s + 12, &list, 4);       /* frame_list: a 4-byte pointer */
	put(SCRATCH, s, sizeof(s));
	put(LIST, frames, sizeof(frames));
	ck_assert_int_eq(hypercall(true, GNTTABOP_setup_table, SCRATCH, 1), 0);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 8), GNTST_okay);     /* status */
	get(LIST, frames, sizeof(frames));
	/* xen_pfn_t is 32 bits wide for a 32-bit guest. */
	ck_assert_uint_eq(frames[0], special(GMEM_SPECIAL_GNTTAB_FIRST));
	ck_assert_uint_eq(frames[1], special(GMEM_SPECIAL_GNTTAB_FIRST + 1));
	ck_assert_uint_eq(frames[2], 0);

	/* query_size has one layout for both widths. */
	memset(s, 0, sizeof(s));
	memcpy(s + 0, &self, 2);
	put(SCRATCH, s, sizeof(s));
	ck_assert_int_eq(hypercall(true, GNTTABOP_query_size, SCRATCH, 1), 0);
	ck_assert_uint_eq(get32(SCRATCH + 4), 2);
	ck_assert_uint_eq(get32(SCRATCH + 8), GNTTAB_MAX_FRAMES);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 12), GNTST_okay);
}
END_TEST

START_TEST(hc_versions_and_status_frames)
{
	struct gnttab_set_version sv = { .version = 2 };
	struct gnttab_get_version gv = { .dom = DOMID_SELF };
	struct gnttab_get_status_frames gs = { .nr_frames = 1, .dom = DOMID_SELF };
	uint8_t c[12] = { 0 };
	uint16_t self = DOMID_SELF;
	uint32_t one = 1, list = (uint32_t)LIST;
	uint64_t frame = 0;

	put(SCRATCH, &sv, sizeof(sv));
	ck_assert_int_eq(hypercall(false, GNTTABOP_set_version, SCRATCH, 1), 0);
	put(SCRATCH, &gv, sizeof(gv));
	ck_assert_int_eq(hypercall(false, GNTTABOP_get_version, SCRATCH, 1), 0);
	get(SCRATCH, &gv, sizeof(gv));
	ck_assert_uint_eq(gv.version, 2);
	gv.dom = 0;
	put(SCRATCH, &gv, sizeof(gv));
	ck_assert_int_eq(hypercall(false, GNTTABOP_get_version, SCRATCH, 1), -XEN_EPERM);
	gv.dom = 9;
	put(SCRATCH, &gv, sizeof(gv));
	ck_assert_int_eq(hypercall(false, GNTTABOP_get_version, SCRATCH, 1), -XEN_ESRCH);

	/* A bad version: refused, and the version in effect written back. */
	sv.version = 7;
	put(SCRATCH, &sv, sizeof(sv));
	ck_assert_int_eq(hypercall(true, GNTTABOP_set_version, SCRATCH, 1), -XEN_EINVAL);
	ck_assert_uint_eq(get32(SCRATCH), 2);

	ck_assert_int_eq(gnttab__add_to_physmap(&vm, STATUS_IDX(0), 0x160), 0);
	set_xen_guest_handle(gs.frame_list, (uint64_t *)(uintptr_t)LIST);
	put(SCRATCH, &gs, sizeof(gs));
	ck_assert_int_eq(hypercall(false, GNTTABOP_get_status_frames, SCRATCH, 1), 0);
	get(SCRATCH, &gs, sizeof(gs));
	ck_assert_int_eq(gs.status, GNTST_okay);
	get(LIST, &frame, sizeof(frame));
	ck_assert_uint_eq(frame, 0x160);

	/* Compat: nr_frames@0, dom@4, status@6, a 4-byte handle@8 to uint64_t. */
	memcpy(c + 0, &one, 4);
	memcpy(c + 4, &self, 2);
	memcpy(c + 8, &list, 4);
	frame = 0;
	put(LIST, &frame, sizeof(frame));
	put(SCRATCH, c, sizeof(c));
	ck_assert_int_eq(hypercall(true, GNTTABOP_get_status_frames, SCRATCH, 1), 0);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 6), GNTST_okay);
	get(LIST, &frame, sizeof(frame));
	ck_assert_uint_eq(frame, 0x160);
	/* More frames than there are. */
	one = 2;
	memcpy(c + 0, &one, 4);
	put(SCRATCH, c, sizeof(c));
	ck_assert_int_eq(hypercall(true, GNTTABOP_get_status_frames, SCRATCH, 1), 0);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 6), GNTST_general_error);
}
END_TEST

START_TEST(hc_copy_native_batch_with_per_op_status)
{
	enum { N = 20 };        /* more than one batch */
	struct gnttab_copy ops[N];

	grant1(70, SELF, GFN_A, GTF_permit_access);
	fill(GFN_A);
	for (int i = 0; i < N; i++)
		ops[i] = copy_op(GNTCOPY_source_gref, 70, DOMID_SELF, (uint16_t)(i * 8),
				 GFN_B, DOMID_SELF, (uint16_t)(i * 8), 8);
	ops[3].dest.offset = 4092;                      /* past the page */
	ops[17].source.domid = 5;                       /* no such domain */
	for (int i = 0; i < N; i++)
		ops[i].status = 99;
	put(SCRATCH, ops, sizeof(ops));
	ck_assert_int_eq(hypercall(false, GNTTABOP_copy, SCRATCH, N), 0);
	get(SCRATCH, ops, sizeof(ops));
	for (int i = 0; i < N; i++) {
		int16_t want = i == 3 ? GNTST_bad_copy_arg : i == 17 ? GNTST_bad_domain : GNTST_okay;

		ck_assert_int_eq(ops[i].status, want);
		if (want == GNTST_okay)
			ck_assert_mem_eq(page(GFN_B) + i * 8, page(GFN_A) + i * 8, 8);
		else
			ck_assert_uint_eq(page(GFN_B)[i * 8], 0);
	}
	ck_assert_uint_eq(v1(70)->flags, GTF_permit_access);
	ck_assert_int_eq(hypercall(false, GNTTABOP_copy, SCRATCH, 0), 0);
}
END_TEST

/* Compat gnttab_copy: source {u@0, domid@4, offset@6}, dest {u@8, domid@12,
 * offset@14}, len@16, flags@18, status@20; 24 bytes. */
static void put_compat_copy(uint64_t gpa, uint32_t src, uint16_t src_off, uint32_t dst,
			    uint16_t dst_off, uint16_t len, uint16_t flags)
{
	uint8_t b[24] = { 0 };
	uint16_t self = DOMID_SELF, status = 99;

	memcpy(b + 0, &src, 4);
	memcpy(b + 4, &self, 2);
	memcpy(b + 6, &src_off, 2);
	memcpy(b + 8, &dst, 4);
	memcpy(b + 12, &self, 2);
	memcpy(b + 14, &dst_off, 2);
	memcpy(b + 16, &len, 2);
	memcpy(b + 18, &flags, 2);
	memcpy(b + 20, &status, 2);
	put(gpa, b, sizeof(b));
}

START_TEST(hc_copy_compat_layout)
{
	grant1(71, SELF, GFN_B, GTF_permit_access);
	fill(GFN_A);
	put_compat_copy(SCRATCH, GFN_A, 16, 71, 32, 64, GNTCOPY_dest_gref);
	put_compat_copy(SCRATCH + 24, GFN_A, 0, 71, 4090, 64, GNTCOPY_dest_gref);
	ck_assert_int_eq(hypercall(true, GNTTABOP_copy, SCRATCH, 2), 0);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 20), GNTST_okay);
	ck_assert_int_eq((int16_t)get16(SCRATCH + 24 + 20), GNTST_bad_copy_arg);
	ck_assert_mem_eq(page(GFN_B) + 32, page(GFN_A) + 16, 64);
}
END_TEST

START_TEST(hc_copy_stops_at_an_unreadable_op)
{
	/* Two ops fit before the end of RAM; the third runs past it. */
	uint64_t at = RAM - 2 * sizeof(struct gnttab_copy) - 8;
	struct gnttab_copy ops[2];

	fill(GFN_A);
	ops[0] = copy_op(0, GFN_A, DOMID_SELF, 0, GFN_B, DOMID_SELF, 0, 8);
	ops[1] = copy_op(0, GFN_A, DOMID_SELF, 8, GFN_B, DOMID_SELF, 8, 8);
	ops[0].status = ops[1].status = 99;
	put(at, ops, sizeof(ops));
	ck_assert_int_eq(hypercall(false, GNTTABOP_copy, at, 3), -XEN_EFAULT);
	get(at, ops, sizeof(ops));
	ck_assert_int_eq(ops[0].status, GNTST_okay);
	ck_assert_int_eq(ops[1].status, GNTST_okay);
	ck_assert_mem_eq(page(GFN_B), page(GFN_A), 16);
}
END_TEST

START_TEST(hc_refuses_bad_commands)
{
	ck_assert_int_eq(hypercall(false, GNTTABOP_map_grant_ref, SCRATCH, 1), -XEN_ENOSYS);
	ck_assert_int_eq(hypercall(false, GNTTABOP_transfer, SCRATCH, 1), -XEN_ENOSYS);
	ck_assert_int_eq(hypercall(false, 99, SCRATCH, 1), -XEN_ENOSYS);
	ck_assert_int_eq(hypercall(false, GNTTABOP_copy | (1u << 12), SCRATCH, 1), -XEN_EINVAL);
	ck_assert_int_eq(hypercall(false, GNTTABOP_copy, SCRATCH, 0x80000000u), -XEN_EINVAL);
	/* A 64-bit guest's cmd is an unsigned int: the upper half is ignored. */
	{
		struct gnttab_get_version gv = { .dom = DOMID_SELF };

		put(SCRATCH, &gv, sizeof(gv));
		ck_assert_int_eq(hypercall(false, (1ULL << 32) | GNTTABOP_get_version,
					   SCRATCH, 1), 0);
		ck_assert_uint_eq(get32(SCRATCH + 4), 1);
	}
	ck_assert_int_eq(hypercall(false, GNTTABOP_set_version, RAM, 1), -XEN_EFAULT);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gnttab");
	TCase *frames = tcase_create("frames");
	TCase *map = tcase_create("map");
	TCase *version = tcase_create("version");
	TCase *copy = tcase_create("copy");
	TCase *threads = tcase_create("threads");
	TCase *hc = tcase_create("hypercall");

	tcase_add_checked_fixture(frames, setup, teardown);
	tcase_add_test(frames, initial_table_is_one_zeroed_v1_frame_in_its_special_page);
	tcase_add_test(frames, setup_table_grows_reports_frames_and_checks_domain);
	tcase_add_test(frames, query_size_checks_domain);
	tcase_add_test(frames, add_to_physmap_moves_contents_and_zeroes_old_place);
	tcase_add_test(frames, add_to_physmap_grows_and_refuses_bad_places);
	tcase_add_test(frames, add_to_physmap_into_a_hole_aliases_the_frame);
	suite_add_tcase(s, frames);

	tcase_add_checked_fixture(map, setup, teardown);
	tcase_add_test(map, map_read_then_write_sets_and_clears_marks);
	tcase_add_test(map, readonly_grant_refused_for_write);
	tcase_add_test(map, grant_for_another_domain_refused);
	tcase_add_test(map, entry_pinned_by_one_domain_refused_to_another);
	tcase_add_test(map, ref_beyond_table_refused);
	tcase_add_test(map, frame_outside_ram_refused_and_marks_undone);
	tcase_add_test(map, revoked_and_non_access_entries_refused);
	tcase_add_test(map, revocation_while_mapped_ends_cleanly);
	tcase_add_test(map, pins_are_counted_and_limited);
	tcase_add_test(map, mapping_survives_a_table_move);
	suite_add_tcase(s, map);

	tcase_add_checked_fixture(version, setup, teardown);
	tcase_add_test(version, switch_v1_v2_v1_keeps_reserved_entries_only);
	tcase_add_test(version, switch_refused_while_a_grant_is_in_use);
	tcase_add_test(version, reserved_entry_stays_mapped_across_switches);
	tcase_add_test(version, set_version_rejects_unknown_versions);
	tcase_add_test(version, v2_to_v1_refused_for_unrepresentable_reserved_entries);
	tcase_add_test(version, v2_marks_go_to_the_status_word);
	tcase_add_test(version, v2_status_frames_move_grow_and_go);
	tcase_add_test(version, v2_growth_adds_status_frames);
	suite_add_tcase(s, version);

	tcase_add_checked_fixture(copy, setup, teardown);
	tcase_add_test(copy, copy_between_two_grants);
	tcase_add_test(copy, copy_between_gref_and_gmfn);
	tcase_add_test(copy, copy_checks_domains_and_frames);
	tcase_add_test(copy, copy_past_the_page_is_bad_copy_arg);
	tcase_add_test(copy, copy_checks_the_grants);
	tcase_add_test(copy, copy_within_one_grant_and_one_page);
	tcase_add_test(copy, copy_respects_v2_sub_page_grants);
	suite_add_tcase(s, copy);

	tcase_add_checked_fixture(threads, setup, teardown);
	tcase_set_timeout(threads, 60);
	tcase_add_test(threads, concurrent_backends_and_guest);
	suite_add_tcase(s, threads);

	tcase_add_checked_fixture(hc, setup_hc, teardown_hc);
	tcase_add_test(hc, hc_query_size_and_setup_table_native);
	tcase_add_test(hc, hc_query_size_and_setup_table_compat);
	tcase_add_test(hc, hc_versions_and_status_frames);
	tcase_add_test(hc, hc_copy_native_batch_with_per_op_status);
	tcase_add_test(hc, hc_copy_compat_layout);
	tcase_add_test(hc, hc_copy_stops_at_an_unreadable_op);
	tcase_add_test(hc, hc_refuses_bad_commands);
	suite_add_tcase(s, hc);
	return s;
}

CHECK_MAIN(suite)
