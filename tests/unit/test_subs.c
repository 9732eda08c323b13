/*
 * test_subs: the broker subscriptions follow the registry incrementally;
 * an inbound message gets one delivery per matching registration (with
 * the exact body of DESIGN §6), and is acknowledged after they are
 * queued. Against a recording mqtt_client (stub_mqtt_client.c).
 */
#include <stdio.h>
#include <string.h>

#include "check_compat.h"
#include "mqtt_client.h"
#include "registry.h"
#include "stub_mqtt_client.h"
#include "subs.h"

static struct registry *reg;
static struct mqtt_client *mc;
static struct subs *subs;
static char delivered[2048]; /* "id body\n" per delivery */
static unsigned ndelivered;

static char targets[512]; /* "+id;" per add_target, "-id;" per remove_target */
static bool no_target_for_b;

static int deliver(void *ctx, const struct reg_entry *e, const char *body, size_t len)
{
	size_t n = strlen(delivered);

	(void)ctx;
	ck_assert_uint_eq(stub_mqtt.nacks, 0); /* queued before the ack */
	if (no_target_for_b && strcmp(e->topic, "a/b") == 0)
		return -1;
	snprintf(delivered + n, sizeof(delivered) - n, "%s %.*s\n", e->url, (int)len, body);
	ndelivered++;
	return 0;
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
	subs_on_message(subs, &m, 42);
	ck_assert_uint_eq(ndelivered, 3);
	ck_assert_str_eq(delivered,
	                 "http://127.0.0.1:1/one {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[1, \"two\"],\"kwargs\":{}}\n"
	                 "http://127.0.0.1:1/two {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[],\"kwargs\":{}}\n"
	                 "http://127.0.0.1:1/four {\"topic\":\"a/b\",\"payload\":\"hi \\\"x\\\"\","
	                 "\"retained\":true,\"qos\":1,\"args\":[],\"kwargs\":{}}\n");
	ck_assert_uint_eq(stub_mqtt.nacks, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 42);
}
END_TEST

/* A delivery without a target is counted; the message is still acked. */
START_TEST(undeliverable_counted)
{
	struct mqtt_message m = {"a/b", 3, "x", 1, 1, false, false};
	uint64_t messages, deliveries, undeliverable;

	add("a/b", "http://127.0.0.1:1/two", NULL);
	add("a/+", "http://127.0.0.1:1/one", NULL);
	no_target_for_b = true;
	subs_on_message(subs, &m, 9);
	subs_stats(subs, &messages, &deliveries, &undeliverable);
	ck_assert_uint_eq(deliveries, 1);
	ck_assert_uint_eq(undeliverable, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 9);
}
END_TEST

/* $SYS topics are not matched by a leading wildcard; QoS 0 needs no ack. */
START_TEST(sys_topics_and_qos0)
{
	struct mqtt_message m = {"$SYS/broker/uptime", 18, "5", 1, 0, false, false};
	uint64_t messages, deliveries, undeliverable;

	add("#", "http://127.0.0.1:1/all", NULL);
	add("+/broker/+", "http://127.0.0.1:1/plus", NULL);
	subs_on_message(subs, &m, 0);
	ck_assert_uint_eq(ndelivered, 0);
	ck_assert_uint_eq(stub_mqtt.nacks, 0);
	add("$SYS/#", "http://127.0.0.1:1/sys", NULL);
	subs_on_message(subs, &m, 7);
	ck_assert_uint_eq(ndelivered, 1);
	ck_assert_uint_eq(stub_mqtt.acks[0], 7);
	subs_stats(subs, &messages, &deliveries, &undeliverable);
	ck_assert_uint_eq(messages, 2);
	ck_assert_uint_eq(deliveries, 1);
}
END_TEST

static Suite *subs_suite(void)
{
	Suite *s = suite_create("subs");
	TCase *tc = tcase_create("subs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, broker_set_follows_the_registry);
	tcase_add_test(tc, one_delivery_per_matching_registration);
	tcase_add_test(tc, sys_topics_and_qos0);
	tcase_add_test(tc, undeliverable_counted);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(subs_suite)
