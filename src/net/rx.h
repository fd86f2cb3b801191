/*
 * netif receive (xen/io/netif.h, "Guest receive") with rx-copy: the
 * frontend posts requests (id, gref of an empty page) and the backend
 * copies a frame into as many of those pages as it needs, one response per
 * request, in the request's own ring slot.  Pure functions: how a frame is
 * cut into slots and what each slot's response says.
 *
 * A frame fills each page from offset 0, 4096 bytes a page; each response's
 * status is the bytes in its page, NETRXF_more_data on every slot but the
 * last, and the checksum flags on the first.  pvmm never sends GSO frames
 * to a guest, so no response carries extra info.
 */
#ifndef PVMM_NET_RX_H
#define PVMM_NET_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xen/xen_abi.h"
#include <xen/io/netif.h>

/* The most slots a frame takes: NET_FRAME_MAX bytes. */
#define NET_RX_MAX_SLOTS 16

enum net_rx_verdict {
	NET_RX_OK = 0,
	NET_RX_TOO_SHORT,       /* less than an Ethernet header */
	NET_RX_TOO_LONG,        /* more than NET_FRAME_MAX */
	NET_RX_NEEDS_SG,        /* more than a page, and the frontend takes one slot a frame */
};

/* Whether a frame of len bytes can go to a frontend (sg: its feature-sg). */
enum net_rx_verdict net_rx__check(size_t len, bool sg);

/* The slots a frame of len (checked) bytes takes. */
unsigned net_rx__slots(size_t len);

/* The response to request id for slot i of a frame of len bytes; flags
 * (NETRXF_data_validated, NETRXF_csum_blank) go on the first slot.  With
 * error, the slot says NETIF_RSP_ERROR but still chains to the next, so the
 * frontend finds where the frame ends and drops it whole. */
struct netif_rx_response net_rx__response(uint16_t id, size_t len, unsigned i, uint16_t flags,
					  bool error);

#endif
