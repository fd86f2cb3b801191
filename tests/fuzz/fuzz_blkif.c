/*
 * libFuzzer harness for the block backend's request path: a hostile
 * frontend's whole view of the device comes from the input.
 *
 * Input: one byte of settings (guest ABI, persistent grants, read-only
 * disk, ring pages), then the bytes of the shared ring (header included,
 * so the indices may lie), then bytes XORed into grant-table entries 8..63,
 * then the pages those grants name (data and indirect pages).  The ring's
 * own grants (refs 0..7) are always valid, and entries 8..63 start as valid
 * grants of the data pages, so short inputs reach the I/O as well.
 *
 * Each input builds a queue on real guest memory and grant tables, serves
 * the ring synchronously (blk_queue__run_once), and checks what must hold
 * whatever the guest wrote: the image keeps its size, and once the queue
 * is gone no grant is left in use.  AddressSanitizer and UBSan catch the
 * rest.  The image is a 64 KiB memfd.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/image.h"
#include "blk/queue.h"
#include "blk/request.h"
#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "util/log.h"
#include "vcpu/vm.h"

#define PG           4096u
#define RAM          (4ULL << 20)
#define IMAGE_SIZE   (64u << 10)
#define RING_GFN     0x10        /* up to 8 ring pages, refs 0..7 */
#define DATA_GFN     0x20        /* pages the fuzzed grants are likely to name */
#define NR_DATA      16
#define FIRST_FUZZED_REF 8
#define NR_REFS      64

static struct vm vm;
static struct blk_image img;
static grant_entry_v1_t *table;

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "fuzz_blkif: %s\n", what);
	abort();
}

static void init(void)
{
	uint64_t gfn[GNTTAB_MAX_FRAMES];
	char path[64], err[256];
	int fd;

	log__set_level(LOG_ERROR);
	if (gmem__init(&vm.mem, RAM))
		die("gmem__init");
	xen__domain_init(&vm);
	if (evtchn__init(&vm) || gnttab__init(&vm) ||
	    gnttab__setup_table(&vm, DOMID_SELF, 1, gfn) != GNTST_okay)
		die("grant tables");
	table = gmem__frame(&vm.mem, gfn[0]);
	fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE))
		die("memfd");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (image__open(&img, path, false, false, err, sizeof(err)))
		die(err);
	close(fd);
}

/* Copies up to len bytes of the input into dst (the rest zeroed). */
static size_t take(uint8_t *dst, size_t len, const uint8_t **data, size_t *size)
{
	size_t n = *size < len ? *size : len;

	memset(dst, 0, len);
	memcpy(dst, *data, n);
	*data += n;
	*size -= n;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct blk_queue *q;
	grant_ref_t refs[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	uint8_t settings = 0, *ring, *pages;
	uint8_t perturb[(NR_REFS - FIRST_FUZZED_REF) * sizeof(grant_entry_v1_t)];
	unsigned nr_ring;
	struct stat st;

	if (!ready) {
		init();
		ready = true;
	}
	take(&settings, 1, &data, &size);
	nr_ring = 1u << ((settings >> 3) & 3);          /* 1, 2, 4 or 8 pages */
	ring = gmem__ptr(&vm.mem, (uint64_t)RING_GFN * PG, (uint64_t)nr_ring * PG);
	pages = gmem__ptr(&vm.mem, (uint64_t)DATA_GFN * PG, (uint64_t)NR_DATA * PG);
	take(ring, nr_ring * PG, &data, &size);
	for (unsigned r = 0; r < nr_ring; r++)
		table[r] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0,
					       .frame = RING_GFN + r };
	take(perturb, sizeof(perturb), &data, &size);
	for (unsigned r = FIRST_FUZZED_REF; r < NR_REFS; r++) {
		uint8_t *e = (uint8_t *)&table[r];

		table[r] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0,
					       .frame = DATA_GFN + r % NR_DATA };
		for (unsigned b = 0; b < sizeof(table[r]); b++)
			e[b] ^= perturb[(r - FIRST_FUZZED_REF) * sizeof(table[r]) + b];
		/* The in-use marks are the backend's to set: start without
		 * them, so that any left at the end are the backend's leak. */
		table[r].flags &= (uint16_t)~(GTF_reading | GTF_writing);
	}
	take(pages, NR_DATA * PG, &data, &size);

	struct blk_queue_config cfg = {
		.vm = &vm, .img = &img,
		.lim = {
			.sectors = IMAGE_SIZE / BLK_SECTOR_SIZE,
			.readonly = settings & 4,
			.flush = true,
			.discard = !(settings & 4),
			.max_indirect_segments = BLK_MAX_INDIRECT_SEGMENTS,
		},
		.discard_granularity = PG,
		.abi = (settings & 1) ? BLK_ABI_X86_32 : BLK_ABI_X86_64,
		.persistent = settings & 2,
		.force_sync = true,
		.name = "fuzz",
		.evtchn_fd = -1,
	};
	if (blk_queue__create(&cfg, refs, nr_ring, &q))
		die("blk_queue__create");
	/* Twice: the second pass sees the ring as the first left it. */
	blk_queue__run_once(q);
	blk_queue__run_once(q);
	blk_queue__destroy(q);

	if (fstat(img.fd, &st) || st.st_size != IMAGE_SIZE)
		die("the image changed size");
	for (unsigned r = 0; r < NR_REFS; r++)
		if (table[r].flags & (GTF_reading | GTF_writing))
			die("a grant is still in use after the queue went");
	return 0;
}
