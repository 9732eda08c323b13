/*
 * whpool: the hosts and connections of the webhook client (DESIGN §6),
 * on the shared loop.
 *
 * A host is one scheme + host:port. Its addresses are looked up once
 * (a literal needs no lookup), when its first user comes (see webhook.h
 * for why), and checked against the allow list. Its connections are
 * shared by every request for it: a keep-alive connection is reused, at
 * most max_conns_per_host are open at once (requests beyond that wait,
 * first come first served), and a connection idle for idle_ms is closed.
 * https hosts get a TLS handshake after the connect, with the host's
 * name as SNI and as the name its certificate must carry.
 *
 * A request (struct whpool_req) is the user's: one HTTP/1.1 request at a
 * time, which the pool asks the user to write when it has a connection
 * for it (whpool_ops.request), and whose end it reports once
 * (whpool_ops.result): an answer's status, a network error or timeout
 * (timeout_ms from the connect, or from being handed an idle connection,
 * to the end of the answer), or an address outside the allow list. A
 * request waiting for a connection, or sent on a kept-alive connection
 * that the server had closed while idle (EOF or reset before any byte of
 * the answer), is handed back instead (whpool_ops.ready): it is the
 * user's to send again, and that was no attempt.
 *
 * When a connection ends a request it goes first to the next waiting
 * request of its host, then the ended request hears its result: requests
 * of one host take turns fairly. A connect that fails at once reports its
 * failure through a 0 ms timer, so a long queue failing against a closed
 * port never recurses. Nothing here is freed inside its own callback.
 */
#ifndef OCTO_WHPOOL_H
#define OCTO_WHPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "net.h"

struct loop;
struct whpool;
struct whpool_host;
struct whpool_conn;
struct url;

/* A result status: the address is outside the allow list, not connected to (final). */
#define WHPOOL_REFUSED (-1)

struct whpool_opts {
	int64_t timeout_ms;          /* one request: connect + send + response */
	int64_t idle_ms;             /* an idle keep-alive connection is closed after this */
	unsigned max_conns_per_host; /* open connections per host, >= 1 */
	size_t max_response_header;  /* bytes of status line + headers */
	size_t max_response_body;    /* bytes of body (read and thrown away) */
	const char *tls_ca_file;     /* https: CA bundle (NULL: the system store); not copied */
	bool tls_insecure;           /* https: do not check the host name */
};

/*
 * One request of the user, inside the user's own object. The user sets
 * r_host (from whpool_host_add) and r_arg; the rest is the pool's.
 */
struct whpool_req {
	struct whpool_host *r_host;
	void *r_arg;
	struct whpool_req *r_wnext; /* the host's waiting queue */
	struct whpool_conn *r_conn; /* the connection it is on */
	bool r_waiting;             /* in the host's waiting queue */
	bool r_refused;             /* the failure being reported is WHPOOL_REFUSED */
	uint64_t r_timer;           /* a connect failure being reported */
	char *r_err;                /* why, while it is (a whole ERR_LEN in each
	                             * subscription's request cost 1 kB apiece) */
};

/*
 * The user's side, called from inside the pool's work (an answer, a
 * timer, whpool_send):
 * - request: write r's request into out (empty), for the host whose
 *   Host: value is host_header;
 * - ready: r is on no connection and in no queue any more; it may be
 *   sent again (whpool_send) now;
 * - result: r's attempt ended with an HTTP status, 0 for a failure
 *   without one, or WHPOOL_REFUSED (why says what); r is the user's
 *   again.
 */
struct whpool_ops {
	void (*request)(struct whpool_req *r, const char *host_header, struct buf *out);
	void (*ready)(struct whpool_req *r);
	void (*result)(struct whpool_req *r, int status, const char *why);
};

/* The pool on loop, with opts and ops copied. */
struct whpool *whpool_new(struct loop *loop, const struct whpool_opts *opts,
                          const struct whpool_ops *ops);
/* Closes every connection and frees every host; whpool_cancel() every request first. */
void whpool_free(struct whpool *p);

/*
 * The address blocks hosts and connections are held to (not copied:
 * allow must outlive p; n == 0 allows nothing). Until this is called
 * every address is allowed; from then on every connect is checked.
 */
void whpool_set_allow(struct whpool *p, const struct net_cidr *allow, size_t n);
/*
 * Load the TLS settings of https hosts (CA bundle) if not done yet: 0,
 * or -1 with err saying why.
 */
int whpool_tls_ready(struct whpool *p, char *err, size_t errlen);

/*
 * May url be used? Parses it, looks its host up if no user has that host
 * yet (else takes the addresses it has), and checks every address
 * against the allow list. 0; 400 with err for a bad URL or a name that
 * does not resolve; 403 with err naming the first address outside. The
 * next whpool_host_add() for this host uses the addresses looked up here
 * instead of looking up again.
 */
int whpool_check_url(struct whpool *p, const char *url, char *err, size_t errlen);
/*
 * The host of u for one more user, created and looked up if needed
 * (looked up again when it has no user, unless whpool_check_url() just
 * did), its addresses all allowed. NULL with err set.
 */
struct whpool_host *whpool_host_add(struct whpool *p, const struct url *u, char *err,
                                    size_t errlen);
/* One user less for h (the host and its addresses stay). */
void whpool_host_release(struct whpool_host *h);

/*
 * Send r (idle: on no connection, in no queue) on a connection of its
 * host: an idle one, a new one, or, when the host has max_conns_per_host
 * open, the first that comes free. true if r waits for one (ops.ready
 * will tell when its turn comes).
 */
bool whpool_send(struct whpool *p, struct whpool_req *r);
/*
 * Forget r: out of its host's queue, its failure report dropped, and an
 * answer on its connection ignored (the request is not interrupted).
 */
void whpool_cancel(struct whpool *p, struct whpool_req *r);

struct whpool_stats {
	uint64_t connects; /* connections opened */
	uint64_t lookups;  /* host names looked up (getaddrinfo) */
	uint64_t conns;    /* gauge: connections open */
};
void whpool_stats(const struct whpool *p, struct whpool_stats *out);

#endif
