#include "xenbus/xenbus.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vcpu/vm.h"
#include "xenstore/store.h"
#include "xenstore/xenstored.h"

#define BACKEND_HOME "/local/domain/0/"
/* Errors a device reports at warning level; a guest can cause as many as
 * it likes, so later ones go to the debug log (the error node still gets
 * each). */
#define ERRORS_LOGGED 8

/* Every device of every VM, for xenbus__stop_all() and the duplicate check. */
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xenbus_device *devices;

const char *xenbus__state_name(enum xenbus_state state)
{
	static const char *const names[] = {
		[XenbusStateUnknown] = "Unknown",
		[XenbusStateInitialising] = "Initialising",
		[XenbusStateInitWait] = "InitWait",
		[XenbusStateInitialised] = "Initialised",
		[XenbusStateConnected] = "Connected",
		[XenbusStateClosing] = "Closing",
		[XenbusStateClosed] = "Closed",
		[XenbusStateReconfiguring] = "Reconfiguring",
		[XenbusStateReconfigured] = "Reconfigured",
	};

	if ((unsigned int)state >= sizeof(names) / sizeof(names[0]))
		return "invalid";
	return names[state];
}

/* "backend/vbd/1/51712": how Xen's drivers name a backend in messages. */
static const char *name(const struct xenbus_device *dev)
{
	return dev->backend_path + strlen(BACKEND_HOME);
}

/* ---- reading and writing the device's keys ---- */

static int vwrite_key(struct xenbus_device *dev, const char *dir, const char *key,
		      const char *fmt, va_list ap)
{
	char path[XENBUS_PATH_MAX * 2];
	char *value;
	int err;

	if (atomic_load(&dev->stopped))
		return -ESHUTDOWN;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) >= sizeof(path))
		return -ENAMETOOLONG;
	if (vasprintf(&value, fmt, ap) < 0)
		return -ENOMEM;
	err = xs__write(dev->store, path, value);
	free(value);
	return err;
}

static int write_key(struct xenbus_device *dev, const char *dir, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int write_key(struct xenbus_device *dev, const char *dir, const char *key,
		     const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vwrite_key(dev, dir, key, fmt, ap);
	va_end(ap);
	return err;
}

int xenbus__write_backend(struct xenbus_device *dev, const char *key, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vwrite_key(dev, dev->backend_path, key, fmt, ap);
	va_end(ap);
	return err;
}

int xenbus__write_frontend(struct xenbus_device *dev, const char *key, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vwrite_key(dev, dev->frontend_path, key, fmt, ap);
	va_end(ap);
	return err;
}

void xenbus__dev_error(struct xenbus_device *dev, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_fetch_add(&dev->errors, 1) < ERRORS_LOGGED)
		pr_warn("xenbus %s: %s: %s", name(dev), msg, strerror(-err));
	else
		pr_debug("xenbus %s: %s: %s", name(dev), msg, strerror(-err));
	atomic_store(&dev->error_written, true);
	/* As Linux's xenbus_dev_error: the positive errno, a space, the text. */
	write_key(dev, dev->error_path, "error", "%d %s", -err, msg);
}

/* A guest's number: decimal digits only, at least one, below 2^32. */
static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* The frontend's key as a malloc'd string: 0, -ENOENT or -errno. */
static int read_frontend(struct xenbus_device *dev, const char *key, char **value)
{
	char path[XENBUS_PATH_MAX * 2];

	if (atomic_load(&dev->stopped))
		return -ESHUTDOWN;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dev->frontend_path, key) >= sizeof(path))
		return -ENAMETOOLONG;
	return xs__read(dev->store, path, value);
}

int xenbus__read_frontend_u32(struct xenbus_device *dev, const char *key, uint32_t *out)
{
	char *value;
	int err = read_frontend(dev, key, &value);

	if (err)
		return err;
	err = parse_u32(value, out);
	free(value);
	/* The value itself is not logged: it is the guest's bytes. */
	if (err)
		xenbus__dev_error(dev, err, "reading %s/%s: not a decimal number below 2^32",
				  dev->frontend_path, key);
	return err;
}

int xenbus__read_frontend_str(struct xenbus_device *dev, const char *key, char *buf, size_t size)
{
	char *value;
	size_t len;
	int err = read_frontend(dev, key, &value);

	if (err)
		return err;
	len = strlen(value);
	if (len >= size) {
		free(value);
		xenbus__dev_error(dev, -E2BIG, "reading %s/%s: longer than %zu bytes",
				  dev->frontend_path, key, size ? size - 1 : 0);
		return -E2BIG;
	}
	memcpy(buf, value, len + 1);
	free(value);
	return 0;
}

/* ---- the state machine, on the device's thread ---- */

/* Writes the backend's state node unless it already says state. */
static void set_state(struct xenbus_device *dev, enum xenbus_state state)
{
	int err;

	if (dev->state == state)
		return;
	err = xenbus__write_backend(dev, "state", "%d", (int)state);
	if (err) {
		pr_warn("xenbus %s: cannot write state %s: %s", name(dev),
			xenbus__state_name(state), strerror(-err));
		return;
	}
	pr_debug("xenbus %s: %s -> %s", name(dev), xenbus__state_name(dev->state),
		 xenbus__state_name(state));
	dev->state = state;
}

static void do_connect(struct xenbus_device *dev)
{
	int err;

	atomic_store(&dev->error_written, false);
	err = dev->ops->connect(dev);
	if (err) {
		if (!atomic_load(&dev->error_written))
			xenbus__dev_error(dev, err < 0 ? err : -EINVAL,
					  "connecting to %s", dev->frontend_path);
		set_state(dev, XenbusStateClosing);
		return;
	}
	dev->connected = true;
	set_state(dev, XenbusStateConnected);
}

static void do_disconnect(struct xenbus_device *dev)
{
	if (!dev->connected)
		return;
	dev->ops->disconnect(dev);
	dev->connected = false;
	/* State requests made while connected belonged to that session. */
	pthread_mutex_lock(&dev->lock);
	dev->session++;
	pthread_mutex_unlock(&dev->lock);
}

/* The frontend's state; false (logged once) when it is not one the
 * handshake acts on. */
static bool frontend_state(struct xenbus_device *dev, enum xenbus_state *out)
{
	char *value;
	uint32_t v = XenbusStateUnknown;
	int err = xs__read(dev->store, dev->state_path, &value);

	if (!err) {
		err = parse_u32(value, &v);
		free(value);
	}
	if (!err && v >= XenbusStateInitialising && v <= XenbusStateClosed) {
		*out = (enum xenbus_state)v;
		return true;
	}
	if (!dev->bad_state_logged) {
		dev->bad_state_logged = true;
		pr_warn("xenbus %s: ignoring frontend state %s (logged once)", name(dev),
			err == -ENOENT ? "(absent)" : err ? "(not a state number)" :
			xenbus__state_name((enum xenbus_state)v));
	}
	return false;
}

static void step(struct xenbus_device *dev)
{
	enum xenbus_state fe;

	if (!frontend_state(dev, &fe))
		return;
	switch (fe) {
	case XenbusStateInitialising:
		/* The frontend starts over: offer the device again. */
		if (dev->state == XenbusStateClosing || dev->state == XenbusStateClosed) {
			do_disconnect(dev);
			set_state(dev, XenbusStateInitWait);
		}
		break;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		if (!dev->connected &&
		    (dev->state == XenbusStateInitWait || dev->state == XenbusStateClosed))
			do_connect(dev);
		break;
	case XenbusStateClosing:
		do_disconnect(dev);
		if (dev->state != XenbusStateClosed)
			set_state(dev, XenbusStateClosing);
		break;
	case XenbusStateClosed:
		do_disconnect(dev);
		set_state(dev, XenbusStateClosed);
		break;
	default:        /* InitWait: the frontend waits for us; we wait too */
		break;
	}
}

static void *device_thread(void *opaque)
{
	struct xenbus_device *dev = opaque;

	pthread_mutex_lock(&dev->lock);
	while (!dev->quit) {
		bool changed = dev->frontend_changed;
		enum xenbus_state request = dev->request;
		bool current = dev->request_session == dev->session;

		if (!changed && request == XenbusStateUnknown) {
			pthread_cond_broadcast(&dev->idle);
			pthread_cond_wait(&dev->work, &dev->lock);
			continue;
		}
		dev->frontend_changed = false;
		dev->request = XenbusStateUnknown;
		dev->busy = true;
		pthread_mutex_unlock(&dev->lock);
		if (request != XenbusStateUnknown && current)
			set_state(dev, request);
		if (changed)
			step(dev);
		pthread_mutex_lock(&dev->lock);
		dev->busy = false;
	}
	pthread_cond_broadcast(&dev->idle);
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

/* Runs on whatever thread changed the store: hand over and return. */
static void on_frontend_state(const char *path, const char *token, void *opaque)
{
	struct xenbus_device *dev = opaque;

	(void)path;
	(void)token;
	pthread_mutex_lock(&dev->lock);
	dev->frontend_changed = true;
	pthread_cond_signal(&dev->work);
	pthread_mutex_unlock(&dev->lock);
}

int xenbus__switch_state(struct xenbus_device *dev, enum xenbus_state state)
{
	if (state < XenbusStateInitialising || state > XenbusStateReconfigured)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	dev->request = state;
	dev->request_session = dev->session;
	pthread_cond_signal(&dev->work);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

void xenbus__flush(struct xenbus_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	while (!dev->quit && (dev->busy || dev->frontend_changed ||
			      dev->request != XenbusStateUnknown))
		pthread_cond_wait(&dev->idle, &dev->lock);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- creating and removing devices ---- */

static bool valid_type(const char *type)
{
	size_t len = type ? strlen(type) : 0;

	return len && len <= XENBUS_TYPE_MAX &&
	       strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static int set_paths(struct xenbus_device *dev, uint16_t domid)
{
	const char *type = dev->ops->type;
	size_t n = XENBUS_PATH_MAX;

	if ((size_t)snprintf(dev->backend_path, n, BACKEND_HOME "backend/%s/%u/%u",
			     type, domid, dev->devid) >= n ||
	    (size_t)snprintf(dev->frontend_path, n, "/local/domain/%u/device/%s/%u",
			     domid, type, dev->devid) >= n ||
	    (size_t)snprintf(dev->state_path, n, "%s/state", dev->frontend_path) >= n ||
	    (size_t)snprintf(dev->error_path, n, BACKEND_HOME "error/backend/%s/%u/%u",
			     type, domid, dev->devid) >= n)
		return -ENAMETOOLONG;
	return 0;
}

/* The directories and keys, in the order that lets a frontend that is
 * already running see a complete device once its state appears. */
static int build(struct xenbus_device *dev)
{
	struct xs_perm_entry guest_reads = { dev->frontend_id, XS_PERM_READ };
	struct xs_perm_entry dom0_reads = { 0, XS_PERM_READ };
	struct xs_store *s = dev->store;
	int err;

	err = xs__mkdir(s, dev->backend_path);
	if (!err)
		err = xs__set_perms(s, dev->backend_path, 0, XS_PERM_NONE, &guest_reads, 1);
	if (!err)
		err = xenbus__write_backend(dev, "frontend", "%s", dev->frontend_path);
	if (!err)
		err = xenbus__write_backend(dev, "frontend-id", "%u", dev->frontend_id);
	if (!err)
		err = xenbus__write_backend(dev, "online", "1");
	if (!err)
		err = xenbus__write_backend(dev, "state", "%d", XenbusStateInitialising);
	if (!err)
		err = xs__mkdir(s, dev->frontend_path);
	if (!err)
		err = xs__set_perms(s, dev->frontend_path, dev->frontend_id, XS_PERM_NONE,
				    &dom0_reads, 1);
	if (!err)
		err = xenbus__write_frontend(dev, "backend", "%s", dev->backend_path);
	if (!err)
		err = xenbus__write_frontend(dev, "backend-id", "0");
	if (err)
		return err;
	dev->state = XenbusStateInitialising;
	if (dev->ops->probe) {
		err = dev->ops->probe(dev);
		if (err)
			return err;
	}
	err = xenbus__write_backend(dev, "state", "%d", XenbusStateInitWait);
	if (err)
		return err;
	dev->state = XenbusStateInitWait;
	return xenbus__write_frontend(dev, "state", "%d", XenbusStateInitialising);
}

static void remove_dirs(struct xenbus_device *dev)
{
	/* Absent directories are fine: a failed xenbus__add_device() may not
	 * have made them. */
	xs__rm(dev->store, dev->backend_path);
	xs__rm(dev->store, dev->frontend_path);
	xs__rm(dev->store, dev->error_path);
}

/* A thread created with every signal blocked: pvmm's signals go to the
 * main loop's signalfd, and a thread that let one through would die of it. */
static int start_thread(struct xenbus_device *dev)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&dev->thread, NULL, device_thread, dev);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	dev->thread_started = true;
	return 0;
}

/* Afterwards no callback or step touches dev: the caller owns it. */
static void halt(struct xenbus_device *dev)
{
	if (dev->watching) {
		xs__unwatch(dev->store, dev->state_path, dev->backend_path);
		dev->watching = false;
	}
	if (dev->thread_started) {
		pthread_mutex_lock(&dev->lock);
		dev->quit = true;
		pthread_cond_signal(&dev->work);
		pthread_mutex_unlock(&dev->lock);
		pthread_join(dev->thread, NULL);
		dev->thread_started = false;
	}
}

static void unlink_device(struct xenbus_device *dev)
{
	pthread_mutex_lock(&devices_lock);
	for (struct xenbus_device **pp = &devices; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	pthread_mutex_unlock(&devices_lock);
}

static void free_device(struct xenbus_device *dev)
{
	pthread_cond_destroy(&dev->idle);
	pthread_cond_destroy(&dev->work);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* Links dev in unless the VM has a device of that type and id. */
static int link_device(struct xenbus_device *dev)
{
	pthread_mutex_lock(&devices_lock);
	for (struct xenbus_device *d = devices; d; d = d->next) {
		if (d->vm == dev->vm && d->devid == dev->devid &&
		    !strcmp(d->ops->type, dev->ops->type)) {
			pthread_mutex_unlock(&devices_lock);
			return -EEXIST;
		}
	}
	dev->next = devices;
	devices = dev;
	pthread_mutex_unlock(&devices_lock);
	return 0;
}

int xenbus__add_device(struct vm *vm, const struct xenbus_backend_ops *ops,
		       unsigned int devid, void *priv, struct xenbus_device **out)
{
	struct xenbus_device *dev;
	int err;

	if (!vm || !vm->xenstored || !ops || !ops->connect || !ops->disconnect ||
	    !valid_type(ops->type) || !out)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->vm = vm;
	dev->ops = ops;
	dev->devid = devid;
	dev->frontend_id = vm->xen.domid;
	dev->priv = priv;
	dev->store = vm->xenstored->store;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_cond_init(&dev->work, NULL);
	pthread_cond_init(&dev->idle, NULL);
	err = set_paths(dev, vm->xen.domid);
	if (!err)
		err = link_device(dev);
	if (err) {
		free_device(dev);
		return err;
	}
	err = build(dev);
	if (!err)
		err = start_thread(dev);
	if (!err)
		err = xs__watch(dev->store, dev->state_path, dev->backend_path,
				on_frontend_state, dev);
	if (err) {
		pr_err("xenbus %s: cannot create the device: %s", name(dev), strerror(-err));
		halt(dev);
		remove_dirs(dev);
		unlink_device(dev);
		free_device(dev);
		return err;
	}
	dev->watching = true;
	*out = dev;
	return 0;
}

void xenbus__remove_device(struct xenbus_device *dev)
{
	if (!dev)
		return;
	halt(dev);
	if (!atomic_load(&dev->stopped)) {
		do_disconnect(dev);
		remove_dirs(dev);
	}
	unlink_device(dev);
	free_device(dev);
}

void xenbus__stop_all(struct vm *vm)
{
	pthread_mutex_lock(&devices_lock);
	for (struct xenbus_device *dev = devices; dev; dev = dev->next) {
		if (dev->vm != vm || atomic_load(&dev->stopped))
			continue;
		halt(dev);
		do_disconnect(dev);
		set_state(dev, XenbusStateClosed);
		atomic_store(&dev->stopped, true);
	}
	pthread_mutex_unlock(&devices_lock);
}
