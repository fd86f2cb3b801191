#include "ept/guest_mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, enum gmem_kind kind)
{
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (host == MAP_FAILED)
		return -errno;
	m->region[m->nr_regions] = (struct gmem_region){
		.gpa = gpa, .size = size, .host = host, .kind = kind,
	};
	atomic_fetch_add(&m->nr_regions, 1);
	return 0;
}

int gmem__init(struct guest_mem *m, uint64_t ram_size)
{
	uint64_t low = ram_size < GMEM_LOW_RAM_TOP ? ram_size : GMEM_LOW_RAM_TOP;
	int ret;

	memset(m, 0, sizeof(*m));
	m->vm_fd = -1;
	pthread_mutex_init(&m->alias_lock, NULL);
	if (ram_size == 0 || ram_size % GMEM_PAGE_SIZE)
		return -EINVAL;
	m->ram_size = ram_size;
	ret = add_region(m, 0, low, GMEM_RAM);
	if (!ret && ram_size > low)
		ret = add_region(m, GMEM_HIGH_RAM_BASE, ram_size - low, GMEM_RAM);
	if (!ret)
		ret = add_region(m, GMEM_SPECIAL_BASE, GMEM_SPECIAL_SIZE, GMEM_SPECIAL);
	if (ret)
		gmem__free(m);
	return ret;
}

void gmem__free(struct guest_mem *m)
{
	for (int i = 0; i < m->nr_regions; i++) {
		/* An alias shares its host memory with a special page. */
		if (m->region[i].kind != GMEM_ALIAS)
			munmap(m->region[i].host, m->region[i].size);
	}
	m->nr_regions = 0;
}

static int set_memslot(int vm_fd, int slot, const struct gmem_region *r)
{
	struct kvm_userspace_memory_region s = {
		.slot = (uint32_t)slot,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->host,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &s) < 0 ? -errno : 0;
}

int gmem__register(struct guest_mem *m, int vm_fd)
{
	for (int i = 0; i < m->nr_regions; i++) {
		int ret = set_memslot(vm_fd, i, &m->region[i]);
		if (ret)
			return ret;
	}
	m->vm_fd = vm_fd;
	return 0;
}

static const struct gmem_region *find_region(const struct guest_mem *m, uint64_t gpa)
{
	int nr = atomic_load_explicit(&m->nr_regions, memory_order_acquire);

	for (int i = 0; i < nr; i++) {
		const struct gmem_region *r = &m->region[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gmem__ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = find_region(m, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	/* off < size holds, so size - off cannot underflow. */
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

/* Copies len bytes between dst/src and guest memory, one region at a time. */
static int copy_guest(const struct guest_mem *m, uint64_t gpa, uint8_t *buf,
		      size_t len, bool to_guest)
{
	while (len) {
		const struct gmem_region *r = find_region(m, gpa);
		uint64_t off, chunk;

		if (!r)
			return -EFAULT;
		off = gpa - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		if (to_guest)
			memcpy(r->host + off, buf, chunk);
		else
			memcpy(buf, r->host + off, chunk);
		buf += chunk;
		len -= chunk;
		gpa += chunk;
		if (len && gpa == 0)
			return -EFAULT;   /* wrapped past the top of the address space */
	}
	return 0;
}

int gmem__read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
	return copy_guest(m, gpa, dst, len, false);
}

int gmem__write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	return copy_guest(m, gpa, (uint8_t *)src, len, true);
}

bool gmem__is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = find_region(m, gpa);

	return r && r->kind == GMEM_RAM && len <= r->size - (gpa - r->gpa);
}

uint64_t gmem__ram_end_pfn(const struct guest_mem *m)
{
	uint64_t end = 0;

	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		if (r->kind == GMEM_RAM && r->gpa + r->size > end)
			end = r->gpa + r->size;
	}
	return end >> GMEM_PAGE_SHIFT;
}

int gmem__memory_map(const struct guest_mem *m, struct gmem_range *out, int max)
{
	int n = 0;

	/* Low RAM, the special pages, high RAM: ascending.  Aliases sit in
	 * holes the guest chose and are not part of its memory map. */
	const struct gmem_region *low = NULL, *special = NULL, *high = NULL;

	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		if (r->kind == GMEM_SPECIAL)
			special = r;
		else if (r->kind == GMEM_RAM && r->gpa == 0)
			low = r;
		else if (r->kind == GMEM_RAM)
			high = r;
	}
	const struct gmem_region *sorted[] = { low, special, high };
	for (unsigned i = 0; i < 3; i++) {
		if (!sorted[i])
			continue;
		if (n < max)
			out[n] = (struct gmem_range){
				.addr = sorted[i]->gpa,
				.size = sorted[i]->size,
				.type = sorted[i]->kind == GMEM_RAM ? GMEM_TYPE_RAM : GMEM_TYPE_RESERVED,
			};
		n++;
	}
	return n;
}

/* Where a guest may put an alias: below the interrupt controllers' window
 * (0xFEC00000 up holds the IOAPIC, the LAPIC, pvmm's special pages and KVM's
 * real-mode TSS), or above 4 GiB within 52 address bits. */
#define ALIAS_LOW_LIMIT  0xFEC00000ULL
#define ALIAS_HIGH_LIMIT (1ULL << 52)

bool gmem__is_hole(const struct guest_mem *m, uint64_t gfn)
{
	return gfn <= (UINT64_MAX >> GMEM_PAGE_SHIFT) &&
	       !find_region(m, gfn << GMEM_PAGE_SHIFT);
}

int gmem__add_alias(struct guest_mem *m, uint64_t gfn, uint64_t special_gfn)
{
	uint64_t gpa = gfn << GMEM_PAGE_SHIFT;
	const struct gmem_region *special;
	int ret = 0;

	if (gfn >= (ALIAS_HIGH_LIMIT >> GMEM_PAGE_SHIFT) ||
	    (gpa >= ALIAS_LOW_LIMIT && gpa < GMEM_HIGH_RAM_BASE))
		return -EINVAL;
	special = find_region(m, special_gfn << GMEM_PAGE_SHIFT);
	if (!special || special->kind != GMEM_SPECIAL)
		return -EINVAL;
	pthread_mutex_lock(&m->alias_lock);
	int nr = m->nr_regions;
	if (!gmem__is_hole(m, gfn)) {
		ret = -EINVAL;
	} else if (nr == GMEM_MAX_REGIONS) {
		ret = -ENOSPC;
	} else {
		struct gmem_region *r = &m->region[nr];
		*r = (struct gmem_region){
			.gpa = gpa, .size = GMEM_PAGE_SIZE, .kind = GMEM_ALIAS,
			.host = special->host + ((special_gfn << GMEM_PAGE_SHIFT) - special->gpa),
		};
		if (m->vm_fd >= 0)
			ret = set_memslot(m->vm_fd, nr, r);
		if (!ret)
			atomic_store_explicit(&m->nr_regions, nr + 1, memory_order_release);
	}
	pthread_mutex_unlock(&m->alias_lock);
	return ret;
}
