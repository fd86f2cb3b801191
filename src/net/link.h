/*
 * The host side of a network interface: where the frames a guest sends go
 * and where the frames it receives come from.  Three kinds, one file each:
 * user-mode networking (slirp.c), a tap device (tap.c), and a Unix socket
 * to another pvmm (socket.c).
 *
 * A link belongs to its interface's backend thread (netback.c): every
 * function below runs there, so a link needs no locking, and the frames
 * the link delivers go straight to that interface's guest and nowhere else.
 */
#ifndef PVMM_NET_LINK_H
#define PVMM_NET_LINK_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vcpu/vm.h"

/* How far a frame's TCP or UDP checksum is done. */
enum net_csum {
	NET_CSUM_NONE,          /* as the sender made it: nothing known */
	NET_CSUM_VALID,         /* correct, and known to be (data_validated) */
	NET_CSUM_BLANK,         /* left for the receiver to fill; place unknown */
	NET_CSUM_PARTIAL,       /* to be finished: the sum from csum_start, at
				   csum_start + csum_offset, pseudo-header seeded */
};

struct net_frame {
	uint8_t *data;
	size_t len;
	enum net_csum csum;
	uint16_t csum_start, csum_offset;
	uint8_t gso_type;       /* XEN_NETIF_GSO_TYPE_*: segmentation left to do */
	uint16_t gso_size;
	uint16_t hdr_len;       /* with gso_type: the bytes of headers */
};

/* Descriptors one link polls at most. */
#define NET_LINK_MAX_FDS 64

struct net_link;

/* Hands a frame from the host to the interface's guest. */
typedef void (*net_deliver_fn)(void *opaque, struct net_frame *f);

struct net_link_ops {
	/* Sends one frame.  0, or a negative errno when it was dropped
	 * (-ENOTCONN: no peer yet; -EAGAIN: the host side is full). */
	int (*send)(struct net_link *l, struct net_frame *f);
	/* Adds the descriptors to wait for to pfd (max entries) and may lower
	 * *timeout_ms (-1: none); returns how many it added. */
	unsigned (*poll_fill)(struct net_link *l, struct pollfd *pfd, unsigned max, int *timeout_ms);
	/* After the wait, with the same entries: serves what is ready and runs
	 * what is due, delivering frames.  Called after every wait. */
	void (*poll_done)(struct net_link *l, const struct pollfd *pfd, unsigned n);
	void (*destroy)(struct net_link *l);
};

struct net_link {
	const struct net_link_ops *ops;
	/* The link takes NET_CSUM_PARTIAL and GSO frames as they are (a tap
	 * with virtio_net_hdr); otherwise it gets only finished frames. */
	bool offload;
	net_deliver_fn deliver;
	void *opaque;
	char label[48];         /* "user", "tap tap0", "socket listen=/run/a"... */
};

/* Each opens the link cfg describes.  0, or -1 with a one-line reason in
 * err that names the device, file or rule. */
int net_slirp__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen);
int net_tap__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen);
int net_socket__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen);

#endif
