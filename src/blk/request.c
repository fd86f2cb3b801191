#include "blk/request.h"

#include <string.h>

#include "hypercall/xen_layout.h"

#define COMPAT(abi) ((abi) == BLK_ABI_X86_32)

/* An indirect page holds struct blkif_request_segment as the frontend lays
 * it out; pvmm reads those pages with the native struct, which is right
 * only because both widths agree. */
_Static_assert(XL32_SIZE_blkif_request_segment == XL64_SIZE_blkif_request_segment &&
	       XL32_OFF_blkif_request_segment__gref == XL64_OFF_blkif_request_segment__gref &&
	       XL32_OFF_blkif_request_segment__first_sect ==
	       XL64_OFF_blkif_request_segment__first_sect &&
	       XL32_OFF_blkif_request_segment__last_sect ==
	       XL64_OFF_blkif_request_segment__last_sect &&
	       XL64_SIZE_blkif_request_segment == sizeof(struct blkif_request_segment),
	       "one segment layout for both ABIs");
_Static_assert(XL64_SIZE_blkif_sring_entry == sizeof(union blkif_sring_entry), "native entry");

size_t blk__entry_size(enum blk_abi abi)
{
	return XSIZE(COMPAT(abi), blkif_sring_entry);
}

size_t blk__response_size(enum blk_abi abi)
{
	return XSIZE(COMPAT(abi), blkif_response);
}

/* ---- decoding ---- */

static enum blk_verdict decode_direct(const uint8_t *e, bool compat, struct blk_request *req)
{
	size_t seg_off = XFIELD(compat, blkif_request, seg).off;

	req->sector = xfield__get(e, XFIELD(compat, blkif_request, sector_number));
	req->nr_segments = (uint16_t)xfield__get(e, XFIELD(compat, blkif_request, nr_segments));
	if (req->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
		return BLK_BAD_NR_SEGMENTS;
	memcpy(req->seg, e + seg_off, req->nr_segments * sizeof(req->seg[0]));
	return BLK_OK;
}

static enum blk_verdict decode_indirect(const uint8_t *e, bool compat, const struct blk_limits *lim,
					struct blk_request *req)
{
	uint8_t op = (uint8_t)xfield__get(e, XFIELD(compat, blkif_request_indirect, indirect_op));
	struct xfield grefs = XFIELD(compat, blkif_request_indirect, indirect_grefs);

	req->indirect = true;
	/* Answered as the operation it carries, as Linux's blkback does:
	 * blkfront expects READ or WRITE back. */
	req->operation = op;
	if (op == BLKIF_OP_READ)
		req->kind = BLK_KIND_READ;
	else if (op == BLKIF_OP_WRITE)
		req->kind = BLK_KIND_WRITE;
	else
		return BLK_BAD_INDIRECT_OP;
	req->sector = xfield__get(e, XFIELD(compat, blkif_request_indirect, sector_number));
	req->nr_segments = (uint16_t)xfield__get(e, XFIELD(compat, blkif_request_indirect, nr_segments));
	if (req->nr_segments == 0 || req->nr_segments > lim->max_indirect_segments)
		return BLK_BAD_NR_SEGMENTS;
	req->nr_indirect_pages = (uint8_t)((req->nr_segments + BLK_SEGS_PER_INDIRECT_PAGE - 1) /
					   BLK_SEGS_PER_INDIRECT_PAGE);
	_Static_assert(sizeof(req->indirect_gref) == XL64_LEN_blkif_request_indirect__indirect_grefs &&
		       sizeof(req->indirect_gref) == XL32_LEN_blkif_request_indirect__indirect_grefs,
		       "indirect_grefs");
	memcpy(req->indirect_gref, e + grefs.off, grefs.size);
	return BLK_OK;
}

static bool writes_image(const struct blk_request *req)
{
	return req->kind == BLK_KIND_WRITE || req->kind == BLK_KIND_DISCARD ||
	       (req->kind == BLK_KIND_FLUSH && req->nr_segments);
}

/* [sector, sector + n) inside the image, without overflow. */
static bool in_image(uint64_t sector, uint64_t n, const struct blk_limits *lim)
{
	return n <= lim->sectors && sector <= lim->sectors - n;
}

enum blk_verdict blk__parse(const void *entry, enum blk_abi abi, const struct blk_limits *lim,
			    struct blk_request *req)
{
	const uint8_t *e = entry;
	bool compat = COMPAT(abi);
	enum blk_verdict v;

	memset(req, 0, sizeof(*req));
	/* id sits at the same place in every request type of a layout. */
	req->operation = (uint8_t)xfield__get(e, XFIELD(compat, blkif_request, operation));
	req->id = xfield__get(e, XFIELD(compat, blkif_request, id));

	switch (req->operation) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
	case BLKIF_OP_FLUSH_DISKCACHE:
		req->kind = req->operation == BLKIF_OP_READ ? BLK_KIND_READ :
			    req->operation == BLKIF_OP_WRITE ? BLK_KIND_WRITE : BLK_KIND_FLUSH;
		v = decode_direct(e, compat, req);
		break;
	case BLKIF_OP_DISCARD:
		req->kind = BLK_KIND_DISCARD;
		req->sector = xfield__get(e, XFIELD(compat, blkif_request_discard, sector_number));
		req->nr_sectors = xfield__get(e, XFIELD(compat, blkif_request_discard, nr_sectors));
		v = BLK_OK;
		break;
	case BLKIF_OP_INDIRECT:
		if (!lim->max_indirect_segments)
			return BLK_BAD_OPERATION;
		v = decode_indirect(e, compat, lim, req);
		break;
	default:
		/* WRITE_BARRIER among them: pvmm does not offer feature-barrier. */
		return BLK_BAD_OPERATION;
	}
	if (v != BLK_OK)
		return v;
	if (lim->readonly && writes_image(req))
		return BLK_BAD_READONLY;
	if ((req->kind == BLK_KIND_FLUSH && !lim->flush) ||
	    (req->kind == BLK_KIND_DISCARD && !lim->discard))
		return BLK_BAD_OPERATION;
	switch (req->kind) {
	case BLK_KIND_DISCARD:
		/* BLKIF_DISCARD_SECURE is ignored: discard-secure is 0. */
		return in_image(req->sector, req->nr_sectors, lim) ? BLK_OK : BLK_BAD_RANGE;
	case BLK_KIND_FLUSH:
		/* A flush may carry data to write after it, as Linux's
		 * blkback serves it (a preflush write). */
		if (req->nr_segments == 0)
			return BLK_OK;
		return blk__check_segments(req, req->seg, lim);
	case BLK_KIND_READ:
	case BLK_KIND_WRITE:
		if (req->indirect)
			return BLK_OK;  /* the segments come from its pages */
		if (req->nr_segments == 0)
			return BLK_BAD_NR_SEGMENTS;
		return blk__check_segments(req, req->seg, lim);
	}
	return BLK_BAD_OPERATION;
}

enum blk_verdict blk__check_segments(struct blk_request *req, const struct blkif_request_segment *seg,
				     const struct blk_limits *lim)
{
	uint64_t sectors = 0;

	for (unsigned i = 0; i < req->nr_segments; i++) {
		if (seg[i].first_sect > seg[i].last_sect ||
		    seg[i].last_sect >= BLK_SECTORS_PER_PAGE)
			return BLK_BAD_SEGMENT;
		sectors += (uint64_t)(seg[i].last_sect - seg[i].first_sect) + 1;
	}
	if (!in_image(req->sector, sectors, lim))
		return BLK_BAD_RANGE;
	req->nr_sectors = sectors;
	return BLK_OK;
}

/* ---- answering ---- */

int16_t blk__status(enum blk_verdict v)
{
	switch (v) {
	case BLK_OK:
		return BLKIF_RSP_OKAY;
	case BLK_BAD_OPERATION:
		return BLKIF_RSP_EOPNOTSUPP;
	default:
		return BLKIF_RSP_ERROR;
	}
}

const char *blk__verdict_name(enum blk_verdict v)
{
	static const char *const names[BLK_NR_VERDICTS] = {
		[BLK_OK] = "ok",
		[BLK_BAD_OPERATION] = "operation not supported",
		[BLK_BAD_READONLY] = "write to a read-only disk",
		[BLK_BAD_NR_SEGMENTS] = "bad segment count",
		[BLK_BAD_INDIRECT_OP] = "indirect request that is not a read or write",
		[BLK_BAD_SEGMENT] = "segment sectors outside its page",
		[BLK_BAD_RANGE] = "sectors outside the disk",
		[BLK_BAD_GRANT] = "grant reference refused",
	};

	return (unsigned)v < BLK_NR_VERDICTS ? names[v] : "invalid";
}

size_t blk__encode_response(void *buf, enum blk_abi abi, uint64_t id, uint8_t operation,
			    int16_t status)
{
	bool compat = COMPAT(abi);
	size_t size = XSIZE(compat, blkif_response);
	uint8_t rsp[sizeof(struct blkif_response)] = { 0 };

	_Static_assert(XL32_SIZE_blkif_response <= sizeof(rsp), "the larger layout is native");
	xfield__set(rsp, XFIELD(compat, blkif_response, id), id);
	xfield__set(rsp, XFIELD(compat, blkif_response, operation), operation);
	xfield__set(rsp, XFIELD(compat, blkif_response, status), (uint16_t)status);
	memcpy(buf, rsp, size);
	return size;
}

bool blk__discard_extent(uint64_t sector, uint64_t nr_sectors, uint32_t granularity,
			 uint32_t alignment, uint64_t *offset, uint64_t *length)
{
	uint64_t g = granularity ? granularity : BLK_SECTOR_SIZE;
	uint64_t shift = alignment % g;
	uint64_t start = sector << BLK_SECTOR_SHIFT;
	uint64_t end = start + (nr_sectors << BLK_SECTOR_SHIFT);
	uint64_t first, last;

	/* Granules start at shift, shift + g, ...: round the start up and the
	 * end down to those boundaries.  The range was checked against the
	 * image, so none of this overflows. */
	if (end < shift)
		return false;
	first = start <= shift ? shift : shift + (start - shift + g - 1) / g * g;
	last = shift + (end - shift) / g * g;
	if (last <= first)
		return false;
	*offset = first;
	*length = last - first;
	return true;
}
