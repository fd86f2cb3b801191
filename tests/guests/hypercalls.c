/*
 * Calls each hypercall a PVH guest relies on and checks the results
 * against the Xen ABI, including the error paths (-EFAULT for bad
 * pointers, -ENOSYS for unknown operations, -EINVAL for bad indices).
 */
#include "guest.h"

#define MAX_E820 32

/* XENMEM_memory_map fills the BIOS e820 layout: 20-byte packed entries. */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct e820_entry) == 20, "e820 entries are 20 bytes");

struct bad_ptr {
	unsigned long addr;
	const char *what;
};

#ifdef __x86_64__
static const struct bad_ptr bad_ptrs[] = {
	{ NONCANONICAL_VA, "non-canonical" },
	{ UNMAPPED_VA, "unmapped" },
};
#else
/* Paging is off: an address far beyond RAM. */
static const struct bad_ptr bad_ptrs[] = { { 0xf0000000ul, "beyond RAM" } };
#endif
#define NR_BAD_PTRS (sizeof(bad_ptrs) / sizeof(bad_ptrs[0]))

static uint8_t shared_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t vcpu_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static char cross_page[2 * PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

#define VCPU_INFO_OFFSET 128

static unsigned long pfn_of(const void *p)
{
	return (uintptr_t)p / PAGE_SIZE;    /* identity mapped */
}

static void test_xen_version(void)
{
	xen_extraversion_t extra;
	struct xen_feature_info fi = { .submap_idx = 0 };
	struct xen_platform_parameters pp = { 0 };
	long version = HYPERVISOR_xen_version(XENVER_version, NULL);
	long rc;

	printf("xen_version: %ld.%ld\n", version >> 16, version & 0xffff);
	check_long("XENVER_version is 4.17", version, 4 << 16 | 17);
	check_long("CPUID leaf base+1 agrees with XENVER_version",
		   (long)xen_cpuid.version, version);

	memset(extra, 0x55, sizeof(extra));
	rc = HYPERVISOR_xen_version(XENVER_extraversion, extra);
	check_long("XENVER_extraversion", rc, 0);
	if (check(strnlen(extra, sizeof(extra)) < sizeof(extra),
		  "extraversion NUL-terminated"))
		printf("extraversion: '%s'\n", extra);

	rc = HYPERVISOR_xen_version(XENVER_get_features, &fi);
	check_long("XENVER_get_features", rc, 0);
	printf("features[0]: %#x\n", fi.submap);
	check(fi.submap & (1u << XENFEAT_auto_translated_physmap),
	      "XENFEAT_auto_translated_physmap");

	check_long("XENVER_pagesize", HYPERVISOR_xen_version(XENVER_pagesize, NULL),
		   PAGE_SIZE);

	rc = HYPERVISOR_xen_version(XENVER_platform_parameters, &pp);
	check_long("XENVER_platform_parameters", rc, 0);
	printf("virt_start: %#lx\n", (unsigned long)pp.virt_start);

	check_long("unknown XENVER sub-op is -ENOSYS",
		   HYPERVISOR_xen_version(99, NULL), -XEN_ENOSYS);
}

static void test_console_io(void)
{
	static const char msg[] = "hypercalls: console_io across a page boundary ok\n";
	size_t len = sizeof(msg) - 1;
	char *buf = cross_page + PAGE_SIZE - 10;
	char name[96];
	long rc;

	for (size_t i = 0; i < NR_BAD_PTRS; i++) {
		snprintf(name, sizeof(name),
			 "console_io write from a bad pointer (%s) is -EFAULT",
			 bad_ptrs[i].what);
		check_long(name, HYPERVISOR_console_io(CONSOLEIO_write, 4,
						       bad_ptrs[i].addr),
			   -XEN_EFAULT);
	}
	check_long("unknown console_io sub-op is -ENOSYS",
		   HYPERVISOR_console_io(99, 0, 0), -XEN_ENOSYS);

	memcpy(buf, msg, len);
	rc = HYPERVISOR_console_io(CONSOLEIO_write, (int)len, (uintptr_t)buf);
	check_long("console_io write across a page boundary", rc, 0);
}

/* Reads XENMEM_memory_map with room for `room` entries into map. */
static long memory_map(struct e820_entry *map, unsigned int room,
		       unsigned int *nr)
{
	struct xen_memory_map mm = { .nr_entries = room };
	long rc;

	set_xen_guest_handle(mm.buffer, map);
	rc = HYPERVISOR_memory_op(XENMEM_memory_map, (uintptr_t)&mm);
	*nr = mm.nr_entries;
	return rc;
}

static bool e820_matches(const struct e820_entry *e,
			 const struct hvm_memmap_table_entry *m)
{
	return e->addr == m->addr && e->size == m->size && e->type == m->type;
}

static void test_memory_map(const struct hvm_start_info *si)
{
	static struct e820_entry map[MAX_E820];
	const struct hvm_memmap_table_entry *sm;
	struct xen_memory_map bad = { .nr_entries = MAX_E820 };
	unsigned int nr;
	char name[96];
	bool same;
	long rc;

	sm = phys_ptr(si->memmap_paddr,
		      (uint64_t)si->memmap_entries * sizeof(*sm));
	rc = memory_map(map, MAX_E820, &nr);
	if (check_long("XENMEM_memory_map", rc, 0))
		for (unsigned int i = 0; i < nr && i < MAX_E820; i++)
			printf("e820[%u]: %#llx + %#llx type %u\n", i,
			       (unsigned long long)map[i].addr,
			       (unsigned long long)map[i].size, map[i].type);
	same = rc == 0 && sm && nr == si->memmap_entries;
	for (unsigned int i = 0; same && i < nr; i++)
		same = e820_matches(&map[i], &sm[i]);
	check(same, "XENMEM_memory_map agrees with the start_info memmap");

	/* A short buffer gets the first entries, not an error. */
	memset(map, 0, sizeof(map));
	rc = memory_map(map, 1, &nr);
	check(rc == 0 && nr == 1 && sm && e820_matches(&map[0], &sm[0]),
	      "XENMEM_memory_map fills a one-entry buffer");

	for (size_t i = 0; i < NR_BAD_PTRS; i++) {
		snprintf(name, sizeof(name),
			 "XENMEM_memory_map with a bad argument (%s) is -EFAULT",
			 bad_ptrs[i].what);
		check_long(name, HYPERVISOR_memory_op(XENMEM_memory_map,
						      bad_ptrs[i].addr),
			   -XEN_EFAULT);
		snprintf(name, sizeof(name),
			 "XENMEM_memory_map into a bad buffer (%s) is -EFAULT",
			 bad_ptrs[i].what);
		set_xen_guest_handle(bad.buffer, (void *)bad_ptrs[i].addr);
		check_long(name, HYPERVISOR_memory_op(XENMEM_memory_map,
						      (uintptr_t)&bad),
			   -XEN_EFAULT);
	}
}

static void test_reservation(void)
{
	domid_t self = DOMID_SELF;
	long cur = HYPERVISOR_memory_op(XENMEM_current_reservation, (uintptr_t)&self);
	long max = HYPERVISOR_memory_op(XENMEM_maximum_reservation, (uintptr_t)&self);
	long top = HYPERVISOR_memory_op(XENMEM_maximum_ram_page, 0);

	printf("reservation: current %ld, maximum %ld pages; maximum_ram_page %ld\n",
	       cur, max, top);
	check(cur > 0, "XENMEM_current_reservation > 0");
	check(cur > 0 && max >= cur, "XENMEM_maximum_reservation >= current");
	check(top > 0, "XENMEM_maximum_ram_page > 0");
}

static void test_shared_info(void)
{
	volatile struct shared_info *sh = (volatile void *)shared_info_page;
	volatile struct vcpu_time_info *t = &sh->vcpu_info[0].time;
	struct xen_add_to_physmap xatp = {
		.domid = DOMID_SELF,
		.space = XENMAPSPACE_shared_info,
		.idx = 0,
		.gpfn = pfn_of(shared_info_page),
	};
	uint64_t t1, t2;
	uint32_t wc_version = 0, wc_sec = 0;
	long rc;

	rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, (uintptr_t)&xatp);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", rc, 0))
		return;

	for (unsigned int tries = 0; tries < 1000; tries++) {
		wc_version = sh->wc_version;
		asm volatile("" : : : "memory");
		wc_sec = sh->wc_sec;
		asm volatile("" : : : "memory");
		if (!(wc_version & 1) && wc_version == sh->wc_version)
			break;
	}
	printf("shared_info: wc_version %u wc_sec %u; time version %u mul %u shift %d\n",
	       wc_version, wc_sec, t->version, t->tsc_to_system_mul, t->tsc_shift);
	check(!(wc_version & 1), "shared_info wc_version even");
	check(wc_sec > 1600000000u, "shared_info wc_sec is a plausible date");
	check(!(t->version & 1), "vcpu_info[0].time.version even");
	check(t->tsc_to_system_mul != 0, "vcpu_info[0].time.tsc_to_system_mul != 0");

	t1 = pvclock_read(t);
	t2 = pvclock_read(t);
	printf("system time: %llu ns, then %llu ns\n", (unsigned long long)t1,
	       (unsigned long long)t2);
	check(t1 != 0, "pvclock system time nonzero");
	check(t2 >= t1, "pvclock system time monotonic");
}

static bool test_vcpu_info(void)
{
	volatile struct vcpu_info *vi =
		(volatile void *)(vcpu_info_page + VCPU_INFO_OFFSET);
	struct vcpu_register_vcpu_info reg = {
		.mfn = pfn_of(vcpu_info_page),
		.offset = VCPU_INFO_OFFSET,
	};
	long rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &reg);

	if (!check_long("VCPUOP_register_vcpu_info", rc, 0))
		return false;
	printf("registered vcpu_info: time version %u system_time %llu\n",
	       vi->time.version, (unsigned long long)vi->time.system_time);
	check(!(vi->time.version & 1), "registered vcpu_info time.version even");
	check(vi->time.system_time != 0, "registered vcpu_info system_time nonzero");
	return check(pvclock_read(&vi->time) != 0,
		     "pvclock through the registered vcpu_info");
}

/* A ring page the guest gets from HVM_PARAM_*_PFN must not be RAM, or the
 * guest's allocator could hand it out. */
static void test_ring_param(const struct hvm_start_info *si, uint32_t index,
			    const char *name, const char *outside_ram)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

	check_long(name, rc, 0);
	printf("%s: %#llx\n", name, (unsigned long long)p.value);
	if (rc == 0 && p.value)
		check(!memmap_is_ram(si, p.value * PAGE_SIZE, PAGE_SIZE), outside_ram);
}

static void test_hvm_op(const struct hvm_start_info *si)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF };

	test_ring_param(si, HVM_PARAM_STORE_PFN, "HVMOP_get_param(HVM_PARAM_STORE_PFN)",
			"xenstore page is not RAM");
	test_ring_param(si, HVM_PARAM_CONSOLE_PFN, "HVMOP_get_param(HVM_PARAM_CONSOLE_PFN)",
			"console page is not RAM");

	p.index = HVM_NR_PARAMS;
	check_long("HVMOP_get_param beyond HVM_NR_PARAMS is -EINVAL",
		   HYPERVISOR_hvm_op(HVMOP_get_param, &p), -XEN_EINVAL);
}

static void test_sched_op(const volatile struct vcpu_time_info *t)
{
	struct sched_poll poll = { .nr_ports = 0 };
	uint64_t start, deadline, end;
	long rc;

	check_long("SCHEDOP_yield", HYPERVISOR_sched_op(SCHEDOP_yield, NULL), 0);

	/* The timeout is absolute Xen system time. */
	set_xen_guest_handle(poll.ports, NULL);
	start = pvclock_read(t);
	deadline = start + 1000000;
	poll.timeout = deadline;
	rc = HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
	end = pvclock_read(t);
	printf("SCHEDOP_poll: returned %ld after %llu ns\n", rc,
	       (unsigned long long)(end - start));
	check_long("SCHEDOP_poll with no ports and a 1 ms timeout", rc, 0);
	/* Xen may fire a timer up to its timer slop (50 us) early. */
	check(start != 0 && end + 100000 >= deadline,
	      "SCHEDOP_poll slept until its timeout");

	check_long("unknown sched_op sub-op is -ENOSYS",
		   HYPERVISOR_sched_op(99, NULL), -XEN_ENOSYS);
}

#ifdef __x86_64__
/* Hypercall buffers are guest-virtual: these reach the hypervisor only
 * through the guest's own page tables. */
static void test_virtual_buffers(void)
{
	static const char alias_msg[] = "hypercalls: console_io through the high alias ok\n";
	static const char scatter_msg[] = "hypercalls: console_io across scattered pages ok\n";
	unsigned long alias = HIGH_ALIAS_BASE + (uintptr_t)alias_msg;
	char *scattered = (char *)SCATTER_VA + PAGE_SIZE - 16;
	size_t len = sizeof(scatter_msg) - 1;
	long rc;

	check(memcmp((const void *)alias, alias_msg, sizeof(alias_msg)) == 0,
	      "guest reads through the high alias");
	rc = HYPERVISOR_console_io(CONSOLEIO_write, sizeof(alias_msg) - 1, alias);
	check_long("console_io write through the high alias", rc, 0);

	memcpy(scattered, scatter_msg, len);
	check(memcmp(scatter_page_b + PAGE_SIZE - 16, scatter_msg, 16) == 0 &&
	      memcmp(scatter_page_a, scatter_msg + 16, len - 16) == 0,
	      "scattered virtual pages land in swapped physical pages");
	rc = HYPERVISOR_console_io(CONSOLEIO_write, (int)len, (uintptr_t)scattered);
	check_long("console_io write across scattered pages", rc, 0);
}
#endif

/* Nothing answers at COM2's ports or in the HPET's MMIO window: reads
 * return all-ones and writes are dropped, as on a bus with no device. */
static void test_unclaimed_io(void)
{
	volatile uint8_t *hpet = (volatile uint8_t *)(uintptr_t)0xfed00000u;

	check(inb(0x2f8) == 0xff, "a read from an unclaimed port returns all-ones");
	outb(0x2ff, 0x5a);
	check(inb(0x2ff) == 0xff, "a write to an unclaimed port is dropped");
	check(mmio_read32((uintptr_t)hpet) == 0xffffffffu,
	      "a read from unclaimed MMIO returns all-ones");
	mmio_write32((uintptr_t)hpet + 0x10, 0x12345678);
	check(mmio_read32((uintptr_t)hpet + 0x10) == 0xffffffffu,
	      "a write to unclaimed MMIO is dropped");
}

void guest_main(const struct hvm_start_info *si)
{
	volatile struct vcpu_time_info *time;

	printf("hypercalls: %u-bit guest, Xen CPUID base %#x, hypercall MSR %#x\n",
	       GUEST_BITS, xen_cpuid.base, xen_cpuid.msr);
	test_xen_version();
	test_console_io();
	test_memory_map(si);
	test_reservation();
	test_shared_info();
	test_hvm_op(si);
	/* Once registered, only the new vcpu_info is kept up to date. */
	if (test_vcpu_info())
		time = &((volatile struct vcpu_info *)
			 (vcpu_info_page + VCPU_INFO_OFFSET))->time;
	else
		time = &((volatile struct shared_info *)
			 shared_info_page)->vcpu_info[0].time;
	test_sched_op(time);
	check_long("unknown hypercall 60 is -ENOSYS", _hypercall0(60), -XEN_ENOSYS);
	test_unclaimed_io();
#ifdef __x86_64__
	test_virtual_buffers();
#endif
}
