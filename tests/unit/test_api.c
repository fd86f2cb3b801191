/*
 * The management API's pieces that need no VM: the HTTP request parser
 * and its limits, response formatting and parsing (pvmm ctl's side), and
 * the JSON configuration mapped onto vm_config and back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/vmconfig.h"
#include "check_main.h"

static enum http_parse parse(const char *text, struct http_request *req, int *status)
{
	*status = 0;
	return http__parse_request(text, strlen(text), req, status);
}

START_TEST(request_whole)
{
	struct http_request req;
	int status;
	const char *text = "PUT /api/v1/vm.resize HTTP/1.1\r\nHost: localhost\r\n"
			   "Content-Type: application/json\r\ncontent-length:  5 \r\n\r\n{\"a\":";

	ck_assert_int_eq(parse(text, &req, &status), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.method, "PUT");
	ck_assert_str_eq(req.path, "/api/v1/vm.resize");
	ck_assert(req.has_length);
	ck_assert_uint_eq(req.body_len, 5);
	ck_assert(!memcmp(req.body, "{\"a\":", 5));
}
END_TEST

START_TEST(request_in_pieces)
{
	const char *text = "PUT /api/v1/vm.resize HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
	struct http_request req;
	int status;

	/* Every prefix is incomplete, never an error. */
	for (size_t n = 0; n < strlen(text); n++)
		ck_assert_int_eq(http__parse_request(text, n, &req, &status), HTTP_PARSE_MORE);
	ck_assert_int_eq(http__parse_request(text, strlen(text), &req, &status), HTTP_PARSE_DONE);
}
END_TEST

START_TEST(request_no_body_without_length)
{
	struct http_request req;
	int status;

	ck_assert_int_eq(parse("GET /api/v1/vm.info HTTP/1.0\r\n\r\n", &req, &status), HTTP_PARSE_DONE);
	ck_assert(!req.has_length);
	ck_assert_uint_eq(req.body_len, 0);
}
END_TEST

START_TEST(request_expect_continue)
{
	struct http_request req;
	int status;

	ck_assert_int_eq(parse("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
			       &req, &status), HTTP_PARSE_MORE);
	ck_assert(req.expect_continue);
	ck_assert_uint_gt(req.head_len, 0);
	ck_assert_int_eq(parse("PUT /x HTTP/1.1\r\nExpect: magic\r\n\r\n", &req, &status),
			 HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 417);
}
END_TEST

struct bad_case {
	const char *text;
	int status;
};

static const struct bad_case bad_requests[] = {
	{ "hello\r\n\r\n", 400 },
	{ "GET\r\n\r\n", 400 },
	{ "GET /x\r\n\r\n", 400 },
	{ "GET x HTTP/1.1\r\n\r\n", 400 },              /* not a path */
	{ "GET  /x HTTP/1.1\r\n\r\n", 400 },            /* two spaces */
	{ "G(T /x HTTP/1.1\r\n\r\n", 400 },             /* not a token */
	{ "GET /a\x7f HTTP/1.1\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1 \r\n\r\n", 400 },
	{ "GET /x HTTP/2.0\r\n\r\n", 505 },
	{ "GET /x HTTP/1.2\r\n\r\n", 505 },
	{ "GET /x HTTPS/1.1\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\n\r\n\r\n", 400 },           /* bare LF */
	{ "GET /x HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\n folded\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nA: b\x01\r\n\r\n", 400 },  /* control character */
	{ "GET /x HTTP/1.1\r\nContent-Length: \r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
	{ "GET /x HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413 },
	{ "GET /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413 },
	{ "GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
};

START_TEST(request_bad)
{
	struct http_request req;
	int status;

	ck_assert_int_eq(parse(bad_requests[_i].text, &req, &status), HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, bad_requests[_i].status);
}
END_TEST

START_TEST(request_same_length_twice_is_fine)
{
	struct http_request req;
	int status;

	ck_assert_int_eq(parse("PUT /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
			       &req, &status), HTTP_PARSE_DONE);
	ck_assert_uint_eq(req.body_len, 2);
}
END_TEST

START_TEST(limit_body)
{
	char head[128];
	size_t hlen = (size_t)snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
				       HTTP_MAX_BODY);
	char *buf = malloc(hlen + HTTP_MAX_BODY);
	struct http_request req;
	int status;

	memcpy(buf, head, hlen);
	memset(buf + hlen, 'x', HTTP_MAX_BODY);
	/* The largest body is served, one byte short is awaited. */
	ck_assert_int_eq(http__parse_request(buf, hlen + HTTP_MAX_BODY, &req, &status), HTTP_PARSE_DONE);
	ck_assert_uint_eq(req.body_len, HTTP_MAX_BODY);
	ck_assert_int_eq(http__parse_request(buf, hlen + HTTP_MAX_BODY - 1, &req, &status),
			 HTTP_PARSE_MORE);
	free(buf);
}
END_TEST

START_TEST(limit_path)
{
	char buf[HTTP_MAX_TARGET + 64];
	struct http_request req;
	int status;

	/* A path of exactly the limit is fine, one byte more is 414. */
	strcpy(buf, "GET /");
	memset(buf + 5, 'a', HTTP_MAX_TARGET - 1);
	strcpy(buf + 4 + HTTP_MAX_TARGET, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(buf, &req, &status), HTTP_PARSE_DONE);
	ck_assert_uint_eq(strlen(req.path), HTTP_MAX_TARGET);
	strcpy(buf, "GET /");
	memset(buf + 5, 'a', HTTP_MAX_TARGET);
	strcpy(buf + 5 + HTTP_MAX_TARGET, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(buf, &req, &status), HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 414);
}
END_TEST

START_TEST(limit_endless_request_line)
{
	size_t len = HTTP_MAX_TARGET + 200;
	char *buf = malloc(len);
	struct http_request req;
	int status;

	/* No line end in sight: refused before the head limit. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', len - 5);
	ck_assert_int_eq(http__parse_request(buf, len, &req, &status), HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 414);
	free(buf);
}
END_TEST

START_TEST(limit_head)
{
	char *buf = malloc(HTTP_MAX_HEAD + 64);
	struct http_request req;
	int status;
	size_t n = (size_t)sprintf(buf, "GET /x HTTP/1.1\r\nX: ");

	/* Headers without an end, up to the head limit: then 431. */
	memset(buf + n, 'v', HTTP_MAX_HEAD - n);
	ck_assert_int_eq(http__parse_request(buf, HTTP_MAX_HEAD - 1, &req, &status), HTTP_PARSE_MORE);
	ck_assert_int_eq(http__parse_request(buf, HTTP_MAX_HEAD, &req, &status), HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);
	free(buf);
}
END_TEST

START_TEST(limit_headers)
{
	char buf[4096];
	struct http_request req;
	int status;
	size_t n;

	n = (size_t)sprintf(buf, "GET /x HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(buf + n, "H%d: v\r\n", i);
	strcpy(buf + n, "\r\n");
	ck_assert_int_eq(parse(buf, &req, &status), HTTP_PARSE_DONE);
	sprintf(buf + n, "One-More: v\r\n\r\n");
	ck_assert_int_eq(parse(buf, &req, &status), HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);
}
END_TEST

START_TEST(response_round_trip)
{
	char out[512];
	size_t len = http__format_response(out, sizeof(out), 405, "Allow: GET\r\n", "{\"error\":\"x\"}");
	const char *body;
	size_t body_len;
	int status;

	ck_assert_uint_gt(len, 0);
	ck_assert(!strncmp(out, "HTTP/1.1 405 Method Not Allowed\r\n",
			   strlen("HTTP/1.1 405 Method Not Allowed\r\n")));
	ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 13\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
	ck_assert_int_eq(http__parse_response(out, len, &status, &body, &body_len), 0);
	ck_assert_int_eq(status, 405);
	ck_assert_uint_eq(body_len, 13);
	ck_assert(!memcmp(body, "{\"error\":\"x\"}", 13));
	/* No body: no Content-Type, length 0. */
	len = http__format_response(out, sizeof(out), 204, NULL, NULL);
	ck_assert_ptr_null(strstr(out, "Content-Type"));
	ck_assert_int_eq(http__parse_response(out, len, &status, &body, &body_len), 0);
	ck_assert_int_eq(status, 204);
	ck_assert_uint_eq(body_len, 0);
	/* Too small a buffer: nothing. */
	ck_assert_uint_eq(http__format_response(out, 16, 200, NULL, "{}"), 0);
	ck_assert_int_eq(http__parse_response("SSH-2.0\r\n\r\n", 11, &status, &body, &body_len), -1);
	ck_assert_int_eq(http__parse_response("HTTP/1.1 200 OK\r\n", 17, &status, &body, &body_len), -1);
}
END_TEST

/* ---- the configuration ---- */

static void defaults(struct vm_config *cfg, enum log_level *level)
{
	*cfg = (struct vm_config){
		.mem_size = 256ULL << 20, .nr_cpus = 1, .cmdline = "", .console = "stdio",
		.shutdown_timeout = 30,
	};
	*level = LOG_WARN;
}

/* Applies text onto the defaults: 0, or -1 with err naming the problem. */
static int apply(const char *text, struct vm_config *cfg, enum log_level *level,
		 json_object **doc, char *err, size_t errlen)
{
	defaults(cfg, level);
	*doc = vmconfig__parse_json(text, strlen(text), err, errlen);
	if (!*doc)
		return -1;
	return vmconfig__apply(*doc, cfg, level, err, errlen);
}

START_TEST(config_every_field)
{
	const char *text =
		"{\"payload\": {\"kernel\": \"/k.elf\", \"cmdline\": \"a b\", \"initramfs\": \"/i\"},"
		" \"memory\": {\"size\": 536870912}, \"cpus\": {\"boot_vcpus\": 4, \"max_vcpus\": 4},"
		" \"console\": {\"mode\": \"File\", \"file\": \"/tmp/c.txt\"},"
		" \"disks\": [{\"path\": \"/d.img\", \"readonly\": true, \"direct\": false, \"id\": \"51712\"},"
		"             {\"path\": \"/e.img\", \"readonly\": false, \"direct\": true}],"
		" \"balloon\": {\"size\": 134217728},"
		" \"pvmm\": {\"api_socket\": \"/run/p.sock\", \"shutdown_timeout\": 5, \"log_level\": \"debug\"}}";
	struct vm_config cfg;
	enum log_level level;
	json_object *doc, *back, *again;
	char err[256] = "";

	ck_assert_msg(apply(text, &cfg, &level, &doc, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.kernel, "/k.elf");
	ck_assert_str_eq(cfg.cmdline, "a b");
	ck_assert_str_eq(cfg.initrd, "/i");
	ck_assert_uint_eq(cfg.mem_size, 512ULL << 20);
	ck_assert_int_eq(cfg.nr_cpus, 4);
	ck_assert_str_eq(cfg.console, "file:/tmp/c.txt");
	ck_assert_int_eq(cfg.nr_disks, 2);
	ck_assert_str_eq(cfg.disk[0].path, "/d.img");
	ck_assert(cfg.disk[0].readonly && !cfg.disk[0].direct);
	ck_assert_int_eq(cfg.disk[0].devid, 51712);
	ck_assert_int_eq(cfg.disk[1].devid, -1);
	ck_assert(cfg.disk[1].direct);
	ck_assert_uint_eq(cfg.balloon_target, 384ULL << 20);
	ck_assert_str_eq(cfg.api_socket, "/run/p.sock");
	ck_assert_uint_eq(cfg.shutdown_timeout, 5);
	ck_assert_int_eq(level, LOG_DEBUG);

	/* And back: the same settings give the same document. */
	back = vmconfig__to_json(&cfg, cfg.balloon_target, level);
	ck_assert(json_object_equal(back, doc));
	{
		struct vm_config cfg2;
		enum log_level level2;

		defaults(&cfg2, &level2);
		ck_assert_int_eq(vmconfig__apply(back, &cfg2, &level2, err, sizeof(err)), 0);
		again = vmconfig__to_json(&cfg2, cfg2.balloon_target, level2);
		ck_assert(json_object_equal(again, back));
		json_object_put(again);
	}
	json_object_put(back);
	json_object_put(doc);
}
END_TEST

START_TEST(config_defaults_kept)
{
	struct vm_config cfg;
	enum log_level level;
	json_object *doc, *out;
	char err[256] = "";

	ck_assert_msg(apply("{\"payload\": {\"kernel\": \"k\"}}", &cfg, &level, &doc, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(cfg.mem_size, 256ULL << 20);
	ck_assert_str_eq(cfg.console, "stdio");
	ck_assert_uint_eq(cfg.balloon_target, 0);
	ck_assert_ptr_null(cfg.api_socket);
	out = vmconfig__to_json(&cfg, 0, level);
	ck_assert_str_eq(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE),
			 "{\"payload\":{\"kernel\":\"k\"},\"memory\":{\"size\":268435456},"
			 "\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1},\"console\":{\"mode\":\"Tty\"},"
			 "\"balloon\":{\"size\":0},\"pvmm\":{\"shutdown_timeout\":30,\"log_level\":\"warn\"}}");
	json_object_put(out);
	json_object_put(doc);
	ck_assert_int_eq(apply("{\"payload\": {\"kernel\": \"k\"}, \"console\": {\"mode\": \"Off\"}}",
			       &cfg, &level, &doc, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.console, "none");
	json_object_put(doc);
}
END_TEST

static const struct {
	const char *text;
	const char *error;      /* a part of the message */
} bad_configs[] = {
	{ "", "ends early" },
	{ "{", "ends early" },
	{ "{} {}", "malformed JSON" },
	{ "{}  x", "malformed JSON" },
	{ "{\"a\": 1,}", "malformed JSON" },
	{ "[]", "must be a JSON object" },
	{ "{\"payload\": {}}", "payload.kernel: missing" },
	{ "{\"payload\": {\"kernel\": \"\"}}", "payload.kernel: must not be empty" },
	{ "{\"payload\": {\"kernel\": 1}}", "payload.kernel: must be a string" },
	{ "{\"payload\": {\"kernel\": \"a\\u0000b\"}}", "NUL" },
	{ "{\"payload\": {\"kernel\": \"k\", \"igvm\": \"x\"}}", "payload.igvm: unknown field" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"rng\": {}}", "rng: unknown field" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"memory\": {}}", "memory.size: missing" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 4097}}", "memory.size: 4097 is out of range" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": -4096}}", "memory.size: must be a non-negative integer" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 1.5}}", "memory.size: must be a non-negative integer" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"memory\": {\"size\": 18446744073709551615}}", "out of range" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {\"boot_vcpus\": 33}}", "cpus.boot_vcpus: 33" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"cpus\": {\"max_vcpus\": 1}}", "cpus.boot_vcpus: missing" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"console\": {\"mode\": \"Tty\", \"file\": \"x\"}}", "only with mode File" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"console\": {}}", "console.mode: missing" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"balloon\": {\"size\": 266338305}}", "balloon.size" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"balloon\": {\"size\": 268435456}}", "balloon.size" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"disks\": {}}", "disks: must be an array" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"disks\": [{\"path\": \"p\", \"readonly\": 1}]}", "disks[0].readonly: must be true or false" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"pvmm\": {\"api_socket\": 3}}", "pvmm.api_socket: must be a string" },
	{ "{\"payload\": {\"kernel\": \"k\"}, \"pvmm\": {\"verbose\": true}}", "pvmm.verbose: unknown field" },
};

START_TEST(config_bad)
{
	struct vm_config cfg;
	enum log_level level;
	json_object *doc = NULL;
	char err[256] = "";

	ck_assert_int_eq(apply(bad_configs[_i].text, &cfg, &level, &doc, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_configs[_i].error), "'%s': got '%s'", bad_configs[_i].text, err);
	ck_assert_ptr_null(strchr(err, '\n'));
	json_object_put(doc);
}
END_TEST

START_TEST(config_deep_nesting)
{
	char text[256];
	char err[256];
	json_object *doc;

	memset(text, '[', 64);
	memset(text + 64, ']', 64);
	text[128] = '\0';
	doc = vmconfig__parse_json(text, strlen(text), err, sizeof(err));
	ck_assert_ptr_null(doc);
	ck_assert_ptr_nonnull(strstr(err, "malformed JSON"));
}
END_TEST

START_TEST(config_console_spelling)
{
	ck_assert_int_eq(vmconfig__check_console("stdio"), 0);
	ck_assert_int_eq(vmconfig__check_console("none"), 0);
	ck_assert_int_eq(vmconfig__check_console("file:/x"), 0);
	ck_assert_int_eq(vmconfig__check_console("file:"), -1);
	ck_assert_int_eq(vmconfig__check_console("tty"), -1);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *http = tcase_create("http");
	TCase *config = tcase_create("config");

	tcase_add_test(http, request_whole);
	tcase_add_test(http, request_in_pieces);
	tcase_add_test(http, request_no_body_without_length);
	tcase_add_test(http, request_expect_continue);
	tcase_add_loop_test(http, request_bad, 0, sizeof(bad_requests) / sizeof(bad_requests[0]));
	tcase_add_test(http, request_same_length_twice_is_fine);
	tcase_add_test(http, limit_body);
	tcase_add_test(http, limit_path);
	tcase_add_test(http, limit_endless_request_line);
	tcase_add_test(http, limit_head);
	tcase_add_test(http, limit_headers);
	tcase_add_test(http, response_round_trip);
	suite_add_tcase(s, http);
	tcase_add_test(config, config_every_field);
	tcase_add_test(config, config_defaults_kept);
	tcase_add_loop_test(config, config_bad, 0, sizeof(bad_configs) / sizeof(bad_configs[0]));
	tcase_add_test(config, config_deep_nesting);
	tcase_add_test(config, config_console_spelling);
	suite_add_tcase(s, config);
	return s;
}

CHECK_MAIN(api_suite)
