/*
 * mqtt_subset: the broker subscription set (see mqtt_subset.h), moved out
 * of mqtt_client.c as it was.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_subset.h"

/* A filter of the subscription set. */
struct mc_sub {
	struct mc_sub *s_next;
	int s_qos;
	uint16_t s_id;  /* SUBSCRIBE or UNSUBSCRIBE awaiting its answer, else 0 */
	bool s_active;  /* granted by the broker in the current session */
	bool s_removed; /* unsubscribed: kept until UNSUBACK, or dropped at reconnect */
	size_t s_len;
	char s_filter[];
};

struct mqtt_subset {
	struct mc_sub *ss_subs;
	const char *ss_addr;
	mqtt_subset_send_fn *ss_send;
	void *ss_send_ctx;
	mqtt_subset_ack_fn *ss_on_ack;
	void *ss_on_ack_ctx;
};

struct mqtt_subset *mqtt_subset_new(const char *addr, mqtt_subset_send_fn *send, void *ctx)
{
	struct mqtt_subset *s = xcalloc(1, sizeof(*s));

	s->ss_addr = addr;
	s->ss_send = send;
	s->ss_send_ctx = ctx;
	return s;
}

static void mc_sub_free(struct mqtt_subset *s, struct mc_sub *sub)
{
	struct mc_sub **pp;

	for (pp = &s->ss_subs; *pp != sub; pp = &(*pp)->s_next)
		;
	*pp = sub->s_next;
	free(sub);
}

void mqtt_subset_free(struct mqtt_subset *s)
{
	if (s == NULL)
		return;
	while (s->ss_subs != NULL)
		mc_sub_free(s, s->ss_subs);
	free(s);
}

void mqtt_subset_on_ack(struct mqtt_subset *s, mqtt_subset_ack_fn *fn, void *ctx)
{
	s->ss_on_ack = fn;
	s->ss_on_ack_ctx = ctx;
}

static struct mc_sub *mc_sub_find(struct mqtt_subset *s, const char *filter, size_t len)
{
	struct mc_sub *sub;

	for (sub = s->ss_subs; sub != NULL; sub = sub->s_next) {
		if (sub->s_len == len && memcmp(sub->s_filter, filter, len) == 0)
			return sub;
	}
	return NULL;
}

/* SUBSCRIBE or UNSUBSCRIBE for one filter, on the current connection. */
static void mc_sub_send(struct mqtt_subset *s, struct mc_sub *sub)
{
	sub->s_id =
	        s->ss_send(s->ss_send_ctx, !sub->s_removed, sub->s_filter, sub->s_len, sub->s_qos);
}

void mqtt_subset_subscribe(struct mqtt_subset *s, const char *filter, size_t len, int qos,
                           bool connected)
{
	struct mc_sub *sub = mc_sub_find(s, filter, len);

	if (sub == NULL) {
		sub = xcalloc(1, sizeof(*sub) + len + 1);
		memcpy(sub->s_filter, filter, len);
		sub->s_len = len;
		sub->s_next = s->ss_subs;
		s->ss_subs = sub;
	} else if (!sub->s_removed && sub->s_qos == qos) {
		return;
	}
	sub->s_qos = qos;
	sub->s_removed = false;
	sub->s_active = false;
	if (connected)
		mc_sub_send(s, sub);
}

int mqtt_subset_unsubscribe(struct mqtt_subset *s, const char *filter, size_t len, bool connected)
{
	struct mc_sub *sub = mc_sub_find(s, filter, len);

	if (sub == NULL || sub->s_removed)
		return -1;
	sub->s_removed = true;
	sub->s_active = false;
	if (connected)
		mc_sub_send(s, sub);
	/* Otherwise sent on a resumed session, or forgotten with the session. */
	return 0;
}

void mqtt_subset_connected(struct mqtt_subset *s, bool session_present)
{
	struct mc_sub *sub, *next;
	size_t n = 0;

	for (sub = s->ss_subs; sub != NULL; sub = next) {
		next = sub->s_next;
		sub->s_id = 0;
		if (!session_present) {
			sub->s_active = false;
			if (sub->s_removed) {
				mc_sub_free(s, sub);
				continue;
			}
		}
		if (!sub->s_active) {
			mc_sub_send(s, sub);
			n += !sub->s_removed;
		}
	}
	if (n > 0)
		log_info("broker %s: subscribing to %zu filter(s)", s->ss_addr, n);
}

void mqtt_subset_acked(struct mqtt_subset *s, bool unsuback, uint16_t id, const uint8_t *body,
                       size_t body_len)
{
	struct mc_sub *sub;
	int granted;

	for (sub = s->ss_subs; sub != NULL; sub = sub->s_next) {
		if (sub->s_id == id && sub->s_id != 0)
			break;
	}
	if (sub == NULL) {
		log_debug("broker %s: %s for unknown packet id %u ignored", s->ss_addr,
		          unsuback ? "UNSUBACK" : "SUBACK", id);
		return;
	}
	sub->s_id = 0;
	if (unsuback) {
		if (sub->s_removed)
			mc_sub_free(s, sub);
		return;
	}
	if (sub->s_removed)
		return;
	granted = body_len >= 1 && body[0] <= 2 ? body[0] : -1;
	sub->s_active = granted >= 0;
	if (granted < 0)
		log_warnx("broker %s refused the subscription to '%.*s' (SUBACK 0x%02x)",
		          s->ss_addr, (int)sub->s_len, sub->s_filter,
		          body_len >= 1 ? body[0] : 0x80);
	else
		log_debug("broker %s: subscribed to '%.*s' with QoS %d", s->ss_addr,
		          (int)sub->s_len, sub->s_filter, granted);
	if (s->ss_on_ack != NULL)
		s->ss_on_ack(s->ss_on_ack_ctx, sub->s_filter, sub->s_len, granted);
}

bool mqtt_subset_uses_id(const struct mqtt_subset *s, uint16_t id)
{
	const struct mc_sub *sub;

	for (sub = s->ss_subs; sub != NULL; sub = sub->s_next) {
		if (sub->s_id == id)
			return true;
	}
	return false;
}
