/*
 * fuzz_http_response: libFuzzer harness for http_parse_response() and
 * http_parse_response_eof().
 *
 * Input: one control byte, then the bytes a server sent on one connection
 * (interim 1xx answers, then a final one, perhaps more after it). The
 * control byte's low bit picks small or default limits, the next bit
 * whether the server closes after the bytes (then the EOF call follows a
 * NEED_MORE), the rest where the response is split in two. Each response
 * is parsed in one piece, as two feeds from two different buffers, and,
 * when short, one byte at a time, each on its own exact-size copy; all
 * must agree (rc, error status, consumed, fields, body bytes). A chunked
 * body is checked against a plain reference decoder, pointers must lie in
 * the bytes given, and the limits must hold. After an interim or a
 * complete response the rest is parsed as the next one. Any violation
 * aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parser.h"

#define FUZZ_BYTEWISE_MAX 1024

struct fuzz_result {
	enum http_parse_rc rc;
	int error;
	size_t consumed;
	int status, version_minor;
	size_t reason_off, reason_len;
	bool keep_alive;
	enum http_body_framing framing;
	size_t body_len;
	char *body;
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
}

static void fuzz_record(struct fuzz_result *r, enum http_parse_rc rc, const struct http_parser *p,
                        const struct http_response_info *info, const char *buf, size_t len,
                        const char *orig)
{
	size_t end;

	memset(r, 0, sizeof(*r));
	r->rc = rc;
	if (rc == HTTP_PARSE_NEED_MORE)
		return;
	if (rc == HTTP_PARSE_ERROR) {
		FUZZ_ASSERT(p->status == 400 || p->status == 413 || p->status == 431 ||
		            p->status == 505);
		FUZZ_ASSERT(p->error != NULL && p->error[0] != '\0');
		r->error = p->status;
		return;
	}
	FUZZ_ASSERT(rc == HTTP_PARSE_OK);
	end = p->consumed;
	FUZZ_ASSERT(end > 0 && end <= len);
	FUZZ_ASSERT(p->header_end <= p->lim.max_header);
	r->consumed = end;
	FUZZ_ASSERT(info->status >= 100 && info->status <= 599);
	FUZZ_ASSERT(info->version_minor == 0 || info->version_minor == 1);
	r->status = info->status;
	r->version_minor = info->version_minor;
	r->reason_off = fuzz_off(info->reason, info->reason_len, buf, end);
	r->reason_len = info->reason_len;
	r->keep_alive = info->keep_alive;
	r->framing = info->framing;
	FUZZ_ASSERT(info->body_len <= p->lim.max_body);
	FUZZ_ASSERT(fuzz_off(info->body, info->body_len, buf, end) == p->header_end);
	r->body_len = info->body_len;
	r->body = malloc(r->body_len > 0 ? r->body_len : 1);
	memcpy(r->body, info->body, r->body_len);
	switch (info->framing) {
	case HTTP_BODY_NONE:
		FUZZ_ASSERT(info->status < 200 || info->status == 204 || info->status == 304);
		FUZZ_ASSERT(r->body_len == 0 && end == p->header_end);
		break;
	case HTTP_BODY_CHUNKED:
		fuzz_check_chunked(orig, p, r);
		break;
	case HTTP_BODY_CLOSE:
		/* Only the EOF call completes it, with everything given. */
		FUZZ_ASSERT(!info->keep_alive && end == len);
		/* fall through */
	case HTTP_BODY_LENGTH:
		FUZZ_ASSERT(p->header_end + r->body_len == end);
		FUZZ_ASSERT(memcmp(orig + p->header_end, r->body, r->body_len) == 0);
		break;
	}
}

static void fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	FUZZ_ASSERT(a->rc == b->rc && a->error == b->error && a->consumed == b->consumed);
	FUZZ_ASSERT(a->status == b->status && a->version_minor == b->version_minor);
	FUZZ_ASSERT(a->reason_off == b->reason_off && a->reason_len == b->reason_len);
	FUZZ_ASSERT(a->keep_alive == b->keep_alive && a->framing == b->framing);
	FUZZ_ASSERT(a->body_len == b->body_len);
	FUZZ_ASSERT(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

static char *fuzz_copy(const char *buf, size_t len)
{
	char *c = malloc(len > 0 ? len : 1);

	memcpy(c, buf, len);
	return c;
}

/* The last call: the EOF variant if the server closes and more is needed. */
static enum http_parse_rc fuzz_last(struct http_parser *p, char *buf, size_t len,
                                    struct http_response_info *info, bool eof)
{
	enum http_parse_rc rc = http_parse_response(p, buf, len, info);

	if (rc == HTTP_PARSE_NEED_MORE && eof)
		rc = http_parse_response_eof(p, buf, len, info);
	return rc;
}

static void fuzz_one_piece(const char *orig, size_t len, const struct http_limits *lim, bool eof,
                           struct fuzz_result *r)
{
	struct http_parser p;
	struct http_response_info info;
	char *buf = fuzz_copy(orig, len);
	enum http_parse_rc rc;

	http_parser_init(&p, lim);
	rc = fuzz_last(&p, buf, len, &info, eof);
	fuzz_record(r, rc, &p, &info, buf, len, orig);
	if (rc == HTTP_PARSE_ERROR)
		FUZZ_ASSERT(http_parse_response(&p, buf, len, &info) == HTTP_PARSE_ERROR);
	free(buf);
}

static void fuzz_two_feeds(const char *orig, size_t len, size_t split,
                           const struct http_limits *lim, bool eof, struct fuzz_result *r)
{
	struct http_parser p;
	struct http_response_info info;
	char *first = fuzz_copy(orig, split), *buf;
	enum http_parse_rc rc;

	http_parser_init(&p, lim);
	rc = http_parse_response(&p, first, split, &info);
	if (rc == HTTP_PARSE_NEED_MORE) {
		buf = fuzz_copy(orig, len);
		rc = fuzz_last(&p, buf, len, &info, eof);
		fuzz_record(r, rc, &p, &info, buf, len, orig);
		free(buf);
	} else {
		fuzz_record(r, rc, &p, &info, first, split, orig);
	}
	free(first);
}

static void fuzz_bytewise(const char *orig, size_t len, const struct http_limits *lim, bool eof,
                          struct fuzz_result *r)
{
	struct http_parser p;
	struct http_response_info info;
	enum http_parse_rc rc = HTTP_PARSE_NEED_MORE;
	char *buf = fuzz_copy(orig, len);
	size_t n;

	http_parser_init(&p, lim);
	for (n = 1; n < len && rc == HTTP_PARSE_NEED_MORE; n++)
		rc = http_parse_response(&p, buf, n, &info);
	if (rc == HTTP_PARSE_NEED_MORE) {
		n = len;
		rc = fuzz_last(&p, buf, len, &info, eof);
	} else {
		n--;
	}
	fuzz_record(r, rc, &p, &info, buf, n, orig);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits small = {128, 256}, dflt = {16384, 1024 * 1024};
	const struct http_limits *lim;
	char *buf;
	size_t len, off = 0;
	unsigned ctl;
	bool eof;

	if (size < 1)
		return 0;
	ctl = data[0];
	lim = (ctl & 1) ? &small : &dflt;
	eof = (ctl & 2) != 0;
	len = size - 1;
	buf = fuzz_copy((const char *)data + 1, len);
	while (off < len) {
		struct fuzz_result whole, two, bytewise;
		size_t rest = len - off, split = rest * (ctl >> 2) / 64;

		fuzz_one_piece(buf + off, rest, lim, eof, &whole);
		fuzz_two_feeds(buf + off, rest, split, lim, eof, &two);
		fuzz_same(&whole, &two);
		free(two.body);
		if (rest <= FUZZ_BYTEWISE_MAX) {
			fuzz_bytewise(buf + off, rest, lim, eof, &bytewise);
			fuzz_same(&whole, &bytewise);
			free(bytewise.body);
		}
		free(whole.body);
		if (whole.rc != HTTP_PARSE_OK)
			break;
		off += whole.consumed;
		ctl = (ctl * 37 + 11) & 0xff;
	}
	free(buf);
	return 0;
}
