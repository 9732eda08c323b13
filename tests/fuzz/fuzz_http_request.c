/*
 * fuzz_http_request: libFuzzer harness for http_parse_request().
 *
 * Input: one control byte, then the bytes a client sent on one connection
 * (a stream of pipelined requests, with Content-Length or chunked bodies).
 * The control byte's low bit picks small or default limits; the rest picks
 * where the first request is split in two. Each request is parsed as one
 * piece, as two feeds from two different buffers (the caller's buffer may
 * move between calls), and, when short, one byte at a time, each on its
 * own copy (a chunked body is joined in place); all must give the same
 * result (rc, status, consumed, request fields, body bytes), since the
 * parser promises that splitting never changes the answer. A chunked body
 * is also checked against a plain reference decoder. After a request the
 * rest is parsed as the next pipelined request. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parser.h"

/* Byte-at-a-time costs one call per byte: only for short requests. */
#define FUZZ_BYTEWISE_MAX 1024

/* The outcome of parsing one request, with pointers as offsets into buf. */
struct fuzz_result {
	enum http_parse_rc rc;
	int status;
	size_t consumed;
	enum http_method method;
	size_t method_off, method_len;
	size_t path_off, path_len;
	long query_off; /* -1: no query */
	size_t query_len;
	int version_minor;
	bool keep_alive;
	size_t nheaders;
	size_t hdr_off[HTTP_MAX_HEADERS][2], hdr_len[HTTP_MAX_HEADERS][2];
	size_t body_off, body_len;
	char *body; /* copy of the body bytes (malloc) */
};

static size_t fuzz_off(const char *p, size_t n, const char *buf, size_t end)
{
	FUZZ_ASSERT(p != NULL && p >= buf && n <= end && (size_t)(p - buf) <= end - n);
	return (size_t)(p - buf);
}

static int fuzz_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Reference decoder for an accepted chunked body: orig holds the request
 * as sent. Sizes are hex up to the line end (extensions skipped), data
 * follows, then CRLF or LF. The joined data must equal the parser's body.
 */
static void fuzz_check_chunked(const char *orig, const struct http_parser *p,
                               const struct fuzz_result *r)
{
	size_t i = p->header_end, out = 0, n;
	int d;

	for (;;) {
		for (n = 0; (d = fuzz_hex((unsigned char)orig[i])) >= 0; i++)
			n = n * 16 + (size_t)d;
		while (orig[i] != '\n')
			i++;
		i++;
		if (n == 0)
			break;
		FUZZ_ASSERT(out + n <= r->body_len);
		FUZZ_ASSERT(memcmp(orig + i, r->body + out, n) == 0);
		out += n;
		i += n;
		FUZZ_ASSERT(orig[i] == '\n' || (orig[i] == '\r' && orig[i + 1] == '\n'));
		i += orig[i] == '\r' ? 2 : 1;
	}
	FUZZ_ASSERT(out == r->body_len);
	FUZZ_ASSERT(i <= p->consumed);
	FUZZ_ASSERT(r->body_len <= p->lim.max_body);
}

/*
 * Check the parser's answer and record it; pointers must lie in the
 * request. buf is the buffer parsed, orig the bytes as sent.
 */
static void fuzz_record(struct fuzz_result *r, enum http_parse_rc rc, const struct http_parser *p,
                        const struct http_request *req, const char *buf, size_t len,
                        const char *orig)
{
	size_t i, end;

	memset(r, 0, sizeof(*r));
	r->rc = rc;
	if (rc == HTTP_PARSE_NEED_MORE)
		return;
	if (rc == HTTP_PARSE_ERROR) {
		FUZZ_ASSERT(p->status == 400 || p->status == 411 || p->status == 413 ||
		            p->status == 431 || p->status == 501 || p->status == 505);
		FUZZ_ASSERT(p->error != NULL && p->error[0] != '\0');
		r->status = p->status;
		return;
	}
	FUZZ_ASSERT(rc == HTTP_PARSE_OK);
	end = p->consumed;
	FUZZ_ASSERT(end > 0 && end <= len);
	r->consumed = end;
	r->method = req->method;
	r->method_off = fuzz_off(req->method_str, req->method_len, buf, end);
	r->method_len = req->method_len;
	FUZZ_ASSERT(req->method_len > 0);
	r->path_off = fuzz_off(req->path, req->path_len, buf, end);
	r->path_len = req->path_len;
	r->query_off = -1;
	if (req->query != NULL) {
		r->query_off = (long)fuzz_off(req->query, req->query_len, buf, end);
		r->query_len = req->query_len;
	}
	r->version_minor = req->version_minor;
	r->keep_alive = req->keep_alive;
	FUZZ_ASSERT(req->nheaders <= HTTP_MAX_HEADERS);
	r->nheaders = req->nheaders;
	for (i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];

		FUZZ_ASSERT(h->name_len > 0);
		r->hdr_off[i][0] = fuzz_off(h->name, h->name_len, buf, end);
		r->hdr_len[i][0] = h->name_len;
		r->hdr_off[i][1] = fuzz_off(h->value, h->value_len, buf, end);
		r->hdr_len[i][1] = h->value_len;
		FUZZ_ASSERT(http_request_header(req, "x-fuzz-absent") == NULL);
	}
	r->body_off = fuzz_off(req->body, req->body_len, buf, end);
	r->body_len = req->body_len;
	r->body = malloc(r->body_len > 0 ? r->body_len : 1);
	memcpy(r->body, req->body, r->body_len);
	FUZZ_ASSERT(r->body_off == p->header_end);
	if (p->chunked)
		fuzz_check_chunked(orig, p, r);
	else /* The body is the request's tail. */
		FUZZ_ASSERT(r->body_off + r->body_len == end);
}

static void fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	FUZZ_ASSERT(a->rc == b->rc);
	FUZZ_ASSERT(a->status == b->status);
	FUZZ_ASSERT(a->consumed == b->consumed);
	FUZZ_ASSERT(a->method == b->method && a->method_off == b->method_off &&
	            a->method_len == b->method_len);
	FUZZ_ASSERT(a->path_off == b->path_off && a->path_len == b->path_len);
	FUZZ_ASSERT(a->query_off == b->query_off && a->query_len == b->query_len);
	FUZZ_ASSERT(a->version_minor == b->version_minor && a->keep_alive == b->keep_alive);
	FUZZ_ASSERT(a->nheaders == b->nheaders);
	FUZZ_ASSERT(memcmp(a->hdr_off, b->hdr_off, sizeof(a->hdr_off)) == 0);
	FUZZ_ASSERT(memcmp(a->hdr_len, b->hdr_len, sizeof(a->hdr_len)) == 0);
	FUZZ_ASSERT(a->body_off == b->body_off && a->body_len == b->body_len);
	FUZZ_ASSERT(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

static void fuzz_result_free(struct fuzz_result *r)
{
	free(r->body);
	r->body = NULL;
}

/* An exact-size heap copy (ASan sees reads past the end; the parser may
 * write into it). */
static char *fuzz_copy(const char *buf, size_t len)
{
	char *c = malloc(len > 0 ? len : 1);

	memcpy(c, buf, len);
	return c;
}

static void fuzz_one_piece(const char *orig, size_t len, const struct http_limits *lim,
                           struct fuzz_result *r)
{
	struct http_parser p;
	struct http_request req;
	enum http_parse_rc rc;
	char *buf = fuzz_copy(orig, len);

	http_parser_init(&p, lim);
	rc = http_parse_request(&p, buf, len, &req);
	fuzz_record(r, rc, &p, &req, buf, len, orig);
	/* Once failed, the parser stays failed. */
	if (rc == HTTP_PARSE_ERROR)
		FUZZ_ASSERT(http_parse_request(&p, buf, len, &req) == HTTP_PARSE_ERROR);
	free(buf);
}

/* First feed from an exact-size copy of the prefix, then from another. */
static void fuzz_two_feeds(const char *orig, size_t len, size_t split,
                           const struct http_limits *lim, struct fuzz_result *r)
{
	struct http_parser p;
	struct http_request req;
	enum http_parse_rc rc;
	char *first = fuzz_copy(orig, split), *buf;

	http_parser_init(&p, lim);
	rc = http_parse_request(&p, first, split, &req);
	if (rc == HTTP_PARSE_NEED_MORE) {
		buf = fuzz_copy(orig, len);
		rc = http_parse_request(&p, buf, len, &req);
		fuzz_record(r, rc, &p, &req, buf, len, orig);
		free(buf);
	} else {
		fuzz_record(r, rc, &p, &req, first, split, orig);
	}
	free(first);
}

static void fuzz_bytewise(const char *orig, size_t len, const struct http_limits *lim,
                          struct fuzz_result *r)
{
	struct http_parser p;
	struct http_request req;
	enum http_parse_rc rc = HTTP_PARSE_NEED_MORE;
	char *buf = fuzz_copy(orig, len);
	size_t n;

	http_parser_init(&p, lim);
	for (n = 1; n <= len && rc == HTTP_PARSE_NEED_MORE; n++)
		rc = http_parse_request(&p, buf, n, &req);
	fuzz_record(r, rc, &p, &req, buf, n - 1, orig);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits small = {256, 1024}, dflt = {8192, 1024 * 1024};
	const struct http_limits *lim;
	char *buf;
	size_t len, off = 0;
	unsigned ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	lim = (ctl & 1) ? &small : &dflt;
	len = size - 1;
	buf = fuzz_copy((const char *)data + 1, len);
	while (off < len) {
		struct fuzz_result whole, two, bytewise;
		size_t rest = len - off, split = rest * (ctl >> 1) / 128;

		fuzz_one_piece(buf + off, rest, lim, &whole);
		fuzz_two_feeds(buf + off, rest, split, lim, &two);
		fuzz_same(&whole, &two);
		fuzz_result_free(&two);
		if (rest <= FUZZ_BYTEWISE_MAX) {
			fuzz_bytewise(buf + off, rest, lim, &bytewise);
			fuzz_same(&whole, &bytewise);
			fuzz_result_free(&bytewise);
		}
		fuzz_result_free(&whole);
		if (whole.rc != HTTP_PARSE_OK)
			break;
		off += whole.consumed;
		/* Later requests of the pipeline are split elsewhere. */
		ctl = (ctl * 37 + 11) & 0xff;
	}
	free(buf);
	return 0;
}
