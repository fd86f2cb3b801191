/* The tiny IPv4 stack: see net.h. */
#include "net.h"

#define SEC_NS          1000000000ull
#define TX_WAIT_NS      (5 * SEC_NS)
#define ARP_ENTRIES     8
#define TCP_BUF         4096u
#define TCP_MSS         1460u

struct net net;

/* Wire headers.  Multi-byte fields are big-endian. */
struct eth_hdr {
	uint8_t dst[ETH_ALEN], src[ETH_ALEN];
	uint16_t type;
} __attribute__((packed));

struct arp_pkt {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[ETH_ALEN];
	uint32_t spa;
	uint8_t tha[ETH_ALEN];
	uint32_t tpa;
} __attribute__((packed));

struct ip_hdr {
	uint8_t vihl, tos;
	uint16_t len, id, frag;
	uint8_t ttl, proto;
	uint16_t csum;
	uint32_t src, dst;
} __attribute__((packed));

struct icmp_hdr {
	uint8_t type, code;
	uint16_t csum, id, seq;
} __attribute__((packed));

struct udp_hdr {
	uint16_t sport, dport, len, csum;
} __attribute__((packed));

struct tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t off, flags;
	uint16_t win, csum, urg;
} __attribute__((packed));

#define ARP_REQUEST     1
#define ARP_REPLY       2
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO       8
#define TCP_FIN         0x01
#define TCP_SYN         0x02
#define TCP_RST         0x04
#define TCP_PSH         0x08
#define TCP_ACK         0x10

static const uint8_t broadcast_mac[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static inline uint16_t htons(uint16_t v)
{
	return __builtin_bswap16(v);
}

static inline uint32_t htonl(uint32_t v)
{
	return __builtin_bswap32(v);
}

#define ntohs htons
#define ntohl htonl

/* ---- checksums ---- */

struct unaligned32 {
	uint32_t v;
} __attribute__((packed, may_alias));

struct unaligned16 {
	uint16_t v;
} __attribute__((packed, may_alias));

/* The one's-complement sum of len bytes in memory order, folded to 16
 * bits but not complemented, added to sum.  Whole words: guest code is
 * emulated one instruction at a time here.  Only the last piece of a
 * checksum may have an odd length. */
static uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	for (; len >= 4; p += 4, len -= 4)
		s += ((const struct unaligned32 *)p)->v;
	if (len >= 2) {
		s += ((const struct unaligned16 *)p)->v;
		p += 2;
		len -= 2;
	}
	if (len)
		s += p[0];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t net_csum(const void *data, size_t len, uint32_t sum)
{
	return (uint16_t)~csum_partial(data, len, sum);
}

/* The pseudo header of UDP and TCP checksums, summed. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph = { htonl(src), htonl(dst), 0, proto, htons(len) };

	return csum_partial(&ph, sizeof(ph), 0);
}

/* ---- addresses ---- */

void net_init(struct netfront *nf)
{
	memset(&net, 0, sizeof(net));
	net.nf = nf;
	memcpy(net.mac, nf->mac, ETH_ALEN);
}

void net_set_addr(uint32_t ip, uint32_t mask, uint32_t gw)
{
	net.ip = ip;
	net.mask = mask;
	net.gw = gw;
}

bool net_parse_ip(const char *s, uint32_t *ip)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < 4; i++) {
		unsigned int octet = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			octet = octet * 10 + (unsigned int)(*s - '0');
		if (!digits || octet > 255 || *s != (i == 3 ? '\0' : '.'))
			return false;
		v = v << 8 | octet;
		if (i < 3)
			s++;
	}
	*ip = v;
	return true;
}

bool net_parse_cidr(const char *s, uint32_t *ip, uint32_t *mask)
{
	char buf[20];
	size_t n = 0;
	unsigned int len = 0;

	while (s[n] && s[n] != '/' && n < sizeof(buf) - 1) {
		buf[n] = s[n];
		n++;
	}
	buf[n] = '\0';
	if (s[n] != '/' || !net_parse_ip(buf, ip))
		return false;
	s += n + 1;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || len > 32)
			return false;
		len = len * 10 + (unsigned int)(*s - '0');
	}
	if (len > 32)
		return false;
	*mask = len ? ~0u << (32 - len) : 0;
	return true;
}

const char *net_ip_str(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
		 ip & 0xff);
	return buf;
}

/* ---- ARP ---- */

static struct {
	uint32_t ip;
	uint8_t mac[ETH_ALEN];
} arp_cache[ARP_ENTRIES];
static unsigned int arp_next;

static bool arp_lookup(uint32_t ip, uint8_t mac[ETH_ALEN])
{
	for (unsigned int i = 0; i < ARP_ENTRIES; i++)
		if (arp_cache[i].ip == ip && ip) {
			memcpy(mac, arp_cache[i].mac, ETH_ALEN);
			return true;
		}
	return false;
}

static void arp_learn(uint32_t ip, const uint8_t mac[ETH_ALEN])
{
	unsigned int i;

	if (!ip || (mac[0] & 1))
		return;
	for (i = 0; i < ARP_ENTRIES && arp_cache[i].ip != ip; i++)
		;
	if (i == ARP_ENTRIES)
		i = arp_next++ % ARP_ENTRIES;
	arp_cache[i].ip = ip;
	memcpy(arp_cache[i].mac, mac, ETH_ALEN);
}

static void eth_fill(uint8_t *buf, const uint8_t dst[ETH_ALEN], uint16_t type)
{
	struct eth_hdr *eh = (struct eth_hdr *)buf;

	memcpy(eh->dst, dst, ETH_ALEN);
	memcpy(eh->src, net.mac, ETH_ALEN);
	eh->type = htons(type);
}

static bool arp_send(uint16_t op, const uint8_t dst_mac[ETH_ALEN], uint32_t tpa,
		     const uint8_t tha[ETH_ALEN])
{
	uint16_t id;
	uint8_t *buf = netfront_tx_buffer(net.nf, &id, xen_now() + TX_WAIT_NS);
	struct arp_pkt *a;

	if (!buf)
		return false;
	eth_fill(buf, dst_mac, ETH_P_ARP);
	a = (struct arp_pkt *)(buf + ETH_HLEN);
	a->htype = htons(1);
	a->ptype = htons(ETH_P_IP);
	a->hlen = ETH_ALEN;
	a->plen = 4;
	a->op = htons(op);
	memcpy(a->sha, net.mac, ETH_ALEN);
	a->spa = htonl(net.ip);
	memcpy(a->tha, tha, ETH_ALEN);
	a->tpa = htonl(tpa);
	/* Padded to the 60 bytes of a minimal frame, as NICs do. */
	memset(buf + ETH_HLEN + sizeof(*a), 0, 60 - ETH_HLEN - sizeof(*a));
	netfront_tx_send(net.nf, id, 60, 0);
	return true;
}

bool net_arp_request(uint32_t ip)
{
	static const uint8_t zero[ETH_ALEN];

	return arp_send(ARP_REQUEST, broadcast_mac, ip, zero);
}

static void arp_input(const uint8_t *p, uint32_t len)
{
	const struct arp_pkt *a = (const struct arp_pkt *)p;
	uint32_t spa, tpa;

	if (len < sizeof(*a) || a->htype != htons(1) || a->ptype != htons(ETH_P_IP) ||
	    a->hlen != ETH_ALEN || a->plen != 4) {
		net.st.ignored++;
		return;
	}
	spa = ntohl(a->spa);
	tpa = ntohl(a->tpa);
	if (!net.ip || tpa != net.ip) {
		uint8_t known[ETH_ALEN];

		/* A neighbour we know that announces itself: keep up. */
		if (arp_lookup(spa, known))
			arp_learn(spa, a->sha);
		return;
	}
	arp_learn(spa, a->sha);
	if (a->op == htons(ARP_REQUEST) && arp_send(ARP_REPLY, a->sha, spa, a->sha))
		net.st.arp_replies_sent++;
}

bool net_arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN], uint64_t deadline)
{
	uint64_t next = 0;

	while (!arp_lookup(ip, mac)) {
		uint64_t now = xen_now();

		if (now >= deadline)
			return false;
		if (now >= next) {
			net_arp_request(ip);
			next = now + SEC_NS;
		}
		net_poll(next < deadline ? next : deadline);
	}
	return true;
}

bool net_next_hop(uint32_t dst, uint8_t mac[ETH_ALEN], uint64_t deadline)
{
	if (dst == IP_BROADCAST || !net.ip) {
		memcpy(mac, broadcast_mac, ETH_ALEN);
		return true;
	}
	if ((dst & net.mask) != (net.ip & net.mask)) {
		if (!net.gw)
			return false;
		dst = net.gw;
	}
	return net_arp_resolve(dst, mac, deadline);
}

/* ---- IPv4 ---- */

static uint16_t ip_ident = 1;

/* Fills the Ethernet and IPv4 headers of a packet with l4len bytes after
 * them: the frame's length. */
static uint16_t ip_fill(uint8_t *buf, const uint8_t dst_mac[ETH_ALEN], uint32_t dst,
			uint8_t proto, uint16_t l4len)
{
	struct ip_hdr *ih = (struct ip_hdr *)(buf + ETH_HLEN);

	eth_fill(buf, dst_mac, ETH_P_IP);
	ih->vihl = 0x45;
	ih->tos = 0;
	ih->len = htons((uint16_t)(IP_HLEN + l4len));
	ih->id = htons(ip_ident++);
	ih->frag = htons(0x4000);       /* don't fragment */
	ih->ttl = 64;
	ih->proto = proto;
	ih->csum = 0;
	ih->src = htonl(net.ip);
	ih->dst = htonl(dst);
	ih->csum = net_csum(ih, IP_HLEN, 0);
	return (uint16_t)(ETH_HLEN + IP_HLEN + l4len);
}

/* A transmit buffer for a packet to dst, its next hop resolved: the
 * buffer, or NULL. */
static uint8_t *ip_begin(uint32_t dst, uint8_t mac[ETH_ALEN], uint16_t *id, uint64_t deadline)
{
	if (!net_next_hop(dst, mac, deadline))
		return NULL;
	return netfront_tx_buffer(net.nf, id, xen_now() + TX_WAIT_NS);
}

/* ---- ICMP ---- */

static struct {
	uint16_t id, seq, len;
	bool waiting, got;
} ping;

static void fill_pattern(uint8_t *p, uint16_t seq, uint16_t len)
{
	for (uint16_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq + i);
}

static bool pattern_is(const uint8_t *p, uint16_t seq, uint16_t len)
{
	for (uint16_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq + i))
			return false;
	return true;
}

uint16_t net_build_icmp_echo(uint8_t *buf, const uint8_t dst_mac[ETH_ALEN], uint32_t dst,
			     uint16_t id, uint16_t seq, uint16_t len)
{
	struct icmp_hdr *ic = (struct icmp_hdr *)(buf + ETH_HLEN + IP_HLEN);

	ic->type = ICMP_ECHO;
	ic->code = 0;
	ic->csum = 0;
	ic->id = htons(id);
	ic->seq = htons(seq);
	fill_pattern((uint8_t *)(ic + 1), seq, len);
	ic->csum = net_csum(ic, ICMP_HLEN + len, 0);
	return ip_fill(buf, dst_mac, dst, IPPROTO_ICMP, (uint16_t)(ICMP_HLEN + len));
}

static void icmp_input(const struct ip_hdr *ih, const uint8_t *p, uint16_t len,
		       const uint8_t *src_mac)
{
	const struct icmp_hdr *ic = (const struct icmp_hdr *)p;
	uint16_t id;
	uint8_t *buf;

	if (len < ICMP_HLEN || net_csum(p, len, 0) != 0) {
		net.st.bad_l4_csum++;
		return;
	}
	if (ic->type == ICMP_ECHO_REPLY) {
		if (ping.waiting && ntohs(ic->id) == ping.id && ntohs(ic->seq) == ping.seq &&
		    len == ICMP_HLEN + ping.len && pattern_is(p + ICMP_HLEN, ping.seq, ping.len))
			ping.got = true;
		else
			net.st.ignored++;
		return;
	}
	if (ic->type != ICMP_ECHO || ntohl(ih->dst) != net.ip || len > NET_MTU - IP_HLEN) {
		net.st.ignored++;
		return;
	}
	/* The reply goes back to the MAC the request came from: no ARP
	 * here, which would take frames while this one is still in use. */
	buf = netfront_tx_buffer(net.nf, &id, xen_now() + TX_WAIT_NS);
	if (!buf)
		return;
	memcpy(buf + ETH_HLEN + IP_HLEN, p, len);
	((struct icmp_hdr *)(buf + ETH_HLEN + IP_HLEN))->type = ICMP_ECHO_REPLY;
	((struct icmp_hdr *)(buf + ETH_HLEN + IP_HLEN))->csum = 0;
	((struct icmp_hdr *)(buf + ETH_HLEN + IP_HLEN))->csum =
		net_csum(buf + ETH_HLEN + IP_HLEN, len, 0);
	netfront_tx_send(net.nf, id, ip_fill(buf, src_mac, ntohl(ih->src), IPPROTO_ICMP, len), 0);
	net.st.echo_replies_sent++;
}

bool net_wait_echo_reply(uint16_t id, uint16_t seq, uint16_t len, uint64_t deadline)
{
	ping.id = id;
	ping.seq = seq;
	ping.len = len;
	ping.got = false;
	ping.waiting = true;
	while (!ping.got && xen_now() < deadline)
		net_poll(deadline);
	ping.waiting = false;
	return ping.got;
}

bool net_ping(uint32_t dst, uint16_t seq, uint16_t len, uint64_t deadline)
{
	while (xen_now() < deadline) {
		uint64_t retry = xen_now() + SEC_NS;
		uint8_t mac[ETH_ALEN];
		uint16_t id;
		uint8_t *buf = ip_begin(dst, mac, &id, deadline);

		if (!buf || len > NET_MTU - IP_HLEN - ICMP_HLEN)
			return false;
		netfront_tx_send(net.nf, id,
				 net_build_icmp_echo(buf, mac, dst, NET_PING_ID, seq, len), 0);
		if (net_wait_echo_reply(NET_PING_ID, seq, len, retry < deadline ? retry : deadline))
			return true;
	}
	return false;
}

/* ---- UDP ---- */

static struct {
	uint16_t port;
	bool full;
	uint32_t src;
	uint16_t sport, len;
	uint8_t data[NET_MTU];
} udp;

uint16_t net_build_udp(uint8_t *buf, const uint8_t dst_mac[ETH_ALEN], uint32_t dst,
		       uint16_t sport, uint16_t dport, const void *data, uint16_t len,
		       bool csum_blank)
{
	struct udp_hdr *uh = (struct udp_hdr *)(buf + ETH_HLEN + IP_HLEN);
	uint16_t ulen = (uint16_t)(UDP_HLEN + len);
	uint32_t ps = pseudo_sum(net.ip, dst, IPPROTO_UDP, ulen);

	uh->sport = htons(sport);
	uh->dport = htons(dport);
	uh->len = htons(ulen);
	memcpy(uh + 1, data, len);
	if (csum_blank) {
		uh->csum = (uint16_t)ps;
	} else {
		uh->csum = 0;
		uh->csum = net_csum(uh, ulen, ps);
		if (!uh->csum)
			uh->csum = 0xffff;
	}
	return ip_fill(buf, dst_mac, dst, IPPROTO_UDP, ulen);
}

void net_udp_bind(uint16_t port)
{
	udp.port = port;
	udp.full = false;
}

bool net_udp_send(uint32_t dst, uint16_t sport, uint16_t dport, const void *data,
		  uint16_t len, uint64_t deadline)
{
	uint8_t mac[ETH_ALEN];
	uint16_t id;
	uint8_t *buf;

	if (len > NET_MTU - IP_HLEN - UDP_HLEN)
		return false;
	buf = ip_begin(dst, mac, &id, deadline);
	if (!buf)
		return false;
	netfront_tx_send(net.nf, id, net_build_udp(buf, mac, dst, sport, dport, data, len, false),
			 0);
	return true;
}

/* Whether a UDP or TCP checksum must be checked: not when the backend
 * says it is blank or was checked already. */
static bool l4_csum_wanted(uint16_t rx_flags)
{
	return !(rx_flags & (NETRXF_csum_blank | NETRXF_data_validated));
}

static void udp_input(const struct ip_hdr *ih, const uint8_t *p, uint16_t len,
		      uint16_t rx_flags)
{
	const struct udp_hdr *uh = (const struct udp_hdr *)p;
	uint16_t ulen;

	if (len < UDP_HLEN || (ulen = ntohs(uh->len)) < UDP_HLEN || ulen > len) {
		net.st.ignored++;
		return;
	}
	if (uh->csum && l4_csum_wanted(rx_flags) &&
	    net_csum(p, ulen, pseudo_sum(ntohl(ih->src), ntohl(ih->dst), IPPROTO_UDP, ulen))) {
		net.st.bad_l4_csum++;
		return;
	}
	if (!udp.port || ntohs(uh->dport) != udp.port || udp.full) {
		net.st.udp_dropped++;
		return;
	}
	udp.src = ntohl(ih->src);
	udp.sport = ntohs(uh->sport);
	udp.len = (uint16_t)(ulen - UDP_HLEN);
	memcpy(udp.data, p + UDP_HLEN, udp.len);
	udp.full = true;
}

long net_udp_recv(void *buf, size_t size, uint32_t *src, uint16_t *sport,
		  uint64_t deadline)
{
	size_t n;

	while (!udp.full) {
		if (xen_now() >= deadline)
			return -XEN_ETIMEDOUT;
		net_poll(deadline);
	}
	n = udp.len < size ? udp.len : size;
	memcpy(buf, udp.data, n);
	if (src)
		*src = udp.src;
	if (sport)
		*sport = udp.sport;
	udp.full = false;
	return (long)n;
}

/* ---- DHCP ---- */

#define DHCP_CLIENT     68
#define DHCP_SERVER     67
#define DHCP_MAGIC      0x63825363u
#define DHCP_DISCOVER   1
#define DHCP_OFFER      2
#define DHCP_REQUEST    3
#define DHCP_ACK        5
#define DHCP_NAK        6
/* A BOOTP message with the 312-byte options field every client sends: a
 * 576-byte IP packet, which some servers (libslirp) insist on. */
#define BOOTP_FIXED     236u
#define BOOTP_LEN       (BOOTP_FIXED + 312u)

struct dhcp_info {
	uint8_t type;
	uint32_t yiaddr, mask, router, dns, server, lease;
};

static uint8_t dhcp_buf[BOOTP_LEN];

static void put32(uint8_t *p, uint32_t host)
{
	((struct unaligned32 *)p)->v = htonl(host);
}

static uint16_t dhcp_build(uint32_t xid, uint8_t type, uint32_t req_ip, uint32_t server)
{
	uint8_t *b = dhcp_buf, *o = b + BOOTP_FIXED;

	memset(b, 0, BOOTP_LEN);
	b[0] = 1;                                       /* BOOTREQUEST */
	b[1] = 1;                                       /* Ethernet */
	b[2] = ETH_ALEN;
	put32(b + 4, xid);
	b[10] = 0x80;                                   /* answer by broadcast */
	memcpy(b + 28, net.mac, ETH_ALEN);              /* chaddr */
	put32(o, DHCP_MAGIC);
	o += 4;
	*o++ = 53; *o++ = 1; *o++ = type;
	*o++ = 61; *o++ = 7; *o++ = 1;                  /* client id: the MAC */
	memcpy(o, net.mac, ETH_ALEN);
	o += ETH_ALEN;
	if (req_ip) {
		*o++ = 50; *o++ = 4;
		put32(o, req_ip);
		o += 4;
	}
	if (server) {
		*o++ = 54; *o++ = 4;
		put32(o, server);
		o += 4;
	}
	*o++ = 55; *o++ = 4; *o++ = 1; *o++ = 3; *o++ = 6; *o++ = 51;
	*o++ = 255;
	return BOOTP_LEN;
}

static uint32_t opt_u32(const uint8_t *v)
{
	return ntohl(((const struct unaligned32 *)v)->v);
}

/* Parses a reply to xid: false if it is not one. */
static bool dhcp_parse(const uint8_t *b, long len, uint32_t xid, struct dhcp_info *di)
{
	const uint8_t *o = b + BOOTP_FIXED + 4, *end = b + len;

	memset(di, 0, sizeof(*di));
	if (len < (long)BOOTP_FIXED + 4 || b[0] != 2 || opt_u32(b + 4) != xid ||
	    memcmp(b + 28, net.mac, ETH_ALEN) != 0 || opt_u32(b + BOOTP_FIXED) != DHCP_MAGIC)
		return false;
	di->yiaddr = opt_u32(b + 16);
	while (o < end && *o != 255) {
		uint8_t code = *o++, olen;

		if (code == 0)
			continue;
		if (o >= end || o + 1 + *o > end)
			return false;
		olen = *o++;
		if (code == 53 && olen == 1)
			di->type = o[0];
		else if (olen == 4 && code == 1)
			di->mask = opt_u32(o);
		else if (olen >= 4 && code == 3)
			di->router = opt_u32(o);
		else if (olen >= 4 && code == 6)
			di->dns = opt_u32(o);
		else if (olen == 4 && code == 51)
			di->lease = opt_u32(o);
		else if (olen == 4 && code == 54)
			di->server = opt_u32(o);
		o += olen;
	}
	return di->type != 0;
}

static void dhcp_print(const char *what, const struct dhcp_info *di)
{
	char a[16], m[16], r[16], d[16], s[16];

	printf("net: DHCP %s: address %s mask %s router %s dns %s server %s lease %u s\n", what,
	       net_ip_str(di->yiaddr, a), net_ip_str(di->mask, m), net_ip_str(di->router, r),
	       net_ip_str(di->dns, d), net_ip_str(di->server, s), di->lease);
}

/* Sends one message and waits up to a second for a reply of a wanted type
 * (want or DHCP_NAK): true with it in *di. */
static bool dhcp_exchange(uint32_t xid, uint8_t type, uint32_t req_ip, uint32_t server,
			  uint8_t want, struct dhcp_info *di, uint64_t deadline)
{
	uint64_t until = xen_now() + SEC_NS;
	uint16_t len = dhcp_build(xid, type, req_ip, server);
	static uint8_t reply[NET_MTU];

	if (until > deadline)
		until = deadline;
	if (!net_udp_send(IP_BROADCAST, DHCP_CLIENT, DHCP_SERVER, dhcp_buf, len, deadline))
		return false;
	for (;;) {
		long n = net_udp_recv(reply, sizeof(reply), NULL, NULL, until);

		if (n < 0)
			return false;
		if (dhcp_parse(reply, n, xid, di) && (di->type == want || di->type == DHCP_NAK))
			return true;
	}
}

long net_dhcp(uint64_t deadline)
{
	uint32_t xid = (uint32_t)rdtsc() ^ 0x70766d6du;
	struct dhcp_info offer, ack;

	net_udp_bind(DHCP_CLIENT);
	net.ip = 0;
	while (xen_now() < deadline) {
		xid++;
		if (!dhcp_exchange(xid, DHCP_DISCOVER, 0, 0, DHCP_OFFER, &offer, deadline) ||
		    offer.type != DHCP_OFFER)
			continue;
		dhcp_print("OFFER", &offer);
		if (!dhcp_exchange(xid, DHCP_REQUEST, offer.yiaddr, offer.server, DHCP_ACK, &ack,
				   deadline))
			continue;
		if (ack.type != DHCP_ACK) {
			printf("net: DHCP NAK\n");
			continue;
		}
		dhcp_print("ACK", &ack);
		net_set_addr(ack.yiaddr, ack.mask, ack.router);
		net.dns = ack.dns;
		net.server = ack.server;
		net.lease = ack.lease;
		net_udp_bind(0);
		return 0;
	}
	net_udp_bind(0);
	return -XEN_ETIMEDOUT;
}

/* ---- TCP ---- */

enum tcp_state { TCP_CLOSED, TCP_LISTEN, TCP_SYN_RCVD, TCP_ESTABLISHED };

static struct {
	enum tcp_state state;
	uint16_t lport, rport, peer_mss;
	uint32_t rip;
	uint8_t rmac[ETH_ALEN];
	uint32_t iss, snd_una, snd_nxt, rcv_nxt;
	bool peer_fin, fin_sent, reset;
	uint16_t rlen;
	uint8_t rbuf[TCP_BUF];
} tcp;

/* Sends a segment with seq and the data given (SYN and FIN count in seq
 * only; the caller advances snd_nxt). */
static bool tcp_output(uint8_t flags, uint32_t seq, const void *data, uint16_t len)
{
	uint16_t id, hlen = TCP_HLEN + ((flags & TCP_SYN) ? 4 : 0);
	uint8_t *buf = netfront_tx_buffer(net.nf, &id, xen_now() + TX_WAIT_NS);
	struct tcp_hdr *th;
	uint16_t seglen = (uint16_t)(hlen + len);

	if (!buf)
		return false;
	th = (struct tcp_hdr *)(buf + ETH_HLEN + IP_HLEN);
	th->sport = htons(tcp.lport);
	th->dport = htons(tcp.rport);
	th->seq = htonl(seq);
	th->ack = htonl(tcp.rcv_nxt);
	th->off = (uint8_t)((hlen / 4) << 4);
	th->flags = flags | (tcp.state == TCP_LISTEN ? 0 : TCP_ACK);
	th->win = htons((uint16_t)(TCP_BUF - tcp.rlen));
	th->csum = 0;
	th->urg = 0;
	if (flags & TCP_SYN) {
		uint8_t *opt = (uint8_t *)(th + 1);

		opt[0] = 2;                     /* MSS */
		opt[1] = 4;
		opt[2] = TCP_MSS >> 8;
		opt[3] = TCP_MSS & 0xff;
	}
	memcpy(buf + ETH_HLEN + IP_HLEN + hlen, data, len);
	th->csum = net_csum(th, seglen, pseudo_sum(net.ip, tcp.rip, IPPROTO_TCP, seglen));
	netfront_tx_send(net.nf, id, ip_fill(buf, tcp.rmac, tcp.rip, IPPROTO_TCP, seglen), 0);
	return true;
}

static uint16_t tcp_parse_mss(const struct tcp_hdr *th, uint16_t hlen)
{
	const uint8_t *o = (const uint8_t *)(th + 1), *end = (const uint8_t *)th + hlen;

	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (o + 1 >= end || o[1] < 2 || o + o[1] > end)
			break;
		if (o[0] == 2 && o[1] == 4)
			return (uint16_t)(o[2] << 8 | o[3]);
		o += o[1];
	}
	return 536;
}

/* seq a is after b, modulo 2^32. */
static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static void tcp_input(const struct ip_hdr *ih, const uint8_t *p, uint16_t len,
		      uint16_t rx_flags, const uint8_t *src_mac)
{
	const struct tcp_hdr *th = (const struct tcp_hdr *)p;
	uint32_t src = ntohl(ih->src), seq, ack;
	uint16_t hlen, dlen;
	uint8_t flags;

	if (len < TCP_HLEN || (hlen = (uint16_t)((th->off >> 4) * 4)) < TCP_HLEN || hlen > len) {
		net.st.ignored++;
		return;
	}
	if (l4_csum_wanted(rx_flags) &&
	    net_csum(p, len, pseudo_sum(src, ntohl(ih->dst), IPPROTO_TCP, len))) {
		net.st.bad_l4_csum++;
		return;
	}
	flags = th->flags;
	seq = ntohl(th->seq);
	ack = ntohl(th->ack);
	dlen = (uint16_t)(len - hlen);
	if (ntohs(th->dport) != tcp.lport || tcp.state == TCP_CLOSED ||
	    (tcp.state != TCP_LISTEN && (src != tcp.rip || ntohs(th->sport) != tcp.rport))) {
		net.st.ignored++;
		return;
	}
	if (flags & TCP_RST) {
		if (tcp.state != TCP_LISTEN) {
			tcp.reset = true;
			tcp.state = TCP_CLOSED;
		}
		return;
	}
	if (tcp.state == TCP_LISTEN) {
		if ((flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			return;
		tcp.rip = src;
		tcp.rport = ntohs(th->sport);
		memcpy(tcp.rmac, src_mac, ETH_ALEN);
		tcp.peer_mss = tcp_parse_mss(th, hlen);
		tcp.rcv_nxt = seq + 1;
		tcp.iss = (uint32_t)rdtsc();
		tcp.snd_una = tcp.iss;
		tcp.snd_nxt = tcp.iss + 1;
		tcp.state = TCP_SYN_RCVD;
		tcp_output(TCP_SYN, tcp.iss, NULL, 0);
		return;
	}
	if (flags & TCP_SYN) {
		/* Our SYN-ACK was lost: the peer sends its SYN again. */
		if (tcp.state == TCP_SYN_RCVD && seq + 1 == tcp.rcv_nxt)
			tcp_output(TCP_SYN, tcp.iss, NULL, 0);
		return;
	}
	if (!(flags & TCP_ACK))
		return;
	if (seq_after(ack, tcp.snd_una) && !seq_after(ack, tcp.snd_nxt))
		tcp.snd_una = ack;
	if (tcp.state == TCP_SYN_RCVD) {
		if (tcp.snd_una != tcp.snd_nxt)
			return;
		tcp.state = TCP_ESTABLISHED;
	}
	if (seq != tcp.rcv_nxt) {
		/* Out of order or a repeat: say what we expect. */
		if (dlen || (flags & TCP_FIN))
			tcp_output(0, tcp.snd_nxt, NULL, 0);
		return;
	}
	if (dlen) {
		if (dlen > TCP_BUF - tcp.rlen) {
			tcp_output(0, tcp.snd_nxt, NULL, 0);
			return;
		}
		memcpy(tcp.rbuf + tcp.rlen, p + hlen, dlen);
		tcp.rlen = (uint16_t)(tcp.rlen + dlen);
		tcp.rcv_nxt += dlen;
	}
	if ((flags & TCP_FIN) && !tcp.peer_fin) {
		tcp.peer_fin = true;
		tcp.rcv_nxt++;
	}
	if (dlen || (flags & TCP_FIN))
		tcp_output(0, tcp.snd_nxt, NULL, 0);
}

void net_tcp_listen(uint16_t port)
{
	memset(&tcp, 0, sizeof(tcp));
	tcp.lport = port;
	tcp.state = TCP_LISTEN;
}

void net_tcp_peer(uint32_t *ip, uint16_t *port)
{
	*ip = tcp.rip;
	*port = tcp.rport;
}

bool net_tcp_accept(uint64_t deadline)
{
	uint64_t retry = 0;

	while (tcp.state != TCP_ESTABLISHED) {
		uint64_t now = xen_now();

		if (now >= deadline || tcp.state == TCP_CLOSED)
			return false;
		if (tcp.state == TCP_SYN_RCVD) {
			if (retry && now >= retry)
				tcp_output(TCP_SYN, tcp.iss, NULL, 0);
			if (!retry || now >= retry)
				retry = now + SEC_NS;
		}
		net_poll(retry && retry < deadline ? retry : deadline);
	}
	return true;
}

long net_tcp_recv(void *buf, size_t size, uint64_t deadline)
{
	size_t n;

	while (!tcp.rlen) {
		if (tcp.reset)
			return -XEN_ECONNREFUSED;
		if (tcp.peer_fin)
			return 0;
		if (xen_now() >= deadline)
			return -XEN_ETIMEDOUT;
		net_poll(deadline);
	}
	n = tcp.rlen < size ? tcp.rlen : size;
	memcpy(buf, tcp.rbuf, n);
	memcpy(tcp.rbuf, tcp.rbuf + n, tcp.rlen - n);
	tcp.rlen = (uint16_t)(tcp.rlen - n);
	return (long)n;
}

/* Sends one segment (data and/or FIN) and waits for it to be acknowledged,
 * sending it again every second. */
static bool tcp_send_acked(uint8_t flags, const uint8_t *data, uint16_t len, uint64_t deadline)
{
	uint32_t seq = tcp.snd_nxt;

	tcp.snd_nxt += len + ((flags & TCP_FIN) ? 1 : 0);
	while (seq_after(tcp.snd_nxt, tcp.snd_una)) {
		uint64_t retry = xen_now() + SEC_NS;

		if (tcp.reset || xen_now() >= deadline)
			return false;
		tcp_output(flags, seq, data, len);
		while (seq_after(tcp.snd_nxt, tcp.snd_una) && !tcp.reset && xen_now() < retry)
			net_poll(retry < deadline ? retry : deadline);
	}
	return true;
}

bool net_tcp_send(const void *data, size_t len, uint64_t deadline)
{
	const uint8_t *p = data;
	uint16_t mss = tcp.peer_mss < TCP_MSS ? tcp.peer_mss : TCP_MSS;

	if (tcp.state != TCP_ESTABLISHED || tcp.fin_sent)
		return false;
	while (len) {
		uint16_t n = len < mss ? (uint16_t)len : mss;

		if (!tcp_send_acked(TCP_PSH, p, n, deadline))
			return false;
		p += n;
		len -= n;
	}
	return true;
}

bool net_tcp_close(uint64_t deadline)
{
	if (tcp.state != TCP_ESTABLISHED)
		return false;
	if (!tcp.fin_sent) {
		tcp.fin_sent = true;
		if (!tcp_send_acked(TCP_FIN, NULL, 0, deadline))
			return false;
	}
	while (!tcp.peer_fin) {
		if (tcp.reset || xen_now() >= deadline)
			return false;
		net_poll(deadline);
	}
	tcp.state = TCP_CLOSED;
	return true;
}

/* ---- input ---- */

static void ip_input(const uint8_t *p, uint32_t len, uint16_t rx_flags, const uint8_t *src_mac)
{
	const struct ip_hdr *ih = (const struct ip_hdr *)p;
	uint32_t dst;
	uint16_t hlen, tlen;

	if (len < IP_HLEN || (ih->vihl >> 4) != 4 || (hlen = (uint16_t)((ih->vihl & 15) * 4)) <
	    IP_HLEN || hlen > len) {
		net.st.ignored++;
		return;
	}
	if (net_csum(ih, hlen, 0) != 0) {
		net.st.bad_ip_csum++;
		return;
	}
	tlen = ntohs(ih->len);
	dst = ntohl(ih->dst);
	if (tlen < hlen || tlen > len || (ntohs(ih->frag) & 0x3fff) ||
	    (dst != net.ip && dst != IP_BROADCAST && net.ip) ||
	    (!net.ip && ih->proto != IPPROTO_UDP)) {
		net.st.ignored++;
		return;
	}
	/* The sender's MAC, for replies that do not ask ARP again. */
	if ((ntohl(ih->src) & net.mask) == (net.ip & net.mask) && net.ip)
		arp_learn(ntohl(ih->src), src_mac);
	p += hlen;
	tlen = (uint16_t)(tlen - hlen);
	if (ih->proto == IPPROTO_ICMP)
		icmp_input(ih, p, tlen, src_mac);
	else if (ih->proto == IPPROTO_UDP)
		udp_input(ih, p, tlen, rx_flags);
	else if (ih->proto == IPPROTO_TCP)
		tcp_input(ih, p, tlen, rx_flags, src_mac);
	else
		net.st.ignored++;
}

bool net_poll(uint64_t deadline)
{
	struct netfront_frame f;
	const struct eth_hdr *eh;

	if (!netfront_recv(net.nf, &f, deadline))
		return false;
	net.st.frames_in++;
	if (f.flags & NETRXF_csum_blank)
		net.st.csum_blank_in++;
	if (f.flags & NETRXF_data_validated)
		net.st.validated_in++;
	eh = (const struct eth_hdr *)f.data;
	if (f.len < ETH_HLEN || (memcmp(eh->dst, net.mac, ETH_ALEN) != 0 && !(eh->dst[0] & 1))) {
		net.st.ignored++;
		return true;
	}
	if (eh->type == htons(ETH_P_ARP))
		arp_input(f.data + ETH_HLEN, f.len - ETH_HLEN);
	else if (eh->type == htons(ETH_P_IP))
		ip_input(f.data + ETH_HLEN, f.len - ETH_HLEN, f.flags, eh->src);
	else
		net.st.ignored++;
	return true;
}
