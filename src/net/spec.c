#include "net/spec.h"
#include "util/errbuf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>


const char *net__kind_name(enum vm_net_kind kind)
{
	switch (kind) {
	case VM_NET_USER: return "user";
	case VM_NET_TAP: return "tap";
	case VM_NET_SOCKET: return "socket";
	}
	return "invalid";
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net__parse_mac(const char *text, uint8_t mac[6])
{
	uint8_t m[6];

	if (strlen(text) != NET_MAC_TEXT - 1)
		return -1;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
			return -1;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A group address cannot be an interface's; nor can all zeros. */
	if ((m[0] & 1) || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -1;
	memcpy(mac, m, 6);
	return 0;
}

void net__format_mac(const uint8_t mac[6], char buf[NET_MAC_TEXT])
{
	snprintf(buf, NET_MAC_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

/* FNV-1a, then a 64-bit finaliser so that every input bit reaches every
 * output bit. */
void net__derive_mac(const uint8_t uuid[16], unsigned index, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ uuid[i]) * 0x100000001b3ULL;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((index >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);     /* unicast, locally administered */
}

/* ---- hostfwd ---- */

/* A port from min to 65535, decimal, within [s, end). */
static int parse_port(const char *s, const char *end, unsigned min, uint16_t *out)
{
	unsigned v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v < min)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* "ADDR:PORT" or ":PORT" within [s, end); an empty ADDR leaves *set false. */
static int parse_endpoint(const char *s, const char *end, unsigned min_port, bool *set,
			  uint32_t *addr, uint16_t *port)
{
	const char *colon = memchr(s, ':', (size_t)(end - s));
	char text[INET_ADDRSTRLEN];
	struct in_addr a;

	if (!colon || memchr(colon + 1, ':', (size_t)(end - colon - 1)))
		return -1;
	*set = colon > s;
	if (*set) {
		if ((size_t)(colon - s) >= sizeof(text))
			return -1;
		memcpy(text, s, (size_t)(colon - s));
		text[colon - s] = '\0';
		if (inet_pton(AF_INET, text, &a) != 1)
			return -1;
		*addr = a.s_addr;
	} else {
		*addr = 0;
	}
	return parse_port(colon + 1, end, min_port, port);
}

int net__parse_hostfwd(const char *text, struct vm_net_hostfwd *out, char *err, size_t errlen)
{
	const char *colon = strchr(text, ':'), *dash, *end = text + strlen(text);
	struct vm_net_hostfwd f = { .udp = false };
	size_t plen;

	if (!colon)
		return errbuf__fail(err, errlen, "hostfwd '%s' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
			    text);
	plen = (size_t)(colon - text);
	if (plen == 3 && !strncmp(text, "udp", 3))
		f.udp = true;
	else if (plen && (plen != 3 || strncmp(text, "tcp", 3)))
		return errbuf__fail(err, errlen, "hostfwd '%s': the protocol must be tcp or udp", text);
	dash = strchr(colon + 1, '-');
	/* The host port may be 0 (any free port), the guest's may not. */
	if (!dash || parse_endpoint(colon + 1, dash, 0, &f.host_addr_set, &f.host_addr, &f.host_port) ||
	    parse_endpoint(dash + 1, end, 1, &f.guest_addr_set, &f.guest_addr, &f.guest_port))
		return errbuf__fail(err, errlen, "hostfwd '%s' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT "
			    "(IPv4 addresses, ports up to 65535)", text);
	*out = f;
	return 0;
}

static void format_addr(bool set, uint32_t addr, char buf[INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = addr };

	if (!set || !inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN))
		buf[0] = '\0';
}

void net__format_hostfwd(const struct vm_net_hostfwd *f, char buf[NET_HOSTFWD_TEXT])
{
	char host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];

	format_addr(f->host_addr_set, f->host_addr, host);
	format_addr(f->guest_addr_set, f->guest_addr, guest);
	snprintf(buf, NET_HOSTFWD_TEXT, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", host,
		 f->host_port, guest, f->guest_port);
}

/* ---- the --net value ---- */

/* The value of option `name=` in [opt, opt + len), or NULL. */
static const char *value_of(const char *opt, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncmp(opt, name, n) || opt[n] != '=')
		return NULL;
	*vlen = len - n - 1;
	return opt + n + 1;
}

/* Copies [v, v + vlen) into dst (size bytes) if it fits and is not empty. */
static int copy_value(char *dst, size_t size, const char *v, size_t vlen)
{
	if (!vlen || vlen >= size || memchr(v, '\0', vlen))
		return -1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

static int parse_option(const char *spec, const char *opt, size_t len, struct vm_net *net,
			char *err, size_t errlen)
{
	char text[NET_HOSTFWD_TEXT * 2];
	const char *v;
	size_t vlen;

	if ((v = value_of(opt, len, "mac", &vlen))) {
		if (net->has_mac)
			return errbuf__fail(err, errlen, "'%s': mac= given twice", spec);
		if (copy_value(text, sizeof(text), v, vlen) || net__parse_mac(text, net->mac))
			return errbuf__fail(err, errlen, "'%s': mac '%.*s' is not a unicast address like 52:54:00:12:34:56",
				    spec, (int)vlen, v);
		net->has_mac = true;
		return 0;
	}
	if (net->kind == VM_NET_USER && (v = value_of(opt, len, "hostfwd", &vlen))) {
		if (net->nr_hostfwd == PVMM_MAX_HOSTFWD)
			return errbuf__fail(err, errlen, "'%s': at most %d hostfwd rules", spec, PVMM_MAX_HOSTFWD);
		if (copy_value(text, sizeof(text), v, vlen))
			return errbuf__fail(err, errlen, "'%s': hostfwd '%.*s' is empty or too long", spec, (int)vlen, v);
		return net__parse_hostfwd(text, &net->hostfwd[net->nr_hostfwd++], err, errlen);
	}
	if (net->kind == VM_NET_TAP && (v = value_of(opt, len, "fd", &vlen))) {
		long fd = 0;

		if (net->tap_fd >= 0 || !vlen || vlen > 9)
			return errbuf__fail(err, errlen, "'%s': fd must be given once, as a number", spec);
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return errbuf__fail(err, errlen, "'%s': fd '%.*s' is not a number", spec, (int)vlen, v);
			fd = fd * 10 + (v[i] - '0');
		}
		net->tap_fd = (int)fd;
		return 0;
	}
	if (net->kind == VM_NET_SOCKET) {
		bool listen = (v = value_of(opt, len, "listen", &vlen)) != NULL;

		if (listen || (v = value_of(opt, len, "connect", &vlen))) {
			char *dst = listen ? net->listen : net->connect;

			if (net->listen[0] || net->connect[0])
				return errbuf__fail(err, errlen, "'%s': give one of listen=PATH or connect=PATH", spec);
			if (copy_value(dst, sizeof(net->listen), v, vlen))
				return errbuf__fail(err, errlen, "'%s': the socket path must be 1 to %zu bytes", spec,
					    sizeof(net->listen) - 1);
			return 0;
		}
	}
	return errbuf__fail(err, errlen, "'%s': unknown option '%.*s' for %s networking (options: %s)", spec,
		    (int)len, opt, net__kind_name(net->kind),
		    net->kind == VM_NET_USER ? "hostfwd=RULE, mac=MAC" :
		    net->kind == VM_NET_TAP ? "fd=N, mac=MAC" : "listen=PATH, connect=PATH, mac=MAC");
}

/* The kind the first word names: 1; 0 when the word is an option (of
 * user networking); -1 with the reason in err. */
static int parse_kind(const char *spec, const char *word, size_t len, struct vm_net *net,
		      char *err, size_t errlen)
{
	size_t vlen;
	const char *v;

	if (len == 4 && !strncmp(word, "user", 4)) {
		net->kind = VM_NET_USER;
	} else if (len == 3 && !strncmp(word, "tap", 3)) {
		net->kind = VM_NET_TAP;
	} else if ((v = value_of(word, len, "tap", &vlen))) {
		net->kind = VM_NET_TAP;
		if (copy_value(net->tap, sizeof(net->tap), v, vlen) || memchr(v, '/', vlen))
			return errbuf__fail(err, errlen, "'%s': a tap name has 1 to %zu characters, no '/'",
				    spec, sizeof(net->tap) - 1);
	} else if (len == 6 && !strncmp(word, "socket", 6)) {
		net->kind = VM_NET_SOCKET;
	} else {
		net->kind = VM_NET_USER;
		return 0;
	}
	return 1;
}

static int check_complete(const char *spec, const struct vm_net *net, char *err, size_t errlen)
{
	switch (net->kind) {
	case VM_NET_USER:
		return 0;
	case VM_NET_TAP:
		/* Exactly one of the two. */
		if ((net->tap[0] != '\0') == (net->tap_fd >= 0))
			return errbuf__fail(err, errlen, "'%s': give the tap as tap=NAME or as tap,fd=N", spec);
		return 0;
	case VM_NET_SOCKET:
		if (!net->listen[0] && !net->connect[0])
			return errbuf__fail(err, errlen, "'%s': a socket link needs listen=PATH or connect=PATH", spec);
		return 0;
	}
	return -1;
}

int net__parse_spec(const char *spec, struct vm_net *net, char *err, size_t errlen)
{
	const char *p = spec;
	bool first = true;

	memset(net, 0, sizeof(*net));
	net->tap_fd = -1;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		int kind = 0;

		if (!len)
			return errbuf__fail(err, errlen, "'%s': empty option (a stray comma?)", spec);
		if (first && (kind = parse_kind(spec, p, len, net, err, errlen)) < 0)
			return -1;
		if (!kind && parse_option(spec, p, len, net, err, errlen))
			return -1;
		first = false;
		if (!comma)
			break;
		p = comma + 1;
	}
	return check_complete(spec, net, err, errlen);
}
