#include "net/rx.h"

#include "net/offload.h"
#include "net/tx.h"

_Static_assert((NET_FRAME_MAX + NET_PAGE_SIZE - 1) / NET_PAGE_SIZE == NET_RX_MAX_SLOTS,
	       "the largest frame fills NET_RX_MAX_SLOTS pages");
_Static_assert(NET_RX_MAX_SLOTS <= XEN_NETIF_NR_SLOTS_MIN, "any frontend takes that many");

enum net_rx_verdict net_rx__check(size_t len, bool sg)
{
	if (len < NET_ETH_HLEN)
		return NET_RX_TOO_SHORT;
	if (len > NET_FRAME_MAX)
		return NET_RX_TOO_LONG;
	if (!sg && len > NET_PAGE_SIZE)
		return NET_RX_NEEDS_SG;
	return NET_RX_OK;
}

unsigned net_rx__slots(size_t len)
{
	return len ? (unsigned)((len + NET_PAGE_SIZE - 1) / NET_PAGE_SIZE) : 1;
}

struct netif_rx_response net_rx__response(uint16_t id, size_t len, unsigned i, uint16_t flags,
					  bool error)
{
	unsigned n = net_rx__slots(len);
	size_t done = (size_t)i * NET_PAGE_SIZE;
	size_t chunk = len - done < NET_PAGE_SIZE ? len - done : NET_PAGE_SIZE;
	struct netif_rx_response r = {
		.id = id,
		.offset = 0,
		.flags = (uint16_t)((i == 0 ? flags : 0) | (i + 1 < n ? NETRXF_more_data : 0)),
		.status = error ? NETIF_RSP_ERROR : (int16_t)chunk,
	};

	return r;
}
