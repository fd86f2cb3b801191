#include "balloon/balloon.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ept/guest_mem.h"
#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenstore/xenstored.h"

/* Xen's memop-max-order default for an unprivileged domain on x86. */
#define BALLOON_MAX_ORDER 9
/* Continuations put the extent index above MEMOP_EXTENT_SHIFT in a 32-bit
 * command word, so Xen refuses lists it could not resume. */
#define MEMOP_EXTENT_SHIFT 6
#define MAX_EXTENTS (UINT32_MAX >> MEMOP_EXTENT_SHIFT)
/* Extents read from the guest at a time. */
#define EXTENT_BATCH 512
#define MAX_RAM_RANGES 2

struct ram_range {
	uint64_t first_gfn;
	uint64_t nr;
	uint64_t first_index;   /* of its first frame in the bitmap */
};

struct balloon {
	struct vm *vm;
	pthread_mutex_t lock;       /* everything below */
	struct ram_range ram[MAX_RAM_RANGES];
	int nr_ram;
	uint64_t ram_pages;
	uint64_t *released;         /* bit per RAM frame: given back, not repopulated */
	uint64_t nr_released;
	uint64_t nr_charged;        /* pages counted without a frame of their own */
	uint64_t target_pages;
	uint64_t released_total;
	uint64_t populated_total;
	uint64_t logged_current;    /* the reservation last logged as on target */
};

/* A run of host memory to give back with one madvise. */
struct run {
	uint8_t *start;
	size_t len;
};

static uint64_t current_pages(const struct balloon *b)
{
	return b->ram_pages - b->nr_released + b->nr_charged;
}

/* The bitmap index of a RAM frame; false for any other frame. */
static bool frame_index(const struct balloon *b, uint64_t gfn, uint64_t *idx)
{
	for (int i = 0; i < b->nr_ram; i++) {
		const struct ram_range *r = &b->ram[i];

		if (gfn >= r->first_gfn && gfn - r->first_gfn < r->nr) {
			*idx = r->first_index + (gfn - r->first_gfn);
			return true;
		}
	}
	return false;
}

static bool test_bit(const uint64_t *map, uint64_t i)
{
	return map[i / 64] & (1ULL << (i % 64));
}

static void set_bit(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static void clear_bit(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

static void run_flush(struct run *run)
{
	if (!run->len)
		return;
	/* Private anonymous memory reads as zeros after MADV_DONTNEED.
	 * Should the kernel refuse, zeros written by hand keep that promise,
	 * only without giving the memory back. */
	if (madvise(run->start, run->len, MADV_DONTNEED)) {
		pr_warn_once("balloon: madvise(MADV_DONTNEED) failed (%s); frames are zeroed but stay resident",
			     strerror(errno));
		memset(run->start, 0, run->len);
	}
	run->len = 0;
}

static void run_add(struct run *run, uint8_t *page)
{
	if (run->len && run->start + run->len == page) {
		run->len += GMEM_PAGE_SIZE;
		return;
	}
	run_flush(run);
	run->start = page;
	run->len = GMEM_PAGE_SIZE;
}

/* Whether every frame of the extent is RAM, and in the state want_released. */
static bool extent_ok(const struct balloon *b, uint64_t gfn, uint64_t n, bool check_released,
		      bool want_released)
{
	uint64_t idx = 0;

	if (gfn > (UINT64_MAX >> GMEM_PAGE_SHIFT) - n)
		return false;
	for (uint64_t j = 0; j < n; j++) {
		if (!frame_index(b, gfn + j, &idx) ||
		    !gmem__is_ram(&b->vm->mem, (gfn + j) << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE))
			return false;
		if (check_released && test_bit(b->released, idx) != want_released)
			return false;
	}
	return true;
}

/*
 * Xen's guest_remove_page() fails for a frame that is not populated, and
 * the batch stops there: a frame released twice is counted once.  pvmm
 * checks the whole extent first, so an extent goes whole or not at all.
 */
static bool release_extent(struct balloon *b, uint64_t gfn, unsigned int order, struct run *run)
{
	uint64_t n = 1ULL << order, idx = 0;

	if (!extent_ok(b, gfn, n, true, false))
		return false;
	for (uint64_t j = 0; j < n; j++) {
		frame_index(b, gfn + j, &idx);
		set_bit(b->released, idx);
		run_add(run, gmem__frame(&b->vm->mem, gfn + j));
	}
	b->nr_released += n;
	b->released_total += n;
	return true;
}

/*
 * Xen allocates a new page for every frame of the extent, within the
 * domain's maximum, and maps it there.  A frame that was released gets its
 * (already zeroed) memory back; one that was still there is replaced by a
 * zeroed page, and, as on Xen, the page it had stays charged.
 */
static bool populate_extent(struct balloon *b, uint64_t gfn, unsigned int order, struct run *run)
{
	uint64_t n = 1ULL << order, idx = 0;

	if (!extent_ok(b, gfn, n, false, false) || current_pages(b) + n > b->ram_pages)
		return false;
	for (uint64_t j = 0; j < n; j++) {
		frame_index(b, gfn + j, &idx);
		if (test_bit(b->released, idx)) {
			clear_bit(b->released, idx);
			b->nr_released--;
		} else {
			run_add(run, gmem__frame(&b->vm->mem, gfn + j));
			b->nr_charged++;
		}
	}
	b->populated_total += n;
	return true;
}

struct reservation {
	uint64_t extent_start;
	uint64_t nr_extents;
	unsigned int order;
	uint32_t mem_flags;
	uint16_t domid;
};

static bool read_reservation(struct hcall *hc, struct reservation *r)
{
	uint8_t buf[HCALL_STRUCT_MAX];
	bool c = hc->compat;

	if (hcall__copy_from(hc, hc->arg[1], buf, XSIZE(c, xen_memory_reservation)))
		return false;
	r->extent_start = xfield__get(buf, XFIELD(c, xen_memory_reservation, extent_start));
	r->nr_extents = xfield__get(buf, XFIELD(c, xen_memory_reservation, nr_extents));
	r->order = (unsigned int)xfield__get(buf, XFIELD(c, xen_memory_reservation, extent_order));
	r->mem_flags = (uint32_t)xfield__get(buf, XFIELD(c, xen_memory_reservation, mem_flags));
	r->domid = (uint16_t)xfield__get(buf, XFIELD(c, xen_memory_reservation, domid));
	return true;
}

/* Reads up to want extent bases from idx i on; returns how many could be
 * read (as Xen reads them one by one, those before an unreadable one
 * count). */
static uint64_t read_extents(struct hcall *hc, const struct reservation *r, uint64_t i,
			     uint64_t want, uint64_t *out)
{
	size_t size = XSIZE(hc->compat, xen_pfn_t);
	uint8_t raw[EXTENT_BATCH * sizeof(uint64_t)];
	uint64_t at = r->extent_start + i * size;
	uint64_t got;

	if (at < r->extent_start)
		return 0;
	if (!hcall__copy_from(hc, at, raw, want * size)) {
		got = want;
	} else {
		for (got = 0; got < want; got++)
			if (hcall__copy_from(hc, at + got * size, raw + got * size, size))
				break;
	}
	for (uint64_t j = 0; j < got; j++) {
		out[j] = 0;
		memcpy(&out[j], raw + j * size, size);
	}
	return got;
}

static void log_progress(struct balloon *b, const char *what, uint64_t pages)
{
	uint64_t cur = current_pages(b);

	pr_debug("balloon: guest %s %" PRIu64 " pages; reservation %" PRIu64 " KiB, target %" PRIu64 " KiB",
		 what, pages, cur << 2, b->target_pages << 2);
	if (cur == b->target_pages && cur != b->logged_current) {
		pr_info("balloon: guest reached its target of %" PRIu64 " KiB (%" PRIu64 " KiB given back to the host)",
			cur << 2, b->nr_released << 2);
		b->logged_current = cur;
	}
}

static uint64_t run_extents(struct hcall *hc, struct balloon *b, unsigned int op,
			    const struct reservation *r, uint64_t i)
{
	uint64_t gfn[EXTENT_BATCH];
	struct run run = { 0 };
	uint64_t start = i;

	/* A translated guest learns nothing from increase_reservation: Xen
	 * allocates the pages and maps them nowhere. */
	if (op == XENMEM_increase_reservation) {
		uint64_t n = 1ULL << r->order;

		for (; i < r->nr_extents && current_pages(b) + n <= b->ram_pages; i++)
			b->nr_charged += n;
		return i;
	}
	while (i < r->nr_extents && !atomic_load(&hc->vm->stopping)) {
		uint64_t want = r->nr_extents - i < EXTENT_BATCH ? r->nr_extents - i : EXTENT_BATCH;
		uint64_t got = read_extents(hc, r, i, want, gfn), j;

		for (j = 0; j < got; j++) {
			bool ok = op == XENMEM_decrease_reservation ?
				  release_extent(b, gfn[j], r->order, &run) :
				  populate_extent(b, gfn[j], r->order, &run);
			if (!ok)
				break;
		}
		i += j;
		if (j < want)
			break;
	}
	run_flush(&run);
	if (i > start)
		log_progress(b, op == XENMEM_decrease_reservation ? "released" : "populated",
			     (i - start) << r->order);
	return i;
}

long balloon__memory_op(struct hcall *hc, unsigned int op, uint64_t start_extent)
{
	struct balloon *b = hc->vm->balloon;
	struct reservation r;
	unsigned int address_bits;
	uint64_t done;

	/* As Xen: every refusal answers start_extent, "nothing more done". */
	if (!read_reservation(hc, &r) || r.nr_extents > MAX_EXTENTS ||
	    start_extent >= r.nr_extents || xen__check_domid(hc->vm, r.domid))
		return (long)start_extent;
	/* Xen cannot allocate below 4 KiB of address space; any wider
	 * restriction is met by pvmm's host memory, which has no machine
	 * address the guest could see. */
	address_bits = XENMEMF_get_address_bits(r.mem_flags);
	if (address_bits && address_bits <= GMEM_PAGE_SHIFT)
		return (long)start_extent;
	/* Populate-on-demand is for the toolstack, not a guest on itself. */
	if (op == XENMEM_populate_physmap && (r.mem_flags & XENMEMF_populate_on_demand))
		return (long)start_extent;
	if (r.order > BALLOON_MAX_ORDER)
		return (long)start_extent;
	pthread_mutex_lock(&b->lock);
	done = run_extents(hc, b, op, &r, start_extent);
	pthread_mutex_unlock(&b->lock);
	return (long)done;
}

uint64_t balloon__current_pages(struct vm *vm)
{
	struct balloon *b = vm->balloon;
	uint64_t cur;

	pthread_mutex_lock(&b->lock);
	cur = current_pages(b);
	pthread_mutex_unlock(&b->lock);
	return cur;
}

uint64_t balloon__maximum_pages(struct vm *vm)
{
	return vm->balloon->ram_pages;
}

static int write_target(struct vm *vm, uint64_t target)
{
	char kib[24];

	snprintf(kib, sizeof(kib), "%" PRIu64, target >> 10);
	return xenstored__write_home(vm, "memory/target", kib);
}

int balloon__set_target(struct vm *vm, uint64_t target)
{
	struct balloon *b = vm->balloon;
	uint64_t cur;
	int ret;

	if (target % GMEM_PAGE_SIZE || target < BALLOON_MIN_TARGET ||
	    target > b->ram_pages << GMEM_PAGE_SHIFT)
		return -EINVAL;
	ret = write_target(vm, target);
	if (ret)
		return ret;
	pthread_mutex_lock(&b->lock);
	b->target_pages = target >> GMEM_PAGE_SHIFT;
	cur = current_pages(b);
	pthread_mutex_unlock(&b->lock);
	pr_info("balloon: memory/target set to %" PRIu64 " KiB (reservation now %" PRIu64 " KiB)",
		target >> 10, cur << 2);
	return 0;
}

void balloon__stats(struct vm *vm, struct balloon_stats *out)
{
	struct balloon *b = vm->balloon;

	pthread_mutex_lock(&b->lock);
	*out = (struct balloon_stats){
		.maximum = b->ram_pages << GMEM_PAGE_SHIFT,
		.current = current_pages(b) << GMEM_PAGE_SHIFT,
		.target = b->target_pages << GMEM_PAGE_SHIFT,
		.reclaimed = b->nr_released << GMEM_PAGE_SHIFT,
		.released_total = b->released_total << GMEM_PAGE_SHIFT,
		.populated_total = b->populated_total << GMEM_PAGE_SHIFT,
	};
	pthread_mutex_unlock(&b->lock);
}

/* The RAM ranges of the guest's memory map, numbered in one bitmap. */
static void find_ram(struct balloon *b)
{
	struct gmem_range map[GMEM_MAX_MAP];
	int nr = gmem__memory_map(&b->vm->mem, map, GMEM_MAX_MAP);

	for (int i = 0; i < nr && i < GMEM_MAX_MAP && b->nr_ram < MAX_RAM_RANGES; i++) {
		if (map[i].type != GMEM_TYPE_RAM)
			continue;
		b->ram[b->nr_ram++] = (struct ram_range){
			.first_gfn = map[i].addr >> GMEM_PAGE_SHIFT,
			.nr = map[i].size >> GMEM_PAGE_SHIFT,
			.first_index = b->ram_pages,
		};
		b->ram_pages += map[i].size >> GMEM_PAGE_SHIFT;
	}
}

int balloon__init(struct vm *vm, uint64_t target)
{
	struct balloon *b = calloc(1, sizeof(*b));

	if (!b) {
		pr_err("balloon: out of memory");
		return -1;
	}
	b->vm = vm;
	pthread_mutex_init(&b->lock, NULL);
	vm->balloon = b;
	find_ram(b);
	b->released = calloc((b->ram_pages + 63) / 64, sizeof(uint64_t));
	if (!b->released) {
		pr_err("balloon: out of memory for the frame bitmap");
		return -1;
	}
	if (!target)
		target = b->ram_pages << GMEM_PAGE_SHIFT;
	if (balloon__set_target(vm, target)) {
		pr_err("balloon: cannot set memory/target to %" PRIu64 " bytes", target);
		return -1;
	}
	b->logged_current = current_pages(b);
	return 0;
}

void balloon__destroy(struct vm *vm)
{
	struct balloon *b = vm->balloon;

	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->released);
	free(b);
	vm->balloon = NULL;
}
