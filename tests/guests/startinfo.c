/*
 * Checks the PVH start of day: the entry state, struct hvm_start_info, its
 * command line, memory map and module list, and that the loader zeroed
 * .bss.  Expects to be run as
 *   pvmm run startinfo-NN --cmdline "pvmm-test-cmdline foo=bar" --initrd F
 * where F holds "PVMM-INITRD-OK\n" followed by 4096 bytes, byte i = i & 0xff.
 */
#include "guest.h"

#define EXPECTED_CMDLINE "pvmm-test-cmdline foo=bar"
#define INITRD_HEADER    "PVMM-INITRD-OK\n"
#define INITRD_PATTERN   4096u
#define CMDLINE_MAX      4096u

#define X86_CR0_PE     0x00000001u
#define X86_CR0_ET     0x00000010u
#define X86_EFLAGS_TF  0x00000100u
#define X86_EFLAGS_IF  0x00000200u
#define X86_EFLAGS_VM  0x00020000u

/* Never written: the loader must have zeroed it (p_memsz > p_filesz). */
volatile uint8_t bss_probe[256];

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void check_entry_state(const struct hvm_start_info *si)
{
	printf("entry: ebx %#x cr0 %#x cr4 %#x eflags %#x\n", entry_state.ebx,
	       entry_state.cr0, entry_state.cr4, entry_state.eflags);
	check((uintptr_t)si == entry_state.ebx, "EBX holds the start_info address");
	/* The PVH ABI: CR0.PE set, all other writeable bits (PG among them)
	 * clear; ET is read-only. */
	check_u64("entry CR0 is PE only", entry_state.cr0 & ~X86_CR0_ET,
		  X86_CR0_PE);
	check_u64("entry CR4 is zero", entry_state.cr4, 0);
	check(!(entry_state.eflags & (X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_VM)),
	      "entry EFLAGS has IF, TF and VM clear");
}

static void check_bss(void)
{
	bool zero = true;

	for (unsigned int i = 0; i < sizeof(bss_probe); i++)
		zero = zero && bss_probe[i] == 0;
	check(zero, ".bss zeroed by the loader");
}

static void check_cmdline(const struct hvm_start_info *si)
{
	const char *cmdline = phys_ptr(si->cmdline_paddr, 1);
	size_t len;

	if (!check(cmdline != NULL, "cmdline_paddr set"))
		return;
	len = strnlen(cmdline, CMDLINE_MAX);
	if (!check(len < CMDLINE_MAX, "cmdline NUL-terminated"))
		return;
	printf("cmdline: '%s'\n", cmdline);
	check(memmap_is_ram(si, si->cmdline_paddr, len + 1), "cmdline lies in RAM");
	check(!ranges_overlap(si->cmdline_paddr, len + 1, (uintptr_t)_image_start,
			      (uintptr_t)_image_end - (uintptr_t)_image_start),
	      "cmdline lies outside the image");
	check(strcmp(cmdline, EXPECTED_CMDLINE) == 0,
	      "cmdline is '" EXPECTED_CMDLINE "'");
}

static void check_memmap(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *map;
	uint64_t image = (uintptr_t)_image_start;
	uint64_t image_len = (uintptr_t)_image_end - (uintptr_t)_image_start;
	bool ram_at_0 = false, reserved = false, disjoint = true;
	const struct hvm_memmap_table_entry *e;
	uint32_t n = si->memmap_entries;

	map = phys_ptr(si->memmap_paddr, (uint64_t)n * sizeof(*map));
	if (!check(map != NULL && n > 0, "memmap present"))
		return;
	for (uint32_t i = 0; i < n; i++) {
		printf("memmap[%u]: %#llx + %#llx type %u\n", i,
		       (unsigned long long)map[i].addr,
		       (unsigned long long)map[i].size, map[i].type);
		if (map[i].type == XEN_HVM_MEMMAP_TYPE_RAM && map[i].addr == 0 &&
		    map[i].size > 0)
			ram_at_0 = true;
		if (map[i].type == XEN_HVM_MEMMAP_TYPE_RESERVED)
			reserved = true;
		for (uint32_t j = 0; j < i; j++)
			if (ranges_overlap(map[i].addr, map[i].size,
					   map[j].addr, map[j].size))
				disjoint = false;
	}
	check_long("start_info reserved field is zero", si->reserved, 0);
	check(ram_at_0, "memmap has a RAM entry at 0");
	check(reserved, "memmap has a RESERVED entry");
	check(disjoint, "memmap entries do not overlap");
	check(memmap_is_ram(si, si->memmap_paddr, (uint64_t)n * sizeof(*map)),
	      "memmap table lies in RAM");
	e = memmap_find(si, image, image_len);
	check(e && e->type == XEN_HVM_MEMMAP_TYPE_RAM, "guest image lies in RAM");
	check(memmap_is_ram(si, (uintptr_t)si, sizeof(*si)),
	      "start_info lies in RAM");
	check(!ranges_overlap((uintptr_t)si, sizeof(*si), image, image_len) &&
	      !ranges_overlap(si->memmap_paddr, (uint64_t)n * sizeof(*map),
			      image, image_len),
	      "start_info and memmap lie outside the image");
}

static void check_initrd_content(const uint8_t *data)
{
	size_t hdr = sizeof(INITRD_HEADER) - 1;
	unsigned int bad = INITRD_PATTERN;

	check(memcmp(data, INITRD_HEADER, hdr) == 0, "initrd begins 'PVMM-INITRD-OK'");
	for (unsigned int i = 0; i < INITRD_PATTERN; i++)
		if (data[hdr + i] != (uint8_t)i) {
			bad = i;
			break;
		}
	if (bad < INITRD_PATTERN)
		printf("initrd pattern byte %u is %#x\n", bad, data[hdr + bad]);
	check(bad == INITRD_PATTERN, "initrd pattern intact");
}

static void check_modules(const struct hvm_start_info *si)
{
	const struct hvm_modlist_entry *mod;
	const uint8_t *data;
	uint64_t want = sizeof(INITRD_HEADER) - 1 + INITRD_PATTERN;
	uint64_t cmdline_len = si->cmdline_paddr ?
		strnlen(phys_ptr(si->cmdline_paddr, 1), CMDLINE_MAX) + 1 : 0;

	if (!check_long("nr_modules is 1 (the initrd)", si->nr_modules, 1))
		return;
	mod = phys_ptr(si->modlist_paddr, sizeof(*mod));
	if (!check(mod != NULL, "modlist_paddr set"))
		return;
	check(memmap_is_ram(si, si->modlist_paddr, sizeof(*mod)),
	      "module list lies in RAM");
	printf("module 0: %#llx + %#llx\n", (unsigned long long)mod->paddr,
	       (unsigned long long)mod->size);
	if (!check_u64("initrd size", mod->size, want))
		return;
	check(memmap_is_ram(si, mod->paddr, mod->size), "initrd lies in RAM");
	check(!ranges_overlap(mod->paddr, mod->size, (uintptr_t)_image_start,
			      (uintptr_t)_image_end - (uintptr_t)_image_start) &&
	      !ranges_overlap(mod->paddr, mod->size, (uintptr_t)si, sizeof(*si)) &&
	      !ranges_overlap(mod->paddr, mod->size, si->cmdline_paddr, cmdline_len),
	      "initrd overlaps neither the image, start_info nor the cmdline");
	data = phys_ptr(mod->paddr, mod->size);
	if (check(data != NULL, "initrd below 4 GiB"))
		check_initrd_content(data);
}

void guest_main(const struct hvm_start_info *si)
{
	printf("start_info at %p: magic %#x version %u flags %#x rsdp %#llx\n",
	       (const void *)si, si->magic, si->version, si->flags,
	       (unsigned long long)si->rsdp_paddr);
	check_entry_state(si);
	check_bss();
	if (!check_u64("start_info magic", si->magic, XEN_HVM_START_MAGIC_VALUE) ||
	    !check(si->version >= 1, "start_info version >= 1"))
		return;
	check_cmdline(si);
	check_memmap(si);
	check_modules(si);
}
