/*
 * netif transmit requests (xen/io/netif.h, "Guest transmit"): the ring
 * entries of one packet read and checked as Linux's netback checks them,
 * as pure functions.
 *
 * A packet is its first request (flags NETTXF_*, size = the whole frame),
 * the extra-info entries NETTXF_extra_info announces (each may announce
 * another with XEN_NETIF_EXTRA_FLAG_MORE), then one request per further
 * slot while NETTXF_more_data is set.  The first slot's own length is what
 * the later ones leave of the total.
 *
 * Verdicts come in two kinds, as in Linux's netback:
 *  - a dropped packet: every entry it took is answered (NETIF_RSP_ERROR,
 *    extra-info entries NETIF_RSP_NULL) and the queue goes on;
 *  - a fatal one, a frontend that is broken or hostile: the queue stops and
 *    the device is disconnected, its packet unanswered.
 *
 * Slot limits: a packet may use XEN_NETIF_NR_SLOTS_MIN slots after its
 * first; 20 or 21 slots in all are dropped; 22 or more are fatal (Linux's
 * fatal_skb_slots, 20 after the first).
 */
#ifndef PVMM_NET_TX_H
#define PVMM_NET_TX_H

#include <stdbool.h>
#include <stdint.h>

#include "xen/xen_abi.h"
#include <xen/io/netif.h>

#define NET_PAGE_SIZE         4096u
#define NET_TX_MAX_SLOTS      (XEN_NETIF_NR_SLOTS_MIN + 1)
#define NET_TX_DROP_SLOTS     (NET_TX_MAX_SLOTS + 2)   /* up to this many: dropped */

enum net_tx_verdict {
	NET_TX_OK = 0,
	/* Dropped: the packet is answered with NETIF_RSP_ERROR. */
	NET_TX_TOO_MANY_SLOTS,      /* 20 or 21 slots */
	NET_TX_SLOT_TOO_BIG,        /* a slot larger than what the first claims is left */
	NET_TX_TOO_SHORT,           /* the first slot holds less than an Ethernet header */
	NET_TX_BAD_GRANT,           /* a slot's grant could not be mapped (the queue's check) */
	NET_TX_BAD_OFFLOAD,         /* GSO or a blank checksum on what is not TCP/UDP over IP
				       (the backend's check) */
	/* Fatal: the queue stops. */
	NET_TX_FATAL_SLOTS,         /* 22 or more slots */
	NET_TX_FATAL_CROSSES_PAGE,  /* a slot's offset + size beyond its page */
	NET_TX_FATAL_INCOMPLETE,    /* more_data or an extra-info entry promised, the ring ends */
	NET_TX_FATAL_EXTRA,         /* an extra-info entry of no known type */
	NET_TX_FATAL_GSO,           /* a GSO segment size of 0, or an unknown GSO type */
	NET_TX_NR_VERDICTS,
};

static inline bool net_tx__fatal(enum net_tx_verdict v)
{
	return v >= NET_TX_FATAL_SLOTS;
}

/* One packet, as parsed. */
struct net_tx_packet {
	/* Ring entries the packet took: entry 0 is its first request, entries
	 * 1..nr_extras its extra-info, the rest its further slots.  Each is
	 * answered, whatever the verdict (unless fatal). */
	unsigned nr_entries;
	unsigned nr_extras;
	/* The data slots (when the verdict is NET_TX_OK): slot[0].size is the
	 * first slot's own length. */
	unsigned nr_slots;
	struct netif_tx_request slot[NET_TX_MAX_SLOTS];
	uint32_t size;              /* the frame's length */
	uint16_t flags;             /* the first request's NETTXF_* */
	uint8_t gso_type;           /* XEN_NETIF_GSO_TYPE_*: NONE, TCPV4, TCPV6 */
	uint16_t gso_size;          /* the segments' payload (MSS) */
	/* A multicast filter request (XEN_NETIF_EXTRA_TYPE_MCAST_ADD/DEL): no
	 * frame, answered NETIF_RSP_OKAY. */
	bool mcast;
};

/*
 * Reads the packet that starts at entry 0 of the avail entries (copied out
 * of the ring, in order) and checks it.  pkt->nr_entries is set for every
 * verdict that is not fatal.
 */
enum net_tx_verdict net_tx__parse(const union netif_tx_sring_entry *entry, unsigned avail,
				  struct net_tx_packet *pkt);

/* NETIF_RSP_OKAY for NET_TX_OK, NETIF_RSP_ERROR otherwise. */
int16_t net_tx__status(enum net_tx_verdict v);
const char *net_tx__verdict_name(enum net_tx_verdict v);

#endif
