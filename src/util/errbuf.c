#include "util/errbuf.h"

#include <stdarg.h>
#include <stdio.h>

static void set(char *err, size_t len, const char *fmt, va_list ap)
{
	if (err && len)
		vsnprintf(err, len, fmt, ap);
}

void errbuf__set(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set(err, len, fmt, ap);
	va_end(ap);
}

int errbuf__fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set(err, len, fmt, ap);
	va_end(ap);
	return -1;
}
