/*
 * http_server: the listening socket and client connections on the loop.
 *
 * Each connection: read into a buffer, parse with http_parser, hand each
 * complete request to the handler, serialise the response into the output
 * buffer (one direct write attempt, then the loop's write watcher), keep
 * the connection alive unless the request or response says close.
 * Pipelined requests are answered in order. Limits: http.max_header (431),
 * http.max_body (413), http.max_connections (503 and close), http.timeout
 * (a request not complete that long after its first byte: 408 and close;
 * idle that long, or taking nothing of an answer that long: closed).
 * "Expect: 100-continue" is answered with "100 Continue" once the head
 * passed its checks. After an answer that
 * closes, the server shuts down its side and discards input until the
 * client closes (at most 2 s), so the answer is not lost to a reset.
 */
#ifndef OCTO_HTTP_SERVER_H
#define OCTO_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http_parser.h"

struct loop;
struct http_server;

struct http_response {
	int status;
	const char *content_type;     /* default "application/json" */
	const char *allow;            /* Allow: header for 405, or NULL */
	const char *www_authenticate; /* WWW-Authenticate: header for 401, or NULL */
	bool close;                   /* close the connection after this response */
	/*
	 * The answer tells of a change that must be on disk first (an
	 * accepted message in queue.spool): it is held, with the answers
	 * after it on the connection, until http_server_release().
	 */
	bool sync;
	struct buf body;
};

/* The handler fills resp (status defaults to 200, body empty). */
typedef void http_handler_fn(void *ctx, const struct http_request *req, struct http_response *resp);

/* Set resp to a JSON error {"error": code, "message": message}. */
void http_response_error(struct http_response *resp, int status, const char *code,
                         const char *message);

/* The settings the server reads (http.* of DESIGN §4; cfg_http_server_opts() fills them). */
struct http_server_opts {
	const char *listen_host;  /* http.listen: address or name, no brackets */
	uint16_t listen_port;     /* 0: the kernel chooses (tests; see http_server_port) */
	size_t max_body;          /* http.max_body: larger bodies get 413 */
	size_t max_header;        /* http.max_header: larger heads get 431 */
	unsigned max_connections; /* http.max_connections: more get 503 and close */
	unsigned timeout;         /* http.timeout, seconds */
	unsigned header_timeout;  /* http.header_timeout, seconds */
};

/*
 * Listens on opts->listen_host:listen_port; NULL with err filled on
 * failure. opts is copied (listen_host is not kept past the call).
 */
struct http_server *http_server_new(struct loop *loop, const struct http_server_opts *opts,
                                    http_handler_fn *handler, void *ctx, char *err, size_t errlen);
/* Stop accepting new connections (shutdown); existing ones finish. */
void http_server_stop_accepting(struct http_server *srv);
/*
 * Backpressure (issue 17): while paused, a request whose method is not
 * GET or HEAD is not parsed nor answered: its connection, once its
 * earlier answers are written, is parked (nothing read from it, so TCP
 * slows the client; no timeout runs: time parked does not count against
 * http.timeout, http.header_timeout or the body rate, and a parked
 * connection is never evicted). GET and HEAD requests (/health, /status)
 * are answered as usual, and new connections accepted. When the pause
 * ends, the parked connections are run again from the next loop
 * iteration, oldest first, until the server is paused again. main
 * pauses the server while the broker's outbound queue is congested
 * (mqtt_client_on_congestion).
 */
void http_server_pause(struct http_server *srv, bool paused);
/*
 * Group commit: connections whose answers wait for a sync (resp->sync),
 * counted. main, before each select(), syncs and then calls
 * http_server_release(): with synced true the answers go out; with false
 * they are withdrawn (none of them was written) and those connections
 * closed after the answers before the first of them, so the clients see
 * no answer rather than a false "accepted". Answers of pipelined requests
 * after a released one may be held again: call both until none is held.
 */
size_t http_server_held(const struct http_server *srv);
void http_server_release(struct http_server *srv, bool synced);
/* Open client connections (refused ones not counted). */
size_t http_server_connections(const struct http_server *srv);
/* Responses sent, by status class (index 1..5 for 1xx..5xx). */
struct http_server_stats {
	uint64_t responses[6];
	uint64_t evicted;  /* stalled connections closed to admit a new one */
	uint64_t withheld; /* connections closed by http_server_release(srv, false) */
	uint64_t pauses;   /* times http_server_pause(srv, true) began a pause */
	size_t parked;     /* connections waiting for the pause to end */
	size_t connections;
};
void http_server_stats(const struct http_server *srv, struct http_server_stats *st);
/* The port listened on (what the kernel chose for port 0); 0 once stopped. */
uint16_t http_server_port(const struct http_server *srv);
void http_server_free(struct http_server *srv);

#endif
