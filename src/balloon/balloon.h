/*
 * The memory balloon, the Xen way.  A guest gives frames back with
 * XENMEM_decrease_reservation and takes frames again with
 * XENMEM_populate_physmap; the toolstack (here: the command line and the
 * management API) tells it how much memory to keep through memory/target
 * in its xenstore home, which Xen's balloon drivers (Linux, Mini-OS)
 * follow.
 *
 * pvmm returns a released frame's host memory at once: madvise
 * (MADV_DONTNEED) on the private anonymous mapping behind guest RAM, so the
 * process's resident memory falls, and KVM's MMU notifier drops the
 * frame from the guest's second-level tables.  The memslot still covers
 * the frame: a guest that touches a frame it gave back gets fresh zeroed
 * memory instead of the fault Xen would give it.  Repopulated frames read
 * as zeros, as Xen's freshly allocated pages do.
 *
 * Accounting follows Xen's: the reservation (Xen's tot_pages) is the RAM
 * the guest was built with, less the frames it released, plus pages it
 * was charged for without a frame of its own (increase_reservation on a
 * translated guest, populate_physmap over a frame that was still there);
 * it never exceeds the maximum (Xen's max_pages), which is all the RAM.
 */
#ifndef PVMM_BALLOON_BALLOON_H
#define PVMM_BALLOON_BALLOON_H

#include <stdint.h>

struct vm;
struct hcall;

/* The smallest memory/target pvmm sets: below this no guest can live. */
#define BALLOON_MIN_TARGET (4ULL << 20)

struct balloon_stats {
	uint64_t maximum;       /* bytes: the guest's RAM, memory/static-max */
	uint64_t current;       /* bytes: the reservation now */
	uint64_t target;        /* bytes: memory/target */
	uint64_t reclaimed;     /* bytes of RAM released to the host now */
	uint64_t released_total;  /* bytes released, over the VM's life */
	uint64_t populated_total; /* bytes repopulated, over the VM's life */
};

/*
 * Sets up the balloon of a VM whose memory and xenstore exist and writes
 * memory/target: target bytes, 0 for all of the RAM.  0, or -1 after
 * logging why.
 */
int balloon__init(struct vm *vm, uint64_t target);
void balloon__destroy(struct vm *vm);

/*
 * XENMEM_increase_reservation, _decrease_reservation and _populate_physmap
 * (op), resuming at start_extent (the command word's high bits).  Returns
 * what Xen returns: the number of extents done, counted from the start of
 * the list.
 */
long balloon__memory_op(struct hcall *hc, unsigned int op, uint64_t start_extent);

/* XENMEM_current_reservation and XENMEM_maximum_reservation, in pages. */
uint64_t balloon__current_pages(struct vm *vm);
uint64_t balloon__maximum_pages(struct vm *vm);

/*
 * Asks the guest to keep target bytes: a multiple of 4 KiB from
 * BALLOON_MIN_TARGET to the RAM size.  Writes memory/target (in KiB).
 * 0, -EINVAL (out of range; nothing changes) or the store's -errno.
 */
int balloon__set_target(struct vm *vm, uint64_t target);

/* A consistent snapshot of the figures. */
void balloon__stats(struct vm *vm, struct balloon_stats *out);

#endif
