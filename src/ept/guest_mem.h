/*
 * Guest physical memory: the RAM pvmm gives a guest and the one checked way
 * to reach it.
 *
 * The second-level translation (EPT/NPT) is the hardware's, through KVM
 * memslots; this module owns the host mappings behind those memslots.  The
 * trust boundary is gmem__ptr(): every guest physical address pvmm
 * dereferences goes through it, and it fails unless the whole range lies in
 * one region of guest memory.
 *
 * Layout (the guest sees it through its memory map):
 *   [0, min(ram, GMEM_LOW_RAM_TOP))          RAM
 *   [GMEM_SPECIAL_BASE, +GMEM_SPECIAL_SIZE)   pvmm's special pages, reserved
 *   [GMEM_HIGH_RAM_BASE, ...)                 RAM above 4 GiB, if any
 */
#ifndef PVMM_EPT_GUEST_MEM_H
#define PVMM_EPT_GUEST_MEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_PAGE_SIZE      4096ULL
#define GMEM_PAGE_SHIFT     12
#define GMEM_LOW_RAM_TOP    0xC0000000ULL   /* RAM past 3 GiB moves above 4 GiB */
#define GMEM_HIGH_RAM_BASE  0x100000000ULL
#define GMEM_SPECIAL_BASE   0xFEF80000ULL   /* below the 0xFF000000 firmware hole */
#define GMEM_SPECIAL_PAGES  128
#define GMEM_SPECIAL_SIZE   (GMEM_SPECIAL_PAGES * GMEM_PAGE_SIZE)
#define GMEM_MAX_MAP        3   /* memory-map entries: low RAM, special, high RAM */
#define GMEM_MAX_ALIASES    96
#define GMEM_MAX_REGIONS    (GMEM_MAX_MAP + GMEM_MAX_ALIASES)

/* Special pages: page index inside the special region. */
enum gmem_special_page {
	GMEM_SPECIAL_XENSTORE = 0,
	GMEM_SPECIAL_CONSOLE = 1,
	/* Grant-table frames live here until the guest maps them elsewhere
	 * with XENMEM_add_to_physmap. */
	GMEM_SPECIAL_GNTTAB_FIRST = 2,
	GMEM_SPECIAL_GNTTAB_FRAMES = 64,
	GMEM_SPECIAL_GNTTAB_STATUS_FIRST = GMEM_SPECIAL_GNTTAB_FIRST + GMEM_SPECIAL_GNTTAB_FRAMES,
	GMEM_SPECIAL_GNTTAB_STATUS_FRAMES = 8,
	/* shared_info when the guest maps it in a hole rather than in RAM. */
	GMEM_SPECIAL_SHARED_INFO = GMEM_SPECIAL_GNTTAB_STATUS_FIRST + GMEM_SPECIAL_GNTTAB_STATUS_FRAMES,
	GMEM_SPECIAL_USED,
};

/* Memory-map entry types, as in the e820 table. */
#define GMEM_TYPE_RAM       1
#define GMEM_TYPE_RESERVED  2

enum gmem_kind {
	GMEM_RAM,
	GMEM_SPECIAL,       /* pvmm's special pages, reserved in the memory map */
	GMEM_ALIAS,         /* a special page shown again where the guest asked */
};

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	enum gmem_kind kind;
};

struct guest_mem {
	struct gmem_region region[GMEM_MAX_REGIONS];
	/* Regions are only ever appended: readers take nr_regions with acquire
	 * and see complete entries without a lock. */
	_Atomic int nr_regions;
	pthread_mutex_t alias_lock;
	int vm_fd;          /* for alias memslots; -1 before gmem__register() */
	uint64_t ram_size;  /* bytes of RAM, both regions together */
};

struct gmem_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type;      /* GMEM_TYPE_* */
};

/*
 * Reserves ram_size bytes of RAM (MAP_NORESERVE: host memory is taken only
 * when the guest touches a page) and the special pages.  ram_size must be a
 * non-zero multiple of the page size.  Returns 0 or -errno.
 */
int gmem__init(struct guest_mem *m, uint64_t ram_size);
void gmem__free(struct guest_mem *m);

/* Registers every region with KVM as a memslot.  Returns 0 or -errno. */
int gmem__register(struct guest_mem *m, int vm_fd);

/*
 * Shows the special page at special_gfn again at gfn, which must be a hole
 * in the guest's physical address space below the LAPIC/IOAPIC window, as
 * Xen lets a guest place shared_info or grant frames in a hole of its
 * memory map.  The alias is a one-page memslot on the same host memory;
 * it stays for the VM's life.  Returns 0, -EINVAL (not a hole) or -ENOSPC.
 */
int gmem__add_alias(struct guest_mem *m, uint64_t gfn, uint64_t special_gfn);

/* True when no guest memory (RAM, special page or alias) covers gfn. */
bool gmem__is_hole(const struct guest_mem *m, uint64_t gfn);

/*
 * The checked accessor: a host pointer to [gpa, gpa + len), or NULL when any
 * byte of it is outside guest memory or the range wraps.  The range must lie
 * in one region; a range may not run from RAM into the special pages.
 */
void *gmem__ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Checked pointer to a whole guest frame, NULL when the frame is not guest memory. */
static inline void *gmem__frame(const struct guest_mem *m, uint64_t gfn)
{
	if (gfn > (UINT64_MAX >> GMEM_PAGE_SHIFT))
		return NULL;
	return gmem__ptr(m, gfn << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE);
}

/* Copies through gmem__ptr(); ranges may span regions.  0 or -EFAULT. */
int gmem__read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);
int gmem__write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);

/* True when [gpa, gpa + len) is entirely guest RAM (not special pages). */
bool gmem__is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Guest physical address of a special page. */
static inline uint64_t gmem__special_gpa(enum gmem_special_page page)
{
	return GMEM_SPECIAL_BASE + (uint64_t)page * GMEM_PAGE_SIZE;
}

/* Highest guest frame number that is RAM, plus one. */
uint64_t gmem__ram_end_pfn(const struct guest_mem *m);

/*
 * The guest's memory map, sorted by address: RAM regions and the reserved
 * special pages.  Fills at most max entries; returns how many there are.
 */
int gmem__memory_map(const struct guest_mem *m, struct gmem_range *out, int max);

#endif
