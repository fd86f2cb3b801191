/*
 * PVH loader tests.  Every fixture is a real ELF file written at test time
 * with libelf's writing API (or, for the broken ones, derived from such a
 * file), loaded into a real 16 MiB guest memory.
 */
#include <check.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/pvh.h"
#include "ept/guest_mem.h"
#include "xen/xen_abi.h"
#include "check_main.h"

#define RAM_SIZE    (16ULL << 20)
#define CODE_PADDR  0x100000ULL
#define CODE_SIZE   256
#define BSS_SIZE    0x1000
#define ENTRY_OFF   0x10
#define POISON      0xAA

enum note_place { NOTE_IN_SEGMENT, NOTE_IN_SECTION_ONLY, NOTE_ABSENT };

/* What write_fixture() puts in the file; header fields are written verbatim. */
struct fixture {
	int elfclass;
	int machine;
	enum note_place note;
	uint32_t entry_size;    /* bytes of the PHYS32_ENTRY descriptor */
	uint64_t entry;         /* the descriptor's value */
	bool corrupt_note;      /* PHYS32_ENTRY note's namesz runs past its block */
	bool note_past_eof;     /* the PT_NOTE header claims more than the file holds */
	uint64_t paddr, filesz, memsz;  /* the PT_LOAD segment */
};

static struct guest_mem mem;
static char err[256];

static struct fixture good_fixture(int elfclass, int machine)
{
	return (struct fixture){
		.elfclass = elfclass,
		.machine = machine,
		.note = NOTE_IN_SEGMENT,
		.entry_size = 4,
		.entry = CODE_PADDR + ENTRY_OFF,
		.paddr = CODE_PADDR,
		.filesz = CODE_SIZE,
		.memsz = CODE_SIZE + BSS_SIZE,
	};
}

static uint8_t code_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A unique path in the build directory; Check runs each test in its own process. */
static const char *tmp_path(const char *tag)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/pvh-test-%d-%s", TEST_TMPDIR, (int)getpid(), tag);
	return p;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* Appends a note named "Xen", its descriptor padded to 4 bytes. */
static size_t put_note(uint8_t *buf, size_t off, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	uint32_t hdr[3] = { namesz, descsz, type };

	memcpy(buf + off, hdr, sizeof(hdr));
	off += sizeof(hdr);
	memcpy(buf + off, "Xen", 4);
	off += 4;
	memcpy(buf + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

static Elf_Scn *add_section(Elf *e, size_t name, uint32_t type, uint64_t flags,
			    void *buf, size_t size)
{
	Elf_Scn *scn = elf_newscn(e);
	Elf_Data *d;
	GElf_Shdr sh;

	ck_assert_ptr_nonnull(scn);
	d = elf_newdata(scn);
	ck_assert_ptr_nonnull(d);
	d->d_buf = buf;
	d->d_size = size;
	d->d_type = ELF_T_BYTE;
	d->d_align = 4;
	d->d_version = EV_CURRENT;
	ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
	sh.sh_name = (uint32_t)name;
	sh.sh_type = type;
	sh.sh_flags = flags;
	sh.sh_addralign = 4;
	ck_assert_int_ne(gelf_update_shdr(scn, &sh), 0);
	return scn;
}

static uint64_t section_offset(Elf_Scn *scn)
{
	GElf_Shdr sh;

	ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
	return sh.sh_offset;
}

static void set_phdr(Elf *e, int i, uint32_t type, uint64_t offset, uint64_t paddr,
		     uint64_t filesz, uint64_t memsz)
{
	GElf_Phdr ph = {
		.p_type = type, .p_offset = offset, .p_vaddr = paddr, .p_paddr = paddr,
		.p_filesz = filesz, .p_memsz = memsz, .p_flags = PF_R | PF_X, .p_align = 4,
	};

	ck_assert_msg(gelf_update_phdr(e, i, &ph) != 0, "phdr %d: %s", i, elf_errmsg(-1));
}

/*
 * Sections: .text (the code), .note.os (a XEN_ELFNOTE_GUEST_OS note, always
 * in a PT_NOTE segment) and .note.pvh (the PHYS32_ENTRY note: in a PT_NOTE
 * segment, or only in a non-allocated section as Mini-OS has it, or absent).
 */
static void write_fixture(const char *path, const struct fixture *fx)
{
	static char shstrtab[] = "\0.text\0.note.os\0.note.pvh\0.shstrtab";
	enum { N_TEXT = 1, N_OS = 7, N_PVH = 16, N_SHSTRTAB = 26 };
	uint8_t code[CODE_SIZE], os_note[32] = { 0 }, pvh_note[32] = { 0 };
	uint64_t entry = fx->entry;
	size_t os_len, pvh_len;
	Elf_Scn *text, *os, *pvh, *strs;
	bool pvh_segment = fx->note == NOTE_IN_SEGMENT;
	GElf_Ehdr eh;
	Elf *e;
	int fd;

	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = code_byte(i);
	os_len = put_note(os_note, 0, 4, XEN_ELFNOTE_GUEST_OS, "pvmm", 5);
	if (fx->note == NOTE_ABSENT)
		pvh_len = put_note(pvh_note, 0, 4, XEN_ELFNOTE_GUEST_VERSION, "1.0", 4);
	else
		pvh_len = put_note(pvh_note, 0, fx->corrupt_note ? 0xfffffff0 : 4,
				   XEN_ELFNOTE_PHYS32_ENTRY, &entry, fx->entry_size);

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(elf_version(EV_CURRENT), EV_NONE);
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(gelf_newehdr(e, fx->elfclass));
	ck_assert_ptr_nonnull(gelf_getehdr(e, &eh));
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = (uint16_t)fx->machine;
	eh.e_version = EV_CURRENT;
	eh.e_entry = fx->paddr;

	text = add_section(e, N_TEXT, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, code, sizeof(code));
	os = add_section(e, N_OS, SHT_NOTE, SHF_ALLOC, os_note, os_len);
	pvh = add_section(e, N_PVH, SHT_NOTE, pvh_segment ? SHF_ALLOC : 0, pvh_note, pvh_len);
	strs = add_section(e, N_SHSTRTAB, SHT_STRTAB, 0, shstrtab, sizeof(shstrtab));
	eh.e_shstrndx = (uint16_t)elf_ndxscn(strs);
	ck_assert_int_ne(gelf_update_ehdr(e, &eh), 0);
	ck_assert_ptr_nonnull(gelf_newphdr(e, pvh_segment ? 3 : 2));

	/* Lay the file out, then point the program headers at the sections. */
	ck_assert_int_ge(elf_update(e, ELF_C_NULL), 0);
	set_phdr(e, 0, PT_LOAD, section_offset(text), fx->paddr, fx->filesz, fx->memsz);
	set_phdr(e, 1, PT_NOTE, section_offset(os), 0, os_len, 0);
	if (pvh_segment)
		set_phdr(e, 2, PT_NOTE, section_offset(pvh), 0,
			 fx->note_past_eof ? 0x100000 : pvh_len, 0);
	ck_assert_int_ge(elf_update(e, ELF_C_WRITE), 0);
	elf_end(e);
	ck_assert_int_eq(close(fd), 0);
}

static const uint8_t *guest(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gmem__ptr(&mem, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Writes fx, loads it, removes the file; returns the loader's verdict. */
static enum pvh_error load_fixture(const struct fixture *fx, struct pvh_kernel *k)
{
	const char *path = tmp_path("kernel");
	enum pvh_error ret;

	write_fixture(path, fx);
	ret = pvh__load_kernel(&mem, path, k, err, sizeof(err));
	unlink(path);
	return ret;
}

static void assert_loaded(const struct pvh_kernel *k, uint64_t paddr)
{
	const uint8_t *p = guest(paddr, CODE_SIZE + BSS_SIZE + 1);

	ck_assert_uint_eq(k->entry, paddr + ENTRY_OFF);
	ck_assert_uint_eq(k->load_start, paddr);
	ck_assert_uint_eq(k->load_end, paddr + CODE_SIZE + BSS_SIZE);
	for (size_t i = 0; i < CODE_SIZE; i++)
		ck_assert_uint_eq(p[i], code_byte(i));
	/* p_memsz beyond p_filesz is zeroed, and nothing past it is touched. */
	for (size_t i = CODE_SIZE; i < CODE_SIZE + BSS_SIZE; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(p[CODE_SIZE + BSS_SIZE], POISON);
	ck_assert_uint_eq(guest(paddr - 1, 1)[0], POISON);
}

/* The error message names the file and the problem. */
static void assert_err_says(const char *what)
{
	ck_assert_msg(strstr(err, "pvh-test-") != NULL, "no file name in \"%s\"", err);
	ck_assert_msg(strstr(err, what) != NULL, "\"%s\" not in \"%s\"", what, err);
	ck_assert_ptr_null(strchr(err, '\n'));
}

static void setup(void)
{
	ck_assert_int_eq(gmem__init(&mem, RAM_SIZE), 0);
	memset(gmem__ptr(&mem, 0, RAM_SIZE), POISON, RAM_SIZE);
	err[0] = '\0';
}

static void teardown(void)
{
	gmem__free(&mem);
}

/* ---- loading ---- */

START_TEST(test_elf64_note_segment)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	ck_assert_int_eq(load_fixture(&fx, &k), PVH_OK);
	assert_loaded(&k, CODE_PADDR);
}
END_TEST

START_TEST(test_elf32_i386)
{
	struct fixture fx = good_fixture(ELFCLASS32, EM_386);
	struct pvh_kernel k;

	fx.paddr = 0x200000;
	fx.entry = 0x200000 + ENTRY_OFF;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_OK);
	assert_loaded(&k, 0x200000);
}
END_TEST

START_TEST(test_elf32_x86_64)
{
	struct fixture fx = good_fixture(ELFCLASS32, EM_X86_64);
	struct pvh_kernel k;

	ck_assert_int_eq(load_fixture(&fx, &k), PVH_OK);
	assert_loaded(&k, CODE_PADDR);
}
END_TEST

START_TEST(test_note_in_unallocated_section)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.note = NOTE_IN_SECTION_ONLY;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_OK);
	assert_loaded(&k, CODE_PADDR);
}
END_TEST

START_TEST(test_entry_note_8_bytes)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.entry_size = 8;
	fx.entry = 0xdeadbeef00000000ULL | (CODE_PADDR + ENTRY_OFF);
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_OK);
	assert_loaded(&k, CODE_PADDR);
}
END_TEST

START_TEST(test_entry_note_bad_size)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.entry_size = 2;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("PHYS32_ENTRY note has 2 bytes");
}
END_TEST

/* ---- files that are not (good) ELF ---- */

START_TEST(test_missing_file)
{
	struct pvh_kernel k;

	ck_assert_int_eq(pvh__load_kernel(&mem, TEST_TMPDIR "/pvh-test-missing", &k,
					  err, sizeof(err)), PVH_ERR_OPEN);
	assert_err_says("cannot open: No such file or directory");
}
END_TEST

START_TEST(test_directory)
{
	struct pvh_kernel k;

	ck_assert_int_eq(pvh__load_kernel(&mem, TEST_TMPDIR, &k, err, sizeof(err)),
			 PVH_ERR_OPEN);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

START_TEST(test_not_elf)
{
	static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	const char *path = tmp_path("text");
	struct pvh_kernel k;
	char want[600];

	write_bytes(path, text, sizeof(text) - 1);
	ck_assert_int_eq(pvh__load_kernel(&mem, path, &k, err, sizeof(err)), PVH_ERR_NOT_ELF);
	snprintf(want, sizeof(want), "%s: not an ELF file", path);
	ck_assert_str_eq(err, want);
	unlink(path);
}
END_TEST

START_TEST(test_empty_file)
{
	const char *path = tmp_path("empty");
	struct pvh_kernel k;

	write_bytes(path, "", 0);
	ck_assert_int_eq(pvh__load_kernel(&mem, path, &k, err, sizeof(err)), PVH_ERR_NOT_ELF);
	assert_err_says("not an ELF file");
	unlink(path);
}
END_TEST

/* A valid kernel cut short: in the identification bytes, in the ELF header,
 * in the program headers, and before the section headers (at the end). */
START_TEST(test_truncated)
{
	static const struct { off_t len; const char *says; } cut[] = {
		{ 10, "truncated ELF header" },
		{ 60, "truncated ELF header" },
		{ 100, "program header table runs past the end of the file" },
		{ 300, "section header table runs past the end of the file" },
		{ 600, "section header table runs past the end of the file" },
	};
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	const char *path = tmp_path("truncated");
	struct pvh_kernel k;

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		write_fixture(path, &fx);
		ck_assert_int_eq(truncate(path, cut[i].len), 0);
		ck_assert_int_eq(pvh__load_kernel(&mem, path, &k, err, sizeof(err)),
				 PVH_ERR_BAD_ELF);
		assert_err_says(cut[i].says);
	}
	/* Three bytes of the magic are not an ELF file at all. */
	ck_assert_int_eq(truncate(path, 3), 0);
	ck_assert_int_eq(pvh__load_kernel(&mem, path, &k, err, sizeof(err)), PVH_ERR_NOT_ELF);
	/* Nothing of the kernel reached guest memory. */
	ck_assert_uint_eq(guest(CODE_PADDR, 1)[0], POISON);
	unlink(path);
}
END_TEST

/* Identification bytes a PVH kernel cannot have. */
START_TEST(test_bad_ident)
{
	static const struct { int index; uint8_t value; const char *says; } bad[] = {
		{ EI_CLASS, 3, "unknown ELF class 3" },
		{ EI_DATA, ELFDATA2MSB, "not a little-endian ELF file" },
		{ EI_VERSION, 2, "unknown ELF version 2" },
	};
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	const char *path = tmp_path("ident");
	struct pvh_kernel k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd;

		write_fixture(path, &fx);
		fd = open(path, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, &bad[i].value, 1, bad[i].index), 1);
		ck_assert_int_eq(close(fd), 0);
		ck_assert_int_eq(pvh__load_kernel(&mem, path, &k, err, sizeof(err)),
				 PVH_ERR_BAD_ELF);
		assert_err_says(bad[i].says);
	}
	unlink(path);
}
END_TEST

START_TEST(test_wrong_machine)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_AARCH64);
	struct pvh_kernel k;

	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("ELF machine 183 is not x86");
}
END_TEST

START_TEST(test_no_entry_note)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.note = NOTE_ABSENT;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_NO_ENTRY);
	assert_err_says("no XEN_ELFNOTE_PHYS32_ENTRY note");
}
END_TEST

START_TEST(test_corrupt_note)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.corrupt_note = true;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_NO_ENTRY);
	fx.note = NOTE_IN_SECTION_ONLY;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_NO_ENTRY);
}
END_TEST

START_TEST(test_note_segment_past_eof)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.note_past_eof = true;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("note segment 2 runs past the end of the file");
}
END_TEST

START_TEST(test_entry_outside_segments)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.entry = 0x400000;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("entry point 0x400000 is in no loaded segment");
	ck_assert_uint_eq(guest(CODE_PADDR, 1)[0], POISON);
}
END_TEST

/* ---- segments that do not fit ---- */

START_TEST(test_segment_beyond_ram)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.paddr = RAM_SIZE - 0x100;
	fx.entry = fx.paddr + ENTRY_OFF;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_TOO_BIG);
	assert_err_says("is not in guest RAM");
	ck_assert_uint_eq(guest(RAM_SIZE - 0x100, 1)[0], POISON);

	fx.paddr = 0x10000000;  /* 256 MiB, far past 16 MiB of RAM */
	fx.entry = fx.paddr + ENTRY_OFF;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_TOO_BIG);
}
END_TEST

START_TEST(test_segment_above_4g)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	/* 6 GiB of RAM: [4 GiB, 7 GiB) is RAM, but out of a 32-bit entry's reach. */
	gmem__free(&mem);
	ck_assert_int_eq(gmem__init(&mem, 6ULL << 30), 0);
	fx.paddr = GMEM_HIGH_RAM_BASE;
	fx.entry = 0x100000;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_TOO_BIG);
	assert_err_says("below 4 GiB");
}
END_TEST

START_TEST(test_segment_paddr_wraps)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.paddr = 0xfffffffffffff000ULL;
	fx.memsz = 0x2000;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("wraps around");
}
END_TEST

START_TEST(test_segment_overlaps_special)
{
	struct fixture fx = good_fixture(ELFCLASS32, EM_386);
	struct pvh_kernel k;

	/* Straddling the start of the special pages... */
	fx.paddr = GMEM_SPECIAL_BASE - 0x80;
	fx.entry = fx.paddr + ENTRY_OFF;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_SPECIAL);
	assert_err_says("overlaps pvmm's special pages");
	/* ...and inside them: pvmm's pages stay untouched. */
	fx.paddr = GMEM_SPECIAL_BASE + GMEM_PAGE_SIZE;
	fx.entry = fx.paddr + ENTRY_OFF;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_SPECIAL);
	ck_assert_uint_eq(guest(GMEM_SPECIAL_BASE + GMEM_PAGE_SIZE, 1)[0], 0);
}
END_TEST

START_TEST(test_filesz_above_memsz)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.memsz = CODE_SIZE / 2;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("file size 0x100 exceeds memory size 0x80");
}
END_TEST

START_TEST(test_segment_past_eof)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);
	struct pvh_kernel k;

	fx.filesz = 0x10000;
	fx.memsz = 0x10000;
	ck_assert_int_eq(load_fixture(&fx, &k), PVH_ERR_BAD_ELF);
	assert_err_says("segment 0 runs past the end of the file");
}
END_TEST

/* ---- start_info ---- */

static const struct hvm_start_info *start_info_at(uint64_t gpa)
{
	return (const struct hvm_start_info *)guest(gpa, sizeof(struct hvm_start_info));
}

static void assert_memmap(const struct hvm_start_info *si)
{
	struct gmem_range want[GMEM_MAX_REGIONS];
	int n = gmem__memory_map(&mem, want, GMEM_MAX_REGIONS);
	const struct hvm_memmap_table_entry *e;

	ck_assert_int_ge(n, 2);
	ck_assert_uint_eq(si->memmap_entries, (uint32_t)n);
	ck_assert_uint_eq(si->memmap_paddr % 8, 0);
	e = (const void *)guest(si->memmap_paddr, (uint64_t)n * sizeof(*e));
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(e[i].addr, want[i].addr);
		ck_assert_uint_eq(e[i].size, want[i].size);
		ck_assert_uint_eq(e[i].type, want[i].type == GMEM_TYPE_RAM ?
				  XEN_HVM_MEMMAP_TYPE_RAM : XEN_HVM_MEMMAP_TYPE_RESERVED);
		ck_assert_uint_eq(e[i].reserved, 0);
	}
	/* The layout is known: low RAM, then the special pages. */
	ck_assert_uint_eq(e[0].addr, 0);
	ck_assert_uint_eq(e[0].size, mem.ram_size < GMEM_LOW_RAM_TOP ? mem.ram_size
								      : GMEM_LOW_RAM_TOP);
	ck_assert_uint_eq(e[0].type, XEN_HVM_MEMMAP_TYPE_RAM);
	ck_assert_uint_eq(e[1].addr, GMEM_SPECIAL_BASE);
	ck_assert_uint_eq(e[1].size, GMEM_SPECIAL_SIZE);
	ck_assert_uint_eq(e[1].type, XEN_HVM_MEMMAP_TYPE_RESERVED);
}

static void load_good_kernel(struct pvh_kernel *k)
{
	struct fixture fx = good_fixture(ELFCLASS64, EM_X86_64);

	ck_assert_int_eq(load_fixture(&fx, k), PVH_OK);
}

START_TEST(test_start_info_full)
{
	static const char cmdline[] = "console=hvc0 root=/dev/xvda1 ro";
	const char *initrd_path = tmp_path("initrd");
	const size_t initrd_size = 10000;
	uint8_t *initrd = malloc(initrd_size);
	const struct hvm_modlist_entry *mod;
	const struct hvm_start_info *si;
	struct pvh_kernel k;
	uint64_t gpa = 0;

	ck_assert_ptr_nonnull(initrd);
	for (size_t i = 0; i < initrd_size; i++)
		initrd[i] = (uint8_t)(i * 13 + i / 251);
	write_bytes(initrd_path, initrd, initrd_size);
	load_good_kernel(&k);

	ck_assert_int_eq(pvh__build_start_info(&mem, &k, cmdline, initrd_path, &gpa,
					       err, sizeof(err)), PVH_OK);
	/* The first page after the kernel's bss. */
	ck_assert_uint_eq(gpa, 0x102000);
	si = start_info_at(gpa);
	ck_assert_uint_eq(si->magic, XEN_HVM_START_MAGIC_VALUE);
	ck_assert_uint_eq(si->magic, 0x336ec578);
	ck_assert_uint_eq(si->version, 1);
	ck_assert_uint_eq(si->flags, 0);
	ck_assert_uint_eq(si->nr_modules, 1);
	ck_assert_uint_eq(si->rsdp_paddr, 0);
	ck_assert_uint_eq(si->reserved, 0);

	/* The module list follows the structure; the initrd is module 0. */
	ck_assert_uint_eq(si->modlist_paddr, gpa + sizeof(*si));
	mod = (const void *)guest(si->modlist_paddr, sizeof(*mod));
	ck_assert_uint_eq(mod->size, initrd_size);
	ck_assert_uint_eq(mod->cmdline_paddr, 0);
	ck_assert_uint_eq(mod->reserved, 0);
	ck_assert_uint_eq(mod->paddr % GMEM_PAGE_SIZE, 0);
	ck_assert_uint_eq(mod->paddr, 0x103000);
	ck_assert_mem_eq(guest(mod->paddr, initrd_size), initrd, initrd_size);

	ck_assert_uint_eq(si->memmap_paddr, si->modlist_paddr + sizeof(*mod));
	assert_memmap(si);

	ck_assert_uint_eq(si->cmdline_paddr, si->memmap_paddr +
			  si->memmap_entries * sizeof(struct hvm_memmap_table_entry));
	ck_assert_str_eq((const char *)guest(si->cmdline_paddr, sizeof(cmdline)), cmdline);
	ck_assert_uint_le(si->cmdline_paddr + sizeof(cmdline), mod->paddr);
	/* The kernel is intact. */
	ck_assert_uint_eq(guest(CODE_PADDR, 1)[0], code_byte(0));

	free(initrd);
	unlink(initrd_path);
}
END_TEST

START_TEST(test_start_info_bare)
{
	const struct hvm_start_info *si;
	struct pvh_kernel k;
	uint64_t gpa = 0;

	load_good_kernel(&k);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, NULL, NULL, &gpa, err, sizeof(err)),
			 PVH_OK);
	ck_assert_uint_eq(gpa, 0x102000);
	si = start_info_at(gpa);
	ck_assert_uint_eq(si->magic, XEN_HVM_START_MAGIC_VALUE);
	ck_assert_uint_eq(si->version, 1);
	ck_assert_uint_eq(si->nr_modules, 0);
	ck_assert_uint_eq(si->modlist_paddr, 0);
	ck_assert_uint_eq(si->cmdline_paddr, 0);
	ck_assert_uint_eq(si->memmap_paddr, gpa + sizeof(*si));
	assert_memmap(si);

	/* An empty command line is no command line. */
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, "", NULL, &gpa, err, sizeof(err)),
			 PVH_OK);
	ck_assert_uint_eq(start_info_at(gpa)->cmdline_paddr, 0);
}
END_TEST

START_TEST(test_start_info_high_ram)
{
	const struct hvm_memmap_table_entry *e;
	const struct hvm_start_info *si;
	struct pvh_kernel k;
	uint64_t gpa = 0;

	/* 4 GiB of RAM: 3 GiB low, 1 GiB above 4 GiB (MAP_NORESERVE: cheap). */
	gmem__free(&mem);
	ck_assert_int_eq(gmem__init(&mem, 4ULL << 30), 0);
	load_good_kernel(&k);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, "x", NULL, &gpa, err, sizeof(err)),
			 PVH_OK);
	si = start_info_at(gpa);
	ck_assert_uint_eq(si->memmap_entries, 3);
	assert_memmap(si);
	e = (const void *)guest(si->memmap_paddr, 3 * sizeof(*e));
	ck_assert_uint_eq(e[2].addr, GMEM_HIGH_RAM_BASE);
	ck_assert_uint_eq(e[2].size, 1ULL << 30);
	ck_assert_uint_eq(e[2].type, XEN_HVM_MEMMAP_TYPE_RAM);
}
END_TEST

START_TEST(test_initrd_too_big)
{
	const char *initrd_path = tmp_path("bigrd");
	struct pvh_kernel k;
	uint64_t gpa = 0;
	int fd;

	load_good_kernel(&k);
	/* Sparse: as big as all of guest RAM, so it cannot fit after the kernel. */
	fd = open(initrd_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)RAM_SIZE), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, "quiet", initrd_path, &gpa,
					       err, sizeof(err)), PVH_ERR_INITRD);
	assert_err_says("initrd of 16777216 bytes does not fit");

	/* One byte less than the room left after the metadata page fits. */
	fd = open(initrd_path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(RAM_SIZE - 0x103000 + 1)), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, "quiet", initrd_path, &gpa,
					       err, sizeof(err)), PVH_ERR_INITRD);
	fd = open(initrd_path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(RAM_SIZE - 0x103000)), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, "quiet", initrd_path, &gpa,
					       err, sizeof(err)), PVH_OK);
	ck_assert_uint_eq(start_info_at(gpa)->nr_modules, 1);
	unlink(initrd_path);
}
END_TEST

START_TEST(test_initrd_missing)
{
	struct pvh_kernel k;
	uint64_t gpa = 0;

	load_good_kernel(&k);
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, NULL, TEST_TMPDIR "/pvh-test-nope",
					       &gpa, err, sizeof(err)), PVH_ERR_INITRD);
	assert_err_says("cannot open");
	ck_assert_uint_eq(gpa, 0);
}
END_TEST

START_TEST(test_cmdline_too_big)
{
	/* A kernel that ends one page before the end of RAM. */
	struct pvh_kernel k = {
		.entry = 0x100000, .load_start = 0x100000, .load_end = RAM_SIZE - GMEM_PAGE_SIZE,
	};
	char *cmdline = malloc(GMEM_PAGE_SIZE);
	uint64_t gpa = 0;

	ck_assert_ptr_nonnull(cmdline);
	memset(cmdline, 'a', GMEM_PAGE_SIZE - 1);
	cmdline[GMEM_PAGE_SIZE - 1] = '\0';
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, cmdline, NULL, &gpa, err, sizeof(err)),
			 PVH_ERR_CMDLINE);
	ck_assert_ptr_nonnull(strstr(err, "command line of 4096 bytes does not fit"));
	/* A short one still fits in that last page. */
	cmdline[100] = '\0';
	ck_assert_int_eq(pvh__build_start_info(&mem, &k, cmdline, NULL, &gpa, err, sizeof(err)),
			 PVH_OK);
	ck_assert_uint_eq(gpa, RAM_SIZE - GMEM_PAGE_SIZE);
	ck_assert_str_eq((const char *)guest(start_info_at(gpa)->cmdline_paddr, 101), cmdline);
	free(cmdline);
}
END_TEST

START_TEST(test_no_room_for_start_info)
{
	struct pvh_kernel k = { .entry = 0x100000, .load_start = 0x100000, .load_end = RAM_SIZE };
	uint64_t gpa = 0;

	ck_assert_int_eq(pvh__build_start_info(&mem, &k, NULL, NULL, &gpa, err, sizeof(err)),
			 PVH_ERR_TOO_BIG);
	ck_assert_ptr_nonnull(strstr(err, "no room in guest RAM for start_info"));
}
END_TEST

static Suite *pvh_suite(void)
{
	Suite *s = suite_create("pvh");
	TCase *load = tcase_create("load");
	TCase *bad = tcase_create("bad_files");
	TCase *fit = tcase_create("fit");
	TCase *info = tcase_create("start_info");
	TCase *all[] = { load, bad, fit, info };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		suite_add_tcase(s, all[i]);
	}
	tcase_add_test(load, test_elf64_note_segment);
	tcase_add_test(load, test_elf32_i386);
	tcase_add_test(load, test_elf32_x86_64);
	tcase_add_test(load, test_note_in_unallocated_section);
	tcase_add_test(load, test_entry_note_8_bytes);
	tcase_add_test(load, test_entry_note_bad_size);

	tcase_add_test(bad, test_missing_file);
	tcase_add_test(bad, test_directory);
	tcase_add_test(bad, test_not_elf);
	tcase_add_test(bad, test_empty_file);
	tcase_add_test(bad, test_truncated);
	tcase_add_test(bad, test_bad_ident);
	tcase_add_test(bad, test_wrong_machine);
	tcase_add_test(bad, test_no_entry_note);
	tcase_add_test(bad, test_corrupt_note);
	tcase_add_test(bad, test_note_segment_past_eof);
	tcase_add_test(bad, test_entry_outside_segments);

	tcase_add_test(fit, test_segment_beyond_ram);
	tcase_add_test(fit, test_segment_above_4g);
	tcase_add_test(fit, test_segment_paddr_wraps);
	tcase_add_test(fit, test_segment_overlaps_special);
	tcase_add_test(fit, test_filesz_above_memsz);
	tcase_add_test(fit, test_segment_past_eof);

	tcase_add_test(info, test_start_info_full);
	tcase_add_test(info, test_start_info_bare);
	tcase_add_test(info, test_start_info_high_ram);
	tcase_add_test(info, test_initrd_too_big);
	tcase_add_test(info, test_initrd_missing);
	tcase_add_test(info, test_cmdline_too_big);
	tcase_add_test(info, test_no_room_for_start_info);
	return s;
}

CHECK_MAIN(pvh_suite)
