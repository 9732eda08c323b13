/*
 * mqtt_session: the half of mqtt_client that runs over an accepted
 * connection (the MQTT session): outbound publishes through the queue and
 * the window (mqtt_queue), their acknowledgements, the status messages,
 * inbound publishes and their held acknowledgements (mqtt_inbound), the
 * subscription set's packets (mqtt_subset). mqtt_client.c is the other
 * half, the connection state machine; both share struct mqtt_client,
 * which only they see.
 */
#ifndef OCTO_MQTT_SESSION_H
#define OCTO_MQTT_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "mqtt_queue.h"
#include "net.h"

/*
 * The states of the connection; mc_set_state() (mqtt_client.c) is the only
 * writer of mc_state. The stop sequence is three states: the queue and
 * the window drain (STOP_DRAIN), `disconnected` awaits its PUBACK
 * (STOP_STATUS), DISCONNECT is queued and the connection closes once it
 * is written (STOP_BYE).
 */
enum mc_state {
	MC_IDLE,         /* not started */
	MC_CONNECTING,   /* TCP connect in progress */
	MC_HANDSHAKE,    /* TLS handshake in progress */
	MC_WAIT_CONNACK, /* CONNECT sent */
	MC_CONNECTED,
	MC_BACKOFF,     /* waiting to reconnect */
	MC_STOP_DRAIN,  /* stopping: the queue and the messages in flight go out */
	MC_STOP_STATUS, /* stopping: `disconnected` published, waiting for its PUBACK */
	MC_STOP_BYE,    /* stopping: DISCONNECT queued, close once written */
	MC_STOPPED,
	MC_NSTATES
};

struct mqtt_inbound;
struct mqtt_subset;
struct tls;
struct tls_conf;

struct mqtt_client {
	struct loop *mc_loop;
	struct mqtt_client_opts mc_opts; /* a copy; the strings are borrowed */
	enum mc_state mc_state;
	int mc_fd;
	struct tls_conf *mc_tls_conf; /* broker.tls: sessions come from here; NULL: plain TCP */
	struct tls *mc_tls;           /* the session on mc_fd, or NULL */
	bool mc_wblocked;             /* a TLS write waits for readability (tls_want) */
	uint64_t mc_resume_timer;     /* reads what TLS holds after a pause ends */
	char mc_addr[NET_ADDR_LEN];
	struct buf mc_in, mc_out;
	struct mqtt_outq mc_q; /* the outbound messages */
	unsigned mc_attempt;   /* consecutive failed attempts */
	uint64_t mc_timer;     /* connect timeout, backoff or keepalive timer */
	uint64_t mc_last_sent, mc_last_recv;
	uint64_t mc_ping_sent;    /* when the unanswered PINGREQ went out; 0: none */
	uint64_t mc_connected_at; /* loop time of the last accepted CONNACK */
	bool mc_broker_closed;    /* the connection being lost was closed by the broker */
	unsigned mc_quick_closes; /* accepted links in a row the broker closed early */
	bool mc_writing;          /* write watcher installed */
	bool mc_paused;           /* mqtt_client_pause(): not reading from the broker */
	bool mc_congested;        /* the queue passed half its bounds (mc_congestion) */
	mqtt_congestion_fn *mc_on_congestion;
	void *mc_on_congestion_ctx;
	bool mc_ever_connected;
	unsigned mc_rand;
	char *mc_lw_topic; /* baseTopic + lwTopic; NULL: no will, no status */
	bool mc_host_down; /* mqtt_client_set_host_up(false): status says `disconnected` */
	/* Inbound: the delivery hook and the acknowledgements waiting for it. */
	mqtt_message_fn *mc_on_message;
	void *mc_on_message_ctx;
	struct mqtt_inbound *mc_inbound;
	struct mqtt_subset *mc_subset; /* the subscription set */
	struct mqtt_client_stats mc_st;
};

/*
 * Encoded bytes waiting for the socket, at most about this many: beyond
 * it messages wait in the queue (one copy each, bounded by queue.*)
 * instead of growing the output buffer while the broker is slow.
 */
#define MC_OUT_HIGH 65536

/* mqtt_client.c: the state machine's side. */
/* Connected, or stopping with the connection still up: messages may go out. */
bool mc_linked(const struct mqtt_client *mc);
/* A stop has begun (any of the three stop states, or stopped). */
bool mc_stopping(const struct mqtt_client *mc);
/* Write when mc_out has bytes (a write watcher, unless TLS waits for a read). */
void mc_want_write(struct mqtt_client *mc);
/* The connection is lost; fmt continues "broker HOST:PORT" (see mqtt_client.c). */
void mc_lost(struct mqtt_client *mc, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Acknowledgements or room came: the state takes its next step (stopping). */
void mc_progress(struct mqtt_client *mc);
/* The queue's level or the state changed: tell the congestion hook of an edge. */
void mc_congestion(struct mqtt_client *mc);

/* mqtt_session.c: the session's side. */
/* TCP (and TLS) is up: CONNECT, with the will when there is a status topic. */
void mc_session_connect(struct mqtt_client *mc);
/* CONNACK accepted: re-sends, `connected`, subscriptions, the offline queue. */
void mc_session_start(struct mqtt_client *mc, bool session_present);
/* A packet on an accepted connection (anything but CONNACK). */
void mc_session_packet(struct mqtt_client *mc, const struct mqtt_packet *pkt);
/* Move queued messages onto the connection while the window allows. */
void mc_drain_queue(struct mqtt_client *mc);
/* Publish a status text (`connected`, `disconnected`) on the will topic. */
void mc_send_status(struct mqtt_client *mc, const char *text);
/* The subscription set's send hook: SUBSCRIBE or UNSUBSCRIBE on the connection. */
uint16_t mc_sub_send(void *ctx, bool subscribe, const char *filter, size_t len, int qos);
/* The subscription set's question: is packet id awaiting its SUBACK or UNSUBACK? */
bool mc_sub_id_busy(void *ctx, uint16_t id);

#endif
