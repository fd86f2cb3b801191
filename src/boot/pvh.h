/*
 * PVH boot: loads a Xen PVH kernel (an ELF file with a
 * XEN_ELFNOTE_PHYS32_ENTRY note) into guest memory and builds the
 * struct hvm_start_info its 32-bit entry point receives in EBX.
 *
 * The kernel file and the initrd are untrusted input: every offset, size
 * and address in them is checked against the file and against guest RAM
 * before anything is copied.
 */
#ifndef PVMM_BOOT_PVH_H
#define PVMM_BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "ept/guest_mem.h"

enum pvh_error {
	PVH_OK = 0,
	PVH_ERR_OPEN,       /* cannot open or read the kernel file */
	PVH_ERR_NOT_ELF,
	PVH_ERR_BAD_ELF,    /* truncated, bad headers, wrong machine, wrapping
			       ranges, entry point outside the loaded segments */
	PVH_ERR_NO_ENTRY,   /* no XEN_ELFNOTE_PHYS32_ENTRY */
	PVH_ERR_TOO_BIG,    /* does not fit in guest RAM below 4 GiB (or no room
			       for start_info after the kernel) */
	PVH_ERR_SPECIAL,    /* overlaps pvmm's special pages */
	PVH_ERR_INITRD,     /* initrd unreadable or does not fit */
	PVH_ERR_CMDLINE,    /* command line does not fit */
};

struct pvh_kernel {
	uint32_t entry;                 /* guest-physical, 32-bit flat, paging off */
	uint64_t load_start, load_end;  /* physical range the segments occupy */
};

/*
 * Loads the PVH kernel at path into guest memory: every PT_LOAD segment at
 * its p_paddr, p_filesz bytes from the file and the rest up to p_memsz
 * zeroed.  ELFCLASS32 and ELFCLASS64 files are accepted, for EM_386 and
 * EM_X86_64 (including ELFCLASS32 with EM_X86_64).  The entry note is looked
 * for in PT_NOTE segments first, then in SHT_NOTE sections (allocated or
 * not).  On failure, writes a one-line reason naming the file and the
 * problem (e.g. "guest.img: not an ELF file") to err and returns the error.
 */
enum pvh_error pvh__load_kernel(struct guest_mem *m, const char *path,
				struct pvh_kernel *out, char *err, size_t errlen);

/*
 * Builds struct hvm_start_info (version 1) on the first page boundary after
 * the kernel: the structure, then the module list, the memory map (from
 * gmem__memory_map) and the command line; then, on the next page boundary,
 * the initrd's contents, which become the first module.  cmdline may be
 * NULL or "" (no command line, cmdline_paddr 0); initrd_path may be NULL
 * (no modules).  rsdp_paddr is 0: pvmm offers no ACPI tables.  Everything
 * lies in guest RAM below 4 GiB, where a guest entered with paging off can
 * reach it.  Returns the structure's guest-physical address in
 * *start_info_gpa.  On failure, writes a one-line reason to err.
 */
enum pvh_error pvh__build_start_info(struct guest_mem *m, const struct pvh_kernel *k,
				     const char *cmdline, const char *initrd_path,
				     uint64_t *start_info_gpa, char *err, size_t errlen);

#endif
