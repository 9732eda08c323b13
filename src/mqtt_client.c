/*
 * mqtt_client: the broker connection on the loop (see mqtt_client.h).
 *
 * Messages live in one of three places:
 *   mc_queue     accepted, not yet handed to a connection (offline queue,
 *                and QoS 1/2 messages waiting for room in the window);
 *   mc_unwritten QoS 0 messages encoded into mc_out whose bytes have not
 *                all been written to the socket yet;
 *   mc_inflight  QoS 1/2 messages sent and not yet acknowledged.
 * A message leaves the client only when written (QoS 0), acknowledged
 * (QoS 1/2), or counted in `dropped` and logged. Nothing disappears.
 *
 * Broker names are resolved with getaddrinfo() in net_connect(), which
 * blocks the loop while it runs; see doc/CHOICES.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "mqtt_queue.h"
#include "mqtt_subset.h"
#include "net.h"
#include "spool.h"
#include "tls.h"

/*
 * TCP connect plus CONNACK must complete within this time. A fixed bound
 * rather than one derived from the keepalive: keepalive may be 0 (no bound
 * at all) or 65535 s, neither a sensible wait for a handshake.
 */
#define MC_CONNECT_TIMEOUT_MS 10000
#define MC_READ_CHUNK         16384
/*
 * Poison messages (DESIGN §7): the broker closing this many connections in
 * a row with the same message at the head drops that message.
 */
#define MC_POISON_STRIKES 3
/*
 * Encoded bytes waiting for the socket, at most about this many: beyond
 * it messages wait in the queue (one copy each, bounded by queue.*)
 * instead of growing the output buffer while the broker is slow.
 */
#define MC_OUT_HIGH 65536
/*
 * Inbound QoS 2 packet ids awaiting PUBREL: one bit per possible id, so
 * every one is remembered however many the broker leaves unreleased (a
 * fixed list would have to forget some, and a forgotten id's duplicate
 * would be delivered twice). 8 KiB, allocated with the client.
 */
#define MC_QOS2_BYTES (65536 / 8)

enum mc_state {
	MC_IDLE,         /* not started */
	MC_CONNECTING,   /* TCP connect in progress */
	MC_HANDSHAKE,    /* TLS handshake in progress */
	MC_WAIT_CONNACK, /* CONNECT sent */
	MC_CONNECTED,
	MC_BACKOFF,  /* waiting to reconnect */
	MC_STOPPING, /* waiting for the PUBACK of `disconnected`, or DISCONNECT queued */
	MC_STOPPED,
};

/* An inbound QoS 1/2 message whose PUBACK/PUBREC waits for its delivery. */
struct mc_pending_ack {
	uint64_t a_token;
	uint16_t a_id;
	enum mqtt_type a_type; /* MQTT_PUBACK or MQTT_PUBREC */
	bool a_ready;          /* mqtt_client_ack() was called */
};

struct mqtt_client {
	struct loop *mc_loop;
	const struct cfg *mc_cfg;
	enum mc_state mc_state;
	int mc_fd;
	struct tls_conf *mc_tls_conf; /* broker.tls: sessions come from here; NULL: plain TCP */
	struct tls *mc_tls;           /* the session on mc_fd, or NULL */
	bool mc_wblocked;             /* a TLS write waits for readability (tls_want) */
	uint64_t mc_resume_timer;     /* reads what TLS holds after a pause ends */
	char mc_addr[NET_ADDR_LEN];
	struct buf mc_in, mc_out;
	uint64_t mc_out_written; /* bytes of mc_out written on this connection */
	struct mq_list mc_queue, mc_unwritten, mc_inflight;
	size_t mc_queue_bytes;
	uint16_t mc_next_id;
	uint8_t *mc_qos2_ids; /* MC_QOS2_BYTES: bit `id` set from PUBLISH to PUBREL */
	unsigned mc_attempt;  /* consecutive failed attempts */
	uint64_t mc_timer;    /* connect timeout, backoff or keepalive timer */
	uint64_t mc_last_sent, mc_last_recv;
	uint64_t mc_ping_sent;    /* when the unanswered PINGREQ went out; 0: none */
	uint64_t mc_connected_at; /* loop time of the last accepted CONNACK */
	size_t mc_window;         /* broker.max_inflight */
	/* Poison messages: the message at the head when the broker last closed
	 * the connection, and how many closes in a row found it there. */
	const struct mq_msg *mc_suspect;
	unsigned mc_strikes;
	bool mc_broker_closed; /* the connection being lost was closed by the broker */
	bool mc_writing;       /* write watcher installed */
	bool mc_paused;        /* mqtt_client_pause(): not reading from the broker */
	bool mc_ever_connected;
	unsigned mc_rand;
	char *mc_lw_topic;         /* baseTopic + lwTopic; NULL: no will, no status */
	size_t mc_status_inflight; /* status messages in mc_inflight (not in stats) */
	bool mc_bye_done;          /* DISCONNECT queued: close once written */
	bool mc_bye_sent;          /* `disconnected` published while stopping */
	bool mc_host_down;         /* mqtt_client_set_host_up(false): status says `disconnected` */
	struct spool *mc_spool;    /* queue.spool, or NULL */
	/* Inbound: the delivery hook and the acknowledgements waiting for it,
	 * in arrival order ([head, n) of the array). */
	mqtt_message_fn *mc_on_message;
	void *mc_on_message_ctx;
	struct mc_pending_ack *mc_acks;
	size_t mc_acks_head, mc_acks_n, mc_acks_cap;
	uint64_t mc_token_next;
	struct mqtt_subset *mc_subset; /* the subscription set */
	struct mqtt_client_stats mc_st;
};

static void mc_connect(struct mqtt_client *mc);
static void mc_poison_strike(struct mqtt_client *mc);
static void mc_lost(struct mqtt_client *mc, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void mc_drain_queue(struct mqtt_client *mc);
static void mc_stop_progress(struct mqtt_client *mc);
static void mc_io(struct loop *loop, int fd, int mask, void *arg);
static uint16_t mc_sub_send(void *ctx, bool subscribe, const char *filter, size_t len, int qos);

/*
 * Every change of state goes through here. The transitions:
 *   IDLE -> CONNECTING (start) -> HANDSHAKE (TLS) -> WAIT_CONNACK -> CONNECTED;
 *   any of these -> BACKOFF on a failure or loss -> CONNECTING when it fires;
 *   CONNECTED -> STOPPING (stop: queue, in flight, `disconnected`,
 *   DISCONNECT) -> STOPPED once written or lost; not connected -> STOPPED.
 */
static void mc_set_state(struct mqtt_client *mc, enum mc_state state)
{
	mc->mc_state = state;
}

/* The message needs no (re)delivery any more: out of the spool, freed. */
static void mc_msg_done(struct mqtt_client *mc, struct mq_msg *m)
{
	if (m == mc->mc_suspect)
		mc->mc_suspect = NULL;
	if (m->m_seq != 0 && mc->mc_spool != NULL)
		spool_done(mc->mc_spool, m->m_seq);
	mq_msg_free(m);
}

/*
 * A status message still in flight (or waiting for room in the window)
 * when its connection ended is dropped, not re-sent: the next connection
 * publishes a fresh `connected`, and a stale one resent before it would
 * only repeat it.
 */
static void mc_drop_status(struct mqtt_client *mc)
{
	mq_drop_status(&mc->mc_inflight);
	mc->mc_queue_bytes -= mq_drop_status(&mc->mc_queue);
	mc->mc_status_inflight = 0;
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

struct mqtt_client *mqtt_client_new(struct loop *loop, const struct cfg *cfg)
{
	struct mqtt_client *mc = xcalloc(1, sizeof(*mc));

	mc->mc_loop = loop;
	mc->mc_cfg = cfg;
	mc->mc_fd = -1;
	mc_set_state(mc, MC_IDLE);
	mc->mc_next_id = 1;
	mc->mc_rand = (unsigned)loop_clock_ms() ^ (unsigned)getpid();
	mc->mc_qos2_ids = xcalloc(1, MC_QOS2_BYTES);
	mc->mc_window = cfg->broker_max_inflight;
	buf_init(&mc->mc_in);
	buf_init(&mc->mc_out);
	if (cfg_lw_enabled(cfg)) {
		size_t b = strlen(cfg->pub_base_topic), t = strlen(cfg->pub_lw_topic);

		mc->mc_lw_topic = xmalloc(b + t + 1);
		memcpy(mc->mc_lw_topic, cfg->pub_base_topic, b);
		memcpy(mc->mc_lw_topic + b, cfg->pub_lw_topic, t + 1);
	}
	net_addr_text(cfg->broker_host, cfg->broker_port, mc->mc_addr, sizeof(mc->mc_addr));
	mc->mc_subset = mqtt_subset_new(mc->mc_addr, mc_sub_send, mc);
	return mc;
}

static void mc_timer_clear(struct mqtt_client *mc)
{
	if (mc->mc_timer != 0)
		loop_timer_del(mc->mc_loop, mc->mc_timer);
	mc->mc_timer = 0;
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

/*
 * After a connection ends: QoS 0 messages not completely written go back
 * to the head of the queue if they may wait, else they are counted and
 * logged. QoS 1/2 messages stay in flight for the next connection.
 */
static void mc_reclaim_unwritten(struct mqtt_client *mc)
{
	struct mq_list back = {0};
	struct mq_msg *m;
	uint64_t lost = 0;

	while ((m = mq_pop(&mc->mc_unwritten)) != NULL) {
		if (m->m_end <= mc->mc_out_written) {
			mc_msg_done(mc, m);
			mc->mc_st.published++;
		} else if (m->m_queueable || m->m_seq != 0) {
			/* Spooled messages were accepted for delivery: they wait too. */
			mq_push(&back, m);
			mc->mc_queue_bytes += mq_msg_size(m);
		} else {
			lost++;
			mc_msg_done(mc, m);
		}
	}
	mq_prepend(&mc->mc_queue, &back);
	if (lost > 0) {
		mc->mc_st.dropped += lost;
		log_warnx("broker %s: %llu QoS 0 message(s) not sent before the connection "
		          "closed, dropped (not queueable)",
		          mc->mc_addr, (unsigned long long)lost);
	}
	buf_reset(&mc->mc_out);
	buf_reset(&mc->mc_in);
	mc->mc_out_written = 0;
}

static int64_t mc_backoff_fire(struct loop *loop, uint64_t id, void *arg)
{
	struct mqtt_client *mc = arg;

	mc->mc_timer = 0;
	mc_connect(mc);
	return LOOP_TIMER_STOP;
}

static void mc_schedule_reconnect(struct mqtt_client *mc, const char *what)
{
	uint64_t ms =
	        mqtt_backoff_ms(mc->mc_cfg->broker_reconnect_min, mc->mc_cfg->broker_reconnect_max,
	                        mc->mc_attempt, (uint32_t)rand_r(&mc->mc_rand));

	mc->mc_attempt++;
	mc_set_state(mc, MC_BACKOFF);
	mc_timer_clear(mc);
	mc->mc_timer = loop_timer_add(mc->mc_loop, (int64_t)ms, mc_backoff_fire, mc);
	log_warnx("broker %s%s; retrying in %llu.%llu s", mc->mc_addr, what,
	          (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 100));
}

/*
 * The connection is gone (or never came up): clean up and plan the next
 * try. fmt continues "broker HOST:PORT" in the one log line, so it starts
 * with ": " or a space.
 */
static void mc_lost(struct mqtt_client *mc, const char *fmt, ...)
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
	mc_reclaim_unwritten(mc);
	mc_drop_status(mc);
	if (was_connected && mc->mc_broker_closed)
		mc_poison_strike(mc);
	mc->mc_broker_closed = false;
	/* Unacknowledged inbound messages come again from the broker. */
	mc->mc_acks_head = mc->mc_acks_n = 0;
	if (mc->mc_state == MC_STOPPING || mc->mc_state == MC_STOPPED) {
		mc_set_state(mc, MC_STOPPED);
		return;
	}
	/*
	 * The backoff starts over only after a link that stayed up for
	 * reconnect_max seconds: a broker that accepts and drops at once (an
	 * ACL, a bridge limit, a poison message) is retried ever more slowly.
	 */
	if (was_connected && loop_now(mc->mc_loop) - mc->mc_connected_at >=
	                             (uint64_t)mc->mc_cfg->broker_reconnect_max * 1000)
		mc->mc_attempt = 0;
	mc_schedule_reconnect(mc, why);
}

/*
 * The broker closed a connection that had been accepted (DESIGN §7, last
 * point). The message it was busy with is the oldest unacknowledged one
 * or, with none in flight, the next to send (mc_lost has put unwritten
 * QoS 0 messages back at the head of the queue by now). A broker that
 * closes on such a message (larger than its max_packet_size, refused by a
 * plugin) would close on it again on every connect and nothing behind it
 * would ever go out: the third close in a row with the same message there
 * drops it. A close with another message there, or none, starts counting
 * again; a connection that ends any other way (keepalive, timeouts) counts
 * neither way.
 */
static void mc_poison_strike(struct mqtt_client *mc)
{
	struct mq_list *l = mc->mc_inflight.l_head != NULL ? &mc->mc_inflight : &mc->mc_queue;
	struct mq_msg *m = l->l_head;

	if (m == NULL || m->m_status) {
		mc->mc_suspect = NULL;
		mc->mc_strikes = 0;
		return;
	}
	if (m != mc->mc_suspect) {
		mc->mc_suspect = m;
		mc->mc_strikes = 0;
	}
	if (++mc->mc_strikes < MC_POISON_STRIKES)
		return;
	mq_pop(l);
	if (l == &mc->mc_queue)
		mc->mc_queue_bytes -= mq_msg_size(m);
	mc->mc_st.dropped++;
	mc->mc_st.poison_dropped++;
	log_warnx("broker %s closed the connection %d times in a row with the message on '%.*s' "
	          "(%zu bytes payload, QoS %d) next: dropped it",
	          mc->mc_addr, MC_POISON_STRIKES, (int)m->m_topic_len, mq_msg_topic(m),
	          m->m_payload_len, m->m_qos);
	mc_msg_done(mc, m);
	mc->mc_strikes = 0;
}

static void mc_want_write(struct mqtt_client *mc)
{
	if (mc->mc_fd < 0 || mc->mc_writing || mc->mc_wblocked || buf_len(&mc->mc_out) == 0)
		return;
	if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_WRITE, mc_io, mc) == 0)
		mc->mc_writing = true;
}

/* Bytes were written: QoS 0 messages now fully on the wire are done. */
static void mc_written(struct mqtt_client *mc, size_t n)
{
	struct mq_msg *m;

	mc->mc_out_written += n;
	mc->mc_last_sent = loop_now(mc->mc_loop);
	/* QoS 0 counts as published once all of its bytes are written. */
	while ((m = mc->mc_unwritten.l_head) != NULL && m->m_end <= mc->mc_out_written) {
		mq_pop(&mc->mc_unwritten);
		mc_msg_done(mc, m);
		mc->mc_st.published++;
	}
}

static void mc_flush(struct mqtt_client *mc)
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
				return;
			}
			if (mc->mc_tls != NULL && tls_want(mc->mc_tls) == LOOP_READ) {
				/* mbedtls must read first: the read watcher retries us. */
				mc->mc_wblocked = true;
				if (mc->mc_writing)
					loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
				mc->mc_writing = false;
				if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_READ, mc_io, mc) != 0)
					mc_lost(mc, ": descriptor out of range");
				return;
			}
			break;
		}
		buf_consume(&mc->mc_out, (size_t)n);
		mc_written(mc, (size_t)n);
	}
	/* Room again: messages held back by MC_OUT_HIGH follow. */
	if (buf_len(&mc->mc_out) < MC_OUT_HIGH && mc->mc_queue.l_count > 0) {
		mc_drain_queue(mc);
		mc_stop_progress(mc);
	}
	if (buf_len(&mc->mc_out) == 0) {
		if (mc->mc_writing)
			loop_unwatch(mc->mc_loop, mc->mc_fd, LOOP_WRITE);
		mc->mc_writing = false;
		if (mc->mc_state == MC_STOPPING && mc->mc_bye_done) {
			mc_close_fd(mc);
			mc_timer_clear(mc);
			mc->mc_st.connected = false;
			mc_set_state(mc, MC_STOPPED);
			log_info("disconnected from broker %s", mc->mc_addr);
		}
	} else {
		mc_want_write(mc);
	}
}

static uint16_t mc_new_id(struct mqtt_client *mc)
{
	for (;;) {
		uint16_t id = mc->mc_next_id;
		struct mq_msg *m;

		mc->mc_next_id = mc->mc_next_id == 65535 ? 1 : mc->mc_next_id + 1;
		for (m = mc->mc_inflight.l_head; m != NULL; m = m->m_next) {
			if (m->m_id == id)
				break;
		}
		/* Far fewer than 65535 ids are ever in use: a free one is found. */
		if (m == NULL && !mqtt_subset_uses_id(mc->mc_subset, id))
			return id;
	}
}

/* Encode one message onto the connection. */
static void mc_send(struct mqtt_client *mc, struct mq_msg *m, bool dup)
{
	if (m->m_qos > 0 && m->m_pubrec) {
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBREL, m->m_id);
	} else {
		mqtt_encode_publish(&mc->mc_out, mq_msg_topic(m), m->m_topic_len, mq_msg_payload(m),
		                    m->m_payload_len, m->m_qos, m->m_retain, dup, m->m_id);
	}
	if (m->m_qos > 0 && !m->m_counted) {
		m->m_counted = true;
		mc->mc_st.published++;
	}
	if (m->m_qos == 0) {
		m->m_end = mc->mc_out_written + buf_len(&mc->mc_out);
		mq_push(&mc->mc_unwritten, m);
	}
	mc_want_write(mc);
}

/* Move queued messages onto the connection while the window allows. */
static void mc_drain_queue(struct mqtt_client *mc)
{
	struct mq_msg *m;

	while ((mc->mc_state == MC_CONNECTED || mc->mc_state == MC_STOPPING) &&
	       (m = mc->mc_queue.l_head) != NULL && buf_len(&mc->mc_out) < MC_OUT_HIGH) {
		if (m->m_qos > 0 && mc->mc_inflight.l_count >= mc->mc_window)
			break;
		mq_pop(&mc->mc_queue);
		mc->mc_queue_bytes -= mq_msg_size(m);
		if (m->m_qos > 0) {
			m->m_id = mc_new_id(mc);
			mq_push(&mc->mc_inflight, m);
			mc->mc_status_inflight += m->m_status;
		}
		mc_send(mc, m, false);
	}
}

/*
 * A status message (`connected`, `disconnected`) on the will topic: QoS 1,
 * retained per broker.lwRetain. It must not wait behind the offline queue,
 * but it counts in the broker's in-flight quota like any QoS 1 message (a
 * broker over its quota acknowledges and discards): with the window full
 * it waits at the head of the queue for the first acknowledgement. Not a
 * user message: never counted in the stats.
 */
static void mc_send_status(struct mqtt_client *mc, const char *text)
{
	struct mq_msg *m = mq_msg_new(mc->mc_lw_topic, strlen(mc->mc_lw_topic), text, strlen(text),
	                              1, mc->mc_cfg->broker_lw_retain, false);
	struct mq_list front = {0};

	m->m_status = true;
	m->m_counted = true;
	log_debug("broker %s: publishing '%s' on %s", mc->mc_addr, text, mc->mc_lw_topic);
	if (mc->mc_inflight.l_count < mc->mc_window) {
		m->m_id = mc_new_id(mc);
		mq_push(&mc->mc_inflight, m);
		mc->mc_status_inflight++;
		mc_send(mc, m, false);
		return;
	}
	mq_push(&front, m);
	mq_prepend(&mc->mc_queue, &front);
	mc->mc_queue_bytes += mq_msg_size(m);
}

static void mc_send_connect(struct mqtt_client *mc)
{
	const struct cfg *cfg = mc->mc_cfg;
	struct mqtt_connect c;

	memset(&c, 0, sizeof(c));
	c.protocol = cfg->broker_protocol;
	c.client_id = cfg->broker_client_id;
	c.clean_session = cfg->broker_clean_session;
	c.keepalive = (uint16_t)cfg->broker_keepalive;
	c.username = cfg->broker_username;
	c.password = cfg->broker_username != NULL ? cfg->broker_password : NULL;
	/* The broker publishes the will when the link dies without DISCONNECT. */
	if (mc->mc_lw_topic != NULL) {
		c.will_topic = mc->mc_lw_topic;
		c.will_payload = "disconnected";
		c.will_payload_len = strlen("disconnected");
		c.will_qos = 1;
		c.will_retain = cfg->broker_lw_retain;
	}
	mqtt_encode_connect(&mc->mc_out, &c);
	mc_set_state(mc, MC_WAIT_CONNACK);
	mc_want_write(mc);
}

/* Stopping: DISCONNECT, then mc_flush closes once it is written. */
static void mc_send_disconnect(struct mqtt_client *mc)
{
	mqtt_encode_empty(&mc->mc_out, MQTT_DISCONNECT);
	mc->mc_bye_done = true;
	mc_want_write(mc);
}

/*
 * Keepalive (DESIGN §4 broker.keepalive). MQTT asks the client to send
 * something within every keepalive period (§3.1.2.10); we also want to
 * hear from the broker that often. So a PINGREQ goes out when either
 * direction has been silent for keepalive seconds: a steady stream of
 * QoS 0 publishes, which the broker never answers, gets a PINGRESP every
 * keepalive seconds instead of a dead-link verdict. The link is dead only
 * when a PINGREQ has gone keepalive seconds without an answer and nothing
 * else arrived meanwhile (a PINGRESP queued behind a burst of inbound
 * messages is late, not missing).
 */
static int64_t mc_keepalive_fire(struct loop *loop, uint64_t id, void *arg)
{
	struct mqtt_client *mc = arg;
	uint64_t now = loop_clock_ms(), ka = (uint64_t)mc->mc_cfg->broker_keepalive * 1000;
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

static void mc_connack(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	struct mq_msg *m;

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
	/* A new session: inbound QoS 2 ids awaiting PUBREL belong to the old
	 * one; the broker may reuse them for new messages. */
	if (!pkt->session_present)
		memset(mc->mc_qos2_ids, 0, MC_QOS2_BYTES);
	/* QoS 1/2 messages of the last connection go first, in their order
	 * (§4.4): with DUP if the broker kept the session, else as new. */
	for (m = mc->mc_inflight.l_head; m != NULL; m = m->m_next) {
		if (!pkt->session_present)
			m->m_pubrec = false;
		mc_send(mc, m, pkt->session_present);
	}
	/* Then `connected`, before the offline queue. */
	if (mc->mc_lw_topic != NULL)
		mc_send_status(mc, mc->mc_host_down ? "disconnected" : "connected");
	mqtt_subset_connected(mc->mc_subset, pkt->session_present);
	if (mc->mc_queue.l_count > 0)
		log_info("broker %s: sending %zu queued message(s)", mc->mc_addr,
		         mc->mc_queue.l_count);
	mc_drain_queue(mc);
	if (mc->mc_cfg->broker_keepalive > 0)
		mc->mc_timer =
		        loop_timer_add(mc->mc_loop, (int64_t)mc->mc_cfg->broker_keepalive * 1000,
		                       mc_keepalive_fire, mc);
}

static struct mq_msg *mc_inflight_find(struct mqtt_client *mc, uint16_t id, struct mq_msg ***link)
{
	struct mq_msg **pp, *m;

	for (pp = &mc->mc_inflight.l_head; (m = *pp) != NULL; pp = &m->m_next) {
		if (m->m_id == id) {
			*link = pp;
			return m;
		}
	}
	return NULL;
}

static void mc_inflight_remove(struct mqtt_client *mc, struct mq_msg **link, struct mq_msg *m)
{
	struct mq_msg *prev = NULL, *p;

	*link = m->m_next;
	if (mc->mc_inflight.l_tail == m) {
		for (p = mc->mc_inflight.l_head; p != NULL; p = p->m_next)
			prev = p;
		mc->mc_inflight.l_tail = prev;
	}
	mc->mc_inflight.l_count--;
	if (m->m_status)
		mc->mc_status_inflight--;
	mc_msg_done(mc, m);
}

static void mc_ack(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	struct mq_msg **link, *m = mc_inflight_find(mc, pkt->packet_id, &link);

	if (m == NULL) {
		log_debug("broker %s: %s for unknown packet id %u ignored", mc->mc_addr,
		          mqtt_type_name(pkt->type), pkt->packet_id);
		return;
	}
	if (pkt->type == MQTT_PUBACK && m->m_qos == 1) {
		mc_inflight_remove(mc, link, m);
	} else if (pkt->type == MQTT_PUBREC && m->m_qos == 2) {
		m->m_pubrec = true;
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBREL, m->m_id);
		mc_want_write(mc);
	} else if (pkt->type == MQTT_PUBCOMP && m->m_qos == 2 && m->m_pubrec) {
		mc_inflight_remove(mc, link, m);
	} else {
		log_debug("broker %s: unexpected %s for packet id %u ignored", mc->mc_addr,
		          mqtt_type_name(pkt->type), pkt->packet_id);
		return;
	}
	mc_drain_queue(mc);
	mc_stop_progress(mc);
}

/* Is inbound QoS 2 id `id` awaiting its PUBREL? `remove`: not any more. */
static bool mc_qos2_seen(struct mqtt_client *mc, uint16_t id, bool remove)
{
	uint8_t bit = (uint8_t)(1u << (id & 7));
	bool seen = (mc->mc_qos2_ids[id >> 3] & bit) != 0;

	if (remove)
		mc->mc_qos2_ids[id >> 3] &= (uint8_t)~bit;
	return seen;
}

static void mc_qos2_remember(struct mqtt_client *mc, uint16_t id)
{
	mc->mc_qos2_ids[id >> 3] |= (uint8_t)(1u << (id & 7));
}

/* Is an acknowledgement of this type and id waiting for its delivery? */
static bool mc_ack_pending(const struct mqtt_client *mc, enum mqtt_type type, uint16_t id)
{
	size_t i;

	for (i = mc->mc_acks_head; i < mc->mc_acks_n; i++) {
		if (mc->mc_acks[i].a_id == id && mc->mc_acks[i].a_type == type)
			return true;
	}
	return false;
}

/* Send the acknowledgements at the head whose deliveries are queued. */
static void mc_acks_flush(struct mqtt_client *mc)
{
	while (mc->mc_acks_head < mc->mc_acks_n && mc->mc_acks[mc->mc_acks_head].a_ready) {
		struct mc_pending_ack *a = &mc->mc_acks[mc->mc_acks_head++];

		mqtt_encode_ack(&mc->mc_out, a->a_type, a->a_id);
	}
	if (mc->mc_acks_head == mc->mc_acks_n)
		mc->mc_acks_head = mc->mc_acks_n = 0;
	mc_want_write(mc);
}

static uint64_t mc_acks_push(struct mqtt_client *mc, enum mqtt_type type, uint16_t id)
{
	if (mc->mc_acks_n == mc->mc_acks_cap) {
		if (mc->mc_acks_head > 0) {
			memmove(mc->mc_acks, mc->mc_acks + mc->mc_acks_head,
			        (mc->mc_acks_n - mc->mc_acks_head) * sizeof(*mc->mc_acks));
			mc->mc_acks_n -= mc->mc_acks_head;
			mc->mc_acks_head = 0;
		} else {
			mc->mc_acks_cap = mc->mc_acks_cap ? mc->mc_acks_cap * 2 : 16;
			mc->mc_acks = xrealloc(mc->mc_acks, mc->mc_acks_cap * sizeof(*mc->mc_acks));
		}
	}
	mc->mc_acks[mc->mc_acks_n++] =
	        (struct mc_pending_ack){++mc->mc_token_next, id, type, false};
	return mc->mc_token_next;
}

void mqtt_client_ack(struct mqtt_client *mc, uint64_t token)
{
	size_t lo = mc->mc_acks_head, hi = mc->mc_acks_n;

	/* Tokens grow along the array: binary search. One of a connection
	 * that is gone is no longer there, and is ignored. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mc->mc_acks[mid].a_token < token)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == mc->mc_acks_n || mc->mc_acks[lo].a_token != token || mc->mc_fd < 0)
		return;
	mc->mc_acks[lo].a_ready = true;
	mc_acks_flush(mc);
}

/*
 * A PUBLISH from the broker. It goes to the delivery hook; its PUBACK
 * (QoS 1) or PUBREC (QoS 2) waits until the hook's side calls
 * mqtt_client_ack(), and acknowledgements leave in the order the PUBLISH
 * packets came (§4.6), whatever order the deliveries are queued in.
 *
 * QoS 2 (§4.3.3): the packet id is remembered from the first PUBLISH
 * until its PUBREL. A PUBLISH with an id still remembered is the same
 * message again (the broker did not see our PUBREC): not delivered a
 * second time; answered with PUBREC once more unless that PUBREC is still
 * waiting for the first delivery.
 */
static void mc_inbound_publish(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	struct mqtt_message msg;
	uint64_t token = 0;

	if (pkt->qos == 2 && mc_qos2_seen(mc, pkt->packet_id, false)) {
		log_debug("broker %s: duplicate QoS 2 message id %u on '%.*s' not delivered again",
		          mc->mc_addr, pkt->packet_id, (int)pkt->topic_len, pkt->topic);
		if (!mc_ack_pending(mc, MQTT_PUBREC, pkt->packet_id)) {
			mqtt_encode_ack(&mc->mc_out, MQTT_PUBREC, pkt->packet_id);
			mc_want_write(mc);
		}
		return;
	}
	if (pkt->qos == 2)
		mc_qos2_remember(mc, pkt->packet_id);
	if (pkt->qos > 0)
		token = mc_acks_push(mc, pkt->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pkt->packet_id);
	if (mc->mc_on_message == NULL) {
		log_debug("broker %s: message on '%.*s' (%zu bytes, QoS %d) ignored: no "
		          "subscriptions",
		          mc->mc_addr, (int)pkt->topic_len, pkt->topic, pkt->payload_len, pkt->qos);
		if (token != 0)
			mqtt_client_ack(mc, token);
		return;
	}
	log_debug("broker %s: message on '%.*s' (%zu bytes, QoS %d)", mc->mc_addr,
	          (int)pkt->topic_len, pkt->topic, pkt->payload_len, pkt->qos);
	msg.topic = pkt->topic;
	msg.topic_len = pkt->topic_len;
	msg.payload = pkt->payload;
	msg.payload_len = pkt->payload_len;
	msg.qos = pkt->qos;
	msg.retain = pkt->retain;
	msg.dup = pkt->dup;
	mc->mc_on_message(mc->mc_on_message_ctx, &msg, token);
}

void mqtt_client_on_message(struct mqtt_client *mc, mqtt_message_fn *fn, void *ctx)
{
	mc->mc_on_message = fn;
	mc->mc_on_message_ctx = ctx;
}

void mqtt_client_on_suback(struct mqtt_client *mc, mqtt_suback_fn *fn, void *ctx)
{
	mqtt_subset_on_ack(mc->mc_subset, fn, ctx);
}

/* The subscription set's send hook: SUBSCRIBE or UNSUBSCRIBE on the connection. */
static uint16_t mc_sub_send(void *ctx, bool subscribe, const char *filter, size_t len, int qos)
{
	struct mqtt_client *mc = ctx;
	uint16_t id = mc_new_id(mc);

	if (subscribe)
		mqtt_encode_subscribe(&mc->mc_out, id, filter, len, qos);
	else
		mqtt_encode_unsubscribe(&mc->mc_out, id, filter, len);
	mc_want_write(mc);
	return id;
}

int mqtt_client_subscribe(struct mqtt_client *mc, const char *filter, size_t len, int qos)
{
	mqtt_subset_subscribe(mc->mc_subset, filter, len, qos, mc->mc_state == MC_CONNECTED);
	return 0;
}

int mqtt_client_unsubscribe(struct mqtt_client *mc, const char *filter, size_t len)
{
	return mqtt_subset_unsubscribe(mc->mc_subset, filter, len, mc->mc_state == MC_CONNECTED);
}

/* One packet from the broker. */
static void mc_handle(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	if (mc->mc_state == MC_WAIT_CONNACK) {
		if (pkt->type != MQTT_CONNACK) {
			mc_lost(mc, " sent %s before CONNACK, connection dropped",
			        mqtt_type_name(pkt->type));
			return;
		}
		mc_connack(mc, pkt);
		return;
	}
	switch (pkt->type) {
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		mc_ack(mc, pkt);
		break;
	case MQTT_PUBLISH:
		mc_inbound_publish(mc, pkt);
		break;
	case MQTT_PUBREL:
		mc_qos2_seen(mc, pkt->packet_id, true);
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBCOMP, pkt->packet_id);
		mc_want_write(mc);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		mqtt_subset_acked(mc->mc_subset, pkt->type == MQTT_UNSUBACK, pkt->packet_id,
		                  pkt->body, pkt->body_len);
		break;
	case MQTT_PINGRESP:
		mc->mc_ping_sent = 0;
		break;
	default:
		mc_lost(mc, " sent an unexpected %s, connection dropped",
		        mqtt_type_name(pkt->type));
		break;
	}
}

/* Name of the packet type at the head of the input, for log lines. */
static const char *mc_in_type(const struct mqtt_client *mc)
{
	return mqtt_type_name((enum mqtt_type)((uint8_t)buf_data(&mc->mc_in)[0] >> 4));
}

static void mc_input(struct mqtt_client *mc);
static int mc_tcp_up(struct mqtt_client *mc);

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
	mc->mc_tls = tls_new(mc->mc_tls_conf, mc->mc_fd, mc->mc_cfg->broker_host, err, sizeof(err));
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
		                 mc->mc_cfg->broker_max_packet, &pkt, &used);
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
			        mc_in_type(mc), mc->mc_cfg->broker_max_packet);
			return;
		}
		mc_handle(mc, &pkt);
		/* The handler may have closed the connection (buffers reset). */
		if (mc->mc_fd < 0 || (before == MC_WAIT_CONNACK && mc->mc_state != MC_CONNECTED))
			return;
		buf_consume(&mc->mc_in, used);
	}
}

static void mc_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct mqtt_client *mc = arg;
	char err[ERR_LEN];

	if (mc->mc_state == MC_CONNECTING) {
		if (net_connect_result(fd, err, sizeof(err)) != 0) {
			mc_lost(mc, ": connect failed: %s", err);
			return;
		}
		mc_link_up(mc);
		return;
	}
	if (mc->mc_state == MC_HANDSHAKE) {
		mc_tls_step(mc);
		return;
	}
	if ((mask & LOOP_READ) && mc->mc_paused && mc->mc_state == MC_CONNECTED) {
		/* Paused: leave the bytes in the socket; the broker waits. */
		loop_unwatch(loop, fd, LOOP_READ);
		mask &= ~LOOP_READ;
	}
	if (mask & LOOP_READ)
		mc_read(mc);
	/* The read may have dropped the connection. */
	if (mc->mc_fd == fd && ((mask & LOOP_WRITE) || mc->mc_wblocked))
		mc_flush(mc);
}

static int64_t mc_connect_timeout(struct loop *loop, uint64_t id, void *arg)
{
	struct mqtt_client *mc = arg;

	mc->mc_timer = 0;
	if (mc->mc_state == MC_CONNECTING)
		mc_lost(mc, ": connect timed out after %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	else if (mc->mc_state == MC_HANDSHAKE)
		mc_lost(mc, ": TLS handshake not done within %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	else
		mc_lost(mc, ": no CONNACK within %d s", MC_CONNECT_TIMEOUT_MS / 1000);
	return LOOP_TIMER_STOP;
}

static void mc_connect(struct mqtt_client *mc)
{
	char err[ERR_LEN];
	int fd;

	if (mc->mc_ever_connected || mc->mc_attempt > 0)
		mc->mc_st.reconnects++;
	log_debug("connecting to broker %s", mc->mc_addr);
	fd = net_connect(mc->mc_cfg->broker_host, mc->mc_cfg->broker_port, err, sizeof(err));
	if (fd < 0) {
		char why[ERR_LEN];

		err_printf(why, sizeof(why), ": connect failed: %s", err);
		mc_schedule_reconnect(mc, why);
		return;
	}
	mc->mc_fd = fd;
	mc_set_state(mc, MC_CONNECTING);
	/* mc_io is the callback for both directions; loop_watch keeps one per fd. */
	if (loop_watch(mc->mc_loop, fd, LOOP_WRITE, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return;
	}
	mc->mc_writing = true;
	mc->mc_timer = loop_timer_add(mc->mc_loop, MC_CONNECT_TIMEOUT_MS, mc_connect_timeout, mc);
}

/* TCP is up on mc_fd: read from it, send CONNECT. */
static int mc_tcp_up(struct mqtt_client *mc)
{
	if (loop_watch(mc->mc_loop, mc->mc_fd, LOOP_READ, mc_io, mc) != 0) {
		mc_lost(mc, ": descriptor out of range");
		return -1;
	}
	mc->mc_last_recv = mc->mc_last_sent = loop_now(mc->mc_loop);
	mc_send_connect(mc);
	return 0;
}

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

enum mqtt_pub_result mqtt_client_publish(struct mqtt_client *mc, const char *topic,
                                         size_t topic_len, const void *payload, size_t payload_len,
                                         int qos, bool retain, bool allow_queue)
{
	const struct cfg *cfg = mc->mc_cfg;
	bool connected = mc->mc_state == MC_CONNECTED;
	struct mq_msg *m;

	if (mqtt_publish_size(topic_len, payload_len, qos) > cfg->broker_max_packet) {
		mc->mc_st.refused++;
		return MQTT_PUB_TOO_LARGE;
	}
	if (mc->mc_state == MC_STOPPING || mc->mc_state == MC_STOPPED ||
	    (!connected && !allow_queue)) {
		mc->mc_st.refused++;
		return MQTT_PUB_NOT_CONNECTED;
	}
	/* Bounds: the queue by count and bytes. A connected but slow broker
	 * fills it too: past MC_OUT_HIGH, messages wait there. */
	if (mc->mc_queue.l_count >= cfg->queue_max_messages ||
	    mc->mc_queue_bytes + topic_len + payload_len > cfg->queue_max_bytes) {
		mc->mc_st.refused++;
		return MQTT_PUB_QUEUE_FULL;
	}
	m = mq_msg_new(topic, topic_len, payload, payload_len, qos, retain, allow_queue);
	if (mc->mc_spool != NULL) {
		/* Durable before the caller answers "accepted". */
		struct spool_msg sm = {0, qos, retain, topic, topic_len, payload, payload_len};

		if (spool_append(mc->mc_spool, &sm) != 0) {
			mq_msg_free(m);
			mc->mc_st.refused++;
			return MQTT_PUB_SPOOL_FAILED;
		}
		m->m_seq = sm.seq;
	}
	if (connected && mc->mc_queue.l_count == 0 && buf_len(&mc->mc_out) < MC_OUT_HIGH &&
	    (qos == 0 || mc->mc_inflight.l_count < mc->mc_window)) {
		if (qos > 0) {
			m->m_id = mc_new_id(mc);
			mq_push(&mc->mc_inflight, m);
		}
		mc_send(mc, m, false);
		return MQTT_PUB_SENT;
	}
	mq_push(&mc->mc_queue, m);
	mc->mc_queue_bytes += topic_len + payload_len;
	if (connected)
		return MQTT_PUB_SENT; /* waits only for window or buffer room */
	mc->mc_st.queued++;
	return MQTT_PUB_QUEUED;
}

/* A message of the last run, from the spool: it waits in the queue. */
static void mc_replay(void *ctx, const struct spool_msg *sm)
{
	struct mqtt_client *mc = ctx;
	struct mq_msg *m = mq_msg_new(sm->topic, sm->topic_len, sm->payload, sm->payload_len,
	                              sm->qos, sm->retain, true);

	m->m_seq = sm->seq;
	mq_push(&mc->mc_queue, m);
	mc->mc_queue_bytes += mq_msg_size(m);
	mc->mc_st.queued++;
}

int mqtt_client_spool(struct mqtt_client *mc, const char *dir, char *err, size_t errlen)
{
	mc->mc_spool = spool_open(dir, mc_replay, mc, err, errlen);
	return mc->mc_spool != NULL ? 0 : -1;
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

void mqtt_client_stats(const struct mqtt_client *mc, struct mqtt_client_stats *st)
{
	*st = mc->mc_st;
	st->connected = mc->mc_state == MC_CONNECTED;
	st->queue_messages = mc->mc_queue.l_count;
	st->queue_bytes = mc->mc_queue_bytes;
	st->inflight = mc->mc_inflight.l_count - mc->mc_status_inflight;
	st->acks_held = mc->mc_acks_n - mc->mc_acks_head;
}

/* Messages still held at the end are counted and logged, never silent. */
static void mc_drop_all(struct mqtt_client *mc)
{
	struct mq_msg *m;
	uint64_t n = 0;

	uint64_t kept = 0;

	mc_reclaim_unwritten(mc);
	mc_drop_status(mc);
	while ((m = mq_pop(&mc->mc_queue)) != NULL || (m = mq_pop(&mc->mc_inflight))) {
		if (m->m_seq != 0)
			kept++;
		else
			n++;
		mq_msg_free(m);
	}
	mc->mc_queue_bytes = 0;
	if (n > 0) {
		mc->mc_st.dropped += n;
		log_warnx("broker %s: %llu message(s) not delivered at shutdown", mc->mc_addr,
		          (unsigned long long)n);
	}
	if (kept > 0)
		log_info("broker %s: %llu message(s) not delivered yet, kept in the spool",
		         mc->mc_addr, (unsigned long long)kept);
}

void mqtt_client_stop(struct mqtt_client *mc)
{
	if (mc->mc_state == MC_STOPPING || mc->mc_state == MC_STOPPED)
		return;
	mc_timer_clear(mc);
	if (mc->mc_state != MC_CONNECTED) {
		mc_close_fd(mc);
		mc_set_state(mc, MC_STOPPED);
		return;
	}
	mc_set_state(mc, MC_STOPPING);
	mc_stop_progress(mc);
}

/*
 * Stopping, step by step: the offline queue and the messages in flight
 * go out and are acknowledged; then `disconnected` is published; once the
 * broker acknowledged it, DISCONNECT. The caller bounds the wait
 * (shutdown.grace); if it ends first, the connection closes without
 * DISCONNECT and the broker publishes the will instead.
 */
static void mc_stop_progress(struct mqtt_client *mc)
{
	if (mc->mc_state != MC_STOPPING || mc->mc_bye_done)
		return;
	mc_drain_queue(mc);
	if (mc->mc_queue.l_count > 0 || mc->mc_inflight.l_count > mc->mc_status_inflight)
		return;
	if (mc->mc_lw_topic != NULL && !mc->mc_bye_sent) {
		mc->mc_bye_sent = true;
		mc_send_status(mc, "disconnected");
		return;
	}
	if (mc->mc_status_inflight > 0)
		return;
	mc_send_disconnect(mc);
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
	mc_drop_all(mc);
	mqtt_subset_free(mc->mc_subset);
	free(mc->mc_acks);
	free(mc->mc_qos2_ids);
	spool_close(mc->mc_spool);
	buf_free(&mc->mc_in);
	buf_free(&mc->mc_out);
	free(mc->mc_lw_topic);
	free(mc);
}

/*
 * The host's presence (publish.lwHostTimeout, the presence module): while
 * the host is down the status topic says `disconnected`, also after each
 * reconnect. A change is published at once when connected; otherwise the
 * next CONNACK publishes the state in force. Stopping ignores it: the
 * stop publishes `disconnected` anyway.
 */
void mqtt_client_set_host_up(struct mqtt_client *mc, bool up)
{
	if (mc->mc_host_down == !up)
		return;
	mc->mc_host_down = !up;
	if (mc->mc_state == MC_CONNECTED && mc->mc_lw_topic != NULL)
		mc_send_status(mc, up ? "connected" : "disconnected");
}
