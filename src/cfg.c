/*
 * cfg: the configuration file of DESIGN §4 (see cfg.h).
 *
 * A table with one row per key (name, type, bounds, field offset) drives
 * the parser, so adding a key is one line: cfg_parse() takes the file
 * line by line, and cfg_line.c splits each line and stores its value with
 * the setter of the key's type. The rules between keys are checked here,
 * after the whole file. cfg_parse() touches no files; cfg_load() reads
 * the file and broker.password_file around it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "cfg.h"
#include "cfg_line.h"
#include "events.h"
#include "http_server.h"
#include "net.h"
#include "topic.h"

/* Largest config file read: far more than every key with long values. */
#define CFG_MAX_FILE         (1024 * 1024)
#define MQTT31_CLIENT_ID_MAX 23

#define F(field) offsetof(struct cfg, field)

static const struct cfg_key cfg_keys[] = {
        {"broker.url", CT_URL, F(broker_host), 0, 0},
        {"broker.port", CT_PORT, F(broker_port), 1, 65535},
        {"broker.username", CT_STRING, F(broker_username), 0, 0},
        {"broker.password", CT_STRING, F(broker_password), 0, 0},
        {"broker.password_file", CT_STRING, F(broker_password_file), 0, 0},
        {"broker.keepalive", CT_UINT, F(broker_keepalive), 0, 65535},
        {"broker.client_id", CT_STRING, F(broker_client_id), 1, 65535},
        {"broker.max_packet", CT_SIZE, F(broker_max_packet), 64, 268435460},
        {"broker.max_inflight", CT_UINT, F(broker_max_inflight), 1, 65000},
        {"broker.clean_session", CT_BOOL, F(broker_clean_session), 0, 0},
        {"broker.protocol", CT_PROTOCOL, F(broker_protocol), 0, 0},
        {"broker.reconnect_min", CT_UINT, F(broker_reconnect_min), 1, 86400},
        {"broker.reconnect_max", CT_UINT, F(broker_reconnect_max), 1, 86400},
        {"broker.lwRetain", CT_BOOL, F(broker_lw_retain), 0, 0},
        {"broker.tls", CT_BOOL, F(broker_tls), 0, 0},
        {"broker.tls_ca_certs", CT_STRING, F(broker_tls_ca_certs), 1, 4095},
        {"broker.tls_certfile", CT_STRING, F(broker_tls_certfile), 1, 4095},
        {"broker.tls_keyfile", CT_STRING, F(broker_tls_keyfile), 1, 4095},
        {"broker.tls_insecure", CT_BOOL, F(broker_tls_insecure), 0, 0},
        {"broker.tls_verify", CT_BOOL, F(broker_tls_verify), 0, 0},
        {"publish.baseTopic", CT_TOPIC, F(pub_base_topic), 0, 0},
        {"publish.eventTopic", CT_TOPIC, F(pub_event_topic), 0, 0},
        {"publish.eventActive", CT_BOOL, F(pub_event_active), 0, 0},
        {"publish.events_exclude", CT_EVLIST, F(pub_events_exclude), 0, 0},
        {"publish.qos", CT_QOS, F(pub_qos), 0, 2},
        {"publish.retain", CT_RETAIN, F(pub_retain_events), 0, 0},
        {"publish.timestamp_fieldname", CT_STRING, F(pub_ts_field), 1, 256},
        {"publish.events.server", CT_BOOL, F(pub_event_class[EVENTS_SERVER]), 0, 0},
        {"publish.events.comm", CT_BOOL, F(pub_event_class[EVENTS_COMM]), 0, 0},
        {"publish.events.files", CT_BOOL, F(pub_event_class[EVENTS_FILES]), 0, 0},
        {"publish.events.printjob", CT_BOOL, F(pub_event_class[EVENTS_PRINTJOB]), 0, 0},
        {"publish.events.gcode", CT_BOOL, F(pub_event_class[EVENTS_GCODE]), 0, 0},
        {"publish.events.timelapse", CT_BOOL, F(pub_event_class[EVENTS_TIMELAPSE]), 0, 0},
        {"publish.events.slicing", CT_BOOL, F(pub_event_class[EVENTS_SLICING]), 0, 0},
        {"publish.events.settings", CT_BOOL, F(pub_event_class[EVENTS_SETTINGS]), 0, 0},
        {"publish.events.unclassified", CT_BOOL, F(pub_event_class[EVENTS_UNCLASSIFIED]), 0, 0},
        {"publish.progressTopic", CT_TOPIC, F(pub_progress_topic), 0, 0},
        {"publish.progressActive", CT_BOOL, F(pub_progress_active), 0, 0},
        {"publish.progressRetain", CT_BOOL, F(pub_progress_retain), 0, 0},
        {"publish.temperatureTopic", CT_TOPIC, F(pub_temperature_topic), 0, 0},
        {"publish.temperatureActive", CT_BOOL, F(pub_temperature_active), 0, 0},
        {"publish.temperatureThreshold", CT_FLOAT, F(pub_temperature_threshold), 0, 1000},
        {"publish.timestamp", CT_BOOL, F(pub_timestamp), 0, 0},
        {"publish.queue_events", CT_BOOL, F(pub_queue_events), 0, 0},
        {"publish.lwActive", CT_BOOL, F(pub_lw_active), 0, 0},
        {"publish.lwTopic", CT_TOPIC, F(pub_lw_topic), 0, 0},
        {"publish.lwHostTimeout", CT_UINT, F(pub_lw_host_timeout), 0, 86400},
        {"queue.max_messages", CT_SIZE, F(queue_max_messages), 1, 1000000000},
        {"queue.max_bytes", CT_SIZE, F(queue_max_bytes), 1024, (uint64_t)1 << 40},
        {"queue.spool", CT_STRING, F(queue_spool), 1, 4095},
        {"subscribe.qos", CT_QOS, F(sub_qos), 0, 2},
        {"webhook.allow", CT_CIDRLIST, F(webhook_allow), 0, 0},
        {"webhook.timeout", CT_UINT, F(webhook_timeout), 1, 3600},
        {"webhook.retries", CT_UINT, F(webhook_retries), 0, 100},
        {"webhook.max_pending", CT_SIZE, F(webhook_max_pending), 1, 1000000000},
        {"webhook.tls_ca_certs", CT_STRING, F(webhook_tls_ca_certs), 1, 4095},
        {"webhook.tls_insecure", CT_BOOL, F(webhook_tls_insecure), 0, 0},
        {"state.file", CT_STRING, F(state_file), 1, 4095},
        {"http.listen", CT_LISTEN, F(http_listen_host), 0, 0},
        {"http.max_body", CT_SIZE, F(http_max_body), 1, 1024 * 1024 * 1024},
        {"http.max_header", CT_SIZE, F(http_max_header), 256, 1024 * 1024},
        {"http.max_connections", CT_UINT, F(http_max_connections), 1, 100000},
        {"http.timeout", CT_UINT, F(http_timeout), 1, 86400},
        {"http.header_timeout", CT_UINT, F(http_header_timeout), 1, 3600},
        {"http.token", CT_TOKEN, F(http_token), 1, 4096},
        {"shutdown.grace", CT_UINT, F(shutdown_grace), 0, 3600},
        {"log.level", CT_LOGLEVEL, F(log_level), 0, 0},
};

#undef F

void cfg_defaults(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->broker_port = 1883;
	cfg->broker_keepalive = 60;
	cfg->broker_max_packet = 1048576;
	cfg->broker_max_inflight = 20;
	cfg->broker_clean_session = true;
	cfg->broker_protocol = MQTT_PROTO_V311;
	cfg->broker_reconnect_min = 1;
	cfg->broker_reconnect_max = 60;
	cfg->broker_lw_retain = true;
	cfg->broker_tls_verify = true;
	cfg->pub_base_topic = xstrdup("octoprint/");
	cfg->pub_event_topic = xstrdup("event/{event}");
	cfg->pub_event_active = true;
	cfg->pub_events_exclude = xcalloc(1, sizeof(char *));
	cfg->pub_qos = 0;
	cfg->pub_retain = false;
	cfg->pub_retain_events = xcalloc(1, sizeof(char *));
	cfg->pub_timestamp = true;
	cfg->pub_ts_field = xstrdup("_timestamp");
	for (int c = 0; c < EVENTS_NCLASSES; c++)
		cfg->pub_event_class[c] = true;
	cfg->pub_progress_topic = xstrdup("progress/{progress}");
	cfg->pub_progress_active = true;
	cfg->pub_progress_retain = true;
	cfg->pub_temperature_topic = xstrdup("temperature/{temp}");
	cfg->pub_temperature_active = true;
	cfg->pub_temperature_threshold = 0.1;
	cfg->pub_queue_events = true;
	cfg->pub_lw_active = true;
	cfg->pub_lw_topic = xstrdup("mqtt");
	cfg->queue_max_messages = 10000;
	cfg->queue_max_bytes = 16777216;
	cfg->sub_qos = 1;
	{
		/* 127.0.0.0/8 and ::1, as DESIGN §4 says. */
		static const char *const allow[] = {"127.0.0.0/8", "::1"};
		char err[ERR_LEN];
		size_t i;

		cfg->webhook_allow = xcalloc(nitems(allow), sizeof(*cfg->webhook_allow));
		for (i = 0; i < nitems(allow); i++)
			if (net_cidr_parse(allow[i], &cfg->webhook_allow[i], err, sizeof(err)) != 0)
				fatalx("webhook.allow default: %s", err);
		cfg->webhook_allow_n = nitems(allow);
	}
	cfg->webhook_timeout = 10;
	cfg->webhook_retries = 5;
	cfg->webhook_max_pending = 10000;
	cfg->state_file = xstrdup(LOCALSTATEDIR "/lib/octomqttd/subscriptions.json");
	cfg->http_listen_host = xstrdup("127.0.0.1");
	cfg->http_listen_port = 5883;
	cfg->http_max_body = 1048576;
	cfg->http_max_header = 8192;
	cfg->http_max_connections = 256;
	cfg->http_timeout = 30;
	cfg->http_header_timeout = 5;
	cfg->shutdown_grace = 5;
	cfg->log_level = LOGL_INFO;
}

void cfg_free(struct cfg *cfg)
{
	free(cfg->broker_host);
	free(cfg->broker_username);
	free(cfg->broker_password);
	free(cfg->broker_password_file);
	free(cfg->queue_spool);
	free(cfg->webhook_allow);
	free(cfg->state_file);
	free(cfg->broker_client_id);
	free(cfg->pub_base_topic);
	free(cfg->pub_event_topic);
	cfg_free_list(cfg->pub_events_exclude);
	free(cfg->pub_lw_topic);
	cfg_free_list(cfg->pub_retain_events);
	free(cfg->pub_ts_field);
	free(cfg->pub_progress_topic);
	free(cfg->pub_temperature_topic);
	free(cfg->http_listen_host);
	free(cfg->http_token);
	free(cfg->broker_tls_ca_certs);
	free(cfg->broker_tls_certfile);
	free(cfg->broker_tls_keyfile);
	free(cfg->webhook_tls_ca_certs);
	free(cfg->src_name);
	free(cfg->src_lines);
	memset(cfg, 0, sizeof(*cfg));
}

int cfg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

bool cfg_lw_enabled(const struct cfg *cfg)
{
	return cfg->pub_lw_active && cfg->pub_lw_topic != NULL && cfg->pub_lw_topic[0] != '\0';
}

bool cfg_event_retained(const struct cfg *cfg, const char *name, size_t len)
{
	return cfg->pub_retain || events_listed(cfg->pub_retain_events, name, len);
}

bool cfg_event_excluded(const struct cfg *cfg, const char *name, size_t len)
{
	return events_listed(cfg->pub_events_exclude, name, len);
}

void cfg_http_server_opts(const struct cfg *cfg, struct http_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen_host = cfg->http_listen_host;
	o->listen_port = cfg->http_listen_port;
	o->max_body = cfg->http_max_body;
	o->max_header = cfg->http_max_header;
	o->max_connections = cfg->http_max_connections;
	o->timeout = cfg->http_timeout;
	o->header_timeout = cfg->http_header_timeout;
}

void cfg_api_opts(const struct cfg *cfg, struct api_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->token = cfg->http_token;
	o->broker_host = cfg->broker_host;
	o->broker_port = cfg->broker_port;
	o->base_topic = cfg->pub_base_topic;
	o->event_topic = cfg->pub_event_topic;
	o->event_active = cfg->pub_event_active;
	memcpy(o->event_class, cfg->pub_event_class, sizeof(o->event_class));
	o->events_exclude = cfg->pub_events_exclude;
	o->retain = cfg->pub_retain;
	o->retain_events = cfg->pub_retain_events;
	o->qos = cfg->pub_qos;
	o->queue_events = cfg->pub_queue_events;
	o->timestamp = cfg->pub_timestamp;
	o->ts_field = cfg->pub_ts_field;
	o->progress_topic = cfg->pub_progress_topic;
	o->progress_active = cfg->pub_progress_active;
	o->progress_retain = cfg->pub_progress_retain;
	o->temperature_topic = cfg->pub_temperature_topic;
	o->temperature_active = cfg->pub_temperature_active;
	o->temperature_threshold = cfg->pub_temperature_threshold;
	o->lw_topic = cfg->pub_lw_topic;
	o->lw_enabled = cfg_lw_enabled(cfg);
	o->lw_retain = cfg->broker_lw_retain;
	o->lw_host_timeout = cfg->pub_lw_host_timeout;
}

static const struct cfg_key *cfg_find(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < nitems(cfg_keys); i++) {
		if (strcmp(cfg_keys[i].k_name, name) == 0) {
			*idx = i;
			return &cfg_keys[i];
		}
	}
	return NULL;
}

static size_t cfg_key_index(const char *name)
{
	size_t idx = 0;

	cfg_find(name, &idx);
	return idx;
}

/* The line a key was set on (0: not set). */
static unsigned cfg_line_of(const struct cfg_parse *cp, const char *key)
{
	return cp->cp_seen[cfg_key_index(key)];
}

/*
 * TLS: mqtts:// and broker.tls agree, the default port follows, a client
 * certificate comes with its key, and TLS file keys are not set for a
 * link without TLS (a mistake that would leave the link in clear text).
 */
static int cfg_check_tls(struct cfg_parse *cp)
{
	static const char *const broker_files[] = {"broker.tls_ca_certs", "broker.tls_certfile",
	                                           "broker.tls_keyfile", "broker.tls_insecure",
	                                           "broker.tls_verify"};
	struct cfg *cfg = cp->cp_cfg;
	unsigned line_tls = cfg_line_of(cp, "broker.tls");

	if (cp->cp_url_tls && line_tls > 0 && !cfg->broker_tls)
		return cfg_fail(cp, line_tls, "broker.tls: false, but broker.url is mqtts://");
	if (cp->cp_url_plain && cfg->broker_tls)
		return cfg_fail(cp, line_tls,
		                "broker.tls: true, but broker.url is mqtt:// (use mqtts:// or no "
		                "scheme)");
	if (cp->cp_url_tls)
		cfg->broker_tls = true;
	if (cfg->broker_tls && !cp->cp_url_port && cfg_line_of(cp, "broker.port") == 0)
		cfg->broker_port = 8883;
	if (!cfg->broker_tls) {
		for (size_t i = 0; i < nitems(broker_files); i++) {
			unsigned line = cfg_line_of(cp, broker_files[i]);

			if (line > 0)
				return cfg_fail(cp, line,
				                "%s is set, but TLS is off (set broker.tls = true "
				                "or use an mqtts:// URL)",
				                broker_files[i]);
		}
	}
#ifndef HAVE_TLS
	if (cfg->broker_tls)
		return cfg_fail(cp, line_tls > 0 ? line_tls : cfg_line_of(cp, "broker.url"),
		                "TLS is not available: octomqttd was built --without-tls");
#endif
	if ((cfg->broker_tls_certfile == NULL) != (cfg->broker_tls_keyfile == NULL)) {
		const char *set = cfg->broker_tls_certfile != NULL ? "broker.tls_certfile"
		                                                   : "broker.tls_keyfile";
		const char *missing = cfg->broker_tls_certfile != NULL ? "broker.tls_keyfile"
		                                                       : "broker.tls_certfile";

		return cfg_fail(cp, cfg_line_of(cp, set), "%s needs %s too", set, missing);
	}
	return 0;
}

const char *cfg_where(const struct cfg *cfg, const char *key, char *out, size_t outlen)
{
	size_t idx;
	const char *name = cfg->src_name != NULL ? cfg->src_name : "(config)";

	if (cfg_find(key, &idx) != NULL && cfg->src_lines != NULL && cfg->src_lines[idx] > 0)
		snprintf(out, outlen, "%s:%u: %s", name, cfg->src_lines[idx], key);
	else
		snprintf(out, outlen, "%s: %s", name, key);
	return out;
}

/* Rules that involve more than one key, checked after the whole file. */
static int cfg_check(struct cfg_parse *cp, const char *hostname)
{
	struct cfg *cfg = cp->cp_cfg;
	unsigned line_id = cfg_line_of(cp, "broker.client_id");
	unsigned line_port = cfg_line_of(cp, "broker.port");
	const char *why;
	struct buf t;
	int rc = 0;

	if (cfg->broker_host == NULL)
		return cfg_fail(cp, 0, "broker.url is required");
	if (cp->cp_url_port && line_port > 0)
		return cfg_fail(cp, line_port,
		                "broker.port: the port is already set in broker.url");
	if (cfg->broker_password != NULL && cfg->broker_password_file != NULL)
		return cfg_fail(cp, cfg_line_of(cp, "broker.password_file"),
		                "broker.password_file: broker.password is set too; use one");
	if (cfg_check_tls(cp) != 0)
		return -1;
	if (cfg->broker_reconnect_min > cfg->broker_reconnect_max)
		return cfg_fail(
		        cp, cfg_line_of(cp, "broker.reconnect_min"),
		        "broker.reconnect_min (%u) is larger than broker.reconnect_max (%u)",
		        cfg->broker_reconnect_min, cfg->broker_reconnect_max);
	if (cfg->broker_client_id == NULL) {
		size_t max = cfg->broker_protocol == MQTT_PROTO_V31 ? MQTT31_CLIENT_ID_MAX : 65535;
		char id[300];

		snprintf(id, sizeof(id), "octomqttd-%s", hostname);
		if (strlen(id) > max)
			id[max] = '\0';
		cfg->broker_client_id = xstrdup(id);
	} else if (cfg->broker_protocol == MQTT_PROTO_V31 &&
	           strlen(cfg->broker_client_id) > MQTT31_CLIENT_ID_MAX) {
		return cfg_fail(cp, line_id,
		                "broker.client_id: MQTTv31 allows at most 23 bytes, got %zu",
		                strlen(cfg->broker_client_id));
	}
	/*
	 * Every event topic must be a valid topic name. Event names are 1-128
	 * bytes of [A-Za-z0-9_.-], valid topic text like "{event}" itself, so
	 * checking with the placeholder left in covers the characters of every
	 * name; only the 65535-byte bound is left to the publisher.
	 */
	buf_init(&t);
	buf_append_str(&t, cfg->pub_base_topic);
	buf_append_str(&t, cfg->pub_event_topic);
	if (!topic_name_valid(buf_data(&t), buf_len(&t), &why)) {
		unsigned line = cfg_line_of(cp, "publish.eventTopic");

		if (line == 0)
			line = cfg_line_of(cp, "publish.baseTopic");
		rc = cfg_fail(cp, line, "publish.baseTopic + publish.eventTopic: %s", why);
	}
	if (rc == 0 && strcmp(cfg->pub_ts_field, "_event") == 0)
		rc = cfg_fail(cp, cfg_line_of(cp, "publish.timestamp_fieldname"),
		              "publish.timestamp_fieldname: '_event' is the event name's member");
	/* The will/status topic, when in use, is checked the same way. */
	buf_reset(&t);
	buf_append_str(&t, cfg->pub_base_topic);
	buf_append_str(&t, cfg->pub_lw_topic);
	if (rc == 0 && cfg_lw_enabled(cfg) && !topic_name_valid(buf_data(&t), buf_len(&t), &why)) {
		unsigned line = cfg_line_of(cp, "publish.lwTopic");

		if (line == 0)
			line = cfg_line_of(cp, "publish.baseTopic");
		rc = cfg_fail(cp, line, "publish.baseTopic + publish.lwTopic: %s", why);
	}
	buf_free(&t);
	return rc;
}

int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, const char *hostname,
              char *err, size_t errlen)
{
	unsigned seen[nitems(cfg_keys)];
	struct cfg_parse cp;
	struct buf key, val;
	size_t pos = 0;
	int rc = 0;

	memset(&cp, 0, sizeof(cp));
	memset(seen, 0, sizeof(seen));
	cp.cp_cfg = cfg;
	cp.cp_seen = seen;
	cp.cp_name = name;
	cp.cp_err = err;
	cp.cp_errlen = errlen;
	buf_init(&key);
	buf_init(&val);
	if (memchr(text, '\0', len) != NULL) {
		const char *nul = memchr(text, '\0', len);
		unsigned line = 1;
		const char *p;

		for (p = text; p < nul; p++)
			line += *p == '\n';
		rc = cfg_fail(&cp, line, "NUL byte in the file");
		goto done;
	}
	while (pos < len && rc == 0) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - s) : len - pos;
		const struct cfg_key *k;
		size_t idx;
		int r;

		pos += llen + (nl != NULL);
		cp.cp_line++;
		r = cfg_split_line(&cp, s, llen, &key, &val);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 0)
			continue;
		k = cfg_find(buf_data(&key), &idx);
		if (k == NULL) {
			rc = cfg_fail(&cp, cp.cp_line, "unknown key '%s'", buf_data(&key));
			break;
		}
		if (cp.cp_seen[idx] != 0) {
			rc = cfg_fail(&cp, cp.cp_line, "duplicate key '%s' (first set on line %u)",
			              k->k_name, cp.cp_seen[idx]);
			break;
		}
		cp.cp_seen[idx] = cp.cp_line;
		rc = cfg_set_value(&cp, k, buf_data(&val));
	}
	if (rc == 0)
		rc = cfg_check(&cp, hostname);
	if (rc == 0) {
		free(cfg->src_name);
		free(cfg->src_lines);
		cfg->src_name = xstrdup(name);
		cfg->src_lines = xcalloc(nitems(cfg_keys), sizeof(*cfg->src_lines));
		memcpy(cfg->src_lines, seen, sizeof(seen));
	}
done:
	buf_free(&key);
	buf_free(&val);
	return rc;
}

/* Read a whole file of at most CFG_MAX_FILE bytes into b. */
static int cfg_read_file(const char *path, struct buf *b, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		buf_reserve(b, 4096);
		n = read(fd, buf_tail(b), buf_avail(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		buf_produced(b, (size_t)n);
		if (buf_len(b) > CFG_MAX_FILE) {
			snprintf(err, errlen, "%s: larger than %d bytes", path, CFG_MAX_FILE);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
	char hostname[256] = "localhost";
	struct buf b;
	int rc;

	cfg_defaults(cfg);
	buf_init(&b);
	if (gethostname(hostname, sizeof(hostname) - 1) != 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	rc = cfg_read_file(path, &b, err, errlen);
	if (rc == 0)
		rc = cfg_parse(cfg, path, buf_data(&b), buf_len(&b), hostname, err, errlen);
	if (rc == 0 && cfg->broker_password_file != NULL) {
		size_t len;

		buf_reset(&b);
		rc = cfg_read_file(cfg->broker_password_file, &b, err, errlen);
		if (rc == 0) {
			const char *p = buf_data(&b);

			/* The first line, without its line ending. */
			for (len = 0; len < buf_len(&b) && p[len] != '\n' && p[len] != '\r'; len++)
				;
			if (memchr(buf_data(&b), '\0', len) != NULL) {
				snprintf(err, errlen, "%s: NUL byte in the password",
				         cfg->broker_password_file);
				rc = -1;
			} else {
				cfg->broker_password = xstrndup(buf_data(&b), len);
			}
		}
	}
	buf_free(&b);
	return rc;
}

void cfg_mqtt_client_opts(const struct cfg *cfg, struct mqtt_client_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = cfg->broker_host;
	o->port = cfg->broker_port;
	o->username = cfg->broker_username;
	o->password = cfg->broker_password;
	o->client_id = cfg->broker_client_id;
	o->keepalive = cfg->broker_keepalive;
	o->max_packet = cfg->broker_max_packet;
	o->max_inflight = cfg->broker_max_inflight;
	o->clean_session = cfg->broker_clean_session;
	o->protocol = cfg->broker_protocol;
	o->reconnect_min = cfg->broker_reconnect_min;
	o->reconnect_max = cfg->broker_reconnect_max;
	o->lw_retain = cfg->broker_lw_retain;
	o->base_topic = cfg->pub_base_topic;
	o->lw_topic = cfg_lw_enabled(cfg) ? cfg->pub_lw_topic : NULL;
	o->queue_max_messages = cfg->queue_max_messages;
	o->queue_max_bytes = cfg->queue_max_bytes;
}
