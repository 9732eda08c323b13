/*
 * test_mqtt_codec: byte-exact encodings checked against the MQTT 3.1.1
 * spec, round trips, remaining-length edges, and every malformed and
 * truncated input class.
 */
#include <string.h>

#include "cfg.h"
#include "compat.h"
#include "mqtt_codec.h"
#include "check_compat.h"

struct bytes {
	const char *s;
	size_t len;
};
#define B(lit)                                                                                     \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}

static void expect_bytes(const struct buf *b, const char *want, size_t len)
{
	ck_assert_uint_eq(buf_len(b), len);
	ck_assert_msg(memcmp(buf_data(b), want, len) == 0, "bytes differ");
}
#define EXPECT(b, lit) expect_bytes(b, lit, sizeof(lit) - 1)

static enum mqtt_rc dec(const struct bytes *in, struct mqtt_packet *pkt, size_t *used)
{
	return mqtt_decode((const uint8_t *)in->s, in->len, 0, pkt, used);
}

START_TEST(remaining_length_edges)
{
	static const struct {
		uint32_t v;
		size_t n;
		const char *enc;
	} cases[] = {
	        {0, 1, "\x00"},
	        {127, 1, "\x7f"},
	        {128, 2, "\x80\x01"},
	        {16383, 2, "\xff\x7f"},
	        {16384, 3, "\x80\x80\x01"},
	        {2097151, 3, "\xff\xff\x7f"},
	        {2097152, 4, "\x80\x80\x80\x01"},
	        {268435455, 4, "\xff\xff\xff\x7f"},
	};
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		uint8_t out[4];
		uint32_t v = 0;
		size_t used = 0, k;

		ck_assert_uint_eq(mqtt_remaining_encode(out, cases[i].v), cases[i].n);
		ck_assert_int_eq(memcmp(out, cases[i].enc, cases[i].n), 0);
		ck_assert_int_eq(mqtt_remaining_decode(out, cases[i].n, &v, &used), MQTT_OK);
		ck_assert_uint_eq(v, cases[i].v);
		ck_assert_uint_eq(used, cases[i].n);
		for (k = 0; k < cases[i].n; k++)
			ck_assert_int_eq(mqtt_remaining_decode(out, k, &v, &used), MQTT_NEED_MORE);
	}
}
END_TEST

START_TEST(remaining_length_five_bytes)
{
	const uint8_t five[] = {0xff, 0xff, 0xff, 0xff, 0x01};
	const uint8_t pkt[] = {0x30, 0xff, 0xff, 0xff, 0xff};
	struct mqtt_packet p;
	uint32_t v;
	size_t used;

	ck_assert_int_eq(mqtt_remaining_decode(five, sizeof(five), &v, &used), MQTT_MALFORMED);
	/* Four continuation bytes are malformed even before a fifth arrives. */
	ck_assert_int_eq(mqtt_remaining_decode(five, 4, &v, &used), MQTT_MALFORMED);
	ck_assert_int_eq(mqtt_decode(pkt, sizeof(pkt), 0, &p, &used), MQTT_MALFORMED);
}
END_TEST

/* mqtt_publish_size() is the length mqtt_encode_publish() writes. */
START_TEST(publish_size_matches_encoding)
{
	static const size_t payloads[] = {0,     1,     120,   121,   122,   123,   124,
	                                  125,   126,   127,   128,   16377, 16378, 16379,
	                                  16380, 16381, 16382, 16383, 16384, 70000};
	static char pl[70000];
	struct buf b = BUF_INITIALIZER;
	size_t i;
	int qos;

	for (qos = 0; qos <= 2; qos++) {
		for (i = 0; i < nitems(payloads); i++) {
			buf_reset(&b);
			mqtt_encode_publish(&b, "a/b", 3, pl, payloads[i], qos, false, false, 1);
			ck_assert_uint_eq(mqtt_publish_size(3, payloads[i], qos), buf_len(&b));
		}
	}
	/* Past MQTT's largest remaining length (268,435,455): no size. */
	ck_assert_uint_eq(mqtt_publish_size(1, 268435455 - 3, 0), 268435455 + 5);
	ck_assert_uint_eq(mqtt_publish_size(1, 268435455 - 2, 0), SIZE_MAX);
	ck_assert_uint_eq(mqtt_publish_size(SIZE_MAX, SIZE_MAX, 1), SIZE_MAX);
	buf_free(&b);
}
END_TEST

START_TEST(encode_connect_v311)
{
	struct buf b = BUF_INITIALIZER;
	struct mqtt_connect c = {
	        .protocol = MQTT_PROTO_V311,
	        .client_id = "id",
	        .clean_session = true,
	        .keepalive = 60,
	        .username = "u",
	        .password = "pw",
	};

	mqtt_encode_connect(&b, &c);
	/* §3.1: fixed header, "MQTT", level 4, flags user|pass|clean, keepalive 60. */
	EXPECT(&b, "\x10\x15\x00\x04MQTT\x04\xc2\x00\x3c\x00\x02id\x00\x01u\x00\x02pw");
	buf_free(&b);
}
END_TEST

START_TEST(encode_connect_v31_will_no_user)
{
	struct buf b = BUF_INITIALIZER;
	struct mqtt_connect c = {
	        .protocol = MQTT_PROTO_V31,
	        .client_id = "c",
	        .clean_session = false,
	        .keepalive = 0,
	        .password = "ignored without a user name",
	        .will_topic = "w",
	        .will_payload = "bye",
	        .will_payload_len = 3,
	        .will_qos = 1,
	        .will_retain = true,
	};

	mqtt_encode_connect(&b, &c);
	/* "MQIsdp" level 3; flags: will retain, will QoS 1, will; no password. */
	EXPECT(&b, "\x10\x17\x00\x06MQIsdp\x03\x2c\x00\x00\x00\x01"
	           "c\x00\x01w\x00\x03"
	           "bye");
	buf_free(&b);
}
END_TEST

START_TEST(connect_round_trip)
{
	struct buf b = BUF_INITIALIZER;
	struct mqtt_connect c = {.protocol = MQTT_PROTO_V311,
	                         .client_id = "octomqttd-pi",
	                         .clean_session = true,
	                         .keepalive = 30};
	struct mqtt_packet p;
	size_t used;

	mqtt_encode_connect(&b, &c);
	ck_assert_int_eq(mqtt_decode((const uint8_t *)buf_data(&b), buf_len(&b), 0, &p, &used),
	                 MQTT_OK);
	ck_assert_uint_eq(used, buf_len(&b));
	ck_assert_int_eq(p.type, MQTT_CONNECT);
	ck_assert_int_eq(p.protocol, MQTT_PROTO_V311);
	ck_assert_uint_eq(p.keepalive, 30);
	ck_assert_uint_eq(p.connect_flags, 0x02);
	ck_assert_uint_eq(p.client_id_len, 12);
	ck_assert_int_eq(memcmp(p.client_id, "octomqttd-pi", 12), 0);
	buf_free(&b);
}
END_TEST

START_TEST(publish_encodings)
{
	struct buf b = BUF_INITIALIZER;
	struct mqtt_packet p;
	size_t used;

	mqtt_encode_publish(&b, "a/b", 3, "hi", 2, 0, false, false, 0);
	EXPECT(&b, "\x30\x07\x00\x03"
	           "a/b"
	           "hi");
	buf_reset(&b);
	mqtt_encode_publish(&b, "a/b", 3, "hi", 2, 1, true, true, 0x1234);
	EXPECT(&b, "\x3b\x09\x00\x03"
	           "a/b\x12\x34"
	           "hi");
	ck_assert_int_eq(mqtt_decode((const uint8_t *)buf_data(&b), buf_len(&b), 0, &p, &used),
	                 MQTT_OK);
	ck_assert_int_eq(p.qos, 1);
	ck_assert(p.retain);
	ck_assert(p.dup);
	ck_assert_uint_eq(p.packet_id, 0x1234);
	ck_assert_uint_eq(p.topic_len, 3);
	ck_assert_int_eq(memcmp(p.topic, "a/b", 3), 0);
	ck_assert_uint_eq(p.payload_len, 2);
	ck_assert_int_eq(memcmp(p.payload, "hi", 2), 0);
	buf_reset(&b);
	/* DUP is never set on QoS 0 (§3.3.1.1). */
	mqtt_encode_publish(&b, "t", 1, "", 0, 0, false, true, 0);
	EXPECT(&b, "\x30\x03\x00\x01t");
	buf_free(&b);
}
END_TEST

START_TEST(publish_large_payload)
{
	static char payload[200000];
	struct buf b = BUF_INITIALIZER;
	struct mqtt_packet p;
	size_t used;

	memset(payload, 'x', sizeof(payload));
	mqtt_encode_publish(&b, "t", 1, payload, sizeof(payload), 2, false, false, 7);
	ck_assert_uint_eq(buf_len(&b), 1 + 3 + 3 + 2 + sizeof(payload));
	ck_assert_int_eq(mqtt_decode((const uint8_t *)buf_data(&b), buf_len(&b), 0, &p, &used),
	                 MQTT_OK);
	ck_assert_uint_eq(p.payload_len, sizeof(payload));
	/* Larger than max_packet: refused as soon as the header is known. */
	ck_assert_int_eq(mqtt_decode((const uint8_t *)buf_data(&b), 5, 1000, &p, &used),
	                 MQTT_TOO_LARGE);
	buf_free(&b);
}
END_TEST

START_TEST(acks_and_empty)
{
	struct buf b = BUF_INITIALIZER;

	mqtt_encode_ack(&b, MQTT_PUBACK, 1);
	mqtt_encode_ack(&b, MQTT_PUBREC, 2);
	mqtt_encode_ack(&b, MQTT_PUBREL, 3);
	mqtt_encode_ack(&b, MQTT_PUBCOMP, 0xffff);
	mqtt_encode_empty(&b, MQTT_PINGREQ);
	mqtt_encode_empty(&b, MQTT_DISCONNECT);
	mqtt_encode_connack(&b, true, 5);
	mqtt_encode_subscribe(&b, 10, "a/#", 3, 1);
	mqtt_encode_unsubscribe(&b, 11, "a/#", 3);
	EXPECT(&b, "\x40\x02\x00\x01"
	           "\x50\x02\x00\x02"
	           "\x62\x02\x00\x03"
	           "\x70\x02\xff\xff"
	           "\xc0\x00"
	           "\xe0\x00"
	           "\x20\x02\x01\x05"
	           "\x82\x08\x00\x0a\x00\x03"
	           "a/#\x01"
	           "\xa2\x07\x00\x0b\x00\x03"
	           "a/#");
	buf_free(&b);
}
END_TEST

/* A stream of several packets decodes one by one with exact sizes. */
START_TEST(stream_of_packets)
{
	static const char stream[] = "\x20\x02\x00\x00"
	                             "\x30\x05\x00\x01t"
	                             "ab"
	                             "\xd0\x00"
	                             "\x40\x02\x00\x09"
	                             "\x90\x04\x00\x07\x01\x80"
	                             "\xb0\x02\x00\x08";
	static const enum mqtt_type types[] = {MQTT_CONNACK, MQTT_PUBLISH, MQTT_PINGRESP,
	                                       MQTT_PUBACK,  MQTT_SUBACK,  MQTT_UNSUBACK};
	const uint8_t *p = (const uint8_t *)stream;
	size_t left = sizeof(stream) - 1, used, i;
	struct mqtt_packet pkt;

	for (i = 0; i < nitems(types); i++) {
		ck_assert_int_eq(mqtt_decode(p, left, 0, &pkt, &used), MQTT_OK);
		ck_assert_int_eq(pkt.type, types[i]);
		p += used;
		left -= used;
	}
	ck_assert_uint_eq(left, 0);
}
END_TEST

/* Every valid packet: each strict prefix is NEED_MORE. */
static const struct bytes valid[] = {
        B("\x20\x02\x00\x00"),
        B("\x20\x02\x01\x05"),
        B("\x30\x05\x00\x01tab"),
        B("\x32\x07\x00\x01t\x00\x01xy"),
        B("\x34\x05\x00\x01t\x00\x02"),
        B("\x40\x02\x00\x01"),
        B("\x50\x02\x00\x01"),
        B("\x62\x02\x00\x01"),
        B("\x70\x02\x00\x01"),
        B("\x90\x03\x00\x01\x00"),
        B("\xb0\x02\x00\x01"),
        B("\xc0\x00"),
        B("\xd0\x00"),
        B("\xe0\x00"),
        B("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id"),
        B("\x82\x06\x00\x01\x00\x01#\x01"),
        B("\xa2\x05\x00\x01\x00\x01#"),
};

START_TEST(truncations_need_more)
{
	struct mqtt_packet p;
	size_t used = 0, k;

	ck_assert_int_eq(dec(&valid[_i], &p, &used), MQTT_OK);
	ck_assert_uint_eq(used, valid[_i].len);
	for (k = 0; k < valid[_i].len; k++) {
		struct bytes cut = {valid[_i].s, k};

		ck_assert_msg(dec(&cut, &p, &used) == MQTT_NEED_MORE, "case %d cut at %zu", _i, k);
	}
}
END_TEST

static const struct {
	struct bytes in;
	const char *what;
} malformed[] = {
        {B("\x00\x00"), "type 0"},
        {B("\xf0\x00"), "type 15"},
        {B("\x21\x02\x00\x00"), "CONNACK flags"},
        {B("\x20\x03\x00\x00\x00"), "CONNACK length 3"},
        {B("\x20\x01\x00"), "CONNACK length 1"},
        {B("\x20\x02\x02\x00"), "CONNACK reserved bits"},
        {B("\x36\x05\x00\x01t\x00\x01"), "PUBLISH QoS 3"},
        {B("\x38\x03\x00\x01t"), "PUBLISH QoS 0 with DUP"},
        {B("\x30\x02\x00\x00"), "PUBLISH empty topic"},
        {B("\x30\x03\x00\x05t"), "PUBLISH topic longer than packet"},
        {B("\x30\x01\x00"), "PUBLISH topic length cut"},
        {B("\x30\x04\x00\x02+a"), "PUBLISH topic with +"},
        {B("\x30\x04\x00\x02#a"), "PUBLISH topic with #"},
        {B("\x30\x04\x00\x02\x00"
           "a"),
         "PUBLISH topic with NUL"},
        {B("\x32\x05\x00\x01t\x00\x00"), "PUBLISH QoS 1 packet id 0"},
        {B("\x32\x04\x00\x01t\x00"), "PUBLISH QoS 1 packet id cut"},
        {B("\x40\x02\x00\x00"), "PUBACK id 0"},
        {B("\x40\x03\x00\x01\x00"), "PUBACK length 3"},
        {B("\x41\x02\x00\x01"), "PUBACK flags"},
        {B("\x60\x02\x00\x01"), "PUBREL without flag 0x2"},
        {B("\x62\x02\x00\x00"), "PUBREL id 0"},
        {B("\x51\x02\x00\x01"), "PUBREC flags"},
        {B("\x50\x01\x00"), "PUBREC length 1"},
        {B("\x72\x02\x00\x01"), "PUBCOMP flags"},
        {B("\x70\x02\x00\x00"), "PUBCOMP id 0"},
        {B("\xb0\x03\x00\x01\x00"), "UNSUBACK length 3"},
        {B("\xb0\x02\x00\x00"), "UNSUBACK id 0"},
        {B("\x90\x03\x00\x00\x00"), "SUBACK id 0"},
        {B("\xa0\x05\x00\x01\x00\x01#"), "UNSUBSCRIBE without flag 0x2"},
        {B("\x82\x02\x00\x01"), "SUBSCRIBE without filters"},
        {B("\x82\x06\x00\x00\x00\x01#\x01"), "SUBSCRIBE id 0"},
        {B("\x20\x02\x80\x00"), "CONNACK high reserved bit"},
        {B("\x10\x0a\x00\x04MQTT\x04\x02\x00\x3c"), "CONNECT without client id"},
        {B("\x90\x02\x00\x01"), "SUBACK without codes"},
        {B("\x90\x03\x00\x01\x03"), "SUBACK code 3"},
        {B("\x90\x03\x00\x01\x81"), "SUBACK code 0x81"},
        {B("\xc0\x01\x00"), "PINGREQ with a body"},
        {B("\xd1\x00"), "PINGRESP flags"},
        {B("\xe0\x01\x00"), "DISCONNECT with a body"},
        {B("\x80\x06\x00\x01\x00\x01#\x00"), "SUBSCRIBE without flag 0x2"},
        {B("\x10\x0c\x00\x04MQTT\x05\x02\x00\x3c\x00\x00"), "CONNECT level 5"},
        {B("\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00"), "CONNECT protocol name"},
        {B("\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00"), "CONNECT reserved flag"},
};

START_TEST(malformed_packets)
{
	struct mqtt_packet p;
	size_t used;

	ck_assert_msg(dec(&malformed[_i].in, &p, &used) == MQTT_MALFORMED, "%s",
	              malformed[_i].what);
}
END_TEST

START_TEST(connack_names)
{
	ck_assert_str_eq(mqtt_connack_str(0), "connection accepted");
	ck_assert_str_eq(mqtt_connack_str(1), "unacceptable protocol version");
	ck_assert_str_eq(mqtt_connack_str(2), "identifier rejected");
	ck_assert_str_eq(mqtt_connack_str(3), "server unavailable");
	ck_assert_str_eq(mqtt_connack_str(4), "bad user name or password");
	ck_assert_str_eq(mqtt_connack_str(5), "not authorized");
	ck_assert_str_eq(mqtt_connack_str(6), "unknown return code");
	ck_assert_str_eq(mqtt_type_name(MQTT_PINGRESP), "PINGRESP");
	ck_assert_str_eq(mqtt_type_name((enum mqtt_type)0), "reserved");
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("mqtt_codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, remaining_length_edges);
	tcase_add_test(tc, remaining_length_five_bytes);
	tcase_add_test(tc, encode_connect_v311);
	tcase_add_test(tc, publish_size_matches_encoding);
	tcase_add_test(tc, encode_connect_v31_will_no_user);
	tcase_add_test(tc, connect_round_trip);
	tcase_add_test(tc, publish_encodings);
	tcase_add_test(tc, publish_large_payload);
	tcase_add_test(tc, acks_and_empty);
	tcase_add_test(tc, stream_of_packets);
	tcase_add_loop_test(tc, truncations_need_more, 0, (int)nitems(valid));
	tcase_add_loop_test(tc, malformed_packets, 0, (int)nitems(malformed));
	tcase_add_test(tc, connack_names);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(codec_suite)
