#include "ept/gva.h"

#include <errno.h>
#include <string.h>

#define CR0_WP      (1ULL << 16)
#define CR0_PG      (1ULL << 31)
#define CR4_PSE     (1ULL << 4)
#define CR4_PAE     (1ULL << 5)
#define CR4_LA57    (1ULL << 12)
#define EFER_LMA    (1ULL << 10)
#define EFER_NXE    (1ULL << 11)

#define PTE_P       (1ULL << 0)
#define PTE_RW      (1ULL << 1)
#define PTE_PS      (1ULL << 7)
#define PTE_XD      (1ULL << 63)

/* Physical-address field of a 64-bit entry or CR3: bits 51:12. */
#define PTE_ADDR    0x000FFFFFFFFFF000ULL
/* PAE entries reserve bits 62:52 (the CPU has at most 52 address bits). */
#define PAE_RSVD    0x7FF0000000000000ULL
/* A PAE PDPTE has no R/W, U/S, A, D, PS or XD: those bits are reserved. */
#define PDPTE_RSVD  (0xFFF0000000000000ULL | 0x1E6ULL)
/* CR3 under PAE paging: the 32-byte-aligned PDPT in the low 4 GiB. */
#define PAE_CR3     0xFFFFFFE0ULL

#define PT_INDEX_BITS   9       /* 512 entries per 64-bit table */
#define PT_MAX_PS_LEVEL 3       /* 1 GiB pages; PS is reserved above */

/* 32-bit paging. */
#define PT32_ADDR       0xFFFFF000U
#define PT32_INDEX_BITS 10
#define PSE_SHIFT       22      /* 4 MiB pages */
#define PSE_ADDR        0xFFC00000U
#define PSE_RSVD        (1U << 21)
#define PSE36_SHIFT     13      /* PDE bits 20:13 hold address bits 39:32 */
#define PSE36_MASK      0xFFU

struct walk {
	const struct guest_mem *m;
	bool check_rw;          /* a write with CR0.WP set */
	uint64_t rsvd;          /* bits that fault in any entry of this mode */
};

/* True when an entry grants what the walk needs. */
static bool entry_ok(const struct walk *w, uint64_t e)
{
	return (e & PTE_P) && !(e & w->rsvd) && (!w->check_rw || (e & PTE_RW));
}

/*
 * Walks 64-bit entries (PAE and 4/5-level) from the table at `table`, whose
 * entries are at `level` (1 is the page table), down to the leaf.
 */
static int walk64(const struct walk *w, uint64_t table, int level,
		  uint64_t gva, uint64_t *gpa)
{
	for (;; level--) {
		unsigned shift = GMEM_PAGE_SHIFT + PT_INDEX_BITS * (unsigned)(level - 1);
		uint64_t index = (gva >> shift) & ((1U << PT_INDEX_BITS) - 1);
		uint64_t size = 1ULL << shift;
		uint64_t e;

		/* table < 2^52, so the entry address cannot wrap. */
		if (gmem__read(w->m, table + index * sizeof(e), &e, sizeof(e)) ||
		    !entry_ok(w, e))
			return -EFAULT;
		if (level > 1 && !(e & PTE_PS)) {
			table = e & PTE_ADDR;
			continue;
		}
		/*
		 * A leaf.  In a large page, bit 12 is PAT and the address bits
		 * below the page size up to it are reserved.
		 */
		if (level > PT_MAX_PS_LEVEL ||
		    (level > 1 && (e & (size - 1) & ~(2 * GMEM_PAGE_SIZE - 1))))
			return -EFAULT;
		*gpa = (e & PTE_ADDR & ~(size - 1)) | (gva & (size - 1));
		return 0;
	}
}

static int read32(const struct guest_mem *m, uint64_t gpa, uint32_t *e)
{
	return gmem__read(m, gpa, e, sizeof(*e));
}

static int walk32(const struct walk *w, uint64_t cr3, bool pse, uint32_t gva,
		  uint64_t *gpa)
{
	uint32_t pde, pte;
	uint32_t pt_index = (gva >> GMEM_PAGE_SHIFT) & ((1U << PT32_INDEX_BITS) - 1);

	if (read32(w->m, (cr3 & PT32_ADDR) + (uint64_t)(gva >> PSE_SHIFT) * sizeof(pde), &pde) ||
	    !entry_ok(w, pde))
		return -EFAULT;
	/* Without CR4.PSE the PS bit is ignored: the PDE points to a table. */
	if (pse && (pde & PTE_PS)) {
		if (pde & PSE_RSVD)
			return -EFAULT;
		*gpa = ((uint64_t)((pde >> PSE36_SHIFT) & PSE36_MASK) << 32) |
		       (pde & PSE_ADDR) | (gva & ~PSE_ADDR);
		return 0;
	}
	if (read32(w->m, (pde & PT32_ADDR) + (uint64_t)pt_index * sizeof(pte), &pte) ||
	    !entry_ok(w, pte))
		return -EFAULT;
	*gpa = (pte & PT32_ADDR) | (gva & ~PT32_ADDR);
	return 0;
}

/* Bits 63:bits-1 of a canonical address are all equal. */
static bool canonical(uint64_t gva, unsigned bits)
{
	uint64_t top = gva >> (bits - 1);

	return top == 0 || top == UINT64_MAX >> (bits - 1);
}

int gva__translate(const struct guest_mem *m, const struct gva_mmu *mmu,
		   uint64_t gva, bool write, uint64_t *gpa)
{
	struct walk w = {
		.m = m,
		.check_rw = write && (mmu->cr0 & CR0_WP),
		.rsvd = (mmu->efer & EFER_NXE) ? 0 : PTE_XD,
	};
	uint64_t pdpte;

	if (!(mmu->cr0 & CR0_PG)) {
		*gpa = (mmu->efer & EFER_LMA) ? gva : (uint32_t)gva;
		return 0;
	}
	if (mmu->efer & EFER_LMA) {
		int levels = (mmu->cr4 & CR4_LA57) ? 5 : 4;

		if (!canonical(gva, GMEM_PAGE_SHIFT + PT_INDEX_BITS * (unsigned)levels))
			return -EFAULT;
		return walk64(&w, mmu->cr3 & PTE_ADDR, levels, gva, gpa);
	}
	gva = (uint32_t)gva;
	if (!(mmu->cr4 & CR4_PAE))
		return walk32(&w, mmu->cr3, mmu->cr4 & CR4_PSE, (uint32_t)gva, gpa);

	/* PAE: a 4-entry PDPT indexed by bits 31:30, then 2 levels. */
	if (gmem__read(m, (mmu->cr3 & PAE_CR3) + (gva >> 30) * sizeof(pdpte),
		       &pdpte, sizeof(pdpte)) ||
	    !(pdpte & PTE_P) || (pdpte & PDPTE_RSVD))
		return -EFAULT;
	w.rsvd |= PAE_RSVD;
	return walk64(&w, pdpte & PTE_ADDR, 2, gva, gpa);
}

static int copy_virt(const struct guest_mem *m, const struct gva_mmu *mmu,
		     uint64_t gva, uint8_t *buf, size_t len, bool to_guest)
{
	/* Highest linear address: the 32-bit modes stop at 4 GiB. */
	uint64_t top = (mmu->efer & EFER_LMA) ? UINT64_MAX : UINT32_MAX;

	if (!len)
		return 0;
	if (gva > top || len - 1 > top - gva)
		return -EFAULT;
	while (len) {
		uint64_t gpa, chunk = GMEM_PAGE_SIZE - (gva & (GMEM_PAGE_SIZE - 1));
		void *host;

		if (chunk > len)
			chunk = len;
		if (gva__translate(m, mmu, gva, to_guest, &gpa))
			return -EFAULT;
		host = gmem__ptr(m, gpa, chunk);
		if (!host)
			return -EFAULT;
		if (to_guest)
			memcpy(host, buf, chunk);
		else
			memcpy(buf, host, chunk);
		buf += chunk;
		len -= chunk;
		gva += chunk;   /* may reach 2^64 == 0 only with len now 0 */
	}
	return 0;
}

int gva__read(const struct guest_mem *m, const struct gva_mmu *mmu,
	      uint64_t gva, void *dst, size_t len)
{
	return copy_virt(m, mmu, gva, dst, len, false);
}

int gva__write(const struct guest_mem *m, const struct gva_mmu *mmu,
	       uint64_t gva, const void *src, size_t len)
{
	/* copy_virt only reads buf when to_guest. */
	return copy_virt(m, mmu, gva, (uint8_t *)src, len, true);
}
