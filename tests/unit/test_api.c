/*
 * test_api: the routes of DESIGN §5 against a recording mqtt_client
 * (stub_mqtt_client.c). Requests are built by hand (and once through
 * http_parser); each test checks the status, the exact JSON answer and
 * what would have been published.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "http_parser.h"
#include "http_server.h"
#include "json.h"
#include "loop.h"
#include "net.h"
#include "presence.h"
#include "registry.h"
#include "subs.h"
#include "webhook.h"
#include "stub_mqtt_client.h"
#include "check_compat.h"

#define NOW     1700000000
#define NOW_STR "1700000000"

static char *exclude_none[] = {NULL};
static char *exclude_some[] = {"Shutdown", "PositionUpdate", NULL};

/* The settings: tests change cfg; call() fills ao from it before each request. */
static struct cfg cfg;
static struct api_opts ao;
static struct mqtt_client *mc;
static struct api *api;
static struct registry *reg;
static struct subs *subs;
static struct loop *loop;
static struct webhook *wh; /* checks the URLs of registrations; never sends here */
static struct net_cidr allow[2];

static int no_delivery(void *ctx, const struct reg_entry *e, const char *b, size_t len,
                       uint64_t cookie)
{
	(void)ctx;
	(void)e;
	(void)b;
	(void)len;
	(void)cookie;
	return 0;
}

static int no_target(void *ctx, const struct reg_entry *e)
{
	(void)ctx;
	(void)e;
	return 0;
}

static void no_removal(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
}

static const struct subs_ops no_ops = {no_target, no_removal, no_delivery, NULL};
static struct http_response resp;
static char *body; /* resp.body as a string, after call() */

static time_t fixed_now(void)
{
	return NOW;
}

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.broker_host = "::1";
	cfg.broker_port = 1884;
	cfg.pub_base_topic = "octoprint/";
	cfg.pub_event_topic = "event/{event}";
	cfg.pub_event_active = true;
	cfg.pub_events_exclude = exclude_none;
	cfg.pub_qos = 0;
	cfg.pub_retain = false;
	cfg.pub_timestamp = true;
	cfg.pub_queue_events = true;
	cfg.pub_ts_field = "_timestamp";
	for (int c = 0; c < EVENTS_NCLASSES; c++)
		cfg.pub_event_class[c] = true;
	cfg.pub_retain_events = exclude_none;
	cfg.pub_progress_topic = "progress/{progress}";
	cfg.pub_progress_active = true;
	cfg.pub_progress_retain = true;
	cfg.pub_lw_active = true;
	cfg.pub_lw_topic = "mqtt";
	cfg.broker_lw_retain = true;
	cfg.pub_temperature_topic = "temperature/{temp}";
	cfg.pub_temperature_active = true;
	cfg.pub_temperature_threshold = 0.5;
	stub_mqtt_reset();
	ck_assert_int_eq(net_cidr_parse("127.0.0.0/8", &allow[0], NULL, 0), 0);
	ck_assert_int_eq(net_cidr_parse("::1", &allow[1], NULL, 0), 0);
	cfg.webhook_allow = allow;
	cfg.webhook_allow_n = 2;
	mc = mqtt_client_new(NULL, NULL); /* the recording stub: no options */
	cfg_api_opts(&cfg, &ao);
	api = api_new(&ao, mc, fixed_now);
	reg = registry_new(NULL);
	subs = subs_new(reg, mc, 1, &no_ops);
	loop = loop_new();
	wh = webhook_new(loop, NULL);
	webhook_set_allow(wh, cfg.webhook_allow, cfg.webhook_allow_n);
	api_set_subscriptions(api, reg, subs, wh);
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body);
	body = NULL;
}

static void teardown(void)
{
	api_free(api);
	subs_free(subs);
	webhook_free(wh);
	loop_free(loop);
	registry_free(reg);
	mqtt_client_free(mc);
	buf_free(&resp.body);
	free(body);
	stub_mqtt_reset();
}

/* When set, the next request carries this Authorization header. */
static const char *auth_value;

/* Run one request through api_handle() with a fresh response. */
static void call_len(enum http_method method, const char *path, const char *in, size_t inlen)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.method_str = method == HTTP_POST ? "POST" : method == HTTP_GET ? "GET" : "X";
	req.method_len = strlen(req.method_str);
	req.path = path;
	req.path_len = strcspn(path, "?");
	if (path[req.path_len] == '?') {
		req.query = path + req.path_len + 1;
		req.query_len = strlen(req.query);
	}
	req.version_minor = 1;
	req.keep_alive = true;
	req.body = in;
	req.body_len = inlen;
	if (auth_value != NULL) {
		req.headers[0].name = "authorization";
		req.headers[0].name_len = 13;
		req.headers[0].value = auth_value;
		req.headers[0].value_len = strlen(auth_value);
		req.nheaders = 1;
	}
	buf_reset(&resp.body);
	resp.status = 200;
	resp.allow = NULL;
	resp.content_type = NULL;
	resp.www_authenticate = NULL;
	cfg_api_opts(&cfg, &ao);
	api_handle(api, &req, &resp);
	free(body);
	body = strndup(buf_len(&resp.body) > 0 ? buf_data(&resp.body) : "", buf_len(&resp.body));
}

static void call(enum http_method method, const char *path, const char *in)
{
	call_len(method, path, in, in != NULL ? strlen(in) : 0);
}

START_TEST(test_event_published)
{
	call(HTTP_POST, "/events/PrintStarted", "{\"name\": \"benchy.gcode\", \"size\": 1234567}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"topic\":\"octoprint/event/PrintStarted\"}");
	ck_assert_ptr_null(resp.allow);
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert_str_eq(stub_mqtt.topic, "octoprint/event/PrintStarted");
	ck_assert_uint_eq(stub_mqtt.topic_len, strlen("octoprint/event/PrintStarted"));
	ck_assert_str_eq(stub_mqtt.payload,
	                 "{\"name\":\"benchy.gcode\",\"size\":1234567,"
	                 "\"_event\":\"PrintStarted\",\"_timestamp\":" NOW_STR "}");
	ck_assert_int_eq(stub_mqtt.qos, 0);
	ck_assert(!stub_mqtt.retain);
	ck_assert(stub_mqtt.allow_queue);
}
END_TEST

START_TEST(test_event_replaces_members)
{
	call(HTTP_POST, "/events/ZChange",
	     "{\"_timestamp\": 1, \"new\": 0.2, \"_event\": \"Old\", \"old\": null}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(stub_mqtt.payload, "{\"_timestamp\":" NOW_STR ",\"new\":0.2,"
	                                    "\"_event\":\"ZChange\",\"old\":null}");
}
END_TEST

START_TEST(test_event_empty_bodies)
{
	static const char *const bodies[] = {"", "null", " \r\n", "{}", " { } "};
	size_t i;

	call_len(HTTP_POST, "/events/Startup", NULL, 0);
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(stub_mqtt.payload, "{\"_event\":\"Startup\",\"_timestamp\":" NOW_STR "}");
	for (i = 0; i < nitems(bodies); i++) {
		free(stub_mqtt.payload);
		stub_mqtt.payload = NULL;
		call(HTTP_POST, "/events/Startup", bodies[i]);
		ck_assert_int_eq(resp.status, 202);
		ck_assert_str_eq(stub_mqtt.payload,
		                 "{\"_event\":\"Startup\",\"_timestamp\":" NOW_STR "}");
	}
	ck_assert_uint_eq(stub_mqtt.calls, 1 + nitems(bodies));
}
END_TEST

START_TEST(test_event_options_passed)
{
	cfg.pub_qos = 2;
	cfg.pub_retain = true;
	cfg.pub_queue_events = false;
	cfg.pub_timestamp = false;
	call(HTTP_POST, "/events/Home", "{\"_timestamp\":5}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_int_eq(stub_mqtt.qos, 2);
	ck_assert(stub_mqtt.retain);
	ck_assert(!stub_mqtt.allow_queue);
	/* Without publish.timestamp an existing _timestamp is an ordinary member. */
	ck_assert_str_eq(stub_mqtt.payload, "{\"_timestamp\":5,\"_event\":\"Home\"}");
}
END_TEST

/* now == NULL: the clock is time(NULL). */
START_TEST(test_event_real_clock)
{
	struct api *a = api_new(&ao, mc, NULL);
	struct http_request req;
	time_t before = time(NULL), after;
	long long ts;
	char *p;

	memset(&req, 0, sizeof(req));
	req.method = HTTP_POST;
	req.path = "/events/Dwell";
	req.path_len = strlen(req.path);
	api_handle(a, &req, &resp);
	after = time(NULL);
	ck_assert_int_eq(resp.status, 202);
	p = strstr(stub_mqtt.payload, "\"_timestamp\":");
	ck_assert_ptr_nonnull(p);
	ts = strtoll(p + strlen("\"_timestamp\":"), NULL, 10);
	ck_assert(ts >= (long long)before && ts <= (long long)after);
	api_free(a);
}
END_TEST

static const struct topic_case {
	const char *base, *tmpl, *want;
} topic_cases[] = {
        {"octoprint/", "event/{event}", "octoprint/event/E.v-1_x"},
        {"", "{event}", "E.v-1_x"},
        {"home/printer/", "{event}/x/{event}", "home/printer/E.v-1_x/x/E.v-1_x"},
        {"base/", "events", "base/events"},
        {"b/", "{event}{event}", "b/E.v-1_xE.v-1_x"},
        {"b/", "{eve}/{event", "b/{eve}/{event"},
        {"b/", "{{event}}", "b/{E.v-1_x}"},
        {"{event}/", "x", "{event}/x"},
};

START_TEST(test_topic_template)
{
	const struct topic_case *c = &topic_cases[_i];
	char want_body[256];

	cfg.pub_base_topic = (char *)c->base;
	cfg.pub_event_topic = (char *)c->tmpl;
	call(HTTP_POST, "/events/E.v-1_x", "{}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(stub_mqtt.topic, c->want);
	snprintf(want_body, sizeof(want_body), "{\"accepted\":true,\"topic\":\"%s\"}", c->want);
	ck_assert_str_eq(body, want_body);
}
END_TEST

START_TEST(test_event_inactive)
{
	cfg.pub_event_active = false;
	call(HTTP_POST, "/events/PrintDone", "{\"a\":1}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"topic\":\"octoprint/event/PrintDone\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	/* The body is still checked. */
	call(HTTP_POST, "/events/PrintDone", "{\"a\":");
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(
	        body, "{\"error\":\"invalid_json\",\"message\":\"invalid JSON: unexpected end\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

START_TEST(test_event_excluded)
{
	cfg.pub_events_exclude = exclude_some;
	call(HTTP_POST, "/events/PositionUpdate", "{\"x\":1}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"topic\":\"octoprint/event/PositionUpdate\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	call(HTTP_POST, "/events/Shutdown", NULL);
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	/* Names are compared whole. */
	call(HTTP_POST, "/events/Position", NULL);
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert_str_eq(stub_mqtt.topic, "octoprint/event/Position");
}
END_TEST

#define NAME_128                                                                                   \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"                        \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

static const char *const bad_names[] = {
        "/events/",          "/events/a/b", "/events/a/",      "/events//a",
        "/events/a%20b",     "/events/%41", "/events/a b",     "/events/a:b",
        "/events/a+b",       "/events/#",   "/events/a\"b",    "/events/j\xc3\xbcrgen",
        "/events/tab\there", "/events/a,b", "/events/{event}", "/events/" NAME_128 "x",
};

START_TEST(test_bad_name)
{
	call(HTTP_POST, bad_names[_i], "{}");
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(body, "{\"error\":\"invalid_name\",\"message\":\"event name must be "
	                       "1-128 characters of A-Z a-z 0-9 _ . -\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

static const char *const good_names[] = {
        "/events/" NAME_128, "/events/a", "/events/.", "/events/-", "/events/_", "/events/..",
};

START_TEST(test_good_name)
{
	call(HTTP_POST, good_names[_i], "{}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert_str_eq(stub_mqtt.topic + strlen("octoprint/event/"),
	                 good_names[_i] + strlen("/events/"));
}
END_TEST

static const struct json_case {
	const char *in, *why;
} bad_json[] = {
        {"{\"a\":", "invalid JSON: unexpected end"},
        {"{\"a\":01}", "invalid JSON: bad number"},
        {"{\"a\":1,}", "invalid JSON: expected ',' between values"},
        {"{\"a\":\"\t\"}", "invalid JSON: control character in string"},
        {"{} {}", "invalid JSON: more than one value or trailing characters"},
        {"{\"a\":\"\xc0\xaf\"}", "invalid JSON: invalid UTF-8 in string"},
        {"[1]", "body must be a JSON object"},
        {"\"text\"", "body must be a JSON object"},
        {"42", "body must be a JSON object"},
        {"true", "body must be a JSON object"},
        {"name=value", "invalid JSON: bad literal (true, false, null)"},
        {"<event/>", "invalid JSON: unexpected character"},
};

START_TEST(test_bad_json)
{
	char want[256];

	call(HTTP_POST, "/events/Upload", bad_json[_i].in);
	ck_assert_int_eq(resp.status, 400);
	snprintf(want, sizeof(want), "{\"error\":\"invalid_json\",\"message\":\"%s\"}",
	         bad_json[_i].why);
	ck_assert_str_eq(body, want);
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

START_TEST(test_bad_json_nul)
{
	call_len(HTTP_POST, "/events/Upload", "{}\0", 3);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(body,
	                 "{\"error\":\"invalid_json\",\"message\":\"invalid JSON: NUL byte\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

static const struct route_case {
	enum http_method method;
	const char *path, *want;
} not_found[] = {
        {HTTP_GET, "/x", "{\"error\":\"not_found\",\"message\":\"no such route: /x\"}"},
        {HTTP_POST, "/", "{\"error\":\"not_found\",\"message\":\"no such route: /\"}"},
        {HTTP_POST, "/events", "{\"error\":\"not_found\",\"message\":\"no such route: /events\"}"},
        {HTTP_POST, "/eventsX/a",
         "{\"error\":\"not_found\",\"message\":\"no such route: /eventsX/a\"}"},
        {HTTP_POST, "/Events/a",
         "{\"error\":\"not_found\",\"message\":\"no such route: /Events/a\"}"},
        {HTTP_POST, "/events%2Fa",
         "{\"error\":\"not_found\",\"message\":\"no such route: /events%2Fa\"}"},
        {HTTP_GET, "/status/", "{\"error\":\"not_found\",\"message\":\"no such route: /status/\"}"},
        {HTTP_POST, "/a\"b\\",
         "{\"error\":\"not_found\",\"message\":\"no such route: /a\\\"b\\\\\"}"},
        {HTTP_POST, "", "{\"error\":\"not_found\",\"message\":\"no such route: \"}"},
};

START_TEST(test_not_found)
{
	call(not_found[_i].method, not_found[_i].path, "{}");
	ck_assert_int_eq(resp.status, 404);
	ck_assert_str_eq(body, not_found[_i].want);
	ck_assert_ptr_null(resp.allow);
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

static const struct route_case wrong_method[] = {
        {HTTP_GET, "/events/Home", NULL},   {HTTP_HEAD, "/events/Home", NULL},
        {HTTP_PUT, "/events/Home", NULL},   {HTTP_DELETE, "/events/Home", NULL},
        {HTTP_OTHER, "/events/Home", NULL}, {HTTP_GET, "/events/", NULL},
        {HTTP_GET, "/events/a/b", NULL},
};

START_TEST(test_wrong_method)
{
	call(wrong_method[_i].method, wrong_method[_i].path, "{}");
	ck_assert_int_eq(resp.status, 405);
	ck_assert_ptr_nonnull(resp.allow);
	ck_assert_str_eq(resp.allow, "POST");
	ck_assert_str_eq(body, "{\"error\":\"method_not_allowed\",\"message\":\"only POST is "
	                       "allowed on /events/{name}\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

START_TEST(test_not_connected)
{
	stub_mqtt.next_result = MQTT_PUB_NOT_CONNECTED;
	call(HTTP_POST, "/events/Connected", "{}");
	ck_assert_int_eq(resp.status, 503);
	ck_assert_str_eq(body, "{\"accepted\":false,\"error\":\"not_connected\","
	                       "\"message\":\"not connected to the broker\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
}
END_TEST

START_TEST(test_queue_full)
{
	stub_mqtt.next_result = MQTT_PUB_QUEUE_FULL;
	call(HTTP_POST, "/events/Connected", "{}");
	ck_assert_int_eq(resp.status, 503);
	ck_assert_str_eq(body, "{\"accepted\":false,\"error\":\"queue_full\",\"message\":"
	                       "\"offline queue is full (queue.max_messages / queue.max_bytes)\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
}
END_TEST

/* A message larger than broker.max_packet: 413, for events and /publish. */
START_TEST(test_payload_too_large)
{
	static const char want[] = "{\"accepted\":false,\"error\":\"payload_too_large\","
	                           "\"message\":\"the message would exceed broker.max_packet\"}";

	stub_mqtt.next_result = MQTT_PUB_TOO_LARGE;
	call(HTTP_POST, "/events/Connected", "{}");
	ck_assert_int_eq(resp.status, 413);
	ck_assert_str_eq(body, want);
	stub_mqtt.next_result = MQTT_PUB_TOO_LARGE;
	call(HTTP_POST, "/publish", "{\"topic\":\"a\",\"payload\":\"x\"}");
	ck_assert_int_eq(resp.status, 413);
	ck_assert_str_eq(body, want);
}
END_TEST

START_TEST(test_queued)
{
	stub_mqtt.next_result = MQTT_PUB_QUEUED;
	call(HTTP_POST, "/events/Connected", "{}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"topic\":\"octoprint/event/Connected\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
}
END_TEST

/* A large payload, then small ones: the reused buffers give correct answers. */
START_TEST(test_large_then_small)
{
	struct buf in = BUF_INITIALIZER;
	int i;

	buf_putc(&in, '{');
	for (i = 0; i < 20000; i++)
		buf_appendf(&in, "%s\"k%d\":[%d,\"v\"]", i ? "," : "", i, i);
	buf_putc(&in, '}');
	call_len(HTTP_POST, "/events/Big", buf_data(&in), buf_len(&in));
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.payload_len,
	                  buf_len(&in) + strlen(",\"_event\":\"Big\",\"_timestamp\":" NOW_STR));
	for (i = 0; i < 3; i++) {
		call(HTTP_POST, "/events/Small", "{\"a\":1}");
		ck_assert_int_eq(resp.status, 202);
		ck_assert_str_eq(stub_mqtt.payload,
		                 "{\"a\":1,\"_event\":\"Small\",\"_timestamp\":" NOW_STR "}");
	}
	buf_free(&in);
}
END_TEST

/* A request as http_parser delivers it: the query is not part of the name. */
START_TEST(test_through_parser)
{
	static char raw[] = "POST /events/FileAdded?x=1 HTTP/1.1\r\n"
	                    "Host: 127.0.0.1\r\n"
	                    "Content-Type: text/plain\r\n"
	                    "Content-Length: 21\r\n"
	                    "\r\n"
	                    "{\"path\": \"a b.gcode\"}";
	struct http_limits lim = {.max_header = 8192, .max_body = 1048576};
	struct http_parser p;
	struct http_request req;

	http_parser_init(&p, &lim);
	ck_assert_int_eq(http_parse_request(&p, raw, sizeof(raw) - 1, &req), HTTP_PARSE_OK);
	api_handle(api, &req, &resp);
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(stub_mqtt.topic, "octoprint/event/FileAdded");
	ck_assert_str_eq(stub_mqtt.payload, "{\"path\":\"a b.gcode\",\"_event\":\"FileAdded\","
	                                    "\"_timestamp\":" NOW_STR "}");
}
END_TEST

START_TEST(test_status)
{
	call(HTTP_POST, "/events/A", "{}");
	ck_assert_int_eq(resp.status, 202);
	stub_mqtt.next_result = MQTT_PUB_NOT_CONNECTED;
	call(HTTP_POST, "/events/B", "{}");
	ck_assert_int_eq(resp.status, 503);
	cfg.pub_event_active = false;
	call(HTTP_POST, "/events/C", "{}");
	ck_assert_int_eq(resp.status, 202);
	call(HTTP_GET, "/status", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_null(resp.content_type);
	/* Without a server the HTTP counters are zero; the stub reports
	 * published = its publish calls (2: A sent, B refused by the stub). */
	ck_assert_str_eq(
	        body,
	        "{\"version\":\"" PACKAGE_VERSION "\",\"connected\":true,"
	        "\"broker\":\"[::1]:1884\",\"uptime\":0,"
	        "\"queue\":{\"messages\":0,\"bytes\":0},\"inflight\":0,"
	        "\"acks_held\":3,"
	        "\"subscriptions\":0,\"counters\":{\"events\":1,"
	        "\"events_filtered\":1,\"events_refused\":1,\"publishes\":0,"
	        "\"publishes_refused\":0,\"published\":2,"
	        "\"queued\":0,\"refused\":0,\"dropped\":0,\"connects\":0,"
	        "\"reconnects\":0,\"pings_sent\":7,\"pings_unanswered\":1,"
	        "\"poison_dropped\":2,\"spool_syncs\":0,\"input_pauses\":0,\"messages_received\":0,"
	        "\"deliveries\":0,"
	        "\"undeliverable\":0,\"webhook_delivered\":0,\"webhook_retried\":0,"
	        "\"webhook_failed\":0,\"webhook_dropped\":0,\"http_evicted\":0,\"http_withheld\":0,"
	        "\"http_pauses\":0,"
	        "\"http_1xx\":0,\"http_2xx\":0,\"http_3xx\":0,"
	        "\"http_4xx\":0,\"http_5xx\":0},"
	        "\"publish\":{\"baseTopic\":\"octoprint/\","
	        "\"eventTopic\":\"event/{event}\","
	        "\"progressTopic\":\"progress/{progress}\","
	        "\"temperatureTopic\":\"temperature/{temp}\",\"lwTopic\":\"mqtt\","
	        "\"timestamp_fieldname\":\"_timestamp\",\"eventActive\":false,"
	        "\"progressActive\":true,\"progressRetain\":true,"
	        "\"temperatureActive\":true,\"lwActive\":true,\"lwRetain\":true,"
	        "\"lwHostTimeout\":0,\"hostUp\":null}}");
}
END_TEST

/*
 * /status "publish" serves the daemon's own topic settings (the OctoPrint
 * plugin hands them to other plugins as plugins.mqtt.publish.*), JSON-
 * escaped, and the presence state.
 */
START_TEST(test_status_publish)
{
	struct presence *p;

	cfg.pub_base_topic = "printers/\"p1\"/";
	cfg.pub_lw_topic = "";
	cfg.pub_lw_host_timeout = 30;
	call(HTTP_GET, "/status", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(
	        strstr(body, ",\"publish\":{\"baseTopic\":\"printers/\\\"p1\\\"/\","));
	ck_assert_ptr_nonnull(strstr(body, "\"lwTopic\":\"\","));
	ck_assert_ptr_nonnull(strstr(body, "\"lwActive\":false,"));
	ck_assert_ptr_nonnull(strstr(body, "\"lwHostTimeout\":30,\"hostUp\":null}}"));
	p = presence_new(loop, mc, 30);
	api_set_presence(api, p);
	call(HTTP_GET, "/status", NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"hostUp\":false}}"));
	call(HTTP_POST, "/presence", "");
	call(HTTP_GET, "/status", NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"hostUp\":true}}"));
	api_set_presence(api, NULL);
	presence_free(p);
}
END_TEST

/*
 * POST /presence beats, DELETE /presence says goodbye: 204 with no body,
 * each change handed to mqtt_client_set_host_up() once. Without presence
 * (publish.lwHostTimeout = 0) both are 409 presence_disabled; a body is
 * 400; other methods 405 naming both.
 */
START_TEST(test_presence)
{
	struct presence *p;

	call(HTTP_POST, "/presence", "");
	ck_assert_int_eq(resp.status, 409);
	ck_assert_str_eq(body, "{\"error\":\"presence_disabled\",\"message\":\"publish."
	                       "lwHostTimeout is 0: the status topic follows the daemon only\"}");
	call(HTTP_DELETE, "/presence", NULL);
	ck_assert_int_eq(resp.status, 409);
	ck_assert_uint_eq(stub_mqtt.host_calls, 0);

	p = presence_new(loop, mc, 30);
	api_set_presence(api, p);
	/* No beat yet: the host counts as down from the start. */
	ck_assert(stub_mqtt.host_down);
	ck_assert_uint_eq(stub_mqtt.host_calls, 1);
	call(HTTP_POST, "/presence", "");
	ck_assert_int_eq(resp.status, 204);
	ck_assert_str_eq(body, "");
	ck_assert(!stub_mqtt.host_down);
	call(HTTP_POST, "/presence", "");
	ck_assert_int_eq(resp.status, 204);
	ck_assert_uint_eq(stub_mqtt.host_calls, 2);
	call(HTTP_DELETE, "/presence", NULL);
	ck_assert_int_eq(resp.status, 204);
	ck_assert(stub_mqtt.host_down);
	ck_assert_uint_eq(stub_mqtt.host_calls, 3);
	call(HTTP_DELETE, "/presence", NULL);
	ck_assert_uint_eq(stub_mqtt.host_calls, 3);

	call(HTTP_POST, "/presence", "{}");
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(body, "{\"error\":\"invalid_body\",\"message\":\"/presence takes an "
	                       "empty body\"}");
	ck_assert(stub_mqtt.host_down);
	call(HTTP_GET, "/presence", NULL);
	ck_assert_int_eq(resp.status, 405);
	ck_assert_str_eq(resp.allow, "POST, DELETE");
	api_set_presence(api, NULL);
	presence_free(p);
}
END_TEST

/* The presence timer: a host that stops beating is down after the timeout. */
START_TEST(test_presence_expires)
{
	struct presence *p = presence_new(loop, mc, 1);
	uint64_t end;

	api_set_presence(api, p);
	call(HTTP_POST, "/presence", "");
	ck_assert(!stub_mqtt.host_down);
	end = loop_clock_ms() + 5000;
	while (!stub_mqtt.host_down && loop_clock_ms() < end)
		loop_run_once(loop, 100);
	ck_assert(stub_mqtt.host_down);
	ck_assert(!presence_host_up(p));
	api_set_presence(api, NULL);
	presence_free(p);
}
END_TEST

START_TEST(test_health)
{
	call(HTTP_GET, "/health", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(body, "{\"status\":\"ok\"}");
	stub_mqtt.connected = false;
	call(HTTP_HEAD, "/health", NULL);
	ck_assert_int_eq(resp.status, 503);
	ck_assert_str_eq(
	        body, "{\"error\":\"not_connected\",\"message\":\"not connected to the broker\"}");
}
END_TEST

START_TEST(test_metrics)
{
	call(HTTP_POST, "/events/A", "{}");
	call(HTTP_GET, "/metrics", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(body, "# HELP octomqttd_events_total "));
	ck_assert_ptr_nonnull(strstr(body, "# TYPE octomqttd_events_total counter\n"
	                                   "octomqttd_events_total 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "octomqttd_published_total 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "octomqttd_http_responses_total{class=\"4xx\"} 0\n"));
	ck_assert_ptr_nonnull(
	        strstr(body, "# TYPE octomqttd_connected gauge\noctomqttd_connected 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "octomqttd_queue_messages 0\n"));
	ck_assert_ptr_nonnull(strstr(body, "# TYPE octomqttd_pings_sent_total counter\n"
	                                   "octomqttd_pings_sent_total 7\n"));
	ck_assert_ptr_nonnull(strstr(body, "octomqttd_pings_unanswered_total 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "octomqttd_poison_dropped_total 2\n"));
	ck_assert_ptr_nonnull(
	        strstr(body, "# TYPE octomqttd_acks_held gauge\noctomqttd_acks_held 3\n"));
	/* Every sample line follows its own HELP and TYPE lines. */
	ck_assert_ptr_null(strstr(body, "\n\n"));
	ck_assert_int_eq(body[strlen(body) - 1], '\n');
}
END_TEST

START_TEST(test_get_routes_wrong_method)
{
	static const char *const paths[] = {"/status", "/health", "/metrics"};
	size_t i;

	for (i = 0; i < nitems(paths); i++) {
		call(HTTP_POST, paths[i], "{}");
		ck_assert_int_eq(resp.status, 405);
		ck_assert_str_eq(resp.allow, "GET, HEAD");
		ck_assert_str_eq(body, "{\"error\":\"method_not_allowed\",\"message\":\"only GET "
		                       "and HEAD are allowed here\"}");
	}
}
END_TEST

/* A GET /health carrying Authorization: value (NULL: no header). */
static void call_auth(const char *value)
{
	auth_value = value;
	call(HTTP_GET, "/health", NULL);
	auth_value = NULL;
}

static const char *const bad_auth[] = {
        NULL,
        "",
        "Bearer",
        "Bearer ",
        "Bearer s3cre",
        "Bearer s3cret!",
        "Bearer S3CRET",
        "Basic czNjcmV0",
        "Bearers3cret",
        "Bearer  s3cret",
};

START_TEST(test_token_refused)
{
	cfg.http_token = "s3cret";
	call_auth(bad_auth[_i]);
	ck_assert_int_eq(resp.status, 401);
	ck_assert_str_eq(resp.www_authenticate, "Bearer realm=\"octomqttd\"");
	ck_assert_str_eq(body, "{\"error\":\"unauthorized\",\"message\":\"missing or wrong bearer "
	                       "token (http.token)\"}");
	/* Every route is protected, publishing ones too. */
	call(HTTP_POST, "/events/A", "{}");
	ck_assert_int_eq(resp.status, 401);
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	cfg.http_token = NULL;
}
END_TEST

START_TEST(test_token_accepted)
{
	cfg.http_token = "s3cret";
	call_auth("Bearer s3cret");
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_null(resp.www_authenticate);
	call_auth("bearer s3cret"); /* the scheme is case-insensitive */
	ck_assert_int_eq(resp.status, 200);
	cfg.http_token = NULL;
	/* Without http.token no header is needed. */
	call_auth(NULL);
	ck_assert_int_eq(resp.status, 200);
}
END_TEST

/* POST /publish: body -> what is published. P(s): s and its length. */
#define P(s) s, sizeof(s) - 1
static const struct publish_case {
	const char *in;
	const char *topic;
	const char *payload;
	size_t payload_len;
	int qos;
	bool retain, queue;
} publish_cases[] = {
        {"{\"topic\":\"a/b\"}", "a/b", P(""), 0, false, false},
        {"{\"topic\":\"a/b\",\"payload\":\"test plugin startup\"}", "a/b", P("test plugin startup"),
         0, false, false},
        /* A string is sent as its text, escapes decoded. */
        {"{\"topic\":\"t\",\"payload\":\"q\\\"\\\\\\n\\u00e9\\ud83d\\ude00\"}", "t",
         P("q\"\\\n\xc3\xa9\xf0\x9f\x98\x80"), 0, false, false},
        /* Other values are sent as their JSON text, byte for byte. */
        {"{\"topic\":\"t\",\"payload\":{\"a\": [1, 2.5e3, null]}}", "t",
         P("{\"a\": [1, 2.5e3, null]}"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":42}", "t", P("42"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":-0.5}", "t", P("-0.5"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":true}", "t", P("true"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":null}", "t", P("null"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":[]}", "t", P("[]"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":\"\"}", "t", P(""), 0, false, false},
        /* Bytes: NUL and a byte that is not UTF-8. */
        {"{\"topic\":\"t\",\"payload_base64\":\"AP8x\"}", "t",
         P("\0\xff"
           "1"),
         0, false, false},
        {"{\"topic\":\"t\",\"payload_base64\":\"aGk=\"}", "t", P("hi"), 0, false, false},
        {"{\"topic\":\"t\",\"payload_base64\":\"aGk\"}", "t", P("hi"), 0, false, false},
        {"{\"topic\":\"t\",\"payload_base64\":\"\"}", "t", P(""), 0, false, false},
        {"{\"topic\":\"t\",\"payload_base64\":\"+/+/\"}", "t", P("\xfb\xff\xbf"), 0, false, false},
        {"{\"retained\":true,\"qos\":2,\"allow_queueing\":true,\"topic\":\"t\"}", "t", P(""), 2,
         true, true},
        {"{\"topic\":\"t\",\"qos\":1,\"retained\":false,\"allow_queueing\":false}", "t", P(""), 1,
         false, false},
        /* The topic's escapes are decoded; $ and spaces are allowed. */
        {"{\"topic\":\"$x/\\u0041 b\"}", "$x/A b", P(""), 0, false, false},
        {" {\"topic\" : \"t\" , \"payload\" : \"x\" } \n", "t", P("x"), 0, false, false},
        /* timestamp: true adds the member to an object payload. */
        {"{\"topic\":\"t\",\"payload\":{\"a\":1},\"timestamp\":true}", "t",
         P("{\"a\":1,\"_timestamp\":" NOW_STR "}"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":{},\"timestamp\":true}", "t",
         P("{\"_timestamp\":" NOW_STR "}"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":{\"_timestamp\":1,\"_event\":2},\"timestamp\":true}", "t",
         P("{\"_timestamp\":" NOW_STR ",\"_event\":2}"), 0, false, false},
        {"{\"topic\":\"t\",\"payload\":{\"a\":1},\"timestamp\":false}", "t", P("{\"a\":1}"), 0,
         false, false},
};

START_TEST(test_publish)
{
	const struct publish_case *c = &publish_cases[_i];

	call(HTTP_POST, "/publish", c->in);
	ck_assert_msg(resp.status == 200, "%s: %d %s", c->in, resp.status, body);
	ck_assert_str_eq(body, "{\"accepted\":true}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert_str_eq(stub_mqtt.topic, c->topic);
	ck_assert_uint_eq(stub_mqtt.payload_len, c->payload_len);
	ck_assert_msg(memcmp(stub_mqtt.payload, c->payload, c->payload_len) == 0, "%s: payload %s",
	              c->in, stub_mqtt.payload);
	ck_assert_int_eq(stub_mqtt.qos, c->qos);
	ck_assert(stub_mqtt.retain == c->retain);
	ck_assert(stub_mqtt.allow_queue == c->queue);
}
END_TEST

/* POST /publish bodies answered 400, with the message. */
static const struct {
	const char *in;
	const char *msg;
} publish_bad[] = {
        {"", "invalid JSON: unexpected end"},
        {"{\"topic\":\"t\"", "invalid JSON: unexpected end"},
        {"[\"t\"]", "body must be a JSON object"},
        {"\"t\"", "body must be a JSON object"},
        {"{}", "topic is required"},
        {"{\"payload\":\"x\"}", "topic is required"},
        {"{\"topic\":1}", "topic must be a string"},
        {"{\"topic\":null}", "topic must be a string"},
        {"{\"topic\":\"\"}", "topic is empty"},
        {"{\"topic\":\"a/+/b\"}", "topic contains a wildcard ('+' or '#')"},
        {"{\"topic\":\"a/#\"}", "topic contains a wildcard ('+' or '#')"},
        {"{\"topic\":\"a\\u0000b\"}", "topic contains a NUL character"},
        {"{\"topic\":\"a\\ud800\"}", "topic holds a lone surrogate escape (not UTF-8)"},
        {"{\"topic\":\"t\",\"topic\":\"u\"}", "member \"topic\" appears twice"},
        {"{\"topic\":\"t\",\"qos\":0,\"\\u0071os\":1}", "member \"qos\" appears twice"},
        {"{\"topic\":\"t\",\"retain\":true}", "unknown member \"retain\""},
        {"{\"topic\":\"t\",\"Topic\":\"t\"}", "unknown member \"Topic\""},
        {"{\"topic\":\"t\",\"qos\":3}", "qos must be 0, 1 or 2"},
        {"{\"topic\":\"t\",\"qos\":-1}", "qos must be 0, 1 or 2"},
        {"{\"topic\":\"t\",\"qos\":1.0}", "qos must be 0, 1 or 2"},
        {"{\"topic\":\"t\",\"qos\":\"1\"}", "qos must be 0, 1 or 2"},
        {"{\"topic\":\"t\",\"qos\":10}", "qos must be 0, 1 or 2"},
        {"{\"topic\":\"t\",\"retained\":1}", "retained must be true or false"},
        {"{\"topic\":\"t\",\"retained\":\"true\"}", "retained must be true or false"},
        {"{\"topic\":\"t\",\"allow_queueing\":null}", "allow_queueing must be true or false"},
        {"{\"topic\":\"t\",\"timestamp\":1}", "timestamp must be true or false"},
        {"{\"topic\":\"t\",\"timestamp\":true}", "timestamp: true needs a JSON object payload"},
        {"{\"topic\":\"t\",\"payload\":\"x\",\"timestamp\":true}",
         "timestamp: true needs a JSON object payload"},
        {"{\"topic\":\"t\",\"payload\":\"x\",\"payload_base64\":\"eA==\"}",
         "give payload or payload_base64, not both"},
        {"{\"topic\":\"t\",\"payload_base64\":1}", "payload_base64 must be a string"},
        {"{\"topic\":\"t\",\"payload_base64\":\"a\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload_base64\":\"aGk==\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload_base64\":\"aG=k\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload_base64\":\"aGl=\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload_base64\":\"aG k=\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload_base64\":\"a-_b\"}", "payload_base64 is not valid base64"},
        {"{\"topic\":\"t\",\"payload\":\"\\udc00\"}",
         "payload holds a lone surrogate escape (not UTF-8)"},
};

START_TEST(test_publish_bad)
{
	struct buf want = BUF_INITIALIZER;

	call(HTTP_POST, "/publish", publish_bad[_i].in);
	ck_assert_msg(resp.status == 400, "%s: %d %s", publish_bad[_i].in, resp.status, body);
	buf_append_str(&want, "{\"error\":\"bad_request\",\"message\":");
	json_append_string(&want, publish_bad[_i].msg, strlen(publish_bad[_i].msg));
	buf_append_str(&want, "}");
	buf_putc(&want, '\0');
	ck_assert_str_eq(body, buf_data(&want));
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	buf_free(&want);
}
END_TEST

START_TEST(test_publish_topic_length)
{
	struct buf in = BUF_INITIALIZER;
	size_t n;

	for (n = 65535; n <= 65536; n++) {
		buf_reset(&in);
		buf_append_str(&in, "{\"topic\":\"");
		while (buf_len(&in) < 10 + n)
			buf_putc(&in, 'a');
		buf_append_str(&in, "\"}");
		call_len(HTTP_POST, "/publish", buf_data(&in), buf_len(&in));
		ck_assert_int_eq(resp.status, n == 65535 ? 200 : 400);
	}
	ck_assert_str_eq(body, "{\"error\":\"bad_request\",\"message\":\"topic is longer than "
	                       "65535 bytes\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert_uint_eq(stub_mqtt.topic_len, 65535);
	buf_free(&in);
}
END_TEST

START_TEST(test_publish_refused)
{
	stub_mqtt.next_result = MQTT_PUB_NOT_CONNECTED;
	call(HTTP_POST, "/publish", "{\"topic\":\"t\"}");
	ck_assert_int_eq(resp.status, 503);
	ck_assert_str_eq(body, "{\"accepted\":false,\"error\":\"not_connected\","
	                       "\"message\":\"not connected to the broker\"}");
	stub_mqtt.next_result = MQTT_PUB_QUEUE_FULL;
	call(HTTP_POST, "/publish", "{\"topic\":\"t\",\"allow_queueing\":true}");
	ck_assert_int_eq(resp.status, 503);
	ck_assert_ptr_nonnull(strstr(body, "\"error\":\"queue_full\""));
	stub_mqtt.next_result = MQTT_PUB_QUEUED;
	call(HTTP_POST, "/publish", "{\"topic\":\"t\",\"allow_queueing\":true}");
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(body, "{\"accepted\":true}");
	call(HTTP_GET, "/status", NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"publishes\":1,\"publishes_refused\":2,"));
}
END_TEST

START_TEST(test_publish_wrong_method)
{
	call(HTTP_GET, "/publish", NULL);
	ck_assert_int_eq(resp.status, 405);
	ck_assert_str_eq(resp.allow, "POST");
	ck_assert_str_eq(body, "{\"error\":\"method_not_allowed\",\"message\":\"only POST is "
	                       "allowed on /publish\"}");
	ck_assert_uint_eq(stub_mqtt.calls, 0);
}
END_TEST

#define CB "http://127.0.0.1:5000/plugin/mqtt/cb"

START_TEST(subscribe_and_list)
{
	char id[32];

	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a/#\",\"url\":\"" CB "\"}");
	ck_assert_int_eq(resp.status, 201);
	ck_assert_uint_eq(
	        strlen(body),
	        strlen("{\"id\":\"0123456789abcdef\",\"topic\":\"a/#\",\"url\":\"" CB "\"}"));
	memcpy(id, body + 7, 16);
	id[16] = '\0';
	ck_assert_str_eq(stub_mqtt.subs, "+a/#;");
	/* The identical registration again: 200, the same id, nothing new. */
	call(HTTP_POST, "/subscriptions", "{\"url\":\"" CB "\",\"topic\":\"a/#\",\"args\":null}");
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(strstr(body, id));
	ck_assert_str_eq(stub_mqtt.subs, "+a/#;");
	call(HTTP_POST, "/subscriptions",
	     "{\"topic\":\"a/b\",\"url\":\"http://[::1]:1/x\",\"args\":[1, "
	     "\"a\"],\"kwargs\":{\"k\": "
	     "true}}");
	ck_assert_int_eq(resp.status, 201);
	call(HTTP_GET, "/subscriptions", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(strstr(body, "{\"subscriptions\":[{\"id\":\""));
	ck_assert_ptr_nonnull(strstr(body, "\"topic\":\"a/b\",\"url\":\"http://[::1]:1/x\","
	                                   "\"args\":[1, \"a\"],\"kwargs\":{\"k\": true}}]}"));
	ck_assert_ptr_nonnull(strstr(body, "\"args\":[],\"kwargs\":{}}"));
	call(HTTP_GET, "/status", NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"subscriptions\":2,"));
}
END_TEST

static const struct {
	const char *in;
	int status;
	const char *text;
} bad_subs[] = {
        {"{\"topic\":\"a\"}", 400, "topic and url are required"},
        {"{\"url\":\"" CB "\"}", 400, "topic and url are required"},
        {"{\"topic\":\"a/#/b\",\"url\":\"" CB "\"}", 400, "'#' must be the last level"},
        {"{\"topic\":\"\",\"url\":\"" CB "\"}", 400, "topic filter is empty"},
        {"{\"topic\":1,\"url\":\"" CB "\"}", 400, "topic and url must be strings"},
        {"{\"topic\":\"a\",\"url\":\"ftp://127.0.0.1/\"}", 400, "must start with http://"},
#ifndef HAVE_TLS
        {"{\"topic\":\"a\",\"url\":\"https://127.0.0.1/\"}", 400, "built --without-tls"},
#endif
        /* An empty label: the resolver refuses it without asking DNS. */
        {"{\"topic\":\"a\",\"url\":\"http://no..such.invalid/\"}", 400,
         "cannot resolve 'no..such.invalid'"},
        {"{\"topic\":\"a\",\"url\":\"http://10.0.0.1/\"}", 403,
         "the address 10.0.0.1 is outside webhook.allow"},
        {"{\"topic\":\"a\",\"url\":\"http://[::2]/\"}", 403,
         "the address ::2 is outside webhook.allow"},
        {"{\"topic\":\"a\",\"url\":\"" CB "\",\"args\":{}}", 400, "args must be an array"},
        {"{\"topic\":\"a\",\"url\":\"" CB "\",\"kwargs\":[]}", 400, "kwargs an object"},
        {"{\"topic\":\"a\",\"url\":\"" CB "\",\"callback\":1}", 400, "unknown member"},
        {"{\"topic\":\"a\",\"topic\":\"b\",\"url\":\"" CB "\"}", 400, "appears twice"},
        {"[]", 400, "body must be a JSON object"},
};

START_TEST(subscribe_refused)
{
	call(HTTP_POST, "/subscriptions", bad_subs[_i].in);
	ck_assert_msg(resp.status == bad_subs[_i].status, "%s: %d %s", bad_subs[_i].in, resp.status,
	              body);
	ck_assert_msg(strstr(body, bad_subs[_i].text) != NULL, "%s: %s", bad_subs[_i].in, body);
	if (resp.status == 403)
		ck_assert_ptr_nonnull(strstr(body, "\"error\":\"url_not_allowed\""));
	ck_assert_uint_eq(registry_count(reg), 0);
	ck_assert_str_eq(stub_mqtt.subs, "");
}
END_TEST

/* localhost is a name like any other: /etc/hosts gives its addresses. */
START_TEST(localhost_allowed)
{
	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a\",\"url\":\"http://localhost:8/\"}");
	ck_assert_int_eq(resp.status, 201);
}
END_TEST

/* Every address of the name must be inside: here 127.0.0.1 is not. */
START_TEST(localhost_outside)
{
	webhook_set_allow(wh, &allow[1], 1); /* ::1 only */
	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a\",\"url\":\"http://localhost:8/\"}");
	ck_assert_int_eq(resp.status, 403);
	ck_assert_str_eq(body, "{\"error\":\"url_not_allowed\",\"message\":\"localhost resolves to "
	                       "127.0.0.1, outside webhook.allow\"}");
	ck_assert_uint_eq(registry_count(reg), 0);
	ck_assert_str_eq(stub_mqtt.subs, "");
}
END_TEST

/* mqtt_unsubscribe(callback, topic=None): by URL, or URL and exact filter. */
START_TEST(unsubscribe_by_url)
{
	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a\",\"url\":\"" CB "\"}");
	call(HTTP_POST, "/subscriptions", "{\"topic\":\"b\",\"url\":\"" CB "\"}");
	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a\",\"url\":\"http://127.0.0.1:1/other\"}");
	call(HTTP_DELETE,
	     "/subscriptions?topic=a&url=http%3A%2F%2F127.0.0.1%3A5000%2Fplugin%2Fmqtt%2Fcb", NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(body, "{\"removed\":1}");
	call(HTTP_DELETE, "/subscriptions?url=" CB, NULL);
	ck_assert_str_eq(body, "{\"removed\":1}");
	call(HTTP_DELETE, "/subscriptions?url=" CB, NULL);
	ck_assert_str_eq(body, "{\"removed\":0}");
	ck_assert_uint_eq(registry_count(reg), 1);
	/* The broker: a and b subscribed, b dropped, a kept (still used). */
	ck_assert_str_eq(stub_mqtt.subs, "+a;+b;-b;");
	call(HTTP_DELETE, "/subscriptions", NULL);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_ptr_nonnull(strstr(body, "url= is required"));
	call(HTTP_DELETE, "/subscriptions?url=%zz", NULL);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_ptr_nonnull(strstr(body, "badly encoded"));
}
END_TEST

START_TEST(unsubscribe_by_id)
{
	char path[64];

	call(HTTP_POST, "/subscriptions", "{\"topic\":\"a\",\"url\":\"" CB "\"}");
	snprintf(path, sizeof(path), "/subscriptions/%s", registry_at(reg, 0)->id);
	call(HTTP_GET, path, NULL);
	ck_assert_int_eq(resp.status, 405);
	ck_assert_str_eq(resp.allow, "DELETE");
	call(HTTP_DELETE, path, NULL);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(body, "{\"removed\":1}");
	call(HTTP_DELETE, path, NULL);
	ck_assert_int_eq(resp.status, 404);
	call(HTTP_DELETE, "/subscriptions/x", NULL);
	ck_assert_int_eq(resp.status, 404);
	call(HTTP_PUT, "/subscriptions", "{}");
	ck_assert_int_eq(resp.status, 405);
	ck_assert_str_eq(resp.allow, "GET, HEAD, POST, DELETE");
}
END_TEST

/* publish.events.<class>, publish.retain as a list, timestamp_fieldname. */
START_TEST(event_classes_retain_tsfield)
{
	static char *retained[] = {"ZChange", NULL};

	cfg.pub_event_class[EVENTS_GCODE] = false;
	call(HTTP_POST, "/events/Home", "{}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.calls, 0);
	cfg.pub_event_class[EVENTS_GCODE] = true;
	cfg.pub_retain_events = retained;
	cfg.pub_ts_field = "ts";
	call(HTTP_POST, "/events/ZChange", "{\"ts\":1}");
	ck_assert_uint_eq(stub_mqtt.calls, 1);
	ck_assert(stub_mqtt.retain);
	ck_assert_str_eq(stub_mqtt.payload, "{\"ts\":" NOW_STR ",\"_event\":\"ZChange\"}");
	call(HTTP_POST, "/events/Home", "{}");
	ck_assert(!stub_mqtt.retain);
}
END_TEST

START_TEST(progress)
{
	call(HTTP_POST, "/progress/printing",
	     "{\"location\":\"local\",\"path\":\"a.gcode\",\"progress\":42}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"topic\":\"octoprint/progress/printing\"}");
	ck_assert_str_eq(stub_mqtt.topic, "octoprint/progress/printing");
	ck_assert_str_eq(stub_mqtt.payload, "{\"location\":\"local\",\"path\":\"a.gcode\","
	                                    "\"progress\":42,\"_timestamp\":" NOW_STR "}");
	/* publish.progressRetain, default true: retained like OctoPrint-MQTT's. */
	ck_assert(stub_mqtt.retain);
	ck_assert(stub_mqtt.allow_queue);
	cfg.pub_progress_retain = false;
	call(HTTP_POST, "/progress/printing", "{\"progress\":43}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert(!stub_mqtt.retain);
	cfg.pub_progress_retain = true;
	call(HTTP_POST, "/progress/bad name", "{}");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_POST, "/progress/slicing", "[1]");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_GET, "/progress/slicing", NULL);
	ck_assert_int_eq(resp.status, 405);
	cfg.pub_progress_active = false;
	call(HTTP_POST, "/progress/slicing", "{\"progress\":1}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_uint_eq(stub_mqtt.calls, 2);
	cfg.pub_progress_active = true;
	stub_mqtt.next_result = MQTT_PUB_NOT_CONNECTED;
	call(HTTP_POST, "/progress/slicing", "{}");
	ck_assert_int_eq(resp.status, 503);
	/* Queued like events: not without publish.queue_events. */
	cfg.pub_queue_events = false;
	call(HTTP_POST, "/progress/slicing", "{}");
	ck_assert(!stub_mqtt.allow_queue);
}
END_TEST

/* POST /temperature: the threshold rules of DESIGN §5. */
START_TEST(temperature)
{
	/* First values: both sensors; the one all zero/null is skipped. */
	call(HTTP_POST, "/temperature",
	     "{\"time\": 1700000123.7, \"tool0\": {\"actual\": 21.5, \"target\": null},"
	     " \"bed\": {\"actual\": 0, \"target\": 0}, \"chamber\": {\"actual\": null, "
	     "\"target\": "
	     "null}, \"tool1\": {\"actual\": 20, \"target\": 200}}");
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":2}");
	ck_assert_uint_eq(stub_mqtt.calls, 2);
	ck_assert_str_eq(stub_mqtt.topic, "octoprint/temperature/tool1");
	ck_assert_str_eq(stub_mqtt.payload,
	                 "{\"actual\":20,\"target\":200,\"_timestamp\":1700000123}");
	ck_assert(stub_mqtt.allow_queue);
	/* Temperatures are queued whatever publish.queue_events says. */
	cfg.pub_queue_events = false;
	call(HTTP_POST, "/temperature", "{\"tool2\": {\"actual\": 30, \"target\": 0}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":1}");
	ck_assert(stub_mqtt.allow_queue);
	cfg.pub_queue_events = true;
	ck_assert_uint_eq(stub_mqtt.calls, 3);
	/* actual moved less than the threshold (0.5), target the same: nothing. */
	call(HTTP_POST, "/temperature", "{\"tool0\": {\"actual\": 21.9, \"target\": null}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":0}");
	/* ... by the threshold: published, with the time of now. */
	call(HTTP_POST, "/temperature", "{\"tool0\": {\"actual\": 22.0, \"target\": null}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":1}");
	ck_assert_str_eq(stub_mqtt.payload,
	                 "{\"actual\":22.0,\"target\":null,\"_timestamp\":" NOW_STR "}");
	/* target moved by 0.1: published even though actual did not move. */
	call(HTTP_POST, "/temperature", "{\"tool1\": {\"actual\": 20, \"target\": 200.1}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":1}");
	call(HTTP_POST, "/temperature", "{\"tool1\": {\"actual\": 20, \"target\": 200.15}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":0}");
	ck_assert_uint_eq(stub_mqtt.calls, 5);
	/* Bad bodies. */
	call(HTTP_POST, "/temperature", "{\"tool0\": 21}");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_POST, "/temperature", "{\"tool0\": {\"actual\": \"hot\"}}");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_POST, "/temperature", "{\"time\": \"now\"}");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_POST, "/temperature", "{\"to/ol\": {\"actual\": 1}}");
	ck_assert_int_eq(resp.status, 400);
	/* Numbers out of range: a time beyond long long, a reading beyond double. */
	call(HTTP_POST, "/temperature", "{\"time\": 1e300, \"tool0\": {\"actual\": 99}}");
	ck_assert_int_eq(resp.status, 400);
	ck_assert_ptr_nonnull(strstr(body, "time out of range"));
	call(HTTP_POST, "/temperature", "{\"time\": -1e19, \"tool0\": {\"actual\": 99}}");
	ck_assert_int_eq(resp.status, 400);
	call(HTTP_POST, "/temperature", "{\"tool0\": {\"actual\": 1e999}}");
	ck_assert_int_eq(resp.status, 400);
	ck_assert_uint_eq(stub_mqtt.calls, 5);
	/* Off: accepted, nothing published. */
	cfg.pub_temperature_active = false;
	call(HTTP_POST, "/temperature", "{\"tool0\": {\"actual\": 99, \"target\": 0}}");
	ck_assert_str_eq(body, "{\"accepted\":true,\"published\":0}");
	ck_assert_uint_eq(stub_mqtt.calls, 5);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("events");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_event_published);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_status_publish);
	tcase_add_test(tc, test_presence);
	tcase_add_test(tc, test_presence_expires);
	tcase_add_loop_test(tc, test_token_refused, 0, (int)nitems(bad_auth));
	tcase_add_test(tc, test_token_accepted);
	tcase_add_test(tc, test_health);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_get_routes_wrong_method);
	tcase_add_test(tc, test_event_replaces_members);
	tcase_add_test(tc, test_event_empty_bodies);
	tcase_add_test(tc, test_event_options_passed);
	tcase_add_test(tc, test_event_real_clock);
	tcase_add_loop_test(tc, test_topic_template, 0, (int)nitems(topic_cases));
	tcase_add_test(tc, test_event_inactive);
	tcase_add_test(tc, test_event_excluded);
	tcase_add_loop_test(tc, test_bad_name, 0, (int)nitems(bad_names));
	tcase_add_loop_test(tc, test_good_name, 0, (int)nitems(good_names));
	tcase_add_loop_test(tc, test_bad_json, 0, (int)nitems(bad_json));
	tcase_add_test(tc, test_bad_json_nul);
	tcase_add_test(tc, test_not_connected);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_payload_too_large);
	tcase_add_test(tc, test_queued);
	tcase_add_test(tc, test_large_then_small);
	tcase_add_test(tc, test_through_parser);
	suite_add_tcase(s, tc);

	tc = tcase_create("publish");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_publish, 0, (int)nitems(publish_cases));
	tcase_add_loop_test(tc, test_publish_bad, 0, (int)nitems(publish_bad));
	tcase_add_test(tc, test_publish_topic_length);
	tcase_add_test(tc, test_publish_refused);
	tcase_add_test(tc, test_publish_wrong_method);
	suite_add_tcase(s, tc);

	tc = tcase_create("octoprint");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, event_classes_retain_tsfield);
	tcase_add_test(tc, progress);
	tcase_add_test(tc, temperature);
	suite_add_tcase(s, tc);

	tc = tcase_create("subscriptions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, subscribe_and_list);
	tcase_add_loop_test(tc, subscribe_refused, 0, (int)nitems(bad_subs));
	tcase_add_test(tc, localhost_allowed);
	tcase_add_test(tc, localhost_outside);
	tcase_add_test(tc, unsubscribe_by_url);
	tcase_add_test(tc, unsubscribe_by_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_not_found, 0, (int)nitems(not_found));
	tcase_add_loop_test(tc, test_wrong_method, 0, (int)nitems(wrong_method));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(api_suite)
