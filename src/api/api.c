#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/vmconfig.h"
#include "balloon/balloon.h"
#include "util/log.h"
#include "vcpu/pause.h"
#include "vcpu/vm.h"
#include "xen/control.h"

#define API_PREFIX "/api/v1/"
/* How often expired connections are looked for while any is open. */
#define API_TICK_MS 250
#define CONN_BUF_SIZE (HTTP_MAX_HEAD + HTTP_MAX_BODY)

struct api_conn {
	struct api *api;
	int fd;                 /* -1: free */
	char *buf;
	size_t len;
	uint64_t deadline_ms;
	bool sent_continue;
};

struct api {
	struct vm *vm;
	int listen_fd;
	int timer_fd;
	bool timer_armed;
	char *path;             /* the socket file pvmm made, removed at stop */
	int nr_conns;
	struct api_conn conn[API_MAX_CLIENTS];
};

/* What a route answers. */
struct reply {
	int status;
	json_object *body;      /* owned; NULL for none */
	const char *headers;    /* extra header lines */
	bool stop_vmm;          /* vmm.shutdown: stop once answered */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4)))
static void reply_error(struct reply *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	json_object_put(r->body);
	r->body = json_object_new_object();
	json_object_object_add(r->body, "error", json_object_new_string(msg));
}

/* ---- routes ---- */

static void route_ping(struct api *api, const struct http_request *req, struct reply *r)
{
	json_object *features = json_object_new_array();

	(void)api;
	(void)req;
	json_object_array_add(features, json_object_new_string("xen-pvh"));
	json_object_array_add(features, json_object_new_string("xen-balloon"));
	r->status = 200;
	r->body = json_object_new_object();
	json_object_object_add(r->body, "version", json_object_new_string(PVMM_VERSION));
	json_object_object_add(r->body, "build_version", json_object_new_string("pvmm " PVMM_VERSION));
	json_object_object_add(r->body, "pid", json_object_new_int64(getpid()));
	json_object_object_add(r->body, "features", features);
}

static void route_vmm_shutdown(struct api *api, const struct http_request *req, struct reply *r)
{
	(void)api;
	(void)req;
	r->status = 204;
	r->stop_vmm = true;
}

static json_object *balloon_json(const struct balloon_stats *st)
{
	json_object *b = json_object_new_object();

	json_object_object_add(b, "maximum", json_object_new_uint64(st->maximum));
	json_object_object_add(b, "current", json_object_new_uint64(st->current));
	json_object_object_add(b, "target", json_object_new_uint64(st->target));
	json_object_object_add(b, "reclaimed", json_object_new_uint64(st->reclaimed));
	json_object_object_add(b, "released_total", json_object_new_uint64(st->released_total));
	json_object_object_add(b, "populated_total", json_object_new_uint64(st->populated_total));
	return b;
}

static void route_info(struct api *api, const struct http_request *req, struct reply *r)
{
	struct vm *vm = api->vm;
	struct balloon_stats st;
	json_object *vcpus = json_object_new_array();

	(void)req;
	balloon__stats(vm, &st);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "id", json_object_new_int(i));
		json_object_object_add(v, "tid", json_object_new_int(pause__vcpu_tid(vm, i)));
		json_object_array_add(vcpus, v);
	}
	r->status = 200;
	r->body = json_object_new_object();
	json_object_object_add(r->body, "config", vmconfig__to_json(vm->cfg, st.target, log__level()));
	json_object_object_add(r->body, "state",
			       json_object_new_string(pause__is_paused(vm) ? "Paused" : "Running"));
	json_object_object_add(r->body, "memory_actual_size", json_object_new_uint64(st.current));
	json_object_object_add(r->body, "balloon", balloon_json(&st));
	json_object_object_add(r->body, "vcpus", vcpus);
}

static void route_pause(struct api *api, const struct http_request *req, struct reply *r)
{
	int ret = pause__vm(api->vm);

	(void)req;
	if (ret == -EALREADY)
		return reply_error(r, 405, "the VM is already paused");
	if (ret)
		return reply_error(r, 500, "a vCPU did not stop within %d ms; the VM keeps running",
				   PAUSE_TIMEOUT_MS);
	pr_info("api: VM paused");
	r->status = 204;
}

static void route_resume(struct api *api, const struct http_request *req, struct reply *r)
{
	(void)req;
	if (pause__resume(api->vm))
		return reply_error(r, 405, "the VM is not paused");
	pr_info("api: VM resumed");
	r->status = 204;
}

/* vm.shutdown, vm.power-button, vm.reboot: a request to the guest, which
 * a paused guest could not hear. */
static bool guest_can_hear(struct api *api, struct reply *r)
{
	if (!pause__is_paused(api->vm))
		return true;
	reply_error(r, 405, "the VM is paused: resume it first");
	return false;
}

static void route_shutdown(struct api *api, const struct http_request *req, struct reply *r)
{
	(void)req;
	if (!guest_can_hear(api, r))
		return;
	control__request_shutdown(api->vm);
	r->status = 204;
}

static void route_reboot(struct api *api, const struct http_request *req, struct reply *r)
{
	(void)req;
	if (!guest_can_hear(api, r))
		return;
	control__request_reboot(api->vm);
	r->status = 204;
}

/* An integer field of a request body: 1 absent, 0 read, -1 after
 * answering 400. */
static int body_uint(json_object *doc, const char *key, uint64_t *out, struct reply *r)
{
	json_object *v;

	if (!json_object_object_get_ex(doc, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		reply_error(r, 400, "%s: must be a non-negative integer", key);
		return -1;
	}
	*out = json_object_get_uint64(v);
	return 0;
}

static void resize(struct api *api, json_object *doc, struct reply *r)
{
	struct vm *vm = api->vm;
	uint64_t ram = vm->cfg->mem_size, want = 0, balloon = 0, vcpus = 0, target;
	int no_ram, no_balloon, no_vcpus;

	if (!json_object_is_type(doc, json_type_object))
		return reply_error(r, 400, "the body must be a JSON object");
	json_object_object_foreach(doc, key, val) {
		(void)val;
		if (strcmp(key, "desired_ram") && strcmp(key, "desired_balloon") &&
		    strcmp(key, "desired_vcpus"))
			return reply_error(r, 400, "%s: unknown field (vm.resize takes desired_ram, desired_balloon, desired_vcpus)",
					   key);
	}
	if ((no_ram = body_uint(doc, "desired_ram", &want, r)) < 0 ||
	    (no_balloon = body_uint(doc, "desired_balloon", &balloon, r)) < 0 ||
	    (no_vcpus = body_uint(doc, "desired_vcpus", &vcpus, r)) < 0)
		return;
	if (!no_vcpus && vcpus != (uint64_t)vm->nr_vcpus)
		return reply_error(r, 400, "desired_vcpus: pvmm cannot change the number of vCPUs (%d)",
				   vm->nr_vcpus);
	if (!no_ram && !no_balloon)
		return reply_error(r, 400, "give desired_ram or desired_balloon, not both");
	if (no_ram && no_balloon) {
		if (no_vcpus)
			return reply_error(r, 400, "nothing to resize: give desired_ram or desired_balloon");
		r->status = 204;    /* the vCPUs it asked for are the ones it has */
		return;
	}
	/* The balloon holds what the guest gives back. */
	target = !no_ram ? want : (balloon <= ram ? ram - balloon : 0);
	if (balloon__set_target(vm, target))
		return reply_error(r, 400,
				   "the memory target must be a multiple of 4 KiB from %llu to %llu bytes",
				   (unsigned long long)BALLOON_MIN_TARGET, (unsigned long long)ram);
	r->status = 204;
}

static void route_resize(struct api *api, const struct http_request *req, struct reply *r)
{
	char err[256];
	json_object *doc = vmconfig__parse_json(req->body, req->body_len, err, sizeof(err));

	if (!doc)
		return reply_error(r, 400, "%s", err);
	resize(api, doc, r);
	json_object_put(doc);
}

enum body { BODY_NONE, BODY_JSON };

static const struct route {
	const char *name;
	const char *method;
	enum body body;
	void (*fn)(struct api *api, const struct http_request *req, struct reply *r);
} routes[] = {
	{ "vmm.ping", "GET", BODY_NONE, route_ping },
	{ "vmm.shutdown", "PUT", BODY_NONE, route_vmm_shutdown },
	{ "vm.info", "GET", BODY_NONE, route_info },
	{ "vm.pause", "PUT", BODY_NONE, route_pause },
	{ "vm.resume", "PUT", BODY_NONE, route_resume },
	{ "vm.shutdown", "PUT", BODY_NONE, route_shutdown },
	{ "vm.power-button", "PUT", BODY_NONE, route_shutdown },
	{ "vm.reboot", "PUT", BODY_NONE, route_reboot },
	{ "vm.resize", "PUT", BODY_JSON, route_resize },
};

/* Cloud Hypervisor endpoints pvmm does not have: 501 rather than 404. */
static const char *const unsupported[] = {
	"vm.create", "vm.boot", "vm.delete", "vm.counters", "vm.balloon-stats",
	"vm.resize-disk", "vm.resize-zone", "vm.add-device", "vm.remove-device",
	"vm.add-disk", "vm.add-fs", "vm.add-generic-vhost-user", "vm.add-pmem",
	"vm.add-net", "vm.add-vsock", "vm.add-vdpa", "vm.add-user-device",
	"vm.snapshot", "vm.coredump", "vm.restore", "vm.receive-migration",
	"vm.send-migration", "vm.nmi", "vmm.nmi",
};

static void route(struct api *api, const struct http_request *req, struct reply *r)
{
	const char *name = req->path + strlen(API_PREFIX);

	if (strncmp(req->path, API_PREFIX, strlen(API_PREFIX)))
		return reply_error(r, 404, "no such endpoint: %s (the API is under " API_PREFIX ")",
				   req->path);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];

		if (strcmp(name, rt->name))
			continue;
		if (strcmp(req->method, rt->method)) {
			r->headers = !strcmp(rt->method, "GET") ? "Allow: GET\r\n" : "Allow: PUT\r\n";
			return reply_error(r, 405, "%s takes %s, not %s", rt->name, rt->method,
					   req->method);
		}
		if (rt->body == BODY_NONE && req->body_len)
			return reply_error(r, 400, "%s takes no body", rt->name);
		if (rt->body == BODY_JSON && !req->has_length)
			return reply_error(r, 411, "%s needs a JSON body with a Content-Length", rt->name);
		if (rt->body == BODY_JSON && !req->body_len)
			return reply_error(r, 400, "%s needs a JSON body", rt->name);
		return rt->fn(api, req, r);
	}
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (!strcmp(name, unsupported[i]))
			return reply_error(r, 501, "%s is not supported by pvmm", name);
	reply_error(r, 404, "no such endpoint: %s", req->path);
}

/* ---- connections ---- */

static void arm_timer(struct api *api, bool on)
{
	struct itimerspec its = { 0 };

	if (on == api->timer_armed)
		return;
	if (on) {
		its.it_value.tv_nsec = API_TICK_MS * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timerfd_settime(api->timer_fd, 0, &its, NULL) == 0)
		api->timer_armed = on;
}

static void conn_close(struct api_conn *c)
{
	struct api *api = c->api;

	loop__remove(&api->vm->loop, c->fd);
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
	c->fd = -1;
	api->nr_conns--;
	arm_timer(api, api->nr_conns > 0);
}

/* Best effort and never waiting: a response is a few KiB, which a fresh
 * Unix socket's buffer takes whole; a client that does not read loses it. */
static void send_all(int fd, const char *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n >= 0 && (size_t)n < len)
		pr_debug("api: response cut short (%zd of %zu bytes)", n, len);
}

static void send_reply(int fd, struct reply *r)
{
	const char *body = r->body ? json_object_to_json_string_ext(r->body, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	size_t size = (body ? strlen(body) : 0) + 512;
	char *out = malloc(size);
	size_t len;

	if (!out)
		return;
	len = http__format_response(out, size, r->status, r->headers, body);
	if (len)
		send_all(fd, out, len);
	free(out);
}

static void answer_error(int fd, int status, const char *msg)
{
	struct reply r = { 0 };

	reply_error(&r, status, "%s", msg);
	send_reply(fd, &r);
	json_object_put(r.body);
}

static void answer_parse_error(int fd, int status)
{
	char msg[128];

	switch (status) {
	case 413:
		snprintf(msg, sizeof(msg), "the body is larger than %d bytes", HTTP_MAX_BODY);
		break;
	case 414:
		snprintf(msg, sizeof(msg), "the request path is longer than %d bytes", HTTP_MAX_TARGET);
		break;
	case 417:
		snprintf(msg, sizeof(msg), "only Expect: 100-continue is understood");
		break;
	case 431:
		snprintf(msg, sizeof(msg), "the request head is larger than %d bytes or has more than %d headers",
			 HTTP_MAX_HEAD, HTTP_MAX_HEADERS);
		break;
	case 501:
		snprintf(msg, sizeof(msg), "Transfer-Encoding is not supported: send a Content-Length");
		break;
	case 505:
		snprintf(msg, sizeof(msg), "only HTTP/1.0 and HTTP/1.1 are spoken");
		break;
	default:
		snprintf(msg, sizeof(msg), "malformed HTTP request");
	}
	answer_error(fd, status, msg);
}

static void serve(struct api_conn *c, const struct http_request *req)
{
	struct api *api = c->api;
	struct reply r = { 0 };

	route(api, req, &r);
	pr_debug("api: %s %s: %d", req->method, req->path, r.status);
	send_reply(c->fd, &r);
	json_object_put(r.body);
	conn_close(c);
	if (r.stop_vmm) {
		pr_info("api: vmm.shutdown: stopping");
		vm__stop(api->vm, PVMM_EXIT_STOPPED);
	}
}

static void on_conn(int fd, void *opaque)
{
	struct api_conn *c = opaque;
	struct http_request req;
	enum http_parse res;
	ssize_t n;
	int status = 400;

	(void)fd;
	n = recv(c->fd, c->buf + c->len, CONN_BUF_SIZE - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Gone before a whole request: nobody to answer. */
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	res = http__parse_request(c->buf, c->len, &req, &status);
	if (res == HTTP_PARSE_ERROR) {
		pr_debug("api: bad request: %d", status);
		answer_parse_error(c->fd, status);
		conn_close(c);
		return;
	}
	if (res == HTTP_PARSE_DONE) {
		serve(c, &req);
		return;
	}
	if (req.head_len && req.expect_continue && !c->sent_continue) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		send_all(c->fd, cont, sizeof(cont) - 1);
		c->sent_continue = true;
	}
}

static void on_timer(int fd, void *opaque)
{
	struct api *api = opaque;
	uint64_t ticks, now = now_ms();

	if (read(fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_conn *c = &api->conn[i];

		if (c->fd >= 0 && now >= c->deadline_ms) {
			answer_error(c->fd, 408, "no complete request within the time limit");
			conn_close(c);
		}
	}
}

static void accept_one(struct api *api, int fd)
{
	struct api_conn *c = NULL;

	for (int i = 0; i < API_MAX_CLIENTS && !c; i++)
		if (api->conn[i].fd < 0)
			c = &api->conn[i];
	if (c)
		c->buf = malloc(CONN_BUF_SIZE);
	if (!c || !c->buf || loop__add(&api->vm->loop, fd, on_conn, c)) {
		answer_error(fd, 503, "too many clients; try again");
		if (c) {
			free(c->buf);
			c->buf = NULL;
		}
		close(fd);
		return;
	}
	c->fd = fd;
	c->len = 0;
	c->sent_continue = false;
	c->deadline_ms = now_ms() + API_REQUEST_TIMEOUT_MS;
	api->nr_conns++;
	arm_timer(api, true);
}

static void on_listen(int fd, void *opaque)
{
	struct api *api = opaque;

	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pr_warn("api: accept: %s", strerror(errno));
			return;
		}
		accept_one(api, c);
	}
}

/* ---- the socket ---- */

/* A listening Unix stream socket handed over as fd=N. */
static int adopt_fd(const char *text)
{
	char *end;
	long fd;
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);
	struct sockaddr_un addr;
	socklen_t alen = sizeof(addr);

	errno = 0;
	fd = strtol(text, &end, 10);
	if (errno || *end || end == text || fd < 0 || fd > 1 << 20) {
		pr_err("--api-socket: 'fd=%s' does not name a file descriptor", text);
		return -1;
	}
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM ||
	    getsockname((int)fd, (struct sockaddr *)&addr, &alen) || addr.sun_family != AF_UNIX) {
		pr_err("--api-socket: descriptor %ld is not a Unix stream socket", fd);
		return -1;
	}
	len = sizeof(listening);
	if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || !listening) {
		if (listen((int)fd, 16)) {
			pr_err("--api-socket: cannot listen on descriptor %ld: %s", fd, strerror(errno));
			return -1;
		}
	}
	return (int)fd;
}

/* A new socket at path, for its owner only.  A socket file nobody answers
 * on is stale and replaced; a live one, or another kind of file, is left
 * alone. */
static int bind_path(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t mask;
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		pr_err("--api-socket: '%s' is longer than %zu bytes", path, sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		pr_err("--api-socket: socket: %s", strerror(errno));
		return -1;
	}
	/* Start-up is single-threaded: the mask covers only this bind. */
	mask = umask(0077);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (ret && errno == EADDRINUSE) {
		struct stat st;
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool stale = probe >= 0 && !lstat(path, &st) && S_ISSOCK(st.st_mode) &&
			     connect(probe, (struct sockaddr *)&addr, sizeof(addr)) &&
			     errno == ECONNREFUSED;

		if (probe >= 0)
			close(probe);
		if (stale && !unlink(path))
			ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
		else
			errno = EADDRINUSE;
	}
	umask(mask);
	if (ret || listen(fd, 16)) {
		pr_err("--api-socket: cannot listen on '%s': %s", path,
		       errno == EADDRINUSE ? "in use, or not a socket" : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int api__start(struct vm *vm, const char *spec)
{
	struct api *api = calloc(1, sizeof(*api));
	bool by_fd = !strncmp(spec, "fd=", 3);

	if (!api) {
		pr_err("api: out of memory");
		return PVMM_EXIT_ERROR;
	}
	api->vm = vm;
	api->timer_fd = -1;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		api->conn[i] = (struct api_conn){ .api = api, .fd = -1 };
	vm->api = api;
	if (!strncmp(spec, "path=", 5))
		spec += 5;
	api->listen_fd = by_fd ? adopt_fd(spec + 3) : bind_path(spec);
	if (api->listen_fd < 0)
		return PVMM_EXIT_BAD_INPUT;
	if (!by_fd && !(api->path = strdup(spec)))
		return PVMM_EXIT_ERROR;
	if (by_fd && fcntl(api->listen_fd, F_SETFL, fcntl(api->listen_fd, F_GETFL) | O_NONBLOCK)) {
		pr_err("api: cannot make descriptor %d non-blocking: %s", api->listen_fd, strerror(errno));
		return PVMM_EXIT_ERROR;
	}
	api->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (api->timer_fd < 0 || loop__add(&vm->loop, api->timer_fd, on_timer, api) ||
	    loop__add(&vm->loop, api->listen_fd, on_listen, api)) {
		pr_err("api: cannot serve the socket: %s", strerror(errno));
		return PVMM_EXIT_ERROR;
	}
	pr_info("api: serving %s", by_fd ? spec : api->path);
	return 0;
}

void api__stop(struct vm *vm)
{
	struct api *api = vm->api;

	if (!api)
		return;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (api->conn[i].fd >= 0)
			conn_close(&api->conn[i]);
	if (api->listen_fd >= 0) {
		loop__remove(&vm->loop, api->listen_fd);
		close(api->listen_fd);
	}
	if (api->timer_fd >= 0) {
		loop__remove(&vm->loop, api->timer_fd);
		close(api->timer_fd);
	}
	if (api->path)
		unlink(api->path);
	free(api->path);
	free(api);
	vm->api = NULL;
}
