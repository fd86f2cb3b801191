/*
 * Benchmark guest (bench/): round trips through pvmm's control plane, the
 * guest side timed with the pvclock.
 *
 *   evtchn    one byte ('.') into the PV console's out ring, EVTCHNOP_send
 *             on HVM_PARAM_CONSOLE_EVTCHN, then SCHEDOP_poll on that port
 *             until it is pending: the backend, on pvmm's main loop, has
 *             consumed the byte and notified back.  The pending bit is
 *             cleared for the next one.
 *   xenstore  XS_READ of "domid" through the store ring with the client
 *             every test guest uses (lib/xenstore.c), each reply awaited in
 *             SCHEDOP_poll on the store port.
 *
 * "iterations=N" (default 1000) of each, in BLOCKS alternating blocks so
 * that both see the same host conditions.  Prints "bench-control: key
 * value" lines for bench/pvmm_bench.c.
 */
#include "blkfront.h"   /* cmdline_u64() */
#include "xenstore.h"

#define DEFAULT_ITERATIONS      1000u
#define MAX_ITERATIONS          10000000u
#define BLOCKS                  10u
#define TIMEOUT_NS              10000000000ull  /* budget per round trip */

static volatile struct xencons_interface *cons;
static evtchn_port_t cons_port;

static long get_param(uint32_t index, uint64_t *value)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

	*value = p.value;
	return rc;
}

static bool console_init(void)
{
	uint64_t pfn = 0, port = 0;

	if (!check_long("HVMOP_get_param(HVM_PARAM_CONSOLE_PFN)",
			get_param(HVM_PARAM_CONSOLE_PFN, &pfn), 0) ||
	    !check_long("HVMOP_get_param(HVM_PARAM_CONSOLE_EVTCHN)",
			get_param(HVM_PARAM_CONSOLE_EVTCHN, &port), 0))
		return false;
	cons = (volatile void *)(uintptr_t)phys_ptr(pfn * PAGE_SIZE, PAGE_SIZE);
	cons_port = (evtchn_port_t)port;
	return check(cons && port && port < EVTCHN_2L_NR_PORTS,
		     "the console ring and port are set");
}

/* n event-channel round trips with the console backend; false when one
 * did not come back. */
static bool evtchn_round_trips(unsigned long n)
{
	uint64_t deadline = xen_now() + TIMEOUT_NS * n;
	XENCONS_RING_IDX prod = cons->out_prod;

	for (unsigned long i = 0; i < n; i++) {
		cons->out[MASK_XENCONS_IDX(prod, cons->out)] = '.';
		barrier();      /* the byte before the index that shows it */
		cons->out_prod = ++prod;
		evtchn_send(cons_port);
		while (!evtchn_is_pending(cons_port)) {
			if (sched_poll(cons_port, deadline) < 0 ||
			    (!evtchn_is_pending(cons_port) && xen_now() >= deadline))
				return false;
		}
		evtchn_clear_pending(cons_port);
	}
	return cons->out_cons == prod;
}

/* n XS_READs of "domid"; false when one failed or the value changed. */
static bool xenstore_reads(unsigned long n, const char *domid)
{
	char buf[16];
	long len = (long)strlen(domid);

	for (unsigned long i = 0; i < n; i++)
		if (xs_read(0, "domid", buf, sizeof(buf)) != len)
			return false;
	return strcmp(buf, domid) == 0;
}

void guest_main(const struct hvm_start_info *si)
{
	const char *cmdline = si->cmdline_paddr ? phys_ptr(si->cmdline_paddr, 1) : NULL;
	uint64_t n = DEFAULT_ITERATIONS, evtchn_ns = 0, xs_ns = 0;
	char domid[16];
	bool ok = true;

	cmdline_u64(cmdline, "iterations", &n);
	if (!check(n >= 1 && n <= MAX_ITERATIONS, "iterations from 1 to 10000000") ||
	    !check_long("xs_init", xs_init(), 0) || !console_init())
		return;
	if (!check(xs_read(0, "domid", domid, sizeof(domid)) > 0, "XS_READ domid"))
		return;
	/* A notification nobody waited for would end the first poll early. */
	evtchn_clear_pending(cons_port);

	for (unsigned b = 0; ok && b < BLOCKS; b++) {
		unsigned long count = (unsigned long)(n * (b + 1) / BLOCKS - n * b / BLOCKS);
		uint64_t t0, t1, t2;

		t0 = xen_now();
		ok = evtchn_round_trips(count);
		t1 = xen_now();
		ok = ok && xenstore_reads(count, domid);
		t2 = xen_now();
		evtchn_ns += t1 - t0;
		xs_ns += t2 - t1;
	}
	printf("\n");
	if (!check(ok, "every round trip came back"))
		return;
	printf("bench-control: iterations %llu\n", (unsigned long long)n);
	printf("bench-control: domid %s\n", domid);
	printf("bench-control: evtchn_total_ns %llu\n", (unsigned long long)evtchn_ns);
	printf("bench-control: xenstore_total_ns %llu\n", (unsigned long long)xs_ns);
	printf("bench-control: evtchn_ns_per_round_trip %llu\n",
	       (unsigned long long)(evtchn_ns / n));
	printf("bench-control: xenstore_ns_per_read %llu\n", (unsigned long long)(xs_ns / n));
}
