/*
 * pvmm's xenstore: the tree of keys a guest and pvmm's backends share, as Xen's
 * xenstored keeps it (docs/misc/xenstore.txt), served in process.
 *
 * This header is pvmm's own side of it: the store and the privileged C API
 * that backends and start-up code use.  They act as domain 0: no permission
 * or quota applies to them.  Guests reach the same store through a
 * connection (proto.h) carried by their ring page (ring.h).
 *
 * Paths here are absolute ("/local/domain/1/device"); relative paths are a
 * guest's convenience.  Functions return 0 or a negative errno, the errno
 * Xen's xenstored would answer (-ENOENT, -EACCES, -EINVAL, ...).
 *
 * Thread safety: one mutex guards the store; every function may be called
 * from any thread.  In-process watch callbacks run without that mutex held,
 * one at a time, on whichever thread changed the store (or set the watch),
 * so a callback may call back into the store.
 */
#ifndef PVMM_XENSTORE_STORE_H
#define PVMM_XENSTORE_STORE_H

/* errno.h first: xs_wire.h declares xsd_errors[] only when EINVAL is known. */
#include <errno.h>
#include <stdint.h>

#include <xen/io/xs_wire.h>

/*
 * Per-guest quotas, Xen's defaults where xenstored has one.  Domain 0 (the
 * C API and a domain 0 connection) is exempt.
 */
#define XS_QUOTA_NODES         1000  /* nodes a domain owns; more: ENOSPC */
#define XS_QUOTA_WATCHES        128  /* watches per connection; more: E2BIG */
#define XS_QUOTA_TRANSACTIONS    10  /* open transactions per connection; ENOSPC */
#define XS_QUOTA_NODE_SIZE     2048  /* a node's value plus its child names; ENOSPC */
#define XS_QUOTA_PERMS            5  /* entries in a permission list; ENOSPC */
#define XS_QUOTA_PATH  XENSTORE_REL_PATH_MAX /* path length below the domain's
					       home; longer: EINVAL */
#define XS_QUOTA_TX_NODES      1024  /* nodes one transaction reads or changes; ENOSPC */
/* Watch events queued for a guest that has not read them (the depth of its
 * event queue): further events are dropped, as xenstored drops events past a
 * domain's memory quota.  Watches may fire spuriously, never silently past
 * this bound. */
#define XS_QUOTA_EVENTS        1024
/* Unread replies after which a guest's ring is not read until it catches up
 * (xenstored's "outstanding requests"). */
#define XS_QUOTA_OUTSTANDING     20

/* Access one domain has to a node: the letters n, r, w, b on the wire. */
enum xs_perm {
	XS_PERM_NONE = 0,
	XS_PERM_READ = 1,
	XS_PERM_WRITE = 2,
	XS_PERM_BOTH = XS_PERM_READ | XS_PERM_WRITE,
};

/*
 * One entry of a node's permission list.  Entry 0 names the owner, who has
 * every right, and the access of every domain not listed; later entries give
 * a listed domain its own access.
 */
struct xs_perm_entry {
	uint16_t domid;
	enum xs_perm perm;
};

struct xs_store;

/* A new store holding "/" alone, owned by domain 0 with access "n". */
struct xs_store *xs__store_create(void);
/* Every connection and ring on the store must be destroyed first. */
void xs__store_destroy(struct xs_store *s);

/* Creates path and missing parents as needed; value is a C string of at
 * most XENSTORE_PAYLOAD_MAX bytes (-E2BIG). */
int xs__write(struct xs_store *s, const char *path, const char *value);
/* The value at path as a malloc'd NUL-terminated string in *value. */
int xs__read(struct xs_store *s, const char *path, char **value);
/* Ensures path exists; an existing value is left alone. */
int xs__mkdir(struct xs_store *s, const char *path);
/* Removes path and everything below; fine if path is absent but its
 * parent exists, -ENOENT when the parent is absent too. */
int xs__rm(struct xs_store *s, const char *path);
/* Sets path's permission list: owner with default access for everyone
 * else, then nr_extra per-domain entries. */
int xs__set_perms(struct xs_store *s, const char *path, uint16_t owner,
		  enum xs_perm others, const struct xs_perm_entry *extra,
		  unsigned int nr_extra);

/*
 * In-process watches, with the guest's rules: fn(path, token, opaque) runs
 * once soon after xs__watch() (path = the watched path) and then after each
 * change at or below path, with the changed path.  path may be "@name" for a
 * special watch.  The pair (path, token) names the watch: adding it twice is
 * -EEXIST.  fn may not be NULL.  After xs__unwatch() returns, fn is not running for this watch on
 * another thread and will not run again.
 */
typedef void (*xs_watch_fn)(const char *path, const char *token, void *opaque);
int xs__watch(struct xs_store *s, const char *path, const char *token,
	      xs_watch_fn fn, void *opaque);
int xs__unwatch(struct xs_store *s, const char *path, const char *token);

/*
 * Writes the keys Xen's toolstack (libxl) writes for a new guest, following
 * docs/misc/xenstore-paths.pandoc.  With H = /local/domain/<domid>:
 *
 *   H                                  ""            n0,r<domid>
 *   H/name                             name          n0,r<domid>
 *   H/domid                            "<domid>"     n0,r<domid>
 *   H/vm                               "/vm/<uuid>"  n0,r<domid>  (uuid only)
 *   H/memory/static-max, H/memory/target  mem_kib    n0,r<domid>
 *   H/device                           ""            n0,r<domid>
 *   H/device/suspend/event-channel     ""            n<domid>
 *   H/control                          ""            n0,r<domid>
 *   H/control/shutdown, sysrq, feature-poweroff, feature-reboot,
 *     feature-suspend                  ""            n<domid>
 *   H/control/platform-feature-multiprocessor-suspend  "1"  n0,r<domid>
 *   H/control/platform-feature-xs_reset_watches        "1"  n0,r<domid>
 *   H/data, H/drivers, H/feature, H/attr, H/error  ""   n<domid>
 *   /vm/<uuid>, /vm/<uuid>/uuid, /vm/<uuid>/name         n0  (uuid only)
 *
 * "n<domid>" nodes are the guest's own (it may read and write them);
 * "n0,r<domid>" nodes are pvmm's and the guest may only read them.  /local
 * and /local/domain are created as pvmm's, unreadable to guests.  uuid may be
 * NULL (no /vm entries); otherwise 16 bytes.
 */
int xs__populate_domain(struct xs_store *s, uint16_t domid, const char *name,
			uint64_t mem_kib, const uint8_t *uuid);

#endif
