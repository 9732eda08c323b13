/*
 * cfg: the configuration file of DESIGN §4 and the validated settings.
 *
 * Format: `key = value` lines, `#` comments, blank lines; a value may be
 * double-quoted (then \" and \\ are the only escapes). Unknown keys,
 * duplicate keys and bad values are errors reported as "FILE:LINE: message".
 * Numbers are parsed strictly (digits only, bounded; no atoi).
 *
 * cfg_parse() is pure (no I/O) so it can be unit-tested and fuzzed;
 * cfg_load() reads the file (and broker.password_file) and calls it.
 */
#ifndef OCTO_CFG_H
#define OCTO_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"         /* struct api_opts */
#include "events.h"      /* EVENTS_NCLASSES */
#include "http_server.h" /* struct http_server_opts */
#include "log.h"
#include "mqtt_client.h" /* struct mqtt_client_opts */
#include "mqtt_codec.h"  /* MQTT_PROTO_V31, MQTT_PROTO_V311 */

struct cfg {
	/* broker.* */
	char *broker_host;            /* from broker.url (required), no brackets */
	uint16_t broker_port;         /* broker.port, or from the URL, default 1883 */
	char *broker_username;        /* NULL: unset */
	char *broker_password;        /* NULL: unset (broker.password or _file) */
	char *broker_password_file;   /* NULL: unset */
	unsigned broker_keepalive;    /* 0..65535, 0 disables */
	char *broker_client_id;       /* never NULL after cfg_parse (default built) */
	size_t broker_max_packet;     /* largest packet in either direction */
	unsigned broker_max_inflight; /* outbound QoS 1/2 awaiting acknowledgement, 1..65000 */
	bool broker_clean_session;
	int broker_protocol;           /* MQTT_PROTO_V311 or MQTT_PROTO_V31 */
	unsigned broker_reconnect_min; /* seconds, >= 1 */
	unsigned broker_reconnect_max; /* seconds, >= reconnect_min */
	bool broker_lw_retain;         /* retained flag of the will and status messages */
	bool broker_tls;               /* broker.tls, or an mqtts:// URL */
	char *broker_tls_ca_certs;     /* NULL: the system store */
	char *broker_tls_certfile;     /* client certificate, NULL: none */
	char *broker_tls_keyfile;      /* its key (set together with the certificate) */
	bool broker_tls_insecure;      /* skip the host-name check */
	bool broker_tls_verify;        /* check the certificate chain */

	/* publish.* */
	char *pub_base_topic;  /* "octoprint/" */
	char *pub_event_topic; /* "event/{event}" */
	bool pub_event_active;
	char **pub_events_exclude; /* event names, NULL-terminated (never NULL) */
	int pub_qos;               /* 0..2 */
	bool pub_retain;           /* publish.retain = true */
	char **pub_retain_events;  /* publish.retain = a list: these are retained */
	bool pub_timestamp;
	char *pub_ts_field;                    /* publish.timestamp_fieldname, "_timestamp" */
	bool pub_event_class[EVENTS_NCLASSES]; /* publish.events.<class> */
	char *pub_progress_topic;              /* "progress/{progress}" */
	bool pub_progress_active;
	bool pub_progress_retain;    /* progress messages retained (default true) */
	char *pub_temperature_topic; /* "temperature/{temp}" */
	bool pub_temperature_active;
	double pub_temperature_threshold; /* 0.1 */
	bool pub_queue_events;
	bool pub_lw_active; /* false: no will, no connected/disconnected messages */
	char *pub_lw_topic; /* "mqtt": will/status topic under baseTopic; "" disables */
	/* seconds; 0: the status follows the daemon only; above 0 it is
	 * `connected` only while the host calls POST /presence that often */
	unsigned pub_lw_host_timeout;

	/* queue.* */
	size_t queue_max_messages;
	size_t queue_max_bytes;
	char *queue_spool; /* directory, or NULL */

	/* subscribe.*, webhook.*, state.* */
	int sub_qos;                    /* QoS of the broker subscriptions */
	struct net_cidr *webhook_allow; /* webhook.allow: address blocks */
	size_t webhook_allow_n;
	unsigned webhook_timeout; /* seconds */
	unsigned webhook_retries;
	size_t webhook_max_pending;
	char *webhook_tls_ca_certs; /* https webhooks: NULL: the system store */
	bool webhook_tls_insecure;  /* https webhooks: skip the host-name check */
	char *state_file;

	/* http.* */
	char *http_listen_host; /* from http.listen, no brackets */
	uint16_t http_listen_port;
	size_t http_max_body;
	size_t http_max_header;
	unsigned http_max_connections;
	unsigned http_timeout;        /* seconds */
	unsigned http_header_timeout; /* seconds */
	char *http_token;             /* NULL: no authentication */

	/* shutdown.*, log.* */
	unsigned shutdown_grace; /* seconds */
	enum log_level log_level;

	/* Where the settings came from, for messages about them (cfg_where). */
	char *src_name;      /* the file name given to cfg_parse */
	unsigned *src_lines; /* the line each key was set on, 0 = default */
};

/* Fill every field with its documented default (broker_host stays NULL). */
void cfg_defaults(struct cfg *cfg);
/*
 * Parse `len` bytes of config text named `name` (for messages) into cfg,
 * which cfg_defaults() initialised. `hostname` builds the default client id
 * ("octomqttd-<hostname>", cut to 23 bytes for MQTT 3.1). 0 on success;
 * -1 with "name:LINE: message" in err.
 */
int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, const char *hostname,
              char *err, size_t errlen);
/* cfg_defaults + read `path` + cfg_parse + read broker.password_file. */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);
void cfg_free(struct cfg *cfg);

/*
 * "FILE:LINE: key" for the line that set key, or "FILE: key" when it has
 * its default: for messages about a setting found wrong after parsing
 * (a TLS file that does not load).
 */
const char *cfg_where(const struct cfg *cfg, const char *key, char *out, size_t outlen);

/*
 * Will and connected/disconnected messages in use: publish.lwActive and a
 * non-empty publish.lwTopic. Their topic is baseTopic + lwTopic.
 */
bool cfg_lw_enabled(const struct cfg *cfg);
/* Is `name` in publish.events_exclude (events_listed)? */
bool cfg_event_excluded(const struct cfg *cfg, const char *name, size_t len);
/* Is the event published retained (publish.retain true, or listed)? */
bool cfg_event_retained(const struct cfg *cfg, const char *name, size_t len);

/*
 * The options of each module, filled from the settings. String members
 * point into cfg: cfg outlives the module, or the module copies them.
 */
/* http.listen, http.max_*, http.timeout, http.header_timeout. */
void cfg_http_server_opts(const struct cfg *cfg, struct http_server_opts *o);
/*
 * http.token, the broker address (for /status) and the publish.* settings;
 * lw_enabled is cfg_lw_enabled().
 */
void cfg_api_opts(const struct cfg *cfg, struct api_opts *o);

/*
 * Strict unsigned parse of all of s: digits only, no sign, no spaces,
 * value in [min, max]. 0 or -1.
 */
int cfg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * The options of mqtt_client from cfg: its strings point into cfg, which
 * must outlive the client (and not change while it runs).
 */
void cfg_mqtt_client_opts(const struct cfg *cfg, struct mqtt_client_opts *o);

#endif
