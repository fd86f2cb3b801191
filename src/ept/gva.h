/*
 * Guest-virtual to guest-physical translation, for the pointers a guest
 * passes in hypercall arguments.
 *
 * The walk follows the guest's own page tables in the mode its control
 * registers select: paging off, 32-bit paging (with 4 MiB PSE pages and
 * PSE-36), PAE paging, 4-level and 5-level paging.  Every page-table entry is
 * read through gmem__read(), so a table outside guest memory is a fault, not
 * a host access.
 *
 * Hypercalls run at CPL0, so U/S never matters; R/W matters for writes only
 * when CR0.WP is set.  Execute permission is never asked for.  The walk does
 * not set Accessed/Dirty bits: pvmm only reads and writes hypercall buffers,
 * which guests keep in kernel memory that is never paged out.
 *
 * The physical-address width is taken as 52 bits (the architectural
 * maximum); an address the guest's CPU could not reach simply fails later in
 * gmem__ptr().  Entry bits that 4-level paging ignores (58:52, and 62:59
 * without protection keys) are ignored here too, as guests use them for
 * their own bookkeeping.
 *
 * PAE paging reads the four PDPTEs from memory on each walk instead of from
 * the registers the CPU loaded at the last MOV to CR3; a guest that changes
 * its PDPT without reloading CR3 gets the new entries.
 */
#ifndef PVMM_EPT_GVA_H
#define PVMM_EPT_GVA_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ept/guest_mem.h"

/* The vCPU's paging state, from its sregs. */
struct gva_mmu {
	uint64_t cr0, cr3, cr4, efer;
};

static inline struct gva_mmu gva__mmu_from_sregs(const struct kvm_sregs *s)
{
	return (struct gva_mmu){
		.cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer,
	};
}

/*
 * Translates one address.  In the 32-bit modes (paging off without
 * EFER.LMA, 32-bit and PAE paging) only the low 32 bits of gva count, as
 * linear addresses wrap at 4 GiB there.  Returns 0 or -EFAULT: not present,
 * not writable (write and CR0.WP), non-canonical, reserved bits set, large
 * page where the architecture allows none, or a page table outside guest
 * memory.  The resulting *gpa itself is not checked against guest memory.
 */
int gva__translate(const struct guest_mem *m, const struct gva_mmu *mmu,
		   uint64_t gva, bool write, uint64_t *gpa);

/*
 * Copy len bytes from/to guest-virtual gva.  The buffer may cross page
 * boundaries: each page is translated on its own and each physical chunk is
 * reached through gmem__ptr().  A buffer that runs past the top of the
 * address space fails rather than wraps: past 2^64, and in the 32-bit modes
 * past 4 GiB (which also rejects any gva at or above 4 GiB there).  len 0
 * succeeds without touching anything.  Returns 0 or -EFAULT; after a fault
 * part of the buffer may have been copied.
 */
int gva__read(const struct guest_mem *m, const struct gva_mmu *mmu,
	      uint64_t gva, void *dst, size_t len);
int gva__write(const struct guest_mem *m, const struct gva_mmu *mmu,
	       uint64_t gva, const void *src, size_t len);

#endif
