/*
 * blkif requests (xen/io/blkif.h): a ring entry decoded with the frontend's
 * layout and checked against what the backend offers, as pure functions.
 *
 * This is the one boundary every request crosses: after blk__parse() (and,
 * for an indirect request, blk__check_segments() on the segments copied out
 * of its indirect pages) the operation is one the disk serves, every
 * segment lies within its page, and the sectors lie inside the image.
 * What is left to the caller is what needs the VM: mapping each grant with
 * the access blk__writes_guest() says.
 *
 * The frontend names its layout with the "protocol" key: x86_64-abi (the
 * native one) or x86_32-abi, where 64-bit fields are only 4-byte aligned.
 * Both layouts come from Xen's header through hypercall/xen_layout.h.
 */
#ifndef PVMM_BLK_REQUEST_H
#define PVMM_BLK_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xen/xen_abi.h"
#include <xen/io/blkif.h>

#define BLK_PAGE_SIZE        4096u  /* a granted frame: one segment's page */
#define BLK_SECTOR_SIZE      512u
#define BLK_SECTOR_SHIFT     9
#define BLK_SECTORS_PER_PAGE (BLK_PAGE_SIZE / BLK_SECTOR_SIZE)
/* Segments one indirect page holds. */
#define BLK_SEGS_PER_INDIRECT_PAGE (BLK_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* The most indirect segments pvmm accepts (feature-max-indirect-segments),
 * as Linux's blkback: 1 MiB per request, in one indirect page. */
#define BLK_MAX_INDIRECT_SEGMENTS 256
/* Room for the segments of any request pvmm accepts. */
#define BLK_MAX_SEGMENTS BLK_MAX_INDIRECT_SEGMENTS

_Static_assert(BLK_MAX_INDIRECT_SEGMENTS >= BLKIF_MAX_SEGMENTS_PER_REQUEST, "indirect is larger");
_Static_assert(BLK_MAX_INDIRECT_SEGMENTS <=
	       BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE,
	       "the indirect pages of a request can name them");

enum blk_abi {
	BLK_ABI_X86_64,     /* XEN_IO_PROTO_ABI_X86_64, the default */
	BLK_ABI_X86_32,     /* XEN_IO_PROTO_ABI_X86_32 */
};

/* What the disk offers; every request is checked against it. */
struct blk_limits {
	uint64_t sectors;               /* image size in 512-byte sectors */
	bool readonly;
	bool flush;                     /* feature-flush-cache */
	bool discard;                   /* feature-discard */
	uint32_t max_indirect_segments; /* feature-max-indirect-segments; 0: none */
};

/* What a request asks of the image. */
enum blk_kind {
	BLK_KIND_READ,
	BLK_KIND_WRITE,
	BLK_KIND_FLUSH,     /* then writes its segments, if it has any */
	BLK_KIND_DISCARD,
};

/* The verdict on a request: one reason per check, for logs and tests. */
enum blk_verdict {
	BLK_OK = 0,
	BLK_BAD_OPERATION,      /* unknown, or an operation not advertised */
	BLK_BAD_READONLY,       /* a write or discard to a read-only disk */
	BLK_BAD_NR_SEGMENTS,    /* none where data moves, or more than allowed */
	BLK_BAD_INDIRECT_OP,    /* an indirect request that is not a read or write */
	BLK_BAD_SEGMENT,        /* first_sect > last_sect, or past the page */
	BLK_BAD_RANGE,          /* sectors outside the image (or overflowing) */
	BLK_BAD_GRANT,          /* a grant the backend could not map (blkback's check) */
	BLK_NR_VERDICTS,
};

struct blk_request {
	uint64_t id;                /* the frontend's, echoed in the response */
	uint8_t operation;          /* echoed in the response: the ring's, or an
				       indirect request's indirect_op */
	enum blk_kind kind;
	bool indirect;
	uint64_t sector;            /* first sector (reads, writes, discards) */
	uint64_t nr_sectors;        /* sectors moved or discarded */
	uint16_t nr_segments;
	uint8_t nr_indirect_pages;
	grant_ref_t indirect_gref[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	/* Direct requests' segments; an indirect request's are in its pages. */
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/* Bytes of one ring entry and of one response in abi's layout. */
size_t blk__entry_size(enum blk_abi abi);
size_t blk__response_size(enum blk_abi abi);

/*
 * Decodes a ring entry (blk__entry_size(abi) bytes, already copied out of
 * the shared ring) into *req and checks it against lim.  id and operation
 * are filled whatever the verdict, so that a refusal can be answered.  A
 * direct request's segments are checked here; an indirect request's are
 * checked by blk__check_segments() once the caller has copied them out of
 * its indirect pages (req->indirect_gref, req->nr_indirect_pages).
 */
enum blk_verdict blk__parse(const void *entry, enum blk_abi abi, const struct blk_limits *lim,
			    struct blk_request *req);

/*
 * Checks req->nr_segments segments (first_sect <= last_sect < 8) and that
 * the sectors they add up to, from req->sector, lie inside the image; sets
 * req->nr_sectors.
 */
enum blk_verdict blk__check_segments(struct blk_request *req, const struct blkif_request_segment *seg,
				     const struct blk_limits *lim);

/* Whether serving req writes into the granted pages (a read from disk):
 * its grants must then be mapped writable. */
static inline bool blk__writes_guest(const struct blk_request *req)
{
	return req->kind == BLK_KIND_READ;
}

/* The BLKIF_RSP_* status a verdict is answered with. */
int16_t blk__status(enum blk_verdict v);
const char *blk__verdict_name(enum blk_verdict v);

/* Writes a response in abi's layout into buf (blk__response_size(abi)
 * bytes); returns its size. */
size_t blk__encode_response(void *buf, enum blk_abi abi, uint64_t id, uint8_t operation,
			    int16_t status);

/*
 * The part of a discard of [sector, sector + nr_sectors) to punch out of the
 * image: the whole granules (granularity bytes, starting at byte
 * alignment % granularity of the disk) inside it.  Partial granules at
 * either end keep their data, which a discard allows.  Returns false when no
 * whole granule is inside.
 */
bool blk__discard_extent(uint64_t sector, uint64_t nr_sectors, uint32_t granularity,
			 uint32_t alignment, uint64_t *offset, uint64_t *length);

#endif
