/*
 * Port-I/O and MMIO dispatch.  Devices register a range and one handler;
 * the vCPU run loop routes each KVM_EXIT_IO / KVM_EXIT_MMIO to it.  Reads
 * from an address nobody claims return all-ones, writes there are dropped.
 * Ranges are registered before the first vCPU runs and never change after,
 * so dispatch takes no lock; handlers lock their own device state.
 */
#ifndef PVMM_VCPU_IO_H
#define PVMM_VCPU_IO_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* data holds len bytes (1, 2, 4 or 8): filled by the handler on a read. */
typedef void (*io_handler_fn)(void *dev, struct vcpu *vcpu, uint64_t addr,
			      uint8_t *data, uint32_t len, bool is_write);

#define IO_BUS_MAX_RANGES 32

struct io_range {
	uint64_t base;
	uint64_t len;
	io_handler_fn fn;
	void *dev;
};

struct io_bus {
	struct io_range range[IO_BUS_MAX_RANGES];
	int nr;
};

/* Returns 0, or -EBUSY when the range overlaps one already registered, or
 * -ENOSPC when the bus is full. */
int io__register(struct io_bus *bus, uint64_t base, uint64_t len,
		 io_handler_fn fn, void *dev);

/* Routes one access; an unclaimed read fills data with 0xff. */
void io__dispatch(const struct io_bus *bus, struct vcpu *vcpu, uint64_t addr,
		  uint8_t *data, uint32_t len, bool is_write);

#endif
