/*
 * The IDT: one 16-byte stub per vector (trap32.S/trap64.S) funnels into
 * trap_dispatch(), which calls the handler a guest installed or reports an
 * unexpected exception and crashes the domain, so that a fault shows where
 * it happened instead of ending in a silent triple fault.
 */
#include "guest.h"

#define GUEST_CS        0x08    /* the code selector start32.S/start64.S load */
#define GATE_INTERRUPT  0x8e    /* present, DPL 0, interrupt gate (IF cleared) */
#define TRAP_STUB_SIZE  16

extern char trap_stubs[];
void trap_dispatch(struct trap_frame *frame);

struct gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;            /* 32-bit gates: reserved, zero */
	uint8_t type;
	uint16_t offset_mid;
#ifdef __x86_64__
	uint32_t offset_hi;
	uint32_t reserved;
#endif
};

static struct gate idt[256] __attribute__((aligned(16)));
static trap_fn handlers[256];
static unsigned int trap_depth;

static void gate_set(unsigned int vector)
{
	uintptr_t stub = (uintptr_t)trap_stubs + vector * TRAP_STUB_SIZE;

	idt[vector] = (struct gate){
		.offset_lo = (uint16_t)stub,
		.selector = GUEST_CS,
		.type = GATE_INTERRUPT,
		.offset_mid = (uint16_t)(stub >> 16),
#ifdef __x86_64__
		.offset_hi = (uint32_t)(stub >> 32),
#endif
	};
}

void trap_init(void)
{
	for (unsigned int v = 0; v < 32; v++)
		gate_set(v);
	trap_load();
}

void trap_load(void)
{
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	asm volatile("lidt %0" : : "m" (idtr));
}

void trap_set_handler(unsigned int vector, trap_fn fn)
{
	if (vector >= 256)
		return;
	handlers[vector] = fn;
	gate_set(vector);
}

void trap_dispatch(struct trap_frame *frame)
{
	if (handlers[frame->vector & 0xff]) {
		handlers[frame->vector & 0xff](frame);
		return;
	}
	/* Reporting uses hypercalls; a fault while reporting must not recurse. */
	if (trap_depth++) {
		uart_puts("guest: fault while handling a fault\n");
		triple_fault();
	}
	printf("guest: unexpected %s %lu (error %#lx) at ip %#lx\n",
	       frame->vector < 32 ? "exception" : "interrupt",
	       (unsigned long)frame->vector, (unsigned long)frame->error,
	       (unsigned long)frame->ip);
	guest_exit(SHUTDOWN_crash);
}
