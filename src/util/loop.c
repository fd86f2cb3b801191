#include "util/loop.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int loop__init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return l->epoll_fd < 0 ? -errno : 0;
}

void loop__destroy(struct loop *l)
{
	if (l->epoll_fd >= 0)
		close(l->epoll_fd);
	l->epoll_fd = -1;
}

int loop__add(struct loop *l, int fd, loop_fn fn, void *opaque)
{
	int slot = -1;

	for (int i = 0; i < LOOP_MAX_FDS; i++) {
		if (l->entry[i].fn == NULL) {
			slot = i;
			break;
		}
	}
	if (slot < 0)
		return -ENOSPC;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)slot };
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->entry[slot] = (struct loop_entry){ fd, fn, opaque };
	l->nr++;
	return 0;
}

int loop__remove(struct loop *l, int fd)
{
	for (int i = 0; i < LOOP_MAX_FDS; i++) {
		if (l->entry[i].fn && l->entry[i].fd == fd) {
			epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
			l->entry[i] = (struct loop_entry){ .fd = -1 };
			l->nr--;
			return 0;
		}
	}
	return -ENOENT;
}

void loop__run(struct loop *l, const atomic_bool *done)
{
	struct epoll_event ev[16];

	while (!atomic_load(done)) {
		int n = epoll_wait(l->epoll_fd, ev, 16, -1);
		if (n < 0 && errno != EINTR)
			return;
		for (int i = 0; i < n && !atomic_load(done); i++) {
			struct loop_entry *e = &l->entry[ev[i].data.u32];
			if (e->fn)
				e->fn(e->fd, e->opaque);
		}
	}
}
