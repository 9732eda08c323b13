/*
 * http_server: the listening socket and client connections (see
 * http_server.h).
 *
 * A connection alternates between two modes. While it has no answer
 * waiting, it reads into c_in and parses; each complete request is handed
 * to the handler and its answer appended to c_out. Pipelined requests
 * already in c_in are answered into the same c_out, in request order,
 * until it holds HS_OUT_BATCH bytes, so one send() carries the answers
 * to one read()'s worth of requests. While answers wait to be written,
 * reading stops (so a client that pipelines without reading cannot make
 * us buffer without bound); they are written at once when possible, the
 * rest when the loop reports writability. An answer that closes the
 * connection is followed by a lingering close: shut down our side, then
 * read and discard until the client closes or a short deadline passes.
 * Closing at once with unread bytes in the socket makes the kernel send
 * a reset, which can destroy the answer before the client reads it (413
 * with a body in flight is the usual case).
 *
 * Each connection has one timer and, by what it is doing, one deadline:
 * a request in progress must be complete within http.timeout of its first
 * byte (else 408 and close), however steadily its bytes trickle in; an
 * answer being written is given http.timeout after the last byte the
 * client took; a keep-alive connection with no request in progress is
 * closed http.timeout after its last answer went out (or it was
 * accepted); lingering lasts HS_LINGER_MS at most. Events only store a
 * timestamp, and every timestamp they store is "now", so a deadline only
 * ever moves later: when the timer fires it closes the connection if the
 * deadline has passed, else re-arms itself for the remaining time (O(1)
 * per event, no scan over the connections). Connections are freed only
 * through loop_defer(), never inside their own callbacks.
 *
 * A request also has shorter deadlines (issue 18, so that slow clients
 * cannot hold every slot): its head must be complete within
 * http.header_timeout of its first byte, and after the head its bytes
 * must keep coming at HS_MIN_BODY_RATE on average, http.header_timeout
 * of grace included (the deadline moves later with each byte of the
 * body, never earlier). Missing either is answered 408 and closed. A
 * request's first byte can bring its deadline earlier than the timer,
 * so the timer is re-armed then (hs_request_began).
 *
 * When every slot of http.max_connections is taken, a new connection
 * evicts the stalled connection that has been stalled longest
 * (hs_evict): one that has no answer to write (a request incomplete, an
 * idle keep-alive connection, or a lingering one), ranked by the start
 * of its request in progress, else by its last answer (or accept). Only
 * when every slot is writing an answer is the newcomer refused.
 *
 * Backpressure (issue 17, http_server_pause): while the server is
 * paused, a connection whose next request is not a GET or HEAD (known
 * from its first bytes, before the parser runs) writes what it has
 * answered and is then parked: no watcher, no timer, in a FIFO. Its
 * bytes wait in c_in and in the socket, and TCP slows the client down.
 * When the pause ends, a zero-delay timer takes the parked connections
 * from the head of the FIFO, oldest first, until the server is paused
 * again (those left keep their turn); each one's deadlines move later by
 * the time it was parked, so the pause is never counted as the client's
 * slowness, and hs_evict passes parked connections by.
 *
 * Connections over http.max_connections are refused with 503. The first
 * HS_MAX_REFUSED of those at a time get a connection of their own (so the
 * 503 survives a client still sending, see the lingering close); beyond
 * that, the 503 is written once straight into the fresh socket, which is
 * then closed, and nothing is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "net.h"

#define HS_READ_CHUNK 16384
/*
 * A connection's c_in is read into directly only when it has this much room;
 * otherwise the bytes go through the server's one s_scratch and c_in grows
 * by what arrived. A slow client (one byte a second, slowloris) so holds a
 * few dozen bytes, not HS_READ_CHUNK: 256 of them cost 4 MB that glibc kept
 * after they closed.
 */
#define HS_READ_DIRECT 4096
#define HS_PEER_LEN    64
/* Longest wait for the client to close after our final answer. */
#define HS_LINGER_MS 2000
/* Answers to pipelined requests gathered into one send(), at most. */
#define HS_OUT_BATCH HS_READ_CHUNK
/* Refused connections lingering at once; beyond it: 503 in one write, close. */
#define HS_MAX_REFUSED 64
/* Bytes a refused-at-once client may have sent that are read before close. */
#define HS_REFUSE_DRAIN 65536
/* After its head, a request's bytes must arrive this fast on average (bytes/s). */
#define HS_MIN_BODY_RATE 1024

/* The two FIFOs a connection can wait in, through its c_link[] fields. */
enum hs_queue {
	HS_PARKED, /* waiting for http_server_pause(false): no I/O, no timer */
	HS_HELD,   /* its answers wait for http_server_release() */
};

enum hs_state {
	HS_ACTIVE,  /* reading and answering requests */
	HS_CLOSING, /* the last answer is in c_out; close once it is written */
	HS_LINGER,  /* our side shut down; discarding input until EOF */
};

struct http_conn {
	struct http_server *c_srv;
	struct http_conn *c_prev, *c_next;
	int c_fd;
	int c_mask; /* LOOP_READ / LOOP_WRITE currently watched */
	char c_peer[HS_PEER_LEN];
	struct buf c_in, c_out;
	struct http_parser c_parser;
	enum hs_state c_state;
	uint64_t c_timer;
	uint64_t c_last;             /* loop ms: last byte written, or idle/linger since */
	uint64_t c_req_start;        /* loop ms: first byte of the request in progress */
	uint64_t c_head_at;          /* loop ms: its head was complete, 0 while it is not */
	bool c_in_request;           /* part of a request read, not yet answered */
	bool c_continued;            /* "100 Continue" sent for the current request */
	bool c_refused;              /* over http.max_connections: only the 503 is sent */
	bool c_closed;               /* fd closed, free pending */
	uint64_t c_parked_at;        /* loop ms: parked since when */
	bool c_unsynced;             /* c_out holds answers waiting for a sync */
	size_t c_sync_mark;          /* c_out's length before the first of them */
	bool c_in_queue[2];          /* in srv->s_queue[HS_PARKED / HS_HELD] */
	struct http_conn *c_link[2]; /* the next one there */
};

/* A FIFO of connections (hs_push, hs_pop, hs_unlink). */
struct hs_fifo {
	struct http_conn *f_head, *f_tail;
	size_t f_n;
};

struct http_server {
	struct loop *s_loop;
	struct http_server_opts s_opts; /* a copy; s_opts.listen_host not kept */
	http_handler_fn *s_handler;
	void *s_ctx;
	int s_fd;
	struct http_conn *s_conns;
	size_t s_nconns;   /* counted against http.max_connections */
	size_t s_nrefused; /* refused, still sending their 503 */
	struct http_limits s_lim;
	struct http_response s_resp;   /* reused for every request */
	struct buf s_refusal;          /* the 503 of the refused-at-once, built once */
	uint64_t s_responses[6];       /* by status class */
	uint64_t s_evicted;            /* closed to admit a new one (hs_evict) */
	bool s_paused;                 /* http_server_pause(): requests that change state wait */
	uint64_t s_pauses;             /* times paused */
	struct hs_fifo s_queue[2];     /* parked, held: oldest first */
	uint64_t s_resume_timer;       /* runs the parked connections after the pause ends */
	uint64_t s_withheld;           /* closed when the sync failed */
	char s_scratch[HS_READ_CHUNK]; /* hs_read's, for connections short of room */
};

static void hs_conn_io(struct loop *loop, int fd, int mask, void *arg);
static int64_t hs_conn_timer(struct loop *loop, uint64_t id, void *arg);

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
	case 408:
		return "request_timeout";
	case 411:
		return "length_required";
	case 413:
		return "body_too_large";
	case 431:
		return "headers_too_large";
	case 501:
		return "not_implemented";
	case 505:
		return "http_version_not_supported";
	default:
		return "bad_request";
	}
}

static uint64_t hs_timeout_ms(const struct http_conn *c)
{
	uint64_t t = (uint64_t)c->c_srv->s_opts.timeout * 1000;

	if (c->c_state == HS_LINGER && t > HS_LINGER_MS)
		return HS_LINGER_MS;
	return t;
}

/*
 * The request's own deadline besides http.timeout: its head within
 * http.header_timeout of its first byte; then its body bytes at
 * HS_MIN_BODY_RATE on average after a grace of http.header_timeout.
 */
static uint64_t hs_request_deadline(const struct http_conn *c)
{
	uint64_t grace = (uint64_t)c->c_srv->s_opts.header_timeout * 1000, got = 0;

	if (c->c_head_at == 0)
		return c->c_req_start + grace;
	if (buf_len(&c->c_in) > c->c_parser.header_end)
		got = buf_len(&c->c_in) - c->c_parser.header_end;
	return c->c_head_at + grace + got * 1000 / HS_MIN_BODY_RATE;
}

/* When the connection's current deadline (see the top of the file) is, loop ms. */
static uint64_t hs_deadline(const struct http_conn *c)
{
	if (c->c_state != HS_LINGER && c->c_in_request) {
		uint64_t d = c->c_req_start + hs_timeout_ms(c), h = hs_request_deadline(c);

		return h < d ? h : d;
	}
	return c->c_last + hs_timeout_ms(c);
}

static void hs_conn_free(void *arg)
{
	struct http_conn *c = arg;

	buf_free(&c->c_in);
	buf_free(&c->c_out);
	free(c);
}

/* c at the tail of queue q (not in it yet). */
static void hs_push(struct http_conn *c, enum hs_queue q)
{
	struct hs_fifo *f = &c->c_srv->s_queue[q];

	c->c_link[q] = NULL;
	if (f->f_tail != NULL)
		f->f_tail->c_link[q] = c;
	else
		f->f_head = c;
	f->f_tail = c;
	f->f_n++;
	c->c_in_queue[q] = true;
}

/* The head of queue q, taken out; NULL if it is empty. */
static struct http_conn *hs_pop(struct http_server *srv, enum hs_queue q)
{
	struct hs_fifo *f = &srv->s_queue[q];
	struct http_conn *c = f->f_head;

	if (c == NULL)
		return NULL;
	f->f_head = c->c_link[q];
	if (f->f_head == NULL)
		f->f_tail = NULL;
	c->c_link[q] = NULL;
	c->c_in_queue[q] = false;
	f->f_n--;
	return c;
}

/* Take c out of queue q wherever it is (a scan: only when it is closed). */
static void hs_unlink(struct http_conn *c, enum hs_queue q)
{
	struct hs_fifo *f = &c->c_srv->s_queue[q];
	struct http_conn **pp = &f->f_head, *prev = NULL;

	while (*pp != NULL && *pp != c) {
		prev = *pp;
		pp = &(*pp)->c_link[q];
	}
	if (*pp == NULL)
		return;
	*pp = c->c_link[q];
	if (f->f_tail == c)
		f->f_tail = prev;
	c->c_link[q] = NULL;
	c->c_in_queue[q] = false;
	f->f_n--;
}

static void hs_conn_close(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;

	if (c->c_closed)
		return;
	c->c_closed = true;
	if (c->c_mask != 0)
		loop_unwatch(srv->s_loop, c->c_fd, c->c_mask);
	c->c_mask = 0;
	close(c->c_fd);
	if (c->c_timer != 0)
		loop_timer_del(srv->s_loop, c->c_timer);
	c->c_timer = 0;
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		srv->s_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	if (c->c_in_queue[HS_PARKED])
		hs_unlink(c, HS_PARKED);
	if (c->c_in_queue[HS_HELD])
		hs_unlink(c, HS_HELD);
	if (c->c_refused)
		srv->s_nrefused--;
	else
		srv->s_nconns--;
	loop_defer(srv->s_loop, hs_conn_free, c);
}

/* Watch exactly the events in mask. */
static void hs_want(struct http_conn *c, int mask)
{
	struct loop *loop = c->c_srv->s_loop;

	if (c->c_mask & ~mask)
		loop_unwatch(loop, c->c_fd, c->c_mask & ~mask);
	if (mask & ~c->c_mask)
		loop_watch(loop, c->c_fd, mask & ~c->c_mask, hs_conn_io, c);
	c->c_mask = mask;
}

static void hs_serialize(struct http_server *srv, struct buf *out, const struct http_request *req,
                         const struct http_response *resp)
{
	bool head = req != NULL && req->method == HTTP_HEAD;

	if (resp->status >= 100 && resp->status < 600)
		srv->s_responses[resp->status / 100]++;

	/* Every answer goes through here: pieces and digits, no printf. */
	buf_reserve(out, 128 + (head ? 0 : buf_len(&resp->body)));
	buf_append(out, "HTTP/1.1 ", 9);
	buf_append_int(out, resp->status);
	buf_putc(out, ' ');
	buf_append_str(out, http_status_text(resp->status));
	/* 204 has neither body nor Content-Length (RFC 9110 §8.6). */
	if (resp->status != 204) {
		buf_append(out, "\r\nContent-Type: ", 16);
		buf_append_str(out, resp->content_type != NULL ? resp->content_type
		                                               : "application/json");
		buf_append(out, "\r\nContent-Length: ", 18);
		buf_append_uint(out, buf_len(&resp->body));
	}
	buf_append(out, "\r\n", 2);
	if (resp->allow != NULL) {
		buf_append(out, "Allow: ", 7);
		buf_append_str(out, resp->allow);
		buf_append(out, "\r\n", 2);
	}
	if (resp->www_authenticate != NULL) {
		buf_append(out, "WWW-Authenticate: ", 18);
		buf_append_str(out, resp->www_authenticate);
		buf_append(out, "\r\n", 2);
	}
	if (resp->close)
		buf_append_str(out, "Connection: close\r\n");
	else if (req != NULL && req->version_minor == 0)
		/* An HTTP/1.0 client closes unless told the connection stays. */
		buf_append_str(out, "Connection: keep-alive\r\n");
	buf_append_str(out, "\r\n");
	if (!head)
		buf_append(out, buf_data(&resp->body), buf_len(&resp->body));
}

/* Write what the socket takes now. 0, or -1 if the connection was closed. */
static int hs_write(struct http_conn *c)
{
	while (buf_len(&c->c_out) > 0) {
		/* send(MSG_NOSIGNAL): a client gone away must not raise SIGPIPE. */
		ssize_t n = send(c->c_fd, buf_data(&c->c_out), buf_len(&c->c_out), MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			log_debug("http %s: write: %s", c->c_peer, strerror(errno));
			hs_conn_close(c);
			return -1;
		}
		buf_consume(&c->c_out, (size_t)n);
		c->c_last = loop_now(c->c_srv->s_loop);
	}
	return 0;
}

/* (Re)start the connection's timer for its current state. */
static void hs_arm_timer(struct http_conn *c)
{
	struct loop *loop = c->c_srv->s_loop;

	if (c->c_timer != 0)
		loop_timer_del(loop, c->c_timer);
	c->c_last = loop_now(loop);
	c->c_timer = loop_timer_add(loop, (int64_t)hs_timeout_ms(c), hs_conn_timer, c);
}

/* Our last answer is out: half-close and wait for the client's EOF. */
static void hs_linger(struct http_conn *c)
{
	c->c_state = HS_LINGER;
	shutdown(c->c_fd, SHUT_WR);
	buf_free(&c->c_in);
	buf_free(&c->c_out);
	hs_want(c, LOOP_READ);
	hs_arm_timer(c);
}

static void hs_reset_response(struct http_response *resp)
{
	resp->status = 200;
	resp->content_type = NULL;
	resp->allow = NULL;
	resp->www_authenticate = NULL;
	resp->close = false;
	resp->sync = false;
	buf_reset(&resp->body);
}

/* Answer the parser's outcome rc (OK or ERROR) into c_out. */
static void hs_answer(struct http_conn *c, enum http_parse_rc rc, const struct http_request *req)
{
	struct http_server *srv = c->c_srv;
	struct http_response *resp = &srv->s_resp;

	hs_reset_response(resp);
	/* The request is over; the answer's write clock starts now. */
	c->c_in_request = false;
	c->c_last = loop_now(srv->s_loop);
	if (rc == HTTP_PARSE_ERROR) {
		/* The framing can no longer be trusted: answer and close. */
		http_response_error(resp, c->c_parser.status, hs_error_code(c->c_parser.status),
		                    c->c_parser.error);
		resp->close = true;
		log_debug("%s - - -> %d (%s)", c->c_peer, resp->status, c->c_parser.error);
		hs_serialize(c->c_srv, &c->c_out, NULL, resp);
	} else {
		srv->s_handler(srv->s_ctx, req, resp);
		if (!req->keep_alive)
			resp->close = true;
		if (resp->sync && !c->c_unsynced) {
			c->c_unsynced = true;
			c->c_sync_mark = buf_len(&c->c_out);
		}
		log_debug("%s %.*s %.*s -> %d", c->c_peer, (int)req->method_len, req->method_str,
		          (int)req->path_len, req->path, resp->status);
		hs_serialize(c->c_srv, &c->c_out, req, resp);
		buf_consume(&c->c_in, c->c_parser.consumed);
		http_parser_init(&c->c_parser, &srv->s_lim);
		c->c_continued = false;
	}
	if (resp->close)
		c->c_state = HS_CLOSING;
	/* Keep one large body from pinning memory between requests. */
	buf_shrink(&resp->body, HS_READ_CHUNK);
}

/*
 * Write c_out. 1 if it is all out, 0 if the rest waits for writability
 * (now asked for), -1 if the connection was closed.
 */
static int hs_flush(struct http_conn *c)
{
	if (c->c_unsynced) {
		/* Nothing goes out before the sync: http_server_release() resumes. */
		if (!c->c_in_queue[HS_HELD])
			hs_push(c, HS_HELD);
		return 0;
	}
	if (hs_write(c) != 0)
		return -1;
	if (buf_len(&c->c_out) > 0) {
		hs_want(c, LOOP_WRITE);
		return 0;
	}
	return 1;
}

/*
 * The first bytes of a request are in: its deadlines start now, and the
 * head's (http.header_timeout) may come before the timer armed for an
 * idle connection, so the timer is set again.
 */
static void hs_request_began(struct http_conn *c)
{
	struct loop *loop = c->c_srv->s_loop;
	uint64_t now = loop_now(loop), deadline;

	c->c_in_request = true;
	c->c_req_start = now;
	c->c_head_at = 0;
	if (c->c_timer != 0)
		loop_timer_del(loop, c->c_timer);
	deadline = hs_deadline(c);
	c->c_timer = loop_timer_add(loop, deadline > now ? (int64_t)(deadline - now) : 0,
	                            hs_conn_timer, c);
}

/*
 * While the server is paused: must the next request in c_in wait? Every
 * method but GET and HEAD does (they may publish; GET /health and
 * /status are still answered). Known from the request line's first
 * bytes, before the parser runs (it must not see a complete request
 * twice). A request not begun, or whose method is not known yet, is read
 * on: that is at most one read of a connection that was idle.
 */
static bool hs_must_wait(const struct http_conn *c)
{
	static const char *const safe[] = {"GET ", "HEAD "};
	const char *s = buf_data(&c->c_in), *e = s + buf_len(&c->c_in);
	size_t i;

	if (!c->c_srv->s_paused)
		return false;
	/* The parser skips empty lines before a request line; so does this. */
	while (s < e && (*s == '\r' || *s == '\n'))
		s++;
	if (s == e)
		return false;
	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
		size_t n = strlen(safe[i]);

		if ((size_t)(e - s) < n)
			n = (size_t)(e - s);
		if (memcmp(s, safe[i], n) == 0)
			return false;
	}
	return true;
}

/*
 * Park c (its answers are all written): no watcher, no timer, at the tail
 * of the FIFO that hs_resume_fire() runs when the pause ends. Its bytes
 * wait in c_in and in the socket, where TCP slows the client down.
 */
static void hs_park(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;

	hs_want(c, 0);
	if (c->c_timer != 0)
		loop_timer_del(srv->s_loop, c->c_timer);
	c->c_timer = 0;
	c->c_parked_at = loop_now(srv->s_loop);
	hs_push(c, HS_PARKED);
}

/*
 * c left the FIFO's head: the time it waited for us does not count
 * against its deadlines (they all move later by as much), so its timer is
 * armed again for what was left.
 */
static void hs_unpark(struct http_conn *c)
{
	struct http_server *srv = c->c_srv;
	uint64_t now = loop_now(srv->s_loop), waited = now - c->c_parked_at, deadline;

	c->c_last += waited;
	c->c_req_start += waited;
	if (c->c_head_at != 0)
		c->c_head_at += waited;
	deadline = hs_deadline(c);
	c->c_timer = loop_timer_add(srv->s_loop, deadline > now ? (int64_t)(deadline - now) : 0,
	                            hs_conn_timer, c);
}

/*
 * Drive the connection as far as it goes without waiting: answer the
 * requests buffered in c_in (up to HS_OUT_BATCH bytes of answers), write
 * them, then wait for whichever event is needed next.
 */
static void hs_run(struct http_conn *c)
{
	for (;;) {
		struct http_request req;
		enum http_parse_rc rc;

		if ((buf_len(&c->c_out) >= HS_OUT_BATCH || c->c_state == HS_CLOSING) &&
		    hs_flush(c) != 1)
			return;
		if (c->c_state == HS_CLOSING) {
			hs_linger(c);
			return;
		}
		if (hs_must_wait(c)) {
			/* Paused (backpressure): the answers so far go out first. */
			if (buf_len(&c->c_out) == 0 || hs_flush(c) == 1)
				hs_park(c);
			return;
		}
		rc = http_parse_request(&c->c_parser, buf_data(&c->c_in), buf_len(&c->c_in), &req);
		if (rc == HTTP_PARSE_NEED_MORE && c->c_parser.expect_continue && !c->c_continued) {
			/*
			 * The head passed every check (a body over http.max_body
			 * was refused already): invite the body. curl waits a
			 * second for this before sending a body on its own.
			 */
			c->c_continued = true;
			buf_append_str(&c->c_out, "HTTP/1.1 100 Continue\r\n\r\n");
			continue;
		}
		if (rc == HTTP_PARSE_NEED_MORE) {
			/* Every complete request is answered: send the answers. */
			if (buf_len(&c->c_out) > 0 && hs_flush(c) != 1)
				return;
			if (buf_len(&c->c_in) == 0) {
				/* Nothing pending: idle from now on. */
				c->c_last = loop_now(c->c_srv->s_loop);
			} else if (!c->c_in_request) {
				/*
				 * A request began: read now, or (pipelined) it
				 * waited in c_in until the answer before it
				 * was out. Its clock does not restart on
				 * further bytes.
				 */
				hs_request_began(c);
			}
			if (c->c_in_request && c->c_head_at == 0 && c->c_parser.header_end != 0)
				c->c_head_at = loop_now(c->c_srv->s_loop);
			buf_shrink(&c->c_in, HS_READ_CHUNK);
			hs_want(c, LOOP_READ);
			return;
		}
		hs_answer(c, rc, &req);
	}
}

/*
 * Room in c_in for a fast sender's next reads: the rest of the request
 * whose head says how long its body is (Content-Length, at most
 * http.max_body), at once, so that a large body is read in as few
 * read()s as the socket allows and c_in is not grown (and copied) by
 * doubling; else HS_READ_CHUNK. Only after a full read: a slow client
 * that announces a large body is given no more room than it fills.
 */
static void hs_reserve_body(struct http_conn *c)
{
	const struct http_parser *p = &c->c_parser;
	size_t want = HS_READ_CHUNK;

	if (p->header_end != 0 && !p->chunked &&
	    p->header_end + p->content_length > buf_len(&c->c_in))
		want = p->header_end + p->content_length - buf_len(&c->c_in);
	buf_reserve(&c->c_in, want);
}

static void hs_read(struct http_conn *c)
{
	bool direct = buf_avail(&c->c_in) >= HS_READ_DIRECT;
	char *dst = direct ? buf_tail(&c->c_in) : c->c_srv->s_scratch;
	size_t room = direct ? buf_avail(&c->c_in) : sizeof(c->c_srv->s_scratch);
	ssize_t n;

	n = read(c->c_fd, dst, room);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("http %s: read: %s", c->c_peer, strerror(errno));
		hs_conn_close(c);
		return;
	}
	if (n == 0) {
		if (c->c_state == HS_ACTIVE && buf_len(&c->c_in) > 0)
			log_debug("http %s: closed in the middle of a request", c->c_peer);
		hs_conn_close(c);
		return;
	}
	if (c->c_state == HS_LINGER) {
		/* Not progress: the linger deadline stays where it is. */
		buf_reset(&c->c_in);
		return;
	}
	/* Not progress either: the request's deadline counts from its first byte. */
	if (direct)
		buf_produced(&c->c_in, (size_t)n);
	else
		buf_append(&c->c_in, dst, (size_t)n);
	/* A full read: a fast sender, whose next reads go straight in. */
	if ((size_t)n == room)
		hs_reserve_body(c);
	hs_run(c);
}

static void hs_conn_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct http_conn *c = arg;

	(void)loop;
	(void)fd;
	if (c->c_closed || c->c_in_queue[HS_PARKED])
		return;
	if (mask & LOOP_READ)
		hs_read(c);
	else
		hs_run(c);
}

/* A request missed its head or body deadline: log which; the 408's message. */
static const char *hs_slow_request(const struct http_conn *c)
{
	if (c->c_head_at == 0) {
		log_debug("http %s: request head incomplete %u s after its first byte "
		          "(http.header_timeout), answered 408",
		          c->c_peer, c->c_srv->s_opts.header_timeout);
		return "request head not complete within http.header_timeout";
	}
	log_debug("http %s: request body slower than %d bytes/s, answered 408", c->c_peer,
	          HS_MIN_BODY_RATE);
	return "request body arriving too slowly";
}

static int64_t hs_conn_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct http_conn *c = arg;
	uint64_t now = loop_now(loop), deadline = hs_deadline(c);

	(void)id;
	if (now < deadline)
		return (int64_t)(deadline - now);
	/* This timer is being fired: it is gone once we return STOP. */
	c->c_timer = 0;
	if (c->c_state == HS_ACTIVE && c->c_in_request && buf_len(&c->c_out) == 0) {
		/* A request began and is not complete in time: say so, then close. */
		struct http_response *resp = &c->c_srv->s_resp;
		const char *why = "request not complete within http.timeout";

		if (hs_request_deadline(c) < c->c_req_start + hs_timeout_ms(c))
			why = hs_slow_request(c);
		else
			log_debug("http %s: request incomplete %u s after its first byte, "
			          "answered 408",
			          c->c_peer, c->c_srv->s_opts.timeout);
		c->c_in_request = false;
		c->c_last = now;
		hs_reset_response(resp);
		http_response_error(resp, 408, "request_timeout", why);
		resp->close = true;
		hs_serialize(c->c_srv, &c->c_out, NULL, resp);
		c->c_state = HS_CLOSING;
		hs_run(c);
		/* Unless it closed or lingers (new timer), bound the write. */
		if (!c->c_closed && c->c_timer == 0)
			hs_arm_timer(c);
		return LOOP_TIMER_STOP;
	}
	if (c->c_state == HS_LINGER)
		log_debug("http %s: closed, no EOF after the last answer", c->c_peer);
	else if (c->c_in_request)
		log_debug("http %s: closed, request incomplete %u s after its first byte",
		          c->c_peer, c->c_srv->s_opts.timeout);
	else if (buf_len(&c->c_out) > 0)
		log_debug("http %s: closed, the client took nothing of the answer for %u s",
		          c->c_peer, c->c_srv->s_opts.timeout);
	else
		log_debug("http %s: closed after %u s idle", c->c_peer, c->c_srv->s_opts.timeout);
	hs_conn_close(c);
	return LOOP_TIMER_STOP;
}

static struct http_conn *hs_conn_new(struct http_server *srv, int fd, const char *peer,
                                     bool refused)
{
	struct http_conn *c = xcalloc(1, sizeof(*c));

	c->c_srv = srv;
	c->c_fd = fd;
	c->c_refused = refused;
	snprintf(c->c_peer, sizeof(c->c_peer), "%s", peer);
	buf_init(&c->c_in);
	buf_init(&c->c_out);
	http_parser_init(&c->c_parser, &srv->s_lim);
	c->c_state = HS_ACTIVE;
	c->c_next = srv->s_conns;
	if (srv->s_conns != NULL)
		srv->s_conns->c_prev = c;
	srv->s_conns = c;
	if (refused)
		srv->s_nrefused++;
	else
		srv->s_nconns++;
	hs_arm_timer(c);
	return c;
}

/* The 503 answer to a connection over http.max_connections. */
static void hs_refusal(struct http_server *srv, struct buf *out)
{
	struct http_response *resp = &srv->s_resp;

	hs_reset_response(resp);
	http_response_error(resp, 503, "too_many_connections",
	                    "too many connections (http.max_connections)");
	resp->close = true;
	hs_serialize(srv, out, NULL, resp);
}

/*
 * Refuse fd without keeping any state: the 503 in one send() into the
 * fresh socket (its send buffer is empty, so it takes the ~170 bytes
 * whole), read what the client sent already, close. Reading first makes
 * close() send a FIN instead of a reset that could destroy the answer;
 * bytes the client sends after that still draw a reset. Best effort.
 */
static void hs_refuse_at_once(struct http_server *srv, int fd, const char *peer)
{
	char junk[4096];
	size_t drained = 0;
	ssize_t n;

	if (buf_len(&srv->s_refusal) == 0)
		hs_refusal(srv, &srv->s_refusal);
	else
		srv->s_responses[5]++;
	n = send(fd, buf_data(&srv->s_refusal), buf_len(&srv->s_refusal), MSG_NOSIGNAL);
	if (n != (ssize_t)buf_len(&srv->s_refusal))
		log_debug("http %s: the 503 did not go out whole", peer);
	while (drained < HS_REFUSE_DRAIN && (n = read(fd, junk, sizeof(junk))) > 0)
		drained += (size_t)n;
	close(fd);
}

/*
 * Every slot is taken: close the connection stalled longest to make room
 * (see the top of the file). Stalled: nothing of an answer to write, not
 * being refused. Longest: the oldest start of a request in progress, or
 * for one without a request, the oldest last answer (or accept, or start
 * of lingering). true if one was closed. A scan of the connections, only
 * when the server is full.
 */
static bool hs_evict(struct http_server *srv, const char *newcomer)
{
	static struct log_limit lim;
	struct http_conn *c, *victim = NULL;
	uint64_t since = 0;

	for (c = srv->s_conns; c != NULL; c = c->c_next) {
		uint64_t t;

		if (c->c_refused || c->c_closed || c->c_in_queue[HS_PARKED] ||
		    c->c_state == HS_CLOSING || buf_len(&c->c_out) > 0)
			continue;
		t = c->c_state != HS_LINGER && c->c_in_request ? c->c_req_start : c->c_last;
		if (victim == NULL || t < since) {
			victim = c;
			since = t;
		}
	}
	if (victim == NULL)
		return false;
	srv->s_evicted++;
	log_warnx_limited(&lim,
	                  "http %s: closed to admit %s: every slot taken (http.max_connections), "
	                  "this one %s for %llu ms",
	                  victim->c_peer, newcomer,
	                  victim->c_state == HS_LINGER ? "lingering"
	                  : victim->c_in_request       ? "in an incomplete request"
	                                               : "idle",
	                  (unsigned long long)(loop_now(srv->s_loop) - since));
	hs_conn_close(victim);
	return true;
}

static void hs_accept(struct loop *loop, int lfd, int mask, void *arg)
{
	static struct log_limit lim_fd, lim_refused, lim_refused_at_once;
	struct http_server *srv = arg;
	char peer[HS_PEER_LEN];
	int fd;

	(void)mask;
	while ((fd = net_accept(lfd, peer, sizeof(peer))) >= 0) {
		struct http_conn *c;
		bool refuse = srv->s_nconns >= srv->s_opts.max_connections;

		if (fd >= FD_SETSIZE) {
			log_warnx_limited(
			        &lim_fd,
			        "http %s: dropped: descriptor %d is beyond select()'s range", peer,
			        fd);
			close(fd);
			continue;
		}
		if (refuse && hs_evict(srv, peer))
			refuse = false;
		if (refuse && srv->s_nrefused >= HS_MAX_REFUSED) {
			log_warnx_limited(
			        &lim_refused_at_once,
			        "http %s: refused at once: %zu connections open, %zu being refused",
			        peer, srv->s_nconns, srv->s_nrefused);
			hs_refuse_at_once(srv, fd, peer);
			continue;
		}
		net_set_nodelay(fd);
		c = hs_conn_new(srv, fd, peer, refuse);
		if (refuse) {
			log_warnx_limited(&lim_refused,
			                  "http %s: refused: %zu connections open, all answering "
			                  "(http.max_connections)",
			                  peer, srv->s_nconns);
			hs_refusal(srv, &c->c_out);
			c->c_state = HS_CLOSING;
		}
		hs_run(c);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("http: accept");
	(void)loop;
}

struct http_server *http_server_new(struct loop *loop, const struct http_server_opts *opts,
                                    http_handler_fn *handler, void *ctx, char *err, size_t errlen)
{
	struct http_server *srv;
	int fd;

	fd = net_listen(opts->listen_host, opts->listen_port, 128, err, errlen);
	if (fd < 0)
		return NULL;
	srv = xcalloc(1, sizeof(*srv));
	srv->s_loop = loop;
	srv->s_opts = *opts;
	srv->s_opts.listen_host = NULL;
	srv->s_handler = handler;
	srv->s_ctx = ctx;
	srv->s_fd = fd;
	srv->s_lim.max_header = opts->max_header;
	srv->s_lim.max_body = opts->max_body;
	buf_init(&srv->s_resp.body);
	buf_init(&srv->s_refusal);
	if (loop_watch(loop, fd, LOOP_READ, hs_accept, srv) != 0) {
		snprintf(err, errlen, "listen: descriptor %d out of select()'s range", fd);
		close(fd);
		free(srv);
		return NULL;
	}
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

/* The pause ended: run the parked connections, oldest first, until it begins again. */
static int64_t hs_resume_fire(struct loop *loop, uint64_t id, void *arg)
{
	struct http_server *srv = arg;

	(void)loop;
	(void)id;
	srv->s_resume_timer = 0;
	while (!srv->s_paused) {
		struct http_conn *c = hs_pop(srv, HS_PARKED);

		if (c == NULL)
			break;
		hs_unpark(c);
		hs_run(c);
	}
	return LOOP_TIMER_STOP;
}

void http_server_pause(struct http_server *srv, bool paused)
{
	if (paused == srv->s_paused)
		return;
	srv->s_paused = paused;
	if (paused) {
		srv->s_pauses++;
		return;
	}
	/* Not from here: the caller may be inside a handler, or the broker's I/O. */
	if (srv->s_queue[HS_PARKED].f_n > 0 && srv->s_resume_timer == 0)
		srv->s_resume_timer = loop_timer_add(srv->s_loop, 0, hs_resume_fire, srv);
}

size_t http_server_connections(const struct http_server *srv)
{
	return srv->s_nconns;
}

void http_server_stats(const struct http_server *srv, struct http_server_stats *st)
{
	memcpy(st->responses, srv->s_responses, sizeof(st->responses));
	st->connections = srv->s_nconns;
	st->evicted = srv->s_evicted;
	st->withheld = srv->s_withheld;
	st->pauses = srv->s_pauses;
	st->parked = srv->s_queue[HS_PARKED].f_n;
}

uint16_t http_server_port(const struct http_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (srv->s_fd < 0 || getsockname(srv->s_fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

size_t http_server_held(const struct http_server *srv)
{
	return srv->s_queue[HS_HELD].f_n;
}

/* The sync failed: c's answers from the first held one on are withdrawn. */
static void hs_withhold(struct http_conn *c)
{
	buf_truncate(&c->c_out, c->c_sync_mark);
	buf_reset(&c->c_in);
	c->c_srv->s_withheld++;
	log_debug("http %s: answer withdrawn (not on disk), closing", c->c_peer);
	c->c_state = HS_CLOSING;
}

void http_server_release(struct http_server *srv, bool synced)
{
	/* hs_run() below may hold one again: it goes behind these n. */
	size_t n = srv->s_queue[HS_HELD].f_n;

	while (n-- > 0) {
		struct http_conn *c = hs_pop(srv, HS_HELD);

		if (c == NULL)
			break;
		c->c_unsynced = false;
		if (!synced)
			hs_withhold(c);
		hs_run(c);
	}
}

void http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	http_server_stop_accepting(srv);
	if (srv->s_resume_timer != 0)
		loop_timer_del(srv->s_loop, srv->s_resume_timer);
	while (srv->s_conns != NULL)
		hs_conn_close(srv->s_conns);
	buf_free(&srv->s_resp.body);
	buf_free(&srv->s_refusal);
	free(srv);
}
