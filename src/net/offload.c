#include "net/offload.h"

#include <netinet/in.h>
#include <string.h>

#define ETH_P_IPV4   0x0800
#define ETH_P_IPV6   0x86dd
#define ETH_P_VLAN   0x8100
#define IPV6_HLEN    40
#define TCP_HLEN     20
#define UDP_HLEN     8
#define TCP_FIN      0x01
#define TCP_PSH      0x08
#define TCP_CWR      0x80
#define IPV6_MAX_EXT 8          /* extension headers walked before giving up */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* IPv4 at off: sets l4 and l4_len.  0 or -1. */
static int parse_ipv4(const uint8_t *f, size_t len, unsigned off, struct net_l4 *out)
{
	const uint8_t *ip = f + off;
	unsigned ihl, total;

	if (len - off < 20 || ip[0] >> 4 != 4)
		return -1;
	ihl = (ip[0] & 0xf) * 4u;
	total = be16(ip + 2);
	/* A fragment (more-fragments or an offset) has no whole transport. */
	if (ihl < 20 || total < ihl || total > len - off || (be16(ip + 6) & 0x3fff))
		return -1;
	out->proto = ip[9];
	out->l4 = off + ihl;
	out->l4_len = total - ihl;
	return 0;
}

/* IPv6 at off, past the extension headers a checksum may follow. */
static int parse_ipv6(const uint8_t *f, size_t len, unsigned off, struct net_l4 *out)
{
	const uint8_t *ip = f + off;
	unsigned end, l4 = off + IPV6_HLEN;
	uint8_t next;

	if (len - off < IPV6_HLEN || ip[0] >> 4 != 6)
		return -1;
	end = l4 + be16(ip + 4);
	/* A payload length of 0 is a jumbogram, which Ethernet cannot carry. */
	if (end == l4 || end > len)
		return -1;
	next = ip[6];
	for (int i = 0; i < IPV6_MAX_EXT && (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
					     next == IPPROTO_DSTOPTS); i++) {
		unsigned ext;

		if (end - l4 < 8)
			return -1;
		ext = (f[l4 + 1] + 1u) * 8;
		if (ext > end - l4)
			return -1;
		next = f[l4];
		l4 += ext;
	}
	out->proto = next;
	out->l4 = l4;
	out->l4_len = end - l4;
	return 0;
}

int net__parse_l4(const uint8_t *frame, size_t len, struct net_l4 *out)
{
	struct net_l4 r = { .l3 = NET_ETH_HLEN };
	uint16_t type;
	int err;

	if (len < NET_ETH_HLEN)
		return -1;
	type = be16(frame + 12);
	if (type == ETH_P_VLAN) {
		if (len < NET_ETH_HLEN + 4)
			return -1;
		type = be16(frame + 16);
		r.l3 += 4;
	}
	if (type == ETH_P_IPV4) {
		err = parse_ipv4(frame, len, r.l3, &r);
	} else if (type == ETH_P_IPV6) {
		r.ipv6 = true;
		err = parse_ipv6(frame, len, r.l3, &r);
	} else {
		return -1;
	}
	if (err)
		return -1;
	if (r.proto == IPPROTO_TCP) {
		if (r.l4_len < TCP_HLEN)
			return -1;
		r.l4_hlen = (frame[r.l4 + 12] >> 4) * 4u;
		if (r.l4_hlen < TCP_HLEN || r.l4_hlen > r.l4_len)
			return -1;
		r.csum = r.l4 + 16;
	} else if (r.proto == IPPROTO_UDP) {
		if (r.l4_len < UDP_HLEN)
			return -1;
		r.l4_hlen = UDP_HLEN;
		r.csum = r.l4 + 6;
	} else {
		return -1;
	}
	*out = r;
	return 0;
}

uint32_t net__csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;

	for (; len >= 4; p += 4, len -= 4)
		s += be32(p);
	if (len >= 2) {
		s += be16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t net__csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net__pseudo_sum(const uint8_t *frame, const struct net_l4 *l4)
{
	const uint8_t *ip = frame + l4->l3;
	uint8_t tail[4] = { 0, l4->proto, (uint8_t)(l4->l4_len >> 8), (uint8_t)l4->l4_len };
	uint32_t sum;

	if (l4->ipv6)
		sum = net__csum_add(0, ip + 8, 32);
	else
		sum = net__csum_add(0, ip + 12, 8);
	return net__csum_add(sum, tail, sizeof(tail));
}

/* The checksum to store: one's complement, and 0 sent as 0xffff (the same
 * value in one's complement; 0 means "none" to UDP). */
static uint16_t final_csum(uint32_t sum)
{
	uint16_t c = net__csum_fold(sum);

	return c ? c : 0xffff;
}

int net__csum_fill(uint8_t *frame, size_t len)
{
	struct net_l4 l4;

	if (net__parse_l4(frame, len, &l4))
		return -1;
	put16(frame + l4.csum, 0);
	put16(frame + l4.csum, final_csum(net__csum_add(net__pseudo_sum(frame, &l4),
							frame + l4.l4, l4.l4_len)));
	return 0;
}

int net__csum_seed(uint8_t *frame, size_t len, struct net_l4 *l4)
{
	if (net__parse_l4(frame, len, l4))
		return -1;
	put16(frame + l4->csum, (uint16_t)~net__csum_fold(net__pseudo_sum(frame, l4)));
	return 0;
}

int net__csum_at(uint8_t *frame, size_t len, unsigned start, unsigned offset)
{
	if (start >= len || offset > len - start || len - start - offset < 2)
		return -1;
	put16(frame + start + offset, final_csum(net__csum_add(0, frame + start, len - start)));
	return 0;
}

void net__ipv4_csum(uint8_t *frame, unsigned l3)
{
	uint8_t *ip = frame + l3;

	put16(ip + 10, 0);
	put16(ip + 10, net__csum_fold(net__csum_add(0, ip, (ip[0] & 0xf) * 4u)));
}

int net__gso_segment(const uint8_t *frame, size_t len, unsigned mss, bool v6, uint8_t *seg,
		     void (*emit)(uint8_t *seg, size_t len, void *opaque), void *opaque)
{
	struct net_l4 l4;
	unsigned hdr, payload, n, ip_hdr;
	uint32_t seq;
	uint16_t id;
	uint8_t flags;

	if (!mss || net__parse_l4(frame, len, &l4) || l4.proto != IPPROTO_TCP || l4.ipv6 != v6)
		return -1;
	hdr = l4.l4 + l4.l4_hlen;
	ip_hdr = l4.l4 - l4.l3;         /* IP header and IPv6 extensions */
	payload = l4.l4_len - l4.l4_hlen;
	if (mss > payload)
		mss = payload ? payload : 1;
	n = payload ? (payload + mss - 1) / mss : 1;
	seq = be32(frame + l4.l4 + 4);
	flags = frame[l4.l4 + 13];
	id = be16(frame + l4.l3 + 4);
	for (unsigned i = 0; i < n; i++) {
		unsigned chunk = payload - i * mss < mss ? payload - i * mss : mss;
		uint8_t f = flags;

		memcpy(seg, frame, hdr);
		memcpy(seg + hdr, frame + hdr + i * mss, chunk);
		if (v6) {
			put16(seg + l4.l3 + 4, (uint16_t)(ip_hdr - IPV6_HLEN + l4.l4_hlen + chunk));
		} else {
			put16(seg + l4.l3 + 2, (uint16_t)(ip_hdr + l4.l4_hlen + chunk));
			put16(seg + l4.l3 + 4, (uint16_t)(id + i));
			net__ipv4_csum(seg, l4.l3);
		}
		put32(seg + l4.l4 + 4, seq + i * mss);
		if (i)
			f &= (uint8_t)~TCP_CWR;
		if (i + 1 < n)
			f &= (uint8_t)~(TCP_FIN | TCP_PSH);
		seg[l4.l4 + 13] = f;
		net__csum_fill(seg, hdr + chunk);
		emit(seg, hdr + chunk, opaque);
	}
	return (int)n;
}
