/*
 * libFuzzer harness for the network backend's request path: a hostile
 * frontend's whole view of a queue comes from the input, and so do the
 * frames the host side delivers.
 *
 * Input: one byte of settings (feature-sg, blank checksums allowed for IPv4
 * and IPv6), the transmit ring page and the receive ring page (headers
 * included, so the indices may lie), bytes XORed into grant-table entries
 * 8..63, the pages those grants name, then frames for the guest, each a
 * 16-bit length and its bytes.  The rings' own grants (refs 0 and 1) are
 * always valid, and entries 8..63 start as valid grants of the data pages,
 * so short inputs reach the copies as well.
 *
 * Each input builds a queue on real guest memory and grant tables and
 * serves it as the backend thread would (net_queue__run, the frames through
 * net_queue__receive, net_queue__prepare_sleep), finishing each transmitted
 * frame as netback does for a link without offloads (checksum, GSO
 * segmentation).  Checked whatever the guest wrote: every frame handed on
 * is an Ethernet frame no longer than NET_FRAME_MAX, every segment's
 * checksum is what computing it again gives, and once the queue is gone no
 * grant is left in use.  AddressSanitizer and UBSan catch the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "net/link.h"
#include "net/offload.h"
#include "net/queue.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xen/xen_abi.h"
#include <xen/io/netif.h>

#define PG           4096u
#define RAM          (4ULL << 20)
#define TX_RING_GFN  0x10        /* ref 0 */
#define RX_RING_GFN  0x11        /* ref 1 */
#define DATA_GFN     0x20        /* pages the fuzzed grants are likely to name */
#define NR_DATA      16
#define FIRST_FUZZED_REF 8
#define NR_REFS      64

static struct vm vm;
static grant_entry_v1_t *table;
static uint8_t seg_buf[NET_FRAME_MAX], check_buf[NET_FRAME_MAX];

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "fuzz_netif: %s\n", what);
	abort();
}

static void init(void)
{
	uint64_t gfn[GNTTAB_MAX_FRAMES];

	log__set_level(LOG_ERROR);
	if (gmem__init(&vm.mem, RAM))
		die("gmem__init");
	xen__domain_init(&vm);
	if (evtchn__init(&vm) || gnttab__init(&vm) ||
	    gnttab__setup_table(&vm, DOMID_SELF, 1, gfn) != GNTST_okay)
		die("grant tables");
	table = gmem__frame(&vm.mem, gfn[0]);
}

/* Copies up to len bytes of the input into dst (the rest zeroed). */
static size_t take(uint8_t *dst, size_t len, const uint8_t **data, size_t *size)
{
	size_t n = *size < len ? *size : len;

	memset(dst, 0, len);
	memcpy(dst, *data, n);
	*data += n;
	*size -= n;
	return n;
}

static void check_segment(uint8_t *seg, size_t len, void *opaque)
{
	(void)opaque;
	if (len > NET_FRAME_MAX || len < NET_ETH_HLEN)
		die("a segment of impossible length");
	/* A finished checksum is a fixed point of finishing it again. */
	memcpy(check_buf, seg, len);
	if (net__csum_fill(check_buf, len) || memcmp(check_buf, seg, len))
		die("a segment left with a wrong checksum");
}

/* What netback does with a frame for a link without offloads. */
static int16_t transmit(void *opaque, struct net_frame *f)
{
	(void)opaque;
	if (f->len > NET_FRAME_MAX || f->len < NET_ETH_HLEN)
		die("a frame of impossible length handed on");
	if (f->gso_type != XEN_NETIF_GSO_TYPE_NONE)
		return net__gso_segment(f->data, f->len, f->gso_size,
					f->gso_type == XEN_NETIF_GSO_TYPE_TCPV6, seg_buf,
					check_segment, NULL) < 0 ? NETIF_RSP_ERROR : NETIF_RSP_OKAY;
	if (f->csum == NET_CSUM_BLANK && net__csum_fill(f->data, f->len))
		return NETIF_RSP_ERROR;
	return NETIF_RSP_OKAY;
}

static void on_fatal(void *opaque, const char *name, const char *why)
{
	(void)opaque;
	(void)name;
	(void)why;
}

/* The frames for the guest: a 16-bit length, then its bytes. */
static void deliver_frames(struct net_queue *q, const uint8_t *data, size_t size)
{
	static uint8_t frame[NET_FRAME_MAX + 1];

	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		struct net_frame f = { .data = frame, .csum = (enum net_csum)(data[2] % 4) };

		data += 3;
		size -= 3;
		f.len = take(frame, len, &data, &size);
		if (f.csum == NET_CSUM_PARTIAL && f.len >= 4) {
			f.csum_start = (uint16_t)(frame[0] | frame[1] << 8);
			f.csum_offset = (uint16_t)(frame[2] | frame[3] << 8);
		}
		net_queue__receive(q, &f);
		net_queue__run(q);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static struct net_stats stats;
	uint8_t settings = 0, perturb[(NR_REFS - FIRST_FUZZED_REF) * sizeof(grant_entry_v1_t)];
	struct net_queue *q;

	if (!ready) {
		init();
		ready = true;
	}
	take(&settings, 1, &data, &size);
	take(gmem__frame(&vm.mem, TX_RING_GFN), PG, &data, &size);
	take(gmem__frame(&vm.mem, RX_RING_GFN), PG, &data, &size);
	table[0] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0, .frame = TX_RING_GFN };
	table[1] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0, .frame = RX_RING_GFN };
	take(perturb, sizeof(perturb), &data, &size);
	for (unsigned r = FIRST_FUZZED_REF; r < NR_REFS; r++) {
		uint8_t *e = (uint8_t *)&table[r];

		table[r] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0,
					       .frame = DATA_GFN + r % NR_DATA };
		for (unsigned b = 0; b < sizeof(table[r]); b++)
			e[b] ^= perturb[(r - FIRST_FUZZED_REF) * sizeof(table[r]) + b];
		/* The in-use marks are the backend's to set: start without
		 * them, so that any left at the end are the backend's leak. */
		table[r].flags &= (uint16_t)~(GTF_reading | GTF_writing);
	}
	take(gmem__ptr(&vm.mem, (uint64_t)DATA_GFN * PG, (uint64_t)NR_DATA * PG), NR_DATA * PG,
	     &data, &size);

	struct net_queue_config cfg = {
		.vm = &vm, .name = "fuzz", .tx_ref = 0, .rx_ref = 1,
		.sg = settings & 1, .csum_v4 = settings & 2, .csum_v6 = settings & 4,
		.stats = &stats, .transmit = transmit, .on_fatal = on_fatal,
	};
	if (net_queue__create(&cfg, &q))
		die("net_queue__create");
	/* Twice: the second pass sees the rings as the first left them. */
	net_queue__run(q);
	deliver_frames(q, data, size);
	net_queue__prepare_sleep(q);
	net_queue__run(q);
	net_queue__destroy(q);

	for (unsigned r = 0; r < NR_REFS; r++)
		if (table[r].flags & (GTF_reading | GTF_writing))
			die("a grant is still in use after the queue went");
	return 0;
}
