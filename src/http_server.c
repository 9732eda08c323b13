/*
 * http_server: the listening socket and client connections (see
 * http_server.h).
 *
 * Each connection reads into c_in, parses requests with http_parser, and
 * appends each answer to c_out in request order (pipelining). Output is
 * written at once when possible; the rest waits for the write watcher.
 * A connection is freed only through loop_defer(), never inside its own
 * callback. One sweep timer per second closes connections idle or slow for
 * longer than http.timeout, so activity costs nothing but a timestamp.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "net.h"

#define HS_READ_CHUNK 16384
/* Stop reading a client while this much output waits for it. */
#define HS_OUT_HIGH 262144
#define HS_SWEEP_MS 1000
#define HS_PEER_LEN 64

struct http_conn {
	struct http_server *c_srv;
	struct http_conn *c_prev, *c_next;
	int c_fd;
	char c_peer[HS_PEER_LEN];
	struct buf c_in, c_out;
	struct http_parser c_parser;
	uint64_t c_last;   /* last activity, loop ms */
	bool c_close_after; /* close once c_out is written */
	bool c_closed;      /* fd closed, free pending */
	bool c_writing;
};

struct http_server {
	struct loop *s_loop;
	const struct cfg *s_cfg;
	http_handler_fn *s_handler;
	void *s_ctx;
	int s_fd;
	uint64_t s_sweep;
	struct http_conn *s_conns;
	size_t s_nconns;
	struct http_limits s_lim;
	struct http_response s_resp; /* reused for every request */
};

static void hs_conn_io(struct loop *loop, int fd, int mask, void *arg);

void http_response_error(struct http_response *resp, int status, const char *code,
                         const char *message)
{
	resp->status = status;
	resp->content_type = NULL;
	buf_reset(&resp->body);
	buf_append_str(&resp->body, "{\"error\":");
	json_append_string(&resp->body, code, strlen(code));
	buf_append_str(&resp->body, ",\"message\":");
	json_append_string(&resp->body, message, strlen(message));
	buf_putc(&resp->body, '}');
}

static const char *hs_error_code(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 411: return "length_required";
	case 413: return "body_too_large";
	case 431: return "headers_too_large";
	case 501: return "not_implemented";
	case 505: return "http_version_not_supported";
	default: return "bad_request";
	}
}

static void hs_conn_free(void *arg)
{
	struct http_conn *c = arg;

	buf_free(&c->c_in);
	buf_free(&c->c_out);
	free(c);
}

static void hs_conn_close(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;

	if (c->c_closed)
		return;
	c->c_closed = true;
	loop_unwatch(srv->s_loop, c->c_fd, LOOP_READ | LOOP_WRITE);
	close(c->c_fd);
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		srv->s_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	srv->s_nconns--;
	loop_defer(srv->s_loop, hs_conn_free, c);
}

static void hs_serialize(struct buf *out, const struct http_request *req,
                         const struct http_response *resp)
{
	bool head = req != NULL && req->method == HTTP_HEAD;

	buf_appendf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
	            resp->status, http_status_text(resp->status),
	            resp->content_type != NULL ? resp->content_type : "application/json",
	            buf_len(&resp->body));
	if (resp->allow != NULL)
		buf_appendf(out, "Allow: %s\r\n", resp->allow);
	if (resp->close)
		buf_append_str(out, "Connection: close\r\n");
	buf_append_str(out, "\r\n");
	if (!head)
		buf_append(out, buf_data(&resp->body), buf_len(&resp->body));
}

/* Write what can be written now; watch for writability if bytes remain. */
static void hs_flush(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;

	while (buf_len(&c->c_out) > 0) {
		ssize_t n = write(c->c_fd, buf_data(&c->c_out), buf_len(&c->c_out));

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_debug("http %s: write: %s", c->c_peer, strerror(errno));
			hs_conn_close(c);
			return;
		}
		buf_consume(&c->c_out, (size_t)n);
		c->c_last = loop_now(srv->s_loop);
	}
	if (buf_len(&c->c_out) == 0) {
		if (c->c_writing)
			loop_unwatch(srv->s_loop, c->c_fd, LOOP_WRITE);
		c->c_writing = false;
		if (c->c_close_after)
			hs_conn_close(c);
		return;
	}
	if (!c->c_writing && loop_watch(srv->s_loop, c->c_fd, LOOP_WRITE, hs_conn_io, c) == 0)
		c->c_writing = true;
}

static void hs_reset_response(struct http_response *resp)
{
	resp->status = 200;
	resp->content_type = NULL;
	resp->allow = NULL;
	resp->close = false;
	buf_reset(&resp->body);
}

/* Answer every complete request in c_in, in order. */
static void hs_process(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;
	struct http_response *resp = &srv->s_resp;

	while (!c->c_close_after && buf_len(&c->c_out) < HS_OUT_HIGH) {
		struct http_request req;
		enum http_parse_rc rc;

		rc = http_parse_request(&c->c_parser, buf_data(&c->c_in), buf_len(&c->c_in), &req);
		if (rc == HTTP_PARSE_NEED_MORE)
			break;
		hs_reset_response(resp);
		if (rc == HTTP_PARSE_ERROR) {
			/* The framing can no longer be trusted: answer and close. */
			http_response_error(resp, c->c_parser.status,
			                    hs_error_code(c->c_parser.status), c->c_parser.error);
			resp->close = true;
			c->c_close_after = true;
			log_debug("http %s: bad request -> %d (%s)", c->c_peer, resp->status,
			          c->c_parser.error);
			hs_serialize(&c->c_out, NULL, resp);
			break;
		}
		srv->s_handler(srv->s_ctx, &req, resp);
		if (!req.keep_alive)
			resp->close = true;
		if (resp->close)
			c->c_close_after = true;
		log_debug("http %s: %.*s %.*s -> %d", c->c_peer, (int)req.method_len,
		          req.method_str, (int)req.path_len, req.path, resp->status);
		hs_serialize(&c->c_out, &req, resp);
		buf_consume(&c->c_in, c->c_parser.consumed);
		http_parser_init(&c->c_parser, &srv->s_lim);
	}
	/* Keep a large body's buffer from pinning memory between requests. */
	buf_shrink(&resp->body, HS_READ_CHUNK);
	hs_flush(c);
}

static void hs_read(struct http_conn *c)
{
	ssize_t n;

	buf_reserve(&c->c_in, HS_READ_CHUNK);
	n = read(c->c_fd, buf_tail(&c->c_in), buf_avail(&c->c_in));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			log_debug("http %s: read: %s", c->c_peer, strerror(errno));
			hs_conn_close(c);
		}
		return;
	}
	if (n == 0) {
		hs_conn_close(c);
		return;
	}
	buf_produced(&c->c_in, (size_t)n);
	c->c_last = loop_now(c->c_srv->s_loop);
	if (c->c_close_after)
		return; /* an answer that closes is on its way; ignore the rest */
	hs_process(c);
}

static void hs_conn_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct http_conn *c = arg;

	if (c->c_closed)
		return;
	if (mask & LOOP_READ) {
		hs_read(c);
		return;
	}
	hs_flush(c);
	/* Output drained below the mark: requests held back can go on. */
	if (!c->c_closed && !c->c_close_after && buf_len(&c->c_out) == 0 &&
	    buf_len(&c->c_in) > 0)
		hs_process(c);
}

/* Over http.max_connections: one 503 answer, best effort, and close. */
static void hs_refuse(struct http_server *srv, int fd, const char *peer)
{
	struct http_response resp;
	struct buf out;
	ssize_t n;

	buf_init(&out);
	buf_init(&resp.body);
	resp.allow = NULL;
	http_response_error(&resp, 503, "too_many_connections",
	                    "too many connections (http.max_connections)");
	resp.close = true;
	hs_serialize(&out, NULL, &resp);
	n = write(fd, buf_data(&out), buf_len(&out));
	(void)n;
	close(fd);
	log_warnx("http %s: refused: %zu connections open (http.max_connections)", peer,
	          srv->s_nconns);
	buf_free(&out);
	buf_free(&resp.body);
}

static void hs_accept(struct loop *loop, int lfd, int mask, void *arg)
{
	struct http_server *srv = arg;
	char peer[HS_PEER_LEN];
	int fd;

	while ((fd = net_accept(lfd, peer, sizeof(peer))) >= 0) {
		struct http_conn *c;

		if (srv->s_nconns >= srv->s_cfg->http_max_connections) {
			hs_refuse(srv, fd, peer);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->c_srv = srv;
		c->c_fd = fd;
		snprintf(c->c_peer, sizeof(c->c_peer), "%s", peer);
		buf_init(&c->c_in);
		buf_init(&c->c_out);
		http_parser_init(&c->c_parser, &srv->s_lim);
		c->c_last = loop_now(loop);
		if (loop_watch(loop, fd, LOOP_READ, hs_conn_io, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		net_set_nodelay(fd);
		c->c_next = srv->s_conns;
		if (srv->s_conns != NULL)
			srv->s_conns->c_prev = c;
		srv->s_conns = c;
		srv->s_nconns++;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("http: accept");
}

static int64_t hs_sweep(struct loop *loop, uint64_t id, void *arg)
{
	struct http_server *srv = arg;
	uint64_t now = loop_now(loop), limit = (uint64_t)srv->s_cfg->http_timeout * 1000;
	struct http_conn *c, *next;

	for (c = srv->s_conns; c != NULL; c = next) {
		next = c->c_next;
		if (now - c->c_last >= limit) {
			log_debug("http %s: closed after %u s without progress", c->c_peer,
			          srv->s_cfg->http_timeout);
			hs_conn_close(c);
		}
	}
	return HS_SWEEP_MS;
}

struct http_server *http_server_new(struct loop *loop, const struct cfg *cfg,
                                    http_handler_fn *handler, void *ctx, char *err, size_t errlen)
{
	struct http_server *srv;
	int fd;

	fd = net_listen(cfg->http_listen_host, cfg->http_listen_port, 128, err, errlen);
	if (fd < 0)
		return NULL;
	srv = xcalloc(1, sizeof(*srv));
	srv->s_loop = loop;
	srv->s_cfg = cfg;
	srv->s_handler = handler;
	srv->s_ctx = ctx;
	srv->s_fd = fd;
	srv->s_lim.max_header = cfg->http_max_header;
	srv->s_lim.max_body = cfg->http_max_body;
	buf_init(&srv->s_resp.body);
	if (loop_watch(loop, fd, LOOP_READ, hs_accept, srv) != 0) {
		snprintf(err, errlen, "listen: descriptor %d out of range", fd);
		close(fd);
		free(srv);
		return NULL;
	}
	srv->s_sweep = loop_timer_add(loop, HS_SWEEP_MS, hs_sweep, srv);
	return srv;
}

void http_server_stop_accepting(struct http_server *srv)
{
	if (srv->s_fd < 0)
		return;
	loop_unwatch(srv->s_loop, srv->s_fd, LOOP_READ);
	close(srv->s_fd);
	srv->s_fd = -1;
}

size_t http_server_connections(const struct http_server *srv)
{
	return srv->s_nconns;
}

void http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	http_server_stop_accepting(srv);
	while (srv->s_conns != NULL)
		hs_conn_close(srv->s_conns);
	loop_timer_del(srv->s_loop, srv->s_sweep);
	buf_free(&srv->s_resp.body);
	free(srv);
}
