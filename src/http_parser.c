/*
 * http_parser: incremental HTTP/1.1 request parser (see http_parser.h).
 *
 * Two phases. Until the empty line that ends the head is seen, each call
 * scans only the bytes it has not seen before (p->scanned), so the total
 * work is linear however the request is split; nothing is judged before
 * the head is complete, which is what makes every split give the same
 * answer. Then the head is parsed and checked (request line, headers,
 * framing) and the body is just a byte count. Because the caller's buffer
 * may move between calls, the head is parsed once more when the request
 * completes, to point the request's fields into the current buffer: twice
 * the head is still linear.
 */
#include <string.h>

#include "http_parser.h"

enum { HP_HEAD = 0, HP_BODY = 1 };

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

/* RFC 9110 tchar. */
static bool hp_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool hp_ieq(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b))
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
	enum http_method method;
} hp_methods[] = {
        {"GET", HTTP_GET}, {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
        {"PUT", HTTP_PUT}, {"DELETE", HTTP_DELETE},
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
		if (strlen(hp_methods[i].name) == req->method_len &&
		    memcmp(hp_methods[i].name, s, req->method_len) == 0)
			req->method = hp_methods[i].method;
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
static void hp_connection(const char *v, size_t n, struct http_request *req)
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
		if (hp_ieq(v, (size_t)(te - v), "close"))
			req->keep_alive = false;
		else if (hp_ieq(v, (size_t)(te - v), "keep-alive"))
			req->keep_alive = true;
		v = c + 1;
	}
}

/* Parse the complete head buf[0 .. p->header_end) into req. */
static int hp_head(struct http_parser *p, const char *buf, struct http_request *req)
{
	const char *s = buf + p->head_start, *end = buf + p->header_end, *e, *next;
	bool have_cl = false, have_te = false;
	size_t cl = 0;

	memset(req, 0, sizeof(*req));
	e = hp_line(s, end, &next);
	if (hp_request_line(p, s, e, req) != 0)
		return HTTP_PARSE_ERROR;
	for (s = next; (e = hp_line(s, end, &next)) != NULL && e > s; s = next) {
		const char *colon = s, *v, *ve;
		struct http_header *h;

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
		if (req->nheaders == HTTP_MAX_HEADERS)
			return hp_error(p, 431, "too many header fields");
		h = &req->headers[req->nheaders++];
		h->name = s;
		h->name_len = (size_t)(colon - s);
		h->value = v;
		h->value_len = (size_t)(ve - v);
		if (hp_ieq(h->name, h->name_len, "content-length")) {
			size_t n;

			if (hp_content_length(p, v, h->value_len, &n) != 0)
				return HTTP_PARSE_ERROR;
			if (have_cl && n != cl)
				return hp_error(p, 400, "conflicting Content-Length headers");
			have_cl = true;
			cl = n;
		} else if (hp_ieq(h->name, h->name_len, "transfer-encoding")) {
			have_te = true;
		} else if (hp_ieq(h->name, h->name_len, "connection")) {
			hp_connection(v, h->value_len, req);
		} else if (hp_ieq(h->name, h->name_len, "expect")) {
			/* Other expectations are ignored: the body comes anyway. */
			p->expect_continue =
			        req->version_minor >= 1 && hp_ieq(v, h->value_len, "100-continue");
		}
	}
	if (have_te && have_cl)
		return hp_error(p, 400, "both Content-Length and Transfer-Encoding");
	if (have_te)
		return hp_error(p, 501, "chunked request bodies are not supported yet");
	if (!have_cl && (req->method == HTTP_POST || req->method == HTTP_PUT))
		return hp_error(p, 411, "Content-Length is required");
	if (cl > p->lim.max_body)
		return hp_error(p, 413, "request body is larger than http.max_body");
	p->content_length = cl;
	return 0;
}

/*
 * Look for the empty line ending the head in the bytes not scanned before.
 * Empty lines before the request line are skipped (RFC 9112 §2.2: some
 * clients send a CRLF after a POST body).
 */
static bool hp_find_head_end(struct http_parser *p, const char *buf, size_t len)
{
	size_t i;

	for (i = p->scanned; i < len; i++) {
		if (buf[i] != '\n')
			continue;
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

enum http_parse_rc http_parse_request(struct http_parser *p, const char *buf, size_t len,
                                      struct http_request *req)
{
	if (p->status != 0)
		return HTTP_PARSE_ERROR;
	if (p->state == HP_HEAD) {
		if (!hp_find_head_end(p, buf, len)) {
			/* max_header bytes without the end: the head cannot fit. */
			if (len >= p->lim.max_header)
				return hp_error(p, 431,
				                "request head is larger than http.max_header");
			return HTTP_PARSE_NEED_MORE;
		}
		if (p->header_end > p->lim.max_header)
			return hp_error(p, 431, "request head is larger than http.max_header");
		if (hp_head(p, buf, req) != 0)
			return HTTP_PARSE_ERROR;
		p->state = HP_BODY;
	}
	if (len - p->header_end < p->content_length)
		return HTTP_PARSE_NEED_MORE;
	/* Re-point the fields into buf, which may have moved since. */
	if (hp_head(p, buf, req) != 0)
		return HTTP_PARSE_ERROR;
	req->body = buf + p->header_end;
	req->body_len = p->content_length;
	p->consumed = p->header_end + p->content_length;
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

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
