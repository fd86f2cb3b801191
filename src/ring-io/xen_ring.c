#include "ring-io/xen_ring.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "xen/xen_abi.h"
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

/* Every ring type shares the header of DEFINE_RING_TYPES; take its offsets
 * from one of them and check that another agrees. */
#define SRING_REQ_PROD  offsetof(struct blkif_sring, req_prod)
#define SRING_REQ_EVENT offsetof(struct blkif_sring, req_event)
#define SRING_RSP_PROD  offsetof(struct blkif_sring, rsp_prod)
#define SRING_RSP_EVENT offsetof(struct blkif_sring, rsp_event)
#define SRING_ENTRIES   offsetof(struct blkif_sring, ring)
_Static_assert(offsetof(struct netif_tx_sring, ring) == SRING_ENTRIES, "one ring header");
_Static_assert(offsetof(struct netif_tx_sring, rsp_event) == SRING_RSP_EVENT, "one ring header");

static uint32_t *header_index(struct xring *r, size_t off)
{
	return (uint32_t *)(r->page[0] + off);
}

static uint32_t load_acquire(struct xring *r, size_t off)
{
	return __atomic_load_n(header_index(r, off), __ATOMIC_ACQUIRE);
}

static void store_release(struct xring *r, size_t off, uint32_t v)
{
	__atomic_store_n(header_index(r, off), v, __ATOMIC_RELEASE);
}

int xring__init(struct xring *r, uint8_t *const *pages, unsigned nr_pages, size_t entry_size)
{
	size_t bytes = (size_t)nr_pages * XRING_PAGE_SIZE;
	uint32_t n;

	memset(r, 0, sizeof(*r));
	if (nr_pages == 0 || nr_pages > XRING_MAX_PAGES || entry_size == 0 ||
	    bytes < SRING_ENTRIES + entry_size)
		return -EINVAL;
	memcpy(r->page, pages, nr_pages * sizeof(pages[0]));
	r->nr_pages = nr_pages;
	r->entry_size = entry_size;
	/* As __RING_SIZE: the largest power of two that fits. */
	n = (uint32_t)((bytes - SRING_ENTRIES) / entry_size);
	r->size = 1;
	while (r->size * 2 <= n)
		r->size *= 2;
	/* A fresh ring: the frontend zeroed the header (SHARED_RING_INIT). */
	r->req_cons = r->rsp_prod = r->rsp_prod_pvt = load_acquire(r, SRING_RSP_PROD);
	return 0;
}

/* Copies between a buffer and the ring's bytes at offset off, across pages. */
static void copy_ring(struct xring *r, size_t off, void *buf, size_t len, bool to_ring)
{
	uint8_t *b = buf;

	while (len) {
		size_t page = off / XRING_PAGE_SIZE, in = off % XRING_PAGE_SIZE;
		size_t chunk = XRING_PAGE_SIZE - in < len ? XRING_PAGE_SIZE - in : len;

		if (to_ring)
			memcpy(r->page[page] + in, b, chunk);
		else
			memcpy(b, r->page[page] + in, chunk);
		b += chunk;
		off += chunk;
		len -= chunk;
	}
}

static size_t slot_offset(const struct xring *r, uint32_t idx)
{
	return SRING_ENTRIES + (size_t)(idx & (r->size - 1)) * r->entry_size;
}

int xring__get_request(struct xring *r, void *req)
{
	uint32_t prod;

	if (r->broken)
		return -EIO;
	prod = load_acquire(r, SRING_REQ_PROD);
	/* A producer more than a ring ahead of our responses is a lie
	 * (Xen's RING_REQUEST_PROD_OVERFLOW). */
	if (prod - r->rsp_prod_pvt > r->size) {
		r->broken = true;
		return -EIO;
	}
	if (prod == r->req_cons)
		return 0;
	/* Never more outstanding than the ring can answer. */
	if (r->req_cons - r->rsp_prod_pvt >= r->size)
		return 0;
	copy_ring(r, slot_offset(r, r->req_cons), req, r->entry_size, false);
	r->req_cons++;
	return 1;
}

void xring__put_response(struct xring *r, const void *rsp, size_t len)
{
	if (len > r->entry_size)
		len = r->entry_size;
	copy_ring(r, slot_offset(r, r->rsp_prod_pvt), (void *)rsp, len, true);
	r->rsp_prod_pvt++;
}

bool xring__push_responses(struct xring *r)
{
	uint32_t old = r->rsp_prod, new = r->rsp_prod_pvt;

	if (old == new)
		return false;
	/* The frontend sees the responses before the index that covers them,
	 * and we read rsp_event only after publishing it. */
	store_release(r, SRING_RSP_PROD, new);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->rsp_prod = new;
	return (uint32_t)(new - load_acquire(r, SRING_RSP_EVENT)) < (uint32_t)(new - old);
}

bool xring__final_check_for_requests(struct xring *r)
{
	if (r->broken)
		return false;
	if (load_acquire(r, SRING_REQ_PROD) != r->req_cons)
		return true;
	store_release(r, SRING_REQ_EVENT, r->req_cons + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load_acquire(r, SRING_REQ_PROD) != r->req_cons;
}
