/*
 * subs: registry <-> broker subscriptions, inbound messages -> deliveries
 * (see subs.h).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "mqtt_client.h"
#include "registry.h"
#include "subs.h"
#include "topic.h"
#include "webhook.h"

struct subs {
	struct registry *s_reg;
	struct mqtt_client *s_mc;
	int s_qos;
	subs_deliver_fn *s_fn;
	void *s_ctx;
	struct buf s_broker; /* the broker set now: NUL-terminated filters */
	size_t s_nbroker;
	struct buf s_body; /* reused for each delivery */
	uint64_t s_messages, s_deliveries;
};

struct subs *subs_new(struct registry *reg, struct mqtt_client *mc, int qos, subs_deliver_fn *fn,
                      void *ctx)
{
	struct subs *s = xcalloc(1, sizeof(*s));

	s->s_reg = reg;
	s->s_mc = mc;
	s->s_qos = qos;
	s->s_fn = fn;
	s->s_ctx = ctx;
	buf_init(&s->s_broker);
	buf_init(&s->s_body);
	return s;
}

void subs_free(struct subs *s)
{
	if (s == NULL)
		return;
	buf_free(&s->s_broker);
	buf_free(&s->s_body);
	free(s);
}

size_t subs_broker_count(const struct subs *s)
{
	return s->s_nbroker;
}

void subs_stats(const struct subs *s, uint64_t *messages, uint64_t *deliveries)
{
	*messages = s->s_messages;
	*deliveries = s->s_deliveries;
}

/* Is filter f (with its NUL) among the n filters of set? */
static bool subs_in(const char *set, size_t n, const char *f)
{
	size_t i;

	for (i = 0; i < n; i++, set += strlen(set) + 1) {
		if (strcmp(set, f) == 0)
			return true;
	}
	return false;
}

void subs_sync(struct subs *s)
{
	size_t n = registry_count(s->s_reg), m, i;
	struct topic_span *f = xcalloc(n ? n : 1, sizeof(*f));
	struct buf next = BUF_INITIALIZER;
	const char *p;

	for (i = 0; i < n; i++) {
		f[i].s = registry_at(s->s_reg, i)->topic;
		f[i].len = strlen(f[i].s);
	}
	m = topic_broker_set(f, n, &next);
	free(f);
	/*
	 * Subscribe what is new first, then unsubscribe what is no longer
	 * needed: in between a message may come twice, never not at all.
	 */
	for (i = 0, p = buf_data(&next); i < m; i++, p += strlen(p) + 1) {
		if (!subs_in(buf_data(&s->s_broker), s->s_nbroker, p)) {
			log_info("subscribing to '%s' at the broker (QoS %d)", p, s->s_qos);
			mqtt_client_subscribe(s->s_mc, p, strlen(p), s->s_qos);
		}
	}
	for (i = 0, p = buf_data(&s->s_broker); i < s->s_nbroker; i++, p += strlen(p) + 1) {
		if (!subs_in(buf_data(&next), m, p)) {
			log_info("no longer subscribed to '%s' at the broker", p);
			mqtt_client_unsubscribe(s->s_mc, p, strlen(p));
		}
	}
	buf_free(&s->s_broker);
	s->s_broker = next;
	s->s_nbroker = m;
}

void subs_on_message(void *ctx, const struct mqtt_message *msg, uint64_t token)
{
	struct subs *s = ctx;
	size_t i, n = registry_count(s->s_reg), hits = 0;

	s->s_messages++;
	for (i = 0; i < n; i++) {
		const struct reg_entry *e = registry_at(s->s_reg, i);

		if (!topic_match(e->topic, strlen(e->topic), msg->topic, msg->topic_len))
			continue;
		buf_reset(&s->s_body);
		webhook_body(&s->s_body, msg->topic, msg->topic_len, msg->payload,
		             msg->payload_len, msg->retain, msg->qos, e->args, e->kwargs);
		s->s_fn(s->s_ctx, e, buf_data(&s->s_body), buf_len(&s->s_body));
		hits++;
	}
	s->s_deliveries += hits;
	if (hits == 0)
		log_debug("message on '%.*s' matches no subscription", (int)msg->topic_len,
		          msg->topic);
	buf_shrink(&s->s_body, 65536);
	/* Every delivery is queued: the broker may forget the message. */
	if (token != 0)
		mqtt_client_ack(s->s_mc, token);
}
