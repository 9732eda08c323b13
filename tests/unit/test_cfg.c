/*
 * test_cfg: the config format and every class of error, each checked for
 * its exact "NAME:LINE: message" text; defaults; cfg_load's file errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "cfg.h"
#include "net.h"
#include "check_compat.h"

#define URL "broker.url = 127.0.0.1\n"

static int parse(struct cfg *cfg, const char *text, char *err)
{
	cfg_defaults(cfg);
	err[0] = '\0';
	return cfg_parse(cfg, "t.conf", text, strlen(text), "pi", err, ERR_LEN);
}

START_TEST(defaults)
{
	struct cfg cfg;
	char err[ERR_LEN];

	ck_assert_int_eq(parse(&cfg, URL, err), 0);
	ck_assert_str_eq(cfg.broker_host, "127.0.0.1");
	ck_assert_uint_eq(cfg.broker_port, 1883);
	ck_assert_ptr_null(cfg.broker_username);
	ck_assert_ptr_null(cfg.broker_password);
	ck_assert_uint_eq(cfg.broker_keepalive, 60);
	ck_assert_str_eq(cfg.broker_client_id, "octomqttd-pi");
	ck_assert_uint_eq(cfg.broker_max_packet, 1048576);
	ck_assert_uint_eq(cfg.broker_max_inflight, 20);
	ck_assert(cfg.broker_clean_session);
	ck_assert_int_eq(cfg.broker_protocol, MQTT_PROTO_V311);
	ck_assert_uint_eq(cfg.broker_reconnect_min, 1);
	ck_assert_uint_eq(cfg.broker_reconnect_max, 60);
	ck_assert_str_eq(cfg.pub_base_topic, "octoprint/");
	ck_assert_str_eq(cfg.pub_event_topic, "event/{event}");
	ck_assert(cfg.pub_event_active);
	ck_assert_ptr_null(cfg.pub_events_exclude[0]);
	ck_assert_int_eq(cfg.pub_qos, 0);
	ck_assert(!cfg.pub_retain);
	ck_assert(cfg.pub_timestamp);
	ck_assert(cfg.pub_queue_events);
	ck_assert(cfg.pub_lw_active);
	ck_assert_str_eq(cfg.pub_lw_topic, "mqtt");
	ck_assert(cfg.broker_lw_retain);
	ck_assert(cfg_lw_enabled(&cfg));
	ck_assert_uint_eq(cfg.queue_max_messages, 10000);
	ck_assert_uint_eq(cfg.queue_max_bytes, 16777216);
	ck_assert_str_eq(cfg.http_listen_host, "127.0.0.1");
	ck_assert_uint_eq(cfg.http_listen_port, 5883);
	ck_assert_uint_eq(cfg.http_max_body, 1048576);
	ck_assert_uint_eq(cfg.http_max_header, 8192);
	ck_assert_uint_eq(cfg.http_max_connections, 256);
	ck_assert_uint_eq(cfg.http_timeout, 30);
	ck_assert_uint_eq(cfg.http_header_timeout, 5);
	ck_assert_ptr_null(cfg.http_token);
	ck_assert_ptr_null(cfg.queue_spool);
	ck_assert_int_eq(cfg.sub_qos, 1);
	ck_assert_str_eq(cfg.pub_ts_field, "_timestamp");
	ck_assert_str_eq(cfg.pub_progress_topic, "progress/{progress}");
	ck_assert_str_eq(cfg.pub_temperature_topic, "temperature/{temp}");
	ck_assert(cfg.pub_progress_active && cfg.pub_temperature_active);
	ck_assert(cfg.pub_progress_retain);
	ck_assert_uint_eq(cfg.pub_lw_host_timeout, 0);
	ck_assert(cfg.pub_temperature_threshold > 0.0999 && cfg.pub_temperature_threshold < 0.1001);
	ck_assert(cfg.pub_event_class[EVENTS_SERVER] && cfg.pub_event_class[EVENTS_UNCLASSIFIED]);
	ck_assert(!cfg_event_retained(&cfg, "ZChange", 7));
	ck_assert_uint_eq(cfg.webhook_allow_n, 2);
	ck_assert_uint_eq(cfg.webhook_allow[0].prefix, 8);
	ck_assert_uint_eq(cfg.webhook_allow[1].prefix, 128);
	ck_assert_uint_eq(cfg.webhook_timeout, 10);
	ck_assert_uint_eq(cfg.webhook_retries, 5);
	ck_assert_uint_eq(cfg.webhook_max_pending, 10000);
	ck_assert_ptr_nonnull(strstr(cfg.state_file, "/lib/octomqttd/subscriptions.json"));
	ck_assert_uint_eq(cfg.shutdown_grace, 5);
	ck_assert_int_eq(cfg.log_level, LOGL_INFO);
	cfg_free(&cfg);
}
END_TEST

START_TEST(every_key)
{
	static const char text[] =
	        "# comment line\n"
	        "\n"
	        "   # indented comment\n"
	        "broker.url = mqtt://[::1]:1884\r\n"
	        "broker.username = \"user name\"   # trailing comment\n"
	        "broker.password = \"p\\\"w\\\\d#x\"\n"
	        "broker.keepalive = 0\n"
	        "broker.client_id = printer-1\n"
	        "broker.max_packet = 64\n"
	        "broker.max_inflight = 5\n"
	        "broker.clean_session = false\n"
	        "broker.protocol = MQTTv31\n"
	        "broker.reconnect_min = 2\n"
	        "broker.reconnect_max = 2\n"
	        "broker.lwRetain = false\n"
	        "publish.baseTopic =\n"
	        "publish.eventTopic = printers/p1/{event} # unquoted: a comment\n"
	        "publish.eventActive = false\n"
	        "publish.events_exclude = ZChange , ClientOpened,Upload\n"
	        "publish.qos = 2\n"
	        "publish.retain = true\n"
	        "publish.timestamp = false\n"
	        "publish.queue_events = false\n"
	        "publish.lwActive = false\n"
	        "publish.lwTopic = printers/p1/status\n"
	        "queue.max_messages = 5\n"
	        "queue.max_bytes = 1024\n"
	        "queue.spool = /var/spool/octo mqttd\n"
	        "subscribe.qos = 2\n"
	        "webhook.allow = 10.0.0.0/8 , fd00::/8,192.168.1.7\n"
	        "webhook.timeout = 3\n"
	        "webhook.retries = 0\n"
	        "webhook.max_pending = 7\n"
	        "state.file = /tmp/s.json\n"
	        "http.listen = [::1]:8080\n"
	        "http.max_body = 100\n"
	        "http.max_header = 256\n"
	        "http.max_connections = 3\n"
	        "http.timeout = 7\n"
	        "http.header_timeout = 9\n"
	        "http.token = \"abc-DEF_123.~+/=\"\n"
	        "shutdown.grace = 0\n"
	        "log.level = debug\n";
	struct cfg cfg;
	char err[ERR_LEN];

	ck_assert_msg(parse(&cfg, text, err) == 0, "%s", err);
	ck_assert_str_eq(cfg.broker_host, "::1");
	ck_assert_uint_eq(cfg.broker_port, 1884);
	ck_assert_str_eq(cfg.broker_username, "user name");
	ck_assert_str_eq(cfg.broker_password, "p\"w\\d#x");
	ck_assert_uint_eq(cfg.broker_keepalive, 0);
	ck_assert_str_eq(cfg.broker_client_id, "printer-1");
	ck_assert_str_eq(cfg.queue_spool, "/var/spool/octo mqttd");
	ck_assert_int_eq(cfg.sub_qos, 2);
	ck_assert_uint_eq(cfg.webhook_allow_n, 3);
	ck_assert_uint_eq(cfg.webhook_allow[1].prefix, 8);
	ck_assert_uint_eq(cfg.webhook_allow[2].prefix, 32);
	ck_assert_uint_eq(cfg.webhook_timeout, 3);
	ck_assert_uint_eq(cfg.webhook_retries, 0);
	ck_assert_uint_eq(cfg.webhook_max_pending, 7);
	ck_assert_str_eq(cfg.state_file, "/tmp/s.json");
	ck_assert_uint_eq(cfg.broker_max_packet, 64);
	ck_assert_uint_eq(cfg.broker_max_inflight, 5);
	ck_assert(!cfg.broker_clean_session);
	ck_assert_int_eq(cfg.broker_protocol, MQTT_PROTO_V31);
	ck_assert_uint_eq(cfg.broker_reconnect_min, 2);
	ck_assert_str_eq(cfg.pub_base_topic, "");
	ck_assert_str_eq(cfg.pub_event_topic, "printers/p1/{event}");
	ck_assert(!cfg.pub_event_active);
	ck_assert_str_eq(cfg.pub_events_exclude[0], "ZChange");
	ck_assert_str_eq(cfg.pub_events_exclude[1], "ClientOpened");
	ck_assert_str_eq(cfg.pub_events_exclude[2], "Upload");
	ck_assert_ptr_null(cfg.pub_events_exclude[3]);
	ck_assert(cfg_event_excluded(&cfg, "Upload", 6));
	ck_assert(!cfg_event_excluded(&cfg, "upload", 6));
	ck_assert(!cfg_event_excluded(&cfg, "Uploa", 5));
	ck_assert_int_eq(cfg.pub_qos, 2);
	ck_assert(cfg.pub_retain);
	ck_assert(!cfg.pub_timestamp);
	ck_assert(!cfg.pub_queue_events);
	ck_assert(!cfg.pub_lw_active);
	ck_assert_str_eq(cfg.pub_lw_topic, "printers/p1/status");
	ck_assert(!cfg.broker_lw_retain);
	ck_assert(!cfg_lw_enabled(&cfg));
	ck_assert_uint_eq(cfg.queue_max_messages, 5);
	ck_assert_uint_eq(cfg.queue_max_bytes, 1024);
	ck_assert_str_eq(cfg.http_listen_host, "::1");
	ck_assert_uint_eq(cfg.http_listen_port, 8080);
	ck_assert_uint_eq(cfg.http_max_body, 100);
	ck_assert_uint_eq(cfg.http_max_header, 256);
	ck_assert_uint_eq(cfg.http_max_connections, 3);
	ck_assert_uint_eq(cfg.http_timeout, 7);
	ck_assert_uint_eq(cfg.http_header_timeout, 9);
	ck_assert_str_eq(cfg.http_token, "abc-DEF_123.~+/=");
	ck_assert_uint_eq(cfg.shutdown_grace, 0);
	ck_assert_int_eq(cfg.log_level, LOGL_DEBUG);
	cfg_free(&cfg);
}
END_TEST

/* Each bad text and the exact error it must produce. */
static const struct {
	const char *text;
	const char *err;
} bad[] = {
        /* syntax */
        {URL "broker.port\n", "t.conf:2: expected '=' after 'broker.port'"},
        {URL "= 5\n", "t.conf:2: expected a key before '='"},
        {URL "broker.port! = 5\n", "t.conf:2: bad character '!' in key"},
        {URL "broker.username = \"abc\n", "t.conf:2: unterminated quoted value"},
        {URL "broker.username = \"a\\nb\"\n",
         "t.conf:2: bad escape in quoted value (only \\\" and \\\\)"},
        {URL "broker.username = \"ab\" cd\n", "t.conf:2: unexpected text after the closing quote"},
        {URL "broker.username = \"ab\"\"\n", "t.conf:2: unexpected text after the closing quote"},
        {"broker.url = h\r\n\r\nbroker.keepalive = x\r\n",
         "t.conf:3: broker.keepalive: expected an integer from 0 to 65535, got 'x'"},
        /* keys */
        {URL "broker.urll = x\n", "t.conf:2: unknown key 'broker.urll'"},
        {URL "http.token = \"a b\"\n",
         "t.conf:2: http.token: only visible ASCII characters are allowed (no spaces)"},
        {URL "http.token = \"\"\n", "t.conf:2: http.token: expected 1 to 4096 bytes, got 0"},
        {URL "Broker.port = 1\n", "t.conf:2: unknown key 'Broker.port'"},
        {URL "broker.port = 1\n\nbroker.port = 2\n",
         "t.conf:4: duplicate key 'broker.port' (first set on line 2)"},
        /* numbers */
        {URL "broker.keepalive = 6O\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '6O'"},
        {URL "broker.keepalive = -1\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '-1'"},
        {URL "broker.keepalive = +5\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '+5'"},
        {URL "broker.max_inflight = 0\n",
         "t.conf:2: broker.max_inflight: expected an integer from 1 to 65000, got '0'"},
        {URL "broker.max_inflight = 65001\n",
         "t.conf:2: broker.max_inflight: expected an integer from 1 to 65000, got '65001'"},
        {URL "broker.keepalive = 65536\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '65536'"},
        {URL "broker.keepalive = 99999999999999999999999\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got "
         "'99999999999999999999999'"},
        {URL "broker.keepalive =\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got ''"},
        {URL "broker.keepalive = 1 0\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '1 0'"},
        {URL "broker.keepalive = 0x10\n",
         "t.conf:2: broker.keepalive: expected an integer from 0 to 65535, got '0x10'"},
        {URL "publish.qos = 3\n",
         "t.conf:2: publish.qos: expected an integer from 0 to 2, got '3'"},
        {URL "http.max_header = 255\n",
         "t.conf:2: http.max_header: expected an integer from 256 to 1048576, got '255'"},
        {URL "broker.max_packet = 63\n",
         "t.conf:2: broker.max_packet: expected an integer from 64 to 268435460, got '63'"},
        {URL "broker.port = 0\n",
         "t.conf:2: broker.port: expected an integer from 1 to 65535, got '0'"},
        /* booleans and enums */
        {URL "publish.retain = yes\n",
         "t.conf:2: publish.retain: expected true, false or event names, got 'yes'"},
        {URL "publish.retain = True\n",
         "t.conf:2: publish.retain: expected true, false or event names, got 'True'"},
        {URL "broker.protocol = MQTTv5\n",
         "t.conf:2: broker.protocol: expected MQTTv311 or MQTTv31, got 'MQTTv5'"},
        {URL "log.level = verbose\n",
         "t.conf:2: log.level: expected error, warn, info or debug, got 'verbose'"},
        /* addresses */
        {"broker.url = http://h\n",
         "t.conf:1: broker.url: unknown scheme in 'http://h' (expected mqtt:// or mqtts://)"},
        /* TLS */
        {"broker.url = mqtts://h\nbroker.tls = false\n",
         "t.conf:2: broker.tls: false, but broker.url is mqtts://"},
        {"broker.url = mqtt://h\nbroker.tls = true\n",
         "t.conf:2: broker.tls: true, but broker.url is mqtt:// (use mqtts:// or no scheme)"},
        {URL "broker.tls_ca_certs = /ca.pem\n",
         "t.conf:2: broker.tls_ca_certs is set, but TLS is off (set broker.tls = true or use "
         "an mqtts:// URL)"},
        {URL "broker.tls_insecure = true\n",
         "t.conf:2: broker.tls_insecure is set, but TLS is off (set broker.tls = true or use "
         "an mqtts:// URL)"},
        {URL "broker.tls = maybe\n", "t.conf:2: broker.tls: expected true or false, got 'maybe'"},
#ifdef HAVE_TLS
        {URL "broker.tls = true\nbroker.tls_certfile = /c.pem\n",
         "t.conf:3: broker.tls_certfile needs broker.tls_keyfile too"},
        {URL "broker.tls = true\nbroker.tls_keyfile = /k.pem\n",
         "t.conf:3: broker.tls_keyfile needs broker.tls_certfile too"},
#else
        {"broker.url = mqtts://h\n",
         "t.conf:1: TLS is not available: octomqttd was built --without-tls"},
        {URL "broker.tls = true\n",
         "t.conf:2: TLS is not available: octomqttd was built --without-tls"},
#endif
        {"broker.url = h:99999\n",
         "t.conf:1: broker.url: 'h:99999': port must be a number from 1 to 65535"},
        {"broker.url = ::1\n",
         "t.conf:1: broker.url: '::1': an IPv6 address must be written in brackets, as [::1]"},
        {URL "http.listen = 127.0.0.1\n", "t.conf:2: http.listen: '127.0.0.1': missing ':port'"},
        {URL "http.listen = :80\n", "t.conf:2: http.listen: ':80': missing host"},
        {"broker.url = h:1884\nbroker.port = 1885\n",
         "t.conf:2: broker.port: the port is already set in broker.url"},
        /* topics and event names */
        {URL "publish.baseTopic = a/+/\n",
         "t.conf:2: publish.baseTopic: topic contains a wildcard ('+' or '#')"},
        {URL "publish.eventTopic = \"e/+\"\n",
         "t.conf:2: publish.eventTopic: topic contains a wildcard ('+' or '#')"},
        {URL "publish.baseTopic = \"a/\xc0\xaf\"\n",
         "t.conf:2: publish.baseTopic: topic is not valid UTF-8"},
        {URL "publish.baseTopic =\npublish.eventTopic =\n",
         "t.conf:3: publish.baseTopic + publish.eventTopic: topic is empty"},
        {URL "publish.lwTopic = \"s/+\"\n",
         "t.conf:2: publish.lwTopic: topic contains a wildcard ('+' or '#')"},
        {URL "broker.lwRetain = 1\n", "t.conf:2: broker.lwRetain: expected true or false, got '1'"},
        {URL "publish.lwActive = no\n",
         "t.conf:2: publish.lwActive: expected true or false, got 'no'"},
        {URL "publish.lwHostTimeout = -1\n",
         "t.conf:2: publish.lwHostTimeout: expected an integer from 0 to 86400, got '-1'"},
        {URL "publish.lwHostTimeout = 86401\n",
         "t.conf:2: publish.lwHostTimeout: expected an integer from 0 to 86400, got '86401'"},
        {URL "http.header_timeout = 0\n",
         "t.conf:2: http.header_timeout: expected an integer from 1 to 3600, got '0'"},
        {URL "http.header_timeout = 3601\n",
         "t.conf:2: http.header_timeout: expected an integer from 1 to 3600, got '3601'"},
        {URL "publish.progressRetain = yes\n",
         "t.conf:2: publish.progressRetain: expected true or false, got 'yes'"},
        {URL "webhook.allow = 10.0.0.0/33\n",
         "t.conf:2: webhook.allow: '10.0.0.0/33': prefix length must be 0 to 32"},
        {URL "webhook.allow = 127.0.0.1, example.com\n",
         "t.conf:2: webhook.allow: 'example.com': not an IPv4 or IPv6 address"},
        {URL "webhook.allow = ::1,\n", "t.conf:2: webhook.allow: empty item after ','"},
        {URL "webhook.retries = 101\n",
         "t.conf:2: webhook.retries: expected an integer from 0 to 100, got '101'"},
        {URL "subscribe.qos = 3\n",
         "t.conf:2: subscribe.qos: expected an integer from 0 to 2, got '3'"},
        {URL "publish.events_exclude = A,,B\n",
         "t.conf:2: publish.events_exclude: '' is not an event name (1-128 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {URL "publish.events_exclude = A B\n",
         "t.conf:2: publish.events_exclude: 'A B' is not an event name (1-128 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {URL "publish.events_exclude = A,\n",
         "t.conf:2: publish.events_exclude: empty item after ','"},
        /* rules across keys */
        {"broker.port = 1883\n", "t.conf: broker.url is required"},
        {"", "t.conf: broker.url is required"},
        {URL "broker.password = a\nbroker.password_file = /p\n",
         "t.conf:3: broker.password_file: broker.password is set too; use one"},
        {URL "broker.reconnect_min = 10\nbroker.reconnect_max = 5\n",
         "t.conf:2: broker.reconnect_min (10) is larger than broker.reconnect_max (5)"},
        {URL "broker.protocol = MQTTv31\nbroker.client_id = abcdefghijklmnopqrstuvwx\n",
         "t.conf:3: broker.client_id: MQTTv31 allows at most 23 bytes, got 24"},
        {URL "broker.client_id =\n",
         "t.conf:2: broker.client_id: expected 1 to 65535 bytes, got 0"},
};

START_TEST(errors)
{
	struct cfg cfg;
	char err[ERR_LEN];

	ck_assert_int_eq(parse(&cfg, bad[_i].text, err), -1);
	ck_assert_str_eq(err, bad[_i].err);
	cfg_free(&cfg);
}
END_TEST

/*
 * publish.lwTopic: empty disables the will and status messages; in use,
 * baseTopic + lwTopic must be a valid topic, like the event topics.
 */
START_TEST(lw_topic)
{
	static char text[80000];
	struct cfg cfg;
	char err[ERR_LEN];
	int n;

	ck_assert_int_eq(parse(&cfg, URL "publish.lwTopic =\n", err), 0);
	ck_assert_str_eq(cfg.pub_lw_topic, "");
	ck_assert(!cfg_lw_enabled(&cfg));
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.lwTopic = \"\"\n", err), 0);
	ck_assert(!cfg_lw_enabled(&cfg));
	cfg_free(&cfg);
	/* Valid parts, too long together: line of lwTopic named. */
	n = snprintf(text, sizeof(text), URL "publish.baseTopic = %040000d\n", 0);
	snprintf(text + n, sizeof(text) - (size_t)n, "publish.lwTopic = %030000d\n", 0);
	ck_assert_int_eq(parse(&cfg, text, err), -1);
	ck_assert_str_eq(err, "t.conf:3: publish.baseTopic + publish.lwTopic: topic is longer than "
	                      "65535 bytes");
	cfg_free(&cfg);
	/* Not in use: not checked. */
	snprintf(text + n, sizeof(text) - (size_t)n,
	         "publish.lwTopic = %030000d\npublish.lwActive = false\n", 0);
	ck_assert_msg(parse(&cfg, text, err) == 0, "%s", err);
	cfg_free(&cfg);
}
END_TEST

START_TEST(nul_byte)
{
	static const char text[] = URL "broker.username = a\0b\n";
	struct cfg cfg;
	char err[ERR_LEN];

	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg_parse(&cfg, "t.conf", text, sizeof(text) - 1, "pi", err, sizeof(err)),
	                 -1);
	ck_assert_str_eq(err, "t.conf:2: NUL byte in the file");
	cfg_free(&cfg);
}
END_TEST

/* CR LF endings and comments never leak into values. */
START_TEST(crlf_and_comments)
{
	static const char text[] = "broker.url = h # the broker\r\n"
	                           "# comment\r\n"
	                           "\r\n"
	                           "broker.username = \"a # b\"  # comment\r\n"
	                           "broker.password = p#q\r\n"
	                           "broker.keepalive = 5\r\n"
	                           "broker.client_id = id\t\r\n"
	                           "publish.baseTopic = \"\"";
	struct cfg cfg;
	char err[ERR_LEN];

	ck_assert_msg(parse(&cfg, text, err) == 0, "%s", err);
	ck_assert_str_eq(cfg.broker_host, "h");
	ck_assert_str_eq(cfg.broker_username, "a # b");
	ck_assert_str_eq(cfg.broker_password, "p");
	ck_assert_uint_eq(cfg.broker_keepalive, 5);
	ck_assert_str_eq(cfg.broker_client_id, "id");
	ck_assert_str_eq(cfg.pub_base_topic, "");
	cfg_free(&cfg);
}
END_TEST

START_TEST(client_id_default_cut_for_v31)
{
	struct cfg cfg;
	char err[ERR_LEN];

	cfg_defaults(&cfg);
	static const char text[] = URL "broker.protocol = MQTTv31\n";
	ck_assert_int_eq(cfg_parse(&cfg, "t.conf", text, sizeof(text) - 1,
	                           "a-very-long-host-name.example.org", err, sizeof(err)),
	                 0);
	ck_assert_str_eq(cfg.broker_client_id, "octomqttd-a-very-long-h");
	ck_assert_uint_eq(strlen(cfg.broker_client_id), 23);
	cfg_free(&cfg);
}
END_TEST

START_TEST(url_forms)
{
	static const struct {
		const char *url;
		const char *host;
		unsigned port;
	} cases[] = {
	        {"broker.url = broker.lan\n", "broker.lan", 1883},
	        {"broker.url = mqtt://broker.lan\n", "broker.lan", 1883},
	        {"broker.url = mqtt://broker.lan:1999\n", "broker.lan", 1999},
	        {"broker.url = [fe80::2]\n", "fe80::2", 1883},
	        {"broker.url = 10.1.2.3\nbroker.port = 1900\n", "10.1.2.3", 1900},
#ifdef HAVE_TLS
	        /* TLS: 8883 unless a port is named. */
	        {"broker.url = mqtts://broker.lan\n", "broker.lan", 8883},
	        {"broker.url = mqtts://broker.lan:8884\n", "broker.lan", 8884},
	        {"broker.url = broker.lan\nbroker.tls = true\n", "broker.lan", 8883},
	        {"broker.url = broker.lan\nbroker.tls = true\nbroker.port = 1883\n", "broker.lan",
	         1883},
#endif
	};
	struct cfg cfg;
	char err[ERR_LEN];
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		ck_assert_msg(parse(&cfg, cases[i].url, err) == 0, "%s", err);
		ck_assert_str_eq(cfg.broker_host, cases[i].host);
		ck_assert_uint_eq(cfg.broker_port, cases[i].port);
		ck_assert(cfg.broker_tls == (strstr(cases[i].url, "tls") != NULL ||
		                             strstr(cases[i].url, "mqtts") != NULL));
		cfg_free(&cfg);
	}
}
END_TEST

/* The TLS keys land where main reads them; cfg_where names their line. */
START_TEST(tls_keys)
{
#ifdef HAVE_TLS
	static const char text[] = "broker.url = mqtts://b\n"
	                           "broker.tls_ca_certs = /ca.pem\n"
	                           "broker.tls_certfile = /c.pem\n"
	                           "broker.tls_keyfile = /k.pem\n"
	                           "broker.tls_insecure = true\n"
	                           "broker.tls_verify = false\n"
	                           "webhook.tls_ca_certs = /w.pem\n"
	                           "webhook.tls_insecure = true\n";
	struct cfg cfg;
	char err[ERR_LEN], where[128];

	ck_assert_msg(parse(&cfg, text, err) == 0, "%s", err);
	ck_assert(cfg.broker_tls);
	ck_assert_str_eq(cfg.broker_tls_ca_certs, "/ca.pem");
	ck_assert_str_eq(cfg.broker_tls_certfile, "/c.pem");
	ck_assert_str_eq(cfg.broker_tls_keyfile, "/k.pem");
	ck_assert(cfg.broker_tls_insecure);
	ck_assert(!cfg.broker_tls_verify);
	ck_assert_str_eq(cfg.webhook_tls_ca_certs, "/w.pem");
	ck_assert(cfg.webhook_tls_insecure);
	ck_assert_str_eq(cfg_where(&cfg, "broker.tls_keyfile", where, sizeof(where)),
	                 "t.conf:4: broker.tls_keyfile");
	ck_assert_str_eq(cfg_where(&cfg, "broker.tls", where, sizeof(where)), "t.conf: broker.tls");
	cfg_free(&cfg);
	/* Defaults: verify on, names checked, the system store. */
	ck_assert_int_eq(parse(&cfg, URL, err), 0);
	ck_assert(!cfg.broker_tls);
	ck_assert(cfg.broker_tls_verify);
	ck_assert(!cfg.broker_tls_insecure);
	ck_assert_ptr_null(cfg.broker_tls_ca_certs);
	ck_assert_ptr_null(cfg.webhook_tls_ca_certs);
	ck_assert(!cfg.webhook_tls_insecure);
	cfg_free(&cfg);
#endif
}
END_TEST

START_TEST(parse_u64)
{
	uint64_t v = 0;

	ck_assert_int_eq(cfg_parse_u64("0", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(cfg_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(cfg_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -1);
	ck_assert_int_eq(cfg_parse_u64("", 0, 10, &v), -1);
	ck_assert_int_eq(cfg_parse_u64(" 1", 0, 10, &v), -1);
	ck_assert_int_eq(cfg_parse_u64("11", 0, 10, &v), -1);
	ck_assert_int_eq(cfg_parse_u64("4", 5, 10, &v), -1);
}
END_TEST

static char tmpdir[64];

static char *write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(load_files)
{
	struct cfg cfg;
	char err[ERR_LEN], text[256], *path;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	write_file("pw", "s3cret\nsecond line\n");
	snprintf(text, sizeof(text), URL "broker.username = u\nbroker.password_file = %s/pw\n",
	         tmpdir);
	path = write_file("ok.conf", text);
	ck_assert_msg(cfg_load(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.broker_password, "s3cret");
	cfg_free(&cfg);

	snprintf(text, sizeof(text), URL "broker.password_file = %s/missing\n", tmpdir);
	path = write_file("nopw.conf", text);
	ck_assert_int_eq(cfg_load(&cfg, path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/missing: cannot read: No such file or directory") != NULL, "%s",
	              err);
	cfg_free(&cfg);

	ck_assert_int_eq(cfg_load(&cfg, "/nonexistent/octomqttd.conf", err, sizeof(err)), -1);
	ck_assert_str_eq(err,
	                 "/nonexistent/octomqttd.conf: cannot read: No such file or directory");
	cfg_free(&cfg);

	snprintf(text, sizeof(text), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(text), 0);
}
END_TEST

/* The OctoPrint-MQTT keys of issue 7. */
START_TEST(octoprint_keys)
{
	static const char text[] = URL "publish.retain = ZChange, FirmwareData\n"
	                               "publish.timestamp_fieldname = ts\n"
	                               "publish.events.gcode = false\n"
	                               "publish.events.unclassified = false\n"
	                               "publish.progressTopic = p/{progress}\n"
	                               "publish.progressActive = false\n"
	                               "publish.progressRetain = false\n"
	                               "publish.lwHostTimeout = 30\n"
	                               "publish.temperatureTopic = t/{temp}\n"
	                               "publish.temperatureActive = false\n"
	                               "publish.temperatureThreshold = 1.5\n";
	struct cfg cfg;
	char err[ERR_LEN];

	ck_assert_msg(parse(&cfg, text, err) == 0, "%s", err);
	ck_assert(!cfg.pub_retain);
	ck_assert(cfg_event_retained(&cfg, "ZChange", 7));
	ck_assert(cfg_event_retained(&cfg, "FirmwareData", 12));
	ck_assert(!cfg_event_retained(&cfg, "Home", 4));
	ck_assert_str_eq(cfg.pub_ts_field, "ts");
	ck_assert(!cfg.pub_event_class[EVENTS_GCODE]);
	ck_assert(!cfg.pub_event_class[EVENTS_UNCLASSIFIED]);
	ck_assert(cfg.pub_event_class[EVENTS_PRINTJOB]);
	ck_assert_str_eq(cfg.pub_progress_topic, "p/{progress}");
	ck_assert(!cfg.pub_progress_active && !cfg.pub_temperature_active);
	ck_assert(!cfg.pub_progress_retain);
	ck_assert_uint_eq(cfg.pub_lw_host_timeout, 30);
	ck_assert(cfg.pub_temperature_threshold == 1.5);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.retain = true\n", err), 0);
	ck_assert(cfg_event_retained(&cfg, "Anything", 8));
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.temperatureThreshold = 1.\n", err), -1);
	cfg_free(&cfg);
	ck_assert_str_eq(err, "t.conf:2: publish.temperatureThreshold: expected a number from 0 to "
	                      "1000 (like 0.5), got '1.'");
	ck_assert_int_eq(parse(&cfg, URL "publish.temperatureThreshold = -1\n", err), -1);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.temperatureThreshold = 1e3\n", err), -1);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.temperatureThreshold = 1001\n", err), -1);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, URL "publish.timestamp_fieldname = _event\n", err), -1);
	cfg_free(&cfg);
	ck_assert_str_eq(err, "t.conf:2: publish.timestamp_fieldname: '_event' is the event name's "
	                      "member");
}
END_TEST

static Suite *cfg_suite(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc = tcase_create("cfg");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, octoprint_keys);
	tcase_add_test(tc, every_key);
	tcase_add_loop_test(tc, errors, 0, (int)nitems(bad));
	tcase_add_test(tc, lw_topic);
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, crlf_and_comments);
	tcase_add_test(tc, client_id_default_cut_for_v31);
	tcase_add_test(tc, url_forms);
	tcase_add_test(tc, tls_keys);
	tcase_add_test(tc, parse_u64);
	tcase_add_test(tc, load_files);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(cfg_suite)
