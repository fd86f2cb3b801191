#include "net/netback.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events/evtchn.h"
#include "net/link.h"
#include "net/offload.h"
#include "net/queue.h"
#include "net/spec.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenbus/xenbus.h"
#include "xen/xen_abi.h"
#include <xen/io/netif.h>

/* Without feature-rx-notify, how often frames waiting for buffers look. */
#define RX_POLL_MS 10
#define MAX_POLLFDS (1 + 2 * NET_MAX_QUEUES + NET_LINK_MAX_FDS)

/* One --net. */
struct net_dev {
	struct vm *vm;
	const struct vm_net *cfg;
	unsigned devid;
	char label[16];                 /* "vif 0" */
	uint8_t mac[6];
	char mac_text[NET_MAC_TEXT];
	struct net_link *link;
	struct xenbus_device *xb;
	struct net_stats stats;
	/* The backend thread; the fields below change only while it is
	 * stopped. */
	pthread_t thread;
	bool running;
	int stop_fd;
	unsigned nr_queues;             /* 0 while not connected */
	struct net_queue *queue[NET_MAX_QUEUES];
	uint32_t tx_port[NET_MAX_QUEUES], rx_port[NET_MAX_QUEUES];
	int tx_fd[NET_MAX_QUEUES], rx_fd[NET_MAX_QUEUES];  /* rx_fd -1: one channel */
	char queue_name[NET_MAX_QUEUES][40];
	bool sg, csum_v4, csum_v6, rx_notify;  /* the frontend's */
	/* Cutting a GSO frame (the thread's). */
	uint8_t seg[NET_FRAME_MAX];
	int16_t seg_status;
};

struct netback {
	int nr;
	struct net_dev dev[PVMM_MAX_NETS];
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- frames from the guest to the host side ---- */

static int16_t link_send(struct net_dev *d, struct net_frame *f)
{
	int err = d->link->ops->send(d->link, f);

	if (err)
		pr_debug("%s: %s dropped a frame: %s", d->label, d->link->label, strerror(-err));
	return err ? NETIF_RSP_DROPPED : NETIF_RSP_OKAY;
}

static void emit_segment(uint8_t *seg, size_t len, void *opaque)
{
	struct net_dev *d = opaque;
	struct net_frame f = { .data = seg, .len = len, .csum = NET_CSUM_VALID };

	if (link_send(d, &f) != NETIF_RSP_OKAY)
		d->seg_status = NETIF_RSP_DROPPED;
}

/* Leaves a blank checksum to a link that offloads it. */
static bool seed(struct net_frame *f, struct net_l4 *l4)
{
	if (net__csum_seed(f->data, f->len, l4))
		return false;
	f->csum = NET_CSUM_PARTIAL;
	f->csum_start = (uint16_t)l4->l4;
	f->csum_offset = (uint16_t)(l4->csum - l4->l4);
	return true;
}

/*
 * A frame the guest sent: finished here (checksum, segmentation) unless the
 * link takes it as it is.  GSO or a blank checksum on what is not TCP or
 * UDP over IP is refused, as Linux's netback refuses it.
 */
static int16_t transmit(void *opaque, struct net_frame *f)
{
	struct net_dev *d = opaque;
	struct net_l4 l4;

	if (f->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
		bool v6 = f->gso_type == XEN_NETIF_GSO_TYPE_TCPV6;

		if (d->link->offload) {
			if (!seed(f, &l4) || l4.proto != IPPROTO_TCP || l4.ipv6 != v6)
				return NETIF_RSP_ERROR;
			f->hdr_len = (uint16_t)(l4.l4 + l4.l4_hlen);
			return link_send(d, f);
		}
		d->seg_status = NETIF_RSP_OKAY;
		if (net__gso_segment(f->data, f->len, f->gso_size, v6, d->seg, emit_segment, d) < 0)
			return NETIF_RSP_ERROR;
		return d->seg_status;
	}
	if (f->csum == NET_CSUM_BLANK) {
		if (d->link->offload ? !seed(f, &l4) : net__csum_fill(f->data, f->len) != 0)
			return NETIF_RSP_ERROR;
		if (!d->link->offload)
			f->csum = NET_CSUM_VALID;
	}
	return link_send(d, f);
}

/* ---- frames from the host side to the guest ---- */

/* The queue a frame goes to: by its addresses and ports, so that a flow
 * stays on one queue. */
static unsigned pick_queue(struct net_dev *d, const struct net_frame *f)
{
	struct net_l4 l4;
	const uint8_t *addrs;
	uint32_t h;

	if (d->nr_queues == 1 || net__parse_l4(f->data, f->len, &l4))
		return 0;
	/* Source and destination addresses, then both ports. */
	addrs = f->data + l4.l3 + (l4.ipv6 ? 8 : 12);
	h = net__csum_add(0, addrs, l4.ipv6 ? 32 : 8);
	h = net__csum_add(h * 31, f->data + l4.l4, 4);
	return h % d->nr_queues;
}

static void deliver(void *opaque, struct net_frame *f)
{
	struct net_dev *d = opaque;

	if (!d->nr_queues) {
		count(&d->stats.rx_dropped, 1);
		return;
	}
	net_queue__receive(d->queue[pick_queue(d, f)], f);
}

/* ---- the backend thread ---- */

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("eventfd: %s", strerror(errno));
}

/* The wait's descriptors: stop_fd, the queues' channels, then the link's
 * from *first_link on (nr_link of them). */
static unsigned fill(struct net_dev *d, struct pollfd *pfd, unsigned *first_link,
		     unsigned *nr_link, int *timeout)
{
	unsigned n = 0;

	pfd[n++] = (struct pollfd){ .fd = d->stop_fd, .events = POLLIN };
	for (unsigned q = 0; q < d->nr_queues; q++) {
		pfd[n++] = (struct pollfd){ .fd = d->tx_fd[q], .events = POLLIN };
		if (d->rx_fd[q] >= 0)
			pfd[n++] = (struct pollfd){ .fd = d->rx_fd[q], .events = POLLIN };
		if (!d->rx_notify && net_queue__backlogged(d->queue[q]) &&
		    (*timeout < 0 || *timeout > RX_POLL_MS))
			*timeout = RX_POLL_MS;
	}
	*first_link = n;
	*nr_link = d->link->ops->poll_fill(d->link, pfd + n, NET_LINK_MAX_FDS, timeout);
	return n + *nr_link;
}

static void *dev_thread(void *opaque)
{
	struct net_dev *d = opaque;
	struct pollfd pfd[MAX_POLLFDS];

	for (;;) {
		unsigned n, first_link, nr_link;
		bool busy = false;
		int timeout = -1;

		for (unsigned q = 0; q < d->nr_queues; q++)
			busy |= net_queue__run(d->queue[q]);
		for (unsigned q = 0; !busy && q < d->nr_queues; q++)
			busy |= net_queue__prepare_sleep(d->queue[q]);
		n = fill(d, pfd, &first_link, &nr_link, &timeout);
		if (poll(pfd, n, busy ? 0 : timeout) < 0) {
			if (errno != EINTR)
				pr_warn("%s: poll: %s", d->label, strerror(errno));
			for (unsigned i = 0; i < n; i++)
				pfd[i].revents = 0;
		}
		if (pfd[0].revents & POLLIN)
			break;
		for (unsigned i = 1; i < first_link; i++)
			if (pfd[i].revents & POLLIN)
				drain(pfd[i].fd);
		d->link->ops->poll_done(d->link, pfd + first_link, nr_link);
	}
	return NULL;
}

static int start_thread(struct net_dev *d)
{
	sigset_t all, old;
	int err;

	drain(d->stop_fd);
	/* pvmm's signals go to the main loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&d->thread, NULL, dev_thread, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	d->running = true;
	return 0;
}

static void stop_thread(struct net_dev *d)
{
	uint64_t one = 1;

	if (!d->running)
		return;
	if (write(d->stop_fd, &one, sizeof(one)) < 0)
		pr_warn("%s: cannot stop the backend thread: %s", d->label, strerror(errno));
	pthread_join(d->thread, NULL);
	d->running = false;
}

/* ---- xenbus: what the backend offers ---- */

static int vif_probe(struct xenbus_device *dev)
{
	struct net_dev *d = dev->priv;
	int err = 0;

#define W(key, ...) if (!err) err = xenbus__write_backend(dev, key, __VA_ARGS__)
	W("feature-rx-copy", "1");
	W("feature-rx-flip", "0");
	W("feature-sg", "1");
	W("feature-gso-tcpv4", "1");
	W("feature-gso-tcpv6", "1");
	W("feature-no-csum-offload", "0");
	W("feature-ipv6-csum-offload", "1");
	W("feature-split-event-channels", "1");
	W("multi-queue-max-queues", "%u", NET_MAX_QUEUES);
	W("mac", "%s", d->mac_text);
	W("handle", "%u", d->devid);
#undef W
	if (!err)
		err = xenbus__write_frontend(dev, "mac", "%s", d->mac_text);
	if (!err)
		err = xenbus__write_frontend(dev, "handle", "%u", d->devid);
	return err;
}

/* ---- xenbus: what the frontend chose ---- */

/* A boolean feature: absent is def, any other number is !0. */
static int read_flag(struct xenbus_device *dev, const char *key, bool def, bool *out)
{
	uint32_t v;
	int err = xenbus__read_frontend_u32(dev, key, &v);

	if (err == -ENOENT) {
		*out = def;
		return 0;
	}
	if (!err)
		*out = v != 0;
	return err;
}

static int read_required(struct xenbus_device *dev, const char *key, uint32_t *out)
{
	int err = xenbus__read_frontend_u32(dev, key, out);

	if (err == -ENOENT)
		xenbus__dev_error(dev, err, "%s/%s is missing", dev->frontend_path, key);
	return err;
}

static int read_features(struct net_dev *d, struct xenbus_device *dev, uint32_t *queues)
{
	bool rx_copy, no_csum;
	int err = read_flag(dev, "request-rx-copy", false, &rx_copy);

	if (!err && !rx_copy) {
		xenbus__dev_error(dev, -EOPNOTSUPP, "%s/request-rx-copy is not 1: pvmm's receive "
				  "path copies, it does not flip pages", dev->frontend_path);
		return -EOPNOTSUPP;
	}
	if (!err)
		err = read_flag(dev, "feature-rx-notify", false, &d->rx_notify);
	if (!err)
		err = read_flag(dev, "feature-sg", false, &d->sg);
	if (!err)
		err = read_flag(dev, "feature-no-csum-offload", false, &no_csum);
	if (!err)
		err = read_flag(dev, "feature-ipv6-csum-offload", false, &d->csum_v6);
	if (err)
		return err;
	d->csum_v4 = !no_csum;
	err = xenbus__read_frontend_u32(dev, "multi-queue-num-queues", queues);
	if (err == -ENOENT) {
		*queues = 1;
		return 0;
	}
	if (!err && (*queues < 1 || *queues > NET_MAX_QUEUES)) {
		xenbus__dev_error(dev, -EINVAL, "%s/multi-queue-num-queues is %u, not 1 to %u",
				  dev->frontend_path, *queues, NET_MAX_QUEUES);
		return -EINVAL;
	}
	return err;
}

/* The thread found the frontend breaking a rule that stops a queue. */
static void on_fatal(void *opaque, const char *name, const char *why)
{
	struct net_dev *d = opaque;

	xenbus__dev_error(d->xb, -EINVAL, "%s: %s", name, why);
	xenbus__switch_state(d->xb, XenbusStateClosing);
}

static void close_queue(struct net_dev *d, unsigned i)
{
	net_queue__destroy(d->queue[i]);
	d->queue[i] = NULL;
	evtchn__backend_close(d->vm, d->tx_port[i], d->tx_fd[i]);
	if (d->rx_fd[i] >= 0)
		evtchn__backend_close(d->vm, d->rx_port[i], d->rx_fd[i]);
}

/* The channel(s) of queue i: event-channel-tx and -rx, or event-channel. */
static int bind_channels(struct net_dev *d, struct xenbus_device *dev, const char *prefix,
			 unsigned i)
{
	char key[64], rx_key[64];
	int err;

	snprintf(key, sizeof(key), "%sevent-channel-tx", prefix);
	snprintf(rx_key, sizeof(rx_key), "%sevent-channel-rx", prefix);
	err = xenbus__read_frontend_u32(dev, key, &d->tx_port[i]);
	if (!err) {
		err = read_required(dev, rx_key, &d->rx_port[i]);
	} else if (err == -ENOENT) {
		snprintf(key, sizeof(key), "%sevent-channel", prefix);
		err = read_required(dev, key, &d->tx_port[i]);
		d->rx_port[i] = d->tx_port[i];
	}
	if (err)
		return err;
	d->rx_fd[i] = -1;
	if (evtchn__backend_bind(d->vm, d->tx_port[i], &d->tx_fd[i])) {
		xenbus__dev_error(dev, -EINVAL, "binding event channel %u", d->tx_port[i]);
		return -EINVAL;
	}
	if (d->rx_port[i] != d->tx_port[i] &&
	    evtchn__backend_bind(d->vm, d->rx_port[i], &d->rx_fd[i])) {
		evtchn__backend_close(d->vm, d->tx_port[i], d->tx_fd[i]);
		xenbus__dev_error(dev, -EINVAL, "binding event channel %u", d->rx_port[i]);
		return -EINVAL;
	}
	return 0;
}

static int connect_queue(struct net_dev *d, struct xenbus_device *dev, unsigned i,
			 unsigned nr, struct net_queue **out)
{
	char prefix[24] = "", key[64];
	struct net_queue_config qc = {
		.vm = d->vm, .name = d->queue_name[i], .sg = d->sg,
		.csum_v4 = d->csum_v4, .csum_v6 = d->csum_v6, .stats = &d->stats,
		.transmit = transmit, .on_fatal = on_fatal, .opaque = d,
	};
	int err;

	if (nr > 1)
		snprintf(prefix, sizeof(prefix), "queue-%u/", i);
	snprintf(key, sizeof(key), "%stx-ring-ref", prefix);
	err = read_required(dev, key, &qc.tx_ref);
	snprintf(key, sizeof(key), "%srx-ring-ref", prefix);
	if (!err)
		err = read_required(dev, key, &qc.rx_ref);
	if (!err)
		err = bind_channels(d, dev, prefix, i);
	if (err)
		return err;
	snprintf(d->queue_name[i], sizeof(d->queue_name[i]), "%s queue %u", d->label, i);
	qc.tx_port = d->tx_port[i];
	qc.rx_port = d->rx_port[i];
	err = net_queue__create(&qc, out);
	if (err) {
		d->queue[i] = NULL;
		close_queue(d, i);
		xenbus__dev_error(dev, err, "mapping the rings of queue %u", i);
	}
	return err;
}

static void vif_disconnect(struct xenbus_device *dev)
{
	struct net_dev *d = dev->priv;
	unsigned nr = d->nr_queues;

	/* The thread lets go of the queues before they go. */
	stop_thread(d);
	d->nr_queues = 0;
	if (start_thread(d))
		pr_err("%s: cannot restart the backend thread", d->label);
	for (unsigned i = 0; i < nr; i++)
		close_queue(d, i);
}

static int vif_connect(struct xenbus_device *dev)
{
	struct net_dev *d = dev->priv;
	struct net_queue *queue[NET_MAX_QUEUES];
	uint32_t nr;
	int err;

	d->xb = dev;
	err = read_features(d, dev, &nr);
	for (unsigned i = 0; !err && i < nr; i++) {
		err = connect_queue(d, dev, i, nr, &queue[i]);
		if (err) {
			for (unsigned j = 0; j < i; j++) {
				d->queue[j] = queue[j];
				close_queue(d, j);
			}
		}
	}
	if (err)
		return err;
	stop_thread(d);
	memcpy(d->queue, queue, nr * sizeof(queue[0]));
	d->nr_queues = nr;
	err = start_thread(d);
	if (err) {
		d->nr_queues = 0;
		for (unsigned i = 0; i < nr; i++)
			close_queue(d, i);
		xenbus__dev_error(dev, err, "starting the backend thread");
		return err;
	}
	pr_info("%s: connected, mac %s, %u queue%s%s%s, %s", d->label, d->mac_text, nr,
		nr > 1 ? "s" : "", d->rx_port[0] != d->tx_port[0] ? ", split event channels" : "",
		d->sg ? ", scatter-gather" : "", d->link->label);
	return 0;
}

static const struct xenbus_backend_ops vif_ops = {
	.type = "vif",
	.probe = vif_probe,
	.connect = vif_connect,
	.disconnect = vif_disconnect,
};

/* ---- the VM's interfaces ---- */

static int open_link(const struct vm_net *cfg, struct net_link **out, char *err, size_t errlen)
{
	switch (cfg->kind) {
	case VM_NET_USER:
		return net_slirp__open(cfg, out, err, errlen);
	case VM_NET_TAP:
		return net_tap__open(cfg, out, err, errlen);
	case VM_NET_SOCKET:
		return net_socket__open(cfg, out, err, errlen);
	}
	snprintf(err, errlen, "--net: unknown kind");
	return -1;
}

int net__open(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct netback *b;
	char err[512];

	if (cfg->nr_nets <= 0)
		return 0;
	if (cfg->nr_nets > PVMM_MAX_NETS) {
		pr_err("--net: at most %d interfaces", PVMM_MAX_NETS);
		return PVMM_EXIT_USAGE;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		pr_err("cannot allocate the network interfaces");
		return PVMM_EXIT_ERROR;
	}
	vm->net = b;
	for (int i = 0; i < cfg->nr_nets; i++) {
		struct net_dev *d = &b->dev[i];

		d->vm = vm;
		d->cfg = &cfg->net[i];
		d->devid = (unsigned)i;
		d->stop_fd = -1;
		snprintf(d->label, sizeof(d->label), "vif %d", i);
		if (open_link(d->cfg, &d->link, err, sizeof(err))) {
			pr_err("%s", err);
			return PVMM_EXIT_BAD_INPUT;
		}
		d->link->deliver = deliver;
		d->link->opaque = d;
		b->nr++;
	}
	return 0;
}

/*
 * A MAC that stays the same across runs of the same guest (DHCP leases and
 * host firewall rules keep working): derived from the guest image's
 * absolute path (the disk image when booting one) and the interface
 * number.  Two VMs of one image on one bridge need mac=.
 */
static void derive_stable_mac(struct vm *vm, unsigned index, uint8_t mac[6])
{
	const char *image = vm->cfg->name ? vm->cfg->name : vm->cfg->kernel;
	char *abs;
	const char *id;
	uint8_t digest[16];

	if (!image) {
		/* No image to name the guest by: the VM's UUID, for its life. */
		net__derive_mac(vm->xen.handle, index, mac);
		return;
	}
	abs = realpath(image, NULL);
	id = abs ? abs : image;

	/* Two FNV-1a passes with different bases fill the 16 bytes the
	 * derivation takes. */
	for (int half = 0; half < 2; half++) {
		uint64_t h = half ? 0x84222325cbf29ce4ULL : 0xcbf29ce484222325ULL;

		for (const char *c = id; *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
		memcpy(digest + 8 * half, &h, 8);
	}
	free(abs);
	net__derive_mac(digest, index, mac);
}

int net__start(struct vm *vm)
{
	struct netback *b = vm->net;

	for (int i = 0; b && i < b->nr; i++) {
		struct net_dev *d = &b->dev[i];
		int err;

		if (d->cfg->has_mac)
			memcpy(d->mac, d->cfg->mac, sizeof(d->mac));
		else
			derive_stable_mac(vm, d->devid, d->mac);
		net__format_mac(d->mac, d->mac_text);
		pr_info("%s: mac %s%s, %s", d->label, d->mac_text, d->cfg->has_mac ? "" : " (derived)",
			d->link->label);
		d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		err = d->stop_fd < 0 ? -errno : start_thread(d);
		if (!err)
			err = xenbus__add_device(vm, &vif_ops, d->devid, d, &d->xb);
		if (err) {
			pr_err("%s: cannot create the network interface: %s", d->label, strerror(-err));
			return -1;
		}
	}
	return 0;
}

void net__destroy(struct vm *vm)
{
	struct netback *b = vm->net;

	if (!b)
		return;
	for (int i = 0; i < b->nr; i++) {
		struct net_dev *d = &b->dev[i];

		/* Disconnects first (the thread lets the queues go), then the
		 * thread and the link it ran. */
		xenbus__remove_device(d->xb);
		stop_thread(d);
		d->link->ops->destroy(d->link);
		if (d->stop_fd >= 0)
			close(d->stop_fd);
	}
	free(b);
	vm->net = NULL;
}

int net__counters(struct vm *vm, unsigned index, struct net_counters *out)
{
	const struct net_stats *s;

	if (!vm->net || index >= (unsigned)vm->net->nr)
		return -1;
	s = &vm->net->dev[index].stats;
	*out = (struct net_counters){
		.tx_packets = atomic_load(&s->tx_packets), .tx_bytes = atomic_load(&s->tx_bytes),
		.tx_errors = atomic_load(&s->tx_errors), .tx_dropped = atomic_load(&s->tx_dropped),
		.rx_packets = atomic_load(&s->rx_packets), .rx_bytes = atomic_load(&s->rx_bytes),
		.rx_dropped = atomic_load(&s->rx_dropped),
	};
	return 0;
}
