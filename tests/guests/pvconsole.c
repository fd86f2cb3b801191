/*
 * The PV console: the ring page and event channel in HVM_PARAM_CONSOLE_PFN
 * and HVM_PARAM_CONSOLE_EVTCHN (struct xencons_interface).  Writes a line
 * to the out ring, reads a line from the in ring (the test feeds "abc\n"
 * on stdin), waiting with SCHEDOP_poll on the console port, and echoes it
 * back through the ring.
 */
#include "events.h"

#define INPUT_WAIT_NS   60000000000ull
#define DRAIN_WAIT_NS   10000000000ull

static volatile struct xencons_interface *cons;
static evtchn_port_t port;

static long get_param(uint32_t index, uint64_t *value)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

	*value = p.value;
	return rc;
}

/* Waits for an event on the console port; false after deadline. */
static bool wait_event(uint64_t deadline)
{
	if (xen_now() >= deadline)
		return false;
	sched_poll(port, deadline);
	evtchn_clear_pending(port);
	return true;
}

static bool ring_write(const char *s, size_t len, uint64_t deadline)
{
	while (len) {
		XENCONS_RING_IDX c = cons->out_cons, p = cons->out_prod;
		uint32_t used = p - c;

		if (used > sizeof(cons->out))
			return false;
		if (used == sizeof(cons->out)) {
			if (!wait_event(deadline))
				return false;
			continue;
		}
		mb();   /* read out_cons before reusing what it freed */
		for (; len && p - c < sizeof(cons->out); len--)
			cons->out[MASK_XENCONS_IDX(p++, cons->out)] = *s++;
		barrier();      /* the bytes before the index that shows them */
		cons->out_prod = p;
		evtchn_send(port);
	}
	return true;
}

static void ring_printf(const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	check(ring_write(buf, strnlen(buf, sizeof(buf)), xen_now() + DRAIN_WAIT_NS),
	      "wrote a line to the out ring");
}

/* Reads one line (without the newline) from the in ring. */
static bool ring_read_line(char *line, size_t size, uint64_t deadline)
{
	size_t n = 0;

	for (;;) {
		XENCONS_RING_IDX c = cons->in_cons, p = cons->in_prod;

		if (p - c > sizeof(cons->in))
			return false;
		if (p == c) {
			if (!wait_event(deadline))
				return false;
			continue;
		}
		barrier();      /* the index before the bytes it shows */
		while (c != p) {
			char ch = cons->in[MASK_XENCONS_IDX(c++, cons->in)];

			if (ch == '\n') {
				mb();
				cons->in_cons = c;
				evtchn_send(port);
				line[n] = '\0';
				return true;
			}
			if (ch != '\r' && n + 1 < size)
				line[n++] = ch;
		}
		mb();   /* done with the bytes before giving them back */
		cons->in_cons = c;
		evtchn_send(port);
	}
}

void guest_main(const struct hvm_start_info *si)
{
	uint64_t pfn = 0, evtchn = 0, deadline;
	char line[64];
	long rc;

	(void)si;
	printf("pvconsole: %u-bit guest\n", GUEST_BITS);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	rc = get_param(HVM_PARAM_CONSOLE_PFN, &pfn);
	check_long("HVMOP_get_param(HVM_PARAM_CONSOLE_PFN)", rc, 0);
	rc = get_param(HVM_PARAM_CONSOLE_EVTCHN, &evtchn);
	check_long("HVMOP_get_param(HVM_PARAM_CONSOLE_EVTCHN)", rc, 0);
	printf("pvconsole: ring pfn %#llx, port %llu\n", (unsigned long long)pfn,
	       (unsigned long long)evtchn);
	cons = (volatile void *)(uintptr_t)phys_ptr(pfn * PAGE_SIZE, PAGE_SIZE);
	if (!check(cons && evtchn && evtchn < EVTCHN_2L_NR_PORTS,
		   "the console ring and port are set"))
		return;
	port = (evtchn_port_t)evtchn;

	ring_printf("pvconsole: hello over the ring\n");
	/* The backend consumes what we wrote and tells us so. */
	deadline = xen_now() + DRAIN_WAIT_NS;
	while (cons->out_cons != cons->out_prod && wait_event(deadline))
		;
	check(cons->out_cons == cons->out_prod, "the backend consumed the out ring");

	printf("pvconsole: waiting for a line on the in ring\n");
	if (!check(ring_read_line(line, sizeof(line), xen_now() + INPUT_WAIT_NS),
		   "read a line from the in ring"))
		return;
	check(strcmp(line, "abc") == 0, "the line is abc");
	ring_printf("pvconsole: got %s\n", line);
	deadline = xen_now() + DRAIN_WAIT_NS;
	while (cons->out_cons != cons->out_prod && wait_event(deadline))
		;
	check(cons->out_cons == cons->out_prod, "the backend consumed the echo");
}
