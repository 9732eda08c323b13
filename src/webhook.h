/*
 * webhook: the outbound HTTP/1.1 client of DESIGN §6, on the shared loop.
 *
 * A target is one subscription: an id (sent as X-Octomqttd-Subscription)
 * and an http:// URL. Each target has a FIFO of deliveries (JSON bodies
 * built by the caller, see subs_body()) and at most one request in
 * flight, so a target's deliveries arrive in the order they were queued.
 *
 * Connections (whpool's, see whpool.h) belong to a host:port and are
 * shared by every target of it: keep-alive connections are reused, at
 * most max_conns_per_host are open at once (targets beyond that wait,
 * first come first served), and a connection idle for idle_ms is closed.
 * One request, from the start of its connect (or from being handed an
 * idle connection) to the end of the response, may take timeout_ms.
 *
 * Outcome of a request: 2xx delivered. A network error, a timeout, a
 * malformed response, 408, 429 or 5xx: tried again after
 * min(backoff_max_ms, backoff_min_ms * 2^(n-1)) ms for the n-th retry, up
 * to `retries` retries, then failed (dropped, counted, logged). Any other
 * status (1xx as final, 3xx, other 4xx): failed at once. While a target
 * waits for its retry its later deliveries wait too (order is kept).
 * A keep-alive connection that the server closed while idle (EOF or reset
 * before any byte of the response) does not count as an attempt: the
 * request is sent again at once on a new connection.
 *
 * At most max_pending deliveries wait per target besides the one being
 * sent; beyond that the oldest waiting one is dropped, counted and logged.
 * Removing a target discards what it still had queued (counted as
 * `cancelled`, logged).
 *
 * Each delivery ends once, with one of those outcomes, and the done hook
 * (webhook_on_done) hears it with the cookie it was queued with: subs
 * acknowledges an inbound message to the broker only then (DESIGN §7).
 *
 * Host names: a literal IPv4/IPv6 address needs no lookup. A name is
 * looked up once, with getaddrinfo(), when the first target of that
 * host:port is added (registration or start-up), and its addresses are
 * kept; connections use those addresses, tried in turn after a failed
 * connect, so delivery never waits for a lookup. webhook_check_url()
 * looks the name up for a registration; the webhook_add_target() that
 * follows takes those addresses. See doc/CHOICES.md.
 *
 * Allowed addresses (webhook_set_allow, the daemon's webhook.allow): a
 * target is added only when every address of its host is inside the
 * list, and each connect checks the address it is about to use again; an
 * address outside is not connected to and the delivery fails at once
 * (final, counted as failed, logged like other failures: once per run).
 *
 * https:// URLs: after the TCP connect a TLS handshake (tls module) with
 * the URL's host as SNI and as the name the certificate must carry
 * (unless tls_insecure); its time counts in the request's timeout, and a
 * failed handshake is a network error (retried). Keep-alive connections
 * keep their session. The CA bundle is loaded once, at the first https
 * target (webhook_tls_ready), so a daemon without https webhooks never
 * holds it in memory.
 *
 * Nothing here is freed inside its own callback (loop_defer).
 */
#ifndef OCTO_WEBHOOK_H
#define OCTO_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

struct loop;
struct webhook;

struct webhook_opts {
	int64_t timeout_ms;          /* one request: connect + send + response */
	unsigned retries;            /* attempts after the first */
	size_t max_pending;          /* waiting deliveries per target */
	unsigned max_conns_per_host; /* open connections per host:port, >= 1 */
	const char *user_agent;      /* User-Agent value (copied) */
	int64_t backoff_min_ms;      /* first retry delay */
	int64_t backoff_max_ms;      /* cap of the doubling */
	int64_t idle_ms;             /* an idle keep-alive connection is closed after this */
	size_t max_response_header;  /* bytes of status line + headers */
	size_t max_response_body;    /* bytes of body (read and thrown away) */
	const char *tls_ca_file;     /* https: CA bundle (NULL: the system store); not copied */
	bool tls_insecure;           /* https: do not check the host name */
};

/*
 * Defaults: timeout 10 s, 5 retries, 10000 pending, 4 connections per
 * host, "octomqttd/<version>", backoff 1 s doubling to 60 s, idle close
 * after 4 s (under the 5 s keep-alive timeout of common servers, so we
 * close first), 16 KiB of response head, 1 MiB of response body.
 */
void webhook_opts_init(struct webhook_opts *o);

/* The delay before the n-th retry (n >= 1): min(max, min * 2^(n-1)) ms. */
int64_t webhook_backoff_ms(const struct webhook_opts *o, unsigned n);

/* The client on loop, with opts copied (NULL: defaults). */
struct webhook *webhook_new(struct loop *loop, const struct webhook_opts *opts);
/*
 * Closes every connection and frees everything; queued deliveries are
 * lost and the done hook hears nothing of them: the daemon is going
 * away, and the acknowledgements they hold back must not go out (the
 * broker sends those messages again to a kept session).
 */
void webhook_free(struct webhook *wh);

/*
 * Add the target `id` for url. Adding an id that exists with the same URL
 * does nothing; with another URL is an error. The host of a name is looked
 * up here when no other target uses it yet (see above). 0, or -1 with err
 * set (bad URL, name that does not resolve, an address outside the allow
 * list, id taken).
 */
int webhook_add_target(struct webhook *wh, const char *id, const char *url, char *err,
                       size_t errlen);
/*
 * The address blocks targets and connections are held to (not copied:
 * allow must outlive wh; n == 0 allows nothing). Until this is called
 * every address is allowed. Targets added before keep their place, but
 * their connects are checked from now on.
 */
void webhook_set_allow(struct webhook *wh, const struct net_cidr *allow, size_t n);
/*
 * May url be registered? Parses it, looks its host up if no target uses
 * that host yet (else takes the addresses it has), and checks every
 * address against the allow list. 0; 400 with err for a bad URL or a name
 * that does not resolve; 403 with err naming the first address outside.
 * The next webhook_add_target() for this host uses the addresses looked
 * up here instead of looking up again.
 */
int webhook_check_url(struct webhook *wh, const char *url, char *err, size_t errlen);
/*
 * Remove a target: its queued deliveries are discarded (counted as
 * cancelled); a request in flight is not interrupted but its outcome is
 * ignored. 0, or -1 if id is unknown.
 */
int webhook_remove_target(struct webhook *wh, const char *id);
/* Public for the tests: the tests check targets come and go. */
bool webhook_has_target(const struct webhook *wh, const char *id);
/*
 * Load the TLS settings of https webhooks (CA bundle) if not done yet: 0,
 * or -1 with err saying why (the bundle is missing or unreadable).
 * webhook_add_target() calls it for https URLs; the API calls it first so
 * a registration is refused rather than accepted and never delivered.
 */
int webhook_tls_ready(struct webhook *wh, char *err, size_t errlen);

/*
 * Queue body[0..len) (copied) for target id and start sending if the
 * target is free. 0, or -1 if id is unknown (then the done hook hears
 * nothing of it). cookie is the caller's, handed back to the done hook.
 */
int webhook_enqueue(struct webhook *wh, const char *id, const char *body, size_t len,
                    uint64_t cookie);

/*
 * How a queued delivery ended. Every delivery webhook_enqueue() accepted
 * ends exactly once, with one of these, unless webhook_free() comes first.
 */
enum webhook_outcome {
	WEBHOOK_DELIVERED, /* answered 2xx */
	WEBHOOK_FAILED,    /* retries exhausted, a final status, or an address refused */
	WEBHOOK_DROPPED,   /* the oldest waiting one, over max_pending */
	WEBHOOK_CANCELLED, /* its target was removed (queued or in flight) */
};
/* "delivered", "failed", "dropped", "cancelled". */
const char *webhook_outcome_name(enum webhook_outcome outcome);

/*
 * Done hook: fn(ctx, cookie, id, outcome) once a delivery has ended (id:
 * its target, valid during the call). It is called after the client has
 * let go of the delivery, from inside the client's own work (an answer,
 * a timer, webhook_enqueue() dropping an older delivery, even the one
 * just queued when max_pending is 0, webhook_remove_target()): fn may
 * queue deliveries but must not remove targets or free the client.
 */
typedef void webhook_done_fn(void *ctx, uint64_t cookie, const char *id,
                             enum webhook_outcome outcome);
void webhook_on_done(struct webhook *wh, webhook_done_fn *fn, void *ctx);

/*
 * Backlog: fn(ctx, true) when the first target's queue reaches half of
 * max_pending, fn(ctx, false) when the last such one is down to a
 * quarter again. The caller can stop taking messages meanwhile (main
 * pauses reading from the broker), so a burst waits upstream instead of
 * being dropped here.
 */
typedef void webhook_backlog_fn(void *ctx, bool backlogged);
void webhook_on_backlog(struct webhook *wh, webhook_backlog_fn *fn, void *ctx);
/* Public for the tests: the tests check backpressure. */
bool webhook_backlogged(const struct webhook *wh);

struct webhook_stats {
	uint64_t delivered; /* 2xx answers */
	uint64_t retried;   /* attempts scheduled again (each retry counts) */
	uint64_t failed;    /* given up: final status or retries exhausted */
	uint64_t dropped;   /* the oldest waiting delivery, over max_pending */
	uint64_t cancelled; /* discarded with their target */
	uint64_t connects;  /* connections opened */
	uint64_t lookups;   /* host names looked up (getaddrinfo) */
	uint64_t pending;   /* gauge: queued or in flight, all targets */
	uint64_t conns;     /* gauge: connections open */
};
void webhook_stats(const struct webhook *wh, struct webhook_stats *out);
/* Deliveries queued or in flight for one target (0 if unknown). */
/* Public for the tests: the tests check a target's queue. */
size_t webhook_target_pending(const struct webhook *wh, const char *id);

#endif
