/*
 * A tap device: the guest's frames become the frames of a host network
 * interface, by name (tap=NAME: opened through /dev/net/tun, created if it
 * does not exist and pvmm may) or as a descriptor a manager opened (fd=N,
 * as libvirt passes one).
 *
 * With IFF_VNET_HDR each frame carries a virtio_net_hdr: the guest's GSO
 * frames and blank checksums then go to the host kernel as they are (it
 * segments and checksums, or its NIC does), and TUNSETOFFLOAD(TUN_F_CSUM)
 * lets the host hand pvmm frames whose checksum is left to finish (pvmm
 * passes them to a frontend that takes blank checksums, or finishes them).
 * TSO towards pvmm is not enabled: pvmm does not send GSO frames to guests.
 * Without the header, pvmm finishes every frame before writing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/link.h"
#include "net/offload.h"
#include "util/log.h"
#include "xen/xen_abi.h"
#include <xen/io/netif.h>

#define TAP_BATCH 64            /* frames read per wake-up */
#define TAP_MAX_VNET_HDR 64

struct tap_link {
	struct net_link link;
	int fd;
	size_t vnet_len;            /* 0: no virtio_net_hdr */
	bool broken;                /* reading failed: stop polling */
	uint8_t buf[TAP_MAX_VNET_HDR + NET_FRAME_MAX];
};

static int tap_send(struct net_link *l, struct net_frame *f)
{
	struct tap_link *t = (struct tap_link *)l;
	uint8_t hdr[TAP_MAX_VNET_HDR] = { 0 };
	struct virtio_net_hdr h = { .flags = 0 };
	struct iovec iov[2] = { { hdr, t->vnet_len }, { f->data, f->len } };
	ssize_t n;

	if (t->vnet_len) {
		if (f->csum == NET_CSUM_PARTIAL) {
			h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h.csum_start = f->csum_start;
			h.csum_offset = f->csum_offset;
		} else if (f->csum == NET_CSUM_VALID) {
			h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		}
		if (f->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
			h.gso_type = f->gso_type == XEN_NETIF_GSO_TYPE_TCPV6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
									    VIRTIO_NET_HDR_GSO_TCPV4;
			h.gso_size = f->gso_size;
			h.hdr_len = f->hdr_len;
		}
		/* A longer header (virtio 1.0's num_buffers) is zeros after it. */
		memcpy(hdr, &h, sizeof(h));
	}
	n = writev(t->fd, t->vnet_len ? iov : iov + 1, t->vnet_len ? 2 : 1);
	if (n < 0)
		return -errno;
	return 0;
}

static unsigned tap_poll_fill(struct net_link *l, struct pollfd *pfd, unsigned max,
			      int *timeout_ms)
{
	struct tap_link *t = (struct tap_link *)l;

	(void)timeout_ms;
	if (t->broken || !max)
		return 0;
	pfd[0] = (struct pollfd){ .fd = t->fd, .events = POLLIN };
	return 1;
}

/* A frame read from the tap, with its header's offload state. */
static void deliver(struct tap_link *t, size_t n)
{
	struct net_frame f = { .data = t->buf + t->vnet_len, .len = n - t->vnet_len };
	struct virtio_net_hdr h;

	if (t->vnet_len) {
		memcpy(&h, t->buf, sizeof(h));
		/* pvmm never offered TSO; a GSO frame here is the host's
		 * mistake and cannot be cut without its headers' promise. */
		if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			pr_debug("%s: dropped a GSO frame from the host", t->link.label);
			return;
		}
		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			f.csum = NET_CSUM_PARTIAL;
			f.csum_start = h.csum_start;
			f.csum_offset = h.csum_offset;
		} else if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
			f.csum = NET_CSUM_VALID;
		}
	}
	t->link.deliver(t->link.opaque, &f);
}

static void tap_poll_done(struct net_link *l, const struct pollfd *pfd, unsigned n)
{
	struct tap_link *t = (struct tap_link *)l;

	if (!n || !(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	for (int i = 0; i < TAP_BATCH; i++) {
		ssize_t r = read(t->fd, t->buf, t->vnet_len + NET_FRAME_MAX);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			pr_warn("%s: cannot read: %s; no more frames from the host",
				t->link.label, r ? strerror(errno) : "end of file");
			t->broken = true;
			return;
		}
		if ((size_t)r >= t->vnet_len + NET_ETH_HLEN)
			deliver(t, (size_t)r);
	}
}

static void tap_destroy(struct net_link *l)
{
	struct tap_link *t = (struct tap_link *)l;

	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct net_link_ops tap_ops = {
	.send = tap_send,
	.poll_fill = tap_poll_fill,
	.poll_done = tap_poll_done,
	.destroy = tap_destroy,
};

static const char *open_hint(int err)
{
	switch (err) {
	case ENOENT:
		return " (no /dev/net/tun: load the tun module)";
	case EPERM:
	case EACCES:
		return " (creating a tap needs CAP_NET_ADMIN; or make one for your user: "
		       "ip tuntap add NAME mode tap user USER)";
	case EBUSY:
		return " (another program has it open)";
	default:
		return "";
	}
}

/* Opens /dev/net/tun as the tap `name`, with virtio_net_hdr if it can. */
static int open_by_name(struct tap_link *t, const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int e;

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		e = errno;
		snprintf(err, errlen, "--net tap=%s: cannot open /dev/net/tun: %s%s", name, strerror(e),
			 open_hint(e));
		return -1;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (!ioctl(t->fd, TUNSETIFF, &ifr))
		return 0;
	if (errno == EINVAL) {
		/* A kernel without virtio_net_hdr: plain frames. */
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
		if (!ioctl(t->fd, TUNSETIFF, &ifr))
			return 0;
	}
	e = errno;
	snprintf(err, errlen, "--net tap=%s: cannot attach to the tap: %s%s", name, strerror(e),
		 open_hint(e));
	return -1;
}

/* Takes over descriptor fd, which must be a tap. */
static int adopt_fd(struct tap_link *t, int fd, char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = 0 };
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || ioctl(fd, TUNGETIFF, &ifr) || !(ifr.ifr_flags & IFF_TAP)) {
		snprintf(err, errlen, "--net tap,fd=%d: descriptor %d is not an open tap device", fd, fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		snprintf(err, errlen, "--net tap,fd=%d: %s", fd, strerror(errno));
		return -1;
	}
	t->fd = fd;
	return 0;
}

int net_tap__open(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen)
{
	struct tap_link *t = calloc(1, sizeof(*t));
	struct ifreq ifr = { .ifr_flags = 0 };
	int hdr = 0;

	if (!t) {
		snprintf(err, errlen, "--net tap: out of memory");
		return -1;
	}
	t->fd = -1;
	t->link.ops = &tap_ops;
	if (cfg->tap_fd >= 0 ? adopt_fd(t, cfg->tap_fd, err, errlen) :
			       open_by_name(t, cfg->tap, err, errlen)) {
		tap_destroy(&t->link);
		return -1;
	}
	if (!ioctl(t->fd, TUNGETIFF, &ifr) && (ifr.ifr_flags & IFF_VNET_HDR) &&
	    !ioctl(t->fd, TUNGETVNETHDRSZ, &hdr) && hdr >= (int)sizeof(struct virtio_net_hdr) &&
	    hdr <= TAP_MAX_VNET_HDR)
		t->vnet_len = (size_t)hdr;
	/* Checksums the host leaves blank, when it can; no TSO (see above). */
	if (t->vnet_len && ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM))
		pr_debug("tap %s: no checksum offload: %s", ifr.ifr_name, strerror(errno));
	t->link.offload = t->vnet_len != 0;
	snprintf(t->link.label, sizeof(t->link.label), "tap %.*s%s", IFNAMSIZ, ifr.ifr_name,
		 t->vnet_len ? "" : " (no virtio-net header)");
	*out = &t->link;
	return 0;
}
