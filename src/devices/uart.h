/*
 * COM1: a 16550A UART at I/O ports 0x3f8-0x3ff on IRQ 4.  What the guest
 * transmits goes to the VM's console; what it receives comes from the
 * console's input queue.  Transmission is instant, so the transmitter is
 * always empty and the line speed (the divisor latch) is only remembered.
 * "Data available" is raised as soon as one byte waits (no FIFO trigger
 * levels, no character timeouts), and each byte the guest takes while more
 * wait raises it anew, so edge-triggered delivery never leaves one behind.
 * As on a PC, the interrupt reaches the IOAPIC only while MCR.OUT2 is set
 * and loopback mode is off.
 */
#ifndef PVMM_DEVICES_UART_H
#define PVMM_DEVICES_UART_H

struct vm;

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
#define UART_NR_PORTS  8

/* Register offsets from the base port. */
#define UART_RBR 0    /* read, LCR.DLAB = 0 */
#define UART_THR 0    /* write, LCR.DLAB = 0 */
#define UART_DLL 0    /* LCR.DLAB = 1 */
#define UART_IER 1    /* LCR.DLAB = 0 */
#define UART_DLM 1    /* LCR.DLAB = 1 */
#define UART_IIR 2    /* read */
#define UART_FCR 2    /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI  0x08

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_ID     0x0f
#define UART_IIR_FIFO   0xc0

#define UART_FCR_ENABLE     0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_DMA        0x08
#define UART_FCR_TRIGGER    0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

#define UART_FIFO_SIZE 16

/* Registers COM1 on vm->pio, listens to vm->console and sets vm->uart.
 * vm->ioapic must exist.  0 or -errno. */
int uart__init(struct vm *vm);
/* Frees it; the vCPUs and the main loop must have stopped. */
void uart__destroy(struct vm *vm);

#endif
