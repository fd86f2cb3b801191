/*
 * A tiny IPv4 stack over one netfront, for the network test guests:
 * Ethernet, ARP (requests, replies, a small cache), IPv4 without options
 * or fragments (header checksum checked and made), ICMP echo (answered,
 * and sent by net_ping), UDP with one bound port, a DHCP client, and one
 * passive TCP connection, enough for an exchange: SYN, SYN-ACK, ACK, data
 * both ways, FIN both ways, with retransmission of what we send.
 *
 * Single-threaded and polled: every wait handles whatever frames arrive
 * (answering ARP and echo requests) until its condition holds or its
 * deadline (Xen system time) passes.  Addresses are host-order numbers,
 * 10.0.2.15 = 0x0a00020f.
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include "netfront.h"

#define ETH_HLEN        14u
#define ETH_P_IP        0x0800u
#define ETH_P_ARP       0x0806u
#define IP_HLEN         20u
#define UDP_HLEN        8u
#define TCP_HLEN        20u
#define ICMP_HLEN       8u
#define IPPROTO_ICMP    1u
#define IPPROTO_TCP     6u
#define IPPROTO_UDP     17u
#define IP_BROADCAST    0xffffffffu
#define NET_MTU         1500u

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

struct net_stats {
	uint64_t frames_in;
	uint64_t arp_replies_sent;      /* to requests for our address */
	uint64_t echo_replies_sent;     /* to echo requests for our address */
	uint64_t bad_ip_csum;           /* IPv4 headers whose checksum is wrong */
	uint64_t bad_l4_csum;           /* ICMP, UDP or TCP checksums that are wrong */
	uint64_t udp_dropped;           /* no socket, or its one slot was full */
	uint64_t csum_blank_in;         /* frames the backend flagged NETRXF_csum_blank */
	uint64_t validated_in;          /* ... NETRXF_data_validated */
	uint64_t ignored;               /* not for us, or not understood */
};

struct net {
	struct netfront *nf;
	uint8_t mac[ETH_ALEN];
	uint32_t ip, mask, gw;          /* 0 until configured */
	/* What DHCP said besides. */
	uint32_t dns, server, lease;
	struct net_stats st;
};
extern struct net net;

void net_init(struct netfront *nf);
void net_set_addr(uint32_t ip, uint32_t mask, uint32_t gw);

/* "a.b.c.d" into *ip; "a.b.c.d/len" also sets *mask (net_parse_cidr). */
bool net_parse_ip(const char *s, uint32_t *ip);
bool net_parse_cidr(const char *s, uint32_t *ip, uint32_t *mask);
/* "a.b.c.d" in buf (16 bytes). */
const char *net_ip_str(uint32_t ip, char buf[16]);

/* Takes one frame, or waits for one until deadline: true if one was
 * handled. */
bool net_poll(uint64_t deadline);

/* The MAC of ip, asking with ARP requests (one a second): false if no
 * answer came before deadline. */
bool net_arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN], uint64_t deadline);
/* Broadcasts an ARP request for ip. */
bool net_arp_request(uint32_t ip);

/* DISCOVER, OFFER, REQUEST, ACK (each resent while no answer comes): 0
 * with the address, mask, router, DNS server and lease set, or
 * -XEN_ETIMEDOUT.  Each message received is printed. */
long net_dhcp(uint64_t deadline);

/*
 * An ICMP echo request to dst with len bytes of payload (byte i is
 * seq + i), then waits for the reply: true when one came with the same
 * identifier, sequence number and payload.  A request is sent again each
 * second.
 */
bool net_ping(uint32_t dst, uint16_t seq, uint16_t len, uint64_t deadline);
/* The same wait, for a request sent some other way (net_build_icmp_echo). */
bool net_wait_echo_reply(uint16_t id, uint16_t seq, uint16_t len, uint64_t deadline);
/* The identifier net_ping uses. */
#define NET_PING_ID 0x7076u

/* The MAC frames to dst go to: dst's own, or the gateway's. */
bool net_next_hop(uint32_t dst, uint8_t mac[ETH_ALEN], uint64_t deadline);

/*
 * Whole frames built into buf (at least ETH_HLEN + IP_HLEN + the rest), for
 * tests that transmit them in their own way; each returns the frame's
 * length.  With csum_blank the UDP checksum field holds only the folded
 * pseudo-header sum, as Linux leaves it for a device that offloads the
 * checksum (NETTXF_csum_blank).
 */
uint16_t net_build_icmp_echo(uint8_t *buf, const uint8_t dst_mac[ETH_ALEN], uint32_t dst,
			     uint16_t id, uint16_t seq, uint16_t len);
uint16_t net_build_udp(uint8_t *buf, const uint8_t dst_mac[ETH_ALEN], uint32_t dst,
		       uint16_t sport, uint16_t dport, const void *data, uint16_t len,
		       bool csum_blank);

/* UDP: one bound port, one datagram queued. */
void net_udp_bind(uint16_t port);
bool net_udp_send(uint32_t dst, uint16_t sport, uint16_t dport, const void *data,
		  uint16_t len, uint64_t deadline);
/* The next datagram to the bound port: its length (cut to size), or
 * -XEN_ETIMEDOUT. */
long net_udp_recv(void *buf, size_t size, uint32_t *src, uint16_t *sport,
		  uint64_t deadline);

/* TCP: one passive connection. */
void net_tcp_listen(uint16_t port);
/* Waits for a connection to the port to be established. */
bool net_tcp_accept(uint64_t deadline);
/* The peer's address and port once accepted. */
void net_tcp_peer(uint32_t *ip, uint16_t *port);
/* Bytes received (cut to size), 0 once the peer closed and everything was
 * read, -XEN_ETIMEDOUT, or -XEN_ECONNREFUSED after a reset. */
long net_tcp_recv(void *buf, size_t size, uint64_t deadline);
/* Sends and waits until the peer acknowledged all of it. */
bool net_tcp_send(const void *data, size_t len, uint64_t deadline);
/* Sends FIN and waits for its acknowledgement and the peer's FIN. */
bool net_tcp_close(uint64_t deadline);

/* The Internet checksum of len bytes, continuing sum (0 to start), folded
 * and complemented, ready to store as it is in the header. */
uint16_t net_csum(const void *data, size_t len, uint32_t sum);

#endif
