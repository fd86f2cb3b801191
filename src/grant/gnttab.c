/*
 * Grant tables (see gnttab.h).  The checks, status codes and version rules
 * are Xen's (xen/common/grant_table.c, xen/include/public/grant_table.h);
 * what differs is where the table lives: in guest memory pages that
 * XENMEM_add_to_physmap moves, rather than in hypervisor pages.
 */
#include "grant/gnttab.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hypercall/xen_layout.h"
#include "util/log.h"
#include "vcpu/vm.h"

#define V1_PER_FRAME     (GMEM_PAGE_SIZE / sizeof(grant_entry_v1_t))
#define V2_PER_FRAME     (GMEM_PAGE_SIZE / sizeof(grant_entry_v2_t))
#define STATUS_PER_FRAME (GMEM_PAGE_SIZE / sizeof(grant_status_t))
#define MAX_ENTRIES      (GNTTAB_MAX_FRAMES * V1_PER_FRAME)
#define INITIAL_FRAMES   1u      /* Xen's INITIAL_NR_GRANT_FRAMES */

/* Xen's pin counters are 8 bits wide and it refuses a pin once one of
 * them reaches 128. */
#define PIN_LIMIT 128
/* Xen gives up after five failed cmpxchg attempts on an entry: a guest can
 * rewrite its flags faster than we can retry, and must not livelock us. */
#define CAS_TRIES 5
/* GNTTABOP_copy reads the guest's operations this many at a time. */
#define COPY_BATCH 16
#define COPY_OP_MAX (XL64_SIZE_gnttab_copy > XL32_SIZE_gnttab_copy ? \
		     XL64_SIZE_gnttab_copy : XL32_SIZE_gnttab_copy)
/* The sub-op is in the low 12 bits of cmd; Xen keeps continuation state
 * above them, which only GNTTABOP_cache_flush may carry. */
#define CMD_MASK 0xfffu

_Static_assert(GNTTAB_MAX_STATUS_FRAMES * STATUS_PER_FRAME >=
	       GNTTAB_MAX_FRAMES * V2_PER_FRAME,
	       "the status special pages cover a full version 2 table");
_Static_assert(sizeof(grant_entry_header_t) == 4 &&
	       offsetof(grant_entry_header_t, domid) == 2,
	       "flags and domid form one 32-bit word, updated together");

/* What the pins of one entry hold; Xen's "active grant entry". */
struct active {
	uint8_t readers;        /* read-only pins */
	uint8_t writers;        /* writable pins */
	uint16_t domid;         /* the domain holding them */
	bool sub_page;
	uint16_t start, length; /* the bytes granted */
	uint64_t gfn;           /* the frame pinned */
};

struct gnttab {
	struct vm *vm;
	/*
	 * Taken for writing while the table changes shape (version, size, the
	 * places of its frames), for reading around every entry access, so
	 * that no entry moves under a cmpxchg.
	 */
	pthread_rwlock_t lock;
	unsigned version;
	unsigned nr_frames;
	unsigned nr_status_frames;
	uint64_t frame_gfn[GNTTAB_MAX_FRAMES];
	uint64_t status_gfn[GNTTAB_MAX_STATUS_FRAMES];
	pthread_mutex_t pin_lock;       /* guards active[] */
	struct active active[MAX_ENTRIES];
};

/* What an acquired grant gives access to. */
struct grant_use {
	uint64_t gfn;
	uint16_t start, length;
};

static uint16_t own_domid(const struct gnttab *gt)
{
	return gt->vm->xen.domid;
}

static uint64_t special_gfn(unsigned page)
{
	return gmem__special_gpa((enum gmem_special_page)page) >> GMEM_PAGE_SHIFT;
}

/* Table frames sit only in their special page or in a RAM page that
 * gnttab__add_to_physmap checked, and granted frames are checked with
 * is_ram_frame(), so this never fails. */
static uint8_t *frame(const struct gnttab *gt, uint64_t gfn)
{
	return gmem__frame(&gt->vm->mem, gfn);
}

static bool is_ram_frame(const struct gnttab *gt, uint64_t gfn)
{
	return gfn <= (UINT64_MAX >> GMEM_PAGE_SHIFT) &&
	       gmem__is_ram(&gt->vm->mem, gfn << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE);
}

static unsigned grant_to_status_frames(unsigned nr_frames)
{
	return (unsigned)((nr_frames * V2_PER_FRAME + STATUS_PER_FRAME - 1) /
			  STATUS_PER_FRAME);
}

static uint32_t nr_entries(const struct gnttab *gt)
{
	return gt->nr_frames * (uint32_t)(gt->version == 1 ? V1_PER_FRAME : V2_PER_FRAME);
}

/* Entry ref in guest memory; ref < nr_entries(). */
static uint8_t *entry(const struct gnttab *gt, grant_ref_t ref)
{
	size_t size = gt->version == 1 ? sizeof(grant_entry_v1_t) : sizeof(grant_entry_v2_t);
	size_t per = GMEM_PAGE_SIZE / size;

	return frame(gt, gt->frame_gfn[ref / per]) + (ref % per) * size;
}

/* The flags (low half) and domid (high half) as one word, so that a check
 * of both and the setting of in-use marks are one cmpxchg. */
static uint32_t *entry_hdr(const struct gnttab *gt, grant_ref_t ref)
{
	return (uint32_t *)entry(gt, ref);
}

#define HDR_FLAGS(w) ((uint16_t)(w))
#define HDR_DOMID(w) ((uint16_t)((w) >> 16))

/* Where the in-use marks of ref live: the entry's flags in version 1, its
 * status word in version 2. */
static uint16_t *status_word(const struct gnttab *gt, grant_ref_t ref)
{
	if (gt->version == 1)
		return (uint16_t *)entry(gt, ref);
	return (uint16_t *)frame(gt, gt->status_gfn[ref / STATUS_PER_FRAME]) +
	       ref % STATUS_PER_FRAME;
}

static uint64_t entry_frame(const struct gnttab *gt, grant_ref_t ref)
{
	uint8_t *e = entry(gt, ref);

	if (gt->version == 1)
		return __atomic_load_n((uint32_t *)(e + offsetof(grant_entry_v1_t, frame)),
				       __ATOMIC_RELAXED);
	return __atomic_load_n((uint64_t *)(e + offsetof(grant_entry_v2_t, full_page.frame)),
			       __ATOMIC_RELAXED);
}

static uint16_t entry_u16(const struct gnttab *gt, grant_ref_t ref, size_t off)
{
	return __atomic_load_n((uint16_t *)(entry(gt, ref) + off), __ATOMIC_RELAXED);
}

static bool pinned(const struct active *act)
{
	return act->readers || act->writers;
}

/*
 * Whether an entry whose header reads hdr may take a new pin.  A pinned
 * entry was checked at its first pin; afterwards Xen only rechecks
 * GTF_readonly, which the guest may set at any time.
 */
static bool entry_usable(uint32_t hdr, const struct active *act, uint16_t mask,
			 uint16_t ldom, bool write)
{
	uint16_t flags = HDR_FLAGS(hdr);

	if (!pinned(act) && ((flags & mask) != GTF_permit_access || HDR_DOMID(hdr) != ldom))
		return false;
	return !(write && (flags & GTF_readonly));
}

/* Clears the in-use marks that no remaining pin needs. */
static void clear_unneeded(struct gnttab *gt, grant_ref_t ref, const struct active *act,
			   bool was_write)
{
	uint16_t clear = 0;

	if (was_write && !act->writers)
		clear |= GTF_writing;
	if (!pinned(act))
		clear |= GTF_reading;
	/* An atomic AND: the guest's own bits, and a revocation it made
	 * meanwhile, stay as they are. */
	if (clear)
		__atomic_fetch_and(status_word(gt, ref), (uint16_t)~clear, __ATOMIC_SEQ_CST);
}

/*
 * Marks ref in use for a pin by ldom after checking the entry, for the
 * first pin and for the first writable one.  Mappings (map) may not use
 * sub-page grants.
 */
static int16_t mark_in_use(struct gnttab *gt, grant_ref_t ref, const struct active *act,
			   uint16_t ldom, bool write, bool map)
{
	uint16_t mask = GTF_type_mask | (map ? GTF_sub_page : 0);
	uint16_t marks = GTF_reading | (write ? GTF_writing : 0);
	uint32_t *hdr = entry_hdr(gt, ref);
	uint32_t old = __atomic_load_n(hdr, __ATOMIC_SEQ_CST);

	if (gt->version == 1) {
		/* The marks share the word with the guest's flags and domid:
		 * set them only if the checked values are still there. */
		for (int tries = 1; ; tries++) {
			if (!entry_usable(old, act, mask, ldom, write))
				return GNTST_general_error;
			if (__atomic_compare_exchange_n(hdr, &old, old | marks, false,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				return GNTST_okay;
			if (tries == CAS_TRIES) {
				pr_debug("grant %u: flags keep changing, refused", ref);
				return GNTST_general_error;
			}
		}
	}
	/* Version 2: publish the marks in the status word, then look at the
	 * flags again; a guest revoking meanwhile sees the marks or is seen. */
	if (!entry_usable(old, act, mask, ldom, write))
		return GNTST_general_error;
	__atomic_fetch_or(status_word(gt, ref), marks, __ATOMIC_SEQ_CST);
	old = __atomic_load_n(hdr, __ATOMIC_SEQ_CST);
	if (!entry_usable(old, act, mask, ldom, write)) {
		clear_unneeded(gt, ref, act, write);
		return GNTST_general_error;
	}
	return GNTST_okay;
}

/* Records what a first pin holds: the granted frame, which must be guest
 * RAM, and for a version 2 sub-page grant the bytes granted. */
static int16_t first_pin(struct gnttab *gt, grant_ref_t ref, struct active *act, uint16_t ldom)
{
	struct active a = {
		.domid = ldom, .gfn = entry_frame(gt, ref), .start = 0, .length = GMEM_PAGE_SIZE,
	};

	if (gt->version == 2 && (entry_u16(gt, ref, 0) & GTF_sub_page)) {
		a.sub_page = true;
		a.start = entry_u16(gt, ref, offsetof(grant_entry_v2_t, sub_page.page_off));
		a.length = entry_u16(gt, ref, offsetof(grant_entry_v2_t, sub_page.length));
	}
	if (!is_ram_frame(gt, a.gfn))
		return GNTST_bad_page;
	*act = a;
	return GNTST_okay;
}

/* Pins ref for domain ldom, as Xen's map and copy do.  Caller holds the
 * table lock for reading. */
static int16_t acquire(struct gnttab *gt, grant_ref_t ref, uint16_t ldom, bool write,
		       bool map, struct grant_use *use)
{
	struct active *act;
	int16_t rc = GNTST_okay;

	if (ref >= nr_entries(gt))
		return GNTST_bad_gntref;
	pthread_mutex_lock(&gt->pin_lock);
	act = &gt->active[ref];
	if (pinned(act) && (act->domid != ldom || act->readers >= PIN_LIMIT ||
			    act->writers >= PIN_LIMIT || (map && act->sub_page))) {
		rc = GNTST_general_error;
		goto out;
	}
	if (!pinned(act) || (write && !act->writers)) {
		rc = mark_in_use(gt, ref, act, ldom, write, map);
		if (rc != GNTST_okay)
			goto out;
		if (!pinned(act)) {
			rc = first_pin(gt, ref, act, ldom);
			if (rc != GNTST_okay) {
				clear_unneeded(gt, ref, act, write);
				goto out;
			}
		}
	}
	if (write)
		act->writers++;
	else
		act->readers++;
	*use = (struct grant_use){ .gfn = act->gfn, .start = act->start, .length = act->length };
out:
	pthread_mutex_unlock(&gt->pin_lock);
	return rc;
}

/* Drops one pin taken by acquire().  Caller holds the table lock for reading. */
static void release(struct gnttab *gt, grant_ref_t ref, bool write)
{
	struct active *act;
	uint8_t *count;

	pthread_mutex_lock(&gt->pin_lock);
	act = &gt->active[ref];
	count = write ? &act->writers : &act->readers;
	if (*count == 0) {
		pr_err("grant %u released but not pinned %s", ref, write ? "writable" : "read-only");
	} else {
		(*count)--;
		clear_unneeded(gt, ref, act, write);
	}
	pthread_mutex_unlock(&gt->pin_lock);
}

/* ---- table shape: size, places of frames, version (write lock held) ---- */

/* Frames coming into use are zeroed, as Xen's are fresh pages. */
static void zero_frames(struct gnttab *gt, const uint64_t *gfns, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		memset(frame(gt, gfns[i]), 0, GMEM_PAGE_SIZE);
}

static void populate_status(struct gnttab *gt)
{
	unsigned nr = grant_to_status_frames(gt->nr_frames);

	zero_frames(gt, gt->status_gfn, gt->nr_status_frames, nr);
	gt->nr_status_frames = nr;
}

/* Xen takes the status frames out of the guest's physical memory when it
 * goes back to version 1; here their last place is zeroed and they return
 * to their special pages. */
static void unpopulate_status(struct gnttab *gt)
{
	for (unsigned i = 0; i < gt->nr_status_frames; i++) {
		memset(frame(gt, gt->status_gfn[i]), 0, GMEM_PAGE_SIZE);
		gt->status_gfn[i] = special_gfn(GMEM_SPECIAL_GNTTAB_STATUS_FIRST + i);
	}
	gt->nr_status_frames = 0;
}

/* Grows the table to nr frames (at most GNTTAB_MAX_FRAMES); never shrinks. */
static void grow(struct gnttab *gt, unsigned nr)
{
	if (nr <= gt->nr_frames)
		return;
	zero_frames(gt, gt->frame_gfn, gt->nr_frames, nr);
	gt->nr_frames = nr;
	if (gt->version == 2)
		populate_status(gt);
}

/* gpfn may receive the frame in *slot: guest RAM not holding another frame
 * of the table (two frames in one page would alias each other's entries),
 * or a hole in the guest's memory map, where Xen lets guests such as GRUB
 * put the table. */
static bool gpfn_free(const struct gnttab *gt, uint64_t gpfn, const uint64_t *slot)
{
	if (gmem__is_hole(&gt->vm->mem, gpfn))
		return true;
	if (!is_ram_frame(gt, gpfn))
		return false;
	for (unsigned i = 0; i < GNTTAB_MAX_FRAMES; i++)
		if (&gt->frame_gfn[i] != slot && gt->frame_gfn[i] == gpfn)
			return false;
	for (unsigned i = 0; i < GNTTAB_MAX_STATUS_FRAMES; i++)
		if (&gt->status_gfn[i] != slot && gt->status_gfn[i] == gpfn)
			return false;
	return true;
}

/* The special page a frame lives in until the guest places it. */
static uint64_t home_gfn(const struct gnttab *gt, const uint64_t *slot)
{
	if (slot >= gt->frame_gfn && slot < gt->frame_gfn + GNTTAB_MAX_FRAMES)
		return special_gfn(GMEM_SPECIAL_GNTTAB_FIRST + (unsigned)(slot - gt->frame_gfn));
	return special_gfn(GMEM_SPECIAL_GNTTAB_STATUS_FIRST + (unsigned)(slot - gt->status_gfn));
}

/* Moves a frame's contents to gpfn.  RAM receives a copy; a hole receives
 * an alias of the frame's special page, which then holds the contents. */
static long move_frame(struct gnttab *gt, uint64_t *slot, uint64_t gpfn)
{
	uint64_t home = home_gfn(gt, slot);
	uint64_t target = gpfn;

	if (*slot == gpfn)
		return 0;
	if (gmem__is_hole(&gt->vm->mem, gpfn)) {
		if (gmem__add_alias(&gt->vm->mem, gpfn, home))
			return -XEN_EINVAL;
		target = home;
	}
	/* An alias and its special page are the same host memory. */
	if (frame(gt, target) != frame(gt, *slot)) {
		memcpy(frame(gt, target), frame(gt, *slot), GMEM_PAGE_SIZE);
		memset(frame(gt, *slot), 0, GMEM_PAGE_SIZE);
	}
	*slot = gpfn;
	return 0;
}

long gnttab__add_to_physmap(struct vm *vm, uint64_t idx, uint64_t gpfn)
{
	struct gnttab *gt = vm->gnttab;
	bool status = false;
	uint64_t *slot;
	long rc = 0;

	pthread_rwlock_wrlock(&gt->lock);
	if (gt->version == 2 && (idx & XENMAPIDX_grant_table_status)) {
		status = true;
		idx &= ~(uint64_t)XENMAPIDX_grant_table_status;
	}
	if (idx >= (status ? GNTTAB_MAX_STATUS_FRAMES : GNTTAB_MAX_FRAMES)) {
		rc = -XEN_EINVAL;
		goto out;
	}
	slot = status ? &gt->status_gfn[idx] : &gt->frame_gfn[idx];
	if (!gpfn_free(gt, gpfn, slot)) {
		rc = -XEN_EINVAL;
		goto out;
	}
	/* As Xen: naming a frame past the table's end grows the table, for a
	 * status frame to the size that needs it. */
	if (!status)
		grow(gt, (unsigned)idx + 1);
	else if (idx >= gt->nr_status_frames)
		grow(gt, (unsigned)(idx + 1) * (unsigned)(STATUS_PER_FRAME / V2_PER_FRAME));
	rc = move_frame(gt, slot, gpfn);
out:
	pthread_rwlock_unlock(&gt->lock);
	return rc;
}

/* Reserved version 2 entries must have a version 1 form to switch back. */
static bool reserved_fit_v1(const struct gnttab *gt)
{
	for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ref++) {
		switch (entry_u16(gt, ref, 0) & GTF_type_mask) {
		case GTF_permit_access:
			if (entry_frame(gt, ref) >> 32)
				return false;
			break;
		case GTF_transitive:
			return false;
		}
	}
	return true;
}

/* The reserved entries in version 1 form, their in-use marks in the flags. */
static void save_reserved(const struct gnttab *gt, grant_entry_v1_t *saved)
{
	if (gt->version == 1) {
		memcpy(saved, entry(gt, 0), GNTTAB_NR_RESERVED_ENTRIES * sizeof(*saved));
		return;
	}
	for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ref++) {
		grant_entry_v2_t e;

		memcpy(&e, entry(gt, ref), sizeof(e));
		memset(&saved[ref], 0, sizeof(saved[ref]));
		/* As Xen: only full-page access grants carry over. */
		if ((e.hdr.flags & GTF_type_mask) == GTF_permit_access) {
			saved[ref].flags = e.hdr.flags | *status_word(gt, ref);
			saved[ref].domid = e.hdr.domid;
			saved[ref].frame = (uint32_t)e.full_page.frame;
		}
	}
}

static void restore_reserved(struct gnttab *gt, const grant_entry_v1_t *saved)
{
	const uint16_t marks = GTF_reading | GTF_writing;

	if (gt->version == 1) {
		memcpy(entry(gt, 0), saved, GNTTAB_NR_RESERVED_ENTRIES * sizeof(*saved));
		return;
	}
	for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ref++) {
		grant_entry_v2_t e = { 0 };

		e.hdr.flags = saved[ref].flags & ~marks;
		e.hdr.domid = saved[ref].domid;
		e.full_page.frame = saved[ref].frame;
		memcpy(entry(gt, ref), &e, sizeof(e));
		*status_word(gt, ref) = saved[ref].flags & marks;
	}
}

static long switch_version(struct gnttab *gt, unsigned version)
{
	grant_entry_v1_t saved[GNTTAB_NR_RESERVED_ENTRIES];

	/* As Xen: the reserved entries (the toolstack's console and xenstore
	 * grants) may stay mapped across the switch; no other may be in use. */
	for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < nr_entries(gt); ref++)
		if (pinned(&gt->active[ref]))
			return -XEN_EBUSY;
	if (gt->version == 2 && !reserved_fit_v1(gt))
		return -XEN_ERANGE;
	save_reserved(gt, saved);
	if (version == 1)
		unpopulate_status(gt);
	gt->version = version;
	if (version == 2)
		populate_status(gt);
	/* No entry of the old format may be read in the new one. */
	zero_frames(gt, gt->frame_gfn, 0, gt->nr_frames);
	restore_reserved(gt, saved);
	return 0;
}

/* ---- the operations on host-side values ---- */

/* A guest may name itself only; domain 0 exists (pvmm's backends act as
 * it) but, as Xen's XSM policy says, a guest has no rights over it. */
static int16_t target_domain(const struct gnttab *gt, domid_t dom)
{
	if (dom == DOMID_SELF || dom == own_domid(gt))
		return GNTST_okay;
	return dom == 0 ? GNTST_permission_denied : GNTST_bad_domain;
}

int16_t gnttab__query_size(struct vm *vm, domid_t dom, uint32_t *nr_frames,
			   uint32_t *max_nr_frames)
{
	struct gnttab *gt = vm->gnttab;
	int16_t rc = target_domain(gt, dom);

	if (rc != GNTST_okay)
		return rc;
	pthread_rwlock_rdlock(&gt->lock);
	*nr_frames = gt->nr_frames;
	pthread_rwlock_unlock(&gt->lock);
	*max_nr_frames = GNTTAB_MAX_FRAMES;
	return GNTST_okay;
}

int16_t gnttab__setup_table(struct vm *vm, domid_t dom, uint32_t nr_frames, uint64_t *gfns)
{
	struct gnttab *gt = vm->gnttab;
	int16_t rc = target_domain(gt, dom);

	if (rc != GNTST_okay)
		return rc;
	if (nr_frames > GNTTAB_MAX_FRAMES) {
		pr_debug("grant table setup for %u frames refused: at most %u",
			 nr_frames, (unsigned)GNTTAB_MAX_FRAMES);
		return GNTST_general_error;
	}
	pthread_rwlock_wrlock(&gt->lock);
	grow(gt, nr_frames);
	memcpy(gfns, gt->frame_gfn, nr_frames * sizeof(*gfns));
	pthread_rwlock_unlock(&gt->lock);
	return GNTST_okay;
}

long gnttab__set_version(struct vm *vm, uint32_t *version)
{
	struct gnttab *gt = vm->gnttab;
	long rc = -XEN_EINVAL;

	pthread_rwlock_wrlock(&gt->lock);
	if (*version == gt->version)
		rc = 0;
	else if (*version == 1 || *version == 2)
		rc = switch_version(gt, *version);
	*version = gt->version;
	pthread_rwlock_unlock(&gt->lock);
	return rc;
}

long gnttab__get_version(struct vm *vm, domid_t dom, uint32_t *version)
{
	struct gnttab *gt = vm->gnttab;

	switch (target_domain(gt, dom)) {
	case GNTST_okay:
		break;
	case GNTST_permission_denied:
		return -XEN_EPERM;
	default:
		return -XEN_ESRCH;
	}
	pthread_rwlock_rdlock(&gt->lock);
	*version = gt->version;
	pthread_rwlock_unlock(&gt->lock);
	return 0;
}

int16_t gnttab__get_status_frames(struct vm *vm, domid_t dom, uint32_t nr_frames,
				  uint64_t *gfns)
{
	struct gnttab *gt = vm->gnttab;
	int16_t rc = target_domain(gt, dom);

	if (rc != GNTST_okay)
		return rc;
	pthread_rwlock_rdlock(&gt->lock);
	if (nr_frames > gt->nr_status_frames)
		rc = GNTST_general_error;
	else
		memcpy(gfns, gt->status_gfn, nr_frames * sizeof(*gfns));
	pthread_rwlock_unlock(&gt->lock);
	return rc;
}

/* One side of a copy: a grant (pinned while the copy runs) or a frame. */
struct copy_side {
	bool pinned;
	bool write;
	grant_ref_t ref;
	struct grant_use use;
};

static int16_t copy_domain(const struct gnttab *gt, domid_t domid, bool is_gref)
{
	/* As Xen: a frame number is only meaningful for DOMID_SELF. */
	if (!is_gref && domid != DOMID_SELF)
		return GNTST_permission_denied;
	/* The guest's table is the only one: pvmm's backends grant nothing. */
	if (domid != DOMID_SELF && domid != own_domid(gt))
		return GNTST_bad_domain;
	return GNTST_okay;
}

static int16_t claim(struct gnttab *gt, const struct gnttab_copy_ptr *p, bool is_gref,
		     bool write, struct copy_side *side)
{
	int16_t rc;

	*side = (struct copy_side){ .write = write };
	if (is_gref) {
		/* The guest copies through grants it gave itself. */
		rc = acquire(gt, p->u.ref, own_domid(gt), write, false, &side->use);
		side->pinned = rc == GNTST_okay;
		side->ref = p->u.ref;
		return rc;
	}
	if (!is_ram_frame(gt, p->u.gmfn))
		return GNTST_bad_page;
	side->use = (struct grant_use){ .gfn = p->u.gmfn, .start = 0, .length = GMEM_PAGE_SIZE };
	return GNTST_okay;
}

static void unclaim(struct gnttab *gt, const struct copy_side *side)
{
	if (side->pinned)
		release(gt, side->ref, side->write);
}

static bool within(const struct grant_use *use, unsigned off, unsigned len)
{
	return off >= use->start && off + len <= (unsigned)use->start + use->length;
}

static int16_t copy_bytes(struct gnttab *gt, const struct gnttab_copy *op,
			  const struct grant_use *src, const struct grant_use *dst)
{
	if (op->source.offset + op->len > GMEM_PAGE_SIZE ||
	    op->dest.offset + op->len > GMEM_PAGE_SIZE)
		return GNTST_bad_copy_arg;
	if (!within(src, op->source.offset, op->len) || !within(dst, op->dest.offset, op->len))
		return GNTST_general_error;
	/* Source and destination may be the same page. */
	memmove(frame(gt, dst->gfn) + op->dest.offset, frame(gt, src->gfn) + op->source.offset,
		op->len);
	return GNTST_okay;
}

int16_t gnttab__copy(struct vm *vm, const struct gnttab_copy *op)
{
	struct gnttab *gt = vm->gnttab;
	struct copy_side src = { 0 }, dst = { 0 };
	int16_t rc;

	rc = copy_domain(gt, op->source.domid, op->flags & GNTCOPY_source_gref);
	if (rc == GNTST_okay)
		rc = copy_domain(gt, op->dest.domid, op->flags & GNTCOPY_dest_gref);
	if (rc != GNTST_okay)
		return rc;
	pthread_rwlock_rdlock(&gt->lock);
	rc = claim(gt, &op->source, op->flags & GNTCOPY_source_gref, false, &src);
	if (rc == GNTST_okay)
		rc = claim(gt, &op->dest, op->flags & GNTCOPY_dest_gref, true, &dst);
	if (rc == GNTST_okay)
		rc = copy_bytes(gt, op, &src.use, &dst.use);
	unclaim(gt, &dst);
	unclaim(gt, &src);
	pthread_rwlock_unlock(&gt->lock);
	return rc;
}

/* ---- backends ---- */

int gnttab__map(struct vm *vm, uint16_t domid, grant_ref_t ref, bool write,
		struct gnttab_mapping *out)
{
	struct gnttab *gt = vm->gnttab;
	struct grant_use use;
	int16_t rc;

	pthread_rwlock_rdlock(&gt->lock);
	rc = acquire(gt, ref, domid, write, true, &use);
	pthread_rwlock_unlock(&gt->lock);
	if (rc != GNTST_okay) {
		pr_debug("grant %u for domain %u (%s) refused: status %d", ref, domid,
			 write ? "write" : "read", rc);
		return rc;
	}
	*out = (struct gnttab_mapping){
		.page = frame(gt, use.gfn), .gfn = use.gfn, .ref = ref, .write = write,
	};
	return GNTST_okay;
}

void gnttab__unmap(struct vm *vm, struct gnttab_mapping *m)
{
	struct gnttab *gt = vm->gnttab;

	pthread_rwlock_rdlock(&gt->lock);
	if (m->ref < nr_entries(gt))
		release(gt, m->ref, m->write);
	else
		pr_err("grant %u unmapped but not in the table", m->ref);
	pthread_rwlock_unlock(&gt->lock);
	memset(m, 0, sizeof(*m));
}

/* ---- life cycle ---- */

int gnttab__init(struct vm *vm)
{
	struct gnttab *gt = calloc(1, sizeof(*gt));
	pthread_rwlockattr_t attr;
	int ret;

	if (!gt)
		return -ENOMEM;
	/* Version switches and frame moves must not starve behind a stream
	 * of backend lookups. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = pthread_rwlock_init(&gt->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret) {
		free(gt);
		return -ret;
	}
	pthread_mutex_init(&gt->pin_lock, NULL);
	gt->vm = vm;
	gt->version = 1;
	for (unsigned i = 0; i < GNTTAB_MAX_FRAMES; i++)
		gt->frame_gfn[i] = special_gfn(GMEM_SPECIAL_GNTTAB_FIRST + i);
	for (unsigned i = 0; i < GNTTAB_MAX_STATUS_FRAMES; i++)
		gt->status_gfn[i] = special_gfn(GMEM_SPECIAL_GNTTAB_STATUS_FIRST + i);
	grow(gt, INITIAL_FRAMES);
	vm->gnttab = gt;
	return 0;
}

void gnttab__destroy(struct vm *vm)
{
	struct gnttab *gt = vm->gnttab;

	if (!gt)
		return;
	pthread_rwlock_destroy(&gt->lock);
	pthread_mutex_destroy(&gt->pin_lock);
	free(gt);
	vm->gnttab = NULL;
}

/* ---- HYPERVISOR_grant_table_op: the guest's structures ---- */

#define GET(hc, buf, s, f)    xfield__get(buf, XFIELD((hc)->compat, s, f))
#define SET(hc, buf, s, f, v) xfield__set(buf, XFIELD((hc)->compat, s, f), v)

/* Address of element i of a guest array; false if it would wrap. */
static bool elem_addr(uint64_t base, uint64_t i, size_t size, uint64_t *addr)
{
	return !__builtin_add_overflow(base, i * size, addr);
}

static int put_status(struct hcall *hc, uint64_t at, struct xfield f, int16_t status)
{
	uint16_t v = (uint16_t)status;

	return hcall__copy_to(hc, at + f.off, &v, sizeof(v));
}

/* Writes frame numbers into a guest array of elements `size` bytes wide
 * (little-endian, so a narrower element takes the low bytes, as Xen's
 * compat layer writes xen_pfn_t).  Returns the status to report. */
static int16_t put_frames(struct hcall *hc, uint64_t list, const uint64_t *gfns,
			  uint32_t nr, size_t size)
{
	int16_t rc = GNTST_okay;
	uint64_t at;

	/* As Xen: a failed element is reported and the others still written. */
	for (uint32_t i = 0; i < nr; i++)
		if (!elem_addr(list, i, size, &at) || hcall__copy_to(hc, at, &gfns[i], size))
			rc = GNTST_bad_virt_addr;
	return rc;
}

static long op_query_size(struct hcall *hc, uint64_t uop, uint32_t count)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	size_t size = XSIZE(hc->compat, gnttab_query_size);
	uint32_t nr = 0, max = 0;
	int16_t st;

	if (count != 1)
		return -XEN_EINVAL;
	if (hcall__copy_from(hc, uop, buf, size))
		return -XEN_EFAULT;
	st = gnttab__query_size(hc->vm, (domid_t)GET(hc, buf, gnttab_query_size, dom), &nr, &max);
	if (st == GNTST_okay) {
		SET(hc, buf, gnttab_query_size, nr_frames, nr);
		SET(hc, buf, gnttab_query_size, max_nr_frames, max);
	}
	SET(hc, buf, gnttab_query_size, status, (uint16_t)st);
	return hcall__copy_to(hc, uop, buf, size) ? -XEN_EFAULT : 0;
}

static long op_setup_table(struct hcall *hc, uint64_t uop, uint32_t count)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	uint64_t gfns[GNTTAB_MAX_FRAMES];
	/* xen_pfn_t is as wide as the guest's unsigned long */
	size_t pfn_size = XFIELD(hc->compat, gnttab_copy, source_gmfn).size;
	uint32_t nr;
	int16_t st;

	if (count != 1)
		return -XEN_EINVAL;
	if (hcall__copy_from(hc, uop, buf, XSIZE(hc->compat, gnttab_setup_table)))
		return -XEN_EFAULT;
	nr = (uint32_t)GET(hc, buf, gnttab_setup_table, nr_frames);
	st = gnttab__setup_table(hc->vm, (domid_t)GET(hc, buf, gnttab_setup_table, dom), nr, gfns);
	if (st == GNTST_okay)
		st = put_frames(hc, GET(hc, buf, gnttab_setup_table, frame_list), gfns, nr, pfn_size);
	if (put_status(hc, uop, XFIELD(hc->compat, gnttab_setup_table, status), st))
		return -XEN_EFAULT;
	return 0;
}

static long op_get_status_frames(struct hcall *hc, uint64_t uop, uint32_t count)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	uint64_t gfns[GNTTAB_MAX_STATUS_FRAMES];
	uint32_t nr;
	int16_t st;

	if (count != 1)
		return -XEN_EINVAL;
	if (hcall__copy_from(hc, uop, buf, XSIZE(hc->compat, gnttab_get_status_frames)))
		return -XEN_EFAULT;
	nr = (uint32_t)GET(hc, buf, gnttab_get_status_frames, nr_frames);
	st = gnttab__get_status_frames(hc->vm, (domid_t)GET(hc, buf, gnttab_get_status_frames, dom),
				       nr, gfns);
	/* The list is of uint64_t for both guest widths. */
	if (st == GNTST_okay)
		st = put_frames(hc, GET(hc, buf, gnttab_get_status_frames, frame_list), gfns, nr,
				sizeof(uint64_t));
	if (put_status(hc, uop, XFIELD(hc->compat, gnttab_get_status_frames, status), st))
		return -XEN_EFAULT;
	return 0;
}

static long op_set_version(struct hcall *hc, uint64_t uop)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	size_t size = XSIZE(hc->compat, gnttab_set_version);
	uint32_t version;
	long rc;

	if (hcall__copy_from(hc, uop, buf, size))
		return -XEN_EFAULT;
	version = (uint32_t)GET(hc, buf, gnttab_set_version, version);
	rc = gnttab__set_version(hc->vm, &version);
	/* As Xen: the version in effect is written back, whatever happened. */
	SET(hc, buf, gnttab_set_version, version, version);
	return hcall__copy_to(hc, uop, buf, size) ? -XEN_EFAULT : rc;
}

static long op_get_version(struct hcall *hc, uint64_t uop)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	struct xfield f = XFIELD(hc->compat, gnttab_get_version, version);
	uint32_t version;
	long rc;

	if (hcall__copy_from(hc, uop, buf, XSIZE(hc->compat, gnttab_get_version)))
		return -XEN_EFAULT;
	rc = gnttab__get_version(hc->vm, (domid_t)GET(hc, buf, gnttab_get_version, dom), &version);
	if (rc)
		return rc;
	return hcall__copy_to(hc, uop + f.off, &version, f.size) ? -XEN_EFAULT : 0;
}

static void decode_copy_ptr(const uint8_t *buf, bool gref, struct xfield ref,
			    struct xfield gmfn, struct xfield domid, struct xfield offset,
			    struct gnttab_copy_ptr *p)
{
	if (gref)
		p->u.ref = (grant_ref_t)xfield__get(buf, ref);
	else
		p->u.gmfn = (xen_pfn_t)xfield__get(buf, gmfn);
	p->domid = (domid_t)xfield__get(buf, domid);
	p->offset = (uint16_t)xfield__get(buf, offset);
}

static void decode_copy(const struct hcall *hc, const uint8_t *buf, struct gnttab_copy *op)
{
	bool c = hc->compat;

	memset(op, 0, sizeof(*op));
	op->flags = (uint16_t)GET(hc, buf, gnttab_copy, flags);
	op->len = (uint16_t)GET(hc, buf, gnttab_copy, len);
	decode_copy_ptr(buf, op->flags & GNTCOPY_source_gref,
			XFIELD(c, gnttab_copy, source_ref), XFIELD(c, gnttab_copy, source_gmfn),
			XFIELD(c, gnttab_copy, source_domid), XFIELD(c, gnttab_copy, source_offset),
			&op->source);
	decode_copy_ptr(buf, op->flags & GNTCOPY_dest_gref,
			XFIELD(c, gnttab_copy, dest_ref), XFIELD(c, gnttab_copy, dest_gmfn),
			XFIELD(c, gnttab_copy, dest_domid), XFIELD(c, gnttab_copy, dest_offset),
			&op->dest);
}

static long op_copy(struct hcall *hc, uint64_t uop, uint32_t count)
{
	uint8_t batch[COPY_BATCH * COPY_OP_MAX];
	size_t size = XSIZE(hc->compat, gnttab_copy);
	struct xfield status = XFIELD(hc->compat, gnttab_copy, status);

	for (uint32_t done = 0, n; done < count; done += n) {
		uint64_t at;

		/* Xen would preempt a long run and continue it later; pvmm
		 * finishes it, unless the VM is stopping: then the guest never
		 * runs again to see the answer. */
		if (atomic_load(&hc->vm->stopping))
			return -XEN_EAGAIN;
		n = count - done < COPY_BATCH ? count - done : COPY_BATCH;
		if (!elem_addr(uop, done, size, &at))
			return -XEN_EFAULT;
		/* As Xen, which reads them one by one: the operations before an
		 * unreadable one are done. */
		if (hcall__copy_from(hc, at, batch, n * size)) {
			n = 1;
			if (hcall__copy_from(hc, at, batch, size))
				return -XEN_EFAULT;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct gnttab_copy op;

			decode_copy(hc, batch + i * size, &op);
			if (put_status(hc, at + i * size, status, gnttab__copy(hc->vm, &op)))
				return -XEN_EFAULT;
		}
	}
	return 0;
}

long hc__grant_table_op(struct hcall *hc)
{
	uint32_t cmd = (uint32_t)hc->arg[0];
	uint64_t uop = hc->arg[1];
	uint32_t count = (uint32_t)hc->arg[2];

	/* As Xen: a count negative as an int, or continuation bits on a
	 * sub-op that has none, is refused. */
	if ((int32_t)count < 0 || ((cmd & ~CMD_MASK) && (cmd & CMD_MASK) != GNTTABOP_cache_flush))
		return -XEN_EINVAL;
	switch (cmd) {
	case GNTTABOP_query_size:
		return op_query_size(hc, uop, count);
	case GNTTABOP_setup_table:
		return op_setup_table(hc, uop, count);
	case GNTTABOP_set_version:
		return op_set_version(hc, uop);
	case GNTTABOP_get_version:
		return op_get_version(hc, uop);
	case GNTTABOP_get_status_frames:
		return op_get_status_frames(hc, uop, count);
	case GNTTABOP_copy:
		return op_copy(hc, uop, count);
	default:
		return hcall__enosys(hc, "grant_table_op", cmd);
	}
}
