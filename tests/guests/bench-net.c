/*
 * The network benchmark's guest (bench/net_bench.py): raw Ethernet frames
 * through the netif backend to a host process on the other end of a
 * socket link (bench/net_host.c), and from it.
 *
 * Phases, in order: tx-60, tx-1514 (send frames=N frames of that many
 * bytes as fast as the ring takes them, then the phase's end frame), then
 * rx-60, rx-1514 (count the frames the host sends until its end frame,
 * telling the host every 64 frames how many we took: a frame
 * "pvmm-bench-credit NAME COUNT", so that it keeps no more in flight than
 * the receive ring holds and none is dropped).
 * Each prints "bench-net: begin NAME" (tx) or "bench-net: ready NAME" (rx:
 * the host starts sending then) and "bench-net: end NAME frames=F
 * bytes=B ns=T ok=K dropped=D" (tx: responses NETIF_RSP_OKAY and
 * NETIF_RSP_DROPPED, T from the first request to the last response; rx:
 * T from the first frame to the end frame).  End frames are EtherType
 * 0x88b5 with the payload "pvmm-bench-end NAME".
 *
 * The loops do as little as they can (guest code is emulated here): every
 * transmit page holds the phase's frame before it starts, requests are
 * published 32 at a time, responses taken only when the ring runs out of
 * room.
 */
#include "netfront.h"

#define SEC_NS          1000000000ull
#define PHASE_NS        (300 * SEC_NS)          /* something broke */
#define BATCH           32
#define ETHERTYPE       0x88b5
#define END_TAG         "pvmm-bench-end "
#define CREDIT_TAG      "pvmm-bench-credit "
#define CREDIT_EVERY    64

static struct netfront nf;

static void fill_frame(uint8_t *f, uint16_t len)
{
	memset(f, 0xff, ETH_ALEN);
	memcpy(f + ETH_ALEN, nf.mac, ETH_ALEN);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	memset(f + 14, 0xa5, len - 14u);
}

static uint16_t end_frame(uint8_t *f, const char *name)
{
	fill_frame(f, 60);
	memset(f + 14, 0, 46);
	memcpy(f + 14, END_TAG, sizeof(END_TAG) - 1);
	memcpy(f + 14 + sizeof(END_TAG) - 1, name, strlen(name));
	return 60;
}

static bool send_credit(const char *name, uint64_t count, uint64_t deadline)
{
	uint16_t id;
	uint8_t *page = netfront_tx_buffer(&nf, &id, deadline);

	if (!page)
		return false;
	fill_frame(page, 60);
	memset(page + 14, 0, 46);
	snprintf((char *)page + 14, 46, "%s%s %llu", CREDIT_TAG, name, (unsigned long long)count);
	netfront_tx_send(&nf, id, 60, 0);
	return true;
}

/* Whether f is name's end frame. */
static bool is_end(const struct netfront_frame *f, const char *name)
{
	size_t tag = sizeof(END_TAG) - 1, n = strlen(name);

	return f->len >= 14 + tag + n && f->data[12] == ETHERTYPE >> 8 &&
	       f->data[13] == (ETHERTYPE & 0xff) && memcmp(f->data + 14, END_TAG, tag) == 0 &&
	       memcmp(f->data + 14 + tag, name, n) == 0 &&
	       (f->len == 14 + tag + n || f->data[14 + tag + n] <= ' ');
}

static bool tx_phase(const char *name, uint16_t len, uint64_t frames)
{
	uint64_t t0, ns, ok0, drop0, err0, deadline = xen_now() + PHASE_NS;
	uint16_t id;

	/* Every page gets the frame once: the loop only names pages. */
	for (uint16_t i = 0; i < NETFRONT_TX_RING_SIZE; i++)
		fill_frame(netfront_tx_page(&nf, i), len);
	ok0 = nf.tx_ok;
	drop0 = nf.tx_dropped;
	err0 = nf.tx_error;
	printf("bench-net: begin %s\n", name);
	t0 = xen_now();
	for (uint64_t i = 0; i < frames; i++) {
		if (!netfront_tx_buffer(&nf, &id, deadline))
			return false;
		netfront_tx_queue(&nf, id, len, 0);
		if ((i + 1) % BATCH == 0 || i + 1 == frames)
			netfront_tx_push(&nf);
	}
	while (nf.tx_free < NETFRONT_TX_RING_SIZE && xen_now() < deadline) {
		netfront_tx_reap(&nf);
		if (nf.tx_free < NETFRONT_TX_RING_SIZE)
			netfront_wait(&nf, deadline);
	}
	ns = xen_now() - t0;
	printf("bench-net: end %s frames=%llu bytes=%llu ns=%llu ok=%llu dropped=%llu "
	       "error=%llu\n", name, (unsigned long long)frames,
	       (unsigned long long)(frames * len), (unsigned long long)ns,
	       (unsigned long long)(nf.tx_ok - ok0), (unsigned long long)(nf.tx_dropped - drop0),
	       (unsigned long long)(nf.tx_error - err0));
	/* The end frame, until one is carried (a full socket drops frames). */
	for (unsigned int i = 0; i < 100; i++) {
		uint8_t *page = netfront_tx_buffer(&nf, &id, deadline);

		if (!page)
			return false;
		netfront_tx_send(&nf, id, end_frame(page, name), 0);
		if (netfront_tx_wait(&nf, id, deadline) == NETIF_RSP_OKAY)
			return nf.tx_ok - ok0 > 0;
		sched_poll(nf.tx_port, xen_now() + SEC_NS / 100);
	}
	return false;
}

static bool rx_phase(const char *name)
{
	uint64_t t0 = 0, frames = 0, bytes = 0, deadline = xen_now() + PHASE_NS;
	struct netfront_frame f;

	printf("bench-net: ready %s\n", name);
	for (;;) {
		if (!netfront_recv(&nf, &f, deadline)) {
			printf("bench-net: %s: no end frame in time\n", name);
			return false;
		}
		if (is_end(&f, name))
			break;
		/* Another phase's end frame, sent again: not data. */
		if (f.len >= 14 + sizeof(END_TAG) - 1 &&
		    memcmp(f.data + 14, END_TAG, sizeof(END_TAG) - 1) == 0)
			continue;
		if (!frames)
			t0 = xen_now();
		frames++;
		bytes += f.len;
		if (frames % CREDIT_EVERY == 0 && !send_credit(name, frames, deadline))
			return false;
	}
	printf("bench-net: end %s frames=%llu bytes=%llu ns=%llu\n", name,
	       (unsigned long long)frames, (unsigned long long)bytes,
	       (unsigned long long)(frames ? xen_now() - t0 : 0));
	return frames > 0;
}

void guest_main(const struct hvm_start_info *si)
{
	const char *cmdline = phys_ptr(si->cmdline_paddr, 1);
	uint64_t frames = 100000;

	cmdline_u64(cmdline, "frames", &frames);
	if (!check_long("xenstore client set up", xs_init(), 0) ||
	    !check_long("grant table set up (4 frames)", gnt_init(4), 0) ||
	    !check_long("connected to the backend of device/vif/0", netfront_connect(&nf, 0, false),
			0))
		return;
	check(tx_phase("tx-60", 60, frames), "phase tx-60 ran");
	check(tx_phase("tx-1514", 1514, frames), "phase tx-1514 ran");
	check(rx_phase("rx-60"), "phase rx-60 ran");
	check(rx_phase("rx-1514"), "phase rx-1514 ran");
	printf("bench-net: done\n");
}
