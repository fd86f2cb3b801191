/*
 * The main thread's event loop: file descriptors and the callbacks that
 * serve them (standard input, signals, and later backend eventfds and
 * timerfds).  vCPU threads never run here.
 */
#ifndef PVMM_UTIL_LOOP_H
#define PVMM_UTIL_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>

typedef void (*loop_fn)(int fd, void *opaque);

/* Two timers per vCPU (32 at most), the backends' channels, signals. */
#define LOOP_MAX_FDS 128

struct loop_entry {
	int fd;
	loop_fn fn;
	void *opaque;
};

struct loop {
	int epoll_fd;
	struct loop_entry entry[LOOP_MAX_FDS];
	int nr;
};

int loop__init(struct loop *l);
void loop__destroy(struct loop *l);
/* Calls fn whenever fd is readable (or hung up); 0 or -errno. */
int loop__add(struct loop *l, int fd, loop_fn fn, void *opaque);
int loop__remove(struct loop *l, int fd);
/* Waits for and serves ready descriptors until *done is true. */
void loop__run(struct loop *l, const atomic_bool *done);

#endif
