/*
 * The little HTTP/1.1 pvmm's management API needs: one request per
 * connection, parsed from a buffer with strict limits, and the responses.
 * Nothing here does I/O, so the limits are tested on their own.
 *
 * What a request may be:
 *   - a request line "METHOD SP /path SP HTTP/1.0|1.1" CRLF, the method a
 *     token, the path printable ASCII of at most HTTP_MAX_TARGET bytes;
 *   - at most HTTP_MAX_HEADERS header lines "Name: value" CRLF (no folded
 *     lines), the whole head at most HTTP_MAX_HEAD bytes;
 *   - a body only with Content-Length (at most HTTP_MAX_BODY);
 *     Transfer-Encoding is not implemented.
 */
#ifndef PVMM_API_HTTP_H
#define PVMM_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD     8192      /* request line and headers, with CRLFs */
#define HTTP_MAX_TARGET   1024      /* the path */
#define HTTP_MAX_HEADERS  32
#define HTTP_MAX_BODY     65536
#define HTTP_MAX_METHOD   16

struct http_request {
	char method[HTTP_MAX_METHOD + 1];
	char path[HTTP_MAX_TARGET + 1];
	bool has_length;        /* Content-Length was given */
	bool expect_continue;   /* Expect: 100-continue */
	size_t head_len;        /* bytes of the head, final CRLF included */
	size_t body_len;
	const char *body;       /* into the parsed buffer; body_len bytes */
};

enum http_parse {
	HTTP_PARSE_MORE,        /* incomplete: read more */
	HTTP_PARSE_DONE,        /* *req holds the request */
	HTTP_PARSE_ERROR,       /* answer with *status and close */
};

/*
 * Parses the request at the start of buf[0..len).  On HTTP_PARSE_MORE
 * with the head complete, req->head_len and req->expect_continue are set
 * (for a 100 Continue).  On error *status is the status to answer: 400,
 * 405 is not decided here, 413 (body), 414 (path), 431 (head), 501
 * (Transfer-Encoding), 505 (version).
 */
enum http_parse http__parse_request(const char *buf, size_t len, struct http_request *req,
				    int *status);

/* The reason phrase of a status pvmm answers with. */
const char *http__reason(int status);

/*
 * Formats a response with Content-Length and "Connection: close" into
 * out[0..size): the status line, extra header lines (each ending in CRLF,
 * may be NULL), and body (a JSON document, may be NULL).  Returns the
 * length, or 0 when it does not fit.
 */
size_t http__format_response(char *out, size_t size, int status, const char *extra_headers,
			     const char *body);

/*
 * The client side (pvmm ctl): a complete response in buf[0..len), read
 * until the server closed the connection.  Sets *status and the body
 * (after the head; to the end of buf, or Content-Length bytes).  0, or -1
 * when it is not an HTTP/1.x response.
 */
int http__parse_response(const char *buf, size_t len, int *status, const char **body,
			 size_t *body_len);

#endif
