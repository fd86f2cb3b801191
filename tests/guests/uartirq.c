/*
 * Receives "ping\n" on COM1 by interrupt: UART IRQ 4 -> IOAPIC pin 4 ->
 * vector 0x40 on the LAPIC, with the vCPU waiting in `sti; hlt`.
 */
#include "guest.h"

#define IOAPIC_BASE       0xfec00000u
#define IOAPIC_REGSEL     0x00
#define IOAPIC_WIN        0x10
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))

#define LAPIC_BASE        0xfee00000u
#define LAPIC_ID          0x020
#define LAPIC_TPR         0x080
#define LAPIC_EOI         0x0b0
#define LAPIC_SVR         0x0f0
#define LAPIC_SVR_ENABLE  0x100

#define UART_IRQ          4
#define UART_VECTOR       0x40
#define SPURIOUS_VECTOR   0xff

#define UART_IER_RDI      0x01    /* interrupt when data is received */
#define UART_MCR_DTR      0x01
#define UART_MCR_RTS      0x02
#define UART_MCR_OUT2     0x08    /* gates the interrupt line on a PC */

static char line[16];
static volatile unsigned int line_len;
static volatile unsigned int uart_irqs;
static volatile bool got_ping;

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

static void uart_rx(char c)
{
	if (c == '\r')
		return;
	if (c == '\n') {
		if (line_len == 4 && memcmp(line, "ping", 4) == 0)
			got_ping = true;
		line_len = 0;
		return;
	}
	if (line_len < sizeof(line))
		line[line_len] = c;
	if (line_len <= sizeof(line))
		line_len++;     /* saturates: an overlong line never matches */
}

static void uart_interrupt(struct trap_frame *frame)
{
	(void)frame;
	uart_irqs++;
	/* Bounded: a UART that always reports data must not wedge us here. */
	for (unsigned int i = 0; i < 64; i++) {
		if (!(inb(COM1_BASE + UART_LSR) & UART_LSR_DR))
			break;
		uart_rx((char)inb(COM1_BASE + UART_RBR));
	}
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

/* A spurious interrupt is not EOI'd. */
static void spurious_interrupt(struct trap_frame *frame)
{
	(void)frame;
}

void guest_main(const struct hvm_start_info *si)
{
	uint32_t apic_id;

	(void)si;
	trap_set_handler(UART_VECTOR, uart_interrupt);
	trap_set_handler(SPURIOUS_VECTOR, spurious_interrupt);

	mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
	mmio_write32(LAPIC_BASE + LAPIC_TPR, 0);
	apic_id = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;

	/* Fixed delivery, physical destination, active high, edge, unmasked:
	 * all zero bits beside the vector.  High half first, so the entry is
	 * complete when it is unmasked. */
	ioapic_write(IOAPIC_REDIR(UART_IRQ) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDIR(UART_IRQ), UART_VECTOR);

	/* Input that arrived before we were ready counts, too. */
	for (unsigned int i = 0; i < 64; i++) {
		if (!(inb(COM1_BASE + UART_LSR) & UART_LSR_DR))
			break;
		uart_rx((char)inb(COM1_BASE + UART_RBR));
	}
	outb(COM1_BASE + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	outb(COM1_BASE + UART_IER, UART_IER_RDI);

	printf("uartirq: %u-bit, LAPIC id %u, IRQ %u -> vector %#x\n", GUEST_BITS,
	       apic_id, UART_IRQ, UART_VECTOR);
	printf("uartirq: ready\n");
	while (!got_ping)
		wait_for_interrupt();
	printf("uartirq: %u UART interrupts\n", uart_irqs);
	printf("uartirq: got ping\n");
}
