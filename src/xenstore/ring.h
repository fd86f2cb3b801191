/*
 * The xenstore transport a guest sees: the shared page struct
 * xenstore_domain_interface (docs/misc/xenstore-ring.txt), a 1 KiB request
 * ring and a 1 KiB response ring with free-running indices, carrying the
 * wire protocol of proto.h for one guest connection.
 *
 * The guest writes every byte of the page at any time, so each index is read
 * once and checked, request bytes are copied out before they are parsed, and
 * every access stays inside the page.  A guest whose indices are impossible
 * (more than XENSTORE_RING_SIZE bytes outstanding) is no longer served: the
 * page's error field says XENSTORE_ERROR_RINGIDX and pvmm logs it once.  A
 * request header announcing more than XENSTORE_PAYLOAD_MAX bytes gets an
 * E2BIG error reply, then the request ring is no longer read (the stream
 * cannot be resynchronised): error field XENSTORE_ERROR_PROTO.  Either way
 * the guest may start again through ring reconnection, which pvmm offers
 * (XENSTORE_SERVER_FEATURE_RECONNECTION and _ERROR in server_features).
 */
#ifndef PVMM_XENSTORE_RING_H
#define PVMM_XENSTORE_RING_H

#include <stdint.h>

#include "xenstore/store.h"

struct xs_ring;

/*
 * Serves domain domid through page: the host address of the guest's
 * xenstore page (gmem__ptr() of gmem__special_gpa(GMEM_SPECIAL_XENSTORE)),
 * valid until xs__ring_destroy().
 * notify_guest(opaque) is called after pvmm has consumed requests or
 * produced responses: the caller raises the guest's xenstore event channel.
 * Announces the server features and marks the ring connected; the indices
 * are taken as they are.  NULL when out of memory.
 */
struct xs_ring *xs__ring_create(struct xs_store *s, uint16_t domid,
				struct xenstore_domain_interface *page,
				void (*notify_guest)(void *opaque), void *opaque);
/* No thread may be in xs__ring_process() for this ring, apart from the
 * store's own wake-ups, which this waits for. */
void xs__ring_destroy(struct xs_ring *r);

/*
 * Does all the work the ring allows: a reconnection the guest asked for,
 * every complete request (requests arriving in pieces are reassembled across
 * calls), and as much queued output as the response ring has room for; the
 * rest waits for the guest to consume.  Call it when the guest signals the
 * event channel; the store calls it itself when watch events are queued.
 * Safe from any thread: a call made while another thread is processing the
 * ring leaves the work to that thread and returns.
 */
void xs__ring_process(struct xs_ring *r);

#endif
