/*
 * Guest physical memory: layout, the checked accessor's bounds, the copy
 * helpers across region boundaries and the memory map.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ept/guest_mem.h"

#define PG          GMEM_PAGE_SIZE
#define MiB         (1ULL << 20)
#define GiB         (1ULL << 30)
#define SMALL_RAM   (64 * MiB)
#define BIG_RAM     (8 * GiB)       /* 3 GiB low + 5 GiB above 4 GiB */
#define SPECIAL_END (GMEM_SPECIAL_BASE + GMEM_SPECIAL_SIZE)

static struct guest_mem gm;

static void setup_small(void)
{
	ck_assert_int_eq(gmem__init(&gm, SMALL_RAM), 0);
}

/* MAP_NORESERVE: 8 GiB of address space, host memory only for touched pages. */
static void setup_big(void)
{
	ck_assert_int_eq(gmem__init(&gm, BIG_RAM), 0);
}

static void teardown(void)
{
	gmem__free(&gm);
}

START_TEST(test_init_rejects_bad_sizes)
{
	static const uint64_t bad[] = { 0, 1, PG - 1, PG + 1, 3 * PG + 512 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(gmem__init(&gm, bad[i]), -EINVAL);
		ck_assert_int_eq(gm.nr_regions, 0);
		gmem__free(&gm);
	}
}
END_TEST

/* Too large to map: the error comes back and nothing stays mapped. */
START_TEST(test_init_too_big_fails_cleanly)
{
	ck_assert_int_lt(gmem__init(&gm, 1ULL << 62), 0);
	ck_assert_int_eq(gm.nr_regions, 0);
	gmem__free(&gm);
}
END_TEST

START_TEST(test_free_twice)
{
	ck_assert_int_eq(gmem__init(&gm, PG), 0);
	gmem__free(&gm);
	ck_assert_int_eq(gm.nr_regions, 0);
	gmem__free(&gm);
	ck_assert_int_eq(gm.nr_regions, 0);
}
END_TEST

START_TEST(test_small_layout)
{
	struct gmem_range map[GMEM_MAX_REGIONS];

	ck_assert_uint_eq(gm.ram_size, SMALL_RAM);
	ck_assert_int_eq(gmem__memory_map(&gm, map, GMEM_MAX_REGIONS), 2);
	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, SMALL_RAM);
	ck_assert_uint_eq(map[0].type, GMEM_TYPE_RAM);
	ck_assert_uint_eq(map[1].addr, GMEM_SPECIAL_BASE);
	ck_assert_uint_eq(map[1].size, GMEM_SPECIAL_SIZE);
	ck_assert_uint_eq(map[1].type, GMEM_TYPE_RESERVED);
	ck_assert_uint_eq(gmem__ram_end_pfn(&gm), SMALL_RAM >> GMEM_PAGE_SHIFT);
}
END_TEST

START_TEST(test_big_layout)
{
	struct gmem_range map[GMEM_MAX_REGIONS];

	ck_assert_uint_eq(gm.ram_size, BIG_RAM);
	ck_assert_int_eq(gmem__memory_map(&gm, map, GMEM_MAX_REGIONS), 3);
	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, GMEM_LOW_RAM_TOP);
	ck_assert_uint_eq(map[0].type, GMEM_TYPE_RAM);
	ck_assert_uint_eq(map[1].addr, GMEM_SPECIAL_BASE);
	ck_assert_uint_eq(map[1].size, GMEM_SPECIAL_SIZE);
	ck_assert_uint_eq(map[1].type, GMEM_TYPE_RESERVED);
	ck_assert_uint_eq(map[2].addr, GMEM_HIGH_RAM_BASE);
	ck_assert_uint_eq(map[2].size, BIG_RAM - GMEM_LOW_RAM_TOP);
	ck_assert_uint_eq(map[2].type, GMEM_TYPE_RAM);
	/* Sorted and disjoint. */
	for (int i = 1; i < 3; i++)
		ck_assert_uint_le(map[i - 1].addr + map[i - 1].size, map[i].addr);
	ck_assert_uint_eq(gmem__ram_end_pfn(&gm),
			  (GMEM_HIGH_RAM_BASE + BIG_RAM - GMEM_LOW_RAM_TOP) >> GMEM_PAGE_SHIFT);
}
END_TEST

/* Exactly the low-RAM limit stays in one region; one page more splits. */
START_TEST(test_split_threshold)
{
	struct gmem_range map[GMEM_MAX_REGIONS];

	ck_assert_int_eq(gmem__init(&gm, GMEM_LOW_RAM_TOP), 0);
	ck_assert_int_eq(gmem__memory_map(&gm, map, GMEM_MAX_REGIONS), 2);
	ck_assert_uint_eq(gmem__ram_end_pfn(&gm), GMEM_LOW_RAM_TOP >> GMEM_PAGE_SHIFT);
	gmem__free(&gm);

	ck_assert_int_eq(gmem__init(&gm, GMEM_LOW_RAM_TOP + PG), 0);
	ck_assert_int_eq(gmem__memory_map(&gm, map, GMEM_MAX_REGIONS), 3);
	ck_assert_uint_eq(map[2].addr, GMEM_HIGH_RAM_BASE);
	ck_assert_uint_eq(map[2].size, PG);
	ck_assert_uint_eq(gmem__ram_end_pfn(&gm), (GMEM_HIGH_RAM_BASE >> GMEM_PAGE_SHIFT) + 1);
	ck_assert_ptr_nonnull(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + PG - 1, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + PG, 1));
	gmem__free(&gm);
}
END_TEST

/* A short out[] gets only max entries, but the count is the whole map's. */
START_TEST(test_memory_map_short_buffer)
{
	struct gmem_range map[2];

	memset(map, 0xAB, sizeof(map));
	ck_assert_int_eq(gmem__memory_map(&gm, map, 1), 2);
	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, SMALL_RAM);
	ck_assert_uint_eq(map[1].addr, 0xABABABABABABABABULL);
	ck_assert_int_eq(gmem__memory_map(&gm, NULL, 0), 2);
}
END_TEST

START_TEST(test_ptr_bounds)
{
	uint8_t *base = gmem__ptr(&gm, 0, SMALL_RAM);

	ck_assert_ptr_nonnull(base);
	ck_assert_ptr_eq(gmem__ptr(&gm, SMALL_RAM - 1, 1), base + SMALL_RAM - 1);
	ck_assert_ptr_nonnull(gmem__ptr(&gm, 0x1234, 0));
	ck_assert_ptr_null(gmem__ptr(&gm, SMALL_RAM - 1, 2));
	ck_assert_ptr_null(gmem__ptr(&gm, SMALL_RAM, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, 0, SMALL_RAM + 1));
	/* Lengths that make gpa + len wrap. */
	ck_assert_ptr_null(gmem__ptr(&gm, UINT64_MAX, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, UINT64_MAX - 10, 100));
	ck_assert_ptr_null(gmem__ptr(&gm, PG, UINT64_MAX));
	ck_assert_ptr_null(gmem__ptr(&gm, SMALL_RAM - PG, UINT64_MAX - SMALL_RAM + PG + 1));
	/* Between RAM and the special pages, and past them. */
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_SPECIAL_BASE - 1, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_SPECIAL_BASE - 1, 2));
	ck_assert_ptr_null(gmem__ptr(&gm, SPECIAL_END - 1, 2));
	ck_assert_ptr_null(gmem__ptr(&gm, SPECIAL_END, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE, 1));
}
END_TEST

START_TEST(test_ptr_bounds_high)
{
	ck_assert_ptr_nonnull(gmem__ptr(&gm, GMEM_LOW_RAM_TOP - 1, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_LOW_RAM_TOP - 1, 2));   /* RAM into the gap */
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_LOW_RAM_TOP, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE - 1, 2)); /* gap into RAM */
	ck_assert_ptr_nonnull(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE, BIG_RAM - GMEM_LOW_RAM_TOP));
	ck_assert_ptr_nonnull(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + BIG_RAM - GMEM_LOW_RAM_TOP - 1, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + BIG_RAM - GMEM_LOW_RAM_TOP, 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE, BIG_RAM - GMEM_LOW_RAM_TOP + 1));
	ck_assert_ptr_null(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + PG, UINT64_MAX - PG));
}
END_TEST

START_TEST(test_special_pages)
{
	uint8_t *store = gmem__ptr(&gm, gmem__special_gpa(GMEM_SPECIAL_XENSTORE), PG);
	uint8_t *cons = gmem__ptr(&gm, gmem__special_gpa(GMEM_SPECIAL_CONSOLE), PG);
	uint8_t buf[4];

	ck_assert_uint_eq(gmem__special_gpa(GMEM_SPECIAL_XENSTORE), GMEM_SPECIAL_BASE);
	ck_assert_uint_eq(gmem__special_gpa(GMEM_SPECIAL_CONSOLE), GMEM_SPECIAL_BASE + PG);
	ck_assert_ptr_nonnull(store);
	ck_assert_ptr_eq(cons, store + PG);
	ck_assert_ptr_nonnull(gmem__ptr(&gm, GMEM_SPECIAL_BASE, GMEM_SPECIAL_SIZE));
	ck_assert_ptr_nonnull(gmem__frame(&gm, GMEM_SPECIAL_BASE >> GMEM_PAGE_SHIFT));

	memcpy(cons, "xen", 4);
	ck_assert_int_eq(gmem__read(&gm, GMEM_SPECIAL_BASE + PG, buf, 4), 0);
	ck_assert_str_eq((char *)buf, "xen");

	ck_assert(!gmem__is_ram(&gm, GMEM_SPECIAL_BASE, 1));
	ck_assert(!gmem__is_ram(&gm, gmem__special_gpa(GMEM_SPECIAL_CONSOLE), PG));
	ck_assert(!gmem__is_ram(&gm, GMEM_SPECIAL_BASE - PG, 2 * PG));
	/* Special pages are not RAM: the RAM end stops below them. */
	ck_assert_uint_lt(gmem__ram_end_pfn(&gm), GMEM_SPECIAL_BASE >> GMEM_PAGE_SHIFT);
}
END_TEST

START_TEST(test_is_ram)
{
	ck_assert(gmem__is_ram(&gm, 0, SMALL_RAM));
	ck_assert(gmem__is_ram(&gm, SMALL_RAM - 1, 1));
	ck_assert(!gmem__is_ram(&gm, 0, SMALL_RAM + 1));
	ck_assert(!gmem__is_ram(&gm, SMALL_RAM, 1));
	ck_assert(!gmem__is_ram(&gm, PG, UINT64_MAX));
	ck_assert(!gmem__is_ram(&gm, UINT64_MAX, 1));
}
END_TEST

START_TEST(test_is_ram_high)
{
	ck_assert(gmem__is_ram(&gm, GMEM_HIGH_RAM_BASE, PG));
	ck_assert(gmem__is_ram(&gm, GMEM_LOW_RAM_TOP - PG, PG));
	ck_assert(!gmem__is_ram(&gm, GMEM_LOW_RAM_TOP - PG, 2 * PG));
	ck_assert(!gmem__is_ram(&gm, GMEM_HIGH_RAM_BASE - PG, 2 * PG));
}
END_TEST

START_TEST(test_frame)
{
	uint64_t last = (SMALL_RAM >> GMEM_PAGE_SHIFT) - 1;

	ck_assert_ptr_eq(gmem__frame(&gm, 0), gmem__ptr(&gm, 0, 1));
	ck_assert_ptr_eq(gmem__frame(&gm, last), gmem__ptr(&gm, last << GMEM_PAGE_SHIFT, 1));
	ck_assert_ptr_null(gmem__frame(&gm, last + 1));
	ck_assert_ptr_null(gmem__frame(&gm, UINT64_MAX >> GMEM_PAGE_SHIFT));
	ck_assert_ptr_null(gmem__frame(&gm, UINT64_MAX));
	/* gfn << 12 would wrap to a RAM frame. */
	ck_assert_ptr_null(gmem__frame(&gm, (1ULL << 52) + 1));
}
END_TEST

START_TEST(test_read_write)
{
	static const char msg[] = "across a page boundary";
	char buf[sizeof(msg)];
	uint8_t *host = gmem__ptr(&gm, 0, SMALL_RAM);

	ck_assert_int_eq(gmem__write(&gm, PG - 5, msg, sizeof(msg)), 0);
	ck_assert_mem_eq(host + PG - 5, msg, sizeof(msg));
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(gmem__read(&gm, PG - 5, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, msg);

	/* Running off the end of RAM or into the special pages fails. */
	ck_assert_int_eq(gmem__write(&gm, SMALL_RAM - 8, msg, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, SMALL_RAM - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, GMEM_SPECIAL_BASE - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, SPECIAL_END - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, UINT64_MAX - 3, buf, 8), -EFAULT);
	ck_assert_int_eq(gmem__write(&gm, SMALL_RAM, msg, 1), -EFAULT);
	/* Nothing to copy: nothing checked, nothing touched. */
	ck_assert_int_eq(gmem__read(&gm, UINT64_MAX, NULL, 0), 0);
}
END_TEST

START_TEST(test_read_write_high)
{
	static const char msg[] = "high";
	char buf[16];
	uint64_t high_end = GMEM_HIGH_RAM_BASE + BIG_RAM - GMEM_LOW_RAM_TOP;

	ck_assert_int_eq(gmem__write(&gm, GMEM_HIGH_RAM_BASE + 3 * PG - 2, msg, sizeof(msg)), 0);
	ck_assert_mem_eq(gmem__ptr(&gm, GMEM_HIGH_RAM_BASE + 3 * PG - 2, sizeof(msg)),
			 msg, sizeof(msg));
	ck_assert_int_eq(gmem__read(&gm, GMEM_HIGH_RAM_BASE + 3 * PG - 2, buf, sizeof(msg)), 0);
	ck_assert_str_eq(buf, msg);

	ck_assert_int_eq(gmem__read(&gm, GMEM_LOW_RAM_TOP - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__write(&gm, GMEM_HIGH_RAM_BASE - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, high_end - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gmem__read(&gm, high_end - 8, buf, 8), 0);
}
END_TEST

static int open_vm(int *kvm)
{
	*kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (*kvm < 0)
		return -1;
	return ioctl(*kvm, KVM_CREATE_VM, 0);
}

START_TEST(test_register)
{
	int kvm, vm;

	ck_assert_int_eq(gmem__register(&gm, -1), -EBADF);
	vm = open_vm(&kvm);
	if (vm < 0) {
		if (kvm >= 0)
			close(kvm);
		return;   /* no usable KVM here: only the error path is checked */
	}
	ck_assert_int_eq(gmem__register(&gm, vm), 0);
	close(vm);
	close(kvm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guest_mem");
	TCase *init = tcase_create("init");
	TCase *small = tcase_create("small");
	TCase *big = tcase_create("big");
	SRunner *sr;
	int failed;

	tcase_add_test(init, test_init_rejects_bad_sizes);
	tcase_add_test(init, test_init_too_big_fails_cleanly);
	tcase_add_test(init, test_free_twice);
	tcase_add_test(init, test_split_threshold);
	suite_add_tcase(s, init);

	tcase_add_checked_fixture(small, setup_small, teardown);
	tcase_add_test(small, test_small_layout);
	tcase_add_test(small, test_memory_map_short_buffer);
	tcase_add_test(small, test_ptr_bounds);
	tcase_add_test(small, test_special_pages);
	tcase_add_test(small, test_is_ram);
	tcase_add_test(small, test_frame);
	tcase_add_test(small, test_read_write);
	suite_add_tcase(s, small);

	tcase_add_checked_fixture(big, setup_big, teardown);
	tcase_add_test(big, test_big_layout);
	tcase_add_test(big, test_ptr_bounds_high);
	tcase_add_test(big, test_is_ram_high);
	tcase_add_test(big, test_read_write_high);
	tcase_add_test(big, test_register);
	suite_add_tcase(s, big);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
