/*
 * The block backend: request decoding and validation for both guest ABIs,
 * the images (open errors, locking, direct-I/O alignment), the I/O engine
 * in both modes, and the whole backend driven end to end without KVM: a
 * VM with guest memory, event channels, grant tables and xenstored, and a
 * blkfront written here that grants pages, lays requests in a ring in
 * guest memory, notifies by EVTCHNOP_send and checks the image file byte
 * for byte.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blk/blkback.h"
#include "blk/image.h"
#include "blk/io.h"
#include "blk/queue.h"
#include "blk/request.h"
#include "check_main.h"
#include "cli/options.h"
#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "hypercall/hypercall.h"
#include "hypercall/xen_layout.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xenstore/store.h"
#include "xenstore/xenstored.h"
#include <linux/kvm.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

#define PG              4096u
#define SECTORS         8192u           /* a 4 MiB image */
#define RAM             (32ULL << 20)
#define SHINFO_GFN      0x100
#define RING_GFN        0x200           /* 16 pages per queue, 4 queues */
#define DATA_GFN        0x400           /* data pages, ref DATA_REF + i */
#define NR_DATA         512
#define IND_GFN         0x700           /* indirect pages */
#define SCRATCH         0x10000ULL      /* hypercall arguments */
#define RING_REF        1               /* ring page p of queue q: 1 + 16q + p */
#define DATA_REF        100
#define IND_REF         700
#define DEVID           51712
#define FE              "/local/domain/1/device/vbd/51712"
#define BE              "/local/domain/0/backend/vbd/1/51712"
#define ERR             "/local/domain/0/error/backend/vbd/1/51712/error"

static const struct blk_limits rw_limits = {
	.sectors = SECTORS, .flush = true, .discard = true,
	.max_indirect_segments = BLK_MAX_INDIRECT_SEGMENTS,
};

/* ---- building ring entries as a frontend of either width lays them out ---- */

#define C(abi) ((abi) == BLK_ABI_X86_32)

static void entry_rw(uint8_t *e, enum blk_abi abi, uint8_t op, uint64_t id, uint64_t sector,
		     unsigned nseg, const struct blkif_request_segment *seg)
{
	memset(e, 0, blk__entry_size(abi));
	xfield__set(e, XFIELD(C(abi), blkif_request, operation), op);
	xfield__set(e, XFIELD(C(abi), blkif_request, nr_segments), nseg);
	xfield__set(e, XFIELD(C(abi), blkif_request, id), id);
	xfield__set(e, XFIELD(C(abi), blkif_request, sector_number), sector);
	if (seg)
		memcpy(e + XFIELD(C(abi), blkif_request, seg).off, seg,
		       (nseg < 11 ? nseg : 11) * sizeof(*seg));
}

static void entry_discard(uint8_t *e, enum blk_abi abi, uint64_t id, uint64_t sector, uint64_t n)
{
	memset(e, 0, blk__entry_size(abi));
	xfield__set(e, XFIELD(C(abi), blkif_request, operation), BLKIF_OP_DISCARD);
	xfield__set(e, XFIELD(C(abi), blkif_request_discard, id), id);
	xfield__set(e, XFIELD(C(abi), blkif_request_discard, sector_number), sector);
	xfield__set(e, XFIELD(C(abi), blkif_request_discard, nr_sectors), n);
}

static void entry_indirect(uint8_t *e, enum blk_abi abi, uint8_t op, uint64_t id, uint64_t sector,
			   unsigned nseg, const grant_ref_t *pages, unsigned nr_pages)
{
	struct xfield grefs = XFIELD(C(abi), blkif_request_indirect, indirect_grefs);

	memset(e, 0, blk__entry_size(abi));
	xfield__set(e, XFIELD(C(abi), blkif_request, operation), BLKIF_OP_INDIRECT);
	xfield__set(e, XFIELD(C(abi), blkif_request_indirect, indirect_op), op);
	xfield__set(e, XFIELD(C(abi), blkif_request_indirect, nr_segments), nseg);
	xfield__set(e, XFIELD(C(abi), blkif_request_indirect, id), id);
	xfield__set(e, XFIELD(C(abi), blkif_request_indirect, sector_number), sector);
	memcpy(e + grefs.off, pages, nr_pages * sizeof(grant_ref_t));
}

static struct blkif_request_segment seg(grant_ref_t ref, uint8_t first, uint8_t last)
{
	return (struct blkif_request_segment){ .gref = ref, .first_sect = first, .last_sect = last };
}

/* ---- layouts ---- */

START_TEST(layouts_of_both_abis)
{
	/* The x86_32 layout: 64-bit fields 4-byte aligned (Linux's
	 * blkif_x86_32_request); x86_64 the native one. */
	ck_assert_uint_eq(blk__entry_size(BLK_ABI_X86_64), 112);
	ck_assert_uint_eq(blk__entry_size(BLK_ABI_X86_32), 108);
	ck_assert_uint_eq(blk__response_size(BLK_ABI_X86_64), 16);
	ck_assert_uint_eq(blk__response_size(BLK_ABI_X86_32), 12);
	ck_assert_uint_eq(XFIELD(false, blkif_request, id).off, 8);
	ck_assert_uint_eq(XFIELD(true, blkif_request, id).off, 4);
	ck_assert_uint_eq(XFIELD(false, blkif_request, sector_number).off, 16);
	ck_assert_uint_eq(XFIELD(true, blkif_request, sector_number).off, 12);
	ck_assert_uint_eq(XFIELD(false, blkif_request, seg).off, 24);
	ck_assert_uint_eq(XFIELD(true, blkif_request, seg).off, 20);
	ck_assert_uint_eq(XFIELD(false, blkif_request_discard, nr_sectors).off, 24);
	ck_assert_uint_eq(XFIELD(true, blkif_request_discard, nr_sectors).off, 20);
	ck_assert_uint_eq(XFIELD(false, blkif_request_indirect, indirect_grefs).off, 28);
	ck_assert_uint_eq(XFIELD(true, blkif_request_indirect, indirect_grefs).off, 24);
	ck_assert_uint_eq(XSIZE(true, blkif_request_indirect), 64);
	ck_assert_uint_eq(XFIELD(true, blkif_response, status).off, 10);
}
END_TEST

START_TEST(native_struct_and_generated_layout_agree)
{
	union blkif_sring_entry native;
	uint8_t e[112];
	struct blk_request a, b;

	memset(&native, 0, sizeof(native));
	native.req = (struct blkif_request){
		.operation = BLKIF_OP_WRITE, .nr_segments = 2, .id = 0x1122334455667788ULL,
		.sector_number = 40, .seg = { seg(7, 0, 7), seg(8, 1, 3) },
	};
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 0x1122334455667788ULL, 40, 2, native.req.seg);
	ck_assert_int_eq(blk__parse(&native, BLK_ABI_X86_64, &rw_limits, &a), BLK_OK);
	ck_assert_int_eq(blk__parse(e, BLK_ABI_X86_64, &rw_limits, &b), BLK_OK);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	ck_assert_uint_eq(a.nr_sectors, 8 + 3);
	ck_assert_uint_eq(a.kind, BLK_KIND_WRITE);
}
END_TEST

START_TEST(requests_decode_in_both_abis)
{
	static const enum blk_abi abis[] = { BLK_ABI_X86_64, BLK_ABI_X86_32 };
	struct blkif_request_segment s[2] = { seg(9, 0, 7), seg(10, 2, 5) };
	grant_ref_t pages[1] = { 77 };
	uint8_t e[112];
	struct blk_request r;

	for (int i = 0; i < 2; i++) {
		enum blk_abi abi = abis[i];

		entry_rw(e, abi, BLKIF_OP_READ, 0xabcdef0123ULL, 100, 2, s);
		ck_assert_int_eq(blk__parse(e, abi, &rw_limits, &r), BLK_OK);
		ck_assert_uint_eq(r.id, 0xabcdef0123ULL);
		ck_assert_uint_eq(r.sector, 100);
		ck_assert_uint_eq(r.nr_segments, 2);
		ck_assert_uint_eq(r.seg[1].gref, 10);
		ck_assert_uint_eq(r.nr_sectors, 12);
		ck_assert(blk__writes_guest(&r));

		entry_discard(e, abi, 5, 64, 128);
		ck_assert_int_eq(blk__parse(e, abi, &rw_limits, &r), BLK_OK);
		ck_assert_uint_eq(r.kind, BLK_KIND_DISCARD);
		ck_assert_uint_eq(r.sector, 64);
		ck_assert_uint_eq(r.nr_sectors, 128);
		ck_assert_uint_eq(r.id, 5);

		entry_indirect(e, abi, BLKIF_OP_WRITE, 6, 8, 200, pages, 1);
		ck_assert_int_eq(blk__parse(e, abi, &rw_limits, &r), BLK_OK);
		ck_assert(r.indirect);
		ck_assert_uint_eq(r.kind, BLK_KIND_WRITE);
		ck_assert_uint_eq(r.operation, BLKIF_OP_WRITE);    /* answered as a write */
		ck_assert_uint_eq(r.nr_segments, 200);
		ck_assert_uint_eq(r.nr_indirect_pages, 1);
		ck_assert_uint_eq(r.indirect_gref[0], 77);
		ck_assert_uint_eq(r.sector, 8);
		ck_assert_uint_eq(r.id, 6);
		ck_assert(!blk__writes_guest(&r));
	}
}
END_TEST

START_TEST(responses_in_both_abis)
{
	uint8_t b[16];

	memset(b, 0xee, sizeof(b));
	ck_assert_uint_eq(blk__encode_response(b, BLK_ABI_X86_32, 0x0102030405060708ULL,
					       BLKIF_OP_WRITE, BLKIF_RSP_ERROR), 12);
	ck_assert_uint_eq(b[0], 0x08);
	ck_assert_uint_eq(b[7], 0x01);
	ck_assert_uint_eq(b[8], BLKIF_OP_WRITE);
	ck_assert_uint_eq(b[10], 0xff);
	ck_assert_uint_eq(b[11], 0xff);
	ck_assert_uint_eq(b[12], 0xee);       /* nothing past its 12 bytes */

	struct blkif_response native;
	ck_assert_uint_eq(blk__encode_response(&native, BLK_ABI_X86_64, 42, BLKIF_OP_DISCARD,
					       BLKIF_RSP_EOPNOTSUPP), sizeof(native));
	ck_assert_uint_eq(native.id, 42);
	ck_assert_uint_eq(native.operation, BLKIF_OP_DISCARD);
	ck_assert_int_eq(native.status, BLKIF_RSP_EOPNOTSUPP);
}
END_TEST

/* ---- the validation table: every reason ---- */

enum shape { RW, DISCARD, INDIRECT };

struct vcase {
	const char *what;
	enum shape shape;
	uint8_t op;             /* RW: operation; INDIRECT: indirect_op */
	unsigned nseg;
	uint64_t sector;
	uint64_t nr;            /* DISCARD: sectors */
	uint8_t first, last;    /* every segment's */
	bool readonly, no_flush, no_discard, no_indirect;
	enum blk_verdict want;
	int16_t status;
};

static const struct vcase vcases[] = {
	{ "read", RW, BLKIF_OP_READ, 1, 0, 0, 0, 7, .want = BLK_OK, .status = BLKIF_RSP_OKAY },
	{ "11 segments to the last sector", RW, BLKIF_OP_WRITE, 11, SECTORS - 88, 0, 0, 7,
	  .want = BLK_OK },
	{ "partial sectors", RW, BLKIF_OP_READ, 3, 5, 0, 3, 3, .want = BLK_OK },
	{ "empty flush", RW, BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, 0, .want = BLK_OK },
	{ "flush with data", RW, BLKIF_OP_FLUSH_DISKCACHE, 2, 8, 0, 0, 7, .want = BLK_OK },
	{ "discard to the end", DISCARD, 0, 0, SECTORS - 8, 8, .want = BLK_OK },
	{ "discard of nothing", DISCARD, 0, 0, SECTORS, 0, .want = BLK_OK },
	{ "indirect, 256 segments", INDIRECT, BLKIF_OP_WRITE, 256, 0, 0, 0, 7, .want = BLK_OK },
	{ "read from a read-only disk", RW, BLKIF_OP_READ, 1, 0, 0, 0, 7, .readonly = true,
	  .want = BLK_OK },
	{ "empty flush of a read-only disk", RW, BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, 0,
	  .readonly = true, .want = BLK_OK },

	{ "write barrier", RW, BLKIF_OP_WRITE_BARRIER, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },
	{ "reserved operation", RW, BLKIF_OP_RESERVED_1, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },
	{ "unknown operation", RW, 200, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },
	{ "flush not offered", RW, BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, 0, .no_flush = true,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },
	{ "discard not offered", DISCARD, 0, 0, 0, 8, .no_discard = true,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },
	{ "indirect not offered", INDIRECT, BLKIF_OP_READ, 8, 0, 0, 0, 7, .no_indirect = true,
	  .want = BLK_BAD_OPERATION, .status = BLKIF_RSP_EOPNOTSUPP },

	{ "write to a read-only disk", RW, BLKIF_OP_WRITE, 1, 0, 0, 0, 7, .readonly = true,
	  .want = BLK_BAD_READONLY, .status = BLKIF_RSP_ERROR },
	{ "discard on a read-only disk", DISCARD, 0, 0, 0, 8, .readonly = true,
	  .want = BLK_BAD_READONLY, .status = BLKIF_RSP_ERROR },
	{ "flush with data on a read-only disk", RW, BLKIF_OP_FLUSH_DISKCACHE, 1, 0, 0, 0, 7,
	  .readonly = true, .want = BLK_BAD_READONLY, .status = BLKIF_RSP_ERROR },
	{ "indirect write to a read-only disk", INDIRECT, BLKIF_OP_WRITE, 16, 0, 0, 0, 7,
	  .readonly = true, .want = BLK_BAD_READONLY, .status = BLKIF_RSP_ERROR },

	{ "read of no segment", RW, BLKIF_OP_READ, 0, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },
	{ "write of 12 segments", RW, BLKIF_OP_WRITE, 12, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },
	{ "flush with 255 segments", RW, BLKIF_OP_FLUSH_DISKCACHE, 255, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },
	{ "indirect of no segment", INDIRECT, BLKIF_OP_READ, 0, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },
	{ "indirect of 257 segments", INDIRECT, BLKIF_OP_READ, 257, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },
	{ "indirect of 65535 segments", INDIRECT, BLKIF_OP_READ, 65535, 0, 0, 0, 7,
	  .want = BLK_BAD_NR_SEGMENTS, .status = BLKIF_RSP_ERROR },

	{ "indirect flush", INDIRECT, BLKIF_OP_FLUSH_DISKCACHE, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_INDIRECT_OP, .status = BLKIF_RSP_ERROR },
	{ "indirect discard", INDIRECT, BLKIF_OP_DISCARD, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_INDIRECT_OP, .status = BLKIF_RSP_ERROR },
	{ "indirect indirect", INDIRECT, BLKIF_OP_INDIRECT, 1, 0, 0, 0, 7,
	  .want = BLK_BAD_INDIRECT_OP, .status = BLKIF_RSP_ERROR },

	{ "first_sect after last_sect", RW, BLKIF_OP_READ, 1, 0, 0, 5, 4,
	  .want = BLK_BAD_SEGMENT, .status = BLKIF_RSP_ERROR },
	{ "last_sect past the page", RW, BLKIF_OP_WRITE, 1, 0, 0, 0, 8,
	  .want = BLK_BAD_SEGMENT, .status = BLKIF_RSP_ERROR },
	{ "last_sect 255", RW, BLKIF_OP_WRITE, 2, 0, 0, 255, 255,
	  .want = BLK_BAD_SEGMENT, .status = BLKIF_RSP_ERROR },

	{ "read at the end", RW, BLKIF_OP_READ, 1, SECTORS, 0, 0, 0,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "write across the end", RW, BLKIF_OP_WRITE, 1, SECTORS - 7, 0, 0, 7,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "sector that wraps", RW, BLKIF_OP_WRITE, 2, UINT64_MAX - 8, 0, 0, 7,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "flush with data past the end", RW, BLKIF_OP_FLUSH_DISKCACHE, 1, SECTORS, 0, 0, 7,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "discard across the end", DISCARD, 0, 0, SECTORS - 8, 9,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "discard that wraps", DISCARD, 0, 0, 1ULL << 63, 1ULL << 63,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
	{ "discard of 2^64-1 sectors", DISCARD, 0, 0, 0, UINT64_MAX,
	  .want = BLK_BAD_RANGE, .status = BLKIF_RSP_ERROR },
};

static enum blk_verdict run_case(const struct vcase *c, enum blk_abi abi, struct blk_request *r)
{
	struct blk_limits lim = rw_limits;
	struct blkif_request_segment segs[BLK_MAX_SEGMENTS + 1];
	grant_ref_t pages[2] = { 1, 2 };
	uint8_t e[112];
	enum blk_verdict v;

	lim.readonly = c->readonly;
	lim.flush = !c->no_flush;
	lim.discard = !c->no_discard;
	lim.max_indirect_segments = c->no_indirect ? 0 : BLK_MAX_INDIRECT_SEGMENTS;
	for (unsigned i = 0; i <= BLK_MAX_SEGMENTS; i++)
		segs[i] = seg(DATA_REF + i, c->first, c->last);
	switch (c->shape) {
	case RW:
		entry_rw(e, abi, c->op, 99, c->sector, c->nseg, segs);
		break;
	case DISCARD:
		entry_discard(e, abi, 99, c->sector, c->nr);
		break;
	case INDIRECT:
		entry_indirect(e, abi, c->op, 99, c->sector, c->nseg, pages, 2);
		break;
	}
	v = blk__parse(e, abi, &lim, r);
	ck_assert_uint_eq(r->id, 99);   /* always there to answer with */
	if (v == BLK_OK && r->indirect)
		v = blk__check_segments(r, segs, &lim);
	return v;
}

START_TEST(validation_table)
{
	const struct vcase *c = &vcases[_i];
	struct blk_request r;

	for (int abi = BLK_ABI_X86_64; abi <= BLK_ABI_X86_32; abi++) {
		enum blk_verdict v = run_case(c, (enum blk_abi)abi, &r);

		ck_assert_msg(v == c->want, "%s (%s): got %s, want %s", c->what,
			      abi ? "x86_32" : "x86_64", blk__verdict_name(v),
			      blk__verdict_name(c->want));
		ck_assert_int_eq(blk__status(v), c->status);
		if (v == BLK_OK && r.kind != BLK_KIND_DISCARD)
			/* What passes stays inside the image. */
			ck_assert(r.sector + r.nr_sectors <= SECTORS);
	}
}
END_TEST

START_TEST(every_verdict_is_in_the_table)
{
	bool seen[BLK_NR_VERDICTS] = { false };

	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++)
		seen[vcases[i].want] = true;
	seen[BLK_BAD_GRANT] = true;     /* a backend check: see the backend tests */
	for (int v = 0; v < BLK_NR_VERDICTS; v++) {
		ck_assert_msg(seen[v], "no case for %s", blk__verdict_name((enum blk_verdict)v));
		ck_assert_str_ne(blk__verdict_name((enum blk_verdict)v), "invalid");
	}
	ck_assert_int_eq(blk__status(BLK_BAD_GRANT), BLKIF_RSP_ERROR);
}
END_TEST

/* ---- discard granularity ---- */

START_TEST(discard_punches_whole_granules_only)
{
	uint64_t off = 0, len = 0;

	/* Granules of 4 KiB from byte 0: sectors 8..15 are one. */
	ck_assert(blk__discard_extent(8, 8, 4096, 0, &off, &len));
	ck_assert_uint_eq(off, 4096);
	ck_assert_uint_eq(len, 4096);
	/* Sectors 1..22 cover only the granule at 4096 wholly. */
	ck_assert(blk__discard_extent(1, 22, 4096, 0, &off, &len));
	ck_assert_uint_eq(off, 4096);
	ck_assert_uint_eq(len, 4096);
	/* Sectors 1..14: no whole granule. */
	ck_assert(!blk__discard_extent(1, 14, 4096, 0, &off, &len));
	ck_assert(!blk__discard_extent(100, 0, 4096, 0, &off, &len));
	/* Granules shifted by discard-alignment 1024: 1024, 5120, ... */
	ck_assert(blk__discard_extent(0, 24, 4096, 1024, &off, &len));
	ck_assert_uint_eq(off, 1024);
	ck_assert_uint_eq(len, 8192);
	ck_assert(!blk__discard_extent(0, 2, 4096, 1024, &off, &len));
	/* Sector granularity: exactly the range. */
	ck_assert(blk__discard_extent(3, 5, 512, 0, &off, &len));
	ck_assert_uint_eq(off, 1536);
	ck_assert_uint_eq(len, 2560);
	/* A granularity that is not a power of two still rounds inward. */
	ck_assert(blk__discard_extent(1, 30, 3072, 0, &off, &len));
	ck_assert_uint_eq(off, 3072);
	ck_assert_uint_eq(len, 12288);
	/* The last granule of the disk. */
	ck_assert(blk__discard_extent(SECTORS - 8, 8, 4096, 0, &off, &len));
	ck_assert_uint_eq(off + len, (uint64_t)SECTORS * 512);
}
END_TEST

/* ---- xvd numbering ---- */

START_TEST(xvd_numbers_and_names)
{
	char name[16];

	ck_assert_uint_eq(blk__xvd_devid(0), 51712);
	ck_assert_uint_eq(blk__xvd_devid(1), 51728);
	ck_assert_uint_eq(blk__xvd_devid(15), 51952);
	ck_assert_uint_eq(blk__xvd_devid(16), (1u << 28) | (16u << 8));
	ck_assert(blk__xvd_name(51712, name, sizeof(name)));
	ck_assert_str_eq(name, "xvda");
	ck_assert(blk__xvd_name(51728, name, sizeof(name)));
	ck_assert_str_eq(name, "xvdb");
	ck_assert(blk__xvd_name(51713, name, sizeof(name)));
	ck_assert_str_eq(name, "xvda1");
	ck_assert(blk__xvd_name(blk__xvd_devid(16), name, sizeof(name)));
	ck_assert_str_eq(name, "xvdq");
	ck_assert(blk__xvd_name(blk__xvd_devid(26), name, sizeof(name)));
	ck_assert_str_eq(name, "xvdaa");
	/* vbd-interface.txt's example: d536p37 is xvdtq37. */
	ck_assert(blk__xvd_name((1u << 28) | (536u << 8) | 37, name, sizeof(name)));
	ck_assert_str_eq(name, "xvdtq37");
	ck_assert(!blk__xvd_name(768, name, sizeof(name)));         /* hda */
	ck_assert(!blk__xvd_name(2u << 28, name, sizeof(name)));
	ck_assert(!blk__xvd_name(51712, name, 4));                  /* no room */
}
END_TEST

/* ---- images ---- */

static char tmp_path[PATH_MAX];

static const char *make_file(const char *name, uint64_t size)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "%s/blkif-%d-%s", TEST_TMPDIR, getpid(), name);
	fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return tmp_path;
}

static void open_fails(const char *path, bool readonly, const char *needle)
{
	struct blk_image img;
	char err[512] = "";

	ck_assert_int_eq(image__open(&img, path, readonly, false, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, needle), "'%s' lacks '%s'", err, needle);
	ck_assert_msg(strstr(err, path), "'%s' does not name the file", err);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_int_eq(img.fd, -1);
}

START_TEST(image_open_errors_name_the_file)
{
	char dir[PATH_MAX], fifo[PATH_MAX];
	const char *odd;

	snprintf(dir, sizeof(dir), "%s/blkif-%d-dir", TEST_TMPDIR, getpid());
	snprintf(fifo, sizeof(fifo), "%s/blkif-%d-fifo", TEST_TMPDIR, getpid());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	open_fails("/nonexistent/disk.img", false, "does not exist");
	open_fails(dir, false, "is a directory");
	open_fails(dir, true, "is a directory");
	open_fails(fifo, true, "not a regular file or block device");
	open_fails("/dev/null", true, "not a regular file or block device");
	odd = make_file("odd", 1000);
	open_fails(odd, false, "not a multiple of 512");
	unlink(odd);
	if (geteuid() != 0) {
		const char *secret = make_file("secret", 4096);

		chmod(secret, 0);
		open_fails(secret, true, "Permission denied");
		unlink(secret);
	}
	rmdir(dir);
	unlink(fifo);
}
END_TEST

START_TEST(image_sizes_and_geometry)
{
	struct blk_image img;
	char err[256];
	const char *p = make_file("size", 3 * 512);

	ck_assert_int_eq(image__open(&img, p, false, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(img.size, 1536);
	ck_assert(!img.block_device);
	/* physical-sector-size divides the disk. */
	ck_assert_uint_eq(img.physical_block, 512);
	ck_assert_uint_ge(img.discard_granularity, 512);
	image__close(&img);
	p = make_file("size", 1 << 20);
	ck_assert_int_eq(image__open(&img, p, true, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(img.size % img.physical_block, 0);
	ck_assert(img.readonly);
	image__close(&img);
	p = make_file("size", 0);
	ck_assert_int_eq(image__open(&img, p, false, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(img.size, 0);
	image__close(&img);
	unlink(p);
}
END_TEST

START_TEST(image_locks_keep_writers_apart)
{
	struct blk_image a, b, c;
	char err[512];
	const char *p = make_file("lock", 8192);

	ck_assert_int_eq(image__open(&a, p, false, false, err, sizeof(err)), 0);
	open_fails(p, false, "is in use");
	open_fails(p, true, "is in use");
	image__close(&a);
	/* Readers share; a writer waits for all of them to go. */
	ck_assert_int_eq(image__open(&a, p, true, false, err, sizeof(err)), 0);
	ck_assert_int_eq(image__open(&b, p, true, false, err, sizeof(err)), 0);
	open_fails(p, false, "is in use");
	image__close(&a);
	open_fails(p, false, "is in use");
	image__close(&b);
	ck_assert_int_eq(image__open(&c, p, false, true, err, sizeof(err)), 0);
	open_fails(p, false, "is in use");
	image__close(&c);
	unlink(p);
}
END_TEST

START_TEST(image_direct_io_alignment)
{
	struct blk_image img;
	char err[256];
	const char *p = make_file("direct", 1 << 20);
	static uint8_t buf[3 * 4096] __attribute__((aligned(4096)));
	struct iovec aligned = { buf, 4096 }, odd_mem = { buf + 1, 512 }, short_len = { buf, 100 };

	ck_assert_int_eq(image__open(&img, p, false, true, err, sizeof(err)), 0);
	ck_assert(img.direct);
	ck_assert_int_ge(img.buffered_fd, 0);
	ck_assert_int_ne(img.buffered_fd, img.fd);
	ck_assert_int_eq(image__fd_for(&img, &aligned, 1, 0), img.fd);
	ck_assert_int_eq(image__fd_for(&img, &aligned, 1, 4096), img.fd);
	ck_assert_int_eq(image__fd_for(&img, &odd_mem, 1, 0), img.buffered_fd);
	ck_assert_int_eq(image__fd_for(&img, &short_len, 1, 0), img.buffered_fd);
	ck_assert_int_eq(image__fd_for(&img, &aligned, 1, 1), img.buffered_fd);
	/* Either way the data lands in the one file. */
	memset(buf, 0x5a, 4096);
	ck_assert_int_eq(pwrite(img.fd, buf, 4096, 8192), 4096);
	memset(buf + 4096, 0, 4096);
	ck_assert_int_eq(pread(img.buffered_fd, buf + 4096, 4096, 8192), 4096);
	ck_assert_mem_eq(buf, buf + 4096, 4096);
	image__close(&img);
	unlink(p);
}
END_TEST

/* ---- the I/O engine, io_uring and synchronous ---- */

struct reaped {
	struct blk_io_op *op[8];
	int err[8];
	int n;
};

static void on_reaped(struct blk_io_op *op, int err, void *opaque)
{
	struct reaped *r = opaque;

	r->op[r->n] = op;
	r->err[r->n++] = err;
}

static void reap_all(struct blk_io *io, struct reaped *r, int want)
{
	while (r->n < want)
		blk_io__reap(io, true, on_reaped, r);
	ck_assert_int_eq(r->n, want);
	ck_assert_uint_eq(io->in_flight, 0);
}

static void io_engine(bool sync)
{
	struct blk_image img, ro;
	struct blk_io io;
	struct reaped r = { .n = 0 };
	char err[256];
	const char *p = make_file("io", 1 << 20);
	static uint8_t a[8192], b[8192];
	struct iovec wv[2] = { { a, 4096 }, { a + 4096, 4096 } }, rv[2] = { { b, 512 }, { b + 512, 7680 } };
	struct blk_io_op w = { .kind = BLK_IO_WRITE, .iov = wv, .iovcnt = 2, .offset = 65536 };
	struct blk_io_op f = { .kind = BLK_IO_FLUSH, .flags = BLK_IO_AFTER_ALL };
	struct blk_io_op rd = { .kind = BLK_IO_READ, .iov = rv, .iovcnt = 2, .offset = 65536 };
	struct blk_io_op d = { .kind = BLK_IO_DISCARD, .offset = 65536, .length = 4096 };

	for (int i = 0; i < 8192; i++)
		a[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(image__open(&img, p, false, false, err, sizeof(err)), 0);
	ck_assert_int_eq(blk_io__init(&io, &img, 8, sync), 0);
	ck_assert(io.uring == !sync);
	blk_io__submit(&io, &w);
	blk_io__submit(&io, &f);
	blk_io__kick(&io);
	reap_all(&io, &r, 2);
	ck_assert_int_eq(r.err[0] | r.err[1], 0);
	blk_io__submit(&io, &rd);
	blk_io__kick(&io);
	reap_all(&io, &r, 3);
	ck_assert_int_eq(r.err[2], 0);
	ck_assert_mem_eq(a, b, 8192);
	blk_io__submit(&io, &d);
	blk_io__kick(&io);
	reap_all(&io, &r, 4);
	ck_assert_int_eq(r.err[3], 0);
	ck_assert_int_eq(pread(img.fd, b, 8192, 65536), 8192);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(b[i], 0);
	ck_assert_mem_eq(a + 4096, b + 4096, 4096);
	blk_io__destroy(&io);
	image__close(&img);

	/* A failed operation cancels the one it guards. */
	ck_assert_int_eq(image__open(&ro, p, true, false, err, sizeof(err)), 0);
	ck_assert_int_eq(blk_io__init(&io, &ro, 8, sync), 0);
	wv[0] = (struct iovec){ a, 4096 };
	rv[0] = (struct iovec){ b, 4096 };
	w = (struct blk_io_op){ .kind = BLK_IO_WRITE, .flags = BLK_IO_THEN, .iov = wv, .iovcnt = 1 };
	rd = (struct blk_io_op){ .kind = BLK_IO_READ, .iov = rv, .iovcnt = 1 };
	r.n = 0;
	blk_io__submit(&io, &w);
	blk_io__submit(&io, &rd);
	blk_io__kick(&io);
	reap_all(&io, &r, 2);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(r.err[i], r.op[i] == &w ? -EBADF : -ECANCELED);
	blk_io__destroy(&io);
	image__close(&ro);
	unlink(p);
}

START_TEST(io_engine_with_io_uring)
{
	io_engine(false);
}
END_TEST

START_TEST(io_engine_synchronous)
{
	io_engine(true);
}
END_TEST

/* ================= the backend, end to end ================= */

static struct vm vm;
static struct vm_config cfg;
static char img_path[PATH_MAX];
static int img_fd;
static struct kvm_run *run;
static struct vcpu cpu;
static grant_entry_v1_t *gt[2];         /* two frames: refs 0..1023 */

static uint8_t *gpage(uint64_t gfn)
{
	uint8_t *p = gmem__frame(&vm.mem, gfn);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void grant(grant_ref_t ref, uint64_t gfn, bool readonly)
{
	grant_entry_v1_t *e = &gt[ref / 512][ref % 512];

	e->domid = 0;
	e->frame = (uint32_t)gfn;
	__atomic_store_n(&e->flags, GTF_permit_access | (readonly ? GTF_readonly : 0),
			 __ATOMIC_SEQ_CST);
}

static uint16_t grant_flags(grant_ref_t ref)
{
	return __atomic_load_n(&gt[ref / 512][ref % 512].flags, __ATOMIC_SEQ_CST);
}

static long evtchn_op(unsigned cmd, const void *arg, size_t len)
{
	struct hcall hc = {
		.vcpu = &cpu, .vm = &vm, .nr = __HYPERVISOR_event_channel_op,
		.arg = { cmd, SCRATCH },
	};

	ck_assert_int_eq(gmem__write(&vm.mem, SCRATCH, arg, len), 0);
	return hc__event_channel_op(&hc);
}

static uint32_t alloc_port(void)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = 0 };

	ck_assert_int_eq(evtchn_op(EVTCHNOP_alloc_unbound, &a, sizeof(a)), 0);
	ck_assert_int_eq(gmem__read(&vm.mem, SCRATCH, &a, sizeof(a)), 0);
	return a.port;
}

static void send_event(uint32_t port)
{
	struct evtchn_send s = { .port = port };

	ck_assert_int_eq(evtchn_op(EVTCHNOP_send, &s, sizeof(s)), 0);
}

/* Whether port is pending in shared_info, clearing it. */
static bool take_pending(uint32_t port)
{
	uint8_t *b = gpage(SHINFO_GFN) + XFIELD(false, shared_info, evtchn_pending).off + port / 8;

	return __atomic_fetch_and(b, (uint8_t)~(1u << (port % 8)), __ATOMIC_SEQ_CST) &
	       (1u << (port % 8));
}

static double now(void);

/* Waits up to 5 s for port to turn pending, clearing it. */
static bool wait_pending(uint32_t port)
{
	double end = now() + 5;

	while (!take_pending(port))
		if (now() > end)
			return false;
	return true;
}

static void xs_put(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xs_put(const char *path, const char *fmt, ...)
{
	char value[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(xs__write(vm.xenstored->store, path, value), 0);
}

/* The value at path, or "" when absent; the caller frees. */
static char *xs_get(const char *path)
{
	char *v = NULL;

	if (xs__read(vm.xenstored->store, path, &v))
		return strdup("");
	return v;
}

static void expect_key(const char *key, const char *want)
{
	char path[256], *v;

	snprintf(path, sizeof(path), "%s", key);
	v = xs_get(path);
	ck_assert_msg(!strcmp(v, want), "%s is '%s', want '%s'", path, v, want);
	free(v);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void wait_state(const char *dir, int state)
{
	char path[256], want[4];
	double end = now() + 10;

	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(want, sizeof(want), "%d", state);
	for (;;) {
		char *v = xs_get(path);
		bool ok = !strcmp(v, want);

		free(v);
		if (ok)
			return;
		ck_assert_msg(now() < end, "%s never became %d", path, state);
		usleep(1000);
	}
}

/* ---- the test's blkfront ---- */

struct front {
	enum blk_abi abi;
	unsigned queue;
	unsigned nr_pages;
	uint8_t *ring;          /* nr_pages contiguous guest pages */
	uint32_t size;          /* entries */
	size_t entry;
	uint32_t port;
	uint32_t req_prod, rsp_cons;
};

static uint32_t *idx(struct front *f, size_t off)
{
	return (uint32_t *)(f->ring + off);
}

#define REQ_PROD  offsetof(struct blkif_sring, req_prod)
#define RSP_PROD  offsetof(struct blkif_sring, rsp_prod)
#define RSP_EVENT offsetof(struct blkif_sring, rsp_event)
#define ENTRIES   offsetof(struct blkif_sring, ring)

static void front_init(struct front *f, enum blk_abi abi, unsigned queue, unsigned order)
{
	uint64_t gfn = RING_GFN + 16 * queue;

	memset(f, 0, sizeof(*f));
	f->abi = abi;
	f->queue = queue;
	f->nr_pages = 1u << order;
	f->ring = gmem__ptr(&vm.mem, gfn * PG, f->nr_pages * PG);
	ck_assert_ptr_nonnull(f->ring);
	memset(f->ring, 0, f->nr_pages * PG);
	f->entry = blk__entry_size(abi);
	f->size = 1;
	while (f->size * 2 <= (f->nr_pages * PG - ENTRIES) / f->entry)
		f->size *= 2;
	/* SHARED_RING_INIT: the frontend wants every response event. */
	*idx(f, RSP_EVENT) = 1;
	for (unsigned p = 0; p < f->nr_pages; p++)
		grant(RING_REF + 16 * queue + p, gfn + p, false);
	f->port = alloc_port();
}

/* Publishes the keys of nr queues (fronts[]) and goes Initialised. */
static void front_connect(struct front *fronts, unsigned nr, bool persistent)
{
	char path[256], prefix[32] = "";
	unsigned order = 0;

	while ((1u << order) < fronts[0].nr_pages)
		order++;
	xs_put(FE "/protocol", "%s", fronts[0].abi == BLK_ABI_X86_32 ? XEN_IO_PROTO_ABI_X86_32 :
	       XEN_IO_PROTO_ABI_X86_64);
	if (order)
		xs_put(FE "/ring-page-order", "%u", order);
	if (nr > 1)
		xs_put(FE "/multi-queue-num-queues", "%u", nr);
	xs_put(FE "/feature-persistent", "%d", persistent);
	for (unsigned q = 0; q < nr; q++) {
		if (nr > 1)
			snprintf(prefix, sizeof(prefix), "/queue-%u", q);
		for (unsigned p = 0; p < fronts[q].nr_pages; p++) {
			if (order)
				snprintf(path, sizeof(path), FE "%s/ring-ref%u", prefix, p);
			else
				snprintf(path, sizeof(path), FE "%s/ring-ref", prefix);
			xs_put(path, "%u", RING_REF + 16 * q + p);
		}
		snprintf(path, sizeof(path), FE "%s/event-channel", prefix);
		xs_put(path, "%u", fronts[q].port);
	}
	xs_put(FE "/state", "%d", XenbusStateInitialised);
	wait_state(BE, XenbusStateConnected);
	xs_put(FE "/state", "%d", XenbusStateConnected);
}

static void front_put(struct front *f, const uint8_t *e)
{
	size_t off = ENTRIES + (f->req_prod & (f->size - 1)) * f->entry;

	memcpy(f->ring + off, e, f->entry);
	f->req_prod++;
}

/* RING_PUSH_REQUESTS, then a notification. */
static void front_push(struct front *f)
{
	__atomic_store_n(idx(f, REQ_PROD), f->req_prod, __ATOMIC_RELEASE);
	send_event(f->port);
}

struct rsp {
	uint64_t id;
	uint8_t op;
	int16_t status;
};

/* Waits for and takes n responses. */
static void front_get(struct front *f, unsigned n, struct rsp *out)
{
	double end = now() + 20;

	for (unsigned i = 0; i < n; i++) {
		while (__atomic_load_n(idx(f, RSP_PROD), __ATOMIC_ACQUIRE) == f->rsp_cons) {
			ck_assert_msg(now() < end, "response %u of %u never came", i, n);
			usleep(200);
		}
		const uint8_t *r = f->ring + ENTRIES + (f->rsp_cons & (f->size - 1)) * f->entry;
		memcpy(&out[i].id, r, 8);
		out[i].op = r[8];
		memcpy(&out[i].status, r + 10, 2);
		f->rsp_cons++;
		*idx(f, RSP_EVENT) = f->rsp_cons + 1;
	}
	ck_assert_uint_eq(__atomic_load_n(idx(f, RSP_PROD), __ATOMIC_ACQUIRE), f->rsp_cons);
}

/* One request, its response. */
static struct rsp front_do(struct front *f, const uint8_t *e)
{
	struct rsp r;

	front_put(f, e);
	front_push(f);
	front_get(f, 1, &r);
	return r;
}

/* ---- data ---- */

static uint8_t pattern(uint64_t byte, unsigned seed)
{
	return (uint8_t)((byte * 2654435761u) >> 13) ^ (uint8_t)seed;
}

static void fill_page(unsigned i, unsigned seed)
{
	uint8_t *p = gpage(DATA_GFN + i);

	for (unsigned b = 0; b < PG; b++)
		p[b] = pattern(i * PG + b, seed);
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	ck_assert_int_eq(pread(img_fd, buf, len, (off_t)off), (ssize_t)len);
}

static void file_fill(unsigned seed)
{
	static uint8_t buf[SECTORS * 512];

	for (size_t b = 0; b < sizeof(buf); b++)
		buf[b] = pattern(b, seed);
	ck_assert_int_eq(pwrite(img_fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
}

/* ---- fixture ---- */

static void backend_setup_with(bool readonly)
{
	uint64_t gfns[GNTTAB_MAX_FRAMES];

	log__set_level(LOG_ERROR);
	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(gmem__init(&vm.mem, RAM), 0);
	xen__domain_init(&vm);
	vm.xen.has_shared_info = true;
	vm.xen.shared_info_gfn = SHINFO_GFN;
	ck_assert_int_eq(evtchn__init(&vm), 0);
	ck_assert_int_eq(gnttab__init(&vm), 0);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, 2, gfns), GNTST_okay);
	gt[0] = (grant_entry_v1_t *)gpage(gfns[0]);
	gt[1] = (grant_entry_v1_t *)gpage(gfns[1]);
	ck_assert_int_eq(loop__init(&vm.loop), 0);
	ck_assert_int_eq(xenstored__start(&vm, "blkif"), 0);
	run = calloc(1, sizeof(*run));
	run->s.regs.sregs.cr0 = 1;      /* protected mode, paging off */
	cpu = (struct vcpu){ .vm = &vm, .run = run };

	snprintf(img_path, sizeof(img_path), "%s/blkif-%d-disk.img", TEST_TMPDIR, getpid());
	img_fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(img_fd, 0);
	ck_assert_int_eq(ftruncate(img_fd, SECTORS * 512), 0);
	file_fill(0);
	for (unsigned i = 0; i < NR_DATA; i++)
		grant(DATA_REF + i, DATA_GFN + i, false);
	cfg.disk[0] = (struct vm_disk){ .path = img_path, .readonly = readonly, .devid = -1 };
	cfg.nr_disks = 1;
	vm.cfg = &cfg;
	ck_assert_int_eq(blk__open(&vm), 0);
	ck_assert_int_eq(blk__start(&vm), 0);
	wait_state(BE, XenbusStateInitWait);
}

static void backend_setup(void)
{
	backend_setup_with(false);
}

static void backend_setup_readonly(void)
{
	backend_setup_with(true);
}

static void backend_teardown(void)
{
	blk__destroy(&vm);
	ck_assert_ptr_null(vm.blk);
	xenstored__stop(&vm);
	loop__destroy(&vm.loop);
	gnttab__destroy(&vm);
	evtchn__destroy(&vm);
	gmem__free(&vm.mem);
	free(run);
	close(img_fd);
	unlink(img_path);
}

/* ---- tests ---- */

START_TEST(backend_offers_its_features)
{
	char sectors[32];

	snprintf(sectors, sizeof(sectors), "%u", SECTORS);
	expect_key(BE "/sectors", sectors);
	expect_key(BE "/sector-size", "512");
	expect_key(BE "/info", "0");
	expect_key(BE "/mode", "w");
	expect_key(BE "/dev", "xvda");
	expect_key(BE "/feature-flush-cache", "1");
	expect_key(BE "/feature-discard", "1");
	expect_key(BE "/discard-alignment", "0");
	expect_key(BE "/discard-secure", "0");
	expect_key(BE "/feature-max-indirect-segments", "256");
	expect_key(BE "/feature-persistent", "1");
	expect_key(BE "/max-ring-page-order", "4");
	expect_key(BE "/multi-queue-max-queues", "4");
	expect_key(BE "/feature-barrier", "");
	expect_key(BE "/frontend", FE);
	expect_key(FE "/backend", BE);
	expect_key(FE "/virtual-device", "51712");
	expect_key(FE "/device-type", "disk");
	expect_key(FE "/state", "1");
	char *g = xs_get(BE "/discard-granularity"), *p = xs_get(BE "/physical-sector-size");
	ck_assert_int_ge(atoi(g), 512);
	ck_assert_int_ge(atoi(p), 512);
	ck_assert_int_eq((SECTORS * 512) % atoi(p), 0);
	free(g);
	free(p);
}
END_TEST

START_TEST(readonly_disk_offers_no_writes)
{
	struct front f;
	struct blkif_request_segment s = seg(DATA_REF, 0, 7);
	uint8_t e[112], before[PG], after[PG];

	expect_key(BE "/info", "4");
	expect_key(BE "/mode", "r");
	expect_key(BE "/feature-discard", "");
	front_init(&f, BLK_ABI_X86_64, 0, 0);
	front_connect(&f, 1, false);
	file_read(0, before, PG);
	fill_page(0, 9);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 1, 0, 1, &s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
	entry_discard(e, BLK_ABI_X86_64, 2, 0, 8);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 3, 0, 1, &s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
	ck_assert_mem_eq(gpage(DATA_GFN), before, PG);
	file_read(0, after, PG);
	ck_assert_mem_eq(before, after, PG);
}
END_TEST

/* Writes, reads back, flushes and discards through one queue. */
static void roundtrip(enum blk_abi abi, bool persistent)
{
	struct front f;
	struct blkif_request_segment s[11];
	uint8_t e[112], buf[11 * PG];
	struct rsp r;

	front_init(&f, abi, 0, 0);
	front_connect(&f, 1, persistent);
	take_pending(f.port);

	/* 11 whole pages at sector 80. */
	for (unsigned i = 0; i < 11; i++) {
		fill_page(i, 1);
		s[i] = seg(DATA_REF + i, 0, 7);
	}
	entry_rw(e, abi, BLKIF_OP_WRITE, 0x1000, 80, 11, s);
	r = front_do(&f, e);
	ck_assert_uint_eq(r.id, 0x1000);
	ck_assert_uint_eq(r.op, BLKIF_OP_WRITE);
	ck_assert_int_eq(r.status, BLKIF_RSP_OKAY);
	/* The frontend asked to be told; the event follows the response. */
	ck_assert(wait_pending(f.port));
	file_read(80 * 512, buf, sizeof(buf));
	for (unsigned i = 0; i < 11; i++)
		ck_assert_mem_eq(buf + i * PG, gpage(DATA_GFN + i), PG);

	/* Partial sectors: page 20's sectors 2..5 from disk sector 81. */
	memset(gpage(DATA_GFN + 20), 0xcc, PG);
	s[0] = seg(DATA_REF + 20, 2, 5);
	entry_rw(e, abi, BLKIF_OP_READ, 0x1001, 81, 1, s);
	r = front_do(&f, e);
	ck_assert_int_eq(r.status, BLKIF_RSP_OKAY);
	ck_assert_uint_eq(r.op, BLKIF_OP_READ);
	file_read(81 * 512, buf, 4 * 512);
	ck_assert_mem_eq(gpage(DATA_GFN + 20) + 1024, buf, 4 * 512);
	ck_assert_uint_eq(gpage(DATA_GFN + 20)[1023], 0xcc);
	ck_assert_uint_eq(gpage(DATA_GFN + 20)[3072], 0xcc);

	entry_rw(e, abi, BLKIF_OP_FLUSH_DISKCACHE, 0x1002, 0, 0, NULL);
	r = front_do(&f, e);
	ck_assert_int_eq(r.status, BLKIF_RSP_OKAY);
	ck_assert_uint_eq(r.op, BLKIF_OP_FLUSH_DISKCACHE);

	/* A flush carrying data writes it after flushing. */
	fill_page(30, 3);
	s[0] = seg(DATA_REF + 30, 0, 7);
	entry_rw(e, abi, BLKIF_OP_FLUSH_DISKCACHE, 0x1003, 400, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
	file_read(400 * 512, buf, PG);
	ck_assert_mem_eq(buf, gpage(DATA_GFN + 30), PG);

	/* Discard the first two of the written pages: they read as zeros. */
	entry_discard(e, abi, 0x1004, 80, 16);
	r = front_do(&f, e);
	ck_assert_int_eq(r.status, BLKIF_RSP_OKAY);
	ck_assert_uint_eq(r.op, BLKIF_OP_DISCARD);
	file_read(80 * 512, buf, 3 * PG);
	for (unsigned b = 0; b < 2 * PG; b++)
		ck_assert_uint_eq(buf[b], 0);
	ck_assert_mem_eq(buf + 2 * PG, gpage(DATA_GFN + 2), PG);
}

START_TEST(roundtrip_x86_64)
{
	roundtrip(BLK_ABI_X86_64, false);
}
END_TEST

START_TEST(roundtrip_x86_32)
{
	roundtrip(BLK_ABI_X86_32, false);
}
END_TEST

START_TEST(roundtrip_persistent)
{
	roundtrip(BLK_ABI_X86_64, true);
	/* The grants stay mapped, writable, between requests... */
	ck_assert_uint_eq(grant_flags(DATA_REF) & (GTF_reading | GTF_writing),
			  GTF_reading | GTF_writing);
	/* ...until the frontend closes. */
	xs_put(FE "/state", "%d", XenbusStateClosed);
	wait_state(BE, XenbusStateClosed);
	for (unsigned i = 0; i < 40; i++)
		ck_assert_uint_eq(grant_flags(DATA_REF + i), GTF_permit_access);
	ck_assert_uint_eq(grant_flags(RING_REF), GTF_permit_access);
}
END_TEST

START_TEST(grants_are_released_after_each_request)
{
	roundtrip(BLK_ABI_X86_64, false);
	for (unsigned i = 0; i < 40; i++)
		ck_assert_uint_eq(grant_flags(DATA_REF + i), GTF_permit_access);
	/* The ring stays mapped while connected. */
	ck_assert_uint_eq(grant_flags(RING_REF) & (GTF_reading | GTF_writing),
			  GTF_reading | GTF_writing);
}
END_TEST

/* rsp_event: the frontend is told only when it asked to be. */
START_TEST(notifies_only_when_asked)
{
	struct front f;
	struct blkif_request_segment s = seg(DATA_REF, 0, 7);
	uint8_t e[112];

	front_init(&f, BLK_ABI_X86_64, 0, 0);
	front_connect(&f, 1, false);
	take_pending(f.port);
	/* Wake me at the third response. */
	*idx(&f, RSP_EVENT) = 3;
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 1, 0, 1, &s);
	front_put(&f, e);
	front_push(&f);
	while (__atomic_load_n(idx(&f, RSP_PROD), __ATOMIC_ACQUIRE) != 1)
		usleep(100);
	usleep(50000);
	ck_assert(!take_pending(f.port));
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 2, 8, 1, &s);
	front_put(&f, e);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 3, 16, 1, &s);
	front_put(&f, e);
	front_push(&f);
	ck_assert(wait_pending(f.port));
	ck_assert_uint_eq(__atomic_load_n(idx(&f, RSP_PROD), __ATOMIC_ACQUIRE), 3);
}
END_TEST

/* 1 MiB in one indirect request of 256 pages, written then read back. */
static void indirect(enum blk_abi abi, bool persistent)
{
	struct front f;
	struct blkif_request_segment *ind = (void *)gpage(IND_GFN);
	grant_ref_t ipage = IND_REF;
	static uint8_t buf[256 * PG];
	uint8_t e[112];
	struct rsp r;

	front_init(&f, abi, 0, 0);
	front_connect(&f, 1, persistent);
	grant(IND_REF, IND_GFN, true);
	for (unsigned i = 0; i < 256; i++) {
		fill_page(i, 5);
		ind[i] = seg(DATA_REF + i, 0, 7);
	}
	entry_indirect(e, abi, BLKIF_OP_WRITE, 77, 2048, 256, &ipage, 1);
	r = front_do(&f, e);
	ck_assert_int_eq(r.status, BLKIF_RSP_OKAY);
	ck_assert_uint_eq(r.op, BLKIF_OP_WRITE);       /* as Linux's blkback answers */
	ck_assert_uint_eq(r.id, 77);
	file_read(2048 * 512, buf, sizeof(buf));
	for (unsigned i = 0; i < 256; i++)
		ck_assert_mem_eq(buf + i * PG, gpage(DATA_GFN + i), PG);

	/* Read it back into pages in reverse order. */
	for (unsigned i = 0; i < 256; i++) {
		memset(gpage(DATA_GFN + 256 + i), 0, PG);
		ind[i] = seg(DATA_REF + 511 - i, 0, 7);
	}
	entry_indirect(e, abi, BLKIF_OP_READ, 78, 2048, 256, &ipage, 1);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
	for (unsigned i = 0; i < 256; i++)
		ck_assert_mem_eq(buf + i * PG, gpage(DATA_GFN + 511 - i), PG);

	/* A bad segment in the indirect page fails the whole request. */
	ind[100].last_sect = 8;
	entry_indirect(e, abi, BLKIF_OP_READ, 79, 0, 256, &ipage, 1);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
	/* As does an indirect page that is not granted. */
	entry_indirect(e, abi, BLKIF_OP_READ, 80, 0, 8, (grant_ref_t[]){ 999 }, 1);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
}

START_TEST(indirect_1mib_x86_64)
{
	indirect(BLK_ABI_X86_64, false);
}
END_TEST

START_TEST(indirect_1mib_x86_32_persistent)
{
	indirect(BLK_ABI_X86_32, true);
}
END_TEST

/* Order-2 rings on two queues, 120 requests in flight on each. */
START_TEST(multi_page_rings_and_queues)
{
	struct front f[2];
	static struct rsp r[120];
	static uint8_t buf[PG];
	uint8_t e[112];

	front_init(&f[0], BLK_ABI_X86_64, 0, 2);
	front_init(&f[1], BLK_ABI_X86_64, 1, 2);
	ck_assert_uint_eq(f[0].size, 128);
	front_connect(f, 2, false);
	for (unsigned q = 0; q < 2; q++) {
		for (unsigned i = 0; i < 120; i++) {
			unsigned page = q * 120 + i;
			struct blkif_request_segment s = seg(DATA_REF + page, 0, 7);

			fill_page(page, 7);
			entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 1000 + page, page * 8, 1, &s);
			front_put(&f[q], e);
		}
		front_push(&f[q]);
	}
	for (unsigned q = 0; q < 2; q++) {
		bool seen[120] = { false };

		front_get(&f[q], 120, r);
		for (unsigned i = 0; i < 120; i++) {
			unsigned page = (unsigned)r[i].id - 1000 - q * 120;

			ck_assert_int_eq(r[i].status, BLKIF_RSP_OKAY);
			ck_assert_uint_lt(page, 120);
			ck_assert(!seen[page]);
			seen[page] = true;
		}
	}
	for (unsigned page = 0; page < 240; page++) {
		file_read((uint64_t)page * PG, buf, PG);
		ck_assert_mem_eq(buf, gpage(DATA_GFN + page), PG);
	}
}
END_TEST

START_TEST(bad_requests_get_errors_and_touch_nothing)
{
	static uint8_t before[SECTORS * 512], after[SECTORS * 512];
	struct front f;
	struct blkif_request_segment s[2];
	uint8_t e[112];

	front_init(&f, BLK_ABI_X86_64, 0, 0);
	front_connect(&f, 1, false);
	file_read(0, before, sizeof(before));
	fill_page(0, 11);
	memset(gpage(DATA_GFN + 1), 0xab, PG);

	s[0] = seg(DATA_REF, 0, 7);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 1, SECTORS - 4, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);      /* past the end */
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 2, UINT64_MAX - 3, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);      /* wraps */
	s[0] = seg(DATA_REF, 4, 9);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 3, 0, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);      /* outside the page */
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE_BARRIER, 4, 0, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_EOPNOTSUPP);
	entry_rw(e, BLK_ABI_X86_64, 77, 5, 0, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_EOPNOTSUPP);
	/* A grant that is not there; one that is read-only for a read into it
	 * (the second segment would be fine). */
	s[0] = seg(1000, 0, 7);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 6, 0, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
	grant(DATA_REF + 1, DATA_GFN + 1, true);
	s[0] = seg(DATA_REF, 0, 7);
	s[1] = seg(DATA_REF + 1, 0, 7);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 7, 0, 2, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_ERROR);
	ck_assert_uint_eq(gpage(DATA_GFN + 1)[0], 0xab);
	ck_assert_uint_eq(grant_flags(DATA_REF), GTF_permit_access);   /* let go */
	/* A read-only grant is fine to write from. */
	s[0] = seg(DATA_REF + 1, 0, 7);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_WRITE, 8, 64, 1, s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
	memset(before + 64 * 512, 0xab, PG);
	/* Nothing else changed anywhere in the image. */
	file_read(0, after, sizeof(after));
	ck_assert_mem_eq(before, after, sizeof(before));
	expect_key(BE "/state", "4");   /* bad requests are not a broken ring */
}
END_TEST

START_TEST(lying_producer_disconnects)
{
	struct front f;
	uint8_t e[112];
	struct blkif_request_segment s = seg(DATA_REF, 0, 7);
	char *err;

	front_init(&f, BLK_ABI_X86_64, 0, 0);
	front_connect(&f, 1, false);
	entry_rw(e, BLK_ABI_X86_64, BLKIF_OP_READ, 1, 0, 1, &s);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
	/* req_prod a ring and more ahead of the responses. */
	__atomic_store_n(idx(&f, REQ_PROD), f.req_prod + f.size + 3, __ATOMIC_RELEASE);
	send_event(f.port);
	wait_state(BE, XenbusStateClosing);
	err = xs_get(ERR);
	ck_assert_msg(strstr(err, "corrupt"), "error node: '%s'", err);
	free(err);
	xs_put(FE "/state", "%d", XenbusStateClosed);
	wait_state(BE, XenbusStateClosed);
	ck_assert_uint_eq(grant_flags(RING_REF), GTF_permit_access);
	/* The frontend starts over and the disk works again. */
	xs_put(FE "/state", "%d", XenbusStateInitialising);
	wait_state(BE, XenbusStateInitWait);
	front_init(&f, BLK_ABI_X86_64, 0, 0);
	front_connect(&f, 1, false);
	ck_assert_int_eq(front_do(&f, e).status, BLKIF_RSP_OKAY);
}
END_TEST

START_TEST(bad_frontend_keys_fail_the_connection)
{
	struct front f;

	front_init(&f, BLK_ABI_X86_64, 0, 0);
	xs_put(FE "/ring-page-order", "5");
	xs_put(FE "/ring-ref", "%u", RING_REF);
	xs_put(FE "/event-channel", "%u", f.port);
	xs_put(FE "/state", "%d", XenbusStateInitialised);
	wait_state(BE, XenbusStateClosing);
	char *err = xs_get(ERR);
	ck_assert_msg(strstr(err, "ring-page-order"), "error node: '%s'", err);
	free(err);

	/* An unknown protocol, then a ring grant that is not there. */
	const char *bad[][2] = {
		{ FE "/protocol", "arm-abi" },
		{ FE "/ring-ref", "1000" },
		{ FE "/multi-queue-num-queues", "5" },
		{ FE "/event-channel", "4000" },
	};
	for (unsigned i = 0; i < 4; i++) {
		xs_put(FE "/state", "%d", XenbusStateClosed);
		wait_state(BE, XenbusStateClosed);
		xs__rm(vm.xenstored->store, FE "/ring-page-order");
		xs__rm(vm.xenstored->store, FE "/protocol");
		xs__rm(vm.xenstored->store, FE "/multi-queue-num-queues");
		xs_put(FE "/ring-ref", "%u", RING_REF);
		xs_put(FE "/event-channel", "%u", f.port);
		xs_put(bad[i][0], "%s", bad[i][1]);
		xs_put(FE "/state", "%d", XenbusStateInitialising);
		wait_state(BE, XenbusStateInitWait);
		xs_put(FE "/state", "%d", XenbusStateInitialised);
		wait_state(BE, XenbusStateClosing);
	}
	/* Nothing was left mapped or bound. */
	ck_assert_uint_eq(grant_flags(RING_REF), GTF_permit_access);
}
END_TEST

/* ---- the queue without xenbus, synchronous I/O ---- */

START_TEST(queue_serves_synchronously_without_io_uring)
{
	struct blk_image img;
	struct blk_queue *q;
	struct front f;
	char err[256];
	static uint8_t buf[4 * PG];
	uint8_t e[112];
	struct rsp r[4];
	struct blkif_request_segment s[4];

	/* The fixture's disk is open; this queue uses a second image. */
	const char *p = make_file("sync", 1 << 20);
	ck_assert_int_eq(image__open(&img, p, false, false, err, sizeof(err)), 0);
	front_init(&f, BLK_ABI_X86_32, 3, 1);
	struct blk_queue_config qc = {
		.vm = &vm, .img = &img, .lim = { .sectors = 2048, .flush = true, .discard = true,
						  .max_indirect_segments = 256 },
		.discard_granularity = 4096, .abi = BLK_ABI_X86_32, .persistent = true,
		.force_sync = true, .name = "sync queue", .evtchn_fd = -1, .guest_port = 0,
	};
	grant_ref_t refs[2] = { RING_REF + 48, RING_REF + 49 };
	ck_assert_int_eq(blk_queue__create(&qc, refs, 2, &q), 0);
	for (unsigned i = 0; i < 4; i++) {
		fill_page(i, 13);
		s[i] = seg(DATA_REF + i, 0, 7);
	}
	entry_rw(e, BLK_ABI_X86_32, BLKIF_OP_WRITE, 1, 8, 4, s);
	front_put(&f, e);
	entry_rw(e, BLK_ABI_X86_32, BLKIF_OP_FLUSH_DISKCACHE, 2, 0, 0, NULL);
	front_put(&f, e);
	entry_discard(e, BLK_ABI_X86_32, 3, 8, 8);
	front_put(&f, e);
	entry_rw(e, BLK_ABI_X86_32, BLKIF_OP_READ, 4, 2048, 1, s);
	front_put(&f, e);
	__atomic_store_n(idx(&f, REQ_PROD), f.req_prod, __ATOMIC_RELEASE);
	ck_assert_int_eq(blk_queue__run_once(q), 4);
	front_get(&f, 4, r);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_uint_ge(r[i].id, 1);
		ck_assert_uint_le(r[i].id, 4);
		ck_assert_int_eq(r[i].status, r[i].id == 4 ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
	}
	ck_assert_uint_eq(blk_queue__answered(q), 4);
	ck_assert_uint_eq(blk_queue__persistent_grants(q), 4);
	int fd = open(p, O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 8 * 512), (ssize_t)sizeof(buf));
	close(fd);
	for (unsigned b = 0; b < PG; b++)
		ck_assert_uint_eq(buf[b], 0);
	for (unsigned i = 1; i < 4; i++)
		ck_assert_mem_eq(buf + i * PG, gpage(DATA_GFN + i), PG);
	/* A lying producer: the pass says so, and the ring is not read again. */
	__atomic_store_n(idx(&f, REQ_PROD), f.req_prod + 1000, __ATOMIC_RELEASE);
	ck_assert_int_eq(blk_queue__run_once(q), -EIO);
	ck_assert_int_eq(blk_queue__run_once(q), -EIO);
	ck_assert_uint_eq(blk_queue__answered(q), 4);
	blk_queue__destroy(q);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(grant_flags(DATA_REF + i), GTF_permit_access);
	image__close(&img);
	unlink(p);
}
END_TEST

START_TEST(disk_options_are_checked)
{
	static struct vm v2;
	static struct vm_config c2;
	const char *p = make_file("opt", 4096);
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", p);
	v2.cfg = &c2;
	/* Two disks with one id. */
	c2.disk[0] = (struct vm_disk){ .path = img_path, .readonly = true, .devid = 51728 };
	c2.disk[1] = (struct vm_disk){ .path = copy, .devid = -1 };
	c2.disk[2] = (struct vm_disk){ .path = copy, .devid = 51728 };
	c2.nr_disks = 2;
	/* The fixture holds img_path writable: a second VM cannot have it. */
	ck_assert_int_eq(blk__open(&v2), PVMM_EXIT_BAD_INPUT);
	blk__destroy(&v2);
	c2.disk[0].path = copy;
	c2.disk[1] = c2.disk[2];
	c2.disk[0].devid = -1;
	ck_assert_int_eq(blk__open(&v2), PVMM_EXIT_BAD_INPUT);  /* locked by disk 0 */
	blk__destroy(&v2);
	c2.disk[1] = (struct vm_disk){ .path = "/nonexistent", .devid = 5 };
	ck_assert_int_eq(blk__open(&v2), PVMM_EXIT_BAD_INPUT);
	blk__destroy(&v2);
	char p2[PATH_MAX];
	snprintf(p2, sizeof(p2), "%s", make_file("opt2", 4096));
	c2.disk[1] = (struct vm_disk){ .path = p2, .devid = 51712 };  /* xvda, as disk 0 */
	ck_assert_int_eq(blk__open(&v2), PVMM_EXIT_USAGE);
	blk__destroy(&v2);
	c2.disk[1].devid = 7;
	ck_assert_int_eq(blk__open(&v2), 0);
	blk__destroy(&v2);
	unlink(copy);
	unlink(p2);
}
END_TEST

/* ---- the command line ---- */

static int parse(struct cli_options *o, int argc, const char **argv)
{
	return cli__parse(argc, (char **)argv, o);
}

START_TEST(cli_disk_options)
{
	struct cli_options o;
	const char *ok[] = { "pvmm", "run", "k", "--disk", "a.img", "--disk",
			     "/dev/b,readonly,id=51728", "--disk", "c,direct,readonly", NULL };
	const char *bad[][4] = {
		{ "pvmm", "run", "k", "--disk=a,rw" },
		{ "pvmm", "run", "k", "--disk=a,id=" },
		{ "pvmm", "run", "k", "--disk=a,id=-1" },
		{ "pvmm", "run", "k", "--disk=a,id=2147483648" },
		{ "pvmm", "run", "k", "--disk=,readonly" },
		{ "pvmm", "run", "k", "--disk=a,readonlyx" },
		{ "pvmm", "run", "k", "--disk" },
	};
	const char *many[2 + 2 * 17 + 1] = { "pvmm", "run" };

	ck_assert_int_eq(parse(&o, 9, ok), 0);
	ck_assert_int_eq(o.vm.nr_disks, 3);
	ck_assert_str_eq(o.vm.disk[0].path, "a.img");
	ck_assert(!o.vm.disk[0].readonly && !o.vm.disk[0].direct);
	ck_assert_int_eq(o.vm.disk[0].devid, -1);
	ck_assert_str_eq(o.vm.disk[1].path, "/dev/b");
	ck_assert(o.vm.disk[1].readonly);
	ck_assert_int_eq(o.vm.disk[1].devid, 51728);
	ck_assert_str_eq(o.vm.disk[2].path, "c");
	ck_assert(o.vm.disk[2].readonly && o.vm.disk[2].direct);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(&o, 4, bad[i]) == -1, "%s accepted", bad[i][3]);
	for (int i = 0; i < 17; i++) {
		many[2 + 2 * i] = "--disk";
		many[3 + 2 * i] = "d.img";
	}
	many[36] = "k";
	ck_assert_int_eq(parse(&o, 37, many), -1);      /* 17 disks */
}
END_TEST

static Suite *blkif_suite(void)
{
	Suite *s = suite_create("blkif");
	TCase *pure = tcase_create("requests");
	TCase *img = tcase_create("images");
	TCase *be = tcase_create("backend");
	TCase *ro = tcase_create("readonly");

	tcase_add_test(pure, layouts_of_both_abis);
	tcase_add_test(pure, native_struct_and_generated_layout_agree);
	tcase_add_test(pure, requests_decode_in_both_abis);
	tcase_add_test(pure, responses_in_both_abis);
	tcase_add_loop_test(pure, validation_table, 0, sizeof(vcases) / sizeof(vcases[0]));
	tcase_add_test(pure, every_verdict_is_in_the_table);
	tcase_add_test(pure, discard_punches_whole_granules_only);
	tcase_add_test(pure, xvd_numbers_and_names);
	tcase_add_test(pure, cli_disk_options);
	suite_add_tcase(s, pure);

	tcase_add_test(img, image_open_errors_name_the_file);
	tcase_add_test(img, image_sizes_and_geometry);
	tcase_add_test(img, image_locks_keep_writers_apart);
	tcase_add_test(img, image_direct_io_alignment);
	tcase_add_test(img, io_engine_with_io_uring);
	tcase_add_test(img, io_engine_synchronous);
	suite_add_tcase(s, img);

	tcase_add_checked_fixture(be, backend_setup, backend_teardown);
	tcase_set_timeout(be, 60);
	tcase_add_test(be, backend_offers_its_features);
	tcase_add_test(be, roundtrip_x86_64);
	tcase_add_test(be, roundtrip_x86_32);
	tcase_add_test(be, roundtrip_persistent);
	tcase_add_test(be, grants_are_released_after_each_request);
	tcase_add_test(be, notifies_only_when_asked);
	tcase_add_test(be, indirect_1mib_x86_64);
	tcase_add_test(be, indirect_1mib_x86_32_persistent);
	tcase_add_test(be, multi_page_rings_and_queues);
	tcase_add_test(be, bad_requests_get_errors_and_touch_nothing);
	tcase_add_test(be, lying_producer_disconnects);
	tcase_add_test(be, bad_frontend_keys_fail_the_connection);
	tcase_add_test(be, queue_serves_synchronously_without_io_uring);
	tcase_add_test(be, disk_options_are_checked);
	suite_add_tcase(s, be);

	tcase_add_checked_fixture(ro, backend_setup_readonly, backend_teardown);
	tcase_set_timeout(ro, 60);
	tcase_add_test(ro, readonly_disk_offers_no_writes);
	suite_add_tcase(s, ro);
	return s;
}

CHECK_MAIN(blkif_suite)
