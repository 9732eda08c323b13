/*
 * mqtt_codec: MQTT 3.1.1 / 3.1 packets (see mqtt_codec.h). Pure: no I/O,
 * no allocation except growing the caller's output buffer.
 */
#include <string.h>

#include "mqtt_codec.h"

/*
 * Remaining length (§2.2.3): 7 bits per byte, least significant group
 * first, high bit set on every byte but the last; at most 4 bytes, so the
 * largest value is 268,435,455. A fifth continuation byte is malformed.
 */
size_t mqtt_remaining_encode(uint8_t out[4], uint32_t value)
{
	size_t n = 0;

	do {
		uint8_t b = value % 128;

		value /= 128;
		if (value > 0)
			b |= 0x80;
		out[n++] = b;
	} while (value > 0 && n < 4);
	return n;
}

enum mqtt_rc mqtt_remaining_decode(const uint8_t *buf, size_t len, uint32_t *value, size_t *used)
{
	uint32_t v = 0, mult = 1;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (i >= len)
			return MQTT_NEED_MORE;
		v += (uint32_t)(buf[i] & 0x7f) * mult;
		if ((buf[i] & 0x80) == 0) {
			*value = v;
			*used = i + 1;
			return MQTT_OK;
		}
		mult *= 128;
	}
	return MQTT_MALFORMED;
}

/* A length-prefixed field (UTF-8 string or binary) inside [*p, end). */
static int mqtt_read_field(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *len)
{
	size_t n;

	if (end - *p < 2)
		return -1;
	n = ((size_t)(*p)[0] << 8) | (*p)[1];
	if ((size_t)(end - *p - 2) < n)
		return -1;
	*s = *p + 2;
	*len = n;
	*p += 2 + n;
	return 0;
}

static int mqtt_read_u16(const uint8_t **p, const uint8_t *end, uint16_t *v)
{
	if (end - *p < 2)
		return -1;
	*v = (uint16_t)(((*p)[0] << 8) | (*p)[1]);
	*p += 2;
	return 0;
}

/* Fixed-header flags each type must carry (§2.2.2); PUBLISH is checked apart. */
static bool mqtt_flags_ok(enum mqtt_type type, uint8_t flags)
{
	switch (type) {
	case MQTT_PUBLISH:
		return true;
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return flags == 0x2;
	default:
		return flags == 0;
	}
}

static enum mqtt_rc mqtt_decode_connect(const uint8_t *p, const uint8_t *end,
                                        struct mqtt_packet *pkt)
{
	const uint8_t *name, *s;
	size_t name_len, slen;
	uint8_t level;

	if (mqtt_read_field(&p, end, &name, &name_len) != 0 || end - p < 4)
		return MQTT_MALFORMED;
	level = p[0];
	if (!((name_len == 4 && memcmp(name, "MQTT", 4) == 0 && level == MQTT_PROTO_V311) ||
	      (name_len == 6 && memcmp(name, "MQIsdp", 6) == 0 && level == MQTT_PROTO_V31)))
		return MQTT_MALFORMED;
	pkt->protocol = level;
	pkt->connect_flags = p[1];
	if (pkt->connect_flags & 0x01) /* reserved */
		return MQTT_MALFORMED;
	pkt->keepalive = (uint16_t)((p[2] << 8) | p[3]);
	p += 4;
	if (mqtt_read_field(&p, end, &s, &slen) != 0)
		return MQTT_MALFORMED;
	pkt->client_id = (const char *)s;
	pkt->client_id_len = slen;
	/* Will, user name and password follow; kept raw for the caller. */
	pkt->body = p;
	pkt->body_len = (size_t)(end - p);
	return MQTT_OK;
}

static enum mqtt_rc mqtt_decode_body(const uint8_t *p, const uint8_t *end, struct mqtt_packet *pkt)
{
	size_t rem = (size_t)(end - p), i;
	const uint8_t *s;
	size_t slen;

	switch (pkt->type) {
	case MQTT_CONNECT:
		return mqtt_decode_connect(p, end, pkt);
	case MQTT_CONNACK:
		if (rem != 2 || (p[0] & 0xfe) != 0)
			return MQTT_MALFORMED;
		pkt->session_present = p[0] & 0x01;
		pkt->return_code = p[1];
		return MQTT_OK;
	case MQTT_PUBLISH:
		pkt->qos = (pkt->flags >> 1) & 0x3;
		pkt->dup = (pkt->flags & 0x8) != 0;
		pkt->retain = (pkt->flags & 0x1) != 0;
		if (pkt->qos == 3 || (pkt->qos == 0 && pkt->dup))
			return MQTT_MALFORMED;
		if (mqtt_read_field(&p, end, &s, &slen) != 0 || slen == 0)
			return MQTT_MALFORMED;
		/* A topic name never holds wildcards or NUL (§4.7.1, §1.5.3). */
		for (i = 0; i < slen; i++) {
			if (s[i] == '+' || s[i] == '#' || s[i] == '\0')
				return MQTT_MALFORMED;
		}
		pkt->topic = (const char *)s;
		pkt->topic_len = slen;
		if (pkt->qos > 0 &&
		    (mqtt_read_u16(&p, end, &pkt->packet_id) != 0 || pkt->packet_id == 0))
			return MQTT_MALFORMED;
		pkt->payload = p;
		pkt->payload_len = (size_t)(end - p);
		return MQTT_OK;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		if (rem != 2 || mqtt_read_u16(&p, end, &pkt->packet_id) != 0 || pkt->packet_id == 0)
			return MQTT_MALFORMED;
		return MQTT_OK;
	case MQTT_SUBACK:
		if (rem < 3 || mqtt_read_u16(&p, end, &pkt->packet_id) != 0 || pkt->packet_id == 0)
			return MQTT_MALFORMED;
		for (s = p; s < end; s++) {
			if (*s > 2 && *s != 0x80)
				return MQTT_MALFORMED;
		}
		pkt->body = p;
		pkt->body_len = (size_t)(end - p);
		return MQTT_OK;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		if (mqtt_read_u16(&p, end, &pkt->packet_id) != 0 || pkt->packet_id == 0 || p == end)
			return MQTT_MALFORMED;
		pkt->body = p;
		pkt->body_len = (size_t)(end - p);
		return MQTT_OK;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		return rem == 0 ? MQTT_OK : MQTT_MALFORMED;
	}
	return MQTT_MALFORMED;
}

enum mqtt_rc mqtt_decode(const uint8_t *buf, size_t len, size_t max_packet, struct mqtt_packet *pkt,
                         size_t *consumed)
{
	uint32_t rem;
	size_t used, total;
	enum mqtt_rc rc;
	int type;

	if (max_packet == 0)
		max_packet = (size_t)MQTT_MAX_REMAINING + 5;
	if (len < 1)
		return MQTT_NEED_MORE;
	type = buf[0] >> 4;
	if (type < MQTT_CONNECT || type > MQTT_DISCONNECT)
		return MQTT_MALFORMED;
	rc = mqtt_remaining_decode(buf + 1, len - 1, &rem, &used);
	if (rc != MQTT_OK)
		return rc;
	total = 1 + used + (size_t)rem;
	if (total > max_packet)
		return MQTT_TOO_LARGE;
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = (enum mqtt_type)type;
	pkt->flags = buf[0] & 0x0f;
	pkt->remaining = rem;
	if (!mqtt_flags_ok(pkt->type, pkt->flags))
		return MQTT_MALFORMED;
	if (len < total)
		return MQTT_NEED_MORE;
	rc = mqtt_decode_body(buf + 1 + used, buf + total, pkt);
	if (rc == MQTT_OK)
		*consumed = total;
	return rc;
}

static void mqtt_put_u16(struct buf *out, uint16_t v)
{
	buf_putc(out, v >> 8);
	buf_putc(out, v & 0xff);
}

static void mqtt_put_field(struct buf *out, const void *s, size_t len)
{
	mqtt_put_u16(out, (uint16_t)len);
	buf_append(out, s, len);
}

static void mqtt_put_header(struct buf *out, uint8_t first, size_t remaining)
{
	uint8_t rl[4];
	size_t n = mqtt_remaining_encode(rl, (uint32_t)remaining);

	buf_putc(out, first);
	buf_append(out, rl, n);
}

void mqtt_encode_connect(struct buf *out, const struct mqtt_connect *c)
{
	bool v31 = c->protocol == MQTT_PROTO_V31;
	const char *name = v31 ? "MQIsdp" : "MQTT";
	size_t rem, id_len = strlen(c->client_id);
	uint8_t flags = 0;

	rem = 2 + strlen(name) + 1 + 1 + 2 + 2 + id_len;
	if (c->clean_session)
		flags |= 0x02;
	if (c->will_topic != NULL) {
		flags |= 0x04 | (uint8_t)((c->will_qos & 3) << 3);
		if (c->will_retain)
			flags |= 0x20;
		rem += 2 + strlen(c->will_topic) + 2 + c->will_payload_len;
	}
	if (c->username != NULL) {
		flags |= 0x80;
		rem += 2 + strlen(c->username);
		/* §3.1.2.9: a password without a user name is not allowed. */
		if (c->password != NULL) {
			flags |= 0x40;
			rem += 2 + strlen(c->password);
		}
	}
	mqtt_put_header(out, MQTT_CONNECT << 4, rem);
	mqtt_put_field(out, name, strlen(name));
	buf_putc(out, v31 ? MQTT_PROTO_V31 : MQTT_PROTO_V311);
	buf_putc(out, flags);
	mqtt_put_u16(out, c->keepalive);
	mqtt_put_field(out, c->client_id, id_len);
	if (c->will_topic != NULL) {
		mqtt_put_field(out, c->will_topic, strlen(c->will_topic));
		mqtt_put_field(out, c->will_payload, c->will_payload_len);
	}
	if (c->username != NULL) {
		mqtt_put_field(out, c->username, strlen(c->username));
		if (c->password != NULL)
			mqtt_put_field(out, c->password, strlen(c->password));
	}
}

size_t mqtt_publish_size(size_t topic_len, size_t payload_len, int qos)
{
	size_t rem = 2 + (qos > 0 ? 2 : 0);

	if (topic_len > MQTT_MAX_REMAINING || payload_len > MQTT_MAX_REMAINING - topic_len ||
	    rem > MQTT_MAX_REMAINING - topic_len - payload_len)
		return SIZE_MAX;
	rem += topic_len + payload_len;
	/* The remaining length takes 1 to 4 bytes (§2.2.3). */
	return 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : rem < 2097152 ? 3 : 4) + rem;
}

void mqtt_encode_publish(struct buf *out, const char *topic, size_t topic_len, const void *payload,
                         size_t payload_len, int qos, bool retain, bool dup, uint16_t packet_id)
{
	uint8_t first = MQTT_PUBLISH << 4 | (uint8_t)((qos & 3) << 1);

	if (retain)
		first |= 0x01;
	if (dup && qos > 0)
		first |= 0x08;
	mqtt_put_header(out, first, 2 + topic_len + (qos > 0 ? 2 : 0) + payload_len);
	mqtt_put_field(out, topic, topic_len);
	if (qos > 0)
		mqtt_put_u16(out, packet_id);
	buf_append(out, payload, payload_len);
}

void mqtt_encode_ack(struct buf *out, enum mqtt_type type, uint16_t packet_id)
{
	buf_putc(out, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0)));
	buf_putc(out, 2);
	mqtt_put_u16(out, packet_id);
}

void mqtt_encode_subscribe(struct buf *out, uint16_t packet_id, const char *filter,
                           size_t filter_len, int qos)
{
	mqtt_put_header(out, MQTT_SUBSCRIBE << 4 | 0x2, 2 + 2 + filter_len + 1);
	mqtt_put_u16(out, packet_id);
	mqtt_put_field(out, filter, filter_len);
	buf_putc(out, qos & 3);
}

void mqtt_encode_unsubscribe(struct buf *out, uint16_t packet_id, const char *filter,
                             size_t filter_len)
{
	mqtt_put_header(out, MQTT_UNSUBSCRIBE << 4 | 0x2, 2 + 2 + filter_len);
	mqtt_put_u16(out, packet_id);
	mqtt_put_field(out, filter, filter_len);
}

void mqtt_encode_empty(struct buf *out, enum mqtt_type type)
{
	buf_putc(out, (uint8_t)(type << 4));
	buf_putc(out, 0);
}

void mqtt_encode_connack(struct buf *out, bool session_present, uint8_t return_code)
{
	buf_putc(out, MQTT_CONNACK << 4);
	buf_putc(out, 2);
	buf_putc(out, session_present ? 1 : 0);
	buf_putc(out, return_code);
}

const char *mqtt_connack_str(uint8_t return_code)
{
	static const char *const names[] = {
	        "connection accepted", "unacceptable protocol version", "identifier rejected",
	        "server unavailable",  "bad user name or password",     "not authorized",
	};

	if (return_code < nitems(names))
		return names[return_code];
	return "unknown return code";
}

const char *mqtt_type_name(enum mqtt_type type)
{
	static const char *const names[] = {
	        "reserved",    "CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",
	        "PUBREC",      "PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",
	        "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT",
	};

	if ((unsigned)type < nitems(names))
		return names[type];
	return "reserved";
}
