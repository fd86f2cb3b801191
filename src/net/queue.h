/*
 * One queue of a network interface: a transmit ring and a receive ring in
 * pages the guest grants (one page each), served by the interface's backend
 * thread (netback.c), which also owns the event channels.
 *
 * Transmit.  Each pass takes every request the ring holds, reads them
 * packet by packet at the one boundary (net/tx.h), copies each packet's
 * slots out of its granted pages (mapped read-only, each slot checked to
 * lie inside its page) into one frame, and hands the frame on; every entry
 * a packet took is then answered.  A fatal verdict, or ring indices that
 * lie, stop the queue for good: on_fatal is called once and the device is
 * to be disconnected.
 *
 * Receive.  The buffers the frontend posts are taken off the ring as they
 * come and kept in order; a frame for the guest is copied into as many as
 * it needs (net/rx.h), each page mapped writable only while it is filled.
 * A frame that finds too few buffers waits in a short backlog, in order;
 * when the backlog is full, or the frame cannot go to this frontend at all,
 * it is dropped and counted.  The frontend is asked to notify new buffers
 * only while frames wait (req_event), and is notified of responses only
 * when it asked (rsp_event).
 */
#ifndef PVMM_NET_QUEUE_H
#define PVMM_NET_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/link.h"
#include "xen/xen_abi.h"

struct vm;
struct net_queue;

/* Frames waiting for receive buffers, per queue. */
#define NET_RX_BACKLOG 256

/* An interface's counters, kept across connections; any thread reads. */
struct net_stats {
	_Atomic uint64_t tx_packets, tx_bytes;  /* sent on to the host side */
	_Atomic uint64_t tx_errors;             /* refused: NETIF_RSP_ERROR */
	_Atomic uint64_t tx_dropped;            /* the host side took none: NETIF_RSP_DROPPED */
	_Atomic uint64_t rx_packets, rx_bytes;  /* copied to the guest */
	_Atomic uint64_t rx_dropped;            /* no buffers, no room, or not for this frontend */
};

struct net_queue_config {
	struct vm *vm;
	const char *name;           /* for messages: "vif 0 queue 1" */
	grant_ref_t tx_ref, rx_ref;
	uint32_t tx_port, rx_port;  /* the guest's ports (equal without split channels) */
	bool sg;                    /* feature-sg: a frame may take several receive slots */
	bool csum_v4, csum_v6;      /* blank checksums may go to the guest, by IP version */
	struct net_stats *stats;
	/* A frame the guest sent, on the backend thread: returns the status to
	 * answer it with, NETIF_RSP_OKAY, _ERROR or _DROPPED.  The frame may be
	 * changed in place. */
	int16_t (*transmit)(void *opaque, struct net_frame *f);
	/* The frontend broke a rule that stops the queue; called once. */
	void (*on_fatal)(void *opaque, const char *name, const char *why);
	void *opaque;
};

/* Maps both rings (writable).  0, -EFAULT (a ring grant refused), -EINVAL
 * or -ENOMEM. */
int net_queue__create(const struct net_queue_config *cfg, struct net_queue **out);

/* Unmaps the rings and frees the queue and its backlog. */
void net_queue__destroy(struct net_queue *q);

/* Serves both rings once: every transmit request, the receive buffers
 * posted and the frames they let out of the backlog; publishes the
 * responses.  Returns whether it found any work. */
bool net_queue__run(struct net_queue *q);

/* A frame for the guest: copied in now, kept in the backlog, or dropped.
 * The frame may be changed in place (a partial checksum finished). */
void net_queue__receive(struct net_queue *q, struct net_frame *f);

/* Before the thread sleeps: re-arms the notifications it needs.  Returns
 * true when requests arrived meanwhile (run again instead). */
bool net_queue__prepare_sleep(struct net_queue *q);

/* Whether frames wait in the backlog for buffers. */
bool net_queue__backlogged(const struct net_queue *q);

#endif
