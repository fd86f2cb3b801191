/* One-line error messages written into a caller's buffer, for functions
 * that report why they failed without logging (the caller decides). */
#ifndef PVMM_UTIL_ERRBUF_H
#define PVMM_UTIL_ERRBUF_H

#include <stddef.h>

/* Formats the message into err (len bytes; nothing when err is NULL). */
void errbuf__set(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* errbuf__set(), then returns -1: `return errbuf__fail(err, len, ...);` */
int errbuf__fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
