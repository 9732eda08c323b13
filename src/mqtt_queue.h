/*
 * mqtt_queue: the outbound messages of mqtt_client and where they are
 * (struct mqtt_outq): the offline queue with its bounds, the QoS 0
 * messages not completely written yet, the in-flight window of QoS 1/2
 * messages, the packet ids, the spool records of accepted messages
 * (queue.spool) and the poison-message strikes (DESIGN §7). A message
 * carries copies of its topic and payload in the same allocation. No
 * socket I/O: mqtt_client encodes and sends; the spool file is written
 * here.
 */
#ifndef OCTO_MQTT_QUEUE_H
#define OCTO_MQTT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A message and, right behind it in the same allocation, its topic and
 * payload bytes (mq_msg_topic, mq_msg_payload), or for a payload handed
 * over (mq_msg_new_owned), its topic and the pointer to the payload's own
 * allocation. A full queue holds queue.max_messages of these, so the
 * header is kept small (48 bytes on 64-bit systems).
 */
struct mq_msg {
	struct mq_msg *m_next;
	size_t m_topic_len;
	size_t m_payload_len;
	uint8_t m_qos;
	bool m_retain : 1;
	bool m_queueable : 1;
	bool m_pubrec : 1;   /* QoS 2: PUBREC received, PUBREL sent */
	bool m_counted : 1;  /* QoS 1/2: counted in `published` (resends are not) */
	bool m_status : 1;   /* connected/disconnected: not a user message, never counted */
	bool m_external : 1; /* the payload is an allocation of its own (mq_msg_new_owned) */
	uint16_t m_id;
	uint64_t m_seq; /* in the spool (0: not spooled) */
	uint64_t m_end; /* QoS 0: mc_out_written + buf_len(mc_out) after encoding */
};

struct mq_list {
	struct mq_msg *l_head, *l_tail;
	size_t l_count;
};

/* Append m; remove and return the head (NULL if empty). */
void mq_push(struct mq_list *l, struct mq_msg *m);
struct mq_msg *mq_pop(struct mq_list *l);
/* Put all of `front` before the messages of `l`, keeping both orders; front is emptied. */
void mq_prepend(struct mq_list *l, struct mq_list *front);
/* Topic plus payload bytes of m. */
size_t mq_msg_size(const struct mq_msg *m);
void mq_msg_free(struct mq_msg *m);
/* The topic behind the header; the payload (behind the topic, or its own). */
char *mq_msg_topic(struct mq_msg *m);
char *mq_msg_payload(struct mq_msg *m);
/* One message holding copies of topic and payload. */
struct mq_msg *mq_msg_new(const char *topic, size_t topic_len, const void *payload,
                          size_t payload_len, int qos, bool retain, bool queueable);
/*
 * One message holding a copy of topic and the payload itself: payload
 * (payload_len bytes, at least 1) is an allocation of malloc()'s that the
 * message now owns and frees (mq_msg_free). The large payloads' way in:
 * their bytes are not copied again.
 */
struct mq_msg *mq_msg_new_owned(const char *topic, size_t topic_len, char *payload,
                                size_t payload_len, int qos, bool retain, bool queueable);

/*
 * The outbound queue of one client. Messages live in one of three lists:
 *   q_queue      accepted, not yet handed to a connection (offline queue,
 *                and QoS 1/2 messages waiting for room in the window);
 *   q_unwritten  QoS 0 messages encoded onto the connection whose bytes
 *                have not all been written to the socket yet;
 *   q_inflight   QoS 1/2 messages sent and not yet acknowledged.
 * A message leaves only when written (QoS 0), acknowledged (QoS 1/2), or
 * counted in q_dropped and logged. The client reads the lists and the
 * counters directly; it changes them only through the functions below
 * (and q_published when it sends a QoS 1/2 message the first time).
 */
struct spool;
/* Is packet id in use outside the window (the subscription set)? */
typedef bool mq_id_busy_fn(void *ctx, uint16_t id);

struct mqtt_outq {
	struct mq_list q_queue, q_unwritten, q_inflight;
	size_t q_queue_bytes;     /* topic + payload bytes in q_queue */
	size_t q_status_inflight; /* status messages in q_inflight (not in the stats) */
	size_t q_window;          /* broker.max_inflight */
	size_t q_max_messages;    /* queue.max_messages */
	size_t q_max_bytes;       /* queue.max_bytes */
	uint64_t q_written;       /* bytes written on this connection */
	uint16_t q_next_id;
	mq_id_busy_fn *q_id_busy;
	void *q_id_ctx;
	struct spool *q_spool; /* queue.spool, or NULL */
	const char *q_addr;    /* the broker's "host:port", for log lines */
	/* Poison messages: the message at the head when the broker last closed
	 * the connection, and how many closes in a row found it there. */
	const struct mq_msg *q_suspect;
	unsigned q_strikes;
	/* The counters of mqtt_client_stats with the same names. */
	uint64_t q_published, q_queued, q_dropped, q_poison_dropped;
};

/* addr must outlive q; id_busy(ctx, id) is asked before an id is used. */
void mq_init(struct mqtt_outq *q, const char *addr, size_t window, size_t max_messages,
             size_t max_bytes, mq_id_busy_fn *id_busy, void *ctx);
/* Count and log what is still held (spooled messages stay in the spool), free it all. */
void mq_free(struct mqtt_outq *q);
/*
 * queue.spool in directory dir: messages left there by the last run are
 * queued now, first (counted in q_queued). 0, or -1 with err set.
 */
int mq_spool_open(struct mqtt_outq *q, const char *dir, char *err, size_t errlen);
/* Would a message of these sizes exceed queue.max_messages or max_bytes? */
bool mq_full(const struct mqtt_outq *q, size_t topic_len, size_t payload_len);
/* m into the spool, if any (durable after mq_spool_sync()). 0, or -1. */
int mq_spool_add(struct mqtt_outq *q, struct mq_msg *m);
/* The spool's fdatasync of what mq_spool_add() wrote (see spool_sync). */
int mq_spool_sync(struct mqtt_outq *q, char *err, size_t errlen);
uint64_t mq_spool_syncs(const struct mqtt_outq *q);
/* m to the tail of the queue; mq_enqueue_front: to its head. */
void mq_enqueue(struct mqtt_outq *q, struct mq_msg *m);
void mq_enqueue_front(struct mqtt_outq *q, struct mq_msg *m);
/* Is there room in the window for one more QoS 1/2 message? */
bool mq_window_open(const struct mqtt_outq *q);
/* A packet id free in the window and not busy elsewhere (1..65535). */
uint16_t mq_new_id(struct mqtt_outq *q);
/* m (QoS 1/2) into the window with a fresh packet id, noted in the spool. */
void mq_inflight_add(struct mqtt_outq *q, struct mq_msg *m);
/* QoS 2 m in the window: its PUBREC came back (true), or it must be
 * published again (false, a new session); noted in the spool. */
void mq_set_pubrec(struct mqtt_outq *q, struct mq_msg *m, bool pubrec);
/*
 * The next message the window allows to leave the queue, or NULL: taken
 * out of the queue, and a QoS 1/2 one put in the window (mq_inflight_add).
 */
struct mq_msg *mq_next(struct mqtt_outq *q);
/* The in-flight message with packet id `id` (and the link pointing to it), or NULL. */
struct mq_msg *mq_inflight_find(struct mqtt_outq *q, uint16_t id, struct mq_msg ***link);
/* Acknowledged: m (found by mq_inflight_find with link) leaves the window, done. */
void mq_inflight_remove(struct mqtt_outq *q, struct mq_msg **link, struct mq_msg *m);
/* User messages in the window (the status messages left out). */
size_t mq_inflight_user(const struct mqtt_outq *q);
/* n more bytes written on the connection: QoS 0 messages now fully out are done. */
void mq_written(struct mqtt_outq *q, size_t n);
/*
 * The connection ended: QoS 0 messages not completely written go back to
 * the head of the queue if they may wait (or are spooled), else they are
 * counted and logged; q_written starts again. Status messages in the
 * window or the queue are dropped (the next connection publishes a fresh
 * one).
 */
void mq_connection_lost(struct mqtt_outq *q);
/*
 * The broker closed an accepted connection: the third close in a row
 * with the same message at the head drops that message (DESIGN §7).
 */
void mq_poison_strike(struct mqtt_outq *q);

#endif
