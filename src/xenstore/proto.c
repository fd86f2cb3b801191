/*
 * The xenstore wire protocol on one connection: checking a request's shape,
 * dispatching it to the store, and queueing the reply and watch events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "xenstore/store_priv.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the connection and its output ---- */

struct xs_ctx xs_conn_ctx(struct xs_conn *c, struct xs_tx *tx)
{
	return (struct xs_ctx){
		.s = c->store, .conn = c, .tx = tx, .domid = c->domid, .priv = c->priv,
	};
}

struct xs_conn *xs__conn_create(struct xs_store *s, uint16_t domid)
{
	struct xs_conn *c = xs_zalloc(sizeof(*c));
	char home[32];

	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	c->store = s;
	c->domid = domid;
	c->priv = domid == 0;
	c->home = xs_strdup(home);
	c->next_tx_id = 1;
	xs_store_lock(s);
	c->next = s->conns;
	s->conns = c;
	xs_store_unlock(s);
	return c;
}

void xs_conn_free_output(struct xs_conn *c)
{
	while (c->out_head) {
		struct xs_msg *m = c->out_head;

		c->out_head = m->next;
		free(m);
	}
	c->out_tail = NULL;
	c->out_sent = 0;
	c->nr_replies = c->nr_events = 0;
}

void xs__conn_destroy(struct xs_conn *c)
{
	struct xs_store *s = c->store;
	struct xs_conn **pp;

	xs_store_lock(s);
	for (pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	xs_conn_forget(c);
	xs_conn_drop_state(c);
	xs_conn_free_output(c);
	xs_store_unlock(s);
	free(c->home);
	free(c);
}

void xs__conn_set_wake(struct xs_conn *c, void (*fn)(void *opaque), void *opaque)
{
	xs_store_lock(c->store);
	c->wake = fn;
	c->wake_opaque = opaque;
	xs_store_unlock(c->store);
}

void xs__conn_reset(struct xs_conn *c)
{
	xs_store_lock(c->store);
	xs_conn_drop_state(c);
	xs_conn_free_output(c);
	xs_store_unlock(c->store);
}

bool xs__conn_can_accept(struct xs_conn *c)
{
	bool ok;

	xs_store_lock(c->store);
	ok = c->priv || c->nr_replies < XS_QUOTA_OUTSTANDING;
	xs_store_unlock(c->store);
	return ok;
}

/* An identical event still unread says all the new one would. */
static bool event_queued(const struct xs_conn *c, const void *payload, uint32_t len)
{
	for (const struct xs_msg *m = c->out_head; m; m = m->next)
		if (m->is_event && m->size == sizeof(struct xsd_sockmsg) + len &&
		    !memcmp(m->bytes + sizeof(struct xsd_sockmsg), payload, len))
			return true;
	return false;
}

bool xs_conn_queue(struct xs_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};
	bool event = type == XS_WATCH_EVENT;
	struct xs_msg *m;

	if (event && event_queued(c, payload, len))
		return false;
	if (event && !c->priv && c->nr_events >= XS_QUOTA_EVENTS) {
		if (!c->warned_events)
			pr_warn("xenstore: domain %u is not reading its watch events; "
				"dropping events", c->domid);
		c->warned_events = true;
		return false;
	}
	m = xs_zalloc(sizeof(*m) + sizeof(hdr) + len);
	m->is_event = event;
	m->size = (uint32_t)sizeof(hdr) + len;
	memcpy(m->bytes, &hdr, sizeof(hdr));
	if (len)
		memcpy(m->bytes + sizeof(hdr), payload, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	if (event)
		c->nr_events++;
	else
		c->nr_replies++;
	return true;
}

size_t xs__conn_read_output(struct xs_conn *c, void *buf, size_t max)
{
	size_t done = 0;

	xs_store_lock(c->store);
	while (done < max && c->out_head) {
		struct xs_msg *m = c->out_head;
		size_t n = m->size - c->out_sent;

		if (n > max - done)
			n = max - done;
		memcpy((char *)buf + done, m->bytes + c->out_sent, n);
		done += n;
		c->out_sent += (uint32_t)n;
		if (c->out_sent < m->size)
			break;
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_sent = 0;
		if (m->is_event)
			c->nr_events--;
		else
			c->nr_replies--;
		free(m);
	}
	xs_store_unlock(c->store);
	return done;
}

/* ---- requests ---- */

static int reply(struct xs_conn *c, const struct xsd_sockmsg *h,
		 const void *data, size_t len)
{
	if (len > XENSTORE_PAYLOAD_MAX)
		return E2BIG;
	xs_conn_queue(c, h->type, h->req_id, h->tx_id, data, (uint32_t)len);
	return 0;
}

static int reply_ok(struct xs_conn *c, const struct xsd_sockmsg *h)
{
	return reply(c, h, "OK", sizeof("OK"));
}

static void reply_error(struct xs_conn *c, const struct xsd_sockmsg *h, int err)
{
	/* xenstored answers EINVAL for an errno it cannot name. */
	const char *name = xsd_errors[0].errstring;

	for (size_t i = 0; i < ARRAY_SIZE(xsd_errors); i++) {
		if (xsd_errors[i].errnum == err) {
			name = xsd_errors[i].errstring;
			break;
		}
	}
	xs_conn_queue(c, XS_ERROR, h->req_id, h->tx_id, name, (uint32_t)strlen(name) + 1);
}

/*
 * The payload as NUL-terminated strings: how many there are, or -1 unless
 * the payload ends with a NUL.  argv gets the first max of them.
 */
static int split(const char *p, uint32_t len, const char **argv, int max)
{
	uint32_t i = 0;
	int n = 0;

	if (!len || p[len - 1])
		return -1;
	while (i < len) {
		if (n < max)
			argv[n] = p + i;
		n++;
		i += (uint32_t)strlen(p + i) + 1;
	}
	return n;
}

/* A decimal number without sign or spaces, at most max. */
static bool parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* "n0", "r1", "w2", "b3": the access letter and a domain id. */
static bool parse_perm(const char *s, struct xs_perm_entry *e)
{
	uint32_t domid;

	switch (s[0]) {
	case 'n': e->perm = XS_PERM_NONE; break;
	case 'r': e->perm = XS_PERM_READ; break;
	case 'w': e->perm = XS_PERM_WRITE; break;
	case 'b': e->perm = XS_PERM_BOTH; break;
	default: return false;
	}
	if (!parse_uint(s + 1, UINT16_MAX, &domid))
		return false;
	e->domid = (uint16_t)domid;
	return true;
}

typedef int (*handler_fn)(struct xs_conn *c, struct xs_tx *tx,
			  const struct xsd_sockmsg *h, const char *p);
typedef int (*path_buf_op)(struct xs_ctx *c, const char *path, struct xs_buf *out);
typedef int (*path_op)(struct xs_ctx *c, const char *path);

/* <path>| answered with what op produces. */
static int one_path_reply(struct xs_conn *c, struct xs_tx *tx,
			  const struct xsd_sockmsg *h, const char *p, path_buf_op op)
{
	struct xs_ctx ctx = xs_conn_ctx(c, tx);
	struct xs_buf b = { 0 };
	const char *path;
	int err;

	if (split(p, h->len, &path, 1) != 1)
		return EINVAL;
	err = op(&ctx, path, &b);
	if (!err)
		err = reply(c, h, b.p, b.len);
	free(b.p);
	return err;
}

/* <path>| answered OK. */
static int one_path_ok(struct xs_conn *c, struct xs_tx *tx,
		       const struct xsd_sockmsg *h, const char *p, path_op op)
{
	struct xs_ctx ctx = xs_conn_ctx(c, tx);
	const char *path;
	int err;

	if (split(p, h->len, &path, 1) != 1)
		return EINVAL;
	err = op(&ctx, path);
	return err ? err : reply_ok(c, h);
}

static int h_read(struct xs_conn *c, struct xs_tx *tx,
		  const struct xsd_sockmsg *h, const char *p)
{
	return one_path_reply(c, tx, h, p, xs_op_read);
}

static int h_directory(struct xs_conn *c, struct xs_tx *tx,
		       const struct xsd_sockmsg *h, const char *p)
{
	return one_path_reply(c, tx, h, p, xs_op_directory);
}

static int h_get_perms(struct xs_conn *c, struct xs_tx *tx,
		       const struct xsd_sockmsg *h, const char *p)
{
	return one_path_reply(c, tx, h, p, xs_op_get_perms);
}

static int h_mkdir(struct xs_conn *c, struct xs_tx *tx,
		   const struct xsd_sockmsg *h, const char *p)
{
	return one_path_ok(c, tx, h, p, xs_op_mkdir);
}

static int h_rm(struct xs_conn *c, struct xs_tx *tx,
		const struct xsd_sockmsg *h, const char *p)
{
	return one_path_ok(c, tx, h, p, xs_op_rm);
}

/* <path>|<value|>: the value is every byte after the path's NUL. */
static int h_write(struct xs_conn *c, struct xs_tx *tx,
		   const struct xsd_sockmsg *h, const char *p)
{
	struct xs_ctx ctx = xs_conn_ctx(c, tx);
	const char *nul = h->len ? memchr(p, '\0', h->len) : NULL;
	uint32_t plen;
	int err;

	if (!nul)
		return EINVAL;
	plen = (uint32_t)(nul - p) + 1;
	err = xs_op_write(&ctx, p, p + plen, h->len - plen);
	return err ? err : reply_ok(c, h);
}

static int h_directory_part(struct xs_conn *c, struct xs_tx *tx,
			    const struct xsd_sockmsg *h, const char *p)
{
	struct xs_ctx ctx = xs_conn_ctx(c, tx);
	struct xs_buf b = { 0 };
	const char *a[2];
	uint32_t offset;
	int err;

	if (split(p, h->len, a, 2) != 2 || !parse_uint(a[1], UINT32_MAX, &offset))
		return EINVAL;
	err = xs_op_directory_part(&ctx, a[0], offset, &b);
	if (!err)
		err = reply(c, h, b.p, b.len);
	free(b.p);
	return err;
}

/* <path>|<perm>|+ */
static int h_set_perms(struct xs_conn *c, struct xs_tx *tx,
		       const struct xsd_sockmsg *h, const char *p)
{
	struct xs_ctx ctx = xs_conn_ctx(c, tx);
	struct xs_perm_entry *perm;
	const char *s;
	int n = split(p, h->len, NULL, 0), err = 0;

	if (n < 2)
		return EINVAL;
	perm = xs_zalloc((size_t)(n - 1) * sizeof(*perm));
	s = p + strlen(p) + 1;
	for (int i = 0; i < n - 1; i++, s += strlen(s) + 1) {
		if (!parse_perm(s, &perm[i])) {
			err = EINVAL;
			break;
		}
	}
	if (!err)
		err = xs_op_set_perms(&ctx, p, perm, (uint32_t)(n - 1));
	free(perm);
	return err ? err : reply_ok(c, h);
}

/* <wpath>|<token>|: OK, then the event every new watch fires at once. */
static int h_watch(struct xs_conn *c, struct xs_tx *tx,
		   const struct xsd_sockmsg *h, const char *p)
{
	struct xs_watch *w;
	const char *a[2];
	int err;

	(void)tx;
	if (split(p, h->len, a, 2) != 2)
		return EINVAL;
	err = xs_watch_add(c, a[0], a[1], &w);
	if (err)
		return err;
	reply_ok(c, h);
	xs_watch_fire_initial(c, w);
	return 0;
}

static int h_unwatch(struct xs_conn *c, struct xs_tx *tx,
		     const struct xsd_sockmsg *h, const char *p)
{
	const char *a[2];
	int err;

	(void)tx;
	if (split(p, h->len, a, 2) != 2)
		return EINVAL;
	err = xs_watch_remove(c, a[0], a[1]);
	return err ? err : reply_ok(c, h);
}

/* The payload is reserved and, as in xenstored, not looked at. */
static int h_tx_start(struct xs_conn *c, struct xs_tx *tx,
		      const struct xsd_sockmsg *h, const char *p)
{
	char id_str[16];
	uint32_t id;
	int err;

	(void)p;
	if (tx)
		return EBUSY;   /* no nested transactions */
	err = xs_tx_start(c, &id);
	if (err)
		return err;
	snprintf(id_str, sizeof(id_str), "%u", id);
	return reply(c, h, id_str, strlen(id_str) + 1);
}

/* T| commits, F| discards. */
static int h_tx_end(struct xs_conn *c, struct xs_tx *tx,
		    const struct xsd_sockmsg *h, const char *p)
{
	const char *arg;
	int err;

	if (split(p, h->len, &arg, 1) != 1 || (strcmp(arg, "T") && strcmp(arg, "F")))
		return EINVAL;
	if (!tx)
		return ENOENT;
	err = xs_tx_end(c, tx, arg[0] == 'T');
	return err ? err : reply_ok(c, h);
}

static int h_get_domain_path(struct xs_conn *c, struct xs_tx *tx,
			     const struct xsd_sockmsg *h, const char *p)
{
	const char *arg;
	char path[32];
	uint32_t domid;

	(void)tx;
	if (split(p, h->len, &arg, 1) != 1 || !parse_uint(arg, UINT16_MAX, &domid))
		return EINVAL;
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	return reply(c, h, path, strlen(path) + 1);
}

/* Drops the caller's watches and transactions, as xenstored does. */
static int h_reset_watches(struct xs_conn *c, struct xs_tx *tx,
			   const struct xsd_sockmsg *h, const char *p)
{
	(void)tx;
	(void)p;
	xs_conn_drop_state(c);
	return reply_ok(c, h);
}

#define F_NOTID 1u      /* tx_id is ignored */
#define F_PRIV  2u      /* domain 0 only */

/* Types with no handler are not served (ENOSYS); the domain-0-only ones
 * are refused to guests first, as xenstored refuses them (EACCES). */
static const struct {
	handler_fn fn;
	unsigned int flags;
} handlers[XS_TYPE_COUNT] = {
	[XS_CONTROL] = { NULL, F_PRIV },
	[XS_DIRECTORY] = { h_directory, 0 },
	[XS_READ] = { h_read, 0 },
	[XS_GET_PERMS] = { h_get_perms, 0 },
	[XS_WATCH] = { h_watch, F_NOTID },
	[XS_UNWATCH] = { h_unwatch, F_NOTID },
	[XS_TRANSACTION_START] = { h_tx_start, 0 },
	[XS_TRANSACTION_END] = { h_tx_end, 0 },
	[XS_INTRODUCE] = { NULL, F_PRIV },
	[XS_RELEASE] = { NULL, F_PRIV },
	[XS_GET_DOMAIN_PATH] = { h_get_domain_path, 0 },
	[XS_WRITE] = { h_write, 0 },
	[XS_MKDIR] = { h_mkdir, 0 },
	[XS_RM] = { h_rm, 0 },
	[XS_SET_PERMS] = { h_set_perms, 0 },
	[XS_IS_DOMAIN_INTRODUCED] = { NULL, F_PRIV },
	[XS_RESUME] = { NULL, F_PRIV },
	[XS_SET_TARGET] = { NULL, F_PRIV },
	[XS_RESET_WATCHES] = { h_reset_watches, 0 },
	[XS_DIRECTORY_PART] = { h_directory_part, 0 },
};

static int dispatch(struct xs_conn *c, const struct xsd_sockmsg *h, const char *p)
{
	struct xs_tx *tx = NULL;

	if (h->len > XENSTORE_PAYLOAD_MAX)
		return E2BIG;
	if (h->type >= XS_TYPE_COUNT)
		return ENOSYS;
	if ((handlers[h->type].flags & F_PRIV) && !c->priv)
		return EACCES;
	if (!handlers[h->type].fn)
		return ENOSYS;
	if (!(handlers[h->type].flags & F_NOTID) && h->tx_id) {
		tx = xs_tx_find(c, h->tx_id);
		if (!tx)
			return ENOENT;
	}
	return handlers[h->type].fn(c, tx, h, p);
}

void xs__conn_handle(struct xs_conn *c, const struct xsd_sockmsg *hdr,
		     const char *payload)
{
	struct xs_store *s = c->store;
	int err;

	xs_store_lock(s);
	s->serving = c;
	err = dispatch(c, hdr, payload);
	if (err)
		reply_error(c, hdr, err);
	s->serving = NULL;
	xs_store_unlock(s);
}
