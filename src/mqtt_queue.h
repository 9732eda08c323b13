/*
 * mqtt_queue: the outbound messages of mqtt_client and their FIFO lists
 * (queue, unwritten, in flight). A message carries copies of its topic and
 * payload in the same allocation. Pure: no I/O; mqtt_client does the
 * sending and the spool.
 */
#ifndef OCTO_MQTT_QUEUE_H
#define OCTO_MQTT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A message and, right behind it in the same allocation, its topic and
 * payload bytes (mq_msg_topic, mq_msg_payload). A full queue holds
 * queue.max_messages of these, so the header is kept small (48 bytes
 * on 64-bit systems).
 */
struct mq_msg {
	struct mq_msg *m_next;
	size_t m_topic_len;
	size_t m_payload_len;
	uint8_t m_qos;
	bool m_retain;
	bool m_queueable;
	bool m_pubrec;  /* QoS 2: PUBREC received, PUBREL sent */
	bool m_counted; /* QoS 1/2: counted in `published` (resends are not) */
	bool m_status;  /* connected/disconnected: not a user message, never counted */
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
/* The copies of topic and payload behind the header. */
char *mq_msg_topic(struct mq_msg *m);
char *mq_msg_payload(struct mq_msg *m);
/* One message holding copies of topic and payload. */
struct mq_msg *mq_msg_new(const char *topic, size_t topic_len, const void *payload,
                          size_t payload_len, int qos, bool retain, bool queueable);
/* Remove and free the status messages of l; returns the bytes they held. */
size_t mq_drop_status(struct mq_list *l);

#endif
