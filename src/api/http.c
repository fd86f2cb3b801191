#include "api/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest request line: method, path, "HTTP/1.1" and CRLF. */
#define HTTP_MAX_LINE (HTTP_MAX_METHOD + 1 + HTTP_MAX_TARGET + 1 + 8 + 2)

/* RFC 9110 token characters. */
static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar(s[i]))
			return false;
	return true;
}

/* Where "\r\n\r\n" ends within buf[0..len), or 0. */
static size_t find_head_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n')
			return i + 1;
	return 0;
}

/* "METHOD SP target SP HTTP/1.x", line without its CRLF.  0 or a status. */
static int parse_request_line(const char *line, size_t len, struct http_request *req)
{
	const char *sp1 = memchr(line, ' ', len), *sp2, *target, *version;
	size_t mlen, tlen, vlen;

	if (!sp1)
		return 400;
	mlen = (size_t)(sp1 - line);
	target = sp1 + 1;
	sp2 = memchr(target, ' ', len - mlen - 1);
	if (!sp2)
		return 400;
	tlen = (size_t)(sp2 - target);
	version = sp2 + 1;
	vlen = len - mlen - tlen - 2;
	if (!is_token(line, mlen) || mlen > HTTP_MAX_METHOD)
		return 400;
	if (tlen > HTTP_MAX_TARGET)
		return 414;
	if (!tlen || target[0] != '/')
		return 400;
	for (size_t i = 0; i < tlen; i++)
		if (target[i] <= ' ' || target[i] >= 0x7f)
			return 400;
	if (vlen != 8 || memcmp(version, "HTTP/", 5) || !isdigit((unsigned char)version[5]) ||
	    version[6] != '.' || !isdigit((unsigned char)version[7]))
		return 400;
	if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
		return 505;
	memcpy(req->method, line, mlen);
	req->method[mlen] = '\0';
	memcpy(req->path, target, tlen);
	req->path[tlen] = '\0';
	return 0;
}

/* A decimal Content-Length of at most HTTP_MAX_BODY; 0 or a status. */
static int parse_length(const char *v, size_t len, size_t *out)
{
	size_t n = 0;

	if (!len)
		return 400;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return 400;
		n = n * 10 + (size_t)(v[i] - '0');
		if (n > HTTP_MAX_BODY)
			return 413;
	}
	*out = n;
	return 0;
}

/* One "Name: value" line without its CRLF.  0 or a status. */
static int parse_header(const char *line, size_t len, struct http_request *req, size_t *length)
{
	const char *colon = memchr(line, ':', len);
	const char *v;
	size_t nlen, vlen;

	/* A line starting with white space folds the previous one: obsolete. */
	if (!colon)
		return 400;
	nlen = (size_t)(colon - line);
	if (!is_token(line, nlen))
		return 400;
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < ' ' && v[i] != '\t')
			return 400;
	if (nlen == 14 && !strncasecmp(line, "Content-Length", 14)) {
		size_t n;
		int st = parse_length(v, vlen, &n);

		if (st)
			return st;
		/* Two different lengths: which body is it? */
		if (req->has_length && n != *length)
			return 400;
		req->has_length = true;
		*length = n;
	} else if (nlen == 17 && !strncasecmp(line, "Transfer-Encoding", 17)) {
		return 501;
	} else if (nlen == 6 && !strncasecmp(line, "Expect", 6)) {
		if (vlen != 12 || strncasecmp(v, "100-continue", 12))
			return 417;
		req->expect_continue = true;
	}
	return 0;
}

enum http_parse http__parse_request(const char *buf, size_t len, struct http_request *req,
				    int *status)
{
	size_t head = find_head_end(buf, len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD);
	size_t length = 0, nr_headers = 0;
	const char *line, *end;
	int st;

	memset(req, 0, sizeof(*req));
	if (!head) {
		/* An over-long request line says more than "head too long". */
		if (!memchr(buf, '\n', len < HTTP_MAX_LINE ? len : HTTP_MAX_LINE) &&
		    len > HTTP_MAX_LINE) {
			*status = 414;
			return HTTP_PARSE_ERROR;
		}
		if (len >= HTTP_MAX_HEAD) {
			*status = 431;
			return HTTP_PARSE_ERROR;
		}
		return HTTP_PARSE_MORE;
	}
	line = buf;
	end = memchr(line, '\n', head);
	if (end == line || end[-1] != '\r') {
		*status = 400;
		return HTTP_PARSE_ERROR;
	}
	st = parse_request_line(line, (size_t)(end - 1 - line), req);
	for (line = end + 1; !st && line < buf + head - 2; line = end + 1) {
		end = memchr(line, '\n', (size_t)(buf + head - line));
		if (end == line || end[-1] != '\r')
			st = 400;
		else if (++nr_headers > HTTP_MAX_HEADERS)
			st = 431;
		else
			st = parse_header(line, (size_t)(end - 1 - line), req, &length);
	}
	if (st) {
		*status = st;
		return HTTP_PARSE_ERROR;
	}
	req->head_len = head;
	if (len - head < length)
		return HTTP_PARSE_MORE;
	req->body = buf + head;
	req->body_len = length;
	return HTTP_PARSE_DONE;
}

const char *http__reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

size_t http__format_response(char *out, size_t size, int status, const char *extra_headers,
			     const char *body)
{
	size_t body_len = body ? strlen(body) : 0;
	int n = snprintf(out, size,
			 "HTTP/1.1 %d %s\r\n"
			 "Server: pvmm\r\n"
			 "%s%s"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "\r\n"
			 "%s",
			 status, http__reason(status),
			 body_len ? "Content-Type: application/json\r\n" : "",
			 extra_headers ? extra_headers : "", body_len, body ? body : "");

	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

int http__parse_response(const char *buf, size_t len, int *status, const char **body,
			 size_t *body_len)
{
	size_t head = find_head_end(buf, len);
	const char *line;
	size_t length = 0;
	bool has_length = false;

	if (!head || len < 12 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ' ||
	    !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]))
		return -1;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	for (line = memchr(buf, '\n', head) + 1; line < buf + head - 2;
	     line = memchr(line, '\n', (size_t)(buf + head - line)) + 1) {
		if (!strncasecmp(line, "Content-Length:", 15)) {
			length = strtoul(line + 15, NULL, 10);
			has_length = true;
		}
	}
	*body = buf + head;
	*body_len = has_length && length < len - head ? length : len - head;
	return 0;
}
