/*
 * Benchmark guest (bench/): the null-hypercall round trip.  Calls
 * xen_version(XENVER_version) "iterations=N" times (from the command line,
 * default 100000) through the hypercall page and times the loop with the
 * pvclock.  The loop is written in assembly so that bench/bare_pio_exit.c
 * can run the very same instructions in a bare KVM VM as the baseline:
 *	1: mov $XENVER_version,%edi; xor %esi,%esi; call page+17*32; dec %rbx; jnz 1b
 * Prints "bench-hypercall: key value" lines for bench/pvmm_bench.c.
 */
#include "guest.h"

#define DEFAULT_ITERATIONS 100000ul
#define ITERATIONS_KEY "iterations="

static uint8_t shared_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* The value of "iterations=N" on the command line, or the default. */
static unsigned long parse_iterations(const struct hvm_start_info *si)
{
	const size_t key_len = sizeof(ITERATIONS_KEY) - 1;
	const char *p = phys_ptr(si->cmdline_paddr, 1);
	unsigned long n = 0;

	for (; p && *p; p++) {
		if ((p == phys_ptr(si->cmdline_paddr, 1) || p[-1] == ' ') &&
		    strnlen(p, key_len) == key_len && memcmp(p, ITERATIONS_KEY, key_len) == 0)
			break;
	}
	if (!p || !*p)
		return DEFAULT_ITERATIONS;
	for (p += key_len; *p >= '0' && *p <= '9' && n < 1000000000ul; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	return n ? n : DEFAULT_ITERATIONS;
}

static const volatile struct vcpu_time_info *map_pvclock(void)
{
	struct xen_add_to_physmap xatp = {
		.domid = DOMID_SELF,
		.space = XENMAPSPACE_shared_info,
		.idx = 0,
		.gpfn = (uintptr_t)shared_info_page / PAGE_SIZE,
	};

	if (!check_long("XENMEM_add_to_physmap(shared_info)",
			HYPERVISOR_memory_op(XENMEM_add_to_physmap, (uintptr_t)&xatp), 0))
		return NULL;
	return &((volatile struct shared_info *)shared_info_page)->vcpu_info[0].time;
}

/* n null hypercalls, back to back. */
static void hypercall_loop(unsigned long n)
{
	asm volatile("1:\n\t"
		     "mov %[cmd], %%edi\n\t"
		     "xor %%esi, %%esi\n\t"
		     "call hypercall_page + %c[offset]\n\t"
		     "dec %%rbx\n\t"
		     "jnz 1b"
		     : "+b" (n)
		     : [cmd] "i" (XENVER_version), [offset] "i" (__HYPERVISOR_xen_version * 32)
		     : "rax", "rdi", "rsi", "rdx", "r10", "r8", "memory", "cc");
}

void guest_main(const struct hvm_start_info *si)
{
	const volatile struct vcpu_time_info *clock = map_pvclock();
	unsigned long n = parse_iterations(si);
	uint64_t t0, t1;

	if (!clock)
		return;
	/* One call checked, so that the loop times a hypercall that works. */
	if (!check_long("xen_version(XENVER_version) is 4.17",
			HYPERVISOR_xen_version(XENVER_version, NULL), 4 << 16 | 17))
		return;
	t0 = pvclock_read(clock);
	hypercall_loop(n);
	t1 = pvclock_read(clock);
	if (!check(t0 && t1 > t0, "pvclock advanced over the loop"))
		return;
	printf("bench-hypercall: iterations %lu\n", n);
	printf("bench-hypercall: total_ns %llu\n", (unsigned long long)(t1 - t0));
	printf("bench-hypercall: ns_per_call %llu\n", (unsigned long long)((t1 - t0) / n));
}
