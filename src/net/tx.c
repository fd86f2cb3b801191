#include "net/tx.h"

#include <string.h>

#include "net/offload.h"

/* Reads the extra-info entries from *i on.  0 or a fatal verdict. */
static enum net_tx_verdict parse_extras(const union netif_tx_sring_entry *entry, unsigned avail,
					unsigned *i, struct net_tx_packet *pkt, bool *gso)
{
	struct netif_extra_info x;

	do {
		if (*i >= avail)
			return NET_TX_FATAL_INCOMPLETE;
		/* The entry is the guest's copy already: read it as an extra. */
		memcpy(&x, &entry[(*i)++], sizeof(x));
		if (x.type == XEN_NETIF_EXTRA_TYPE_NONE || x.type >= XEN_NETIF_EXTRA_TYPE_MAX)
			return NET_TX_FATAL_EXTRA;
		if (x.type == XEN_NETIF_EXTRA_TYPE_GSO) {
			*gso = true;
			pkt->gso_type = x.u.gso.type;
			pkt->gso_size = x.u.gso.size;
		} else if (x.type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD ||
			   x.type == XEN_NETIF_EXTRA_TYPE_MCAST_DEL) {
			pkt->mcast = true;
		}
		/* XEN_NETIF_EXTRA_TYPE_HASH: a hint pvmm has no use for. */
	} while (x.flags & XEN_NETIF_EXTRA_FLAG_MORE);
	return NET_TX_OK;
}

enum net_tx_verdict net_tx__parse(const union netif_tx_sring_entry *entry, unsigned avail,
				  struct net_tx_packet *pkt)
{
	struct netif_tx_request first;
	enum net_tx_verdict v, drop = NET_TX_OK;
	unsigned i = 1, further = 0;
	uint32_t left;
	bool more, gso = false;

	memset(pkt, 0, sizeof(*pkt));
	if (!avail)
		return NET_TX_FATAL_INCOMPLETE;
	first = entry[0].req;
	pkt->flags = first.flags;
	pkt->size = first.size;
	if (first.flags & NETTXF_extra_info) {
		v = parse_extras(entry, avail, &i, pkt, &gso);
		if (v)
			return v;
	}
	pkt->nr_extras = i - 1;
	/* A multicast filter request carries no frame (Linux's netback answers
	 * it before looking at further slots). */
	if (pkt->mcast) {
		pkt->nr_entries = i;
		return NET_TX_OK;
	}
	left = first.size;
	for (more = first.flags & NETTXF_more_data; more; further++) {
		struct netif_tx_request r;

		if (i >= avail)
			return NET_TX_FATAL_INCOMPLETE;
		if (further >= NET_TX_DROP_SLOTS - 1)
			return NET_TX_FATAL_SLOTS;
		if (!drop && further >= NET_TX_MAX_SLOTS - 1)
			drop = NET_TX_TOO_MANY_SLOTS;
		r = entry[i++].req;
		/* The first request's size is the frame's: a later slot larger
		 * than what is left means it lied (or the frame passed 64 KiB). */
		if (!drop && r.size > left)
			drop = NET_TX_SLOT_TOO_BIG;
		if ((uint32_t)r.offset + r.size > NET_PAGE_SIZE)
			return NET_TX_FATAL_CROSSES_PAGE;
		if (!drop) {
			left -= r.size;
			pkt->slot[1 + further] = r;
		}
		more = r.flags & NETTXF_more_data;
	}
	pkt->nr_entries = i;
	if (drop)
		return drop;
	if (left < NET_ETH_HLEN)
		return NET_TX_TOO_SHORT;
	if ((uint32_t)first.offset + left > NET_PAGE_SIZE)
		return NET_TX_FATAL_CROSSES_PAGE;
	if (gso && (!pkt->gso_size || (pkt->gso_type != XEN_NETIF_GSO_TYPE_TCPV4 &&
				       pkt->gso_type != XEN_NETIF_GSO_TYPE_TCPV6)))
		return NET_TX_FATAL_GSO;
	first.size = (uint16_t)left;
	pkt->slot[0] = first;
	pkt->nr_slots = 1 + further;
	return NET_TX_OK;
}

int16_t net_tx__status(enum net_tx_verdict v)
{
	return v == NET_TX_OK ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
}

const char *net_tx__verdict_name(enum net_tx_verdict v)
{
	static const char *const names[] = {
		[NET_TX_OK] = "ok",
		[NET_TX_TOO_MANY_SLOTS] = "too many slots",
		[NET_TX_SLOT_TOO_BIG] = "a slot larger than the packet's size leaves",
		[NET_TX_TOO_SHORT] = "first slot shorter than an Ethernet header",
		[NET_TX_BAD_GRANT] = "a slot's grant refused",
		[NET_TX_BAD_OFFLOAD] = "GSO or blank checksum on what is not TCP/UDP over IP",
		[NET_TX_FATAL_SLOTS] = "far too many slots",
		[NET_TX_FATAL_CROSSES_PAGE] = "a slot crosses its page",
		[NET_TX_FATAL_INCOMPLETE] = "a packet continues past the requests given",
		[NET_TX_FATAL_EXTRA] = "an extra-info entry of unknown type",
		[NET_TX_FATAL_GSO] = "a GSO request of size 0 or of unknown type",
	};

	if ((unsigned)v >= NET_TX_NR_VERDICTS)
		return "invalid";
	return names[v];
}
