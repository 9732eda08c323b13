/*
 * mqtt_client: the broker connection on the loop.
 *
 * States: IDLE -> CONNECTING (TCP) [-> HANDSHAKE (TLS)] -> WAIT_CONNACK ->
 * CONNECTED, BACKOFF between attempts, and the stop sequence (draining,
 * `disconnected` published, DISCONNECT sent) -> STOPPED. The connection
 * state machine is mqtt_client.c; the outbound queue mqtt_queue, the
 * subscription set mqtt_subset, the QoS flows of a connection
 * mqtt_session and the inbound acknowledgements mqtt_inbound. The delay
 * between attempts is a capped exponential backoff with jitter from
 * broker.reconnect_min..max. The backoff starts again from reconnect_min
 * only once a connection has stayed up for reconnect_max seconds, so a
 * broker that accepts and drops at once is retried ever more slowly.
 *
 * Keepalive (DESIGN §4): a PINGREQ goes out when keepalive seconds passed
 * with nothing sent, or with nothing received (steady one-way traffic
 * gets its answers that way); the link is dead when a PINGREQ has had no
 * answer, and no other byte came, for keepalive seconds.
 *
 * In-flight window: at most broker.max_inflight QoS 1/2 messages await
 * their acknowledgement; the rest wait in the queue. Publishes while
 * disconnected may be queued in memory (bounded by queue.max_messages /
 * queue.max_bytes) and are sent in order on connect. A publish whose
 * packet would exceed broker.max_packet is refused (MQTT_PUB_TOO_LARGE).
 *
 * Poison messages (DESIGN §7): when the broker closes three connections in
 * a row while the same message is the oldest unacknowledged one (or, with
 * none in flight, the next to send), that message is dropped (logged with
 * its topic and size, counted in dropped and poison_dropped).
 *
 * Will and status (publish.lwTopic, broker.lwRetain): CONNECT names
 * `<baseTopic><lwTopic>` = "disconnected" (QoS 1) as the will; after each
 * accepted CONNACK the client publishes "connected" there, after the
 * re-sends of the last connection and before the offline queue. Status
 * messages are not user messages: they appear in no counter.
 */
#ifndef OCTO_MQTT_CLIENT_H
#define OCTO_MQTT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct mqtt_client;

/*
 * What the client needs of the configuration (cfg_mqtt_client_opts()
 * fills it from a struct cfg). The client keeps a copy of the struct;
 * the strings are borrowed: they must stay valid, unchanged, for the
 * client's lifetime.
 */
struct mqtt_client_opts {
	const char *host;          /* broker.url's host, no brackets */
	uint16_t port;             /* broker.port */
	const char *username;      /* NULL: none */
	const char *password;      /* NULL: none; sent only with a username */
	const char *client_id;     /* broker.client_id */
	unsigned keepalive;        /* seconds, 0..65535; 0: no keepalive */
	size_t max_packet;         /* broker.max_packet, either direction */
	unsigned max_inflight;     /* broker.max_inflight: the QoS 1/2 window */
	bool clean_session;        /* broker.clean_session */
	int protocol;              /* MQTT_PROTO_V311 or MQTT_PROTO_V31 (mqtt_codec.h) */
	unsigned reconnect_min;    /* seconds, >= 1 */
	unsigned reconnect_max;    /* seconds, >= reconnect_min */
	bool lw_retain;            /* broker.lwRetain: will and status messages retained */
	const char *base_topic;    /* publish.baseTopic, prefix of lw_topic */
	const char *lw_topic;      /* publish.lwTopic; NULL: no will, no status messages */
	size_t queue_max_messages; /* queue.max_messages: the offline queue's bounds */
	size_t queue_max_bytes;    /* queue.max_bytes */
};

enum mqtt_pub_result {
	MQTT_PUB_SENT = 0,          /* handed to the connection */
	MQTT_PUB_QUEUED = 1,        /* kept for sending on connect */
	MQTT_PUB_NOT_CONNECTED = 2, /* not connected and queueing not allowed */
	MQTT_PUB_QUEUE_FULL = 3,    /* queue bounds reached: refused, nothing dropped */
	MQTT_PUB_SPOOL_FAILED = 4,  /* queue.spool could not store it: refused */
	MQTT_PUB_TOO_LARGE = 5,     /* its packet would exceed broker.max_packet: refused */
};

struct mqtt_client_stats {
	bool connected;
	uint64_t connects;         /* successful CONNACKs */
	uint64_t reconnects;       /* connection attempts after the first */
	uint64_t published;        /* messages written to the broker connection */
	uint64_t queued;           /* messages that went through the offline queue */
	uint64_t refused;          /* every answer other than SENT or QUEUED */
	uint64_t dropped;          /* messages lost (each also logged) */
	uint64_t pings_sent;       /* PINGREQ packets sent */
	uint64_t pings_unanswered; /* links declared dead: a PINGREQ had no answer */
	uint64_t poison_dropped;   /* messages dropped after 3 closes in a row (also in dropped) */
	size_t acks_held;          /* inbound QoS 1/2 messages whose PUBACK/PUBREC waits */
	size_t queue_messages;     /* now in the offline queue */
	size_t queue_bytes;
	size_t inflight;      /* QoS 1/2 messages sent and not yet acknowledged */
	uint64_t pauses;      /* times reading was paused (mqtt_client_pause) */
	uint64_t congestions; /* times the queue passed half its bounds (on_congestion) */
	uint64_t spool_syncs; /* queue.spool's fdatasyncs (mqtt_client_sync) */
};

/*
 * A client with a copy of opts (whose strings must outlive it, see
 * struct mqtt_client_opts). Does not connect until mqtt_client_start().
 */
struct mqtt_client *mqtt_client_new(struct loop *loop, const struct mqtt_client_opts *opts);
/*
 * broker.tls: every connection does a TLS handshake with sessions of conf
 * (which must outlive the client) before CONNECT; the handshake counts
 * against the connect timeout, and a failed one is logged with its reason
 * and retried with backoff like any failed connect. Call before
 * mqtt_client_start(); NULL (the default) means plain TCP.
 */
struct tls_conf;
void mqtt_client_tls(struct mqtt_client *mc, struct tls_conf *conf);
void mqtt_client_start(struct mqtt_client *mc);
/*
 * Publish one message. Copies topic and payload. qos 0..2; allow_queue lets
 * the message wait in the offline queue while disconnected.
 */
enum mqtt_pub_result mqtt_client_publish(struct mqtt_client *mc, const char *topic,
                                         size_t topic_len, const void *payload, size_t payload_len,
                                         int qos, bool retain, bool allow_queue);
/*
 * mqtt_client_publish() of a payload built in a buf, without copying it:
 * when the message is accepted (MQTT_PUB_SENT, MQTT_PUB_QUEUED) it takes
 * payload's allocation and payload is left empty (as buf_init() leaves
 * it); otherwise payload is left as it was.
 */
struct buf;
enum mqtt_pub_result mqtt_client_publish_buf(struct mqtt_client *mc, const char *topic,
                                             size_t topic_len, struct buf *payload, int qos,
                                             bool retain, bool allow_queue);
/*
 * queue.spool: keep every accepted message in the spool in directory dir
 * until it is written (QoS 0) or acknowledged (QoS 1/2); messages left
 * there by the last run are queued now, first. Call before
 * mqtt_client_start(). 0, or -1 with err set.
 */
int mqtt_client_spool(struct mqtt_client *mc, const char *dir, char *err, size_t errlen);
/*
 * Make the messages accepted since the last call durable (queue.spool's
 * fdatasync, once for them all; without a spool, nothing to do). Call it
 * before answering that they were accepted. 0, or -1 with err.
 */
int mqtt_client_sync(struct mqtt_client *mc, char *err, size_t errlen);

/*
 * Inbound messages. The hook gets each PUBLISH from the broker (a QoS 2
 * message once, however often the broker sends it); pointers are valid
 * during the call only. For QoS 1/2, token is non-zero and the PUBACK or
 * PUBREC waits until mqtt_client_ack(token): the hook's side calls it
 * once the message's deliveries have finished (answered, or finally
 * failed, dropped or cancelled; DESIGN §7), during the hook or any time
 * later. Acknowledgements go out in the order the messages arrived.
 * Without a hook every message is acknowledged and dropped.
 */
struct mqtt_message {
	const char *topic;
	size_t topic_len;
	const void *payload;
	size_t payload_len;
	int qos;
	bool retain;
	bool dup;
};
typedef void mqtt_message_fn(void *ctx, const struct mqtt_message *msg, uint64_t token);
void mqtt_client_on_message(struct mqtt_client *mc, mqtt_message_fn *fn, void *ctx);
/* Tokens of a connection that has ended are ignored (the broker resends). */
void mqtt_client_ack(struct mqtt_client *mc, uint64_t token);

/*
 * The subscription set: filters kept subscribed at the broker, sent at
 * once when connected, else on connect; all of them again after every
 * CONNACK without a session. Each SUBACK is reported to the suback hook:
 * granted QoS 0..2, or -1 when the broker refused (0x80, also logged).
 * Subscribing to a filter already in the set only changes its QoS.
 * mqtt_client_unsubscribe() returns -1 for a filter not in the set.
 */
typedef void mqtt_suback_fn(void *ctx, const char *filter, size_t len, int granted);
/* Public for the tests: the tests and the fuzzer observe SUBACK results. */
void mqtt_client_on_suback(struct mqtt_client *mc, mqtt_suback_fn *fn, void *ctx);
int mqtt_client_subscribe(struct mqtt_client *mc, const char *filter, size_t len, int qos);
int mqtt_client_unsubscribe(struct mqtt_client *mc, const char *filter, size_t len);

/*
 * For fuzzing and tests (public for them: the fuzzer drives the client
 * without connect()): take fd (a connected, non-blocking socket such as
 * one end of a socketpair) as the broker connection, as if TCP had just
 * come up: CONNECT is queued. mqtt_client_input() then hands the client
 * bytes as if read from it: 0, or -1 once the client has dropped the
 * connection (it closed fd).
 */
void mqtt_client_attach(struct mqtt_client *mc, int fd);
int mqtt_client_input(struct mqtt_client *mc, const void *data, size_t len);

/*
 * Flow control for inbound messages: while paused the client reads
 * nothing from the broker (it still writes, and the silence does not
 * count as a dead link), so TCP makes the broker hold its messages.
 */
void mqtt_client_pause(struct mqtt_client *mc, bool paused);

/*
 * Flow control for outbound messages (backpressure, issue 17): fn(ctx,
 * true) when, connected, the outbound queue (messages waiting for the
 * window or for room on the connection) passes half of queue.max_messages
 * or of queue.max_bytes; fn(ctx, false) when it is at or below a quarter
 * of both again, or the connection is no longer CONNECTED (the offline
 * queue and its 503 queue_full take over then). The caller stops taking
 * publishes meanwhile (main pauses the HTTP server), so a host is slowed
 * down by TCP instead of refused. fn may be called from inside
 * mqtt_client_publish() and from any of the client's callbacks; it must
 * not call back into the client. Each edge is logged at info (rate-limited).
 */
typedef void mqtt_congestion_fn(void *ctx, bool congested);
void mqtt_client_on_congestion(struct mqtt_client *mc, mqtt_congestion_fn *fn, void *ctx);

bool mqtt_client_connected(const struct mqtt_client *mc);
void mqtt_client_stats(const struct mqtt_client *mc, struct mqtt_client_stats *st);
/*
 * Graceful stop: no reconnects; with a status topic (publish.lwTopic),
 * publish `disconnected` and wait for its PUBACK; then send DISCONNECT,
 * flush, close. mqtt_client_stopped() turns true when done (or at once if
 * not connected); the caller bounds the wait (shutdown.grace). Closed
 * before that, the connection ends without DISCONNECT and the broker
 * publishes the will.
 */
void mqtt_client_stop(struct mqtt_client *mc);
bool mqtt_client_stopped(const struct mqtt_client *mc);
/*
 * Delay before reconnect attempt number `attempt` (0 = first retry), in ms:
 * min(max_s, min_s * 2^attempt) seconds, with jitter from rnd taking it to
 * a point of the upper half, never below min_s. Pure, for tests.
 */
uint64_t mqtt_backoff_ms(unsigned min_s, unsigned max_s, unsigned attempt, uint32_t rnd);
/* Close everything at once and free. */
void mqtt_client_free(struct mqtt_client *mc);

/*
 * The host behind the daemon is up (true, the default) or down: the
 * status topic (publish.lwTopic) says `connected` only while both the
 * daemon and the host are; a change is published at once when connected,
 * and every CONNACK publishes the state in force. No-op without a status
 * topic.
 */
void mqtt_client_set_host_up(struct mqtt_client *mc, bool up);

#endif
