#include "blk/queue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk/image.h"
#include "blk/io.h"
#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "ring-io/xen_ring.h"
#include "util/log.h"
#include "vcpu/vm.h"

#define BACKEND_DOMID 0
#define NO_SLOT UINT32_MAX

_Static_assert(BLK_MAX_RING_PAGES <= XRING_MAX_PAGES, "the generic ring holds our largest");

/* A grant kept mapped between requests (feature-persistent). */
struct pgrant {
	struct gnttab_mapping map;      /* writable */
	unsigned users;                 /* requests using it now */
	struct pgrant *hash_next;
	struct pgrant *lru_prev, *lru_next;     /* idle ones, least recent first */
};

struct pgrant_cache {
	struct pgrant entry[BLK_PGRANT_MAX];
	struct pgrant *bucket[BLK_PGRANT_MAX];  /* by ref */
	unsigned nr_used;                       /* entries handed out so far */
	unsigned nr_mapped;
	struct pgrant lru;                      /* sentinel of the idle list */
};

/* A page a request holds: kept (pg) or mapped for the request alone. */
struct held_page {
	struct pgrant *pg;
	struct gnttab_mapping map;
};

/* A request in flight. */
struct slot {
	struct blk_request req;
	int16_t status;
	unsigned ops_left;
	struct blk_io_op op[2];
	unsigned nr_held;
	struct held_page *held;                 /* BLK_MAX_SEGMENTS */
	struct iovec *iov;                      /* BLK_MAX_SEGMENTS */
	struct blkif_request_segment *seg;      /* an indirect request's */
	uint32_t next_free;
};

struct blk_queue {
	struct blk_queue_config cfg;
	struct vm *vm;
	struct gnttab_mapping ring_map[BLK_MAX_RING_PAGES];
	unsigned nr_ring_pages;
	struct xring ring;
	size_t entry_size;
	uint8_t entry[XRING_PAGE_SIZE];         /* the request being decoded */
	struct blk_io io;
	struct slot *slot;                      /* ring.size */
	struct held_page *held_mem;
	struct iovec *iov_mem;
	struct blkif_request_segment *seg_mem;
	uint32_t free_slot;                     /* a list through next_free */
	unsigned in_flight;
	bool broken;
	struct pgrant_cache *pgrants;           /* NULL without feature-persistent */
	_Atomic uint64_t answered;
	int stop_fd;
	pthread_t thread;
	bool thread_started;
};

/* ---- persistent grants ---- */

static unsigned bucket_of(grant_ref_t ref)
{
	return (ref * 2654435761u) % BLK_PGRANT_MAX;
}

static void lru_unlink(struct pgrant *pg)
{
	pg->lru_prev->lru_next = pg->lru_next;
	pg->lru_next->lru_prev = pg->lru_prev;
	pg->lru_prev = pg->lru_next = NULL;
}

static void lru_append(struct pgrant_cache *c, struct pgrant *pg)
{
	pg->lru_prev = c->lru.lru_prev;
	pg->lru_next = &c->lru;
	c->lru.lru_prev->lru_next = pg;
	c->lru.lru_prev = pg;
}

static void hash_remove(struct pgrant_cache *c, struct pgrant *pg)
{
	for (struct pgrant **pp = &c->bucket[bucket_of(pg->map.ref)]; *pp; pp = &(*pp)->hash_next) {
		if (*pp == pg) {
			*pp = pg->hash_next;
			return;
		}
	}
}

/* An entry to fill: a fresh one, or the least recently used idle one,
 * unmapped.  NULL when every entry is in use. */
static struct pgrant *pgrant_victim(struct blk_queue *q)
{
	struct pgrant_cache *c = q->pgrants;
	struct pgrant *pg;

	if (c->nr_used < BLK_PGRANT_MAX)
		return &c->entry[c->nr_used++];
	pg = c->lru.lru_next;
	if (pg == &c->lru)
		return NULL;
	lru_unlink(pg);
	if (pg->map.page) {     /* else an entry whose grant was refused */
		hash_remove(c, pg);
		gnttab__unmap(q->vm, &pg->map);
		c->nr_mapped--;
	}
	return pg;
}

/* The kept mapping of ref, mapping it now if needed; NULL when it cannot
 * be kept (the cache is busy, or the guest refuses write access). */
static struct pgrant *pgrant_get(struct blk_queue *q, grant_ref_t ref)
{
	struct pgrant_cache *c = q->pgrants;
	unsigned b = bucket_of(ref);
	struct pgrant *pg;

	for (pg = c->bucket[b]; pg; pg = pg->hash_next) {
		if (pg->map.ref == ref) {
			if (!pg->users++)
				lru_unlink(pg);
			return pg;
		}
	}
	pg = pgrant_victim(q);
	if (!pg)
		return NULL;
	if (gnttab__map(q->vm, BACKEND_DOMID, ref, true, &pg->map) != GNTST_okay) {
		/* Back to the idle list, empty: first to be reused. */
		pg->map.page = NULL;
		pg->lru_prev = &c->lru;
		pg->lru_next = c->lru.lru_next;
		c->lru.lru_next->lru_prev = pg;
		c->lru.lru_next = pg;
		return NULL;
	}
	pg->users = 1;
	pg->hash_next = c->bucket[b];
	c->bucket[b] = pg;
	c->nr_mapped++;
	return pg;
}

static void pgrant_put(struct blk_queue *q, struct pgrant *pg)
{
	if (!--pg->users)
		lru_append(q->pgrants, pg);
}

static void pgrant_cache_free(struct blk_queue *q)
{
	struct pgrant_cache *c = q->pgrants;

	if (!c)
		return;
	for (unsigned i = 0; i < c->nr_used; i++)
		if (c->entry[i].map.page)
			gnttab__unmap(q->vm, &c->entry[i].map);
	free(c);
	q->pgrants = NULL;
}

static struct pgrant_cache *pgrant_cache_new(void)
{
	struct pgrant_cache *c = calloc(1, sizeof(*c));

	if (c)
		c->lru.lru_prev = c->lru.lru_next = &c->lru;
	return c;
}

/* ---- pages a request holds ---- */

/* Maps ref for a request: kept if possible, else for this request alone,
 * with write access when write.  NULL when the guest's grant refuses. */
static void *hold(struct blk_queue *q, struct held_page *h, grant_ref_t ref, bool write)
{
	h->pg = q->pgrants ? pgrant_get(q, ref) : NULL;
	if (h->pg)
		return h->pg->map.page;
	if (gnttab__map(q->vm, BACKEND_DOMID, ref, write, &h->map) != GNTST_okay)
		return NULL;
	return h->map.page;
}

static void release(struct blk_queue *q, struct held_page *h)
{
	if (h->pg)
		pgrant_put(q, h->pg);
	else
		gnttab__unmap(q->vm, &h->map);
	h->pg = NULL;
}

static void release_all(struct blk_queue *q, struct slot *s)
{
	for (unsigned i = 0; i < s->nr_held; i++)
		release(q, &s->held[i]);
	s->nr_held = 0;
}

/* ---- answering ---- */

static void respond(struct blk_queue *q, struct slot *s, int16_t status)
{
	uint8_t rsp[sizeof(struct blkif_response)];
	size_t len = blk__encode_response(rsp, q->cfg.abi, s->req.id, s->req.operation, status);

	release_all(q, s);
	xring__put_response(&q->ring, rsp, len);
	atomic_fetch_add_explicit(&q->answered, 1, memory_order_relaxed);
	s->next_free = q->free_slot;
	q->free_slot = (uint32_t)(s - q->slot);
	q->in_flight--;
}

static void push(struct blk_queue *q)
{
	if (xring__push_responses(&q->ring))
		evtchn__notify_guest(q->vm, q->cfg.guest_port);
}

static void on_io_done(struct blk_io_op *op, int err, void *opaque)
{
	struct blk_queue *q = opaque;
	struct slot *s = op->owner;

	if (err && s->status == BLKIF_RSP_OKAY) {
		bool unsupported = err == -EOPNOTSUPP && op->kind == BLK_IO_DISCARD;

		if (!unsupported)
			pr_warn_once("%s: I/O error on '%s': %s", q->cfg.name, q->cfg.img->path,
				     strerror(-err));
		s->status = unsupported ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
	}
	if (!--s->ops_left)
		respond(q, s, s->status);
}

/* ---- taking requests ---- */

/* Copies an indirect request's segments out of its pages and checks them. */
static enum blk_verdict read_indirect(struct blk_queue *q, struct slot *s)
{
	struct blk_request *req = &s->req;
	unsigned left = req->nr_segments;

	for (unsigned i = 0; i < req->nr_indirect_pages; i++) {
		struct held_page h;
		unsigned n = left < BLK_SEGS_PER_INDIRECT_PAGE ? left : BLK_SEGS_PER_INDIRECT_PAGE;
		const void *page = hold(q, &h, req->indirect_gref[i], false);

		if (!page)
			return BLK_BAD_GRANT;
		/* A copy: the guest may rewrite its page while we look. */
		memcpy(s->seg + i * BLK_SEGS_PER_INDIRECT_PAGE, page, n * sizeof(s->seg[0]));
		release(q, &h);
		left -= n;
	}
	return blk__check_segments(req, s->seg, &q->cfg.lim);
}

static enum blk_verdict map_segments(struct blk_queue *q, struct slot *s)
{
	const struct blk_request *req = &s->req;
	const struct blkif_request_segment *seg = req->indirect ? s->seg : req->seg;
	bool write = blk__writes_guest(req);

	for (unsigned i = 0; i < req->nr_segments; i++) {
		uint8_t *page = hold(q, &s->held[i], seg[i].gref, write);

		if (!page)
			return BLK_BAD_GRANT;
		s->nr_held = i + 1;
		s->iov[i].iov_base = page + seg[i].first_sect * BLK_SECTOR_SIZE;
		s->iov[i].iov_len = (size_t)(seg[i].last_sect - seg[i].first_sect + 1) *
				    BLK_SECTOR_SIZE;
	}
	return BLK_OK;
}

static void add_op(struct slot *s, enum blk_io_kind kind, unsigned flags, uint64_t offset,
		   uint64_t length)
{
	s->op[s->ops_left++] = (struct blk_io_op){
		.kind = kind, .flags = flags, .iov = s->iov, .iovcnt = s->req.nr_segments,
		.offset = offset, .length = length, .owner = s,
	};
}

/* The I/O a checked request needs; none for a discard of no whole granule. */
static void plan(struct blk_queue *q, struct slot *s)
{
	const struct blk_request *req = &s->req;
	uint64_t off = req->sector << BLK_SECTOR_SHIFT, len;

	switch (req->kind) {
	case BLK_KIND_READ:
		add_op(s, BLK_IO_READ, 0, off, 0);
		break;
	case BLK_KIND_WRITE:
		add_op(s, BLK_IO_WRITE, 0, off, 0);
		break;
	case BLK_KIND_FLUSH:
		/* After everything submitted before it; its data after it. */
		add_op(s, BLK_IO_FLUSH, BLK_IO_AFTER_ALL | (req->nr_segments ? BLK_IO_THEN : 0), 0, 0);
		if (req->nr_segments)
			add_op(s, BLK_IO_WRITE, 0, off, 0);
		break;
	case BLK_KIND_DISCARD:
		if (blk__discard_extent(req->sector, req->nr_sectors, q->cfg.discard_granularity, 0,
					&off, &len))
			add_op(s, BLK_IO_DISCARD, 0, off, len);
		break;
	}
}

static void take(struct blk_queue *q)
{
	struct slot *s = &q->slot[q->free_slot];
	enum blk_verdict v;

	q->free_slot = s->next_free;
	q->in_flight++;
	s->status = BLKIF_RSP_OKAY;
	s->ops_left = 0;
	s->nr_held = 0;
	v = blk__parse(q->entry, q->cfg.abi, &q->cfg.lim, &s->req);
	if (v == BLK_OK && s->req.indirect)
		v = read_indirect(q, s);
	if (v == BLK_OK)
		v = map_segments(q, s);
	if (v != BLK_OK) {
		/* The guest's doing: it can repeat it at will, so quietly. */
		pr_debug("%s: request %#llx (operation %u) refused: %s", q->cfg.name,
			 (unsigned long long)s->req.id, s->req.operation, blk__verdict_name(v));
		respond(q, s, blk__status(v));
		return;
	}
	plan(q, s);
	if (!s->ops_left) {
		respond(q, s, BLKIF_RSP_OKAY);
		return;
	}
	/* Completions are reported by blk_io__reap() only, so ops_left holds. */
	for (unsigned i = 0; i < s->ops_left; i++)
		blk_io__submit(&q->io, &s->op[i]);
}

/* Takes every request the ring holds while a slot is free.  Returns how
 * many; sets q->broken when the frontend lied about its indices. */
static int take_all(struct blk_queue *q)
{
	int taken = 0;

	while (!q->broken && q->free_slot != NO_SLOT) {
		int r = xring__get_request(&q->ring, q->entry);

		if (r == 0)
			break;
		if (r < 0) {
			q->broken = true;
			/* on_broken reports it, as the device's error. */
			pr_debug("%s: the frontend's ring indices are corrupt", q->cfg.name);
			if (q->cfg.on_broken)
				q->cfg.on_broken(q->cfg.opaque);
			break;
		}
		take(q);
		taken++;
	}
	blk_io__kick(&q->io);
	return taken;
}

/* ---- the thread ---- */

static void drain_fd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("eventfd: %s", strerror(errno));
}

/* Sleeps until the guest notifies, I/O completes, or the queue stops. */
static bool wait_for_work(struct blk_queue *q)
{
	struct pollfd pfd[3] = {
		{ .fd = q->stop_fd, .events = POLLIN },
		{ .fd = q->cfg.evtchn_fd, .events = POLLIN },
		{ .fd = q->in_flight ? blk_io__poll_fd(&q->io) : -1, .events = POLLIN },
	};

	if (poll(pfd, 3, -1) < 0 && errno != EINTR)
		pr_warn("%s: poll: %s", q->cfg.name, strerror(errno));
	if (pfd[1].revents & POLLIN)
		drain_fd(q->cfg.evtchn_fd);
	return !(pfd[0].revents & POLLIN);
}

static void *queue_thread(void *opaque)
{
	struct blk_queue *q = opaque;

	for (;;) {
		int progress = blk_io__reap(&q->io, false, on_io_done, q);

		progress += take_all(q);
		progress += blk_io__reap(&q->io, false, on_io_done, q);
		push(q);
		if (progress)
			continue;
		/* Re-arm req_event only when a new request could be taken;
		 * a full queue waits for its I/O instead. */
		if (!q->broken && q->free_slot != NO_SLOT && xring__final_check_for_requests(&q->ring))
			continue;
		if (!wait_for_work(q))
			break;
	}
	/* Stopping: the guest's pages stay mapped until their I/O is done. */
	while (q->in_flight) {
		blk_io__reap(&q->io, true, on_io_done, q);
		push(q);
	}
	return NULL;
}

int blk_queue__start(struct blk_queue *q)
{
	sigset_t all, old;
	int err;

	/* pvmm's signals go to the main loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&q->thread, NULL, queue_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	q->thread_started = true;
	return 0;
}

int blk_queue__run_once(struct blk_queue *q)
{
	int taken = take_all(q);

	while (q->in_flight)
		blk_io__reap(&q->io, true, on_io_done, q);
	push(q);
	return q->broken ? -EIO : taken;
}

/* ---- set-up ---- */

static int map_ring(struct blk_queue *q, const grant_ref_t *refs, unsigned nr_pages)
{
	uint8_t *pages[BLK_MAX_RING_PAGES];

	for (unsigned i = 0; i < nr_pages; i++) {
		if (gnttab__map(q->vm, BACKEND_DOMID, refs[i], true, &q->ring_map[i]) != GNTST_okay)
			return -EFAULT;
		q->nr_ring_pages = i + 1;
		pages[i] = q->ring_map[i].page;
	}
	return xring__init(&q->ring, pages, nr_pages, q->entry_size);
}

static int alloc_slots(struct blk_queue *q)
{
	size_t n = q->ring.size, segs = BLK_MAX_SEGMENTS;

	q->slot = calloc(n, sizeof(*q->slot));
	q->held_mem = calloc(n * segs, sizeof(*q->held_mem));
	q->iov_mem = calloc(n * segs, sizeof(*q->iov_mem));
	q->seg_mem = calloc(n * segs, sizeof(*q->seg_mem));
	if (!q->slot || !q->held_mem || !q->iov_mem || !q->seg_mem)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		q->slot[i].held = q->held_mem + i * segs;
		q->slot[i].iov = q->iov_mem + i * segs;
		q->slot[i].seg = q->seg_mem + i * segs;
		q->slot[i].next_free = i + 1 < n ? (uint32_t)(i + 1) : NO_SLOT;
	}
	q->free_slot = 0;
	return 0;
}

int blk_queue__create(const struct blk_queue_config *cfg, const grant_ref_t *ring_refs,
		      unsigned nr_pages, struct blk_queue **out)
{
	struct blk_queue *q;
	int err;

	if (nr_pages == 0 || nr_pages > BLK_MAX_RING_PAGES ||
	    cfg->lim.max_indirect_segments > BLK_MAX_SEGMENTS)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->cfg = *cfg;
	q->vm = cfg->vm;
	q->entry_size = blk__entry_size(cfg->abi);
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = q->stop_fd < 0 ? -errno : map_ring(q, ring_refs, nr_pages);
	if (!err)
		err = alloc_slots(q);
	if (!err && cfg->persistent && !(q->pgrants = pgrant_cache_new()))
		err = -ENOMEM;
	/* Two operations per request at most (a flush with data). */
	if (!err)
		err = blk_io__init(&q->io, cfg->img, 2 * q->ring.size, cfg->force_sync);
	if (err) {
		blk_queue__destroy(q);
		return err;
	}
	*out = q;
	return 0;
}

void blk_queue__destroy(struct blk_queue *q)
{
	uint64_t one = 1;

	if (!q)
		return;
	if (q->thread_started) {
		if (write(q->stop_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: cannot stop the queue thread: %s", q->cfg.name, strerror(errno));
		pthread_join(q->thread, NULL);
	}
	blk_io__destroy(&q->io);
	pgrant_cache_free(q);
	for (unsigned i = 0; i < q->nr_ring_pages; i++)
		gnttab__unmap(q->vm, &q->ring_map[i]);
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	free(q->slot);
	free(q->held_mem);
	free(q->iov_mem);
	free(q->seg_mem);
	free(q);
}

uint64_t blk_queue__answered(const struct blk_queue *q)
{
	return atomic_load_explicit(&q->answered, memory_order_relaxed);
}

unsigned blk_queue__persistent_grants(const struct blk_queue *q)
{
	return q->pgrants ? q->pgrants->nr_mapped : 0;
}
