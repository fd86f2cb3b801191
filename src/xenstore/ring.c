/*
 * The guest's xenstore ring page: requests in from req[], replies and watch
 * events out to rsp[] (docs/misc/xenstore-ring.txt).
 *
 * pvmm owns req_cons and rsp_prod: it keeps its own copies and only writes
 * them to the page, so a guest scribbling on them changes nothing here.  The
 * guest's req_prod and rsp_cons are read once per pass and checked against
 * those copies.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "xenstore/proto.h"
#include "xenstore/ring.h"

struct xs_ring {
	struct xenstore_domain_interface *page;
	struct xs_conn *conn;
	uint16_t domid;
	void (*notify_guest)(void *opaque);
	void *opaque;
	atomic_bool busy;           /* a thread is in ring_work() */
	atomic_bool pending;        /* work was asked for since it looked */
	uint32_t req_cons, rsp_prod;
	uint32_t error;             /* XENSTORE_ERROR_*, mirrored in the page */
	bool warned;
	/* The request being reassembled. */
	struct xsd_sockmsg hdr;
	uint32_t hdr_got, payload_got;
	char payload[XENSTORE_PAYLOAD_MAX];
};

/*
 * Index accesses carry the barriers: an acquire load is a read followed by
 * a read barrier (what the other side wrote before the index is visible
 * after it), a release store is a barrier before the write (everything this
 * side read or wrote before it is done first).
 */
static uint32_t ring_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void ring_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void ring_fail(struct xs_ring *r, uint32_t error, const char *why)
{
	r->error = error;
	ring_store_release(&r->page->error, error);
	if (!r->warned)
		pr_warn("xenstore: domain %u %s; its ring is no longer served",
			r->domid, why);
	r->warned = true;
}

/* Copies n request bytes (n <= what the guest produced) from req_cons on,
 * wrapping at the end of the ring. */
static void ring_take(struct xs_ring *r, void *dst, uint32_t n)
{
	uint32_t off = MASK_XENSTORE_IDX(r->req_cons);
	uint32_t first = min_u32(n, XENSTORE_RING_SIZE - off);

	memcpy(dst, r->page->req + off, first);
	memcpy((char *)dst + first, r->page->req, n - first);
	r->req_cons += n;
}

/* Consumes what the guest has produced; true if it took any byte. */
static bool ring_read(struct xs_ring *r)
{
	bool moved = false;
	uint32_t prod, avail, n;

	if (r->error != XENSTORE_ERROR_NONE)
		return false;
	/* Read once; the bytes before it are read after it. */
	prod = ring_load_acquire(&r->page->req_prod);
	avail = prod - r->req_cons;
	if (avail > XENSTORE_RING_SIZE) {
		ring_fail(r, XENSTORE_ERROR_RINGIDX, "moved req_prod beyond the ring");
		return false;
	}
	while (avail) {
		if (r->hdr_got < sizeof(r->hdr)) {
			/* A new request waits while the guest leaves replies unread. */
			if (!r->hdr_got && !xs__conn_can_accept(r->conn))
				break;
			n = min_u32(avail, (uint32_t)sizeof(r->hdr) - r->hdr_got);
			ring_take(r, (char *)&r->hdr + r->hdr_got, n);
			r->hdr_got += n;
		} else {
			n = min_u32(avail, r->hdr.len - r->payload_got);
			ring_take(r, r->payload + r->payload_got, n);
			r->payload_got += n;
		}
		avail -= n;
		moved = true;
		if (r->hdr_got < sizeof(r->hdr))
			continue;
		if (r->hdr.len > XENSTORE_PAYLOAD_MAX) {
			/* Answered E2BIG; what follows cannot be framed. */
			xs__conn_handle(r->conn, &r->hdr, NULL);
			ring_fail(r, XENSTORE_ERROR_PROTO,
				  "sent a request longer than XENSTORE_PAYLOAD_MAX");
			break;
		}
		if (r->payload_got == r->hdr.len) {
			xs__conn_handle(r->conn, &r->hdr, r->payload);
			r->hdr_got = r->payload_got = 0;
		}
	}
	/* The bytes are read before their slots are handed back. */
	if (moved)
		ring_store_release(&r->page->req_cons, r->req_cons);
	return moved;
}

/* Moves queued output into the free part of rsp[]; true if any moved. */
static bool ring_write(struct xs_ring *r)
{
	bool moved = false;
	uint32_t cons, used, space, off;
	size_t n;

	if (r->error == XENSTORE_ERROR_RINGIDX)
		return false;
	/* Slots the guest freed are written after it said so. */
	cons = ring_load_acquire(&r->page->rsp_cons);
	used = r->rsp_prod - cons;
	if (used > XENSTORE_RING_SIZE) {
		ring_fail(r, XENSTORE_ERROR_RINGIDX, "moved rsp_cons beyond rsp_prod");
		return false;
	}
	space = XENSTORE_RING_SIZE - used;
	while (space) {
		off = MASK_XENSTORE_IDX(r->rsp_prod);
		n = xs__conn_read_output(r->conn, r->page->rsp + off,
					 min_u32(space, XENSTORE_RING_SIZE - off));
		if (!n)
			break;
		r->rsp_prod += (uint32_t)n;
		space -= (uint32_t)n;
		moved = true;
	}
	/* The bytes are in place before rsp_prod says so. */
	if (moved)
		ring_store_release(&r->page->rsp_prod, r->rsp_prod);
	return moved;
}

/* The guest asked to start again: drop everything, empty both rings. */
static void ring_reconnect(struct xs_ring *r)
{
	xs__conn_reset(r->conn);
	r->hdr_got = r->payload_got = 0;
	r->req_cons = r->rsp_prod = 0;
	r->error = XENSTORE_ERROR_NONE;
	ring_store_release(&r->page->req_cons, 0);
	ring_store_release(&r->page->req_prod, 0);
	ring_store_release(&r->page->rsp_cons, 0);
	ring_store_release(&r->page->rsp_prod, 0);
	ring_store_release(&r->page->error, XENSTORE_ERROR_NONE);
	/* Last: the guest looks at nothing else until this says connected. */
	ring_store_release(&r->page->connection, XENSTORE_CONNECTED);
}

static void ring_work(struct xs_ring *r)
{
	bool kick = false, moved;

	if (ring_load_acquire(&r->page->connection) == XENSTORE_RECONNECT) {
		ring_reconnect(r);
		kick = true;
	}
	do {
		moved = ring_read(r);
		moved |= ring_write(r);
		kick |= moved;
	} while (moved);
	if (kick)
		r->notify_guest(r->opaque);
}

void xs__ring_process(struct xs_ring *r)
{
	atomic_store(&r->pending, true);
	/* Whoever holds busy runs until nothing is pending; a request made
	 * just as it lets go is picked up by the next turn of this loop. */
	while (atomic_load(&r->pending) && !atomic_exchange(&r->busy, true)) {
		while (atomic_exchange(&r->pending, false))
			ring_work(r);
		atomic_store(&r->busy, false);
	}
}

static void ring_wake(void *opaque)
{
	xs__ring_process(opaque);
}

struct xs_ring *xs__ring_create(struct xs_store *s, uint16_t domid,
				struct xenstore_domain_interface *page,
				void (*notify_guest)(void *opaque), void *opaque)
{
	struct xs_ring *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->page = page;
	r->domid = domid;
	r->notify_guest = notify_guest;
	r->opaque = opaque;
	r->req_cons = ring_load_acquire(&page->req_cons);
	r->rsp_prod = ring_load_acquire(&page->rsp_prod);
	ring_store_release(&page->error, XENSTORE_ERROR_NONE);
	/* Features are announced before any byte moves, and never withdrawn. */
	__atomic_fetch_or(&page->server_features,
			  XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR,
			  __ATOMIC_RELEASE);
	ring_store_release(&page->connection, XENSTORE_CONNECTED);
	r->conn = xs__conn_create(s, domid);
	xs__conn_set_wake(r->conn, ring_wake, r);
	return r;
}

void xs__ring_destroy(struct xs_ring *r)
{
	xs__conn_destroy(r->conn);
	free(r);
}
