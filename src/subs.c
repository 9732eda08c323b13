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
	struct subs_ops s_ops;
	struct buf s_targets; /* ids given to add_target: NUL-terminated */
	size_t s_ntargets;
	struct buf s_broker; /* the broker set now: NUL-terminated filters */
	size_t s_nbroker;
	struct buf s_body; /* reused for each delivery */
	uint64_t s_messages, s_deliveries, s_undeliverable;
};

struct subs *subs_new(struct registry *reg, struct mqtt_client *mc, int qos,
                      const struct subs_ops *ops)
{
	struct subs *s = xcalloc(1, sizeof(*s));

	s->s_reg = reg;
	s->s_mc = mc;
	s->s_qos = qos;
	s->s_ops = *ops;
	buf_init(&s->s_targets);
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
	buf_free(&s->s_targets);
	free(s);
}

size_t subs_broker_count(const struct subs *s)
{
	return s->s_nbroker;
}

void subs_stats(const struct subs *s, uint64_t *messages, uint64_t *deliveries,
                uint64_t *undeliverable)
{
	*messages = s->s_messages;
	*deliveries = s->s_deliveries;
	*undeliverable = s->s_undeliverable;
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

/* The delivery targets follow the registry: one per subscription id. */
static void subs_sync_targets(struct subs *s)
{
	size_t n = registry_count(s->s_reg), i;
	struct buf next = BUF_INITIALIZER;
	const char *p;

	for (i = 0; i < n; i++) {
		const struct reg_entry *e = registry_at(s->s_reg, i);

		buf_append(&next, e->id, strlen(e->id) + 1);
		if (!subs_in(buf_data(&s->s_targets), s->s_ntargets, e->id) &&
		    s->s_ops.add_target(s->s_ops.ctx, e) != 0)
			log_warnx("subscription %s: no deliveries to %s", e->id, e->url);
	}
	for (i = 0, p = buf_data(&s->s_targets); i < s->s_ntargets; i++, p += strlen(p) + 1) {
		if (!subs_in(buf_data(&next), n, p))
			s->s_ops.remove_target(s->s_ops.ctx, p);
	}
	buf_free(&s->s_targets);
	s->s_targets = next;
	s->s_ntargets = n;
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
	subs_sync_targets(s);
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
		webhook_body(&s->s_body, msg->topic, msg->topic_len, msg->payload, msg->payload_len,
		             msg->retain, msg->qos, e->args, e->kwargs);
		if (s->s_ops.deliver(s->s_ops.ctx, e, buf_data(&s->s_body), buf_len(&s->s_body)) !=
		    0) {
			s->s_undeliverable++;
			log_debug("subscription %s: message on '%.*s' not deliverable", e->id,
			          (int)msg->topic_len, msg->topic);
			continue;
		}
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
