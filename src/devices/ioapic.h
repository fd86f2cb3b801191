/*
 * The I/O APIC, in user space: KVM runs the local APICs (split irqchip) and
 * pvmm's devices raise their interrupt lines here.  A pin that fires becomes
 * an MSI built from its redirection entry and sent into the local APICs.
 *
 * Guest view (82093AA, version 0x20): IOREGSEL at base + 0x00, IOWIN at
 * base + 0x10 (32-bit accesses), the EOI register at base + 0x40; registers
 * 0x00 ID, 0x01 version, 0x02 arbitration, 0x10 + 2 * pin (low half) and
 * 0x11 + 2 * pin (high half) the redirection table.  Entries start masked.
 */
#ifndef PVMM_DEVICES_IOAPIC_H
#define PVMM_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define IOAPIC_BASE      0xfec00000ull
#define IOAPIC_SIZE      0x1000
#define IOAPIC_NR_PINS   24
#define IOAPIC_ID        0        /* what the firmware tables must announce */
#define IOAPIC_VERSION   0x20

#define IOAPIC_REG_SELECT 0x00
#define IOAPIC_REG_WINDOW 0x10
#define IOAPIC_REG_EOI    0x40

#define IOAPIC_INDEX_ID      0x00
#define IOAPIC_INDEX_VERSION 0x01
#define IOAPIC_INDEX_ARB     0x02
#define IOAPIC_INDEX_REDIR   0x10

/* Redirection entry bits (a 64-bit entry, the high half holds the destination). */
#define IOAPIC_RTE_VECTOR        0xffull
#define IOAPIC_RTE_DELMODE_SHIFT 8
#define IOAPIC_RTE_DELMODE       (7ull << IOAPIC_RTE_DELMODE_SHIFT)
#define IOAPIC_RTE_DESTMODE      (1ull << 11)   /* 1: logical */
#define IOAPIC_RTE_DELIVS        (1ull << 12)   /* read-only */
#define IOAPIC_RTE_POLARITY      (1ull << 13)   /* 1: active low */
#define IOAPIC_RTE_REMOTE_IRR    (1ull << 14)   /* read-only */
#define IOAPIC_RTE_LEVEL         (1ull << 15)   /* trigger mode: 1 level */
#define IOAPIC_RTE_MASK          (1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT    56
#define IOAPIC_RTE_DEST          (0xffull << IOAPIC_RTE_DEST_SHIFT)

/* Registers on vm->mmio and sets vm->ioapic; 0 or -errno. */
int ioapic__init(struct vm *vm);
/* Frees it; the vCPUs and the main loop must have stopped. */
void ioapic__destroy(struct vm *vm);

/*
 * A device drives pin's input line: level true while its interrupt is
 * asserted (the logical state: polarity describes the wire, which devices
 * inside pvmm do not have).  An edge-triggered pin fires on a rising edge
 * while unmasked; an edge on a masked pin is lost, as on the 82093AA.  A
 * level-triggered pin fires while asserted, unmasked and its remote IRR is
 * clear.  Out-of-range pins are ignored.  Safe from any thread.
 */
void ioapic__set_irq(struct vm *vm, int pin, bool level);

/*
 * The local APICs finished a level-triggered interrupt with this vector
 * (KVM_EXIT_IOAPIC_EOI, or the guest wrote the EOI register): clears the
 * remote IRR of level pins using it, and fires them again if still asserted.
 */
void ioapic__eoi(struct vm *vm, uint8_t vector);

/* The last MSI the IOAPIC sent and how many it has sent: lets tests and
 * debugging see what a redirection entry turned into. */
struct ioapic_msi_record {
	uint64_t count;
	uint64_t address;
	uint32_t data;
};

void ioapic__last_msi(struct vm *vm, struct ioapic_msi_record *out);

#endif
