/*
 * webhook: outbound HTTP/1.1 deliveries (see webhook.h); the hosts and
 * connections are whpool's.
 *
 * A target (one subscription) owns a FIFO of deliveries and is in one
 * state: idle (nothing to send, or about to ask for a connection),
 * waiting (in its host's queue for a free connection), busy (its head
 * delivery is on a connection, or a connect that failed at once is being
 * reported), or backoff (a timer will make it idle again). Its head
 * delivery goes to the pool as its struct whpool_req: the pool asks for
 * the request bytes when it has a connection (hook_request), hands the
 * target back when its turn comes or a stale connection must be retried
 * (hook_ready), and reports the attempt's end (hook_result).
 *
 * When a connection finishes a request it is first handed to the next
 * waiting target of its host, then the finished target's outcome is
 * applied (which may queue it behind the others): targets of one host
 * take turns fairly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "htab.h"
#include "log.h"
#include "loop.h"
#include "url.h"
#include "webhook.h"
#include "whpool.h"

#define HOOK_ID_MAX 64

struct hook_delivery {
	struct hook_delivery *d_next;
	uint64_t d_cookie; /* the caller's, for the done hook */
	size_t d_len;
	char d_body[];
};

enum hook_tstate { HT_IDLE, HT_WAITING, HT_BUSY, HT_BACKOFF };

struct hook_target {
	struct webhook *t_wh;
	struct htab_node t_node; /* in w_targets, by id */
	char *t_id, *t_url, *t_path;
	struct whpool_req t_req; /* its head delivery, to the pool; r_host: its host */
	struct hook_delivery *t_head, *t_tail;
	size_t t_count; /* queued, the one in flight included */
	enum hook_tstate t_state;
	unsigned t_attempts; /* failed attempts of the head delivery */
	uint64_t t_timer;    /* backoff */
	bool t_fail_logged;  /* a final failure was logged since the last success */
	bool t_drop_logged;  /* a max_pending drop was logged since the last success */
	bool t_full;         /* counted in w_full: t_count reached the high mark */
};

struct webhook {
	struct loop *w_loop;
	struct webhook_opts w_opts;
	char *w_ua;
	struct whpool *w_pool;        /* hosts and connections */
	struct htab w_targets;        /* of hook_target, by id */
	struct webhook_stats w_stats; /* connects, lookups, conns: the pool's */
	/* Backlog: targets at or over the high mark (webhook_on_backlog). */
	size_t w_full;
	webhook_backlog_fn *w_backlog_fn;
	void *w_backlog_ctx;
	webhook_done_fn *w_done_fn; /* webhook_on_done() */
	void *w_done_ctx;
};

static void hook_target_kick(struct hook_target *t);
static void hook_target_result(struct hook_target *t, int status, const char *why);

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

/* ---- targets ---- */

static struct hook_target *hook_target_find(const struct webhook *wh, const char *id)
{
	uint64_t h = htab_fnv(HTAB_FNV_BASIS, id, strlen(id));
	struct htab_node *n;

	for (n = htab_chain(&wh->w_targets, h); n != NULL; n = n->hn_next) {
		struct hook_target *t = HTAB_ENTRY(n, struct hook_target, t_node);

		if (n->hn_hash == h && strcmp(t->t_id, id) == 0)
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
	t->t_state = HT_IDLE;
	hook_target_kick(t);
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
 * failure without one, or WHPOOL_REFUSED (final); why says what.
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
	if (t->t_state != HT_IDLE || t->t_head == NULL)
		return;
	t->t_state = HT_BUSY;
	if (whpool_send(t->t_wh->w_pool, &t->t_req))
		t->t_state = HT_WAITING;
}

/* whpool_ops.request: the POST of t's head delivery. */
static void hook_request(struct whpool_req *r, const char *host_header, struct buf *o)
{
	const struct hook_target *t = r->r_arg;
	const struct hook_delivery *d = t->t_head;

	buf_reserve(o, 256 + strlen(t->t_path) + d->d_len);
	buf_append_str(o, "POST ");
	buf_append_str(o, t->t_path);
	buf_append_str(o, " HTTP/1.1\r\nHost: ");
	buf_append_str(o, host_header);
	buf_append_str(o, "\r\nContent-Type: application/json\r\nUser-Agent: ");
	buf_append_str(o, t->t_wh->w_ua);
	buf_append_str(o, "\r\nX-Octomqttd-Subscription: ");
	buf_append_str(o, t->t_id);
	buf_append_str(o, "\r\nContent-Length: ");
	buf_append_uint(o, d->d_len);
	buf_append_str(o, "\r\n\r\n");
	buf_append(o, d->d_body, d->d_len);
}

/* whpool_ops.ready: t's turn for a connection, or its request to send again. */
static void hook_ready(struct whpool_req *r)
{
	struct hook_target *t = r->r_arg;

	t->t_state = HT_IDLE;
	hook_target_kick(t);
}

/* whpool_ops.result */
static void hook_result(struct whpool_req *r, int status, const char *why)
{
	hook_target_result(r->r_arg, status, why);
}

/* ---- public ---- */

struct webhook *webhook_new(struct loop *loop, const struct webhook_opts *opts)
{
	static const struct whpool_ops ops = {hook_request, hook_ready, hook_result};
	struct webhook *wh = xcalloc(1, sizeof(*wh));
	struct whpool_opts po = {0};

	if (opts != NULL)
		wh->w_opts = *opts;
	else
		webhook_opts_init(&wh->w_opts);
	if (wh->w_opts.max_conns_per_host == 0)
		wh->w_opts.max_conns_per_host = 1;
	wh->w_ua = xstrdup(wh->w_opts.user_agent != NULL ? wh->w_opts.user_agent
	                                                 : "octomqttd/" PACKAGE_VERSION);
	wh->w_opts.user_agent = wh->w_ua;
	wh->w_loop = loop;
	po.timeout_ms = wh->w_opts.timeout_ms;
	po.idle_ms = wh->w_opts.idle_ms;
	po.max_conns_per_host = wh->w_opts.max_conns_per_host;
	po.max_response_header = wh->w_opts.max_response_header;
	po.max_response_body = wh->w_opts.max_response_body;
	po.tls_ca_file = wh->w_opts.tls_ca_file;
	po.tls_insecure = wh->w_opts.tls_insecure;
	wh->w_pool = whpool_new(loop, &po, &ops);
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
	struct hook_target *t;
	size_t i;

	if (wh == NULL)
		return;
	/* No news while everything goes: see webhook.h for the done hook. */
	wh->w_backlog_fn = NULL;
	wh->w_done_fn = NULL;
	for (i = 0; i < wh->w_targets.ht_nb; i++) {
		struct htab_node *n, *next;

		for (n = htab_bucket(&wh->w_targets, i); n != NULL; n = next) {
			next = n->hn_next;
			t = HTAB_ENTRY(n, struct hook_target, t_node);
			if (t->t_timer != 0)
				loop_timer_del(wh->w_loop, t->t_timer);
			whpool_cancel(wh->w_pool, &t->t_req);
			hook_target_free(t, WEBHOOK_CANCELLED);
		}
	}
	htab_free(&wh->w_targets);
	whpool_free(wh->w_pool);
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
	struct whpool_host *h;

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
	h = whpool_host_add(wh->w_pool, &u, err, errlen);
	if (h == NULL) {
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
	t->t_req.r_host = h;
	t->t_req.r_arg = t;
	htab_insert(&wh->w_targets, &t->t_node, htab_fnv(HTAB_FNV_BASIS, id, strlen(id)));
	return 0;
}

void webhook_set_allow(struct webhook *wh, const struct net_cidr *allow, size_t n)
{
	whpool_set_allow(wh->w_pool, allow, n);
}

int webhook_check_url(struct webhook *wh, const char *url, char *err, size_t errlen)
{
	return whpool_check_url(wh->w_pool, url, err, errlen);
}

int webhook_remove_target(struct webhook *wh, const char *id)
{
	struct hook_target *t;

	t = hook_target_find(wh, id);
	if (t == NULL)
		return -1;
	htab_remove(&wh->w_targets, &t->t_node);
	whpool_cancel(wh->w_pool, &t->t_req); /* an answer on its way is ignored */
	if (t->t_timer != 0)
		loop_timer_del(wh->w_loop, t->t_timer);
	if (t->t_count > 0)
		log_info("webhook %s (%s) removed: %zu queued deliver%s discarded", t->t_id,
		         t->t_url, t->t_count, t->t_count == 1 ? "y" : "ies");
	wh->w_stats.cancelled += t->t_count;
	whpool_host_release(t->t_req.r_host);
	hook_target_free(t, WEBHOOK_CANCELLED);
	return 0;
}

int webhook_tls_ready(struct webhook *wh, char *err, size_t errlen)
{
	return whpool_tls_ready(wh->w_pool, err, errlen);
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
	struct whpool_stats ps;

	*out = wh->w_stats;
	whpool_stats(wh->w_pool, &ps);
	out->connects = ps.connects;
	out->lookups = ps.lookups;
	out->conns = ps.conns;
}

size_t webhook_target_pending(const struct webhook *wh, const char *id)
{
	const struct hook_target *t = hook_target_find(wh, id);

	return t != NULL ? t->t_count : 0;
}
