#include "devices/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "console/console.h"
#include "devices/ioapic.h"
#include "vcpu/io.h"
#include "vcpu/vm.h"

/* The modem a PC's COM1 seems to have when nothing drives it: carrier,
 * data set ready and clear to send, as other VMMs report. */
#define UART_MSR_IDLE (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)
/* Divisor for 9600 baud, what firmware usually leaves behind. */
#define UART_DEFAULT_DIVISOR 12

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t dll, dlm, ier, fcr, lcr, mcr, scr;
	uint8_t lsr_errors;          /* OE: only loopback can overrun */
	uint8_t msr;                 /* status in bits 7:4, deltas in 3:0 */
	bool thr_ipending;           /* the "THR empty" interrupt is pending */
	bool irq_line;               /* what the IOAPIC was last told */
	/* Bytes sent to ourselves in loopback mode; host input is read
	 * straight from the console queue, so no byte waits here for a guest
	 * that never reads COM1. */
	uint8_t loop_fifo[UART_FIFO_SIZE];
	unsigned int loop_head, loop_len;
};

static bool uart__rx_ready(struct uart *u)
{
	if (u->loop_len > 0)
		return true;
	return !(u->mcr & UART_MCR_LOOP) && console__pending(&u->vm->console) > 0;
}

static uint8_t uart__lsr(struct uart *u)
{
	uint8_t lsr = u->lsr_errors | UART_LSR_THRE | UART_LSR_TEMT;

	if (uart__rx_ready(u))
		lsr |= UART_LSR_DR;
	return lsr;
}

/* The highest-priority pending interrupt, without the side effects of the
 * guest reading IIR. */
static uint8_t uart__iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0;

	if ((u->ier & UART_IER_RLSI) && u->lsr_errors)
		return fifo | UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && uart__rx_ready(u))
		return fifo | UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return fifo | UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

static void uart__set_line(struct uart *u, bool level)
{
	if (u->irq_line == level)
		return;
	u->irq_line = level;
	ioapic__set_irq(u->vm, UART_COM1_IRQ, level);
}

static void uart__update_irq(struct uart *u)
{
	bool pending = !(uart__iir(u) & UART_IIR_NO_INT);

	/* A PC wires the UART's interrupt through a buffer enabled by OUT2;
	 * loopback mode disconnects the OUT pins. */
	uart__set_line(u, pending && (u->mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) == UART_MCR_OUT2);
}

/* Modem status inputs: in loopback they are the MCR outputs. */
static uint8_t uart__modem_inputs(uint8_t mcr)
{
	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_IDLE;
	return (uint8_t)(((mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
			 ((mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
			 ((mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
			 ((mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0));
}

static void uart__set_modem_inputs(struct uart *u, uint8_t status)
{
	uint8_t changed = (u->msr ^ status) & 0xf0;
	uint8_t delta = u->msr & 0x0f;

	if (changed & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	/* Ring indicator reports its trailing edge only. */
	if ((u->msr & UART_MSR_RI) && !(status & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	u->msr = status | delta;
}

static void uart__transmit(struct uart *u, uint8_t byte)
{
	unsigned int room = (u->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;

	if (!(u->mcr & UART_MCR_LOOP)) {
		console__write(&u->vm->console, &byte, 1);
		return;
	}
	if (u->loop_len == room) {
		u->lsr_errors |= UART_LSR_OE;
		return;
	}
	u->loop_fifo[(u->loop_head + u->loop_len) % UART_FIFO_SIZE] = byte;
	u->loop_len++;
}

static uint8_t uart__receive(struct uart *u)
{
	uint8_t byte = 0;

	if (u->loop_len > 0) {
		byte = u->loop_fifo[u->loop_head];
		u->loop_head = (u->loop_head + 1) % UART_FIFO_SIZE;
		u->loop_len--;
	} else if (!(u->mcr & UART_MCR_LOOP)) {
		console__read(&u->vm->console, &byte, 1);
	}
	return byte;
}

static uint8_t uart__read(struct uart *u, unsigned int reg)
{
	uint8_t val;

	switch (reg) {
	case UART_RBR:
		if (u->lcr & UART_LCR_DLAB)
			return u->dll;
		val = uart__receive(u);
		/* The next byte is a new arrival: lower the line so that it
		 * rises again, and an edge-triggered pin fires for it. */
		if (uart__rx_ready(u))
			uart__set_line(u, false);
		return val;
	case UART_IER:
		return (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		val = uart__iir(u);
		/* Reading IIR is how the guest acknowledges "THR empty". */
		if ((val & UART_IIR_ID) == UART_IIR_THRI)
			u->thr_ipending = false;
		return val;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		val = uart__lsr(u);
		u->lsr_errors = 0;
		return val;
	case UART_MSR:
		val = u->msr;
		u->msr &= 0xf0;
		return val;
	default:
		return u->scr;
	}
}

static void uart__write_fcr(struct uart *u, uint8_t val)
{
	/* Switching the FIFOs on or off empties them. */
	if ((val ^ u->fcr) & UART_FCR_ENABLE)
		u->loop_len = 0;
	/* The other bits take effect only together with FCR.ENABLE. */
	if (!(val & UART_FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	if (val & UART_FCR_CLEAR_RCVR)
		u->loop_len = 0;
	u->fcr = val & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER);
}

static void uart__write(struct uart *u, unsigned int reg, uint8_t val)
{
	uint8_t changed;

	switch (reg) {
	case UART_THR:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = val;
			break;
		}
		/* Writing THR acknowledges "THR empty"; the byte leaves at
		 * once and THR is empty again: a new edge for the guest. */
		u->thr_ipending = false;
		uart__update_irq(u);
		uart__transmit(u, val);
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = val;
			break;
		}
		changed = (u->ier ^ val) & 0x0f;
		u->ier = val & 0x0f;
		/* Enabling the interrupt while THR is empty raises it. */
		if (changed & UART_IER_THRI)
			u->thr_ipending = u->ier & UART_IER_THRI;
		break;
	case UART_FCR:
		uart__write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & 0x1f;
		uart__set_modem_inputs(u, uart__modem_inputs(u->mcr));
		break;
	case UART_LSR:
	case UART_MSR:
		/* Factory-test writes: ignored. */
		break;
	default:
		u->scr = val;
		break;
	}
}

static void uart__io(void *dev, struct vcpu *vcpu, uint64_t addr, uint8_t *data,
		     uint32_t len, bool is_write)
{
	struct uart *u = dev;

	(void)vcpu;
	pthread_mutex_lock(&u->lock);
	/* A wide access to 8-bit registers is split into byte accesses. */
	for (uint32_t i = 0; i < len; i++) {
		uint64_t reg = addr + i - UART_COM1_BASE;

		if (reg >= UART_NR_PORTS) {
			if (!is_write)
				data[i] = 0xff;
		} else if (is_write) {
			uart__write(u, (unsigned int)reg, data[i]);
		} else {
			data[i] = uart__read(u, (unsigned int)reg);
		}
	}
	uart__update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

/* Runs on the main loop when host input is queued. */
static void uart__console_input(void *opaque)
{
	struct uart *u = opaque;

	pthread_mutex_lock(&u->lock);
	uart__update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

int uart__init(struct vm *vm)
{
	struct uart *u;
	int ret;

	if (!vm->ioapic)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vm = vm;
	u->dll = UART_DEFAULT_DIVISOR;
	u->msr = UART_MSR_IDLE;
	pthread_mutex_init(&u->lock, NULL);

	/* The listener first: unlike a port range, it can be taken back. */
	ret = console__add_listener(&vm->console, uart__console_input, u);
	if (ret < 0)
		goto err_free;
	ret = io__register(&vm->pio, UART_COM1_BASE, UART_NR_PORTS, uart__io, u);
	if (ret < 0)
		goto err_listener;
	vm->uart = u;
	return 0;

err_listener:
	console__remove_listener(&vm->console, uart__console_input, u);
err_free:
	pthread_mutex_destroy(&u->lock);
	free(u);
	return ret;
}

void uart__destroy(struct vm *vm)
{
	struct uart *u = vm->uart;

	if (!u)
		return;
	console__remove_listener(&vm->console, uart__console_input, u);
	pthread_mutex_destroy(&u->lock);
	free(u);
	vm->uart = NULL;
}
