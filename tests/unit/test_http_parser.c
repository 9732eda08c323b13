/*
 * test_http_parser: the incremental request parser against a table of good
 * and bad requests. Every request is parsed in one piece, one byte at a
 * time and in every 2-way split, each step in a freshly allocated buffer of
 * exactly the bytes so far (so the buffer moves, and ASan sees any read
 * past the end); all must give the same outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_compat.h"
#include "http_parser.h"

#define NOQ    "\x01" /* expected query: none (NULL) */
#define WHOLE  ((size_t)-1)
#define ANYHDR (-1)

struct tcase {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t max_header, max_body;
	int rc, status;
	enum http_method method;
	const char *path, *query, *body;
	int keep_alive;
	size_t consumed; /* WHOLE: all of in */
	int nheaders;    /* ANYHDR: not checked */
	const char *error;
};

#define GOOD(n, in, m, path, q, ka, body, nh)                                                      \
	{                                                                                          \
		n, in, 0, 8192, 1024, HTTP_PARSE_OK, 0, m, path, q, body, ka, WHOLE, nh, NULL      \
	}
#define BAD(n, in, st, err)                                                                        \
	{                                                                                          \
		n, in, 0, 8192, 1024, HTTP_PARSE_ERROR, st, 0, NULL, NULL, NULL, 0, 0, ANYHDR, err \
	}
/* With NUL bytes: the length comes from the literal. */
#define BADN(n, lit, st)                                                                           \
	{                                                                                          \
		n, lit, sizeof(lit) - 1, 8192, 1024, HTTP_PARSE_ERROR, st, 0, NULL, NULL, NULL, 0, \
		        0, ANYHDR, NULL                                                            \
	}
#define MORE(n, in)                                                                                \
	{                                                                                          \
		n, in, 0, 8192, 1024, HTTP_PARSE_NEED_MORE, 0, 0, NULL, NULL, NULL, 0, 0, ANYHDR,  \
		        NULL                                                                       \
	}

static const struct tcase cases[] = {
        GOOD("simple get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_GET, "/", NOQ, 1, "", 1),
        GOOD("no headers", "GET /status HTTP/1.1\r\n\r\n", HTTP_GET, "/status", NOQ, 1, "", 0),
        GOOD("query", "GET /subscriptions?url=x&topic=a%2Fb HTTP/1.1\r\n\r\n", HTTP_GET,
             "/subscriptions", "url=x&topic=a%2Fb", 1, "", 0),
        GOOD("empty query", "GET /a? HTTP/1.1\r\n\r\n", HTTP_GET, "/a", "", 1, "", 0),
        GOOD("bare LF", "GET /x HTTP/1.1\nHost: a\nAccept: */*\n\n", HTTP_GET, "/x", NOQ, 1, "", 2),
        GOOD("mixed line ends", "GET /x HTTP/1.1\r\nHost: a\n\r\n", HTTP_GET, "/x", NOQ, 1, "", 1),
        GOOD("http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", HTTP_GET, "/", NOQ, 0, "", 0),
        GOOD("http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HTTP_GET,
             "/", NOQ, 1, "", 1),
        GOOD("connection close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", HTTP_GET, "/", NOQ,
             0, "", 1),
        GOOD("connection list", "GET / HTTP/1.1\r\nConnection: upgrade ,  CLOSE\r\n\r\n", HTTP_GET,
             "/", NOQ, 0, "", 1),
        GOOD("connection not a token match", "GET / HTTP/1.1\r\nConnection: closed, xclose\r\n\r\n",
             HTTP_GET, "/", NOQ, 1, "", 1),
        GOOD("post with body",
             "POST /events/PrintStarted HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\n"
             "{\"a\": [1,2]}\n",
             HTTP_POST, "/events/PrintStarted", NOQ, 1, "{\"a\": [1,2]}\n", 2),
        GOOD("post empty body", "POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HTTP_POST, "/p",
             NOQ, 1, "", 1),
        GOOD("put", "PUT /p HTTP/1.1\r\ncontent-length: 2\r\n\r\nab", HTTP_PUT, "/p", NOQ, 1, "ab",
             1),
        GOOD("delete", "DELETE /subscriptions/4 HTTP/1.1\r\n\r\n", HTTP_DELETE, "/subscriptions/4",
             NOQ, 1, "", 0),
        GOOD("head", "HEAD /health HTTP/1.1\r\n\r\n", HTTP_HEAD, "/health", NOQ, 1, "", 0),
        GOOD("other method", "PATCH /p HTTP/1.1\r\n\r\n", HTTP_OTHER, "/p", NOQ, 1, "", 0),
        GOOD("methods are case-sensitive", "get / HTTP/1.1\r\n\r\n", HTTP_OTHER, "/", NOQ, 1, "",
             0),
        GOOD("token method", "M-SEARCH! / HTTP/1.1\r\n\r\n", HTTP_OTHER, "/", NOQ, 1, "", 0),
        GOOD("get with body", "GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", HTTP_GET, "/", NOQ,
             1, "hi", 1),
        GOOD("leading empty lines", "\r\n\nGET /a HTTP/1.1\r\n\r\n", HTTP_GET, "/a", NOQ, 1, "", 0),
        GOOD("value trimmed, inner space kept", "GET / HTTP/1.1\r\nX-A: \t v  v \t\r\nX-B:\r\n\r\n",
             HTTP_GET, "/", NOQ, 1, "", 2),
        GOOD("obs-text value", "GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n", HTTP_GET, "/", NOQ,
             1, "", 1),
        GOOD("percent and utf-8 in target", "GET /events/a%20b\xc3\xa9 HTTP/1.1\r\n\r\n", HTTP_GET,
             "/events/a%20b\xc3\xa9", NOQ, 1, "", 0),

        BAD("double space", "GET  / HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("leading space", " GET / HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("trailing space", "GET / HTTP/1.1 \r\n\r\n", 400, NULL),
        BAD("no version", "GET /\r\n\r\n", 400, NULL),
        BAD("only a method", "GET\r\n\r\n", 400, NULL),
        BAD("absolute form", "GET http://h/ HTTP/1.1\r\n\r\n", 400,
            "request target must start with '/'"),
        BAD("asterisk form", "OPTIONS * HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("method not a token", "G(T / HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("control char in target", "GET /a\x01z HTTP/1.1\r\n\r\n", 400,
            "control character in the request target"),
        BAD("DEL in target", "GET /a\x7fz HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("tab in target", "GET /a\tz HTTP/1.1\r\n\r\n", 400, NULL),
        BAD("CR in request line", "GET / HTTP/1.1\r\r\n\r\n", 400, NULL),
        BAD("http/2", "GET / HTTP/2.0\r\n\r\n", 505, NULL),
        BAD("http/1.2", "GET / HTTP/1.2\r\n\r\n", 505, NULL),
        BAD("http/0.9", "GET / HTTP/0.9\r\n\r\n", 505, NULL),
        BAD("version garbage", "GET / HTTP/1.x\r\n\r\n", 400, "malformed HTTP version"),
        BAD("version short", "GET / HTTP/3\r\n\r\n", 400, NULL),
        BAD("version long", "GET / HTTP/11.1\r\n\r\n", 400, NULL),
        BAD("version lowercase", "GET / http/1.1\r\n\r\n", 400, NULL),
        BAD("version scheme", "GET / HTTPS/1.1\r\n\r\n", 400, NULL),
        BAD("header without colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, NULL),
        BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400,
            "whitespace between a header name and ':'"),
        BAD("empty header name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400, NULL),
        BAD("header name not a token", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400, NULL),
        BAD("obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400,
            "folded header lines are not allowed"),
        BAD("obs-fold tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, NULL),
        BAD("fold on first header", "GET / HTTP/1.1\r\n X: a\r\n\r\n", 400, NULL),
        BAD("control char in value", "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400, NULL),
        BAD("CR in value", "GET / HTTP/1.1\r\nX: a\rz\r\n\r\n", 400, NULL),
        BADN("NUL in value", "GET / HTTP/1.1\r\nX: a\0z\r\n\r\n", 400),
        BADN("NUL in target", "GET /a\0 HTTP/1.1\r\n\r\n", 400),
        BADN("NUL in method", "G\0T / HTTP/1.1\r\n\r\n", 400),
        BAD("content-length letters", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
            "Content-Length is not a number"),
        BAD("content-length negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
            "Content-Length is not a number"),
        BAD("content-length plus", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400, NULL),
        BAD("content-length empty", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, NULL),
        BAD("content-length inner space", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400,
            NULL),
        BAD("content-length hex", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, NULL),
        BAD("content-length list", "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400, NULL),
        BAD("content-length overflow",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413, NULL),
        BAD("content-length conflict",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
            "more than one Content-Length header"),
        BAD("identical content-lengths",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400,
            "more than one Content-Length header"),
        BAD("transfer-encoding gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
            "only Transfer-Encoding: chunked is supported"),
        BAD("transfer-encoding list", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501, NULL),
        BAD("transfer-encoding twice",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            501, NULL),
        BAD("transfer-encoding in http/1.0",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
            "Transfer-Encoding in an HTTP/1.0 request"),
        BAD("chunk size not hex", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", 400,
            "malformed chunk size"),
        BAD("chunk size empty", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400,
            "malformed chunk size"),
        BAD("chunk size after a blank",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", 400,
            "malformed chunk size"),
        BAD("chunk size signed",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", 400,
            NULL),
        BAD("chunk size junk after",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", 400,
            "malformed chunk size"),
        BAD("chunk extension control char",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n0\r\n\r\n", 400,
            "control character in a chunk extension"),
        BAD("chunk data too long",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400,
            "chunk data not followed by CRLF"),
        BAD("chunks over max_body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n",
            413, NULL),
        BAD("chunk size overflow",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffffff\r\n",
            413, "request body is larger than http.max_body"),
        GOOD("chunked",
             "POST /c HTTP/1.1\r\nTransfer-Encoding: "
             "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             HTTP_POST, "/c", NOQ, 1, "abcde", 1),
        GOOD("chunked empty", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             HTTP_POST, "/c", NOQ, 1, "", 1),
        GOOD("chunked with extensions, trailer, bare LF, case",
             "POST /c HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n00A ; a=b;c\r\n0123456789\n"
             "1;x=\"y\"\nZ\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\n\r\n",
             HTTP_POST, "/c", NOQ, 1, "0123456789Z", 1),
        GOOD("chunked body holding CRLFs and digits",
             "POST /c HTTP/1.1\r\nTransfer-Encoding: "
             "chunked\r\n\r\n4\r\n\r\n0\r\r\n4\r\n1\r\n\n\r\n0\r\n\r\n",
             HTTP_POST, "/c", NOQ, 1, "\r\n0\r1\r\n\n", 1),
        BAD("transfer-encoding and length",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
            NULL),
        BAD("post without length", "POST /events/x HTTP/1.1\r\nHost: a\r\n\r\n", 411,
            "Content-Length is required"),
        BAD("put without length", "PUT /x HTTP/1.1\r\n\r\n", 411, NULL),
        BAD("body too large", "POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413,
            "request body is larger than http.max_body"),

        MORE("empty", ""),
        MORE("only empty lines", "\r\n\r\n\n"),
        MORE("partial request line", "GET /sta"),
        MORE("head not finished", "GET / HTTP/1.1\r\nHost: a\r\n"),
        MORE("head missing last LF", "GET / HTTP/1.1\r\nHost: a\r\n\r"),
        MORE("body not finished", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc"),
        MORE("garbage without line end", "\x01\x02\x03 junk"),
        MORE("chunked, head only", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        MORE("chunked, in a chunk", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
        MORE("chunked, no last chunk",
             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"),
        MORE("chunked, in the trailer",
             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n"),

        /* Pipelining: parsing stops at the first request's end. */
        {"pipelined gets", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0, 8192, 1024,
         HTTP_PARSE_OK, 0, HTTP_GET, "/a", NOQ, "", 1, 19, 0, NULL},
        {"pipelined post then get", "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzGET /b", 0,
         8192, 1024, HTTP_PARSE_OK, 0, HTTP_POST, "/a", NOQ, "xyz", 1, 42, 1, NULL},
        {"pipelined chunked then get",
         "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\nGET /b "
         "HTTP/1.1\r\n\r\n",
         0, 8192, 1024, HTTP_PARSE_OK, 0, HTTP_POST, "/a", NOQ, "q", 1, 59, 1, NULL},
        {"bad request after a good one", "GET /a HTTP/1.1\r\n\r\n\x01\x02\r\n\r\n", 0, 8192, 1024,
         HTTP_PARSE_OK, 0, HTTP_GET, "/a", NOQ, "", 1, 19, 0, NULL},
};

/* The outcome of one parse, with the request's fields copied out. */
struct outcome {
	int rc, status;
	char text[4096];
};

static void outcome_fill(struct outcome *o, int rc, const struct http_parser *p,
                         const struct http_request *r)
{
	size_t n = 0, i;

	o->rc = rc;
	o->status = rc == HTTP_PARSE_ERROR ? p->status : 0;
	o->text[0] = '\0';
	if (rc == HTTP_PARSE_ERROR) {
		snprintf(o->text, sizeof(o->text), "error %d %s", p->status, p->error);
		return;
	}
	if (rc != HTTP_PARSE_OK)
		return;
	n += (size_t)snprintf(o->text + n, sizeof(o->text) - n,
	                      "m=%d %.*s path=%.*s q=%s%.*s v=%d ka=%d consumed=%zu body=%.*s h=",
	                      (int)r->method, (int)r->method_len, r->method_str, (int)r->path_len,
	                      r->path, r->query ? "" : "(none)", (int)r->query_len,
	                      r->query ? r->query : "", r->version_minor, (int)r->keep_alive,
	                      p->consumed, (int)r->body_len, r->body ? r->body : "");
	for (i = 0; i < r->nheaders && n < sizeof(o->text); i++)
		n += (size_t)snprintf(o->text + n, sizeof(o->text) - n, "[%.*s=%.*s]",
		                      (int)r->headers[i].name_len, r->headers[i].name,
		                      (int)r->headers[i].value_len, r->headers[i].value);
}

/*
 * Feed in[0..len) as the prefixes cuts[0] < cuts[1] < ... <= len (the last
 * one is len), each in a fresh exact-size copy; stop at the first answer
 * that is not NEED_MORE.
 */
static void feed(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                 const struct http_limits *lim, struct outcome *o)
{
	struct http_parser p;
	struct http_request req;
	size_t i;
	int rc = HTTP_PARSE_NEED_MORE;

	http_parser_init(&p, lim);
	memset(&req, 0, sizeof(req));
	for (i = 0; i < ncuts; i++) {
		char *copy = malloc(cuts[i] > 0 ? cuts[i] : 1);

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, in, cuts[i]);
		rc = http_parse_request(&p, copy, cuts[i], &req);
		if (rc != HTTP_PARSE_NEED_MORE || i + 1 == ncuts) {
			outcome_fill(o, rc, &p, &req);
			free(copy);
			return;
		}
		free(copy);
	}
	outcome_fill(o, rc, &p, &req);
}

static void check_case(const struct tcase *t)
{
	struct http_limits lim = {t->max_header, t->max_body};
	size_t len = t->len ? t->len : strlen(t->in);
	size_t *cuts = calloc(len + 1, sizeof(*cuts));
	struct outcome whole, other;
	struct http_parser p;
	struct http_request req;
	char *copy;
	size_t i;
	int rc;

	ck_assert_ptr_nonnull(cuts);
	cuts[0] = len;
	feed(t->in, len, cuts, 1, &lim, &whole);
	ck_assert_msg(whole.rc == t->rc, "%s: rc %d, want %d (%s)", t->name, whole.rc, t->rc,
	              whole.text);
	if (t->rc == HTTP_PARSE_ERROR) {
		ck_assert_msg(whole.status == t->status, "%s: status %d, want %d (%s)", t->name,
		              whole.status, t->status, whole.text);
	}

	/* The request's fields, checked once on a parse in one piece. */
	http_parser_init(&p, &lim);
	copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t->in, len);
	rc = http_parse_request(&p, copy, len, &req);
	ck_assert_int_eq(rc, t->rc);
	if (rc == HTTP_PARSE_ERROR) {
		ck_assert_ptr_nonnull(p.error);
		ck_assert_msg(strlen(p.error) > 5, "%s: error text too short", t->name);
		if (t->error != NULL)
			ck_assert_str_eq(p.error, t->error);
	}
	if (rc == HTTP_PARSE_OK) {
		ck_assert_msg(req.method == t->method, "%s: method %d", t->name, (int)req.method);
		ck_assert_msg(req.path_len == strlen(t->path) &&
		                      memcmp(req.path, t->path, req.path_len) == 0,
		              "%s: path %.*s", t->name, (int)req.path_len, req.path);
		if (strcmp(t->query, NOQ) == 0) {
			ck_assert_ptr_null(req.query);
		} else {
			ck_assert_ptr_nonnull(req.query);
			ck_assert_uint_eq(req.query_len, strlen(t->query));
			ck_assert(memcmp(req.query, t->query, req.query_len) == 0);
		}
		ck_assert_msg(req.keep_alive == (t->keep_alive != 0), "%s: keep_alive", t->name);
		ck_assert_uint_eq(req.body_len, strlen(t->body));
		ck_assert(req.body_len == 0 || memcmp(req.body, t->body, req.body_len) == 0);
		ck_assert_uint_eq(p.consumed, t->consumed == WHOLE ? len : t->consumed);
		if (t->nheaders != ANYHDR)
			ck_assert_uint_eq(req.nheaders, (size_t)t->nheaders);
	}
	free(copy);

	/* One byte at a time. */
	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	if (len > 0) {
		feed(t->in, len, cuts, len, &lim, &other);
		ck_assert_msg(other.rc == whole.rc && strcmp(other.text, whole.text) == 0,
		              "%s: byte by byte gives %d '%s', in one piece %d '%s'", t->name,
		              other.rc, other.text, whole.rc, whole.text);
	}
	/* Every 2-way split. */
	for (i = 0; i <= len; i++) {
		size_t two[2] = {i, len};

		feed(t->in, len, two, 2, &lim, &other);
		ck_assert_msg(other.rc == whole.rc && strcmp(other.text, whole.text) == 0,
		              "%s: split at %zu gives %d '%s', in one piece %d '%s'", t->name, i,
		              other.rc, other.text, whole.rc, whole.text);
	}
	free(cuts);
}

START_TEST(test_table)
{
	check_case(&cases[_i]);
}
END_TEST

START_TEST(test_header_values)
{
	static char in[] = "GET / HTTP/1.1\r\nX-A: \t v  v \t\r\nX-B:\r\nhOsT: h:1\r\n\r\n";
	struct http_limits lim = {8192, 1024};
	struct http_parser p;
	struct http_request req;
	const struct http_header *h;

	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, in, sizeof(in) - 1, &req), HTTP_PARSE_OK);
	ck_assert_uint_eq(req.nheaders, 3);
	h = http_request_header(&req, "x-a");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->value_len, 4);
	ck_assert(memcmp(h->value, "v  v", 4) == 0);
	h = http_request_header(&req, "X-B");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->value_len, 0);
	h = http_request_header(&req, "Host");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->name_len, 4);
	ck_assert(memcmp(h->value, "h:1", 3) == 0 && h->value_len == 3);
	ck_assert_ptr_null(http_request_header(&req, "X-C"));
	ck_assert_ptr_null(http_request_header(&req, "X-"));
	ck_assert_ptr_null(http_request_header(&req, "X-AA"));
}
END_TEST

/* A request with n headers "H<i>: v". */
static char *with_headers(int n)
{
	size_t cap = 64 + (size_t)n * 16, len;
	char *s = malloc(cap);
	int i;

	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "H%d: v\r\n", i);
	snprintf(s + len, cap - len, "\r\n");
	return s;
}

START_TEST(test_max_headers)
{
	struct tcase t = GOOD("max headers", NULL, HTTP_GET, "/", NOQ, 1, "", HTTP_MAX_HEADERS);
	char *in = with_headers(HTTP_MAX_HEADERS);

	t.in = in;
	check_case(&t);
	free(in);
	in = with_headers(HTTP_MAX_HEADERS + 1);
	t = (struct tcase)BAD("too many headers", in, 431, "too many header fields");
	check_case(&t);
	free(in);
}
END_TEST

/* "GET /aaa... HTTP/1.1\r\n\r\n" of exactly `size` bytes. */
static char *head_of(size_t size)
{
	char *s = malloc(size + 1);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_ge(size, 20);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', size - 18);
	memcpy(s + size - 13, " HTTP/1.1\r\n\r\n", 13);
	s[size] = '\0';
	return s;
}

START_TEST(test_header_limit)
{
	struct tcase t = GOOD("head at the limit", NULL, HTTP_GET, NULL, NOQ, 1, "", 0);
	char *in = head_of(64), *path;

	t.max_header = 64;
	t.in = in;
	path = strndup(in + 4, 64 - 17);
	t.path = path;
	check_case(&t);
	free(in);
	free(path);

	in = head_of(65);
	t = (struct tcase)BAD("head one over", in, 431,
	                      "request head is larger than http.max_header");
	t.max_header = 64;
	check_case(&t);

	/* Incomplete: 63 bytes may still end in time, 64 cannot. */
	t = (struct tcase)MORE("63 bytes, no end", in);
	t.max_header = 64;
	t.len = 63;
	check_case(&t);
	t = (struct tcase)BAD("64 bytes, no end", in, 431, NULL);
	t.max_header = 64;
	t.len = 64;
	check_case(&t);
	free(in);

	/* An endless request target is 431, not a wait for ever. */
	in = malloc(1000);
	ck_assert_ptr_nonnull(in);
	memcpy(in, "GET /", 5);
	memset(in + 5, 'b', 994);
	in[999] = '\0';
	t = (struct tcase)BAD("endless target", in, 431, NULL);
	t.max_header = 128;
	check_case(&t);
	free(in);
}
END_TEST

START_TEST(test_body_limit)
{
	static const char at[] = "POST /x HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef";
	static const char over[] = "POST /x HTTP/1.1\r\nContent-Length: 17\r\n\r\n";
	static const char chunked_at[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                                 "a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n";
	static const char chunked_over[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                                   "a\r\n0123456789\r\n7\r\n";
	struct tcase t =
	        GOOD("body at the limit", at, HTTP_POST, "/x", NOQ, 1, "0123456789abcdef", 1);

	t.max_body = 16;
	check_case(&t);
	/* 413 as soon as the head is in, before any body byte. */
	t = (struct tcase)BAD("body one over", over, 413, NULL);
	t.max_body = 16;
	check_case(&t);
	/* Chunked: the decoded size counts, and 413 comes at the size line
	 * that goes over, before its data. */
	t = (struct tcase)GOOD("chunks at the limit", chunked_at, HTTP_POST, "/x", NOQ, 1,
	                       "0123456789abcdef", 1);
	t.max_body = 16;
	check_case(&t);
	t = (struct tcase)BAD("chunks one over", chunked_over, 413,
	                      "request body is larger than http.max_body");
	t.max_body = 16;
	check_case(&t);
}
END_TEST

/* The chunk framing is bounded: size lines, trailers, total overhead. */
START_TEST(test_chunk_limits)
{
	static const char head[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	char *in = malloc(4096);
	struct tcase t;
	size_t n;
	int i;

	ck_assert_ptr_nonnull(in);
	/* A chunk-size line of 1024 bytes (CRLF not counted) is fine, one more is not. */
	for (n = 1024; n <= 1025; n++) {
		strcpy(in, head);
		strcat(in, "1;");
		memset(in + strlen(in), 'e', n - 2);
		strcpy(in + strlen(head) + n, "\r\nq\r\n0\r\n\r\n");
		if (n == 1024)
			t = (struct tcase)GOOD("size line at the limit", in, HTTP_POST, "/x", NOQ,
			                       1, "q", 1);
		else
			t = (struct tcase)BAD("size line over", in, 400,
			                      "chunk size line is too long");
		check_case(&t);
	}
	/* Without a line end, too: no waiting for ever. */
	strcpy(in, head);
	memset(in + strlen(head), '0', 1100);
	in[strlen(head) + 1100] = '\0';
	t = (struct tcase)BAD("endless size line", in, 400, "chunk size line is too long");
	check_case(&t);
	/* The trailer section is bounded by http.max_header. */
	strcpy(in, head);
	strcat(in, "0\r\nX-T: ");
	memset(in + strlen(in), 'v', 300);
	strcpy(in + strlen(head) + 8 + 300, "\r\n\r\n");
	t = (struct tcase)BAD("trailer too large", in, 431,
	                      "trailer section is larger than http.max_header");
	t.max_header = 256;
	check_case(&t);
	/* Framing may add at most max_header bytes to max_body. */
	strcpy(in, head);
	for (i = 0; i < 16; i++)
		strcat(in, "1\r\nx\r\n");
	strcat(in, "0\r\n\r\n");
	t = (struct tcase)BAD("framing too large", in, 413, "chunked body framing is too large");
	t.max_header = 64;
	t.max_body = 16;
	check_case(&t);
	t = (struct tcase)GOOD("framing within bounds", in, HTTP_POST, "/x", NOQ, 1,
	                       "xxxxxxxxxxxxxxxx", 1);
	t.max_header = 128;
	t.max_body = 16;
	check_case(&t);
	free(in);
}
END_TEST

START_TEST(test_pipelined_sequence)
{
	static char in[] = "GET /a HTTP/1.1\r\n\r\n"
	                   "POST /b?c HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
	                   "\r\nDELETE /d HTTP/1.0\r\n\r\n";
	static const char *const paths[] = {"/a", "/b", "/d"};
	struct http_limits lim = {8192, 1024};
	struct http_parser p;
	struct http_request req;
	size_t off = 0, len = sizeof(in) - 1;
	int i;

	for (i = 0; i < 3; i++) {
		http_parser_init(&p, &lim);
		ck_assert_int_eq(http_parse_request(&p, in + off, len - off, &req), HTTP_PARSE_OK);
		ck_assert_uint_eq(req.path_len, strlen(paths[i]));
		ck_assert(memcmp(req.path, paths[i], req.path_len) == 0);
		off += p.consumed;
	}
	ck_assert_int_eq(req.method, HTTP_DELETE);
	ck_assert(!req.keep_alive);
	ck_assert_uint_eq(off, len);
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, in + off, 0, &req), HTTP_PARSE_NEED_MORE);
}
END_TEST

START_TEST(test_error_is_sticky)
{
	static char in[] = "GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	struct http_limits lim = {8192, 1024};
	struct http_parser p;
	struct http_request req;

	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, in, sizeof(in) - 1, &req), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 505);
	ck_assert_int_eq(http_parse_request(&p, in, sizeof(in) - 1, &req), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 505);
}
END_TEST

START_TEST(test_expect_continue)
{
	static char in[] = "POST /e HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
	static char in10[] =
	        "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
	static char other[] = "POST /e HTTP/1.1\r\nExpect: x\r\nContent-Length: 2\r\n\r\n";
	struct http_limits lim = {8192, 1024};
	struct http_parser p;
	struct http_request req;

	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, in, sizeof(in) - 2, &req), HTTP_PARSE_NEED_MORE);
	ck_assert(!p.expect_continue);
	ck_assert_int_eq(http_parse_request(&p, in, sizeof(in) - 1, &req), HTTP_PARSE_NEED_MORE);
	ck_assert(p.expect_continue);
	ck_assert_uint_eq(p.header_end, sizeof(in) - 1);
	/* Not for HTTP/1.0 clients, nor other expectations. */
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, in10, sizeof(in10) - 1, &req),
	                 HTTP_PARSE_NEED_MORE);
	ck_assert(!p.expect_continue);
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, other, sizeof(other) - 1, &req),
	                 HTTP_PARSE_NEED_MORE);
	ck_assert(!p.expect_continue);
}
END_TEST

/*
 * Linear work: a 1 MB head and a 4 MB body fed one byte at a time (in one
 * buffer, growing len). Rescanning from the start each call would take
 * billions of steps and hit the test timeout.
 */
START_TEST(test_linear)
{
	size_t head = 1u << 20, body = 4u << 20, total, len;
	struct http_limits lim = {head, body};
	struct http_parser p;
	struct http_request req;
	char *in;
	int rc = HTTP_PARSE_NEED_MORE, n;

	in = malloc(head + body + 100);
	ck_assert_ptr_nonnull(in);
	n = snprintf(in, 100, "POST /x HTTP/1.1\r\nContent-Length: %zu\r\nX: ", body);
	memset(in + n, 'v', head - (size_t)n - 4);
	memcpy(in + head - 4, "\r\n\r\n", 4);
	memset(in + head, 'b', body);
	total = head + body;
	http_parser_init(&p, &lim);
	for (len = 1; len <= total && rc == HTTP_PARSE_NEED_MORE; len++)
		rc = http_parse_request(&p, in, len, &req);
	ck_assert_int_eq(rc, HTTP_PARSE_OK);
	ck_assert_uint_eq(len - 1, total);
	ck_assert_uint_eq(p.consumed, total);
	ck_assert_uint_eq(req.body_len, body);
	free(in);
}
END_TEST

START_TEST(test_status_text)
{
	static const struct {
		int status;
		const char *text;
	} st[] = {
	        {200, "OK"},
	        {201, "Created"},
	        {202, "Accepted"},
	        {204, "No Content"},
	        {400, "Bad Request"},
	        {401, "Unauthorized"},
	        {403, "Forbidden"},
	        {404, "Not Found"},
	        {405, "Method Not Allowed"},
	        {408, "Request Timeout"},
	        {409, "Conflict"},
	        {411, "Length Required"},
	        {413, "Content Too Large"},
	        {429, "Too Many Requests"},
	        {431, "Request Header Fields Too Large"},
	        {500, "Internal Server Error"},
	        {501, "Not Implemented"},
	        {503, "Service Unavailable"},
	        {505, "HTTP Version Not Supported"},
	};
	size_t i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		ck_assert_str_eq(http_status_text(st[i].status), st[i].text);
	ck_assert_ptr_nonnull(http_status_text(299));
	ck_assert_ptr_nonnull(http_status_text(-1));
}
END_TEST

/*
 * Responses (http_parse_response): a table like the one above. `eof` is
 * the outcome when the server closes right after the bytes: the rc of
 * http_parse_response_eof() (the body then runs to the end for
 * HTTP_BODY_CLOSE).
 */
struct rcase {
	const char *name;
	const char *in;
	size_t max_header, max_body;
	int rc, error;  /* rc, and p->status when rc is HTTP_PARSE_ERROR */
	int status;     /* HTTP status on OK (or at EOF) */
	int keep_alive; /* on OK (or at EOF) */
	enum http_body_framing framing;
	const char *body;
	size_t consumed; /* WHOLE: all of in */
	int eof;         /* rc of http_parse_response_eof on all of in */
};

#define RGOOD(n, in, st, ka, fr, body)                                                             \
	{                                                                                          \
		n, in, 8192, 1024, HTTP_PARSE_OK, 0, st, ka, fr, body, WHOLE, HTTP_PARSE_OK        \
	}
#define RBAD(n, in, err)                                                                           \
	{                                                                                          \
		n, in, 8192, 1024, HTTP_PARSE_ERROR, err, 0, 0, 0, NULL, 0, HTTP_PARSE_ERROR       \
	}
/* Not complete; at EOF an error (truncated). */
#define RMORE(n, in)                                                                               \
	{                                                                                          \
		n, in, 8192, 1024, HTTP_PARSE_NEED_MORE, 0, 0, 0, 0, NULL, 0, HTTP_PARSE_ERROR     \
	}
/* A body running until the close: NEED_MORE, then OK at EOF. */
#define RCLOSE(n, in, st, body)                                                                    \
	{                                                                                          \
		n, in, 8192, 1024, HTTP_PARSE_NEED_MORE, 0, st, 0, HTTP_BODY_CLOSE, body, WHOLE,   \
		        HTTP_PARSE_OK                                                              \
	}

static const struct rcase rcases[] = {
        RGOOD("200 with length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 1,
              HTTP_BODY_LENGTH, "ok"),
        RGOOD("204 no body", "HTTP/1.1 204 No Content\r\n\r\n", 204, 1, HTTP_BODY_NONE, ""),
        RGOOD("204 ignores length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, 1,
              HTTP_BODY_NONE, ""),
        RGOOD("304 no body", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 304,
              1, HTTP_BODY_NONE, ""),
        RGOOD("100 interim", "HTTP/1.1 100 Continue\r\n\r\n", 100, 1, HTTP_BODY_NONE, ""),
        RGOOD("zero length", "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 201, 1,
              HTTP_BODY_LENGTH, ""),
        RGOOD("connection close",
              "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, 0,
              HTTP_BODY_LENGTH, ""),
        RGOOD("http/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, 0,
              HTTP_BODY_LENGTH, "x"),
        RGOOD("http/1.0 keep-alive",
              "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, 1,
              HTTP_BODY_LENGTH, "x"),
        RGOOD("no reason phrase", "HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n", 500, 1,
              HTTP_BODY_LENGTH, ""),
        RGOOD("empty reason phrase", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", 404, 1,
              HTTP_BODY_LENGTH, ""),
        RGOOD("bare LF", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", 200, 1, HTTP_BODY_LENGTH,
              "abc"),
        RGOOD("chunked",
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
              "1;x=y\r\nd\r\n0\r\nX-T: 1\r\n\r\n",
              200, 1, HTTP_BODY_CHUNKED, "abcd"),
        RGOOD("gzip, chunked",
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n0\r\n\r\n", 200, 1,
              HTTP_BODY_CHUNKED, ""),
        RGOOD("leading empty line", "\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202,
              1, HTTP_BODY_LENGTH, ""),
        RCLOSE("no length: until close", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, "all of it"),
        RCLOSE("http/1.0 no length", "HTTP/1.0 500 Oops\r\nServer: x\r\n\r\n", 500, ""),
        RCLOSE("other coding: until close",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n\x1f\x8b", 200,
               "\x1f\x8b"),
        RCLOSE("keep-alive does not help without length",
               "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nx", 200, "x"),

        RBAD("not http", "SSH-2.0-OpenSSH\r\n\r\n", 400),
        RBAD("lowercase version", "http/1.1 200 OK\r\n\r\n", 400),
        RBAD("http/2", "HTTP/2.0 200 OK\r\n\r\n", 505),
        RBAD("http/1.2", "HTTP/1.2 200 OK\r\n\r\n", 505),
        RBAD("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 400),
        RBAD("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 400),
        RBAD("status 600", "HTTP/1.1 600 X\r\n\r\n", 400),
        RBAD("status 099", "HTTP/1.1 099 X\r\n\r\n", 400),
        RBAD("letters in status", "HTTP/1.1 2x0 OK\r\n\r\n", 400),
        RBAD("control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 400),
        RBAD("bad header", "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", 400),
        RBAD("folded header", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 400),
        RBAD("length and chunked",
             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        RBAD("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
             400),
        RBAD("bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 400),
        RBAD("length over max_body", "HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n", 413),
        RBAD("length overflow",
             "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999999\r\n\r\n", 413),
        RBAD("chunked in http/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        RBAD("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        RBAD("chunks over max_body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n",
             413),

        RMORE("empty", ""),
        RMORE("partial status line", "HTTP/1.1 20"),
        RMORE("head not finished", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"),
        RMORE("body not finished", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no"),
        RMORE("chunked not finished", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "3\r\nabc\r\n"),

        /* Bytes after a complete response are not part of it. */
        {"extra bytes after", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1", 8192, 1024,
         HTTP_PARSE_OK, 0, 200, 1, HTTP_BODY_LENGTH, "x", 39, HTTP_PARSE_OK},
        {"interim then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 8192, 1024,
         HTTP_PARSE_OK, 0, 100, 1, HTTP_BODY_NONE, "", 25, HTTP_PARSE_OK},
};

struct routcome {
	int rc;
	char text[2048];
};

static void routcome_fill(struct routcome *o, int rc, const struct http_parser *p,
                          const struct http_response_info *r)
{
	o->rc = rc;
	o->text[0] = '\0';
	if (rc == HTTP_PARSE_ERROR)
		snprintf(o->text, sizeof(o->text), "error %d %s", p->status, p->error);
	else if (rc == HTTP_PARSE_OK)
		snprintf(o->text, sizeof(o->text),
		         "st=%d v=%d reason=%.*s ka=%d fr=%d consumed=%zu body=%.*s", r->status,
		         r->version_minor, (int)r->reason_len, r->reason, (int)r->keep_alive,
		         (int)r->framing, p->consumed, (int)r->body_len, r->body);
}

/* Like feed(): prefixes in fresh copies; then, if eof, the EOF call. */
static void rfeed(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  const struct http_limits *lim, bool eof, struct routcome *o)
{
	struct http_parser p;
	struct http_response_info r;
	size_t i;
	int rc = HTTP_PARSE_NEED_MORE;
	char *copy;

	http_parser_init(&p, lim);
	memset(&r, 0, sizeof(r));
	for (i = 0; i < ncuts; i++) {
		copy = malloc(cuts[i] > 0 ? cuts[i] : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, in, cuts[i]);
		rc = http_parse_response(&p, copy, cuts[i], &r);
		if (rc != HTTP_PARSE_NEED_MORE || i + 1 == ncuts) {
			if (rc == HTTP_PARSE_NEED_MORE && eof)
				rc = http_parse_response_eof(&p, copy, cuts[i], &r);
			routcome_fill(o, rc, &p, &r);
			free(copy);
			return;
		}
		free(copy);
	}
	/* No cuts at all: the empty input. */
	copy = malloc(1);
	ck_assert_ptr_nonnull(copy);
	if (eof)
		rc = http_parse_response_eof(&p, copy, 0, &r);
	routcome_fill(o, rc, &p, &r);
	free(copy);
	(void)len;
}

static void check_rcase(const struct rcase *t)
{
	struct http_limits lim = {t->max_header, t->max_body};
	size_t len = strlen(t->in), i;
	size_t *cuts = calloc(len + 1, sizeof(*cuts));
	struct routcome whole, other;
	struct http_parser p;
	struct http_response_info r;
	char *copy;
	int rc, pass;

	ck_assert_ptr_nonnull(cuts);
	for (pass = 0; pass < 2; pass++) {
		bool eof = pass == 1;
		int want = eof ? (t->rc == HTTP_PARSE_NEED_MORE ? t->eof : t->rc) : t->rc;

		cuts[0] = len;
		rfeed(t->in, len, cuts, len > 0 ? 1 : 0, &lim, eof, &whole);
		ck_assert_msg(whole.rc == want, "%s%s: rc %d, want %d (%s)", t->name,
		              eof ? " at EOF" : "", whole.rc, want, whole.text);
		for (i = 0; i < len; i++)
			cuts[i] = i + 1;
		if (len > 0) {
			rfeed(t->in, len, cuts, len, &lim, eof, &other);
			ck_assert_msg(other.rc == whole.rc && strcmp(other.text, whole.text) == 0,
			              "%s: byte by byte gives %d '%s', in one piece %d '%s'",
			              t->name, other.rc, other.text, whole.rc, whole.text);
		}
		for (i = 0; i <= len; i++) {
			size_t two[2] = {i, len};

			rfeed(t->in, len, two, 2, &lim, eof, &other);
			ck_assert_msg(other.rc == whole.rc && strcmp(other.text, whole.text) == 0,
			              "%s: split at %zu gives %d '%s', in one piece %d '%s'",
			              t->name, i, other.rc, other.text, whole.rc, whole.text);
		}
	}

	/* The fields, on one piece (with EOF for a body running to the close). */
	http_parser_init(&p, &lim);
	copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t->in, len);
	rc = http_parse_response(&p, copy, len, &r);
	ck_assert_int_eq(rc, t->rc);
	if (rc == HTTP_PARSE_NEED_MORE && t->eof == HTTP_PARSE_OK)
		rc = http_parse_response_eof(&p, copy, len, &r);
	if (rc == HTTP_PARSE_ERROR) {
		if (t->rc == HTTP_PARSE_ERROR)
			ck_assert_msg(p.status == t->error, "%s: error %d (%s), want %d", t->name,
			              p.status, p.error, t->error);
		ck_assert_ptr_nonnull(p.error);
		/* Sticky. */
		ck_assert_int_eq(http_parse_response(&p, copy, len, &r), HTTP_PARSE_ERROR);
	}
	if (rc == HTTP_PARSE_OK) {
		ck_assert_int_eq(r.status, t->status);
		ck_assert_msg(r.keep_alive == (t->keep_alive != 0), "%s: keep_alive", t->name);
		ck_assert_int_eq(r.framing, t->framing);
		ck_assert_uint_eq(r.body_len, strlen(t->body));
		ck_assert(r.body_len == 0 || memcmp(r.body, t->body, r.body_len) == 0);
		ck_assert_uint_eq(p.consumed, t->consumed == WHOLE ? len : t->consumed);
	}
	free(copy);
	free(cuts);
}

START_TEST(test_response_table)
{
	check_rcase(&rcases[_i]);
}
END_TEST

START_TEST(test_response_limits)
{
	struct http_limits lim = {64, 16};
	struct http_parser p;
	struct http_response_info r;
	char in[256];
	int n;

	/* A head of max_header bytes is fine, one more is not. */
	n = snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX: %s\r\nContent-Length: 0\r\n\r\n",
	             "aaaaaaaaaaaaaaaaaaaaa");
	ck_assert_int_eq(n, 64);
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n, &r), HTTP_PARSE_OK);
	n = snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX: %s\r\nContent-Length: 0\r\n\r\n",
	             "aaaaaaaaaaaaaaaaaaaaaa");
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n, &r), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 431);
	/* An endless head is refused once max_header bytes are in. */
	memset(in, 'H', 64);
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, 63, &r), HTTP_PARSE_NEED_MORE);
	ck_assert_int_eq(http_parse_response(&p, in, 64, &r), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 431);

	/* A body until the close: max_body bytes are fine, one more is 413. */
	n = snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n\r\n0123456789abcdefX");
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n - 1, &r), HTTP_PARSE_NEED_MORE);
	ck_assert_int_eq(http_parse_response_eof(&p, in, (size_t)n - 1, &r), HTTP_PARSE_OK);
	ck_assert_uint_eq(r.body_len, 16);
	ck_assert(!r.keep_alive);
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n, &r), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 413);
	ck_assert_str_eq(p.error, "response body is larger than the limit");
	/* Content-Length at and over the limit. */
	n = snprintf(in, sizeof(in),
	             "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n, &r), HTTP_PARSE_OK);
	n = snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n");
	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_response(&p, in, (size_t)n, &r), HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.status, 413);
}
END_TEST

/* Linear: a 1 MB head and a 4 MB chunked body, one byte per call. */
START_TEST(test_response_linear)
{
	size_t head = 1u << 20, body = 4u << 20, total, len, off;
	struct http_limits lim = {head, body};
	struct http_parser p;
	struct http_response_info r;
	char *in;
	int rc = HTTP_PARSE_NEED_MORE, n;

	in = malloc(head + body + body / 8 + 100);
	ck_assert_ptr_nonnull(in);
	n = snprintf(in, 100, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: ");
	memset(in + n, 'v', head - (size_t)n - 4);
	memcpy(in + head - 4, "\r\n\r\n", 4);
	off = head;
	for (len = 0; len < body; len += 64) {
		memcpy(in + off, "40\r\n", 4);
		memset(in + off + 4, 'b', 64);
		memcpy(in + off + 68, "\r\n", 2);
		off += 70;
	}
	memcpy(in + off, "0\r\n\r\n", 5);
	total = off + 5;
	http_parser_init(&p, &lim);
	for (len = 1; len <= total && rc == HTTP_PARSE_NEED_MORE; len++)
		rc = http_parse_response(&p, in, len, &r);
	ck_assert_int_eq(rc, HTTP_PARSE_OK);
	ck_assert_uint_eq(p.consumed, total);
	ck_assert_uint_eq(r.body_len, body);
	free(in);
}
END_TEST

static Suite *http_parser_suite(void)
{
	Suite *s = suite_create("http_parser");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_header_values);
	tcase_add_test(tc, test_max_headers);
	tcase_add_test(tc, test_header_limit);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_pipelined_sequence);
	tcase_add_test(tc, test_chunk_limits);
	tcase_add_test(tc, test_error_is_sticky);
	tcase_add_test(tc, test_expect_continue);
	tcase_add_test(tc, test_status_text);
	tcase_add_loop_test(tc, test_response_table, 0, (int)(sizeof(rcases) / sizeof(rcases[0])));
	tcase_add_test(tc, test_response_limits);
	suite_add_tcase(s, tc);
	/* Own case and timeout: a parser with quadratic work fails by timing out. */
	tc = tcase_create("linear");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_linear);
	tcase_add_test(tc, test_response_linear);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(http_parser_suite)
