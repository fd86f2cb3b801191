/* The network frontend: see netfront.h. */
#include "netfront.h"

#define CONNECT_TIMEOUT_NS 30000000000ull

static uint8_t tx_ring_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t rx_ring_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t tx_buf[NETFRONT_TX_RING_SIZE][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t rx_buf[NETFRONT_RX_RING_SIZE][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
/* A frame that arrived in several slots, put back together. */
static uint8_t rx_frame[NETFRONT_FRAME_MAX];

/* Ids of free transmit slots: a stack. */
static uint16_t tx_free_ids[NETFRONT_TX_RING_SIZE];
/* The last status of each transmit id, INT16_MIN while in flight. */
static int16_t tx_status[NETFRONT_TX_RING_SIZE];
/* Receive requests are posted again in batches of this many. */
#define RX_BATCH 32

static struct xs_msg msg;

/* ---- xenstore ---- */

/* A feature flag: absent reads as def. */
static bool read_flag(const char *dir, const char *key, bool def)
{
	uint64_t v;
	long rc = xs_read_u64(dir, key, &v);

	return rc == 0 ? v != 0 : def;
}

static long write_num(uint32_t tx, const char *dir, const char *key, uint64_t v)
{
	char path[192], buf[24];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return xs_write(tx, path, buf);
}

long netfront_backend_state(const struct netfront *nf)
{
	uint64_t v;
	long rc = xs_read_u64(nf->be, "state", &v);

	return rc ? rc : (long)v;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool mac_parse(const char *s, uint8_t mac[ETH_ALEN])
{
	for (unsigned int i = 0; i < ETH_ALEN; i++) {
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);

		if (lo < 0 || s[2] != (i == ETH_ALEN - 1 ? '\0' : ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return true;
}

/* Waits for the backend's state to reach want (up to Connected); a
 * backend that closes fails, unless it is still Closing or Closed from an
 * earlier connection (closed_ok) and may yet come back.  The watch on its
 * state node is set. */
static long wait_backend(struct netfront *nf, long want, bool closed_ok, uint64_t deadline)
{
	for (;;) {
		long state = netfront_backend_state(nf);

		if (state < 0 && state != -XEN_ENOENT)
			return state;
		if (state >= want && state <= XenbusStateConnected)
			return 0;
		if (state > XenbusStateConnected && !closed_ok) {
			printf("netfront: backend %s is in state %ld\n", nf->be, state);
			return -XEN_EIO;
		}
		if (xs_next_watch(&msg, deadline)) {
			printf("netfront: backend %s did not reach state %ld (it is in %ld)\n",
			       nf->be, want, state);
			return -XEN_ETIMEDOUT;
		}
	}
}

static void read_features(struct netfront *nf)
{
	uint64_t v;

	nf->rx_copy = read_flag(nf->be, "feature-rx-copy", false);
	nf->rx_flip = read_flag(nf->be, "feature-rx-flip", false);
	nf->sg = read_flag(nf->be, "feature-sg", false);
	nf->gso_tcpv4 = read_flag(nf->be, "feature-gso-tcpv4", false);
	nf->gso_tcpv6 = read_flag(nf->be, "feature-gso-tcpv6", false);
	nf->no_csum_offload = read_flag(nf->be, "feature-no-csum-offload", false);
	nf->ipv6_csum_offload = read_flag(nf->be, "feature-ipv6-csum-offload", false);
	nf->split_evtchn = read_flag(nf->be, "feature-split-event-channels", false);
	nf->max_queues = xs_read_u64(nf->be, "multi-queue-max-queues", &v) == 0 ? v : 0;
}

/* Grants the rings and the buffers, allocates the event channel(s). */
static long setup_rings(struct netfront *nf, bool split)
{
	netif_tx_sring_t *txs = (netif_tx_sring_t *)tx_ring_page;
	netif_rx_sring_t *rxs = (netif_rx_sring_t *)rx_ring_page;
	long rc;

	SHARED_RING_INIT(txs);
	FRONT_RING_INIT(&nf->tx, txs, PAGE_SIZE);
	SHARED_RING_INIT(rxs);
	FRONT_RING_INIT(&nf->rx, rxs, PAGE_SIZE);
	nf->tx_ring_ref = gnt_grant(nf->be_id, tx_ring_page, false);
	nf->rx_ring_ref = gnt_grant(nf->be_id, rx_ring_page, false);
	for (unsigned int i = 0; i < NETFRONT_TX_RING_SIZE; i++) {
		/* The backend only reads what we send. */
		nf->tx_ref[i] = gnt_grant(nf->be_id, tx_buf[i], true);
		tx_free_ids[i] = (uint16_t)(NETFRONT_TX_RING_SIZE - 1 - i);
		tx_status[i] = NETIF_RSP_OKAY;
	}
	nf->tx_free = NETFRONT_TX_RING_SIZE;
	for (unsigned int i = 0; i < NETFRONT_RX_RING_SIZE; i++)
		nf->rx_ref[i] = gnt_grant(nf->be_id, rx_buf[i], false);
	if (!nf->rx_ref[NETFRONT_RX_RING_SIZE - 1] || !nf->tx_ref[NETFRONT_TX_RING_SIZE - 1] ||
	    !nf->tx_ring_ref || !nf->rx_ring_ref) {
		printf("netfront: the grant table is full\n");
		return -XEN_ENOSPC;
	}
	rc = evtchn_alloc_unbound(nf->be_id, &nf->tx_port);
	nf->rx_port = nf->tx_port;
	if (!rc && split)
		rc = evtchn_alloc_unbound(nf->be_id, &nf->rx_port);
	return rc;
}

/* Our half of the handshake, in one transaction as both frontends write
 * it. */
static long publish(struct netfront *nf, bool split)
{
	for (;;) {
		uint32_t tx;
		long rc = xs_transaction_start(&tx);

		if (rc)
			return rc;
		rc = write_num(tx, nf->fe, "tx-ring-ref", nf->tx_ring_ref);
		if (!rc)
			rc = write_num(tx, nf->fe, "rx-ring-ref", nf->rx_ring_ref);
		if (!rc && split) {
			rc = write_num(tx, nf->fe, "event-channel-tx", nf->tx_port);
			if (!rc)
				rc = write_num(tx, nf->fe, "event-channel-rx", nf->rx_port);
		} else if (!rc) {
			rc = write_num(tx, nf->fe, "event-channel", nf->tx_port);
		}
		if (!rc)
			rc = write_num(tx, nf->fe, "request-rx-copy", 1);
		if (!rc)
			rc = write_num(tx, nf->fe, "feature-rx-notify", 1);
		/* We put frames that come in several slots back together. */
		if (!rc)
			rc = write_num(tx, nf->fe, "feature-sg", 1);
		if (rc) {
			xs_transaction_end(tx, false);
			return rc;
		}
		rc = xs_transaction_end(tx, true);
		if (rc != -XEN_EAGAIN)
			return rc;
	}
}

/* Posts requests until every buffer whose response index is below done
 * is with the backend again: request i names buffer i % the ring's size,
 * whose last response (index i - size) must have been dealt with. */
static void rx_post_upto(struct netfront *nf, RING_IDX done)
{
	RING_IDX limit = done + NETFRONT_RX_RING_SIZE;
	int notify;

	if (nf->rx.req_prod_pvt == limit)
		return;
	for (RING_IDX idx = nf->rx.req_prod_pvt; idx != limit; idx++) {
		netif_rx_request_t *req = RING_GET_REQUEST(&nf->rx, idx);
		unsigned int slot = idx % NETFRONT_RX_RING_SIZE;

		req->id = (uint16_t)slot;
		req->gref = nf->rx_ref[slot];
	}
	nf->rx.req_prod_pvt = limit;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->rx, notify);
	if (notify)
		evtchn_send(nf->rx_port);
}

/* The MAC the toolstack wrote for us, where both frontends read it, and
 * the backend's copy. */
static long read_macs(struct netfront *nf)
{
	char path[192], buf[32];
	uint8_t be_mac[ETH_ALEN];
	long rc;

	snprintf(path, sizeof(path), "%s/mac", nf->fe);
	rc = xs_read(0, path, buf, sizeof(buf));
	if (rc < 0 || !mac_parse(buf, nf->mac)) {
		printf("netfront: %s is %s\n", path, rc < 0 ? "missing" : buf);
		return rc < 0 ? rc : -XEN_EINVAL;
	}
	snprintf(path, sizeof(path), "%s/mac", nf->be);
	rc = xs_read(0, path, buf, sizeof(buf));
	nf->be_mac_ok = rc >= 0 && mac_parse(buf, be_mac) &&
		memcmp(be_mac, nf->mac, ETH_ALEN) == 0;
	if (!nf->be_mac_ok)
		printf("netfront: the backend's mac is %s\n", rc < 0 ? "missing" : buf);
	return 0;
}

static long connect_common(struct netfront *nf, unsigned int vif, bool split, bool again)
{
	uint64_t deadline = xen_now() + CONNECT_TIMEOUT_NS;
	char path[192];
	static const char token[] = "vif";
	long rc;

	memset(nf, 0, sizeof(*nf));
	snprintf(nf->fe, sizeof(nf->fe), "device/vif/%u", vif);
	rc = xs_find_backend(nf->fe, nf->be, sizeof(nf->be), &nf->be_id);
	if (rc)
		return rc;

	snprintf(path, sizeof(path), "%s/state", nf->be);
	xs_watch_discard();
	rc = xs_path_op(XS_WATCH, 0, path, token, true, &msg);
	if (rc) {
		printf("netfront: XS_WATCH %s: %ld\n", path, rc);
		return rc;
	}
	rc = wait_backend(nf, XenbusStateInitWait, again, deadline);
	if (!rc)
		rc = read_macs(nf);
	if (rc)
		goto out;
	read_features(nf);
	if (!nf->rx_copy) {
		printf("netfront: the backend does not offer feature-rx-copy\n");
		rc = -XEN_EOPNOTSUPP;
		goto out;
	}
	split = split && nf->split_evtchn;
	rc = setup_rings(nf, split);
	if (!rc)
		rc = publish(nf, split);
	if (!rc)
		rc = write_num(0, nf->fe, "state", XenbusStateInitialised);
	if (rc) {
		printf("netfront: publishing the rings of %s failed: %ld\n", nf->fe, rc);
		goto out;
	}
	rc = wait_backend(nf, XenbusStateConnected, false, deadline);
	if (rc)
		goto out;
	rx_post_upto(nf, 0);
	rc = write_num(0, nf->fe, "state", XenbusStateConnected);
out:
	xs_path_op(XS_UNWATCH, 0, path, token, true, &msg);
	xs_watch_discard();
	return rc;
}

long netfront_connect(struct netfront *nf, unsigned int vif, bool split)
{
	return connect_common(nf, vif, split, false);
}

long netfront_wait_state(struct netfront *nf, long state, uint64_t deadline)
{
	char path[192];
	static const char token[] = "vif-state";
	long rc, now;

	snprintf(path, sizeof(path), "%s/state", nf->be);
	xs_watch_discard();
	rc = xs_path_op(XS_WATCH, 0, path, token, true, &msg);
	if (rc)
		return rc;
	while ((now = netfront_backend_state(nf)) >= 0 && now < state)
		if (xs_next_watch(&msg, deadline))
			break;
	xs_path_op(XS_UNWATCH, 0, path, token, true, &msg);
	xs_watch_discard();
	return now;
}

long netfront_reconnect(struct netfront *nf, unsigned int vif, bool split)
{
	uint64_t deadline = xen_now() + CONNECT_TIMEOUT_NS;
	long rc = write_num(0, nf->fe, "state", XenbusStateClosed);

	if (rc)
		return rc;
	rc = netfront_wait_state(nf, XenbusStateClosed, deadline);
	if (rc != XenbusStateClosed) {
		printf("netfront: the backend went to state %ld, not Closed\n", rc);
		return rc < 0 ? rc : -XEN_EIO;
	}
	evtchn_close(nf->tx_port);
	if (nf->rx_port != nf->tx_port)
		evtchn_close(nf->rx_port);
	rc = write_num(0, nf->fe, "state", XenbusStateInitialising);
	return rc ? rc : connect_common(nf, vif, split, true);
}

/* ---- events ---- */

void netfront_wait(struct netfront *nf, uint64_t deadline)
{
	evtchn_port_t ports[2] = { nf->tx_port, nf->rx_port };
	struct sched_poll poll = {
		.nr_ports = nf->rx_port == nf->tx_port ? 1 : 2,
		.timeout = deadline,
	};

	set_xen_guest_handle(poll.ports, ports);
	HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
	/* Cleared before the rings are looked at again: an event for work we
	 * have not seen is never lost. */
	evtchn_clear_pending(nf->tx_port);
	evtchn_clear_pending(nf->rx_port);
}

/* ---- transmit ---- */

uint8_t *netfront_tx_page(struct netfront *nf, uint16_t id)
{
	(void)nf;
	return tx_buf[id % NETFRONT_TX_RING_SIZE];
}

grant_ref_t netfront_tx_ref(const struct netfront *nf, uint16_t id)
{
	return id < NETFRONT_TX_RING_SIZE ? nf->tx_ref[id] : 0;
}

void netfront_tx_reap(struct netfront *nf)
{
	int more;

	do {
		RING_IDX prod = nf->tx.sring->rsp_prod;

		xen_rmb();      /* the index before the responses it covers */
		for (RING_IDX i = nf->tx.rsp_cons; i != prod; i++) {
			netif_tx_response_t *rsp = RING_GET_RESPONSE(&nf->tx, i);

			/* The slots of extra-info requests: nothing to free. */
			if (rsp->status == NETIF_RSP_NULL)
				continue;
			if (rsp->id >= NETFRONT_TX_RING_SIZE || tx_status[rsp->id] != INT16_MIN) {
				nf->tx_other++;
				continue;
			}
			tx_status[rsp->id] = rsp->status;
			tx_free_ids[nf->tx_free++] = rsp->id;
			if (rsp->status == NETIF_RSP_OKAY)
				nf->tx_ok++;
			else if (rsp->status == NETIF_RSP_ERROR)
				nf->tx_error++;
			else if (rsp->status == NETIF_RSP_DROPPED)
				nf->tx_dropped++;
			else
				nf->tx_other++;
		}
		nf->tx.rsp_cons = prod;
		/* Sets rsp_event: the next response notifies us. */
		RING_FINAL_CHECK_FOR_RESPONSES(&nf->tx, more);
	} while (more);
}

/* Waits until n requests fit in the ring and, when id_needed, an id is
 * free. */
static bool tx_wait_room(struct netfront *nf, unsigned int n, bool id_needed,
			 uint64_t deadline)
{
	/* Responses are taken only when room runs out: fewer instructions a
	 * frame (guest code is emulated here). */
	for (;;) {
		if (RING_FREE_REQUESTS(&nf->tx) >= n && (!id_needed || nf->tx_free))
			return true;
		netfront_tx_reap(nf);
		if (RING_FREE_REQUESTS(&nf->tx) >= n && (!id_needed || nf->tx_free))
			return true;
		if (xen_now() >= deadline)
			return false;
		netfront_wait(nf, deadline);
	}
}

uint8_t *netfront_tx_buffer(struct netfront *nf, uint16_t *id, uint64_t deadline)
{
	if (!tx_wait_room(nf, 1, true, deadline))
		return NULL;
	*id = tx_free_ids[--nf->tx_free];
	tx_status[*id] = INT16_MIN;
	return tx_buf[*id];
}

void netfront_tx_push(struct netfront *nf)
{
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->tx, notify);
	if (notify)
		evtchn_send(nf->tx_port);
}

void netfront_tx_queue(struct netfront *nf, uint16_t id, uint16_t len, uint16_t flags)
{
	netif_tx_request_t *req = RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt);

	req->gref = nf->tx_ref[id];
	req->offset = 0;
	req->flags = flags;
	req->id = id;
	req->size = len;
	nf->tx.req_prod_pvt++;
}

void netfront_tx_send(struct netfront *nf, uint16_t id, uint16_t len, uint16_t flags)
{
	netfront_tx_queue(nf, id, len, flags);
	netfront_tx_push(nf);
}

bool netfront_send(struct netfront *nf, const void *frame, uint16_t len, uint16_t flags)
{
	uint16_t id;
	uint8_t *buf = netfront_tx_buffer(nf, &id, xen_now() + CONNECT_TIMEOUT_NS);

	if (!buf || len > PAGE_SIZE)
		return false;
	memcpy(buf, frame, len);
	netfront_tx_send(nf, id, len, flags);
	return true;
}

bool netfront_tx_raw(struct netfront *nf, const netif_tx_request_t *reqs, unsigned int n)
{
	if (n > NETFRONT_TX_RING_SIZE ||
	    !tx_wait_room(nf, n, false, xen_now() + CONNECT_TIMEOUT_NS))
		return false;
	for (unsigned int i = 0; i < n; i++)
		*RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt + i) = reqs[i];
	nf->tx.req_prod_pvt += n;
	netfront_tx_push(nf);
	return true;
}

int16_t netfront_tx_wait(struct netfront *nf, uint16_t id, uint64_t deadline)
{
	if (id >= NETFRONT_TX_RING_SIZE)
		return INT16_MIN;
	for (;;) {
		netfront_tx_reap(nf);
		if (tx_status[id] != INT16_MIN)
			return tx_status[id];
		if (xen_now() >= deadline)
			return INT16_MIN;
		netfront_wait(nf, deadline);
	}
}

/* ---- receive ---- */

/* How many responses from rsp_cons make up the next frame (its extra-info
 * slots included), or 0 when not all of them are there yet.  The flags
 * chain the slots even when a status is an error, as Linux's netfront
 * reads them: the whole frame is then dropped. */
static unsigned int rx_frame_slots(struct netfront *nf, RING_IDX prod)
{
	RING_IDX i = nf->rx.rsp_cons;
	netif_rx_response_t *rsp;
	bool extra, more;

	if (i == prod)
		return 0;
	rsp = RING_GET_RESPONSE(&nf->rx, i);
	extra = rsp->flags & NETRXF_extra_info;
	more = rsp->flags & NETRXF_more_data;
	for (i++; extra || more; i++) {
		if (i == prod || i - nf->rx.rsp_cons >= NETFRONT_RX_RING_SIZE)
			return i == prod ? 0 : NETFRONT_RX_RING_SIZE;
		if (extra) {
			netif_extra_info_t *ex =
				(netif_extra_info_t *)RING_GET_RESPONSE(&nf->rx, i);

			extra = ex->flags & XEN_NETIF_EXTRA_FLAG_MORE;
			continue;
		}
		rsp = RING_GET_RESPONSE(&nf->rx, i);
		more = rsp->flags & NETRXF_more_data;
	}
	return i - nf->rx.rsp_cons;
}

/* Makes a frame of the n responses at rsp_cons: false to drop it. */
static bool rx_assemble(struct netfront *nf, unsigned int n, struct netfront_frame *f)
{
	RING_IDX first = nf->rx.rsp_cons;
	netif_rx_response_t *rsp = RING_GET_RESPONSE(&nf->rx, first);
	bool extra = rsp->flags & NETRXF_extra_info;
	bool multi = rsp->flags & NETRXF_more_data;
	uint32_t len = 0;

	f->flags = rsp->flags;
	f->data = rx_frame;
	for (RING_IDX i = first; i != first + n; i++) {
		unsigned int slot = i % NETFRONT_RX_RING_SIZE;

		rsp = RING_GET_RESPONSE(&nf->rx, i);
		if (i != first && extra) {
			/* An extra-info slot overlays a response: no data. */
			extra = ((netif_extra_info_t *)rsp)->flags & XEN_NETIF_EXTRA_FLAG_MORE;
			continue;
		}
		if (rsp->id != slot)
			nf->rx_wrong_slot++;
		if (rsp->status < 0) {
			nf->rx_errors++;
			return false;
		}
		if (rsp->offset + (uint32_t)rsp->status > PAGE_SIZE) {
			nf->rx_bad_offset++;
			return false;
		}
		if (!multi) {
			/* One data slot: the frame stays in its buffer. */
			f->data = rx_buf[slot] + rsp->offset;
		} else {
			if (len + (uint32_t)rsp->status > NETFRONT_FRAME_MAX)
				return false;
			memcpy(rx_frame + len, rx_buf[slot] + rsp->offset, (size_t)rsp->status);
		}
		len += (uint32_t)rsp->status;
	}
	f->len = len;
	return len > 0;
}

bool netfront_recv(struct netfront *nf, struct netfront_frame *f, uint64_t deadline)
{
	/* The previous frame's buffers are free again from here on. */
	RING_IDX done = nf->rx.rsp_cons;

	if (done + NETFRONT_RX_RING_SIZE - nf->rx.req_prod_pvt >= RX_BATCH)
		rx_post_upto(nf, done);
	for (;;) {
		RING_IDX prod = nf->rx.sring->rsp_prod;
		unsigned int n;

		xen_rmb();      /* the index before the responses it covers */
		n = rx_frame_slots(nf, prod);
		if (n == NETFRONT_RX_RING_SIZE) {
			/* A frame that never ends: the backend is broken. */
			nf->rx_errors++;
			nf->rx.rsp_cons = done = prod;
			continue;
		}
		if (n) {
			bool ok = rx_assemble(nf, n, f);

			nf->rx.rsp_cons += n;
			if (ok) {
				nf->rx_frames++;
				return true;
			}
			nf->rx_dropped++;
			done = nf->rx.rsp_cons;
			continue;
		}
		/* Nothing complete: every buffer back to the backend, and an
		 * event at the next response. */
		rx_post_upto(nf, done);
		nf->rx.sring->rsp_event = nf->rx.rsp_cons + 1;
		mb();
		if (nf->rx.sring->rsp_prod != prod)
			continue;
		if (!deadline || xen_now() >= deadline)
			return false;
		netfront_wait(nf, deadline);
	}
}
