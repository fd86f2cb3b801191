/*
 * The xenstore: tree operations, paths, permissions, watches, transactions,
 * quotas and malformed requests through a connection, then the ring page
 * transport with a host page standing in for the guest's.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenstore/proto.h"
#include "xenstore/ring.h"
#include "xenstore/store.h"
#include "check_main.h"

#define GUEST 1
#define OTHER 2
#define HOME "/local/domain/1"
/* A string literal's bytes without the terminator the compiler adds: NULs
 * that belong to the payload are written out. */
#define P(lit) (lit), (uint32_t)(sizeof(lit) - 1)

static struct xs_store *s;
static struct xs_conn *g;       /* domain 1, a guest */
static struct xs_conn *d0;      /* domain 0 */

struct msg {
	struct xsd_sockmsg h;
	char p[XENSTORE_PAYLOAD_MAX + 1];
};

static void setup(void)
{
	s = xs__store_create();
	ck_assert_int_eq(xs__populate_domain(s, GUEST, "guest", 65536, NULL), 0);
	ck_assert_int_eq(xs__populate_domain(s, OTHER, "other", 32768, NULL), 0);
	g = xs__conn_create(s, GUEST);
	d0 = xs__conn_create(s, 0);
}

static void teardown(void)
{
	xs__conn_destroy(g);
	xs__conn_destroy(d0);
	xs__store_destroy(s);
}

static void req(struct xs_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
		const char *p, uint32_t len)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = len };

	xs__conn_handle(c, &h, p);
}

/* The next whole output message, false when there is none. */
static bool next_msg(struct xs_conn *c, struct msg *m)
{
	size_t n = xs__conn_read_output(c, &m->h, sizeof(m->h));

	if (!n)
		return false;
	ck_assert_uint_eq(n, sizeof(m->h));
	ck_assert_uint_le(m->h.len, XENSTORE_PAYLOAD_MAX);
	ck_assert_uint_eq(xs__conn_read_output(c, m->p, m->h.len), m->h.len);
	return true;
}

static void expect(struct xs_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
		   const char *p, uint32_t len)
{
	struct msg m;

	ck_assert_msg(next_msg(c, &m), "no message, expected type %u", type);
	ck_assert_uint_eq(m.h.type, type);
	ck_assert_uint_eq(m.h.req_id, req_id);
	ck_assert_uint_eq(m.h.tx_id, tx_id);
	ck_assert_uint_eq(m.h.len, len);
	ck_assert_mem_eq(m.p, p, len);
}

static void expect_ok(struct xs_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id)
{
	expect(c, type, req_id, tx_id, P("OK\0"));
}

/* An XS_ERROR reply naming err ("ENOENT" ...). */
static void expect_err(struct xs_conn *c, uint32_t req_id, uint32_t tx_id, const char *err)
{
	expect(c, XS_ERROR, req_id, tx_id, err, (uint32_t)strlen(err) + 1);
}

static void expect_none(struct xs_conn *c)
{
	struct msg m;

	ck_assert_msg(!next_msg(c, &m), "unexpected message type %u", m.h.type);
}

static void expect_event(struct xs_conn *c, const char *path, const char *token)
{
	char buf[512];
	size_t pl = strlen(path) + 1, tl = strlen(token) + 1;

	memcpy(buf, path, pl);
	memcpy(buf + pl, token, tl);
	expect(c, XS_WATCH_EVENT, 0, 0, buf, (uint32_t)(pl + tl));
}

static char *read_value(const char *path)
{
	char *v = NULL;

	ck_assert_int_eq(xs__read(s, path, &v), 0);
	return v;
}

static void assert_value(const char *path, const char *want)
{
	char *v = read_value(path);

	ck_assert_str_eq(v, want);
	free(v);
}

/* ---- tree operations ---- */

START_TEST(test_write_read)
{
	req(g, XS_WRITE, 7, 0, P("data/x\0hello"));
	expect_ok(g, XS_WRITE, 7, 0);
	req(g, XS_READ, 8, 0, P("data/x\0"));
	expect(g, XS_READ, 8, 0, P("hello"));
	req(g, XS_READ, 9, 0, P(HOME "/data/x\0"));
	expect(g, XS_READ, 9, 0, P("hello"));
	assert_value(HOME "/data/x", "hello");

	/* Values are bytes: NULs inside, and empty. */
	req(g, XS_WRITE, 10, 0, P("data/bin\0a\0b\0"));
	expect_ok(g, XS_WRITE, 10, 0);
	req(g, XS_READ, 11, 0, P("data/bin\0"));
	expect(g, XS_READ, 11, 0, P("a\0b\0"));
	req(g, XS_WRITE, 12, 0, P("data/empty\0"));
	expect_ok(g, XS_WRITE, 12, 0);
	req(g, XS_READ, 13, 0, P("data/empty\0"));
	expect(g, XS_READ, 13, 0, P(""));
	expect_none(g);
}
END_TEST

START_TEST(test_mkdir_rm)
{
	req(g, XS_WRITE, 1, 0, P("data/a/b/c\0v"));
	expect_ok(g, XS_WRITE, 1, 0);
	req(g, XS_DIRECTORY, 2, 0, P("data/a\0"));
	expect(g, XS_DIRECTORY, 2, 0, P("b\0"));
	/* Missing parents were created empty. */
	req(g, XS_READ, 3, 0, P("data/a/b\0"));
	expect(g, XS_READ, 3, 0, P(""));

	/* MKDIR leaves an existing value alone. */
	req(g, XS_MKDIR, 4, 0, P("data/a/b/c\0"));
	expect_ok(g, XS_MKDIR, 4, 0);
	req(g, XS_READ, 5, 0, P("data/a/b/c\0"));
	expect(g, XS_READ, 5, 0, P("v"));
	req(g, XS_MKDIR, 6, 0, P("data/m/n\0"));
	expect_ok(g, XS_MKDIR, 6, 0);
	req(g, XS_READ, 7, 0, P("data/m/n\0"));
	expect(g, XS_READ, 7, 0, P(""));

	req(g, XS_RM, 8, 0, P("data/a\0"));
	expect_ok(g, XS_RM, 8, 0);
	req(g, XS_READ, 9, 0, P("data/a/b/c\0"));
	expect_err(g, 9, 0, "ENOENT");
	req(g, XS_DIRECTORY, 10, 0, P("data\0"));
	expect(g, XS_DIRECTORY, 10, 0, P("m\0"));
	/* Absent but with a parent: fine.  Absent parent too: ENOENT. */
	req(g, XS_RM, 11, 0, P("data/gone\0"));
	expect_ok(g, XS_RM, 11, 0);
	req(g, XS_RM, 12, 0, P("data/gone/deeper\0"));
	expect_err(g, 12, 0, "ENOENT");
	/* The root stays. */
	req(d0, XS_RM, 13, 0, P("/\0"));
	expect_err(d0, 13, 0, "EINVAL");
	expect_none(g);

	/* The C API. */
	ck_assert_int_eq(xs__mkdir(s, "/tool/pvmm"), 0);
	ck_assert_int_eq(xs__write(s, "/tool/pvmm/x", "1"), 0);
	ck_assert_int_eq(xs__rm(s, "/tool"), 0);
	ck_assert_int_eq(xs__rm(s, "/tool"), 0);
	ck_assert_int_eq(xs__rm(s, "/tool/a/b"), -ENOENT);
	ck_assert_int_eq(xs__write(s, "relative/path", "x"), -EINVAL);
	{
		char *v;

		ck_assert_int_eq(xs__read(s, "/tool/pvmm/x", &v), -ENOENT);
	}
}
END_TEST

START_TEST(test_relative_paths)
{
	req(g, XS_WRITE, 1, 0, P("data/rel\0r"));
	expect_ok(g, XS_WRITE, 1, 0);
	assert_value(HOME "/data/rel", "r");

	/* Domain 0's relative paths are under its own home. */
	req(d0, XS_WRITE, 2, 0, P("backend/x\0b"));
	expect_ok(d0, XS_WRITE, 2, 0);
	assert_value("/local/domain/0/backend/x", "b");

	req(g, XS_GET_DOMAIN_PATH, 3, 0, P("7\0"));
	expect(g, XS_GET_DOMAIN_PATH, 3, 0, P("/local/domain/7\0"));
	req(g, XS_GET_DOMAIN_PATH, 4, 0, P("65536\0"));
	expect_err(g, 4, 0, "EINVAL");
}
END_TEST

START_TEST(test_directory)
{
	ck_assert_int_eq(xs__write(s, "/t/a", ""), 0);
	ck_assert_int_eq(xs__write(s, "/t/b", ""), 0);
	ck_assert_int_eq(xs__write(s, "/t/c/d", ""), 0);
	req(d0, XS_DIRECTORY, 1, 0, P("/t\0"));
	expect(d0, XS_DIRECTORY, 1, 0, P("a\0b\0c\0"));
	req(d0, XS_DIRECTORY, 2, 0, P("/t/a\0"));
	expect(d0, XS_DIRECTORY, 2, 0, P(""));
	req(d0, XS_DIRECTORY, 3, 0, P("/t/zz\0"));
	expect_err(d0, 3, 0, "ENOENT");
}
END_TEST

#define NR_KIDS 100
#define KID_LEN 59      /* + NUL: 60 bytes a name in the list */

static void kid_name(char *buf, int i)
{
	snprintf(buf, 8, "k%03u", (unsigned int)i % 1000u);
	memset(buf + 4, '0', KID_LEN - 4);
	buf[KID_LEN] = '\0';
}

/* The generation string at the start of a DIRECTORY_PART reply. */
static uint32_t part_gen(const struct msg *m, char *gen)
{
	uint32_t len = (uint32_t)strnlen(m->p, m->h.len) + 1;

	ck_assert_uint_lt(len, 24);
	memcpy(gen, m->p, len);
	return len;
}

START_TEST(test_directory_part)
{
	char name[KID_LEN + 1], path[128], gen1[24], gen2[24], off[16];
	char full[NR_KIDS * (KID_LEN + 1)], got[sizeof(full) + 1];
	uint32_t glen, k, part1, got_len = 0;
	struct msg m;

	for (int i = 0; i < NR_KIDS; i++) {
		kid_name(name, i);
		memcpy(full + i * (KID_LEN + 1), name, KID_LEN + 1);
		snprintf(path, sizeof(path), "/big/%s", name);
		ck_assert_int_eq(xs__write(s, path, ""), 0);
	}
	/* 6000 bytes of names: DIRECTORY cannot answer. */
	req(d0, XS_DIRECTORY, 1, 0, P("/big\0"));
	expect_err(d0, 1, 0, "E2BIG");

	req(d0, XS_DIRECTORY_PART, 2, 0, P("/big\0" "0\0"));
	ck_assert(next_msg(d0, &m));
	ck_assert_uint_eq(m.h.type, XS_DIRECTORY_PART);
	ck_assert_uint_eq(m.h.req_id, 2);
	glen = part_gen(&m, gen1);
	/* As many whole names as fit, and no end marker yet. */
	k = (XENSTORE_PAYLOAD_MAX - glen - 1) / (KID_LEN + 1);
	part1 = k * (KID_LEN + 1);
	ck_assert_uint_eq(m.h.len, glen + part1);
	memcpy(got, m.p + glen, part1);
	got_len = part1;

	snprintf(off, sizeof(off), "%u", part1);
	{
		char p[64];
		uint32_t n = (uint32_t)snprintf(p, sizeof(p), "/big%c%s", 0, off) + 1;

		req(d0, XS_DIRECTORY_PART, 3, 0, p, n);
	}
	ck_assert(next_msg(d0, &m));
	ck_assert_uint_eq(m.h.type, XS_DIRECTORY_PART);
	ck_assert_uint_eq(part_gen(&m, gen2), glen);
	ck_assert_str_eq(gen1, gen2);
	/* The rest, then one more NUL: the list is complete. */
	ck_assert_uint_eq(m.h.len, glen + sizeof(full) - part1 + 1);
	ck_assert_int_eq(m.p[m.h.len - 1], 0);
	ck_assert_int_eq(m.p[m.h.len - 2], 0);
	memcpy(got + got_len, m.p + glen, sizeof(full) - part1);
	got_len += (uint32_t)sizeof(full) - part1;
	ck_assert_mem_eq(got, full, sizeof(full));
	ck_assert_uint_eq(got_len, sizeof(full));

	/* Past the end: the generation and an empty list. */
	req(d0, XS_DIRECTORY_PART, 4, 0, P("/big\0" "99999\0"));
	ck_assert(next_msg(d0, &m));
	ck_assert_uint_eq(m.h.len, glen + 1);
	ck_assert_int_eq(m.p[glen], 0);

	/* A change shows in the generation. */
	ck_assert_int_eq(xs__write(s, "/big/new", ""), 0);
	req(d0, XS_DIRECTORY_PART, 5, 0, P("/big\0" "0\0"));
	ck_assert(next_msg(d0, &m));
	part_gen(&m, gen2);
	ck_assert_str_ne(gen1, gen2);

	req(d0, XS_DIRECTORY_PART, 6, 0, P("/big\0"));
	expect_err(d0, 6, 0, "EINVAL");
	req(d0, XS_DIRECTORY_PART, 7, 0, P("/big\0" "x\0"));
	expect_err(d0, 7, 0, "EINVAL");
}
END_TEST

/* ---- permissions ---- */

START_TEST(test_perms_other_domain)
{
	req(g, XS_READ, 1, 0, P("/local/domain/2/name\0"));
	expect_err(g, 1, 0, "EACCES");
	req(g, XS_WRITE, 2, 0, P("/local/domain/2/data/x\0v"));
	expect_err(g, 2, 0, "EACCES");
	/* Whether a node exists is hidden from who cannot read its parent. */
	req(g, XS_READ, 3, 0, P("/local/domain/2/data/nothing\0"));
	expect_err(g, 3, 0, "EACCES");
	req(g, XS_DIRECTORY, 4, 0, P("/local\0"));
	expect_err(g, 4, 0, "EACCES");

	/* Its own home: readable, pvmm's keys read-only, its keys writable. */
	req(g, XS_READ, 5, 0, P("name\0"));
	expect(g, XS_READ, 5, 0, P("guest"));
	req(g, XS_WRITE, 6, 0, P("name\0evil"));
	expect_err(g, 6, 0, "EACCES");
	req(g, XS_WRITE, 7, 0, P("control/shutdown\0"));
	expect_ok(g, XS_WRITE, 7, 0);
	req(g, XS_READ, 8, 0, P("data/nothing\0"));
	expect_err(g, 8, 0, "ENOENT");
	req(g, XS_RM, 9, 0, P("memory\0"));
	expect_err(g, 9, 0, "EACCES");
	assert_value(HOME "/name", "guest");
}
END_TEST

START_TEST(test_perms_set_by_owner)
{
	struct xs_conn *o = xs__conn_create(s, OTHER);

	req(o, XS_WRITE, 1, 0, P("data/shared\0s"));
	expect_ok(o, XS_WRITE, 1, 0);
	req(g, XS_READ, 2, 0, P("/local/domain/2/data/shared\0"));
	expect_err(g, 2, 0, "EACCES");

	/* Not the owner: may not set permissions. */
	req(g, XS_SET_PERMS, 3, 0, P("/local/domain/2/data/shared\0" "b1\0"));
	expect_err(g, 3, 0, "EACCES");

	req(o, XS_SET_PERMS, 4, 0, P("data/shared\0n2\0r1\0"));
	expect_ok(o, XS_SET_PERMS, 4, 0);
	req(g, XS_READ, 5, 0, P("/local/domain/2/data/shared\0"));
	expect(g, XS_READ, 5, 0, P("s"));
	req(g, XS_WRITE, 6, 0, P("/local/domain/2/data/shared\0t"));
	expect_err(g, 6, 0, "EACCES");

	req(o, XS_SET_PERMS, 7, 0, P("data/shared\0n2\0b1\0"));
	expect_ok(o, XS_SET_PERMS, 7, 0);
	req(g, XS_WRITE, 8, 0, P("/local/domain/2/data/shared\0t"));
	expect_ok(g, XS_WRITE, 8, 0);
	req(o, XS_GET_PERMS, 9, 0, P("data/shared\0"));
	expect(o, XS_GET_PERMS, 9, 0, P("n2\0b1\0"));

	/* A node domain 1 creates there is its own, with the parent's list. */
	req(g, XS_WRITE, 10, 0, P("/local/domain/2/data/shared/kid\0k"));
	expect_ok(g, XS_WRITE, 10, 0);
	req(g, XS_GET_PERMS, 11, 0, P("/local/domain/2/data/shared/kid\0"));
	expect(g, XS_GET_PERMS, 11, 0, P("n1\0b1\0"));

	/* An owner may share, not give away. */
	req(o, XS_SET_PERMS, 12, 0, P("data/shared\0n1\0"));
	expect_err(o, 12, 0, "EPERM");
	/* Malformed entries. */
	req(d0, XS_SET_PERMS, 13, 0, P("/local/domain/2/data/shared\0x1\0"));
	expect_err(d0, 13, 0, "EINVAL");
	req(d0, XS_SET_PERMS, 14, 0, P("/local/domain/2/data/shared\0r\0"));
	expect_err(d0, 14, 0, "EINVAL");
	req(d0, XS_SET_PERMS, 15, 0, P("/local/domain/2/data/shared\0r70000\0"));
	expect_err(d0, 15, 0, "EINVAL");
	req(d0, XS_SET_PERMS, 16, 0, P("/local/domain/2/data/shared\0"));
	expect_err(d0, 16, 0, "EINVAL");
	/* Domain 0 may give it away. */
	req(d0, XS_SET_PERMS, 17, 0, P("/local/domain/2/data/shared\0n1\0"));
	expect_ok(d0, XS_SET_PERMS, 17, 0);
	req(g, XS_SET_PERMS, 18, 0, P("/local/domain/2/data/shared\0n1\0r2\0"));
	expect_ok(g, XS_SET_PERMS, 18, 0);
	req(o, XS_READ, 19, 0, P("data/shared\0"));
	expect(o, XS_READ, 19, 0, P("t"));
	expect_none(g);
	expect_none(o);
	xs__conn_destroy(o);
}
END_TEST

START_TEST(test_populate)
{
	static const uint8_t uuid[16] = {
		0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};

	ck_assert_int_eq(xs__populate_domain(s, 5, "five", 131072, uuid), 0);
	assert_value("/local/domain/5/name", "five");
	assert_value("/local/domain/5/domid", "5");
	assert_value("/local/domain/5/memory/static-max", "131072");
	assert_value("/local/domain/5/memory/target", "131072");
	assert_value("/local/domain/5/vm", "/vm/12345678-9abc-def0-0123-456789abcdef");
	assert_value("/vm/12345678-9abc-def0-0123-456789abcdef/uuid",
		     "12345678-9abc-def0-0123-456789abcdef");
	assert_value("/vm/12345678-9abc-def0-0123-456789abcdef/name", "five");
	assert_value("/local/domain/5/control/platform-feature-xs_reset_watches", "1");

	req(d0, XS_GET_PERMS, 1, 0, P("/local/domain/5\0"));
	expect(d0, XS_GET_PERMS, 1, 0, P("n0\0r5\0"));
	req(d0, XS_GET_PERMS, 2, 0, P("/local/domain/5/memory/target\0"));
	expect(d0, XS_GET_PERMS, 2, 0, P("n0\0r5\0"));
	req(d0, XS_GET_PERMS, 3, 0, P("/local/domain/5/control\0"));
	expect(d0, XS_GET_PERMS, 3, 0, P("n0\0r5\0"));
	req(d0, XS_GET_PERMS, 4, 0, P("/local/domain/5/control/shutdown\0"));
	expect(d0, XS_GET_PERMS, 4, 0, P("n5\0"));
	req(d0, XS_GET_PERMS, 5, 0, P("/local/domain/5/control/feature-poweroff\0"));
	expect(d0, XS_GET_PERMS, 5, 0, P("n5\0"));
	req(d0, XS_GET_PERMS, 6, 0, P("/local/domain/5/data\0"));
	expect(d0, XS_GET_PERMS, 6, 0, P("n5\0"));
	req(d0, XS_GET_PERMS, 7, 0, P("/local/domain/5/device\0"));
	expect(d0, XS_GET_PERMS, 7, 0, P("n0\0r5\0"));
	req(d0, XS_GET_PERMS, 8, 0, P("/vm/12345678-9abc-def0-0123-456789abcdef\0"));
	expect(d0, XS_GET_PERMS, 8, 0, P("n0\0"));
	req(d0, XS_DIRECTORY, 9, 0, P("/local/domain/5\0"));
	expect(d0, XS_DIRECTORY, 9, 0,
	       P("name\0domid\0memory\0device\0control\0data\0drivers\0feature\0"
		 "attr\0error\0vm\0"));

	/* Seen from the guest. */
	{
		struct xs_conn *five = xs__conn_create(s, 5);

		req(five, XS_WRITE, 10, 0, P("control/feature-poweroff\0" "1"));
		expect_ok(five, XS_WRITE, 10, 0);
		req(five, XS_WRITE, 11, 0, P("memory/target\0" "1"));
		expect_err(five, 11, 0, "EACCES");
		req(five, XS_READ, 12, 0, P("vm\0"));
		expect(five, XS_READ, 12, 0, P("/vm/12345678-9abc-def0-0123-456789abcdef"));
		req(five, XS_READ, 13, 0, P("/vm/12345678-9abc-def0-0123-456789abcdef/name\0"));
		expect_err(five, 13, 0, "EACCES");
		xs__conn_destroy(five);
	}
}
END_TEST

/* ---- watches ---- */

START_TEST(test_watch_fires)
{
	req(g, XS_WATCH, 1, 0, P("data\0tok\0"));
	expect_ok(g, XS_WATCH, 1, 0);
	/* At once, with the path as given: relative. */
	expect_event(g, "data", "tok");
	expect_none(g);

	ck_assert_int_eq(xs__write(s, HOME "/data/x/y", "1"), 0);
	expect_event(g, "data/x/y", "tok");
	expect_none(g);
	/* A sibling sharing the prefix is not below. */
	ck_assert_int_eq(xs__write(s, HOME "/database", "1"), 0);
	expect_none(g);

	/* An absolute watch gets absolute paths. */
	req(g, XS_WATCH, 2, 0, P(HOME "/control\0abs\0"));
	expect_ok(g, XS_WATCH, 2, 0);
	expect_event(g, HOME "/control", "abs");
	ck_assert_int_eq(xs__write(s, HOME "/control/shutdown", "poweroff"), 0);
	expect_event(g, HOME "/control/shutdown", "abs");

	/* Removing a parent: a watch on a removed node hears its own path,
	 * one above hears the removed node's. */
	req(g, XS_WATCH, 3, 0, P("data/x/y\0t2\0"));
	expect_ok(g, XS_WATCH, 3, 0);
	expect_event(g, "data/x/y", "t2");
	ck_assert_int_eq(xs__rm(s, HOME "/data/x"), 0);
	expect_event(g, "data/x/y", "t2");
	expect_event(g, "data/x", "tok");
	expect_none(g);

	/* Permission changes fire too. */
	ck_assert_int_eq(xs__set_perms(s, HOME "/data", GUEST, XS_PERM_READ, NULL, 0), 0);
	expect_event(g, "data", "tok");
	/* MKDIR of an existing node changes nothing. */
	req(g, XS_MKDIR, 4, 0, P("data\0"));
	expect_ok(g, XS_MKDIR, 4, 0);
	expect_none(g);

	req(g, XS_WATCH, 5, 0, P("data\0tok\0"));
	expect_err(g, 5, 0, "EEXIST");
}
END_TEST

START_TEST(test_watch_permissions)
{
	/* A guest may watch what it cannot read, but hears nothing of it. */
	req(g, XS_WATCH, 1, 0, P("/local/domain/2/data\0spy\0"));
	expect_ok(g, XS_WATCH, 1, 0);
	expect_event(g, "/local/domain/2/data", "spy");
	ck_assert_int_eq(xs__write(s, "/local/domain/2/data/secret", "1"), 0);
	expect_none(g);
	/* Domain 0 hears everything. */
	req(d0, XS_WATCH, 2, 0, P("/local/domain/2\0all\0"));
	expect_ok(d0, XS_WATCH, 2, 0);
	expect_event(d0, "/local/domain/2", "all");
	ck_assert_int_eq(xs__write(s, "/local/domain/2/data/secret", "2"), 0);
	expect_event(d0, "/local/domain/2/data/secret", "all");
}
END_TEST

START_TEST(test_unwatch_reset)
{
	req(g, XS_WATCH, 1, 0, P("data\0a\0"));
	expect_ok(g, XS_WATCH, 1, 0);
	expect_event(g, "data", "a");
	req(g, XS_WATCH, 2, 0, P("control\0b\0"));
	expect_ok(g, XS_WATCH, 2, 0);
	expect_event(g, "control", "b");

	req(g, XS_UNWATCH, 3, 0, P("data\0a\0"));
	expect_ok(g, XS_UNWATCH, 3, 0);
	ck_assert_int_eq(xs__write(s, HOME "/data/z", "1"), 0);
	expect_none(g);
	req(g, XS_UNWATCH, 4, 0, P("data\0a\0"));
	expect_err(g, 4, 0, "ENOENT");
	/* Same path, other token: a different watch. */
	req(g, XS_UNWATCH, 5, 0, P("control\0a\0"));
	expect_err(g, 5, 0, "ENOENT");

	req(g, XS_TRANSACTION_START, 6, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 6, 0, P("1\0"));
	req(g, XS_RESET_WATCHES, 7, 0, P("\0"));
	expect_ok(g, XS_RESET_WATCHES, 7, 0);
	ck_assert_int_eq(xs__write(s, HOME "/control/sysrq", "s"), 0);
	expect_none(g);
	/* Transactions went too. */
	req(g, XS_READ, 8, 1, P("name\0"));
	expect_err(g, 8, 1, "ENOENT");
	/* And the watch may be set again. */
	req(g, XS_WATCH, 9, 0, P("control\0b\0"));
	expect_ok(g, XS_WATCH, 9, 0);
	expect_event(g, "control", "b");
}
END_TEST

START_TEST(test_special_watches)
{
	req(g, XS_WATCH, 1, 0, P("@releaseDomain\0r\0"));
	expect_ok(g, XS_WATCH, 1, 0);
	expect_event(g, "@releaseDomain", "r");
	req(g, XS_WATCH, 2, 0, P("@introduceDomain\0i\0"));
	expect_ok(g, XS_WATCH, 2, 0);
	expect_event(g, "@introduceDomain", "i");
	ck_assert_int_eq(xs__write(s, HOME "/data/q", "1"), 0);
	expect_none(g);
	req(g, XS_UNWATCH, 3, 0, P("@releaseDomain\0r\0"));
	expect_ok(g, XS_UNWATCH, 3, 0);
	/* Special names are for watches only. */
	req(g, XS_READ, 4, 0, P("@releaseDomain\0"));
	expect_err(g, 4, 0, "EINVAL");
}
END_TEST

struct seen {
	int calls;
	char path[256], token[64], value[64];
};

static void record(const char *path, const char *token, void *opaque)
{
	struct seen *r = opaque;
	char *v = NULL;

	r->calls++;
	snprintf(r->path, sizeof(r->path), "%s", path);
	snprintf(r->token, sizeof(r->token), "%s", token);
	/* Callbacks run without the store's lock: reading back works. */
	r->value[0] = 0;
	if (xs__read(s, path, &v) == 0) {
		snprintf(r->value, sizeof(r->value), "%s", v);
		free(v);
	}
}

START_TEST(test_inprocess_watch)
{
	struct xs_perm_entry be = { 0, XS_PERM_READ };
	struct seen r = { 0 };

	ck_assert_int_eq(xs__write(s, HOME "/device/vbd/768/state", "1"), 0);
	ck_assert_int_eq(xs__set_perms(s, HOME "/device/vbd/768", GUEST, XS_PERM_NONE, &be, 1), 0);
	ck_assert_int_eq(xs__set_perms(s, HOME "/device/vbd/768/state", GUEST, XS_PERM_NONE, &be, 1), 0);

	ck_assert_int_eq(xs__watch(s, HOME "/device/vbd/768", "fe", record, &r), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_str_eq(r.path, HOME "/device/vbd/768");
	ck_assert_str_eq(r.token, "fe");
	ck_assert_int_eq(xs__watch(s, HOME "/device/vbd/768", "fe", record, &r), -EEXIST);

	/* The frontend moves to Initialised. */
	req(g, XS_WRITE, 1, 0, P("device/vbd/768/state\0" "3"));
	expect_ok(g, XS_WRITE, 1, 0);
	ck_assert_int_eq(r.calls, 2);
	ck_assert_str_eq(r.path, HOME "/device/vbd/768/state");
	ck_assert_str_eq(r.value, "3");

	ck_assert_int_eq(xs__unwatch(s, HOME "/device/vbd/768", "fe"), 0);
	ck_assert_int_eq(xs__unwatch(s, HOME "/device/vbd/768", "fe"), -ENOENT);
	req(g, XS_WRITE, 2, 0, P("device/vbd/768/state\0" "4"));
	expect_ok(g, XS_WRITE, 2, 0);
	ck_assert_int_eq(r.calls, 2);
	ck_assert_int_eq(xs__watch(s, "relative", "x", record, &r), -EINVAL);
	ck_assert_int_eq(xs__watch(s, "/x", "x", NULL, &r), -EINVAL);
}
END_TEST

/* A callback that changes the store: its own events wait until it returns. */
static struct seen chain_a, chain_b;

static void chain_first(const char *path, const char *token, void *opaque)
{
	(void)opaque;
	record(path, token, &chain_a);
	if (!strcmp(path, "/chain/a/go")) {
		ck_assert_int_eq(xs__write(s, "/chain/b/x", "from-a"), 0);
		/* Not yet delivered: this thread is delivering. */
		ck_assert_int_eq(chain_b.calls, 1);
	}
}

static void chain_second(const char *path, const char *token, void *opaque)
{
	(void)opaque;
	record(path, token, &chain_b);
}

START_TEST(test_inprocess_watch_reentry)
{
	memset(&chain_a, 0, sizeof(chain_a));
	memset(&chain_b, 0, sizeof(chain_b));
	ck_assert_int_eq(xs__watch(s, "/chain/a", "a", chain_first, NULL), 0);
	ck_assert_int_eq(xs__watch(s, "/chain/b", "b", chain_second, NULL), 0);
	ck_assert_int_eq(chain_a.calls, 1);
	ck_assert_int_eq(chain_b.calls, 1);
	ck_assert_int_eq(xs__write(s, "/chain/a/go", "1"), 0);
	ck_assert_int_eq(chain_a.calls, 2);
	ck_assert_int_eq(chain_b.calls, 2);
	ck_assert_str_eq(chain_b.path, "/chain/b/x");
	ck_assert_str_eq(chain_b.value, "from-a");
	ck_assert_int_eq(xs__unwatch(s, "/chain/a", "a"), 0);
	ck_assert_int_eq(xs__unwatch(s, "/chain/b", "b"), 0);
}
END_TEST

/* ---- transactions ---- */

START_TEST(test_transaction_commit)
{
	req(g, XS_WATCH, 1, 0, P("data\0w\0"));
	expect_ok(g, XS_WATCH, 1, 0);
	expect_event(g, "data", "w");

	req(g, XS_TRANSACTION_START, 2, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 2, 0, P("1\0"));
	req(g, XS_WRITE, 3, 1, P("data/t\0v"));
	expect_ok(g, XS_WRITE, 3, 1);
	/* Its own writes, seen inside only, and no event yet. */
	req(g, XS_READ, 4, 1, P("data/t\0"));
	expect(g, XS_READ, 4, 1, P("v"));
	req(g, XS_DIRECTORY, 5, 1, P("data\0"));
	expect(g, XS_DIRECTORY, 5, 1, P("t\0"));
	req(g, XS_READ, 6, 0, P("data/t\0"));
	expect_err(g, 6, 0, "ENOENT");
	req(g, XS_RM, 7, 1, P("control/sysrq\0"));
	expect_ok(g, XS_RM, 7, 1);
	expect_none(g);

	/* As in xenstored, the events a request causes precede its reply. */
	req(g, XS_TRANSACTION_END, 8, 1, P("T\0"));
	expect_event(g, "data/t", "w");
	expect_ok(g, XS_TRANSACTION_END, 8, 1);
	expect_none(g);
	assert_value(HOME "/data/t", "v");
	{
		char *v;

		ck_assert_int_eq(xs__read(s, HOME "/control/sysrq", &v), -ENOENT);
	}
	/* The id is gone. */
	req(g, XS_READ, 9, 1, P("data/t\0"));
	expect_err(g, 9, 1, "ENOENT");
}
END_TEST

START_TEST(test_transaction_conflict)
{
	req(g, XS_WRITE, 1, 0, P("data/c\0" "0"));
	expect_ok(g, XS_WRITE, 1, 0);
	req(g, XS_WRITE, 2, 0, P("data/d\0" "0"));
	expect_ok(g, XS_WRITE, 2, 0);

	req(g, XS_TRANSACTION_START, 3, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 3, 0, P("1\0"));
	req(g, XS_READ, 4, 1, P("data/c\0"));
	expect(g, XS_READ, 4, 1, P("0"));
	ck_assert_int_eq(xs__write(s, HOME "/data/c", "1"), 0);
	req(g, XS_WRITE, 5, 1, P("data/c\0" "2"));
	expect_ok(g, XS_WRITE, 5, 1);
	req(g, XS_TRANSACTION_END, 6, 1, P("T\0"));
	expect_err(g, 6, 1, "EAGAIN");
	assert_value(HOME "/data/c", "1");
	req(g, XS_TRANSACTION_END, 7, 1, P("T\0"));
	expect_err(g, 7, 1, "ENOENT");

	/* Changes to nodes the transaction did not look at do not conflict. */
	req(g, XS_TRANSACTION_START, 8, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 8, 0, P("2\0"));
	req(g, XS_WRITE, 9, 2, P("data/c\0" "3"));
	expect_ok(g, XS_WRITE, 9, 2);
	ck_assert_int_eq(xs__write(s, HOME "/data/d", "4"), 0);
	req(g, XS_TRANSACTION_END, 10, 2, P("T\0"));
	expect_ok(g, XS_TRANSACTION_END, 10, 2);
	assert_value(HOME "/data/c", "3");
	assert_value(HOME "/data/d", "4");

	/* A node it saw absent and someone else created. */
	req(g, XS_TRANSACTION_START, 11, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 11, 0, P("3\0"));
	req(g, XS_READ, 12, 3, P("data/e\0"));
	expect_err(g, 12, 3, "ENOENT");
	ck_assert_int_eq(xs__write(s, HOME "/data/e", "x"), 0);
	req(g, XS_TRANSACTION_END, 13, 3, P("T\0"));
	expect_err(g, 13, 3, "EAGAIN");
}
END_TEST

START_TEST(test_transaction_abort)
{
	req(g, XS_TRANSACTION_START, 1, 0, P("\0"));
	expect(g, XS_TRANSACTION_START, 1, 0, P("1\0"));
	req(g, XS_WRITE, 2, 1, P("data/a\0v"));
	expect_ok(g, XS_WRITE, 2, 1);
	req(g, XS_TRANSACTION_START, 3, 1, P("\0"));
	expect_err(g, 3, 1, "EBUSY");
	req(g, XS_TRANSACTION_END, 4, 1, P("X\0"));
	expect_err(g, 4, 1, "EINVAL");
	req(g, XS_TRANSACTION_END, 5, 0, P("T\0"));
	expect_err(g, 5, 0, "ENOENT");
	req(g, XS_TRANSACTION_END, 6, 1, P("F\0"));
	expect_ok(g, XS_TRANSACTION_END, 6, 1);
	req(g, XS_READ, 7, 0, P("data/a\0"));
	expect_err(g, 7, 0, "ENOENT");
	req(g, XS_TRANSACTION_START, 8, 9, P("\0"));
	expect_err(g, 8, 9, "ENOENT");
}
END_TEST

/* ---- quotas ---- */

/* Nodes domain 1 owns after xs__populate_domain(): the n1 entries. */
#define POPULATED_OWN 11

START_TEST(test_quota_nodes)
{
	char p[64];
	int created = 0, dir, kid, last_err = 0;
	struct msg m;

	/* 100 children per directory keeps each directory's name list small. */
	for (dir = 0; !last_err; dir++) {
		for (kid = 0; kid < 100; kid++) {
			uint32_t n = (uint32_t)snprintf(p, sizeof(p), "data/d%d/c%d", dir, kid) + 1;

			req(g, XS_WRITE, 1, 0, p, n);
			ck_assert(next_msg(g, &m));
			if (m.h.type == XS_ERROR) {
				ck_assert_str_eq(m.p, "ENOSPC");
				last_err = 1;
				break;
			}
			ck_assert_uint_eq(m.h.type, XS_WRITE);
			created += kid ? 1 : 2;
		}
	}
	ck_assert_int_eq(created + POPULATED_OWN, XS_QUOTA_NODES);
	/* Freeing one makes room for one. */
	req(g, XS_RM, 2, 0, P("data/d0/c0\0"));
	expect_ok(g, XS_RM, 2, 0);
	req(g, XS_WRITE, 3, 0, P("data/d0/c0\0"));
	expect_ok(g, XS_WRITE, 3, 0);
	req(g, XS_WRITE, 4, 0, P("data/d0/c100\0"));
	expect_err(g, 4, 0, "ENOSPC");
	/* Domain 0 is not counted against it. */
	ck_assert_int_eq(xs__write(s, HOME "/data/by-dom0", ""), 0);
}
END_TEST

START_TEST(test_quota_node_size)
{
	static char buf[16 + XS_QUOTA_NODE_SIZE + 1];
	uint32_t plen = sizeof("data/v");

	memcpy(buf, "data/v", plen);
	memset(buf + plen, 'x', XS_QUOTA_NODE_SIZE + 1);
	req(g, XS_WRITE, 1, 0, buf, plen + XS_QUOTA_NODE_SIZE + 1);
	expect_err(g, 1, 0, "ENOSPC");
	req(g, XS_WRITE, 2, 0, buf, plen + XS_QUOTA_NODE_SIZE);
	expect_ok(g, XS_WRITE, 2, 0);
	/* Now full: neither a longer value nor a child fits. */
	req(g, XS_WRITE, 3, 0, buf, plen + XS_QUOTA_NODE_SIZE + 1);
	expect_err(g, 3, 0, "ENOSPC");
	req(g, XS_WRITE, 4, 0, P("data/v/kid\0"));
	expect_err(g, 4, 0, "ENOSPC");
}
END_TEST

START_TEST(test_quota_watches)
{
	char p[32];

	for (int i = 0; i < XS_QUOTA_WATCHES; i++) {
		uint32_t n = (uint32_t)snprintf(p, sizeof(p), "data%ct%d", 0, i) + 1;

		req(g, XS_WATCH, (uint32_t)i, 0, p, n);
		expect_ok(g, XS_WATCH, (uint32_t)i, 0);
		expect_event(g, "data", p + 5);
	}
	req(g, XS_WATCH, 999, 0, P("data\0more\0"));
	expect_err(g, 999, 0, "E2BIG");
	req(g, XS_UNWATCH, 1000, 0, P("data\0t0\0"));
	expect_ok(g, XS_UNWATCH, 1000, 0);
	req(g, XS_WATCH, 1001, 0, P("data\0more\0"));
	expect_ok(g, XS_WATCH, 1001, 0);
}
END_TEST

START_TEST(test_quota_transactions_perms_path)
{
	static char long_path[XENSTORE_ABS_PATH_MAX + 64];
	char id[16];
	uint32_t n;

	for (int i = 1; i <= XS_QUOTA_TRANSACTIONS; i++) {
		n = (uint32_t)snprintf(id, sizeof(id), "%d", i) + 1;
		req(g, XS_TRANSACTION_START, 1, 0, P("\0"));
		expect(g, XS_TRANSACTION_START, 1, 0, id, n);
	}
	req(g, XS_TRANSACTION_START, 2, 0, P("\0"));
	expect_err(g, 2, 0, "ENOSPC");

	req(g, XS_WRITE, 3, 0, P("data/p\0"));
	expect_ok(g, XS_WRITE, 3, 0);
	req(g, XS_SET_PERMS, 4, 0, P("data/p\0n1\0r2\0r3\0r4\0r5\0r6\0"));
	expect_err(g, 4, 0, "ENOSPC");
	req(g, XS_SET_PERMS, 5, 0, P("data/p\0n1\0r2\0r3\0r4\0r5\0"));
	expect_ok(g, XS_SET_PERMS, 5, 0);

	/* XS_QUOTA_PATH bytes below the home, not counting it. */
	memcpy(long_path, "data/", 5);
	memset(long_path + 5, 'a', XS_QUOTA_PATH - 5);
	req(g, XS_WRITE, 6, 0, long_path, XS_QUOTA_PATH + 1);
	expect_ok(g, XS_WRITE, 6, 0);
	long_path[XS_QUOTA_PATH] = 'a';
	req(g, XS_WRITE, 7, 0, long_path, XS_QUOTA_PATH + 2);
	expect_err(g, 7, 0, "EINVAL");
	/* Domain 0 is held to the absolute limit only. */
	long_path[0] = '/';
	memset(long_path + 1, 'b', XENSTORE_ABS_PATH_MAX);
	long_path[XENSTORE_ABS_PATH_MAX + 1] = 0;
	req(d0, XS_WRITE, 8, 0, long_path, XENSTORE_ABS_PATH_MAX + 2);
	expect_err(d0, 8, 0, "EINVAL");
	long_path[XENSTORE_ABS_PATH_MAX] = 0;
	req(d0, XS_WRITE, 9, 0, long_path, XENSTORE_ABS_PATH_MAX + 1);
	expect_ok(d0, XS_WRITE, 9, 0);
}
END_TEST

/* ---- malformed requests ---- */

START_TEST(test_malformed)
{
	struct xsd_sockmsg h = {
		.type = XS_WRITE, .req_id = 42, .tx_id = 0, .len = XENSTORE_PAYLOAD_MAX + 1,
	};

	xs__conn_handle(g, &h, NULL);
	expect_err(g, 42, 0, "E2BIG");
	h.len = UINT32_MAX;
	xs__conn_handle(g, &h, NULL);
	expect_err(g, 42, 0, "E2BIG");

	req(g, XS_READ, 1, 0, P("data"));              /* no NUL */
	expect_err(g, 1, 0, "EINVAL");
	req(g, XS_READ, 2, 0, NULL, 0);
	expect_err(g, 2, 0, "EINVAL");
	req(g, XS_WRITE, 3, 0, NULL, 0);
	expect_err(g, 3, 0, "EINVAL");
	req(g, XS_WRITE, 4, 0, P("data/no-nul"));
	expect_err(g, 4, 0, "EINVAL");
	req(g, 99, 5, 0, P("data\0"));
	expect_err(g, 5, 0, "ENOSYS");
	req(g, XS_INVALID, 6, 0, P("data\0"));
	expect_err(g, 6, 0, "ENOSYS");
	req(g, XS_WATCH_EVENT, 7, 0, P("data\0t\0"));
	expect_err(g, 7, 0, "ENOSYS");
	req(g, XS_ERROR, 8, 0, P("EINVAL\0"));
	expect_err(g, 8, 0, "ENOSYS");
	req(g, XS_INTRODUCE, 9, 0, P("3\0" "100\0" "5\0"));
	expect_err(g, 9, 0, "EACCES");
	req(d0, XS_INTRODUCE, 10, 0, P("3\0" "100\0" "5\0"));
	expect_err(d0, 10, 0, "ENOSYS");

	req(g, XS_READ, 11, 0, P("data/x y\0"));
	expect_err(g, 11, 0, "EINVAL");
	req(g, XS_READ, 12, 0, P("data//x\0"));
	expect_err(g, 12, 0, "EINVAL");
	req(g, XS_READ, 13, 0, P("data/\0"));
	expect_err(g, 13, 0, "EINVAL");
	req(g, XS_READ, 14, 0, P("\0"));
	expect_err(g, 14, 0, "EINVAL");
	req(g, XS_WRITE, 15, 0, P("data/\xff\0v"));
	expect_err(g, 15, 0, "EINVAL");

	req(g, XS_READ, 16, 0, P("data\0extra\0"));     /* too many */
	expect_err(g, 16, 0, "EINVAL");
	req(g, XS_WATCH, 17, 0, P("data\0t\0x\0"));
	expect_err(g, 17, 0, "EINVAL");
	req(g, XS_WATCH, 18, 0, P("data\0"));
	expect_err(g, 18, 0, "EINVAL");
	req(g, XS_GET_DOMAIN_PATH, 19, 0, P("abc\0"));
	expect_err(g, 19, 0, "EINVAL");
	req(g, XS_READ, 20, 77, P("data\0"));            /* no such transaction */
	expect_err(g, 20, 77, "ENOENT");
	expect_none(g);

	/* Still serving. */
	req(g, XS_WRITE, 21, 0, P("data/ok\0fine"));
	expect_ok(g, XS_WRITE, 21, 0);
	req(g, XS_READ, 22, 0, P("data/ok\0"));
	expect(g, XS_READ, 22, 0, P("fine"));
}
END_TEST

/* ---- the ring ---- */

static struct xenstore_domain_interface *page;
static struct xs_ring *ring;
static atomic_int kicks;

static void kick(void *opaque)
{
	atomic_fetch_add((atomic_int *)opaque, 1);
}

static void ring_setup_at(uint32_t start)
{
	setup();
	page = aligned_alloc(4096, 4096);
	ck_assert_ptr_nonnull(page);
	memset(page, 0, 4096);
	page->req_cons = page->req_prod = start;
	page->rsp_cons = page->rsp_prod = start;
	atomic_store(&kicks, 0);
	ring = xs__ring_create(s, GUEST, page, kick, (void *)&kicks);
	ck_assert_ptr_nonnull(ring);
}

static void ring_setup(void)
{
	ring_setup_at(0);
}

static void ring_teardown(void)
{
	xs__ring_destroy(ring);
	free(page);
	teardown();
}

/* The guest's side, with the barriers a guest uses: produce request bytes,
 * consume response bytes. */
static uint32_t idx(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void set_idx(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint32_t guest_room(void)
{
	return XENSTORE_RING_SIZE - (idx(&page->req_prod) - idx(&page->req_cons));
}

static void guest_put(const void *data, uint32_t len)
{
	uint32_t prod = idx(&page->req_prod);

	ck_assert_uint_le(len, guest_room());
	for (uint32_t i = 0; i < len; i++)
		page->req[MASK_XENSTORE_IDX(prod + i)] = ((const char *)data)[i];
	set_idx(&page->req_prod, prod + len);
}

static void guest_send(uint32_t type, uint32_t req_id, const char *p, uint32_t len)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req_id, .len = len };

	guest_put(&h, sizeof(h));
	guest_put(p, len);
}

static uint32_t guest_get(void *buf, uint32_t max)
{
	uint32_t cons = idx(&page->rsp_cons), n = idx(&page->rsp_prod) - cons;

	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		((char *)buf)[i] = page->rsp[MASK_XENSTORE_IDX(cons + i)];
	set_idx(&page->rsp_cons, cons + n);
	return n;
}

/* Takes every response byte there is; returns how many. */
static uint32_t guest_drain(void)
{
	static char buf[XENSTORE_RING_SIZE];
	uint32_t n, total = 0;

	while ((n = guest_get(buf, sizeof(buf))))
		total += n;
	return total;
}

/* One whole response, processing the ring as the guest consumes. */
static void guest_expect(uint32_t type, uint32_t req_id, const char *p, uint32_t len)
{
	static struct msg m;
	uint32_t got = 0, want = sizeof(m.h);

	while (got < want) {
		uint32_t n = guest_get((char *)&m + got, want - got);

		if (!n) {
			xs__ring_process(ring);
			n = guest_get((char *)&m + got, want - got);
			ck_assert_msg(n, "response stalled at %u bytes", got);
		}
		got += n;
		if (got == sizeof(m.h))
			want = sizeof(m.h) + m.h.len;
	}
	ck_assert_uint_eq(m.h.type, type);
	ck_assert_uint_eq(m.h.req_id, req_id);
	ck_assert_uint_eq(m.h.len, len);
	ck_assert_mem_eq(m.p, p, len);
}

START_TEST(test_ring_roundtrip)
{
	ck_assert_uint_eq(page->server_features,
			  XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR);
	ck_assert_uint_eq(page->connection, XENSTORE_CONNECTED);

	guest_send(XS_WRITE, 1, P("data/r\0ring"));
	guest_send(XS_READ, 2, P("data/r\0"));
	xs__ring_process(ring);
	ck_assert_int_ge(atomic_load(&kicks), 1);
	ck_assert_uint_eq(page->req_cons, page->req_prod);
	guest_expect(XS_WRITE, 1, P("OK\0"));
	guest_expect(XS_READ, 2, P("ring"));
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_NONE);
}
END_TEST

/* Indices near 2^32 and the ring's end: a request and its reply both wrap. */
START_TEST(test_ring_wrap)
{
	xs__ring_destroy(ring);
	free(page);
	teardown();
	ring_setup_at(0xFFFFFFFFu - 1000);

	/* The indices start 1001 bytes before 2^32, which is also the end of
	 * the ring: the 43rd READ (bytes 993-1016 of the stream) and the 50th
	 * reply (bytes 999-1018) each cross both. */
	guest_send(XS_WRITE, 1, P("data/w\0wrap"));
	guest_send(XS_READ, 2, P("data/w\0"));
	xs__ring_process(ring);
	guest_expect(XS_WRITE, 1, P("OK\0"));
	guest_expect(XS_READ, 2, P("wrap"));
	for (uint32_t i = 3; i < 60; i++) {
		guest_send(XS_READ, i, P("data/w\0"));
		xs__ring_process(ring);
		guest_expect(XS_READ, i, P("wrap"));
	}
	ck_assert_uint_lt(page->req_prod, 0x10000);    /* it did wrap */
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_NONE);
}
END_TEST

START_TEST(test_ring_request_in_pieces)
{
	static const char payload[] = "data/pieces\0assembled";
	struct xsd_sockmsg h = { .type = XS_WRITE, .req_id = 5, .len = sizeof(payload) - 1 };
	uint32_t rsp = page->rsp_prod;

	/* Part of the header. */
	guest_put(&h, 7);
	xs__ring_process(ring);
	ck_assert_uint_eq(page->req_cons, 7);
	ck_assert_uint_eq(page->rsp_prod, rsp);
	/* The rest of the header and half the payload. */
	guest_put((char *)&h + 7, sizeof(h) - 7);
	guest_put(payload, 10);
	xs__ring_process(ring);
	ck_assert_uint_eq(page->req_cons, sizeof(h) + 10);
	ck_assert_uint_eq(page->rsp_prod, rsp);
	/* The other half. */
	guest_put(payload + 10, sizeof(payload) - 1 - 10);
	xs__ring_process(ring);
	guest_expect(XS_WRITE, 5, P("OK\0"));
	assert_value(HOME "/data/pieces", "assembled");
}
END_TEST

START_TEST(test_ring_hostile_prod)
{
	guest_send(XS_WATCH, 1, P("data\0w\0"));
	xs__ring_process(ring);
	guest_expect(XS_WATCH, 1, P("OK\0"));
	guest_expect(XS_WATCH_EVENT, 0, P("data\0w\0"));

	page->req_prod = page->req_cons + 5000;
	xs__ring_process(ring);
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_RINGIDX);
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);
	/* No longer served, even with sane indices again. */
	page->req_prod = page->req_cons;
	guest_send(XS_READ, 2, P("name\0"));
	xs__ring_process(ring);
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);
	ck_assert_uint_ne(page->req_cons, page->req_prod);

	/* Reconnection starts afresh: empty rings, no watches. */
	page->connection = XENSTORE_RECONNECT;
	xs__ring_process(ring);
	ck_assert_uint_eq(page->connection, XENSTORE_CONNECTED);
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_NONE);
	ck_assert_uint_eq(page->req_prod, 0);
	ck_assert_uint_eq(page->req_cons, 0);
	ck_assert_uint_eq(page->rsp_prod, 0);
	ck_assert_uint_eq(page->rsp_cons, 0);
	guest_send(XS_READ, 3, P("name\0"));
	xs__ring_process(ring);
	guest_expect(XS_READ, 3, P("guest"));
	ck_assert_int_eq(xs__write(s, HOME "/data/after", "1"), 0);
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);

	/* A guest moving rsp_cons past rsp_prod is just as hostile. */
	page->rsp_cons = page->rsp_prod + 2000;
	guest_send(XS_READ, 4, P("name\0"));
	xs__ring_process(ring);
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_RINGIDX);
}
END_TEST

START_TEST(test_ring_oversized_request)
{
	struct xsd_sockmsg h = { .type = XS_WRITE, .req_id = 9, .len = XENSTORE_PAYLOAD_MAX + 1 };

	guest_put(&h, sizeof(h));
	guest_put("data/x", 6);
	xs__ring_process(ring);
	guest_expect(XS_ERROR, 9, P("E2BIG\0"));
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_PROTO);
	guest_send(XS_READ, 10, P("name\0"));
	xs__ring_process(ring);
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);

	page->connection = XENSTORE_RECONNECT;
	xs__ring_process(ring);
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_NONE);
	guest_send(XS_READ, 11, P("name\0"));
	xs__ring_process(ring);
	guest_expect(XS_READ, 11, P("guest"));
}
END_TEST

START_TEST(test_ring_reply_waits_for_space)
{
	static char big[3000 + 1];
	static char got[16 + 3000];
	struct xsd_sockmsg h;
	uint32_t n, total = 0;

	memset(big, 'z', 3000);
	ck_assert_int_eq(xs__write(s, HOME "/data/big", big), 0);

	/* A small reply the guest leaves unread, then one far larger than
	 * the room left. */
	guest_send(XS_READ, 1, P("name\0"));
	guest_send(XS_READ, 2, P("data/big\0"));
	xs__ring_process(ring);
	ck_assert_uint_eq(page->rsp_prod - page->rsp_cons, XENSTORE_RING_SIZE);
	ck_assert_uint_eq(page->req_cons, page->req_prod);
	xs__ring_process(ring);
	ck_assert_uint_eq(page->rsp_prod - page->rsp_cons, XENSTORE_RING_SIZE);

	guest_expect(XS_READ, 1, P("guest"));
	/* The rest comes as the guest makes room. */
	while (total < sizeof(got)) {
		n = guest_get(got + total, sizeof(got) - total);
		if (!n) {
			uint32_t before = page->rsp_prod;

			xs__ring_process(ring);
			ck_assert_uint_gt(page->rsp_prod, before);
			continue;
		}
		total += n;
	}
	memcpy(&h, got, sizeof(h));
	ck_assert_uint_eq(h.type, XS_READ);
	ck_assert_uint_eq(h.req_id, 2);
	ck_assert_uint_eq(h.len, 3000);
	ck_assert_mem_eq(got + sizeof(h), big, 3000);
	xs__ring_process(ring);
	ck_assert_uint_eq(page->rsp_prod, page->rsp_cons);
}
END_TEST

/* A guest that sends and never reads: the ring stops taking requests once
 * XS_QUOTA_OUTSTANDING replies wait, and catches up when it reads. */
START_TEST(test_ring_backpressure)
{
	static char val[1000 + 1];
	const uint32_t nreq = 25, reqsize = 16 + sizeof("data/v");

	memset(val, 'v', 1000);
	ck_assert_int_eq(xs__write(s, HOME "/data/v", val), 0);
	for (uint32_t i = 0; i < nreq; i++)
		guest_send(XS_READ, i, P("data/v\0"));
	xs__ring_process(ring);
	/* 20 replies queued; one of them left for the ring, so one more
	 * request was taken; then the response ring was full. */
	ck_assert_uint_eq(page->req_cons, (XS_QUOTA_OUTSTANDING + 1) * reqsize);
	for (uint32_t i = 0; i < nreq; i++)
		guest_expect(XS_READ, i, val, 1000);
	ck_assert_uint_eq(page->req_cons, page->req_prod);
}
END_TEST

/* A watch event caused by pvmm reaches the ring without the guest's help. */
START_TEST(test_ring_event_wakes)
{
	guest_send(XS_WATCH, 1, P("control\0ctl\0"));
	xs__ring_process(ring);
	guest_expect(XS_WATCH, 1, P("OK\0"));
	guest_expect(XS_WATCH_EVENT, 0, P("control\0ctl\0"));

	int before = atomic_load(&kicks);

	ck_assert_int_eq(xs__write(s, HOME "/control/shutdown", "reboot"), 0);
	ck_assert_int_gt(atomic_load(&kicks), before);
	ck_assert_uint_ne(page->rsp_prod, page->rsp_cons);
	guest_expect(XS_WATCH_EVENT, 0, P("control/shutdown\0ctl\0"));
}
END_TEST

#define WRITES 2000

/* Returns the number of failed writes: a failed assertion here, off the
 * test's thread, could not stop the test cleanly. */
static void *writer_thread(void *opaque)
{
	intptr_t failed = 0;
	char v[16];

	(void)opaque;
	for (int i = 0; i < WRITES; i++) {
		snprintf(v, sizeof(v), "%d", i);
		failed += xs__write(s, HOME "/data/busy", v) != 0;
	}
	return (void *)failed;
}

/* A backend thread writing while the guest's vCPU thread serves the ring. */
START_TEST(test_ring_concurrent_writer)
{
	const uint32_t reqsize = 16 + sizeof("name");
	uint32_t total = 0, moved;
	void *failed;
	pthread_t t;

	guest_send(XS_WATCH, 1, P("data/busy\0b\0"));
	xs__ring_process(ring);
	guest_expect(XS_WATCH, 1, P("OK\0"));
	guest_expect(XS_WATCH_EVENT, 0, P("data/busy\0b\0"));

	ck_assert_int_eq(pthread_create(&t, NULL, writer_thread, NULL), 0);
	for (int i = 0; i < WRITES; i++) {
		/* The guest reads all it is sent, so room comes back. */
		while (guest_room() < reqsize) {
			xs__ring_process(ring);
			total += guest_drain();
		}
		guest_send(XS_READ, 100, P("name\0"));
		xs__ring_process(ring);
		total += guest_drain();
	}
	ck_assert_int_eq(pthread_join(t, &failed), 0);
	ck_assert_ptr_null(failed);
	do {
		xs__ring_process(ring);
		moved = guest_drain();
		total += moved;
	} while (moved);
	/* Every READ answered (each 16 + 5 bytes), events besides. */
	ck_assert_uint_ge(total, WRITES * 21);
	ck_assert_uint_eq(idx(&page->req_cons), idx(&page->req_prod));
	ck_assert_uint_eq(page->error, XENSTORE_ERROR_NONE);
	assert_value(HOME "/data/busy", "1999");
}
END_TEST

static Suite *xenstore_suite(void)
{
	Suite *su = suite_create("xenstore");
	TCase *tc;

	tc = tcase_create("tree");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_mkdir_rm);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_directory);
	tcase_add_test(tc, test_directory_part);
	suite_add_tcase(su, tc);

	tc = tcase_create("permissions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_perms_other_domain);
	tcase_add_test(tc, test_perms_set_by_owner);
	tcase_add_test(tc, test_populate);
	suite_add_tcase(su, tc);

	tc = tcase_create("watches");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_watch_fires);
	tcase_add_test(tc, test_watch_permissions);
	tcase_add_test(tc, test_unwatch_reset);
	tcase_add_test(tc, test_special_watches);
	tcase_add_test(tc, test_inprocess_watch);
	tcase_add_test(tc, test_inprocess_watch_reentry);
	suite_add_tcase(su, tc);

	tc = tcase_create("transactions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_transaction_commit);
	tcase_add_test(tc, test_transaction_conflict);
	tcase_add_test(tc, test_transaction_abort);
	suite_add_tcase(su, tc);

	tc = tcase_create("quotas");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_quota_nodes);
	tcase_add_test(tc, test_quota_node_size);
	tcase_add_test(tc, test_quota_watches);
	tcase_add_test(tc, test_quota_transactions_perms_path);
	suite_add_tcase(su, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(su, tc);

	tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, ring_setup, ring_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ring_roundtrip);
	tcase_add_test(tc, test_ring_wrap);
	tcase_add_test(tc, test_ring_request_in_pieces);
	tcase_add_test(tc, test_ring_hostile_prod);
	tcase_add_test(tc, test_ring_oversized_request);
	tcase_add_test(tc, test_ring_reply_waits_for_space);
	tcase_add_test(tc, test_ring_backpressure);
	tcase_add_test(tc, test_ring_event_wakes);
	tcase_add_test(tc, test_ring_concurrent_writer);
	suite_add_tcase(su, tc);
	return su;
}

CHECK_MAIN(xenstore_suite)
