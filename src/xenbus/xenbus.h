/*
 * The xenbus device framework: what a Xen toolstack and a backend domain's
 * xenbus driver do for a paravirtual device, for the backends pvmm runs as
 * domain 0 (console, block, network).
 *
 * A device type is an ops table.  xenbus__add_device() lays out the device
 * in the guest's xenstore as libxl does (docs/misc/xenstore-paths.pandoc):
 *
 *   B = /local/domain/0/backend/<type>/<domid>/<devid>      n0,r<domid>
 *     B/frontend     F            B/frontend-id  <domid>
 *     B/online       1            B/state        XenbusState, the backend's
 *     + what ops->probe writes (features)
 *   F = /local/domain/<domid>/device/<type>/<devid>         n<domid>,r0
 *     F/backend      B            F/backend-id   0
 *     F/state        1 (Initialising), then the frontend's to write
 *
 * so the guest reads, and cannot change, the backend's keys, and owns its
 * frontend directory.  The framework then follows the frontend's state
 * node and drives the XenbusState handshake (<xen/io/xenbus.h>):
 *
 *   frontend state            backend
 *   Initialising, InitWait    nothing; but a backend Closing or Closed
 *                             returns to InitWait on Initialising (the
 *                             frontend reconnects, as Linux does after a
 *                             driver reload or kexec)
 *   Initialised, Connected    not yet connected and InitWait or Closed:
 *                             ops->connect, then Connected; a failure
 *                             writes the error node and goes Closing
 *   Closing                   ops->disconnect if connected, then Closing
 *   Closed                    ops->disconnect if connected, then Closed
 *   anything else             ignored (Unknown, Reconfiguring, an absent
 *                             node, a value that is not a state); logged
 *                             once per device
 *
 * The state is re-read at each step, never taken from the watch event, so
 * steps a frontend passes through quickly may be seen merged: a frontend
 * that goes Initialising then Initialised before the backend looks is
 * connected from Closed directly.
 *
 * Threads.  Watch callbacks run on whatever thread changed the store (the
 * main loop serving the guest's ring, a vCPU, a backend's own thread), so
 * the callback only marks the device and wakes the device's own xenbus
 * thread.  That thread runs ops->connect and ops->disconnect, one step at a
 * time, with no framework or store lock held: an op may use every helper
 * below and may wait for the backend's own threads.  ops->probe runs on the
 * caller of xenbus__add_device().
 *
 * Every value read from the frontend directory is the guest's: the read
 * helpers parse it strictly and report a bad one (log and error node).
 */
#ifndef PVMM_XENBUS_XENBUS_H
#define PVMM_XENBUS_XENBUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/io/xenbus.h>

struct vm;
struct xs_store;
struct xenbus_device;

/* Longest device type name ("vbd", "vif", "console"). */
#define XENBUS_TYPE_MAX 31
#define XENBUS_PATH_MAX 128

struct xenbus_backend_ops {
	const char *type;
	/* Optional.  Writes the backend's feature keys (xenbus__write_backend)
	 * and any toolstack keys of the frontend directory
	 * (xenbus__write_frontend), before the backend enters InitWait and
	 * before the frontend's state appears.  0 or -errno: a failure
	 * undoes the device. */
	int (*probe)(struct xenbus_device *dev);
	/* The frontend reached Initialised or Connected: read its ring-ref(s),
	 * event-channel, protocol...; map, bind and start serving.  0, or a
	 * negative errno after undoing whatever it did; the framework then
	 * writes the error node (unless connect wrote one) and goes Closing. */
	int (*connect)(struct xenbus_device *dev);
	/* Stop serving, unmap, unbind: the frontend is closing, or the VM or
	 * the device goes away.  Called only after a successful connect. */
	void (*disconnect)(struct xenbus_device *dev);
};

struct xenbus_device {
	/* For backends to read. */
	struct vm *vm;
	const struct xenbus_backend_ops *ops;
	unsigned int devid;
	uint16_t frontend_id;       /* the guest's domid */
	void *priv;                 /* the backend's, from xenbus__add_device() */
	char backend_path[XENBUS_PATH_MAX];
	char frontend_path[XENBUS_PATH_MAX];

	/* The framework's. */
	struct xs_store *store;
	char state_path[XENBUS_PATH_MAX];   /* the frontend's state node */
	char error_path[XENBUS_PATH_MAX];   /* /local/domain/0/error/backend/... */
	pthread_t thread;           /* steps the state machine */
	bool thread_started;
	bool watching;
	atomic_bool stopped;        /* xenbus__stop_all() shut it down */
	pthread_mutex_t lock;       /* the fields below */
	pthread_cond_t work;        /* the thread has something to do, or quit */
	pthread_cond_t idle;        /* the thread finished a step */
	bool quit;
	bool busy;                  /* the thread is running a step */
	bool frontend_changed;      /* the watch fired since the last step */
	enum xenbus_state request;  /* from xenbus__switch_state(), or Unknown */
	unsigned int request_session;
	unsigned int session;       /* disconnects so far */
	/* Owned by the device's thread (or by whoever shuts the device down
	 * after stopping that thread). */
	enum xenbus_state state;    /* the backend's state as last written */
	bool connected;
	bool bad_state_logged;
	atomic_bool error_written;  /* xenbus__dev_error() during this connect */
	atomic_uint errors;         /* reported so far; later ones logged quietly */
	struct xenbus_device *next; /* every device, for xenbus__stop_all() */
};

/*
 * Creates device devid of ops->type for the VM's guest (layout above),
 * calls ops->probe, enters InitWait and starts following the frontend.
 * ops->connect and ops->disconnect are required.  vm->xenstored must be
 * running.  Returns 0 with *out set, -EEXIST when the VM already has that
 * device, -EINVAL for a bad ops table, or another -errno (from probe, the
 * store or thread creation) with nothing left behind.  Not from an op.
 */
int xenbus__add_device(struct vm *vm, const struct xenbus_backend_ops *ops,
		       unsigned int devid, void *priv, struct xenbus_device **out);

/*
 * Stops following the frontend, disconnects if connected, removes the
 * device's backend, frontend and error directories (unless
 * xenbus__stop_all() shut it down already: the store may be gone) and
 * frees it.  Not from an op, nor from a thread an op waits for.
 */
void xenbus__remove_device(struct xenbus_device *dev);

/*
 * At VM stop, before the xenstore goes: every device of the VM stops
 * following its frontend, is disconnected if connected and enters Closed.
 * The devices stay allocated until their backends remove them.  From the
 * thread that adds and removes devices.
 */
void xenbus__stop_all(struct vm *vm);

/* Returns once the device's thread has handled every frontend change and
 * state request reported before the call. */
void xenbus__flush(struct xenbus_device *dev);

/*
 * Asks the device's thread to move the backend to state (Initialising to
 * Reconfigured, else -EINVAL): for a backend's own thread, e.g. Closing
 * when a connected frontend misbehaves.  Returns at once; the state is
 * written after the step running now, if any, unless the device has been
 * disconnected since the request (the request belonged to the session that
 * ended).  From inside an op, it takes effect after the framework's own
 * transition for that step.
 */
int xenbus__switch_state(struct xenbus_device *dev, enum xenbus_state state);

/*
 * Reads key of the frontend's directory as a decimal number that fits 32
 * bits: digits only, no sign, space or trailing byte.  0; -ENOENT when the
 * key is absent (not reported: the caller decides whether it is optional);
 * -EINVAL for any other value, reported with xenbus__dev_error(); or
 * another -errno from the store.
 */
int xenbus__read_frontend_u32(struct xenbus_device *dev, const char *key, uint32_t *out);

/* Reads key of the frontend's directory into buf (NUL-terminated).  0;
 * -ENOENT when absent (not reported); -E2BIG, reported, when the value does
 * not fit in size bytes with its terminator. */
int xenbus__read_frontend_str(struct xenbus_device *dev, const char *key,
			      char *buf, size_t size);

/* Writes key of the backend's directory, printf-like.  0 or -errno. */
int xenbus__write_backend(struct xenbus_device *dev, const char *key,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes key of the frontend's directory as the toolstack would (from
 * probe: "virtual-device", "mac", "handle"...); the guest owns the node. */
int xenbus__write_frontend(struct xenbus_device *dev, const char *key,
			   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Reports a failure as Xen's backends do: logs it and writes
 * "<errno> <message>" to /local/domain/0/error/backend/<type>/<domid>/
 * <devid>/error.  err is a negative errno.  Any thread.
 */
void xenbus__dev_error(struct xenbus_device *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "Initialising", "Connected"... or "invalid". */
const char *xenbus__state_name(enum xenbus_state state);

#endif
