/*
 * fuzz_mqtt_decode: libFuzzer harness for mqtt_decode().
 *
 * The input is a byte stream from a broker. It is decoded packet after
 * packet, as mqtt_client does, once with a 1 MiB packet limit and once with
 * a small one, until the decoder wants more bytes or rejects the stream.
 * Each decoded packet must lie inside the input, every proper prefix of it
 * must be NEED_MORE, a smaller limit never gets further into the stream
 * than a larger one, and a PUBLISH, ack or empty packet re-encoded
 * with our encoders must decode to the same fields. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "buf.h"
#include "mqtt_codec.h"

#define FUZZ_BIG_MAX   (1024 * 1024)
#define FUZZ_SMALL_MAX 64

static bool fuzz_inside(const void *p, size_t n, const uint8_t *lo, size_t lolen)
{
	const uint8_t *q = p;

	return q >= lo && n <= lolen && (size_t)(q - lo) <= lolen - n;
}

/* The fields that point into the packet must stay inside its bytes. */
static void fuzz_check_bounds(const struct mqtt_packet *pkt, const uint8_t *p, size_t n)
{
	if (pkt->type == MQTT_PUBLISH) {
		FUZZ_ASSERT(pkt->topic != NULL && pkt->topic_len > 0);
		FUZZ_ASSERT(fuzz_inside(pkt->topic, pkt->topic_len, p, n));
		FUZZ_ASSERT(memchr(pkt->topic, '\0', pkt->topic_len) == NULL);
		FUZZ_ASSERT(pkt->qos >= 0 && pkt->qos <= 2);
		FUZZ_ASSERT(pkt->qos == 0 || pkt->packet_id != 0);
		FUZZ_ASSERT(fuzz_inside(pkt->payload, pkt->payload_len, p, n));
		FUZZ_ASSERT(pkt->payload + pkt->payload_len == p + n);
	}
	if (pkt->body != NULL)
		FUZZ_ASSERT(fuzz_inside(pkt->body, pkt->body_len, p, n));
	if (pkt->type == MQTT_CONNECT)
		FUZZ_ASSERT(fuzz_inside(pkt->client_id, pkt->client_id_len, p, n));
}

/* Decode what we encoded and compare the fields that matter to the client. */
static void fuzz_reencode(const struct mqtt_packet *pkt)
{
	struct buf out = BUF_INITIALIZER;
	struct mqtt_packet again;
	size_t used = 0;
	enum mqtt_rc rc;

	switch (pkt->type) {
	case MQTT_PUBLISH:
		mqtt_encode_publish(&out, pkt->topic, pkt->topic_len, pkt->payload,
		                    pkt->payload_len, pkt->qos, pkt->retain, pkt->dup,
		                    pkt->packet_id);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		mqtt_encode_ack(&out, pkt->type, pkt->packet_id);
		break;
	case MQTT_CONNACK:
		mqtt_encode_connack(&out, pkt->session_present, pkt->return_code);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		mqtt_encode_empty(&out, pkt->type);
		break;
	default:
		return;
	}
	rc = mqtt_decode((const uint8_t *)buf_data(&out), buf_len(&out), 0, &again, &used);
	FUZZ_ASSERT(rc == MQTT_OK);
	FUZZ_ASSERT(used == buf_len(&out));
	FUZZ_ASSERT(again.type == pkt->type);
	FUZZ_ASSERT(again.flags == pkt->flags);
	FUZZ_ASSERT(again.remaining == pkt->remaining);
	FUZZ_ASSERT(again.packet_id == pkt->packet_id);
	if (pkt->type == MQTT_PUBLISH) {
		FUZZ_ASSERT(again.qos == pkt->qos && again.retain == pkt->retain &&
		            again.dup == pkt->dup);
		FUZZ_ASSERT(again.topic_len == pkt->topic_len &&
		            memcmp(again.topic, pkt->topic, pkt->topic_len) == 0);
		FUZZ_ASSERT(again.payload_len == pkt->payload_len &&
		            (pkt->payload_len == 0 ||
		             memcmp(again.payload, pkt->payload, pkt->payload_len) == 0));
	}
	if (pkt->type == MQTT_CONNACK)
		FUZZ_ASSERT(again.session_present == pkt->session_present &&
		            again.return_code == pkt->return_code);
	buf_free(&out);
}

/* Decode the stream at data like the client does; returns the bytes consumed. */
static size_t fuzz_stream(const uint8_t *data, size_t size, size_t max_packet)
{
	size_t off = 0;

	for (;;) {
		struct mqtt_packet pkt, part;
		size_t used = 0, part_used = 0;
		enum mqtt_rc rc;

		rc = mqtt_decode(data + off, size - off, max_packet, &pkt, &used);
		if (rc != MQTT_OK) {
			FUZZ_ASSERT(rc == MQTT_NEED_MORE || rc == MQTT_MALFORMED ||
			            rc == MQTT_TOO_LARGE);
			return off;
		}
		FUZZ_ASSERT(used <= size - off && (max_packet == 0 || used <= max_packet));
		/* Type byte, 1 to 4 bytes of remaining length, then the body. */
		FUZZ_ASSERT(used >= 2 + pkt.remaining && used <= 5 + pkt.remaining);
		fuzz_check_bounds(&pkt, data + off, used);
		/* A packet cut short is never an error: the rest may still come. */
		FUZZ_ASSERT(mqtt_decode(data + off, used - 1, max_packet, &part, &part_used) ==
		            MQTT_NEED_MORE);
		FUZZ_ASSERT(mqtt_decode(data + off, 1, max_packet, &part, &part_used) ==
		            MQTT_NEED_MORE);
		fuzz_reencode(&pkt);
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1);
	size_t big, small;

	/* An exact-size heap copy lets ASan see any read past the end. */
	memcpy(copy, data, size);
	big = fuzz_stream(copy, size, FUZZ_BIG_MAX);
	small = fuzz_stream(copy, size, FUZZ_SMALL_MAX);
	/* The small limit stops at the first large packet, never later. */
	FUZZ_ASSERT(small <= big);
	big = fuzz_stream(copy, size, 0);
	FUZZ_ASSERT(small <= big);
	free(copy);
	return 0;
}
