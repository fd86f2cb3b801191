/*
 * Xenstore through the ring page and event channel in HVM_PARAM_STORE_PFN
 * and HVM_PARAM_STORE_EVTCHN: READ, WRITE, DIRECTORY, MKDIR, RM,
 * GET_DOMAIN_PATH, GET_PERMS, WATCH/UNWATCH and their events, transactions
 * (isolation, commit, a conflict ending in EAGAIN), an unknown message
 * type, another domain's node, and control/shutdown.  The first requests
 * wait for replies with SCHEDOP_yield, as GRUB does; the rest block in
 * SCHEDOP_poll on the store port.
 */
#include "xenstore.h"

#define WATCH_WAIT_NS   5000000000ull

static struct xs_msg reply;
static domid_t self;
static char home[64];

/* Whether a directory listing (NUL-separated names) holds name. */
static bool listing_has(const struct xs_msg *m, const char *name)
{
	for (unsigned int i = 0;; i++) {
		const char *s = xs_string(m, i);

		if (!s)
			return false;
		if (strcmp(s, name) == 0)
			return true;
	}
}

static bool read_is(uint32_t tx, const char *path, const char *want, const char *name)
{
	char buf[128];
	long rc = xs_read(tx, path, buf, sizeof(buf));

	if (rc < 0) {
		printf("FAIL - %s (XS_READ %s: error %ld)\n", name, path, rc);
		return check(false, name);
	}
	if (strcmp(buf, want) != 0)
		printf("FAIL - %s (read '%s', want '%s')\n", name, buf, want);
	return check(strcmp(buf, want) == 0, name);
}

static void test_basics(void)
{
	char buf[128], want[16];
	long rc;

	rc = xs_read(0, "domid", buf, sizeof(buf));
	if (check(rc > 0, "XS_READ domid (relative path)")) {
		unsigned int id = 0;

		for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
			id = id * 10 + (unsigned int)(*p - '0');
		self = (domid_t)id;
		printf("xenstore: domid '%s'\n", buf);
	}
	rc = xs_read(0, "name", buf, sizeof(buf));
	check(rc > 0, "XS_READ name (relative path)");
	if (rc > 0)
		printf("xenstore: name '%s'\n", buf);

	snprintf(want, sizeof(want), "%u", self);
	snprintf(home, sizeof(home), "/local/domain/%u", self);
	rc = xs_path_op(XS_GET_DOMAIN_PATH, 0, want, NULL, false, &reply);
	check_long("XS_GET_DOMAIN_PATH", rc, 0);
	if (rc == 0) {
		printf("xenstore: home '%s'\n", reply.body);
		check(strcmp(reply.body, home) == 0, "XS_GET_DOMAIN_PATH is /local/domain/<domid>");
	}
	snprintf(buf, sizeof(buf), "%s/domid", home);
	read_is(0, buf, want, "XS_READ of the absolute path agrees");
}

static void test_write_read(void)
{
	char path[96];
	long rc;

	rc = xs_write(0, "data/test", "hello");
	check_long("XS_WRITE data/test = hello", rc, 0);
	read_is(0, "data/test", "hello", "XS_READ data/test reads back hello");
	rc = xs_write(0, "data/test", "");
	check_long("XS_WRITE of an empty value", rc, 0);
	read_is(0, "data/test", "", "XS_READ reads back the empty value");
	xs_write(0, "data/test", "hello");

	rc = xs_path_op(XS_DIRECTORY, 0, home, NULL, false, &reply);
	check_long("XS_DIRECTORY of /local/domain/<domid>", rc, 0);
	check(rc == 0 && listing_has(&reply, "name") && listing_has(&reply, "domid") &&
	      listing_has(&reply, "data"),
	      "the directory lists name, domid and data");

	rc = xs_path_op(XS_MKDIR, 0, "data/dir", NULL, false, &reply);
	check_long("XS_MKDIR data/dir", rc, 0);
	rc = xs_path_op(XS_DIRECTORY, 0, "data", NULL, false, &reply);
	check(rc == 0 && listing_has(&reply, "dir") && listing_has(&reply, "test"),
	      "XS_DIRECTORY data lists dir and test");
	read_is(0, "data/dir", "", "a new directory reads as empty");
	rc = xs_write(0, "data/dir/a/b", "deep");
	check_long("XS_WRITE creates missing parents", rc, 0);
	read_is(0, "data/dir/a", "", "an implicitly created parent reads as empty");

	rc = xs_path_op(XS_RM, 0, "data/dir", NULL, false, &reply);
	check_long("XS_RM data/dir (with children)", rc, 0);
	check_long("XS_READ of a removed node is ENOENT",
		   xs_read(0, "data/dir/a/b", path, sizeof(path)), -XEN_ENOENT);
	check_long("XS_READ of a node that never existed is ENOENT",
		   xs_read(0, "data/nonexistent", path, sizeof(path)), -XEN_ENOENT);

	rc = xs_path_op(XS_GET_PERMS, 0, "data/test", NULL, false, &reply);
	check_long("XS_GET_PERMS data/test", rc, 0);
	if (rc == 0) {
		const char *perm = xs_string(&reply, 0);
		char owner[16];

		printf("xenstore: perms of data/test: '%s'\n", perm ? perm : "");
		snprintf(owner, sizeof(owner), "%u", self);
		check(perm && (perm[0] == 'n' || perm[0] == 'r' || perm[0] == 'w' ||
			       perm[0] == 'b') && strcmp(perm + 1, owner) == 0,
		      "XS_GET_PERMS: we own the node we wrote");
	}
}

static bool next_watch_is(const char *path, const char *token, const char *name)
{
	struct xs_msg *ev = &reply;
	long rc = xs_next_watch(ev, xen_now() + WATCH_WAIT_NS);
	const char *p, *t;

	if (rc) {
		printf("FAIL - %s (no watch event: %ld)\n", name, rc);
		return check(false, name);
	}
	p = xs_string(ev, XS_WATCH_PATH);
	t = xs_string(ev, XS_WATCH_TOKEN);
	printf("xenstore: watch event '%s' token '%s'\n", p ? p : "", t ? t : "");
	return check(p && t && strcmp(p, path) == 0 && strcmp(t, token) == 0, name);
}

static void test_watch(void)
{
	long rc;

	xs_write(0, "data/w", "");
	rc = xs_path_op(XS_WATCH, 0, "data/w", "tok1", true, &reply);
	check_long("XS_WATCH data/w", rc, 0);
	next_watch_is("data/w", "tok1", "a new watch fires once at once");
	rc = xs_write(0, "data/w/x", "1");
	check_long("XS_WRITE data/w/x under the watch", rc, 0);
	next_watch_is("data/w/x", "tok1", "the write fires the watch with its path and token");
	rc = xs_write(0, "data/other", "1");
	check_long("XS_WRITE outside the watched subtree", rc, 0);
	rc = xs_path_op(XS_UNWATCH, 0, "data/w", "tok1", true, &reply);
	check_long("XS_UNWATCH data/w", rc, 0);
	rc = xs_write(0, "data/w/x", "2");
	check_long("XS_WRITE after XS_UNWATCH", rc, 0);
	check(xs_next_watch(&reply, xen_now() + 20000000ull) == -XEN_ETIMEDOUT,
	      "no event outside the subtree or after XS_UNWATCH");
	check_long("XS_UNWATCH of a watch that is gone is ENOENT",
		   xs_path_op(XS_UNWATCH, 0, "data/w", "tok1", true, &reply), -XEN_ENOENT);
}

static void test_transactions(void)
{
	uint32_t tx = 0, t1 = 0, t2 = 0;
	char buf[64];
	long rc;

	xs_write(0, "data/tx", "before");
	rc = xs_transaction_start(&tx);
	check_long("XS_TRANSACTION_START", rc, 0);
	printf("xenstore: transaction %u\n", tx);
	rc = xs_write(tx, "data/tx", "inside");
	check_long("XS_WRITE inside the transaction", rc, 0);
	read_is(tx, "data/tx", "inside", "the transaction sees its own write");
	read_is(0, "data/tx", "before", "outside, the write is not visible yet");
	rc = xs_transaction_end(tx, true);
	check_long("XS_TRANSACTION_END commit", rc, 0);
	read_is(0, "data/tx", "inside", "after commit the write is visible");

	rc = xs_transaction_start(&tx);
	xs_write(tx, "data/tx", "aborted");
	rc = xs_transaction_end(tx, false);
	check_long("XS_TRANSACTION_END abort", rc, 0);
	read_is(0, "data/tx", "inside", "an aborted write is gone");
	check_long("XS_READ in an ended transaction is ENOENT",
		   xs_read(tx, "data/tx", buf, sizeof(buf)), -XEN_ENOENT);

	/* Both read and write the node; the second to commit loses. */
	check_long("XS_TRANSACTION_START (first of two)", xs_transaction_start(&t1), 0);
	check_long("XS_TRANSACTION_START (second of two)", xs_transaction_start(&t2), 0);
	check(t1 != t2, "two transactions get different ids");
	xs_read(t1, "data/tx", buf, sizeof(buf));
	xs_read(t2, "data/tx", buf, sizeof(buf));
	check_long("XS_WRITE in the first transaction", xs_write(t1, "data/tx", "one"), 0);
	check_long("XS_WRITE in the second transaction", xs_write(t2, "data/tx", "two"), 0);
	check_long("the first XS_TRANSACTION_END commits", xs_transaction_end(t1, true), 0);
	check_long("the conflicting second XS_TRANSACTION_END is EAGAIN",
		   xs_transaction_end(t2, true), -XEN_EAGAIN);
	read_is(0, "data/tx", "one", "the first transaction's value stands");
}

static void test_errors(void)
{
	char buf[64];
	long rc;

	rc = xs_talk(XS_TYPE_COUNT + 100, 0, "x", 2, &reply);
	check_long("an unknown message type is answered", rc, 0);
	if (rc == 0) {
		printf("xenstore: unknown type answered with type %u '%s'\n",
		       reply.hdr.type, reply.body);
		check_long("the answer to an unknown type is XS_ERROR", reply.hdr.type, XS_ERROR);
	}
	rc = xs_read(0, "/local/domain/0/x", buf, sizeof(buf));
	check(rc == -XEN_EACCES || rc == -XEN_ENOENT,
	      "XS_READ of another domain's node is EACCES or ENOENT");
	rc = xs_write(0, "/local/domain/0/x", "intruder");
	check(rc == -XEN_EACCES, "XS_WRITE to another domain's node is EACCES");

	rc = xs_read(0, "control/shutdown", buf, sizeof(buf));
	check_long("control/shutdown exists", rc < 0 ? rc : 0, 0);
	check(rc == 0, "control/shutdown is empty");
	{
		static const char *const made[] = { "data/test", "data/w", "data/other",
						     "data/tx" };
		unsigned int removed = 0;

		for (unsigned int i = 0; i < sizeof(made) / sizeof(made[0]); i++)
			if (xs_path_op(XS_RM, 0, made[i], NULL, false, &reply) == 0)
				removed++;
		check_long("XS_RM of what the test made", removed, 4);
	}
}

void guest_main(const struct hvm_start_info *si)
{
	long rc;

	(void)si;
	printf("xenstore: %u-bit guest\n", GUEST_BITS);
	rc = xs_init();
	if (!check_long("xenstore ring and event channel from HVM params", rc, 0))
		return;
	printf("xenstore: ring pfn %#llx, port %u\n", (unsigned long long)xs.pfn, xs.port);
	check(xs.ring->connection == XENSTORE_CONNECTED, "the ring is connected");

	/* GRUB's way first: spin with SCHEDOP_yield until the reply is there. */
	xs_set_wait(XS_WAIT_YIELD);
	test_basics();
	xs_set_wait(XS_WAIT_POLL);
	test_write_read();
	test_watch();
	test_transactions();
	test_errors();
}
