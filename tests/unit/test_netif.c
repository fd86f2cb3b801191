/*
 * The network backend: transmit-request validation (every verdict), the
 * checksum and segmentation offloads on known packets, receive slot
 * splitting, MAC derivation and the --net grammar (command line and
 * configuration file), then the whole backend without KVM: a VM with guest
 * memory, event channels, grant tables and xenstored, and a netfront
 * written here that grants pages, lays requests in the rings in guest
 * memory and notifies by EVTCHNOP_send.  Two interfaces joined by a socket
 * link carry frames from one to the other; a third runs user networking
 * (libslirp) and answers ARP and DHCP.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/vmconfig.h"
#include "check_main.h"
#include "cli/options.h"
#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "hypercall/hypercall.h"
#include "hypercall/xen_layout.h"
#include "net/netback.h"
#include "net/offload.h"
#include "net/queue.h"
#include "net/rx.h"
#include "net/spec.h"
#include "net/tx.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xenstore/store.h"
#include "xenstore/xenstored.h"
#include <linux/kvm.h>
#include <xen/io/xenbus.h>

/* ---- known packets (checksum fields zero), and their checksums ---- */

/* tcp4: checksum field at 50 */
static const uint8_t tcp4[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
	0xe6, 0x80, 0x0a, 0x00, 0x02, 0x0f, 0x5d, 0xb8, 0xd8, 0x22, 0x9c, 0x40,
	0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0x80, 0x18,
	0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01,
	0x08, 0x0a, 0x00, 0x00, 0x12, 0x34, 0x70, 0x76, 0x6d, 0x6d, 0x20, 0x6e,
	0x65, 0x74, 0x69, 0x66, 0x20, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x73, 0x75,
	0x6d, 0x20, 0x74, 0x65, 0x73, 0x74, 0x2c, 0x20, 0x6b, 0x6e, 0x6f, 0x77,
	0x6e, 0x20, 0x70, 0x61, 0x63, 0x6b, 0x65, 0x74,
};
#define TCP4_CSUM 0x38e2
/* udp4: checksum field at 40 */
static const uint8_t udp4[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x42, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
	0xe6, 0x8d, 0x0a, 0x00, 0x02, 0x0f, 0x5d, 0xb8, 0xd8, 0x22, 0x14, 0xe9,
	0x00, 0x35, 0x00, 0x2e, 0x00, 0x00, 0x70, 0x76, 0x6d, 0x6d, 0x20, 0x6e,
	0x65, 0x74, 0x69, 0x66, 0x20, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x73, 0x75,
	0x6d, 0x20, 0x74, 0x65, 0x73, 0x74, 0x2c, 0x20, 0x6b, 0x6e, 0x6f, 0x77,
	0x6e, 0x20, 0x70, 0x61, 0x63, 0x6b, 0x65, 0x74,
};
#define UDP4_CSUM 0x7852
/* tcp6: checksum field at 78 */
static const uint8_t tcp6[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x4e, 0x00, 0x40, 0xfe, 0xc0,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x15, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x06, 0x00, 0x01, 0x04, 0x00, 0x00,
	0x00, 0x00, 0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b,
	0x0c, 0x0d, 0x80, 0x18, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04,
	0x05, 0xb4, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x12, 0x34, 0x70, 0x76,
	0x6d, 0x6d, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x66, 0x20, 0x63, 0x68, 0x65,
	0x63, 0x6b, 0x73, 0x75, 0x6d, 0x20, 0x74, 0x65, 0x73, 0x74, 0x2c, 0x20,
	0x6b, 0x6e, 0x6f, 0x77, 0x6e, 0x20, 0x70, 0x61, 0x63, 0x6b, 0x65, 0x74,
};
#define TCP6_CSUM 0x4e3c
/* udp6: checksum field at 60 */
static const uint8_t udp6[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x2e, 0x11, 0x40, 0xfe, 0xc0,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x15, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x2e,
	0x00, 0x00, 0x70, 0x76, 0x6d, 0x6d, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x66,
	0x20, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x73, 0x75, 0x6d, 0x20, 0x74, 0x65,
	0x73, 0x74, 0x2c, 0x20, 0x6b, 0x6e, 0x6f, 0x77, 0x6e, 0x20, 0x70, 0x61,
	0x63, 0x6b, 0x65, 0x74,
};
#define UDP6_CSUM 0x8dac
/* udp4_zero: checksum field at 40 */
static const uint8_t udp4_zero[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x27, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
	0xe6, 0xa8, 0x0a, 0x00, 0x02, 0x0f, 0x5d, 0xb8, 0xd8, 0x22, 0x03, 0xe8,
	0x07, 0xd0, 0x00, 0x13, 0x00, 0x00, 0x7a, 0x65, 0x72, 0x6f, 0x20, 0x73,
	0x75, 0x6d, 0x21, 0x71, 0x0e,
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * A checksum check written apart from net/offload.c: the one's-complement
 * sum of the pseudo-header and the transport bytes, field included, is
 * all ones when the field is right.  IPv4 or IPv6 without extension
 * headers, after an untagged Ethernet header.
 */
static bool l4_csum_ok(const uint8_t *f, size_t len)
{
	bool v6 = get16(f + 12) == 0x86dd;
	const uint8_t *ip = f + 14;
	unsigned ihl = v6 ? 40 : (ip[0] & 15) * 4u;
	unsigned l4len = v6 ? get16(ip + 4) : get16(ip + 2) - ihl;
	uint8_t proto = v6 ? ip[6] : ip[9];
	uint32_t s = proto + l4len;

	ck_assert_uint_le(14 + ihl + l4len, len);
	for (unsigned i = 0; i < (v6 ? 32u : 8u); i += 2)
		s += get16(ip + (v6 ? 8 : 12) + i);
	for (unsigned i = 0; i < l4len; i += 2)
		s += i + 1 < l4len ? get16(ip + ihl + i) : (uint32_t)ip[ihl + i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/* ---- transmit requests: the validation table ---- */

struct slot {
	uint16_t offset, size, flags;
};

#define MORE NETTXF_more_data
#define EXTRA_GSO4 1            /* an extra-info GSO TCPv4 entry, mss 1448 */
#define EXTRA_MCAST 2
#define EXTRA_BAD 3             /* of type 0 */
#define EXTRA_HASH_GSO 4        /* a hash entry, then a GSO entry */
#define EXTRA_GSO_ZERO 5        /* mss 0 */
#define EXTRA_GSO_TYPE 6        /* GSO type 3 */

struct tcase {
	const char *what;
	unsigned nslots;
	struct slot first, rest; /* rest: every slot after the first, the last without MORE */
	int extra;
	unsigned cut;            /* entries left off the end (the ring ends early) */
	enum net_tx_verdict want;
	unsigned entries;        /* nr_entries to expect (not for fatal ones) */
};

static const struct tcase tcases[] = {
	{ "one slot", 1, { 0, 60, 0 }, { 0 }, 0, 0, NET_TX_OK, 1 },
	{ "a whole page", 1, { 0, 4096, 0 }, { 0 }, 0, 0, NET_TX_OK, 1 },
	{ "two slots", 2, { 100, 3000, MORE }, { 0, 1000, 0 }, 0, 0, NET_TX_OK, 2 },
	{ "19 slots", 19, { 0, 18 * 100 + 500, MORE }, { 0, 100, 0 }, 0, 0, NET_TX_OK, 19 },
	{ "GSO extra", 2, { 0, 5000, MORE | NETTXF_extra_info | NETTXF_csum_blank },
	  { 0, 4000, 0 }, EXTRA_GSO4, 0, NET_TX_OK, 3 },
	{ "hash and GSO extras", 1, { 0, 1000, NETTXF_extra_info }, { 0 }, EXTRA_HASH_GSO, 0,
	  NET_TX_OK, 3 },
	{ "multicast add (no frame)", 1, { 0, 0, NETTXF_extra_info }, { 0 }, EXTRA_MCAST, 0,
	  NET_TX_OK, 2 },
	{ "20 slots", 20, { 0, 20 * 60, MORE }, { 0, 60, 0 }, 0, 0, NET_TX_TOO_MANY_SLOTS, 20 },
	{ "21 slots", 21, { 0, 21 * 60, MORE }, { 0, 60, 0 }, 0, 0, NET_TX_TOO_MANY_SLOTS, 21 },
	{ "a later slot larger than the size left", 2, { 0, 100, MORE }, { 0, 200, 0 }, 0, 0,
	  NET_TX_SLOT_TOO_BIG, 2 },
	{ "past 64 KiB: the size wrapped", 17, { 0, 65535, MORE }, { 0, 4096, 0 }, 0, 0,
	  NET_TX_SLOT_TOO_BIG, 17 },
	{ "shorter than an Ethernet header", 1, { 0, 13, 0 }, { 0 }, 0, 0, NET_TX_TOO_SHORT, 1 },
	{ "first slot's own part too short", 2, { 0, 1013, MORE }, { 0, 1000, 0 }, 0, 0,
	  NET_TX_TOO_SHORT, 2 },
	{ "22 slots", 22, { 0, 22 * 60, MORE }, { 0, 60, 0 }, 0, 0, NET_TX_FATAL_SLOTS, 0 },
	{ "first slot across its page", 1, { 4000, 200, 0 }, { 0 }, 0, 0,
	  NET_TX_FATAL_CROSSES_PAGE, 0 },
	{ "later slot across its page", 2, { 0, 110, MORE }, { 4090, 10, 0 }, 0, 0,
	  NET_TX_FATAL_CROSSES_PAGE, 0 },
	{ "more_data, then the ring ends", 3, { 0, 300, MORE }, { 0, 100, 0 }, 0, 1,
	  NET_TX_FATAL_INCOMPLETE, 0 },
	{ "extra_info, then the ring ends", 1, { 0, 60, NETTXF_extra_info }, { 0 }, EXTRA_GSO4, 1,
	  NET_TX_FATAL_INCOMPLETE, 0 },
	{ "extra of type 0", 1, { 0, 60, NETTXF_extra_info }, { 0 }, EXTRA_BAD, 0,
	  NET_TX_FATAL_EXTRA, 0 },
	{ "GSO of mss 0", 1, { 0, 60, NETTXF_extra_info }, { 0 }, EXTRA_GSO_ZERO, 0,
	  NET_TX_FATAL_GSO, 0 },
	{ "GSO of unknown type", 1, { 0, 60, NETTXF_extra_info }, { 0 }, EXTRA_GSO_TYPE, 0,
	  NET_TX_FATAL_GSO, 0 },
};

static void put_extra(union netif_tx_sring_entry *e, uint8_t type, uint8_t flags, uint16_t mss,
		      uint8_t gso_type)
{
	struct netif_extra_info x = { .type = type, .flags = flags };

	if (type == XEN_NETIF_EXTRA_TYPE_GSO) {
		x.u.gso.size = mss;
		x.u.gso.type = gso_type;
	}
	memset(e, 0, sizeof(*e));
	memcpy(e, &x, sizeof(x));
}

/* Lays out a case's entries; returns how many. */
static unsigned lay_case(const struct tcase *c, union netif_tx_sring_entry *e)
{
	unsigned n = 0;

	e[n++].req = (struct netif_tx_request){ .gref = 7, .offset = c->first.offset,
						.flags = c->first.flags, .id = 1000,
						.size = c->first.size };
	switch (c->extra) {
	case EXTRA_GSO4:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, XEN_NETIF_GSO_TYPE_TCPV4);
		break;
	case EXTRA_MCAST:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, 0, 0);
		break;
	case EXTRA_BAD:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_NONE, 0, 0, 0);
		break;
	case EXTRA_HASH_GSO:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE, 0, 0);
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_GSO, 0, 536, XEN_NETIF_GSO_TYPE_TCPV6);
		break;
	case EXTRA_GSO_ZERO:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_GSO, 0, 0, XEN_NETIF_GSO_TYPE_TCPV4);
		break;
	case EXTRA_GSO_TYPE:
		put_extra(&e[n++], XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, 3);
		break;
	}
	for (unsigned s = 1; s < c->nslots; s++)
		e[n++].req = (struct netif_tx_request){
			.gref = 7 + s, .offset = c->rest.offset, .id = (uint16_t)(1000 + s),
			.size = c->rest.size, .flags = s + 1 < c->nslots ? MORE : c->rest.flags,
		};
	return n - c->cut;
}

START_TEST(tx_validation_table)
{
	const struct tcase *c = &tcases[_i];
	union netif_tx_sring_entry e[64];
	struct net_tx_packet pkt;
	unsigned n = lay_case(c, e);
	enum net_tx_verdict v = net_tx__parse(e, n, &pkt);

	ck_assert_msg(v == c->want, "%s: got '%s', want '%s'", c->what, net_tx__verdict_name(v),
		      net_tx__verdict_name(c->want));
	ck_assert_int_eq(net_tx__fatal(v), v >= NET_TX_FATAL_SLOTS);
	if (net_tx__fatal(v))
		return;
	ck_assert_int_eq(net_tx__status(v), v == NET_TX_OK ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
	ck_assert_msg(pkt.nr_entries == c->entries, "%s: %u entries, want %u", c->what,
		      pkt.nr_entries, c->entries);
	if (v != NET_TX_OK || pkt.mcast)
		return;
	/* What passes: the slots add up to the frame, each inside its page. */
	uint32_t sum = 0;
	for (unsigned s = 0; s < pkt.nr_slots; s++) {
		ck_assert_uint_le(pkt.slot[s].offset + pkt.slot[s].size, NET_PAGE_SIZE);
		sum += pkt.slot[s].size;
	}
	ck_assert_uint_eq(sum, pkt.size);
	ck_assert_uint_eq(pkt.size, c->first.size);
	ck_assert_uint_eq(pkt.nr_slots, c->nslots);
	ck_assert_uint_eq(pkt.slot[0].id, 1000);
}
END_TEST

START_TEST(tx_every_verdict_is_in_the_table)
{
	bool seen[NET_TX_NR_VERDICTS] = { false };

	for (size_t i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++)
		seen[tcases[i].want] = true;
	/* The backend's own checks: see the end-to-end tests. */
	seen[NET_TX_BAD_GRANT] = seen[NET_TX_BAD_OFFLOAD] = true;
	for (int v = 0; v < NET_TX_NR_VERDICTS; v++) {
		ck_assert_msg(seen[v], "no case for '%s'", net_tx__verdict_name((enum net_tx_verdict)v));
		ck_assert_str_ne(net_tx__verdict_name((enum net_tx_verdict)v), "invalid");
	}
	ck_assert_str_eq(net_tx__verdict_name(NET_TX_NR_VERDICTS), "invalid");
}
END_TEST

START_TEST(tx_extras_are_read)
{
	union netif_tx_sring_entry e[8];
	struct net_tx_packet pkt;

	ck_assert_uint_eq(lay_case(&tcases[4], e), 3);
	ck_assert_int_eq(net_tx__parse(e, 3, &pkt), NET_TX_OK);
	ck_assert_uint_eq(pkt.nr_extras, 1);
	ck_assert_uint_eq(pkt.gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
	ck_assert_uint_eq(pkt.gso_size, 1448);
	ck_assert_uint_eq(pkt.slot[0].size, 1000);
	ck_assert_uint_eq(pkt.slot[1].id, 1001);
	ck_assert(pkt.flags & NETTXF_csum_blank);
	ck_assert_uint_eq(lay_case(&tcases[5], e), 3);
	ck_assert_int_eq(net_tx__parse(e, 3, &pkt), NET_TX_OK);
	ck_assert_uint_eq(pkt.nr_extras, 2);
	ck_assert_uint_eq(pkt.gso_type, XEN_NETIF_GSO_TYPE_TCPV6);
	ck_assert_uint_eq(pkt.gso_size, 536);
	/* A multicast request takes no further slots, even with more_data. */
	lay_case(&tcases[6], e);
	e[0].req.flags |= MORE;
	ck_assert_int_eq(net_tx__parse(e, 4, &pkt), NET_TX_OK);
	ck_assert(pkt.mcast);
	ck_assert_uint_eq(pkt.nr_entries, 2);
	ck_assert_int_eq(net_tx__parse(e, 0, &pkt), NET_TX_FATAL_INCOMPLETE);
}
END_TEST

/* ---- checksums and segmentation ---- */

struct known {
	const char *what;
	const uint8_t *frame;
	size_t len;
	unsigned csum_off;
	uint16_t csum;
	bool v6;
};

static const struct known known[] = {
	{ "TCP/IPv4 with options", tcp4, sizeof(tcp4), 14 + 20 + 16, TCP4_CSUM, false },
	{ "UDP/IPv4", udp4, sizeof(udp4), 14 + 20 + 6, UDP4_CSUM, false },
	{ "TCP/IPv6 after hop-by-hop", tcp6, sizeof(tcp6), 14 + 40 + 8 + 16, TCP6_CSUM, true },
	{ "UDP/IPv6", udp6, sizeof(udp6), 14 + 40 + 6, UDP6_CSUM, true },
	{ "UDP summing to 0", udp4_zero, sizeof(udp4_zero), 14 + 20 + 6, 0xffff, false },
};

START_TEST(checksums_of_known_packets)
{
	const struct known *k = &known[_i];
	uint8_t f[256], g[256];
	struct net_l4 l4;

	ck_assert_uint_le(k->len, sizeof(f) - 20);
	/* From scratch, whatever the field held. */
	memcpy(f, k->frame, k->len);
	set16(f + k->csum_off, 0xbeef);
	ck_assert_int_eq(net__csum_fill(f, k->len), 0);
	ck_assert_msg(get16(f + k->csum_off) == k->csum, "%s: %#x, want %#x", k->what,
		      get16(f + k->csum_off), k->csum);
	ck_assert_mem_eq(f, k->frame, k->csum_off);
	ck_assert_mem_eq(f + k->csum_off + 2, k->frame + k->csum_off + 2, k->len - k->csum_off - 2);
	/* Ethernet padding after the IP packet is not summed. */
	memcpy(g, k->frame, k->len);
	memset(g + k->len, 0x5a, 20);
	ck_assert_int_eq(net__csum_fill(g, k->len + 20), 0);
	ck_assert_uint_eq(get16(g + k->csum_off), k->csum);
	/* Seeded as Linux's CHECKSUM_PARTIAL, then finished as a NIC does. */
	memcpy(g, k->frame, k->len);
	ck_assert_int_eq(net__csum_seed(g, k->len, &l4), 0);
	ck_assert_uint_eq(l4.csum, k->csum_off);
	ck_assert_int_eq(l4.ipv6, k->v6);
	ck_assert_int_eq(net__csum_at(g, k->len, l4.l4, l4.csum - l4.l4), 0);
	ck_assert_uint_eq(get16(g + k->csum_off), k->csum);
}
END_TEST

START_TEST(checksum_edge_cases)
{
	uint8_t f[256];
	struct net_l4 l4;

	/* An 802.1Q tag before IPv4. */
	memcpy(f, udp4, 12);
	set16(f + 12, 0x8100);
	set16(f + 14, 5);
	memcpy(f + 16, udp4 + 12, sizeof(udp4) - 12);
	ck_assert_int_eq(net__parse_l4(f, sizeof(udp4) + 4, &l4), 0);
	ck_assert_uint_eq(l4.l3, 18);
	ck_assert_int_eq(net__csum_fill(f, sizeof(udp4) + 4), 0);
	ck_assert_uint_eq(get16(f + 18 + 20 + 6), UDP4_CSUM);
	/* Not TCP or UDP over IP: ARP, ICMP, an IPv4 fragment, a frame that
	 * ends inside its headers, an IP length past the frame. */
	memcpy(f, udp4, sizeof(udp4));
	set16(f + 12, 0x0806);
	ck_assert_int_eq(net__csum_fill(f, sizeof(udp4)), -1);
	memcpy(f, udp4, sizeof(udp4));
	f[14 + 9] = IPPROTO_ICMP;
	ck_assert_int_eq(net__parse_l4(f, sizeof(udp4), &l4), -1);
	memcpy(f, udp4, sizeof(udp4));
	set16(f + 14 + 6, 0x2000);        /* more fragments */
	ck_assert_int_eq(net__csum_fill(f, sizeof(udp4)), -1);
	ck_assert_int_eq(net__parse_l4(tcp4, 14 + 20 + 10, &l4), -1);
	memcpy(f, udp4, sizeof(udp4));
	set16(f + 14 + 2, sizeof(udp4));  /* IP length > frame */
	ck_assert_int_eq(net__parse_l4(f, sizeof(udp4), &l4), -1);
	memcpy(f, tcp4, sizeof(tcp4));
	f[14 + 20 + 12] = 0x40;            /* a TCP header of 16 bytes */
	ck_assert_int_eq(net__parse_l4(f, sizeof(tcp4), &l4), -1);
	/* A partial checksum's place outside the frame. */
	ck_assert_int_eq(net__csum_at(f, 60, 60, 0), -1);
	ck_assert_int_eq(net__csum_at(f, 60, 50, 9), -1);
	ck_assert_int_eq(net__csum_at(f, 60, 50, 8), 0);
}
END_TEST

struct segs {
	uint8_t frame[8][4096];
	size_t len[8];
	int n;
};

static void collect(uint8_t *seg, size_t len, void *opaque)
{
	struct segs *s = opaque;

	ck_assert_int_lt(s->n, 8);
	ck_assert_uint_le(len, sizeof(s->frame[0]));
	memcpy(s->frame[s->n], seg, len);
	s->len[s->n++] = len;
}

/* A TCP frame of 3500 payload bytes (IPv4 or IPv6), flags CWR|PSH|FIN|ACK. */
static size_t big_tcp(uint8_t *f, bool v6)
{
	const uint8_t *k = v6 ? udp6 : udp4;    /* Ethernet and IP headers */
	unsigned l3 = 14, l4 = v6 ? 54 : 34;
	size_t len = l4 + 20 + 3500;

	memcpy(f, k, l4);
	if (v6) {
		set16(f + l3 + 4, (uint16_t)(20 + 3500));
		f[l3 + 6] = IPPROTO_TCP;
	} else {
		set16(f + l3 + 2, (uint16_t)(20 + 20 + 3500));
		f[l3 + 9] = IPPROTO_TCP;
		net__ipv4_csum(f, l3);
	}
	memset(f + l4, 0, 20);
	set16(f + l4, 40000);
	set16(f + l4 + 2, 80);
	f[l4 + 4] = 0x10;                  /* seq 0x10000000 */
	f[l4 + 12] = 5 << 4;
	f[l4 + 13] = 0x80 | 0x10 | 0x08 | 0x01;
	for (unsigned i = 0; i < 3500; i++)
		f[l4 + 20 + i] = (uint8_t)(i * 7);
	return len;
}

static void segmentation(bool v6)
{
	static uint8_t f[NET_FRAME_MAX], seg[NET_FRAME_MAX];
	static struct segs s;
	size_t len = big_tcp(f, v6);
	unsigned l4 = v6 ? 54 : 34;

	s.n = 0;
	ck_assert_int_eq(net__gso_segment(f, len, 1000, v6, seg, collect, &s), 4);
	ck_assert_int_eq(s.n, 4);
	for (int i = 0; i < 4; i++) {
		const uint8_t *g = s.frame[i];
		unsigned chunk = i < 3 ? 1000 : 500;

		ck_assert_uint_eq(s.len[i], l4 + 20 + chunk);
		ck_assert_mem_eq(g + l4 + 20, f + l4 + 20 + 1000 * i, chunk);
		ck_assert_uint_eq(get16(g + l4 + 4), 0x1000);
		ck_assert_uint_eq(get16(g + l4 + 6), 1000 * i);
		ck_assert_uint_eq(g[l4 + 13] & 0x80, i == 0 ? 0x80 : 0);      /* CWR first */
		ck_assert_uint_eq(g[l4 + 13] & 0x09, i == 3 ? 0x09 : 0);      /* FIN, PSH last */
		ck_assert(g[l4 + 13] & 0x10);                                  /* ACK on all */
		if (v6) {
			ck_assert_uint_eq(get16(g + 14 + 4), 20 + chunk);
		} else {
			ck_assert_uint_eq(get16(g + 14 + 2), 20 + 20 + chunk);
			ck_assert_uint_eq(get16(g + 14 + 4), 0x1234 + i);
			ck_assert_uint_eq(net__csum_fold(net__csum_add(0, g + 14, 20)), 0);
		}
		ck_assert(l4_csum_ok(g, s.len[i]));
	}
	/* The wrong IP version, UDP, mss 0: nothing comes out. */
	s.n = 0;
	ck_assert_int_eq(net__gso_segment(f, len, 1000, !v6, seg, collect, &s), -1);
	ck_assert_int_eq(net__gso_segment(f, len, 0, v6, seg, collect, &s), -1);
	ck_assert_int_eq(net__gso_segment(v6 ? udp6 : udp4, v6 ? sizeof(udp6) : sizeof(udp4), 100,
					  v6, seg, collect, &s), -1);
	ck_assert_int_eq(s.n, 0);
	/* A payload within one mss: one segment, flags kept. */
	ck_assert_int_eq(net__gso_segment(f, len, 4000, v6, seg, collect, &s), 1);
	ck_assert_uint_eq(s.frame[0][l4 + 13], 0x99);
}

START_TEST(gso_segments_tcpv4)
{
	segmentation(false);
}
END_TEST

START_TEST(gso_segments_tcpv6)
{
	segmentation(true);
}
END_TEST

/* ---- receive slots ---- */

START_TEST(rx_slot_splitting)
{
	struct netif_rx_response r;

	ck_assert_int_eq(net_rx__check(13, true), NET_RX_TOO_SHORT);
	ck_assert_int_eq(net_rx__check(14, false), NET_RX_OK);
	ck_assert_int_eq(net_rx__check(4096, false), NET_RX_OK);
	ck_assert_int_eq(net_rx__check(4097, false), NET_RX_NEEDS_SG);
	ck_assert_int_eq(net_rx__check(4097, true), NET_RX_OK);
	ck_assert_int_eq(net_rx__check(NET_FRAME_MAX, true), NET_RX_OK);
	ck_assert_int_eq(net_rx__check(NET_FRAME_MAX + 1, true), NET_RX_TOO_LONG);
	ck_assert_uint_eq(net_rx__slots(60), 1);
	ck_assert_uint_eq(net_rx__slots(4096), 1);
	ck_assert_uint_eq(net_rx__slots(4097), 2);
	ck_assert_uint_eq(net_rx__slots(9000), 3);
	ck_assert_uint_eq(net_rx__slots(NET_FRAME_MAX), NET_RX_MAX_SLOTS);
	/* 9000 bytes: 4096, 4096, 808; flags on the first, more_data but the last. */
	r = net_rx__response(7, 9000, 0, NETRXF_data_validated, false);
	ck_assert_uint_eq(r.id, 7);
	ck_assert_uint_eq(r.offset, 0);
	ck_assert_int_eq(r.status, 4096);
	ck_assert_uint_eq(r.flags, NETRXF_data_validated | NETRXF_more_data);
	r = net_rx__response(8, 9000, 1, NETRXF_data_validated, false);
	ck_assert_int_eq(r.status, 4096);
	ck_assert_uint_eq(r.flags, NETRXF_more_data);
	r = net_rx__response(9, 9000, 2, NETRXF_data_validated, false);
	ck_assert_int_eq(r.status, 808);
	ck_assert_uint_eq(r.flags, 0);
	r = net_rx__response(1, 60, 0, NETRXF_csum_blank | NETRXF_data_validated, false);
	ck_assert_int_eq(r.status, 60);
	ck_assert_uint_eq(r.flags, NETRXF_csum_blank | NETRXF_data_validated);
	/* An error still chains, so the frame's end can be found. */
	r = net_rx__response(2, 9000, 1, 0, true);
	ck_assert_int_eq(r.status, NETIF_RSP_ERROR);
	ck_assert_uint_eq(r.flags, NETRXF_more_data);
}
END_TEST

/* ---- MACs and the --net grammar ---- */

START_TEST(mac_derivation_is_stable)
{
	uint8_t uuid[16], other[16], a[6], b[6], c[6], d[6];
	char text[NET_MAC_TEXT];

	for (int i = 0; i < 16; i++) {
		uuid[i] = (uint8_t)(i * 17 + 3);
		other[i] = uuid[i];
	}
	other[15] ^= 1;
	net__derive_mac(uuid, 0, a);
	net__derive_mac(uuid, 0, b);
	ck_assert_mem_eq(a, b, 6);                       /* stable */
	net__derive_mac(uuid, 1, c);
	net__derive_mac(other, 0, d);
	ck_assert_mem_ne(a, c, 6);                       /* per interface */
	ck_assert_mem_ne(a, d, 6);                       /* per VM */
	for (const uint8_t *m = a; m; m = m == a ? c : m == c ? d : NULL) {
		ck_assert_uint_eq(m[0] & 1, 0);          /* unicast */
		ck_assert_uint_eq(m[0] & 2, 2);          /* locally administered */
		net__format_mac(m, text);
		ck_assert_int_eq(net__parse_mac(text, b), 0);
		ck_assert_mem_eq(m, b, 6);
	}
	/* A known value: the derivation must not change between releases,
	 * or a VM's interfaces would change address. */
	memset(uuid, 0, sizeof(uuid));
	net__derive_mac(uuid, 0, a);
	net__format_mac(a, text);
	ck_assert_str_eq(text, "92:df:c2:79:e4:50");
}
END_TEST

START_TEST(mac_text)
{
	uint8_t m[6];
	char text[NET_MAC_TEXT];

	ck_assert_int_eq(net__parse_mac("52:54:00:AB:cd:0f", m), 0);
	net__format_mac(m, text);
	ck_assert_str_eq(text, "52:54:00:ab:cd:0f");
	ck_assert_int_eq(net__parse_mac("53:54:00:ab:cd:0f", m), -1);   /* multicast */
	ck_assert_int_eq(net__parse_mac("00:00:00:00:00:00", m), -1);
	ck_assert_int_eq(net__parse_mac("52:54:00:ab:cd", m), -1);
	ck_assert_int_eq(net__parse_mac("52:54:00:ab:cd:0f:", m), -1);
	ck_assert_int_eq(net__parse_mac("52-54-00-ab-cd-0f", m), -1);
	ck_assert_int_eq(net__parse_mac("52:54:00:ab:cd:0g", m), -1);
}
END_TEST

START_TEST(hostfwd_rules)
{
	struct vm_net_hostfwd f;
	char err[256], text[NET_HOSTFWD_TEXT];
	static const char *const good[][2] = {
		{ "tcp::8080-:80", "tcp::8080-:80" },
		{ "::2222-:22", "tcp::2222-:22" },
		{ "udp:0.0.0.0:5353-10.0.2.15:53", "udp:0.0.0.0:5353-10.0.2.15:53" },
		{ "tcp:127.0.0.1:0-:1", "tcp:127.0.0.1:0-:1" },
	};
	static const char *const bad[] = {
		"tcp:8080-:80", "sctp::1-:2", "tcp::1-:0", "tcp::65536-:2", "tcp::1-2",
		"tcp::1:2-:3", "tcp:1.2.3:1-:2", "tcp::-:2", "tcp::1-:2x", "", "tcp::1",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(!net__parse_hostfwd(good[i][0], &f, err, sizeof(err)), "%s: %s",
			      good[i][0], err);
		net__format_hostfwd(&f, text);
		ck_assert_str_eq(text, good[i][1]);
	}
	ck_assert_int_eq(net__parse_hostfwd("udp::5353-:53", &f, err, sizeof(err)), 0);
	ck_assert(f.udp && !f.host_addr_set && !f.guest_addr_set);
	ck_assert_uint_eq(f.host_port, 5353);
	ck_assert_uint_eq(f.guest_port, 53);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(net__parse_hostfwd(bad[i], &f, err, sizeof(err)) == -1, "'%s' taken", bad[i]);
		ck_assert_msg(strstr(err, "hostfwd"), "'%s': error '%s'", bad[i], err);
	}
}
END_TEST

static int parse(struct cli_options *o, int argc, const char **argv)
{
	return cli__parse(argc, (char **)argv, o);
}

START_TEST(cli_net_options)
{
	struct cli_options o;
	const char *ok[] = { "pvmm", "run", "k", "--net", "user", "--net",
			     "hostfwd=tcp::2222-:22,hostfwd=udp::53-:53,mac=52:54:00:00:00:01",
			     "--net", "tap=tap7", "--net", "tap,fd=5,mac=02:00:00:00:00:09",
			     "--net", "socket,listen=/tmp/a.sock", "--net=socket,connect=/tmp/b", NULL };
	static const char *const bad[] = {
		"tap", "tap=", "tap=0123456789abcdef", "tap=a/b", "tap=x,fd=3", "tap,fd=x",
		"socket", "socket,listen=/a,connect=/b", "socket,hostfwd=tcp::1-:2", "user,fd=3",
		"user,mac=01:00:00:00:00:00", "user,mac=52:54:00:00:00:01,mac=52:54:00:00:00:02",
		"user,", ",user", "user,hostfwd=tcp::1", "bogus", "user,tap=x",
	};

	ck_assert_int_eq(parse(&o, 14, ok), 0);
	ck_assert_int_eq(o.vm.nr_nets, 6);
	ck_assert_int_eq(o.vm.net[0].kind, VM_NET_USER);
	ck_assert(!o.vm.net[0].has_mac);
	ck_assert_int_eq(o.vm.net[1].kind, VM_NET_USER);
	ck_assert_int_eq(o.vm.net[1].nr_hostfwd, 2);
	ck_assert(o.vm.net[1].hostfwd[1].udp);
	ck_assert(o.vm.net[1].has_mac);
	ck_assert_uint_eq(o.vm.net[1].mac[5], 1);
	ck_assert_int_eq(o.vm.net[2].kind, VM_NET_TAP);
	ck_assert_str_eq(o.vm.net[2].tap, "tap7");
	ck_assert_int_eq(o.vm.net[2].tap_fd, -1);
	ck_assert_int_eq(o.vm.net[3].tap_fd, 5);
	ck_assert_str_eq(o.vm.net[3].tap, "");
	ck_assert_int_eq(o.vm.net[4].kind, VM_NET_SOCKET);
	ck_assert_str_eq(o.vm.net[4].listen, "/tmp/a.sock");
	ck_assert_str_eq(o.vm.net[5].connect, "/tmp/b");
	cli__free(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = { "pvmm", "run", "k", "--net", bad[i], NULL };

		ck_assert_msg(parse(&o, 5, argv) == -1, "--net %s taken", bad[i]);
		cli__free(&o);
	}
	const char *many[2 + 2 * 9 + 1] = { "pvmm", "run" };
	for (int i = 0; i < 9; i++) {
		many[2 + 2 * i] = "--net";
		many[3 + 2 * i] = "user";
	}
	many[20] = "k";
	ck_assert_int_eq(parse(&o, 21, many), -1);    /* 9 interfaces */
	cli__free(&o);
}
END_TEST

/* The configuration file's net[] reads as --net does, and vm.info's
 * document boots the same interfaces. */
START_TEST(config_net_round_trip)
{
	static const char doc_text[] =
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": ["
		"{\"hostfwd\": [\"tcp::2222-:22\", \"udp:0.0.0.0:53-10.0.2.15:53\"], \"mac\": \"52:54:00:00:00:07\"},"
		"{\"kind\": \"tap\", \"tap\": \"tap3\"},"
		"{\"fds\": [9]},"
		"{\"listen\": \"/run/l.sock\"},"
		"{\"kind\": \"socket\", \"connect\": \"/run/c.sock\", \"mac\": \"02:00:00:00:00:01\"}]}";
	static const char *const bad[] = {
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": {}}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"kind\": \"vde\"}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"ip\": \"1.2.3.4\"}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"fds\": [1, 2]}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"fds\": [-1]}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"hostfwd\": \"tcp::1-:2\"}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"hostfwd\": [7]}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"listen\": \"/a,mac=52:54:00:00:00:01\"}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"kind\": \"user\", \"tap\": \"t\"}]}",
		"{\"payload\": {\"kernel\": \"k\"}, \"net\": [{\"mac\": \"ff:ff:ff:ff:ff:ff\"}]}",
	};
	static struct vm_config a, b;
	enum log_level level = LOG_WARN;
	char err[512];
	json_object *doc = vmconfig__parse_json(doc_text, strlen(doc_text), err, sizeof(err)), *out;
	const char *text;

	ck_assert_msg(doc != NULL, "%s", err);
	memset(&a, 0, sizeof(a));
	ck_assert_msg(!vmconfig__apply(doc, &a, &level, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(a.nr_nets, 5);
	ck_assert_int_eq(a.net[0].kind, VM_NET_USER);
	ck_assert_int_eq(a.net[0].nr_hostfwd, 2);
	ck_assert(a.net[0].has_mac);
	ck_assert_str_eq(a.net[1].tap, "tap3");
	ck_assert_int_eq(a.net[2].kind, VM_NET_TAP);
	ck_assert_int_eq(a.net[2].tap_fd, 9);
	ck_assert_int_eq(a.net[3].kind, VM_NET_SOCKET);
	ck_assert_str_eq(a.net[4].connect, "/run/c.sock");
	a.mem_size = 256 << 20;
	a.nr_cpus = 1;
	a.console = "none";
	out = vmconfig__to_json(&a, 0, level);
	text = json_object_to_json_string(out);
	json_object *again = vmconfig__parse_json(text, strlen(text), err, sizeof(err));
	memset(&b, 0, sizeof(b));
	ck_assert_msg(!vmconfig__apply(again, &b, &level, err, sizeof(err)), "%s: %s", text, err);
	ck_assert_int_eq(b.nr_nets, 5);
	ck_assert_mem_eq(a.net, b.net, sizeof(a.net));
	json_object_put(again);
	json_object_put(out);
	json_object_put(doc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static struct vm_config c;

		doc = vmconfig__parse_json(bad[i], strlen(bad[i]), err, sizeof(err));
		ck_assert_ptr_nonnull(doc);
		memset(&c, 0, sizeof(c));
		err[0] = '\0';
		ck_assert_msg(vmconfig__apply(doc, &c, &level, err, sizeof(err)) == -1, "%s taken", bad[i]);
		ck_assert_msg(strstr(err, "net"), "%s: error '%s' names no field", bad[i], err);
		json_object_put(doc);
	}
}
END_TEST

/* ================= the backend, end to end ================= */

#define PG          4096u
#define RAM         (32ULL << 20)
#define SHINFO_GFN  0x100
#define SCRATCH     0x10000ULL          /* hypercall arguments */
#define NR_VIFS     3
/* Vif v, queue q: tx ring page and ref, then the rx ring's (+1). */
#define RING_GFN(v, q)  (0x200 + 8 * (v) + 2 * (q))
#define RING_REF(v, q)  (1 + 8 * (v) + 2 * (q))
/* Vif v's transmit pages (64) and receive pages (256), refs alike. */
#define TXP_GFN(v, i)   (0x300 + 64 * (v) + (i))
#define TXP_REF(v, i)   (100 + 64 * (v) + (i))
#define RXP_GFN(v, i)   (0x400 + 256 * (v) + (i))
#define RXP_REF(v, i)   (400 + 256 * (v) + (i))
#define NR_GT_FRAMES 3                  /* refs 0..1535 */

#define FE(v)  "/local/domain/1/device/vif/" #v
#define BE(v)  "/local/domain/0/backend/vif/1/" #v
#define ERR(v) "/local/domain/0/error/backend/vif/1/" #v "/error"

static struct vm vm;
static struct vm_config cfg;
static struct kvm_run *run;
static struct vcpu cpu;
static grant_entry_v1_t *gt[NR_GT_FRAMES];
static char sock_path[108];

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint8_t *gpage(uint64_t gfn)
{
	uint8_t *p = gmem__frame(&vm.mem, gfn);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void grant(grant_ref_t ref, uint64_t gfn, bool readonly)
{
	grant_entry_v1_t *e = &gt[ref / 512][ref % 512];

	e->domid = 0;
	e->frame = (uint32_t)gfn;
	__atomic_store_n(&e->flags, GTF_permit_access | (readonly ? GTF_readonly : 0),
			 __ATOMIC_SEQ_CST);
}

static uint16_t grant_flags(grant_ref_t ref)
{
	return __atomic_load_n(&gt[ref / 512][ref % 512].flags, __ATOMIC_SEQ_CST);
}

static long evtchn_op(unsigned cmd, const void *arg, size_t len)
{
	struct hcall hc = {
		.vcpu = &cpu, .vm = &vm, .nr = __HYPERVISOR_event_channel_op,
		.arg = { cmd, SCRATCH },
	};

	ck_assert_int_eq(gmem__write(&vm.mem, SCRATCH, arg, len), 0);
	return hc__event_channel_op(&hc);
}

static uint32_t alloc_port(void)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = 0 };

	ck_assert_int_eq(evtchn_op(EVTCHNOP_alloc_unbound, &a, sizeof(a)), 0);
	ck_assert_int_eq(gmem__read(&vm.mem, SCRATCH, &a, sizeof(a)), 0);
	return a.port;
}

static void send_event(uint32_t port)
{
	struct evtchn_send s = { .port = port };

	ck_assert_int_eq(evtchn_op(EVTCHNOP_send, &s, sizeof(s)), 0);
}

/* Whether port is pending in shared_info, clearing it. */
static bool take_pending(uint32_t port)
{
	uint8_t *b = gpage(SHINFO_GFN) + XFIELD(false, shared_info, evtchn_pending).off + port / 8;

	return __atomic_fetch_and(b, (uint8_t)~(1u << (port % 8)), __ATOMIC_SEQ_CST) &
	       (1u << (port % 8));
}

static void xs_put(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xs_put(const char *path, const char *fmt, ...)
{
	char value[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(xs__write(vm.xenstored->store, path, value), 0);
}

static char *xs_get(const char *path)
{
	char *v = NULL;

	if (xs__read(vm.xenstored->store, path, &v))
		return strdup("");
	return v;
}

static void expect_key(const char *path, const char *want)
{
	char *v = xs_get(path);

	ck_assert_msg(!strcmp(v, want), "%s is '%s', want '%s'", path, v, want);
	free(v);
}

static void wait_state(const char *dir, int state)
{
	char path[256], want[4];
	double end = now() + 10;

	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(want, sizeof(want), "%d", state);
	for (;;) {
		char *v = xs_get(path);
		bool ok = !strcmp(v, want);

		free(v);
		if (ok)
			return;
		ck_assert_msg(now() < end, "%s never became %d", path, state);
		usleep(1000);
	}
}

/* ---- the test's netfront ---- */

#define SRING_REQ_PROD  offsetof(struct netif_tx_sring, req_prod)
#define SRING_REQ_EVENT offsetof(struct netif_tx_sring, req_event)
#define SRING_RSP_PROD  offsetof(struct netif_tx_sring, rsp_prod)
#define SRING_RSP_EVENT offsetof(struct netif_tx_sring, rsp_event)
#define SRING_ENTRIES   offsetof(struct netif_tx_sring, ring)
#define FE_RING 256

struct front {
	unsigned vif, queue;
	uint8_t *tx, *rx;               /* ring pages */
	uint32_t tx_port, rx_port;
	uint32_t tx_prod, tx_pushed, tx_cons;
	uint32_t rx_prod, rx_pushed, rx_cons;
	unsigned next_page;             /* transmit pages, round robin */
};

static uint32_t *idx(uint8_t *ring, size_t off)
{
	return (uint32_t *)(ring + off);
}

static void front_init(struct front *f, unsigned vif, unsigned queue, bool split)
{
	memset(f, 0, sizeof(*f));
	f->vif = vif;
	f->queue = queue;
	f->tx = gpage(RING_GFN(vif, queue));
	f->rx = gpage(RING_GFN(vif, queue) + 1);
	memset(f->tx, 0, PG);
	memset(f->rx, 0, PG);
	/* SHARED_RING_INIT */
	*idx(f->tx, SRING_REQ_EVENT) = *idx(f->tx, SRING_RSP_EVENT) = 1;
	*idx(f->rx, SRING_REQ_EVENT) = *idx(f->rx, SRING_RSP_EVENT) = 1;
	grant(RING_REF(vif, queue), RING_GFN(vif, queue), false);
	grant(RING_REF(vif, queue) + 1, RING_GFN(vif, queue) + 1, false);
	f->tx_port = alloc_port();
	f->rx_port = split ? alloc_port() : f->tx_port;
}

struct fe_opts {
	bool no_sg, no_rx_notify, no_csum, ipv6_csum, no_rx_copy;
};

/* Writes the keys of nr queues (fronts[]) as netfront does, goes Connected
 * and waits for the backend to follow. */
static void front_connect(struct front *fronts, unsigned nr, const struct fe_opts *o)
{
	char dir[64], path[128];
	unsigned v = fronts[0].vif;

	snprintf(dir, sizeof(dir), "/local/domain/1/device/vif/%u", v);
	for (unsigned q = 0; q < nr; q++) {
		const char *prefix = nr > 1 ? "/queue-" : "";
		char sub[16] = "";

		if (nr > 1)
			snprintf(sub, sizeof(sub), "%u", q);
		snprintf(path, sizeof(path), "%s%s%s/tx-ring-ref", dir, prefix, sub);
		xs_put(path, "%u", RING_REF(v, q));
		snprintf(path, sizeof(path), "%s%s%s/rx-ring-ref", dir, prefix, sub);
		xs_put(path, "%u", RING_REF(v, q) + 1);
		if (fronts[q].rx_port != fronts[q].tx_port) {
			snprintf(path, sizeof(path), "%s%s%s/event-channel-tx", dir, prefix, sub);
			xs_put(path, "%u", fronts[q].tx_port);
			snprintf(path, sizeof(path), "%s%s%s/event-channel-rx", dir, prefix, sub);
			xs_put(path, "%u", fronts[q].rx_port);
		} else {
			snprintf(path, sizeof(path), "%s%s%s/event-channel", dir, prefix, sub);
			xs_put(path, "%u", fronts[q].tx_port);
		}
	}
	if (nr > 1) {
		snprintf(path, sizeof(path), "%s/multi-queue-num-queues", dir);
		xs_put(path, "%u", nr);
	}
#define FLAG(key, val) snprintf(path, sizeof(path), "%s/" key, dir), xs_put(path, "%d", val)
	FLAG("request-rx-copy", !o->no_rx_copy);
	FLAG("feature-rx-notify", !o->no_rx_notify);
	FLAG("feature-sg", !o->no_sg);
	FLAG("feature-no-csum-offload", o->no_csum);
	FLAG("feature-ipv6-csum-offload", o->ipv6_csum);
	FLAG("state", XenbusStateConnected);
#undef FLAG
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/1/%u", v);
	wait_state(path, XenbusStateConnected);
}

/* RING_PUSH_REQUESTS_AND_CHECK_NOTIFY. */
static void push(uint8_t *ring, uint32_t prod, uint32_t *pushed, uint32_t port)
{
	uint32_t old = *pushed;

	__atomic_store_n(idx(ring, SRING_REQ_PROD), prod, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*pushed = prod;
	if (prod - __atomic_load_n(idx(ring, SRING_REQ_EVENT), __ATOMIC_ACQUIRE) < prod - old)
		send_event(port);
}

static union netif_tx_sring_entry *tx_entry(struct front *f, uint32_t i)
{
	return (union netif_tx_sring_entry *)(f->tx + SRING_ENTRIES) + (i % FE_RING);
}

/* Lays a frame into slots of at most `chunk` bytes (offset 8 in each page),
 * after the extra entries (if any); returns the entries used. */
static unsigned front_put_frame(struct front *f, const uint8_t *frame, size_t len, size_t chunk,
				uint16_t flags, const struct netif_extra_info *extra, unsigned nx)
{
	unsigned start = f->tx_prod, nslots = (unsigned)((len + chunk - 1) / chunk);

	for (unsigned s = 0; s < nslots; s++) {
		unsigned page = f->next_page++ % 64;
		size_t off = s * chunk, n = len - off < chunk ? len - off : chunk;
		struct netif_tx_request r = {
			.gref = TXP_REF(f->vif, page), .offset = 8, .id = (uint16_t)(f->tx_prod & 0xff),
			.size = (uint16_t)(s ? n : len),
			.flags = (uint16_t)((s ? 0 : flags) | (s + 1 < nslots ? NETTXF_more_data : 0) |
					    (!s && nx ? NETTXF_extra_info : 0)),
		};

		memcpy(gpage(TXP_GFN(f->vif, page)) + 8, frame + off, n);
		tx_entry(f, f->tx_prod++)->req = r;
		for (unsigned x = 0; !s && x < nx; x++) {
			memset(tx_entry(f, f->tx_prod), 0, sizeof(union netif_tx_sring_entry));
			memcpy(tx_entry(f, f->tx_prod++), &extra[x], sizeof(extra[x]));
		}
	}
	return f->tx_prod - start;
}

static void front_push_tx(struct front *f)
{
	push(f->tx, f->tx_prod, &f->tx_pushed, f->tx_port);
}

/* Waits for n transmit responses; their statuses go to status. */
static void front_tx_done(struct front *f, unsigned n, int16_t *status)
{
	double end = now() + 10;

	for (unsigned i = 0; i < n; i++) {
		while (__atomic_load_n(idx(f->tx, SRING_RSP_PROD), __ATOMIC_ACQUIRE) == f->tx_cons) {
			ck_assert_msg(now() < end, "transmit response %u of %u never came", i, n);
			usleep(100);
		}
		status[i] = ((struct netif_tx_response *)tx_entry(f, f->tx_cons++))->status;
		*idx(f->tx, SRING_RSP_EVENT) = f->tx_cons + 1;
	}
}

/* Sends one frame in slots of `chunk` bytes and checks every response. */
static void front_send(struct front *f, const uint8_t *frame, size_t len, size_t chunk,
		       uint16_t flags, int16_t want)
{
	int16_t st[64];
	unsigned n = front_put_frame(f, frame, len, chunk, flags, NULL, 0);

	front_push_tx(f);
	front_tx_done(f, n, st);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(st[i], want);
}

/* Posts n receive buffers (each request's id is its page). */
static void front_post_rx(struct front *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned page = f->rx_prod % FE_RING;
		union netif_rx_sring_entry *e =
			(union netif_rx_sring_entry *)(f->rx + SRING_ENTRIES) + page;

		grant(RXP_REF(f->vif, page), RXP_GFN(f->vif, page), false);
		e->req = (struct netif_rx_request){ .id = (uint16_t)page, .gref = RXP_REF(f->vif, page) };
		f->rx_prod++;
	}
	push(f->rx, f->rx_prod, &f->rx_pushed, f->rx_port);
}

/* Takes the next received frame: true with it in buf, *len, *flags; false
 * when none came within `wait` seconds. */
static bool front_recv(struct front *f, uint8_t *buf, size_t *len, uint16_t *flags, double wait)
{
	double end = now() + wait;
	bool more = true;

	*len = 0;
	for (bool first = true; more; first = false) {
		const struct netif_rx_response *r;

		while (__atomic_load_n(idx(f->rx, SRING_RSP_PROD), __ATOMIC_ACQUIRE) == f->rx_cons) {
			if (now() > end) {
				ck_assert_msg(first, "a frame ended in the middle");
				return false;
			}
			usleep(100);
		}
		r = &((union netif_rx_sring_entry *)(f->rx + SRING_ENTRIES) + f->rx_cons % FE_RING)->rsp;
		/* The response sits in its request's slot. */
		ck_assert_uint_eq(r->id, f->rx_cons % FE_RING);
		ck_assert_int_ge(r->status, 0);
		ck_assert_uint_le(r->offset + r->status, PG);
		memcpy(buf + *len, gpage(RXP_GFN(f->vif, r->id)) + r->offset, (size_t)r->status);
		*len += (size_t)r->status;
		if (first)
			*flags = r->flags & (uint16_t)~NETRXF_more_data;
		more = r->flags & NETRXF_more_data;
		f->rx_cons++;
		*idx(f->rx, SRING_RSP_EVENT) = f->rx_cons + 1;
	}
	return true;
}

/* A UDP/IPv4 frame of len bytes whose payload is a pattern of seed. */
static size_t make_frame(uint8_t *buf, size_t len, unsigned seed)
{
	memcpy(buf, udp4, 14 + 20 + 8);
	set16(buf + 14 + 2, (uint16_t)(len - 14));
	set16(buf + 14 + 20 + 4, (uint16_t)(len - 14 - 20));
	net__ipv4_csum(buf, 14);
	for (size_t i = 14 + 20 + 8; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + seed);
	ck_assert_int_eq(net__csum_fill(buf, len), 0);
	return len;
}

static void counters(unsigned vif, struct net_counters *c)
{
	ck_assert_int_eq(net__counters(&vm, vif, c), 0);
}

/* ---- fixture ---- */

static void backend_setup_with(const char *const *specs, int n)
{
	uint64_t gfns[GNTTAB_MAX_FRAMES];
	char err[256];

	log__set_level(LOG_ERROR);
	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	snprintf(sock_path, sizeof(sock_path), "%s/netif-%d.sock", TEST_TMPDIR, getpid());
	for (int i = 0; i < n; i++) {
		char spec[256];

		snprintf(spec, sizeof(spec), specs[i], sock_path);
		ck_assert_msg(!net__parse_spec(spec, &cfg.net[i], err, sizeof(err)), "%s", err);
	}
	cfg.nr_nets = n;
	ck_assert_int_eq(gmem__init(&vm.mem, RAM), 0);
	xen__domain_init(&vm);
	vm.xen.has_shared_info = true;
	vm.xen.shared_info_gfn = SHINFO_GFN;
	ck_assert_int_eq(evtchn__init(&vm), 0);
	ck_assert_int_eq(gnttab__init(&vm), 0);
	ck_assert_int_eq(gnttab__setup_table(&vm, DOMID_SELF, NR_GT_FRAMES, gfns), GNTST_okay);
	for (int i = 0; i < NR_GT_FRAMES; i++)
		gt[i] = (grant_entry_v1_t *)gpage(gfns[i]);
	ck_assert_int_eq(loop__init(&vm.loop), 0);
	ck_assert_int_eq(xenstored__start(&vm, "netif"), 0);
	run = calloc(1, sizeof(*run));
	run->s.regs.sregs.cr0 = 1;      /* protected mode, paging off */
	cpu = (struct vcpu){ .vm = &vm, .run = run };
	for (unsigned v = 0; v < NR_VIFS; v++)
		for (unsigned i = 0; i < 64; i++)
			grant(TXP_REF(v, i), TXP_GFN(v, i), true);
	vm.cfg = &cfg;
	ck_assert_int_eq(net__open(&vm), 0);
	ck_assert_int_eq(net__start(&vm), 0);
	for (int i = 0; i < n; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/1/%d", i);
		wait_state(path, XenbusStateInitWait);
	}
}

/* vif 0 and vif 1 joined by a socket link (vif 0 listens). */
static void backend_setup(void)
{
	static const char *const specs[] = { "socket,listen=%s", "socket,connect=%s" };

	backend_setup_with(specs, 2);
}

/* The host port forwarded to the guest's UDP port 5000. */
static unsigned fwd_port;

/* vif 0 on user networking, with a UDP port forwarded. */
static void user_setup(void)
{
	static char spec[64];
	static const char *const specs[] = { spec };

	fwd_port = 20000 + (unsigned)getpid() % 20000;
	snprintf(spec, sizeof(spec), "user,hostfwd=udp::%u-:5000", fwd_port);
	backend_setup_with(specs, 1);
}

static void backend_teardown(void)
{
	net__destroy(&vm);
	ck_assert_ptr_null(vm.net);
	xenstored__stop(&vm);
	loop__destroy(&vm.loop);
	gnttab__destroy(&vm);
	evtchn__destroy(&vm);
	gmem__free(&vm.mem);
	free(run);
	ck_assert_int_eq(access(sock_path, F_OK), -1);  /* the listener removed its socket */
}

/* Waits until vif 0's listener has its peer: a frame from f0 goes through
 * (earlier tries are answered DROPPED), and f1 receives it. */
static void link_up(struct front *f0, struct front *f1)
{
	static uint8_t frame[128], got[NET_FRAME_MAX];
	double end = now() + 10;
	size_t len = make_frame(frame, sizeof(frame), 99), n;
	uint16_t flags;
	int16_t st;

	for (;;) {
		front_put_frame(f0, frame, len, PG, 0, NULL, 0);
		front_push_tx(f0);
		front_tx_done(f0, 1, &st);
		if (st == NETIF_RSP_OKAY)
			break;
		ck_assert_int_eq(st, NETIF_RSP_DROPPED);
		ck_assert_msg(now() < end, "the socket link never came up");
		usleep(1000);
	}
	ck_assert(front_recv(f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(got, frame, len);
}

/* Both interfaces connected and linked, with buffers posted. */
static void two_fronts(struct front *f0, struct front *f1, bool split)
{
	static const struct fe_opts o = { .no_rx_notify = false };

	front_init(f0, 0, 0, split);
	front_init(f1, 1, 0, split);
	front_connect(f0, 1, &o);
	front_connect(f1, 1, &o);
	front_post_rx(f0, 200);
	front_post_rx(f1, 200);
	link_up(f0, f1);
}

START_TEST(backend_offers_its_features)
{
	char *mac0 = xs_get(BE(0) "/mac"), *mac1 = xs_get(BE(1) "/mac");
	uint8_t m0[6], m1[6], derived[6];

	expect_key(BE(0) "/feature-rx-copy", "1");
	expect_key(BE(0) "/feature-rx-flip", "0");
	expect_key(BE(0) "/feature-sg", "1");
	expect_key(BE(0) "/feature-gso-tcpv4", "1");
	expect_key(BE(0) "/feature-gso-tcpv6", "1");
	expect_key(BE(0) "/feature-no-csum-offload", "0");
	expect_key(BE(0) "/feature-ipv6-csum-offload", "1");
	expect_key(BE(0) "/feature-split-event-channels", "1");
	expect_key(BE(0) "/multi-queue-max-queues", "4");
	expect_key(BE(0) "/feature-rx-notify", "");       /* the frontend's to write */
	expect_key(BE(0) "/handle", "0");
	expect_key(BE(1) "/handle", "1");
	expect_key(FE(1) "/handle", "1");
	expect_key(FE(0) "/backend", BE(0));
	expect_key(FE(0) "/mac", mac0);
	expect_key(FE(1) "/mac", mac1);
	/* Derived from the VM's UUID and the interface's number. */
	ck_assert_int_eq(net__parse_mac(mac0, m0), 0);
	ck_assert_int_eq(net__parse_mac(mac1, m1), 0);
	net__derive_mac(vm.xen.handle, 0, derived);
	ck_assert_mem_eq(m0, derived, 6);
	net__derive_mac(vm.xen.handle, 1, derived);
	ck_assert_mem_eq(m1, derived, 6);
	free(mac0);
	free(mac1);
}
END_TEST

/* Frames of every size both ways, one slot or many on either side. */
START_TEST(frames_cross_the_link_both_ways)
{
	static uint8_t frame[NET_FRAME_MAX], got[NET_FRAME_MAX];
	static const size_t sizes[] = { 60, 1514, 4096, 4097, 9000, 20000, NET_FRAME_MAX };
	struct front f0, f1;
	struct net_counters c0, c1;
	uint16_t flags;
	size_t n;

	two_fronts(&f0, &f1, true);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = make_frame(frame, sizes[i], (unsigned)i);

		/* vif 0 sends in page-sized slots, vif 1 in slots of 1000. */
		front_send(&f0, frame, len, PG - 8, 0, NETIF_RSP_OKAY);
		ck_assert(front_recv(&f1, got, &n, &flags, 5));
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(got, frame, len);
		ck_assert_uint_eq(flags, 0);    /* nothing known of a peer's checksums */
		if (i % 2 == 0)
			front_post_rx(&f1, net_rx__slots(len));
		make_frame(frame, sizes[i], (unsigned)i + 50);
		front_send(&f1, frame, len, len > 19 * 1000 ? PG - 8 : 1000, 0, NETIF_RSP_OKAY);
		ck_assert(front_recv(&f0, got, &n, &flags, 5));
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(got, frame, len);
		front_post_rx(&f0, net_rx__slots(len));
	}
	counters(0, &c0);
	counters(1, &c1);
	ck_assert_uint_eq(c0.tx_packets, 1 + 7);
	ck_assert_uint_eq(c1.rx_packets, 1 + 7);
	ck_assert_uint_eq(c1.tx_packets, 7);
	ck_assert_uint_eq(c0.rx_packets, 7);
	ck_assert_uint_eq(c0.tx_errors + c1.tx_errors + c0.rx_dropped + c1.rx_dropped, 0);
	/* No grant stays in use. */
	for (unsigned i = 0; i < 64; i++)
		ck_assert_uint_eq(grant_flags(TXP_REF(0, i)), GTF_permit_access | GTF_readonly);
	for (unsigned i = 0; i < FE_RING; i++)
		ck_assert_uint_eq(grant_flags(RXP_REF(1, i)) & (GTF_reading | GTF_writing), 0);
}
END_TEST

/* A blank checksum is finished before the frame leaves; GSO frames leave
 * as segments, each complete. */
START_TEST(offloads_are_finished_before_the_link)
{
	static uint8_t frame[NET_FRAME_MAX], got[NET_FRAME_MAX];
	struct netif_extra_info gso = { .type = XEN_NETIF_EXTRA_TYPE_GSO };
	struct front f0, f1;
	int16_t st[8];
	uint16_t flags;
	size_t n, len;

	two_fronts(&f0, &f1, false);
	memcpy(frame, tcp6, sizeof(tcp6));
	set16(frame + 14 + 40 + 8 + 16, 0x1234);         /* what a frontend left there */
	front_send(&f0, frame, sizeof(tcp6), PG - 8, NETTXF_csum_blank, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, sizeof(tcp6));
	ck_assert_uint_eq(get16(got + 14 + 40 + 8 + 16), TCP6_CSUM);

	len = big_tcp(frame, false);
	gso.u.gso.size = 1448;
	gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
	ck_assert_uint_eq(front_put_frame(&f0, frame, len, 1000, NETTXF_csum_blank, &gso, 1), 1 + 1 + 3);
	front_push_tx(&f0);
	front_tx_done(&f0, 5, st);
	ck_assert_int_eq(st[0], NETIF_RSP_OKAY);
	ck_assert_int_eq(st[1], NETIF_RSP_NULL);          /* the extra-info entry */
	for (int i = 2; i < 5; i++)
		ck_assert_int_eq(st[i], NETIF_RSP_OKAY);
	for (unsigned s = 0; s < 3; s++) {
		unsigned chunk = s < 2 ? 1448 : 3500 - 2 * 1448;

		ck_assert(front_recv(&f1, got, &n, &flags, 5));
		ck_assert_uint_eq(n, 34 + 20 + chunk);
		ck_assert_mem_eq(got + 54, frame + 54 + 1448 * s, chunk);
		ck_assert(l4_csum_ok(got, n));
	}
	/* GSO of what is not TCP, a blank checksum on ARP: refused. */
	gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV6;
	front_put_frame(&f0, frame, len, PG - 8, 0, &gso, 1);
	memcpy(got, udp4, sizeof(udp4));
	set16(got + 12, 0x0806);
	front_put_frame(&f0, got, sizeof(udp4), PG - 8, NETTXF_csum_blank, NULL, 0);
	front_push_tx(&f0);
	front_tx_done(&f0, 3, st);
	ck_assert_int_eq(st[0], NETIF_RSP_ERROR);
	ck_assert_int_eq(st[1], NETIF_RSP_NULL);
	ck_assert_int_eq(st[2], NETIF_RSP_ERROR);
	ck_assert(!front_recv(&f1, got, &n, &flags, 0.2));
}
END_TEST

/* Bad requests are answered with errors and touch nothing; the queue goes
 * on.  Then a fatal one: the device goes Closing, and comes back. */
START_TEST(bad_requests_get_errors)
{
	static uint8_t frame[4096], got[NET_FRAME_MAX];
	union netif_tx_sring_entry *e;
	struct net_counters c;
	struct front f0, f1;
	int16_t st[32];
	uint16_t flags;
	size_t n, len;
	unsigned k;

	two_fronts(&f0, &f1, false);
	len = make_frame(frame, 600, 3);
	/* A grant that is not there. */
	front_put_frame(&f0, frame, len, PG - 8, 0, NULL, 0);
	tx_entry(&f0, f0.tx_prod - 1)->req.gref = 1500;
	/* 20 slots of 30 bytes. */
	k = front_put_frame(&f0, frame, len, 30, 0, NULL, 0);
	ck_assert_uint_eq(k, 20);
	/* A later slot larger than the first says is left. */
	front_put_frame(&f0, frame, len, 400, 0, NULL, 0);
	tx_entry(&f0, f0.tx_prod - 2)->req.size = 150;
	/* 10 bytes in the first slot. */
	front_put_frame(&f0, frame, 10, PG - 8, 0, NULL, 0);
	front_push_tx(&f0);
	front_tx_done(&f0, 1 + 20 + 2 + 1, st);
	for (unsigned i = 0; i < 24; i++)
		ck_assert_msg(st[i] == NETIF_RSP_ERROR, "response %u: %d", i, st[i]);
	ck_assert(!front_recv(&f1, got, &n, &flags, 0.2));
	counters(0, &c);
	ck_assert_uint_eq(c.tx_errors, 4);
	expect_key(BE(0) "/state", "4");
	/* The queue goes on. */
	front_send(&f0, frame, len, 100, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_mem_eq(got, frame, len);

	/* A slot across its page is fatal: no response, the device closes. */
	front_put_frame(&f0, frame, len, PG - 8, 0, NULL, 0);
	e = tx_entry(&f0, f0.tx_prod - 1);
	e->req.offset = 4000;
	front_push_tx(&f0);
	wait_state(BE(0), XenbusStateClosing);
	char *err = xs_get(ERR(0));
	ck_assert_msg(strstr(err, "crosses its page"), "error node: '%s'", err);
	free(err);
	ck_assert_uint_eq(__atomic_load_n(idx(f0.tx, SRING_RSP_PROD), __ATOMIC_ACQUIRE), f0.tx_cons);
	xs_put(FE(0) "/state", "%d", XenbusStateClosed);
	wait_state(BE(0), XenbusStateClosed);
	ck_assert_uint_eq(grant_flags(RING_REF(0, 0)), GTF_permit_access);
	/* The frontend starts over, and the interface works again. */
	xs_put(FE(0) "/state", "%d", XenbusStateInitialising);
	wait_state(BE(0), XenbusStateInitWait);
	front_init(&f0, 0, 0, false);
	front_connect(&f0, 1, &(struct fe_opts){ .no_sg = false });
	front_post_rx(&f0, 16);
	front_send(&f0, frame, len, PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_mem_eq(got, frame, len);
}
END_TEST

START_TEST(lying_indices_disconnect)
{
	struct front f0, f1;

	two_fronts(&f0, &f1, false);
	__atomic_store_n(idx(f0.tx, SRING_REQ_PROD), f0.tx_prod + FE_RING + 5, __ATOMIC_RELEASE);
	send_event(f0.tx_port);
	wait_state(BE(0), XenbusStateClosing);
	char *err = xs_get(ERR(0));
	ck_assert_msg(strstr(err, "corrupt"), "error node: '%s'", err);
	free(err);
	/* The receive ring too. */
	__atomic_store_n(idx(f1.rx, SRING_REQ_PROD), f1.rx_prod + 3 * FE_RING, __ATOMIC_RELEASE);
	send_event(f1.rx_port);
	wait_state(BE(1), XenbusStateClosing);
}
END_TEST

/* Frames wait for buffers in order; a full backlog drops and counts. */
START_TEST(receive_waits_for_buffers_then_drops)
{
	static uint8_t frame[256], got[NET_FRAME_MAX];
	struct net_counters c;
	struct front f0, f1;
	int16_t st[FE_RING];
	uint16_t flags;
	size_t n, len;

	two_fronts(&f0, &f1, true);
	/* Use up vif 1's buffers: 199 are left after link_up. */
	for (unsigned i = 0; i < 199; i++) {
		front_put_frame(&f0, frame, make_frame(frame, 60, i), PG - 8, 0, NULL, 0);
		if (i % 64 == 63 || i == 198) {
			front_push_tx(&f0);
			front_tx_done(&f0, i % 64 + 1, st);
		}
	}
	for (unsigned i = 0; i < 199; i++)
		ck_assert(front_recv(&f1, got, &n, &flags, 5));
	/* Three frames with no buffer: they wait. */
	for (unsigned i = 0; i < 3; i++)
		front_send(&f0, frame, make_frame(frame, 100 + i, 200 + i), PG - 8, 0, NETIF_RSP_OKAY);
	usleep(100000);
	ck_assert(!front_recv(&f1, got, &n, &flags, 0));
	counters(1, &c);
	ck_assert_uint_eq(c.rx_dropped, 0);
	/* Buffers come (the backend asked to be told), and so do the frames,
	 * oldest first. */
	ck_assert_uint_eq(*idx(f1.rx, SRING_REQ_EVENT), f1.rx_prod + 1);
	front_post_rx(&f1, 3);
	for (unsigned i = 0; i < 3; i++) {
		len = make_frame(frame, 100 + i, 200 + i);
		ck_assert(front_recv(&f1, got, &n, &flags, 5));
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(got, frame, len);
	}
	/* The backlog holds NET_RX_BACKLOG frames; those after are dropped. */
	for (unsigned i = 0; i < NET_RX_BACKLOG + 10; i++) {
		front_put_frame(&f0, frame, make_frame(frame, 60, i), PG - 8, 0, NULL, 0);
		if (i % 64 == 63 || i == NET_RX_BACKLOG + 9) {
			front_push_tx(&f0);
			front_tx_done(&f0, i % 64 + 1, st);
		}
	}
	double end = now() + 5;
	do {
		usleep(1000);
		counters(1, &c);
	} while (c.rx_dropped < 10 && now() < end);
	ck_assert_uint_eq(c.rx_dropped, 10);
}
END_TEST

/* A frontend without feature-sg gets only one-page frames; one without
 * rx-notify is polled for its buffers. */
START_TEST(frontend_features_are_honoured)
{
	static uint8_t frame[NET_FRAME_MAX], got[NET_FRAME_MAX];
	struct net_counters c;
	struct front f0, f1;
	uint16_t flags;
	size_t n, len;

	front_init(&f0, 0, 0, false);
	front_init(&f1, 1, 0, false);
	front_connect(&f0, 1, &(struct fe_opts){ .no_sg = false });
	front_connect(&f1, 1, &(struct fe_opts){ .no_sg = true, .no_rx_notify = true });
	front_post_rx(&f1, 4);
	link_up(&f0, &f1);
	len = make_frame(frame, 5000, 1);
	front_send(&f0, frame, len, PG - 8, 0, NETIF_RSP_OKAY);
	len = make_frame(frame, 1500, 2);
	front_send(&f0, frame, len, PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, 1500);
	counters(1, &c);
	ck_assert_uint_eq(c.rx_dropped, 1);
	/* Out of buffers; without rx-notify the buffers are found anyway. */
	for (unsigned i = 0; i < 3; i++)
		front_send(&f0, frame, make_frame(frame, 70, i), PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	front_send(&f0, frame, make_frame(frame, 80, 9), PG - 8, 0, NETIF_RSP_OKAY);
	usleep(50000);
	/* Two buffers posted with no notification at all. */
	for (int i = 0; i < 2; i++) {
		unsigned page = f1.rx_prod % FE_RING;

		grant(RXP_REF(1, page), RXP_GFN(1, page), false);
		((union netif_rx_sring_entry *)(f1.rx + SRING_ENTRIES))[page].req =
			(struct netif_rx_request){ .id = (uint16_t)page, .gref = RXP_REF(1, page) };
		f1.rx_prod++;
	}
	__atomic_store_n(idx(f1.rx, SRING_REQ_PROD), f1.rx_prod, __ATOMIC_RELEASE);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, 70);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, 80);
}
END_TEST

/* rsp_event: the frontend hears of responses only when it asked. */
START_TEST(notifies_only_when_asked)
{
	static uint8_t frame[256];
	struct front f0, f1;
	int16_t st[4];

	two_fronts(&f0, &f1, true);
	/* Let the backend settle after connecting (binding a channel makes
	 * it pending, as Xen does) before watching for notifications. */
	usleep(50000);
	take_pending(f0.tx_port);
	*idx(f0.tx, SRING_RSP_EVENT) = f0.tx_cons + 3;
	front_put_frame(&f0, frame, make_frame(frame, 60, 1), PG - 8, 0, NULL, 0);
	front_push_tx(&f0);
	while (__atomic_load_n(idx(f0.tx, SRING_RSP_PROD), __ATOMIC_ACQUIRE) != f0.tx_cons + 1)
		usleep(100);
	usleep(50000);
	ck_assert(!take_pending(f0.tx_port));
	front_put_frame(&f0, frame, make_frame(frame, 60, 2), PG - 8, 0, NULL, 0);
	front_put_frame(&f0, frame, make_frame(frame, 60, 3), PG - 8, 0, NULL, 0);
	front_push_tx(&f0);
	double end = now() + 5;
	while (!take_pending(f0.tx_port))
		ck_assert(now() < end);
	front_tx_done(&f0, 3, st);
	/* Before sleeping, the backend asked for the next request. */
	usleep(20000);
	ck_assert_uint_eq(*idx(f0.tx, SRING_REQ_EVENT), f0.tx_prod + 1);
}
END_TEST

/* Two queues with split channels on vif 0: either queue's frames go out,
 * and frames come in on one of them. */
START_TEST(multiple_queues)
{
	static uint8_t frame[2048], got[NET_FRAME_MAX];
	struct front q[2], f1;
	uint16_t flags;
	size_t n, len;

	front_init(&q[0], 0, 0, true);
	front_init(&q[1], 0, 1, true);
	front_init(&f1, 1, 0, false);
	front_connect(q, 2, &(struct fe_opts){ .no_sg = false });
	front_connect(&f1, 1, &(struct fe_opts){ .no_sg = false });
	front_post_rx(&f1, 64);
	link_up(&q[1], &f1);
	len = make_frame(frame, 1000, 5);
	front_send(&q[0], frame, len, PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_mem_eq(got, frame, len);
	/* Both queues of vif 0 have buffers; the frame lands in one. */
	for (int i = 0; i < 2; i++) {
		q[i].next_page = 32;
		front_post_rx(&q[i], 8);
	}
	front_send(&f1, frame, len, PG - 8, 0, NETIF_RSP_OKAY);
	double end = now() + 5;
	for (;;) {
		if (front_recv(&q[0], got, &n, &flags, 0) || front_recv(&q[1], got, &n, &flags, 0))
			break;
		ck_assert(now() < end);
		usleep(500);
	}
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(got, frame, len);
	expect_key(BE(0) "/state", "4");
}
END_TEST

START_TEST(bad_frontend_keys_fail_the_connection)
{
	struct front f;
	static const char *const keys[][2] = {
		{ FE(0) "/request-rx-copy", "0" },
		{ FE(0) "/multi-queue-num-queues", "5" },
		{ FE(0) "/tx-ring-ref", "1400" },
		{ FE(0) "/event-channel", "4000" },
		{ FE(0) "/feature-sg", "yes" },
	};

	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		front_init(&f, 0, 0, false);
		xs_put(FE(0) "/tx-ring-ref", "%u", RING_REF(0, 0));
		xs_put(FE(0) "/rx-ring-ref", "%u", RING_REF(0, 0) + 1);
		xs_put(FE(0) "/event-channel", "%u", f.tx_port);
		xs_put(FE(0) "/request-rx-copy", "1");
		xs__rm(vm.xenstored->store, FE(0) "/multi-queue-num-queues");
		xs__rm(vm.xenstored->store, FE(0) "/feature-sg");
		xs_put(keys[i][0], "%s", keys[i][1]);
		xs_put(FE(0) "/state", "%d", XenbusStateConnected);
		wait_state(BE(0), XenbusStateClosing);
		char *err = xs_get(ERR(0));
		ck_assert_msg(*err, "no error for %s = %s", keys[i][0], keys[i][1]);
		free(err);
		xs_put(FE(0) "/state", "%d", XenbusStateClosed);
		wait_state(BE(0), XenbusStateClosed);
		xs_put(FE(0) "/state", "%d", XenbusStateInitialising);
		wait_state(BE(0), XenbusStateInitWait);
	}
	/* Nothing was left mapped. */
	ck_assert_uint_eq(grant_flags(RING_REF(0, 0)), GTF_permit_access);
	ck_assert_uint_eq(grant_flags(RING_REF(0, 0) + 1), GTF_permit_access);
}
END_TEST

/* One link, one peer: a third party that connects while vif 1 is there is
 * refused, and frames keep going to vif 1 alone. */
START_TEST(socket_link_takes_one_peer)
{
	static uint8_t frame[2048], got[NET_FRAME_MAX];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	struct front f0, f1;
	uint16_t flags;
	size_t n, len;
	int fd;

	two_fronts(&f0, &f1, false);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	/* Closed without a frame. */
	ck_assert_int_eq(recv(fd, got, sizeof(got), 0), 0);
	close(fd);
	len = make_frame(frame, 700, 1);
	front_send(&f0, frame, len, 100, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f1, got, &n, &flags, 5));
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(got, frame, len);
}
END_TEST

/* ---- user networking ---- */

/* ARP: who has 10.0.2.2?  From the guest's MAC and 10.0.2.15. */
static size_t arp_request(uint8_t *f, const uint8_t mac[6])
{
	static const uint8_t head[] = { 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1 };

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	memcpy(f + 12, head, sizeof(head));
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, (uint8_t[]){ 10, 0, 2, 15 }, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, (uint8_t[]){ 10, 0, 2, 2 }, 4);
	memset(f + 42, 0, 18);
	return 60;
}

/* DHCPDISCOVER from mac, broadcast. */
static size_t dhcp_discover(uint8_t *f, const uint8_t mac[6])
{
	size_t l4 = 14 + 20, dhcp = l4 + 8, len = dhcp + 240 + 4;
	uint8_t *b = f + dhcp;

	memset(f, 0, len);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	set16(f + 12, 0x0800);
	f[14] = 0x45;
	set16(f + 16, (uint16_t)(len - 14));
	f[22] = 64;
	f[23] = IPPROTO_UDP;
	memset(f + 30, 0xff, 4);                  /* to 255.255.255.255 from 0.0.0.0 */
	net__ipv4_csum(f, 14);
	set16(f + l4, 68);
	set16(f + l4 + 2, 67);
	set16(f + l4 + 4, (uint16_t)(len - l4));
	b[0] = 1;                                 /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4);     /* xid */
	memcpy(b + 28, mac, 6);                   /* chaddr */
	memcpy(b + 236, "\x63\x82\x53\x63", 4);   /* magic cookie */
	memcpy(b + 240, "\x35\x01\x01\xff", 4);   /* DHCPDISCOVER, end */
	ck_assert_int_eq(net__csum_fill(f, len), 0);
	return len;
}

START_TEST(user_network_answers_arp_and_dhcp)
{
	static uint8_t frame[600], got[NET_FRAME_MAX];
	uint8_t mac[6];
	struct front f;
	uint16_t flags;
	size_t n;
	char *text = xs_get(FE(0) "/mac");
	bool offered = false;

	ck_assert_int_eq(net__parse_mac(text, mac), 0);
	free(text);
	front_init(&f, 0, 0, false);
	front_connect(&f, 1, &(struct fe_opts){ .no_csum = true });
	front_post_rx(&f, 32);
	front_send(&f, frame, arp_request(frame, mac), PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f, got, &n, &flags, 5));
	ck_assert_uint_ge(n, 42);
	ck_assert_mem_eq(got, mac, 6);                         /* to the guest */
	ck_assert_uint_eq(get16(got + 12), 0x0806);
	ck_assert_uint_eq(get16(got + 20), 2);                 /* a reply */
	ck_assert_mem_eq(got + 28, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	ck_assert_mem_eq(got + 32, mac, 6);

	front_send(&f, frame, dhcp_discover(frame, mac), PG - 8, 0, NETIF_RSP_OKAY);
	while (!offered && front_recv(&f, got, &n, &flags, 5)) {
		const uint8_t *b = got + 14 + 20 + 8;

		if (get16(got + 12) != 0x0800 || got[23] != IPPROTO_UDP || get16(got + 34 + 2) != 68)
			continue;
		ck_assert_uint_eq(b[0], 2);                      /* BOOTREPLY */
		ck_assert_mem_eq(b + 4, "\x12\x34\x56\x78", 4);
		ck_assert_mem_eq(b + 16, ((uint8_t[]){ 10, 0, 2, 15 }), 4);  /* yiaddr */
		ck_assert_uint_eq(flags & NETRXF_data_validated, NETRXF_data_validated);
		ck_assert(l4_csum_ok(got, n));
		offered = true;
	}
	ck_assert_msg(offered, "no DHCPOFFER came");
}
END_TEST

/* The reply to a UDP frame: addresses and ports swapped, a new payload. */
static size_t udp_reply(uint8_t *f, const uint8_t *to, const char *text)
{
	size_t n = strlen(text), len = 14 + 20 + 8 + n;

	memcpy(f, to + 6, 6);
	memcpy(f + 6, to, 6);
	memcpy(f + 12, to + 12, 14 + 20 - 12);
	memcpy(f + 26, to + 30, 4);
	memcpy(f + 30, to + 26, 4);
	set16(f + 16, (uint16_t)(20 + 8 + n));
	net__ipv4_csum(f, 14);
	set16(f + 34, get16(to + 36));
	set16(f + 36, get16(to + 34));
	set16(f + 38, (uint16_t)(8 + n));
	memcpy(f + 42, text, n);
	ck_assert_int_eq(net__csum_fill(f, len), 0);
	return len;
}

/* A host process and the guest talk UDP through hostfwd. */
START_TEST(user_network_forwards_udp)
{
	static uint8_t frame[600], got[NET_FRAME_MAX];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fwd_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char *text = xs_get(FE(0) "/mac"), reply[16] = "";
	uint8_t mac[6];
	struct front f;
	uint16_t flags;
	bool came = false;
	size_t n;
	int fd;

	ck_assert_int_eq(net__parse_mac(text, mac), 0);
	free(text);
	front_init(&f, 0, 0, false);
	front_connect(&f, 1, &(struct fe_opts){ .no_csum = true });
	front_post_rx(&f, 32);
	/* The guest makes itself known (the ARP reply is not needed). */
	front_send(&f, frame, arp_request(frame, mac), PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert(front_recv(&f, got, &n, &flags, 5));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	ck_assert_int_eq(sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	while (!came && front_recv(&f, got, &n, &flags, 5)) {
		if (get16(got + 12) != 0x0800 || got[23] != IPPROTO_UDP)
			continue;
		ck_assert_mem_eq(got + 30, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
		ck_assert_uint_eq(get16(got + 36), 5000);
		ck_assert_uint_eq(n, 14 + 20 + 8 + 4);
		ck_assert_mem_eq(got + 42, "ping", 4);
		came = true;
	}
	ck_assert_msg(came, "the forwarded datagram never reached the guest");
	front_send(&f, frame, udp_reply(frame, got, "pong"), PG - 8, 0, NETIF_RSP_OKAY);
	ck_assert_int_eq(recv(fd, reply, sizeof(reply), 0), 4);
	ck_assert_str_eq(reply, "pong");
	close(fd);
}
END_TEST

static Suite *netif_suite(void)
{
	Suite *s = suite_create("netif");
	TCase *pure = tcase_create("pure");
	TCase *be = tcase_create("backend");
	TCase *user = tcase_create("user");

	tcase_add_loop_test(pure, tx_validation_table, 0, sizeof(tcases) / sizeof(tcases[0]));
	tcase_add_test(pure, tx_every_verdict_is_in_the_table);
	tcase_add_test(pure, tx_extras_are_read);
	tcase_add_loop_test(pure, checksums_of_known_packets, 0, sizeof(known) / sizeof(known[0]));
	tcase_add_test(pure, checksum_edge_cases);
	tcase_add_test(pure, gso_segments_tcpv4);
	tcase_add_test(pure, gso_segments_tcpv6);
	tcase_add_test(pure, rx_slot_splitting);
	tcase_add_test(pure, mac_derivation_is_stable);
	tcase_add_test(pure, mac_text);
	tcase_add_test(pure, hostfwd_rules);
	tcase_add_test(pure, cli_net_options);
	tcase_add_test(pure, config_net_round_trip);
	suite_add_tcase(s, pure);

	tcase_add_checked_fixture(be, backend_setup, backend_teardown);
	tcase_set_timeout(be, 60);
	tcase_add_test(be, backend_offers_its_features);
	tcase_add_test(be, frames_cross_the_link_both_ways);
	tcase_add_test(be, offloads_are_finished_before_the_link);
	tcase_add_test(be, bad_requests_get_errors);
	tcase_add_test(be, lying_indices_disconnect);
	tcase_add_test(be, receive_waits_for_buffers_then_drops);
	tcase_add_test(be, frontend_features_are_honoured);
	tcase_add_test(be, notifies_only_when_asked);
	tcase_add_test(be, multiple_queues);
	tcase_add_test(be, bad_frontend_keys_fail_the_connection);
	tcase_add_test(be, socket_link_takes_one_peer);
	suite_add_tcase(s, be);

	tcase_add_checked_fixture(user, user_setup, backend_teardown);
	tcase_set_timeout(user, 60);
	tcase_add_test(user, user_network_answers_arp_and_dhcp);
	tcase_add_test(user, user_network_forwards_udp);
	suite_add_tcase(s, user);
	return s;
}

CHECK_MAIN(netif_suite)
