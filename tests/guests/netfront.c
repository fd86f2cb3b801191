/*
 * A network frontend against pvmm's netif backend, as xen-netfront and
 * Mini-OS drive it (lib/netfront.c), with a tiny IPv4 stack (lib/net.c).
 *
 * Command line (space-separated key=value):
 *   mode=user   (default) the user-mode network: DHCP, ARP and ICMP echo to
 *               the gateway, UDP to the host through the gateway's address
 *               (udp-port=P: a host peer on 127.0.0.1:P answers "echo:" and
 *               what it got), a checksum left to the backend
 *               (NETTXF_csum_blank), frames split across several transmit
 *               slots, a TCP exchange with a host process through hostfwd
 *               (tcp-port=G: we listen on G), UDP through hostfwd
 *               (udp-fwd-port=G), then malformed transmit requests that
 *               must each get NETIF_RSP_ERROR, and the device still works.
 *               expect-ip=, gateway= (defaults 10.0.2.15, 10.0.2.2).
 *   mode=serve  ip=A/LEN: a static address; answers ARP and echo requests
 *               until it has answered pings=N (default 3) of them, and with
 *               udp-echo=P one datagram to port P ("guest got: " and it).
 *   mode=peer   ip=A/LEN peer=B: pings B pings=N times and answers as
 *               serve does until B has pinged it N times too.
 *   fatal=KIND  (mode=user) ends with a request netback treats as fatal:
 *               cross-page (a slot with offset + size > 4096) or
 *               too-many-slots; checks the backend stops taking requests.
 *   split=1     use split event channels when offered.
 *   timeout=S   how long serve and peer wait (default 120 s).
 * The lines the tests wait for: "netfront: ready", "netfront: tcp
 * listening on port G", "netfront: udp listening on port G".
 */
#include "net.h"

#define SEC_NS          1000000000ull
#define STEP_NS         (30 * SEC_NS)
#define HOST_WAIT_NS    (120 * SEC_NS)
#define MAX_SLOTS       24

static struct netfront nf;
static const char *cmdline;
static uint8_t scratch[NETFRONT_FRAME_MAX];

static uint64_t deadline_in(uint64_t ns)
{
	return xen_now() + ns;
}

static bool cmd_ip(const char *key, uint32_t *ip, uint32_t def)
{
	char buf[24];

	if (!cmdline_word(cmdline, key, buf, sizeof(buf))) {
		*ip = def;
		return true;
	}
	return net_parse_ip(buf, ip);
}

static void print_backend(void)
{
	printf("netfront: vif 0: backend %s (domain %u), mac %02x:%02x:%02x:%02x:%02x:%02x\n",
	       nf.be, nf.be_id, nf.mac[0], nf.mac[1], nf.mac[2], nf.mac[3], nf.mac[4],
	       nf.mac[5]);
	printf("netfront: features: rx-copy %u rx-flip %u sg %u gso-tcpv4 %u gso-tcpv6 %u "
	       "no-csum-offload %u ipv6-csum-offload %u split-event-channels %u "
	       "multi-queue-max-queues %llu; event channel %u%s\n",
	       nf.rx_copy, nf.rx_flip, nf.sg, nf.gso_tcpv4, nf.gso_tcpv6, nf.no_csum_offload,
	       nf.ipv6_csum_offload, nf.split_evtchn, (unsigned long long)nf.max_queues,
	       nf.tx_port, nf.tx_port != nf.rx_port ? " (tx), split" : "");
}

static bool vif_connect(void)
{
	uint64_t split = 0;

	cmdline_u64(cmdline, "split", &split);
	if (!check_long("xenstore client set up", xs_init(), 0) ||
	    !check_long("grant table set up (4 frames)", gnt_init(4), 0) ||
	    !check_long("connected to the backend of device/vif/0",
			netfront_connect(&nf, 0, split != 0), 0))
		return false;
	print_backend();
	check(!(nf.mac[0] & 1) && (nf.mac[0] | nf.mac[1] | nf.mac[2] | nf.mac[3] | nf.mac[4] |
				   nf.mac[5]),
	      "device/vif/0/mac is a unicast MAC address");
	check(nf.be_mac_ok, "the backend's mac is the frontend's");
	check_long("the backend is Connected", netfront_backend_state(&nf),
		   XenbusStateConnected);
	if (split)
		check(nf.split_evtchn && nf.rx_port != nf.tx_port,
		      "split event channels offered and used");
	net_init(&nf);
	return true;
}

/* Every transmit response so far was for a request in flight, every
 * receive response in its request's slot, every checksum right. */
static void check_counters(void)
{
	printf("netfront: tx ok %llu error %llu dropped %llu other %llu; rx frames %llu "
	       "dropped %llu errors %llu (csum_blank %llu, data_validated %llu); net in %llu "
	       "ignored %llu, answered %llu ARP and %llu echo requests\n",
	       (unsigned long long)nf.tx_ok, (unsigned long long)nf.tx_error,
	       (unsigned long long)nf.tx_dropped, (unsigned long long)nf.tx_other,
	       (unsigned long long)nf.rx_frames, (unsigned long long)nf.rx_dropped,
	       (unsigned long long)nf.rx_errors, (unsigned long long)net.st.csum_blank_in,
	       (unsigned long long)net.st.validated_in, (unsigned long long)net.st.frames_in,
	       (unsigned long long)net.st.ignored,
	       (unsigned long long)net.st.arp_replies_sent,
	       (unsigned long long)net.st.echo_replies_sent);
	check_long("every transmit response was for a request in flight", (long)nf.tx_other, 0);
	check_long("every receive response came in its request's slot", (long)nf.rx_wrong_slot,
		   0);
	check_long("no receive response had offset + size past its page",
		   (long)nf.rx_bad_offset, 0);
	check_long("no receive response was an error", (long)nf.rx_errors, 0);
	check_long("every IPv4 header checksum received was right", (long)net.st.bad_ip_csum, 0);
	check_long("every ICMP, UDP and TCP checksum received was right",
		   (long)net.st.bad_l4_csum, 0);
}

/* ---- transmit requests built by hand ---- */

struct slot {
	uint16_t offset;        /* where in its page the piece goes */
	uint16_t size;          /* bytes of the frame it carries */
};

/*
 * Sends frame (len bytes) split over n slots, slot i carrying slots[i].size
 * bytes at slots[i].offset of its own page; the first request's size is
 * the whole frame's, as netif.h wants.  flags go on the first request.
 * Each slot's status goes into status[]: true if all came.
 */
static bool send_split(const uint8_t *frame, uint16_t len, const struct slot *slots,
		       unsigned int n, uint16_t flags, int16_t *status)
{
	netif_tx_request_t reqs[MAX_SLOTS];
	uint16_t ids[MAX_SLOTS];
	uint32_t done = 0;
	bool all = true;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *page = netfront_tx_buffer(&nf, &ids[i], deadline_in(STEP_NS));

		if (!page)
			return false;
		memcpy(page + slots[i].offset, frame + done, slots[i].size);
		done += slots[i].size;
		reqs[i] = (netif_tx_request_t){
			.gref = netfront_tx_ref(&nf, ids[i]),
			.offset = slots[i].offset,
			.flags = (uint16_t)((i == 0 ? flags : 0) |
					    (i + 1 < n ? NETTXF_more_data : 0)),
			.id = ids[i],
			.size = i == 0 ? len : slots[i].size,
		};
	}
	if (done != len || !netfront_tx_raw(&nf, reqs, n))
		return false;
	for (unsigned int i = 0; i < n; i++) {
		status[i] = netfront_tx_wait(&nf, ids[i], deadline_in(STEP_NS));
		all = all && status[i] != INT16_MIN;
	}
	return all;
}

static bool all_status(const int16_t *status, unsigned int n, int16_t want)
{
	for (unsigned int i = 0; i < n; i++)
		if (status[i] != want) {
			printf("netfront: slot %u of %u: status %d, want %d\n", i, n, status[i],
			       want);
			return false;
		}
	return true;
}

/* ---- mode=user ---- */

static uint32_t gateway;

static void test_dhcp(void)
{
	uint32_t want_ip;
	char a[16];

	if (!check(cmd_ip("expect-ip", &want_ip, IP4(10, 0, 2, 15)) &&
		   cmd_ip("gateway", &gateway, IP4(10, 0, 2, 2)),
		   "expect-ip= and gateway= are addresses"))
		return;
	if (!check_long("DHCP: DISCOVER, OFFER, REQUEST, ACK", net_dhcp(deadline_in(STEP_NS)), 0))
		return;
	printf("netfront: address %s\n", net_ip_str(net.ip, a));
	check_u64("DHCP gave the expected address", net.ip, want_ip);
	check_u64("DHCP gave the gateway as router", net.gw, gateway);
	check_u64("DHCP gave a /24 mask", net.mask, 0xffffff00u);
	check(net.lease > 0, "DHCP gave a lease time");
	check(net.dns != 0, "DHCP gave a DNS server");
}

static void test_gateway(void)
{
	static const uint16_t sizes[] = { 56, 1000, NET_MTU - IP_HLEN - ICMP_HLEN };
	uint8_t mac[ETH_ALEN];
	char name[96];

	check(net_arp_resolve(gateway, mac, deadline_in(STEP_NS)),
	      "ARP: the gateway answered a request");
	printf("netfront: gateway mac %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2],
	       mac[3], mac[4], mac[5]);
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "ICMP echo to the gateway, %u bytes of payload",
			 sizes[i]);
		check(net_ping(gateway, (uint16_t)(i + 1), sizes[i], deadline_in(STEP_NS)), name);
	}
}

/* Sends a datagram to the host's peer through the gateway's address and
 * waits for its "echo:" answer. */
static bool udp_round_trip(uint16_t port, const char *text, bool csum_blank, bool split)
{
	static char reply[NET_MTU];
	size_t len = strlen(text);
	uint8_t mac[ETH_ALEN];
	uint64_t deadline = deadline_in(STEP_NS);
	uint16_t sport = (uint16_t)(40000 + (csum_blank ? 1 : 0) + (split ? 2 : 0));
	uint32_t src;
	uint16_t from;
	long n;

	net_udp_bind(sport);
	if (!net_next_hop(gateway, mac, deadline))
		return false;
	/* Once, then again every few seconds: UDP may be lost. */
	for (unsigned int attempt = 0; attempt < 5; attempt++) {
		uint16_t flen = net_build_udp(scratch, mac, gateway, sport, port, text,
					      (uint16_t)len, csum_blank);
		uint16_t flags = csum_blank ? NETTXF_csum_blank | NETTXF_data_validated : 0;
		int16_t status[3];

		if (split) {
			/* 3 slots: the headers and a little, a middle piece at an
			 * odd offset, the rest ending at the page's end. */
			uint16_t a = 60, c = (uint16_t)((flen - a) / 2);
			uint16_t b = (uint16_t)(flen - a - c);
			struct slot slots[3] = {
				{ 0, a }, { 1001, b }, { (uint16_t)(PAGE_SIZE - c), c },
			};

			if (!send_split(scratch, flen, slots, 3, flags, status) ||
			    !all_status(status, 3, NETIF_RSP_OKAY))
				return false;
		} else if (!send_split(scratch, flen, (struct slot[]){ { 0, flen } }, 1, flags,
				       status) || status[0] != NETIF_RSP_OKAY) {
			return false;
		}
		n = net_udp_recv(reply, sizeof(reply) - 1, &src, &from, deadline_in(3 * SEC_NS));
		if (n >= 0)
			break;
	}
	net_udp_bind(0);
	if (n < 0)
		return false;
	reply[n] = '\0';
	if (src != gateway || from != port || (size_t)n != len + 5 ||
	    memcmp(reply, "echo:", 5) != 0 || memcmp(reply + 5, text, len) != 0) {
		printf("netfront: UDP reply from port %u, %ld bytes: '%.40s'\n", from, n, reply);
		return false;
	}
	return true;
}

static void test_udp_to_host(uint16_t port)
{
	static char big[1401];

	check(udp_round_trip(port, "pvmm-udp-1 from the guest", false, false),
	      "UDP to the host through the gateway's address, and its answer");
	if (nf.no_csum_offload)
		printf("netfront: the backend offers no checksum offload: no csum_blank frame\n");
	else
		check(udp_round_trip(port, "pvmm-udp-2 checksum left blank", true, false),
		      "UDP with NETTXF_csum_blank: the backend filled the checksum in");
	for (unsigned int i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + i % 26);
	check(udp_round_trip(port, big, false, true),
	      "UDP of 1400 bytes in 3 transmit slots (NETTXF_more_data), and its answer");
}

/* ICMP echo of 1200 bytes split over 4 slots: the gateway answers what
 * the backend put back together. */
static void test_split_icmp(void)
{
	static const struct slot slots[4] = {
		{ 0, 14 }, { 100, 20 }, { 2048, 600 }, { PAGE_SIZE - 608, 608 },
	};
	uint8_t mac[ETH_ALEN];
	int16_t status[4];
	uint16_t len;

	if (!check(net_next_hop(gateway, mac, deadline_in(STEP_NS)), "the gateway's MAC is known"))
		return;
	len = net_build_icmp_echo(scratch, mac, gateway, 0x5150, 77, 1200);
	check_long("the split echo request is 1242 bytes", len, 1242);
	check(send_split(scratch, len, slots, 4, 0, status) &&
	      all_status(status, 4, NETIF_RSP_OKAY),
	      "an echo request in 4 slots (Ethernet header alone in the first) was sent");
	check(net_wait_echo_reply(0x5150, 77, 1200, deadline_in(STEP_NS)),
	      "the gateway answered the 4-slot echo request");
}

static void test_tcp(uint16_t port)
{
	static const char prefix[] = "hello from the host ";
	static char line[512], reply[600];
	size_t got = 0;
	uint32_t peer;
	uint16_t pport;
	long n;
	char a[16];

	net_tcp_listen(port);
	printf("netfront: tcp listening on port %u\n", port);
	if (!check(net_tcp_accept(deadline_in(HOST_WAIT_NS)), "TCP: the host's connection "
		   "through hostfwd was accepted (SYN, SYN-ACK, ACK)"))
		return;
	net_tcp_peer(&peer, &pport);
	printf("netfront: tcp connection from %s port %u\n", net_ip_str(peer, a), pport);
	/* A line, in however many segments it comes. */
	while (got < sizeof(line) - 1 && (got == 0 || line[got - 1] != '\n')) {
		n = net_tcp_recv(line + got, sizeof(line) - 1 - got, deadline_in(STEP_NS));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	if (!check(got > sizeof(prefix) && line[got - 1] == '\n' &&
		   memcmp(line, prefix, sizeof(prefix) - 1) == 0,
		   "TCP: received the host's line"))
		printf("netfront: got %zu bytes: '%s'\n", got, line);
	snprintf(reply, sizeof(reply), "guest got: %s", line);
	check(net_tcp_send(reply, strlen(reply), deadline_in(STEP_NS)),
	      "TCP: the answer was sent and acknowledged");
	check(net_tcp_close(deadline_in(STEP_NS)),
	      "TCP: FIN sent and acknowledged, the host's FIN received");
}

static void test_udp_hostfwd(uint16_t port)
{
	static char msg[512], reply[600];
	uint32_t src;
	uint16_t sport;
	long n;

	net_udp_bind(port);
	printf("netfront: udp listening on port %u\n", port);
	n = net_udp_recv(msg, sizeof(msg) - 1, &src, &sport, deadline_in(HOST_WAIT_NS));
	if (!check(n > 0, "UDP: a datagram from the host through hostfwd"))
		return;
	msg[n] = '\0';
	snprintf(reply, sizeof(reply), "guest got: %s", msg);
	check(net_udp_send(src, port, sport, reply, (uint16_t)strlen(reply), deadline_in(STEP_NS)),
	      "UDP: the answer was sent back");
	net_udp_bind(0);
}

/* One malformed request (n slots): every slot must get NETIF_RSP_ERROR,
 * then the device must still carry frames. */
static void malformed(const char *name, const netif_tx_request_t *reqs, unsigned int n)
{
	int16_t status[MAX_SLOTS];
	char what[160];
	bool sent = netfront_tx_raw(&nf, reqs, n);

	for (unsigned int i = 0; i < n; i++)
		status[i] = sent ? netfront_tx_wait(&nf, reqs[i].id, deadline_in(STEP_NS))
				 : INT16_MIN;
	snprintf(what, sizeof(what), "%s: NETIF_RSP_ERROR for each of its %u slot%s", name, n,
		 n == 1 ? "" : "s");
	check(sent && all_status(status, n, NETIF_RSP_ERROR), what);
	snprintf(what, sizeof(what), "%s: then an echo to the gateway still works", name);
	check(net_ping(gateway, 200, 32, deadline_in(STEP_NS)), what);
}

/* Takes n transmit ids (their pages hold a valid frame start). */
static void take_ids(uint16_t *ids, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *page = netfront_tx_buffer(&nf, &ids[i], deadline_in(STEP_NS));

		if (page)
			memset(page, 0x5a, PAGE_SIZE);
	}
}

static void test_malformed(void)
{
	netif_tx_request_t r[MAX_SLOTS];
	uint16_t ids[MAX_SLOTS];

	/* A reference past the table, and one inside it that grants nothing. */
	take_ids(ids, 1);
	r[0] = (netif_tx_request_t){ .gref = gnt_limit() + 5, .offset = 0, .flags = 0,
				     .id = ids[0], .size = 60 };
	malformed("a grant reference past the table", r, 1);
	take_ids(ids, 1);
	r[0].gref = gnt_unused_ref();
	r[0].id = ids[0];
	malformed("a grant reference that grants nothing", r, 1);
	/* A bad reference in the second slot of two. */
	take_ids(ids, 2);
	r[0] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[0]), .offset = 0,
				     .flags = NETTXF_more_data, .id = ids[0], .size = 120 };
	r[1] = (netif_tx_request_t){ .gref = gnt_unused_ref(), .offset = 0, .flags = 0,
				     .id = ids[1], .size = 60 };
	malformed("a bad grant reference in the second slot", r, 2);
	/*
	 * A frame of 64 KiB or more: its size does not fit the first slot's
	 * 16 bits, so the later slots add up to more than the first says
	 * (netback drops it, as buggy frontends send such frames).  Here 17
	 * full pages after a first slot claiming 65535 bytes.
	 */
	take_ids(ids, 18);
	for (unsigned int i = 0; i < 18; i++)
		r[i] = (netif_tx_request_t){
			.gref = netfront_tx_ref(&nf, ids[i]), .offset = 0,
			.flags = i < 17 ? NETTXF_more_data : 0, .id = ids[i],
			.size = i == 0 ? XEN_NETIF_MAX_TX_SIZE : PAGE_SIZE,
		};
	malformed("a frame beyond 64 KiB (slots add up to more than the first slot's size)", r,
		  18);
	/* Slots that add up to less than the first slot says. */
	take_ids(ids, 2);
	r[0] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[0]), .offset = 0,
				     .flags = NETTXF_more_data, .id = ids[0], .size = 100 };
	r[1] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[1]), .offset = 0,
				     .flags = 0, .id = ids[1], .size = 200 };
	malformed("a second slot larger than the frame", r, 2);
	/* 20 slots: more than the 18 after the first every backend must take,
	 * fewer than netback's fatal limit. */
	take_ids(ids, 20);
	for (unsigned int i = 0; i < 20; i++)
		r[i] = (netif_tx_request_t){
			.gref = netfront_tx_ref(&nf, ids[i]), .offset = 0,
			.flags = i < 19 ? NETTXF_more_data : 0, .id = ids[i],
			.size = i == 0 ? 20 * 60 : 60,
		};
	malformed("a frame in 20 slots", r, 20);
	/* A checksum left blank on what is neither TCP nor UDP. */
	{
		uint8_t mac[ETH_ALEN];
		uint8_t *page = netfront_tx_buffer(&nf, &ids[0], deadline_in(STEP_NS));

		if (page && net_next_hop(gateway, mac, deadline_in(STEP_NS))) {
			uint16_t len = net_build_icmp_echo(page, mac, gateway, 0x5151, 1, 32);

			r[0] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[0]),
						     .offset = 0, .flags = NETTXF_csum_blank,
						     .id = ids[0], .size = len };
			malformed("NETTXF_csum_blank on an ICMP packet", r, 1);
		} else {
			check(false, "a buffer for the ICMP packet with NETTXF_csum_blank");
		}
	}
	/* Shorter than an Ethernet header. */
	take_ids(ids, 1);
	r[0] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[0]), .offset = 0,
				     .flags = 0, .id = ids[0], .size = 10 };
	malformed("a frame shorter than an Ethernet header", r, 1);
}

/*
 * A request netback treats as fatal (tx.h: a slot crossing its page, 22
 * slots or more): the packet goes unanswered and the backend gives the
 * device up (Closing); pvmm keeps running, and the frontend can connect
 * again with new rings, as Linux's does after a reset.
 */
static void test_fatal(const char *kind, bool split)
{
	netif_tx_request_t r[MAX_SLOTS];
	uint16_t ids[MAX_SLOTS];
	unsigned int n;
	int16_t st;
	long state;

	if (strcmp(kind, "cross-page") == 0) {
		take_ids(ids, 1);
		r[0] = (netif_tx_request_t){ .gref = netfront_tx_ref(&nf, ids[0]), .offset = 4000,
					     .flags = 0, .id = ids[0], .size = 200 };
		n = 1;
	} else if (strcmp(kind, "too-many-slots") == 0) {
		n = 22;
		take_ids(ids, n);
		for (unsigned int i = 0; i < n; i++)
			r[i] = (netif_tx_request_t){
				.gref = netfront_tx_ref(&nf, ids[i]), .offset = 0,
				.flags = i + 1 < n ? NETTXF_more_data : 0, .id = ids[i],
				.size = (uint16_t)(i == 0 ? 60 * n : 60),
			};
	} else {
		check(false, "fatal= is cross-page or too-many-slots");
		return;
	}
	printf("netfront: sending a fatal request (%s, %u slots)\n", kind, n);
	check(netfront_tx_raw(&nf, r, n), "the fatal request was queued");
	state = netfront_wait_state(&nf, XenbusStateClosing, deadline_in(STEP_NS));
	st = netfront_tx_wait(&nf, ids[0], 0);
	printf("netfront: after it: backend state %ld, first slot's status %d\n", state, st);
	check_long("the backend gave the device up (Closing)", state, XenbusStateClosing);
	check_long("the fatal request was not answered", st, INT16_MIN);
	if (!check_long("connected again with new rings (Closed, Initialising, ...)",
			netfront_reconnect(&nf, 0, split), 0))
		return;
	check(net_ping(gateway, 300, 32, deadline_in(STEP_NS)),
	      "after reconnecting, an echo to the gateway works");
}

static void mode_user(void)
{
	uint64_t udp_port = 0, tcp_port = 0, udp_fwd = 0, split = 0;
	char fatal[24] = "";

	cmdline_u64(cmdline, "split", &split);
	cmdline_u64(cmdline, "udp-port", &udp_port);
	cmdline_u64(cmdline, "tcp-port", &tcp_port);
	cmdline_u64(cmdline, "udp-fwd-port", &udp_fwd);
	cmdline_word(cmdline, "fatal", fatal, sizeof(fatal));
	test_dhcp();
	if (!net.ip)
		return;
	test_gateway();
	test_split_icmp();
	if (udp_port && udp_port < 65536)
		test_udp_to_host((uint16_t)udp_port);
	if (tcp_port && tcp_port < 65536)
		test_tcp((uint16_t)tcp_port);
	if (udp_fwd && udp_fwd < 65536)
		test_udp_hostfwd((uint16_t)udp_fwd);
	test_malformed();
	netfront_tx_reap(&nf);
	check_counters();
	if (fatal[0])
		test_fatal(fatal, split != 0);
}

/* ---- mode=serve and mode=peer ---- */

static bool static_addr(void)
{
	char buf[24], a[16];
	uint32_t ip, mask;

	if (!check(cmdline_word(cmdline, "ip", buf, sizeof(buf)) &&
		   net_parse_cidr(buf, &ip, &mask) && mask,
		   "the command line gives ip=A/LEN"))
		return false;
	net_set_addr(ip, mask, 0);
	printf("netfront: ready at %s\n", net_ip_str(ip, a));
	return true;
}

/* Answers a datagram to the bound port if one came: true if it did. */
static bool udp_answer(uint16_t port)
{
	static char msg[512], reply[600];
	uint32_t src;
	uint16_t sport;
	long n = net_udp_recv(msg, sizeof(msg) - 1, &src, &sport, 0);

	if (n < 0)
		return false;
	msg[n] = '\0';
	snprintf(reply, sizeof(reply), "guest got: %s", msg);
	return net_udp_send(src, port, sport, reply, (uint16_t)strlen(reply),
			    deadline_in(STEP_NS));
}

/* Answers until pings echo requests were, and a datagram to udp_echo (0:
 * none); a host that pings us must ask ARP first (a peer that we asked
 * learns our MAC from our request). */
static void mode_serve(uint64_t pings, uint64_t deadline, bool asked_arp, uint16_t udp_echo)
{
	uint64_t udp_answered = 0;

	if (udp_echo)
		net_udp_bind(udp_echo);
	while ((net.st.echo_replies_sent < pings || (udp_echo && !udp_answered)) &&
	       xen_now() < deadline) {
		net_poll(deadline);
		if (udp_echo && udp_answer(udp_echo))
			udp_answered++;
	}
	if (udp_echo)
		check(udp_answered > 0, "answered a UDP datagram");
	printf("netfront: answered %llu echo requests\n",
	       (unsigned long long)net.st.echo_replies_sent);
	check(net.st.echo_replies_sent >= pings, "answered the echo requests the test sent");
	if (asked_arp)
		check(net.st.arp_replies_sent > 0, "answered an ARP request for our address");
}

static void mode_peer(uint64_t pings, uint64_t deadline)
{
	uint32_t peer;
	uint64_t ok = 0;
	char name[64], a[16];

	if (!check(cmd_ip("peer", &peer, 0) && peer, "the command line gives peer=B"))
		return;
	for (uint64_t i = 0; i < pings && xen_now() < deadline; i++) {
		bool got = net_ping(peer, (uint16_t)(i + 1), 100, deadline);

		snprintf(name, sizeof(name), "echo request %llu to %s answered",
			 (unsigned long long)i + 1, net_ip_str(peer, a));
		ok += check(got, name);
	}
	printf("netfront: %llu of %llu echo requests to the peer answered\n",
	       (unsigned long long)ok, (unsigned long long)pings);
	/* The peer may still be pinging us. */
	mode_serve(pings, deadline, false, 0);
}

void guest_main(const struct hvm_start_info *si)
{
	char mode[16] = "user";
	uint64_t pings = 3, timeout = 120, udp_echo = 0;

	cmdline = phys_ptr(si->cmdline_paddr, 1);
	if (!cmdline)
		cmdline = "";
	printf("netfront: %u-bit guest, command line '%s'\n", GUEST_BITS, cmdline);
	cmdline_word(cmdline, "mode", mode, sizeof(mode));
	cmdline_u64(cmdline, "pings", &pings);
	cmdline_u64(cmdline, "timeout", &timeout);
	cmdline_u64(cmdline, "udp-echo", &udp_echo);
	if (!vif_connect())
		return;
	if (strcmp(mode, "user") == 0) {
		mode_user();
		return;
	}
	if (!static_addr())
		return;
	if (strcmp(mode, "serve") == 0)
		mode_serve(pings, deadline_in(timeout * SEC_NS), true,
			   (uint16_t)(udp_echo < 65536 ? udp_echo : 0));
	else if (strcmp(mode, "peer") == 0)
		mode_peer(pings, deadline_in(timeout * SEC_NS));
	else
		check(false, "mode= is user, serve or peer");
	netfront_tx_reap(&nf);
	check_counters();
}
