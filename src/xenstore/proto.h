/*
 * One client connection to the xenstore and the wire protocol it speaks
 * (docs/misc/xenstore.txt): requests in, replies and watch events out.
 *
 * A connection belongs to a domain.  Domain 0 is privileged (pvmm's own
 * clients); any other domain is a guest, held to node permissions and the
 * quotas in store.h, and its relative paths resolve under
 * /local/domain/<domid>.  The connection keeps the guest's watches, its
 * open transactions and an output queue; it does no I/O: a transport (the
 * ring, ring.h) feeds it whole requests and drains its output.
 *
 * Every request gets exactly one reply with the request's req_id and tx_id:
 * the request's type and payload, or XS_ERROR with the name of a Xen errno
 * ("ENOENT", "EACCES", ...).  Malformed requests are errors, never fatal:
 *   payload length > XENSTORE_PAYLOAD_MAX      E2BIG
 *   unknown type, or one pvmm does not serve  ENOSYS (as xenstored)
 *   a domain-0-only type from a guest          EACCES
 *   tx_id naming no open transaction           ENOENT
 *   missing NUL, wrong argument count, bad path characters, "//",
 *   trailing "/", a path too long              EINVAL
 */
#ifndef PVMM_XENSTORE_PROTO_H
#define PVMM_XENSTORE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xenstore/store.h"

struct xs_conn;

struct xs_conn *xs__conn_create(struct xs_store *s, uint16_t domid);
/* Drops the connection's watches and transactions; waits if its wake
 * function (below) is running on another thread. */
void xs__conn_destroy(struct xs_conn *c);

/*
 * Serves one request: hdr->len payload bytes at payload (not read when
 * hdr->len exceeds XENSTORE_PAYLOAD_MAX).  The reply, and any watch events
 * the request causes on this connection, go to its output queue.
 */
void xs__conn_handle(struct xs_conn *c, const struct xsd_sockmsg *hdr,
		     const char *payload);

/*
 * Takes up to max bytes of the output stream (each message a struct
 * xsd_sockmsg and its payload, back to back); returns how many.  A message
 * may be taken in pieces.
 */
size_t xs__conn_read_output(struct xs_conn *c, void *buf, size_t max);

/* False while XS_QUOTA_OUTSTANDING replies wait unread (guests only): the
 * transport then stops reading requests until the guest catches up. */
bool xs__conn_can_accept(struct xs_conn *c);

/*
 * fn(opaque) runs when output is queued for this connection by anything but
 * its own xs__conn_handle(): a watch event caused by another client.  It runs
 * without the store's mutex and may call into the store and this connection.
 */
void xs__conn_set_wake(struct xs_conn *c, void (*fn)(void *opaque), void *opaque);

/* Back to a fresh connection: no watches, no transactions, no output. */
void xs__conn_reset(struct xs_conn *c);

#endif
