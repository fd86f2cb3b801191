/* The xenstore client: see xenstore.h. */
#include "xenstore.h"

#define XS_TIMEOUT_NS   10000000000ull  /* a reply later than this is lost */
#define WATCH_QUEUE     4

struct xs_client xs;

static enum xs_wait wait_how = XS_WAIT_POLL;
static uint32_t next_req_id = 1;
static struct xs_msg watch_queue[WATCH_QUEUE];
static unsigned int watch_head, watch_count;
static struct xs_msg incoming;

long xs_init(void)
{
	struct xen_hvm_param pfn = { .domid = DOMID_SELF, .index = HVM_PARAM_STORE_PFN };
	struct xen_hvm_param evtchn = { .domid = DOMID_SELF, .index = HVM_PARAM_STORE_EVTCHN };
	long rc;

	if (!shared_info && (rc = shared_info_map()) != 0)
		return rc;
	if ((rc = HYPERVISOR_hvm_op(HVMOP_get_param, &pfn)) != 0 ||
	    (rc = HYPERVISOR_hvm_op(HVMOP_get_param, &evtchn)) != 0)
		return rc;
	/* The daemon writes it: phys_ptr()'s const does not apply. */
	xs.ring = (volatile void *)(uintptr_t)phys_ptr(pfn.value * PAGE_SIZE, PAGE_SIZE);
	xs.port = (evtchn_port_t)evtchn.value;
	xs.pfn = pfn.value;
	if (!xs.ring || !xs.port || evtchn.value >= EVTCHN_2L_NR_PORTS)
		return -XEN_ENODEV;
	return 0;
}

void xs_set_wait(enum xs_wait how)
{
	wait_how = how;
}

/* One wait for the daemon; false once deadline has passed. */
static bool xs_block(uint64_t deadline)
{
	if (xen_now() >= deadline)
		return false;
	if (wait_how == XS_WAIT_YIELD) {
		HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
		return true;
	}
	/* Cleared only after a poll, and the caller looks at the ring after
	 * each: an event for data we have not seen yet is never lost. */
	sched_poll(xs.port, deadline);
	evtchn_clear_pending(xs.port);
	return true;
}

static long ring_write(const char *data, uint32_t len, uint64_t deadline)
{
	volatile struct xenstore_domain_interface *r = xs.ring;

	while (len) {
		XENSTORE_RING_IDX cons = r->req_cons, prod = r->req_prod;
		uint32_t used = prod - cons, chunk;

		if (used > XENSTORE_RING_SIZE)
			return -XEN_EIO;
		chunk = XENSTORE_RING_SIZE - used;
		if (!chunk) {
			if (!xs_block(deadline))
				return -XEN_ETIMEDOUT;
			continue;
		}
		mb();   /* read cons before overwriting what it freed */
		if (chunk > XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod))
			chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
		if (chunk > len)
			chunk = len;
		for (uint32_t i = 0; i < chunk; i++)
			r->req[MASK_XENSTORE_IDX(prod) + i] = data[i];
		barrier();      /* the bytes before the index that shows them */
		r->req_prod = prod + chunk;
		data += chunk;
		len -= chunk;
		evtchn_send(xs.port);
	}
	return 0;
}

static long ring_read(char *data, uint32_t len, uint64_t deadline)
{
	volatile struct xenstore_domain_interface *r = xs.ring;

	while (len) {
		XENSTORE_RING_IDX cons = r->rsp_cons, prod = r->rsp_prod;
		uint32_t avail = prod - cons, chunk;

		if (avail > XENSTORE_RING_SIZE)
			return -XEN_EIO;
		if (!avail) {
			if (!xs_block(deadline))
				return -XEN_ETIMEDOUT;
			continue;
		}
		barrier();      /* the index before the bytes it shows */
		chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
		if (chunk > avail)
			chunk = avail;
		if (chunk > len)
			chunk = len;
		for (uint32_t i = 0; i < chunk; i++)
			data[i] = r->rsp[MASK_XENSTORE_IDX(cons) + i];
		mb();   /* done with the bytes before giving them back */
		r->rsp_cons = cons + chunk;
		data += chunk;
		len -= chunk;
		evtchn_send(xs.port);
	}
	return 0;
}

static long read_msg(struct xs_msg *m, uint64_t deadline)
{
	long rc = ring_read((char *)&m->hdr, sizeof(m->hdr), deadline);

	if (rc)
		return rc;
	if (m->hdr.len > XENSTORE_PAYLOAD_MAX)
		return -XEN_EIO;
	rc = ring_read(m->body, m->hdr.len, deadline);
	m->body[rc ? 0 : m->hdr.len] = '\0';
	return rc;
}

static void queue_watch(const struct xs_msg *m)
{
	if (watch_count == WATCH_QUEUE) {
		printf("xenstore: watch event queue full, one dropped\n");
		return;
	}
	struct xs_msg *slot = &watch_queue[(watch_head + watch_count) % WATCH_QUEUE];

	/* Only what the message holds: copies are slow when each instruction
	 * is emulated. */
	slot->hdr = m->hdr;
	memcpy(slot->body, m->body, m->hdr.len + 1);
	watch_count++;
}

long xs_talk(uint32_t type, uint32_t tx, const void *payload, uint32_t len,
	     struct xs_msg *reply)
{
	uint64_t deadline = xen_now() + XS_TIMEOUT_NS;
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = next_req_id++, .tx_id = tx, .len = len,
	};
	long rc;

	if (len > XENSTORE_PAYLOAD_MAX)
		return -XEN_E2BIG;
	rc = ring_write((const char *)&hdr, sizeof(hdr), deadline);
	if (!rc)
		rc = ring_write(payload, len, deadline);
	while (!rc) {
		rc = read_msg(reply, deadline);
		if (rc)
			break;
		if (reply->hdr.type == XS_WATCH_EVENT) {
			queue_watch(reply);
			continue;
		}
		if (reply->hdr.req_id == hdr.req_id)
			return 0;
		printf("xenstore: reply for request %u while awaiting %u\n",
		       reply->hdr.req_id, hdr.req_id);
		rc = -XEN_EIO;
	}
	return rc;
}

long xs_error(const struct xs_msg *reply)
{
	static const struct {
		const char *name;
		long err;
	} errors[] = {
		{ "EINVAL", XEN_EINVAL }, { "EACCES", XEN_EACCES },
		{ "EEXIST", XEN_EEXIST }, { "EISDIR", XEN_EISDIR },
		{ "ENOENT", XEN_ENOENT }, { "ENOMEM", XEN_ENOMEM },
		{ "ENOSPC", XEN_ENOSPC }, { "EIO", XEN_EIO },
		{ "ENOTEMPTY", XEN_ENOTEMPTY }, { "ENOSYS", XEN_ENOSYS },
		{ "EROFS", XEN_EROFS }, { "EBUSY", XEN_EBUSY },
		{ "EAGAIN", XEN_EAGAIN }, { "EISCONN", XEN_EISCONN },
		{ "E2BIG", XEN_E2BIG }, { "EPERM", XEN_EPERM },
	};

	if (reply->hdr.type != XS_ERROR)
		return 0;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (strcmp(reply->body, errors[i].name) == 0)
			return -errors[i].err;
	return -XEN_EIO;
}

long xs_path_op(uint32_t type, uint32_t tx, const char *path,
		const char *second, bool second_nul, struct xs_msg *reply)
{
	static char payload[XENSTORE_PAYLOAD_MAX];
	size_t plen = strlen(path) + 1;
	size_t slen = second ? strlen(second) + (second_nul ? 1 : 0) : 0;
	long rc;

	if (plen + slen > sizeof(payload))
		return -XEN_E2BIG;
	memcpy(payload, path, plen);
	if (second)
		memcpy(payload + plen, second, slen);
	rc = xs_talk(type, tx, payload, (uint32_t)(plen + slen), reply);
	if (rc)
		return rc;
	if (reply->hdr.type == XS_ERROR)
		return xs_error(reply);
	return reply->hdr.type == type ? 0 : -XEN_EIO;
}

long xs_read(uint32_t tx, const char *path, char *buf, size_t size)
{
	long rc = xs_path_op(XS_READ, tx, path, NULL, false, &incoming);
	size_t n;

	if (rc)
		return rc;
	n = incoming.hdr.len < size ? incoming.hdr.len : size - 1;
	memcpy(buf, incoming.body, n);
	buf[n] = '\0';
	return incoming.hdr.len;
}

long xs_write(uint32_t tx, const char *path, const char *value)
{
	return xs_path_op(XS_WRITE, tx, path, value, false, &incoming);
}

long xs_transaction_start(uint32_t *tx)
{
	uint32_t id = 0;
	long rc = xs_talk(XS_TRANSACTION_START, 0, "", 1, &incoming);
	const char *p = incoming.body;

	if (rc)
		return rc;
	if (incoming.hdr.type == XS_ERROR)
		return xs_error(&incoming);
	if (incoming.hdr.type != XS_TRANSACTION_START || !*p)
		return -XEN_EIO;
	for (; *p >= '0' && *p <= '9'; p++)
		id = id * 10 + (uint32_t)(*p - '0');
	if (*p || !id)
		return -XEN_EIO;
	*tx = id;
	return 0;
}

long xs_transaction_end(uint32_t tx, bool commit)
{
	long rc = xs_talk(XS_TRANSACTION_END, tx, commit ? "T" : "F", 2, &incoming);

	if (rc)
		return rc;
	if (incoming.hdr.type == XS_ERROR)
		return xs_error(&incoming);
	return incoming.hdr.type == XS_TRANSACTION_END ? 0 : -XEN_EIO;
}

long xs_next_watch(struct xs_msg *event, uint64_t deadline)
{
	while (!watch_count) {
		volatile struct xenstore_domain_interface *r = xs.ring;
		long rc;

		if (r->rsp_prod == r->rsp_cons) {
			if (!xs_block(deadline))
				return -XEN_ETIMEDOUT;
			continue;
		}
		rc = read_msg(&incoming, deadline);
		if (rc)
			return rc;
		if (incoming.hdr.type == XS_WATCH_EVENT)
			queue_watch(&incoming);
		else
			printf("xenstore: unexpected message type %u outside a request\n",
			       incoming.hdr.type);
	}
	event->hdr = watch_queue[watch_head].hdr;
	memcpy(event->body, watch_queue[watch_head].body, event->hdr.len + 1);
	watch_head = (watch_head + 1) % WATCH_QUEUE;
	watch_count--;
	return 0;
}

void xs_watch_discard(void)
{
	watch_count = 0;
}

const char *xs_string(const struct xs_msg *m, unsigned int n)
{
	uint32_t off = 0;

	for (; n; n--) {
		off += (uint32_t)strnlen(m->body + off, m->hdr.len - off) + 1;
		if (off >= m->hdr.len)
			return NULL;
	}
	return off < m->hdr.len ? m->body + off : NULL;
}

bool xs_parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return true;
}

long xs_read_u64(const char *dir, const char *key, uint64_t *v)
{
	char path[192], buf[32];
	long rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xs_read(0, path, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	if (!xs_parse_u64(buf, v)) {
		printf("xenstore: %s is '%s', not a number\n", path, buf);
		return -XEN_EINVAL;
	}
	return 0;
}

long xs_find_backend(const char *fe, char *be, size_t be_size, domid_t *be_id)
{
	char path[192];
	uint64_t v;
	long rc;

	snprintf(path, sizeof(path), "%s/backend", fe);
	rc = xs_read(0, path, be, be_size);
	if (rc <= 0 || (size_t)rc >= be_size) {
		printf("xenstore: cannot read %s: %ld\n", path, rc);
		return rc < 0 ? rc : -XEN_EINVAL;
	}
	if ((rc = xs_read_u64(fe, "backend-id", &v)) != 0 || v >= DOMID_FIRST_RESERVED) {
		printf("xenstore: bad %s/backend-id\n", fe);
		return rc ? rc : -XEN_EINVAL;
	}
	*be_id = (domid_t)v;
	return 0;
}
