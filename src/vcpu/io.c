#include "vcpu/io.h"

#include <errno.h>
#include <string.h>

int io__register(struct io_bus *bus, uint64_t base, uint64_t len,
		 io_handler_fn fn, void *dev)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->range[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EBUSY;
	}
	if (bus->nr == IO_BUS_MAX_RANGES)
		return -ENOSPC;
	bus->range[bus->nr++] = (struct io_range){ base, len, fn, dev };
	return 0;
}

void io__dispatch(const struct io_bus *bus, struct vcpu *vcpu, uint64_t addr,
		  uint8_t *data, uint32_t len, bool is_write)
{
	for (int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->range[i];
		if (addr >= r->base && addr - r->base < r->len) {
			r->fn(r->dev, vcpu, addr, data, len, is_write);
			return;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
}
