/*
 * mqtt_queue: the outbound messages of mqtt_client, their FIFO lists, the
 * window, the spool records and the poison strikes (see mqtt_queue.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_queue.h"
#include "spool.h"

/*
 * Poison messages (DESIGN §7): the broker closing this many connections in
 * a row with the same message at the head drops that message.
 */
#define MQ_POISON_STRIKES 3

/* List helpers: FIFO of messages. */
void mq_push(struct mq_list *l, struct mq_msg *m)
{
	m->m_next = NULL;
	if (l->l_tail != NULL)
		l->l_tail->m_next = m;
	else
		l->l_head = m;
	l->l_tail = m;
	l->l_count++;
}

struct mq_msg *mq_pop(struct mq_list *l)
{
	struct mq_msg *m = l->l_head;

	if (m == NULL)
		return NULL;
	l->l_head = m->m_next;
	if (l->l_head == NULL)
		l->l_tail = NULL;
	l->l_count--;
	m->m_next = NULL;
	return m;
}

/* Put all of `front` before the messages of `l`, keeping both orders. */
void mq_prepend(struct mq_list *l, struct mq_list *front)
{
	if (front->l_head == NULL)
		return;
	front->l_tail->m_next = l->l_head;
	if (l->l_tail == NULL)
		l->l_tail = front->l_tail;
	l->l_head = front->l_head;
	l->l_count += front->l_count;
	memset(front, 0, sizeof(*front));
}

size_t mq_msg_size(const struct mq_msg *m)
{
	return m->m_topic_len + m->m_payload_len;
}

void mq_msg_free(struct mq_msg *m)
{
	if (m->m_external)
		free(mq_msg_payload(m));
	free(m);
}

char *mq_msg_topic(struct mq_msg *m)
{
	return (char *)(m + 1);
}

char *mq_msg_payload(struct mq_msg *m)
{
	char *p;

	if (!m->m_external)
		return mq_msg_topic(m) + m->m_topic_len;
	memcpy(&p, mq_msg_topic(m) + m->m_topic_len, sizeof(p));
	return p;
}

/* The header and topic of a message whose payload is payload_len bytes. */
static struct mq_msg *mq_msg_alloc(const char *topic, size_t topic_len, size_t payload_len,
                                   size_t behind, int qos, bool retain, bool queueable)
{
	struct mq_msg *m = xmalloc(sizeof(*m) + topic_len + behind);

	memset(m, 0, sizeof(*m));
	m->m_topic_len = topic_len;
	m->m_payload_len = payload_len;
	memcpy(mq_msg_topic(m), topic, topic_len);
	m->m_qos = (uint8_t)qos;
	m->m_retain = retain;
	m->m_queueable = queueable;
	return m;
}

/* One message holding copies of topic and payload. */
struct mq_msg *mq_msg_new(const char *topic, size_t topic_len, const void *payload,
                          size_t payload_len, int qos, bool retain, bool queueable)
{
	struct mq_msg *m =
	        mq_msg_alloc(topic, topic_len, payload_len, payload_len, qos, retain, queueable);

	if (payload_len > 0)
		memcpy(mq_msg_payload(m), payload, payload_len);
	return m;
}

struct mq_msg *mq_msg_new_owned(const char *topic, size_t topic_len, char *payload,
                                size_t payload_len, int qos, bool retain, bool queueable)
{
	struct mq_msg *m = mq_msg_alloc(topic, topic_len, payload_len, sizeof(payload), qos, retain,
	                                queueable);

	/* Behind the topic: the pointer (unaligned, hence memcpy). */
	memcpy(mq_msg_topic(m) + topic_len, &payload, sizeof(payload));
	m->m_external = true;
	return m;
}

/*
 * The status messages of l are removed from it and freed (returns the
 * bytes they held). Its tail pointer and count are rebuilt in one pass.
 */
static size_t mq_list_drop_status(struct mq_list *l)
{
	struct mq_msg **pp = &l->l_head, *m;
	size_t bytes = 0;

	l->l_tail = NULL;
	while ((m = *pp) != NULL) {
		if (m->m_status) {
			*pp = m->m_next;
			l->l_count--;
			bytes += mq_msg_size(m);
			mq_msg_free(m);
			continue;
		}
		l->l_tail = m;
		pp = &m->m_next;
	}
	return bytes;
}

void mq_init(struct mqtt_outq *q, const char *addr, size_t window, size_t max_messages,
             size_t max_bytes, mq_id_busy_fn *id_busy, void *ctx)
{
	memset(q, 0, sizeof(*q));
	q->q_addr = addr;
	q->q_window = window;
	q->q_max_messages = max_messages;
	q->q_max_bytes = max_bytes;
	q->q_next_id = 1;
	q->q_id_busy = id_busy;
	q->q_id_ctx = ctx;
}

/* The message needs no (re)delivery any more: out of the spool, freed. */
static void mq_done(struct mqtt_outq *q, struct mq_msg *m)
{
	if (m == q->q_suspect)
		q->q_suspect = NULL;
	if (m->m_seq != 0 && q->q_spool != NULL)
		spool_done(q->q_spool, m->m_seq);
	mq_msg_free(m);
}

/*
 * A status message still in flight (or waiting for room in the window)
 * when its connection ended is dropped, not re-sent: the next connection
 * publishes a fresh `connected`, and a stale one resent before it would
 * only repeat it.
 */
static void mq_drop_status(struct mqtt_outq *q)
{
	mq_list_drop_status(&q->q_inflight);
	q->q_queue_bytes -= mq_list_drop_status(&q->q_queue);
	q->q_status_inflight = 0;
}

/*
 * After a connection ends: QoS 0 messages not completely written go back
 * to the head of the queue if they may wait, else they are counted and
 * logged. QoS 1/2 messages stay in flight for the next connection.
 */
static void mq_reclaim_unwritten(struct mqtt_outq *q)
{
	struct mq_list back = {0};
	struct mq_msg *m;
	uint64_t lost = 0;

	while ((m = mq_pop(&q->q_unwritten)) != NULL) {
		if (m->m_end <= q->q_written) {
			mq_done(q, m);
			q->q_published++;
		} else if (m->m_queueable || m->m_seq != 0) {
			/* Spooled messages were accepted for delivery: they wait too. */
			mq_push(&back, m);
			q->q_queue_bytes += mq_msg_size(m);
		} else {
			lost++;
			mq_done(q, m);
		}
	}
	mq_prepend(&q->q_queue, &back);
	if (lost > 0) {
		q->q_dropped += lost;
		log_warnx("broker %s: %llu QoS 0 message(s) not sent before the connection "
		          "closed, dropped (not queueable)",
		          q->q_addr, (unsigned long long)lost);
	}
	q->q_written = 0;
}

void mq_connection_lost(struct mqtt_outq *q)
{
	mq_reclaim_unwritten(q);
	mq_drop_status(q);
}

/*
 * The broker closed a connection that had been accepted (DESIGN §7, last
 * point). The message it was busy with is the oldest unacknowledged one
 * or, with none in flight, the next to send (mq_connection_lost has put
 * unwritten QoS 0 messages back at the head of the queue by now). A
 * broker that closes on such a message (larger than its max_packet_size,
 * refused by a plugin) would close on it again on every connect and
 * nothing behind it would ever go out: the third close in a row with the
 * same message there drops it. A close with another message there, or
 * none, starts counting again; a connection that ends any other way
 * (keepalive, timeouts) counts neither way.
 */
void mq_poison_strike(struct mqtt_outq *q)
{
	struct mq_list *l = q->q_inflight.l_head != NULL ? &q->q_inflight : &q->q_queue;
	struct mq_msg *m = l->l_head;

	if (m == NULL || m->m_status) {
		q->q_suspect = NULL;
		q->q_strikes = 0;
		return;
	}
	if (m != q->q_suspect) {
		q->q_suspect = m;
		q->q_strikes = 0;
	}
	if (++q->q_strikes < MQ_POISON_STRIKES)
		return;
	mq_pop(l);
	if (l == &q->q_queue)
		q->q_queue_bytes -= mq_msg_size(m);
	q->q_dropped++;
	q->q_poison_dropped++;
	log_warnx("broker %s closed the connection %d times in a row with the message on '%.*s' "
	          "(%zu bytes payload, QoS %d) next: dropped it",
	          q->q_addr, MQ_POISON_STRIKES, (int)m->m_topic_len, mq_msg_topic(m),
	          m->m_payload_len, m->m_qos);
	mq_done(q, m);
	q->q_strikes = 0;
}

void mq_written(struct mqtt_outq *q, size_t n)
{
	struct mq_msg *m;

	q->q_written += n;
	/* QoS 0 counts as published once all of its bytes are written. */
	while ((m = q->q_unwritten.l_head) != NULL && m->m_end <= q->q_written) {
		mq_pop(&q->q_unwritten);
		mq_done(q, m);
		q->q_published++;
	}
}

uint16_t mq_new_id(struct mqtt_outq *q)
{
	for (;;) {
		uint16_t id = q->q_next_id;
		struct mq_msg *m;

		q->q_next_id = q->q_next_id == 65535 ? 1 : q->q_next_id + 1;
		for (m = q->q_inflight.l_head; m != NULL; m = m->m_next) {
			if (m->m_id == id)
				break;
		}
		/* Far fewer than 65535 ids are ever in use: a free one is found. */
		if (m == NULL && !q->q_id_busy(q->q_id_ctx, id))
			return id;
	}
}

bool mq_full(const struct mqtt_outq *q, size_t topic_len, size_t payload_len)
{
	return q->q_queue.l_count >= q->q_max_messages ||
	       q->q_queue_bytes + topic_len + payload_len > q->q_max_bytes;
}

int mq_spool_sync(struct mqtt_outq *q, char *err, size_t errlen)
{
	return q->q_spool != NULL ? spool_sync(q->q_spool, err, errlen) : 0;
}

uint64_t mq_spool_syncs(const struct mqtt_outq *q)
{
	return q->q_spool != NULL ? spool_syncs(q->q_spool) : 0;
}

int mq_spool_add(struct mqtt_outq *q, struct mq_msg *m)
{
	struct spool_msg sm = {.qos = m->m_qos,
	                       .retain = m->m_retain,
	                       .topic = mq_msg_topic(m),
	                       .topic_len = m->m_topic_len,
	                       .payload = mq_msg_payload(m),
	                       .payload_len = m->m_payload_len};

	if (q->q_spool == NULL)
		return 0;
	if (spool_append(q->q_spool, &sm) != 0)
		return -1;
	m->m_seq = sm.seq;
	return 0;
}

void mq_enqueue(struct mqtt_outq *q, struct mq_msg *m)
{
	mq_push(&q->q_queue, m);
	q->q_queue_bytes += mq_msg_size(m);
}

void mq_enqueue_front(struct mqtt_outq *q, struct mq_msg *m)
{
	struct mq_list front = {0};

	mq_push(&front, m);
	mq_prepend(&q->q_queue, &front);
	q->q_queue_bytes += mq_msg_size(m);
}

bool mq_window_open(const struct mqtt_outq *q)
{
	return q->q_inflight.l_count < q->q_window;
}

void mq_inflight_add(struct mqtt_outq *q, struct mq_msg *m)
{
	m->m_id = mq_new_id(q);
	mq_push(&q->q_inflight, m);
	q->q_status_inflight += m->m_status;
	/* The id is in the spool before the packet is on the wire. */
	if (m->m_seq != 0 && q->q_spool != NULL)
		spool_sent(q->q_spool, m->m_seq, m->m_id, false);
}

void mq_set_pubrec(struct mqtt_outq *q, struct mq_msg *m, bool pubrec)
{
	if (m->m_pubrec == pubrec)
		return;
	m->m_pubrec = pubrec;
	if (m->m_seq != 0 && q->q_spool != NULL)
		spool_sent(q->q_spool, m->m_seq, m->m_id, pubrec);
}

struct mq_msg *mq_next(struct mqtt_outq *q)
{
	struct mq_msg *m = q->q_queue.l_head;

	if (m == NULL || (m->m_qos > 0 && !mq_window_open(q)))
		return NULL;
	mq_pop(&q->q_queue);
	q->q_queue_bytes -= mq_msg_size(m);
	if (m->m_qos > 0)
		mq_inflight_add(q, m);
	return m;
}

struct mq_msg *mq_inflight_find(struct mqtt_outq *q, uint16_t id, struct mq_msg ***link)
{
	struct mq_msg **pp, *m;

	for (pp = &q->q_inflight.l_head; (m = *pp) != NULL; pp = &m->m_next) {
		if (m->m_id == id) {
			*link = pp;
			return m;
		}
	}
	return NULL;
}

void mq_inflight_remove(struct mqtt_outq *q, struct mq_msg **link, struct mq_msg *m)
{
	struct mq_msg *prev = NULL, *p;

	*link = m->m_next;
	if (q->q_inflight.l_tail == m) {
		for (p = q->q_inflight.l_head; p != NULL; p = p->m_next)
			prev = p;
		q->q_inflight.l_tail = prev;
	}
	q->q_inflight.l_count--;
	if (m->m_status)
		q->q_status_inflight--;
	mq_done(q, m);
}

size_t mq_inflight_user(const struct mqtt_outq *q)
{
	return q->q_inflight.l_count - q->q_status_inflight;
}

/*
 * A message of the last run, from the spool. One that went out (QoS 1/2
 * with a packet id) is in flight again under that id: the broker may hold
 * it (a QoS 2 PUBLISH without its PUBREL), and the next connection sends
 * it again as the session asks (mc_session_start). The rest wait in the
 * queue.
 */
static void mq_replay(void *ctx, const struct spool_msg *sm)
{
	struct mqtt_outq *q = ctx;
	struct mq_msg *m = mq_msg_new(sm->topic, sm->topic_len, sm->payload, sm->payload_len,
	                              sm->qos, sm->retain, true);

	m->m_seq = sm->seq;
	q->q_queued++;
	if (sm->qos > 0 && sm->packet_id != 0) {
		m->m_id = sm->packet_id;
		m->m_pubrec = sm->qos == 2 && sm->pubrec;
		mq_push(&q->q_inflight, m);
		return;
	}
	mq_enqueue(q, m);
}

int mq_spool_open(struct mqtt_outq *q, const char *dir, char *err, size_t errlen)
{
	q->q_spool = spool_open(dir, mq_replay, q, err, errlen);
	return q->q_spool != NULL ? 0 : -1;
}

/* Messages still held at the end are counted and logged, never silent. */
void mq_free(struct mqtt_outq *q)
{
	struct mq_msg *m;
	uint64_t n = 0;

	uint64_t kept = 0;

	mq_connection_lost(q);
	while ((m = mq_pop(&q->q_queue)) != NULL || (m = mq_pop(&q->q_inflight))) {
		if (m->m_seq != 0)
			kept++;
		else
			n++;
		mq_msg_free(m);
	}
	q->q_queue_bytes = 0;
	if (n > 0) {
		q->q_dropped += n;
		log_warnx("broker %s: %llu message(s) not delivered at shutdown", q->q_addr,
		          (unsigned long long)n);
	}
	if (kept > 0)
		log_info("broker %s: %llu message(s) not delivered yet, kept in the spool",
		         q->q_addr, (unsigned long long)kept);
	spool_close(q->q_spool);
	q->q_spool = NULL;
}
