/*
 * The block benchmark's guest (bench/blk_bench.py): sequential 1 MiB
 * writes and reads at queue depth 1 and 32, then 4 KiB random reads at
 * queue depth 32, through the first disk's blkif backend.  Each phase
 * prints "bench-blk: begin NAME" and, when its last response is in,
 * "bench-blk: end NAME requests=R bytes=B ns=T" (Xen system time), so the
 * host can read pvmm's CPU time between the two lines.
 *
 * Command line: seq-bytes=B (bytes per sequential phase, default 1 GiB),
 * rand-ops=N (requests in the random phase, default 20000), persistent=0
 * not to offer persistent grants (offered by default, as Linux does; the
 * buffers are granted writable and reused either way).
 *
 * The loop does as little as it can per request (guest code is emulated
 * on this project's machines): every slot's indirect page lists its own
 * buffer's grants once, so a request is a handful of stores.
 */
#include "blkfront.h"

#define QD_MAX          32
#define BIG_PAGES       256u                    /* 1 MiB requests */
#define BIG_BYTES       (BIG_PAGES * PAGE_SIZE)
#define PHASE_NS        600000000000ull         /* 10 minutes: something broke */

static struct blkfront disk;
static uint8_t buf[QD_MAX][BIG_PAGES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t ind_page[QD_MAX][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static grant_ref_t first_ref[QD_MAX], ind_ref[QD_MAX];
static unsigned int segs_per_req;       /* pages in one "1 MiB" request */

static const struct phase {
	const char *name;
	uint8_t op;
	bool random;            /* 4 KiB at random places, else 1 MiB in order */
	unsigned int qd;
} phases[] = {
	{ "seq-write-qd1", BLKIF_OP_WRITE, false, 1 },
	{ "seq-write-qd32", BLKIF_OP_WRITE, false, QD_MAX },
	{ "seq-read-qd1", BLKIF_OP_READ, false, 1 },
	{ "seq-read-qd32", BLKIF_OP_READ, false, QD_MAX },
	{ "rand-read-4k-qd32", BLKIF_OP_READ, true, QD_MAX },
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void)
{
	/* xorshift64: shifts and xors only. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static bool setup(void)
{
	struct blkif_request_segment *segs;

	for (unsigned int s = 0; s < QD_MAX; s++) {
		for (unsigned int p = 0; p < BIG_PAGES; p++) {
			grant_ref_t ref = gnt_grant(disk.be_id, buf[s][p], false);

			if (!ref)
				return false;
			if (p == 0)
				first_ref[s] = ref;
			segs = (struct blkif_request_segment *)ind_page[s];
			if (p < SEGS_PER_INDIRECT_PAGE)
				segs[p] = (struct blkif_request_segment){
					.gref = ref, .first_sect = 0,
					.last_sect = SECTORS_PER_PAGE - 1,
				};
		}
		ind_ref[s] = gnt_grant(disk.be_id, ind_page[s], true);
		if (!ind_ref[s])
			return false;
	}
	return true;
}

/* Fills the ring entry for slot's next request. */
static void fill(blkif_request_t *req, const struct phase *ph, unsigned int slot,
		 uint64_t sector)
{
	if (ph->random) {
		req->operation = ph->op;
		req->nr_segments = 1;
		req->handle = (blkif_vdev_t)disk.vdev;
		req->id = slot;
		req->sector_number = sector;
		req->seg[0].gref = first_ref[slot];
		req->seg[0].first_sect = 0;
		req->seg[0].last_sect = SECTORS_PER_PAGE - 1;
	} else {
		struct blkif_request_indirect *ind = (struct blkif_request_indirect *)req;

		ind->operation = BLKIF_OP_INDIRECT;
		ind->indirect_op = ph->op;
		ind->nr_segments = (uint16_t)segs_per_req;
		ind->id = slot;
		ind->sector_number = sector;
		ind->handle = (blkif_vdev_t)disk.vdev;
		ind->indirect_grefs[0] = ind_ref[slot];
	}
}

static bool run(const struct phase *ph, uint64_t requests)
{
	const uint64_t sectors = (ph->random ? 1 : segs_per_req) * SECTORS_PER_PAGE;
	const uint64_t blocks = disk.sectors / sectors;
	unsigned int free_slots[QD_MAX], nfree = ph->qd;
	uint64_t issued = 0, completed = 0, t0, t1, deadline;

	for (unsigned int i = 0; i < ph->qd; i++)
		free_slots[i] = i;
	printf("bench-blk: begin %s\n", ph->name);
	t0 = xen_now();
	/* One deadline for the phase: reading the clock costs dozens of
	 * emulated instructions. */
	deadline = t0 + PHASE_NS;
	while (completed < requests) {
		struct blkif_response rsp;
		blkif_request_t *req;

		while (nfree && issued < requests &&
		       (req = blkfront_next_request(&disk)) != NULL) {
			uint64_t block = ph->random ? rng_next() % blocks : issued % blocks;

			fill(req, ph, free_slots[--nfree], block * sectors);
			issued++;
		}
		blkfront_push(&disk);
		if (!blkfront_get_response(&disk, &rsp, deadline)) {
			printf("bench-blk: %s: no response in time\n", ph->name);
			return false;
		}
		do {
			if (rsp.status != BLKIF_RSP_OKAY || rsp.id >= ph->qd) {
				printf("bench-blk: %s: response id %llu status %d\n", ph->name,
				       (unsigned long long)rsp.id, rsp.status);
				return false;
			}
			free_slots[nfree++] = (unsigned int)rsp.id;
			completed++;
		} while (blkfront_take_response(&disk, &rsp));
	}
	t1 = xen_now();
	printf("bench-blk: end %s requests=%llu bytes=%llu ns=%llu\n", ph->name,
	       (unsigned long long)requests,
	       (unsigned long long)(requests * sectors * SECTOR_SIZE),
	       (unsigned long long)(t1 - t0));
	return true;
}

void guest_main(const struct hvm_start_info *si)
{
	const char *cmdline = phys_ptr(si->cmdline_paddr, 1);
	uint64_t seq_bytes = 1ull << 30, rand_ops = 20000, big, persist = 1;
	unsigned int vdev;
	bool persistent;

	cmdline_u64(cmdline, "seq-bytes", &seq_bytes);
	cmdline_u64(cmdline, "rand-ops", &rand_ops);
	cmdline_u64(cmdline, "persistent", &persist);
	persistent = persist != 0;
	if (!check_long("xenstore client set up", xs_init(), 0) ||
	    !check_long("grant table set up", gnt_init(GNT_MAX_FRAMES), 0) ||
	    !check(blkfront_list(&vdev, 1) == 1, "device/vbd lists a disk") ||
	    !check_long("connected to the backend",
			blkfront_connect(&disk, 0, vdev, 2, persistent), 0) ||
	    !check(setup(), "granted the buffers"))
		return;
	segs_per_req = disk.max_indirect < SEGS_PER_INDIRECT_PAGE ? disk.max_indirect :
		SEGS_PER_INDIRECT_PAGE;
	if (segs_per_req > BIG_PAGES)
		segs_per_req = BIG_PAGES;
	printf("bench-blk: %llu sectors, ring of %u slots, max-indirect %u: "
	       "sequential requests of %u KiB\n", (unsigned long long)disk.sectors,
	       (unsigned int)RING_SIZE(&disk.ring), disk.max_indirect,
	       segs_per_req * PAGE_SIZE / 1024);
	if (!check(segs_per_req > 0 && disk.sectors >= BIG_PAGES * SECTORS_PER_PAGE,
		   "the backend takes indirect requests and the disk holds 1 MiB"))
		return;
	big = seq_bytes / (segs_per_req * PAGE_SIZE);

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (!check(run(&phases[i], phases[i].random ? rand_ops : big), phases[i].name))
			return;
}
