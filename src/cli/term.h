/*
 * The terminal `pvmm run` talks through when standard input is a tty: raw
 * mode so that every key reaches the guest (Ctrl-C included), and the
 * Ctrl-A escape that lets the user leave.
 */
#ifndef PVMM_CLI_TERM_H
#define PVMM_CLI_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERM_ESCAPE_CHAR 0x01   /* Ctrl-A */

bool term__is_tty(void);

/*
 * Puts standard input's terminal in raw mode (no echo, no line editing, no
 * signals from keys; output processing stays, so a bare "\n" from the guest
 * still starts a new line).  The old mode comes back through term__restore(),
 * which runs at exit and on a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT: the previous handler runs afterwards).  0, or -errno (-ENOTTY
 * when standard input is not a terminal).
 */
int term__raw_begin(void);

/* Restores the mode saved by term__raw_begin(); does nothing the second
 * time.  Async-signal-safe. */
void term__restore(void);

/* The state of the escape filter; zero-initialise it. */
struct term_escape {
	bool after_escape;
};

/*
 * Filters n bytes of keyboard input into out, which must hold n + 1 bytes.
 * Ctrl-A x: quit (returns 1; *out_n counts the bytes before it, the rest are
 * dropped).  Ctrl-A Ctrl-A: one Ctrl-A for the guest.  Ctrl-A h: a one-line
 * help on stderr.  Ctrl-A and any other key: both go to the guest.  An
 * escape at the end of in waits for the next call.  Returns 0 otherwise.
 */
int term__escape_feed(struct term_escape *e, const uint8_t *in, size_t n,
		      uint8_t *out, size_t *out_n);

#endif
