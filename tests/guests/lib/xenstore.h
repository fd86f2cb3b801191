/*
 * A minimal xenstore client, as a PVH guest has one: requests and replies
 * (<xen/io/xs_wire.h>) on the ring page HVM_PARAM_STORE_PFN names, the
 * daemon notified through the event channel in HVM_PARAM_STORE_EVTCHN.
 * One request is outstanding at a time; watch events that arrive while a
 * reply is awaited are queued for xs_next_watch().
 */
#ifndef GUEST_XENSTORE_H
#define GUEST_XENSTORE_H

#include "events.h"

/* How to wait for the daemon: SCHEDOP_poll on the store port, as Linux
 * and Mini-OS block for an event, or SCHEDOP_yield in a loop, as GRUB
 * does. */
enum xs_wait {
	XS_WAIT_POLL,
	XS_WAIT_YIELD,
};

struct xs_msg {
	struct xsd_sockmsg hdr;
	char body[XENSTORE_PAYLOAD_MAX + 1];    /* NUL-terminated past len */
};

struct xs_client {
	volatile struct xenstore_domain_interface *ring;
	evtchn_port_t port;
	uint64_t pfn;
};
extern struct xs_client xs;

/* Finds the ring and port and maps shared_info if needed: 0 or -errno. */
long xs_init(void);
void xs_set_wait(enum xs_wait how);

/*
 * Sends one request and waits for its reply.  Returns 0 with the reply in
 * *reply (of any type, XS_ERROR included), or -XEN_ETIMEDOUT / -XEN_EIO
 * when the ring fails.
 */
long xs_talk(uint32_t type, uint32_t tx, const void *payload, uint32_t len,
	     struct xs_msg *reply);

/* The -XEN_E* value an XS_ERROR reply names, -XEN_EIO for one unknown;
 * 0 for other replies. */
long xs_error(const struct xs_msg *reply);

/* Requests with one path argument ("path\0"), an optional second string
 * (NUL-terminated when second_nul) after it: 0 or -errno, reply in
 * *reply. */
long xs_path_op(uint32_t type, uint32_t tx, const char *path,
		const char *second, bool second_nul, struct xs_msg *reply);

/* XS_READ: the value's length with the value NUL-terminated in buf (cut to
 * size), or -errno. */
long xs_read(uint32_t tx, const char *path, char *buf, size_t size);

/* A plain decimal string: false for empty strings, junk and overflow. */
bool xs_parse_u64(const char *s, uint64_t *v);

/* dir/key as a decimal number: 0, -XEN_ENOENT, or -XEN_EINVAL for junk. */
long xs_read_u64(const char *dir, const char *key, uint64_t *v);

/* A frontend directory's backend: fe/backend into be, fe/backend-id into
 * *be_id, both checked.  0 or a negative Xen errno (reported). */
long xs_find_backend(const char *fe, char *be, size_t be_size, domid_t *be_id);
long xs_write(uint32_t tx, const char *path, const char *value);
long xs_transaction_start(uint32_t *tx);
long xs_transaction_end(uint32_t tx, bool commit);

/* The next watch event, queued or arriving before deadline (absolute Xen
 * system time): 0, or -XEN_ETIMEDOUT. */
long xs_next_watch(struct xs_msg *event, uint64_t deadline);
/* Drops queued watch events. */
void xs_watch_discard(void);

/* The n-th NUL-terminated string of a message body, NULL past its end. */
const char *xs_string(const struct xs_msg *m, unsigned int n);

#endif
