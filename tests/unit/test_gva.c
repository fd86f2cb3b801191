/*
 * Guest-virtual translation: page tables are built inside real guest memory
 * for each paging mode and walked by gva__translate()/gva__read()/
 * gva__write().
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ept/guest_mem.h"
#include "ept/gva.h"

#define PG          GMEM_PAGE_SIZE
#define MiB         (1ULL << 20)
#define GiB         (1ULL << 30)
#define RAM_SIZE    (64 * MiB)
#define TABLES_BASE (48 * MiB)      /* page tables are allocated from here up */
#define OUTSIDE     (128 * MiB)     /* below 4 GiB, above RAM */

#define CR0_PE      (1ULL << 0)
#define CR0_WP      (1ULL << 16)
#define CR0_PG      (1ULL << 31)
#define CR4_PSE     (1ULL << 4)
#define CR4_PAE     (1ULL << 5)
#define CR4_LA57    (1ULL << 12)
#define EFER_LME    (1ULL << 8)
#define EFER_LMA    (1ULL << 10)
#define EFER_NXE    (1ULL << 11)

#define P           (1ULL << 0)
#define RW          (1ULL << 1)
#define PS          (1ULL << 7)
#define XD          (1ULL << 63)
#define ADDR64      0x000FFFFFFFFFF000ULL
#define ADDR32      0xFFFFF000ULL

enum mode { MODE_32, MODE_PAE, MODE_LONG4, MODE_LONG5, NR_MODES };

static struct guest_mem gm;
static struct gva_mmu mmu;
static enum mode mode;
static uint64_t next_table;

static void setup(void)
{
	ck_assert_int_eq(gmem__init(&gm, RAM_SIZE), 0);
	next_table = TABLES_BASE;
}

static void teardown(void)
{
	gmem__free(&gm);
}

static uint8_t *host(uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem__ptr(&gm, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Fresh guest memory is zero, so a new table has no entry present. */
static uint64_t new_table(void)
{
	uint64_t gpa = next_table;

	ck_assert_uint_lt(gpa, RAM_SIZE);
	next_table += PG;
	return gpa;
}

static int nr_levels(void)
{
	static const int levels[NR_MODES] = { 2, 3, 4, 5 };

	return levels[mode];
}

static unsigned entry_size(void)
{
	return mode == MODE_32 ? 4 : 8;
}

static uint64_t addr_mask(void)
{
	return mode == MODE_32 ? ADDR32 : ADDR64;
}

/* Level 1 is the page table; a PAE PDPT counts as level 3. */
static uint64_t index_of(uint64_t gva, int level)
{
	if (mode == MODE_32)
		return (gva >> (12 + 10 * (level - 1))) & 1023;
	if (mode == MODE_PAE && level == 3)
		return (gva >> 30) & 3;
	return (gva >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t ent_get(uint64_t gpa)
{
	uint64_t v = 0;

	memcpy(&v, host(gpa, entry_size()), entry_size());
	return v;
}

static void ent_set(uint64_t gpa, uint64_t v)
{
	memcpy(host(gpa, entry_size()), &v, entry_size());
}

static uint64_t root_table(void)
{
	return mode == MODE_PAE ? mmu.cr3 & 0xFFFFFFE0ULL : mmu.cr3 & addr_mask();
}

/* Empty page tables for m, CR0.WP set. */
static void start_mode(enum mode m)
{
	uint64_t root = new_table();

	mode = m;
	mmu = (struct gva_mmu){ .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = root };
	switch (m) {
	case MODE_32:
		mmu.cr4 = CR4_PSE;
		break;
	case MODE_PAE:
		/* The PDPT need only be 32-byte aligned. */
		mmu.cr3 = root + 0x60;
		mmu.cr4 = CR4_PAE;
		break;
	case MODE_LONG4:
	case MODE_LONG5:
		mmu.cr4 = CR4_PAE | (m == MODE_LONG5 ? CR4_LA57 : 0);
		mmu.efer = EFER_LME | EFER_LMA | EFER_NXE;
		break;
	case NR_MODES:
		ck_abort();
	}
}

/* Guest-physical address of the entry at `level` on gva's path. */
static uint64_t entry_gpa(uint64_t gva, int level)
{
	uint64_t table = root_table();

	for (int l = nr_levels(); l > level; l--) {
		uint64_t e = ent_get(table + index_of(gva, l) * entry_size());

		ck_assert(e & P);
		table = e & addr_mask();
	}
	return table + index_of(gva, level) * entry_size();
}

/*
 * Maps gva to gpa with a leaf entry at `leaf` (1: 4 KiB page, 2: 2/4 MiB,
 * 3: 1 GiB), creating the tables above; returns the leaf entry's address.
 */
static uint64_t map(uint64_t gva, uint64_t gpa, int leaf, uint64_t flags)
{
	uint64_t table = root_table(), ea;

	for (int l = nr_levels(); l > leaf; l--) {
		uint64_t e;

		ea = table + index_of(gva, l) * entry_size();
		e = ent_get(ea);
		if (!(e & P)) {
			/* A PAE PDPTE has no R/W bit: it is reserved there. */
			e = new_table() | P | (mode == MODE_PAE && l == 3 ? 0 : RW);
			ent_set(ea, e);
		}
		table = e & addr_mask();
	}
	ea = table + index_of(gva, leaf) * entry_size();
	ent_set(ea, gpa | flags | (leaf > 1 ? PS : 0));
	return ea;
}

/* The translation, or XLATE_FAULT (never a guest-physical address). */
#define XLATE_FAULT UINT64_MAX
static uint64_t xlate(uint64_t gva, bool write)
{
	uint64_t gpa;

	return gva__translate(&gm, &mmu, gva, write, &gpa) ? XLATE_FAULT : gpa;
}

/* Both the translation and a one-byte copy fault, and *gpa is left alone. */
static bool faults(uint64_t gva, bool write)
{
	uint64_t gpa = 0xDEAD;
	uint8_t b = 0;
	int copy = write ? gva__write(&gm, &mmu, gva, &b, 1) : gva__read(&gm, &mmu, gva, &b, 1);

	return gva__translate(&gm, &mmu, gva, write, &gpa) == -EFAULT &&
	       gpa == 0xDEAD && copy == -EFAULT;
}

#define assert_fault(gva, write) \
	ck_assert_msg(faults(gva, write), "%s %#llx did not fault", \
		      (write) ? "write" : "read", (unsigned long long)(gva))

static void fill(uint64_t gpa, uint64_t len, uint8_t seed)
{
	uint8_t *p = host(gpa, len);

	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A virtual address below 4 GiB whose indices differ at every level. */
#define VA 0x40201000ULL

START_TEST(test_from_sregs)
{
	struct kvm_sregs s = {
		.cr0 = CR0_PE | CR0_PG, .cr3 = 0x1000, .cr4 = CR4_PAE, .efer = EFER_LMA,
	};
	struct gva_mmu m = gva__mmu_from_sregs(&s);

	ck_assert_uint_eq(m.cr0, CR0_PE | CR0_PG);
	ck_assert_uint_eq(m.cr3, 0x1000);
	ck_assert_uint_eq(m.cr4, CR4_PAE);
	ck_assert_uint_eq(m.efer, EFER_LMA);
}
END_TEST

START_TEST(test_paging_off)
{
	static const char msg[] = "identity, split over two pages";
	char buf[sizeof(msg)];

	mmu = (struct gva_mmu){ .cr0 = CR0_PE };
	ck_assert_uint_eq(xlate(0x12345, true), 0x12345);
	ck_assert_uint_eq(xlate(0xFFFFFFFF, false), 0xFFFFFFFF);
	/* Linear addresses are 32 bits wide. */
	ck_assert_uint_eq(xlate(0x100012345ULL, false), 0x12345);

	ck_assert_int_eq(gva__write(&gm, &mmu, 2 * PG - 7, msg, sizeof(msg)), 0);
	ck_assert_mem_eq(host(2 * PG - 7, sizeof(msg)), msg, sizeof(msg));
	ck_assert_int_eq(gva__read(&gm, &mmu, 2 * PG - 7, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, msg);

	/* Beyond RAM, and running off its end. */
	ck_assert_int_eq(gva__read(&gm, &mmu, RAM_SIZE, buf, 1), -EFAULT);
	ck_assert_int_eq(gva__read(&gm, &mmu, RAM_SIZE - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(gva__write(&gm, &mmu, 0x80000000, msg, 4), -EFAULT);
	/* The special pages are guest memory. */
	ck_assert_int_eq(gva__read(&gm, &mmu, GMEM_SPECIAL_BASE, buf, 4), 0);
	/* Past 4 GiB: rejected rather than wrapped. */
	ck_assert_int_eq(gva__read(&gm, &mmu, 0x100000000ULL, buf, 1), -EFAULT);
	ck_assert_int_eq(gva__read(&gm, &mmu, 0xFFFFFFFF, buf, 2), -EFAULT);

	/* With EFER.LMA all 64 bits count. */
	mmu.efer = EFER_LMA;
	ck_assert_uint_eq(xlate(0x100012345ULL, false), 0x100012345ULL);
	ck_assert_int_eq(gva__read(&gm, &mmu, 0x100000000ULL, buf, 1), -EFAULT);
}
END_TEST

/* Identity and non-identity 4 KiB mappings, in every mode. */
START_TEST(test_map_4k)
{
	uint8_t buf[64];

	start_mode(_i);
	map(VA, 0x1234000, 1, P | RW);
	map(0x345000, 0x345000, 1, P | RW);
	fill(0x1234000, PG, 1);

	ck_assert_uint_eq(xlate(VA, false), 0x1234000);
	ck_assert_uint_eq(xlate(VA + 0xABC, true), 0x1234ABC);
	ck_assert_uint_eq(xlate(0x345678, false), 0x345678);
	ck_assert_int_eq(gva__read(&gm, &mmu, VA + 0x100, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, host(0x1234100, sizeof(buf)), sizeof(buf));
	/* The neighbouring pages have no PTE. */
	assert_fault(VA + PG, false);
	assert_fault(VA - 1, false);
}
END_TEST

/* 4 MiB pages in 32-bit mode, 2 MiB pages in the others. */
START_TEST(test_large_page)
{
	uint64_t size, gva, gpa;
	uint8_t buf[32];

	start_mode(_i);
	size = mode == MODE_32 ? 4 * MiB : 2 * MiB;
	gva = 0x40000000 + 3 * size;
	gpa = 2 * size;
	map(gva, gpa, 2, P | RW);
	fill(gpa + 0x12345, sizeof(buf), 9);

	ck_assert_uint_eq(xlate(gva, true), gpa);
	ck_assert_uint_eq(xlate(gva + size - 1, false), gpa + size - 1);
	ck_assert_int_eq(gva__read(&gm, &mmu, gva + 0x12345, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, host(gpa + 0x12345, sizeof(buf)), sizeof(buf));
	assert_fault(gva + size, false);
}
END_TEST

/* Two adjacent virtual pages on non-adjacent, descending physical pages. */
START_TEST(test_cross_page)
{
	const uint64_t lo = 0x2000000, hi = 0x1000000;
	uint8_t buf[64], out[64];

	start_mode(_i);
	map(VA, lo, 1, P | RW);
	map(VA + PG, hi, 1, P | RW);
	fill(lo, PG, 3);
	fill(hi, PG, 100);

	ck_assert_int_eq(gva__read(&gm, &mmu, VA + PG - 32, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, host(lo + PG - 32, 32), 32);
	ck_assert_mem_eq(buf + 32, host(hi, 32), 32);

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(0xC0 ^ i);
	ck_assert_int_eq(gva__write(&gm, &mmu, VA + PG - 32, out, sizeof(out)), 0);
	ck_assert_mem_eq(host(lo + PG - 32, 32), out, 32);
	ck_assert_mem_eq(host(hi, 32), out + 32, 32);
	/* Neighbours untouched: not the byte before, after, or the next physical page. */
	ck_assert_uint_eq(*host(lo + PG - 33, 1), (uint8_t)(3 + (PG - 33) * 7));
	ck_assert_uint_eq(*host(hi + 32, 1), (uint8_t)(100 + 32 * 7));
	ck_assert_uint_eq(*host(lo + PG, 1), 0);

	/* Only the first page mapped: the copy fails. */
	ent_set(entry_gpa(VA + PG, 1), 0);
	ck_assert_int_eq(gva__read(&gm, &mmu, VA + PG - 32, buf, sizeof(buf)), -EFAULT);
	ck_assert_int_eq(gva__write(&gm, &mmu, VA + PG - 32, out, sizeof(out)), -EFAULT);
}
END_TEST

START_TEST(test_not_present)
{
	start_mode(_i);
	map(VA, 0x1234000, 1, P | RW);
	for (int level = nr_levels(); level >= 1; level--) {
		uint64_t ea = entry_gpa(VA, level), e = ent_get(ea);

		ent_set(ea, e & ~P);
		assert_fault(VA, false);
		assert_fault(VA, true);
		ent_set(ea, e);
		ck_assert_uint_eq(xlate(VA, false), 0x1234000);
	}
}
END_TEST

/* R/W clear at any level: reads work, writes only with CR0.WP clear. */
START_TEST(test_read_only)
{
	static const uint8_t val = 0x5A;

	start_mode(_i);
	map(VA, 0x1234000, 1, P | RW);
	for (int level = nr_levels(); level >= 1; level--) {
		uint64_t ea, e;

		if (mode == MODE_PAE && level == 3)
			continue;       /* PDPTEs have no R/W bit */
		ea = entry_gpa(VA, level);
		e = ent_get(ea);
		ent_set(ea, e & ~RW);
		*host(0x1234010, 1) = 0;

		ck_assert_uint_eq(xlate(VA + 0x10, false), 0x1234010);
		assert_fault(VA + 0x10, true);
		ck_assert_uint_eq(*host(0x1234010, 1), 0);

		mmu.cr0 &= ~CR0_WP;
		ck_assert_uint_eq(xlate(VA + 0x10, true), 0x1234010);
		ck_assert_int_eq(gva__write(&gm, &mmu, VA + 0x10, &val, 1), 0);
		ck_assert_uint_eq(*host(0x1234010, 1), val);
		mmu.cr0 |= CR0_WP;
		ent_set(ea, e);
	}
}
END_TEST

/* A table pointer or CR3 outside guest memory faults without a host access. */
START_TEST(test_table_outside_ram)
{
	uint64_t root;

	start_mode(_i);
	map(VA, 0x1234000, 1, P | RW);
	for (int level = nr_levels(); level >= 2; level--) {
		uint64_t ea = entry_gpa(VA, level), e = ent_get(ea);

		ent_set(ea, (e & ~addr_mask()) | OUTSIDE);
		assert_fault(VA, false);
		ent_set(ea, (e & ~addr_mask()) | (GMEM_SPECIAL_BASE - PG));
		assert_fault(VA, false);
		if (mode != MODE_32) {
			ent_set(ea, e | ADDR64);   /* the highest table address */
			assert_fault(VA, false);
		}
		ent_set(ea, e);
		ck_assert_uint_eq(xlate(VA, false), 0x1234000);
	}
	root = mmu.cr3;
	mmu.cr3 = OUTSIDE;
	assert_fault(VA, false);
	mmu.cr3 = root;
	ck_assert_uint_eq(xlate(VA, false), 0x1234000);
}
END_TEST

START_TEST(test_wrap)
{
	uint64_t top;
	uint8_t buf[32];

	start_mode(_i);
	top = mode == MODE_32 || mode == MODE_PAE ? 0xFFFFF000ULL : 0xFFFFFFFFFFFFF000ULL;
	map(top, 0x1000000, 1, P | RW);
	map(0, 0x1001000, 1, P | RW);
	fill(0x1000000, 2 * PG, 5);

	/* Both pages translate, but a buffer may not run from one to the other. */
	ck_assert_int_eq(gva__read(&gm, &mmu, top + PG - 16, buf, 16), 0);
	ck_assert_mem_eq(buf, host(0x1000000 + PG - 16, 16), 16);
	ck_assert_int_eq(gva__read(&gm, &mmu, top + PG - 16, buf, 32), -EFAULT);
	ck_assert_int_eq(gva__write(&gm, &mmu, top + PG - 16, buf, 32), -EFAULT);
	ck_assert_int_eq(gva__read(&gm, &mmu, top + PG - 1, buf, 2), -EFAULT);
	/* Lengths that wrap from anywhere. */
	ck_assert_int_eq(gva__read(&gm, &mmu, 0x10, buf, SIZE_MAX), -EFAULT);
	ck_assert_int_eq(gva__read(&gm, &mmu, top, buf, SIZE_MAX - PG + 2), -EFAULT);
	ck_assert_int_eq(gva__write(&gm, &mmu, UINT64_MAX, buf, 2), -EFAULT);

	if (mode == MODE_32 || mode == MODE_PAE) {
		/* Translation itself wraps at 4 GiB; copies do not start above it. */
		ck_assert_uint_eq(xlate(0x100000123ULL, false), 0x1001123);
		ck_assert_uint_eq(xlate(0x1FFFFF123ULL, false), 0x1000123);
		ck_assert_int_eq(gva__read(&gm, &mmu, 0x100000123ULL, buf, 1), -EFAULT);
		ck_assert_int_eq(gva__read(&gm, &mmu, 0xFFFFFFF0, buf, 17), -EFAULT);
	}
}
END_TEST

/* len 0: nothing translated, nothing touched, whatever the address. */
START_TEST(test_len_zero)
{
	start_mode(_i);
	ck_assert_int_eq(gva__read(&gm, &mmu, VA, NULL, 0), 0);
	ck_assert_int_eq(gva__write(&gm, &mmu, 0x0000800000000000ULL, NULL, 0), 0);
	ck_assert_int_eq(gva__read(&gm, &mmu, UINT64_MAX, NULL, 0), 0);
	mmu.cr3 = OUTSIDE;
	ck_assert_int_eq(gva__write(&gm, &mmu, VA, NULL, 0), 0);
}
END_TEST

/* 4 MiB pages need CR4.PSE; PSE-36 supplies address bits 39:32. */
START_TEST(test_pse)
{
	uint64_t ea, pt;
	uint8_t b;

	start_mode(MODE_32);
	ea = map(0x40000000, 0xC00000, 2, P | RW);
	ck_assert_uint_eq(xlate(0x40123456, false), 0xD23456);

	ent_set(ea, 0xC00000 | (0x3ULL << 13) | P | RW | PS);
	ck_assert_uint_eq(xlate(0x40123456, false), 0x300D23456ULL);
	ck_assert_int_eq(gva__read(&gm, &mmu, 0x40123456, &b, 1), -EFAULT);   /* not RAM */

	ent_set(ea, 0xC00000 | (1ULL << 21) | P | RW | PS);     /* bit 21 is reserved */
	assert_fault(0x40123456, false);

	/* Without CR4.PSE the PS bit is ignored and the PDE points to a table. */
	pt = new_table();
	ent_set(pt + 1 * 4, 0x5000 | P | RW);
	ent_set(ea, pt | P | RW | PS);
	mmu.cr4 = 0;
	ck_assert_uint_eq(xlate(0x40001234, true), 0x5234);
	assert_fault(0x40002000, false);
}
END_TEST

START_TEST(test_pae_bits)
{
	/* A PDPTE reserves R/W, U/S, bits 8:5 and 63:52. */
	static const uint64_t pdpte_bad[] = {
		RW, 1ULL << 2, 1ULL << 5, PS, 1ULL << 8, 1ULL << 52, XD,
	};
	uint64_t ea, pdpte_ea, pdpte;

	start_mode(MODE_PAE);
	ea = map(0xC0201000, 0x1234000, 1, P | RW);
	ck_assert_uint_eq(entry_gpa(0xC0201000, 3), root_table() + 3 * 8);
	ck_assert_uint_eq(xlate(0xC0201FFF, true), 0x1234FFF);

	pdpte_ea = entry_gpa(0xC0201000, 3);
	pdpte = ent_get(pdpte_ea);
	for (size_t i = 0; i < sizeof(pdpte_bad) / sizeof(pdpte_bad[0]); i++) {
		ent_set(pdpte_ea, pdpte | pdpte_bad[i]);
		assert_fault(0xC0201000, false);
	}
	ent_set(pdpte_ea, pdpte | (1ULL << 3) | (1ULL << 4) | (1ULL << 9));  /* PWT, PCD, AVL */
	ck_assert_uint_eq(xlate(0xC0201000, false), 0x1234000);
	ent_set(pdpte_ea, pdpte);

	/* Physical address bits 62:52 are reserved in PAE entries. */
	ent_set(ea, 0x1234000 | P | RW | (1ULL << 52));
	assert_fault(0xC0201000, false);
	ent_set(ea, 0x1234000 | P | RW | (1ULL << 62));
	assert_fault(0xC0201000, false);

	/* XD is reserved unless EFER.NXE. */
	ent_set(ea, 0x1234000 | P | RW | XD);
	assert_fault(0xC0201000, false);
	mmu.efer |= EFER_NXE;
	ck_assert_uint_eq(xlate(0xC0201000, true), 0x1234000);

	/* 2 MiB page: bit 12 is PAT, bits 20:13 are reserved. */
	ea = map(0x80000000, 0x400000, 2, P | RW);
	ent_set(ea, 0x400000 | P | RW | PS | (1ULL << 12));
	ck_assert_uint_eq(xlate(0x80012345, false), 0x412345);
	ent_set(ea, 0x400000 | P | RW | PS | (1ULL << 13));
	assert_fault(0x80012345, false);
}
END_TEST

/* 1 GiB pages (PDPTE.PS) in 4- and 5-level paging. */
START_TEST(test_1g_page)
{
	uint64_t ea;
	uint8_t buf[16];

	start_mode(_i);
	ea = map(2 * GiB, 0, 3, P | RW);
	fill(0x3000120, sizeof(buf), 77);
	ck_assert_uint_eq(xlate(2 * GiB + 0x3000123, true), 0x3000123);
	ck_assert_int_eq(gva__read(&gm, &mmu, 2 * GiB + 0x3000120, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, host(0x3000120, sizeof(buf)), sizeof(buf));
	ck_assert_uint_eq(xlate(3 * GiB - 1, false), GiB - 1);
	/* Translates, but the frame is not guest memory. */
	ck_assert_int_eq(gva__read(&gm, &mmu, 2 * GiB + RAM_SIZE, buf, 1), -EFAULT);

	/* Bits 29:13 of a 1 GiB entry are reserved; bit 12 is PAT. */
	ent_set(ea, GiB | P | RW | PS | (1ULL << 12));
	ck_assert_uint_eq(xlate(2 * GiB + 5, false), GiB + 5);
	ent_set(ea, P | RW | PS | (1ULL << 29));
	assert_fault(2 * GiB, false);
	ent_set(ea, P | RW | PS | (1ULL << 13));
	assert_fault(2 * GiB, false);
}
END_TEST

START_TEST(test_long_bits)
{
	uint64_t ea;

	start_mode(_i);
	ea = map(VA, 0x1234000, 1, P | RW);

	/* Bits 58:52 and 62:59 are the guest's own in 4-level entries. */
	for (int level = nr_levels(); level >= 1; level--) {
		uint64_t e_ea = entry_gpa(VA, level);

		ent_set(e_ea, ent_get(e_ea) | 0x7FF0000000000000ULL);
	}
	ck_assert_uint_eq(xlate(VA + 1, true), 0x1234001);

	/* XD is reserved unless EFER.NXE. */
	ent_set(ea, 0x1234000 | P | RW | XD);
	ck_assert_uint_eq(xlate(VA, false), 0x1234000);
	mmu.efer &= ~EFER_NXE;
	assert_fault(VA, false);
	mmu.efer |= EFER_NXE;

	/* 2 MiB page: bits 20:13 reserved. */
	ea = map(0x80000000, 0x400000, 2, P | RW);
	ent_set(ea, 0x400000 | P | RW | PS | (1ULL << 20));
	assert_fault(0x80000000, false);

	/* PS is reserved in PML4Es (and PML5Es). */
	map(0x0000200000000000ULL, 0, 4, P | RW);
	assert_fault(0x0000200000000000ULL, false);
	if (mode == MODE_LONG5) {
		map(0x0020000000000000ULL, 0, 5, P | RW);
		assert_fault(0x0020000000000000ULL, false);
	}
}
END_TEST

START_TEST(test_non_canonical)
{
	static const uint64_t bad4[] = {
		0x0000800000000000ULL, 0xFFFF7FFFFFFFF000ULL, 0x8000000000000000ULL,
		0x00FF800000000000ULL,
	};
	static const uint64_t bad5[] = {
		0x0100000000000000ULL, 0xFEFFFFFFFFFFF000ULL, 0x8000000000000000ULL,
	};
	const uint64_t *bad = _i == MODE_LONG4 ? bad4 : bad5;
	size_t n = _i == MODE_LONG4 ? 4 : 3;

	start_mode(_i);
	map(0xFFFF800000000000ULL, 0x1000000, 1, P | RW);
	map(0x00007FFFFFFFF000ULL, 0x1001000, 1, P | RW);
	ck_assert_uint_eq(xlate(0xFFFF800000000123ULL, false), 0x1000123);
	ck_assert_uint_eq(xlate(0x00007FFFFFFFFFFFULL, false), 0x1001FFF);
	for (size_t i = 0; i < n; i++) {
		/* Map the page the walk would reach if the upper bits were dropped. */
		map(bad[i], 0x1002000, 1, P | RW);
		assert_fault(bad[i], false);
	}
	/* A buffer running from the lower half into the hole. */
	if (_i == MODE_LONG4) {
		uint8_t buf[32];

		ck_assert_int_eq(gva__read(&gm, &mmu, 0x00007FFFFFFFFFF0ULL, buf, 32), -EFAULT);
	}
}
END_TEST

/* LA57: 57-bit addresses walk five levels. */
START_TEST(test_5level)
{
	const uint64_t hi = 0x00FF123456789000ULL, neg = 0xFF00000000001000ULL;
	uint8_t buf[8];

	start_mode(MODE_LONG5);
	map(hi, 0x1234000, 1, P | RW);
	map(neg, 0x1235000, 1, P | RW);
	fill(0x1234000, 2 * PG, 11);
	ck_assert_uint_eq(xlate(hi + 0x10, true), 0x1234010);
	ck_assert_uint_eq(xlate(neg + 0x20, false), 0x1235020);
	ck_assert_int_eq(gva__read(&gm, &mmu, hi + 0xFFC, buf, 4), 0);
	ck_assert_mem_eq(buf, host(0x1234FFC, 4), 4);
	ck_assert_int_eq(gva__read(&gm, &mmu, hi + 0xFFC, buf, 8), -EFAULT);

	/* The same CR3 read as a 4-level tree: hi is not canonical there, and
	 * the low address reaches different entries. */
	mmu.cr4 &= ~CR4_LA57;
	assert_fault(hi, false);
	assert_fault(0x0000123456789000ULL, false);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gva");
	TCase *all = tcase_create("all_modes");
	TCase *one = tcase_create("one_mode");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(all, setup, teardown);
	tcase_add_loop_test(all, test_map_4k, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_large_page, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_cross_page, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_not_present, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_read_only, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_table_outside_ram, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_wrap, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_len_zero, MODE_32, NR_MODES);
	tcase_add_loop_test(all, test_1g_page, MODE_LONG4, NR_MODES);
	tcase_add_loop_test(all, test_long_bits, MODE_LONG4, NR_MODES);
	tcase_add_loop_test(all, test_non_canonical, MODE_LONG4, NR_MODES);
	suite_add_tcase(s, all);

	tcase_add_checked_fixture(one, setup, teardown);
	tcase_add_test(one, test_from_sregs);
	tcase_add_test(one, test_paging_off);
	tcase_add_test(one, test_pse);
	tcase_add_test(one, test_pae_bits);
	tcase_add_test(one, test_5level);
	suite_add_tcase(s, one);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
