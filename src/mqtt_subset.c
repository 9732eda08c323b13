/*
 * mqtt_subset: the broker subscription set (see mqtt_subset.h).
 *
 * Filters are found through a hash table, and at most SS_WINDOW SUBSCRIBE
 * or UNSUBSCRIBE packets await their answer at once: the rest wait in
 * order and go as answers come. Packet ids are shared with the QoS 1/2
 * publishes and number 65535 at most; 100,000 filters sent at once at a
 * connect would run out of them (issue 17), and each answer or id check
 * looks only at the packets in flight.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "mqtt_subset.h"

#define SS_WINDOW 64

enum ss_where { SS_IDLE, SS_WAITING, SS_INFLIGHT };

/* A filter of the subscription set. */
struct mc_sub {
	struct mc_sub *s_next, *s_prev;   /* every filter, newest first */
	struct htab_node s_node;          /* in ss_tab, by filter */
	struct mc_sub *s_qnext, *s_qprev; /* in ss_wait or ss_inflight */
	enum ss_where s_where;
	int s_qos;
	uint16_t s_id;  /* SUBSCRIBE or UNSUBSCRIBE awaiting its answer, else 0 */
	bool s_active;  /* granted by the broker in the current session */
	bool s_removed; /* unsubscribed: kept until UNSUBACK, or dropped at reconnect */
	size_t s_len;
	char s_filter[];
};

struct ss_list {
	struct mc_sub *head, *tail;
	size_t n;
};

struct mqtt_subset {
	struct mc_sub *ss_subs;
	struct htab ss_tab; /* by filter */
	struct ss_list ss_wait, ss_inflight;
	const char *ss_addr;
	mqtt_subset_send_fn *ss_send;
	void *ss_send_ctx;
	mqtt_subset_ack_fn *ss_on_ack;
	void *ss_on_ack_ctx;
};

static void ss_list_add(struct ss_list *l, struct mc_sub *sub)
{
	sub->s_qnext = NULL;
	sub->s_qprev = l->tail;
	if (l->tail != NULL)
		l->tail->s_qnext = sub;
	else
		l->head = sub;
	l->tail = sub;
	l->n++;
}

static void ss_list_del(struct ss_list *l, struct mc_sub *sub)
{
	if (sub->s_qprev != NULL)
		sub->s_qprev->s_qnext = sub->s_qnext;
	else
		l->head = sub->s_qnext;
	if (sub->s_qnext != NULL)
		sub->s_qnext->s_qprev = sub->s_qprev;
	else
		l->tail = sub->s_qprev;
	l->n--;
}

/* sub leaves the wait or in-flight list it is in. */
static void ss_unqueue(struct mqtt_subset *s, struct mc_sub *sub)
{
	if (sub->s_where == SS_WAITING)
		ss_list_del(&s->ss_wait, sub);
	else if (sub->s_where == SS_INFLIGHT)
		ss_list_del(&s->ss_inflight, sub);
	sub->s_where = SS_IDLE;
}

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
	htab_remove(&s->ss_tab, &sub->s_node);
	ss_unqueue(s, sub);
	if (sub->s_prev != NULL)
		sub->s_prev->s_next = sub->s_next;
	else
		s->ss_subs = sub->s_next;
	if (sub->s_next != NULL)
		sub->s_next->s_prev = sub->s_prev;
	free(sub);
}

void mqtt_subset_free(struct mqtt_subset *s)
{
	if (s == NULL)
		return;
	while (s->ss_subs != NULL)
		mc_sub_free(s, s->ss_subs);
	htab_free(&s->ss_tab);
	free(s);
}

void mqtt_subset_on_ack(struct mqtt_subset *s, mqtt_subset_ack_fn *fn, void *ctx)
{
	s->ss_on_ack = fn;
	s->ss_on_ack_ctx = ctx;
}

static struct mc_sub *mc_sub_find(struct mqtt_subset *s, const char *filter, size_t len)
{
	uint64_t h = htab_fnv(HTAB_FNV_BASIS, filter, len);
	struct htab_node *n;

	for (n = htab_chain(&s->ss_tab, h); n != NULL; n = n->hn_next) {
		struct mc_sub *sub = HTAB_ENTRY(n, struct mc_sub, s_node);

		if (n->hn_hash == h && sub->s_len == len && memcmp(sub->s_filter, filter, len) == 0)
			return sub;
	}
	return NULL;
}

/*
 * SUBSCRIBE or UNSUBSCRIBE for one filter, on the current connection: at
 * once while fewer than SS_WINDOW await their answer (or this filter's own
 * does: its new packet takes over), else in turn (ss_pump).
 */
static void mc_sub_send(struct mqtt_subset *s, struct mc_sub *sub)
{
	if (sub->s_where == SS_WAITING)
		return;
	if (sub->s_where != SS_INFLIGHT && s->ss_inflight.n >= SS_WINDOW) {
		sub->s_where = SS_WAITING;
		ss_list_add(&s->ss_wait, sub);
		return;
	}
	if (sub->s_where != SS_INFLIGHT) {
		sub->s_where = SS_INFLIGHT;
		ss_list_add(&s->ss_inflight, sub);
	}
	sub->s_id =
	        s->ss_send(s->ss_send_ctx, !sub->s_removed, sub->s_filter, sub->s_len, sub->s_qos);
}

/* Room in the window: the waiting ones go, in order. */
static void ss_pump(struct mqtt_subset *s)
{
	while (s->ss_inflight.n < SS_WINDOW && s->ss_wait.head != NULL) {
		struct mc_sub *sub = s->ss_wait.head;

		ss_unqueue(s, sub);
		mc_sub_send(s, sub);
	}
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
		if (s->ss_subs != NULL)
			s->ss_subs->s_prev = sub;
		s->ss_subs = sub;
		htab_insert(&s->ss_tab, &sub->s_node, htab_fnv(HTAB_FNV_BASIS, filter, len));
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

	/* What was in flight or waiting belonged to the last connection. */
	while (s->ss_inflight.head != NULL)
		ss_unqueue(s, s->ss_inflight.head);
	while (s->ss_wait.head != NULL)
		ss_unqueue(s, s->ss_wait.head);
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

	for (sub = s->ss_inflight.head; sub != NULL; sub = sub->s_qnext) {
		if (sub->s_id == id && sub->s_id != 0)
			break;
	}
	if (sub == NULL) {
		log_debug("broker %s: %s for unknown packet id %u ignored", s->ss_addr,
		          unsuback ? "UNSUBACK" : "SUBACK", id);
		return;
	}
	sub->s_id = 0;
	ss_unqueue(s, sub);
	ss_pump(s);
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

	for (sub = s->ss_inflight.head; sub != NULL; sub = sub->s_qnext) {
		if (sub->s_id == id)
			return true;
	}
	return false;
}
