/*
 * test_subs: the broker subscriptions follow the registry incrementally;
 * an inbound message gets one delivery per matching registration (with
 * the exact body of DESIGN §6), and a QoS 1/2 message is acknowledged
 * only once every one of its deliveries has ended, whatever the outcome
 * (DESIGN §7); the body itself is checked byte for byte (subs_body).
 * Against a recording mqtt_client (stub_mqtt_client.c) and a recording
 * deliver function; the tests end deliveries themselves through
 * subs_on_done(), as the webhook client would.
 */
#include <stdio.h>
#include <string.h>

#include "check_compat.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "log_capture.h"
#include "mqtt_client.h"
#include "registry.h"
#include "stub_mqtt_client.h"
#include "subs.h"

static struct registry *reg;
static struct mqtt_client *mc;
static struct subs *subs;
static char delivered[2048]; /* "id body\n" per delivery */
static unsigned ndelivered;
/* Each delivery's cookie and subscription id, in the order queued. */
static uint64_t cookies[64];
static char ids[64][32];

static char targets[512]; /* "+id;" per add_target, "-id;" per remove_target */
static bool no_target_for_b;
static unsigned nacks_before; /* stub_mqtt.nacks when the message came */
/* deliver ends each delivery at once with this outcome (-1: it does not). */
static int end_at_once;

static int deliver(void *ctx, const struct reg_entry *e, const char *body, size_t len,
                   uint64_t cookie)
{
	size_t n = strlen(delivered);

	(void)ctx;
	ck_assert_uint_eq(stub_mqtt.nacks, nacks_before); /* queued before the ack */
	if (no_target_for_b && strcmp(e->topic, "a/b") == 0)
		return -1;
	snprintf(delivered + n, sizeof(delivered) - n, "%s %.*s\n", e->url, (int)len, body);
	ck_assert_uint_lt(ndelivered, 64);
	cookies[ndelivered] = cookie;
	snprintf(ids[ndelivered], sizeof(ids[0]), "%s", e->id);
	ndelivered++;
	if (end_at_once >= 0)
		subs_on_done(subs, cookie, e->id, (enum webhook_outcome)end_at_once);
	return 0;
}

/* subs_on_message(), noting the acks made before it (deliver checks them). */
static void on_message(const struct mqtt_message *m, uint64_t token)
{
	nacks_before = stub_mqtt.nacks;
	subs_on_message(subs, m, token);
}

/* End the k-th delivery (in the order queued) with outcome. */
static void done(unsigned k, enum webhook_outcome outcome)
{
	ck_assert_uint_lt(k, ndelivered);
	subs_on_done(subs, cookies[k], ids[k], outcome);
}

static int add_target(void *ctx, const struct reg_entry *e)
{
	(void)ctx;
	snprintf(targets + strlen(targets), sizeof(targets) - strlen(targets), "+%s;", e->topic);
	return 0;
}

static void remove_target(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
	snprintf(targets + strlen(targets), sizeof(targets) - strlen(targets), "-;");
}

static const struct subs_ops ops = {add_target, remove_target, deliver, NULL};

static void setup(void)
{
	stub_mqtt_reset();
	reg = registry_new(NULL);
	mc = mqtt_client_new(NULL, NULL);
	subs = subs_new(reg, mc, 1, &ops);
	delivered[0] = '\0';
	targets[0] = '\0';
	no_target_for_b = false;
	end_at_once = -1;
	ndelivered = 0;
}

static void teardown(void)
{
	subs_free(subs);
	mqtt_client_free(mc);
	registry_free(reg);
	stub_mqtt_reset();
}

static void add(const char *topic, const char *url, const char *args)
{
	char err[256];
	bool created;

	ck_assert_ptr_nonnull(
	        registry_add(reg, topic, url, args, NULL, &created, err, sizeof(err)));
	subs_sync(subs);
}

START_TEST(broker_set_follows_the_registry)
{
	char err[256];

	add("a/b", "http://127.0.0.1:1/x", NULL);
	ck_assert_str_eq(stub_mqtt.subs, "+a/b;");
	/* Covered by a new one: only the new one is added, the old dropped. */
	add("a/#", "http://127.0.0.1:1/y", NULL);
	ck_assert_str_eq(stub_mqtt.subs, "+a/b;+a/#;-a/b;");
	/* The same filter again (another URL): nothing to do at the broker. */
	add("a/#", "http://127.0.0.1:1/z", NULL);
	ck_assert_str_eq(stub_mqtt.subs, "+a/b;+a/#;-a/b;");
	ck_assert_uint_eq(subs_broker_count(subs), 1);
	/* Overlapping: joined into one broker filter. */
	stub_mqtt.subs[0] = '\0';
	add("+/q", "http://127.0.0.1:1/y", NULL);
	ck_assert_str_eq(stub_mqtt.subs, "++/#;-a/#;");
	/* All of a/# gone: back to +/q. */
	stub_mqtt.subs[0] = '\0';
	ck_assert_int_eq(registry_remove_url(reg, "http://127.0.0.1:1/z", NULL, err, sizeof(err)),
	                 1);
	subs_sync(subs);
	ck_assert_str_eq(stub_mqtt.subs, "");
	ck_assert_int_eq(registry_remove_url(reg, "http://127.0.0.1:1/y", "a/#", err, sizeof(err)),
	                 1);
	ck_assert_int_eq(registry_remove_url(reg, "http://127.0.0.1:1/x", NULL, err, sizeof(err)),
	                 1);
	subs_sync(subs);
	ck_assert_str_eq(stub_mqtt.subs, "++/q;-+/#;");
	/* Targets follow the registry: one per subscription. */
	ck_assert_str_eq(targets, "+a/b;+a/#;+a/#;++/q;-;-;-;");
}
END_TEST

START_TEST(one_delivery_per_matching_registration)
{
	struct mqtt_message m = {"a/b", 3, "hi \"x\"", 6, 1, true, false};

	add("a/#", "http://127.0.0.1:1/one", "[1, \"two\"]");
	add("a/b", "http://127.0.0.1:1/two", NULL);
	add("a/c", "http://127.0.0.1:1/three", NULL);
	add("#", "http://127.0.0.1:1/four", NULL);
	on_message(&m, 42);
	ck_assert_uint_eq(ndelivered, 3);
	/* Queued is not enough: the ack waits for all three. */
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	ck_assert_uint_eq(subs_held(subs), 1);
	done(1, WEBHOOK_DELIVERED);
	done(0, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	done(2, WEBHOOK_DELIVERED);
	ck_assert_str_eq(delivered,
	                 "http://127.0.0.1:1/one {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[1, \"two\"],\"kwargs\":{}}\n"
	                 "http://127.0.0.1:1/two {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[],\"kwargs\":{}}\n"
	                 "http://127.0.0.1:1/four {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[],\"kwargs\":{}}\n");
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 42);
	ck_assert_uint_eq(subs_held(subs), 0);
	/* A late or repeated end of a delivery changes nothing. */
	done(2, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
}
END_TEST

/*
 * A delivery without a target is counted; the message waits for the
 * delivery that was queued. One with no delivery queued at all is
 * acknowledged at once.
 */
START_TEST(undeliverable_counted)
{
	struct mqtt_message m = {"a/b", 3, "x", 1, 1, false, false};
	uint64_t messages, deliveries, undeliverable;
	char err[256];

	add("a/b", "http://127.0.0.1:1/two", NULL);
	add("a/+", "http://127.0.0.1:1/one", NULL);
	no_target_for_b = true;
	on_message(&m, 9);
	subs_stats(subs, &messages, &deliveries, &undeliverable);
	ck_assert_uint_eq(deliveries, 1);
	ck_assert_uint_eq(undeliverable, 1);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	done(0, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 9);

	/* Only the subscription without a target matches: acked at once. */
	ck_assert_int_eq(registry_remove_url(reg, "http://127.0.0.1:1/one", NULL, err, sizeof(err)),
	                 1);
	subs_sync(subs);
	on_message(&m, 10);
	ck_assert_uint_eq(stub_mqtt.nacks, 2);
	ck_assert_uint_eq(stub_mqtt.acks[1], 10);
	ck_assert_uint_eq(subs_held(subs), 0);
}
END_TEST

/* Whatever a delivery's outcome, its end counts: failed, dropped, cancelled. */
static const enum webhook_outcome outcomes[] = {WEBHOOK_FAILED, WEBHOOK_DROPPED, WEBHOOK_CANCELLED};

START_TEST(acked_after_any_outcome)
{
	struct mqtt_message m = {"room/temp", 9, "21", 2, 1, false, false};
	char log[4096], want[256];

	add("room/#", "http://127.0.0.1:1/a", NULL);
	add("+/temp", "http://127.0.0.1:1/b", NULL);
	on_message(&m, 5);
	ck_assert_uint_eq(ndelivered, 2);
	done(0, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	log_init(LOGL_INFO, false);
	capture_begin();
	done(1, outcomes[_i]);
	capture_finish(log, sizeof(log));
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 5);
	/* The log line names the message's topic and the subscription. */
	snprintf(want, sizeof(want),
	         "message on 'room/temp' (QoS 1) not delivered to subscription %s (%s); "
	         "acknowledged to the broker all the same",
	         ids[1], webhook_outcome_name(outcomes[_i]));
	ck_assert_msg(count_of(log, want) == 1, "want '%s' in: %s", want, log);
}
END_TEST

/*
 * Two messages: each is acknowledged when its own deliveries have ended,
 * in whatever order that is (the client puts the acknowledgements back
 * in arrival order, test_mqtt_client). Tokens never mix.
 */
START_TEST(each_token_when_its_deliveries_end)
{
	struct mqtt_message m1 = {"a/1", 3, "one", 3, 1, false, false};
	struct mqtt_message m2 = {"b/2", 3, "two", 3, 2, false, false};
	struct mqtt_message m3 = {"a/3", 3, "three", 5, 0, false, false};

	add("a/#", "http://127.0.0.1:1/a", NULL);
	add("#", "http://127.0.0.1:1/all", NULL);
	on_message(&m1, 100); /* deliveries 0 (a) and 1 (all) */
	on_message(&m2, 101); /* delivery 2 (all) */
	on_message(&m3, 0);   /* QoS 0: 3 and 4, nothing held */
	ck_assert_uint_eq(ndelivered, 5);
	ck_assert_uint_eq(subs_held(subs), 2);
	ck_assert_uint_eq(cookies[3], 0);
	ck_assert_uint_eq(cookies[4], 0);
	ck_assert_uint_ne(cookies[0], 0);
	ck_assert_uint_eq(cookies[0], cookies[1]);
	ck_assert_uint_ne(cookies[0], cookies[2]);
	done(3, WEBHOOK_DELIVERED);
	done(1, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	done(2, WEBHOOK_FAILED);
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 101);
	done(0, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 2);
	ck_assert_uint_eq(stub_mqtt.acks[1], 100);
	done(4, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 2);
	ck_assert_uint_eq(subs_held(subs), 0);
}
END_TEST

/*
 * A delivery that ends while it is being queued (the webhook client drops
 * it at once) does not acknowledge the message before its siblings are
 * queued; the message is acknowledged once, at the end.
 */
START_TEST(ended_while_queued)
{
	struct mqtt_message m = {"a/b", 3, "x", 1, 1, false, false};

	add("a/b", "http://127.0.0.1:1/one", NULL);
	add("a/+", "http://127.0.0.1:1/two", NULL);
	end_at_once = WEBHOOK_DROPPED;
	on_message(&m, 77); /* deliver checks that no ack came before it */
	ck_assert_uint_eq(ndelivered, 2);
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 77);
	ck_assert_uint_eq(subs_held(subs), 0);
}
END_TEST

/*
 * Many messages held at once (more than the first allocation of slots),
 * ended in reverse: each token once, slots reused afterwards; a cookie
 * of a reused slot's earlier message is ignored. subs_free() with
 * messages still held acknowledges nothing (and leaks nothing).
 */
START_TEST(many_held_and_reused)
{
	struct mqtt_message m = {"a/b", 3, "x", 1, 1, false, false};
	uint64_t old;
	int i;

	add("a/b", "http://127.0.0.1:1/one", NULL);
	for (i = 0; i < 40; i++)
		on_message(&m, 1000 + (uint64_t)i);
	ck_assert_uint_eq(subs_held(subs), 40);
	for (i = 39; i >= 24; i--)
		done((unsigned)i, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 16);
	for (i = 0; i < 16; i++)
		ck_assert_uint_eq(stub_mqtt.acks[i], 1000 + 39 - (uint64_t)i);
	ck_assert_uint_eq(subs_held(subs), 24);
	/* A slot let go and taken again: the old cookie names nothing. */
	old = cookies[24];
	ndelivered = 0;
	on_message(&m, 2000);
	ck_assert_uint_eq(cookies[0] & 0xffffffffu, old & 0xffffffffu);
	ck_assert_uint_ne(cookies[0], old);
	subs_on_done(subs, old, "x", WEBHOOK_DELIVERED);
	subs_on_done(subs, 0, "x", WEBHOOK_DELIVERED);
	subs_on_done(subs, 12345, "x", WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.nacks, 16);
	ck_assert_uint_eq(subs_held(subs), 25);
	subs_free(subs);
	subs = NULL;
	ck_assert_uint_eq(stub_mqtt.nacks, 16);
}
END_TEST

/* $SYS topics are not matched by a leading wildcard; QoS 0 needs no ack. */
START_TEST(sys_topics_and_qos0)
{
	struct mqtt_message m = {"$SYS/broker/uptime", 18, "5", 1, 0, false, false};
	uint64_t messages, deliveries, undeliverable;

	add("#", "http://127.0.0.1:1/all", NULL);
	add("+/broker/+", "http://127.0.0.1:1/plus", NULL);
	on_message(&m, 0);
	ck_assert_uint_eq(ndelivered, 0);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	/* QoS 1, matching nothing: acknowledged at once. */
	on_message(&m, 6);
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 6);
	stub_mqtt.nacks = 0;
	add("$SYS/#", "http://127.0.0.1:1/sys", NULL);
	on_message(&m, 7);
	ck_assert_uint_eq(ndelivered, 1);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	done(0, WEBHOOK_DELIVERED);
	ck_assert_uint_eq(stub_mqtt.acks[0], 7);
	subs_stats(subs, &messages, &deliveries, &undeliverable);
	ck_assert_uint_eq(messages, 3);
	ck_assert_uint_eq(deliveries, 1);
}
END_TEST

/* The body of DESIGN §6, byte for byte (subs_body, pure). */
START_TEST(body_bytes)
{
	struct buf b = BUF_INITIALIZER;
	const char *why = NULL;

	subs_body(&b, "a/b", 3, "caf\xc3\xa9 \"x\"", 9, true, 1, "[1, \"two\"]",
	          "{\"k\" : {\"n\":null}}");
	buf_putc(&b, '\0');
	ck_assert_str_eq(
	        buf_data(&b),
	        "{\"topic\":\"a/b\",\"payload\":\"caf\xc3\xa9 \\\"x\\\"\",\"retained\":true,"
	        "\"qos\":1,\"args\":[1, \"two\"],\"kwargs\":{\"k\" : {\"n\":null}}}");
	ck_assert_int_eq(json_validate(buf_data(&b), buf_len(&b) - 1, &why), 0);

	buf_reset(&b);
	subs_body(&b, "t", 1, "\xff\x00\x01", 3, false, 0, NULL, NULL);
	buf_putc(&b, '\0');
	ck_assert_str_eq(buf_data(&b),
	                 "{\"topic\":\"t\",\"payload\":null,\"payload_base64\":\"/wAB\","
	                 "\"retained\":false,\"qos\":0,\"args\":[],\"kwargs\":{}}");
	ck_assert_int_eq(json_validate(buf_data(&b), buf_len(&b) - 1, &why), 0);

	/* Empty payload is valid UTF-8: an empty string. Overlong UTF-8 is not. */
	buf_reset(&b);
	subs_body(&b, "t", 1, "", 0, false, 2, "[]", "{}");
	buf_putc(&b, '\0');
	ck_assert_str_eq(buf_data(&b), "{\"topic\":\"t\",\"payload\":\"\",\"retained\":false,"
	                               "\"qos\":2,\"args\":[],\"kwargs\":{}}");
	buf_reset(&b);
	subs_body(&b, "t", 1, "\xc0\xaf", 2, false, 0, NULL, NULL);
	buf_putc(&b, '\0');
	ck_assert_ptr_nonnull(strstr(buf_data(&b), "\"payload\":null,\"payload_base64\":\"wK8=\""));
	buf_free(&b);
}
END_TEST

static Suite *subs_suite(void)
{
	Suite *s = suite_create("subs");
	TCase *tc = tcase_create("body");

	tcase_add_test(tc, body_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("deliveries");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, broker_set_follows_the_registry);
	tcase_add_test(tc, one_delivery_per_matching_registration);
	tcase_add_test(tc, sys_topics_and_qos0);
	tcase_add_test(tc, undeliverable_counted);
	tcase_add_loop_test(tc, acked_after_any_outcome, 0,
	                    (int)(sizeof(outcomes) / sizeof(outcomes[0])));
	tcase_add_test(tc, each_token_when_its_deliveries_end);
	tcase_add_test(tc, ended_while_queued);
	tcase_add_test(tc, many_held_and_reused);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(subs_suite)
