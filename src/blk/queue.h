/*
 * One queue of a block device: a blkif ring in granted guest pages, the
 * event channel that wakes it, and the thread that serves it.
 *
 * The thread takes requests off the ring (ring-io/xen_ring.h), checks each
 * at the one boundary (blk/request.h), maps its grants (gnttab__map, with
 * write access only where the request writes guest memory), and hands the
 * data movement to the queue's I/O engine (blk/io.h), which reads and
 * writes the image straight into those pages.  Up to a ring's worth of
 * requests are in flight at once; each is answered, with the frontend's id,
 * when its I/O completes, and the frontend is notified only when the ring's
 * rsp_event asks for it.  Before sleeping, the thread re-arms req_event and
 * looks once more (final check), so no request is missed.
 *
 * A frontend that lies about its ring indices breaks the ring: the queue
 * stops taking requests and reports it through on_broken; the device is
 * then disconnected.  No request of a broken ring is touched again.
 *
 * Persistent grants (blkif.h feature-persistent): when the frontend
 * promises to reuse its grants and to let them be mapped writable, the
 * queue keeps up to BLK_PGRANT_MAX of them mapped (writable) between
 * requests, evicting the least recently used idle one when full; grants it
 * cannot keep are mapped for the request alone, as without the feature.
 */
#ifndef PVMM_BLK_QUEUE_H
#define PVMM_BLK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "blk/request.h"
#include "xen/xen_abi.h"

struct vm;
struct blk_image;
struct blk_queue;

/* Grants one queue keeps mapped (Linux's blkback keeps 1056). */
#define BLK_PGRANT_MAX 1024
/* Pages of one ring: max-ring-page-order 4. */
#define BLK_MAX_RING_ORDER 4
#define BLK_MAX_RING_PAGES (1u << BLK_MAX_RING_ORDER)

struct blk_queue_config {
	struct vm *vm;
	struct blk_image *img;
	struct blk_limits lim;
	uint32_t discard_granularity;   /* bytes, as advertised */
	enum blk_abi abi;
	bool persistent;            /* the frontend's feature-persistent */
	bool force_sync;            /* no io_uring (tests) */
	const char *name;           /* for messages: "vbd 51712 queue 0" */
	/* The backend's end of the queue's event channel: readable when the
	 * guest notifies; guest_port is the port notified back. */
	int evtchn_fd;
	uint32_t guest_port;
	/* Called once, on the queue's thread, when the ring breaks. */
	void (*on_broken)(void *opaque);
	void *opaque;
};

/*
 * Maps the ring's nr_pages grants (writable) and prepares the queue; the
 * thread is not started.  Returns 0, -EINVAL (a bad page count), -EFAULT
 * (a ring grant refused), or -ENOMEM.
 */
int blk_queue__create(const struct blk_queue_config *cfg, const grant_ref_t *ring_refs,
		      unsigned nr_pages, struct blk_queue **out);

/* Serves the queue on its own thread.  0 or -errno. */
int blk_queue__start(struct blk_queue *q);

/*
 * One pass without a thread: takes what the ring holds, waits for all of
 * it to complete and answers it.  Returns the number of requests taken, or
 * -EIO when the ring is broken.  Not while the thread runs.
 */
int blk_queue__run_once(struct blk_queue *q);

/* Stops the thread (after the I/O in flight completes and is answered),
 * unmaps every grant and frees the queue.  The event channel is the
 * caller's to close. */
void blk_queue__destroy(struct blk_queue *q);

/* Requests the queue has answered, for tests and statistics. */
uint64_t blk_queue__answered(const struct blk_queue *q);
/* Grants the queue keeps mapped between requests. */
unsigned blk_queue__persistent_grants(const struct blk_queue *q);

#endif
