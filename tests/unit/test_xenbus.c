/*
 * The xenbus device framework on a real xenstore service: a VM with guest
 * memory, event channels and xenstored, no KVM.  The guest is a xenstore
 * connection of domain 1 that reads and writes as a frontend driver would;
 * the backend is a counting ops table (instrumentation of the framework).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"
#include "events/evtchn.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenbus/xenbus.h"
#include "xenstore/proto.h"
#include "xenstore/store.h"
#include "xenstore/xenstored.h"

#define RAM (16ULL << 20)
#define DEVID 51712
#define BE "/local/domain/0/backend/test/1/51712"
#define FE "/local/domain/1/device/test/51712"
#define ERR "/local/domain/0/error/backend/test/1/51712/error"

static struct vm vm;
static struct xs_store *store;
static struct xs_conn *guest;

/* ---- the counting backend ---- */

struct fake {
	atomic_int probes, connects, disconnects;
	int probe_result;           /* probe returns it */
	int connect_result;         /* connect returns it before reading anything */
	uint32_t ring_ref, port;
	char protocol[16];
	/* disconnect asks for this state, as a backend thread racing it would */
	enum xenbus_state request_in_disconnect;
	/* connect waits on release after posting entered */
	bool block_connect;
	sem_t entered, release;
	/* connect starts a thread that writes to the store until disconnect */
	bool io_thread;
	pthread_t io;
	atomic_bool io_stop;
	atomic_int io_writes;
};

static struct fake fake;

static int fake_probe(struct xenbus_device *dev)
{
	struct fake *f = dev->priv;
	int err;

	f->probes++;
	if (f->probe_result)
		return f->probe_result;
	err = xenbus__write_backend(dev, "feature-test", "%d", 1);
	if (!err)
		err = xenbus__write_frontend(dev, "virtual-device", "%u", dev->devid);
	return err;
}

static void *io_thread(void *opaque)
{
	struct xenbus_device *dev = opaque;
	struct fake *f = dev->priv;

	while (!atomic_load(&f->io_stop)) {
		ck_assert_int_eq(xenbus__write_backend(dev, "io", "%d",
						       atomic_fetch_add(&f->io_writes, 1)), 0);
		sched_yield();
	}
	return NULL;
}

static int fake_connect(struct xenbus_device *dev)
{
	struct fake *f = dev->priv;
	int err;

	f->connects++;
	if (f->block_connect) {
		sem_post(&f->entered);
		sem_wait(&f->release);
	}
	if (f->connect_result)
		return f->connect_result;
	err = xenbus__read_frontend_u32(dev, "ring-ref", &f->ring_ref);
	if (!err)
		err = xenbus__read_frontend_u32(dev, "event-channel", &f->port);
	if (!err) {
		err = xenbus__read_frontend_str(dev, "protocol", f->protocol,
						sizeof(f->protocol));
		if (err == -ENOENT) {
			strcpy(f->protocol, "native");
			err = 0;
		}
	}
	if (!err && f->io_thread) {
		atomic_store(&f->io_stop, false);
		ck_assert_int_eq(pthread_create(&f->io, NULL, io_thread, dev), 0);
	}
	return err;
}

static void fake_disconnect(struct xenbus_device *dev)
{
	struct fake *f = dev->priv;

	f->disconnects++;
	if (f->io_thread) {
		atomic_store(&f->io_stop, true);
		pthread_join(f->io, NULL);
	}
	if (f->request_in_disconnect)
		ck_assert_int_eq(xenbus__switch_state(dev, f->request_in_disconnect), 0);
}

static const struct xenbus_backend_ops fake_ops = {
	.type = "test",
	.probe = fake_probe,
	.connect = fake_connect,
	.disconnect = fake_disconnect,
};

/* ---- the VM ---- */

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(&fake, 0, sizeof(fake));
	sem_init(&fake.entered, 0, 0);
	sem_init(&fake.release, 0, 0);
	log__set_level(LOG_ERROR);
	ck_assert_int_eq(gmem__init(&vm.mem, RAM), 0);
	xen__domain_init(&vm);
	ck_assert_int_eq(evtchn__init(&vm), 0);
	ck_assert_int_eq(loop__init(&vm.loop), 0);
	ck_assert_int_eq(xenstored__start(&vm, "t"), 0);
	store = vm.xenstored->store;
	guest = xs__conn_create(store, vm.xen.domid);
	ck_assert_ptr_nonnull(guest);
}

static void teardown(void)
{
	xs__conn_destroy(guest);
	xenstored__stop(&vm);
	loop__destroy(&vm.loop);
	evtchn__destroy(&vm);
	gmem__free(&vm.mem);
	sem_destroy(&fake.entered);
	sem_destroy(&fake.release);
}

static struct xenbus_device *add(void)
{
	struct xenbus_device *dev = NULL;

	ck_assert_int_eq(xenbus__add_device(&vm, &fake_ops, DEVID, &fake, &dev), 0);
	ck_assert_ptr_nonnull(dev);
	return dev;
}

/* ---- the guest's side, through its own xenstore connection ---- */

struct reply {
	struct xsd_sockmsg h;
	char p[XENSTORE_PAYLOAD_MAX + 1];
};

/* Watch events the guest received: how many, and the last one's payload. */
static int nr_events;
static struct reply last_event;

static bool guest_next(struct reply *r)
{
	if (!xs__conn_read_output(guest, &r->h, sizeof(r->h)))
		return false;
	ck_assert_uint_le(r->h.len, XENSTORE_PAYLOAD_MAX);
	ck_assert_uint_eq(xs__conn_read_output(guest, r->p, r->h.len), r->h.len);
	r->p[r->h.len] = '\0';
	if (r->h.type == XS_WATCH_EVENT) {
		nr_events++;
		last_event = *r;
	}
	return true;
}

/* Takes the guest's pending watch events. */
static void guest_drain(void)
{
	struct reply r;

	while (guest_next(&r))
		ck_assert_uint_eq(r.h.type, XS_WATCH_EVENT);
}

/* One request; its reply in *r (watch events are recorded on the way). */
static void guest_req(uint32_t type, const char *payload, uint32_t len, struct reply *r)
{
	static uint32_t req_id;
	struct xsd_sockmsg h = { .type = type, .req_id = ++req_id, .len = len };

	xs__conn_handle(guest, &h, payload);
	do
		ck_assert(guest_next(r));
	while (r->h.type == XS_WATCH_EVENT);
	ck_assert_uint_eq(r->h.req_id, req_id);
}

/* "OK", or the error name ("EACCES") the guest gets for writing path. */
static const char *guest_write_result(const char *path, const char *value)
{
	static struct reply r;
	char buf[512];
	size_t pl = strlen(path) + 1, vl = strlen(value);

	memcpy(buf, path, pl);
	memcpy(buf + pl, value, vl);
	guest_req(XS_WRITE, buf, (uint32_t)(pl + vl), &r);
	return r.p;
}

static void guest_write(const char *path, const char *value)
{
	ck_assert_str_eq(guest_write_result(path, value), "OK");
}

/* The reply to a one-path request (XS_READ, XS_DIRECTORY, XS_GET_PERMS...):
 * its type in *type and payload in r. */
static void guest_path_req(uint32_t type, const char *path, struct reply *r)
{
	guest_req(type, path, (uint32_t)strlen(path) + 1, r);
}

static void assert_guest_reads(const char *path, const char *want)
{
	struct reply r;

	guest_path_req(XS_READ, path, &r);
	ck_assert_uint_eq(r.h.type, XS_READ);
	ck_assert_str_eq(r.p, want);
}

static void assert_value(const char *path, const char *want)
{
	char *v = NULL;

	ck_assert_int_eq(xs__read(store, path, &v), 0);
	ck_assert_str_eq(v, want);
	free(v);
}

static void assert_absent(const char *path)
{
	char *v = NULL;

	ck_assert_int_eq(xs__read(store, path, &v), -ENOENT);
}

/* The guest moves its frontend to state, and the backend answers. */
static void frontend_to(struct xenbus_device *dev, const char *state)
{
	guest_write(FE "/state", state);
	xenbus__flush(dev);
}

static void assert_backend_state(enum xenbus_state state)
{
	char want[4];

	snprintf(want, sizeof(want), "%d", (int)state);
	assert_value(BE "/state", want);
}

/* Ring keys a frontend writes before Initialised. */
static void frontend_publishes(const char *ring_ref, const char *port)
{
	guest_write(FE "/ring-ref", ring_ref);
	guest_write(FE "/event-channel", port);
}

static void connect(struct xenbus_device *dev)
{
	frontend_publishes("8", "5");
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateConnected);
}

/* Closed and back to InitWait, as a frontend that reconnects. */
static void reset(struct xenbus_device *dev)
{
	frontend_to(dev, "6");
	assert_backend_state(XenbusStateClosed);
	frontend_to(dev, "1");
	assert_backend_state(XenbusStateInitWait);
}

/* ---- tests ---- */

START_TEST(test_layout)
{
	struct xenbus_device *dev = add();
	struct reply r;

	ck_assert_int_eq(fake.probes, 1);
	ck_assert_str_eq(dev->backend_path, BE);
	ck_assert_str_eq(dev->frontend_path, FE);
	ck_assert_uint_eq(dev->frontend_id, 1);
	assert_value(BE "/frontend", FE);
	assert_value(BE "/frontend-id", "1");
	assert_value(BE "/online", "1");
	assert_value(BE "/feature-test", "1");
	assert_backend_state(XenbusStateInitWait);
	assert_value(FE "/backend", BE);
	assert_value(FE "/backend-id", "0");
	assert_value(FE "/state", "1");
	assert_value(FE "/virtual-device", "51712");

	/* Permissions as libxl sets them. */
	guest_path_req(XS_GET_PERMS, BE, &r);
	ck_assert_uint_eq(r.h.type, XS_GET_PERMS);
	ck_assert_uint_eq(r.h.len, 6);
	ck_assert_mem_eq(r.p, "n0\0r1\0", 6);
	guest_path_req(XS_GET_PERMS, FE, &r);
	ck_assert_uint_eq(r.h.len, 6);
	ck_assert_mem_eq(r.p, "n1\0r0\0", 6);

	/* The guest finds its device and reads the backend's keys... */
	guest_path_req(XS_DIRECTORY, "device/test", &r);
	ck_assert_uint_eq(r.h.type, XS_DIRECTORY);
	ck_assert_str_eq(r.p, "51712");
	assert_guest_reads(BE "/state", "2");
	assert_guest_reads(BE "/feature-test", "1");
	assert_guest_reads(BE "/frontend", FE);
	/* ...but cannot change them, nor make a device of its own. */
	ck_assert_str_eq(guest_write_result(BE "/state", "4"), "EACCES");
	ck_assert_str_eq(guest_write_result(BE "/feature-test", "0"), "EACCES");
	ck_assert_str_eq(guest_write_result(BE "/new", "x"), "EACCES");
	ck_assert_str_eq(guest_write_result("device/test/1/state", "1"), "EACCES");
	guest_path_req(XS_RM, BE, &r);
	ck_assert_str_eq(r.p, "EACCES");
	assert_backend_state(XenbusStateInitWait);
	/* Its frontend directory is its own, and pvmm's is not readable. */
	guest_write(FE "/ring-ref", "8");
	guest_write(FE "/anything", "x");
	guest_path_req(XS_READ, "/local/domain/0/backend", &r);
	ck_assert_str_eq(r.p, "EACCES");

	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_guest_watches_backend)
{
	struct xenbus_device *dev = add();
	struct reply r;
	const char watch[] = BE "/state\0tok";

	/* A frontend follows the backend's state with a watch. */
	nr_events = 0;
	guest_req(XS_WATCH, watch, sizeof(watch), &r);
	ck_assert_str_eq(r.p, "OK");
	guest_drain();
	ck_assert_int_eq(nr_events, 1);         /* the initial event */

	frontend_publishes("8", "5");
	frontend_to(dev, "3");
	guest_drain();
	ck_assert_int_eq(nr_events, 2);
	ck_assert_uint_eq(last_event.h.len, sizeof(watch));
	ck_assert_mem_eq(last_event.p, watch, sizeof(watch));
	assert_guest_reads(BE "/state", "4");

	xenbus__remove_device(dev);
	guest_drain();
	ck_assert_int_eq(nr_events, 3);         /* the backend went away */
}
END_TEST

START_TEST(test_connect_once)
{
	struct xenbus_device *dev = add();

	/* InitWait and Initialising from the frontend change nothing. */
	frontend_to(dev, "2");
	frontend_to(dev, "1");
	assert_backend_state(XenbusStateInitWait);
	ck_assert_int_eq(fake.connects, 0);

	frontend_publishes("8", "4294967295");
	frontend_to(dev, "3");
	ck_assert_int_eq(fake.connects, 1);
	assert_backend_state(XenbusStateConnected);
	ck_assert_uint_eq(fake.ring_ref, 8);
	ck_assert_uint_eq(fake.port, UINT32_MAX);
	ck_assert_str_eq(fake.protocol, "native");
	assert_absent(ERR);

	/* Connected, and spurious rewrites, do not connect again. */
	frontend_to(dev, "4");
	frontend_to(dev, "3");
	frontend_to(dev, "4");
	ck_assert_int_eq(fake.connects, 1);
	ck_assert_int_eq(fake.disconnects, 0);
	assert_backend_state(XenbusStateConnected);

	/* Removing a connected device disconnects it and its keys go. */
	xenbus__remove_device(dev);
	ck_assert_int_eq(fake.disconnects, 1);
	assert_absent(BE);
	assert_absent(FE);
}
END_TEST

START_TEST(test_protocol_key)
{
	struct xenbus_device *dev = add();

	guest_write(FE "/protocol", "x86_32-abi");
	connect(dev);
	ck_assert_str_eq(fake.protocol, "x86_32-abi");
	reset(dev);

	/* Longer than the backend's buffer: refused and reported. */
	guest_write(FE "/protocol", "a-protocol-name-that-is-too-long");
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateClosing);
	ck_assert_int_eq(fake.connects, 2);
	assert_value(ERR, "7 reading " FE "/protocol: longer than 15 bytes");

	xenbus__remove_device(dev);
	assert_absent(ERR);
}
END_TEST

START_TEST(test_close_and_reconnect)
{
	struct xenbus_device *dev = add();

	connect(dev);
	/* Closing: the backend stops serving and follows. */
	frontend_to(dev, "5");
	ck_assert_int_eq(fake.disconnects, 1);
	assert_backend_state(XenbusStateClosing);
	frontend_to(dev, "6");
	ck_assert_int_eq(fake.disconnects, 1);
	assert_backend_state(XenbusStateClosed);

	ck_assert_int_eq(fake.connects, 1);
	/* Linux's reconnect: Initialising, new ring, Initialised. */
	frontend_to(dev, "1");
	assert_backend_state(XenbusStateInitWait);
	frontend_publishes("9", "6");
	frontend_to(dev, "3");
	ck_assert_int_eq(fake.connects, 2);
	ck_assert_uint_eq(fake.ring_ref, 9);
	ck_assert_uint_eq(fake.port, 6);
	assert_backend_state(XenbusStateConnected);

	/* A frontend that goes to Closed at once is disconnected too. */
	frontend_to(dev, "6");
	ck_assert_int_eq(fake.disconnects, 2);
	assert_backend_state(XenbusStateClosed);

	xenbus__remove_device(dev);
	ck_assert_int_eq(fake.disconnects, 2);
	ck_assert_int_eq(fake.connects, 2);
}
END_TEST

START_TEST(test_closed_frontend_reinitialises_fast)
{
	struct xenbus_device *dev = add();

	connect(dev);
	frontend_to(dev, "5");
	frontend_to(dev, "6");
	/* Initialising then Initialised before the backend looks: the backend
	 * sees Initialised from Closed, and connects. */
	guest_write(FE "/state", "1");
	frontend_to(dev, "3");
	ck_assert_int_eq(fake.connects, 2);
	assert_backend_state(XenbusStateConnected);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_connect_failure)
{
	struct xenbus_device *dev = add();

	fake.connect_result = -ENODEV;
	frontend_publishes("8", "5");
	frontend_to(dev, "3");
	ck_assert_int_eq(fake.connects, 1);
	assert_backend_state(XenbusStateClosing);
	assert_value(ERR, "19 connecting to " FE);
	/* Not connected: nothing to disconnect, and no retry while Closing. */
	frontend_to(dev, "4");
	ck_assert_int_eq(fake.connects, 1);
	frontend_to(dev, "6");
	ck_assert_int_eq(fake.disconnects, 0);
	assert_backend_state(XenbusStateClosed);

	/* The frontend tries again and this time the backend can serve. */
	fake.connect_result = 0;
	frontend_to(dev, "1");
	assert_backend_state(XenbusStateInitWait);
	frontend_to(dev, "3");
	ck_assert_int_eq(fake.connects, 2);
	assert_backend_state(XenbusStateConnected);

	/* A frontend that restarts from Closing (skipping Closed). */
	fake.connect_result = -EIO;
	frontend_to(dev, "6");
	frontend_to(dev, "1");
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateClosing);
	assert_value(ERR, "5 connecting to " FE);
	fake.connect_result = 0;
	frontend_to(dev, "1");
	assert_backend_state(XenbusStateInitWait);
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateConnected);
	ck_assert_int_eq(fake.connects, 4);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_bad_ring_values)
{
	static const char *const bad[] = {
		"", "-1", "+5", " 5", "5 ", "0x10", "12abc", "4294967296",
		"99999999999999999999", "1.0", "5\n",
	};
	struct xenbus_device *dev = add();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		frontend_publishes(bad[i], "5");
		frontend_to(dev, "3");
		assert_backend_state(XenbusStateClosing);
		assert_value(ERR, "22 reading " FE "/ring-ref: not a decimal number below 2^32");
		ck_assert_int_eq(fake.disconnects, 0);
		xs__rm(store, ERR);
		reset(dev);
	}
	ck_assert_int_eq(fake.connects, (int)(sizeof(bad) / sizeof(bad[0])));

	/* A missing key fails connect too; the framework names the failure. */
	guest_write(FE "/ring-ref", "0");
	ck_assert_int_eq(xs__rm(store, FE "/event-channel"), 0);
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateClosing);
	assert_value(ERR, "2 connecting to " FE);
	reset(dev);

	/* Leading zeros are still a decimal number. */
	frontend_publishes("007", "5");
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateConnected);
	ck_assert_uint_eq(fake.ring_ref, 7);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_bad_states_ignored)
{
	static const char *const bad[] = {
		"", "0", "7", "8", "9", "-1", "3x", " 3", "garbage", "4294967299",
	};
	struct xenbus_device *dev = add();
	struct reply r;

	frontend_publishes("8", "5");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		frontend_to(dev, bad[i]);
		assert_backend_state(XenbusStateInitWait);
	}
	/* The guest may remove its state node; nothing happens either. */
	guest_path_req(XS_RM, FE "/state", &r);
	ck_assert_str_eq(r.p, "OK");
	xenbus__flush(dev);
	assert_absent(FE "/state");
	assert_backend_state(XenbusStateInitWait);
	ck_assert_int_eq(fake.connects, 0);
	ck_assert_int_eq(fake.disconnects, 0);

	/* A good state still works afterwards. */
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateConnected);
	/* And garbage while connected does not disconnect. */
	frontend_to(dev, "junk");
	assert_backend_state(XenbusStateConnected);
	ck_assert_int_eq(fake.disconnects, 0);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_remove_unwatches)
{
	struct xenbus_device *dev = add(), *again = NULL;

	ck_assert_int_eq(xenbus__add_device(&vm, &fake_ops, DEVID, &fake, &again), -EEXIST);
	ck_assert_ptr_null(again);
	xenbus__remove_device(dev);
	assert_absent(BE);
	assert_absent(FE);
	/* Its node coming back fires no watch (under ASan, a callback on the
	 * freed device would be caught); pvmm writes it since the guest no
	 * longer may. */
	ck_assert_str_eq(guest_write_result(FE "/state", "3"), "EACCES");
	ck_assert_int_eq(xs__write(store, FE "/ring-ref", "8"), 0);
	ck_assert_int_eq(xs__write(store, FE "/event-channel", "5"), 0);
	ck_assert_int_eq(xs__write(store, FE "/state", "3"), 0);
	ck_assert_int_eq(fake.connects, 0);
	ck_assert_int_eq(xs__rm(store, FE), 0);

	/* The same device can be added again. */
	dev = add();
	ck_assert_int_eq(fake.probes, 2);
	connect(dev);
	ck_assert_int_eq(fake.connects, 1);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_stop_all)
{
	static const struct xenbus_backend_ops other_ops = {
		.type = "other", .connect = fake_connect, .disconnect = fake_disconnect,
	};
	struct xenbus_device *dev = add(), *other = NULL;

	ck_assert_int_eq(xenbus__add_device(&vm, &other_ops, 0, &fake, &other), 0);
	assert_value("/local/domain/0/backend/other/1/0/state", "2");
	connect(dev);
	xenbus__stop_all(&vm);
	/* Only the connected device had something to disconnect. */
	ck_assert_int_eq(fake.disconnects, 1);
	assert_backend_state(XenbusStateClosed);
	assert_value("/local/domain/0/backend/other/1/0/state", "6");
	/* Stopped devices no longer follow their frontend. */
	frontend_to(dev, "1");
	frontend_to(dev, "3");
	assert_backend_state(XenbusStateClosed);
	ck_assert_int_eq(fake.connects, 1);
	xenbus__stop_all(&vm);
	ck_assert_int_eq(fake.disconnects, 1);

	/* Removing a stopped device leaves the (soon gone) store alone. */
	xenbus__remove_device(dev);
	xenbus__remove_device(other);
	assert_value(BE "/state", "6");
	ck_assert_int_eq(fake.disconnects, 1);
}
END_TEST

START_TEST(test_add_invalid)
{
	struct xenbus_backend_ops ops = fake_ops;
	struct xenbus_device *dev = NULL;

	ops.connect = NULL;
	ck_assert_int_eq(xenbus__add_device(&vm, &ops, 1, NULL, &dev), -EINVAL);
	ops = fake_ops;
	ops.type = "a/b";
	ck_assert_int_eq(xenbus__add_device(&vm, &ops, 1, NULL, &dev), -EINVAL);
	ops.type = "";
	ck_assert_int_eq(xenbus__add_device(&vm, &ops, 1, NULL, &dev), -EINVAL);
	ck_assert_ptr_null(dev);

	/* A failing probe leaves nothing behind. */
	fake.probe_result = -ENOMEM;
	ck_assert_int_eq(xenbus__add_device(&vm, &fake_ops, DEVID, &fake, &dev), -ENOMEM);
	ck_assert_ptr_null(dev);
	assert_absent(BE);
	assert_absent(FE);
	fake.probe_result = 0;
	dev = add();
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_state_requests)
{
	struct xenbus_device *dev = add();

	ck_assert_int_eq(xenbus__switch_state(dev, XenbusStateUnknown), -EINVAL);
	ck_assert_int_eq(xenbus__switch_state(dev, (enum xenbus_state)9), -EINVAL);
	connect(dev);
	/* A serving backend gives up on its frontend. */
	ck_assert_int_eq(xenbus__switch_state(dev, XenbusStateClosing), 0);
	xenbus__flush(dev);
	assert_backend_state(XenbusStateClosing);
	/* The frontend answers; the backend stops serving. */
	frontend_to(dev, "6");
	ck_assert_int_eq(fake.disconnects, 1);
	assert_backend_state(XenbusStateClosed);

	/* A request made while disconnecting belongs to the session that
	 * ended: it must not pull the closed backend back to Closing. */
	frontend_to(dev, "1");
	connect(dev);
	fake.request_in_disconnect = XenbusStateClosing;
	frontend_to(dev, "6");
	xenbus__flush(dev);
	ck_assert_int_eq(fake.disconnects, 2);
	assert_backend_state(XenbusStateClosed);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_callback_does_not_run_ops)
{
	struct xenbus_device *dev;
	struct timespec deadline;

	fake.block_connect = true;
	dev = add();
	frontend_publishes("8", "5");
	/* connect blocks, yet the guest's write returns: the watch callback
	 * only hands the change to the device's thread. */
	guest_write(FE "/state", "3");
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	ck_assert_int_eq(sem_timedwait(&fake.entered, &deadline), 0);
	/* Meanwhile the store serves the guest as usual. */
	assert_guest_reads(BE "/state", "2");
	guest_write(FE "/state", "4");
	sem_post(&fake.release);
	xenbus__flush(dev);
	ck_assert_int_eq(fake.connects, 1);
	assert_backend_state(XenbusStateConnected);
	xenbus__remove_device(dev);
}
END_TEST

START_TEST(test_backend_thread_writes)
{
	struct xenbus_device *dev;

	/* A backend whose own thread writes to the store while disconnect
	 * waits for it: the frontend's change may be delivered on that thread,
	 * which must not end up running disconnect (and joining itself). */
	fake.io_thread = true;
	dev = add();
	for (int i = 0; i < 20; i++) {
		connect(dev);
		while (atomic_load(&fake.io_writes) < 2 * (i + 1))
			sched_yield();
		frontend_to(dev, "5");
		frontend_to(dev, "6");
		frontend_to(dev, "1");
		assert_backend_state(XenbusStateInitWait);
	}
	ck_assert_int_eq(fake.connects, 20);
	ck_assert_int_eq(fake.disconnects, 20);
	xenbus__remove_device(dev);
}
END_TEST

static Suite *xenbus_suite(void)
{
	Suite *s = suite_create("xenbus");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_guest_watches_backend);
	tcase_add_test(tc, test_connect_once);
	tcase_add_test(tc, test_protocol_key);
	tcase_add_test(tc, test_close_and_reconnect);
	tcase_add_test(tc, test_closed_frontend_reinitialises_fast);
	tcase_add_test(tc, test_connect_failure);
	tcase_add_test(tc, test_bad_ring_values);
	tcase_add_test(tc, test_bad_states_ignored);
	tcase_add_test(tc, test_remove_unwatches);
	tcase_add_test(tc, test_stop_all);
	tcase_add_test(tc, test_add_invalid);
	tcase_add_test(tc, test_state_requests);
	tcase_add_test(tc, test_callback_does_not_run_ops);
	tcase_add_test(tc, test_backend_thread_writes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(xenbus_suite)
