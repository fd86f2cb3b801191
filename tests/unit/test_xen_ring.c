/* The backend ring: wrap-around, multi-page rings, notification rules and
 * frontends that lie about their indices. */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring-io/xen_ring.h"
#include "xen/xen_abi.h"
#include <xen/io/blkif.h>

#include "check_main.h"

#define ENTRY sizeof(union blkif_sring_entry)

static uint8_t pages_mem[4][XRING_PAGE_SIZE];
static uint8_t *pages[4];
static struct blkif_sring *sring;

static void setup(void)
{
	memset(pages_mem, 0, sizeof(pages_mem));
	/* Non-contiguous on purpose: the ring must not assume it. */
	pages[0] = pages_mem[2];
	pages[1] = pages_mem[0];
	pages[2] = pages_mem[3];
	pages[3] = pages_mem[1];
	sring = (struct blkif_sring *)pages[0];
}

/* The frontend's side, written as a guest would: entry i at its slot. */
static void front_put(struct xring *r, uint32_t idx, uint64_t id)
{
	union blkif_sring_entry e;
	size_t off = offsetof(struct blkif_sring, ring) + (idx & (r->size - 1)) * ENTRY;

	memset(&e, 0, sizeof(e));
	e.req.id = id;
	e.req.operation = BLKIF_OP_READ;
	for (size_t i = 0; i < ENTRY; i++) {
		size_t o = off + i;
		pages[o / XRING_PAGE_SIZE][o % XRING_PAGE_SIZE] = ((uint8_t *)&e)[i];
	}
}

START_TEST(single_page_blkif_ring_has_32_entries)
{
	struct xring r;

	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	/* (4096 - 64) / 112 = 36, rounded down to a power of two. */
	ck_assert_uint_eq(r.size, 32);
	ck_assert_int_eq(xring__init(&r, pages, 4, ENTRY), 0);
	ck_assert_uint_eq(r.size, 128);
	ck_assert_int_eq(xring__init(&r, pages, 0, ENTRY), -EINVAL);
	ck_assert_int_eq(xring__init(&r, pages, XRING_MAX_PAGES + 1, ENTRY), -EINVAL);
	ck_assert_int_eq(xring__init(&r, pages, 1, XRING_PAGE_SIZE), -EINVAL);
}
END_TEST

START_TEST(requests_and_responses_wrap_around_across_pages)
{
	struct xring r;
	union blkif_sring_entry e;
	uint32_t prod = 0;

	ck_assert_int_eq(xring__init(&r, pages, 4, ENTRY), 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 100; i++)
			front_put(&r, prod + (uint32_t)i, prod + (uint32_t)i);
		prod += 100;
		__atomic_store_n(&sring->req_prod, prod, __ATOMIC_RELEASE);
		for (int i = 0; i < 100; i++) {
			ck_assert_int_eq(xring__get_request(&r, &e), 1);
			ck_assert_uint_eq(e.req.id, prod - 100 + (uint32_t)i);
			struct blkif_response rsp = { .id = e.req.id, .status = BLKIF_RSP_OKAY };
			xring__put_response(&r, &rsp, sizeof(rsp));
		}
		ck_assert_int_eq(xring__get_request(&r, &e), 0);
		xring__push_responses(&r);
		ck_assert_uint_eq(sring->rsp_prod, prod);
		/* The last response sits in its slot, possibly across pages. */
		size_t off = offsetof(struct blkif_sring, ring) + ((prod - 1) & (r.size - 1)) * ENTRY;
		uint64_t id;
		uint8_t *idb = (uint8_t *)&id;
		for (size_t i = 0; i < sizeof(id); i++) {
			size_t o = off + i;
			idb[i] = pages[o / XRING_PAGE_SIZE][o % XRING_PAGE_SIZE];
		}
		ck_assert_uint_eq(id, prod - 1);
	}
}
END_TEST

START_TEST(indices_wrap_at_2_to_the_32)
{
	struct xring r;
	union blkif_sring_entry e;
	uint32_t start = UINT32_MAX - 5;

	sring->rsp_prod = start;
	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	for (uint32_t i = 0; i < 10; i++)
		front_put(&r, start + i, i);
	sring->req_prod = start + 10;
	for (uint32_t i = 0; i < 10; i++) {
		ck_assert_int_eq(xring__get_request(&r, &e), 1);
		ck_assert_uint_eq(e.req.id, i);
		xring__put_response(&r, &e, sizeof(struct blkif_response));
	}
	xring__push_responses(&r);
	ck_assert_uint_eq(sring->rsp_prod, start + 10);
}
END_TEST

START_TEST(producer_running_past_the_ring_breaks_it)
{
	struct xring r;
	union blkif_sring_entry e;

	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	sring->req_prod = r.size + 1;
	ck_assert_int_eq(xring__get_request(&r, &e), -EIO);
	ck_assert(r.broken);
	/* Once broken, always broken: the device must disconnect. */
	sring->req_prod = 1;
	ck_assert_int_eq(xring__get_request(&r, &e), -EIO);
	ck_assert(!xring__final_check_for_requests(&r));
}
END_TEST

START_TEST(a_full_ring_of_requests_is_fine_but_no_more_until_responses)
{
	struct xring r;
	union blkif_sring_entry e;

	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	for (uint32_t i = 0; i < r.size; i++)
		front_put(&r, i, i);
	sring->req_prod = r.size;
	for (uint32_t i = 0; i < r.size; i++)
		ck_assert_int_eq(xring__get_request(&r, &e), 1);
	ck_assert_int_eq(xring__get_request(&r, &e), 0);
	ck_assert(!r.broken);
}
END_TEST

START_TEST(a_frontend_rewriting_rsp_prod_changes_nothing)
{
	struct xring r;
	union blkif_sring_entry e;

	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	front_put(&r, 0, 7);
	sring->req_prod = 1;
	ck_assert_int_eq(xring__get_request(&r, &e), 1);
	sring->rsp_prod = 12345;   /* the frontend scribbles on our index */
	xring__put_response(&r, &e, sizeof(struct blkif_response));
	xring__push_responses(&r);
	ck_assert_uint_eq(sring->rsp_prod, 1);
}
END_TEST

START_TEST(notification_follows_rsp_event_and_req_event)
{
	struct xring r;
	union blkif_sring_entry e;

	ck_assert_int_eq(xring__init(&r, pages, 1, ENTRY), 0);
	/* The frontend wants to hear about the first response. */
	sring->rsp_event = 1;
	front_put(&r, 0, 1);
	front_put(&r, 1, 2);
	sring->req_prod = 2;
	ck_assert_int_eq(xring__get_request(&r, &e), 1);
	xring__put_response(&r, &e, sizeof(struct blkif_response));
	ck_assert(xring__push_responses(&r));
	/* It has not moved rsp_event on: no second notification. */
	ck_assert_int_eq(xring__get_request(&r, &e), 1);
	xring__put_response(&r, &e, sizeof(struct blkif_response));
	ck_assert(!xring__push_responses(&r));
	/* Nothing pending: ask for the next request and report none. */
	ck_assert(!xring__final_check_for_requests(&r));
	ck_assert_uint_eq(sring->req_event, 3);
	/* A request that arrives is reported. */
	front_put(&r, 2, 3);
	sring->req_prod = 3;
	ck_assert(xring__final_check_for_requests(&r));
}
END_TEST

static Suite *xen_ring_suite(void)
{
	Suite *s = suite_create("xen_ring");
	TCase *tc = tcase_create("ring");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, single_page_blkif_ring_has_32_entries);
	tcase_add_test(tc, requests_and_responses_wrap_around_across_pages);
	tcase_add_test(tc, indices_wrap_at_2_to_the_32);
	tcase_add_test(tc, producer_running_past_the_ring_breaks_it);
	tcase_add_test(tc, a_full_ring_of_requests_is_fine_but_no_more_until_responses);
	tcase_add_test(tc, a_frontend_rewriting_rsp_prod_changes_nothing);
	tcase_add_test(tc, notification_follows_rsp_event_and_req_event);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(xen_ring_suite)
