/*
 * test_mqtt_client: the client against a fake broker written here, on the
 * same loop: it accepts on FAKE_HOST:0, decodes what the client sends and
 * answers with scripted bytes. Scenarios: CONNECT fields, CONNACK refusals
 * and the retry that follows, QoS 0 bytes, the offline queue (order, bounds,
 * refusals), the dead-link timeout, malformed and oversized packets, the
 * broker closing, DISCONNECT on stop, the will and the connected /
 * disconnected status messages, packet ids wrapping past 65535, the
 * in-flight window, inbound QoS 2 duplicates (every unreleased id
 * remembered), and the backoff function.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "net.h"
#include "check_compat.h"
#include "log_capture.h"

/*
 * The fake listens on a loopback address of its own: make check runs the
 * integration tests beside this one, and their daemons keep reconnecting
 * to 127.0.0.1 ports whose broker is down; the kernel may hand such a port
 * to the fake's bind(port 0), and the fake then took that daemon for the
 * client (a run of .ci/run saw the client's link "closed" by it).
 */
#define FAKE_HOST "127.0.0.2"

#define DEADLINE_MS 8000

struct fake {
	struct loop *loop;
	int lfd, fd;
	uint16_t port;
	struct buf in;
	int connects;    /* CONNECT packets seen */
	int disconnects; /* DISCONNECT packets seen */
	int pingreqs;
	int closed; /* client connections that ended */
	uint8_t connack_rc;
	bool answer_connack;
	bool answer_ping;
	bool session_present;     /* in the CONNACKs it sends */
	bool ack_qos;             /* answer QoS 1/2 PUBLISH and PUBREL */
	bool paused;              /* do not read new connections */
	bool close_on_connect;    /* close instead of answering CONNECT */
	int close_after_connack;  /* close right after this many more CONNACKs */
	const char *poison_topic; /* close on a PUBLISH to this topic */
	int poison_seen;
	struct mqtt_packet last_connect;
	char connect_raw[512];
	size_t connect_raw_len;
	char pubs[64][64]; /* "topic payload" of each PUBLISH seen */
	int npubs;
	uint8_t pub_first_byte[64];
	uint16_t pub_id[64];
	uint8_t pub_raw[64];
	size_t pub_raw_len;
	int pubrels;
	uint16_t pubrel_id;
	/* Acknowledgements the client sent for our PUBLISHes. */
	int acks[16]; /* count per type */
	uint16_t ack_id;
	/* PUBLISH on topic "seq": payloads "<n> ..." must arrive as n, n+1, ... */
	long seq_first, seq_last;
	int seq_n;
	bool seq_gap;
	/* PUBLISH on topic "wrap": ids in order of arrival, and whether an id
	 * in wrap_held (still in flight) or 0 was ever used again. */
	uint16_t wrap_prev;
	int wrap_n, wrap_turns;
	bool wrap_bad;
	uint16_t wrap_held[4];
	/* SUBSCRIBE / UNSUBSCRIBE: the filters, "+f" or "-f" each, and the
	 * SUBACK return code to answer with (0xff: the requested QoS). */
	char subs[16][32];
	int nsubs;
	uint8_t suback_rc;
	/* hold_subacks: SUBSCRIBEs counted, their packet ids kept, no SUBACK. */
	bool hold_subacks;
	int sub_packets;
	uint16_t held_subs[512];
	int nheld_subs;
	/* Bytes of everything the client sent, in order, for order checks. */
	char order[256];
	size_t order_len;
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

	/* One letter per packet: C CONNECT, P PUBLISH, D DISCONNECT, ... */
	if (f->order_len + 1 < sizeof(f->order))
		f->order[f->order_len++] = "?CXPaceiSsUuprD"[p->type];
	switch (p->type) {
	case MQTT_CONNECT:
		f->connects++;
		f->last_connect = *p;
		ck_assert_uint_le(len, sizeof(f->connect_raw));
		memcpy(f->connect_raw, raw, len);
		f->connect_raw_len = len;
		if (f->close_on_connect) {
			fake_close_client(f);
			return;
		}
		if (f->answer_connack)
			mqtt_encode_connack(&out, f->session_present, f->connack_rc);
		if (f->close_after_connack > 0) {
			f->close_after_connack--;
			fake_send(f, buf_data(&out), buf_len(&out));
			buf_free(&out);
			fake_close_client(f);
			return;
		}
		break;
	case MQTT_PUBLISH:
		/* A broker over its max_packet_size closes, every time. */
		if (f->poison_topic != NULL && p->topic_len == strlen(f->poison_topic) &&
		    memcmp(p->topic, f->poison_topic, p->topic_len) == 0) {
			f->poison_seen++;
			fake_close_client(f);
			return;
		}
		if (p->topic_len == 3 && memcmp(p->topic, "seq", 3) == 0) {
			long n = strtol((const char *)p->payload, NULL, 10);

			if (f->seq_n == 0)
				f->seq_first = n;
			else if (n != f->seq_last + 1)
				f->seq_gap = true;
			f->seq_last = n;
			f->seq_n++;
			break;
		}
		if (p->topic_len == 4 && memcmp(p->topic, "wrap", 4) == 0) {
			size_t i;

			if (p->packet_id == 0)
				f->wrap_bad = true;
			for (i = 0; i < nitems(f->wrap_held); i++) {
				if (f->wrap_n >= (int)nitems(f->wrap_held) &&
				    p->packet_id == f->wrap_held[i])
					f->wrap_bad = true;
			}
			if (f->wrap_n < (int)nitems(f->wrap_held))
				f->wrap_held[f->wrap_n] = p->packet_id;
			else if (p->packet_id < f->wrap_prev)
				f->wrap_turns++;
			f->wrap_prev = p->packet_id;
			f->wrap_n++;
			/* The held ones stay in flight: never acknowledged. */
			if (f->wrap_n > (int)nitems(f->wrap_held))
				mqtt_encode_ack(&out, MQTT_PUBACK, p->packet_id);
			break;
		}
		if (f->npubs < 64) {
			snprintf(f->pubs[f->npubs], sizeof(f->pubs[0]), "%.*s %.*s",
			         (int)p->topic_len, p->topic, (int)p->payload_len,
			         (const char *)p->payload);
			f->pub_first_byte[f->npubs] = (uint8_t)raw[0];
			f->pub_id[f->npubs] = p->packet_id;
		}
		if (len <= sizeof(f->pub_raw)) {
			memcpy(f->pub_raw, raw, len);
			f->pub_raw_len = len;
		}
		f->npubs++;
		if (p->qos == 1 && f->ack_qos)
			mqtt_encode_ack(&out, MQTT_PUBACK, p->packet_id);
		else if (p->qos == 2 && f->ack_qos)
			mqtt_encode_ack(&out, MQTT_PUBREC, p->packet_id);
		break;
	case MQTT_PUBREL:
		f->pubrels++;
		f->pubrel_id = p->packet_id;
		if (f->ack_qos)
			mqtt_encode_ack(&out, MQTT_PUBCOMP, p->packet_id);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		f->acks[p->type]++;
		f->ack_id = p->packet_id;
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		/* One filter per packet: length, filter[, requested QoS]. */
		size_t flen = (size_t)p->body[0] << 8 | p->body[1];
		uint8_t suback[5] = {0x90, 3, (uint8_t)(p->packet_id >> 8), (uint8_t)p->packet_id,
		                     0};

		if (f->nsubs < 16)
			snprintf(f->subs[f->nsubs++], sizeof(f->subs[0]), "%c%.*s",
			         p->type == MQTT_SUBSCRIBE ? '+' : '-', (int)flen, p->body + 2);
		f->sub_packets++;
		if (f->hold_subacks && p->type == MQTT_SUBSCRIBE) {
			ck_assert_int_lt(f->nheld_subs, (int)nitems(f->held_subs));
			f->held_subs[f->nheld_subs++] = p->packet_id;
			break;
		}
		if (p->type == MQTT_UNSUBSCRIBE) {
			mqtt_encode_ack(&out, MQTT_UNSUBACK, p->packet_id);
			break;
		}
		suback[4] = f->suback_rc == 0xff ? p->body[2 + flen] : f->suback_rc;
		buf_append(&out, suback, sizeof(suback));
		break;
	}
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
	if (!f->paused)
		ck_assert_int_eq(loop_watch(loop, fd, LOOP_READ, fake_read, f), 0);
}

static void fake_start(struct fake *f, struct loop *loop)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char err[ERR_LEN];

	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->fd = -1;
	f->answer_connack = true;
	f->answer_ping = true;
	f->ack_qos = true;
	f->suback_rc = 0xff;
	buf_init(&f->in);
	f->lfd = net_listen(FAKE_HOST, 0, 8, err, sizeof(err));
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
	char err[ERR_LEN];
	char text[256];

	log_init(LOGL_ERROR, false);
	loop = loop_new();
	fake_start(&fk, loop);
	snprintf(text, sizeof(text),
	         "broker.url = " FAKE_HOST
	         ":%u\nbroker.reconnect_min = 1\nbroker.reconnect_max = 1\n"
	         "broker.client_id = test-id\nqueue.max_messages = 5\nqueue.max_bytes = 1024\n"
	         "publish.lwTopic =\n",
	         fk.port);
	/* Without the will and the status messages, so that the PUBLISH
	 * counts below are the test's own; lw_on() turns them on. */
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

/* A client with the options of cfg as the test has set them. */
static struct mqtt_client *new_client(void)
{
	struct mqtt_client_opts o;

	cfg_mqtt_client_opts(&cfg, &o);
	return mqtt_client_new(loop, &o);
}

static void start_client(void)
{
	mc = new_client();
	mqtt_client_start(mc);
}

/* Log lines at level and above into a temporary file (log_capture.h). */
static void capture_start_level(enum log_level level)
{
	capture_begin();
	log_set_level(level);
}

static void capture_start(void)
{
	capture_start_level(LOGL_WARN);
}

/* The will and the status messages on octoprint/mqtt (the defaults). */
static void lw_on(bool retain)
{
	free(cfg.pub_lw_topic);
	cfg.pub_lw_topic = strdup("mqtt");
	cfg.broker_lw_retain = retain;
}

/* Back to errors only; the captured text to out. */
static void capture_end(char *out, size_t outlen)
{
	log_set_level(LOGL_ERROR);
	capture_finish(out, outlen);
}

/* Send a raw packet from the fake broker (encoded by the codec). */
static void fake_send_buf(struct buf *b)
{
	fake_send(&fk, buf_data(b), buf_len(b));
	buf_reset(b);
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
	char log[4096], want[160];

	fk.connack_rc = (uint8_t)_i; /* 1..5 */
	capture_start();
	start_client();
	ck_assert(RUN_UNTIL(fk.connects >= 1 && fk.fd < 0));
	capture_end(log, sizeof(log));
	ck_assert(!mqtt_client_connected(mc));
	/* One warning naming the broker, the reason and the wait (min = max = 1 s). */
	snprintf(want, sizeof(want),
	         "warn: broker " FAKE_HOST
	         ":%u refused the connection: %s (%d); retrying in 1.0 s\n",
	         fk.port, mqtt_connack_str((uint8_t)_i), _i);
	ck_assert_msg(strstr(log, want) != NULL, "log was: %s", log);
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
	ck_assert_int_eq(mqtt_client_publish(mc, "a/b", 3, "{}", 2, 0, true, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "a/b {}");
	/* PUBLISH, QoS 0, retain; remaining 7; topic "a/b"; no packet id; "{}". */
	ck_assert_uint_eq(fk.pub_raw_len, 9);
	ck_assert_int_eq(memcmp(fk.pub_raw,
	                        "\x31\x07\x00\x03"
	                        "a/b{}",
	                        9),
	                 0);
	{
		struct mqtt_client_stats st;

		mqtt_client_stats(mc, &st);
		ck_assert_uint_eq(st.published, 1);
		ck_assert_uint_eq(st.inflight, 0);
	}
}
END_TEST

/*
 * mqtt_client_publish_buf (issue 17): the message takes the buffer's
 * bytes without a copy (the buffer is left empty), and the PUBLISH is
 * byte for byte mqtt_client_publish's; refused, the buffer is kept.
 */
START_TEST(publish_buf_takes_the_payload)
{
	struct buf b = BUF_INITIALIZER;

	cfg.broker_max_packet = 100;
	start_client();
	buf_append_str(&b, "{}");
	/* Not connected, no queueing: refused, the buffer as it was. */
	ck_assert_int_eq(mqtt_client_publish_buf(mc, "a/b", 3, &b, 0, true, false),
	                 MQTT_PUB_NOT_CONNECTED);
	ck_assert_uint_eq(buf_len(&b), 2);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	/* Too large: kept as well. */
	buf_reset(&b);
	for (int i = 0; i < 120; i++)
		buf_putc(&b, 'x');
	ck_assert_int_eq(mqtt_client_publish_buf(mc, "a/b", 3, &b, 0, true, false),
	                 MQTT_PUB_TOO_LARGE);
	ck_assert_uint_eq(buf_len(&b), 120);
	/* Bytes consumed from the front are not part of the payload. */
	buf_reset(&b);
	buf_append_str(&b, "xx{}");
	buf_consume(&b, 2);
	ck_assert_int_eq(mqtt_client_publish_buf(mc, "a/b", 3, &b, 0, true, false), MQTT_PUB_SENT);
	ck_assert_ptr_null(b.b_data);
	ck_assert_uint_eq(buf_len(&b), 0);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "a/b {}");
	ck_assert_uint_eq(fk.pub_raw_len, 9);
	ck_assert_int_eq(memcmp(fk.pub_raw,
	                        "\x31\x07\x00\x03"
	                        "a/b{}",
	                        9),
	                 0);
	/* QoS 1 through the window, and an empty payload. */
	buf_append_str(&b, "q1");
	ck_assert_int_eq(mqtt_client_publish_buf(mc, "q", 1, &b, 1, false, false), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish_buf(mc, "e", 1, &b, 0, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 3));
	ck_assert_str_eq(fk.pubs[1], "q q1");
	ck_assert_str_eq(fk.pubs[2], "e ");
	buf_free(&b);
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
	ck_assert_uint_eq(fk.pub_id[0], 1);
	ck_assert_uint_eq(fk.pub_id[1], 2);
	/* PUBACK ends the first; PUBREC -> PUBREL -> PUBCOMP the second. */
	ck_assert(RUN_UNTIL(fk.pubrels == 1));
	ck_assert_uint_eq(fk.pubrel_id, 2);
	{
		struct mqtt_client_stats st;

		ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
		ck_assert_uint_eq(st.published, 2);
	}
}
END_TEST

/* Unacknowledged QoS 1 is re-sent after a reconnect: DUP when the session was kept. */
START_TEST(qos1_resent_after_reconnect)
{
	bool resumed = _i == 1;
	struct mqtt_client_stats st;

	fk.ack_qos = false;
	fk.session_present = resumed;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "q", 1, "x", 1, 1, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_uint_eq(fk.pub_first_byte[0], 0x32);
	fk.ack_qos = true;
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	ck_assert_uint_eq(fk.pub_first_byte[1], (resumed ? 0x3a : 0x32));
	ck_assert_uint_eq(fk.pub_id[1], fk.pub_id[0]);
	ck_assert_str_eq(fk.pubs[1], "q x");
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
	ck_assert_uint_eq(st.published, 1); /* a re-send is not a new message */
	ck_assert_uint_eq(st.dropped, 0);
}
END_TEST

/* QoS 2 that got PUBREC: on a resumed session the PUBREL is what is re-sent. */
START_TEST(qos2_pubrel_resent_after_reconnect)
{
	struct mqtt_client_stats st;
	struct buf b = BUF_INITIALIZER;

	fk.ack_qos = false;
	fk.session_present = true;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "q", 1, "y", 1, 2, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	mqtt_encode_ack(&b, MQTT_PUBREC, fk.pub_id[0]);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.pubrels == 1));
	fk.ack_qos = true;
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.pubrels == 2));
	ck_assert_uint_eq(fk.pubrel_id, fk.pub_id[0]);
	ck_assert_int_eq(fk.npubs, 1); /* the PUBLISH itself is not repeated */
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
	buf_free(&b);
}
END_TEST

/* Messages from the broker: QoS 1 -> PUBACK; QoS 2 -> PUBREC, PUBREL -> PUBCOMP. */
START_TEST(inbound_publish_acknowledged)
{
	struct buf b = BUF_INITIALIZER;

	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	mqtt_encode_publish(&b, "in/a", 4, "p", 1, 0, false, false, 0);
	mqtt_encode_publish(&b, "in/b", 4, "p", 1, 1, false, false, 7);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBACK] == 1));
	ck_assert_uint_eq(fk.ack_id, 7);
	mqtt_encode_publish(&b, "in/c", 4, "p", 1, 2, false, false, 9);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 1));
	ck_assert_uint_eq(fk.ack_id, 9);
	mqtt_encode_ack(&b, MQTT_PUBREL, 9);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBCOMP] == 1));
	ck_assert_uint_eq(fk.ack_id, 9);
	ck_assert(mqtt_client_connected(mc));
	buf_free(&b);
}
END_TEST

/*
 * The broker stops reading, the client's output buffer fills, the broker
 * goes away. Queueable messages whose bytes were not all written go back
 * to the front of the queue and arrive after the reconnect in order, with
 * no gap; non-queueable ones are counted as dropped. Either way every
 * message is published or dropped, none vanishes.
 */
START_TEST(unwritten_messages_survive_a_drop)
{
	enum { N = 512, SIZE = 16384 };
	bool queueable = _i == 1;
	struct mqtt_client_stats st;
	static char payload[SIZE];
	uint64_t end;
	int i;

	cfg.queue_max_bytes = (size_t)N * (SIZE + 16);
	cfg.queue_max_messages = N;
	fk.paused = true;
	start_client();
	/* Paused: the fake does not read the CONNECT, so answer it blind. */
	ck_assert(RUN_UNTIL(fk.fd >= 0));
	{
		struct buf b = BUF_INITIALIZER;

		mqtt_encode_connack(&b, false, 0);
		fake_send_buf(&b);
		buf_free(&b);
	}
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	memset(payload, '.', sizeof(payload));
	for (i = 0; i < N; i++) {
		int n = snprintf(payload, sizeof(payload), "%d", i);

		payload[n] = ' ';
		ck_assert_int_eq(mqtt_client_publish(mc, "seq", 3, payload, sizeof(payload), 0,
		                                     false, queueable),
		                 MQTT_PUB_SENT);
	}
	/* Let the client write until the socket buffers are full. */
	end = loop_clock_ms() + 300;
	while (loop_clock_ms() < end)
		loop_run_once(loop, 20);
	mqtt_client_stats(mc, &st);
	ck_assert_msg(st.published < N, "socket buffers took all %d messages", N);
	fk.paused = false;
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.published + st.dropped + st.queue_messages, N);
	if (queueable) {
		ck_assert_uint_eq(st.dropped, 0);
		ck_assert_uint_gt(st.queue_messages, 0);
		ck_assert(RUN_UNTIL(fk.seq_n > 0 && fk.seq_last == N - 1));
		ck_assert(!fk.seq_gap);
		ck_assert_int_eq(fk.seq_first + fk.seq_n, N);
		mqtt_client_stats(mc, &st);
		ck_assert_uint_eq(st.published, N);
	} else {
		/* Those partly written are dropped (counted); those still held
		 * back in the queue were accepted while connected and wait. */
		ck_assert_uint_gt(st.dropped, 0);
		ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st),
		                     st.published + st.dropped == N && st.queue_messages == 0)));
	}
}
END_TEST

START_TEST(queue_while_down_in_order)
{
	struct mqtt_client_stats st;
	char p[16];
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
	char log[4096], want[96];

	struct mqtt_client_stats st;
	uint64_t t0;

	cfg.broker_keepalive = 1;
	fk.answer_ping = false;
	capture_start();
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	t0 = loop_clock_ms();
	/* PINGREQ after 1 s of silence; unanswered for 1 s more: dead, then a
	 * reconnect. */
	ck_assert(RUN_UNTIL(fk.pingreqs >= 1));
	ck_assert_int_eq(fk.connects, 1);
	ck_assert(RUN_UNTIL(fk.connects >= 2));
	capture_end(log, sizeof(log));
	ck_assert_uint_ge(loop_clock_ms() - t0, 2000);
	snprintf(want, sizeof(want),
	         "broker " FAKE_HOST ":%u: no PINGRESP within 1 s, reconnecting", fk.port);
	ck_assert_msg(strstr(log, want) != NULL, "log was: %s", log);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.pings_unanswered, 1);
	ck_assert_uint_ge(st.pings_sent, 1);
}
END_TEST

/*
 * Steady one-way traffic: QoS 0 publishes every 50 ms, which the broker
 * never answers. The client must ask (PINGREQ) rather than take the
 * silence for a dead link: one connection throughout, PINGREQs sent.
 */
START_TEST(keepalive_one_way_stream_stays_up)
{
	struct mqtt_client_stats st;
	uint64_t end, next = 0;

	cfg.broker_keepalive = 1;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	end = loop_clock_ms() + 3500;
	while (loop_clock_ms() < end) {
		if (loop_clock_ms() >= next) {
			mqtt_client_publish(mc, "temp", 4, "21.5", 4, 0, false, true);
			next = loop_clock_ms() + 50;
		}
		loop_run_once(loop, 10);
	}
	ck_assert_int_eq(fk.connects, 1);
	ck_assert(mqtt_client_connected(mc));
	ck_assert_int_ge(fk.pingreqs, 2);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.pings_sent, (uint64_t)fk.pingreqs);
	ck_assert_uint_eq(st.pings_unanswered, 0);
	ck_assert_uint_eq(st.reconnects, 0);
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
        {"\xd0\x01\x00", 3},             /* PINGRESP with a body */
        {"\x30\xff\xff\xff\xff\x01", 6}, /* remaining length of 5 bytes */
        {"\x30\xff\xff\x7f", 4},         /* 2 MiB packet > broker.max_packet */
        {"\x20\x02\x00\x00", 4},         /* a second CONNACK */
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
	fk.lfd = net_listen(FAKE_HOST, 0, 1, NULL, 0); /* keep fake_stop happy */
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

/* The will: octoprint/mqtt = "disconnected", QoS 1, retained per lwRetain. */
START_TEST(connect_carries_will)
{
	bool retain = _i == 1;

	lw_on(retain);
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	{
		/* Flags: clean session 0x02, will 0x04, will QoS 1 0x08, will
		 * retain 0x20; keepalive 60; client id, will topic, will message. */
		char want[] = "\x10\x31\x00\x04MQTT\x04\x2e\x00\x3c\x00\x07test-id"
		              "\x00\x0eoctoprint/mqtt\x00\x0c"
		              "disconnected";

		if (!retain)
			want[9] = 0x0e;
		ck_assert_uint_eq(fk.connect_raw_len, sizeof(want) - 1);
		ck_assert_int_eq(memcmp(fk.connect_raw, want, sizeof(want) - 1), 0);
	}
	/* And `connected` right after the CONNACK, same QoS and retain. */
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "octoprint/mqtt connected");
	ck_assert_uint_eq(fk.pub_first_byte[0], retain ? 0x33 : 0x32);
}
END_TEST

/* Publish.lwTopic empty (the fixture): no will flag, no status message. */
START_TEST(lw_disabled_sends_no_status)
{
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_uint_eq(fk.last_connect.connect_flags, 0x02);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "x", 1, 0, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "t x");
	mqtt_client_stop(mc);
	ck_assert(RUN_UNTIL(mqtt_client_stopped(mc) && fk.disconnects == 1));
	ck_assert_int_eq(fk.npubs, 1);
}
END_TEST

/*
 * After CONNACK: first the QoS 1/2 messages of the last connection, then a
 * fresh `connected` (an unacknowledged one from before is not repeated),
 * then the offline queue. Status messages are not counted as published.
 */
START_TEST(connected_between_resends_and_queue)
{
	struct mqtt_client_stats st;

	lw_on(true);
	fk.ack_qos = false;
	fk.session_present = true;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "q", 1, "x", 1, 1, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	ck_assert_str_eq(fk.pubs[0], "octoprint/mqtt connected");
	ck_assert_str_eq(fk.pubs[1], "q x");
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.inflight, 1); /* the status message is not shown */
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "later", 5, 0, false, true),
	                 MQTT_PUB_QUEUED);
	fk.ack_qos = true;
	ck_assert(RUN_UNTIL(fk.npubs == 5));
	ck_assert_str_eq(fk.pubs[2], "q x");
	ck_assert_uint_eq(fk.pub_first_byte[2], 0x3a); /* DUP, QoS 1 */
	ck_assert_uint_eq(fk.pub_id[2], fk.pub_id[1]);
	ck_assert_str_eq(fk.pubs[3], "octoprint/mqtt connected");
	ck_assert_uint_eq(fk.pub_first_byte[3], 0x33); /* new, not DUP */
	ck_assert_uint_ne(fk.pub_id[3], fk.pub_id[2]);
	ck_assert_str_eq(fk.pubs[4], "t later");
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
	ck_assert_uint_eq(st.published, 2);
	ck_assert_int_eq(fk.npubs, 5);
}
END_TEST

/* Stop: `disconnected` (retained, QoS 1), its PUBACK, then DISCONNECT. */
START_TEST(stop_publishes_disconnected)
{
	struct mqtt_client_stats st;

	lw_on(true);
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	mqtt_client_stop(mc);
	ck_assert(RUN_UNTIL(mqtt_client_stopped(mc)));
	ck_assert(RUN_UNTIL(fk.disconnects == 1));
	ck_assert_int_eq(fk.npubs, 2);
	ck_assert_str_eq(fk.pubs[1], "octoprint/mqtt disconnected");
	ck_assert_uint_eq(fk.pub_first_byte[1], 0x33);
	fk.order[fk.order_len] = '\0';
	ck_assert_str_eq(fk.order, "CPPD");
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.published, 0);
	ck_assert_uint_eq(st.dropped, 0);
}
END_TEST

/* No PUBACK for `disconnected`: no DISCONNECT (the caller's bound ends it). */
START_TEST(stop_waits_for_the_puback)
{
	struct buf b = BUF_INITIALIZER;
	uint64_t end;

	lw_on(true);
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	fk.ack_qos = false;
	mqtt_client_stop(mc);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	end = loop_clock_ms() + 300;
	while (loop_clock_ms() < end)
		loop_run_once(loop, 20);
	ck_assert(!mqtt_client_stopped(mc));
	ck_assert_int_eq(fk.disconnects, 0);
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[1]);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(mqtt_client_stopped(mc) && fk.disconnects == 1));
	buf_free(&b);
}
END_TEST

/*
 * Packet ids: 1..65535, then 1 again, skipping ids still in flight, never
 * 0. Four messages stay unacknowledged (ids 1-4) while 65,540 more go
 * through, so the counter passes 65535 and must step over 1-4.
 */
START_TEST(packet_ids_wrap_skip_inflight)
{
	enum { HELD = 4, N = 65540 };
	struct mqtt_client_stats st;
	int sent = 0;

	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	while (sent < HELD + N) {
		enum mqtt_pub_result r =
		        mqtt_client_publish(mc, "wrap", 4, "w", 1, 1, false, false);

		if (r == MQTT_PUB_QUEUE_FULL) {
			loop_run_once(loop, 10);
			continue;
		}
		ck_assert_int_eq(r, MQTT_PUB_SENT);
		sent++;
		if (sent == HELD)
			ck_assert(RUN_UNTIL(fk.wrap_n == HELD));
	}
	ck_assert(RUN_UNTIL(fk.wrap_n == HELD + N));
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == HELD)));
	ck_assert_uint_eq(fk.wrap_held[0], 1);
	ck_assert_uint_eq(fk.wrap_held[3], 4);
	ck_assert_int_eq(fk.wrap_turns, 1);
	ck_assert(!fk.wrap_bad);
	/* 65531 ids from 5 to 65535, then 1-4 skipped: the last is 5 + 8. */
	ck_assert_uint_eq(fk.wrap_prev, 13);
	ck_assert_uint_eq(st.published, HELD + N);
}
END_TEST

/*
 * Inbound QoS 2 sent twice (DUP on the second): PUBREC both times, the
 * message handled once (one "message on" line, one "duplicate" line),
 * PUBCOMP after PUBREL.
 */
START_TEST(inbound_qos2_duplicate_once)
{
	struct buf b = BUF_INITIALIZER;
	char log[4096];

	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	capture_start_level(LOGL_DEBUG);
	mqtt_encode_publish(&b, "in/d", 4, "p", 1, 2, false, false, 7);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 1));
	mqtt_encode_publish(&b, "in/d", 4, "p", 1, 2, false, true, 7);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 2));
	ck_assert_uint_eq(fk.ack_id, 7);
	mqtt_encode_ack(&b, MQTT_PUBREL, 7);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBCOMP] == 1));
	/* After PUBREL the id is free: a new message with it is delivered. */
	mqtt_encode_publish(&b, "in/d", 4, "p", 1, 2, false, false, 7);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 3));
	capture_end(log, sizeof(log));
	ck_assert_msg(count_of(log, "message on 'in/d'") == 2, "log was: %s", log);
	ck_assert_msg(count_of(log, "duplicate QoS 2 message id 7 on 'in/d' not delivered again") ==
	                      1,
	              "log was: %s", log);
	buf_free(&b);
}
END_TEST

/*
 * An inbound QoS 2 id awaiting PUBREL when the connection drops: kept if
 * the session is resumed (the broker's re-send is a duplicate), forgotten
 * if it is not (the broker may reuse the id for a new message, which must
 * be delivered, not taken for a duplicate).
 */
START_TEST(inbound_qos2_ids_follow_the_session)
{
	bool resumed = _i == 1;
	struct buf b = BUF_INITIALIZER;
	char log[4096];

	fk.session_present = resumed;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	capture_start_level(LOGL_DEBUG);
	mqtt_encode_publish(&b, "in/s", 4, "p", 1, 2, false, false, 9);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 1));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.connects == 2 && mqtt_client_connected(mc)));
	mqtt_encode_publish(&b, "in/s", 4, "p", 1, 2, false, resumed, 9);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 2));
	capture_end(log, sizeof(log));
	ck_assert_msg(count_of(log, "message on 'in/s'") == (resumed ? 1 : 2), "log was: %s", log);
	ck_assert_msg(count_of(log, "duplicate QoS 2") == (resumed ? 1 : 0), "log was: %s", log);
	buf_free(&b);
}
END_TEST

/* Run the loop for `ms`: for checks that nothing more arrives meanwhile. */
static void run_for(uint64_t ms)
{
	uint64_t end = loop_clock_ms() + ms;

	while (loop_clock_ms() < end)
		loop_run_once(loop, 20);
}

/*
 * The in-flight window (broker.max_inflight, 7 here): of 60 QoS 1
 * messages published while connected and never acknowledged, exactly 7
 * reach the broker and the others wait in the queue; one PUBACK lets
 * exactly one more go, and once the broker acknowledges everything all of
 * them arrive.
 */
START_TEST(inflight_window_follows_max_inflight)
{
	enum { N = 60, WINDOW = 7 };
	struct mqtt_client_stats st;
	struct buf b = BUF_INITIALIZER;
	uint16_t id;
	int i;

	cfg.queue_max_messages = N;
	cfg.broker_max_inflight = WINDOW;
	fk.ack_qos = false;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	for (i = 0; i < N; i++)
		ck_assert_int_eq(mqtt_client_publish(mc, "w", 1, "x", 1, 1, false, false),
		                 MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs >= WINDOW));
	run_for(300);
	ck_assert_int_eq(fk.npubs, WINDOW);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.inflight, WINDOW);
	/* Ids 1..7 in order (no status messages here). */
	ck_assert_uint_eq(fk.pub_id[0], 1);
	ck_assert_uint_eq(fk.pub_id[WINDOW - 1], WINDOW);
	mqtt_encode_ack(&b, MQTT_PUBACK, 1);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.npubs > WINDOW));
	run_for(300);
	ck_assert_int_eq(fk.npubs, WINDOW + 1);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.inflight, WINDOW);
	/* Acknowledge the rest (2..65 by hand, later ones as they come). */
	fk.ack_qos = true;
	for (id = 2; id <= WINDOW + 1; id++)
		mqtt_encode_ack(&b, MQTT_PUBACK, id);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0 && fk.npubs == N)));
	ck_assert_uint_eq(st.published, N);
	ck_assert_uint_eq(st.dropped, 0);
	buf_free(&b);
}
END_TEST

/* Inbound deliveries counted, each acknowledged at once. */
static int count_hook_n;

static void count_hook(void *ctx, const struct mqtt_message *msg, uint64_t token)
{
	(void)ctx;
	(void)msg;
	count_hook_n++;
	mqtt_client_ack(mc, token);
}

/*
 * Every inbound QoS 2 id awaiting PUBREL is remembered, however many:
 * 300 messages (ids spread over 1..65535, 65535 included) stay unreleased,
 * their duplicates are all answered PUBREC and none is delivered again.
 * After the PUBRELs the ids are free: new messages with them are delivered.
 */
/*
 * A status message counts in the broker's quota like any QoS 1 message:
 * with the window (2) full of re-sent messages after a reconnect,
 * `connected` waits for the first PUBACK instead of going past it.
 */
START_TEST(status_counts_in_the_window)
{
	struct buf b = BUF_INITIALIZER;

	lw_on(true);
	cfg.broker_max_inflight = 2;
	fk.ack_qos = false;
	start_client();
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	ck_assert_str_eq(fk.pubs[0], "octoprint/mqtt connected");
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[0]);
	fake_send_buf(&b);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "a", 1, 1, false, false), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "b", 1, 1, false, false), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 3));
	fake_close_client(&fk);
	/* The re-sends fill the window; `connected` waits. */
	ck_assert(RUN_UNTIL(fk.npubs == 5));
	run_for(300);
	ck_assert_int_eq(fk.npubs, 5);
	ck_assert_str_eq(fk.pubs[3], "t a");
	ck_assert_str_eq(fk.pubs[4], "t b");
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[3]);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.npubs == 6));
	ck_assert_str_eq(fk.pubs[5], "octoprint/mqtt connected");
	buf_free(&b);
}
END_TEST

/*
 * broker.max_packet bounds what we send too: a publish whose packet would
 * be larger is refused up front, connected or not, queueable or not.
 */
START_TEST(publish_larger_than_max_packet_refused)
{
	static char pl[200];
	struct mqtt_client_stats st;

	cfg.broker_max_packet = 100;
	memset(pl, 'p', sizeof(pl));
	start_client();
	/* Not connected yet, queueing allowed: refused all the same. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, pl, 96, 0, false, true),
	                 MQTT_PUB_TOO_LARGE);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	/* 1 + 1 (remaining length) + 2 + 1 (topic) + 95 = 100 bytes: fits. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, pl, 95, 0, false, false), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, pl, 96, 0, false, false),
	                 MQTT_PUB_TOO_LARGE);
	/* QoS 1 adds a packet id: 94 bytes of payload is one too many. */
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, pl, 93, 1, false, false), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, pl, 94, 1, false, false),
	                 MQTT_PUB_TOO_LARGE);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	run_for(200);
	ck_assert_int_eq(fk.npubs, 2);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.refused, 3);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert(mqtt_client_connected(mc));
}
END_TEST

/*
 * A message the broker closes the connection on, every time (as mosquitto
 * does with one over its max_packet_size): after the third close in a row
 * it is dropped, logged and counted, and the messages behind it go out.
 */
START_TEST(poison_dropped_after_three_closes)
{
	struct mqtt_client_stats st;
	char log[4096];

	fk.poison_topic = "big";
	capture_start();
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "big", 3, "xxxxxxxx", 8, 1, false, true),
	                 MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "1", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "2", 1, 2, false, true), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "3", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), fk.npubs == 3 && st.inflight == 0)));
	capture_end(log, sizeof(log));
	ck_assert_int_eq(fk.poison_seen, 3);
	ck_assert_int_eq(fk.connects, 4);
	ck_assert_str_eq(fk.pubs[0], "t 1");
	ck_assert_str_eq(fk.pubs[1], "t 2");
	ck_assert_str_eq(fk.pubs[2], "t 3");
	ck_assert_uint_eq(st.poison_dropped, 1);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert_msg(strstr(log, "closed the connection 3 times in a row with the message on "
	                          "'big' (8 bytes payload, QoS 1) next: dropped it") != NULL,
	              "log was: %s", log);
	ck_assert_int_eq(count_of(log, "dropped it"), 1);
}
END_TEST

/*
 * Strikes belong to one message: two closes with x in flight, x
 * acknowledged, then two closes with y in flight drop nothing.
 */
START_TEST(poison_strikes_need_the_same_message)
{
	struct mqtt_client_stats st;
	struct buf b = BUF_INITIALIZER;

	fk.ack_qos = false;
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "x", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.npubs == 2));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.npubs == 3));
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[2]);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
	ck_assert_int_eq(mqtt_client_publish(mc, "t", 1, "y", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 4));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.npubs == 5));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.npubs == 6));
	ck_assert_str_eq(fk.pubs[5], "t y");
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.poison_dropped, 0);
	ck_assert_uint_eq(st.inflight, 1);
	buf_free(&b);
}
END_TEST

/* The delays of the "retrying in S s" lines of log, in tenths of seconds. */
static int retry_delays(const char *log, int *out, int max)
{
	const char *p = log;
	int n = 0;
	unsigned s, t;

	while (n < max && (p = strstr(p, "retrying in ")) != NULL) {
		p += strlen("retrying in ");
		if (sscanf(p, "%u.%u s", &s, &t) == 2)
			out[n++] = (int)(s * 10 + t);
	}
	return n;
}

/*
 * A broker that accepts and closes at once is retried ever more slowly
 * (reconnect_min 1, reconnect_max 3 here); a link that then stays up for
 * reconnect_max seconds starts the backoff over.
 */
START_TEST(backoff_grows_when_accepted_then_dropped)
{
	char log[8192];
	int d[8], n;

	cfg.broker_reconnect_max = 3;
	fk.close_after_connack = 3;
	capture_start();
	start_client();
	ck_assert(RUN_UNTIL(fk.connects == 4 && mqtt_client_connected(mc)));
	run_for(3200);
	ck_assert(mqtt_client_connected(mc));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.connects == 5));
	capture_end(log, sizeof(log));
	n = retry_delays(log, d, 8);
	ck_assert_msg(n == 4, "log was: %s", log);
	/* min(3, 1 * 2^n) with jitter in the upper half, never below 1 s. */
	ck_assert_int_eq(d[0], 10);
	ck_assert_msg(d[1] >= 10 && d[1] <= 20, "log was: %s", log);
	ck_assert_msg(d[2] >= 15 && d[2] <= 30, "log was: %s", log);
	/* Up for 3.2 s >= reconnect_max: back to reconnect_min. */
	ck_assert_msg(d[3] == 10, "log was: %s", log);
}
END_TEST

/* A broker that closes on CONNECT: the log suggests the likely cause. */
START_TEST(closed_before_connack_logged)
{
	char log[4096], want[128];

	fk.close_on_connect = true;
	capture_start();
	start_client();
	ck_assert(RUN_UNTIL(fk.connects >= 2));
	capture_end(log, sizeof(log));
	snprintf(want, sizeof(want),
	         "broker " FAKE_HOST ":%u closed before CONNACK: wrong protocol version?; "
	         "retrying in",
	         fk.port);
	ck_assert_msg(strstr(log, want) != NULL, "log was: %s", log);
	ck_assert(!mqtt_client_connected(mc));
}
END_TEST

START_TEST(inbound_qos2_every_id_remembered)
{
	enum { N = 300 };
	struct buf b = BUF_INITIALIZER;
	int i;

	count_hook_n = 0;
	start_client();
	mqtt_client_on_message(mc, count_hook, NULL);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	for (i = 0; i < N; i++)
		mqtt_encode_publish(&b, "in/m", 4, "p", 1, 2, false, false,
		                    (uint16_t)(65535 - i * 211));
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == N));
	ck_assert_int_eq(count_hook_n, N);
	for (i = 0; i < N; i++)
		mqtt_encode_publish(&b, "in/m", 4, "p", 1, 2, false, true,
		                    (uint16_t)(65535 - i * 211));
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 2 * N));
	ck_assert_int_eq(count_hook_n, N);
	for (i = 0; i < N; i++)
		mqtt_encode_ack(&b, MQTT_PUBREL, (uint16_t)(65535 - i * 211));
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBCOMP] == N));
	for (i = 0; i < N; i++)
		mqtt_encode_publish(&b, "in/m", 4, "p", 1, 2, false, false,
		                    (uint16_t)(65535 - i * 211));
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBREC] == 3 * N));
	ck_assert_int_eq(count_hook_n, 2 * N);
	buf_free(&b);
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
		uint64_t nominal = a < 6 ? 1000ull << a : 60000;
		uint64_t lo = 60000, hi = 0;

		for (r = 0; r < 200000; r += 7919) {
			uint64_t d = mqtt_backoff_ms(1, 60, a, r);

			ck_assert_uint_ge(d, 1000);
			ck_assert_uint_ge(d, nominal / 2);
			ck_assert_uint_le(d, nominal);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		/* The jitter really spreads the delays (once there is room). */
		if (nominal >= 4000)
			ck_assert_uint_lt(lo + 1000, hi);
	}
	/* min = max and huge attempts do not overflow. */
	ck_assert_uint_eq(mqtt_backoff_ms(3600, 3600, 1000, 0xffffffffu), 3600000);
}
END_TEST

/* Inbound deliveries recorded by the hook: tokens in arrival order. */
static uint64_t hook_tokens[16];
static char hook_topics[16][16];
static int hook_n;

static void hook(void *ctx, const struct mqtt_message *msg, uint64_t token)
{
	(void)ctx;
	ck_assert_int_lt(hook_n, 16);
	hook_tokens[hook_n] = token;
	snprintf(hook_topics[hook_n], sizeof(hook_topics[0]), "%.*s", (int)msg->topic_len,
	         msg->topic);
	hook_n++;
}

/*
 * Acknowledgements wait for the delivery side (mqtt_client_ack) and go
 * out in the order the messages came, whatever order they are acked in.
 */
START_TEST(inbound_acks_wait_for_delivery)
{
	struct buf b = BUF_INITIALIZER;
	size_t tail;

	hook_n = 0;
	start_client();
	mqtt_client_on_message(mc, hook, NULL);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	mqtt_encode_publish(&b, "q1", 2, "a", 1, 1, false, false, 1);
	mqtt_encode_publish(&b, "q2", 2, "b", 1, 2, false, false, 2);
	mqtt_encode_publish(&b, "q0", 2, "c", 1, 0, false, false, 0);
	mqtt_encode_publish(&b, "q1b", 3, "d", 1, 1, false, false, 3);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(hook_n == 4));
	ck_assert_str_eq(hook_topics[0], "q1");
	ck_assert_str_eq(hook_topics[2], "q0");
	ck_assert_uint_eq(hook_tokens[2], 0); /* QoS 0: nothing to acknowledge */
	ck_assert(hook_tokens[0] != 0 && hook_tokens[1] != 0 && hook_tokens[3] != 0);
	tail = fk.order_len;
	/* The last one first: it must wait for the two before it. */
	mqtt_client_ack(mc, hook_tokens[3]);
	mqtt_client_ack(mc, hook_tokens[0]);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBACK] >= 1));
	ck_assert_uint_eq(fk.ack_id, 1);
	mqtt_client_ack(mc, hook_tokens[1]);
	mqtt_client_ack(mc, hook_tokens[1]); /* twice: no harm */
	mqtt_client_ack(mc, 12345);          /* unknown: ignored */
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBACK] == 2 && fk.acks[MQTT_PUBREC] == 1));
	ck_assert_uint_eq(fk.ack_id, 3);
	ck_assert_uint_eq(fk.order_len - tail, 3);
	ck_assert(memcmp(fk.order + tail, "aca", 3) == 0);
	buf_free(&b);
}
END_TEST

/* A token of a connection that ended is ignored; the broker resends. */
START_TEST(inbound_ack_after_reconnect_ignored)
{
	struct buf b = BUF_INITIALIZER;

	hook_n = 0;
	start_client();
	mqtt_client_on_message(mc, hook, NULL);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	mqtt_encode_publish(&b, "q1", 2, "a", 1, 1, false, false, 5);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(hook_n == 1));
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.connects == 2 && mqtt_client_connected(mc)));
	mqtt_client_ack(mc, hook_tokens[0]);
	mqtt_encode_publish(&b, "q1", 2, "a", 1, 1, false, true, 5);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(hook_n == 2));
	ck_assert(hook_tokens[1] != hook_tokens[0]);
	mqtt_client_ack(mc, hook_tokens[1]);
	ck_assert(RUN_UNTIL(fk.acks[MQTT_PUBACK] == 1));
	ck_assert_uint_eq(fk.ack_id, 5);
	buf_free(&b);
}
END_TEST

static char suback_seen[256];

static void on_suback(void *ctx, const char *filter, size_t len, int granted)
{
	(void)ctx;
	snprintf(suback_seen + strlen(suback_seen), sizeof(suback_seen) - strlen(suback_seen),
	         "%.*s=%d;", (int)len, filter, granted);
}

/*
 * The subscription set: sent when connected or on connect, a refusal
 * reported and logged, everything again after a CONNACK without a
 * session, only what is missing after one with a session.
 */
START_TEST(subscriptions_follow_the_session)
{
	char log[4096];

	suback_seen[0] = '\0';
	mc = new_client();
	mqtt_client_on_suback(mc, on_suback, NULL);
	/* Before connecting: sent on connect. */
	ck_assert_int_eq(mqtt_client_subscribe(mc, "a/#", 3, 1), 0);
	mqtt_client_start(mc);
	ck_assert(RUN_UNTIL(fk.nsubs == 1 && strstr(suback_seen, "a/#=1;") != NULL));
	ck_assert_str_eq(fk.subs[0], "+a/#");
	/* Refused by the broker: logged and reported as -1. */
	capture_start();
	fk.suback_rc = 0x80;
	ck_assert_int_eq(mqtt_client_subscribe(mc, "$SYS/x", 6, 0), 0);
	ck_assert(RUN_UNTIL(strstr(suback_seen, "$SYS/x=-1;") != NULL));
	capture_end(log, sizeof(log));
	ck_assert_msg(strstr(log, "refused the subscription to '$SYS/x' (SUBACK 0x80)") != NULL,
	              "log: %s", log);
	fk.suback_rc = 0xff;
	/* The same filter again with the same QoS: nothing sent. */
	ck_assert_int_eq(mqtt_client_subscribe(mc, "a/#", 3, 1), 0);
	ck_assert_int_eq(mqtt_client_unsubscribe(mc, "none", 4), -1);
	/* No session: both again (a refusal may not be final). */
	fk.session_present = false;
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(fk.nsubs == 4 && strstr(suback_seen, "$SYS/x=0;") != NULL));
	ck_assert(strcmp(fk.subs[2], "+a/#") == 0 || strcmp(fk.subs[3], "+a/#") == 0);
	ck_assert(strcmp(fk.subs[2], "+$SYS/x") == 0 || strcmp(fk.subs[3], "+$SYS/x") == 0);
	/* Unsubscribe while connected: UNSUBSCRIBE at once. */
	ck_assert_int_eq(mqtt_client_unsubscribe(mc, "$SYS/x", 6), 0);
	ck_assert(RUN_UNTIL(fk.nsubs == 5));
	ck_assert_str_eq(fk.subs[4], "-$SYS/x");
	/* With a session: a/# is known to the broker, nothing is sent; a
	 * filter added while down is. */
	fk.session_present = true;
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_subscribe(mc, "new", 3, 2), 0);
	ck_assert(RUN_UNTIL(fk.nsubs == 6 && mqtt_client_connected(mc)));
	ck_assert_str_eq(fk.subs[5], "+new");
	/* Unsubscribed while down, session resumed: UNSUBSCRIBE on connect. */
	fake_close_client(&fk);
	ck_assert(RUN_UNTIL(!mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_unsubscribe(mc, "a/#", 3), 0);
	ck_assert(RUN_UNTIL(fk.nsubs == 7 && mqtt_client_connected(mc)));
	ck_assert_str_eq(fk.subs[6], "-a/#");
	ck_assert(RUN_UNTIL(strstr(suback_seen, "new=2;") != NULL));
	ck_assert(strcmp(suback_seen, "a/#=1;$SYS/x=-1;a/#=1;$SYS/x=0;new=2;") == 0 ||
	          strcmp(suback_seen, "a/#=1;$SYS/x=-1;$SYS/x=0;a/#=1;new=2;") == 0);
}
END_TEST

/* The held SUBACKs go now (granted QoS 1). */
static void fake_release_subacks(struct fake *f)
{
	int i;

	for (i = 0; i < f->nheld_subs; i++) {
		uint8_t suback[5] = {0x90, 3, (uint8_t)(f->held_subs[i] >> 8),
		                     (uint8_t)f->held_subs[i], 1};

		fake_send(f, suback, sizeof(suback));
	}
	f->nheld_subs = 0;
}

/*
 * 300 filters subscribed at once: at most 64 SUBSCRIBEs await their SUBACK
 * at any time (packet ids are shared with publishes and number 65535; a
 * connect with 100,000 filters would have run out), each id unique among
 * them; the rest go as SUBACKs come, and all 300 are granted.
 */
START_TEST(subscribe_window)
{
	char f[32];
	int i, j, granted = 0;

	suback_seen[0] = '\0';
	mc = new_client();
	mqtt_client_on_suback(mc, on_suback, NULL);
	mqtt_client_start(mc);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	fk.hold_subacks = true;
	for (i = 0; i < 300; i++) {
		snprintf(f, sizeof(f), "w/%d", i);
		ck_assert_int_eq(mqtt_client_subscribe(mc, f, strlen(f), 1), 0);
	}
	ck_assert(RUN_UNTIL(fk.sub_packets == 64));
	/* A while longer: no 65th before a SUBACK. */
	{
		uint64_t end = loop_clock_ms() + 100;

		while (loop_clock_ms() < end)
			loop_run_once(loop, 20);
	}
	ck_assert_int_eq(fk.sub_packets, 64);
	for (i = 0; i < fk.nheld_subs; i++)
		for (j = i + 1; j < fk.nheld_subs; j++)
			ck_assert_uint_ne(fk.held_subs[i], fk.held_subs[j]);
	fk.hold_subacks = false;
	fake_release_subacks(&fk);
	ck_assert(RUN_UNTIL(fk.sub_packets == 300));
	/* The SUBACKs arrived and were taken: the first ones are in the log
	 * of acknowledged filters (it holds 256 bytes), the link is up. */
	for (const char *p = suback_seen; (p = strstr(p, "=1;")) != NULL; p++)
		granted++;
	ck_assert_int_gt(granted, 10);
	ck_assert(mqtt_client_connected(mc));
}
END_TEST

/*
 * queue.spool: a QoS 1 message never acknowledged survives the client
 * (a kill -9 frees nothing; here the client is freed without delivering),
 * is sent by the next one under the packet id it had, as a DUP when the
 * broker kept the session (§4.4), and leaves the spool once acknowledged.
 */
START_TEST(spool_survives_the_client)
{
	char dir[] = "/tmp/octomqttd-mc-spool.XXXXXX", err[512], cmd[128];
	struct mqtt_client_stats st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fk.ack_qos = false;
	mc = new_client();
	ck_assert_int_eq(mqtt_client_spool(mc, dir, err, sizeof(err)), 0);
	mqtt_client_start(mc);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert_int_eq(mqtt_client_publish(mc, "sp/1", 4, "kept", 4, 1, false, false),
	                 MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 1));
	mqtt_client_free(mc);
	ck_assert_uint_eq(fk.pub_first_byte[0] & 0x08, 0);
	/* The next run: in flight again, sent first, acknowledged this time. */
	fk.ack_qos = true;
	fk.session_present = true;
	mc = new_client();
	ck_assert_int_eq(mqtt_client_spool(mc, dir, err, sizeof(err)), 0);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.queue_messages, 0);
	ck_assert_uint_eq(st.inflight, 1);
	mqtt_client_start(mc);
	ck_assert(RUN_UNTIL(fk.npubs == 2 && fk.acks[MQTT_PUBACK] == 0));
	ck_assert_str_eq(fk.pubs[1], "sp/1 kept");
	ck_assert_uint_eq(fk.pub_id[1], fk.pub_id[0]);
	ck_assert_uint_eq(fk.pub_first_byte[1] & 0x08, 0x08);
	mqtt_client_stats(mc, &st);
	ck_assert(RUN_UNTIL((mqtt_client_stats(mc, &st), st.inflight == 0)));
	mqtt_client_free(mc);
	/* Nothing left for a third run. */
	mc = new_client();
	ck_assert_int_eq(mqtt_client_spool(mc, dir, err, sizeof(err)), 0);
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.queue_messages, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Stopping: messages in flight are acknowledged before `disconnected`. */
START_TEST(stop_flushes_messages_first)
{
	struct buf b = BUF_INITIALIZER;
	uint64_t end;

	lw_on(true);
	start_client();
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	ck_assert(RUN_UNTIL(fk.npubs == 1)); /* connected */
	fk.ack_qos = false;
	ck_assert_int_eq(mqtt_client_publish(mc, "e/1", 3, "x", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert_int_eq(mqtt_client_publish(mc, "e/2", 3, "y", 1, 1, false, true), MQTT_PUB_SENT);
	ck_assert(RUN_UNTIL(fk.npubs == 3));
	mqtt_client_stop(mc);
	ck_assert_int_eq(mqtt_client_publish(mc, "e/3", 3, "z", 1, 1, false, true),
	                 MQTT_PUB_NOT_CONNECTED);
	end = loop_clock_ms() + 300;
	while (loop_clock_ms() < end)
		loop_run_once(loop, 20);
	ck_assert_int_eq(fk.npubs, 3); /* no `disconnected` yet */
	fk.ack_qos = true;
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[1]);
	mqtt_encode_ack(&b, MQTT_PUBACK, fk.pub_id[2]);
	fake_send_buf(&b);
	ck_assert(RUN_UNTIL(mqtt_client_stopped(mc) && fk.disconnects == 1));
	ck_assert_int_eq(fk.npubs, 4);
	ck_assert_str_eq(fk.pubs[3], "octoprint/mqtt disconnected");
	buf_free(&b);
}
END_TEST

/*
 * Paused, the client reads nothing (the message waits in the socket) and
 * the silence is not taken for a dead link; resumed, it comes.
 */
START_TEST(pause_holds_input)
{
	struct buf b = BUF_INITIALIZER;
	struct mqtt_client_stats st;
	uint64_t end;

	hook_n = 0;
	cfg.broker_keepalive = 1; /* dead after 1.5 s of silence */
	fk.answer_ping = false;
	start_client();
	mqtt_client_on_message(mc, hook, NULL);
	ck_assert(RUN_UNTIL(mqtt_client_connected(mc)));
	mqtt_client_pause(mc, true);
	mqtt_encode_publish(&b, "held", 4, "x", 1, 0, false, false, 0);
	fake_send_buf(&b);
	end = loop_clock_ms() + 2500;
	while (loop_clock_ms() < end)
		loop_run_once(loop, 20);
	ck_assert_int_eq(hook_n, 0);
	ck_assert(mqtt_client_connected(mc));
	ck_assert_int_eq(fk.connects, 1);
	mqtt_client_pause(mc, false);
	ck_assert(RUN_UNTIL(hook_n == 1));
	ck_assert_str_eq(hook_topics[0], "held");
	mqtt_client_stats(mc, &st);
	ck_assert_uint_eq(st.pauses, 1);
	buf_free(&b);
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
	tcase_add_loop_test(tc, qos1_resent_after_reconnect, 0, 2);
	tcase_add_test(tc, qos2_pubrel_resent_after_reconnect);
	tcase_add_test(tc, inbound_publish_acknowledged);
	tcase_add_loop_test(tc, unwritten_messages_survive_a_drop, 0, 2);
	tcase_add_test(tc, queue_while_down_in_order);
	tcase_add_test(tc, queue_bytes_bound);
	tcase_add_test(tc, dead_link_reconnects);
	tcase_add_test(tc, keepalive_one_way_stream_stays_up);
	tcase_add_test(tc, keepalive_answered_stays_up);
	tcase_add_loop_test(tc, bad_packet_drops_connection, 0, (int)nitems(bad_from_broker));
	tcase_add_test(tc, broker_closes_then_back);
	tcase_add_test(tc, no_broker_keeps_retrying);
	tcase_add_test(tc, stop_sends_disconnect);
	tcase_add_test(tc, stop_when_down_is_immediate);
	tcase_add_loop_test(tc, connect_carries_will, 0, 2);
	tcase_add_test(tc, lw_disabled_sends_no_status);
	tcase_add_test(tc, connected_between_resends_and_queue);
	tcase_add_test(tc, stop_publishes_disconnected);
	tcase_add_test(tc, stop_waits_for_the_puback);
	tcase_add_test(tc, stop_flushes_messages_first);
	tcase_add_test(tc, packet_ids_wrap_skip_inflight);
	tcase_add_test(tc, inbound_qos2_duplicate_once);
	tcase_add_loop_test(tc, inbound_qos2_ids_follow_the_session, 0, 2);
	tcase_add_test(tc, inflight_window_follows_max_inflight);
	tcase_add_test(tc, status_counts_in_the_window);
	tcase_add_test(tc, publish_larger_than_max_packet_refused);
	tcase_add_test(tc, publish_buf_takes_the_payload);
	tcase_add_test(tc, poison_dropped_after_three_closes);
	tcase_add_test(tc, poison_strikes_need_the_same_message);
	tcase_add_test(tc, backoff_grows_when_accepted_then_dropped);
	tcase_add_test(tc, closed_before_connack_logged);
	tcase_add_test(tc, inbound_qos2_every_id_remembered);
	tcase_add_test(tc, backoff_bounds);
	tcase_add_test(tc, inbound_acks_wait_for_delivery);
	tcase_add_test(tc, inbound_ack_after_reconnect_ignored);
	tcase_add_test(tc, subscriptions_follow_the_session);
	tcase_add_test(tc, spool_survives_the_client);
	tcase_add_test(tc, subscribe_window);
	tcase_add_test(tc, pause_holds_input);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(client_suite)
