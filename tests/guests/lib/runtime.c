/*
 * Start-up after the assembly entry code, hypercall discovery, checks,
 * shutdown, and helpers for the start-of-day structures.
 */
#include "guest.h"

struct entry_state entry_state;
struct xen_cpuid xen_cpuid;

/* Atomic: the vCPUs of an SMP guest count into the same totals. */
static unsigned int checks_ok, checks_failed;

static void count(unsigned int *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* Finds Xen's CPUID leaves the way guests do: the signature may sit at any
 * 0x100 step, e.g. after another hypervisor's leaves. */
static bool xen_cpuid_find(void)
{
	static const char signature[12] = "XenVMMXenVMM";

	for (uint32_t base = 0x40000000; base < 0x40010000; base += 0x100) {
		uint32_t regs[4];

		cpuid(base, &regs[0], &regs[1], &regs[2], &regs[3]);
		if (memcmp(&regs[1], signature, sizeof(signature)) == 0 &&
		    regs[0] - base >= 2) {
			xen_cpuid.base = base;
			return true;
		}
	}
	return false;
}

static bool hypercall_init(void)
{
	uint32_t a, b, c, d;

	if (!xen_cpuid_find()) {
		uart_puts("guest: no XenVMMXenVMM CPUID leaves\n");
		return false;
	}
	cpuid(xen_cpuid.base + 1, &a, &b, &c, &d);
	xen_cpuid.version = a;
	cpuid(xen_cpuid.base + 2, &a, &b, &c, &d);
	xen_cpuid.nr_pages = a;
	xen_cpuid.msr = b;
	if (xen_cpuid.nr_pages < 1) {
		uart_puts("guest: Xen offers no hypercall page\n");
		return false;
	}
	/* Page 0 of the hypercall area; the page number is in bits 11:0. */
	wrmsr(xen_cpuid.msr, (uintptr_t)hypercall_page);
	/* The page was filled with ud2 at build time (xen_image.S). */
	if (hypercall_page[0] == 0x0f && hypercall_page[1] == 0x0b) {
		uart_puts("guest: the hypercall page was not filled in\n");
		return false;
	}
	return true;
}

/* Called by start32.S/start64.S with the address EBX held at entry. */
__attribute__((noreturn)) void guest_entry(uint32_t start_info);

void guest_entry(uint32_t start_info)
{
	trap_init();
	if (!hypercall_init())
		triple_fault();
	guest_main((const struct hvm_start_info *)(uintptr_t)start_info);
	guest_finish();
}

bool check(bool cond, const char *name)
{
	printf("%s - %s\n", cond ? "ok" : "FAIL", name);
	count(cond ? &checks_ok : &checks_failed);
	return cond;
}

bool check_long(const char *name, long got, long want)
{
	if (got == want)
		return check(true, name);
	printf("FAIL - %s (got %ld, want %ld)\n", name, got, want);
	count(&checks_failed);
	return false;
}

bool check_u64(const char *name, uint64_t got, uint64_t want)
{
	if (got == want)
		return check(true, name);
	printf("FAIL - %s (got %#llx, want %#llx)\n", name,
	       (unsigned long long)got, (unsigned long long)want);
	count(&checks_failed);
	return false;
}

void guest_finish(void)
{
	if (checks_ok + checks_failed)
		printf("guest-checks: %u ok, %u failed\n", checks_ok,
		       checks_failed);
	guest_exit(checks_failed ? SHUTDOWN_crash : SHUTDOWN_poweroff);
}

void guest_exit(unsigned int reason)
{
	struct sched_shutdown shutdown = { .reason = reason };
	long rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &shutdown);

	/* SCHEDOP_shutdown does not return; stop the machine regardless. */
	printf("guest: SCHEDOP_shutdown returned %ld\n", rc);
	triple_fault();
}

void triple_fault(void)
{
	static const struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };

	asm volatile("lidt %0; ud2" : : "m" (empty_idt));
	__builtin_unreachable();
}

const struct hvm_memmap_table_entry *memmap_find(const struct hvm_start_info *si,
						 uint64_t addr, uint64_t len)
{
	const struct hvm_memmap_table_entry *map;
	uint32_t n = si->memmap_entries;

	if (si->version < 1 || !si->memmap_paddr)
		return NULL;
	map = phys_ptr(si->memmap_paddr, (uint64_t)n * sizeof(*map));
	if (!map || addr + len < addr)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if (addr >= map[i].addr && addr + len <= map[i].addr + map[i].size)
			return &map[i];
	return NULL;
}

bool memmap_is_ram(const struct hvm_start_info *si, uint64_t addr, uint64_t len)
{
	const struct hvm_memmap_table_entry *e = memmap_find(si, addr, len);

	return e && e->type == XEN_HVM_MEMMAP_TYPE_RAM;
}

const void *phys_ptr(uint64_t addr, uint64_t len)
{
	const uint64_t mapped = 1ull << 32;

	if (!addr || len > mapped || addr > mapped - len)
		return NULL;
	return (const void *)(uintptr_t)addr;
}

/* (delta * mul) >> 32 with a 96-bit intermediate, in 32x32 multiplies. */
static uint64_t scale_delta(uint64_t delta, uint32_t mul)
{
	uint64_t lo = (uint64_t)(uint32_t)delta * mul;
	uint64_t hi = (uint64_t)(uint32_t)(delta >> 32) * mul;

	return hi + (lo >> 32);
}

uint64_t pvclock_read(const volatile struct vcpu_time_info *t)
{
	/* An odd or changing version means an update is in progress; a
	 * broken hypervisor must not hang the guest, so give up eventually. */
	for (unsigned int tries = 0; tries < 1000; tries++) {
		uint32_t version = t->version;
		uint64_t delta, ns;
		int8_t shift;

		asm volatile("" : : : "memory");
		delta = rdtsc() - t->tsc_timestamp;
		shift = t->tsc_shift;
		if (shift >= 0)
			delta <<= shift;
		else
			delta >>= -shift;
		ns = t->system_time + scale_delta(delta, t->tsc_to_system_mul);
		asm volatile("" : : : "memory");
		if (!(version & 1) && version == t->version)
			return ns;
	}
	return 0;
}
