/*
 * whpool: the hosts and connections of the webhook client (see whpool.h).
 *
 * A host (one scheme + host:port) owns its addresses, its connections
 * and the queue of requests waiting for one. A connection is connecting,
 * in its TLS handshake, busy (one request written or being written, the
 * answer being read) or idle (kept alive, read-watched so a close by the
 * server is noticed at once, closed by its timer after idle_ms).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parser.h"
#include "log.h"
#include "loop.h"
#include "tls.h"
#include "url.h"
#include "whpool.h"

#define POOL_READ_CHUNK 16384

struct whpool_host {
	struct whpool *h_pool;
	struct whpool_host *h_next;
	char *h_key;    /* scheme, lower-case host, ':', port */
	char *h_header; /* Host: value */
	char *h_name;   /* the host as in the URL: SNI and the name its certificate must carry */
	bool h_tls;     /* https:// */
	uint16_t h_port;
	char **h_addrs; /* numeric addresses to connect to */
	size_t h_naddrs, h_addr_i;
	struct whpool_conn *h_conns;
	unsigned h_nconns;
	struct whpool_req *h_whead, *h_wtail;
	size_t h_nusers;
};

enum pool_cstate { PC_CONNECTING, PC_HANDSHAKE, PC_BUSY, PC_IDLE };

struct whpool_conn {
	struct whpool *c_pool;
	struct whpool_host *c_host;
	struct whpool_conn *c_prev, *c_next;
	int c_fd;
	int c_mask;
	struct tls *c_tls; /* https: the session on c_fd */
	enum pool_cstate c_state;
	struct buf c_out, c_in;
	struct http_parser c_parser;
	struct whpool_req *c_req; /* whose request this is; NULL if cancelled meanwhile */
	uint64_t c_timer;         /* request timeout or idle close */
	unsigned c_nreq;          /* requests answered on this connection */
	bool c_closed;
};

struct whpool {
	struct loop *p_loop;
	struct whpool_opts p_opts;
	struct whpool_ops p_ops;
	struct http_limits p_lim;
	struct tls_conf *p_tls; /* https: made at the first https host */
	struct whpool_host *p_hosts;
	struct whpool_host *p_checked;  /* looked up by whpool_check_url(), no user yet */
	const struct net_cidr *p_allow; /* whpool_set_allow(): not copied */
	size_t p_allow_n;
	bool p_allow_set;
	uint64_t p_connects, p_lookups;
};

static void pool_conn_io(struct loop *loop, int fd, int mask, void *arg);
static int64_t pool_conn_timer(struct loop *loop, uint64_t id, void *arg);
static void pool_host_serve(struct whpool_host *h);

static void pool_host_free(struct whpool_host *h)
{
	net_addrs_free(h->h_addrs, h->h_naddrs);
	free(h->h_key);
	free(h->h_header);
	free(h->h_name);
	free(h);
}

/*
 * The addresses of u's host into h: the literal itself, or what
 * getaddrinfo() says for a name (the one blocking step, see webhook.h).
 */
static int pool_host_resolve(struct whpool *p, struct whpool_host *h, const struct url *u,
                             char *err, size_t errlen)
{
	char **addrs;
	size_t n;

	if (!net_addr_literal(u->host))
		p->p_lookups++;
	if (net_lookup(u->host, &addrs, &n, err, errlen) != 0)
		return -1;
	net_addrs_free(h->h_addrs, h->h_naddrs);
	h->h_addrs = addrs;
	h->h_naddrs = n;
	h->h_addr_i = 0;
	return 0;
}

/* May the pool connect to addr (whpool_set_allow)? */
static bool pool_addr_allowed(const struct whpool *p, const char *addr)
{
	return !p->p_allow_set || net_addr_allowed(addr, p->p_allow, p->p_allow_n);
}

/*
 * Are all of h's addresses allowed? 0, or -1 with err naming the host and
 * the first address outside.
 */
static int pool_host_check(const struct whpool *p, const struct whpool_host *h, char *err,
                           size_t errlen)
{
	size_t i;

	if (!p->p_allow_set)
		return 0;
	i = net_addrs_outside(h->h_addrs, h->h_naddrs, p->p_allow, p->p_allow_n);
	if (i == h->h_naddrs)
		return 0;
	if (strcmp(h->h_addrs[i], h->h_name) == 0)
		snprintf(err, errlen, "the address %s is outside webhook.allow", h->h_addrs[i]);
	else
		snprintf(err, errlen, "%s resolves to %s, outside webhook.allow", h->h_name,
		         h->h_addrs[i]);
	return -1;
}

/*
 * The host of u, created (and looked up) if needed; NULL with err set.
 * *created says whether it is new. A host that no user has is looked up
 * again (its first user comes back), except by whpool_host_add() right
 * after whpool_check_url() looked it up (p->p_checked): one
 * registration, one lookup.
 */
static struct whpool_host *pool_host_get(struct whpool *p, const struct url *u, bool *created,
                                         char *err, size_t errlen)
{
	char key[NET_HOST_LEN + 16];
	struct whpool_host *h;
	size_t i;

	snprintf(key, sizeof(key), "%s%s:%u", u->tls ? "https:" : "", u->host, u->port);
	for (i = 0; key[i] != '\0'; i++) {
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = (char)(key[i] - 'A' + 'a');
	}
	for (h = p->p_hosts; h != NULL; h = h->h_next) {
		if (strcmp(h->h_key, key) == 0)
			break;
	}
	*created = h == NULL;
	if (h != NULL) {
		if (h->h_nusers == 0 && h != p->p_checked &&
		    pool_host_resolve(p, h, u, err, errlen) != 0)
			return NULL;
		return h;
	}
	h = xcalloc(1, sizeof(*h));
	h->h_pool = p;
	h->h_key = xstrdup(key);
	h->h_header = xstrdup(u->host_header);
	h->h_name = xstrdup(u->host);
	h->h_tls = u->tls;
	h->h_port = u->port;
	if (pool_host_resolve(p, h, u, err, errlen) != 0) {
		pool_host_free(h);
		return NULL;
	}
	h->h_next = p->p_hosts;
	p->p_hosts = h;
	return h;
}

/* Forget a host just created (no user, no connection). */
static void pool_host_drop(struct whpool *p, struct whpool_host *h)
{
	struct whpool_host **pp;

	for (pp = &p->p_hosts; *pp != NULL; pp = &(*pp)->h_next) {
		if (*pp == h) {
			*pp = h->h_next;
			break;
		}
	}
	if (p->p_checked == h)
		p->p_checked = NULL;
	pool_host_free(h);
}

static void pool_wait_remove(struct whpool_host *h, struct whpool_req *r)
{
	struct whpool_req **pp, *prev = NULL;

	for (pp = &h->h_whead; *pp != NULL; prev = *pp, pp = &(*pp)->r_wnext) {
		if (*pp == r) {
			*pp = r->r_wnext;
			if (h->h_wtail == r)
				h->h_wtail = prev;
			r->r_wnext = NULL;
			return;
		}
	}
}

/* ---- connections ---- */
/* ---- connections ---- */

static void pool_conn_free(void *arg)
{
	struct whpool_conn *c = arg;

	buf_free(&c->c_in);
	buf_free(&c->c_out);
	free(c);
}

static void pool_want(struct whpool_conn *c, int mask)
{
	struct loop *loop = c->c_pool->p_loop;

	if (c->c_mask & ~mask)
		loop_unwatch(loop, c->c_fd, c->c_mask & ~mask);
	if (mask & ~c->c_mask)
		loop_watch(loop, c->c_fd, mask & ~c->c_mask, pool_conn_io, c);
	c->c_mask = mask;
}

static void pool_conn_arm(struct whpool_conn *c, int64_t ms)
{
	struct loop *loop = c->c_pool->p_loop;

	if (c->c_timer != 0)
		loop_timer_del(loop, c->c_timer);
	c->c_timer = ms >= 0 ? loop_timer_add(loop, ms, pool_conn_timer, c) : 0;
}

/* Close and unlink; the memory goes after the iteration. */
static void pool_conn_close(struct whpool_conn *c)
{
	struct whpool_host *h = c->c_host;

	if (c->c_closed)
		return;
	c->c_closed = true;
	if (c->c_mask != 0)
		loop_unwatch(c->c_pool->p_loop, c->c_fd, c->c_mask);
	c->c_mask = 0;
	tls_free(c->c_tls);
	c->c_tls = NULL;
	close(c->c_fd);
	pool_conn_arm(c, -1);
	if (c->c_req != NULL)
		c->c_req->r_conn = NULL;
	c->c_req = NULL;
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		h->h_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	h->h_nconns--;
	loop_defer(c->c_pool->p_loop, pool_conn_free, c);
}

/* Write what the socket takes. 0, or -1 with err set. */
static int pool_conn_write(struct whpool_conn *c, char *err, size_t errlen)
{
	int more = 0;

	while (buf_len(&c->c_out) > 0) {
		char why[ERR_LEN];
		/* c_out is one request, consumed from its head: what tls_send asks. */
		ssize_t n = tls_send(c->c_tls, c->c_fd, buf_data(&c->c_out), buf_len(&c->c_out),
		                     why, sizeof(why));

		if (n < 0) {
			if (errno != EAGAIN) {
				err_printf(err, errlen, "write: %s", why);
				return -1;
			}
			/* Plain TCP waits to write; TLS may need to read first. */
			more = c->c_tls != NULL ? tls_want(c->c_tls) : LOOP_WRITE;
			break;
		}
		buf_consume(&c->c_out, (size_t)n);
	}
	pool_want(c, LOOP_READ | more);
	return 0;
}

/* Give r to c (connecting or idle) and start the clock. */
static void pool_conn_assign(struct whpool_conn *c, struct whpool_req *r)
{
	c->c_req = r;
	r->r_conn = c;
	buf_reset(&c->c_out);
	c->c_pool->p_ops.request(r, c->c_host->h_header, &c->c_out);
	buf_reset(&c->c_in);
	http_parser_init(&c->c_parser, &c->c_pool->p_lim);
	pool_conn_arm(c, c->c_pool->p_opts.timeout_ms);
}

/*
 * The request on c failed without an answer (why: what happened). The
 * connection is closed; its request, if any, gets a network error.
 */
static void pool_conn_fail(struct whpool_conn *c, const char *why)
{
	struct whpool_req *r = c->c_req;
	struct whpool_host *h = c->c_host;

	pool_conn_close(c);
	pool_host_serve(h);
	if (r != NULL)
		h->h_pool->p_ops.result(r, 0, why);
}

/*
 * A reused connection ended before any byte of the answer: the server
 * closed it while idle (a race every keep-alive client meets). Send again
 * on another connection, not counted as an attempt.
 */
static void pool_conn_stale(struct whpool_conn *c)
{
	struct whpool_req *r = c->c_req;
	struct whpool_host *h = c->c_host;

	log_debug("webhook %s: kept-alive connection closed by the server; sending again",
	          h->h_header);
	pool_conn_close(c);
	if (r != NULL)
		h->h_pool->p_ops.ready(r);
	pool_host_serve(h);
}

/* The answer on c is complete: keep or close c, then tell the request. */
static void pool_conn_done(struct whpool_conn *c, const struct http_response_info *info)
{
	struct whpool_req *r = c->c_req;
	struct whpool_host *h = c->c_host;
	/* Not kept: bytes beyond the answer, an answer before our request was
	 * all sent, or a protocol switch nobody asked for. */
	bool keep = info->keep_alive && c->c_parser.consumed == buf_len(&c->c_in) &&
	            buf_len(&c->c_out) == 0 && info->status >= 200;
	int status = info->status;

	if (r != NULL)
		r->r_conn = NULL;
	c->c_req = NULL;
	c->c_nreq++;
	if (keep) {
		c->c_state = PC_IDLE;
		buf_reset(&c->c_in);
		buf_reset(&c->c_out);
		pool_want(c, LOOP_READ);
		pool_conn_arm(c, c->c_pool->p_opts.idle_ms);
	} else {
		pool_conn_close(c);
	}
	pool_host_serve(h);
	if (r != NULL)
		h->h_pool->p_ops.result(r, status, NULL);
}

/* Parse what c_in holds (eof: the server closed after it). */
static void pool_conn_parse(struct whpool_conn *c, bool eof)
{
	struct http_response_info info;
	enum http_parse_rc rc;
	char why[ERR_LEN];

	for (;;) {
		if (eof)
			rc = http_parse_response_eof(&c->c_parser, buf_data(&c->c_in),
			                             buf_len(&c->c_in), &info);
		else
			rc = http_parse_response(&c->c_parser, buf_data(&c->c_in),
			                         buf_len(&c->c_in), &info);
		if (rc == HTTP_PARSE_NEED_MORE)
			return;
		if (rc == HTTP_PARSE_ERROR) {
			snprintf(why, sizeof(why), "bad response: %s", c->c_parser.error);
			pool_conn_fail(c, why);
			return;
		}
		if (info.status >= 200 || info.status == 101)
			break;
		/* An interim answer (100 Continue, 103 ...): the final one follows. */
		buf_consume(&c->c_in, c->c_parser.consumed);
		http_parser_init(&c->c_parser, &c->c_pool->p_lim);
	}
	if (eof)
		info.keep_alive = false;
	pool_conn_done(c, &info);
}

static void pool_conn_read(struct whpool_conn *c)
{
	char why[ERR_LEN], err[ERR_LEN];

	for (;;) {
		ssize_t n;

		buf_reserve(&c->c_in, POOL_READ_CHUNK);
		/* Until EAGAIN: that also drains what mbedtls holds decrypted. */
		n = tls_recv(c->c_tls, c->c_fd, buf_tail(&c->c_in), POOL_READ_CHUNK, err,
		             sizeof(err));
		if (n < 0 && errno == EAGAIN)
			return;
		if (c->c_state == PC_IDLE) {
			/* EOF, an error, or bytes nobody asked for: done with it. */
			pool_conn_close(c);
			pool_host_serve(c->c_host);
			return;
		}
		if (n <= 0 && buf_len(&c->c_in) == 0 && c->c_nreq > 0) {
			pool_conn_stale(c);
			return;
		}
		if (n < 0) {
			err_printf(why, sizeof(why), "read: %s", err);
			pool_conn_fail(c, why);
			return;
		}
		if (n == 0) {
			pool_conn_parse(c, true);
			return;
		}
		buf_produced(&c->c_in, (size_t)n);
		pool_conn_parse(c, false);
		if (c->c_closed || c->c_state != PC_BUSY || c->c_req == NULL)
			return;
	}
}

/* https: drive the handshake; the request goes out once it is done. */
static void pool_conn_tls_step(struct whpool_conn *c)
{
	char err[ERR_LEN], why[ERR_LEN];
	int rc = tls_handshake(c->c_tls, err, sizeof(err));

	if (rc == TLS_AGAIN) {
		pool_want(c, tls_want(c->c_tls));
		return;
	}
	if (rc == TLS_FAIL) {
		err_printf(why, sizeof(why), "TLS: %s", err);
		pool_conn_fail(c, why);
		return;
	}
	log_debug("webhook %s: TLS established (%s)", c->c_host->h_header,
	          tls_describe(c->c_tls, why, sizeof(why)));
	c->c_state = PC_BUSY;
	if (pool_conn_write(c, err, sizeof(err)) != 0)
		pool_conn_fail(c, err);
}

static void pool_conn_tls_start(struct whpool_conn *c)
{
	char err[ERR_LEN];

	c->c_tls = tls_new(c->c_pool->p_tls, c->c_fd, c->c_host->h_name, err, sizeof(err));
	if (c->c_tls == NULL) {
		pool_conn_fail(c, err);
		return;
	}
	c->c_state = PC_HANDSHAKE;
	pool_conn_tls_step(c);
}

static void pool_conn_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct whpool_conn *c = arg;
	char err[ERR_LEN];

	(void)loop;
	(void)fd;
	if (c->c_closed)
		return;
	if (c->c_state == PC_CONNECTING) {
		if (!(mask & LOOP_WRITE))
			return;
		if (net_connect_result(c->c_fd, err, sizeof(err)) != 0) {
			struct whpool_host *h = c->c_host;
			char why[ERR_LEN];

			/* The next connection tries the next address. */
			h->h_addr_i = (h->h_addr_i + 1) % h->h_naddrs;
			err_printf(why, sizeof(why), "connect: %s", err);
			pool_conn_fail(c, why);
			return;
		}
		if (c->c_host->h_tls) {
			pool_conn_tls_start(c);
			return;
		}
		c->c_state = PC_BUSY;
		if (pool_conn_write(c, err, sizeof(err)) != 0)
			pool_conn_fail(c, err);
		return;
	}
	if (c->c_state == PC_HANDSHAKE) {
		pool_conn_tls_step(c);
		return;
	}
	if (mask & LOOP_READ) {
		pool_conn_read(c);
		if (c->c_closed)
			return;
	}
	/* Bytes left and no write watch: TLS asked to read first, and has. */
	if (c->c_state == PC_BUSY && buf_len(&c->c_out) > 0 &&
	    ((mask & LOOP_WRITE) || !(c->c_mask & LOOP_WRITE))) {
		if (pool_conn_write(c, err, sizeof(err)) != 0) {
			if (c->c_nreq > 0)
				pool_conn_stale(c);
			else
				pool_conn_fail(c, err);
		}
	}
}

static int64_t pool_conn_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct whpool_conn *c = arg;
	char why[64];

	(void)loop;
	(void)id;
	c->c_timer = 0;
	if (c->c_state == PC_IDLE) {
		pool_conn_close(c);
		pool_host_serve(c->c_host);
	} else {
		snprintf(why, sizeof(why), "no answer within %lld ms",
		         (long long)c->c_pool->p_opts.timeout_ms);
		pool_conn_fail(c, why);
	}
	return LOOP_TIMER_STOP;
}

/* ---- requests ---- */

/* Hand free connections (or room for new ones) to waiting requests. */
static void pool_host_serve(struct whpool_host *h)
{
	struct whpool *p = h->h_pool;

	while (h->h_whead != NULL) {
		struct whpool_req *r = h->h_whead;
		struct whpool_conn *c;
		bool room = h->h_nconns < p->p_opts.max_conns_per_host;

		for (c = h->h_conns; c != NULL && !room; c = c->c_next)
			room = c->c_state == PC_IDLE;
		if (!room)
			return;
		h->h_whead = r->r_wnext;
		if (h->h_whead == NULL)
			h->h_wtail = NULL;
		r->r_wnext = NULL;
		r->r_waiting = false;
		p->p_ops.ready(r);
	}
}

static int64_t pool_req_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct whpool_req *r = arg;
	char *why = r->r_err;

	(void)loop;
	(void)id;
	r->r_timer = 0;
	r->r_err = NULL;
	/* A connect that failed at once (or was refused), reported now; r
	 * may be gone once result returns. */
	r->r_host->h_pool->p_ops.result(r, r->r_refused ? WHPOOL_REFUSED : 0, why);
	free(why);
	return LOOP_TIMER_STOP;
}

/* r's connect failed at once (why): report it through a 0 ms timer. */
static void pool_req_fail_soon(struct whpool *p, struct whpool_req *r, const char *why)
{
	free(r->r_err);
	r->r_err = xstrdup(why);
	r->r_timer = loop_timer_add(p->p_loop, 0, pool_req_timer, r);
}

/* Open a new connection to r's host for r. */
static void pool_connect(struct whpool *p, struct whpool_req *r)
{
	struct whpool_host *h = r->r_host;
	const char *addr = h->h_addrs[h->h_addr_i];
	struct whpool_conn *c;
	char err[ERR_LEN];
	int fd;

	/*
	 * webhook.allow again, at every connect: an address outside is not
	 * connected to, and the delivery fails for good (reported through
	 * the timer like a connect that fails at once, so a long queue does
	 * not recurse).
	 */
	r->r_refused = !pool_addr_allowed(p, addr);
	if (r->r_refused) {
		snprintf(err, sizeof(err), "address %s is outside webhook.allow; not connected",
		         addr);
		pool_req_fail_soon(p, r, err);
		return;
	}
	fd = net_connect(addr, h->h_port, err, sizeof(err));
	if (fd < 0) {
		h->h_addr_i = (h->h_addr_i + 1) % h->h_naddrs;
		pool_req_fail_soon(p, r, err);
		return;
	}
	p->p_connects++;
	c = xcalloc(1, sizeof(*c));
	c->c_pool = p;
	c->c_host = h;
	c->c_fd = fd;
	c->c_state = PC_CONNECTING;
	c->c_next = h->h_conns;
	if (h->h_conns != NULL)
		h->h_conns->c_prev = c;
	h->h_conns = c;
	h->h_nconns++;
	if (loop_watch(p->p_loop, fd, LOOP_WRITE, pool_conn_io, c) != 0) {
		pool_conn_close(c);
		pool_req_fail_soon(p, r, "no room for another descriptor");
		return;
	}
	c->c_mask = LOOP_WRITE;
	pool_conn_assign(c, r);
}

bool whpool_send(struct whpool *p, struct whpool_req *r)
{
	struct whpool_host *h = r->r_host;
	struct whpool_conn *c;

	for (c = h->h_conns; c != NULL; c = c->c_next) {
		if (c->c_state == PC_IDLE) {
			char err[ERR_LEN];

			pool_conn_assign(c, r);
			c->c_state = PC_BUSY;
			if (pool_conn_write(c, err, sizeof(err)) != 0)
				pool_conn_stale(c);
			return false;
		}
	}
	if (h->h_nconns >= p->p_opts.max_conns_per_host) {
		r->r_waiting = true;
		r->r_wnext = NULL;
		if (h->h_wtail != NULL)
			h->h_wtail->r_wnext = r;
		else
			h->h_whead = r;
		h->h_wtail = r;
		return true;
	}
	pool_connect(p, r);
	return false;
}

void whpool_cancel(struct whpool *p, struct whpool_req *r)
{
	if (r->r_conn != NULL)
		r->r_conn->c_req = NULL; /* the answer will be ignored */
	r->r_conn = NULL;
	if (r->r_waiting)
		pool_wait_remove(r->r_host, r);
	r->r_waiting = false;
	if (r->r_timer != 0)
		loop_timer_del(p->p_loop, r->r_timer);
	r->r_timer = 0;
	free(r->r_err);
	r->r_err = NULL;
}

/* ---- the pool ---- */

struct whpool *whpool_new(struct loop *loop, const struct whpool_opts *opts,
                          const struct whpool_ops *ops)
{
	struct whpool *p = xcalloc(1, sizeof(*p));

	p->p_loop = loop;
	p->p_opts = *opts;
	p->p_ops = *ops;
	p->p_lim.max_header = opts->max_response_header;
	p->p_lim.max_body = opts->max_response_body;
	return p;
}

void whpool_free(struct whpool *p)
{
	struct whpool_host *h, *hn;

	if (p == NULL)
		return;
	for (h = p->p_hosts; h != NULL; h = hn) {
		hn = h->h_next;
		while (h->h_conns != NULL) {
			h->h_conns->c_req = NULL;
			pool_conn_close(h->h_conns);
		}
		pool_host_free(h);
	}
	tls_conf_free(p->p_tls);
	free(p);
}

void whpool_set_allow(struct whpool *p, const struct net_cidr *allow, size_t n)
{
	p->p_allow = allow;
	p->p_allow_n = n;
	p->p_allow_set = true;
}

int whpool_tls_ready(struct whpool *p, char *err, size_t errlen)
{
	struct tls_conf_opts o = {0};
	char why[ERR_LEN];

	if (p->p_tls != NULL)
		return 0;
	o.ca_file = p->p_opts.tls_ca_file;
	o.verify = true;
	o.check_name = !p->p_opts.tls_insecure;
	p->p_tls = tls_conf_new(&o, NULL, why, sizeof(why));
	if (p->p_tls == NULL) {
		snprintf(err, errlen, "https webhooks: %s", why);
		return -1;
	}
	return 0;
}

int whpool_check_url(struct whpool *p, const char *url, char *err, size_t errlen)
{
	struct url u;
	struct whpool_host *h;
	bool created;

	p->p_checked = NULL;
	if (url_parse(url, &u, err, errlen) != 0)
		return 400;
	h = pool_host_get(p, &u, &created, err, errlen);
	url_free(&u);
	if (h == NULL)
		return 400;
	if (pool_host_check(p, h, err, errlen) != 0) {
		if (created)
			pool_host_drop(p, h);
		return 403;
	}
	if (h->h_nusers == 0)
		p->p_checked = h;
	return 0;
}

struct whpool_host *whpool_host_add(struct whpool *p, const struct url *u, char *err, size_t errlen)
{
	bool created;
	struct whpool_host *h = pool_host_get(p, u, &created, err, errlen);

	p->p_checked = NULL;
	if (h == NULL)
		return NULL;
	if (pool_host_check(p, h, err, errlen) != 0) {
		if (created)
			pool_host_drop(p, h);
		return NULL;
	}
	h->h_nusers++;
	return h;
}

void whpool_host_release(struct whpool_host *h)
{
	h->h_nusers--;
}

void whpool_stats(const struct whpool *p, struct whpool_stats *out)
{
	const struct whpool_host *h;

	out->connects = p->p_connects;
	out->lookups = p->p_lookups;
	out->conns = 0;
	for (h = p->p_hosts; h != NULL; h = h->h_next)
		out->conns += h->h_nconns;
}
