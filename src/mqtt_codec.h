/*
 * mqtt_codec: MQTT 3.1.1 / 3.1 packet encoding and decoding (pure).
 *
 * Decoding works over a byte buffer that may hold a partial packet:
 * MQTT_OK (one packet decoded, *consumed = its size), MQTT_NEED_MORE
 * (nothing consumed, call again with more bytes) or an error. Decoded
 * fields point into the caller's buffer (valid until it is consumed).
 * Encoders append whole packets to a struct buf.
 */
#ifndef OCTO_MQTT_CODEC_H
#define OCTO_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Protocol levels of CONNECT: MQTT 3.1 ("MQIsdp") and 3.1.1 ("MQTT"). */
#define MQTT_PROTO_V31  3
#define MQTT_PROTO_V311 4

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
};

enum mqtt_rc {
	MQTT_OK = 0,
	MQTT_NEED_MORE = 1,
	MQTT_MALFORMED = -1, /* violates the spec (incl. remaining length > 4 bytes) */
	MQTT_TOO_LARGE = -2, /* whole packet would exceed max_packet */
};

/* Largest remaining length representable in 4 bytes. */
#define MQTT_MAX_REMAINING 268435455u

struct mqtt_connect {
	int protocol; /* MQTT_PROTO_V311 (4) or MQTT_PROTO_V31 (3) */
	const char *client_id;
	bool clean_session;
	uint16_t keepalive;
	const char *username;   /* NULL: none */
	const char *password;   /* NULL: none; only sent with a username */
	const char *will_topic; /* NULL: no will */
	const void *will_payload;
	size_t will_payload_len;
	int will_qos;
	bool will_retain;
};

/* A decoded packet; pointers refer into the decoded buffer. */
struct mqtt_packet {
	enum mqtt_type type;
	uint8_t flags; /* low nibble of the fixed header */
	size_t remaining;
	uint16_t packet_id; /* PUBLISH qos>0, PUB*, SUB*, UNSUB* */
	/* CONNACK */
	bool session_present;
	uint8_t return_code;
	/* PUBLISH */
	int qos;
	bool retain;
	bool dup;
	const char *topic;
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
	/* SUBACK: return codes; SUBSCRIBE/UNSUBSCRIBE: raw topic-filter list */
	const uint8_t *body;
	size_t body_len;
	/* CONNECT (decoded for test brokers and fuzzing) */
	int protocol;
	uint8_t connect_flags;
	uint16_t keepalive;
	const char *client_id;
	size_t client_id_len;
};

/*
 * Decode one packet from buf[0..len). max_packet bounds the whole packet
 * (fixed header included); 0 means MQTT_MAX_REMAINING + 5.
 */
enum mqtt_rc mqtt_decode(const uint8_t *buf, size_t len, size_t max_packet, struct mqtt_packet *pkt,
                         size_t *consumed);

/* Remaining length: encode into out (returns 1..4 bytes used). */
size_t mqtt_remaining_encode(uint8_t out[4], uint32_t value);
/* Decode: MQTT_OK with *value and *used, MQTT_NEED_MORE, or MQTT_MALFORMED (> 4 bytes). */
enum mqtt_rc mqtt_remaining_decode(const uint8_t *buf, size_t len, uint32_t *value, size_t *used);

void mqtt_encode_connect(struct buf *out, const struct mqtt_connect *c);
/*
 * Bytes of the PUBLISH packet mqtt_encode_publish() would write for these
 * sizes, fixed header included (SIZE_MAX when the remaining length would
 * exceed MQTT's 268,435,455).
 */
size_t mqtt_publish_size(size_t topic_len, size_t payload_len, int qos);
void mqtt_encode_publish(struct buf *out, const char *topic, size_t topic_len, const void *payload,
                         size_t payload_len, int qos, bool retain, bool dup, uint16_t packet_id);
/* PUBACK, PUBREC, PUBREL (flags 0x2 set), PUBCOMP, UNSUBACK: type + packet id. */
void mqtt_encode_ack(struct buf *out, enum mqtt_type type, uint16_t packet_id);
void mqtt_encode_subscribe(struct buf *out, uint16_t packet_id, const char *filter,
                           size_t filter_len, int qos);
void mqtt_encode_unsubscribe(struct buf *out, uint16_t packet_id, const char *filter,
                             size_t filter_len);
/* PINGREQ, PINGRESP, DISCONNECT: fixed header only. */
void mqtt_encode_empty(struct buf *out, enum mqtt_type type);
/* Test brokers: CONNACK. */
/*
 * Public for the tests: the broker side of the codec, for the tests' brokers and the fuzzer's
 * seeds.
 */
void mqtt_encode_connack(struct buf *out, bool session_present, uint8_t return_code);

/* "Connection Accepted", "unacceptable protocol version", ... for CONNACK codes. */
const char *mqtt_connack_str(uint8_t return_code);
const char *mqtt_type_name(enum mqtt_type type);

#endif
