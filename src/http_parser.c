/*
 * http_parser: incremental HTTP/1.1 request parser (see http_parser.h).
 *
 * Two phases. Until the empty line that ends the head is seen, each call
 * scans only the bytes it has not seen before (p->scanned), so the total
 * work is linear however the request is split; nothing is judged before
 * the head is complete, which is what makes every split give the same
 * answer. Then the head is parsed and checked (request line, headers,
 * framing) and the body is just a byte count. Because the caller's buffer
 * may move between calls, a head parsed in an earlier call is parsed once
 * more when the request completes, to point the request's fields into the
 * current buffer (twice the head is still linear); a request whose head
 * and body complete in the same call is parsed once.
 *
 * A chunked body (Transfer-Encoding: chunked) is followed the same way,
 * line by line and chunk by chunk from p->scanned. When it is complete the
 * chunks' data is moved together in place, so the handler sees one
 * contiguous body like a Content-Length one; p->consumed still counts the
 * bytes as they came, framing included.
 *
 * Responses (http_parse_response) share all of this: the same head scan,
 * the same header-line rules, the same chunk states. Only the first line
 * and the framing rules differ, and a body may run until the server
 * closes, which only the caller can see (http_parse_response_eof).
 */
#include <string.h>

#include "compat.h"
#include "http_parser.h"

enum { HP_HEAD = 0, HP_BODY, HP_CHUNK_SIZE, HP_CHUNK_DATA, HP_CHUNK_END, HP_TRAILER, HP_DONE };

/* Longest chunk-size line (size and extensions, CRLF not counted) accepted. */
#define HP_CHUNK_LINE_MAX 1024

void http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
}

static int hp_error(struct http_parser *p, int status, const char *error)
{
	p->status = status;
	p->error = error;
	return HTTP_PARSE_ERROR;
}

/* RFC 9110 tchar, by byte value: one load per byte of a method or header name. */
static const unsigned char hp_tchar_tab[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline bool hp_tchar(unsigned char c)
{
	return hp_tchar_tab[c] != 0;
}

/*
 * Does a[0..alen) equal the lower-case literal b[0..blen), ignoring the
 * case of ASCII letters in a? Lengths are compared first, so most names
 * are told apart without looking at a byte.
 */
static inline bool hp_ieqn(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i];

		if ((unsigned char)(x - 'A') < 26)
			x = (unsigned char)(x | 0x20);
		if (x != (unsigned char)b[i])
			return false;
	}
	return true;
}

/* hp_ieqn() with a string literal for b. */
#define HP_IEQ(a, alen, lit) hp_ieqn((a), (alen), (lit), sizeof(lit) - 1)

static bool hp_ieq(const char *a, size_t alen, const char *b)
{
	size_t i, blen = strlen(b);

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* End of the line starting at s (before CRLF or LF) and the next line. */
static const char *hp_line(const char *s, const char *end, const char **next)
{
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e;

	if (nl == NULL)
		return NULL;
	e = nl;
	if (e > s && e[-1] == '\r')
		e--;
	*next = nl + 1;
	return e;
}

static const struct {
	const char *name;
	size_t len;
	enum http_method method;
} hp_methods[] = {
        {"POST", 4, HTTP_POST}, {"GET", 3, HTTP_GET},       {"HEAD", 4, HTTP_HEAD},
        {"PUT", 3, HTTP_PUT},   {"DELETE", 6, HTTP_DELETE},
};

static int hp_request_line(struct http_parser *p, const char *s, const char *e,
                           struct http_request *req)
{
	const char *sp1, *sp2, *q;
	size_t i;

	for (sp1 = s; sp1 < e && hp_tchar((unsigned char)*sp1); sp1++)
		;
	if (sp1 == s || sp1 == e || *sp1 != ' ')
		return hp_error(p, 400, "malformed request line");
	req->method_str = s;
	req->method_len = (size_t)(sp1 - s);
	req->method = HTTP_OTHER;
	for (i = 0; i < sizeof(hp_methods) / sizeof(hp_methods[0]); i++) {
		if (hp_methods[i].len == req->method_len &&
		    memcmp(hp_methods[i].name, s, req->method_len) == 0) {
			req->method = hp_methods[i].method;
			break;
		}
	}
	for (sp2 = sp1 + 1; sp2 < e && *sp2 != ' '; sp2++) {
		unsigned char c = (unsigned char)*sp2;

		if (c < 0x21 || c == 0x7f)
			return hp_error(p, 400, "control character in the request target");
	}
	if (sp2 == sp1 + 1 || sp2 == e)
		return hp_error(p, 400, "malformed request line");
	if (sp1[1] != '/')
		return hp_error(p, 400, "request target must start with '/'");
	req->path = sp1 + 1;
	q = memchr(req->path, '?', (size_t)(sp2 - req->path));
	if (q != NULL) {
		req->path_len = (size_t)(q - req->path);
		req->query = q + 1;
		req->query_len = (size_t)(sp2 - q - 1);
	} else {
		req->path_len = (size_t)(sp2 - req->path);
		req->query = NULL;
		req->query_len = 0;
	}
	s = sp2 + 1;
	if (e - s != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
	    s[7] < '0' || s[7] > '9')
		return hp_error(p, 400, "malformed HTTP version");
	if (s[5] != '1' || s[7] > '1')
		return hp_error(p, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
	req->version_minor = s[7] - '0';
	req->keep_alive = req->version_minor >= 1;
	return 0;
}

static int hp_content_length(struct http_parser *p, const char *v, size_t n, size_t *out)
{
	size_t i, len = 0;

	if (n == 0)
		return hp_error(p, 400, "Content-Length is not a number");
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return hp_error(p, 400, "Content-Length is not a number");
		if (len > ((size_t)-1 - 9) / 10)
			return hp_error(p, 413, "request body is larger than http.max_body");
		len = len * 10 + (size_t)(v[i] - '0');
	}
	*out = len;
	return 0;
}

/* Connection: a comma-separated list of tokens. */
static void hp_connection(const char *v, size_t n, bool *keep_alive)
{
	const char *end = v + n;

	while (v < end) {
		const char *c = memchr(v, ',', (size_t)(end - v)), *te;

		if (c == NULL)
			c = end;
		te = c;
		while (v < te && (*v == ' ' || *v == '\t'))
			v++;
		while (te > v && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (HP_IEQ(v, (size_t)(te - v), "close"))
			*keep_alive = false;
		else if (HP_IEQ(v, (size_t)(te - v), "keep-alive"))
			*keep_alive = true;
		v = c + 1;
	}
}

/* One header line s..e (line end excluded) into h. 0 or HTTP_PARSE_ERROR. */
static int hp_field(struct http_parser *p, const char *s, const char *e, struct http_header *h)
{
	const char *colon = s, *v, *ve;

	if (*s == ' ' || *s == '\t')
		return hp_error(p, 400, "folded header lines are not allowed");
	while (colon < e && hp_tchar((unsigned char)*colon))
		colon++;
	if (colon < e && colon > s && (*colon == ' ' || *colon == '\t'))
		return hp_error(p, 400, "whitespace between a header name and ':'");
	if (colon == s || colon == e || *colon != ':')
		return hp_error(p, 400, "malformed header line");
	for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	for (ve = e; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
		;
	for (const char *c = v; c < ve; c++) {
		unsigned char ch = (unsigned char)*c;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return hp_error(p, 400, "control character in a header value");
	}
	h->name = s;
	h->name_len = (size_t)(colon - s);
	h->value = v;
	h->value_len = (size_t)(ve - v);
	return 0;
}

/* Parse the complete head buf[0 .. p->header_end) into req. */
static int hp_head(struct http_parser *p, const char *buf, struct http_request *req)
{
	const char *s = buf + p->head_start, *end = buf + p->header_end, *e, *next = NULL;
	bool have_cl = false, have_te = false, chunked = false;
	size_t cl = 0;

	memset(req, 0, sizeof(*req));
	e = hp_line(s, end, &next);
	if (hp_request_line(p, s, e, req) != 0)
		return HTTP_PARSE_ERROR;
	for (s = next; (e = hp_line(s, end, &next)) != NULL && e > s; s = next) {
		const char *v;
		struct http_header *h;

		if (req->nheaders == HTTP_MAX_HEADERS) {
			struct http_header tmp;

			/* A malformed line is still 400, as before the limit. */
			if (hp_field(p, s, e, &tmp) != 0)
				return HTTP_PARSE_ERROR;
			return hp_error(p, 431, "too many header fields");
		}
		h = &req->headers[req->nheaders];
		if (hp_field(p, s, e, h) != 0)
			return HTTP_PARSE_ERROR;
		req->nheaders++;
		v = h->value;
		if (HP_IEQ(h->name, h->name_len, "content-length")) {
			size_t n;

			if (hp_content_length(p, v, h->value_len, &n) != 0)
				return HTTP_PARSE_ERROR;
			if (have_cl)
				return hp_error(p, 400, "more than one Content-Length header");
			have_cl = true;
			cl = n;
		} else if (HP_IEQ(h->name, h->name_len, "transfer-encoding")) {
			/* Only "chunked", once: a list such as "gzip, chunked"
			 * names a coding this server cannot undo. */
			chunked = !have_te && HP_IEQ(v, h->value_len, "chunked");
			have_te = true;
		} else if (HP_IEQ(h->name, h->name_len, "connection")) {
			hp_connection(v, h->value_len, &req->keep_alive);
		} else if (HP_IEQ(h->name, h->name_len, "expect")) {
			/* Other expectations are ignored: the body comes anyway. */
			p->expect_continue =
			        req->version_minor >= 1 && HP_IEQ(v, h->value_len, "100-continue");
		}
	}
	if (have_te && have_cl)
		return hp_error(p, 400, "both Content-Length and Transfer-Encoding");
	if (have_te && req->version_minor == 0)
		return hp_error(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (have_te && !chunked)
		return hp_error(p, 501, "only Transfer-Encoding: chunked is supported");
	p->chunked = chunked;
	if (chunked)
		return 0;
	if (!have_cl && (req->method == HTTP_POST || req->method == HTTP_PUT))
		return hp_error(p, 411, "Content-Length is required");
	if (cl > p->lim.max_body)
		return hp_error(p, 413, "request body is larger than http.max_body");
	p->content_length = cl;
	return 0;
}

/* 413 with the text for the message being parsed. */
static int hp_body_too_large(struct http_parser *p)
{
	return hp_error(p, 413,
	                p->response ? "response body is larger than the limit"
	                            : "request body is larger than http.max_body");
}

/*
 * Look for the empty line ending the head in the bytes not scanned before.
 * Empty lines before the request line are skipped (RFC 9112 §2.2: some
 * clients send a CRLF after a POST body).
 */
static bool hp_find_head_end(struct http_parser *p, const char *buf, size_t len)
{
	const char *nl;
	size_t i;

	for (i = p->scanned; i < len; i++) {
		nl = memchr(buf + i, '\n', len - i);
		if (nl == NULL)
			break;
		i = (size_t)(nl - buf);
		if (i == p->line_start || (i == p->line_start + 1 && buf[p->line_start] == '\r')) {
			if (p->line_start == p->head_start) {
				p->head_start = i + 1;
				p->line_start = i + 1;
				continue;
			}
			p->header_end = i + 1;
			p->scanned = i + 1;
			return true;
		}
		p->line_start = i + 1;
	}
	p->scanned = len;
	return false;
}

/*
 * A chunk-size line buf[s..e) (line end excluded): 1*HEXDIG, optional
 * blanks, optional ";" extensions (ignored). The size into *size.
 */
static int hp_chunk_size(struct http_parser *p, const char *buf, size_t s, size_t e, size_t *size)
{
	size_t i = s, n = 0;
	int d;

	while (i < e && (d = hex_value((unsigned char)buf[i])) >= 0) {
		if (n > (p->lim.max_body >> 4))
			return hp_body_too_large(p);
		n = (n << 4) | (size_t)d;
		i++;
	}
	if (i == s)
		return hp_error(p, 400, "malformed chunk size");
	while (i < e && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	if (i < e && buf[i] != ';')
		return hp_error(p, 400, "malformed chunk size");
	for (; i < e; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return hp_error(p, 400, "control character in a chunk extension");
	}
	*size = n;
	return 0;
}

/*
 * Advance over the chunked body from p->scanned to len. Every byte is
 * looked at once. Returns 0 when the body (and trailer section) is
 * complete, HTTP_PARSE_NEED_MORE, or HTTP_PARSE_ERROR.
 */
static int hp_chunks(struct http_parser *p, const char *buf, size_t len)
{
	while (p->state != HP_DONE) {
		size_t i = p->scanned;
		const char *nl;
		size_t e, n;

		if (p->state == HP_CHUNK_DATA) {
			n = len - i < p->chunk_left ? len - i : p->chunk_left;
			p->scanned += n;
			p->chunk_left -= n;
			if (p->chunk_left > 0)
				return HTTP_PARSE_NEED_MORE;
			p->state = HP_CHUNK_END;
			p->line_start = p->scanned;
			continue;
		}
		/* The other states read one line: find its end. */
		nl = i < len ? memchr(buf + i, '\n', len - i) : NULL;
		if (nl == NULL) {
			p->scanned = len;
			/* (+ 1: the CR of the line end may be in already.) */
			if (p->state == HP_TRAILER ? len - p->trailer_start > p->lim.max_header
			                           : len - p->line_start > HP_CHUNK_LINE_MAX + 1)
				goto too_long;
			return HTTP_PARSE_NEED_MORE;
		}
		e = (size_t)(nl - buf);
		p->scanned = e + 1;
		if (e > p->line_start && buf[e - 1] == '\r')
			e--;
		switch (p->state) {
		case HP_CHUNK_SIZE:
			if (e - p->line_start > HP_CHUNK_LINE_MAX)
				goto too_long;
			if (hp_chunk_size(p, buf, p->line_start, e, &n) != 0)
				return HTTP_PARSE_ERROR;
			if (n > p->lim.max_body - p->content_length)
				return hp_body_too_large(p);
			p->content_length += n;
			p->chunk_left = n;
			p->state = n > 0 ? HP_CHUNK_DATA : HP_TRAILER;
			p->trailer_start = p->scanned;
			break;
		case HP_CHUNK_END:
			if (e != p->line_start)
				return hp_error(p, 400, "chunk data not followed by CRLF");
			p->state = HP_CHUNK_SIZE;
			break;
		default: /* HP_TRAILER: fields up to an empty line, ignored */
			if (p->scanned - p->trailer_start > p->lim.max_header)
				goto too_long;
			if (e == p->line_start)
				p->state = HP_DONE;
			break;
		}
		p->line_start = p->scanned;
		/* The framing may add at most max_header bytes to the body. */
		if (p->scanned - p->header_end > p->lim.max_body + p->lim.max_header)
			return hp_error(p, 413, "chunked body framing is too large");
	}
	return 0;
too_long:
	if (p->state == HP_TRAILER)
		return hp_error(p, 431,
		                p->response ? "trailer section is larger than the limit"
		                            : "trailer section is larger than http.max_header");
	return hp_error(p, 400, "chunk size line is too long");
}

/*
 * The chunked body is complete and valid: move the chunks' data together
 * at buf + header_end (in place; each chunk moves towards the front).
 */
static void hp_join_chunks(struct http_parser *p, char *buf)
{
	size_t r = p->header_end, w = p->header_end, n;
	int d;

	for (;;) {
		for (n = 0; (d = hex_value((unsigned char)buf[r])) >= 0; r++)
			n = (n << 4) | (size_t)d;
		r = (size_t)((char *)memchr(buf + r, '\n', p->consumed - r) - buf) + 1;
		if (n == 0)
			return;
		memmove(buf + w, buf + r, n);
		w += n;
		r += n;
		r += buf[r] == '\r' ? 2 : 1;
	}
}

/*
 * Wait for the end of the head: 0 once it is in, else NEED_MORE, or 431
 * (too_large) when max_header bytes came without it or the head is longer.
 */
static int hp_head_end(struct http_parser *p, const char *buf, size_t len, const char *too_large)
{
	if (!hp_find_head_end(p, buf, len))
		return len >= p->lim.max_header ? hp_error(p, 431, too_large)
		                                : HTTP_PARSE_NEED_MORE;
	if (p->header_end > p->lim.max_header)
		return hp_error(p, 431, too_large);
	return 0;
}

/* The head is parsed: the body comes next, in the framing it named. */
static void hp_body_start(struct http_parser *p)
{
	p->state = p->chunked ? HP_CHUNK_SIZE : HP_BODY;
	p->line_start = p->scanned = p->header_end;
}

/*
 * The body after the head: 0 once complete (p->consumed set), else
 * NEED_MORE or ERROR. A response without a length runs until the close.
 */
static int hp_body(struct http_parser *p, const char *buf, size_t len)
{
	if (p->chunked) {
		int rc = hp_chunks(p, buf, len);

		if (rc != 0)
			return rc;
		p->consumed = p->scanned;
		return 0;
	}
	if (p->until_close)
		return len - p->header_end > p->lim.max_body ? hp_body_too_large(p)
		                                             : HTTP_PARSE_NEED_MORE;
	if (len - p->header_end < p->content_length)
		return HTTP_PARSE_NEED_MORE;
	p->consumed = p->header_end + p->content_length;
	return 0;
}

enum http_parse_rc http_parse_request(struct http_parser *p, char *buf, size_t len,
                                      struct http_request *req)
{
	bool head_now = false; /* req was filled from this very buf in this call */
	int rc;

	if (p->status != 0)
		return HTTP_PARSE_ERROR;
	if (p->state == HP_HEAD) {
		rc = hp_head_end(p, buf, len, "request head is larger than http.max_header");
		if (rc != 0)
			return rc;
		if (hp_head(p, buf, req) != 0)
			return HTTP_PARSE_ERROR;
		hp_body_start(p);
		head_now = true;
	}
	rc = hp_body(p, buf, len);
	if (rc != 0)
		return rc;
	/*
	 * If the head was parsed in an earlier call, re-point the fields into
	 * buf, which may have moved since (and the caller's req may be
	 * another one). When head and body came in together, as small
	 * requests do, req already points into this buf.
	 */
	if (!head_now && hp_head(p, buf, req) != 0)
		return HTTP_PARSE_ERROR;
	if (p->chunked)
		hp_join_chunks(p, buf);
	req->body = buf + p->header_end;
	req->body_len = p->content_length;
	return HTTP_PARSE_OK;
}

/* "HTTP/1.x SP 3DIGIT [SP reason-phrase]" from s to e. */
static int hp_status_line(struct http_parser *p, const char *s, const char *e,
                          struct http_response_info *out)
{
	int st;

	if (e - s < 12 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
	    s[7] < '0' || s[7] > '9' || s[8] != ' ')
		return hp_error(p, 400, "malformed status line");
	if (s[5] != '1' || s[7] > '1')
		return hp_error(p, 505, "the server does not speak HTTP/1.0 or HTTP/1.1");
	out->version_minor = s[7] - '0';
	out->keep_alive = out->version_minor >= 1;
	if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
		return hp_error(p, 400, "malformed status code");
	st = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	s += 12;
	/* The reason phrase and the space before it may be missing. */
	if (s < e && *s++ != ' ')
		return hp_error(p, 400, "malformed status code");
	for (const char *c = s; c < e; c++) {
		unsigned char ch = (unsigned char)*c;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return hp_error(p, 400, "control character in the reason phrase");
	}
	out->status = st;
	out->reason = s;
	out->reason_len = (size_t)(e - s);
	return 0;
}

/* Is the last element of the comma-separated list v[0..n) "chunked"? */
static bool hp_last_is_chunked(const char *v, size_t n)
{
	const char *c = v + n, *end = v + n;

	while (c > v && c[-1] != ',')
		c--;
	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	return HP_IEQ(c, (size_t)(end - c), "chunked");
}

/* Parse the complete response head buf[head_start .. header_end) into out. */
static int hp_response_head(struct http_parser *p, const char *buf, struct http_response_info *out)
{
	const char *s = buf + p->head_start, *end = buf + p->header_end, *e, *next = NULL;
	bool have_cl = false, have_te = false, chunked = false;
	size_t cl = 0;

	memset(out, 0, sizeof(*out));
	e = hp_line(s, end, &next);
	if (hp_status_line(p, s, e, out) != 0)
		return HTTP_PARSE_ERROR;
	for (s = next; (e = hp_line(s, end, &next)) != NULL && e > s; s = next) {
		struct http_header h;

		if (hp_field(p, s, e, &h) != 0)
			return HTTP_PARSE_ERROR;
		if (HP_IEQ(h.name, h.name_len, "content-length")) {
			if (hp_content_length(p, h.value, h.value_len, &cl) != 0) {
				if (p->status == 413)
					return hp_body_too_large(p);
				return HTTP_PARSE_ERROR;
			}
			if (have_cl)
				return hp_error(p, 400, "more than one Content-Length header");
			have_cl = true;
		} else if (HP_IEQ(h.name, h.name_len, "transfer-encoding")) {
			/* Several fields form one list: the last one's end decides. */
			chunked = hp_last_is_chunked(h.value, h.value_len);
			have_te = true;
		} else if (HP_IEQ(h.name, h.name_len, "connection")) {
			hp_connection(h.value, h.value_len, &out->keep_alive);
		}
	}
	p->chunked = false;
	p->until_close = false;
	p->content_length = 0;
	if (out->status < 200 || out->status == 204 || out->status == 304) {
		out->framing = HTTP_BODY_NONE;
		return 0;
	}
	if (have_te && have_cl)
		return hp_error(p, 400, "both Content-Length and Transfer-Encoding");
	if (have_te && out->version_minor == 0)
		return hp_error(p, 400, "Transfer-Encoding in an HTTP/1.0 response");
	if (have_te && chunked) {
		out->framing = HTTP_BODY_CHUNKED;
		p->chunked = true;
	} else if (have_cl) {
		if (cl > p->lim.max_body)
			return hp_body_too_large(p);
		out->framing = HTTP_BODY_LENGTH;
		p->content_length = cl;
	} else {
		/* RFC 9112 §6.3: no length, or a coding other than chunked last. */
		out->framing = HTTP_BODY_CLOSE;
		out->keep_alive = false;
		p->until_close = true;
	}
	return 0;
}

enum http_parse_rc http_parse_response(struct http_parser *p, char *buf, size_t len,
                                       struct http_response_info *out)
{
	bool head_now = false; /* out was filled from this very buf in this call */
	int rc;

	if (p->status != 0)
		return HTTP_PARSE_ERROR;
	p->response = true;
	if (p->state == HP_HEAD) {
		rc = hp_head_end(p, buf, len, "response head is larger than the limit");
		if (rc != 0)
			return rc;
		if (hp_response_head(p, buf, out) != 0)
			return HTTP_PARSE_ERROR;
		hp_body_start(p);
		head_now = true;
	}
	rc = hp_body(p, buf, len);
	if (rc != 0)
		return rc;
	if (!head_now) {
		/* The head sets the framing again; a chunked size counted so far stays. */
		size_t decoded = p->content_length;

		if (hp_response_head(p, buf, out) != 0)
			return HTTP_PARSE_ERROR;
		p->content_length = decoded;
	}
	if (p->chunked)
		hp_join_chunks(p, buf);
	out->body = buf + p->header_end;
	out->body_len = p->content_length;
	return HTTP_PARSE_OK;
}

enum http_parse_rc http_parse_response_eof(struct http_parser *p, char *buf, size_t len,
                                           struct http_response_info *out)
{
	enum http_parse_rc rc = http_parse_response(p, buf, len, out);

	if (rc != HTTP_PARSE_NEED_MORE)
		return rc;
	if (p->state == HP_HEAD || !p->until_close)
		return hp_error(p, 400, "the connection closed before the response was complete");
	if (hp_response_head(p, buf, out) != 0)
		return HTTP_PARSE_ERROR;
	/* hp_response_head() cleared it; the body is all that came. */
	p->until_close = true;
	p->content_length = len - p->header_end;
	p->consumed = len;
	out->body = buf + p->header_end;
	out->body_len = p->content_length;
	return HTTP_PARSE_OK;
}

const struct http_header *http_request_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		if (hp_ieq(req->headers[i].name, req->headers[i].name_len, name))
			return &req->headers[i];
	}
	return NULL;
}

/*
 * The reason phrases: every status the daemon sends is here (RFC 9110
 * wording); test_status_text holds the list of those it sends.
 */
static const struct {
	int status;
	const char *text;
} hp_status_texts[] = {
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

const char *http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(hp_status_texts) / sizeof(hp_status_texts[0]); i++)
		if (hp_status_texts[i].status == status)
			return hp_status_texts[i].text;
	return "Unknown";
}
