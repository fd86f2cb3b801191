#include "ept/guest_mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, bool is_ram)
{
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (host == MAP_FAILED)
		return -errno;
	m->region[m->nr_regions++] = (struct gmem_region){
		.gpa = gpa, .size = size, .host = host, .is_ram = is_ram,
	};
	return 0;
}

int gmem__init(struct guest_mem *m, uint64_t ram_size)
{
	uint64_t low = ram_size < GMEM_LOW_RAM_TOP ? ram_size : GMEM_LOW_RAM_TOP;
	int ret;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || ram_size % GMEM_PAGE_SIZE)
		return -EINVAL;
	m->ram_size = ram_size;
	ret = add_region(m, 0, low, true);
	if (!ret)
		ret = add_region(m, GMEM_SPECIAL_BASE, GMEM_SPECIAL_SIZE, false);
	if (!ret && ram_size > low)
		ret = add_region(m, GMEM_HIGH_RAM_BASE, ram_size - low, true);
	if (ret)
		gmem__free(m);
	return ret;
}

void gmem__free(struct guest_mem *m)
{
	for (int i = 0; i < m->nr_regions; i++)
		munmap(m->region[i].host, m->region[i].size);
	m->nr_regions = 0;
}

int gmem__register(const struct guest_mem *m, int vm_fd)
{
	for (int i = 0; i < m->nr_regions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.guest_phys_addr = m->region[i].gpa,
			.memory_size = m->region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)m->region[i].host,
		};
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

static const struct gmem_region *find_region(const struct guest_mem *m, uint64_t gpa)
{
	for (int i = 0; i < m->nr_regions; i++) {
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

	return r && r->is_ram && len <= r->size - (gpa - r->gpa);
}

uint64_t gmem__ram_end_pfn(const struct guest_mem *m)
{
	uint64_t end = 0;

	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		if (r->is_ram && r->gpa + r->size > end)
			end = r->gpa + r->size;
	}
	return end >> GMEM_PAGE_SHIFT;
}

int gmem__memory_map(const struct guest_mem *m, struct gmem_range *out, int max)
{
	int n = 0;

	/* Regions are created in address order, except that high RAM (if any)
	 * follows the special pages, which is still ascending. */
	for (int i = 0; i < m->nr_regions; i++) {
		if (n < max)
			out[n] = (struct gmem_range){
				.addr = m->region[i].gpa,
				.size = m->region[i].size,
				.type = m->region[i].is_ram ? GMEM_TYPE_RAM : GMEM_TYPE_RESERVED,
			};
		n++;
	}
	return n;
}
