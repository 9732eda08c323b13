/*
 * mqtt_inbound: held acknowledgements and QoS 2 ids of mqtt_client (see
 * mqtt_inbound.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_inbound.h"

/*
 * Inbound QoS 2 packet ids awaiting PUBREL: one bit per possible id, so
 * every one is remembered however many the broker leaves unreleased (a
 * fixed list would have to forget some, and a forgotten id's duplicate
 * would be delivered twice). 8 KiB, allocated with the client.
 */
#define MI_QOS2_BYTES (65536 / 8)

/* An inbound QoS 1/2 message whose PUBACK/PUBREC waits for its delivery. */
struct mi_ack {
	uint64_t a_token;
	uint16_t a_id;
	enum mqtt_type a_type; /* MQTT_PUBACK or MQTT_PUBREC */
	bool a_ready;          /* mqtt_client_ack() was called */
};

struct mqtt_inbound {
	/* The held acknowledgements in arrival order ([head, n) of the array). */
	struct mi_ack *i_acks;
	size_t i_head, i_n, i_cap;
	uint64_t i_token_next;
	uint8_t *i_qos2_ids; /* MI_QOS2_BYTES: bit `id` set from PUBLISH to PUBREL */
};

struct mqtt_inbound *mqtt_inbound_new(void)
{
	struct mqtt_inbound *in = xcalloc(1, sizeof(*in));

	in->i_qos2_ids = xcalloc(1, MI_QOS2_BYTES);
	return in;
}

void mqtt_inbound_free(struct mqtt_inbound *in)
{
	if (in == NULL)
		return;
	free(in->i_acks);
	free(in->i_qos2_ids);
	free(in);
}

uint64_t mqtt_inbound_hold(struct mqtt_inbound *in, enum mqtt_type type, uint16_t id)
{
	if (in->i_n == in->i_cap) {
		if (in->i_head > 0) {
			memmove(in->i_acks, in->i_acks + in->i_head,
			        (in->i_n - in->i_head) * sizeof(*in->i_acks));
			in->i_n -= in->i_head;
			in->i_head = 0;
		} else {
			in->i_cap = in->i_cap ? in->i_cap * 2 : 16;
			in->i_acks = xrealloc(in->i_acks, in->i_cap * sizeof(*in->i_acks));
		}
	}
	in->i_acks[in->i_n++] = (struct mi_ack){++in->i_token_next, id, type, false};
	return in->i_token_next;
}

bool mqtt_inbound_held(const struct mqtt_inbound *in, enum mqtt_type type, uint16_t id)
{
	size_t i;

	for (i = in->i_head; i < in->i_n; i++) {
		if (in->i_acks[i].a_id == id && in->i_acks[i].a_type == type)
			return true;
	}
	return false;
}

bool mqtt_inbound_ready(struct mqtt_inbound *in, uint64_t token)
{
	size_t lo = in->i_head, hi = in->i_n;

	/* Tokens grow along the array: binary search. One of a connection
	 * that is gone is no longer there, and is ignored. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->i_acks[mid].a_token < token)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == in->i_n || in->i_acks[lo].a_token != token)
		return false;
	in->i_acks[lo].a_ready = true;
	return true;
}

bool mqtt_inbound_next(struct mqtt_inbound *in, enum mqtt_type *type, uint16_t *id)
{
	if (in->i_head < in->i_n && in->i_acks[in->i_head].a_ready) {
		const struct mi_ack *a = &in->i_acks[in->i_head++];

		*type = a->a_type;
		*id = a->a_id;
		return true;
	}
	if (in->i_head == in->i_n)
		in->i_head = in->i_n = 0;
	return false;
}

void mqtt_inbound_clear(struct mqtt_inbound *in)
{
	in->i_head = in->i_n = 0;
}

size_t mqtt_inbound_count(const struct mqtt_inbound *in)
{
	return in->i_n - in->i_head;
}

bool mqtt_inbound_qos2_seen(struct mqtt_inbound *in, uint16_t id, bool remove)
{
	uint8_t bit = (uint8_t)(1u << (id & 7));
	bool seen = (in->i_qos2_ids[id >> 3] & bit) != 0;

	if (remove)
		in->i_qos2_ids[id >> 3] &= (uint8_t)~bit;
	return seen;
}

void mqtt_inbound_qos2_remember(struct mqtt_inbound *in, uint16_t id)
{
	in->i_qos2_ids[id >> 3] |= (uint8_t)(1u << (id & 7));
}

void mqtt_inbound_qos2_forget(struct mqtt_inbound *in)
{
	memset(in->i_qos2_ids, 0, MI_QOS2_BYTES);
}
