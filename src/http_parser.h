/*
 * http_parser: incremental HTTP/1.1 request parser (pure, no I/O).
 *
 * The caller keeps the bytes of the current request contiguous, starting
 * at buf[0], and calls http_parse_request() each time more have arrived,
 * with the same buf and a larger len. The parser remembers how far it got,
 * so total work is linear however the bytes are split; feeding one byte at
 * a time gives the same result as one piece. On HTTP_PARSE_OK the request's
 * pointers refer into buf and p->consumed is the request's total size
 * (pipelined bytes after it are untouched); call http_parser_init() before
 * the next request.
 *
 * Bodies come with Content-Length or Transfer-Encoding: chunked. A chunked
 * body is decoded in place when it is complete (that is why buf is not
 * const): req->body then points at the joined chunk data, and the bytes
 * between its end and p->consumed are left-over framing. http.max_body
 * bounds the decoded size; the framing may add at most max_header bytes.
 *
 * http_parse_response() reads a server's answer the same way (the webhook
 * client's side): same calling convention, same limits (max_header bounds
 * the status line and headers, max_body the body), the same chunk
 * machinery. See its comment for the framing rules.
 */
#ifndef OCTO_HTTP_PARSER_H
#define OCTO_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 32

enum http_parse_rc {
	HTTP_PARSE_OK = 0,
	HTTP_PARSE_NEED_MORE = 1,
	HTTP_PARSE_ERROR = -1, /* p->status (400, 411, 413, 431, 501, 505) and p->error */
};

enum http_method {
	HTTP_OTHER = 0,
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
};

struct http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading/trailing whitespace stripped */
	size_t value_len;
};

struct http_request {
	enum http_method method;
	const char *method_str;
	size_t method_len;
	const char *path; /* request target up to '?' */
	size_t path_len;
	const char *query; /* after '?', NULL if none */
	size_t query_len;
	int version_minor; /* HTTP/1.x */
	bool keep_alive;   /* 1.1 default on, 1.0 default off, Connection: header */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	const char *body;
	size_t body_len;
};

/* How a response's body is delimited (RFC 9112 §6.3). */
enum http_body_framing {
	HTTP_BODY_NONE = 0, /* 1xx, 204, 304: no body whatever the headers say */
	HTTP_BODY_LENGTH,   /* Content-Length */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding ending in chunked */
	HTTP_BODY_CLOSE,    /* neither: the body ends when the server closes */
};

struct http_response_info {
	int status;         /* 100..599 */
	int version_minor;  /* HTTP/1.x */
	const char *reason; /* reason phrase (may be empty), points into buf */
	size_t reason_len;
	bool keep_alive; /* the connection may carry another request */
	enum http_body_framing framing;
	const char *body; /* chunked: the joined data */
	size_t body_len;
};

struct http_limits {
	size_t max_header; /* request line + headers, bytes -> 431 */
	size_t max_body;   /* -> 413 */
};

struct http_parser {
	struct http_limits lim;
	int state;
	size_t scanned;        /* bytes already examined */
	size_t head_start;     /* offset of the request line (empty lines before it are skipped) */
	size_t line_start;     /* offset of the head line being scanned */
	size_t header_end;     /* offset of the first body byte, 0 until known */
	size_t content_length; /* body size (chunked: decoded so far) */
	bool chunked;
	size_t chunk_left;    /* chunked: data bytes still to come in this chunk */
	size_t trailer_start; /* chunked: offset of the trailer section */
	size_t consumed;      /* total request size on HTTP_PARSE_OK */
	bool expect_continue; /* "Expect: 100-continue" seen (set once the head is parsed) */
	bool response;        /* parsing a response (error texts differ) */
	bool until_close;     /* response body delimited by the connection's end */
	int status;           /* on HTTP_PARSE_ERROR: the answer to send */
	const char *error;    /* on HTTP_PARSE_ERROR: what is wrong (static text) */
};

void http_parser_init(struct http_parser *p, const struct http_limits *lim);
enum http_parse_rc http_parse_request(struct http_parser *p, char *buf, size_t len,
                                      struct http_request *req);
/*
 * Parse a response to a request that was not HEAD (the webhook client only
 * POSTs). Calling convention, limits and the error codes in p->status are
 * those of http_parse_request() (400 malformed, 413 body over max_body,
 * 431 head over max_header, 501 unsupported coding, 505 not HTTP/1.x);
 * they only say what kind of problem it was. After an error the connection
 * cannot be used any more.
 *
 * Framing: 1xx, 204 and 304 have no body; otherwise Transfer-Encoding
 * whose last coding is chunked is chunked (decoded in place into
 * out->body), another Transfer-Encoding or no Content-Length means the
 * body runs until the server closes, else Content-Length. Both headers,
 * two Content-Lengths, or Transfer-Encoding from an HTTP/1.0 server are
 * errors. keep_alive: HTTP/1.1 on, HTTP/1.0 off, `Connection: close` /
 * `keep-alive` decide, and a body running until the close means off.
 *
 * A 1xx answer is interim: HTTP_PARSE_OK with p->consumed covering its
 * head only; the caller drops those bytes and parses the final answer.
 * A body running until the close stays HTTP_PARSE_NEED_MORE (413 once it
 * passes max_body) until the caller reports the end with
 * http_parse_response_eof().
 */
enum http_parse_rc http_parse_response(struct http_parser *p, char *buf, size_t len,
                                       struct http_response_info *out);
/*
 * The server closed the connection after buf[0..len): HTTP_PARSE_OK when
 * that ends a complete response (a body running until the close, or a
 * response already complete in buf), else HTTP_PARSE_ERROR (400, "the
 * connection closed before the response was complete").
 */
enum http_parse_rc http_parse_response_eof(struct http_parser *p, char *buf, size_t len,
                                           struct http_response_info *out);
/* Case-insensitive header lookup; NULL if absent. */
const struct http_header *http_request_header(const struct http_request *req, const char *name);
/* Reason phrase for a status code ("Not Found"); "Unknown" for one the daemon never sends. */
const char *http_status_text(int status);

#endif
