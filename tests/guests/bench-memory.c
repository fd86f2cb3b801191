/*
 * Benchmark guest (bench/): holds still while bench/pvmm_bench.c samples
 * pvmm's resident memory.  Touches TOUCH_SIZE bytes of RAM at TOUCH_BASE
 * (one write per page), so that the driver can confirm it tells guest RAM
 * from pvmm's own memory, prints "bench-memory: waiting", then sleeps in
 * SCHEDOP_poll until Xen system time reaches WAIT_UNTIL_NS, and powers off.
 * The driver normally stops pvmm with SIGTERM long before that.
 */
#include "guest.h"

#define TOUCH_BASE    (16ull << 20)
#define TOUCH_SIZE    (4ull << 20)
#define WAIT_UNTIL_NS (30ull * 1000000000ull)

void guest_main(const struct hvm_start_info *si)
{
	struct sched_poll poll = { .nr_ports = 0, .timeout = WAIT_UNTIL_NS };
	long rc;

	if (!check(memmap_is_ram(si, TOUCH_BASE, TOUCH_SIZE), "touch range is RAM"))
		return;
	for (uint64_t off = 0; off < TOUCH_SIZE; off += PAGE_SIZE)
		*(volatile uint8_t *)(uintptr_t)(TOUCH_BASE + off) = 1;
	printf("bench-memory: touched %llu KiB\n", (unsigned long long)(TOUCH_SIZE >> 10));
	printf("bench-memory: waiting\n");
	set_xen_guest_handle(poll.ports, NULL);
	rc = HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
	check_long("SCHEDOP_poll until the timeout", rc, 0);
}
