/*
 * A block frontend against pvmm's blkif backend, as xen-blkfront and
 * Mini-OS drive it (lib/blkfront.c): negotiation over xenstore, a
 * multi-page ring, data written in patterns across the disk and read back
 * (whole pages, sub-page segments, 64 requests in flight, indirect
 * requests, the last sector), FLUSH_DISKCACHE, DISCARD, malformed requests
 * that must each get BLKIF_RSP_ERROR, and a read-only second disk.
 *
 * Command line: sectors=N (the first disk's size, which the test made),
 * ro-sectors=M (a second, read-only disk, optional) and mode=test (the
 * default) or mode=safety (write and flush region A, print "flushed", then
 * write region B, print "rewriting", and write it again until killed);
 * persistent=1 to offer persistent grants (feature-persistent), as Linux
 * does, with every data page granted writable.  The disk layout the test
 * checks byte for byte afterwards is in tests/integration/blk/make_disk.py.
 */
#include "blkfront.h"

#define NBUF            64              /* data pages for writes and for reads */
#define POISON          0xdeadbeefu
#define RESPONSE_NS     30000000000ull
#define BATCH           64              /* requests in flight in the ring test */

static struct blkfront disk, rodisk;
static uint64_t nsect;                  /* the test's idea of the first disk's size */
static bool persistent;                 /* persistent=1 */

static uint8_t wbuf[NBUF][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t rbuf[NBUF][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t ind_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t ro_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static grant_ref_t wref[NBUF], rref[NBUF], ind_ref, ro_ref, other_dom_ref;

/* A whole ring entry, whatever kind of request it holds. */
union ring_req {
	blkif_request_t rw;
	struct blkif_request_indirect ind;
	struct blkif_request_discard discard;
};

/* The fixed layout (make_disk.py): sectors from the disk's size. */
#define R1_SECTOR       0ull                    /* 11 whole pages */
#define R1_PAGES        BLKIF_MAX_SEGMENTS_PER_REQUEST
#define R2_SECTOR       (nsect / 2)             /* 64 single-sector requests */
#define R3_SECTOR       (nsect / 4)             /* 64 pages, indirect */
#define R3_PAGES        64u
#define DISCARD_SECTOR  (R3_SECTOR + 128)       /* inside R3 */
#define DISCARD_SECTORS 128u
#define R5_SECTOR       (nsect / 2 + 200)       /* a part of a page */
#define CANARY_SECTOR   (nsect / 2 + 1024)      /* malformed writes aim here */
#define SAFE_A_SECTOR   0ull                    /* mode=safety: 1 MiB, flushed */
#define SAFE_A_PAGES    256u
#define SAFE_B_SECTOR   (nsect / 2)             /* then rewritten until killed */

static int16_t submit(struct blkfront *bf, union ring_req *r)
{
	return blkfront_submit(bf, &r->rw);
}

static bool status_is(const char *name, int16_t got, int16_t want)
{
	return check_long(name, got, want);
}

/* A read or write of one segment: sectors first..last of page ref. */
static void one_seg(const struct blkfront *bf, union ring_req *r, uint8_t op, uint64_t sector,
		    grant_ref_t ref, uint8_t first, uint8_t last)
{
	blkfront_rw_request(bf, &r->rw, op, sector, &ref, 1);
	r->rw.seg[0].first_sect = first;
	r->rw.seg[0].last_sect = last;
}

static int16_t indirect_rw(struct blkfront *bf, uint8_t op, uint64_t sector,
			   const grant_ref_t *refs, unsigned int nr)
{
	struct blkif_request_segment *segs = (struct blkif_request_segment *)ind_page;
	union ring_req r;

	for (unsigned int i = 0; i < nr; i++)
		segs[i] = (struct blkif_request_segment){
			.gref = refs[i], .first_sect = 0, .last_sect = SECTORS_PER_PAGE - 1,
		};
	memset(&r, 0, sizeof(r));
	r.ind.operation = BLKIF_OP_INDIRECT;
	r.ind.indirect_op = op;
	r.ind.nr_segments = (uint16_t)nr;
	r.ind.sector_number = sector;
	r.ind.handle = (blkif_vdev_t)bf->vdev;
	r.ind.indirect_grefs[0] = ind_ref;
	return blkfront_submit(bf, &r.rw);
}

/* Reads or writes whole pages at sector: indirect requests when the
 * backend takes them and use_indirect, else 11 segments at a time.  True if
 * all succeeded. */
static bool rw_pages(struct blkfront *bf, uint8_t op, uint64_t sector,
		     const grant_ref_t *refs, unsigned int nr, bool use_indirect)
{
	unsigned int per = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	bool indirect = use_indirect && bf->max_indirect > 0;

	if (indirect) {
		per = bf->max_indirect;
		if (per > SEGS_PER_INDIRECT_PAGE)
			per = SEGS_PER_INDIRECT_PAGE;
	}
	for (unsigned int done = 0; done < nr;) {
		unsigned int n = nr - done < per ? nr - done : per;
		int16_t st;

		if (indirect) {
			st = indirect_rw(bf, op, sector + done * SECTORS_PER_PAGE, refs + done, n);
		} else {
			union ring_req r;

			blkfront_rw_request(bf, &r.rw, op, sector + done * SECTORS_PER_PAGE,
					    refs + done, n);
			st = submit(bf, &r);
		}
		if (st != BLKIF_RSP_OKAY) {
			printf("blkfront: %s of %u pages at sector %llu: status %d\n",
			       op == BLKIF_OP_WRITE ? "write" : "read", n,
			       (unsigned long long)(sector + done * SECTORS_PER_PAGE), st);
			return false;
		}
		done += n;
	}
	return true;
}

static bool pattern_ok(const char *name, const void *buf, uint64_t sector, size_t len)
{
	size_t bad = pattern_check(buf, sector * SECTOR_SIZE, len);

	if (bad != len)
		printf("blkfront: %s: byte %zu (disk sector %llu) differs\n", name, bad,
		       (unsigned long long)(sector + bad / SECTOR_SIZE));
	return check(bad == len, name);
}

static void grant_buffers(void)
{
	for (unsigned int i = 0; i < NBUF; i++) {
		/* As Linux: the backend only reads what we write, unless it may
		 * keep grants mapped (persistent grants are mapped writable). */
		wref[i] = gnt_grant(disk.be_id, wbuf[i], !persistent);
		rref[i] = gnt_grant(disk.be_id, rbuf[i], false);
	}
	ind_ref = gnt_grant(disk.be_id, ind_page, true);
	ro_ref = gnt_grant(disk.be_id, ro_page, true);
	other_dom_ref = gnt_grant(7, wbuf[0], false);
	check(wref[NBUF - 1] && other_dom_ref, "granted the data pages to the backend");
}

static bool connect_disk(struct blkfront *bf, unsigned int slot, unsigned int vdev)
{
	char name[96];
	long rc = blkfront_connect(bf, slot, vdev, BLKFRONT_MAX_RING_ORDER, persistent);

	snprintf(name, sizeof(name), "connected to the backend of device/vbd/%u", vdev);
	if (!check_long(name, rc, 0))
		return false;
	printf("blkfront: vbd %u: backend %s (domain %u), %llu sectors of %u bytes, "
	       "info %#x\n", vdev, bf->be, bf->be_id, (unsigned long long)bf->sectors,
	       bf->sector_size, bf->info);
	printf("blkfront: vbd %u: flush %u barrier %u discard %u (granularity %u, "
	       "alignment %u, secure %u) max-indirect %u persistent %u "
	       "max-ring-page-order %u; ring of %u pages, %u slots\n",
	       vdev, bf->flush, bf->barrier, bf->discard, bf->discard_granularity,
	       bf->discard_alignment, bf->discard_secure, bf->max_indirect,
	       bf->persistent, bf->max_ring_order, 1u << bf->ring_order,
	       (unsigned int)RING_SIZE(&bf->ring));
	return true;
}

static void check_features(void)
{
	check_u64("the backend's sectors is the image's size", disk.sectors, nsect);
	check_long("sector-size is 512", disk.sector_size, SECTOR_SIZE);
	check(!(disk.info & VDISK_READONLY), "the first disk is writable");
	check(disk.flush, "feature-flush-cache is offered");
	check(disk.discard, "feature-discard is offered");
	check(disk.max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST,
	      "feature-max-indirect-segments offers more than 11");
	check(disk.max_ring_order >= 1, "max-ring-page-order offers a multi-page ring");
	check(disk.ring_order >= 1, "the ring spans several pages");
	if (persistent)
		check(disk.persistent, "feature-persistent is offered");
}

/* The host wrote the initial pattern; the first read sees it. */
static void test_initial_read(void)
{
	union ring_req r;
	bool ok = true;

	words_fill(rbuf[0], POISON, PAGE_SIZE);
	one_seg(&disk, &r, BLKIF_OP_READ, 8, rref[0], 0, SECTORS_PER_PAGE - 1);
	status_is("READ of a page the host wrote", submit(&disk, &r), BLKIF_RSP_OKAY);
	for (unsigned int i = 0; i < SECTORS_PER_PAGE; i++)
		ok &= init_sector_ok(rbuf[0] + i * SECTOR_SIZE, 8 + i);
	check(ok, "the page holds what the host wrote into the image");
}

static void test_r1_whole_pages(void)
{
	union ring_req r;

	pattern_fill(wbuf[0], R1_SECTOR * SECTOR_SIZE, R1_PAGES * PAGE_SIZE);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_WRITE, R1_SECTOR, wref, R1_PAGES);
	status_is("WRITE of 11 segments at sector 0", submit(&disk, &r), BLKIF_RSP_OKAY);
	words_fill(rbuf[0], POISON, R1_PAGES * PAGE_SIZE);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_READ, R1_SECTOR, rref, R1_PAGES);
	status_is("READ of 11 segments at sector 0", submit(&disk, &r), BLKIF_RSP_OKAY);
	pattern_ok("the 11 pages read back as written", rbuf[0], R1_SECTOR,
		   R1_PAGES * PAGE_SIZE);
}

/* Segments that cover part of a page, at different places for the write
 * and the read. */
static void test_r5_partial(void)
{
	union ring_req r;

	pattern_fill(wbuf[0] + 2 * SECTOR_SIZE, R5_SECTOR * SECTOR_SIZE, 3 * SECTOR_SIZE);
	one_seg(&disk, &r, BLKIF_OP_WRITE, R5_SECTOR, wref[0], 2, 4);
	status_is("WRITE of sectors 2-4 of a page", submit(&disk, &r), BLKIF_RSP_OKAY);
	words_fill(rbuf[0], POISON, PAGE_SIZE);
	one_seg(&disk, &r, BLKIF_OP_READ, R5_SECTOR, rref[0], 5, 7);
	status_is("READ into sectors 5-7 of a page", submit(&disk, &r), BLKIF_RSP_OKAY);
	pattern_ok("the three sectors arrived at sector 5 of the page", rbuf[0] + 5 * SECTOR_SIZE,
		   R5_SECTOR, 3 * SECTOR_SIZE);
	check(words_check(rbuf[0], POISON, 5 * SECTOR_SIZE) == 5 * SECTOR_SIZE,
	      "the rest of the page is untouched");
}

/* BATCH single-sector requests in the ring at once: one sector of page
 * i / 8 each, so the segments start at every sector of a page. */
static bool ring_batch(uint8_t op, unsigned int *max_in_flight)
{
	const grant_ref_t *refs = op == BLKIF_OP_WRITE ? wref : rref;
	uint64_t first_id = disk.next_id, seen = 0;
	unsigned int submitted = 0, done = 0;
	bool ok = true;

	*max_in_flight = 0;
	while (done < BATCH && ok) {
		blkif_request_t *req;
		struct blkif_response rsp;
		uint64_t idx;

		while (submitted < BATCH && (req = blkfront_next_request(&disk)) != NULL) {
			uint8_t s = (uint8_t)(submitted % SECTORS_PER_PAGE);

			req->operation = op;
			req->nr_segments = 1;
			req->handle = (blkif_vdev_t)disk.vdev;
			req->id = first_id + submitted;
			req->sector_number = R2_SECTOR + submitted;
			req->seg[0].gref = refs[submitted / SECTORS_PER_PAGE];
			req->seg[0].first_sect = s;
			req->seg[0].last_sect = s;
			submitted++;
		}
		if (submitted - done > *max_in_flight)
			*max_in_flight = submitted - done;
		blkfront_push(&disk);
		if (!blkfront_get_response(&disk, &rsp, xen_now() + RESPONSE_NS)) {
			printf("blkfront: no response after %u of %u\n", done, BATCH);
			return false;
		}
		idx = rsp.id - first_id;

		if (idx >= BATCH || (seen >> idx & 1) || rsp.status != BLKIF_RSP_OKAY ||
		    rsp.operation != op) {
			printf("blkfront: bad response id %llu op %u status %d\n",
			       (unsigned long long)rsp.id, rsp.operation, rsp.status);
			ok = false;
		}
		seen |= 1ull << (idx % 64);
		done++;
	}
	disk.next_id += BATCH;
	return ok;
}

static void test_r2_ring(void)
{
	unsigned int in_flight;
	char name[96];

	pattern_fill(wbuf[0], R2_SECTOR * SECTOR_SIZE, BATCH * SECTOR_SIZE);
	words_fill(rbuf[0], POISON, BATCH * SECTOR_SIZE);
	check(ring_batch(BLKIF_OP_WRITE, &in_flight),
	      "64 single-sector WRITEs in the ring together all succeeded");
	if (disk.ring_order >= 1) {
		snprintf(name, sizeof(name),
			 "%u requests were in flight at once (ring of %u pages)", in_flight,
			 1u << disk.ring_order);
		check(in_flight == BATCH, name);
	}
	check(ring_batch(BLKIF_OP_READ, &in_flight),
	      "64 single-sector READs in the ring together all succeeded");
	pattern_ok("the 64 sectors read back as written", rbuf[0], R2_SECTOR,
		   BATCH * SECTOR_SIZE);
}

static void test_r3_indirect(void)
{
	printf("blkfront: %s\n", disk.max_indirect ? "indirect requests" :
	       "no indirect requests offered: 11 segments at a time");
	pattern_fill(wbuf[0], R3_SECTOR * SECTOR_SIZE, R3_PAGES * PAGE_SIZE);
	check(rw_pages(&disk, BLKIF_OP_WRITE, R3_SECTOR, wref, R3_PAGES, true),
	      "WRITE of 64 pages with BLKIF_OP_INDIRECT");
	words_fill(rbuf[0], POISON, R3_PAGES * PAGE_SIZE);
	check(rw_pages(&disk, BLKIF_OP_READ, R3_SECTOR, rref, R3_PAGES, true),
	      "READ of 64 pages with BLKIF_OP_INDIRECT");
	pattern_ok("the 64 pages read back as written", rbuf[0], R3_SECTOR,
		   R3_PAGES * PAGE_SIZE);
}

static void test_discard(void)
{
	const size_t before = (DISCARD_SECTOR - R3_SECTOR) * SECTOR_SIZE;
	const size_t len = DISCARD_SECTORS * SECTOR_SIZE;
	const uint32_t g = disk.discard_granularity ? disk.discard_granularity : SECTOR_SIZE;
	union ring_req r;

	/* A backend may keep partial granules: the range is whole ones.  (A
	 * power of two, so that a 32-bit guest needs no 64-bit division.) */
	check((g & (g - 1)) == 0 && (len & (g - 1)) == 0 &&
	      (((uint32_t)(DISCARD_SECTOR * SECTOR_SIZE) - disk.discard_alignment) & (g - 1)) == 0,
	      "the discarded range is whole granules of discard-granularity");
	memset(&r, 0, sizeof(r));
	r.discard.operation = BLKIF_OP_DISCARD;
	r.discard.handle = (blkif_vdev_t)disk.vdev;
	r.discard.sector_number = DISCARD_SECTOR;
	r.discard.nr_sectors = DISCARD_SECTORS;
	status_is("DISCARD of 128 sectors", submit(&disk, &r), BLKIF_RSP_OKAY);
	words_fill(rbuf[0], POISON, R3_PAGES * PAGE_SIZE);
	check(rw_pages(&disk, BLKIF_OP_READ, R3_SECTOR, rref, R3_PAGES, true),
	      "READ of the 64 pages around the discarded range");
	check(words_check(rbuf[0] + before, 0, len) == len, "the discarded sectors read as zeros");
	pattern_ok("the data before the discarded range is intact", rbuf[0], R3_SECTOR, before);
	pattern_ok("the data after the discarded range is intact", rbuf[0] + before + len,
		   DISCARD_SECTOR + DISCARD_SECTORS, R3_PAGES * PAGE_SIZE - before - len);
}

static void test_last_sector(void)
{
	union ring_req r;

	pattern_fill(wbuf[0], (nsect - 1) * SECTOR_SIZE, SECTOR_SIZE);
	one_seg(&disk, &r, BLKIF_OP_WRITE, nsect - 1, wref[0], 0, 0);
	status_is("WRITE of the last sector", submit(&disk, &r), BLKIF_RSP_OKAY);
	words_fill(rbuf[0], POISON, PAGE_SIZE);
	one_seg(&disk, &r, BLKIF_OP_READ, nsect - 1, rref[0], 7, 7);
	status_is("READ of the last sector", submit(&disk, &r), BLKIF_RSP_OKAY);
	pattern_ok("the last sector reads back as written", rbuf[0] + 7 * SECTOR_SIZE,
		   nsect - 1, SECTOR_SIZE);
}

static void test_flush(struct blkfront *bf, const char *name)
{
	union ring_req r;

	memset(&r, 0, sizeof(r));
	r.rw.operation = BLKIF_OP_FLUSH_DISKCACHE;
	r.rw.handle = (blkif_vdev_t)bf->vdev;
	status_is(name, submit(bf, &r), BLKIF_RSP_OKAY);
}

static void expect_error(const char *name, union ring_req *r)
{
	status_is(name, submit(&disk, r), BLKIF_RSP_ERROR);
}

static void test_malformed(void)
{
	union ring_req r;
	int16_t st;

	/* Writes that must not happen carry data the host would notice. */
	pattern_fill(wbuf[0], 0, 2 * PAGE_SIZE);

	one_seg(&disk, &r, BLKIF_OP_READ, nsect, rref[0], 0, 0);
	expect_error("READ of the sector past the end is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_READ, nsect - 1, rref[0], 0, 1);
	expect_error("READ across the end is BLKIF_RSP_ERROR", &r);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_WRITE, nsect - 8, wref, 2);
	expect_error("WRITE of two pages across the end is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_READ, UINT64_MAX - 3, rref[0], 0, 7);
	expect_error("READ at sector 2^64-4 (wraps around) is BLKIF_RSP_ERROR", &r);

	one_seg(&disk, &r, BLKIF_OP_WRITE, CANARY_SECTOR, wref[0], 5, 2);
	expect_error("WRITE with last_sect < first_sect is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_WRITE, CANARY_SECTOR, wref[0], 0, 8);
	expect_error("WRITE with last_sect 8 is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_WRITE, CANARY_SECTOR, wref[0], 255, 255);
	expect_error("WRITE with first_sect 255 is BLKIF_RSP_ERROR", &r);

	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_READ, CANARY_SECTOR, rref, 0);
	expect_error("READ with 0 segments is BLKIF_RSP_ERROR", &r);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_READ, CANARY_SECTOR, rref, 11);
	r.rw.nr_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
	expect_error("READ with 12 segments is BLKIF_RSP_ERROR", &r);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_WRITE, CANARY_SECTOR, wref, 11);
	r.rw.nr_segments = 255;
	expect_error("WRITE with 255 segments is BLKIF_RSP_ERROR", &r);

	one_seg(&disk, &r, BLKIF_OP_READ, CANARY_SECTOR, gnt_limit() + 100, 0, 7);
	expect_error("READ into a grant reference past the table is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_READ, CANARY_SECTOR, UINT32_MAX, 0, 7);
	expect_error("READ into grant reference 2^32-1 is BLKIF_RSP_ERROR", &r);
	one_seg(&disk, &r, BLKIF_OP_READ, CANARY_SECTOR, gnt_unused_ref(), 0, 7);
	expect_error("READ into an unused grant entry is BLKIF_RSP_ERROR", &r);
	words_fill(ro_page, POISON, PAGE_SIZE);
	one_seg(&disk, &r, BLKIF_OP_READ, R1_SECTOR, ro_ref, 0, 7);
	expect_error("READ into a read-only grant is BLKIF_RSP_ERROR", &r);
	check(words_check(ro_page, POISON, PAGE_SIZE) == PAGE_SIZE,
	      "the read-only granted page is untouched");
	one_seg(&disk, &r, BLKIF_OP_WRITE, CANARY_SECTOR, other_dom_ref, 0, 7);
	expect_error("WRITE from a page granted to another domain is BLKIF_RSP_ERROR", &r);
	blkfront_rw_request(&disk, &r.rw, BLKIF_OP_WRITE, CANARY_SECTOR, wref, 2);
	r.rw.seg[1].gref = gnt_unused_ref();
	expect_error("WRITE whose second segment has a bad grant is BLKIF_RSP_ERROR", &r);

	memset(&r, 0, sizeof(r));
	r.rw.operation = 200;
	r.rw.handle = (blkif_vdev_t)disk.vdev;
	st = submit(&disk, &r);
	check(st == BLKIF_RSP_ERROR || st == BLKIF_RSP_EOPNOTSUPP,
	      "an unknown operation gets an error or EOPNOTSUPP");

	memset(&r, 0, sizeof(r));
	r.discard.operation = BLKIF_OP_DISCARD;
	r.discard.handle = (blkif_vdev_t)disk.vdev;
	r.discard.sector_number = nsect - 8;
	r.discard.nr_sectors = 16;
	expect_error("DISCARD across the end is BLKIF_RSP_ERROR", &r);
	r.discard.sector_number = CANARY_SECTOR;
	r.discard.nr_sectors = UINT64_MAX - 3;
	expect_error("DISCARD of 2^64-4 sectors (wraps around) is BLKIF_RSP_ERROR", &r);

	if (disk.max_indirect) {
		struct blkif_request_segment *segs = (struct blkif_request_segment *)ind_page;

		for (unsigned int i = 0; i < SEGS_PER_INDIRECT_PAGE; i++)
			segs[i] = (struct blkif_request_segment){
				.gref = wref[i % NBUF], .first_sect = 0, .last_sect = 7,
			};
		memset(&r, 0, sizeof(r));
		r.ind.operation = BLKIF_OP_INDIRECT;
		r.ind.indirect_op = BLKIF_OP_WRITE;
		r.ind.handle = (blkif_vdev_t)disk.vdev;
		r.ind.sector_number = CANARY_SECTOR;
		r.ind.indirect_grefs[0] = ind_ref;
		r.ind.nr_segments = 0;
		expect_error("INDIRECT WRITE with 0 segments is BLKIF_RSP_ERROR", &r);
		r.ind.nr_segments = (uint16_t)(disk.max_indirect + 1);
		expect_error("INDIRECT WRITE with max-indirect-segments + 1 is BLKIF_RSP_ERROR",
			     &r);
		r.ind.nr_segments = 4;
		r.ind.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
		expect_error("INDIRECT with indirect_op FLUSH_DISKCACHE is BLKIF_RSP_ERROR", &r);
		r.ind.indirect_op = BLKIF_OP_WRITE;
		r.ind.indirect_grefs[0] = gnt_unused_ref();
		expect_error("INDIRECT whose indirect page has a bad grant is BLKIF_RSP_ERROR",
			     &r);
		r.ind.indirect_grefs[0] = ind_ref;
		segs[2].last_sect = 9;
		expect_error("INDIRECT with a bad segment in the indirect page is "
			     "BLKIF_RSP_ERROR", &r);
	}

	/* Nothing above may have broken the device. */
	words_fill(rbuf[0], POISON, PAGE_SIZE);
	one_seg(&disk, &r, BLKIF_OP_READ, R1_SECTOR, rref[0], 0, 7);
	status_is("READ after the malformed requests", submit(&disk, &r), BLKIF_RSP_OKAY);
	pattern_ok("the device still reads correct data", rbuf[0], R1_SECTOR, PAGE_SIZE);
}

static void test_readonly_disk(unsigned int vdev, uint64_t ro_sectors)
{
	union ring_req r;
	grant_ref_t rd, wr;
	bool ok = true;
	int16_t st;

	if (!connect_disk(&rodisk, 1, vdev))
		return;
	check_u64("the read-only disk's sectors is its image's size", rodisk.sectors,
		  ro_sectors);
	check(rodisk.info & VDISK_READONLY, "the read-only disk's info has VDISK_READONLY");
	rd = gnt_grant(rodisk.be_id, rbuf[0], false);
	wr = gnt_grant(rodisk.be_id, wbuf[0], !persistent);

	words_fill(rbuf[0], POISON, PAGE_SIZE);
	one_seg(&rodisk, &r, BLKIF_OP_READ, ro_sectors - 8, rd, 0, 7);
	status_is("READ from the read-only disk", submit(&rodisk, &r), BLKIF_RSP_OKAY);
	for (unsigned int i = 0; i < SECTORS_PER_PAGE; i++)
		ok &= init_sector_ok(rbuf[0] + i * SECTOR_SIZE, ro_sectors - 8 + i);
	check(ok, "the read-only disk holds what the host wrote");

	pattern_fill(wbuf[0], 0, PAGE_SIZE);
	one_seg(&rodisk, &r, BLKIF_OP_WRITE, 0, wr, 0, 7);
	status_is("WRITE to the read-only disk is BLKIF_RSP_ERROR", submit(&rodisk, &r),
		  BLKIF_RSP_ERROR);
	memset(&r, 0, sizeof(r));
	r.discard.operation = BLKIF_OP_DISCARD;
	r.discard.handle = (blkif_vdev_t)rodisk.vdev;
	r.discard.sector_number = 0;
	r.discard.nr_sectors = 8;
	st = submit(&rodisk, &r);
	check(st == BLKIF_RSP_ERROR || st == BLKIF_RSP_EOPNOTSUPP,
	      "DISCARD on the read-only disk gets an error");
}

/* mode=safety: never returns.  Requests of 11 segments, so that what is
 * tested is only that acknowledged and flushed writes are on the disk. */
__attribute__((noreturn)) static void safety(void)
{
	union ring_req r;
	bool rewriting = false;

	for (unsigned int page = 0; page < SAFE_A_PAGES; page += NBUF) {
		uint64_t sector = SAFE_A_SECTOR + page * SECTORS_PER_PAGE;

		pattern_fill(wbuf[0], sector * SECTOR_SIZE, NBUF * PAGE_SIZE);
		if (!rw_pages(&disk, BLKIF_OP_WRITE, sector, wref, NBUF, false)) {
			check(false, "wrote region A");
			guest_finish();
		}
	}
	memset(&r, 0, sizeof(r));
	r.rw.operation = BLKIF_OP_FLUSH_DISKCACHE;
	r.rw.handle = (blkif_vdev_t)disk.vdev;
	if (!status_is("FLUSH_DISKCACHE after region A", submit(&disk, &r), BLKIF_RSP_OKAY))
		guest_finish();
	pattern_fill(wbuf[0], SAFE_B_SECTOR * SECTOR_SIZE, NBUF * PAGE_SIZE);
	printf("blkfront: flushed\n");
	for (;;) {
		if (!rw_pages(&disk, BLKIF_OP_WRITE, SAFE_B_SECTOR, wref, NBUF, false)) {
			check(false, "rewrote region B");
			guest_finish();
		}
		/* The test kills pvmm on this line: during the next pass. */
		if (!rewriting)
			printf("blkfront: region B written, rewriting it until killed\n");
		rewriting = true;
	}
}

void guest_main(const struct hvm_start_info *si)
{
	const char *cmdline = phys_ptr(si->cmdline_paddr, 1);
	unsigned int vdevs[BLKFRONT_MAX_DEVS];
	uint64_t ro_sectors = 0, v = 0;
	char mode[16] = "test";
	long n;

	printf("blkfront: %u-bit guest, command line '%s'\n", GUEST_BITS,
	       cmdline ? cmdline : "");
	if (!check(cmdline_u64(cmdline, "sectors", &nsect) && nsect >= 8192 && nsect % 8 == 0,
		   "the command line gives sectors=N (N >= 8192, a multiple of 8)"))
		return;
	cmdline_u64(cmdline, "ro-sectors", &ro_sectors);
	cmdline_word(cmdline, "mode", mode, sizeof(mode));
	persistent = cmdline_u64(cmdline, "persistent", &v) && v;

	if (!check_long("xenstore client set up", xs_init(), 0) ||
	    !check_long("grant table set up (2 frames)", gnt_init(2), 0))
		return;
	n = blkfront_list(vdevs, BLKFRONT_MAX_DEVS);
	if (n > 0)
		printf("blkfront: device/vbd lists %ld devices, the first %u\n", n, vdevs[0]);
	if (!check(n >= (ro_sectors ? 2 : 1), "device/vbd lists the disks") ||
	    !connect_disk(&disk, 0, vdevs[0]))
		return;
	grant_buffers();

	if (strcmp(mode, "safety") == 0)
		safety();
	check_features();
	test_initial_read();
	test_r1_whole_pages();
	test_r5_partial();
	test_r2_ring();
	test_r3_indirect();
	if (disk.discard)
		test_discard();
	test_last_sector();
	if (disk.flush)
		test_flush(&disk, "FLUSH_DISKCACHE");
	test_malformed();
	if (ro_sectors)
		test_readonly_disk(vdevs[1], ro_sectors);
	if (disk.flush)
		test_flush(&disk, "FLUSH_DISKCACHE at the end");
}
