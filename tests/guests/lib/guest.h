/*
 * The runtime of the freestanding test guests: a Xen PVH guest's start-up,
 * console output, checks and shutdown.  Each guest provides guest_main();
 * the runtime calls it with the hvm_start_info the loader passed in EBX and,
 * when it returns, prints the check summary and shuts the domain down.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypercall.h"
#include "xen.h"

#define GUEST_BITS ((unsigned)sizeof(void *) * 8)
#define PAGE_SIZE 4096u

/* The one function each guest defines. */
void guest_main(const struct hvm_start_info *si);

/* The loaded image, from the linker script. */
extern char _image_start[], _image_end[];

/* Machine state at the PVH entry point, saved by the start code before it
 * changes anything. */
struct entry_state {
	uint32_t ebx;
	uint32_t cr0;
	uint32_t cr4;
	uint32_t eflags;
};
extern struct entry_state entry_state;

/* What CPUID leaves 0x40000x00.. told us; filled before guest_main runs. */
struct xen_cpuid {
	uint32_t base;
	uint32_t version;       /* leaf base+1 eax: major << 16 | minor */
	uint32_t nr_pages;      /* leaf base+2 eax */
	uint32_t msr;           /* leaf base+2 ebx */
};
extern struct xen_cpuid xen_cpuid;

#ifdef __x86_64__
/*
 * Extra mappings of the 64-bit page tables (start64.S).  The first 4 GiB
 * are identity mapped with 2 MiB pages and mapped again at HIGH_ALIAS_BASE.
 * SCATTER_VA maps two 4 KiB pages in swapped order: SCATTER_VA is
 * scatter_page_b, SCATTER_VA + 4096 is scatter_page_a.  Nothing maps
 * UNMAPPED_VA.
 */
#define HIGH_ALIAS_BASE 0xffff800000000000ul
#define SCATTER_VA      0xffff800100000000ul
#define UNMAPPED_VA     0x0000100000000000ul
#define NONCANONICAL_VA 0x8000000000000000ul
extern char scatter_page_a[4096], scatter_page_b[4096];
#endif

/* Output: printf goes through HYPERVISOR_console_io(CONSOLEIO_write). */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void console_write(const char *s, size_t len);

/* COM1, a 16550 at port 0x3f8. */
#define COM1_BASE 0x3f8
#define UART_RBR  0       /* receive buffer (read) */
#define UART_THR  0       /* transmit holding register (write) */
#define UART_IER  1
#define UART_MCR  4
#define UART_LSR  5
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
void uart_putc(char c);
void uart_puts(const char *s);

/* Checks: each prints "ok - name" or "FAIL - name" and is counted. */
bool check(bool cond, const char *name);
bool check_long(const char *name, long got, long want);
bool check_u64(const char *name, uint64_t got, uint64_t want);

/* Summary line and shutdown: poweroff when every check passed, else crash. */
__attribute__((noreturn)) void guest_finish(void);
__attribute__((noreturn)) void guest_exit(unsigned int reason);
/* Loads an empty IDT and faults: the CPU shuts down. */
__attribute__((noreturn)) void triple_fault(void);

/* Interrupts and exceptions.  Exceptions without a handler print where they
 * happened and crash the domain. */
struct trap_frame {
#ifdef __x86_64__
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, ip, cs, flags, sp, ss;
#else
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
	uint32_t vector, error, ip, cs, flags;
#endif
};
typedef void (*trap_fn)(struct trap_frame *frame);
void trap_init(void);
/* Loads the IDT trap_init() built: each vCPU has its own IDTR. */
void trap_load(void);
void trap_set_handler(unsigned int vector, trap_fn fn);

/* The physical memory map in hvm_start_info. */
const struct hvm_memmap_table_entry *memmap_find(const struct hvm_start_info *si,
						 uint64_t addr, uint64_t len);
bool memmap_is_ram(const struct hvm_start_info *si, uint64_t addr, uint64_t len);
/* A pointer to guest-physical memory, or NULL when addr..addr+len is beyond
 * what the runtime maps (the first 4 GiB, identity). */
const void *phys_ptr(uint64_t addr, uint64_t len);

/* Xen system time in ns from a vcpu_time_info (the pvclock formula). */
uint64_t pvclock_read(const volatile struct vcpu_time_info *t);

/* Freestanding string functions (the compiler may call these, too). */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);

/* Privileged instructions. */
static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a" (v), "Nd" (port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a" (v) : "Nd" (port));
	return v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	asm volatile("cpuid" : "=a" (*a), "=b" (*b), "=c" (*c), "=d" (*d)
		     : "a" (leaf), "c" (0));
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr" : : "c" (msr), "a" ((uint32_t)v),
		     "d" ((uint32_t)(v >> 32)) : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a" (lo), "=d" (hi));
	return (uint64_t)hi << 32 | lo;
}

/* Waits for an interrupt without losing one that arrives before the hlt:
 * sti takes effect only after the next instruction. */
static inline void wait_for_interrupt(void)
{
	asm volatile("sti; hlt; cli" : : : "memory");
}

#endif
