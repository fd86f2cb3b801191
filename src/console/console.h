/*
 * The VM's console: where guest output goes (stdout, a file, nowhere) and
 * where guest input comes from (pvmm's standard input).  Every guest-facing
 * console (COM1, port 0xe9, CONSOLEIO_write, the PV console ring) writes
 * here; input is queued here and read by whichever device the guest polls.
 */
#ifndef PVMM_CONSOLE_CONSOLE_H
#define PVMM_CONSOLE_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_INPUT_SIZE 4096

typedef void (*console_input_fn)(void *opaque);

struct console_listener {
	console_input_fn fn;
	void *opaque;
};

#define CONSOLE_MAX_LISTENERS 4

struct console {
	int out_fd;                 /* -1: output discarded */
	bool out_is_file;           /* we opened it and close it */
	bool in_enabled;            /* stdin feeds the guest */
	pthread_mutex_t lock;       /* the input queue and the listeners */
	pthread_cond_t in_room;     /* the queue drained to half full */
	bool in_stopped;            /* console__stop_input() was called */
	pthread_mutex_t out_lock;   /* one writer at a time; a slow reader of
				     * our output never holds up input */
	uint8_t in_buf[CONSOLE_INPUT_SIZE];
	size_t in_head, in_len;
	struct console_listener listener[CONSOLE_MAX_LISTENERS];
	int nr_listeners;
};

/*
 * spec is "stdio", "file:PATH" or "none".  Returns 0, or -1 after printing
 * a one-line error naming the problem.  Only "stdio" takes input
 * (in_enabled); a file is created or truncated.  console__close() is safe
 * after either result.
 */
int console__open(struct console *c, const char *spec);
void console__close(struct console *c);

/* Guest output; safe from any thread. */
void console__write(struct console *c, const void *buf, size_t len);

/* Host input (from the main loop): queued, then listeners are told. Bytes
 * beyond the queue's free space are dropped, as a full UART FIFO would. */
void console__push_input(struct console *c, const void *buf, size_t len);

/*
 * Host input from a source that can wait (a file), on any thread: queues
 * all of buf, waiting whenever the queue is full until the guest has read
 * it down to half, so no byte is dropped.  Listeners run on the calling
 * thread after each part.  Returns len, or fewer once console__stop_input()
 * has been called.
 */
size_t console__push_input_wait(struct console *c, const void *buf, size_t len);

/* Wakes every console__push_input_wait() and makes later ones return at
 * once: the VM stops and nobody will read the queue any more. */
void console__stop_input(struct console *c);

/* Takes up to len queued input bytes; returns how many. */
size_t console__read(struct console *c, void *buf, size_t len);
/* Number of queued input bytes. */
size_t console__pending(struct console *c);

/* fn runs (on the thread that pushed it: the main loop, or the reader of a
 * stdin that cannot be polled) each time input arrives.  Returns 0, or
 * -ENOSPC when CONSOLE_MAX_LISTENERS are registered. */
int console__add_listener(struct console *c, console_input_fn fn, void *opaque);
/* Forgets the listener (fn, opaque); a device calls it before it is freed,
 * once nothing pushes input any more. */
void console__remove_listener(struct console *c, console_input_fn fn, void *opaque);

#endif
