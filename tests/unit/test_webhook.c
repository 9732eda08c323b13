/*
 * test_webhook: the webhook client against a scripted HTTP receiver in
 * the same process and on the same loop (a listening socket on
 * 127.0.0.1:0). The receiver parses each request with the request parser,
 * records it (raw bytes, body, connection, time) and answers as the test
 * scripted: a status, nothing (stall), a close without an answer, after a
 * delay, with Connection: close, chunked or until-close framing. Waits
 * drive loop_run_once() until a condition holds or a deadline passes.
 * Backoff and timeouts are a few ms here so the suite stays fast; only
 * lower bounds of delays are checked.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "check_compat.h"
#include "log_capture.h"
#include "config.h"
#include "buf.h"
#include "http_parser.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "webhook.h"

#define DEADLINE_MS 5000
#define MAX_RCONNS  64
#define MAX_RECS    512
#define MAX_SCRIPT  64

/* Script actions besides a status code. */
#define ACT_CLOSE (-1) /* close the connection without an answer */
#define ACT_STALL (-2) /* never answer */
#define ACT_JUNK  (-3) /* answer something that is not HTTP */

enum framing { FR_LENGTH, FR_CHUNKED, FR_UNTIL_CLOSE, FR_CONN_CLOSE, FR_INTERIM };

struct rconn {
	int fd; /* -1: closed */
	struct buf in;
	struct http_parser p;
	uint64_t timer;
	int status; /* delayed answer */
};

struct rec {
	char *raw;
	size_t rawlen;
	char *body;
	size_t bodylen;
	char sub[80]; /* X-Octomqttd-Subscription */
	int conn;
	uint64_t at;
};

static struct loop *loop;
static struct webhook *wh;
static struct webhook_opts opts;
static int lfd = -1;
static uint16_t lport;
static struct rconn rconns[MAX_RCONNS];
static int nrconns, open_now, open_max;
static struct rec recs[MAX_RECS];
static int nrecs;
static int script[MAX_SCRIPT], nscript, script_pos;
static int default_status;
static int64_t answer_delay_ms;
static enum framing framing;

static void r_close(struct rconn *rc)
{
	if (rc->fd < 0)
		return;
	loop_unwatch(loop, rc->fd, LOOP_READ);
	close(rc->fd);
	rc->fd = -1;
	if (rc->timer != 0)
		loop_timer_del(loop, rc->timer);
	rc->timer = 0;
	open_now--;
}

static void r_answer(struct rconn *rc, int status)
{
	char out[512];
	int n = 0;

	if (status == ACT_JUNK) {
		n = snprintf(out, sizeof(out), "HELLO THERE\r\n\r\n");
	} else {
		if (framing == FR_INTERIM)
			n = snprintf(out, sizeof(out), "HTTP/1.1 100 Continue\r\n\r\n");
		n += snprintf(out + n, sizeof(out) - (size_t)n, "HTTP/1.1 %d Scripted\r\n", status);
		switch (framing) {
		case FR_CHUNKED:
			n += snprintf(out + n, sizeof(out) - (size_t)n,
			              "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
			break;
		case FR_UNTIL_CLOSE:
			n += snprintf(out + n, sizeof(out) - (size_t)n, "\r\nbody until close");
			break;
		case FR_CONN_CLOSE:
			n += snprintf(out + n, sizeof(out) - (size_t)n,
			              "Connection: close\r\nContent-Length: 2\r\n\r\nok");
			break;
		default:
			n += snprintf(out + n, sizeof(out) - (size_t)n,
			              "Content-Length: 3\r\n\r\nyes");
		}
	}
	ck_assert_int_eq(send(rc->fd, out, (size_t)n, MSG_NOSIGNAL), n);
	if (status == ACT_JUNK || framing == FR_UNTIL_CLOSE || framing == FR_CONN_CLOSE)
		r_close(rc);
}

static int64_t r_timer(struct loop *l, uint64_t id, void *arg)
{
	struct rconn *rc = arg;

	(void)l;
	(void)id;
	rc->timer = 0;
	if (rc->fd >= 0)
		r_answer(rc, rc->status);
	return LOOP_TIMER_STOP;
}

static void r_request(struct rconn *rc, const struct http_request *req)
{
	struct rec *r;
	const struct http_header *h;
	int action;

	ck_assert_int_lt(nrecs, MAX_RECS);
	r = &recs[nrecs++];
	r->rawlen = rc->p.consumed;
	r->raw = malloc(r->rawlen + 1);
	memcpy(r->raw, buf_data(&rc->in), r->rawlen);
	r->raw[r->rawlen] = '\0';
	r->bodylen = req->body_len;
	r->body = malloc(r->bodylen + 1);
	memcpy(r->body, req->body, r->bodylen);
	r->body[r->bodylen] = '\0';
	h = http_request_header(req, "X-Octomqttd-Subscription");
	snprintf(r->sub, sizeof(r->sub), "%.*s", h ? (int)h->value_len : 0, h ? h->value : "");
	r->conn = (int)(rc - rconns);
	r->at = loop_clock_ms();
	action = script_pos < nscript ? script[script_pos++] : default_status;
	if (action == ACT_CLOSE) {
		r_close(rc);
	} else if (action == ACT_STALL) {
		/* nothing */
	} else if (answer_delay_ms > 0) {
		rc->status = action;
		rc->timer = loop_timer_add(loop, answer_delay_ms, r_timer, rc);
	} else {
		r_answer(rc, action);
	}
}

static void r_io(struct loop *l, int fd, int mask, void *arg)
{
	struct rconn *rc = arg;
	struct http_limits lim = {8192, 1 << 20};
	struct http_request req;
	ssize_t n;

	(void)l;
	(void)fd;
	(void)mask;
	buf_reserve(&rc->in, 65536);
	n = recv(rc->fd, buf_tail(&rc->in), 65536, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		r_close(rc);
		return;
	}
	buf_produced(&rc->in, (size_t)n);
	while (rc->fd >= 0) {
		int rcode = http_parse_request(&rc->p, buf_data(&rc->in), buf_len(&rc->in), &req);

		if (rcode == HTTP_PARSE_NEED_MORE)
			return;
		ck_assert_int_eq(rcode, HTTP_PARSE_OK);
		r_request(rc, &req);
		buf_consume(&rc->in, rc->p.consumed);
		http_parser_init(&rc->p, &lim);
	}
}

static void r_accept(struct loop *l, int fd, int mask, void *arg)
{
	struct http_limits lim = {8192, 1 << 20};
	struct rconn *rc;
	int cfd;

	(void)l;
	(void)mask;
	(void)arg;
	while ((cfd = net_accept(fd, NULL, 0)) >= 0) {
		ck_assert_int_lt(nrconns, MAX_RCONNS);
		rc = &rconns[nrconns++];
		rc->fd = cfd;
		buf_init(&rc->in);
		http_parser_init(&rc->p, &lim);
		open_now++;
		if (open_now > open_max)
			open_max = open_now;
		ck_assert_int_eq(loop_watch(loop, cfd, LOOP_READ, r_io, rc), 0);
	}
}

/* Listen on port (0: any); the port. */
static uint16_t r_listen(uint16_t port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char err[ERR_LEN];

	lfd = net_listen("127.0.0.1", port, 64, err, sizeof(err));
	ck_assert_msg(lfd >= 0, "listen: %s", err);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	lport = ntohs(sin.sin_port);
	ck_assert_int_eq(loop_watch(loop, lfd, LOOP_READ, r_accept, NULL), 0);
	return lport;
}

static void setup(void)
{
	log_init(LOGL_WARN, false);
	loop = loop_new();
	webhook_opts_init(&opts);
	opts.backoff_min_ms = 10;
	opts.backoff_max_ms = 40;
	opts.timeout_ms = 2000;
	wh = NULL;
	nrconns = open_now = open_max = nrecs = nscript = script_pos = 0;
	default_status = 200;
	answer_delay_ms = 0;
	framing = FR_LENGTH;
	lfd = -1;
}

static void teardown(void)
{
	int i;

	webhook_free(wh);
	for (i = 0; i < nrconns; i++) {
		r_close(&rconns[i]);
		buf_free(&rconns[i].in);
	}
	if (lfd >= 0) {
		loop_unwatch(loop, lfd, LOOP_READ);
		close(lfd);
	}
	for (i = 0; i < nrecs; i++) {
		free(recs[i].raw);
		free(recs[i].body);
	}
	loop_free(loop);
}

static void start(void)
{
	wh = webhook_new(loop, &opts);
}

static void add(const char *id, const char *path)
{
	char url[128], err[ERR_LEN];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", lport, path);
	ck_assert_msg(webhook_add_target(wh, id, url, err, sizeof(err)) == 0, "add: %s", err);
}

static void enqueue(const char *id, const char *body)
{
	ck_assert_int_eq(webhook_enqueue(wh, id, body, strlen(body), 0), 0);
}

/* The done hook's record: "cookie:id:outcome;" per delivery ended. */
static char done_log[1024];
static int ndone;
/* When set, the hook queues this body for its target once (re-entrancy). */
static const char *done_requeue;

static void on_done(void *ctx, uint64_t cookie, const char *id, enum webhook_outcome outcome)
{
	size_t n = strlen(done_log);

	(void)ctx;
	snprintf(done_log + n, sizeof(done_log) - n, "%llu:%s:%s;", (unsigned long long)cookie, id,
	         webhook_outcome_name(outcome));
	ndone++;
	if (done_requeue != NULL) {
		const char *body = done_requeue;

		done_requeue = NULL;
		ck_assert_int_eq(webhook_enqueue(wh, id, body, strlen(body), 99), 0);
	}
}

/* start() with the done hook recording. */
static void start_done(void)
{
	start();
	done_log[0] = '\0';
	ndone = 0;
	done_requeue = NULL;
	webhook_on_done(wh, on_done, NULL);
}

static void enqueue_c(const char *id, const char *body, uint64_t cookie)
{
	ck_assert_int_eq(webhook_enqueue(wh, id, body, strlen(body), cookie), 0);
}

static void run_until_done(int n)
{
	uint64_t end = loop_clock_ms() + DEADLINE_MS;

	while (ndone < n) {
		ck_assert_msg(loop_clock_ms() < end, "%d deliveries ended, want %d: %s", ndone, n,
		              done_log);
		loop_run_once(loop, 5);
	}
}

static struct webhook_stats stats(void)
{
	struct webhook_stats s;

	webhook_stats(wh, &s);
	return s;
}

/* Run the loop until pending reaches 0 (or the deadline: fail). */
static void run_until_idle(void)
{
	uint64_t end = loop_clock_ms() + DEADLINE_MS;

	while (stats().pending > 0) {
		ck_assert_msg(loop_clock_ms() < end, "deliveries still pending after %d ms",
		              DEADLINE_MS);
		loop_run_once(loop, 10);
	}
}

static void run_for(int64_t ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (loop_clock_ms() < end)
		loop_run_once(loop, 5);
}

static void run_until_recs(int n)
{
	uint64_t end = loop_clock_ms() + DEADLINE_MS;

	while (nrecs < n) {
		ck_assert_msg(loop_clock_ms() < end, "%d requests, want %d", nrecs, n);
		loop_run_once(loop, 10);
	}
}

/* ---- pure parts ---- */

START_TEST(test_backoff)
{
	struct webhook_opts o;

	webhook_opts_init(&o);
	ck_assert_int_eq(webhook_backoff_ms(&o, 1), 1000);
	ck_assert_int_eq(webhook_backoff_ms(&o, 2), 2000);
	ck_assert_int_eq(webhook_backoff_ms(&o, 3), 4000);
	ck_assert_int_eq(webhook_backoff_ms(&o, 6), 32000);
	ck_assert_int_eq(webhook_backoff_ms(&o, 7), 60000);
	ck_assert_int_eq(webhook_backoff_ms(&o, 1000), 60000);
	ck_assert_int_eq(o.retries, 5);
	ck_assert_int_eq(o.max_conns_per_host, 4);
	ck_assert_uint_eq(o.max_pending, 10000);
}
END_TEST

START_TEST(test_targets)
{
	char err[ERR_LEN];

	r_listen(0);
	start();
	add("a1", "/x");
	add("a1", "/x"); /* same again: nothing happens */
	ck_assert_int_eq(webhook_add_target(wh, "a1", "http://127.0.0.1:1/y", err, sizeof(err)),
	                 -1);
	ck_assert_int_eq(webhook_add_target(wh, "bad id", "http://127.0.0.1/", err, sizeof(err)),
	                 -1);
#ifndef HAVE_TLS
	ck_assert_int_eq(webhook_add_target(wh, "b", "https://127.0.0.1/", err, sizeof(err)), -1);
#endif
	/* An empty label: the resolver refuses it without asking DNS. */
	ck_assert_int_eq(webhook_add_target(wh, "c", "http://no..such.invalid/", err, sizeof(err)),
	                 -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot resolve"));
	/* A name from /etc/hosts is looked up once, at add time. */
	ck_assert_int_eq(webhook_add_target(wh, "d", "http://localhost:1/", err, sizeof(err)), 0);
	ck_assert(webhook_has_target(wh, "a1"));
	ck_assert(!webhook_has_target(wh, "b"));
	ck_assert_int_eq(webhook_enqueue(wh, "nope", "{}", 2, 0), -1);
	ck_assert_int_eq(webhook_remove_target(wh, "nope"), -1);
	ck_assert_int_eq(webhook_remove_target(wh, "a1"), 0);
	ck_assert(!webhook_has_target(wh, "a1"));
}
END_TEST

static struct net_cidr allow_lo[2]; /* 127.0.0.0/8, ::1 */
static struct net_cidr allow_ten;   /* 10.0.0.0/8 */

static void parse_allow(void)
{
	ck_assert_int_eq(net_cidr_parse("127.0.0.0/8", &allow_lo[0], NULL, 0), 0);
	ck_assert_int_eq(net_cidr_parse("::1", &allow_lo[1], NULL, 0), 0);
	ck_assert_int_eq(net_cidr_parse("10.0.0.0/8", &allow_ten, NULL, 0), 0);
}

/*
 * Registration checks (webhook_check_url): bad URL and unknown name 400,
 * an address outside 403 naming it; a name is looked up once per
 * registration (the check's addresses serve the target added next), and
 * again only when no target uses its host.
 */
START_TEST(test_check_url)
{
	char err[ERR_LEN], url[64];

	parse_allow();
	r_listen(0);
	start();
	webhook_set_allow(wh, allow_lo, 2);
	ck_assert_int_eq(webhook_check_url(wh, "ftp://127.0.0.1/", err, sizeof(err)), 400);
	ck_assert_int_eq(webhook_check_url(wh, "http://no..such.invalid/", err, sizeof(err)), 400);
	ck_assert_msg(strstr(err, "cannot resolve 'no..such.invalid'") != NULL, "%s", err);
	ck_assert_uint_eq(stats().lookups, 1);
	ck_assert_int_eq(webhook_check_url(wh, "http://10.0.0.1:1/", err, sizeof(err)), 403);
	ck_assert_str_eq(err, "the address 10.0.0.1 is outside webhook.allow");
	ck_assert_int_eq(webhook_check_url(wh, "http://[::2]/", err, sizeof(err)), 403);
	ck_assert_str_eq(err, "the address ::2 is outside webhook.allow");
	ck_assert_int_eq(webhook_add_target(wh, "x", "http://10.0.0.1:1/", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the address 10.0.0.1 is outside webhook.allow");
	ck_assert(!webhook_has_target(wh, "x"));
	ck_assert_uint_eq(stats().lookups, 1); /* literals need none */

	/* localhost: one lookup for the check and the target it lets in. */
	snprintf(url, sizeof(url), "http://localhost:%u/l", lport);
	ck_assert_msg(webhook_check_url(wh, url, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(stats().lookups, 2);
	ck_assert_msg(webhook_add_target(wh, "l1", url, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(stats().lookups, 2);
	/* The host is in use: its addresses are checked, not looked up again. */
	ck_assert_int_eq(webhook_check_url(wh, url, err, sizeof(err)), 0);
	ck_assert_int_eq(webhook_add_target(wh, "l2", url, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats().lookups, 2);
	enqueue("l1", "{\"n\":1}");
	run_until_idle();
	ck_assert_uint_eq(stats().delivered, 1);
	ck_assert_int_eq(nrecs, 1);
	/* No target uses it any more: the next registration looks it up again. */
	ck_assert_int_eq(webhook_remove_target(wh, "l1"), 0);
	ck_assert_int_eq(webhook_remove_target(wh, "l2"), 0);
	ck_assert_int_eq(webhook_check_url(wh, url, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats().lookups, 3);
	ck_assert_int_eq(webhook_add_target(wh, "l3", url, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats().lookups, 3);
	/* A target added without a check (start-up) looks up on its own. */
	ck_assert_int_eq(webhook_remove_target(wh, "l3"), 0);
	ck_assert_int_eq(webhook_add_target(wh, "l4", url, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats().lookups, 4);
	ck_assert_int_eq(webhook_remove_target(wh, "l4"), 0);

	/* Every address must be inside: with ::1 only, localhost's 127.0.0.1 is not. */
	webhook_set_allow(wh, &allow_lo[1], 1);
	ck_assert_int_eq(webhook_check_url(wh, url, err, sizeof(err)), 403);
	ck_assert_str_eq(err, "localhost resolves to 127.0.0.1, outside webhook.allow");
	ck_assert_int_eq(webhook_add_target(wh, "l5", url, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "localhost resolves to 127.0.0.1, outside webhook.allow");
	ck_assert(!webhook_has_target(wh, "l5"));
	/* An empty list allows nothing. */
	webhook_set_allow(wh, allow_lo, 0);
	ck_assert_int_eq(webhook_check_url(wh, "http://127.0.0.1:1/", err, sizeof(err)), 403);
}
END_TEST

/*
 * Delivery time: a target added while its address was allowed, then the
 * list changes. Each connect is checked: nothing is connected to, every
 * delivery fails at once (final, counted), one warn line names the
 * address and the URL. Allowed again, deliveries go out again.
 */
START_TEST(test_refused_at_connect)
{
	char log[4096], want[128];
	int i;

	parse_allow();
	r_listen(0);
	start();
	webhook_set_allow(wh, allow_lo, 2);
	add("t", "/r");
	webhook_set_allow(wh, &allow_ten, 1);
	capture_begin();
	for (i = 0; i < 3; i++)
		enqueue("t", "{}");
	run_until_idle();
	capture_finish(log, sizeof(log));
	ck_assert_uint_eq(stats().failed, 3);
	ck_assert_uint_eq(stats().delivered, 0);
	ck_assert_uint_eq(stats().retried, 0);
	ck_assert_uint_eq(stats().connects, 0);
	ck_assert_int_eq(nrconns, 0);
	ck_assert_int_eq(nrecs, 0);
	snprintf(want, sizeof(want),
	         "webhook t (http://127.0.0.1:%u/r): address 127.0.0.1 is outside webhook.allow; "
	         "not connected; delivery dropped",
	         lport);
	ck_assert_msg(count_of(log, want) == 1, "%s", log);
	ck_assert_msg(count_of(log, "outside webhook.allow") == 1, "%s", log);
	webhook_set_allow(wh, allow_lo, 2);
	enqueue("t", "{}");
	run_until_idle();
	ck_assert_uint_eq(stats().delivered, 1);
	ck_assert_int_eq(nrecs, 1);
}
END_TEST

/* ---- on the wire ---- */

START_TEST(test_request_bytes)
{
	char want[512];

	r_listen(0);
	start();
	add("4f2a9c0d11b3e7a5", "/hook/in?x=1");
	enqueue("4f2a9c0d11b3e7a5", "{\"topic\":\"a\"}");
	run_until_idle();
	ck_assert_int_eq(nrecs, 1);
	snprintf(want, sizeof(want),
	         "POST /hook/in?x=1 HTTP/1.1\r\n"
	         "Host: 127.0.0.1:%u\r\n"
	         "Content-Type: application/json\r\n"
	         "User-Agent: octomqttd/%s\r\n"
	         "X-Octomqttd-Subscription: 4f2a9c0d11b3e7a5\r\n"
	         "Content-Length: 13\r\n"
	         "\r\n"
	         "{\"topic\":\"a\"}",
	         lport, PACKAGE_VERSION);
	ck_assert_str_eq(recs[0].raw, want);
	ck_assert_uint_eq(stats().delivered, 1);
	ck_assert_uint_eq(stats().connects, 1);
}
END_TEST

/* 150 deliveries for one target arrive in order on one kept-alive connection. */
START_TEST(test_order_keepalive)
{
	char body[32];
	int i;

	r_listen(0);
	start();
	add("t", "/");
	for (i = 0; i < 150; i++) {
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		enqueue("t", body);
	}
	ck_assert_uint_eq(webhook_target_pending(wh, "t"), 150);
	run_until_idle();
	ck_assert_int_eq(nrecs, 150);
	for (i = 0; i < 150; i++) {
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		ck_assert_str_eq(recs[i].body, body);
		ck_assert_int_eq(recs[i].conn, 0);
	}
	ck_assert_uint_eq(stats().delivered, 150);
	ck_assert_uint_eq(stats().connects, 1);
	ck_assert_int_eq(nrconns, 1);
	ck_assert_uint_eq(stats().conns, 1);
	/* Idle connections are closed after idle_ms. */
	webhook_free(wh);
	opts.idle_ms = 30;
	start();
	add("t", "/");
	enqueue("t", "{}");
	run_until_idle();
	ck_assert_uint_eq(stats().conns, 1);
	run_for(100);
	ck_assert_uint_eq(stats().conns, 0);
	ck_assert_int_eq(open_now, 0);
}
END_TEST

/* Many targets of one host share at most max_conns_per_host connections. */
START_TEST(test_max_conns)
{
	char id[8], body[32];
	int i, j, last[6];

	opts.max_conns_per_host = 2;
	answer_delay_ms = 5;
	r_listen(0);
	start();
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		add(id, "/");
	}
	for (j = 0; j < 10; j++) {
		for (i = 0; i < 6; i++) {
			snprintf(id, sizeof(id), "t%d", i);
			snprintf(body, sizeof(body), "%d", j);
			enqueue(id, body);
		}
	}
	run_until_idle();
	ck_assert_int_eq(nrecs, 60);
	ck_assert_int_le(open_max, 2);
	ck_assert_int_eq(nrconns, 2);
	ck_assert_uint_eq(stats().connects, 2);
	ck_assert_uint_eq(stats().delivered, 60);
	/* Per-target order. */
	for (i = 0; i < 6; i++)
		last[i] = -1;
	for (j = 0; j < nrecs; j++) {
		int t = recs[j].sub[1] - '0', n = atoi(recs[j].body);

		ck_assert_int_eq(n, last[t] + 1);
		last[t] = n;
	}
}
END_TEST

static const int retry_statuses[] = {500, 503, 429, 408, 502};

START_TEST(test_retry_status)
{
	int st = retry_statuses[_i];

	opts.retries = 3;
	script[0] = st;
	script[1] = st;
	nscript = 2;
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "{\"first\":1}");
	enqueue("t", "{\"second\":2}");
	run_until_idle();
	ck_assert_int_eq(nrecs, 4);
	ck_assert_str_eq(recs[0].body, "{\"first\":1}");
	ck_assert_str_eq(recs[1].body, "{\"first\":1}");
	ck_assert_str_eq(recs[2].body, "{\"first\":1}");
	ck_assert_str_eq(recs[3].body, "{\"second\":2}");
	/* Backoff 10 ms, then 20 ms (lower bounds only). */
	ck_assert_uint_ge(recs[1].at - recs[0].at, 10);
	ck_assert_uint_ge(recs[2].at - recs[1].at, 20);
	ck_assert_uint_eq(stats().delivered, 2);
	ck_assert_uint_eq(stats().retried, 2);
	ck_assert_uint_eq(stats().failed, 0);
	/* A 5xx answer with keep-alive keeps the connection. */
	ck_assert_uint_eq(stats().connects, 1);
}
END_TEST

START_TEST(test_retries_exhausted)
{
	opts.retries = 2;
	default_status = 500;
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "a");
	run_until_idle();
	ck_assert_int_eq(nrecs, 3);
	ck_assert_uint_eq(stats().retried, 2);
	ck_assert_uint_eq(stats().failed, 1);
	ck_assert_uint_eq(stats().delivered, 0);
	/* The next delivery is tried afresh. */
	default_status = 200;
	enqueue("t", "b");
	run_until_idle();
	ck_assert_int_eq(nrecs, 4);
	ck_assert_uint_eq(stats().delivered, 1);
}
END_TEST

START_TEST(test_no_retry_4xx)
{
	script[0] = 404;
	script[1] = 400;
	script[2] = 301;
	nscript = 3;
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "a");
	enqueue("t", "b");
	enqueue("t", "c");
	enqueue("t", "d");
	run_until_idle();
	ck_assert_int_eq(nrecs, 4);
	ck_assert_str_eq(recs[3].body, "d");
	ck_assert_uint_eq(stats().failed, 3);
	ck_assert_uint_eq(stats().retried, 0);
	ck_assert_uint_eq(stats().delivered, 1);
}
END_TEST

/* Nothing listens at first (connection refused); then the receiver comes up. */
START_TEST(test_refused_then_up)
{
	uint16_t port;
	uint64_t end;

	r_listen(0);
	port = lport;
	loop_unwatch(loop, lfd, LOOP_READ);
	close(lfd);
	lfd = -1;
	opts.retries = 50;
	start();
	add("t", "/");
	enqueue("t", "x");
	end = loop_clock_ms() + DEADLINE_MS;
	while (stats().retried < 2) {
		ck_assert(loop_clock_ms() < end);
		loop_run_once(loop, 5);
	}
	ck_assert_uint_eq(stats().delivered, 0);
	r_listen(port);
	run_until_idle();
	ck_assert_int_eq(nrecs, 1);
	ck_assert_uint_eq(stats().delivered, 1);
	ck_assert_uint_ge(stats().retried, 2);
	ck_assert_uint_eq(stats().failed, 0);

	/* Refused for good: dropped after the retries. */
	webhook_free(wh);
	loop_unwatch(loop, lfd, LOOP_READ);
	close(lfd);
	lfd = -1;
	opts.retries = 2;
	start();
	add("t", "/");
	enqueue("t", "x");
	run_until_idle();
	ck_assert_uint_eq(stats().failed, 1);
	ck_assert_uint_eq(stats().retried, 2);
}
END_TEST

/* No answer within timeout_ms: the connection is closed and the request retried. */
START_TEST(test_timeout)
{
	opts.timeout_ms = 100;
	script[0] = ACT_STALL;
	nscript = 1;
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "x");
	run_until_idle();
	ck_assert_int_eq(nrecs, 2);
	ck_assert_uint_ge(recs[1].at - recs[0].at, 100);
	ck_assert_int_ne(recs[0].conn, recs[1].conn);
	ck_assert_uint_eq(stats().retried, 1);
	ck_assert_uint_eq(stats().delivered, 1);
	ck_assert_uint_eq(stats().connects, 2);
}
END_TEST

/* A fresh connection closed without an answer, or junk: retried. */
START_TEST(test_close_and_junk)
{
	script[0] = ACT_CLOSE;
	script[1] = ACT_JUNK;
	nscript = 2;
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "x");
	run_until_idle();
	ck_assert_int_eq(nrecs, 3);
	ck_assert_uint_eq(stats().retried, 2);
	ck_assert_uint_eq(stats().delivered, 1);
}
END_TEST

/*
 * The server closes a kept-alive connection while it is idle: the client
 * notices, and the next delivery goes out on a new connection without
 * counting a retry.
 */
START_TEST(test_server_closes_idle)
{
	int i;

	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "a");
	run_until_idle();
	for (i = 0; i < nrconns; i++)
		r_close(&rconns[i]);
	enqueue("t", "b");
	run_until_idle();
	run_for(20);
	ck_assert_int_eq(nrecs, 2);
	ck_assert_uint_eq(stats().retried, 0);
	ck_assert_uint_eq(stats().delivered, 2);
	ck_assert_uint_eq(stats().connects, 2);
}
END_TEST

/* Answer framings: chunked, until close, Connection: close, 100 Continue first. */
START_TEST(test_framings)
{
	static const enum framing fr[] = {FR_CHUNKED, FR_UNTIL_CLOSE, FR_CONN_CLOSE, FR_INTERIM};
	static const int conns[] = {1, 3, 3, 1};

	framing = fr[_i];
	r_listen(0);
	start();
	add("t", "/");
	enqueue("t", "a");
	enqueue("t", "b");
	enqueue("t", "c");
	run_until_idle();
	ck_assert_int_eq(nrecs, 3);
	ck_assert_uint_eq(stats().delivered, 3);
	ck_assert_uint_eq(stats().retried, 0);
	ck_assert_uint_eq(stats().connects, (uint64_t)conns[_i]);
}
END_TEST

/* Over max_pending, the oldest waiting delivery goes (not the one on the wire). */
START_TEST(test_max_pending)
{
	char body[8];
	int i;

	opts.max_pending = 3;
	answer_delay_ms = 20;
	r_listen(0);
	start();
	add("t", "/");
	for (i = 1; i <= 6; i++) {
		snprintf(body, sizeof(body), "%d", i);
		enqueue("t", body);
	}
	ck_assert_uint_eq(stats().dropped, 2);
	ck_assert_uint_eq(webhook_target_pending(wh, "t"), 4);
	run_until_idle();
	ck_assert_int_eq(nrecs, 4);
	ck_assert_str_eq(recs[0].body, "1");
	ck_assert_str_eq(recs[1].body, "4");
	ck_assert_str_eq(recs[2].body, "5");
	ck_assert_str_eq(recs[3].body, "6");
	ck_assert_uint_eq(stats().delivered, 4);
	ck_assert_uint_eq(stats().dropped, 2);
}
END_TEST

/* Removing a target discards its queue; other targets go on. */
START_TEST(test_remove_target)
{
	int i;

	opts.max_conns_per_host = 1;
	answer_delay_ms = 20;
	r_listen(0);
	start();
	add("a", "/a");
	add("b", "/b");
	add("c", "/c");
	for (i = 0; i < 5; i++) {
		enqueue("a", "a");
		enqueue("b", "b");
		enqueue("c", "c");
	}
	/* a is on the wire, b and c wait for the one connection. */
	run_until_recs(1);
	ck_assert_int_eq(webhook_remove_target(wh, "a"), 0); /* in flight */
	ck_assert_int_eq(webhook_remove_target(wh, "b"), 0); /* waiting */
	ck_assert_uint_eq(stats().cancelled, 10);
	ck_assert_int_eq(webhook_enqueue(wh, "a", "x", 1, 0), -1);
	run_until_idle();
	run_for(50);
	ck_assert_int_eq(nrecs, 6);
	ck_assert_str_eq(recs[0].sub, "a");
	for (i = 1; i < 6; i++)
		ck_assert_str_eq(recs[i].sub, "c");
	ck_assert_uint_eq(stats().delivered, 5);
	ck_assert_uint_eq(stats().pending, 0);
	/* Removed while in backoff. */
	script[0] = 500;
	script_pos = 0;
	nscript = 1;
	opts.backoff_min_ms = 10000;
	answer_delay_ms = 0;
	webhook_free(wh);
	start();
	add("d", "/d");
	enqueue("d", "x");
	enqueue("d", "y");
	run_until_recs(7);
	run_for(20);
	ck_assert_uint_eq(stats().retried, 1);
	ck_assert_int_eq(webhook_remove_target(wh, "d"), 0);
	ck_assert_uint_eq(stats().cancelled, 2);
	ck_assert_uint_eq(stats().pending, 0);
}
END_TEST

/*
 * The done hook: each delivery ends once, after its answer, with its
 * cookie: delivered in order; a delivery answered 2xx by a second target
 * between. The hook may queue a delivery itself.
 */
START_TEST(test_done_delivered)
{
	answer_delay_ms = 20;
	r_listen(0);
	start_done();
	add("t", "/t");
	add("u", "/u");
	enqueue_c("t", "a", 1);
	enqueue_c("t", "b", 2);
	enqueue_c("u", "c", 3);
	run_for(5);
	ck_assert_str_eq(done_log, ""); /* queued or on the wire is not done */
	done_requeue = "again";
	run_until_done(4);
	run_for(30);
	ck_assert_int_eq(ndone, 4);
	/* The first to end queued "again" (cookie 99) behind its target's b. */
	ck_assert_msg(strstr(done_log, "1:t:delivered;") == done_log ||
	                      strstr(done_log, "3:u:delivered;") == done_log,
	              "%s", done_log);
	ck_assert_msg(strstr(done_log, "1:t:delivered;") < strstr(done_log, "2:t:delivered;"), "%s",
	              done_log);
	ck_assert_ptr_nonnull(strstr(done_log, "3:u:delivered;"));
	ck_assert_ptr_nonnull(strstr(done_log, ":delivered;99:"));
	ck_assert_uint_eq(stats().delivered, 4);
	ck_assert_int_eq(nrecs, 4);
}
END_TEST

/* Failed for good: after the retries, or at once on a final status. */
START_TEST(test_done_failed)
{
	opts.retries = 2;
	script[0] = 500;
	script[1] = 503;
	script[2] = 500;
	script[3] = 404;
	nscript = 4;
	r_listen(0);
	start_done();
	add("t", "/t");
	enqueue_c("t", "a", 7);
	enqueue_c("t", "b", 8);
	enqueue_c("t", "c", 9);
	run_until_recs(3);
	ck_assert_str_eq(done_log, "");
	run_until_done(3);
	ck_assert_str_eq(done_log, "7:t:failed;8:t:failed;9:t:delivered;");
	ck_assert_int_eq(nrecs, 5);
	ck_assert_uint_eq(stats().failed, 2);
	ck_assert_uint_eq(stats().retried, 2);

	/* Refused at connect (webhook.allow changed since): failed too. */
	webhook_free(wh);
	start_done();
	parse_allow();
	webhook_set_allow(wh, allow_lo, 2);
	add("t", "/t");
	webhook_set_allow(wh, &allow_ten, 1);
	enqueue_c("t", "d", 10);
	run_until_done(1);
	ck_assert_str_eq(done_log, "10:t:failed;");
	ck_assert_int_eq(nrecs, 5);
}
END_TEST

/* Over max_pending: the oldest waiting one ends as dropped, at once. */
START_TEST(test_done_dropped)
{
	opts.max_pending = 2;
	answer_delay_ms = 20;
	r_listen(0);
	start_done();
	add("t", "/t");
	enqueue_c("t", "1", 1); /* on the wire */
	enqueue_c("t", "2", 2);
	enqueue_c("t", "3", 3);
	ck_assert_str_eq(done_log, "");
	enqueue_c("t", "4", 4); /* 2 goes */
	ck_assert_str_eq(done_log, "2:t:dropped;");
	run_until_done(4);
	ck_assert_str_eq(done_log, "2:t:dropped;1:t:delivered;3:t:delivered;4:t:delivered;");
	ck_assert_uint_eq(stats().dropped, 1);
}
END_TEST

/*
 * Removing a target ends what it holds as cancelled, the request on the
 * wire included (its answer is ignored); webhook_free() reports nothing.
 */
START_TEST(test_done_cancelled_and_free)
{
	answer_delay_ms = 30;
	r_listen(0);
	start_done();
	add("t", "/t");
	add("u", "/u");
	enqueue_c("t", "a", 1);
	enqueue_c("t", "b", 2);
	enqueue_c("u", "c", 3);
	run_until_recs(2);
	ck_assert_str_eq(done_log, "");
	ck_assert_int_eq(webhook_remove_target(wh, "t"), 0);
	ck_assert_str_eq(done_log, "1:t:cancelled;2:t:cancelled;");
	run_until_done(3);
	run_for(60);
	ck_assert_str_eq(done_log, "1:t:cancelled;2:t:cancelled;3:u:delivered;");
	ck_assert_uint_eq(stats().cancelled, 2);
	/* Freed with deliveries queued and on the wire: no news of them. */
	enqueue_c("u", "d", 4);
	enqueue_c("u", "e", 5);
	run_until_recs(3);
	webhook_free(wh);
	wh = NULL;
	ck_assert_int_eq(ndone, 3);
}
END_TEST

/* The backlog hook: first target at half of max_pending, last one at a quarter. */
static char backlog_log[64];

static void on_backlog(void *ctx, bool full)
{
	(void)ctx;
	strcat(backlog_log, full ? "F" : "e");
}

START_TEST(test_backlog)
{
	int i;

	backlog_log[0] = '\0';
	opts.max_pending = 8; /* full at 4, not full again at 2 */
	answer_delay_ms = 20;
	r_listen(0);
	start();
	webhook_on_backlog(wh, on_backlog, NULL);
	add("a", "/a");
	add("b", "/b");
	for (i = 0; i < 3; i++)
		enqueue("a", "x");
	ck_assert_str_eq(backlog_log, "");
	ck_assert(!webhook_backlogged(wh));
	enqueue("a", "x");
	ck_assert_str_eq(backlog_log, "F");
	ck_assert(webhook_backlogged(wh));
	/* Another target filling up says nothing new. */
	for (i = 0; i < 5; i++)
		enqueue("b", "y");
	enqueue("a", "x");
	ck_assert_str_eq(backlog_log, "F");
	/* Removing b leaves a full; draining a ends it, once. */
	webhook_remove_target(wh, "b");
	ck_assert_str_eq(backlog_log, "F");
	run_until_idle();
	ck_assert_str_eq(backlog_log, "Fe");
	ck_assert(!webhook_backlogged(wh));
	ck_assert_uint_eq(stats().dropped, 0);
}
END_TEST

static Suite *webhook_suite(void)
{
	Suite *s = suite_create("webhook");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_backoff);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_targets);
	tcase_add_test(tc, test_check_url);
	tcase_add_test(tc, test_refused_at_connect);
	tcase_add_test(tc, test_request_bytes);
	tcase_add_test(tc, test_order_keepalive);
	tcase_add_test(tc, test_max_conns);
	tcase_add_loop_test(tc, test_retry_status, 0,
	                    (int)(sizeof(retry_statuses) / sizeof(retry_statuses[0])));
	tcase_add_test(tc, test_retries_exhausted);
	tcase_add_test(tc, test_no_retry_4xx);
	tcase_add_test(tc, test_refused_then_up);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_close_and_junk);
	tcase_add_test(tc, test_server_closes_idle);
	tcase_add_loop_test(tc, test_framings, 0, 4);
	tcase_add_test(tc, test_max_pending);
	tcase_add_test(tc, test_backlog);
	tcase_add_test(tc, test_remove_target);
	tcase_add_test(tc, test_done_delivered);
	tcase_add_test(tc, test_done_failed);
	tcase_add_test(tc, test_done_dropped);
	tcase_add_test(tc, test_done_cancelled_and_free);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(webhook_suite)
