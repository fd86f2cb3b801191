#include "devices/ioapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vcpu/io.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"

#define MSI_ADDRESS_BASE       0xfee00000ull
#define MSI_ADDRESS_DEST_SHIFT 12
#define MSI_ADDRESS_LOGICAL    (1u << 2)
#define MSI_DATA_ASSERT        (1u << 14)
#define MSI_DATA_LEVEL         (1u << 15)

/* What the guest may change in an entry; the rest is read-only or reserved. */
#define IOAPIC_RTE_WRITABLE (IOAPIC_RTE_VECTOR | IOAPIC_RTE_DELMODE |       \
			     IOAPIC_RTE_DESTMODE | IOAPIC_RTE_POLARITY |     \
			     IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASK | IOAPIC_RTE_DEST)

struct ioapic {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t id;                       /* 4 bits */
	uint8_t regsel;
	uint32_t asserted;                /* input line of each pin */
	uint64_t redir[IOAPIC_NR_PINS];
	struct ioapic_msi_record last;
};

/* Sends pin's interrupt as its entry describes.  Called with the lock held,
 * which also keeps deliveries of one pin in order. */
static void ioapic__deliver(struct ioapic *io, int pin)
{
	uint64_t e = io->redir[pin];
	uint64_t address = MSI_ADDRESS_BASE |
		((e & IOAPIC_RTE_DEST) >> IOAPIC_RTE_DEST_SHIFT) << MSI_ADDRESS_DEST_SHIFT;
	uint32_t data = (uint32_t)(e & (IOAPIC_RTE_VECTOR | IOAPIC_RTE_DELMODE)) |
		MSI_DATA_ASSERT;
	int ret;

	if (e & IOAPIC_RTE_DESTMODE)
		address |= MSI_ADDRESS_LOGICAL;
	if (e & IOAPIC_RTE_LEVEL) {
		data |= MSI_DATA_LEVEL;
		/* Busy until the local APIC's EOI comes back. */
		io->redir[pin] |= IOAPIC_RTE_REMOTE_IRR;
	}
	io->last.count++;
	io->last.address = address;
	io->last.data = data;

	ret = vm__signal_msi(io->vm, address, data);
	if (ret < 0) {
		/* No EOI will follow an interrupt that was never sent. */
		io->redir[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
		pr_warn_once("IOAPIC pin %d: MSI delivery failed: %s", pin, strerror(-ret));
	}
}

/* A level-triggered pin fires whenever it is asserted, unmasked and idle. */
static void ioapic__service_level(struct ioapic *io, int pin)
{
	uint64_t e = io->redir[pin];

	if ((e & IOAPIC_RTE_LEVEL) && !(e & IOAPIC_RTE_MASK) &&
	    !(e & IOAPIC_RTE_REMOTE_IRR) && (io->asserted & (1u << pin)))
		ioapic__deliver(io, pin);
}

static uint32_t ioapic__read_indirect(struct ioapic *io, uint8_t index)
{
	if (index == IOAPIC_INDEX_ID || index == IOAPIC_INDEX_ARB)
		return (uint32_t)io->id << 24;
	if (index == IOAPIC_INDEX_VERSION)
		return IOAPIC_VERSION | (IOAPIC_NR_PINS - 1) << 16;
	if (index >= IOAPIC_INDEX_REDIR && index < IOAPIC_INDEX_REDIR + 2 * IOAPIC_NR_PINS) {
		uint64_t e = io->redir[(index - IOAPIC_INDEX_REDIR) / 2];

		return (index & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0xffffffff;
}

static void ioapic__write_redir(struct ioapic *io, uint8_t index, uint32_t val)
{
	int pin = (index - IOAPIC_INDEX_REDIR) / 2;
	uint64_t e = io->redir[pin];

	if (index & 1)
		e = (e & 0xffffffffull) | (uint64_t)val << 32;
	else
		e = (e & ~0xffffffffull) | val;
	e = (e & IOAPIC_RTE_WRITABLE) | (io->redir[pin] & IOAPIC_RTE_REMOTE_IRR);
	/* Only level pins wait for an EOI; guests without a usable EOI register
	 * clear a stuck remote IRR by switching the pin to edge and back. */
	if (!(e & IOAPIC_RTE_LEVEL))
		e &= ~IOAPIC_RTE_REMOTE_IRR;
	io->redir[pin] = e;
	ioapic__service_level(io, pin);
}

static void ioapic__write_indirect(struct ioapic *io, uint8_t index, uint32_t val)
{
	if (index == IOAPIC_INDEX_ID)
		io->id = (val >> 24) & 0xf;
	else if (index >= IOAPIC_INDEX_REDIR && index < IOAPIC_INDEX_REDIR + 2 * IOAPIC_NR_PINS)
		ioapic__write_redir(io, index, val);
	/* The version and arbitration registers are read-only. */
}

static void ioapic__eoi_locked(struct ioapic *io, uint8_t vector)
{
	for (int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t e = io->redir[pin];

		if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_LEVEL) ||
		    !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->redir[pin] = e & ~IOAPIC_RTE_REMOTE_IRR;
		ioapic__service_level(io, pin);
	}
}

static void ioapic__mmio_write(struct ioapic *io, uint64_t reg, const uint8_t *data,
			       uint32_t len)
{
	uint32_t val = 0;

	memcpy(&val, data, len < 4 ? len : 4);
	switch (reg) {
	case IOAPIC_REG_SELECT:
		io->regsel = (uint8_t)val;
		break;
	case IOAPIC_REG_WINDOW:
		if (len < 4)
			pr_warn_once("IOAPIC: %u-byte write to IOWIN ignored", len);
		else
			ioapic__write_indirect(io, io->regsel, val);
		break;
	case IOAPIC_REG_EOI:
		ioapic__eoi_locked(io, (uint8_t)val);
		break;
	}
}

static void ioapic__mmio(void *dev, struct vcpu *vcpu, uint64_t addr, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct ioapic *io = dev;
	uint64_t off = addr - IOAPIC_BASE;
	uint64_t reg = off & ~3ull;
	unsigned int shift = (off & 3) * 8;
	uint64_t val;

	(void)vcpu;
	pthread_mutex_lock(&io->lock);
	if (is_write) {
		/* The registers are 32-bit; writes must start at one. */
		if (shift == 0)
			ioapic__mmio_write(io, reg, data, len);
		pthread_mutex_unlock(&io->lock);
		return;
	}
	if (reg == IOAPIC_REG_SELECT) {
		val = io->regsel;
	} else if (reg == IOAPIC_REG_WINDOW) {
		val = ioapic__read_indirect(io, io->regsel);
	} else {
		/* Nothing else is readable, the EOI register included. */
		pthread_mutex_unlock(&io->lock);
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_unlock(&io->lock);

	val >>= shift;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(val >> (8 * i));
}

int ioapic__init(struct vm *vm)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	int ret;

	if (!io)
		return -ENOMEM;
	io->vm = vm;
	io->id = IOAPIC_ID;
	pthread_mutex_init(&io->lock, NULL);
	for (int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		io->redir[pin] = IOAPIC_RTE_MASK;

	ret = io__register(&vm->mmio, IOAPIC_BASE, IOAPIC_SIZE, ioapic__mmio, io);
	if (ret < 0) {
		pthread_mutex_destroy(&io->lock);
		free(io);
		return ret;
	}
	vm->ioapic = io;
	return 0;
}

void ioapic__destroy(struct vm *vm)
{
	struct ioapic *io = vm->ioapic;

	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
	vm->ioapic = NULL;
}

void ioapic__set_irq(struct vm *vm, int pin, bool level)
{
	struct ioapic *io = vm->ioapic;
	uint32_t bit;
	bool was;

	if (pin < 0 || pin >= IOAPIC_NR_PINS)
		return;
	bit = 1u << pin;
	pthread_mutex_lock(&io->lock);
	was = io->asserted & bit;
	if (level)
		io->asserted |= bit;
	else
		io->asserted &= ~bit;

	if (io->redir[pin] & IOAPIC_RTE_LEVEL)
		ioapic__service_level(io, pin);
	else if (level && !was && !(io->redir[pin] & IOAPIC_RTE_MASK))
		ioapic__deliver(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void ioapic__eoi(struct vm *vm, uint8_t vector)
{
	struct ioapic *io = vm->ioapic;

	pthread_mutex_lock(&io->lock);
	ioapic__eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}

void ioapic__last_msi(struct vm *vm, struct ioapic_msi_record *out)
{
	struct ioapic *io = vm->ioapic;

	pthread_mutex_lock(&io->lock);
	*out = io->last;
	pthread_mutex_unlock(&io->lock);
}
