/*
 * What a NIC does for its host, done in software on Ethernet frames:
 * finding the TCP or UDP header, computing the Internet checksum a sender
 * left blank (netif's NETTXF_csum_blank, a tap's VIRTIO_NET_HDR_F_NEEDS_CSUM)
 * and cutting a TCP segmentation (GSO) frame into segments.  Pure functions
 * on buffers, used on both paths of the network backend.
 *
 * Every length comes from the frame itself, so every header is checked
 * against the bytes there are before it is read: a guest's frame is hostile.
 */
#ifndef PVMM_NET_OFFLOAD_H
#define PVMM_NET_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_ETH_HLEN   14
#define NET_ETH_ALEN   6
/* The largest frame pvmm carries: what a netif transmit request can
 * describe (its size field is 16 bits). */
#define NET_FRAME_MAX  65535u

/* Where the transport header of a frame is. */
struct net_l4 {
	bool ipv6;
	uint8_t proto;          /* IPPROTO_TCP or IPPROTO_UDP */
	unsigned l3;            /* offset of the IP header */
	unsigned l4;            /* offset of the TCP or UDP header */
	unsigned l4_len;        /* bytes from l4 to the end of the IP packet */
	unsigned l4_hlen;       /* the TCP or UDP header's own length */
	unsigned csum;          /* offset of the checksum field */
};

/*
 * Finds TCP or UDP in an Ethernet frame of len bytes: Ethernet with at most
 * one 802.1Q tag, then IPv4 (options allowed, not a fragment) or IPv6 (after
 * hop-by-hop, routing and destination-options headers; not a fragment), with
 * the IP length inside the frame (Ethernet padding may follow).  0, or -1
 * for anything else.
 */
int net__parse_l4(const uint8_t *frame, size_t len, struct net_l4 *out);

/* The one's-complement sum of len bytes added to sum (big-endian words;
 * an odd last byte is padded with zero, so only the last chunk of a sum may
 * be odd); fold and complement it with net__csum_fold(). */
uint32_t net__csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t net__csum_fold(uint32_t sum);

/* The pseudo-header of l4 (addresses, protocol, transport length), summed. */
uint32_t net__pseudo_sum(const uint8_t *frame, const struct net_l4 *l4);

/* Computes the TCP or UDP checksum of the frame from scratch, whatever its
 * field held.  0, or -1 when the frame is not TCP or UDP over IP. */
int net__csum_fill(uint8_t *frame, size_t len);

/* Leaves the TCP or UDP checksum for a NIC to finish, as Linux's
 * CHECKSUM_PARTIAL does: the field holds the folded pseudo-header sum; the
 * sum begins at l4->l4 and goes to l4->csum.  0 or -1 (not TCP or UDP). */
int net__csum_seed(uint8_t *frame, size_t len, struct net_l4 *l4);

/* Finishes a partial checksum: the sum of the bytes from start to the
 * frame's end, stored at start + offset (a tap's csum_start, csum_offset).
 * 0, or -1 when the place is outside the frame. */
int net__csum_at(uint8_t *frame, size_t len, unsigned start, unsigned offset);

/* Recomputes an IPv4 header's checksum (header at frame + l3). */
void net__ipv4_csum(uint8_t *frame, unsigned l3);

/*
 * Cuts a TCP frame (IPv4 or IPv6 as v6 says) into segments carrying at most
 * mss payload bytes each, as a NIC's TSO does: the headers copied, IP
 * lengths and IPv4 identifications counted up, sequence numbers advanced,
 * FIN and PSH only on the last segment, CWR only on the first, every
 * checksum computed.  Each segment is built in seg (NET_FRAME_MAX bytes) and
 * handed to emit.  Returns the number of segments, or -1 (nothing emitted)
 * when the frame is not TCP of that IP version or mss is 0.
 */
int net__gso_segment(const uint8_t *frame, size_t len, unsigned mss, bool v6, uint8_t *seg,
		     void (*emit)(uint8_t *seg, size_t len, void *opaque), void *opaque);

#endif
