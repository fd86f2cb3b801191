#include "cli/ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/http.h"
#include "api/vmconfig.h"
#include "cli/options.h"

/* The most of a response read: vm.info is a few KiB. */
#define CTL_MAX_RESPONSE (1 << 20)

struct command {
	const char *name;
	const char *method;
	const char *endpoint;
	bool takes_size;        /* balloon SIZE */
	const char *done;       /* what a success says, for people */
};

static const struct command commands[] = {
	{ "ping", "GET", "vmm.ping", false, NULL },
	{ "info", "GET", "vm.info", false, NULL },
	{ "pause", "PUT", "vm.pause", false, "paused" },
	{ "resume", "PUT", "vm.resume", false, "resumed" },
	{ "shutdown", "PUT", "vm.shutdown", false, "asked the guest to power off" },
	{ "power-button", "PUT", "vm.power-button", false, "asked the guest to power off" },
	{ "reboot", "PUT", "vm.reboot", false, "asked the guest to reboot" },
	{ "balloon", "PUT", "vm.resize", true, NULL },
	{ "vmm-shutdown", "PUT", "vmm.shutdown", false, "pvmm is stopping" },
};

static void usage(void)
{
	fprintf(stderr, "usage: pvmm ctl SOCKET COMMAND [ARGS] [--json]; commands: ping, info, pause, "
		"resume, shutdown, reboot, power-button, balloon SIZE, vmm-shutdown\n");
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "pvmm ctl: socket path '%s' is too long\n", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "pvmm ctl: cannot connect to '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* One request, the whole response (the server closes after it) in *out;
 * its length, or -1 after saying why. */
static ssize_t exchange(const char *path, const struct command *c, const char *body, char **out)
{
	char head[512];
	size_t body_len = body ? strlen(body) : 0, len = 0;
	char *buf = malloc(CTL_MAX_RESPONSE);
	int fd, n;

	if (!buf)
		return -1;
	n = snprintf(head, sizeof(head),
		     "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
		     "%sContent-Length: %zu\r\n\r\n",
		     c->method, c->endpoint, body ? "Content-Type: application/json\r\n" : "", body_len);
	fd = connect_to(path);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	if (!send_all(fd, head, (size_t)n) || (body_len && !send_all(fd, body, body_len))) {
		fprintf(stderr, "pvmm ctl: cannot send to '%s': %s\n", path, strerror(errno));
		goto fail;
	}
	for (;;) {
		ssize_t got = recv(fd, buf + len, CTL_MAX_RESPONSE - len, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "pvmm ctl: no answer from '%s': %s\n", path,
				errno == EAGAIN ? "timed out" : strerror(errno));
			goto fail;
		}
		if (got == 0 || (len += (size_t)got) == CTL_MAX_RESPONSE)
			break;
	}
	close(fd);
	*out = buf;
	return (ssize_t)len;
fail:
	close(fd);
	free(buf);
	return -1;
}

static void print_size(const char *label, uint64_t bytes)
{
	if (bytes % (1 << 20) == 0)
		printf("%-12s%" PRIu64 " MiB\n", label, bytes >> 20);
	else
		printf("%-12s%" PRIu64 " KiB\n", label, bytes >> 10);
}

static uint64_t get_u64(json_object *obj, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, a, &v) || (b && !json_object_object_get_ex(v, b, &v)))
		return 0;
	return json_object_get_uint64(v);
}

static const char *get_str(json_object *obj, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, a, &v) || (b && !json_object_object_get_ex(v, b, &v)))
		return NULL;
	return json_object_get_string(v);
}

static void print_info(json_object *info)
{
	json_object *cfg = NULL, *vcpus = NULL;
	const char *s;

	json_object_object_get_ex(info, "config", &cfg);
	printf("%-12s%s\n", "state:", (s = get_str(info, "state", NULL)) ? s : "?");
	printf("%-12s%s\n", "kernel:", (s = get_str(cfg, "payload", "kernel")) ? s : "?");
	if ((s = get_str(cfg, "payload", "cmdline")))
		printf("%-12s%s\n", "cmdline:", s);
	if ((s = get_str(cfg, "payload", "initramfs")))
		printf("%-12s%s\n", "initrd:", s);
	print_size("memory:", get_u64(cfg, "memory", "size"));
	print_size("target:", get_u64(info, "balloon", "target"));
	print_size("current:", get_u64(info, "balloon", "current"));
	print_size("reclaimed:", get_u64(info, "balloon", "reclaimed"));
	if (json_object_object_get_ex(info, "vcpus", &vcpus)) {
		size_t n = json_object_array_length(vcpus);

		printf("%-12s%zu (thread ids:", "vcpus:", n);
		for (size_t i = 0; i < n; i++)
			printf(" %" PRIu64, get_u64(json_object_array_get_idx(vcpus, i), "tid", NULL));
		printf(")\n");
	}
}

/* What the API answered, for people or as JSON.  Returns a ctl_exit. */
static int report(const struct command *c, int status, const char *body, size_t body_len,
		  bool json, uint64_t size)
{
	char err[256];
	json_object *doc = body_len ? vmconfig__parse_json(body, body_len, err, sizeof(err)) : NULL;
	int ret = CTL_EXIT_OK;

	if (status < 200 || status > 299) {
		const char *msg = doc ? get_str(doc, "error", NULL) : NULL;

		fprintf(stderr, "pvmm ctl: %s: %d %s%s%s\n", c->endpoint, status, http__reason(status),
			msg ? ": " : "", msg ? msg : "");
		ret = CTL_EXIT_FAILED;
	} else if (body_len && !doc) {
		fprintf(stderr, "pvmm ctl: %s: the answer is not JSON: %s\n", c->endpoint, err);
		ret = CTL_EXIT_FAILED;
	} else if (json) {
		printf("%s\n", doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
									     JSON_C_TO_STRING_NOSLASHESCAPE) : "{}");
	} else if (!strcmp(c->name, "info")) {
		print_info(doc);
	} else if (!strcmp(c->name, "ping")) {
		printf("pvmm %s, pid %" PRIu64 "\n", get_str(doc, "version", NULL),
		       get_u64(doc, "pid", NULL));
	} else if (c->takes_size) {
		print_size("target:", size);
	} else {
		printf("%s\n", c->done);
	}
	json_object_put(doc);
	return ret;
}

int ctl__main(int argc, char **argv)
{
	const char *args[3];
	int nr_args = 0;
	bool json = false;
	const struct command *c = NULL;
	char body[64], *resp;
	uint64_t size = 0;
	ssize_t len;
	int status, ret;
	const char *rbody;
	size_t rbody_len;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (nr_args == 3 || (argv[i][0] == '-' && argv[i][1])) {
			fprintf(stderr, "pvmm ctl: unexpected argument '%s'\n", argv[i]);
			usage();
			return CTL_EXIT_USAGE;
		} else {
			args[nr_args++] = argv[i];
		}
	}
	if (nr_args < 2) {
		usage();
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && !c; i++)
		if (!strcmp(args[1], commands[i].name))
			c = &commands[i];
	if (!c) {
		fprintf(stderr, "pvmm ctl: unknown command '%s'\n", args[1]);
		usage();
		return CTL_EXIT_USAGE;
	}
	if (c->takes_size != (nr_args == 3)) {
		fprintf(stderr, c->takes_size ? "pvmm ctl: %s needs a SIZE (e.g. 512M)\n"
					      : "pvmm ctl: %s takes no argument\n", c->name);
		return CTL_EXIT_USAGE;
	}
	if (c->takes_size && cli__parse_size(args[2], &size)) {
		fprintf(stderr, "pvmm ctl: balloon: '%s' is not a size (use e.g. 512M or 2G)\n", args[2]);
		return CTL_EXIT_USAGE;
	}
	if (c->takes_size)
		snprintf(body, sizeof(body), "{\"desired_ram\":%" PRIu64 "}", size);
	len = exchange(args[0], c, c->takes_size ? body : NULL, &resp);
	if (len < 0)
		return CTL_EXIT_FAILED;
	if (http__parse_response(resp, (size_t)len, &status, &rbody, &rbody_len)) {
		fprintf(stderr, "pvmm ctl: '%s' did not answer in HTTP\n", args[0]);
		free(resp);
		return CTL_EXIT_FAILED;
	}
	ret = report(c, status, rbody, rbody_len, json, size);
	free(resp);
	return ret;
}
