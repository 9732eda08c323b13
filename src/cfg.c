/*
 * cfg: the configuration file of DESIGN §4 (see cfg.h).
 *
 * A table with one row per key (name, type, bounds, field offset) drives
 * the parser, so adding a key is one line. cfg_parse() touches no files;
 * cfg_load() reads the file and broker.password_file around it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "net.h"
#include "topic.h"

/* Largest config file read: far more than every key with long values. */
#define CFG_MAX_FILE         (1024 * 1024)
#define CFG_EVENT_NAME_MAX   128
#define MQTT31_CLIENT_ID_MAX 23

enum cfg_type {
	CT_STRING,   /* char *, any text */
	CT_TOPIC,    /* char *, topic text that may be empty */
	CT_BOOL,     /* bool: true / false */
	CT_UINT,     /* unsigned, bounded */
	CT_SIZE,     /* size_t, bounded */
	CT_QOS,      /* int 0..2 */
	CT_URL,      /* broker.url -> broker_host (+ port) */
	CT_LISTEN,   /* http.listen -> http_listen_host/port */
	CT_PROTOCOL, /* broker.protocol */
	CT_LOGLEVEL, /* log.level */
	CT_EVLIST,   /* comma-separated event names */
	CT_CIDRLIST, /* comma-separated address blocks (webhook.allow) */
	CT_RETAIN,   /* true, false, or comma-separated event names */
	CT_FLOAT,    /* a non-negative decimal number */
	CT_PORT,     /* uint16_t 1..65535 */
	CT_TOKEN,    /* char *, visible ASCII only (an HTTP bearer token) */
};

struct cfg_key {
	const char *k_name;
	enum cfg_type k_type;
	size_t k_off;
	uint64_t k_min, k_max;
};

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
        {"publish.events.server", CT_BOOL, F(pub_event_class[CFG_EV_SERVER]), 0, 0},
        {"publish.events.comm", CT_BOOL, F(pub_event_class[CFG_EV_COMM]), 0, 0},
        {"publish.events.files", CT_BOOL, F(pub_event_class[CFG_EV_FILES]), 0, 0},
        {"publish.events.printjob", CT_BOOL, F(pub_event_class[CFG_EV_PRINTJOB]), 0, 0},
        {"publish.events.gcode", CT_BOOL, F(pub_event_class[CFG_EV_GCODE]), 0, 0},
        {"publish.events.timelapse", CT_BOOL, F(pub_event_class[CFG_EV_TIMELAPSE]), 0, 0},
        {"publish.events.slicing", CT_BOOL, F(pub_event_class[CFG_EV_SLICING]), 0, 0},
        {"publish.events.settings", CT_BOOL, F(pub_event_class[CFG_EV_SETTINGS]), 0, 0},
        {"publish.events.unclassified", CT_BOOL, F(pub_event_class[CFG_EV_UNCLASSIFIED]), 0, 0},
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

/* Parser state for one text. */
struct cfg_parse {
	struct cfg *cp_cfg;
	const char *cp_name;
	char *cp_err;
	size_t cp_errlen;
	unsigned cp_line;
	unsigned cp_seen[nitems(cfg_keys)]; /* line each key was set on, 0 = unset */
	bool cp_url_port;                   /* broker.url named a port */
	bool cp_url_tls;                    /* broker.url is mqtts:// */
	bool cp_url_plain;                  /* broker.url is mqtt:// */
};

static int cfg_fail(struct cfg_parse *cp, unsigned line, const char *fmt, ...) ATTR_PRINTF(3, 4);

static int cfg_fail(struct cfg_parse *cp, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (line > 0)
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s:%u: ", cp->cp_name, line);
	else
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s: ", cp->cp_name);
	if (n < 0 || (size_t)n >= cp->cp_errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(cp->cp_err + n, cp->cp_errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

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
	for (int c = 0; c < CFG_EV_NCLASSES; c++)
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

static void cfg_free_list(char **list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
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

bool cfg_event_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CFG_EVENT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool cfg_lw_enabled(const struct cfg *cfg)
{
	return cfg->pub_lw_active && cfg->pub_lw_topic != NULL && cfg->pub_lw_topic[0] != '\0';
}

/* §5.1: the events of each class (others are unclassified). */
static const struct {
	enum cfg_event_class cls;
	const char *names;
} cfg_classes[] = {
        {CFG_EV_SERVER, " Startup Shutdown ClientOpened ClientClosed ConnectivityChanged "},
        {CFG_EV_COMM,
         " Connecting Connected Disconnecting Disconnected Error PrinterStateChanged "},
        {CFG_EV_FILES, " Upload FileAdded FileRemoved FolderAdded FolderRemoved UpdatedFiles "
                       "MetadataAnalysisStarted MetadataAnalysisFinished FileSelected "
                       "FileDeselected TransferStarted TransferFailed TransferDone "},
        {CFG_EV_PRINTJOB,
         " PrintStarted PrintFailed PrintDone PrintCancelled PrintPaused PrintResumed "},
        {CFG_EV_GCODE, " PowerOn PowerOff Home ZChange Dwell Waiting Cooling Alert Conveyor "
                       "Eject EStop PositionUpdate ToolChange "},
        {CFG_EV_TIMELAPSE, " CaptureStart CaptureFailed CaptureDone MovieRendering MovieFailed "},
        {CFG_EV_SLICING, " SlicingStarted SlicingDone SlicingCancelled SlicingFailed "
                         "SlicingProfileAdded SlicingProfileDeleted SlicingProfileModified "},
        {CFG_EV_SETTINGS, " SettingsUpdated "},
};

/* The names of cfg_classes one by one, sorted: built at the first lookup. */
struct cfg_class_name {
	const char *name;
	size_t len;
	enum cfg_event_class cls;
};
static struct cfg_class_name cfg_class_index[96];
static size_t cfg_class_count;

static int cfg_class_cmp(const void *a, const void *b)
{
	const struct cfg_class_name *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void cfg_class_index_build(void)
{
	size_t i;

	for (i = 0; i < nitems(cfg_classes); i++) {
		const char *p = cfg_classes[i].names;

		while (*p != '\0') {
			size_t n;

			p += strspn(p, " ");
			n = strcspn(p, " ");
			if (n == 0)
				break;
			if (cfg_class_count == nitems(cfg_class_index))
				fatalx("cfg_class_index is too small");
			cfg_class_index[cfg_class_count++] = (struct cfg_class_name){
			        .name = p, .len = n, .cls = cfg_classes[i].cls};
			p += n;
		}
	}
	qsort(cfg_class_index, cfg_class_count, sizeof(cfg_class_index[0]), cfg_class_cmp);
}

enum cfg_event_class cfg_event_class(const char *name, size_t len)
{
	struct cfg_class_name key = {.name = name, .len = len};
	const struct cfg_class_name *hit;

	if (len == 0)
		return CFG_EV_UNCLASSIFIED;
	if (cfg_class_count == 0)
		cfg_class_index_build();
	hit = bsearch(&key, cfg_class_index, cfg_class_count, sizeof(cfg_class_index[0]),
	              cfg_class_cmp);
	return hit != NULL ? hit->cls : CFG_EV_UNCLASSIFIED;
}

static bool cfg_in_list(char *const *list, const char *name, size_t len)
{
	for (; list != NULL && *list != NULL; list++) {
		if (strlen(*list) == len && memcmp(*list, name, len) == 0)
			return true;
	}
	return false;
}

bool cfg_event_retained(const struct cfg *cfg, const char *name, size_t len)
{
	return cfg->pub_retain || cfg_in_list(cfg->pub_retain_events, name, len);
}

bool cfg_event_excluded(const struct cfg *cfg, const char *name, size_t len)
{
	return cfg_in_list(cfg->pub_events_exclude, name, len);
}

static void cfg_set_str(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

/*
 * A comma-separated value: fn for each item, blanks around it trimmed.
 * An empty value has no items; an empty item after a ',' is an error.
 */
typedef int cfg_item_fn(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                        void *ctx);
static int cfg_each_item(struct cfg_parse *cp, const struct cfg_key *k, const char *v,
                         cfg_item_fn *fn, void *ctx)
{
	const char *p = v;

	while (*p != '\0') {
		const char *start, *end, *next;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		next = strchr(p, ',');
		end = next != NULL ? next : p + strlen(p);
		p = next != NULL ? next + 1 : end;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (fn(cp, k, start, (size_t)(end - start), ctx) != 0)
			return -1;
		if (next != NULL && *p == '\0')
			return cfg_fail(cp, cp->cp_line, "%s: empty item after ','", k->k_name);
	}
	return 0;
}

struct cfg_names {
	char **n_list;
	size_t n_n, n_cap;
};

static int cfg_event_item(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                          void *ctx)
{
	struct cfg_names *names = ctx;

	if (!cfg_event_name_valid(s, len))
		return cfg_fail(cp, cp->cp_line,
		                "%s: '%.*s' is not an event name (1-128 characters of "
		                "A-Z a-z 0-9 _ . -)",
		                k->k_name, (int)len, s);
	if (names->n_n == names->n_cap) {
		names->n_cap = names->n_cap ? names->n_cap * 2 : 4;
		names->n_list = xrealloc(names->n_list, (names->n_cap + 1) * sizeof(char *));
	}
	names->n_list[names->n_n++] = xstrndup(s, len);
	names->n_list[names->n_n] = NULL;
	return 0;
}

static int cfg_set_evlist(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	char ***field = (char ***)((char *)cp->cp_cfg + k->k_off);
	struct cfg_names names = {xcalloc(1, sizeof(char *)), 0, 0};

	if (cfg_each_item(cp, k, v, cfg_event_item, &names) != 0) {
		cfg_free_list(names.n_list);
		return -1;
	}
	cfg_free_list(*field);
	*field = names.n_list;
	return 0;
}

static int cfg_cidr_item(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                         void *ctx)
{
	struct cfg *cfg = ctx;
	char item[128], err[ERR_LEN];

	if (len >= sizeof(item))
		return cfg_fail(cp, cp->cp_line, "%s: '%.*s' is too long for an address block",
		                k->k_name, (int)len, s);
	memcpy(item, s, len);
	item[len] = '\0';
	cfg->webhook_allow = xrealloc(cfg->webhook_allow,
	                              (cfg->webhook_allow_n + 1) * sizeof(*cfg->webhook_allow));
	if (net_cidr_parse(item, &cfg->webhook_allow[cfg->webhook_allow_n], err, sizeof(err)) != 0)
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
	cfg->webhook_allow_n++;
	return 0;
}

static int cfg_set_cidrlist(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;

	free(cfg->webhook_allow);
	cfg->webhook_allow = NULL;
	cfg->webhook_allow_n = 0;
	return cfg_each_item(cp, k, v, cfg_cidr_item, cfg);
}

static int cfg_set_url(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;
	char host[NET_HOST_LEN], err[ERR_LEN];
	uint16_t port = 0;
	const char *rest = v;

	if (strncmp(v, "mqtts://", 8) == 0) {
		rest = v + 8;
		cp->cp_url_tls = true;
	} else if (strncmp(v, "mqtt://", 7) == 0) {
		rest = v + 7;
		cp->cp_url_plain = true;
	} else if (strstr(v, "://") != NULL) {
		return cfg_fail(cp, cp->cp_line,
		                "%s: unknown scheme in '%s' (expected mqtt:// or mqtts://)",
		                k->k_name, v);
	}
	if (rest[0] != '\0' && rest[strlen(rest) - 1] == '/')
		return cfg_fail(cp, cp->cp_line, "%s: '%s': a path is not allowed", k->k_name, v);
	if (net_split_hostport(rest, host, sizeof(host), &port, 1883, err, sizeof(err)) != 0)
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
	cp->cp_url_port = strchr(rest[0] == '[' ? strchr(rest, ']') : rest, ':') != NULL;
	cfg_set_str(&cfg->broker_host, host);
	if (cp->cp_url_port)
		cfg->broker_port = port;
	return 0;
}

static int cfg_set_value(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;
	void *field = (char *)cfg + k->k_off;
	char host[NET_HOST_LEN], err[ERR_LEN];
	const char *why;
	uint64_t u;
	uint16_t port;

	switch (k->k_type) {
	case CT_TOKEN:
		for (const char *c = v; *c != '\0'; c++) {
			if (*c < 0x21 || *c > 0x7e)
				return cfg_fail(cp, cp->cp_line,
				                "%s: only visible ASCII characters are allowed "
				                "(no spaces)",
				                k->k_name);
		}
		/* fall through */
	case CT_STRING:
		if (strlen(v) < k->k_min || (k->k_max > 0 && strlen(v) > k->k_max))
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected %" PRIu64 " to %" PRIu64 " bytes, got %zu",
			                k->k_name, k->k_min, k->k_max, strlen(v));
		cfg_set_str(field, v);
		return 0;
	case CT_TOPIC:
		if (v[0] != '\0' && !topic_name_valid(v, strlen(v), &why))
			return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, why);
		cfg_set_str(field, v);
		return 0;
	case CT_BOOL:
		if (strcmp(v, "true") == 0)
			*(bool *)field = true;
		else if (strcmp(v, "false") == 0)
			*(bool *)field = false;
		else
			return cfg_fail(cp, cp->cp_line, "%s: expected true or false, got '%s'",
			                k->k_name, v);
		return 0;
	case CT_UINT:
	case CT_SIZE:
	case CT_QOS:
	case CT_PORT:
		if (cfg_parse_u64(v, k->k_min, k->k_max, &u) != 0)
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected an integer from %" PRIu64 " to %" PRIu64
			                ", got '%s'",
			                k->k_name, k->k_min, k->k_max, v);
		if (k->k_type == CT_UINT)
			*(unsigned *)field = (unsigned)u;
		else if (k->k_type == CT_SIZE)
			*(size_t *)field = (size_t)u;
		else if (k->k_type == CT_QOS)
			*(int *)field = (int)u;
		else
			*(uint16_t *)field = (uint16_t)u;
		return 0;
	case CT_URL:
		return cfg_set_url(cp, k, v);
	case CT_LISTEN:
		if (net_split_hostport(v, host, sizeof(host), &port, 0, err, sizeof(err)) != 0)
			return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
		cfg_set_str(&cfg->http_listen_host, host);
		cfg->http_listen_port = port;
		return 0;
	case CT_PROTOCOL:
		if (strcmp(v, "MQTTv311") == 0)
			cfg->broker_protocol = MQTT_PROTO_V311;
		else if (strcmp(v, "MQTTv31") == 0)
			cfg->broker_protocol = MQTT_PROTO_V31;
		else
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected MQTTv311 or MQTTv31, got '%s'", k->k_name, v);
		return 0;
	case CT_LOGLEVEL:
		if (log_level_parse(v, &cfg->log_level) != 0)
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected error, warn, info or debug, got '%s'",
			                k->k_name, v);
		return 0;
	case CT_EVLIST:
		return cfg_set_evlist(cp, k, v);
	case CT_CIDRLIST:
		return cfg_set_cidrlist(cp, k, v);
	case CT_RETAIN:
		/* true / false, or the events to retain (OctoPrint-MQTT retained
		 * ZChange and FirmwareData: say so with a list). */
		if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "no") == 0 ||
		    strcasecmp(v, "on") == 0 || strcasecmp(v, "off") == 0 ||
		    ((strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) &&
		     strcmp(v, "true") != 0 && strcmp(v, "false") != 0) ||
		    strcmp(v, "1") == 0 || strcmp(v, "0") == 0)
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected true, false or event names, got '%s'",
			                k->k_name, v);
		cp->cp_cfg->pub_retain = strcmp(v, "true") == 0;
		if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
			v = "";
		return cfg_set_evlist(cp, k, v);
	case CT_FLOAT: {
		const char *c = v;
		char *end;
		double d;

		while (*c >= '0' && *c <= '9')
			c++;
		if (c == v || (*c == '.' && (c[1] < '0' || c[1] > '9')))
			c = v; /* marks it bad */
		if (c != v && *c == '.')
			for (c++; *c >= '0' && *c <= '9'; c++)
				;
		d = strtod(v, &end);
		if (c == v || *c != '\0' || end != c || d > (double)k->k_max)
			return cfg_fail(cp, cp->cp_line,
			                "%s: expected a number from 0 to %" PRIu64
			                " (like 0.5), got '%s'",
			                k->k_name, k->k_max, v);
		*(double *)field = d;
		return 0;
	}
	}
	return cfg_fail(cp, cp->cp_line, "%s: internal error: unknown type", k->k_name);
}

static bool cfg_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool cfg_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One line (without its newline) into key and value; value written into
 * `val` (unquoted, unescaped). 1 if the line holds a setting, 0 if blank or
 * a comment, -1 on a syntax error.
 */
static int cfg_split_line(struct cfg_parse *cp, const char *s, size_t len, struct buf *key,
                          struct buf *val)
{
	size_t i = 0, kend;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	while (i < len && cfg_space(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	buf_reset(key);
	buf_reset(val);
	while (i < len && cfg_key_char(s[i]))
		buf_putc(key, s[i++]);
	kend = i;
	while (i < len && cfg_space(s[i]))
		i++;
	if (buf_len(key) == 0)
		return cfg_fail(cp, cp->cp_line, "expected a key before '='");
	if (i == len || s[i] != '=') {
		if (i < len && i == kend)
			return cfg_fail(cp, cp->cp_line, "bad character '%c' in key", s[i]);
		return cfg_fail(cp, cp->cp_line, "expected '=' after '%.*s'", (int)buf_len(key),
		                buf_data(key));
	}
	i++;
	while (i < len && cfg_space(s[i]))
		i++;
	if (i < len && s[i] == '"') {
		for (i++;; i++) {
			if (i == len)
				return cfg_fail(cp, cp->cp_line, "unterminated quoted value");
			if (s[i] == '"')
				break;
			if (s[i] == '\\') {
				if (i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
					buf_putc(val, s[++i]);
					continue;
				}
				return cfg_fail(cp, cp->cp_line,
				                "bad escape in quoted value (only \\\" and \\\\)");
			}
			buf_putc(val, s[i]);
		}
		for (i++; i < len && cfg_space(s[i]); i++)
			;
		if (i < len && s[i] != '#')
			return cfg_fail(cp, cp->cp_line, "unexpected text after the closing quote");
	} else {
		size_t end = i;

		while (end < len && s[end] != '#')
			end++;
		while (end > i && cfg_space(s[end - 1]))
			end--;
		buf_append(val, s + i, end - i);
	}
	buf_putc(val, '\0');
	buf_putc(key, '\0');
	return 1;
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
	unsigned line_id = cp->cp_seen[cfg_key_index("broker.client_id")];
	unsigned line_port = cp->cp_seen[cfg_key_index("broker.port")];
	const char *why;
	struct buf t;
	int rc = 0;

	if (cfg->broker_host == NULL)
		return cfg_fail(cp, 0, "broker.url is required");
	if (cp->cp_url_port && line_port > 0)
		return cfg_fail(cp, line_port,
		                "broker.port: the port is already set in broker.url");
	if (cfg->broker_password != NULL && cfg->broker_password_file != NULL)
		return cfg_fail(cp, cp->cp_seen[cfg_key_index("broker.password_file")],
		                "broker.password_file: broker.password is set too; use one");
	if (cfg_check_tls(cp) != 0)
		return -1;
	if (cfg->broker_reconnect_min > cfg->broker_reconnect_max)
		return cfg_fail(
		        cp, cp->cp_seen[cfg_key_index("broker.reconnect_min")],
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
		unsigned line = cp->cp_seen[cfg_key_index("publish.eventTopic")];

		if (line == 0)
			line = cp->cp_seen[cfg_key_index("publish.baseTopic")];
		rc = cfg_fail(cp, line, "publish.baseTopic + publish.eventTopic: %s", why);
	}
	if (rc == 0 && strcmp(cfg->pub_ts_field, "_event") == 0)
		rc = cfg_fail(cp, cp->cp_seen[cfg_key_index("publish.timestamp_fieldname")],
		              "publish.timestamp_fieldname: '_event' is the event name's member");
	/* The will/status topic, when in use, is checked the same way. */
	buf_reset(&t);
	buf_append_str(&t, cfg->pub_base_topic);
	buf_append_str(&t, cfg->pub_lw_topic);
	if (rc == 0 && cfg_lw_enabled(cfg) && !topic_name_valid(buf_data(&t), buf_len(&t), &why)) {
		unsigned line = cp->cp_seen[cfg_key_index("publish.lwTopic")];

		if (line == 0)
			line = cp->cp_seen[cfg_key_index("publish.baseTopic")];
		rc = cfg_fail(cp, line, "publish.baseTopic + publish.lwTopic: %s", why);
	}
	buf_free(&t);
	return rc;
}

int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, const char *hostname,
              char *err, size_t errlen)
{
	struct cfg_parse cp;
	struct buf key, val;
	size_t pos = 0;
	int rc = 0;

	memset(&cp, 0, sizeof(cp));
	cp.cp_cfg = cfg;
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
		memcpy(cfg->src_lines, cp.cp_seen, sizeof(cp.cp_seen));
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
