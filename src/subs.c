/*
 * subs: registry <-> broker subscriptions, inbound messages -> deliveries
 * (see subs.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bset.h"
#include "compat.h"
#include "json.h"
#include "log.h"
#include "mqtt_client.h"
#include "registry.h"
#include "subs.h"
#include "topic.h"
#include "trie.h"
#include "webhook.h"

/*
 * A held message: a QoS 1/2 message whose acknowledgement waits for its
 * deliveries. The slots form an array reused through a free list; a
 * delivery's cookie is the slot's index + 1 (low 32 bits) and its
 * generation (high 32 bits), bumped each time the slot is let go, so a
 * completion finds its message without a search and a stale cookie
 * finds nothing. The inbound QoS 1/2 flow is bounded by the broker's
 * in-flight window, so the array stays small.
 */
struct subs_held {
	uint64_t h_token; /* the client's; 0: the slot is free */
	uint32_t h_gen;
	uint32_t h_next_free; /* index + 1 of the next free slot, 0: none */
	size_t h_left;        /* deliveries not ended (+1 while they are being queued) */
	char *h_topic;        /* for the log line of one that ends undelivered */
	size_t h_topic_len;
	int h_qos;
};

struct subs {
	struct registry *s_reg;
	struct mqtt_client *s_mc;
	int s_qos;
	struct subs_ops s_ops;
	struct trie *s_match;            /* registered filter -> its reg_entry */
	struct bset *s_broker;           /* the broker subscriptions */
	const struct reg_entry **s_hits; /* the matches of one message */
	size_t s_nhits, s_caphits;
	size_t s_changes;  /* broker subscription changes in this subs_sync */
	struct buf s_body; /* reused for each delivery */
	uint64_t s_messages, s_deliveries, s_undeliverable;
	struct subs_held *s_held;
	uint32_t s_held_cap, s_held_n; /* slots allocated, slots in use */
	uint32_t s_free;               /* index + 1 of the first free slot, 0: none */
};

void subs_body(struct buf *out, const char *topic, size_t topic_len, const void *payload,
               size_t payload_len, bool retained, int qos, const char *args, const char *kwargs)
{
	buf_append_str(out, "{\"topic\":");
	json_append_string(out, topic, topic_len);
	if (utf8_valid(payload, payload_len)) {
		buf_append_str(out, ",\"payload\":");
		json_append_string(out, payload, payload_len);
	} else {
		buf_append_str(out, ",\"payload\":null,\"payload_base64\":\"");
		json_base64_encode(payload, payload_len, out);
		buf_putc(out, '"');
	}
	buf_append_str(out, retained ? ",\"retained\":true" : ",\"retained\":false");
	buf_append_str(out, ",\"qos\":");
	buf_append_int(out, qos);
	buf_append_str(out, ",\"args\":");
	buf_append_str(out, args != NULL ? args : "[]");
	buf_append_str(out, ",\"kwargs\":");
	buf_append_str(out, kwargs != NULL ? kwargs : "{}");
	buf_putc(out, '}');
}

static void subs_on_change(void *ctx, const struct reg_entry *e, bool added);

struct subs *subs_new(struct registry *reg, struct mqtt_client *mc, int qos,
                      const struct subs_ops *ops)
{
	struct subs *s = xcalloc(1, sizeof(*s));
	size_t i, n = registry_count(reg);

	s->s_reg = reg;
	s->s_mc = mc;
	s->s_qos = qos;
	s->s_ops = *ops;
	s->s_match = trie_new();
	s->s_broker = bset_new();
	buf_init(&s->s_body);
	for (i = 0; i < n; i++)
		subs_on_change(s, registry_at(reg, i), true);
	registry_set_hook(reg, subs_on_change, s);
	return s;
}

void subs_free(struct subs *s)
{
	uint32_t i;

	if (s == NULL)
		return;
	/* Held messages are not acknowledged: see subs.h. */
	for (i = 0; i < s->s_held_cap; i++)
		free(s->s_held[i].h_topic);
	free(s->s_held);
	registry_set_hook(s->s_reg, NULL, NULL);
	trie_free(s->s_match);
	bset_free(s->s_broker);
	free(s->s_hits);
	buf_free(&s->s_body);
	free(s);
}

size_t subs_broker_count(const struct subs *s)
{
	return bset_count(s->s_broker);
}

void subs_stats(const struct subs *s, uint64_t *messages, uint64_t *deliveries,
                uint64_t *undeliverable)
{
	*messages = s->s_messages;
	*deliveries = s->s_deliveries;
	*undeliverable = s->s_undeliverable;
}

size_t subs_held(const struct subs *s)
{
	return s->s_held_n;
}

/* A slot for msg's token, counting one for the deliveries being queued. */
static uint32_t subs_hold(struct subs *s, const struct mqtt_message *msg, uint64_t token)
{
	struct subs_held *h;
	uint32_t i;

	if (s->s_free == 0) {
		uint32_t cap = s->s_held_cap ? s->s_held_cap * 2 : 16;

		if (cap <= s->s_held_cap)
			fatalx("subs: too many messages held");
		s->s_held = xrealloc(s->s_held, cap * sizeof(*s->s_held));
		memset(s->s_held + s->s_held_cap, 0, (cap - s->s_held_cap) * sizeof(*s->s_held));
		for (i = s->s_held_cap; i < cap; i++)
			s->s_held[i].h_next_free = i + 1 < cap ? i + 2 : 0;
		s->s_free = s->s_held_cap + 1;
		s->s_held_cap = cap;
	}
	i = s->s_free - 1;
	h = &s->s_held[i];
	s->s_free = h->h_next_free;
	h->h_next_free = 0;
	h->h_token = token;
	h->h_left = 1;
	h->h_topic = xstrndup(msg->topic, msg->topic_len);
	h->h_topic_len = msg->topic_len;
	h->h_qos = msg->qos;
	s->s_held_n++;
	return i;
}

static uint64_t subs_cookie(const struct subs *s, uint32_t i)
{
	return (uint64_t)s->s_held[i].h_gen << 32 | (uint64_t)(i + 1);
}

/* One of slot i's deliveries (or the queueing itself) has ended. */
static void subs_release(struct subs *s, uint32_t i)
{
	struct subs_held *h = &s->s_held[i];
	uint64_t token = h->h_token;

	if (--h->h_left > 0)
		return;
	free(h->h_topic);
	h->h_topic = NULL;
	h->h_token = 0;
	h->h_gen++;
	h->h_next_free = s->s_free;
	s->s_free = i + 1;
	s->s_held_n--;
	/* Every delivery has ended: the broker may forget the message. */
	mqtt_client_ack(s->s_mc, token);
}

void subs_on_done(void *ctx, uint64_t cookie, const char *id, enum webhook_outcome outcome)
{
	struct subs *s = ctx;
	uint64_t slot = cookie & 0xffffffffu;
	struct subs_held *h;

	if (slot == 0 || slot > s->s_held_cap)
		return;
	h = &s->s_held[slot - 1];
	if (h->h_token == 0 || h->h_gen != (uint32_t)(cookie >> 32))
		return;
	if (outcome != WEBHOOK_DELIVERED)
		log_info("message on '%.*s' (QoS %d) not delivered to subscription %s (%s); "
		         "acknowledged to the broker all the same",
		         (int)h->h_topic_len, h->h_topic, h->h_qos, id,
		         webhook_outcome_name(outcome));
	subs_release(s, (uint32_t)(slot - 1));
}

/* A subscription came (added) or goes: matching, targets, broker set. */
static void subs_on_change(void *ctx, const struct reg_entry *e, bool added)
{
	struct subs *s = ctx;
	size_t len = strlen(e->topic);

	if (added) {
		trie_add(s->s_match, e->topic, len, (void *)(uintptr_t)e);
		bset_add(s->s_broker, e->topic, len);
		if (s->s_ops.add_target(s->s_ops.ctx, e) != 0)
			log_warnx("subscription %s: no deliveries to %s", e->id, e->url);
		return;
	}
	trie_remove(s->s_match, e->topic, len, (void *)(uintptr_t)e);
	bset_remove(s->s_broker, e->topic, len);
	s->s_ops.remove_target(s->s_ops.ctx, e->id);
}

/* Broker changes logged one by one at info in one subs_sync; beyond, at debug. */
#define SUBS_LOG_CHANGES 10

static void subs_broker_change(void *ctx, const char *f, size_t len, bool subscribe)
{
	struct subs *s = ctx;
	char line[ERR_LEN];

	if (subscribe) {
		snprintf(line, sizeof(line), "subscribing to '%s' at the broker (QoS %d)", f,
		         s->s_qos);
		mqtt_client_subscribe(s->s_mc, f, len, s->s_qos);
	} else {
		snprintf(line, sizeof(line), "no longer subscribed to '%s' at the broker", f);
		mqtt_client_unsubscribe(s->s_mc, f, len);
	}
	if (++s->s_changes <= SUBS_LOG_CHANGES)
		log_info("%s", line);
	else
		log_debug("%s", line);
}

void subs_sync(struct subs *s)
{
	/* Subscribes what is new first, then unsubscribes what is no longer
	 * needed: in between a message may come twice, never not at all.
	 * At start with 100,000 subscriptions: 10 lines and a count, not
	 * 100,000 lines. */
	s->s_changes = 0;
	bset_flush(s->s_broker, subs_broker_change, s);
	if (s->s_changes > SUBS_LOG_CHANGES)
		log_info(
		        "... and %zu more change(s) of the broker subscriptions (log.level = debug "
		        "lists them)",
		        s->s_changes - SUBS_LOG_CHANGES);
}

/* trie_match_fn: one registered filter matches. */
static void subs_hit(void *ctx, void *value)
{
	struct subs *s = ctx;

	if (s->s_nhits == s->s_caphits) {
		s->s_caphits = s->s_caphits ? s->s_caphits * 2 : 16;
		s->s_hits = xrealloc(s->s_hits, s->s_caphits * sizeof(*s->s_hits));
	}
	s->s_hits[s->s_nhits++] = value;
}

static int subs_by_seq(const void *a, const void *b)
{
	const struct reg_entry *x = *(const struct reg_entry *const *)a;
	const struct reg_entry *y = *(const struct reg_entry *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void subs_on_message(void *ctx, const struct mqtt_message *msg, uint64_t token)
{
	struct subs *s = ctx;
	size_t i, hits = 0;
	uint32_t slot = 0;
	uint64_t cookie = 0;

	s->s_messages++;
	/*
	 * A QoS 1/2 message is held from here. The slot counts one more
	 * than its deliveries while they are queued, so one that ends at
	 * once (inside deliver) cannot acknowledge the message before its
	 * siblings are queued.
	 */
	if (token != 0) {
		slot = subs_hold(s, msg, token);
		cookie = subs_cookie(s, slot);
	}
	/* Deliveries go in registration order, as the registry lists them. */
	s->s_nhits = 0;
	trie_match(s->s_match, msg->topic, msg->topic_len, subs_hit, s);
	if (s->s_nhits > 1)
		qsort(s->s_hits, s->s_nhits, sizeof(*s->s_hits), subs_by_seq);
	for (i = 0; i < s->s_nhits; i++) {
		const struct reg_entry *e = s->s_hits[i];

		buf_reset(&s->s_body);
		subs_body(&s->s_body, msg->topic, msg->topic_len, msg->payload, msg->payload_len,
		          msg->retain, msg->qos, e->args, e->kwargs);
		if (token != 0)
			s->s_held[slot].h_left++;
		if (s->s_ops.deliver(s->s_ops.ctx, e, buf_data(&s->s_body), buf_len(&s->s_body),
		                     cookie) != 0) {
			if (token != 0)
				s->s_held[slot].h_left--;
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
	/* All queued: the acknowledgement waits for them (none: it goes now). */
	if (token != 0)
		subs_release(s, slot);
}
