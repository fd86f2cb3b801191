/*
 * A minimal balloon driver, as Xen's (Linux, Mini-OS) work: it watches
 * memory/target and gives frames of a region it owns back to the
 * hypervisor with XENMEM_decrease_reservation until its reservation meets
 * the target, or takes them again with XENMEM_populate_physmap, then
 * checks that the repopulated frames read as zero and hold what is
 * written.  First it checks the reservation rules on a few frames: a frame
 * released twice, a frame outside RAM, extent orders, continuations,
 * populating past the maximum.  It powers off when control/shutdown says
 * so, or reboots (the test drives it through pvmm's management API).
 *
 * Console lines the test waits for:
 *   balloon: ready, ...                     the region is resident
 *   balloon: target K KiB: released N pages, reservation R pages (T ns)
 *   balloon: target K KiB: repopulated N pages, reservation R pages (T ns)
 * where T is the time the hypercalls took, as the guest saw it.
 */
#include "xenstore.h"

#define REGION_BASE     (16u << 20)
#define REGION_MAX      (256u << 20)      /* halved until it is RAM */
#define BATCH           512
#define WAIT_NS         600000000000ull     /* the test's whole run, at most */
#define PATTERN         0x5a5aa5a5c3c33c3cull
/* Xen's memory_op command word: a preempted operation resumes at the
 * extent in the bits above the sub-op (xen/common/memory.c). */
#define MEMOP_EXTENT_SHIFT 6

static struct xs_msg reply;
static xen_pfn_t frames[BATCH];
static uint64_t region_pfn, region_pages;
static uint64_t ballooned;              /* region pages given back, from the start */
static long initial_reservation;

static volatile uint64_t *page_word(uint64_t i, unsigned int word)
{
	return (volatile uint64_t *)(uintptr_t)((region_pfn + i) * PAGE_SIZE) + word;
}

static long reservation_op(unsigned int op, xen_pfn_t *list, unsigned long nr,
			   unsigned int order, unsigned int flags)
{
	struct xen_memory_reservation r = {
		.nr_extents = nr, .extent_order = order, .mem_flags = flags, .domid = DOMID_SELF,
	};

	set_xen_guest_handle(r.extent_start, list);
	return HYPERVISOR_memory_op(op, (unsigned long)&r);
}

static long reservation(unsigned int op)
{
	domid_t self = DOMID_SELF;

	return HYPERVISOR_memory_op(op, (unsigned long)&self);
}

/* The rules, on the last two frames of the region (touched first). */
static void test_rules(void)
{
	xen_pfn_t a = region_pfn + region_pages - 1, b = region_pfn + region_pages - 2;
	xen_pfn_t hole = 0xfffff;       /* just below 4 GiB: not RAM */
	xen_pfn_t list[4];
	long max = reservation(XENMEM_maximum_reservation);
	long cur = reservation(XENMEM_current_reservation);

	check_long("the reservation starts at the maximum", cur, max);
	list[0] = a;
	check_long("XENMEM_populate_physmap of a present frame at the maximum does nothing",
		   reservation_op(XENMEM_populate_physmap, list, 1, 0, 0), 0);
	check_long("XENMEM_increase_reservation at the maximum does nothing",
		   reservation_op(XENMEM_increase_reservation, list, 1, 0, 0), 0);
	check_long("extent order 10 is refused (nothing done)",
		   reservation_op(XENMEM_decrease_reservation, list, 1, 10, 0), 0);

	list[0] = a;
	list[1] = a;
	check_long("a frame listed twice is released once: the batch stops at the repeat",
		   reservation_op(XENMEM_decrease_reservation, list, 2, 0, 0), 1);
	check_long("XENMEM_current_reservation is one page less",
		   reservation(XENMEM_current_reservation), cur - 1);
	check_long("XENMEM_maximum_reservation stays", reservation(XENMEM_maximum_reservation), max);
	list[0] = b;
	list[1] = hole;
	list[2] = b - 1;
	check_long("a frame outside RAM stops the batch with the count done",
		   reservation_op(XENMEM_decrease_reservation, list, 3, 0, 0), 1);
	/* A continuation: the guest says where to resume in cmd's high bits. */
	list[0] = hole;
	list[1] = b - 1;
	check_long("start_extent 1 resumes at extent 1",
		   reservation_op(XENMEM_decrease_reservation | (1u << MEMOP_EXTENT_SHIFT), list, 2, 0, 0),
		   2);
	check_long("start_extent past nr_extents does nothing",
		   reservation_op(XENMEM_decrease_reservation | (5u << MEMOP_EXTENT_SHIFT), list, 2, 0, 0),
		   5);
	list[0] = b;
	check_long("releasing a released frame again does nothing",
		   reservation_op(XENMEM_decrease_reservation, list, 1, 0, 0), 0);
	check_long("three frames released, each counted once",
		   reservation(XENMEM_current_reservation), cur - 3);

	list[0] = a;
	list[1] = b;
	list[2] = b - 1;
	check_long("XENMEM_populate_physmap of the three frames",
		   reservation_op(XENMEM_populate_physmap, list, 3, 0, 0), 3);
	check_long("the reservation is back at the maximum", reservation(XENMEM_current_reservation), max);
	check_u64("a repopulated frame reads as zero", *page_word(region_pages - 1, 0), 0);
	check_u64("... at its end too", *page_word(region_pages - 2, PAGE_SIZE / 8 - 1), 0);
	check_long("populate-on-demand on oneself is refused",
		   reservation_op(XENMEM_populate_physmap, list, 1, 0, XENMEMF_populate_on_demand), 0);
	list[0] = region_pfn + region_pages - 512;
	check_long("an order-9 extent (2 MiB) is released whole",
		   reservation_op(XENMEM_decrease_reservation, list, 1, 9, 0), 1);
	check_long("... 512 pages", reservation(XENMEM_current_reservation), max - 512);
	check_long("... and repopulated whole", reservation_op(XENMEM_populate_physmap, list, 1, 9, 0), 1);
	check_long("the reservation is back at the maximum again",
		   reservation(XENMEM_current_reservation), max);
	/* Leave the test frames as the others: touched. */
	for (uint64_t i = region_pages - 512; i < region_pages; i++)
		*page_word(i, 0) = PATTERN;
}

/* Region pages [from, to) in batches; false if the hypervisor stopped short. */
static bool batch_op(unsigned int op, uint64_t from, uint64_t to)
{
	while (from < to) {
		unsigned long n = to - from < BATCH ? (unsigned long)(to - from) : BATCH;
		long done;

		for (unsigned long i = 0; i < n; i++)
			frames[i] = region_pfn + from + i;
		done = reservation_op(op, frames, n, 0, 0);
		if (done != (long)n) {
			printf("FAIL - %s of %lu frames at %#llx did %ld\n",
			       op == XENMEM_decrease_reservation ? "decrease_reservation" : "populate_physmap",
			       n, (unsigned long long)frames[0], done);
			return false;
		}
		from += n;
	}
	return true;
}

/* Repopulated pages must read as zero (their first and last words, and
 * every 64th page whole) and keep what is written. */
static bool check_repopulated(uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		unsigned int words = i % 64 ? 1 : PAGE_SIZE / 8;

		for (unsigned int w = 0; w < words; w++)
			if (*page_word(i, w) != 0)
				return false;
		if (*page_word(i, PAGE_SIZE / 8 - 1) != 0)
			return false;
		*page_word(i, 0) = PATTERN ^ i;
		if (*page_word(i, 0) != (PATTERN ^ i))
			return false;
	}
	return true;
}

static void follow_target(void)
{
	char buf[32];
	uint64_t target_kib = 0, want, start;
	long rc = xs_read(0, "memory/target", buf, sizeof(buf));

	if (rc <= 0) {
		check(false, "read memory/target");
		return;
	}
	for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
		target_kib = target_kib * 10 + (uint64_t)(*p - '0');
	/* As Linux: what the reservation was at start, less the target, is
	 * what the balloon should hold (within the region it owns). */
	want = (uint64_t)initial_reservation > target_kib / 4 ?
	       (uint64_t)initial_reservation - target_kib / 4 : 0;
	if (want > region_pages)
		want = region_pages;
	start = xen_now();
	if (want > ballooned) {
		bool ok = batch_op(XENMEM_decrease_reservation, ballooned, want);
		uint64_t ns = xen_now() - start;

		check(ok, "decrease_reservation toward memory/target");
		printf("balloon: target %llu KiB: released %llu pages, reservation %ld pages (%llu ns)\n",
		       (unsigned long long)target_kib, (unsigned long long)(want - ballooned),
		       reservation(XENMEM_current_reservation), (unsigned long long)ns);
		if (ok)
			ballooned = want;
	} else if (want < ballooned) {
		bool ok = batch_op(XENMEM_populate_physmap, want, ballooned);
		uint64_t ns = xen_now() - start;

		check(ok, "populate_physmap toward memory/target");
		check(ok && check_repopulated(want, ballooned),
		      "repopulated frames read as zero and keep what is written");
		printf("balloon: target %llu KiB: repopulated %llu pages, reservation %ld pages (%llu ns)\n",
		       (unsigned long long)target_kib, (unsigned long long)(ballooned - want),
		       reservation(XENMEM_current_reservation), (unsigned long long)ns);
		if (ok)
			ballooned = want;
	}
	check_long("the reservation is what the balloon leaves",
		   reservation(XENMEM_current_reservation), initial_reservation - (long)ballooned);
}

/* control/shutdown: SHUTDOWN_poweroff or SHUTDOWN_reboot as asked, -1 for
 * nothing (yet). */
static int shutdown_asked(void)
{
	char buf[32];

	if (xs_read(0, "control/shutdown", buf, sizeof(buf)) <= 0)
		return -1;
	if (!strcmp(buf, "poweroff"))
		return SHUTDOWN_poweroff;
	return strcmp(buf, "reboot") ? -1 : SHUTDOWN_reboot;
}

void guest_main(const struct hvm_start_info *si)
{
	uint64_t deadline;
	int how;

	if (!check_long("xs_init", xs_init(), 0))
		return;
	initial_reservation = reservation(XENMEM_current_reservation);
	region_pfn = REGION_BASE / PAGE_SIZE;
	region_pages = REGION_MAX / PAGE_SIZE;
	while (region_pages && !memmap_is_ram(si, REGION_BASE, region_pages * PAGE_SIZE))
		region_pages /= 2;
	if (!check(region_pages >= 1024, "a RAM region of at least 4 MiB at 16 MiB"))
		return;
	/* Resident before anything is given back: one write per page. */
	for (uint64_t i = 0; i < region_pages; i++)
		*page_word(i, 0) = PATTERN;
	test_rules();
	if (!check_long("XS_WATCH memory/target",
			xs_path_op(XS_WATCH, 0, "memory/target", "target", true, &reply), 0) ||
	    !check_long("XS_WATCH control/shutdown",
			xs_path_op(XS_WATCH, 0, "control/shutdown", "shutdown", true, &reply), 0))
		return;
	printf("balloon: ready, region %llu pages at %#x, reservation %ld pages\n",
	       (unsigned long long)region_pages, REGION_BASE, initial_reservation);
	deadline = xen_now() + WAIT_NS;
	for (;;) {
		const char *token;

		if (xs_next_watch(&reply, deadline)) {
			check(false, "a watch event before the time limit");
			return;
		}
		token = xs_string(&reply, XS_WATCH_TOKEN);
		if (token && !strcmp(token, "target"))
			follow_target();
		else if (token && !strcmp(token, "shutdown") && (how = shutdown_asked()) >= 0)
			break;
	}
	if (how == SHUTDOWN_reboot) {
		printf("balloon: control/shutdown says reboot\n");
		guest_exit(SHUTDOWN_reboot);
	}
	printf("balloon: control/shutdown says poweroff\n");
}
