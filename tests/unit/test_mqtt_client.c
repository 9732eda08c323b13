/*
 * test_mqtt_client: the client against a fake broker written here, on the
 * same loop: it accepts on 127.0.0.1:0, decodes what the client sends and
 * answers with scripted bytes. Scenarios: CONNECT fields, CONNACK refusals
 * and the retry that follows, QoS 0 bytes, the offline queue (order, bounds,
 * refusals), the dead-link timeout, malformed and oversized packets, the
 * broker closing, DISCONNECT on stop, and the backoff function.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "net.h"
#include "check_compat.h"

#define DEADLINE_MS 8000

struct fake {
	struct loop *loop;
	int lfd, fd;
	uint16_t port;
	struct buf in;
	int connects;     /* CONNECT packets seen */
	int disconnects;  /* DISCONNECT packets seen */
	int pingreqs;
	int closed;       /* client connections that ended */
	uint8_t connack_rc;
	bool answer_connack;
	bool answer_ping;
	struct mqtt_packet last_connect;
	char connect_raw[512];
	size_t connect_raw_len;
	char pubs[64][64]; /* "topic payload" of each PUBLISH seen */
	int npubs;
	uint8_t pub_first_byte[64];
};

static void fake_close_client(struct fake *f)
{
	if (f->fd < 0)
		return;
	loop_unwatch(f->loop, f->fd, LOOP_READ);
	close(f->fd);
	f->fd = -1;
	buf_reset(&f->in);
	f->closed++;
}

static void fake_send(struct fake *f, const void *p, size_t n)
{
	ck_assert_int_eq(write(f->fd, p, n), (ssize_t)n);
}

static void fake_packet(struct fake *f, const struct mqtt_packet *p, const char *raw, size_t len)
{
	struct buf out = BUF_INITIALIZER;

	switch (p->type) {
	case MQTT_CONNECT:
		f->connects++;
		f->last_connect = *p;
		ck_assert_uint_le(len, sizeof(f->connect_raw));
		memcpy(f->connect_raw, raw, len);
		f->connect_raw_len = len;
		if (f->answer_connack)
			mqtt_encode_connack(&out, false, f->connack_rc);
		break;
	case MQTT_PUBLISH:
		if (f->npubs < 64) {
			snprintf(f->pubs[f->npubs], sizeof(f->pubs[0]), "%.*s %.*s",
			         (int)p->topic_len, p->topic, (int)p->payload_len,
			         (const char *)p->payload);
			f->pub_first_byte[f->npubs] = (uint8_t)raw[0];
		}
		f->npubs++;
		if (p->qos == 1)
			mqtt_encode_ack(&out, MQTT_PUBACK, p->packet_id);
		else if (p->qos == 2)
			mqtt_encode_ack(&out, MQTT_PUBREC, p->packet_id);
		break;
	case MQTT_PUBREL:
		mqtt_encode_ack(&out, MQTT_PUBCOMP, p->packet_id);
		break;
	case MQTT_PINGREQ:
		f->pingreqs++;
		if (f->answer_ping)
			mqtt_encode_empty(&out, MQTT_PINGRESP);
		break;
	case MQTT_DISCONNECT:
		f->disconnects++;
		break;
	default:
		break;
	}
	if (buf_len(&out) > 0)
		fake_send(f, buf_data(&out), buf_len(&out));
	buf_free(&out);
}

static void fake_read(struct loop *loop, int fd, int mask, void *arg)
{
	struct fake *f = arg;
	ssize_t n;

	buf_reserve(&f->in, 4096);
	n = read(fd, buf_tail(&f->in), buf_avail(&f->in));
	if (n <= 0) {
		fake_close_client(f);
		return;
	}
	buf_produced(&f->in, (size_t)n);
	for (;;) {
		struct mqtt_packet p;
		size_t used;
		enum mqtt_rc rc = mqtt_decode((const uint8_t *)buf_data(&f->in), buf_len(&f->in), 0,
		                              &p, &used);

		if (rc == MQTT_NEED_MORE)
			break;
		ck_assert_int_eq(rc, MQTT_OK);
		fake_packet(f, &p, buf_data(&f->in), used);
		if (f->fd < 0)
			return;
		buf_consume(&f->in, used);
	}
}

static void fake_accept(struct loop *loop, int lfd, int mask, void *arg)
{
	struct fake *f = arg;
	int fd = net_accept(lfd, NULL, 0);

	if (fd < 0)
		return;
	fake_close_client(f);
	f->closed--; /* replacing is not a close the test counts */
	if (f->closed < 0)
		f->closed = 0;
	f->fd = fd;
	ck_assert_int_eq(loop_watch(loop, fd, LOOP_READ, fake_read, f), 0);
}

static void fake_start(struct fake *f, struct loop *loop)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char err[NET_ERR_LEN];

	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->fd = -1;
	f->answer_connack = true;
	f->answer_ping = true;
	buf_init(&f->in);
	f->lfd = net_listen("127.0.0.1", 0, 8, err, sizeof(err));
	ck_assert_msg(f->lfd >= 0, "%s", err);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	ck_assert_int_eq(loop_watch(loop, f->lfd, LOOP_READ, fake_accept, f), 0);
}

static void fake_stop(struct fake *f)
{
	fake_close_client(f);
	loop_unwatch(f->loop, f->lfd, LOOP_READ);
	close(f->lfd);
	buf_free(&f->in);
}

static struct loop *loop;
static struct fake fk;
static struct cfg cfg;
static struct mqtt_client *mc;

static void setup(void)
{
	char err[CFG_ERR_LEN];
	char text[256];

	log_init(LOGL_ERROR, false);
	loop = loop_new();
	fake_start(&fk, loop);
	snprintf(text, sizeof(text),
	         "broker.url = 127.0.0.1:%u\nbroker.reconnect_min = 1\nbroker.reconnect_max = 1\n"
	         "broker.client_id = test-id\nqueue.max_messages = 5\nqueue.max_bytes = 1024\n",
	         fk.port);
	cfg_defaults(&cfg);
	ck_assert_msg(cfg_parse(&cfg, "t", text, strlen(text), "h", err, sizeof(err)) == 0, "%s",
	              err);
	mc = NULL;
}

static void teardown(void)
{
	mqtt_client_free(mc);
	fake_stop(&fk);
	loop_free(loop);
	cfg_free(&cfg);
}

/* Iterate until cond(arg) holds or DEADLINE_MS passes; returns cond's value. */
#define RUN_UNTIL(cond)                                                                            \
	({                                                                                         \
		uint64_t end_ = loop_clock_ms() + DEADLINE_MS;                                     \
		while (!(cond) && loop_clock_ms() < end_)                                          \
			loop_run_once(loop, 20);                                                   \
		(cond);                                                                            \
	})

static void start_client(void)
{
	mc = mqtt_client_new(loop, &cfg);
	mqtt_client_start(mc);
}

START_TEST(connect_fields_v311)
{
	cfg.broker_username = strdup("user");
	cfg.broker_password = strdup("pass");
	cfg.broker_keepalive = 42;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(fk.connects, 1);
	/* The exact bytes of §3.1 for these settings. */
	{
		static const char want[] = "\x10\x1f\x00\x04MQTT\x04\xc2\x00\x2a\x00\x07"
		                           "test-id\x00\x04user\x00\x04pass";

		ck_assert_uint_eq(fk.connect_raw_len, sizeof(want) - 1);
		ck_assert_int_eq(memcmp(fk.connect_raw, want, sizeof(want) - 1), 0);
	}
	{
		struct mqtt_client_stats st;

		mqtt_client_stats(mc, &st);
		ck_assert(st.connected);
		ck_assert_uint_eq(st.connects, 1);
		ck_assert_uint_eq(st.reconnects, 0);
	}
}
END_TEST

START_TEST(connect_fields_v31_no_password_without_user)
{
	cfg.broker_protocol = MQTT_PROTO_V31;
	cfg.broker_password = strdup("orphan");
	cfg.broker_clean_session = false;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(fk.last_connect.protocol, MQTT_PROTO_V31);
	/* Neither user name nor password flag; clean session off. */
	ck_assert_uint_eq(fk.last_connect.connect_flags, 0x00);
}
END_TEST

START_TEST(connack_refused_then_retry)
{
	fk.connack_rc = (uint8_t)_i; /* 1..5 */
	start_client();
	ck_assert(RUN_UNTIL(fk.connects >= 1 && fk.fd < 0));
	ck_assert(!mqtt_client_connected(mc));
	/* Refused: the client backs off (1 s) and tries again. */
	fk.connack_rc = 0;
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(fk.connects, 2);
	{
		struct mqtt_client_stats st;

		mqtt_client_stats(mc, &st);
		ck_assert_uint_eq(st.connects, 1);
		ck_assert_uint_eq(st.reconnects, 1);
	}
}
END_TEST

START_TEST(publish_qos0_bytes)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "a/b", 3, "{}", 2, 0, true, false),
	                 MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "a/b {}");
	ck_assert_uint_eq(fk.pub_first_byte[0], 0x31); /* PUBLISH, QoS 0, retain */
}
END_TEST

START_TEST(publish_qos1_and_qos2)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "q", 1, "1", 1, 1, false, false), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "q", 1, "2", 1, 2, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	ck_assert_str_eq(fk.pubs[0], "q 1");
	ck_assert_str_eq(fk.pubs[1], "q 2");
	ck_assert_uint_eq(fk.pub_first_byte[0], 0x32);
	ck_assert_uint_eq(fk.pub_first_byte[1], 0x34);
}
END_TEST

START_TEST(queue_while_down_in_order)
{
	struct mqtt_client_stats st;
	char p[8];
	int i;

	fk.answer_connack = false; /* the client waits for CONNACK: not connected */
	start_client();
	ck_assert(RUN_UNTIL(fk.connects == 1));
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "m%d", i);
		ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, p, strlen(p), 0, false, true),
		                 MQTT_PUB_QUEUED);
	}
	/* queue.max_messages = 5: the sixth is refused, nothing dropped. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "m5", 2, 0, false, true),
	                 MQTT_PUB_QUEUE_FULL);
	/* Not queueable while down: refused at once. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "x", 1, 0, false, false),
	                 MQTT_PUB_NOT_CONNECTED);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.queue_messages, 5);
	ck_assert_uint_eq(st.queue_bytes, 5 * 3);
	ck_assert_uint_eq(st.refused, 2);
	/* Now the broker answers: the queue goes out in order. */
	{
		struct buf out = BUF_INITIALIZER;

		mqtt_encode_connack(&out, false, 0);
		fake_send(&fk, buf_data(&out), buf_len(&out));
		buf_free(&out);
	}
	ck_assert(RUN_UNTIL(fk.npubs == 5));
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "t m%d", i);
		ck_assert_str_eq(fk.pubs[i], p);
	}
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.queue_messages, 0);
	ck_assert_uint_eq(st.queued, 5);
	ck_assert_uint_eq(st.dropped, 0);
}
END_TEST

START_TEST(queue_bytes_bound)
{
	static char big[600];

	fk.answer_connack = false;
	start_client();
	ck_assert(RUN_UNTIL(fk.connects == 1));
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, big, sizeof(big), 0, false, true),
	                 MQTT_PUB_QUEUED);
	/* 601 + 601 > queue.max_bytes = 1024 */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, big, sizeof(big), 0, false, true),
	                 MQTT_PUB_QUEUE_FULL);
}
END_TEST

START_TEST(dead_link_reconnects)
{
	uint64_t t0;

	cfg.broker_keepalive = 1;
	fk.answer_ping = false;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	t0 = loop_clock_ms();
	/* PINGREQ after 1 s; no answer: dead within 1.5 s, then a reconnect. */
	ck_assert(RUN_UNTIL(fk.pingreqs >= 1));
	ck_assert(RUN_UNTIL(fk.connects >= 2));
	ck_assert_uint_ge(loop_clock_ms() - t0, 1500);
}
END_TEST

START_TEST(keepalive_answered_stays_up)
{
	uint64_t end;

	cfg.broker_keepalive = 1;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	end = loop_clock_ms() + 3500;
	while (loop_clock_ms() < end)
		loop_run_once(loop, 50);
	ck_assert_int_ge(fk.pingreqs, 2);
	ck_assert_int_eq(fk.connects, 1);
	ck_assert(mqtt_client_connected(mc));
}
END_TEST

static const struct {
	const char *bytes;
	size_t len;
} bad_from_broker[] = {
	{"\xd0\x01\x00", 3},                 /* PINGRESP with a body */
	{"\x30\xff\xff\xff\xff\x01", 6},     /* remaining length of 5 bytes */
	{"\x30\xff\xff\x7f", 4},             /* 2 MiB packet > broker.max_packet */
	{"\x20\x02\x00\x00", 4},             /* a second CONNACK */
};

START_TEST(bad_packet_drops_connection)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	fake_send(&fk, bad_from_broker[_i].bytes, bad_from_broker[_i].len);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	ck_assert(RUN_UNTIL(fk.connects == 2 && mqtt_client_connected(mc)));
}
END_TEST

START_TEST(broker_closes_then_back)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	/* Accepted while away, delivered after the reconnect. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "later", 5, 0, false, true),
	                 MQTT_PUB_QUEUED);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "t later");
}
END_TEST

START_TEST(no_broker_keeps_retrying)
{
	struct mqtt_client_stats st;

	/* Nothing listens: close the fake's listener first. */
	loop_unwatch(loop, fk.lfd, LOOP_READ);
	close(fk.lfd);
	fk.lfd = net_listen("127.0.0.1", 0, 1, NULL, 0); /* keep fake_stop happy */
	start_client();
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.reconnects >= 2)));
	ck_assert(!mqtt_client_connected(mc));
}
END_TEST

START_TEST(stop_sends_disconnect)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "last", 4, 0, false, false),
	                 MQTT_PUB_SENT);
	mqtt_client_stop(mc);
	ck_assert(RUN_UNTIL(mqtt_client_stopped(mc)));
	ck_assert(RUN_UNTIL(fk.disconnects == 1));
	/* The message before it was flushed first. */
	ck_assert_int_eq(fk.npubs, 1);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "x", 1, 0, false, true),
	                 MQTT_PUB_NOT_CONNECTED);
}
END_TEST

START_TEST(stop_when_down_is_immediate)
{
	fk.answer_connack = false;
	start_client();
	mqtt_client_stop(mc);
	ck_assert(mqtt_client_stopped(mc));
}
END_TEST

START_TEST(backoff_bounds)
{
	unsigned a;
	uint32_t r;

	/* Doubling from min, capped at max, in the upper half, never < min. */
	ck_assert_uint_eq(mqtt_backoff_ms(1, 60, 0, 0), 1000);
	ck_assert_uint_eq(mqtt_backoff_ms(2, 60, 0, 0), 2000);
	ck_assert_uint_eq(mqtt_backoff_ms(1, 60, 3, 0), 4000);
	ck_assert_uint_eq(mqtt_backoff_ms(1, 60, 3, 4000), 8000);
	ck_assert_uint_eq(mqtt_backoff_ms(1, 60, 30, 0), 30000);
	ck_assert_uint_eq(mqtt_backoff_ms(1, 60, 30, 30000), 60000);
	ck_assert_uint_eq(mqtt_backoff_ms(5, 5, 10, 12345), 5000);
	for (a = 0; a < 40; a++) {
		for (r = 0; r < 100000; r += 7919) {
			uint64_t d = mqtt_backoff_ms(1, 60, a, r);

			ck_assert_uint_ge(d, 1000);
			ck_assert_uint_le(d, 60000);
		}
	}
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("mqtt_client");
	TCase *tc = tcase_create("client");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, connect_fields_v311);
	tcase_add_test(tc, connect_fields_v31_no_password_without_user);
	tcase_add_loop_test(tc, connack_refused_then_retry, 1, 6);
	tcase_add_test(tc, publish_qos0_bytes);
	tcase_add_test(tc, publish_qos1_and_qos2);
	tcase_add_test(tc, queue_while_down_in_order);
	tcase_add_test(tc, queue_bytes_bound);
	tcase_add_test(tc, dead_link_reconnects);
	tcase_add_test(tc, keepalive_answered_stays_up);
	tcase_add_loop_test(tc, bad_packet_drops_connection, 0, (int)nitems(bad_from_broker));
	tcase_add_test(tc, broker_closes_then_back);
	tcase_add_test(tc, no_broker_keeps_retrying);
	tcase_add_test(tc, stop_sends_disconnect);
	tcase_add_test(tc, stop_when_down_is_immediate);
	tcase_add_test(tc, backoff_bounds);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(client_suite)
