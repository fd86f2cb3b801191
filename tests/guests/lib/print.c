/*
 * Formatted output: a small vsnprintf (%s %c %d %i %u %x %X %p with the
 * 0, - and # flags, a width and the l, ll and z lengths), printf through
 * HYPERVISOR_console_io, and polled output on the COM1 UART.
 */
#include "guest.h"

struct out {
	char *buf;
	size_t size;
	size_t len;     /* what the whole output needs, as snprintf counts */
};

static void out_putc(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

/* Divides *n by base and returns the remainder.  The 32-bit build would
 * otherwise call libgcc's __udivdi3, which a freestanding guest lacks. */
static unsigned int divmod(uint64_t *n, unsigned int base)
{
#ifdef __i386__
	uint32_t hi = (uint32_t)(*n >> 32), lo = (uint32_t)*n;
	uint32_t qhi = hi / base, rem = hi % base, qlo;

	/* rem < base, so the 64/32 divide cannot overflow. */
	asm("divl %[base]" : "=a" (qlo), "=d" (rem)
	    : "a" (lo), "d" (rem), [base] "rm" (base));
	*n = (uint64_t)qhi << 32 | qlo;
	return rem;
#else
	unsigned int rem = (unsigned int)(*n % base);

	*n /= base;
	return rem;
#endif
}

struct spec {
	bool alt;       /* '#': 0x before hexadecimal */
	bool zero;
	bool left;
	unsigned int width;
};

static void out_padded(struct out *o, const char *s, size_t len,
		       const struct spec *sp)
{
	size_t pad = sp->width > len ? sp->width - len : 0;

	if (!sp->left)
		for (; pad; pad--)
			out_putc(o, sp->zero ? '0' : ' ');
	while (len--)
		out_putc(o, *s++);
	for (; pad; pad--)
		out_putc(o, ' ');
}

static void out_number(struct out *o, uint64_t v, bool negative,
		       unsigned int base, bool upper, const struct spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t i = sizeof(tmp);

	do
		tmp[--i] = digits[divmod(&v, base)];
	while (v);
	if (sp->alt && base == 16) {
		tmp[--i] = 'x';
		tmp[--i] = '0';
	}
	if (negative && sp->zero && sp->width) {
		struct spec rest = *sp;

		out_putc(o, '-');
		rest.width--;
		out_padded(o, tmp + i, sizeof(tmp) - i, &rest);
		return;
	}
	if (negative)
		tmp[--i] = '-';
	out_padded(o, tmp + i, sizeof(tmp) - i, sp);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size, .len = 0 };

	for (; *fmt; fmt++) {
		struct spec sp = { 0 };
		unsigned int longs = 0;

		if (*fmt != '%') {
			out_putc(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				sp.zero = true;
			else if (*fmt == '#')
				sp.alt = true;
			else if (*fmt == '-')
				sp.left = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			sp.width = sp.width * 10 + (unsigned int)(*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l')
				longs++;
			else if (*fmt == 'z')
				longs = sizeof(size_t) == sizeof(long) ? 1 : 0;
			else
				break;
		}

		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = longs >= 2 ? va_arg(ap, long long)
				: longs ? va_arg(ap, long) : va_arg(ap, int);

			out_number(&o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v,
				   v < 0, 10, false, &sp);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = longs >= 2 ? va_arg(ap, unsigned long long)
				: longs ? va_arg(ap, unsigned long)
				: va_arg(ap, unsigned int);

			out_number(&o, v, false, *fmt == 'u' ? 10 : 16,
				   *fmt == 'X', &sp);
			break;
		}
		case 'p':
			sp.alt = true;
			out_number(&o, (uintptr_t)va_arg(ap, void *), false, 16,
				   false, &sp);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			out_padded(&o, s, strlen(s), &sp);
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);

			out_padded(&o, &c, 1, &sp);
			break;
		}
		case '%':
			out_putc(&o, '%');
			break;
		case '\0':
			fmt--;  /* a lone '%' at the end */
			break;
		default:
			out_putc(&o, '%');
			out_putc(&o, *fmt);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void console_write(const char *s, size_t len)
{
	HYPERVISOR_console_io(CONSOLEIO_write, (int)len, (uintptr_t)s);
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_write(buf, strnlen(buf, sizeof(buf)));
	return n;
}

void uart_putc(char c)
{
	/* Bounded, so that a machine without a UART cannot hang the guest. */
	for (unsigned int i = 0; i < 10000; i++)
		if (inb(COM1_BASE + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1_BASE + UART_THR, (uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}
