#include "net/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "net/offload.h"
#include "net/rx.h"
#include "net/tx.h"
#include "ring-io/xen_ring.h"
#include "util/log.h"
#include "vcpu/vm.h"

#define BACKEND_DOMID 0
/* Entries of a one-page netif ring (both kinds have 256). */
#define NET_RING_MAX  256

struct rx_buf {
	uint16_t id;
	grant_ref_t gref;
};

struct backlog_frame {
	struct backlog_frame *next;
	size_t len;
	uint16_t flags;             /* NETRXF_* for the first slot */
	uint8_t data[];
};

struct net_queue {
	struct net_queue_config cfg;
	struct gnttab_mapping tx_map, rx_map;
	struct xring tx, rx;
	bool dead;                  /* a fatal error: never served again */
	/* Transmit: the requests of one pass, and the frame being built. */
	union netif_tx_sring_entry txreq[NET_RING_MAX];
	uint8_t frame[NET_FRAME_MAX];
	/* Receive: the buffers posted, oldest first, and frames waiting. */
	struct rx_buf rxbuf[NET_RING_MAX];
	unsigned rx_head, rx_count;
	struct backlog_frame *backlog, *backlog_tail;
	unsigned backlog_len;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void fatal(struct net_queue *q, const char *why)
{
	if (q->dead)
		return;
	q->dead = true;
	if (q->cfg.on_fatal)
		q->cfg.on_fatal(q->cfg.opaque, q->cfg.name, why);
}

/* ---- transmit ---- */

/* Copies the packet's slots into q->frame.  NET_TX_OK or NET_TX_BAD_GRANT. */
static enum net_tx_verdict gather(struct net_queue *q, const struct net_tx_packet *pkt)
{
	size_t off = 0;

	for (unsigned s = 0; s < pkt->nr_slots; s++) {
		const struct netif_tx_request *r = &pkt->slot[s];
		struct gnttab_mapping m;

		if (gnttab__map(q->cfg.vm, BACKEND_DOMID, r->gref, false, &m) != GNTST_okay)
			return NET_TX_BAD_GRANT;
		/* net_tx__parse checked offset + size <= the page, and that the
		 * slots add up to pkt->size <= NET_FRAME_MAX. */
		memcpy(q->frame + off, (const uint8_t *)m.page + r->offset, r->size);
		gnttab__unmap(q->cfg.vm, &m);
		off += r->size;
	}
	return NET_TX_OK;
}

static int16_t send_packet(struct net_queue *q, const struct net_tx_packet *pkt)
{
	struct net_frame f = {
		.data = q->frame, .len = pkt->size,
		.csum = (pkt->flags & NETTXF_csum_blank) ? NET_CSUM_BLANK :
			(pkt->flags & NETTXF_data_validated) ? NET_CSUM_VALID : NET_CSUM_NONE,
		.gso_type = pkt->gso_type, .gso_size = pkt->gso_size,
	};
	int16_t status;

	if (gather(q, pkt) != NET_TX_OK) {
		pr_debug("%s: packet dropped: %s", q->cfg.name, net_tx__verdict_name(NET_TX_BAD_GRANT));
		return NETIF_RSP_ERROR;
	}
	status = q->cfg.transmit(q->cfg.opaque, &f);
	if (status == NETIF_RSP_ERROR)
		pr_debug("%s: packet dropped: %s", q->cfg.name, net_tx__verdict_name(NET_TX_BAD_OFFLOAD));
	if (status == NETIF_RSP_OKAY) {
		count(&q->cfg.stats->tx_packets, 1);
		count(&q->cfg.stats->tx_bytes, pkt->size);
	}
	return status;
}

/* Answers every entry the packet took, extra-info entries with NULL. */
static void answer(struct net_queue *q, const union netif_tx_sring_entry *e,
		   const struct net_tx_packet *pkt, int16_t status)
{
	for (unsigned k = 0; k < pkt->nr_entries; k++) {
		bool extra = k >= 1 && k <= pkt->nr_extras;
		struct netif_tx_response r = {
			.id = extra ? 0 : e[k].req.id,
			.status = extra ? NETIF_RSP_NULL : status,
		};

		xring__put_response(&q->tx, &r, sizeof(r));
	}
	if (status == NETIF_RSP_ERROR)
		count(&q->cfg.stats->tx_errors, 1);
	else if (status == NETIF_RSP_DROPPED)
		count(&q->cfg.stats->tx_dropped, 1);
}

static bool tx_pass(struct net_queue *q)
{
	unsigned n = 0;
	int r = 0;

	while (n < q->tx.size && (r = xring__get_request(&q->tx, &q->txreq[n])) == 1)
		n++;
	if (r < 0) {
		fatal(q, "the transmit ring's indices are corrupt");
		return true;
	}
	for (unsigned i = 0; i < n;) {
		struct net_tx_packet pkt;
		enum net_tx_verdict v = net_tx__parse(&q->txreq[i], n - i, &pkt);
		int16_t status;

		if (net_tx__fatal(v)) {
			fatal(q, net_tx__verdict_name(v));
			break;
		}
		if (v != NET_TX_OK) {
			/* The guest's doing: it can repeat it at will, so quietly. */
			pr_debug("%s: packet dropped: %s", q->cfg.name, net_tx__verdict_name(v));
			status = net_tx__status(v);
		} else {
			status = pkt.mcast ? NETIF_RSP_OKAY : send_packet(q, &pkt);
		}
		answer(q, &q->txreq[i], &pkt, status);
		i += pkt.nr_entries;
	}
	if (xring__push_responses(&q->tx))
		evtchn__notify_guest(q->cfg.vm, q->cfg.tx_port);
	return n > 0;
}

/* ---- receive ---- */

/* Copies a frame into the next buffers and answers them. */
static void put_frame(struct net_queue *q, const uint8_t *data, size_t len, uint16_t flags)
{
	struct gnttab_mapping m[NET_RX_MAX_SLOTS];
	unsigned n = net_rx__slots(len), mapped = 0;
	bool error = false;

	for (; mapped < n; mapped++) {
		const struct rx_buf *b = &q->rxbuf[(q->rx_head + mapped) % NET_RING_MAX];

		if (gnttab__map(q->cfg.vm, BACKEND_DOMID, b->gref, true, &m[mapped]) != GNTST_okay) {
			error = true;
			break;
		}
	}
	for (unsigned i = 0; i < mapped; i++) {
		size_t off = (size_t)i * NET_PAGE_SIZE;

		if (!error)
			memcpy(m[i].page, data + off, len - off < NET_PAGE_SIZE ? len - off : NET_PAGE_SIZE);
		gnttab__unmap(q->cfg.vm, &m[i]);
	}
	/* One response per buffer, in the buffers' order: each lands in its
	 * request's own ring slot, as frontends assume. */
	for (unsigned i = 0; i < n; i++) {
		const struct rx_buf *b = &q->rxbuf[(q->rx_head + i) % NET_RING_MAX];
		struct netif_rx_response r = net_rx__response(b->id, len, i, flags, error);

		xring__put_response(&q->rx, &r, sizeof(r));
	}
	q->rx_head = (q->rx_head + n) % NET_RING_MAX;
	q->rx_count -= n;
	if (error) {
		pr_debug("%s: a receive buffer's grant was refused; frame dropped", q->cfg.name);
		count(&q->cfg.stats->rx_dropped, 1);
		return;
	}
	count(&q->cfg.stats->rx_packets, 1);
	count(&q->cfg.stats->rx_bytes, len);
}

static void push_rx(struct net_queue *q)
{
	if (xring__push_responses(&q->rx))
		evtchn__notify_guest(q->cfg.vm, q->cfg.rx_port);
}

static bool take_buffers(struct net_queue *q)
{
	bool took = false;

	while (q->rx_count < q->rx.size) {
		union netif_rx_sring_entry e;
		int r = xring__get_request(&q->rx, &e);

		if (r == 0)
			break;
		if (r < 0) {
			fatal(q, "the receive ring's indices are corrupt");
			return true;
		}
		q->rxbuf[(q->rx_head + q->rx_count++) % NET_RING_MAX] =
			(struct rx_buf){ .id = e.req.id, .gref = e.req.gref };
		took = true;
	}
	return took;
}

static bool rx_pass(struct net_queue *q)
{
	bool work = take_buffers(q);

	while (!q->dead && q->backlog && net_rx__slots(q->backlog->len) <= q->rx_count) {
		struct backlog_frame *b = q->backlog;

		put_frame(q, b->data, b->len, b->flags);
		q->backlog = b->next;
		if (!q->backlog)
			q->backlog_tail = NULL;
		q->backlog_len--;
		free(b);
		work = true;
	}
	push_rx(q);
	return work;
}

/* The flags a frame goes with; false when it cannot go (counted). */
static bool rx_flags(struct net_queue *q, struct net_frame *f, uint16_t *flags)
{
	struct net_l4 l4;

	*flags = 0;
	switch (f->csum) {
	case NET_CSUM_NONE:
		return true;
	case NET_CSUM_VALID:
		*flags = NETRXF_data_validated;
		return true;
	case NET_CSUM_PARTIAL:
		/* The frontend may take it blank (its feature-no-csum-offload,
		 * feature-ipv6-csum-offload); otherwise finish it here. */
		if (!net__parse_l4(f->data, f->len, &l4) && l4.l4 == f->csum_start &&
		    (l4.ipv6 ? q->cfg.csum_v6 : q->cfg.csum_v4)) {
			*flags = NETRXF_csum_blank | NETRXF_data_validated;
			return true;
		}
		if (net__csum_at(f->data, f->len, f->csum_start, f->csum_offset))
			return false;
		*flags = NETRXF_data_validated;
		return true;
	case NET_CSUM_BLANK:
		if (net__csum_fill(f->data, f->len))
			return false;
		*flags = NETRXF_data_validated;
		return true;
	}
	return false;
}

void net_queue__receive(struct net_queue *q, struct net_frame *f)
{
	struct backlog_frame *b;
	uint16_t flags;

	/* Links never deliver GSO frames: a tap is not offered TSO. */
	if (q->dead || f->gso_type != XEN_NETIF_GSO_TYPE_NONE ||
	    net_rx__check(f->len, q->cfg.sg) != NET_RX_OK || !rx_flags(q, f, &flags)) {
		count(&q->cfg.stats->rx_dropped, 1);
		return;
	}
	if (!q->backlog && net_rx__slots(f->len) <= q->rx_count) {
		put_frame(q, f->data, f->len, flags);
		push_rx(q);
		return;
	}
	if (q->backlog_len == NET_RX_BACKLOG || !(b = malloc(sizeof(*b) + f->len))) {
		count(&q->cfg.stats->rx_dropped, 1);
		return;
	}
	b->next = NULL;
	b->len = f->len;
	b->flags = flags;
	memcpy(b->data, f->data, f->len);
	if (q->backlog_tail)
		q->backlog_tail->next = b;
	else
		q->backlog = b;
	q->backlog_tail = b;
	q->backlog_len++;
}

/* ---- the queue ---- */

bool net_queue__run(struct net_queue *q)
{
	bool work;

	if (q->dead)
		return false;
	work = tx_pass(q);
	if (!q->dead)
		work |= rx_pass(q);
	return work;
}

bool net_queue__prepare_sleep(struct net_queue *q)
{
	bool more;

	if (q->dead)
		return false;
	more = xring__final_check_for_requests(&q->tx);
	/* New buffers matter only to frames that wait for them. */
	if (q->backlog)
		more |= xring__final_check_for_requests(&q->rx);
	return more;
}

bool net_queue__backlogged(const struct net_queue *q)
{
	return q->backlog != NULL;
}

static int map_ring(struct net_queue *q, grant_ref_t ref, struct gnttab_mapping *m,
		    struct xring *ring, size_t entry_size)
{
	uint8_t *page;

	if (gnttab__map(q->cfg.vm, BACKEND_DOMID, ref, true, m) != GNTST_okay)
		return -EFAULT;
	page = m->page;
	if (xring__init(ring, &page, 1, entry_size) || ring->size > NET_RING_MAX)
		return -EINVAL;
	return 0;
}

int net_queue__create(const struct net_queue_config *cfg, struct net_queue **out)
{
	struct net_queue *q = calloc(1, sizeof(*q));
	int err;

	if (!q)
		return -ENOMEM;
	q->cfg = *cfg;
	err = map_ring(q, cfg->tx_ref, &q->tx_map, &q->tx, sizeof(union netif_tx_sring_entry));
	if (!err)
		err = map_ring(q, cfg->rx_ref, &q->rx_map, &q->rx, sizeof(union netif_rx_sring_entry));
	if (err) {
		net_queue__destroy(q);
		return err;
	}
	*out = q;
	return 0;
}

void net_queue__destroy(struct net_queue *q)
{
	if (!q)
		return;
	while (q->backlog) {
		struct backlog_frame *b = q->backlog;

		q->backlog = b->next;
		free(b);
	}
	if (q->tx_map.page)
		gnttab__unmap(q->cfg.vm, &q->tx_map);
	if (q->rx_map.page)
		gnttab__unmap(q->cfg.vm, &q->rx_map);
	free(q);
}
