/*
 * A point-to-point Ethernet link between two pvmm guests over a Unix
 * SOCK_SEQPACKET socket: one frame per message, nothing else on the wire.
 * One side listens (listen=PATH: the socket file is created for pvmm's user
 * only; a stale one is replaced, a live one refused), the other connects
 * (connect=PATH: the listener must be there when pvmm starts).
 *
 * The listener serves one peer at a time and refuses others while it has
 * one; when its peer goes it waits for the next.  A connecting side whose
 * peer goes tries again every second.  Frames sent while there is no peer,
 * or that the socket cannot take at once, are dropped (the guest's
 * transmit is answered NETIF_RSP_DROPPED).  Frames are finished (checksums,
 * segmentation) before they go, so the far side gets plain Ethernet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/link.h"
#include "net/offload.h"
#include "util/log.h"

#define SOCKET_BATCH 64             /* frames read per wake-up */
#define RECONNECT_MS 1000

struct socket_link {
	struct net_link link;
	struct sockaddr_un addr;
	bool listener;
	int listen_fd;              /* listener: the listening socket */
	int peer_fd;                /* the connected peer, or -1 */
	int64_t retry_at_ms;        /* connecting side without a peer: next try */
	uint8_t buf[NET_FRAME_MAX];
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void drop_peer(struct socket_link *s, const char *why)
{
	pr_info("%s: peer gone (%s)", s->link.label, why);
	close(s->peer_fd);
	s->peer_fd = -1;
	s->retry_at_ms = now_ms() + RECONNECT_MS;
}

static int try_connect(struct socket_link *s)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr))) {
		int e = errno;

		close(fd);
		return -e;
	}
	s->peer_fd = fd;
	return 0;
}

static int socket_send(struct net_link *l, struct net_frame *f)
{
	struct socket_link *s = (struct socket_link *)l;

	if (s->peer_fd < 0)
		return -ENOTCONN;
	if (send(s->peer_fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS)
		return -EAGAIN;
	drop_peer(s, strerror(errno));
	return -ENOTCONN;
}

static unsigned socket_poll_fill(struct net_link *l, struct pollfd *pfd, unsigned max,
				 int *timeout_ms)
{
	struct socket_link *s = (struct socket_link *)l;
	unsigned n = 0;

	if (max < 2)
		return 0;
	if (s->listener)
		pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	if (s->peer_fd >= 0) {
		pfd[n++] = (struct pollfd){ .fd = s->peer_fd, .events = POLLIN };
	} else if (!s->listener) {
		int64_t wait = s->retry_at_ms - now_ms();

		if (wait < 0)
			wait = 0;
		if (*timeout_ms < 0 || wait < *timeout_ms)
			*timeout_ms = (int)wait;
	}
	return n;
}

static void accept_peer(struct socket_link *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (s->peer_fd >= 0) {
		/* One link, one peer: a guest's frames go to one place. */
		pr_warn("%s: refused a second peer while one is connected", s->link.label);
		close(fd);
		return;
	}
	s->peer_fd = fd;
	pr_info("%s: peer connected", s->link.label);
}

static void read_frames(struct socket_link *s)
{
	for (int i = 0; i < SOCKET_BATCH && s->peer_fd >= 0; i++) {
		ssize_t n = recv(s->peer_fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC);
		struct net_frame f = { .data = s->buf };

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			drop_peer(s, n ? strerror(errno) : "closed");
			return;
		}
		/* MSG_TRUNC gives a longer message's real length: not a frame
		 * pvmm can carry. */
		if ((size_t)n > sizeof(s->buf) || (size_t)n < NET_ETH_HLEN) {
			pr_debug("%s: dropped a message of %zd bytes", s->link.label, n);
			continue;
		}
		f.len = (size_t)n;
		s->link.deliver(s->link.opaque, &f);
	}
}

static void socket_poll_done(struct net_link *l, const struct pollfd *pfd, unsigned n)
{
	struct socket_link *s = (struct socket_link *)l;
	unsigned i = 0;

	if (s->listener && i < n && (pfd[i++].revents & POLLIN))
		accept_peer(s);
	if (i < n && pfd[i].fd == s->peer_fd && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
		read_frames(s);
	if (!s->listener && s->peer_fd < 0 && now_ms() >= s->retry_at_ms) {
		if (try_connect(s))
			s->retry_at_ms = now_ms() + RECONNECT_MS;
		else
			pr_info("%s: connected again", s->link.label);
	}
}

static void socket_destroy(struct net_link *l)
{
	struct socket_link *s = (struct socket_link *)l;

	if (s->peer_fd >= 0)
		close(s->peer_fd);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->addr.sun_path);
	}
	free(s);
}

static const struct net_link_ops socket_ops = {
	.send = socket_send,
	.poll_fill = socket_poll_fill,
	.poll_done = socket_poll_done,
	.destroy = socket_destroy,
};

/* Whether path is a socket file nobody answers on. */
static bool stale(const struct sockaddr_un *addr)
{
	struct stat st;
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool dead = probe >= 0 && !lstat(addr->sun_path, &st) && S_ISSOCK(st.st_mode) &&
		    connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) &&
		    errno == ECONNREFUSED;

	if (probe >= 0)
		close(probe);
	return dead;
}

static int open_listener(struct socket_link *s, char *err, size_t errlen)
{
	mode_t mask;
	int ret;

	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		snprintf(err, errlen, "--net socket: socket: %s", strerror(errno));
		return -1;
	}
	/* Start-up is single-threaded: the mask covers only this bind. */
	mask = umask(0077);
	ret = bind(s->listen_fd, (struct sockaddr *)&s->addr, sizeof(s->addr));
	if (ret && errno == EADDRINUSE && stale(&s->addr) && !unlink(s->addr.sun_path))
		ret = bind(s->listen_fd, (struct sockaddr *)&s->addr, sizeof(s->addr));
	umask(mask);
	if (ret || listen(s->listen_fd, 4)) {
		snprintf(err, errlen, "--net socket,listen=%s: cannot listen: %s", s->addr.sun_path,
			 errno == EADDRINUSE ? "in use, or not a socket" : strerror(errno));
		close(s->listen_fd);
		s->listen_fd = -1;
		return -1;
	}
	return 0;
}

int net_socket__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen)
{
	struct socket_link *s = calloc(1, sizeof(*s));
	const char *path = cfg->listen[0] ? cfg->listen : cfg->connect;
	int e;

	if (!s) {
		snprintf(err, errlen, "--net socket: out of memory");
		return -1;
	}
	s->link.ops = &socket_ops;
	s->listen_fd = s->peer_fd = -1;
	s->listener = cfg->listen[0] != '\0';
	s->addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(s->addr.sun_path)) {
		snprintf(err, errlen, "--net socket: '%s' is longer than %zu bytes", path,
			 sizeof(s->addr.sun_path) - 1);
		free(s);
		return -1;
	}
	strcpy(s->addr.sun_path, path);
	snprintf(s->link.label, sizeof(s->link.label), "socket %s=%.32s",
		 s->listener ? "listen" : "connect", path);
	if (s->listener) {
		if (open_listener(s, err, errlen)) {
			free(s);
			return -1;
		}
	} else if ((e = try_connect(s))) {
		snprintf(err, errlen, "--net socket,connect=%s: cannot connect: %s%s", path, strerror(-e),
			 e == -ENOENT || e == -ECONNREFUSED ? " (start the pvmm that listens there first)" : "");
		free(s);
		return -1;
	}
	*out = &s->link;
	return 0;
}
