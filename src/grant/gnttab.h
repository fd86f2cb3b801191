/*
 * Grant tables: the guest's table of grants (Xen's grant_entry_v1/v2 and,
 * for version 2, grant_status_t words), the GNTTABOP_* hypercalls a guest
 * uses to set it up, and the lookups pvmm's backends (domain 0) use to
 * reach the pages a guest grants them.
 *
 * The table's frames are guest memory pages.  Frame i starts out in the
 * special page GMEM_SPECIAL_GNTTAB_FIRST + i (status frames in
 * GMEM_SPECIAL_GNTTAB_STATUS_FIRST + i) and moves to guest RAM when the
 * guest asks for it with XENMEM_add_to_physmap, contents and all.  Every
 * entry is read and written in place in guest memory, and since the guest
 * may rewrite an entry at any moment, the in-use marks (GTF_reading,
 * GTF_writing) are set with compare-and-exchange on the entry exactly as
 * Xen does, so a guest that revokes a grant with cmpxchg either wins (the
 * backend is refused) or sees the grant in use.
 *
 * pvmm keeps, like Xen, a private "active" record per entry that counts the
 * pins (mappings and copies in progress) and remembers the frame pinned;
 * the in-use marks are cleared when the last pin of their kind goes.
 *
 * Thread safety: backends call gnttab__map/unmap on their own threads,
 * hypercalls run on vCPU threads; all functions may be called concurrently.
 */
#ifndef PVMM_GRANT_GNTTAB_H
#define PVMM_GRANT_GNTTAB_H

#include <stdbool.h>
#include <stdint.h>

#include "ept/guest_mem.h"
#include "hypercall/hypercall.h"
#include "xen/xen_abi.h"

struct vm;

/* As Xen's default gnttab_max_frames; the status frames a full version 2
 * table needs fit the special pages reserved for them. */
#define GNTTAB_MAX_FRAMES        GMEM_SPECIAL_GNTTAB_FRAMES
#define GNTTAB_MAX_STATUS_FRAMES GMEM_SPECIAL_GNTTAB_STATUS_FRAMES

/* Sets vm->gnttab: a version 1 table of one frame (Xen's initial size) in
 * its special page, zeroed.  vm->mem must be set up.  0 or -errno. */
int gnttab__init(struct vm *vm);
/* Frees vm->gnttab; no mapping may remain in use. */
void gnttab__destroy(struct vm *vm);

/*
 * XENMEM_add_to_physmap with XENMAPSPACE_grant_table: puts frame idx of the
 * table (a status frame when the table is version 2 and idx has
 * XENMAPIDX_grant_table_status) at guest frame gpfn.  The table grows to
 * include idx as on Xen.  gpfn must be guest RAM not holding another frame
 * of the table; the frame's contents move there and its old place is
 * zeroed.  Returns 0 or -XEN_EINVAL.
 */
long gnttab__add_to_physmap(struct vm *vm, uint64_t idx, uint64_t gpfn);

/*
 * HYPERVISOR_grant_table_op(cmd, uop, count): query_size, setup_table,
 * set_version, get_version, get_status_frames and copy; other operations
 * answer -XEN_ENOSYS.  It decodes the guest's structures (native or compat
 * layout) and calls the functions below.
 */
long hc__grant_table_op(struct hcall *hc);

/*
 * The operations behind hc__grant_table_op, on host-side values.  dom is
 * the domain the guest names (DOMID_SELF or its own id; another domain is
 * refused as Xen refuses it).  Those returning int16_t answer a GNTST_*
 * status, as the structure's status field.
 */
int16_t gnttab__query_size(struct vm *vm, domid_t dom, uint32_t *nr_frames,
			   uint32_t *max_nr_frames);
/* Grows the table to nr_frames and gives each frame's current guest frame
 * number; gfns holds GNTTAB_MAX_FRAMES. */
int16_t gnttab__setup_table(struct vm *vm, domid_t dom, uint32_t nr_frames,
			    uint64_t *gfns);
/* Switches to *version (1 or 2), keeping the first GNTTAB_NR_RESERVED_ENTRIES
 * entries and clearing the rest, as Xen.  Returns 0, -XEN_EINVAL (no such
 * version), -XEN_EBUSY (a grant past the reserved ones is in use) or
 * -XEN_ERANGE (a reserved version 2 entry has no version 1 form); *version
 * is set to the version in effect afterwards. */
long gnttab__set_version(struct vm *vm, uint32_t *version);
/* 0, -XEN_EPERM or -XEN_ESRCH (dom not the guest). */
long gnttab__get_version(struct vm *vm, domid_t dom, uint32_t *version);
/* gfns holds GNTTAB_MAX_STATUS_FRAMES; a version 1 table has none. */
int16_t gnttab__get_status_frames(struct vm *vm, domid_t dom, uint32_t nr_frames,
				  uint64_t *gfns);
/* One GNTTABOP_copy operation by the guest; op->status is not written. */
int16_t gnttab__copy(struct vm *vm, const struct gnttab_copy *op);

/* A guest page a backend has mapped through a grant. */
struct gnttab_mapping {
	void *page;         /* GMEM_PAGE_SIZE bytes of guest RAM */
	uint64_t gfn;
	grant_ref_t ref;
	bool write;
};

/*
 * For a backend of domain `domid`: checks grant ref as Xen's map does and
 * pins it, marking it GTF_reading (and GTF_writing when write).  Refused:
 * ref past the table (GNTST_bad_gntref); an entry that is not
 * GTF_permit_access for domid, a read-only grant for write, a version 2
 * sub-page or transitive grant (pvmm, like Xen, maps whole pages only), or
 * an entry already pinned by another domain (GNTST_general_error); a frame
 * that is not guest RAM (GNTST_bad_page).  Returns GNTST_okay and fills
 * *out, or a GNTST_* error.
 */
int gnttab__map(struct vm *vm, uint16_t domid, grant_ref_t ref, bool write,
		struct gnttab_mapping *out);
/* Drops the pin; the in-use marks go with the last pin of their kind, even
 * if the guest rewrote the entry meanwhile.  Clears *m. */
void gnttab__unmap(struct vm *vm, struct gnttab_mapping *m);

#endif
