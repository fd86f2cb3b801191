/*
 * Private to src/xenstore: the structures behind store.h and proto.h, and
 * the operations proto.c runs on the store on a connection's behalf.
 *
 * Everything here is called with the store's mutex held (xs_store_lock());
 * operations return 0 or a positive Xen errno, as they appear on the wire.
 */
#ifndef PVMM_XENSTORE_STORE_PRIV_H
#define PVMM_XENSTORE_STORE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xenstore/proto.h"
#include "xenstore/store.h"

/* Inside the store a node's owner holds one more right: changing its
 * permissions. */
#define XS_PERM_OWNER 4u

struct xs_node {
	char *name;                 /* this component; "" for the root */
	struct xs_node *parent;
	struct xs_node **child;     /* in creation order, as DIRECTORY lists them */
	uint32_t nr_child, cap_child;
	char *value;                /* may hold NULs; len bytes */
	uint32_t len;
	struct xs_perm_entry *perm; /* perm[0]: owner and everyone's default */
	uint32_t nr_perm;
	uint64_t gen;               /* store generation of the last change */
};

/* A node a transaction looked at, as it was then: the commit fails with
 * EAGAIN if the live node is no longer so. */
struct xs_access {
	char *path;
	uint64_t gen;               /* 0: the node did not exist */
};

/* A change made in a transaction, replayed on the live tree at commit. */
enum xs_change_kind { XS_CHANGE_WRITE, XS_CHANGE_MKDIR, XS_CHANGE_RM, XS_CHANGE_PERMS };

struct xs_change {
	enum xs_change_kind kind;
	char *path;                 /* canonical */
	char *value;
	uint32_t len;
	struct xs_perm_entry *perm;
	uint32_t nr_perm;
};

struct xs_tx {
	struct xs_tx *next;
	uint32_t id;
	struct xs_node *root;       /* the transaction's own copy of the tree */
	struct xs_access *acc;
	uint32_t nr_acc, cap_acc;
	struct xs_change *chg;
	uint32_t nr_chg, cap_chg;
	int32_t nodes_delta;        /* nodes the domain gains at commit */
};

struct xs_watch {
	struct xs_watch *next;
	char *path;                 /* canonical, or "@special" */
	char *token;
	uint32_t prefix_len;        /* relative watch: event paths drop the home */
	xs_watch_fn fn;             /* in-process watches only */
	void *opaque;
};

/* One queued output message: header and payload back to back. */
struct xs_msg {
	struct xs_msg *next;
	bool is_event;
	uint32_t size;
	uint8_t bytes[];
};

struct xs_conn {
	struct xs_conn *next;       /* the store's list */
	struct xs_store *store;
	uint16_t domid;
	bool priv;
	char *home;                 /* /local/domain/<domid> */
	struct xs_watch *watches;
	uint32_t nr_watches;
	struct xs_tx *txs;
	uint32_t nr_tx;
	uint32_t next_tx_id;
	struct xs_msg *out_head, *out_tail;
	uint32_t out_sent;          /* bytes of out_head already taken */
	uint32_t nr_replies, nr_events;
	bool warned_events;
	void (*wake)(void *opaque);
	void *wake_opaque;
	bool wake_queued;
};

/* Something to run without the store's mutex: an in-process watch event
 * (path set) or a connection's wake function. */
struct xs_notify {
	struct xs_notify *next;
	const void *key;            /* the watch or the connection */
	struct xs_conn *conn;       /* wake-ups: the connection */
	char *path, *token;
	xs_watch_fn fn;
	void (*wake)(void *opaque);
	void *opaque;
};

struct xs_owner {
	uint16_t domid;
	uint32_t nodes;
};

struct xs_store {
	pthread_mutex_t lock;
	pthread_cond_t delivered;
	struct xs_node *root;
	uint64_t gen;
	struct xs_conn *conns;
	struct xs_watch *watches;   /* in-process watches */
	struct xs_owner *owner;     /* nodes each domain owns, live tree only */
	uint32_t nr_owner;
	struct xs_notify *notify_head, *notify_tail;
	bool delivering;
	pthread_t deliverer;
	const void *deliver_key;
	struct xs_conn *serving;    /* the connection in xs__conn_handle() */
};

/* Who is asking, and on which tree. */
struct xs_ctx {
	struct xs_store *s;
	struct xs_conn *conn;       /* NULL: pvmm through the C API */
	struct xs_tx *tx;           /* NULL: the live tree */
	uint16_t domid;
	bool priv;
	bool replay;                /* committing: checks were made in the tx */
};

/* A growing reply payload. */
struct xs_buf {
	char *p;
	uint32_t len, cap;
};

/* Allocation failures are fatal: a store half-updated serves no one. */
void *xs_zalloc(size_t size);
void *xs_realloc(void *p, size_t size);
char *xs_strdup(const char *s);
void xs_buf_add(struct xs_buf *b, const void *p, size_t len);

void xs_store_lock(struct xs_store *s);
/* Runs queued notifications (unless this thread is already doing so
 * further up its stack), then unlocks. */
void xs_store_unlock(struct xs_store *s);

struct xs_ctx xs_conn_ctx(struct xs_conn *c, struct xs_tx *tx);

int xs_op_read(struct xs_ctx *c, const char *path, struct xs_buf *out);
int xs_op_write(struct xs_ctx *c, const char *path, const void *val, uint32_t len);
int xs_op_mkdir(struct xs_ctx *c, const char *path);
int xs_op_rm(struct xs_ctx *c, const char *path);
int xs_op_directory(struct xs_ctx *c, const char *path, struct xs_buf *out);
int xs_op_directory_part(struct xs_ctx *c, const char *path, uint32_t offset,
			 struct xs_buf *out);
int xs_op_get_perms(struct xs_ctx *c, const char *path, struct xs_buf *out);
int xs_op_set_perms(struct xs_ctx *c, const char *path,
		    const struct xs_perm_entry *perm, uint32_t nr_perm);

int xs_watch_add(struct xs_conn *c, const char *path, const char *token,
		 struct xs_watch **out);
/* Queues the event every new watch gets at once. */
void xs_watch_fire_initial(struct xs_conn *c, const struct xs_watch *w);
int xs_watch_remove(struct xs_conn *c, const char *path, const char *token);

struct xs_tx *xs_tx_find(struct xs_conn *c, uint32_t id);
int xs_tx_start(struct xs_conn *c, uint32_t *id);
/* Ends tx either way; committing may fail with EAGAIN or ENOSPC. */
int xs_tx_end(struct xs_conn *c, struct xs_tx *tx, bool commit);

/* Drops every watch and transaction of c. */
void xs_conn_drop_state(struct xs_conn *c);
/* Stops queued and running wake-ups for c (after c left the store's list). */
void xs_conn_forget(struct xs_conn *c);
void xs_conn_free_output(struct xs_conn *c);
/* Appends one message to c's output; false when a guest's event queue is
 * full and the event was dropped, or the same event is already queued. */
bool xs_conn_queue(struct xs_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *payload, uint32_t len);

#endif
