/*
 * The backend side of a Xen shared request/response ring (xen/io/ring.h),
 * for any ring type: blkif, netif tx/rx, ...
 *
 * The shared page(s) are guest memory the frontend can rewrite at any
 * moment, so nothing is trusted: pvmm keeps its own copies of the indices it
 * owns (req_cons, rsp_prod), reads the frontend's req_prod once per pass
 * with an acquire barrier, and copies each request out of the ring before
 * it is parsed.  A frontend whose req_prod runs more than a ring's worth
 * ahead has lied about its indices: the ring is marked broken and the
 * device must be disconnected.
 *
 * A ring may span several pages (max-ring-page-order), which need not be
 * contiguous in host memory; entries may straddle them.
 */
#ifndef PVMM_RING_IO_XEN_RING_H
#define PVMM_RING_IO_XEN_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XRING_MAX_PAGES 16          /* order 4, as Linux's blkback allows */
#define XRING_PAGE_SIZE 4096u

struct xring {
	uint8_t *page[XRING_MAX_PAGES];
	unsigned nr_pages;
	size_t entry_size;      /* sizeof the ring's entry union */
	uint32_t size;          /* entries: a power of two */
	uint32_t req_cons;      /* next request to take (ours) */
	uint32_t rsp_prod_pvt;  /* responses written, not yet published (ours) */
	uint32_t rsp_prod;      /* responses published (ours) */
	bool broken;            /* the frontend lied about its indices */
};

/*
 * Sets up the backend view of a ring over nr_pages guest pages (host
 * pointers from gmem/gnttab).  Indices start at the page's rsp_prod, which a
 * frontend initialising its ring sets to zero.
 * Returns 0, or -EINVAL when the pages cannot hold one entry.
 */
int xring__init(struct xring *r, uint8_t *const *pages, unsigned nr_pages, size_t entry_size);

/*
 * Copies the next request into req (entry_size bytes).  Returns 1 when it
 * took one, 0 when there is none, -EIO when the ring is broken (or breaks
 * now).  At most size requests can be outstanding: requests beyond the
 * responses the backend still owes wait.
 */
int xring__get_request(struct xring *r, void *req);

/* Copies len (<= entry_size) bytes of a response into the next slot. */
void xring__put_response(struct xring *r, const void *rsp, size_t len);

/* Publishes written responses; true when the frontend asked to be told
 * (rsp_event), i.e. the caller should notify its event channel. */
bool xring__push_responses(struct xring *r);

/*
 * Before the backend sleeps: asks for a notification on the next request
 * (req_event) and returns true when requests arrived meanwhile, so the
 * caller loops instead of sleeping.
 */
bool xring__final_check_for_requests(struct xring *r);

#endif
