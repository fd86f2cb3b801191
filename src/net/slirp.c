/*
 * User-mode networking: libslirp runs a small TCP/IP stack inside pvmm that
 * answers the guest's ARP, DHCP and DNS and carries its TCP and UDP through
 * ordinary host sockets (NAT), so the guest has a network without any
 * privilege.  The addresses are QEMU's: network 10.0.2.0/24, gateway and
 * host 10.0.2.2, DNS 10.0.2.3, the guest 10.0.2.15 by DHCP; IPv6 fec0::/64.
 * hostfwd rules listen on the host and forward to the guest.
 *
 * libslirp is not thread-safe and has no thread of its own: every call
 * into it, its timers and its sockets, runs on the interface's backend
 * thread through poll_fill/poll_done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libslirp.h>

#include "net/link.h"
#include "net/offload.h"
#include "net/spec.h"
#include "util/log.h"

#define USER_NET      "10.0.2.0"
#define USER_MASK     "255.255.255.0"
#define USER_HOST     "10.0.2.2"
#define USER_DHCP     "10.0.2.15"
#define USER_DNS      "10.0.2.3"
#define USER_NET6     "fec0::"
#define USER_HOST6    "fec0::2"
#define USER_DNS6     "fec0::3"
#define USER_PREFIX6  64

struct slirp_timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
	bool armed;
	struct slirp_timer *next;
};

struct slirp_link {
	struct net_link link;
	Slirp *slirp;
	struct slirp_timer *timers;
	/* The descriptors of the current wait: filled by poll_fill, their
	 * events read in poll_done. */
	struct pollfd *fill;
	const struct pollfd *done;
	unsigned nr_pfd, max_pfd;
	uint8_t frame[NET_FRAME_MAX];
};

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- libslirp's callbacks ---- */

static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_link *s = opaque;
	struct net_frame f = {
		.data = s->frame, .len = len, .csum = NET_CSUM_VALID,
	};

	/* libslirp builds every frame itself, checksums included; a copy, so
	 * the backend may finish what it likes in place. */
	if (len > sizeof(s->frame))
		return (ssize_t)len;
	memcpy(s->frame, buf, len);
	s->link.deliver(s->link.opaque, &f);
	return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
	struct slirp_link *s = opaque;

	pr_debug("%s: %s", s->link.label, msg);
}

static int64_t clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_link *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void timer_free(void *timer, void *opaque)
{
	struct slirp_link *s = opaque;

	for (struct slirp_timer **pp = &s->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			free(timer);
			return;
		}
	}
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;

	(void)opaque;
	t->expire_ms = expire_ms;
	t->armed = true;
}

/* Sockets are polled afresh on every wait: nothing to keep. */
static void register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* The thread polls again after each pass anyway. */
static void notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb callbacks = {
	.send_packet = send_packet,
	.guest_error = guest_error,
	.clock_get_ns = clock_get_ns,
	.timer_free = timer_free,
	.timer_mod = timer_mod,
	.register_poll_fd = register_poll_fd,
	.unregister_poll_fd = unregister_poll_fd,
	.notify = notify,
	.timer_new_opaque = timer_new_opaque,
};

/* ---- the link ---- */

static int slirp_send(struct net_link *l, struct net_frame *f)
{
	struct slirp_link *s = (struct slirp_link *)l;

	slirp_input(s->slirp, f->data, (int)f->len);
	return 0;
}

static short to_poll(int events)
{
	return (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
		       ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
		       ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
}

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_link *s = opaque;

	/* Out of room: libslirp skips a socket it got -1 for, this round. */
	if (s->nr_pfd == s->max_pfd)
		return -1;
	s->fill[s->nr_pfd] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	return (int)s->nr_pfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_link *s = opaque;
	short r;

	if (idx < 0 || (unsigned)idx >= s->nr_pfd)
		return 0;
	r = s->done[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static unsigned slirp_poll_fill(struct net_link *l, struct pollfd *pfd, unsigned max,
				int *timeout_ms)
{
	struct slirp_link *s = (struct slirp_link *)l;
	uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
	int64_t now = now_ns() / 1000000;

	s->fill = pfd;
	s->max_pfd = max;
	s->nr_pfd = 0;
	slirp_pollfds_fill(s->slirp, &t, add_poll, s);
	for (struct slirp_timer *tm = s->timers; tm; tm = tm->next) {
		if (!tm->armed)
			continue;
		if (tm->expire_ms <= now)
			t = 0;
		else if ((uint64_t)(tm->expire_ms - now) < t)
			t = (uint32_t)(tm->expire_ms - now);
	}
	*timeout_ms = t > INT_MAX ? -1 : (int)t;
	return s->nr_pfd;
}

static void slirp_poll_done(struct net_link *l, const struct pollfd *pfd, unsigned n)
{
	struct slirp_link *s = (struct slirp_link *)l;
	int64_t now = now_ns() / 1000000;
	struct slirp_timer *t;

	s->done = pfd;
	s->nr_pfd = n;
	/* A timer's handler may re-arm or free timers: look again after each. */
	do {
		for (t = s->timers; t && !(t->armed && t->expire_ms <= now); t = t->next)
			;
		if (t) {
			t->armed = false;
			slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
		}
	} while (t);
	slirp_pollfds_poll(s->slirp, 0, get_revents, s);
}

static void slirp_destroy(struct net_link *l)
{
	struct slirp_link *s = (struct slirp_link *)l;

	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->timers) {
		struct slirp_timer *t = s->timers;

		s->timers = t->next;
		free(t);
	}
	free(s);
}

static const struct net_link_ops slirp_ops = {
	.send = slirp_send,
	.poll_fill = slirp_poll_fill,
	.poll_done = slirp_poll_done,
	.destroy = slirp_destroy,
};

static int add_hostfwd(struct slirp_link *s, const struct vm_net_hostfwd *f, char *err,
		       size_t errlen)
{
	struct in_addr host = { .s_addr = f->host_addr_set ? f->host_addr : htonl(INADDR_LOOPBACK) };
	struct in_addr guest = { .s_addr = f->guest_addr }, net, mask;
	char rule[NET_HOSTFWD_TEXT], where[INET_ADDRSTRLEN];

	net__format_hostfwd(f, rule);
	inet_pton(AF_INET, USER_NET, &net);
	inet_pton(AF_INET, USER_MASK, &mask);
	if (!f->guest_addr_set) {
		inet_pton(AF_INET, USER_DHCP, &guest);
	} else if ((guest.s_addr & mask.s_addr) != net.s_addr) {
		snprintf(err, errlen, "--net user: hostfwd '%s': the guest address is not in %s/24",
			 rule, USER_NET);
		return -1;
	}
	errno = 0;
	if (slirp_add_hostfwd(s->slirp, f->udp, host, f->host_port, guest, f->guest_port) == 0)
		return 0;
	inet_ntop(AF_INET, &host, where, sizeof(where));
	snprintf(err, errlen, "--net user: hostfwd '%s': cannot forward %s port %s:%u to the guest: %s",
		 rule, f->udp ? "UDP" : "TCP", where, f->host_port,
		 errno ? strerror(errno) : "refused");
	return -1;
}

int net_slirp__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen)
{
	struct slirp_link *s = calloc(1, sizeof(*s));
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.in6_enabled = true,
		.vprefix_len = USER_PREFIX6,
	};

	if (!s) {
		snprintf(err, errlen, "--net user: out of memory");
		return -1;
	}
	inet_pton(AF_INET, USER_NET, &sc.vnetwork);
	inet_pton(AF_INET, USER_MASK, &sc.vnetmask);
	inet_pton(AF_INET, USER_HOST, &sc.vhost);
	inet_pton(AF_INET, USER_DHCP, &sc.vdhcp_start);
	inet_pton(AF_INET, USER_DNS, &sc.vnameserver);
	inet_pton(AF_INET6, USER_NET6, &sc.vprefix_addr6);
	inet_pton(AF_INET6, USER_HOST6, &sc.vhost6);
	inet_pton(AF_INET6, USER_DNS6, &sc.vnameserver6);
	s->link.ops = &slirp_ops;
	snprintf(s->link.label, sizeof(s->link.label), "user network");
	s->slirp = slirp_new(&sc, &callbacks, s);
	if (!s->slirp) {
		snprintf(err, errlen, "--net user: libslirp could not start");
		slirp_destroy(&s->link);
		return -1;
	}
	for (int i = 0; i < cfg->nr_hostfwd; i++) {
		if (add_hostfwd(s, &cfg->hostfwd[i], err, errlen)) {
			slirp_destroy(&s->link);
			return -1;
		}
	}
	*out = &s->link;
	return 0;
}
