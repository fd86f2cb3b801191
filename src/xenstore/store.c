/*
 * The xenstore tree and the rules around it: paths, permissions, quotas,
 * transactions and watches.  Protocol parsing lives in proto.c; this file
 * answers "may this client do that, and what changes".
 *
 * Transactions: TRANSACTION_START copies the tree; the transaction's
 * requests run on its copy, and it notes every node it looks at with the
 * generation it had (or that it was absent) and logs every change.  A commit
 * fails with EAGAIN when any noted node has changed in the live tree since;
 * otherwise the logged changes are replayed on the live tree, where they fire
 * watches.  Because every node a change depends on is as the transaction saw
 * it, the replay meets the same permissions and succeeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "xenstore/store_priv.h"

/* docs/misc/xenstore.txt: the characters a path may contain. */
static const char path_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@";

/* ---- memory ---- */

static void out_of_memory(void)
{
	pr_err("xenstore: out of memory");
	abort();
}

void *xs_zalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xs_realloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *xs_strdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xs_zalloc(n), s, n);
}

/* A NUL-terminated copy of len bytes. */
static char *xs_memdup(const void *p, size_t len)
{
	char *q = xs_zalloc(len + 1);

	if (len)
		memcpy(q, p, len);
	return q;
}

static char *xs_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xs_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return p;
}

/* Makes room for need elements in *arr of *cap. */
static void grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t n = *cap ? *cap : 4;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*arr = xs_realloc(*arr, (size_t)n * elem);
	*cap = n;
}

void xs_buf_add(struct xs_buf *b, const void *p, size_t len)
{
	if (!len)
		return;
	if (b->len + len > b->cap) {
		b->cap = (uint32_t)((b->len + len) * 2);
		b->p = xs_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, len);
	b->len += (uint32_t)len;
}

/* ---- nodes ---- */

static struct xs_node *node_new(const char *name, size_t len)
{
	struct xs_node *n = xs_zalloc(sizeof(*n));

	n->name = xs_memdup(name, len);
	return n;
}

static void node_set_value(struct xs_node *n, const void *val, uint32_t len)
{
	free(n->value);
	n->value = len ? xs_memdup(val, len) : NULL;
	n->len = len;
}

static void node_set_perms(struct xs_node *n, const struct xs_perm_entry *perm,
			   uint32_t nr)
{
	free(n->perm);
	n->perm = xs_zalloc(nr * sizeof(*perm));
	memcpy(n->perm, perm, nr * sizeof(*perm));
	n->nr_perm = nr;
}

/* Frees n and everything below it. */
static void node_free(struct xs_node *n)
{
	for (uint32_t i = 0; i < n->nr_child; i++)
		node_free(n->child[i]);
	free(n->child);
	free(n->name);
	free(n->value);
	free(n->perm);
	free(n);
}

static struct xs_node *node_clone(const struct xs_node *n, struct xs_node *parent)
{
	struct xs_node *c = node_new(n->name, strlen(n->name));

	c->parent = parent;
	c->gen = n->gen;
	node_set_value(c, n->value, n->len);
	node_set_perms(c, n->perm, n->nr_perm);
	c->child = xs_zalloc(n->nr_child * sizeof(*c->child));
	c->nr_child = c->cap_child = n->nr_child;
	for (uint32_t i = 0; i < n->nr_child; i++)
		c->child[i] = node_clone(n->child[i], c);
	return c;
}

static struct xs_node *node_child(const struct xs_node *n, const char *name, size_t len)
{
	for (uint32_t i = 0; i < n->nr_child; i++) {
		struct xs_node *c = n->child[i];

		if (!strncmp(c->name, name, len) && c->name[len] == '\0')
			return c;
	}
	return NULL;
}

static void node_add_child(struct xs_node *parent, struct xs_node *c)
{
	grow((void **)&parent->child, &parent->cap_child, parent->nr_child + 1,
	     sizeof(*parent->child));
	parent->child[parent->nr_child++] = c;
}

static void node_unlink(struct xs_node *parent, const struct xs_node *c)
{
	for (uint32_t i = 0; i < parent->nr_child; i++) {
		if (parent->child[i] != c)
			continue;
		memmove(&parent->child[i], &parent->child[i + 1],
			(parent->nr_child - i - 1) * sizeof(*parent->child));
		parent->nr_child--;
		return;
	}
}

/* Bytes of the child-name list DIRECTORY answers: each name and its NUL. */
static uint32_t node_children_len(const struct xs_node *n)
{
	uint32_t len = 0;

	for (uint32_t i = 0; i < n->nr_child; i++)
		len += (uint32_t)strlen(n->child[i]->name) + 1;
	return len;
}

static char *node_path(const struct xs_node *n)
{
	const struct xs_node *m;
	size_t len = 0, pos;
	char *p;

	if (!n->parent)
		return xs_strdup("/");
	for (m = n; m->parent; m = m->parent)
		len += strlen(m->name) + 1;
	p = xs_zalloc(len + 1);
	pos = len;
	for (m = n; m->parent; m = m->parent) {
		size_t l = strlen(m->name);

		pos -= l;
		memcpy(p + pos, m->name, l);
		p[--pos] = '/';
	}
	return p;
}

static char *child_path(const char *path, const char *name)
{
	return xs_asprintf("%s/%s", strcmp(path, "/") ? path : "", name);
}

/*
 * The deepest existing node on the way to the canonical path.  *rest is NULL
 * when that node is path's own, else it points (into path) at the first
 * missing component.
 */
static struct xs_node *walk(struct xs_node *root, const char *path, const char **rest)
{
	struct xs_node *n = root;
	const char *p = path + 1;

	*rest = NULL;
	while (*p) {
		const char *end = strchrnul(p, '/');
		struct xs_node *c = node_child(n, p, (size_t)(end - p));

		if (!c) {
			*rest = p;
			return n;
		}
		n = c;
		p = *end ? end + 1 : end;
	}
	return n;
}

/* ---- who may do what ---- */

static unsigned int perm_of(uint16_t domid, bool priv,
			    const struct xs_perm_entry *perm, uint32_t nr)
{
	if (priv || perm[0].domid == domid)
		return XS_PERM_BOTH | XS_PERM_OWNER;
	for (uint32_t i = 1; i < nr; i++)
		if (perm[i].domid == domid)
			return perm[i].perm;
	return perm[0].perm;
}

static unsigned int ctx_perm(const struct xs_ctx *c, const struct xs_node *n)
{
	return perm_of(c->domid, c->priv || c->replay, n->perm, n->nr_perm);
}

static bool ctx_quota(const struct xs_ctx *c)
{
	return !c->priv && !c->replay;
}

static struct xs_node *ctx_root(const struct xs_ctx *c)
{
	return c->tx ? c->tx->root : c->s->root;
}

static struct xs_owner *owner_find(struct xs_store *s, uint16_t domid)
{
	for (uint32_t i = 0; i < s->nr_owner; i++)
		if (s->owner[i].domid == domid)
			return &s->owner[i];
	return NULL;
}

static uint32_t owner_nodes(struct xs_store *s, uint16_t domid)
{
	struct xs_owner *o = owner_find(s, domid);

	return o ? o->nodes : 0;
}

static void owner_add(struct xs_store *s, uint16_t domid, int delta)
{
	struct xs_owner *o = owner_find(s, domid);

	if (!o) {
		s->owner = xs_realloc(s->owner, (s->nr_owner + 1) * sizeof(*s->owner));
		o = &s->owner[s->nr_owner++];
		*o = (struct xs_owner){ .domid = domid };
	}
	o->nodes += (uint32_t)delta;
}

/* A node gained or lost: counted at once on the live tree, at commit for a
 * transaction. */
static void account(struct xs_ctx *c, uint16_t owner, int delta)
{
	if (!c->tx)
		owner_add(c->s, owner, delta);
	else if (owner == c->domid)
		c->tx->nodes_delta += delta;
}

/* "/local/domain/<id>/": the part of a path its quota does not count. */
static size_t home_prefix_len(const char *p)
{
	static const char pre[] = "/local/domain/";
	size_t i = sizeof(pre) - 1, digits = 0;

	if (strncmp(p, pre, i))
		return 0;
	while (digits < 5 && p[i + digits] >= '0' && p[i + digits] <= '9')
		digits++;
	if (!digits || p[i + digits] != '/')
		return 0;
	return i + digits + 1;
}

/*
 * The absolute form of a client's path in *out (malloc'd).  A relative path
 * is under the connection's home; "@name" is accepted where special is set
 * (watches).
 */
static int canon(const struct xs_ctx *c, const char *in, bool special, char **out)
{
	size_t len = strlen(in);
	char *p;

	if (strspn(in, path_chars) != len)
		return EINVAL;
	if (in[0] == '@') {
		if (!special || len > XENSTORE_ABS_PATH_MAX)
			return EINVAL;
		*out = xs_strdup(in);
		return 0;
	}
	if (in[0] == '/')
		p = xs_strdup(in);
	else if (c->conn)
		p = xs_asprintf("%s/%s", c->conn->home, in);
	else
		return EINVAL;
	len = strlen(p);
	if ((len > 1 && p[len - 1] == '/') || strstr(p, "//") ||
	    len > XENSTORE_ABS_PATH_MAX ||
	    (ctx_quota(c) && len - home_prefix_len(p) > XS_QUOTA_PATH)) {
		free(p);
		return EINVAL;
	}
	*out = p;
	return 0;
}

/* ---- transaction bookkeeping ---- */

static int tx_note(struct xs_ctx *c, const char *path, const struct xs_node *n)
{
	struct xs_tx *tx = c->tx;

	if (!tx)
		return 0;
	for (uint32_t i = 0; i < tx->nr_acc; i++)
		if (!strcmp(tx->acc[i].path, path))
			return 0;
	if (!c->priv && tx->nr_acc >= XS_QUOTA_TX_NODES)
		return ENOSPC;
	grow((void **)&tx->acc, &tx->cap_acc, tx->nr_acc + 1, sizeof(*tx->acc));
	tx->acc[tx->nr_acc++] = (struct xs_access){
		.path = xs_strdup(path),
		.gen = n ? n->gen : 0,
	};
	return 0;
}

static int tx_note_node(struct xs_ctx *c, const struct xs_node *n)
{
	char *path;
	int err;

	if (!c->tx)
		return 0;
	path = node_path(n);
	err = tx_note(c, path, n);
	free(path);
	return err;
}

/* Logs a change before it is made, so a full log leaves nothing half done. */
static int tx_log(struct xs_ctx *c, enum xs_change_kind kind, const char *path,
		  const void *val, uint32_t len,
		  const struct xs_perm_entry *perm, uint32_t nr_perm)
{
	struct xs_tx *tx = c->tx;
	struct xs_change *chg;

	if (!tx)
		return 0;
	if (!c->priv && tx->nr_chg >= XS_QUOTA_TX_NODES)
		return ENOSPC;
	grow((void **)&tx->chg, &tx->cap_chg, tx->nr_chg + 1, sizeof(*tx->chg));
	chg = &tx->chg[tx->nr_chg++];
	*chg = (struct xs_change){ .kind = kind, .path = xs_strdup(path), .len = len };
	if (val)
		chg->value = xs_memdup(val, len);
	if (perm) {
		chg->perm = xs_zalloc(nr_perm * sizeof(*perm));
		memcpy(chg->perm, perm, nr_perm * sizeof(*perm));
		chg->nr_perm = nr_perm;
	}
	return 0;
}

/* ---- notifications (run without the lock) ---- */

static void notify_push(struct xs_store *s, struct xs_notify *n)
{
	if (s->notify_tail)
		s->notify_tail->next = n;
	else
		s->notify_head = n;
	s->notify_tail = n;
}

static void notify_free(struct xs_notify *n)
{
	free(n->path);
	free(n->token);
	free(n);
}

/* Drops queued notifications for key and waits out one running on another
 * thread, so the caller may free what key names. */
static void notify_forget(struct xs_store *s, const void *key)
{
	struct xs_notify **pp = &s->notify_head, *n, *last = NULL;

	while ((n = *pp)) {
		if (n->key == key) {
			*pp = n->next;
			notify_free(n);
			continue;
		}
		last = n;
		pp = &n->next;
	}
	s->notify_tail = last;
	while (s->delivering && s->deliver_key == key &&
	       !pthread_equal(s->deliverer, pthread_self()))
		pthread_cond_wait(&s->delivered, &s->lock);
}

void xs_store_lock(struct xs_store *s)
{
	pthread_mutex_lock(&s->lock);
}

/*
 * One thread at a time delivers, in queue order; a thread that finds
 * delivery under way (on another thread, or further up its own stack when a
 * callback changes the store) leaves its notifications to that thread.
 */
void xs_store_unlock(struct xs_store *s)
{
	struct xs_notify *n;

	if (!s->delivering) {
		s->delivering = true;
		s->deliverer = pthread_self();
		while ((n = s->notify_head)) {
			s->notify_head = n->next;
			if (!s->notify_head)
				s->notify_tail = NULL;
			s->deliver_key = n->key;
			if (n->wake)
				n->conn->wake_queued = false;
			pthread_mutex_unlock(&s->lock);
			if (n->wake)
				n->wake(n->opaque);
			else
				n->fn(n->path, n->token, n->opaque);
			pthread_mutex_lock(&s->lock);
			s->deliver_key = NULL;
			notify_free(n);
			pthread_cond_broadcast(&s->delivered);
		}
		s->delivering = false;
	}
	pthread_mutex_unlock(&s->lock);
}

void xs_conn_forget(struct xs_conn *c)
{
	notify_forget(c->store, c);
}

/* ---- watches firing ---- */

static bool path_under(const char *path, const char *top)
{
	size_t len = strlen(top);

	if (!strcmp(top, "/"))
		return path[0] == '/';
	return !strncmp(path, top, len) && (path[len] == '/' || path[len] == '\0');
}

static bool watch_matches(const struct xs_watch *w, const char *path, bool exact)
{
	return exact ? !strcmp(path, w->path) : path_under(path, w->path);
}

/* As xenstored: a guest hears of a change to a node it can read, or whose
 * parent it can read, or that it could read before a permission change. */
static bool may_see(const struct xs_conn *c, const struct xs_node *n,
		    const struct xs_perm_entry *old, uint32_t nr_old)
{
	if (c->priv)
		return true;
	if (old && (perm_of(c->domid, false, old, nr_old) & XS_PERM_READ))
		return true;
	if (perm_of(c->domid, false, n->perm, n->nr_perm) & XS_PERM_READ)
		return true;
	return n->parent &&
	       (perm_of(c->domid, false, n->parent->perm, n->parent->nr_perm) &
		XS_PERM_READ);
}

static void wake_conn(struct xs_store *s, struct xs_conn *c)
{
	struct xs_notify *n;

	/* The connection being served gets its output when its request
	 * returns. */
	if (!c->wake || c->wake_queued || c == s->serving)
		return;
	c->wake_queued = true;
	n = xs_zalloc(sizeof(*n));
	n->key = c;
	n->conn = c;
	n->wake = c->wake;
	n->opaque = c->wake_opaque;
	notify_push(s, n);
}

static void conn_event(struct xs_store *s, struct xs_conn *c,
		       const struct xs_watch *w, const char *path)
{
	const char *epath = path + w->prefix_len;
	size_t plen = strlen(epath) + 1, tlen = strlen(w->token) + 1;
	char *buf;

	/* Like xenstored, an event too long for the wire is not sent. */
	if (plen + tlen > XENSTORE_PAYLOAD_MAX)
		return;
	buf = xs_zalloc(plen + tlen);
	memcpy(buf, epath, plen);
	memcpy(buf + plen, w->token, tlen);
	if (xs_conn_queue(c, XS_WATCH_EVENT, 0, 0, buf, (uint32_t)(plen + tlen)))
		wake_conn(s, c);
	free(buf);
}

static void local_event(struct xs_store *s, const struct xs_watch *w, const char *path)
{
	struct xs_notify *n = xs_zalloc(sizeof(*n));

	n->key = w;
	n->path = xs_strdup(path);
	n->token = xs_strdup(w->token);
	n->fn = w->fn;
	n->opaque = w->opaque;
	notify_push(s, n);
}

/*
 * path (node n) changed.  exact: only watches on path itself fire (the nodes
 * below a removed node); otherwise every watch at or above path.  old: the
 * permissions before a permission change.
 */
static void fire(struct xs_ctx *c, const char *path, const struct xs_node *n,
		 bool exact, const struct xs_perm_entry *old, uint32_t nr_old)
{
	struct xs_store *s = c->s;

	if (c->tx)
		return;         /* a transaction's changes fire when it commits */
	for (struct xs_conn *conn = s->conns; conn; conn = conn->next) {
		if (!conn->watches || !may_see(conn, n, old, nr_old))
			continue;
		for (struct xs_watch *w = conn->watches; w; w = w->next)
			if (watch_matches(w, path, exact))
				conn_event(s, conn, w, path);
	}
	for (struct xs_watch *w = s->watches; w; w = w->next)
		if (watch_matches(w, path, exact))
			local_event(s, w, path);
}

/* ---- operations ---- */

struct lookup {
	struct xs_node *node;
	const char *rest;
};

/*
 * Finds path for an access needing the rights in want.  0: l->node is the
 * node.  ENOENT: it is absent; l->node is its deepest existing ancestor and
 * l->rest the first missing component.  EACCES otherwise.  As in xenstored,
 * a caller lacking the right on the parent gets EACCES whether or not the
 * node exists: its existence is not the caller's to learn.
 */
static int get_node(struct xs_ctx *c, const char *path, unsigned int want,
		    struct lookup *l)
{
	struct xs_node *n = walk(ctx_root(c), path, &l->rest), *up;
	int err;

	l->node = n;
	err = tx_note(c, path, l->rest ? NULL : n);
	if (err)
		return err;
	if (!l->rest && (ctx_perm(c, n) & want) == want)
		return 0;
	up = l->rest ? n : n->parent;
	if (!up)
		return EACCES;
	err = tx_note_node(c, up);
	if (err)
		return err;
	if (!(ctx_perm(c, up) & want))
		return EACCES;
	return l->rest ? ENOENT : EACCES;
}

/*
 * Creates the missing nodes of path below l->node; the last gets the value.
 * New nodes inherit their parent's permissions, and a guest owns what it
 * creates.  *out: the new node.
 */
static int create(struct xs_ctx *c, const char *path, const struct lookup *l,
		  enum xs_change_kind kind, const void *val, uint32_t len,
		  struct xs_node **out)
{
	struct xs_node *up = l->node, *n = NULL;
	const char *p = l->rest;
	uint32_t count = 1;
	int err;

	for (const char *q = p; *q; q++)
		count += *q == '/';
	if (ctx_quota(c)) {
		size_t first = (size_t)(strchrnul(p, '/') - p) + 1;
		int64_t owned = (int64_t)owner_nodes(c->s, c->domid) +
				(c->tx ? c->tx->nodes_delta : 0);

		if (owned + count > XS_QUOTA_NODES ||
		    up->len + node_children_len(up) + first > XS_QUOTA_NODE_SIZE ||
		    len > XS_QUOTA_NODE_SIZE)
			return ENOSPC;
	}
	/* The transaction saw each missing node absent. */
	for (const char *q = strchr(p, '/'); c->tx && q; q = strchr(q + 1, '/')) {
		char *prefix = xs_memdup(path, (size_t)(q - path));

		err = tx_note(c, prefix, NULL);
		free(prefix);
		if (err)
			return err;
	}
	err = tx_log(c, kind, path, val, len, NULL, 0);
	if (err)
		return err;
	while (*p) {
		const char *end = strchrnul(p, '/');

		n = node_new(p, (size_t)(end - p));
		n->parent = up;
		node_set_perms(n, up->perm, up->nr_perm);
		if (!c->priv)
			n->perm[0].domid = c->domid;
		n->gen = ++c->s->gen;
		node_add_child(up, n);
		up->gen = n->gen;
		account(c, n->perm[0].domid, 1);
		up = n;
		p = *end ? end + 1 : end;
	}
	node_set_value(n, val, len);
	*out = n;
	return 0;
}

int xs_op_read(struct xs_ctx *c, const char *raw, struct xs_buf *out)
{
	struct lookup l;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_READ, &l);
	if (!err)
		xs_buf_add(out, l.node->value, l.node->len);
	free(path);
	return err;
}

int xs_op_write(struct xs_ctx *c, const char *raw, const void *val, uint32_t len)
{
	struct lookup l;
	struct xs_node *n = NULL;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_WRITE, &l);
	if (err == ENOENT) {
		err = create(c, path, &l, XS_CHANGE_WRITE, val, len, &n);
	} else if (!err) {
		n = l.node;
		if (ctx_quota(c) && len + node_children_len(n) > XS_QUOTA_NODE_SIZE)
			err = ENOSPC;
		else
			err = tx_log(c, XS_CHANGE_WRITE, path, val, len, NULL, 0);
		if (!err) {
			node_set_value(n, val, len);
			n->gen = ++c->s->gen;
		}
	}
	if (!err)
		fire(c, path, n, false, NULL, 0);
	free(path);
	return err;
}

int xs_op_mkdir(struct xs_ctx *c, const char *raw)
{
	struct lookup l;
	struct xs_node *n;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_WRITE, &l);
	if (err == ENOENT) {
		err = create(c, path, &l, XS_CHANGE_MKDIR, NULL, 0, &n);
		if (!err)
			fire(c, path, n, false, NULL, 0);
	}
	free(path);
	return err;
}

/* Removes n (already unlinked from its parent) and its subtree, children
 * first, each firing its own watches before it goes. */
static void rm_tree(struct xs_ctx *c, struct xs_node *n, const char *path, bool top)
{
	for (uint32_t i = 0; i < n->nr_child; i++) {
		char *cp = child_path(path, n->child[i]->name);

		rm_tree(c, n->child[i], cp, false);
		free(cp);
	}
	n->nr_child = 0;
	fire(c, path, n, !top, NULL, 0);
	account(c, n->perm[0].domid, -1);
	node_free(n);
}

int xs_op_rm(struct xs_ctx *c, const char *raw)
{
	struct xs_node *parent;
	struct lookup l;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_WRITE, &l);
	if (err == ENOENT) {
		/* Nothing to remove: fine, unless the parent is missing too. */
		err = strchr(l.rest, '/') ? ENOENT : 0;
		goto out;
	}
	if (err)
		goto out;
	parent = l.node->parent;
	if (!parent) {
		err = EINVAL;
		goto out;
	}
	err = tx_note_node(c, parent);
	if (!err)
		err = tx_log(c, XS_CHANGE_RM, path, NULL, 0, NULL, 0);
	if (err)
		goto out;
	node_unlink(parent, l.node);
	parent->gen = ++c->s->gen;
	rm_tree(c, l.node, path, true);
out:
	free(path);
	return err;
}

int xs_op_directory(struct xs_ctx *c, const char *raw, struct xs_buf *out)
{
	struct lookup l;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_READ, &l);
	for (uint32_t i = 0; !err && i < l.node->nr_child; i++)
		xs_buf_add(out, l.node->child[i]->name, strlen(l.node->child[i]->name) + 1);
	free(path);
	return err;
}

/*
 * "<gen>\0" and the child-name list from byte offset on: as many whole names
 * as fit in one payload, with one more NUL when the list is complete.  The
 * generation lets a client see that the node changed between parts.
 */
int xs_op_directory_part(struct xs_ctx *c, const char *raw, uint32_t offset,
			 struct xs_buf *out)
{
	struct xs_buf all = { 0 };
	struct lookup l;
	char gen[24];
	uint32_t glen, take = 0;
	char *path;
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_READ, &l);
	free(path);
	if (err)
		return err;
	for (uint32_t i = 0; i < l.node->nr_child; i++)
		xs_buf_add(&all, l.node->child[i]->name, strlen(l.node->child[i]->name) + 1);
	glen = (uint32_t)snprintf(gen, sizeof(gen), "%" PRIu64, l.node->gen) + 1;
	xs_buf_add(out, gen, glen);
	if (offset < all.len) {
		uint32_t room = XENSTORE_PAYLOAD_MAX - glen - 1;

		while (offset + take < all.len) {
			uint32_t next = (uint32_t)strlen(all.p + offset + take) + 1;

			if (take + next > room)
				break;
			take += next;
		}
		xs_buf_add(out, all.p + offset, take);
	}
	if (offset + take >= all.len)
		xs_buf_add(out, "", 1);
	free(all.p);
	return 0;
}

int xs_op_get_perms(struct xs_ctx *c, const char *raw, struct xs_buf *out)
{
	static const char letter[] = { 'n', 'r', 'w', 'b' };
	struct lookup l;
	char *path, s[8];
	int err = canon(c, raw, false, &path);

	if (err)
		return err;
	err = get_node(c, path, XS_PERM_READ, &l);
	for (uint32_t i = 0; !err && i < l.node->nr_perm; i++) {
		int n = snprintf(s, sizeof(s), "%c%u", letter[l.node->perm[i].perm & 3],
				 l.node->perm[i].domid);

		xs_buf_add(out, s, (size_t)n + 1);
	}
	free(path);
	return err;
}

int xs_op_set_perms(struct xs_ctx *c, const char *raw,
		    const struct xs_perm_entry *perm, uint32_t nr_perm)
{
	struct xs_perm_entry *old;
	struct lookup l;
	uint32_t nr_old;
	char *path;
	int err;

	if (ctx_quota(c) && nr_perm > XS_QUOTA_PERMS)
		return ENOSPC;
	err = canon(c, raw, false, &path);
	if (err)
		return err;
	err = get_node(c, path, XS_PERM_WRITE | XS_PERM_OWNER, &l);
	/* A guest may share its node, not give it away. */
	if (!err && ctx_quota(c) && perm[0].domid != l.node->perm[0].domid)
		err = EPERM;
	if (!err)
		err = tx_log(c, XS_CHANGE_PERMS, path, NULL, 0, perm, nr_perm);
	if (err) {
		free(path);
		return err;
	}
	old = l.node->perm;
	nr_old = l.node->nr_perm;
	l.node->perm = NULL;
	account(c, old[0].domid, -1);
	account(c, perm[0].domid, 1);
	node_set_perms(l.node, perm, nr_perm);
	l.node->gen = ++c->s->gen;
	fire(c, path, l.node, false, old, nr_old);
	free(old);
	free(path);
	return 0;
}

/* ---- watches ---- */

static void watch_free(struct xs_watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
}

static struct xs_watch **watch_find(struct xs_watch **pp, const char *path,
				    const char *token)
{
	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->path, path) && !strcmp((*pp)->token, token))
			return pp;
	return NULL;
}

static struct xs_watch *watch_new(struct xs_watch **list, char *path, const char *token)
{
	struct xs_watch *w = xs_zalloc(sizeof(*w));

	w->path = path;
	w->token = xs_strdup(token);
	while (*list)
		list = &(*list)->next;
	*list = w;
	return w;
}

int xs_watch_add(struct xs_conn *c, const char *raw, const char *token,
		 struct xs_watch **out)
{
	struct xs_ctx ctx = xs_conn_ctx(c, NULL);
	struct xs_watch *w;
	char *path;
	int err = canon(&ctx, raw, true, &path);

	if (err)
		return err;
	if (watch_find(&c->watches, path, token))
		err = EEXIST;
	else if (!c->priv && c->nr_watches >= XS_QUOTA_WATCHES)
		err = E2BIG;
	if (err) {
		free(path);
		return err;
	}
	w = watch_new(&c->watches, path, token);
	if (raw[0] != '/' && raw[0] != '@')
		w->prefix_len = (uint32_t)strlen(c->home) + 1;
	c->nr_watches++;
	*out = w;
	return 0;
}

void xs_watch_fire_initial(struct xs_conn *c, const struct xs_watch *w)
{
	conn_event(c->store, c, w, w->path);
}

int xs_watch_remove(struct xs_conn *c, const char *raw, const char *token)
{
	struct xs_ctx ctx = xs_conn_ctx(c, NULL);
	struct xs_watch **pp, *w;
	char *path;
	int err = canon(&ctx, raw, true, &path);

	if (err)
		return err;
	pp = watch_find(&c->watches, path, token);
	free(path);
	if (!pp)
		return ENOENT;
	w = *pp;
	*pp = w->next;
	watch_free(w);
	c->nr_watches--;
	return 0;
}

/* ---- transactions ---- */

static void tx_free(struct xs_tx *tx)
{
	for (uint32_t i = 0; i < tx->nr_acc; i++)
		free(tx->acc[i].path);
	for (uint32_t i = 0; i < tx->nr_chg; i++) {
		free(tx->chg[i].path);
		free(tx->chg[i].value);
		free(tx->chg[i].perm);
	}
	free(tx->acc);
	free(tx->chg);
	node_free(tx->root);
	free(tx);
}

struct xs_tx *xs_tx_find(struct xs_conn *c, uint32_t id)
{
	struct xs_tx *tx;

	for (tx = c->txs; tx; tx = tx->next)
		if (tx->id == id)
			return tx;
	return NULL;
}

int xs_tx_start(struct xs_conn *c, uint32_t *id)
{
	struct xs_tx *tx;

	if (!c->priv && c->nr_tx >= XS_QUOTA_TRANSACTIONS)
		return ENOSPC;
	tx = xs_zalloc(sizeof(*tx));
	do
		tx->id = c->next_tx_id++;
	while (!tx->id || xs_tx_find(c, tx->id));
	tx->root = node_clone(c->store->root, NULL);
	tx->next = c->txs;
	c->txs = tx;
	c->nr_tx++;
	*id = tx->id;
	return 0;
}

static bool tx_conflicts(struct xs_store *s, const struct xs_tx *tx)
{
	for (uint32_t i = 0; i < tx->nr_acc; i++) {
		const char *rest;
		struct xs_node *n = walk(s->root, tx->acc[i].path, &rest);

		if ((rest ? 0 : n->gen) != tx->acc[i].gen)
			return true;
	}
	return false;
}

static void tx_replay(struct xs_conn *c, const struct xs_tx *tx)
{
	struct xs_ctx ctx = xs_conn_ctx(c, NULL);

	ctx.replay = true;
	for (uint32_t i = 0; i < tx->nr_chg; i++) {
		const struct xs_change *chg = &tx->chg[i];
		int err = 0;

		switch (chg->kind) {
		case XS_CHANGE_WRITE:
			err = xs_op_write(&ctx, chg->path, chg->value, chg->len);
			break;
		case XS_CHANGE_MKDIR:
			err = xs_op_mkdir(&ctx, chg->path);
			break;
		case XS_CHANGE_RM:
			err = xs_op_rm(&ctx, chg->path);
			break;
		case XS_CHANGE_PERMS:
			err = xs_op_set_perms(&ctx, chg->path, chg->perm, chg->nr_perm);
			break;
		}
		/* Cannot happen: every node the change depends on is as the
		 * transaction saw it.  Say so loudly if it ever does. */
		if (err)
			pr_err("xenstore: domain %u: committing a change to %s failed (%d)",
			       c->domid, chg->path, err);
	}
}

int xs_tx_end(struct xs_conn *c, struct xs_tx *tx, bool commit)
{
	struct xs_store *s = c->store;
	struct xs_tx **pp;
	int err = 0;

	for (pp = &c->txs; *pp != tx; pp = &(*pp)->next)
		;
	*pp = tx->next;
	c->nr_tx--;
	if (commit) {
		if (tx_conflicts(s, tx))
			err = EAGAIN;
		else if (!c->priv && tx->nodes_delta > 0 &&
			 owner_nodes(s, c->domid) + (uint32_t)tx->nodes_delta > XS_QUOTA_NODES)
			err = ENOSPC;
		else
			tx_replay(c, tx);
	}
	tx_free(tx);
	return err;
}

void xs_conn_drop_state(struct xs_conn *c)
{
	while (c->watches) {
		struct xs_watch *w = c->watches;

		c->watches = w->next;
		watch_free(w);
	}
	c->nr_watches = 0;
	while (c->txs) {
		struct xs_tx *tx = c->txs;

		c->txs = tx->next;
		tx_free(tx);
	}
	c->nr_tx = 0;
}

/* ---- the store and pvmm's C API ---- */

struct xs_store *xs__store_create(void)
{
	static const struct xs_perm_entry root_perm = { 0, XS_PERM_NONE };
	struct xs_store *s = xs_zalloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->delivered, NULL);
	s->root = node_new("", 0);
	node_set_perms(s->root, &root_perm, 1);
	s->root->gen = ++s->gen;
	owner_add(s, 0, 1);
	return s;
}

void xs__store_destroy(struct xs_store *s)
{
	while (s->watches) {
		struct xs_watch *w = s->watches;

		s->watches = w->next;
		watch_free(w);
	}
	while (s->notify_head) {
		struct xs_notify *n = s->notify_head;

		s->notify_head = n->next;
		notify_free(n);
	}
	node_free(s->root);
	free(s->owner);
	pthread_cond_destroy(&s->delivered);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct xs_ctx priv_ctx(struct xs_store *s)
{
	return (struct xs_ctx){ .s = s, .priv = true };
}

int xs__write(struct xs_store *s, const char *path, const char *value)
{
	struct xs_ctx c = priv_ctx(s);
	size_t len = strlen(value);
	int err;

	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	xs_store_lock(s);
	err = xs_op_write(&c, path, value, (uint32_t)len);
	xs_store_unlock(s);
	return -err;
}

int xs__read(struct xs_store *s, const char *path, char **value)
{
	struct xs_ctx c = priv_ctx(s);
	struct xs_buf b = { 0 };
	int err;

	xs_store_lock(s);
	err = xs_op_read(&c, path, &b);
	xs_store_unlock(s);
	if (err) {
		free(b.p);
		return -err;
	}
	*value = xs_memdup(b.p, b.len);
	free(b.p);
	return 0;
}

int xs__mkdir(struct xs_store *s, const char *path)
{
	struct xs_ctx c = priv_ctx(s);
	int err;

	xs_store_lock(s);
	err = xs_op_mkdir(&c, path);
	xs_store_unlock(s);
	return -err;
}

int xs__rm(struct xs_store *s, const char *path)
{
	struct xs_ctx c = priv_ctx(s);
	int err;

	xs_store_lock(s);
	err = xs_op_rm(&c, path);
	xs_store_unlock(s);
	return -err;
}

int xs__set_perms(struct xs_store *s, const char *path, uint16_t owner,
		  enum xs_perm others, const struct xs_perm_entry *extra,
		  unsigned int nr_extra)
{
	struct xs_ctx c = priv_ctx(s);
	struct xs_perm_entry *perm;
	int err = 0;

	if ((unsigned int)others > XS_PERM_BOTH)
		return -EINVAL;
	for (unsigned int i = 0; i < nr_extra; i++)
		if ((unsigned int)extra[i].perm > XS_PERM_BOTH)
			return -EINVAL;
	perm = xs_zalloc(((size_t)nr_extra + 1) * sizeof(*perm));
	perm[0] = (struct xs_perm_entry){ owner, others };
	if (nr_extra)
		memcpy(&perm[1], extra, nr_extra * sizeof(*extra));
	xs_store_lock(s);
	err = xs_op_set_perms(&c, path, perm, nr_extra + 1);
	xs_store_unlock(s);
	free(perm);
	return -err;
}

int xs__watch(struct xs_store *s, const char *path, const char *token,
	      xs_watch_fn fn, void *opaque)
{
	struct xs_ctx c = priv_ctx(s);
	struct xs_watch *w;
	char *abs;
	int err;

	if (!fn)
		return -EINVAL;
	err = canon(&c, path, true, &abs);
	if (err)
		return -err;
	xs_store_lock(s);
	if (watch_find(&s->watches, abs, token)) {
		xs_store_unlock(s);
		free(abs);
		return -EEXIST;
	}
	w = watch_new(&s->watches, abs, token);
	w->fn = fn;
	w->opaque = opaque;
	local_event(s, w, w->path);
	xs_store_unlock(s);
	return 0;
}

int xs__unwatch(struct xs_store *s, const char *path, const char *token)
{
	struct xs_ctx c = priv_ctx(s);
	struct xs_watch **pp, *w;
	char *abs;
	int err = canon(&c, path, true, &abs);

	if (err)
		return -err;
	xs_store_lock(s);
	pp = watch_find(&s->watches, abs, token);
	free(abs);
	if (!pp) {
		xs_store_unlock(s);
		return -ENOENT;
	}
	w = *pp;
	*pp = w->next;
	notify_forget(s, w);
	watch_free(w);
	xs_store_unlock(s);
	return 0;
}

/* ---- a new guest's keys ---- */

static int write_owned(struct xs_store *s, const char *path, const char *value,
		       uint16_t domid, bool guest_owned)
{
	struct xs_perm_entry reader = { domid, XS_PERM_READ };
	int err = xs__write(s, path, value);

	if (err)
		return err;
	if (guest_owned)
		return xs__set_perms(s, path, domid, XS_PERM_NONE, NULL, 0);
	return xs__set_perms(s, path, 0, XS_PERM_NONE, &reader, 1);
}

int xs__populate_domain(struct xs_store *s, uint16_t domid, const char *name,
			uint64_t mem_kib, const uint8_t *uuid)
{
	/* Relative to the home; false: pvmm's and readable, true: the guest's. */
	static const struct {
		const char *key;
		const char *value;
		bool guest_owned;
	} keys[] = {
		{ "device", "", false },
		{ "device/suspend", "", false },
		{ "device/suspend/event-channel", "", true },
		{ "control", "", false },
		{ "control/shutdown", "", true },
		{ "control/feature-poweroff", "", true },
		{ "control/feature-reboot", "", true },
		{ "control/feature-suspend", "", true },
		{ "control/sysrq", "", true },
		{ "control/platform-feature-multiprocessor-suspend", "1", false },
		{ "control/platform-feature-xs_reset_watches", "1", false },
		{ "data", "", true },
		{ "drivers", "", true },
		{ "feature", "", true },
		{ "attr", "", true },
		{ "error", "", true },
	};
	char home[32], path[128], val[64], vm[64] = "";
	int err;

	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	if (uuid)
		snprintf(vm, sizeof(vm), "/vm/%02x%02x%02x%02x-%02x%02x-%02x%02x-"
			 "%02x%02x-%02x%02x%02x%02x%02x%02x",
			 uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5],
			 uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11],
			 uuid[12], uuid[13], uuid[14], uuid[15]);

	err = xs__mkdir(s, "/local/domain");
	if (!err)
		err = write_owned(s, home, "", domid, false);
	/* Below the home, pvmm's nodes inherit its n0,r<domid>. */
	snprintf(path, sizeof(path), "%s/name", home);
	if (!err)
		err = xs__write(s, path, name);
	snprintf(path, sizeof(path), "%s/domid", home);
	snprintf(val, sizeof(val), "%u", domid);
	if (!err)
		err = xs__write(s, path, val);
	snprintf(val, sizeof(val), "%" PRIu64, mem_kib);
	snprintf(path, sizeof(path), "%s/memory/static-max", home);
	if (!err)
		err = xs__write(s, path, val);
	snprintf(path, sizeof(path), "%s/memory/target", home);
	if (!err)
		err = xs__write(s, path, val);
	for (size_t i = 0; !err && i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", home, keys[i].key);
		err = write_owned(s, path, keys[i].value, domid, keys[i].guest_owned);
	}
	if (err || !uuid)
		return err;

	snprintf(path, sizeof(path), "%s/vm", home);
	err = xs__write(s, path, vm);
	/* /vm is pvmm's alone; its entries inherit n0 from "/". */
	snprintf(path, sizeof(path), "%s/uuid", vm);
	if (!err)
		err = xs__write(s, path, vm + strlen("/vm/"));
	snprintf(path, sizeof(path), "%s/name", vm);
	if (!err)
		err = xs__write(s, path, name);
	return err;
}
