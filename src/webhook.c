/*
 * webhook: outbound HTTP/1.1 deliveries (see webhook.h).
 *
 * Three kinds of objects. A target (one subscription) owns a FIFO of
 * deliveries and is in one state: idle (nothing to send, or about to
 * ask for a connection), waiting (in its host's queue for a free
 * connection), busy (its head delivery is on a connection), or backoff
 * (a timer will make it idle again). A host (one host:port) owns the
 * connections and the queue of waiting targets. A connection is
 * connecting, busy (one request written or being written, response being
 * read) or idle (kept alive, read-watched so a close by the server is
 * noticed at once, closed by its timer after idle_ms).
 *
 * When a connection finishes a request it is first handed to the next
 * waiting target of its host, then the finished target's outcome is
 * applied (which may queue it behind the others): targets of one host
 * take turns fairly.
 *
 * A connect() that fails at once reports its failure through a 0 ms timer
 * rather than directly, so a long queue failing against a closed port
 * never recurses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "http_parser.h"
#include "log.h"
#include "loop.h"
#include "tls.h"
#include "url.h"
#include "webhook.h"

#define HOOK_READ_CHUNK 16384
#define HOOK_ID_MAX     64
/* A result status: the address is outside webhook.allow, not connected to (final). */
#define HOOK_REFUSED (-1)

struct hook_delivery {
	struct hook_delivery *d_next;
	uint64_t d_cookie; /* the caller's, for the done hook */
	size_t d_len;
	char d_body[];
};

enum hook_tstate { HT_IDLE, HT_WAITING, HT_BUSY, HT_BACKOFF };

struct hook_target {
	struct webhook *t_wh;
	struct hook_target *t_next;  /* all targets */
	struct hook_target *t_wnext; /* host's waiting queue */
	char *t_id, *t_url, *t_path;
	struct hook_host *t_host;
	struct hook_delivery *t_head, *t_tail;
	size_t t_count; /* queued, the one in flight included */
	enum hook_tstate t_state;
	unsigned t_attempts; /* failed attempts of the head delivery */
	uint64_t t_timer;    /* backoff, or a connect failure being reported */
	struct hook_conn *t_conn;
	bool t_fail_logged; /* a final failure was logged since the last success */
	bool t_drop_logged; /* a max_pending drop was logged since the last success */
	bool t_full;        /* counted in w_full: t_count reached the high mark */
	bool t_refused;     /* the failure being reported is HOOK_REFUSED */
	char t_err[ERR_LEN];
};

struct hook_host {
	struct hook_host *h_next;
	char *h_key;    /* scheme, lower-case host, ':', port */
	char *h_header; /* Host: value */
	char *h_name;   /* the host as in the URL: SNI and the name its certificate must carry */
	bool h_tls;     /* https:// */
	uint16_t h_port;
	char **h_addrs; /* numeric addresses to connect to */
	size_t h_naddrs, h_addr_i;
	struct hook_conn *h_conns;
	unsigned h_nconns;
	struct hook_target *h_whead, *h_wtail;
	size_t h_ntargets;
};

enum hook_cstate { HC_CONNECTING, HC_HANDSHAKE, HC_BUSY, HC_IDLE };

struct hook_conn {
	struct webhook *c_wh;
	struct hook_host *c_host;
	struct hook_conn *c_prev, *c_next;
	int c_fd;
	int c_mask;
	struct tls *c_tls; /* https: the session on c_fd */
	enum hook_cstate c_state;
	struct buf c_out, c_in;
	struct http_parser c_parser;
	struct hook_target *c_target; /* whose request this is; NULL if removed meanwhile */
	uint64_t c_timer;             /* request timeout or idle close */
	unsigned c_nreq;              /* requests answered on this connection */
	bool c_closed;
};

struct webhook {
	struct loop *w_loop;
	struct webhook_opts w_opts;
	char *w_ua;
	struct http_limits w_lim;
	struct tls_conf *w_tls; /* https: made at the first https target */
	struct hook_target *w_targets;
	struct hook_host *w_hosts;
	struct hook_host *w_checked;    /* looked up by webhook_check_url(), no target yet */
	const struct net_cidr *w_allow; /* webhook_set_allow(): not copied */
	size_t w_allow_n;
	bool w_allow_set;
	struct webhook_stats w_stats;
	/* Backlog: targets at or over the high mark (webhook_on_backlog). */
	size_t w_full;
	webhook_backlog_fn *w_backlog_fn;
	void *w_backlog_ctx;
	webhook_done_fn *w_done_fn; /* webhook_on_done() */
	void *w_done_ctx;
};

static void hook_conn_io(struct loop *loop, int fd, int mask, void *arg);
static int64_t hook_conn_timer(struct loop *loop, uint64_t id, void *arg);
static void hook_target_kick(struct hook_target *t);
static void hook_host_serve(struct hook_host *h);

void webhook_opts_init(struct webhook_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
	o->retries = 5;
	o->max_pending = 10000;
	o->max_conns_per_host = 4;
	o->user_agent = "octomqttd/" PACKAGE_VERSION;
	o->backoff_min_ms = 1000;
	o->backoff_max_ms = 60000;
	o->idle_ms = 4000;
	o->max_response_header = 16384;
	o->max_response_body = 1 << 20;
}

/* ---- hosts ---- */

static void hook_host_free(struct hook_host *h)
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
static int hook_host_resolve(struct webhook *wh, struct hook_host *h, const struct url *u,
                             char *err, size_t errlen)
{
	char **addrs;
	size_t n;

	if (!net_addr_literal(u->host))
		wh->w_stats.lookups++;
	if (net_lookup(u->host, &addrs, &n, err, errlen) != 0)
		return -1;
	net_addrs_free(h->h_addrs, h->h_naddrs);
	h->h_addrs = addrs;
	h->h_naddrs = n;
	h->h_addr_i = 0;
	return 0;
}

/* May the webhook client connect to addr (webhook_set_allow)? */
static bool hook_addr_allowed(const struct webhook *wh, const char *addr)
{
	return !wh->w_allow_set || net_addr_allowed(addr, wh->w_allow, wh->w_allow_n);
}

/*
 * Are all of h's addresses allowed? 0, or -1 with err naming the host and
 * the first address outside.
 */
static int hook_host_check(const struct webhook *wh, const struct hook_host *h, char *err,
                           size_t errlen)
{
	size_t i;

	if (!wh->w_allow_set)
		return 0;
	i = net_addrs_outside(h->h_addrs, h->h_naddrs, wh->w_allow, wh->w_allow_n);
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
 * *created says whether it is new. A host that no target uses is looked
 * up again (its first target comes back), except by webhook_add_target()
 * right after webhook_check_url() looked it up (wh->w_checked): one
 * registration, one lookup.
 */
static struct hook_host *hook_host_get(struct webhook *wh, const struct url *u, bool *created,
                                       char *err, size_t errlen)
{
	char key[NET_HOST_LEN + 16];
	struct hook_host *h;
	size_t i;

	snprintf(key, sizeof(key), "%s%s:%u", u->tls ? "https:" : "", u->host, u->port);
	for (i = 0; key[i] != '\0'; i++) {
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = (char)(key[i] - 'A' + 'a');
	}
	for (h = wh->w_hosts; h != NULL; h = h->h_next) {
		if (strcmp(h->h_key, key) == 0)
			break;
	}
	*created = h == NULL;
	if (h != NULL) {
		if (h->h_ntargets == 0 && h != wh->w_checked &&
		    hook_host_resolve(wh, h, u, err, errlen) != 0)
			return NULL;
		return h;
	}
	h = xcalloc(1, sizeof(*h));
	h->h_key = xstrdup(key);
	h->h_header = xstrdup(u->host_header);
	h->h_name = xstrdup(u->host);
	h->h_tls = u->tls;
	h->h_port = u->port;
	if (hook_host_resolve(wh, h, u, err, errlen) != 0) {
		hook_host_free(h);
		return NULL;
	}
	h->h_next = wh->w_hosts;
	wh->w_hosts = h;
	return h;
}

/* Forget a host just created (no target, no connection). */
static void hook_host_drop(struct webhook *wh, struct hook_host *h)
{
	struct hook_host **pp;

	for (pp = &wh->w_hosts; *pp != NULL; pp = &(*pp)->h_next) {
		if (*pp == h) {
			*pp = h->h_next;
			break;
		}
	}
	if (wh->w_checked == h)
		wh->w_checked = NULL;
	hook_host_free(h);
}

static void hook_wait_remove(struct hook_host *h, struct hook_target *t)
{
	struct hook_target **pp, *prev = NULL;

	for (pp = &h->h_whead; *pp != NULL; prev = *pp, pp = &(*pp)->t_wnext) {
		if (*pp == t) {
			*pp = t->t_wnext;
			if (h->h_wtail == t)
				h->h_wtail = prev;
			t->t_wnext = NULL;
			return;
		}
	}
}

/* ---- connections ---- */

static void hook_conn_free(void *arg)
{
	struct hook_conn *c = arg;

	buf_free(&c->c_in);
	buf_free(&c->c_out);
	free(c);
}

static void hook_want(struct hook_conn *c, int mask)
{
	struct loop *loop = c->c_wh->w_loop;

	if (c->c_mask & ~mask)
		loop_unwatch(loop, c->c_fd, c->c_mask & ~mask);
	if (mask & ~c->c_mask)
		loop_watch(loop, c->c_fd, mask & ~c->c_mask, hook_conn_io, c);
	c->c_mask = mask;
}

static void hook_conn_arm(struct hook_conn *c, int64_t ms)
{
	struct loop *loop = c->c_wh->w_loop;

	if (c->c_timer != 0)
		loop_timer_del(loop, c->c_timer);
	c->c_timer = ms >= 0 ? loop_timer_add(loop, ms, hook_conn_timer, c) : 0;
}

/* Close and unlink; the memory goes after the iteration. */
static void hook_conn_close(struct hook_conn *c)
{
	struct hook_host *h = c->c_host;

	if (c->c_closed)
		return;
	c->c_closed = true;
	if (c->c_mask != 0)
		loop_unwatch(c->c_wh->w_loop, c->c_fd, c->c_mask);
	c->c_mask = 0;
	tls_free(c->c_tls);
	c->c_tls = NULL;
	close(c->c_fd);
	hook_conn_arm(c, -1);
	if (c->c_target != NULL)
		c->c_target->t_conn = NULL;
	c->c_target = NULL;
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		h->h_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	h->h_nconns--;
	loop_defer(c->c_wh->w_loop, hook_conn_free, c);
}

/* Write what the socket takes. 0, or -1 with err set. */
static int hook_conn_write(struct hook_conn *c, char *err, size_t errlen)
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
	hook_want(c, LOOP_READ | more);
	return 0;
}

static void hook_request(struct hook_conn *c, const struct hook_target *t)
{
	const struct hook_delivery *d = t->t_head;
	struct buf *o = &c->c_out;

	buf_reset(o);
	buf_reserve(o, 256 + strlen(t->t_path) + d->d_len);
	buf_append_str(o, "POST ");
	buf_append_str(o, t->t_path);
	buf_append_str(o, " HTTP/1.1\r\nHost: ");
	buf_append_str(o, t->t_host->h_header);
	buf_append_str(o, "\r\nContent-Type: application/json\r\nUser-Agent: ");
	buf_append_str(o, c->c_wh->w_ua);
	buf_append_str(o, "\r\nX-Octomqttd-Subscription: ");
	buf_append_str(o, t->t_id);
	buf_append_str(o, "\r\nContent-Length: ");
	buf_append_uint(o, d->d_len);
	buf_append_str(o, "\r\n\r\n");
	buf_append(o, d->d_body, d->d_len);
}

/* Give t's head delivery to c (connecting or idle) and start the clock. */
static void hook_conn_assign(struct hook_conn *c, struct hook_target *t)
{
	c->c_target = t;
	t->t_conn = c;
	t->t_state = HT_BUSY;
	hook_request(c, t);
	buf_reset(&c->c_in);
	http_parser_init(&c->c_parser, &c->c_wh->w_lim);
	hook_conn_arm(c, c->c_wh->w_opts.timeout_ms);
}

static void hook_target_result(struct hook_target *t, int status, const char *why);

/*
 * The request on c failed without an answer (why: what happened). The
 * connection is closed; its target, if any, gets a network error.
 */
static void hook_conn_fail(struct hook_conn *c, const char *why)
{
	struct hook_target *t = c->c_target;
	struct hook_host *h = c->c_host;

	hook_conn_close(c);
	hook_host_serve(h);
	if (t != NULL)
		hook_target_result(t, 0, why);
}

/*
 * A reused connection ended before any byte of the answer: the server
 * closed it while idle (a race every keep-alive client meets). Send again
 * on another connection, not counted as an attempt.
 */
static void hook_conn_stale(struct hook_conn *c)
{
	struct hook_target *t = c->c_target;
	struct hook_host *h = c->c_host;

	log_debug("webhook %s: kept-alive connection closed by the server; sending again",
	          h->h_header);
	hook_conn_close(c);
	if (t != NULL) {
		t->t_state = HT_IDLE;
		hook_target_kick(t);
	}
	hook_host_serve(h);
}

/* The answer on c is complete: keep or close c, then tell the target. */
static void hook_conn_done(struct hook_conn *c, const struct http_response_info *info)
{
	struct hook_target *t = c->c_target;
	struct hook_host *h = c->c_host;
	/* Not kept: bytes beyond the answer, an answer before our request was
	 * all sent, or a protocol switch nobody asked for. */
	bool keep = info->keep_alive && c->c_parser.consumed == buf_len(&c->c_in) &&
	            buf_len(&c->c_out) == 0 && info->status >= 200;
	int status = info->status;

	if (t != NULL)
		t->t_conn = NULL;
	c->c_target = NULL;
	c->c_nreq++;
	if (keep) {
		c->c_state = HC_IDLE;
		buf_reset(&c->c_in);
		buf_reset(&c->c_out);
		hook_want(c, LOOP_READ);
		hook_conn_arm(c, c->c_wh->w_opts.idle_ms);
	} else {
		hook_conn_close(c);
	}
	hook_host_serve(h);
	if (t != NULL)
		hook_target_result(t, status, NULL);
}

/* Parse what c_in holds (eof: the server closed after it). */
static void hook_conn_parse(struct hook_conn *c, bool eof)
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
			hook_conn_fail(c, why);
			return;
		}
		if (info.status >= 200 || info.status == 101)
			break;
		/* An interim answer (100 Continue, 103 ...): the final one follows. */
		buf_consume(&c->c_in, c->c_parser.consumed);
		http_parser_init(&c->c_parser, &c->c_wh->w_lim);
	}
	if (eof)
		info.keep_alive = false;
	hook_conn_done(c, &info);
}

static void hook_conn_read(struct hook_conn *c)
{
	char why[ERR_LEN], err[ERR_LEN];

	for (;;) {
		ssize_t n;

		buf_reserve(&c->c_in, HOOK_READ_CHUNK);
		/* Until EAGAIN: that also drains what mbedtls holds decrypted. */
		n = tls_recv(c->c_tls, c->c_fd, buf_tail(&c->c_in), HOOK_READ_CHUNK, err,
		             sizeof(err));
		if (n < 0 && errno == EAGAIN)
			return;
		if (c->c_state == HC_IDLE) {
			/* EOF, an error, or bytes nobody asked for: done with it. */
			hook_conn_close(c);
			hook_host_serve(c->c_host);
			return;
		}
		if (n <= 0 && buf_len(&c->c_in) == 0 && c->c_nreq > 0) {
			hook_conn_stale(c);
			return;
		}
		if (n < 0) {
			err_printf(why, sizeof(why), "read: %s", err);
			hook_conn_fail(c, why);
			return;
		}
		if (n == 0) {
			hook_conn_parse(c, true);
			return;
		}
		buf_produced(&c->c_in, (size_t)n);
		hook_conn_parse(c, false);
		if (c->c_closed || c->c_state != HC_BUSY || c->c_target == NULL)
			return;
	}
}

/* https: drive the handshake; the request goes out once it is done. */
static void hook_conn_tls_step(struct hook_conn *c)
{
	char err[ERR_LEN], why[ERR_LEN];
	int rc = tls_handshake(c->c_tls, err, sizeof(err));

	if (rc == TLS_AGAIN) {
		hook_want(c, tls_want(c->c_tls));
		return;
	}
	if (rc == TLS_FAIL) {
		err_printf(why, sizeof(why), "TLS: %s", err);
		hook_conn_fail(c, why);
		return;
	}
	log_debug("webhook %s: TLS established (%s)", c->c_host->h_header,
	          tls_describe(c->c_tls, why, sizeof(why)));
	c->c_state = HC_BUSY;
	if (hook_conn_write(c, err, sizeof(err)) != 0)
		hook_conn_fail(c, err);
}

static void hook_conn_tls_start(struct hook_conn *c)
{
	char err[ERR_LEN];

	c->c_tls = tls_new(c->c_wh->w_tls, c->c_fd, c->c_host->h_name, err, sizeof(err));
	if (c->c_tls == NULL) {
		hook_conn_fail(c, err);
		return;
	}
	c->c_state = HC_HANDSHAKE;
	hook_conn_tls_step(c);
}

static void hook_conn_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct hook_conn *c = arg;
	char err[ERR_LEN];

	(void)loop;
	(void)fd;
	if (c->c_closed)
		return;
	if (c->c_state == HC_CONNECTING) {
		if (!(mask & LOOP_WRITE))
			return;
		if (net_connect_result(c->c_fd, err, sizeof(err)) != 0) {
			struct hook_host *h = c->c_host;
			char why[ERR_LEN];

			/* The next connection tries the next address. */
			h->h_addr_i = (h->h_addr_i + 1) % h->h_naddrs;
			err_printf(why, sizeof(why), "connect: %s", err);
			hook_conn_fail(c, why);
			return;
		}
		if (c->c_host->h_tls) {
			hook_conn_tls_start(c);
			return;
		}
		c->c_state = HC_BUSY;
		if (hook_conn_write(c, err, sizeof(err)) != 0)
			hook_conn_fail(c, err);
		return;
	}
	if (c->c_state == HC_HANDSHAKE) {
		hook_conn_tls_step(c);
		return;
	}
	if (mask & LOOP_READ) {
		hook_conn_read(c);
		if (c->c_closed)
			return;
	}
	/* Bytes left and no write watch: TLS asked to read first, and has. */
	if (c->c_state == HC_BUSY && buf_len(&c->c_out) > 0 &&
	    ((mask & LOOP_WRITE) || !(c->c_mask & LOOP_WRITE))) {
		if (hook_conn_write(c, err, sizeof(err)) != 0) {
			if (c->c_nreq > 0)
				hook_conn_stale(c);
			else
				hook_conn_fail(c, err);
		}
	}
}

static int64_t hook_conn_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct hook_conn *c = arg;
	char why[64];

	(void)loop;
	(void)id;
	c->c_timer = 0;
	if (c->c_state == HC_IDLE) {
		hook_conn_close(c);
		hook_host_serve(c->c_host);
	} else {
		snprintf(why, sizeof(why), "no answer within %lld ms",
		         (long long)c->c_wh->w_opts.timeout_ms);
		hook_conn_fail(c, why);
	}
	return LOOP_TIMER_STOP;
}

/* ---- targets ---- */

static struct hook_target *hook_target_find(const struct webhook *wh, const char *id)
{
	struct hook_target *t;

	for (t = wh->w_targets; t != NULL; t = t->t_next) {
		if (strcmp(t->t_id, id) == 0)
			return t;
	}
	return NULL;
}

/*
 * Hysteresis on one target's queue: full at max_pending / 2 (room is left
 * for what is already on its way), not full again at max_pending / 4.
 * The backlog hook hears when the first target fills and when the last
 * one drains.
 */
static void hook_target_level(struct hook_target *t)
{
	struct webhook *wh = t->t_wh;
	size_t high = wh->w_opts.max_pending / 2, low = wh->w_opts.max_pending / 4;
	bool full = t->t_full ? t->t_count > low : t->t_count >= high && high > 0;

	if (full == t->t_full)
		return;
	t->t_full = full;
	wh->w_full += full ? 1 : (size_t)-1;
	if (wh->w_backlog_fn != NULL && wh->w_full == (full ? 1u : 0u))
		wh->w_backlog_fn(wh->w_backlog_ctx, full);
}

void webhook_on_backlog(struct webhook *wh, webhook_backlog_fn *fn, void *ctx)
{
	wh->w_backlog_fn = fn;
	wh->w_backlog_ctx = ctx;
}

bool webhook_backlogged(const struct webhook *wh)
{
	return wh->w_full > 0;
}

void webhook_on_done(struct webhook *wh, webhook_done_fn *fn, void *ctx)
{
	wh->w_done_fn = fn;
	wh->w_done_ctx = ctx;
}

const char *webhook_outcome_name(enum webhook_outcome outcome)
{
	switch (outcome) {
	case WEBHOOK_DELIVERED:
		return "delivered";
	case WEBHOOK_FAILED:
		return "failed";
	case WEBHOOK_DROPPED:
		return "dropped";
	case WEBHOOK_CANCELLED:
		return "cancelled";
	}
	return "?";
}

/* Unlink the head delivery and hand it to the caller, who ends it (hook_done). */
static struct hook_delivery *hook_target_shift(struct hook_target *t)
{
	struct hook_delivery *d = t->t_head;

	t->t_head = d->d_next;
	if (t->t_head == NULL)
		t->t_tail = NULL;
	t->t_count--;
	t->t_wh->w_stats.pending--;
	t->t_attempts = 0;
	hook_target_level(t);
	return d;
}

/*
 * d (already unlinked from t) has ended: free it, then tell the done hook.
 * The hook comes last, once nothing here points at d any more.
 */
static void hook_done(struct hook_target *t, struct hook_delivery *d, enum webhook_outcome outcome)
{
	struct webhook *wh = t->t_wh;
	uint64_t cookie = d->d_cookie;

	free(d);
	if (wh->w_done_fn != NULL)
		wh->w_done_fn(wh->w_done_ctx, cookie, t->t_id, outcome);
}

static int64_t hook_target_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct hook_target *t = arg;

	(void)loop;
	(void)id;
	t->t_timer = 0;
	if (t->t_state == HT_BUSY) {
		/* A connect that failed at once (or was refused), reported now. */
		hook_target_result(t, t->t_refused ? HOOK_REFUSED : 0, t->t_err);
	} else {
		t->t_state = HT_IDLE;
		hook_target_kick(t);
	}
	return LOOP_TIMER_STOP;
}

int64_t webhook_backoff_ms(const struct webhook_opts *o, unsigned n)
{
	int64_t delay = o->backoff_min_ms;
	unsigned i;

	for (i = 1; i < n && delay < o->backoff_max_ms; i++)
		delay *= 2;
	return delay > o->backoff_max_ms ? o->backoff_max_ms : delay;
}

static bool hook_retryable(int status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

/*
 * The head delivery's attempt ended: status is the HTTP status, 0 for a
 * failure without one, or HOOK_REFUSED (final); why says what.
 */
static void hook_target_result(struct hook_target *t, int status, const char *why)
{
	struct webhook *wh = t->t_wh;
	const struct webhook_opts *o = &wh->w_opts;
	struct hook_delivery *d;
	char what[ERR_LEN];

	t->t_state = HT_IDLE;
	if (status >= 200 && status <= 299) {
		wh->w_stats.delivered++;
		t->t_fail_logged = false;
		t->t_drop_logged = false;
		d = hook_target_shift(t);
		hook_target_kick(t);
		hook_done(t, d, WEBHOOK_DELIVERED);
		return;
	}
	if (status > 0)
		snprintf(what, sizeof(what), "HTTP %d", status);
	else
		snprintf(what, sizeof(what), "%s", why != NULL ? why : "failed");
	if (hook_retryable(status) && t->t_attempts < o->retries) {
		int64_t delay = webhook_backoff_ms(o, t->t_attempts + 1);

		t->t_attempts++;
		wh->w_stats.retried++;
		log_info("webhook %s (%s): %s; retry %u of %u in %lld ms", t->t_id, t->t_url, what,
		         t->t_attempts, o->retries, (long long)delay);
		t->t_state = HT_BACKOFF;
		t->t_timer = loop_timer_add(wh->w_loop, delay, hook_target_timer, t);
		return;
	}
	wh->w_stats.failed++;
	if (!t->t_fail_logged)
		log_warnx("webhook %s (%s): %s; delivery dropped%s (later failures of this "
		          "subscription are logged at debug level until one succeeds)",
		          t->t_id, t->t_url, what,
		          hook_retryable(status) ? " after all retries" : "");
	else
		log_debug("webhook %s (%s): %s; delivery dropped", t->t_id, t->t_url, what);
	t->t_fail_logged = true;
	d = hook_target_shift(t);
	hook_target_kick(t);
	hook_done(t, d, WEBHOOK_FAILED);
}

/* If t is free and has something to send, get it a connection or queue it. */
static void hook_target_kick(struct hook_target *t)
{
	struct webhook *wh = t->t_wh;
	struct hook_host *h = t->t_host;
	struct hook_conn *c;
	const char *addr;
	int fd;

	if (t->t_state != HT_IDLE || t->t_head == NULL)
		return;
	for (c = h->h_conns; c != NULL; c = c->c_next) {
		if (c->c_state == HC_IDLE) {
			char err[ERR_LEN];

			hook_conn_assign(c, t);
			c->c_state = HC_BUSY;
			if (hook_conn_write(c, err, sizeof(err)) != 0)
				hook_conn_stale(c);
			return;
		}
	}
	if (h->h_nconns >= wh->w_opts.max_conns_per_host) {
		t->t_state = HT_WAITING;
		t->t_wnext = NULL;
		if (h->h_wtail != NULL)
			h->h_wtail->t_wnext = t;
		else
			h->h_whead = t;
		h->h_wtail = t;
		return;
	}
	addr = h->h_addrs[h->h_addr_i];
	/*
	 * webhook.allow again, at every connect: an address outside is not
	 * connected to, and the delivery fails for good (reported through
	 * the timer like a connect that fails at once, so a long queue does
	 * not recurse).
	 */
	t->t_refused = !hook_addr_allowed(wh, addr);
	if (t->t_refused) {
		snprintf(t->t_err, sizeof(t->t_err),
		         "address %s is outside webhook.allow; not connected", addr);
		t->t_state = HT_BUSY;
		t->t_timer = loop_timer_add(wh->w_loop, 0, hook_target_timer, t);
		return;
	}
	fd = net_connect(addr, h->h_port, t->t_err, sizeof(t->t_err));
	if (fd < 0) {
		h->h_addr_i = (h->h_addr_i + 1) % h->h_naddrs;
		t->t_state = HT_BUSY;
		t->t_timer = loop_timer_add(wh->w_loop, 0, hook_target_timer, t);
		return;
	}
	wh->w_stats.connects++;
	c = xcalloc(1, sizeof(*c));
	c->c_wh = wh;
	c->c_host = h;
	c->c_fd = fd;
	c->c_state = HC_CONNECTING;
	c->c_next = h->h_conns;
	if (h->h_conns != NULL)
		h->h_conns->c_prev = c;
	h->h_conns = c;
	h->h_nconns++;
	if (loop_watch(wh->w_loop, fd, LOOP_WRITE, hook_conn_io, c) != 0) {
		snprintf(t->t_err, sizeof(t->t_err), "no room for another descriptor");
		hook_conn_close(c);
		t->t_state = HT_BUSY;
		t->t_timer = loop_timer_add(wh->w_loop, 0, hook_target_timer, t);
		return;
	}
	c->c_mask = LOOP_WRITE;
	hook_conn_assign(c, t);
}

/* Hand free connections (or room for new ones) to waiting targets. */
static void hook_host_serve(struct hook_host *h)
{
	while (h->h_whead != NULL) {
		struct hook_target *t = h->h_whead;
		struct hook_conn *c;
		bool room = h->h_nconns < t->t_wh->w_opts.max_conns_per_host;

		for (c = h->h_conns; c != NULL && !room; c = c->c_next)
			room = c->c_state == HC_IDLE;
		if (!room)
			return;
		h->h_whead = t->t_wnext;
		if (h->h_whead == NULL)
			h->h_wtail = NULL;
		t->t_wnext = NULL;
		t->t_state = HT_IDLE;
		hook_target_kick(t);
	}
}

/* ---- public ---- */

struct webhook *webhook_new(struct loop *loop, const struct webhook_opts *opts)
{
	struct webhook *wh = xcalloc(1, sizeof(*wh));

	if (opts != NULL)
		wh->w_opts = *opts;
	else
		webhook_opts_init(&wh->w_opts);
	if (wh->w_opts.max_conns_per_host == 0)
		wh->w_opts.max_conns_per_host = 1;
	wh->w_ua = xstrdup(wh->w_opts.user_agent != NULL ? wh->w_opts.user_agent
	                                                 : "octomqttd/" PACKAGE_VERSION);
	wh->w_opts.user_agent = wh->w_ua;
	wh->w_lim.max_header = wh->w_opts.max_response_header;
	wh->w_lim.max_body = wh->w_opts.max_response_body;
	wh->w_loop = loop;
	return wh;
}

/* Free t (unlinked); what it still holds ends as outcome. */
static void hook_target_free(struct hook_target *t, enum webhook_outcome outcome)
{
	while (t->t_head != NULL)
		hook_done(t, hook_target_shift(t), outcome);
	free(t->t_id);
	free(t->t_url);
	free(t->t_path);
	free(t);
}

void webhook_free(struct webhook *wh)
{
	struct hook_target *t, *tn;
	struct hook_host *h, *hn;

	if (wh == NULL)
		return;
	/* No news while everything goes: see webhook.h for the done hook. */
	wh->w_backlog_fn = NULL;
	wh->w_done_fn = NULL;
	for (t = wh->w_targets; t != NULL; t = tn) {
		tn = t->t_next;
		if (t->t_timer != 0)
			loop_timer_del(wh->w_loop, t->t_timer);
		hook_target_free(t, WEBHOOK_CANCELLED);
	}
	for (h = wh->w_hosts; h != NULL; h = hn) {
		hn = h->h_next;
		while (h->h_conns != NULL) {
			h->h_conns->c_target = NULL;
			hook_conn_close(h->h_conns);
		}
		hook_host_free(h);
	}
	tls_conf_free(wh->w_tls);
	free(wh->w_ua);
	free(wh);
}

static bool hook_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > HOOK_ID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

int webhook_add_target(struct webhook *wh, const char *id, const char *url, char *err,
                       size_t errlen)
{
	struct url u;
	struct hook_target *t = hook_target_find(wh, id);
	struct hook_host *h;
	bool created;

	if (t != NULL) {
		if (strcmp(t->t_url, url) == 0)
			return 0;
		snprintf(err, errlen, "webhook id '%s' is already used for another URL", id);
		return -1;
	}
	if (!hook_id_valid(id)) {
		snprintf(err, errlen, "bad webhook id (1-%d of [A-Za-z0-9._-])", HOOK_ID_MAX);
		return -1;
	}
	if (url_parse(url, &u, err, errlen) != 0)
		return -1;
	if (u.tls && webhook_tls_ready(wh, err, errlen) != 0) {
		url_free(&u);
		return -1;
	}
	h = hook_host_get(wh, &u, &created, err, errlen);
	wh->w_checked = NULL;
	if (h == NULL) {
		url_free(&u);
		return -1;
	}
	if (hook_host_check(wh, h, err, errlen) != 0) {
		if (created)
			hook_host_drop(wh, h);
		url_free(&u);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->t_wh = wh;
	t->t_id = xstrdup(id);
	t->t_url = xstrdup(url);
	t->t_path = u.path;
	u.path = NULL;
	url_free(&u);
	t->t_host = h;
	h->h_ntargets++;
	t->t_next = wh->w_targets;
	wh->w_targets = t;
	return 0;
}

void webhook_set_allow(struct webhook *wh, const struct net_cidr *allow, size_t n)
{
	wh->w_allow = allow;
	wh->w_allow_n = n;
	wh->w_allow_set = true;
}

int webhook_check_url(struct webhook *wh, const char *url, char *err, size_t errlen)
{
	struct url u;
	struct hook_host *h;
	bool created;

	wh->w_checked = NULL;
	if (url_parse(url, &u, err, errlen) != 0)
		return 400;
	h = hook_host_get(wh, &u, &created, err, errlen);
	url_free(&u);
	if (h == NULL)
		return 400;
	if (hook_host_check(wh, h, err, errlen) != 0) {
		if (created)
			hook_host_drop(wh, h);
		return 403;
	}
	if (h->h_ntargets == 0)
		wh->w_checked = h;
	return 0;
}

int webhook_remove_target(struct webhook *wh, const char *id)
{
	struct hook_target **pp, *t;

	for (pp = &wh->w_targets; *pp != NULL; pp = &(*pp)->t_next) {
		if (strcmp((*pp)->t_id, id) == 0)
			break;
	}
	t = *pp;
	if (t == NULL)
		return -1;
	*pp = t->t_next;
	if (t->t_conn != NULL)
		t->t_conn->c_target = NULL; /* the answer will be ignored */
	if (t->t_state == HT_WAITING)
		hook_wait_remove(t->t_host, t);
	if (t->t_timer != 0)
		loop_timer_del(wh->w_loop, t->t_timer);
	if (t->t_count > 0)
		log_info("webhook %s (%s) removed: %zu queued deliver%s discarded", t->t_id,
		         t->t_url, t->t_count, t->t_count == 1 ? "y" : "ies");
	wh->w_stats.cancelled += t->t_count;
	t->t_host->h_ntargets--;
	hook_target_free(t, WEBHOOK_CANCELLED);
	return 0;
}

int webhook_tls_ready(struct webhook *wh, char *err, size_t errlen)
{
	struct tls_conf_opts o = {0};
	char why[ERR_LEN];

	if (wh->w_tls != NULL)
		return 0;
	o.ca_file = wh->w_opts.tls_ca_file;
	o.verify = true;
	o.check_name = !wh->w_opts.tls_insecure;
	wh->w_tls = tls_conf_new(&o, NULL, why, sizeof(why));
	if (wh->w_tls == NULL) {
		snprintf(err, errlen, "https webhooks: %s", why);
		return -1;
	}
	return 0;
}

bool webhook_has_target(const struct webhook *wh, const char *id)
{
	return hook_target_find(wh, id) != NULL;
}

int webhook_enqueue(struct webhook *wh, const char *id, const char *body, size_t len,
                    uint64_t cookie)
{
	struct hook_target *t = hook_target_find(wh, id);
	struct hook_delivery *d, *old = NULL;
	size_t waiting;

	if (t == NULL)
		return -1;
	d = xmalloc(sizeof(*d) + len);
	d->d_next = NULL;
	d->d_cookie = cookie;
	d->d_len = len;
	memcpy(d->d_body, body, len);
	if (t->t_tail != NULL)
		t->t_tail->d_next = d;
	else
		t->t_head = d;
	t->t_tail = d;
	t->t_count++;
	wh->w_stats.pending++;

	waiting = t->t_count - (t->t_state == HT_BUSY ? 1 : 0);
	if (waiting > wh->w_opts.max_pending) {
		/* Drop the oldest delivery that is not on the wire. */
		if (t->t_state == HT_BUSY) {
			old = t->t_head->d_next;
			t->t_head->d_next = old->d_next;
			if (t->t_tail == old)
				t->t_tail = t->t_head;
			t->t_count--;
			wh->w_stats.pending--;
		} else {
			if (t->t_state == HT_BACKOFF) {
				loop_timer_del(wh->w_loop, t->t_timer);
				t->t_timer = 0;
				t->t_state = HT_IDLE;
			}
			old = hook_target_shift(t);
		}
		wh->w_stats.dropped++;
		if (!t->t_drop_logged)
			log_warnx("webhook %s (%s): more than %zu deliveries waiting; the oldest "
			          "was dropped (later drops are counted, logged at debug level)",
			          t->t_id, t->t_url, wh->w_opts.max_pending);
		else
			log_debug("webhook %s (%s): oldest waiting delivery dropped", t->t_id,
			          t->t_url);
		t->t_drop_logged = true;
	}
	hook_target_level(t);
	hook_target_kick(t);
	if (old != NULL)
		hook_done(t, old, WEBHOOK_DROPPED);
	return 0;
}

void webhook_stats(const struct webhook *wh, struct webhook_stats *out)
{
	const struct hook_host *h;

	*out = wh->w_stats;
	out->conns = 0;
	for (h = wh->w_hosts; h != NULL; h = h->h_next)
		out->conns += h->h_nconns;
}

size_t webhook_target_pending(const struct webhook *wh, const char *id)
{
	const struct hook_target *t = hook_target_find(wh, id);

	return t != NULL ? t->t_count : 0;
}
