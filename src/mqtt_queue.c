/*
 * mqtt_queue: message FIFOs of mqtt_client (see mqtt_queue.h), moved out of
 * mqtt_client.c as they were.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_queue.h"

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
	free(m);
}

char *mq_msg_topic(struct mq_msg *m)
{
	return (char *)(m + 1);
}

char *mq_msg_payload(struct mq_msg *m)
{
	return mq_msg_topic(m) + m->m_topic_len;
}

/* One message holding copies of topic and payload. */
struct mq_msg *mq_msg_new(const char *topic, size_t topic_len, const void *payload,
                          size_t payload_len, int qos, bool retain, bool queueable)
{
	struct mq_msg *m = xmalloc(sizeof(*m) + topic_len + payload_len);

	memset(m, 0, sizeof(*m));
	m->m_topic_len = topic_len;
	m->m_payload_len = payload_len;
	memcpy(mq_msg_topic(m), topic, topic_len);
	if (payload_len > 0)
		memcpy(mq_msg_payload(m), payload, payload_len);
	m->m_qos = (uint8_t)qos;
	m->m_retain = retain;
	m->m_queueable = queueable;
	return m;
}

/*
 * The status messages of l are removed from it and freed (returns the
 * bytes they held). Its tail pointer and count are rebuilt in one pass.
 */
size_t mq_drop_status(struct mq_list *l)
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
