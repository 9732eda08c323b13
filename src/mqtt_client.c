/*
 * mqtt_client: the broker connection on the loop (see mqtt_client.h), as
 * an explicit state machine. Each state has its handlers in mc_states[]:
 * the socket is ready, the state's timer fired, a packet arrived, the
 * stop sequence may step on, everything has been written. mc_set_state()
 * is the only writer of the state (and logs each change at debug level).
 *
 * The outbound messages are in mc_q (mqtt_queue.h says where they live);
 * a message leaves the client only when written (QoS 0), acknowledged
 * (QoS 1/2), or counted in `dropped` and logged. Nothing disappears. The
 * QoS flows of an accepted connection are mqtt_session.c's.
 *
 * Broker names are resolved with getaddrinfo() in net_connect(), which
 * blocks the loop while it runs; see doc/CHOICES.md.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "mqtt_inbound.h"
#include "mqtt_queue.h"
#include "mqtt_session.h"
#include "mqtt_subset.h"
#include "net.h"
#include "tls.h"

/*
 * TCP connect plus CONNACK must complete within this time. A fixed bound
 * rather than one derived from the keepalive: keepalive may be 0 (no bound
 * at all) or 65535 s, neither a sensible wait for a handshake.
 */
#define MC_CONNECT_TIMEOUT_MS 10000
#define MC_READ_CHUNK         16384

static void mc_connect(struct mqtt_client *mc);
static void mc_io(struct loop *loop, int fd, int mask, void *arg);
static int64_t mc_timer_fire(struct loop *loop, uint64_t id, void *arg);
static int mc_tcp_up(struct mqtt_client *mc);
static void mc_input(struct mqtt_client *mc);

/* The handlers of one state; NULL: the event does not happen in it. */
struct mc_state_ops {
	const char *s_name; /* for the debug log of transitions */
	/* The socket is ready: LOOP_READ and/or LOOP_WRITE in mask. */
	void (*s_io)(struct mqtt_client *mc, int fd, int mask);
	/* mc_timer fired: the next delay in ms, or LOOP_TIMER_STOP. */
	int64_t (*s_timer)(struct mqtt_client *mc);
	/* A whole packet came from the broker. */
	void (*s_packet)(struct mqtt_client *mc, const struct mqtt_packet *pkt);
	/* Acknowledgements or output room came: the next step, if any. */
	void (*s_progress)(struct mqtt_client *mc);
	/* Everything in mc_out has been written. */
	void (*s_written)(struct mqtt_client *mc);
};

static const struct mc_state_ops mc_states[MC_NSTATES];

/*
 * Every change of state goes through here. The transitions:
 *   IDLE -> CONNECTING (start) -> HANDSHAKE (TLS) -> WAIT_CONNACK -> CONNECTED;
 *   any of these -> BACKOFF on a failure or loss -> CONNECTING when it fires;
 *   CONNECTED -> STOP_DRAIN (stop: the queue and the messages in flight)
 *   -> STOP_STATUS (`disconnected` published, with a status topic) ->
 *   STOP_BYE (DISCONNECT queued) -> STOPPED once written, or STOPPED
 *   when lost on the way; not connected -> STOPPED.
 */
static void mc_set_state(struct mqtt_client *mc, enum mc_state state)
{
	if (state != mc->mc_state)
		log_debug("broker %s: %s -> %s", mc->mc_addr, mc_states[mc->mc_state].s_name,
		          mc_states[state].s_name);
	mc->mc_state = state;
	mc_congestion(mc);
}

/*
 * Hysteresis on the outbound queue while CONNECTED (see
 * mqtt_client_on_congestion): congested past half of either bound, not
 * congested again at or below a quarter of both; never congested in any
 * other state.
 */
void mc_congestion(struct mqtt_client *mc)
{
	static struct log_limit lim_on, lim_drained, lim_down;
	const struct mqtt_outq *q = &mc->mc_q;
	size_t n = q->q_queue.l_count, bytes = q->q_queue_bytes;
	bool on;

	if (mc->mc_state != MC_CONNECTED)
		on = false;
	else if (mc->mc_congested)
		on = n > q->q_max_messages / 4 || bytes > q->q_max_bytes / 4;
	else
		on = n > q->q_max_messages / 2 || bytes > q->q_max_bytes / 2;
	if (on == mc->mc_congested)
		return;
	mc->mc_congested = on;
	if (on) {
		mc->mc_st.congestions++;
		log_info_limited(&lim_on,
		                 "broker %s: %zu message(s), %zu bytes waiting, over half of "
		                 "queue.max_messages or queue.max_bytes: new requests wait",
		                 mc->mc_addr, n, bytes);
	} else if (mc->mc_state == MC_CONNECTED) {
		log_info_limited(&lim_drained,
		                 "broker %s: queue down to a quarter: requests are read again",
		                 mc->mc_addr);
	} else {
		log_info_limited(&lim_down, "broker %s: not connected: requests are read again",
		                 mc->mc_addr);
	}
	if (mc->mc_on_congestion != NULL)
		mc->mc_on_congestion(mc->mc_on_congestion_ctx, on);
}

void mqtt_client_on_congestion(struct mqtt_client *mc, mqtt_congestion_fn *fn, void *ctx)
{
	mc->mc_on_congestion = fn;
	mc->mc_on_congestion_ctx = ctx;
}

bool mc_linked(const struct mqtt_client *mc)
{
	return mc->mc_state == MC_CONNECTED || mc->mc_state == MC_STOP_DRAIN ||
	       mc->mc_state == MC_STOP_STATUS || mc->mc_state == MC_STOP_BYE;
}

bool mc_stopping(const struct mqtt_client *mc)
{
	return mc->mc_state == MC_STOP_DRAIN || mc->mc_state == MC_STOP_STATUS ||
	       mc->mc_state == MC_STOP_BYE || mc->mc_state == MC_STOPPED;
}

void mc_progress(struct mqtt_client *mc)
{
	if (mc_states[mc->mc_state].s_progress != NULL)
		mc_states[mc->mc_state].s_progress(mc);
}

uint64_t mqtt_backoff_ms(unsigned min_s, unsigned max_s, unsigned attempt, uint32_t rnd)
{
	uint64_t min_ms = (uint64_t)min_s * 1000, max_ms = (uint64_t)max_s * 1000, d = min_ms;
	uint64_t half;

	if (max_ms < min_ms)
		max_ms = min_ms;
	while (attempt-- > 0 && d < max_ms)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Jitter: a random point of the upper half, so that clients that lost
	 * the same broker do not all return at the same instant. */
	half = d / 2;
	d = half + rnd % (d - half + 1);
	return d < min_ms ? min_ms : d;
}

struct mqtt_client *mqtt_client_new(struct loop *loop, const struct mqtt_client_opts *opts)
{
	struct mqtt_client *mc = xcalloc(1, sizeof(*mc));

	mc->mc_loop = loop;
	mc->mc_opts = *opts;
	mc->mc_fd = -1;
	mc_set_state(mc, MC_IDLE);
	mc->mc_rand = (unsigned)loop_clock_ms() ^ (unsigned)getpid();
	mc->mc_inbound = mqtt_inbound_new();
	buf_init(&mc->mc_in);
	buf_init(&mc->mc_out);
	if (opts->lw_topic != NULL) {
		size_t b = strlen(opts->base_topic), t = strlen(opts->lw_topic);

		mc->mc_lw_topic = xmalloc(b + t + 1);
		memcpy(mc->mc_lw_topic, opts->base_topic, b);
		memcpy(mc->mc_lw_topic + b, opts->lw_topic, t + 1);
	}
	net_addr_text(opts->host, opts->port, mc->mc_addr, sizeof(mc->mc_addr));
	mc->mc_subset = mqtt_subset_new(mc->mc_addr, mc_sub_send, mc);
	mq_init(&mc->mc_q, mc->mc_addr, opts->max_inflight, opts->queue_max_messages,
	        opts->queue_max_bytes, mc_sub_id_busy, mc);
	return mc;
}

static void mc_timer_clear(struct mqtt_client *mc)
{
	if (mc->mc_timer != 0)
		loop_timer_del(mc->mc_loop, mc->mc_timer);
	mc->mc_timer = 0;
}

/* The state's timer (connect timeout, backoff or keepalive) in ms. */
static void mc_timer_set(struct mqtt_client *mc, uint64_t ms)
{
	mc->mc_timer = loop_timer_add(mc->mc_loop, (int64_t)ms, mc_timer_fire, mc);
}

static void mc_close_fd(struct mqtt_client *mc)
{
	if (mc->mc_fd < 0)
		return;
	loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_READ | LOOP_WRITE);
	tls_free(mc->mc_tls);
	mc->mc_tls = NULL;
	mc->mc_wblocked = false;
	close(mc->mc_fd);
	mc->mc_fd = -1;
	mc->mc_writing = false;
}

static void mc_schedule_reconnect(struct mqtt_client *mc, const char *what)
{
	uint64_t ms = mqtt_backoff_ms(mc->mc_opts.reconnect_min, mc->mc_opts.reconnect_max,
	                              mc->mc_attempt, (uint32_t)rand_r(&mc->mc_rand));

	mc->mc_attempt++;
	mc_set_state(mc, MC_BACKOFF);
	mc_timer_clear(mc);
	mc_timer_set(mc, ms);
	log_warnx("broker %s%s; retrying in %llu.%llu s", mc->mc_addr, what,
	          (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 100));
}

/*
 * An accepted link ended. The broker closing one after another before
 * they lasted reconnect_max is what two clients with one client id do to
 * each other: each connect takes the other's session over (two daemons
 * on one host with the default id, octomqttd-<hostname>). Said out loud
 * from the third in a row on, rate-limited; keepalive time-outs and our
 * own closes do not count and end the streak.
 */
static void mc_note_quick_close(struct mqtt_client *mc)
{
	static struct log_limit lim;
	uint64_t lasted = loop_now(mc->mc_loop) - mc->mc_connected_at;

	if (!mc->mc_broker_closed || lasted >= (uint64_t)mc->mc_opts.reconnect_max * 1000) {
		mc->mc_quick_closes = 0;
		return;
	}
	if (++mc->mc_quick_closes < 3)
		return;
	log_warnx_limited(&lim,
	                  "broker %s closed %u connections in a row soon after accepting them: "
	                  "another client may be using client id '%s' (set broker.client_id)",
	                  mc->mc_addr, mc->mc_quick_closes, mc->mc_opts.client_id);
}

/*
 * The connection is gone (or never came up): clean up and plan the next
 * try. fmt continues "broker HOST:PORT" in the one log line, so it starts
 * with ": " or a space.
 */
void mc_lost(struct mqtt_client *mc, const char *fmt, ...)
{
	bool was_connected = mc->mc_state == MC_CONNECTED;
	char why[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);

	mc_close_fd(mc);
	mc_timer_clear(mc);
	mc->mc_st.connected = false;
	mq_connection_lost(&mc->mc_q);
	buf_reset(&mc->mc_out);
	buf_reset(&mc->mc_in);
	if (was_connected && mc->mc_broker_closed)
		mq_poison_strike(&mc->mc_q);
	if (was_connected)
		mc_note_quick_close(mc);
	mc->mc_broker_closed = false;
	/* Unacknowledged inbound messages come again from the broker. */
	mqtt_inbound_clear(mc->mc_inbound);
	if (mc_stopping(mc)) {
		mc_set_state(mc, MC_STOPPED);
		return;
	}
	/*
	 * The backoff starts over only after a link that stayed up for
	 * reconnect_max seconds: a broker that accepts and drops at once (an
	 * ACL, a bridge limit, a poison message) is retried ever more slowly.
	 */
	if (was_connected && loop_now(mc->mc_loop) - mc->mc_connected_at >=
	                             (uint64_t)mc->mc_opts.reconnect_max * 1000)
		mc->mc_attempt = 0;
	mc_schedule_reconnect(mc, why);
}

void mc_want_write(struct mqtt_client *mc)
{
	if (mc->mc_fd < 0 || mc->mc_writing || mc->mc_wblocked || buf_len(&mc->mc_out) == 0)
		return;
	if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_WRITE, mc_io, mc) == 0)
		mc->mc_writing = true;
}

/*
 * Write what mc_out holds. 0: written, or the socket is full; -1: the
 * connection was lost, or TLS must read first (the read watcher retries).
 */
static int mc_write_out(struct mqtt_client *mc)
{
	char err[ERR_LEN];

	mc->mc_wblocked = false;
	while (buf_len(&mc->mc_out) > 0) {
		/* mc_out only grows at its tail: what tls_send asks of a retry. */
		ssize_t n = tls_send(mc->mc_tls, mc->mc_fd, buf_data(&mc->mc_out),
		                     buf_len(&mc->mc_out), err, sizeof(err));

		if (n < 0) {
			if (errno != EAGAIN) {
				mc->mc_broker_closed = true;
				mc_lost(mc, ": write failed: %s", err);
				return -1;
			}
			if (mc->mc_tls != NULL && tls_want(mc->mc_tls) == LOOP_READ) {
				/* mbedtls must read first: the read watcher retries us. */
				mc->mc_wblocked = true;
				if (mc->mc_writing)
					loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
				mc->mc_writing = false;
				if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_READ, mc_io, mc) != 0)
					mc_lost(mc, ": descriptor out of range");
				return -1;
			}
			break;
		}
		buf_consume(&mc->mc_out, (size_t)n);
		mq_written(&mc->mc_q, (size_t)n);
		mc->mc_last_sent = loop_now(mc->mc_loop);
	}
	return 0;
}

static void mc_flush(struct mqtt_client *mc)
{
	if (mc_write_out(mc) != 0)
		return;
	/* Room again: messages held back by MC_OUT_HIGH follow. */
	if (buf_len(&mc->mc_out) < MC_OUT_HIGH && mc->mc_q.q_queue.l_count > 0) {
		mc_drain_queue(mc);
		mc_progress(mc);
	}
	if (buf_len(&mc->mc_out) == 0) {
		if (mc->mc_writing)
			loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
		mc->mc_writing = false;
		if (mc_states[mc->mc_state].s_written != NULL)
			mc_states[mc->mc_state].s_written(mc);
	} else {
		mc_want_write(mc);
	}
}

/* Name of the packet type at the head of the input, for log lines. */
static const char *mc_in_type(const struct mqtt_client *mc)
{
	return mqtt_type_name((enum mqtt_type)((uint8_t)buf_data(&mc->mc_in)[0] >> 4));
}

/*
 * Read one chunk, and with TLS go on while mbedtls holds decrypted bytes:
 * the socket would not wake the loop for those.
 */
static void mc_read(struct mqtt_client *mc)
{
	char err[ERR_LEN];

	do {
		ssize_t n;

		buf_reserve(&mc->mc_in, MC_READ_CHUNK);
		n = tls_recv(mc->mc_tls, mc->mc_fd, buf_tail(&mc->mc_in), buf_avail(&mc->mc_in),
		             err, sizeof(err));
		if (n < 0) {
			if (errno != EAGAIN) {
				mc->mc_broker_closed = true;
				mc_lost(mc, ": read failed: %s", err);
			}
			return;
		}
		if (n == 0) {
			mc->mc_broker_closed = true;
			/* Brokers close without a CONNACK when they do not speak
			 * the protocol level of CONNECT (§3.1.2.2 allows it). */
			if (mc->mc_state == MC_WAIT_CONNACK)
				mc_lost(mc, " closed before CONNACK: wrong protocol version?");
			else
				mc_lost(mc, " closed the connection");
			return;
		}
		buf_produced(&mc->mc_in, (size_t)n);
		mc_input(mc);
		/* mc_input may have dropped the connection (mc_tls is NULL then). */
	} while (mc->mc_fd >= 0 && !mc->mc_paused && tls_pending(mc->mc_tls));
}

/* broker.tls: drive the handshake; CONNECT follows once it is done. */
static void mc_tls_step(struct mqtt_client *mc)
{
	char err[ERR_LEN], info[128];
	int rc = tls_handshake(mc->mc_tls, err, sizeof(err));
	int want;

	if (rc == TLS_FAIL) {
		mc_lost(mc, ": TLS handshake failed: %s", err);
		return;
	}
	if (rc == TLS_OK) {
		log_info("broker %s: TLS established (%s)", mc->mc_addr,
		         tls_describe(mc->mc_tls, info, sizeof(info)));
		loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
		mc->mc_writing = false;
		mc_tcp_up(mc);
		return;
	}
	want = tls_want(mc->mc_tls);
	loop_unwatch(mc->mc_loop, mc->mc_fd, (LOOP_READ | LOOP_WRITE) & ~want);
	if (loop_watch(mc->mc_loop, mc->mc_fd, want, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return;
	}
	mc->mc_writing = want == LOOP_WRITE;
}

/* TCP is up: TLS first when configured, else CONNECT at once. */
static void mc_link_up(struct mqtt_client *mc)
{
	char err[ERR_LEN];

	if (mc->mc_tls_conf == NULL) {
		log_debug("broker %s: TCP connected, sending CONNECT", mc->mc_addr);
		loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
		mc->mc_writing = false;
		mc_tcp_up(mc);
		return;
	}
	log_debug("broker %s: TCP connected, starting TLS", mc->mc_addr);
	mc->mc_tls = tls_new(mc->mc_tls_conf, mc->mc_fd, mc->mc_opts.host, err, sizeof(err));
	if (mc->mc_tls == NULL) {
		mc_lost(mc, ": %s", err);
		return;
	}
	mc_set_state(mc, MC_HANDSHAKE);
	mc_tls_step(mc);
}

/* Handle the whole packets in mc_in (bytes just arrived from the broker). */
static void mc_input(struct mqtt_client *mc)
{
	mc->mc_last_recv = loop_now(mc->mc_loop);
	for (;;) {
		struct mqtt_packet pkt;
		size_t used = 0;
		enum mqtt_rc rc;
		enum mc_state before = mc->mc_state;

		rc = mqtt_decode((const uint8_t *)buf_data(&mc->mc_in), buf_len(&mc->mc_in),
		                 mc->mc_opts.max_packet, &pkt, &used);
		if (rc == MQTT_NEED_MORE)
			break;
		if (rc == MQTT_MALFORMED) {
			mc_lost(mc, " sent a malformed %s packet, connection dropped",
			        mc_in_type(mc));
			return;
		}
		if (rc == MQTT_TOO_LARGE) {
			mc_lost(mc,
			        " sent a %s packet larger than broker.max_packet (%zu bytes), "
			        "connection dropped",
			        mc_in_type(mc), mc->mc_opts.max_packet);
			return;
		}
		if (mc_states[mc->mc_state].s_packet != NULL)
			mc_states[mc->mc_state].s_packet(mc, &pkt);
		/* The handler may have closed the connection (buffers reset). */
		if (mc->mc_fd < 0 || (before == MC_WAIT_CONNACK && mc->mc_state != MC_CONNECTED))
			return;
		buf_consume(&mc->mc_in, used);
	}
}

static void mc_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct mqtt_client *mc = arg;

	if (mc_states[mc->mc_state].s_io != NULL)
		mc_states[mc->mc_state].s_io(mc, fd, mask);
}

static int64_t mc_timer_fire(struct loop *loop, uint64_t id, void *arg)
{
	struct mqtt_client *mc = arg;

	if (mc_states[mc->mc_state].s_timer == NULL) {
		mc->mc_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return mc_states[mc->mc_state].s_timer(mc);
}

static void mc_connect(struct mqtt_client *mc)
{
	char err[ERR_LEN];
	int fd;

	if (mc->mc_ever_connected || mc->mc_attempt > 0)
		mc->mc_st.reconnects++;
	log_debug("connecting to broker %s", mc->mc_addr);
	fd = net_connect(mc->mc_opts.host, mc->mc_opts.port, err, sizeof(err));
	if (fd < 0) {
		char why[ERR_LEN];

		err_printf(why, sizeof(why), ": connect failed: %s", err);
		mc_schedule_reconnect(mc, why);
		return;
	}
	/*
	 * Backpressure: what the broker has not taken waits in mc_out and
	 * the queue, where mc_congestion() sees it, not in a kernel send
	 * buffer that autotuning grows to megabytes. Best effort.
	 */
	if (net_set_notsent_lowat(fd, MC_OUT_HIGH) != 0)
		log_debug("broker %s: TCP_NOTSENT_LOWAT: %s", mc->mc_addr, strerror(errno));
	mc->mc_fd = fd;
	mc_set_state(mc, MC_CONNECTING);
	/* mc_io is the callback for both directions; loop_watch keeps one per fd. */
	if (loop_watch(mc->mc_loop, fd, LOOP_WRITE, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return;
	}
	mc->mc_writing = true;
	mc_timer_set(mc, MC_CONNECT_TIMEOUT_MS);
}

/* TCP is up on mc_fd: read from it, send CONNECT. */
static int mc_tcp_up(struct mqtt_client *mc)
{
	if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_READ, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return -1;
	}
	mc->mc_last_recv = mc->mc_last_sent = loop_now(mc->mc_loop);
	mc_session_connect(mc);
	mc_set_state(mc, MC_WAIT_CONNACK);
	return 0;
}

/* ---- The states' handlers, in the order of mc_states[]. ---- */

/* CONNECTING: the socket is writable: the TCP connect has ended. */
static void mc_connecting_io(struct mqtt_client *mc, int fd, int mask)
{
	char err[ERR_LEN];

	if (net_connect_result(fd, err, sizeof(err)) != 0) {
		mc_lost(mc, ": connect failed: %s", err);
		return;
	}
	mc_link_up(mc);
}

/* CONNECTING, HANDSHAKE, WAIT_CONNACK: TCP, TLS and CONNACK have a time limit together. */
static int64_t mc_connect_timeout(struct mqtt_client *mc)
{
	mc->mc_timer = 0;
	if (mc->mc_state == MC_CONNECTING)
		mc_lost(mc, ": connect timed out after %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	else if (mc->mc_state == MC_HANDSHAKE)
		mc_lost(mc, ": TLS handshake not done within %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	else
		mc_lost(mc, ": no CONNACK within %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	return LOOP_TIMER_STOP;
}

/* HANDSHAKE: the socket is ready for the next TLS step. */
static void mc_handshake_io(struct mqtt_client *mc, int fd, int mask)
{
	mc_tls_step(mc);
}

/* WAIT_CONNACK and the stop states: read what came, write what waits. */
static void mc_link_io(struct mqtt_client *mc, int fd, int mask)
{
	if (mask & LOOP_READ)
		mc_read(mc);
	/* The read may have dropped the connection. */
	if (mc->mc_fd == fd && ((mask & LOOP_WRITE) || mc->mc_wblocked))
		mc_flush(mc);
}

static void mc_connack(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	if (pkt->return_code != 0) {
		mc_lost(mc, " refused the connection: %s (%u)", mqtt_connack_str(pkt->return_code),
		        pkt->return_code);
		return;
	}
	mc_timer_clear(mc);
	mc_set_state(mc, MC_CONNECTED);
	/* mc_attempt is reset in mc_lost() once the link stayed up long enough. */
	mc->mc_connected_at = loop_now(mc->mc_loop);
	mc->mc_ping_sent = 0;
	mc->mc_st.connected = true;
	mc->mc_st.connects++;
	mc->mc_ever_connected = true;
	log_info("connected to broker %s%s", mc->mc_addr,
	         pkt->session_present ? " (session resumed)" : "");
	mc_session_start(mc, pkt->session_present);
	if (mc->mc_opts.keepalive > 0)
		mc_timer_set(mc, (uint64_t)mc->mc_opts.keepalive * 1000);
}

/* WAIT_CONNACK: the first packet must be CONNACK. */
static void mc_wait_connack_packet(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	if (pkt->type != MQTT_CONNACK) {
		mc_lost(mc, " sent %s before CONNACK, connection dropped",
		        mqtt_type_name(pkt->type));
		return;
	}
	mc_connack(mc, pkt);
}

/* CONNECTED: as mc_link_io, but while paused the bytes stay in the socket. */
static void mc_connected_io(struct mqtt_client *mc, int fd, int mask)
{
	if ((mask & LOOP_READ) && mc->mc_paused) {
		/* Paused: leave the bytes in the socket; the broker waits. */
		loop_unwatch(mc->mc_loop, fd, LOOP_READ);
		mask &= ~LOOP_READ;
	}
	mc_link_io(mc, fd, mask);
}

/*
 * CONNECTED: keepalive (DESIGN §4 broker.keepalive). MQTT asks the client
 * to send something within every keepalive period (§3.1.2.10); we also
 * want to hear from the broker that often. So a PINGREQ goes out when
 * either direction has been silent for keepalive seconds: a steady stream
 * of QoS 0 publishes, which the broker never answers, gets a PINGRESP
 * every keepalive seconds instead of a dead-link verdict. The link is
 * dead only when a PINGREQ has gone keepalive seconds without an answer
 * and nothing else arrived meanwhile (a PINGRESP queued behind a burst of
 * inbound messages is late, not missing).
 */
static int64_t mc_keepalive(struct mqtt_client *mc)
{
	uint64_t now = loop_clock_ms(), ka = (uint64_t)mc->mc_opts.keepalive * 1000;
	uint64_t idle;

	/* Paused, the broker's answers wait unread: silence is not death. */
	if (mc->mc_paused)
		mc->mc_last_recv = now;
	if (mc->mc_ping_sent != 0) {
		uint64_t heard =
		        mc->mc_ping_sent > mc->mc_last_recv ? mc->mc_ping_sent : mc->mc_last_recv;

		if (now >= heard + ka) {
			mc->mc_timer = 0;
			mc->mc_st.pings_unanswered++;
			mc_lost(mc, ": no PINGRESP within %llu s, reconnecting",
			        (unsigned long long)(ka / 1000));
			return LOOP_TIMER_STOP;
		}
		return (int64_t)(heard + ka - now);
	}
	idle = mc->mc_last_sent < mc->mc_last_recv ? mc->mc_last_sent : mc->mc_last_recv;
	if (now < idle + ka)
		return (int64_t)(idle + ka - now);
	mqtt_encode_empty(&mc->mc_out, MQTT_PINGREQ);
	mc->mc_st.pings_sent++;
	mc->mc_ping_sent = now;
	mc->mc_last_sent = now;
	mc_want_write(mc);
	return (int64_t)ka;
}

/* BACKOFF: the wait is over, the next attempt. */
static int64_t mc_backoff_over(struct mqtt_client *mc)
{
	mc->mc_timer = 0;
	mc_connect(mc);
	return LOOP_TIMER_STOP;
}

/*
 * Stopping, step by step (mc_progress): the offline queue and the
 * messages in flight go out and are acknowledged (STOP_DRAIN); then
 * `disconnected` is published (STOP_STATUS); once the broker acknowledged
 * it, DISCONNECT (STOP_BYE). The caller bounds the wait (shutdown.grace);
 * if it ends first, the connection closes without DISCONNECT and the
 * broker publishes the will instead.
 */
static bool mc_stop_drained(struct mqtt_client *mc)
{
	mc_drain_queue(mc);
	return mc->mc_q.q_queue.l_count == 0 && mq_inflight_user(&mc->mc_q) == 0;
}

/* STOP_STATUS: once no status message is in flight, DISCONNECT. */
static void mc_stop_status_progress(struct mqtt_client *mc)
{
	if (!mc_stop_drained(mc) || mc->mc_q.q_status_inflight > 0)
		return;
	mqtt_encode_empty(&mc->mc_out, MQTT_DISCONNECT);
	mc_set_state(mc, MC_STOP_BYE);
	mc_want_write(mc);
}

/* STOP_DRAIN: all acknowledged: `disconnected` (with a status topic), or DISCONNECT. */
static void mc_stop_drain_progress(struct mqtt_client *mc)
{
	if (mc->mc_lw_topic == NULL) {
		mc_stop_status_progress(mc);
		return;
	}
	if (!mc_stop_drained(mc))
		return;
	mc_set_state(mc, MC_STOP_STATUS);
	mc_send_status(mc, "disconnected");
}

/* STOP_BYE: DISCONNECT is written: close. */
static void mc_stop_bye_written(struct mqtt_client *mc)
{
	mc_close_fd(mc);
	mc_timer_clear(mc);
	mc->mc_st.connected = false;
	mc_set_state(mc, MC_STOPPED);
	log_info("disconnected from broker %s", mc->mc_addr);
}

static const struct mc_state_ops mc_states[MC_NSTATES] = {
        [MC_IDLE] = {.s_name = "idle"},
        [MC_CONNECTING] = {.s_name = "connecting",
                           .s_io = mc_connecting_io,
                           .s_timer = mc_connect_timeout},
        [MC_HANDSHAKE] = {.s_name = "handshake",
                          .s_io = mc_handshake_io,
                          .s_timer = mc_connect_timeout},
        [MC_WAIT_CONNACK] = {.s_name = "wait-connack",
                             .s_io = mc_link_io,
                             .s_timer = mc_connect_timeout,
                             .s_packet = mc_wait_connack_packet},
        [MC_CONNECTED] = {.s_name = "connected",
                          .s_io = mc_connected_io,
                          .s_timer = mc_keepalive,
                          .s_packet = mc_session_packet},
        [MC_BACKOFF] = {.s_name = "backoff", .s_timer = mc_backoff_over},
        [MC_STOP_DRAIN] = {.s_name = "stop-drain",
                           .s_io = mc_link_io,
                           .s_packet = mc_session_packet,
                           .s_progress = mc_stop_drain_progress},
        [MC_STOP_STATUS] = {.s_name = "stop-status",
                            .s_io = mc_link_io,
                            .s_packet = mc_session_packet,
                            .s_progress = mc_stop_status_progress},
        [MC_STOP_BYE] = {.s_name = "stop-bye",
                         .s_io = mc_link_io,
                         .s_packet = mc_session_packet,
                         .s_written = mc_stop_bye_written},
        [MC_STOPPED] = {.s_name = "stopped"},
};

/* ---- The public calls. ---- */

void mqtt_client_attach(struct mqtt_client *mc, int fd)
{
	mc_timer_clear(mc);
	mc_close_fd(mc);
	mc->mc_fd = fd;
	mc_set_state(mc, MC_CONNECTING);
	mc_tcp_up(mc);
}

int mqtt_client_input(struct mqtt_client *mc, const void *data, size_t len)
{
	if (mc->mc_fd < 0)
		return -1;
	buf_append(&mc->mc_in, data, len);
	mc_input(mc);
	return mc->mc_fd >= 0 ? 0 : -1;
}

void mqtt_client_start(struct mqtt_client *mc)
{
	if (mc->mc_state != MC_IDLE)
		return;
	mc_connect(mc);
}

static int64_t mc_resume_fire(struct loop *loop, uint64_t id, void *arg)
{
	struct mqtt_client *mc = arg;

	mc->mc_resume_timer = 0;
	if (mc->mc_fd >= 0 && !mc->mc_paused && mc->mc_state != MC_HANDSHAKE &&
	    tls_pending(mc->mc_tls))
		mc_read(mc);
	return LOOP_TIMER_STOP;
}

void mqtt_client_pause(struct mqtt_client *mc, bool paused)
{
	if (paused == mc->mc_paused)
		return;
	mc->mc_paused = paused;
	if (paused) {
		mc->mc_st.pauses++;
		log_debug("broker %s: deliveries backed up, reading paused", mc->mc_addr);
		if (mc->mc_fd >= 0 && mc->mc_state == MC_CONNECTED)
			loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_READ);
		return;
	}
	log_debug("broker %s: reading resumed", mc->mc_addr);
	if (mc->mc_fd >= 0 && mc->mc_state != MC_CONNECTING && mc->mc_state != MC_HANDSHAKE &&
	    loop_watch(mc->mc_loop, mc->mc_fd, LOOP_READ, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return;
	}
	/* Bytes mbedtls decrypted before the pause do not make the socket readable. */
	if (tls_pending(mc->mc_tls) && mc->mc_resume_timer == 0)
		mc->mc_resume_timer = loop_timer_add(mc->mc_loop, 0, mc_resume_fire, mc);
}

void mqtt_client_tls(struct mqtt_client *mc, struct tls_conf *conf)
{
	mc->mc_tls_conf = conf;
}

bool mqtt_client_connected(const struct mqtt_client *mc)
{
	return mc->mc_state == MC_CONNECTED;
}

void mqtt_client_stop(struct mqtt_client *mc)
{
	if (mc_stopping(mc))
		return;
	mc_timer_clear(mc);
	if (mc->mc_state != MC_CONNECTED) {
		mc_close_fd(mc);
		mc_set_state(mc, MC_STOPPED);
		return;
	}
	mc_set_state(mc, MC_STOP_DRAIN);
	mc_progress(mc);
}

bool mqtt_client_stopped(const struct mqtt_client *mc)
{
	return mc->mc_state == MC_STOPPED;
}

void mqtt_client_free(struct mqtt_client *mc)
{
	if (mc == NULL)
		return;
	mc_timer_clear(mc);
	if (mc->mc_resume_timer != 0)
		loop_timer_del(mc->mc_loop, mc->mc_resume_timer);
	mc_close_fd(mc);
	mq_free(&mc->mc_q);
	mqtt_subset_free(mc->mc_subset);
	mqtt_inbound_free(mc->mc_inbound);
	buf_free(&mc->mc_in);
	buf_free(&mc->mc_out);
	free(mc->mc_lw_topic);
	free(mc);
}
