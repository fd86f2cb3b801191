#include "api/vmconfig.h"
#include "util/errbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/balloon.h"
#include "net/spec.h"

static const char *const level_names[] = {
	[LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};


json_object *vmconfig__parse_json(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex(VMCONFIG_MAX_DEPTH);
	json_object *doc;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok) {
		errbuf__fail(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue || (!doc && jerr == json_tokener_success)) {
		errbuf__fail(err, errlen, "malformed JSON: the document ends early");
		return NULL;
	}
	if (jerr != json_tokener_success) {
		errbuf__fail(err, errlen, "malformed JSON at byte %zu: %s", end, json_tokener_error_desc(jerr));
		json_object_put(doc);
		return NULL;
	}
	for (; end < len; end++) {
		if (!isspace((unsigned char)text[end])) {
			errbuf__fail(err, errlen, "malformed JSON: unexpected data after the document at byte %zu", end);
			json_object_put(doc);
			return NULL;
		}
	}
	return doc;
}

/* Fields of one object: each key must be one of names. */
static int check_fields(json_object *obj, const char *where, const char *const *names,
			char *err, size_t errlen)
{
	char known[128] = "";

	if (!json_object_is_type(obj, json_type_object))
		return errbuf__fail(err, errlen, "%s: must be a JSON object", *where ? where : "the configuration");
	json_object_object_foreach(obj, key, val) {
		const char *const *n;

		(void)val;
		for (n = names; *n && strcmp(key, *n); n++)
			;
		if (*n)
			continue;
		for (n = names; *n; n++) {
			strncat(known, *n, sizeof(known) - strlen(known) - 1);
			if (n[1])
				strncat(known, ", ", sizeof(known) - strlen(known) - 1);
		}
		return errbuf__fail(err, errlen, "%s%s%s: unknown field (pvmm knows %s)", where,
			    *where ? "." : "", key, known);
	}
	return 0;
}

static int get_string(json_object *obj, const char *key, const char *where, const char **out,
		      char *err, size_t errlen)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(obj, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return errbuf__fail(err, errlen, "%s.%s: must be a string", where, key);
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return errbuf__fail(err, errlen, "%s.%s: must not contain a NUL character", where, key);
	*out = s;
	return 0;
}

static int get_uint(json_object *obj, const char *key, const char *where, uint64_t *out,
		    char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return errbuf__fail(err, errlen, "%s.%s: must be a non-negative integer", where, key);
	*out = json_object_get_uint64(v);
	return 0;
}

static int apply_payload(json_object *p, struct vm_config *cfg, char *err, size_t errlen)
{
	static const char *const names[] = { "kernel", "cmdline", "initramfs", NULL };
	int r;

	if (check_fields(p, "payload", names, err, errlen))
		return -1;
	r = get_string(p, "kernel", "payload", &cfg->kernel, err, errlen);
	if (r < 0 || get_string(p, "cmdline", "payload", &cfg->cmdline, err, errlen) < 0 ||
	    get_string(p, "initramfs", "payload", &cfg->initrd, err, errlen) < 0)
		return -1;
	if (cfg->kernel && !*cfg->kernel)
		return errbuf__fail(err, errlen, "payload.kernel: must not be empty");
	return 0;
}

static int apply_memory(json_object *m, struct vm_config *cfg, char *err, size_t errlen)
{
	static const char *const names[] = { "size", NULL };
	uint64_t size;
	int r;

	if (check_fields(m, "memory", names, err, errlen))
		return -1;
	r = get_uint(m, "size", "memory", &size, err, errlen);
	if (r < 0)
		return -1;
	if (r > 0)
		return errbuf__fail(err, errlen, "memory.size: missing (bytes of guest RAM)");
	if (size < VMCONFIG_MIN_MEMORY || size > VMCONFIG_MAX_MEMORY || size % 4096)
		return errbuf__fail(err, errlen, "memory.size: %llu is out of range (4 MiB to 1 TiB, a multiple of 4 KiB)",
			    (unsigned long long)size);
	cfg->mem_size = size;
	return 0;
}

static int apply_cpus(json_object *c, struct vm_config *cfg, char *err, size_t errlen)
{
	static const char *const names[] = { "boot_vcpus", "max_vcpus", NULL };
	uint64_t boot, max;
	int r;

	if (check_fields(c, "cpus", names, err, errlen))
		return -1;
	r = get_uint(c, "boot_vcpus", "cpus", &boot, err, errlen);
	if (r < 0)
		return -1;
	if (r > 0)
		return errbuf__fail(err, errlen, "cpus.boot_vcpus: missing");
	if (boot < 1 || boot > PVMM_MAX_VCPUS)
		return errbuf__fail(err, errlen, "cpus.boot_vcpus: %llu is not from 1 to %d",
			    (unsigned long long)boot, PVMM_MAX_VCPUS);
	r = get_uint(c, "max_vcpus", "cpus", &max, err, errlen);
	if (r < 0)
		return -1;
	/* The guest brings vCPUs up and down itself; there is no hotplug. */
	if (r == 0 && max != boot)
		return errbuf__fail(err, errlen, "cpus.max_vcpus: must equal boot_vcpus (pvmm has no vCPU hotplug)");
	cfg->nr_cpus = (int)boot;
	return 0;
}

/* console.mode and console.file become the --console spelling, kept in
 * spec (which must outlive cfg). */
static int apply_console(json_object *c, struct vm_config *cfg, char *spec, size_t spec_size,
			 char *err, size_t errlen)
{
	static const char *const names[] = { "mode", "file", NULL };
	const char *mode = NULL, *file = NULL;
	int r;

	if (check_fields(c, "console", names, err, errlen))
		return -1;
	r = get_string(c, "mode", "console", &mode, err, errlen);
	if (r < 0 || get_string(c, "file", "console", &file, err, errlen) < 0)
		return -1;
	if (r > 0)
		return errbuf__fail(err, errlen, "console.mode: missing (Tty, File or Off)");
	if (!strcmp(mode, "File")) {
		if (!file || !*file)
			return errbuf__fail(err, errlen, "console.file: a path is needed with mode File");
		if ((size_t)snprintf(spec, spec_size, "file:%s", file) >= spec_size)
			return errbuf__fail(err, errlen, "console.file: path too long");
		cfg->console = spec;
		return 0;
	}
	if (file)
		return errbuf__fail(err, errlen, "console.file: only with mode File");
	if (!strcmp(mode, "Tty"))
		cfg->console = "stdio";
	else if (!strcmp(mode, "Off"))
		cfg->console = "none";
	else
		return errbuf__fail(err, errlen, "console.mode: '%s' is not Tty, File or Off", mode);
	return 0;
}

static int get_bool(json_object *obj, const char *key, const char *where, bool *out,
		    char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_boolean))
		return errbuf__fail(err, errlen, "%s.%s: must be true or false", where, key);
	*out = json_object_get_boolean(v);
	return 0;
}

/* disks[i]: {path, readonly, direct, id}: --disk PATH[,readonly][,direct][,id=N];
 * id, a string as in Cloud Hypervisor, holds the Xen device number. */
static int apply_disk(json_object *d, int i, struct vm_disk *disk, char *err, size_t errlen)
{
	static const char *const names[] = { "path", "readonly", "direct", "id", NULL };
	const char *id = NULL;
	char where[32];
	int r;

	snprintf(where, sizeof(where), "disks[%d]", i);
	*disk = (struct vm_disk){ .devid = -1 };
	if (check_fields(d, where, names, err, errlen))
		return -1;
	r = get_string(d, "path", where, &disk->path, err, errlen);
	if (r < 0)
		return -1;
	if (r > 0 || !*disk->path)
		return errbuf__fail(err, errlen, "%s.path: missing (the disk image)", where);
	if (get_bool(d, "readonly", where, &disk->readonly, err, errlen) < 0 ||
	    get_bool(d, "direct", where, &disk->direct, err, errlen) < 0 ||
	    (r = get_string(d, "id", where, &id, err, errlen)) < 0)
		return -1;
	if (r == 0) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(id, &end, 10);
		if (!isdigit((unsigned char)*id) || *end || errno || n > INT32_MAX)
			return errbuf__fail(err, errlen, "%s.id: '%s' is not a device number from 0 to %d",
				    where, id, INT32_MAX);
		disk->devid = n;
	}
	return 0;
}

static int apply_disks(json_object *list, struct vm_config *cfg, char *err, size_t errlen)
{
	size_t n;

	if (!json_object_is_type(list, json_type_array))
		return errbuf__fail(err, errlen, "disks: must be an array");
	n = json_object_array_length(list);
	if (n > PVMM_MAX_DISKS)
		return errbuf__fail(err, errlen, "disks: at most %d disks", PVMM_MAX_DISKS);
	for (size_t i = 0; i < n; i++)
		if (apply_disk(json_object_array_get_idx(list, i), (int)i, &cfg->disk[i], err, errlen))
			return -1;
	cfg->nr_disks = (int)n;
	return 0;
}

/* Appends ",key=value" to spec; a value must not hold the separator. */
static int spec_add(char *spec, size_t size, const char *where, const char *key,
		    const char *value, char *err, size_t errlen)
{
	size_t len = strlen(spec);

	if (strchr(value, ','))
		return errbuf__fail(err, errlen, "%s.%s: must not contain a comma", where, key);
	if ((size_t)snprintf(spec + len, size - len, ",%s=%s", key, value) >= size - len)
		return errbuf__fail(err, errlen, "%s.%s: too long", where, key);
	return 0;
}

/* The list field key of net entry n, each element added to spec as
 * key=...: "hostfwd" (strings), "fds" (one descriptor, as --net's fd=). */
static int spec_add_list(json_object *n, const char *key, const char *opt, char *spec,
			 size_t size, const char *where, char *err, size_t errlen)
{
	bool fds = !strcmp(key, "fds");
	json_object *list;
	char num[24];
	size_t len;

	if (!json_object_object_get_ex(n, key, &list))
		return 0;
	len = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (!json_object_is_type(list, json_type_array) || (fds && len != 1))
		return errbuf__fail(err, errlen, "%s.%s: must be an array of %s", where, key,
			    fds ? "one file descriptor" : "rules");
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *value = num;

		if (fds) {
			int64_t fd = json_object_get_int64(e);

			if (!json_object_is_type(e, json_type_int) || fd < 0 || fd > INT32_MAX)
				return errbuf__fail(err, errlen, "%s.fds: must hold a file descriptor number", where);
			snprintf(num, sizeof(num), "%lld", (long long)fd);
		} else if (json_object_is_type(e, json_type_string)) {
			value = json_object_get_string(e);
		} else {
			return errbuf__fail(err, errlen, "%s.%s[%zu]: must be a string", where, key, i);
		}
		if (spec_add(spec, size, where, opt, value, err, errlen))
			return -1;
	}
	return 0;
}

/* net[i]: {kind, mac, hostfwd: [RULE...], tap, fds: [N], listen, connect}:
 * the --net option's words as fields ("fds" as Cloud Hypervisor names a tap
 * descriptor).  kind defaults to tap or socket when their fields are there,
 * else to user, as --net's does.  The entry becomes the --net value it
 * stands for and is read by the same parser. */
static int apply_net(json_object *n, int i, struct vm_net *net, char *err, size_t errlen)
{
	static const char *const names[] = { "kind", "mac", "hostfwd", "tap", "fds", "listen",
					     "connect", NULL };
	const char *kind = NULL, *tap = NULL, *mac = NULL, *listen = NULL, *connect = NULL;
	char where[32], spec[4096], msg[512];

	snprintf(where, sizeof(where), "net[%d]", i);
	if (check_fields(n, where, names, err, errlen) ||
	    get_string(n, "kind", where, &kind, err, errlen) < 0 ||
	    get_string(n, "tap", where, &tap, err, errlen) < 0 ||
	    get_string(n, "mac", where, &mac, err, errlen) < 0 ||
	    get_string(n, "listen", where, &listen, err, errlen) < 0 ||
	    get_string(n, "connect", where, &connect, err, errlen) < 0)
		return -1;
	if (!kind)
		kind = tap || json_object_object_get_ex(n, "fds", NULL) ? "tap" :
		       listen || connect ? "socket" : "user";
	if (strcmp(kind, "user") && strcmp(kind, "tap") && strcmp(kind, "socket"))
		return errbuf__fail(err, errlen, "%s.kind: '%s' is not user, tap or socket", where, kind);
	snprintf(spec, sizeof(spec), "%s", kind);
	/* A tap's name is part of the kind's word: tap=NAME. */
	if (tap && spec_add(spec, sizeof(spec), where, "tap", tap, err, errlen))
		return -1;
	if (tap && !strcmp(kind, "tap"))
		memmove(spec, spec + 4, strlen(spec + 4) + 1);
	if (spec_add_list(n, "fds", "fd", spec, sizeof(spec), where, err, errlen) ||
	    (listen && spec_add(spec, sizeof(spec), where, "listen", listen, err, errlen)) ||
	    (connect && spec_add(spec, sizeof(spec), where, "connect", connect, err, errlen)) ||
	    spec_add_list(n, "hostfwd", "hostfwd", spec, sizeof(spec), where, err, errlen) ||
	    (mac && spec_add(spec, sizeof(spec), where, "mac", mac, err, errlen)))
		return -1;
	if (net__parse_spec(spec, net, msg, sizeof(msg)))
		return errbuf__fail(err, errlen, "%s: %s", where, msg);
	return 0;
}

static int apply_nets(json_object *list, struct vm_config *cfg, char *err, size_t errlen)
{
	size_t n;

	if (!json_object_is_type(list, json_type_array))
		return errbuf__fail(err, errlen, "net: must be an array");
	n = json_object_array_length(list);
	if (n > PVMM_MAX_NETS)
		return errbuf__fail(err, errlen, "net: at most %d interfaces", PVMM_MAX_NETS);
	for (size_t i = 0; i < n; i++)
		if (apply_net(json_object_array_get_idx(list, i), (int)i, &cfg->net[i], err, errlen))
			return -1;
	cfg->nr_nets = (int)n;
	return 0;
}

static int apply_pvmm(json_object *p, struct vm_config *cfg, enum log_level *level,
		      char *err, size_t errlen)
{
	static const char *const names[] = { "api_socket", "shutdown_timeout", "log_level", NULL };
	const char *name = NULL;
	uint64_t timeout;
	int r;

	if (check_fields(p, "pvmm", names, err, errlen) ||
	    get_string(p, "api_socket", "pvmm", &cfg->api_socket, err, errlen) < 0)
		return -1;
	r = get_uint(p, "shutdown_timeout", "pvmm", &timeout, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0 && timeout > VMCONFIG_MAX_SHUTDOWN_TIMEOUT)
		return errbuf__fail(err, errlen, "pvmm.shutdown_timeout: %llu is not from 0 to %d seconds",
			    (unsigned long long)timeout, VMCONFIG_MAX_SHUTDOWN_TIMEOUT);
	if (r == 0)
		cfg->shutdown_timeout = (unsigned)timeout;
	r = get_string(p, "log_level", "pvmm", &name, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0 && log__parse_level(name, level))
		return errbuf__fail(err, errlen, "pvmm.log_level: '%s' is not error, warn, info or debug", name);
	return 0;
}

static void free_userdata(json_object *obj, void *data)
{
	(void)obj;
	free(data);
}

int vmconfig__apply(json_object *doc, struct vm_config *cfg, enum log_level *level,
		    char *err, size_t errlen)
{
	static const char *const names[] = { "payload", "memory", "cpus", "console", "disks",
					      "net", "balloon", "pvmm", NULL };
	static const char *const balloon_names[] = { "size", NULL };
	json_object *v, *balloon = NULL;
	char spec[4096 + 8];

	if (check_fields(doc, "", names, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "payload", &v) && apply_payload(v, cfg, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "memory", &v) && apply_memory(v, cfg, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "cpus", &v) && apply_cpus(v, cfg, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "console", &v)) {
		if (apply_console(v, cfg, spec, sizeof(spec), err, errlen))
			return -1;
		/* "file:PATH" is built here: the document keeps it. */
		if (cfg->console == spec) {
			char *kept = strdup(spec);

			if (!kept)
				return errbuf__fail(err, errlen, "out of memory");
			json_object_set_userdata(doc, kept, free_userdata);
			cfg->console = kept;
		}
	}
	if (json_object_object_get_ex(doc, "disks", &v) && apply_disks(v, cfg, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "net", &v) && apply_nets(v, cfg, err, errlen))
		return -1;
	if (json_object_object_get_ex(doc, "pvmm", &v) && apply_pvmm(v, cfg, level, err, errlen))
		return -1;
	/* Last: the balloon is counted from memory.size. */
	if (json_object_object_get_ex(doc, "balloon", &balloon)) {
		uint64_t size;
		int r;

		if (check_fields(balloon, "balloon", balloon_names, err, errlen))
			return -1;
		r = get_uint(balloon, "size", "balloon", &size, err, errlen);
		if (r < 0)
			return -1;
		if (r > 0)
			return errbuf__fail(err, errlen, "balloon.size: missing (bytes the guest gives back)");
		if (size > cfg->mem_size || cfg->mem_size - size < BALLOON_MIN_TARGET || size % 4096)
			return errbuf__fail(err, errlen,
				    "balloon.size: %llu leaves the guest less than 4 MiB of its %llu, or is not a multiple of 4 KiB",
				    (unsigned long long)size, (unsigned long long)cfg->mem_size);
		cfg->balloon_target = size ? cfg->mem_size - size : 0;
	}
	if (!cfg->kernel)
		return errbuf__fail(err, errlen, "payload.kernel: missing (the PVH image to boot)");
	return 0;
}

int vmconfig__check_console(const char *spec)
{
	if (!strcmp(spec, "stdio") || !strcmp(spec, "none"))
		return 0;
	return strncmp(spec, "file:", 5) || spec[5] == '\0' ? -1 : 0;
}

static json_object *console_json(const char *spec)
{
	json_object *c = json_object_new_object();

	if (!strncmp(spec, "file:", 5)) {
		json_object_object_add(c, "mode", json_object_new_string("File"));
		json_object_object_add(c, "file", json_object_new_string(spec + 5));
	} else {
		json_object_object_add(c, "mode", json_object_new_string(strcmp(spec, "none") ? "Tty" : "Off"));
	}
	return c;
}

/* net[]: the fields apply_net() reads, for the same interfaces. */
static json_object *nets_json(const struct vm_config *cfg)
{
	json_object *nets = json_object_new_array();

	for (int i = 0; i < cfg->nr_nets; i++) {
		const struct vm_net *n = &cfg->net[i];
		json_object *o = json_object_new_object();
		char text[NET_HOSTFWD_TEXT];

		json_object_object_add(o, "kind", json_object_new_string(net__kind_name(n->kind)));
		if (n->has_mac) {
			net__format_mac(n->mac, text);
			json_object_object_add(o, "mac", json_object_new_string(text));
		}
		if (n->nr_hostfwd) {
			json_object *rules = json_object_new_array();

			for (int r = 0; r < n->nr_hostfwd; r++) {
				net__format_hostfwd(&n->hostfwd[r], text);
				json_object_array_add(rules, json_object_new_string(text));
			}
			json_object_object_add(o, "hostfwd", rules);
		}
		if (n->tap[0])
			json_object_object_add(o, "tap", json_object_new_string(n->tap));
		if (n->kind == VM_NET_TAP && n->tap_fd >= 0) {
			json_object *fds = json_object_new_array();

			json_object_array_add(fds, json_object_new_int(n->tap_fd));
			json_object_object_add(o, "fds", fds);
		}
		if (n->listen[0])
			json_object_object_add(o, "listen", json_object_new_string(n->listen));
		if (n->connect[0])
			json_object_object_add(o, "connect", json_object_new_string(n->connect));
		json_object_array_add(nets, o);
	}
	return nets;
}

json_object *vmconfig__to_json(const struct vm_config *cfg, uint64_t balloon_target,
			       enum log_level level)
{
	json_object *doc = json_object_new_object();
	json_object *payload = json_object_new_object();
	json_object *memory = json_object_new_object();
	json_object *cpus = json_object_new_object();
	json_object *balloon = json_object_new_object();
	json_object *pvmm = json_object_new_object();
	uint64_t target = balloon_target ? balloon_target : cfg->mem_size;

	json_object_object_add(payload, "kernel", json_object_new_string(cfg->kernel));
	if (cfg->cmdline && *cfg->cmdline)
		json_object_object_add(payload, "cmdline", json_object_new_string(cfg->cmdline));
	if (cfg->initrd)
		json_object_object_add(payload, "initramfs", json_object_new_string(cfg->initrd));
	json_object_object_add(doc, "payload", payload);
	json_object_object_add(memory, "size", json_object_new_uint64(cfg->mem_size));
	json_object_object_add(doc, "memory", memory);
	json_object_object_add(cpus, "boot_vcpus", json_object_new_int(cfg->nr_cpus));
	json_object_object_add(cpus, "max_vcpus", json_object_new_int(cfg->nr_cpus));
	json_object_object_add(doc, "cpus", cpus);
	json_object_object_add(doc, "console", console_json(cfg->console));
	if (cfg->nr_disks) {
		json_object *disks = json_object_new_array();

		for (int i = 0; i < cfg->nr_disks; i++) {
			const struct vm_disk *d = &cfg->disk[i];
			json_object *o = json_object_new_object();

			json_object_object_add(o, "path", json_object_new_string(d->path));
			json_object_object_add(o, "readonly", json_object_new_boolean(d->readonly));
			json_object_object_add(o, "direct", json_object_new_boolean(d->direct));
			if (d->devid >= 0) {
				char id[24];

				snprintf(id, sizeof(id), "%lld", (long long)d->devid);
				json_object_object_add(o, "id", json_object_new_string(id));
			}
			json_object_array_add(disks, o);
		}
		json_object_object_add(doc, "disks", disks);
	}
	if (cfg->nr_nets)
		json_object_object_add(doc, "net", nets_json(cfg));
	json_object_object_add(balloon, "size", json_object_new_uint64(cfg->mem_size - target));
	json_object_object_add(doc, "balloon", balloon);
	if (cfg->api_socket)
		json_object_object_add(pvmm, "api_socket", json_object_new_string(cfg->api_socket));
	json_object_object_add(pvmm, "shutdown_timeout", json_object_new_int((int)cfg->shutdown_timeout));
	json_object_object_add(pvmm, "log_level", json_object_new_string(level_names[level]));
	json_object_object_add(doc, "pvmm", pvmm);
	return doc;
}
