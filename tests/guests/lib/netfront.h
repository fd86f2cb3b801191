/*
 * A minimal Xen network frontend, as xen-netfront and Mini-OS's netfront
 * speak the netif protocol (<xen/io/netif.h>): the device's xenstore
 * directory device/vif/<id> with the MAC the toolstack wrote, the backend's
 * feature keys, one transmit and one receive ring (a page each) granted to
 * the backend, one event channel (two with split event channels), receive
 * buffers granted for the backend to copy into (request-rx-copy), and
 * transmit buffers granted read-only.
 *
 * Every transmit slot has its own page (buffer i goes with request id i),
 * and every receive buffer is posted (again in batches, and all of them
 * before we wait): request i of the ring always names buffer
 * i % NETFRONT_RX_RING_SIZE, since the backend answers each rx request in
 * the slot it took it from (netif.h).
 */
#ifndef GUEST_NETFRONT_H
#define GUEST_NETFRONT_H

/* The grant table, the ring barriers and the command-line helpers. */
#include "blkfront.h"

#include <xen/io/netif.h>

#define NETFRONT_TX_RING_SIZE __CONST_RING_SIZE(netif_tx, PAGE_SIZE)
#define NETFRONT_RX_RING_SIZE __CONST_RING_SIZE(netif_rx, PAGE_SIZE)
/* The largest frame netfront_recv() hands on: a multi-slot one longer than
 * this is dropped (we offer no receive GSO, so an MTU-sized frame is all
 * the backend should send). */
#define NETFRONT_FRAME_MAX 4096u
#define ETH_ALEN 6

struct netfront {
	char fe[32];                    /* device/vif/<id> */
	char be[128];                   /* the backend's directory */
	domid_t be_id;
	uint8_t mac[ETH_ALEN];          /* the frontend directory's "mac" */
	bool be_mac_ok;                 /* the backend's "mac" parsed and is the same */
	/* What the backend offers (absent keys read as netif.h's defaults). */
	bool rx_copy;                   /* feature-rx-copy */
	bool sg;                        /* feature-sg */
	bool gso_tcpv4, gso_tcpv6;
	bool no_csum_offload;           /* feature-no-csum-offload */
	bool ipv6_csum_offload;
	bool split_evtchn;              /* feature-split-event-channels */
	bool rx_flip;                   /* feature-rx-flip: present and non-zero */
	uint64_t max_queues;            /* multi-queue-max-queues, 0 if absent */
	/* The rings. */
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	grant_ref_t tx_ring_ref, rx_ring_ref;
	evtchn_port_t tx_port, rx_port; /* equal unless split */
	grant_ref_t tx_ref[NETFRONT_TX_RING_SIZE];
	grant_ref_t rx_ref[NETFRONT_RX_RING_SIZE];
	bool tx_busy[NETFRONT_TX_RING_SIZE];
	unsigned int tx_free;           /* slots not in flight */
	/* Counters. */
	uint64_t tx_ok, tx_error, tx_dropped, tx_other;
	uint64_t rx_frames, rx_dropped, rx_errors;
	uint64_t rx_wrong_slot;         /* responses whose id is not their slot's */
	uint64_t rx_bad_offset;         /* offset + size past the page */
};

/* Frames from netfront_recv(). */
struct netfront_frame {
	uint8_t *data;
	uint32_t len;
	uint16_t flags;                 /* the first slot's NETRXF_* */
};

/*
 * Connects to the backend of device/vif/<vif>: reads backend and
 * backend-id and the MAC, waits for the backend's InitWait, reads its
 * features, grants both rings and every buffer, allocates the event
 * channel(s) (split ones when split and the backend offers them), writes
 * tx-ring-ref, rx-ring-ref, event-channel (or event-channel-tx/-rx),
 * request-rx-copy = 1, feature-rx-notify = 1 in a transaction, switches to
 * Initialised, waits for the backend's Connected, fills the receive ring
 * and switches to Connected.  gnt_init() must have run.  Returns 0, or
 * -errno after printing what failed.
 */
long netfront_connect(struct netfront *nf, unsigned int vif, bool split);

/* Waits until the backend's state is at least state (Closing: it gave the
 * device up) or deadline passes: the state then, or -errno. */
long netfront_wait_state(struct netfront *nf, long state, uint64_t deadline);

/*
 * After the backend gave the device up: switches to Closed, waits for the
 * backend's Closed, closes the event channel(s), switches to Initialising
 * (the backend returns to InitWait) and connects again with new rings, as
 * Linux's netfront does after a reset.  0 or -errno.
 */
long netfront_reconnect(struct netfront *nf, unsigned int vif, bool split);

/* Transmit: a buffer page for a frame, filled by the caller, then sent.
 * Waits (up to deadline) for a free slot; NULL if none came. */
uint8_t *netfront_tx_buffer(struct netfront *nf, uint16_t *id, uint64_t deadline);
/* Sends len bytes of buffer id as one slot (flags: NETTXF_*). */
void netfront_tx_send(struct netfront *nf, uint16_t id, uint16_t len, uint16_t flags);
/* The same in two steps, for batches: queues the request unpublished, and
 * publishes what is queued (notifying the backend if it asked). */
void netfront_tx_queue(struct netfront *nf, uint16_t id, uint16_t len, uint16_t flags);
void netfront_tx_push(struct netfront *nf);
/* Copies a frame into a buffer and sends it: false if no slot came. */
bool netfront_send(struct netfront *nf, const void *frame, uint16_t len, uint16_t flags);

/* Queues requests exactly as given (grefs, offsets, sizes, flags, ids
 * chosen by the caller, who marks ids it uses from netfront_tx_buffer()
 * with their pages), publishes them and notifies.  For multi-slot frames
 * and malformed requests. */
bool netfront_tx_raw(struct netfront *nf, const netif_tx_request_t *reqs, unsigned int n);
/* The page of transmit buffer id (whether in flight or not). */
uint8_t *netfront_tx_page(struct netfront *nf, uint16_t id);
/* The grant reference of transmit buffer id. */
grant_ref_t netfront_tx_ref(const struct netfront *nf, uint16_t id);

/* Takes the transmit responses that are there, frees their ids and
 * counts their status (NETIF_RSP_NULL ones, for extra-info slots, are
 * skipped); a response for an id not in flight counts as tx_other.  Leaves
 * rsp_event set so that the next response notifies us. */
void netfront_tx_reap(struct netfront *nf);
/* Waits until the response for id has come or deadline passes: its status,
 * or INT16_MIN. */
int16_t netfront_tx_wait(struct netfront *nf, uint16_t id, uint64_t deadline);

/*
 * The next received frame, or false when none came before deadline (0: do
 * not wait).  The frame stays valid until the next call, which gives its
 * buffers back to the backend.
 */
bool netfront_recv(struct netfront *nf, struct netfront_frame *f, uint64_t deadline);

/* Waits for an event on either port until deadline. */
void netfront_wait(struct netfront *nf, uint64_t deadline);

/* The backend's state node as a number, -errno if unreadable. */
long netfront_backend_state(const struct netfront *nf);

/* Parses "xx:xx:xx:xx:xx:xx": true if well formed. */
bool mac_parse(const char *s, uint8_t mac[ETH_ALEN]);

#endif
