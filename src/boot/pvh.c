#include "boot/pvh.h"
#include "util/errbuf.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xen/xen_abi.h"

/* The guest enters with paging off: it reaches only the low 4 GiB. */
#define PVH_ADDR_LIMIT (1ULL << 32)

/* The tables after hvm_start_info stay 8-byte aligned by their sizes alone. */
_Static_assert(sizeof(struct hvm_start_info) % 8 == 0, "start_info size");
_Static_assert(sizeof(struct hvm_modlist_entry) % 8 == 0, "modlist entry size");
_Static_assert(sizeof(struct hvm_memmap_table_entry) % 8 == 0, "memmap entry size");

/* The kernel being loaded, and where its error message goes. */
struct pvh_file {
	const char *path;
	int fd;
	uint64_t size;
	size_t phnum;       /* checked against the file by check_header() */
	Elf *elf;
	char *err;
	size_t errlen;
};

/* The error code, with its one-line reason in err. */
#define fail(err, errlen, e, ...) (errbuf__set((err), (errlen), __VA_ARGS__), (e))

/* Reads exactly len bytes at off: 0, -errno, or -ENODATA when the file is shorter. */
static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t page_align_up(uint64_t x)
{
	return (x + GMEM_PAGE_SIZE - 1) & ~(GMEM_PAGE_SIZE - 1);
}

/* [gpa, gpa + len) is guest RAM the guest can reach at entry. */
static bool reachable_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return gpa < PVH_ADDR_LIMIT && len <= PVH_ADDR_LIMIT - gpa &&
	       gmem__is_ram(m, gpa, len);
}

/* [gpa, end) with gpa < end, not wrapping. */
static bool overlaps_special(uint64_t gpa, uint64_t end)
{
	return gpa < GMEM_SPECIAL_BASE + GMEM_SPECIAL_SIZE && GMEM_SPECIAL_BASE < end;
}

/*
 * Tells "not ELF at all" from "broken ELF", and checks the identification
 * bytes libelf would otherwise only report as "not ELF".
 */
static enum pvh_error check_ident(struct pvh_file *f)
{
	unsigned char id[EI_NIDENT];
	uint64_t ehdr_size;
	int ret;

	if (f->size < SELFMAG)
		return fail(f->err, f->errlen, PVH_ERR_NOT_ELF, "%s: not an ELF file", f->path);
	ret = read_full(f->fd, id, f->size < EI_NIDENT ? (size_t)f->size : EI_NIDENT, 0);
	if (ret)
		return fail(f->err, f->errlen, PVH_ERR_OPEN, "%s: cannot read: %s",
			    f->path, strerror(-ret));
	if (memcmp(id, ELFMAG, SELFMAG))
		return fail(f->err, f->errlen, PVH_ERR_NOT_ELF, "%s: not an ELF file", f->path);
	if (f->size < EI_NIDENT)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: truncated ELF header", f->path);
	if (id[EI_CLASS] == ELFCLASS32)
		ehdr_size = sizeof(Elf32_Ehdr);
	else if (id[EI_CLASS] == ELFCLASS64)
		ehdr_size = sizeof(Elf64_Ehdr);
	else
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: unknown ELF class %u",
			    f->path, id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: not a little-endian ELF file", f->path);
	if (id[EI_VERSION] != EV_CURRENT)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: unknown ELF version %u",
			    f->path, id[EI_VERSION]);
	if (f->size < ehdr_size)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: truncated ELF header", f->path);
	return PVH_OK;
}

static enum pvh_error open_kernel(struct pvh_file *f)
{
	struct stat st;
	enum pvh_error ret;

	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return fail(f->err, f->errlen, PVH_ERR_OPEN, "%s: cannot open: %s",
			    f->path, strerror(errno));
	if (fstat(f->fd, &st) < 0)
		return fail(f->err, f->errlen, PVH_ERR_OPEN, "%s: cannot stat: %s",
			    f->path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(f->err, f->errlen, PVH_ERR_OPEN, "%s: not a regular file", f->path);
	f->size = (uint64_t)st.st_size;

	ret = check_ident(f);
	if (ret)
		return ret;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: libelf: %s",
			    f->path, elf_errmsg(-1));
	f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: bad ELF file: %s",
			    f->path, elf_errmsg(-1));
	return PVH_OK;
}

/*
 * libelf quietly drops table entries past the end of the file (it clamps
 * the program header count); a truncated kernel must fail instead.
 */
static enum pvh_error check_table(struct pvh_file *f, const char *what, uint64_t off,
				  uint64_t n, uint64_t entsize, size_t want_entsize)
{
	if (n == 0)
		return PVH_OK;
	if (entsize != want_entsize)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: %s size %" PRIu64 " is wrong (want %zu)",
			    f->path, what, entsize, want_entsize);
	if (off > f->size || (f->size - off) / entsize < n)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: %s table runs past the end of the file (truncated?)", f->path, what);
	return PVH_OK;
}

static enum pvh_error check_header(struct pvh_file *f)
{
	enum pvh_error ret;
	uint64_t shnum;
	size_t n;
	GElf_Ehdr eh;

	if (!gelf_getehdr(f->elf, &eh))
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: bad ELF header: %s",
			    f->path, elf_errmsg(-1));
	/* ELFCLASS32 with EM_X86_64 is fine: some 64-bit kernels ship so. */
	if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: ELF machine %u is not x86 (EM_386 or EM_X86_64)",
			    f->path, eh.e_machine);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: ELF type %u is not an executable", f->path, eh.e_type);
	if (eh.e_phnum == PN_XNUM)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: too many program headers",
			    f->path);
	ret = check_table(f, "program header", eh.e_phoff, eh.e_phnum, eh.e_phentsize,
			  gelf_fsize(f->elf, ELF_T_PHDR, 1, EV_CURRENT));
	if (ret)
		return ret;
	f->phnum = eh.e_phnum;
	/* e_shnum 0 with a table: the count is in section 0 (extended numbering). */
	shnum = eh.e_shnum;
	if (!shnum && eh.e_shoff) {
		if (elf_getshdrnum(f->elf, &n))
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
				    "%s: bad section headers: %s", f->path, elf_errmsg(-1));
		shnum = n;
	}
	return check_table(f, "section header", eh.e_shoff, shnum, eh.e_shentsize,
			   gelf_fsize(f->elf, ELF_T_SHDR, 1, EV_CURRENT));
}

static enum pvh_error get_phdr(struct pvh_file *f, size_t i, GElf_Phdr *ph)
{
	if (!gelf_getphdr(f->elf, (int)i, ph))
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: bad program header %zu: %s",
			    f->path, i, elf_errmsg(-1));
	return PVH_OK;
}

/*
 * Looks for the PHYS32_ENTRY note in one block of notes.  gelf_getnote()
 * keeps name and descriptor inside the block; a malformed note ends the
 * walk.  Returns 1 when found, 0 when not, -1 when its size is wrong.
 */
static int entry_in_notes(Elf_Data *d, uint32_t *entry, uint32_t *bad_size)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	while (off < d->d_size &&
	       (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *name = (const uint8_t *)d->d_buf + name_off;
		const uint8_t *desc = (const uint8_t *)d->d_buf + desc_off;
		uint32_t lo;

		off = next;
		if (nh.n_type != XEN_ELFNOTE_PHYS32_ENTRY || nh.n_namesz != sizeof("Xen") ||
		    memcmp(name, "Xen", sizeof("Xen")))
			continue;
		/* A 32-bit address; some toolchains emit it as 8 bytes. */
		if (nh.n_descsz != 4 && nh.n_descsz != 8) {
			*bad_size = nh.n_descsz;
			return -1;
		}
		memcpy(&lo, desc, sizeof(lo));
		*entry = le32toh(lo);
		return 1;
	}
	return 0;
}

/* PT_NOTE segments first; sections only when no segment has the note (Mini-OS). */
static enum pvh_error find_entry(struct pvh_file *f, uint32_t *entry)
{
	uint32_t bad_size = 0;
	Elf_Scn *scn = NULL;
	enum pvh_error ret;
	int found = 0;

	for (size_t i = 0; i < f->phnum && !found; i++) {
		GElf_Phdr ph;
		Elf_Data *d;

		ret = get_phdr(f, i, &ph);
		if (ret)
			return ret;
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
			continue;
		if (ph.p_offset > f->size || f->size - ph.p_offset < ph.p_filesz)
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
				    "%s: note segment %zu runs past the end of the file",
				    f->path, i);
		d = elf_getdata_rawchunk(f->elf, (int64_t)ph.p_offset, ph.p_filesz,
					 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!d)
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
				    "%s: note segment %zu: %s", f->path, i, elf_errmsg(-1));
		found = entry_in_notes(d, entry, &bad_size);
	}
	while (!found && (scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: bad section header: %s",
				    f->path, elf_errmsg(-1));
		if (sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: note section %zu: %s",
				    f->path, elf_ndxscn(scn), elf_errmsg(-1));
		found = entry_in_notes(d, entry, &bad_size);
	}
	if (found < 0)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: XEN_ELFNOTE_PHYS32_ENTRY note has %" PRIu32 " bytes, not 4 or 8",
			    f->path, bad_size);
	if (!found)
		return fail(f->err, f->errlen, PVH_ERR_NO_ENTRY,
			    "%s: no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel", f->path);
	return PVH_OK;
}

static enum pvh_error check_segment(struct pvh_file *f, const struct guest_mem *m,
				    size_t i, const GElf_Phdr *ph)
{
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: segment %zu: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64,
			    f->path, i, ph->p_filesz, ph->p_memsz);
	if (ph->p_offset > f->size || f->size - ph->p_offset < ph->p_filesz)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: segment %zu runs past the end of the file (truncated?)",
			    f->path, i);
	if (ph->p_memsz == 0)
		return PVH_OK;
	if (ph->p_paddr > UINT64_MAX - ph->p_memsz)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: segment %zu: address 0x%" PRIx64 " + size 0x%" PRIx64 " wraps around",
			    f->path, i, ph->p_paddr, ph->p_memsz);
	end = ph->p_paddr + ph->p_memsz;
	if (overlaps_special(ph->p_paddr, end))
		return fail(f->err, f->errlen, PVH_ERR_SPECIAL,
			    "%s: segment %zu [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps pvmm's special pages [0x%llx, 0x%llx)",
			    f->path, i, ph->p_paddr, end,
			    GMEM_SPECIAL_BASE, GMEM_SPECIAL_BASE + GMEM_SPECIAL_SIZE);
	if (!reachable_ram(m, ph->p_paddr, ph->p_memsz))
		return fail(f->err, f->errlen, PVH_ERR_TOO_BIG,
			    "%s: segment %zu [0x%" PRIx64 ", 0x%" PRIx64 ") is not in guest RAM below 4 GiB (%" PRIu64 " MiB of RAM)",
			    f->path, i, ph->p_paddr, end, m->ram_size >> 20);
	return PVH_OK;
}

/* Checks every PT_LOAD segment, before any is copied, and the entry point. */
static enum pvh_error check_segments(struct pvh_file *f, const struct guest_mem *m,
				     struct pvh_kernel *k)
{
	bool entry_loaded = false;
	enum pvh_error ret;
	size_t loaded = 0;

	k->load_start = UINT64_MAX;
	k->load_end = 0;
	for (size_t i = 0; i < f->phnum; i++) {
		GElf_Phdr ph;

		ret = get_phdr(f, i, &ph);
		if (ret)
			return ret;
		if (ph.p_type != PT_LOAD)
			continue;
		ret = check_segment(f, m, i, &ph);
		if (ret)
			return ret;
		if (ph.p_memsz == 0)
			continue;
		loaded++;
		if (ph.p_paddr < k->load_start)
			k->load_start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > k->load_end)
			k->load_end = ph.p_paddr + ph.p_memsz;
		if (k->entry >= ph.p_paddr && k->entry - ph.p_paddr < ph.p_memsz)
			entry_loaded = true;
	}
	if (!loaded)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF, "%s: no loadable segment", f->path);
	if (!entry_loaded)
		return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
			    "%s: PVH entry point 0x%" PRIx32 " is in no loaded segment",
			    f->path, k->entry);
	return PVH_OK;
}

/* Copies the segments check_segments() accepted. */
static enum pvh_error copy_segments(struct pvh_file *f, struct guest_mem *m)
{
	for (size_t i = 0; i < f->phnum; i++) {
		enum pvh_error ret;
		uint8_t *dst;
		GElf_Phdr ph;
		int rc;

		ret = get_phdr(f, i, &ph);
		if (ret)
			return ret;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		dst = gmem__ptr(m, ph.p_paddr, ph.p_memsz);
		rc = read_full(f->fd, dst, ph.p_filesz, ph.p_offset);
		if (rc == -ENODATA)
			return fail(f->err, f->errlen, PVH_ERR_BAD_ELF,
				    "%s: file shrank while segment %zu was read", f->path, i);
		if (rc)
			return fail(f->err, f->errlen, PVH_ERR_OPEN, "%s: cannot read segment %zu: %s",
				    f->path, i, strerror(-rc));
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	return PVH_OK;
}

enum pvh_error pvh__load_kernel(struct guest_mem *m, const char *path,
				struct pvh_kernel *out, char *err, size_t errlen)
{
	struct pvh_file f = { .path = path, .fd = -1, .err = err, .errlen = errlen };
	struct pvh_kernel k = { 0 };
	enum pvh_error ret;

	ret = open_kernel(&f);
	if (!ret)
		ret = check_header(&f);
	if (!ret)
		ret = find_entry(&f, &k.entry);
	if (!ret)
		ret = check_segments(&f, m, &k);
	if (!ret)
		ret = copy_segments(&f, m);
	if (!ret)
		*out = k;
	elf_end(f.elf);
	if (f.fd >= 0)
		close(f.fd);
	return ret;
}

/* Copies the initrd at path to gpa, which must have room for the whole file. */
static enum pvh_error load_initrd(struct guest_mem *m, const char *path, uint64_t gpa,
				  uint64_t *size, char *err, size_t errlen)
{
	enum pvh_error ret = PVH_OK;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, PVH_ERR_INITRD, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		ret = fail(err, errlen, PVH_ERR_INITRD, "%s: cannot stat: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		ret = fail(err, errlen, PVH_ERR_INITRD, "%s: not a regular file", path);
	else if (!reachable_ram(m, gpa, (uint64_t)st.st_size))
		ret = fail(err, errlen, PVH_ERR_INITRD,
			   "%s: initrd of %" PRIu64 " bytes does not fit in guest RAM below 4 GiB after the kernel (at 0x%" PRIx64 ", %" PRIu64 " MiB of RAM)",
			   path, (uint64_t)st.st_size, gpa, m->ram_size >> 20);
	if (ret) {
		close(fd);
		return ret;
	}
	*size = (uint64_t)st.st_size;
	rc = read_full(fd, gmem__ptr(m, gpa, *size), *size, 0);
	close(fd);
	if (rc == -ENODATA)
		return fail(err, errlen, PVH_ERR_INITRD, "%s: file shrank while being read", path);
	if (rc)
		return fail(err, errlen, PVH_ERR_INITRD, "%s: cannot read: %s", path, strerror(-rc));
	return PVH_OK;
}

/*
 * Layout from the first page after the kernel: hvm_start_info, the module
 * list, the memory map, the command line; the initrd on the next page.
 */
enum pvh_error pvh__build_start_info(struct guest_mem *m, const struct pvh_kernel *k,
				     const char *cmdline, const char *initrd_path,
				     uint64_t *start_info_gpa, char *err, size_t errlen)
{
	struct gmem_range map[GMEM_MAX_REGIONS];
	struct hvm_modlist_entry mod = { 0 };
	uint64_t base, modlist, memmap, cmd, initrd;
	size_t cmdlen = cmdline && *cmdline ? strlen(cmdline) + 1 : 0;
	uint32_t nr_mods = initrd_path ? 1 : 0;
	int nr_map = gmem__memory_map(m, map, GMEM_MAX_REGIONS);
	enum pvh_error ret;
	uint8_t *p;

	if (nr_map > GMEM_MAX_REGIONS)
		nr_map = GMEM_MAX_REGIONS;
	if (k->load_end >= PVH_ADDR_LIMIT)
		return fail(err, errlen, PVH_ERR_TOO_BIG,
			    "no room for start_info: kernel ends at 0x%" PRIx64 ", above 4 GiB",
			    k->load_end);
	base = page_align_up(k->load_end);
	modlist = base + sizeof(struct hvm_start_info);
	memmap = modlist + nr_mods * sizeof(struct hvm_modlist_entry);
	cmd = memmap + (uint64_t)nr_map * sizeof(struct hvm_memmap_table_entry);
	if (!reachable_ram(m, base, cmd - base))
		return fail(err, errlen, PVH_ERR_TOO_BIG,
			    "no room in guest RAM for start_info at 0x%" PRIx64 " after the kernel",
			    base);
	if (!reachable_ram(m, base, cmd - base + cmdlen))
		return fail(err, errlen, PVH_ERR_CMDLINE,
			    "command line of %zu bytes does not fit in guest RAM after the kernel",
			    cmdlen);
	initrd = page_align_up(cmd + cmdlen);

	if (initrd_path) {
		ret = load_initrd(m, initrd_path, initrd, &mod.size, err, errlen);
		if (ret)
			return ret;
		mod.paddr = initrd;
	}

	p = gmem__ptr(m, base, cmd - base + cmdlen);
	memcpy(p, &(struct hvm_start_info){
		.magic = XEN_HVM_START_MAGIC_VALUE,
		.version = 1,
		.nr_modules = nr_mods,
		.modlist_paddr = nr_mods ? modlist : 0,
		.cmdline_paddr = cmdlen ? cmd : 0,
		.rsdp_paddr = 0,
		.memmap_paddr = memmap,
		.memmap_entries = (uint32_t)nr_map,
	}, sizeof(struct hvm_start_info));
	if (nr_mods)
		memcpy(p + (modlist - base), &mod, sizeof(mod));
	for (int i = 0; i < nr_map; i++) {
		struct hvm_memmap_table_entry e = {
			.addr = map[i].addr,
			.size = map[i].size,
			.type = map[i].type == GMEM_TYPE_RAM ? XEN_HVM_MEMMAP_TYPE_RAM
							     : XEN_HVM_MEMMAP_TYPE_RESERVED,
		};
		memcpy(p + (memmap - base) + (uint64_t)i * sizeof(e), &e, sizeof(e));
	}
	memcpy(p + (cmd - base), cmdline ? cmdline : "", cmdlen);
	*start_info_gpa = base;
	return PVH_OK;
}
