/* Logging: one line per message on stderr, prefixed "pvmm: ". */
#ifndef PVMM_UTIL_LOG_H
#define PVMM_UTIL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log__set_level(enum log_level level);
enum log_level log__level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log__parse_level(const char *name, enum log_level *out);
void log__msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)   log__msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  log__msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log__msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__msg(LOG_DEBUG, __VA_ARGS__)

/* A warning a guest can trigger at will: printed the first time only. */
#define pr_warn_once(...)                                   \
	do {                                                \
		static atomic_bool warned_;                 \
		if (!atomic_exchange(&warned_, true))       \
			pr_warn(__VA_ARGS__);               \
	} while (0)

#endif
