/*
 * api: the HTTP routes of DESIGN §5. No I/O: each request becomes
 * mqtt_client, registry/subs or presence calls and a JSON answer in
 * resp->body. Every route needs the bearer token when http.token is set
 * (401 otherwise).
 *
 *   POST /events/{name}        publish the event payload (202 / 400 / 503)
 *   POST /progress/{kind}      publish print or slicing progress (202 / 400 / 503)
 *   POST /temperature          publish the temperatures that moved (202 / 400 / 503)
 *   POST /publish              publish a message as given (200 / 400 / 413 / 503)
 *   POST /subscriptions        register a webhook subscription (201 / 200 / 400 / 403)
 *   GET /subscriptions         the registered subscriptions
 *   DELETE /subscriptions?url=URL[&topic=FILTER]  remove them (200 {"removed": n})
 *   DELETE /subscriptions/{id} remove one (200 / 404)
 *   POST/DELETE /presence      the host's heartbeat / goodbye (204 / 409)
 *   GET /status                state and counters as JSON
 *   GET /health                200 when connected to the broker, else 503
 *   GET /metrics               the same figures in Prometheus text format
 *   other methods there        405 with Allow
 *   any other path             404
 *
 * The topic and payload are built in buffers owned by struct api and
 * reused, so a request allocates nothing once they have grown.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cfg.h"
#include "json.h"
#include "log.h"
#include "mqtt_client.h"
#include "net.h"
#include "presence.h"
#include "registry.h"
#include "subs.h"
#include "topic.h"
#include "tls.h"
#include "webhook.h"

#define API_EVENTS_PREFIX "/events/"
/* A buffer that grew for a large request is given back above this size. */
#define API_BUF_KEEP 65536

struct api {
	const struct cfg *a_cfg;
	struct mqtt_client *a_mc;
	time_t (*a_now)(void);
	struct buf a_topic;              /* topic of the current event */
	struct buf a_payload;            /* rewritten payload, or scratch for a message */
	const struct http_server *a_srv; /* for request counters; may be NULL */
	struct registry *a_reg;          /* webhook subscriptions; may be NULL */
	struct subs *a_subs;
	struct webhook *a_wh;        /* stats, URL checks, loading the https CA bundle */
	struct presence *a_presence; /* publish.lwHostTimeout > 0, else NULL */
	time_t a_started;
	/* POST /events: answered 202 and published or queued / answered 202
	 * and dropped by configuration / answered 503. */
	uint64_t a_events, a_events_filtered, a_events_refused;
	/* POST /publish: answered 200 / answered 503. */
	uint64_t a_publishes, a_publishes_refused;
	/* POST /temperature: the last values published per sensor. */
	struct api_temp *a_temps;
	size_t a_ntemps;
};

struct api_temp {
	char t_name[129];
	bool t_has_actual, t_has_target; /* false: null */
	double t_actual, t_target;
};

struct api *api_new(const struct cfg *cfg, struct mqtt_client *mc, time_t (*now)(void))
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->a_cfg = cfg;
	api->a_mc = mc;
	api->a_now = now;
	buf_init(&api->a_topic);
	buf_init(&api->a_payload);
	api->a_started = now != NULL ? now() : wall_clock();
	return api;
}

void api_set_server(struct api *api, const struct http_server *srv)
{
	api->a_srv = srv;
}

void api_set_subscriptions(struct api *api, struct registry *reg, struct subs *subs,
                           struct webhook *wh)
{
	api->a_reg = reg;
	api->a_subs = subs;
	api->a_wh = wh;
}

void api_set_presence(struct api *api, struct presence *p)
{
	api->a_presence = p;
}

void api_free(struct api *api)
{
	if (api == NULL)
		return;
	buf_free(&api->a_topic);
	buf_free(&api->a_payload);
	free(api->a_temps);
	free(api);
}

/* {"accepted":true|false,...}: the answer to a publish. */
static void api_accepted(struct api *api, struct http_response *resp, int status, bool accepted,
                         const char *code, const char *msg)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_append_str(&resp->body, accepted ? "{\"accepted\":true" : "{\"accepted\":false");
	if (accepted) {
		buf_append_str(&resp->body, ",\"topic\":");
		json_append_string(&resp->body, buf_data(&api->a_topic), buf_len(&api->a_topic));
	} else {
		buf_append_str(&resp->body, ",\"error\":");
		json_append_string(&resp->body, code, strlen(code));
		buf_append_str(&resp->body, ",\"message\":");
		json_append_string(&resp->body, msg, strlen(msg));
	}
	buf_putc(&resp->body, '}');
}

/* The 503 answer to a publish that was not accepted. */
static void api_refused(struct api *api, struct http_response *resp, enum mqtt_pub_result res)
{
	switch (res) {
	case MQTT_PUB_NOT_CONNECTED:
		api_accepted(api, resp, 503, false, "not_connected", "not connected to the broker");
		break;
	case MQTT_PUB_QUEUE_FULL:
		api_accepted(api, resp, 503, false, "queue_full",
		             "offline queue is full (queue.max_messages / queue.max_bytes)");
		break;
	case MQTT_PUB_SPOOL_FAILED:
		api_accepted(api, resp, 503, false, "spool_error",
		             "could not store the message in queue.spool (see the log)");
		break;
	case MQTT_PUB_TOO_LARGE:
		/* Final: the broker would close the connection on it (DESIGN §4). */
		api_accepted(api, resp, 413, false, "payload_too_large",
		             "the message would exceed broker.max_packet");
		break;
	default:
		log_warnx("unexpected publish result %d", (int)res);
		http_response_error(resp, 500, "internal_error", "unexpected publish result");
		break;
	}
}

/* baseTopic + template into a_topic, every placeholder replaced by name. */
static void api_topic(struct api *api, const char *t, const char *placeholder, const char *name,
                      size_t len)
{
	const size_t plen = strlen(placeholder);
	const char *hit;

	buf_reset(&api->a_topic);
	buf_append_str(&api->a_topic, api->a_cfg->pub_base_topic);
	while ((hit = strstr(t, placeholder)) != NULL) {
		buf_append(&api->a_topic, t, (size_t)(hit - t));
		buf_append(&api->a_topic, name, len);
		t = hit + plen;
	}
	buf_append_str(&api->a_topic, t);
}

static void api_post_event(struct api *api, const struct http_request *req, const char *name,
                           size_t len, struct http_response *resp)
{
	const struct cfg *cfg = api->a_cfg;
	enum mqtt_pub_result res;
	const char *why = NULL;
	long long ts = 0;

	if (!events_name_valid(name, len)) {
		http_response_error(resp, 400, "invalid_name",
		                    "event name must be 1-128 characters of A-Z a-z 0-9 _ . -");
		return;
	}
	if (cfg->pub_timestamp)
		ts = (long long)(api->a_now != NULL ? api->a_now() : wall_clock());
	buf_reset(&api->a_payload);
	if (json_event_payload(req->body, req->body_len, name, len,
	                       cfg->pub_timestamp ? cfg->pub_ts_field : NULL, ts, &api->a_payload,
	                       &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	api_topic(api, cfg->pub_event_topic, "{event}", name, len);
	/* Dropped events are still accepted: the host has nothing to retry. */
	if (!cfg->pub_event_active || cfg_event_excluded(cfg, name, len) ||
	    !cfg->pub_event_class[events_class(name, len)]) {
		log_debug("event %.*s dropped: %s", (int)len, name,
		          !cfg->pub_event_active ? "eventActive is false"
		          : cfg_event_excluded(cfg, name, len)
		                  ? "excluded"
		                  : "its class is off (publish.events)");
		api->a_events_filtered++;
		api_accepted(api, resp, 202, true, NULL, NULL);
		goto done;
	}
	res = mqtt_client_publish(api->a_mc, buf_data(&api->a_topic), buf_len(&api->a_topic),
	                          buf_data(&api->a_payload), buf_len(&api->a_payload), cfg->pub_qos,
	                          cfg_event_retained(cfg, name, len), cfg->pub_queue_events);
	if (res == MQTT_PUB_SENT || res == MQTT_PUB_QUEUED) {
		api->a_events++;
		api_accepted(api, resp, 202, true, NULL, NULL);
	} else {
		api->a_events_refused++;
		api_refused(api, resp, res);
	}
done:
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

/* The time of a request, for the timestamp member. */
static long long api_time(const struct api *api)
{
	return (long long)(api->a_now != NULL ? api->a_now() : wall_clock());
}

/* Answer a publish of this build's own messages (progress): 202 or 503. */
static void api_publish_answer(struct api *api, struct http_response *resp,
                               enum mqtt_pub_result res)
{
	if (res == MQTT_PUB_SENT || res == MQTT_PUB_QUEUED) {
		api->a_events++;
		api_accepted(api, resp, 202, true, NULL, NULL);
	} else {
		api->a_events_refused++;
		api_refused(api, resp, res);
	}
}

/*
 * POST /progress/{kind}: the body object plus the timestamp member, to
 * baseTopic + progressTopic with {progress} = kind; answered like events.
 */
static void api_post_progress(struct api *api, const struct http_request *req, const char *kind,
                              size_t len, struct http_response *resp)
{
	const struct cfg *cfg = api->a_cfg;
	const char *why = NULL;

	if (!events_name_valid(kind, len)) {
		http_response_error(resp, 400, "invalid_name",
		                    "progress kind must be 1-128 characters of A-Z a-z 0-9 _ . -");
		return;
	}
	buf_reset(&api->a_payload);
	if (json_event_payload(req->body, req->body_len, NULL, 0, cfg->pub_ts_field, api_time(api),
	                       &api->a_payload, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	api_topic(api, cfg->pub_progress_topic, "{progress}", kind, len);
	if (!cfg->pub_progress_active) {
		api->a_events_filtered++;
		api_accepted(api, resp, 202, true, NULL, NULL);
	} else {
		api_publish_answer(
		        api, resp,
		        mqtt_client_publish(api->a_mc, buf_data(&api->a_topic),
		                            buf_len(&api->a_topic), buf_data(&api->a_payload),
		                            buf_len(&api->a_payload), cfg->pub_qos,
		                            cfg->pub_progress_retain, cfg->pub_queue_events));
	}
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

/* POST /temperature: the body read member by member. */
#define API_MAX_SENSORS 64
/* |time| below this (about 2^63) fits a long long. */
#define API_TIME_LIMIT 9.2e18

struct api_tempreq {
	const struct json_member *q_time;
	struct json_member q_time_m;
	long long q_ts; /* q_time's value */
	struct json_member q_sensor[API_MAX_SENSORS];
	size_t q_n;
};

static int api_temp_member(void *ctx, const struct json_member *m, const char **why)
{
	struct api_tempreq *q = ctx;

	if (json_key_is(m, "time")) {
		if (m->kind != JSON_NUMBER && m->kind != JSON_NULL) {
			*why = "time must be a number (unix seconds)";
			return -1;
		}
		q->q_time_m = *m;
		q->q_time = m->kind == JSON_NUMBER ? &q->q_time_m : NULL;
		if (q->q_time != NULL) {
			/* Converting a double outside long long's range is undefined. */
			double d = strtod(m->value, NULL);

			if (!(d > -API_TIME_LIMIT && d < API_TIME_LIMIT)) {
				*why = "time out of range (unix seconds)";
				return -1;
			}
			q->q_ts = (long long)d;
		}
		return 0;
	}
	if (m->kind != JSON_OBJECT) {
		*why = "each sensor must be an object {\"actual\": n, \"target\": n}";
		return -1;
	}
	if (!events_name_valid(m->key, m->key_len) || memchr(m->key, '\\', m->key_len)) {
		*why = "sensor names must be 1-128 characters of A-Z a-z 0-9 _ . -";
		return -1;
	}
	if (q->q_n == API_MAX_SENSORS) {
		*why = "more than 64 sensors";
		return -1;
	}
	q->q_sensor[q->q_n++] = *m;
	return 0;
}

/* One sensor's reading: the JSON text of actual and target ("null" if absent). */
struct api_reading {
	const char *r_text[2];
	size_t r_len[2];
	bool r_has[2];
	double r_val[2];
};

static int api_reading_member(void *ctx, const struct json_member *m, const char **why)
{
	struct api_reading *r = ctx;
	int i = json_key_is(m, "actual") ? 0 : json_key_is(m, "target") ? 1 : -1;

	if (i < 0)
		return 0; /* other members are OctoPrint's business */
	if (m->kind != JSON_NUMBER && m->kind != JSON_NULL) {
		*why = "actual and target must be numbers or null";
		return -1;
	}
	r->r_text[i] = m->value;
	r->r_len[i] = m->value_len;
	r->r_has[i] = m->kind == JSON_NUMBER;
	r->r_val[i] = r->r_has[i] ? strtod(m->value, NULL) : 0;
	if (!isfinite(r->r_val[i])) {
		*why = "actual and target must be finite numbers";
		return -1;
	}
	return 0;
}

static struct api_temp *api_temp_find(struct api *api, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < api->a_ntemps; i++) {
		if (strlen(api->a_temps[i].t_name) == len &&
		    memcmp(api->a_temps[i].t_name, name, len) == 0)
			return &api->a_temps[i];
	}
	return NULL;
}

/*
 * Moved by at least min since the last published value (or null changed)?
 * A margin of 1e-9 keeps 200.1 - 200 (0.0999999...) a move of 0.1.
 */
static bool api_moved(bool had, double was, bool has, double now, double min)
{
	if (had != has)
		return true;
	return has && (now - was >= min - 1e-9 || was - now >= min - 1e-9);
}

static void api_post_temperature(struct api *api, const struct http_request *req, const char *rest,
                                 size_t restlen, struct http_response *resp)
{
	const struct cfg *cfg = api->a_cfg;
	struct api_tempreq q;
	const char *why = NULL;
	long long ts;
	size_t i, published = 0;
	(void)rest;
	(void)restlen;

	memset(&q, 0, sizeof(q));
	if (json_object_each(req->body, req->body_len, api_temp_member, &q, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	ts = q.q_time != NULL ? q.q_ts : api_time(api);
	for (i = 0; i < q.q_n && cfg->pub_temperature_active; i++) {
		const struct json_member *s = &q.q_sensor[i];
		struct api_reading r = {{"null", "null"}, {4, 4}, {false, false}, {0, 0}};
		struct api_temp *t;
		enum mqtt_pub_result res;

		if (json_object_each(s->value, s->value_len, api_reading_member, &r, &why) < 0) {
			http_response_error(resp, 400, "invalid_json", why);
			return;
		}
		/* Zero or null actual and target: nothing connected there. */
		if ((!r.r_has[0] || r.r_val[0] == 0) && (!r.r_has[1] || r.r_val[1] == 0))
			continue;
		t = api_temp_find(api, s->key, s->key_len);
		if (t != NULL &&
		    !api_moved(t->t_has_actual, t->t_actual, r.r_has[0], r.r_val[0],
		               cfg->pub_temperature_threshold) &&
		    !api_moved(t->t_has_target, t->t_target, r.r_has[1], r.r_val[1], 0.1))
			continue;
		buf_reset(&api->a_payload);
		buf_append_str(&api->a_payload, "{\"actual\":");
		buf_append(&api->a_payload, r.r_text[0], r.r_len[0]);
		buf_append_str(&api->a_payload, ",\"target\":");
		buf_append(&api->a_payload, r.r_text[1], r.r_len[1]);
		buf_putc(&api->a_payload, ',');
		json_append_string(&api->a_payload, cfg->pub_ts_field, strlen(cfg->pub_ts_field));
		buf_appendf(&api->a_payload, ":%lld}", ts);
		api_topic(api, cfg->pub_temperature_topic, "{temp}", s->key, s->key_len);
		res = mqtt_client_publish(api->a_mc, buf_data(&api->a_topic),
		                          buf_len(&api->a_topic), buf_data(&api->a_payload),
		                          buf_len(&api->a_payload), cfg->pub_qos, false, true);
		if (res != MQTT_PUB_SENT && res != MQTT_PUB_QUEUED) {
			api->a_events_refused++;
			api_refused(api, resp, res);
			return;
		}
		api->a_events++;
		published++;
		if (t == NULL) {
			api->a_temps = xrealloc(api->a_temps, (api->a_ntemps + 1) * sizeof(*t));
			t = &api->a_temps[api->a_ntemps++];
			memcpy(t->t_name, s->key, s->key_len);
			t->t_name[s->key_len] = '\0';
		}
		t->t_has_actual = r.r_has[0];
		t->t_actual = r.r_val[0];
		t->t_has_target = r.r_has[1];
		t->t_target = r.r_val[1];
	}
	resp->status = 202;
	buf_reset(&resp->body);
	buf_appendf(&resp->body, "{\"accepted\":true,\"published\":%zu}", published);
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

/*
 * POST /publish: the body's members, read by api_publish_member(). The
 * payload is the decoded string, the JSON text of any other value, or the
 * base64-decoded bytes; it is built in api->a_payload.
 */
struct api_publish {
	struct api *p_api;
	const struct json_member *p_topic; /* a JSON string */
	const struct json_member *p_payload, *p_base64;
	struct json_member p_members[6];
	size_t p_n;
	int p_qos;
	bool p_retained, p_queue, p_timestamp;
};

static const char *const api_publish_fields[] = {
        "topic", "payload", "payload_base64", "retained", "qos", "allow_queueing", "timestamp",
};

/* A true/false member into *out; -1 with *why naming it otherwise. */
static int api_bool_member(const struct json_member *m, const char *name, bool *out,
                           const char **why)
{
	if (m->kind != JSON_TRUE && m->kind != JSON_FALSE) {
		*why = name;
		return -1;
	}
	*out = m->kind == JSON_TRUE;
	return 0;
}

/* A string member of POST /publish, kept as the last of p->p_members. */
static int api_string_member(struct api_publish *p, const struct json_member *m, const char *name,
                             const struct json_member **out, const char **why)
{
	if (m->kind != JSON_STRING) {
		*why = name;
		return -1;
	}
	*out = &p->p_members[p->p_n - 1];
	return 0;
}

static int api_publish_member(void *ctx, const struct json_member *m, const char **why)
{
	struct api_publish *p = ctx;
	struct api *api = p->p_api;
	size_t i, f;

	for (f = 0; f < nitems(api_publish_fields); f++)
		if (json_key_is(m, api_publish_fields[f]))
			break;
	/* Kept as text for the error message: the key as the client wrote it. */
	buf_reset(&api->a_topic);
	if (f == nitems(api_publish_fields)) {
		buf_append_str(&api->a_topic, "unknown member \"");
		buf_append(&api->a_topic, m->key, m->key_len > 64 ? 64 : m->key_len);
		buf_append_str(&api->a_topic, "\"");
		buf_putc(&api->a_topic, '\0');
		*why = buf_data(&api->a_topic);
		return -1;
	}
	for (i = 0; i < p->p_n; i++) {
		if (json_key_is(&p->p_members[i], api_publish_fields[f])) {
			buf_appendf(&api->a_topic, "member \"%s\" appears twice",
			            api_publish_fields[f]);
			buf_putc(&api->a_topic, '\0');
			*why = buf_data(&api->a_topic);
			return -1;
		}
	}
	p->p_members[p->p_n++] = *m;
	switch (f) {
	case 0:
		return api_string_member(p, m, "topic must be a string", &p->p_topic, why);
	case 1:
		p->p_payload = &p->p_members[p->p_n - 1];
		return 0;
	case 2:
		return api_string_member(p, m, "payload_base64 must be a string", &p->p_base64,
		                         why);
	case 3:
		return api_bool_member(m, "retained must be true or false", &p->p_retained, why);
	case 4:
		if (m->value_len != 1 || m->value[0] < '0' || m->value[0] > '2') {
			*why = "qos must be 0, 1 or 2";
			return -1;
		}
		p->p_qos = m->value[0] - '0';
		return 0;
	case 5:
		return api_bool_member(m, "allow_queueing must be true or false", &p->p_queue, why);
	default:
		return api_bool_member(m, "timestamp must be true or false", &p->p_timestamp, why);
	}
}

/*
 * Check the members that depend on each other and build topic (a_topic)
 * and payload (a_payload). 0, or -1 with *why.
 */
static int api_publish_build(struct api_publish *p, const char **why)
{
	struct api *api = p->p_api;
	const struct json_member *pl = p->p_payload;

	if (p->p_topic == NULL) {
		*why = "topic is required";
		return -1;
	}
	if (pl != NULL && p->p_base64 != NULL) {
		*why = "give payload or payload_base64, not both";
		return -1;
	}
	if (p->p_timestamp && (pl == NULL || pl->kind != JSON_OBJECT)) {
		*why = "timestamp: true needs a JSON object payload";
		return -1;
	}
	buf_reset(&api->a_topic);
	if (json_string_decode(p->p_topic->value, p->p_topic->value_len, &api->a_topic, why) < 0) {
		*why = "topic holds a lone surrogate escape (not UTF-8)";
		return -1;
	}
	if (!topic_name_valid(buf_data(&api->a_topic), buf_len(&api->a_topic), why))
		return -1;
	buf_reset(&api->a_payload);
	if (p->p_base64 != NULL) {
		if (json_base64_decode(p->p_base64->value + 1, p->p_base64->value_len - 2,
		                       &api->a_payload) < 0) {
			*why = "payload_base64 is not valid base64";
			return -1;
		}
	} else if (pl != NULL && pl->kind == JSON_STRING) {
		if (json_string_decode(pl->value, pl->value_len, &api->a_payload, why) < 0) {
			*why = "payload holds a lone surrogate escape (not UTF-8)";
			return -1;
		}
	} else if (pl != NULL && p->p_timestamp) {
		long long ts = (long long)(api->a_now != NULL ? api->a_now() : wall_clock());

		if (json_event_payload(pl->value, pl->value_len, NULL, 0, api->a_cfg->pub_ts_field,
		                       ts, &api->a_payload, why) < 0)
			return -1;
	} else if (pl != NULL) {
		buf_append(&api->a_payload, pl->value, pl->value_len);
	}
	return 0;
}

static void api_post_publish(struct api *api, const struct http_request *req, const char *rest,
                             size_t restlen, struct http_response *resp)
{
	struct api_publish p;
	const char *why = NULL;
	enum mqtt_pub_result res;
	(void)rest;
	(void)restlen;

	memset(&p, 0, sizeof(p));
	p.p_api = api;
	if (json_object_each(req->body, req->body_len, api_publish_member, &p, &why) < 0 ||
	    api_publish_build(&p, &why) < 0) {
		http_response_error(resp, 400, "bad_request", why);
		goto done;
	}
	res = mqtt_client_publish(api->a_mc, buf_data(&api->a_topic), buf_len(&api->a_topic),
	                          buf_data(&api->a_payload), buf_len(&api->a_payload), p.p_qos,
	                          p.p_retained, p.p_queue);
	if (res == MQTT_PUB_SENT || res == MQTT_PUB_QUEUED) {
		api->a_publishes++;
		resp->status = 200;
		buf_reset(&resp->body);
		buf_append_str(&resp->body, "{\"accepted\":true}");
	} else {
		api->a_publishes_refused++;
		api_refused(api, resp, res);
	}
done:
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
	buf_reset(&api->a_topic);
	buf_shrink(&api->a_topic, API_BUF_KEEP);
}

/*
 * POST /subscriptions: {"topic": filter, "url": URL, "args": [...],
 * "kwargs": {...}}. The members, then the checks of §5.
 */
struct api_subreq {
	struct api *q_api;
	char *q_topic, *q_url, *q_args, *q_kwargs;
};

static int api_sub_member(void *ctx, const struct json_member *m, const char **why)
{
	struct api_subreq *q = ctx;
	struct buf *t = &q->q_api->a_topic;
	char **field;

	if (json_key_is(m, "topic"))
		field = &q->q_topic;
	else if (json_key_is(m, "url"))
		field = &q->q_url;
	else if (json_key_is(m, "args"))
		field = &q->q_args;
	else if (json_key_is(m, "kwargs"))
		field = &q->q_kwargs;
	else {
		*why = "unknown member (topic, url, args, kwargs)";
		return -1;
	}
	if (*field != NULL) {
		*why = "a member appears twice";
		return -1;
	}
	if (field == &q->q_args || field == &q->q_kwargs) {
		if (m->kind == JSON_NULL)
			return 0;
		if (m->kind != (field == &q->q_args ? JSON_ARRAY : JSON_OBJECT)) {
			*why = "args must be an array and kwargs an object";
			return -1;
		}
		*field = xstrndup(m->value, m->value_len);
		return 0;
	}
	buf_reset(t);
	if (m->kind != JSON_STRING || json_string_decode(m->value, m->value_len, t, why) < 0 ||
	    (buf_len(t) > 0 && memchr(buf_data(t), '\0', buf_len(t)) != NULL)) {
		*why = "topic and url must be strings";
		return -1;
	}
	*field = xstrndup(buf_len(t) > 0 ? buf_data(t) : "", buf_len(t));
	return 0;
}

static void api_sub_answer(struct buf *b, const struct reg_entry *e, bool full)
{
	buf_append_str(b, "{\"id\":");
	json_append_string(b, e->id, strlen(e->id));
	buf_append_str(b, ",\"topic\":");
	json_append_string(b, e->topic, strlen(e->topic));
	buf_append_str(b, ",\"url\":");
	json_append_string(b, e->url, strlen(e->url));
	if (full) {
		buf_append_str(b, ",\"args\":");
		buf_append_str(b, e->args);
		buf_append_str(b, ",\"kwargs\":");
		buf_append_str(b, e->kwargs);
	}
	buf_putc(b, '}');
}

static void api_post_subscription(struct api *api, const struct http_request *req,
                                  struct http_response *resp)
{
	struct api_subreq q = {api, NULL, NULL, NULL, NULL};
	const struct reg_entry *e;
	const char *why = NULL;
	char err[ERR_LEN];
	bool created;
	int st;

	if (json_object_each(req->body, req->body_len, api_sub_member, &q, &why) < 0) {
		http_response_error(resp, 400, "bad_request", why);
		goto done;
	}
	if (q.q_topic == NULL || q.q_url == NULL) {
		http_response_error(resp, 400, "bad_request", "topic and url are required");
		goto done;
	}
	if (!topic_filter_valid(q.q_topic, strlen(q.q_topic), &why)) {
		http_response_error(resp, 400, "bad_request", why);
		goto done;
	}
	/* The host is looked up here (it may block, see doc/CHOICES.md) and
	 * every address it has must be inside webhook.allow. */
	st = webhook_check_url(api->a_wh, q.q_url, err, sizeof(err));
	if (st != 0) {
		http_response_error(resp, st, st == 403 ? "url_not_allowed" : "bad_request", err);
		goto done;
	}
	if (strncasecmp(q.q_url, "https://", 8) == 0 &&
	    webhook_tls_ready(api->a_wh, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		http_response_error(resp, 500, "tls_error", err);
		goto done;
	}
	e = registry_add(api->a_reg, q.q_topic, q.q_url, q.q_args, q.q_kwargs, &created, err,
	                 sizeof(err));
	if (e == NULL) {
		log_warnx("%s", err);
		http_response_error(resp, 500, "state_error", err);
		goto done;
	}
	if (created) {
		log_info("subscription %s: '%s' -> %s", e->id, e->topic, e->url);
		subs_sync(api->a_subs);
	}
	resp->status = created ? 201 : 200;
	buf_reset(&resp->body);
	api_sub_answer(&resp->body, e, false);
done:
	free(q.q_topic);
	free(q.q_url);
	free(q.q_args);
	free(q.q_kwargs);
}

static void api_list_subscriptions(struct api *api, struct http_response *resp)
{
	size_t i, n = registry_count(api->a_reg);

	resp->status = 200;
	buf_reset(&resp->body);
	buf_append_str(&resp->body, "{\"subscriptions\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&resp->body, ',');
		api_sub_answer(&resp->body, registry_at(api->a_reg, i), true);
	}
	buf_append_str(&resp->body, "]}");
}

/*
 * The value of `name` in a query string (application/x-www-form-urlencoded:
 * %XX and '+' for a space), NUL-terminated, newly allocated; NULL if
 * absent. *bad is set when a value is badly encoded.
 */
static char *api_query_value(const char *q, size_t qlen, const char *name, bool *bad)
{
	size_t nlen = strlen(name), i = 0;

	while (i < qlen) {
		size_t end = i, eq;
		struct buf v = BUF_INITIALIZER;
		char *out;

		while (end < qlen && q[end] != '&')
			end++;
		for (eq = i; eq < end && q[eq] != '='; eq++)
			;
		if (eq - i != nlen || memcmp(q + i, name, nlen) != 0) {
			i = end + 1;
			continue;
		}
		for (i = eq < end ? eq + 1 : end; i < end; i++) {
			int hi, lo;

			if (q[i] == '+') {
				buf_putc(&v, ' ');
			} else if (q[i] != '%') {
				buf_putc(&v, q[i]);
			} else if (i + 2 < end && (hi = hex_value((unsigned char)q[i + 1])) >= 0 &&
			           (lo = hex_value((unsigned char)q[i + 2])) >= 0 &&
			           (hi | lo) != 0) {
				buf_putc(&v, hi << 4 | lo);
				i += 2;
			} else {
				*bad = true;
				buf_free(&v);
				return NULL;
			}
		}
		out = xstrndup(buf_len(&v) > 0 ? buf_data(&v) : "", buf_len(&v));
		buf_free(&v);
		return out;
	}
	return NULL;
}

static void api_removed(struct api *api, struct http_response *resp, long n)
{
	resp->status = 200;
	buf_reset(&resp->body);
	buf_appendf(&resp->body, "{\"removed\":%ld}", n);
	if (n > 0)
		subs_sync(api->a_subs);
}

/* DELETE /subscriptions?url=URL[&topic=FILTER] */
static void api_delete_subscriptions(struct api *api, const struct http_request *req,
                                     struct http_response *resp)
{
	bool bad = false;
	char *url = api_query_value(req->query, req->query_len, "url", &bad);
	char *topic = bad ? NULL : api_query_value(req->query, req->query_len, "topic", &bad);
	char err[ERR_LEN];
	long n;

	if (bad || url == NULL) {
		http_response_error(resp, 400, "bad_request",
		                    bad ? "badly encoded query (%XX)" : "url= is required");
		goto done;
	}
	n = registry_remove_url(api->a_reg, url, topic, err, sizeof(err));
	if (n < 0) {
		log_warnx("%s", err);
		http_response_error(resp, 500, "state_error", err);
		goto done;
	}
	if (n > 0)
		log_info("%ld subscription(s) of %s%s%s removed", n, url, topic ? " on " : "",
		         topic ? topic : "");
	api_removed(api, resp, n);
done:
	free(url);
	free(topic);
}

#define API_SUBS_PATH "/subscriptions"

static void api_subscriptions(struct api *api, const struct http_request *req,
                              struct http_response *resp)
{
	const size_t plen = sizeof(API_SUBS_PATH) - 1;
	char id[REGISTRY_ID_LEN + 1], err[ERR_LEN];
	int rc;

	if (req->path_len == plen) {
		if (req->method == HTTP_POST)
			api_post_subscription(api, req, resp);
		else if (req->method == HTTP_GET || req->method == HTTP_HEAD)
			api_list_subscriptions(api, resp);
		else if (req->method == HTTP_DELETE)
			api_delete_subscriptions(api, req, resp);
		else {
			resp->allow = "GET, HEAD, POST, DELETE";
			http_response_error(resp, 405, "method_not_allowed",
			                    "GET, POST or DELETE on /subscriptions");
		}
		return;
	}
	/* /subscriptions/{id} */
	if (req->method != HTTP_DELETE) {
		resp->allow = "DELETE";
		http_response_error(resp, 405, "method_not_allowed",
		                    "only DELETE is allowed on /subscriptions/{id}");
		return;
	}
	if (req->path_len - plen - 1 != REGISTRY_ID_LEN) {
		http_response_error(resp, 404, "not_found", "no such subscription");
		return;
	}
	memcpy(id, req->path + plen + 1, REGISTRY_ID_LEN);
	id[REGISTRY_ID_LEN] = '\0';
	rc = registry_remove_id(api->a_reg, id, err, sizeof(err));
	if (rc < 0) {
		log_warnx("%s", err);
		http_response_error(resp, 500, "state_error", err);
	} else if (rc == 0) {
		http_response_error(resp, 404, "not_found", "no such subscription");
	} else {
		log_info("subscription %s removed", id);
		api_removed(api, resp, 1);
	}
}

/* Everything /status and /metrics report, read at one moment. */
struct api_figures {
	struct mqtt_client_stats mq;
	struct http_server_stats http;
	struct webhook_stats wh;
	uint64_t messages, deliveries, undeliverable; /* subs */
	uint64_t uptime;
};

static void api_figures(struct api *api, struct api_figures *f)
{
	time_t now = api->a_now != NULL ? api->a_now() : wall_clock();

	memset(f, 0, sizeof(*f));
	mqtt_client_stats(api->a_mc, &f->mq);
	if (api->a_srv != NULL)
		http_server_stats(api->a_srv, &f->http);
	if (api->a_wh != NULL)
		webhook_stats(api->a_wh, &f->wh);
	if (api->a_subs != NULL)
		subs_stats(api->a_subs, &f->messages, &f->deliveries, &f->undeliverable);
	f->uptime = now > api->a_started ? (uint64_t)(now - api->a_started) : 0;
}

static void api_broker(struct api *api, struct buf *out)
{
	const struct cfg *cfg = api->a_cfg;
	char addr[NET_ADDR_LEN];

	buf_append_str(out, net_addr_text(cfg->broker_host, cfg->broker_port, addr, sizeof(addr)));
}

/*
 * One table drives both /status "counters" and /metrics, so the two can
 * never disagree. Offsets point into struct api_figures or struct api.
 */
enum api_src { API_MQ, API_API, API_FIG };
static const struct api_counter {
	const char *name; /* JSON member; metric octomqttd_<name>_total */
	enum api_src src;
	size_t off;
	const char *help;
} api_counters[] = {
        {"events", API_API, offsetof(struct api, a_events),
         "Events accepted and published or queued."},
        {"events_filtered", API_API, offsetof(struct api, a_events_filtered),
         "Events accepted and not published (eventActive false or events_exclude)."},
        {"events_refused", API_API, offsetof(struct api, a_events_refused),
         "Events answered 503 (not connected, or the queue full)."},
        {"publishes", API_API, offsetof(struct api, a_publishes),
         "POST /publish requests accepted (published or queued)."},
        {"publishes_refused", API_API, offsetof(struct api, a_publishes_refused),
         "POST /publish requests answered 503 (not connected, or the queue full)."},
        {"published", API_MQ, offsetof(struct mqtt_client_stats, published),
         "Messages written to the broker connection."},
        {"queued", API_MQ, offsetof(struct mqtt_client_stats, queued),
         "Messages that waited in the offline queue."},
        {"refused", API_MQ, offsetof(struct mqtt_client_stats, refused),
         "Publishes refused (not connected, or the queue full)."},
        {"dropped", API_MQ, offsetof(struct mqtt_client_stats, dropped),
         "Accepted messages lost (each one also logged)."},
        {"connects", API_MQ, offsetof(struct mqtt_client_stats, connects),
         "Connections accepted by the broker."},
        {"reconnects", API_MQ, offsetof(struct mqtt_client_stats, reconnects),
         "Connection attempts after the first."},
        {"pings_sent", API_MQ, offsetof(struct mqtt_client_stats, pings_sent),
         "PINGREQ packets sent to the broker."},
        {"pings_unanswered", API_MQ, offsetof(struct mqtt_client_stats, pings_unanswered),
         "Connections dropped because a PINGREQ got no answer within broker.keepalive."},
        {"poison_dropped", API_MQ, offsetof(struct mqtt_client_stats, poison_dropped),
         "Messages dropped because the broker closed 3 connections in a row on them "
         "(also in dropped; logged)."},
        {"input_pauses", API_MQ, offsetof(struct mqtt_client_stats, pauses),
         "Times reading from the broker paused because webhook deliveries backed up."},
        {"messages_received", API_FIG, offsetof(struct api_figures, messages),
         "Messages received from the broker."},
        {"deliveries", API_FIG, offsetof(struct api_figures, deliveries),
         "Webhook deliveries queued (one per matching subscription)."},
        {"undeliverable", API_FIG, offsetof(struct api_figures, undeliverable),
         "Deliveries not queued: the subscription has no usable target (logged)."},
        {"webhook_delivered", API_FIG, offsetof(struct api_figures, wh.delivered),
         "Webhook requests answered 2xx."},
        {"webhook_retried", API_FIG, offsetof(struct api_figures, wh.retried),
         "Webhook requests tried again after a failure."},
        {"webhook_failed", API_FIG, offsetof(struct api_figures, wh.failed),
         "Webhook deliveries given up (final status, or retries exhausted; logged)."},
        {"webhook_dropped", API_FIG, offsetof(struct api_figures, wh.dropped),
         "Webhook deliveries dropped over webhook.max_pending (logged)."},
        {"http_evicted", API_FIG, offsetof(struct api_figures, http.evicted),
         "Stalled HTTP connections closed to admit a new one (all slots taken)."},
};

static uint64_t api_counter_value(const struct api *api, const struct api_figures *f,
                                  const struct api_counter *c)
{
	const char *base = c->src == API_MQ    ? (const char *)&f->mq
	                   : c->src == API_FIG ? (const char *)f
	                                       : (const char *)api;
	uint64_t v;

	memcpy(&v, base + c->off, sizeof(v));
	return v;
}

/*
 * /status "publish": the topic settings in force, under OctoPrint-MQTT's
 * names, so the OctoPrint plugin can serve them as plugins.mqtt.publish.*
 * (DESIGN §9), and the presence state.
 */
static void api_status_publish(struct api *api, struct buf *b)
{
	static const struct {
		const char *name;
		size_t off;
	} topics[] = {
	        {"baseTopic", offsetof(struct cfg, pub_base_topic)},
	        {"eventTopic", offsetof(struct cfg, pub_event_topic)},
	        {"progressTopic", offsetof(struct cfg, pub_progress_topic)},
	        {"temperatureTopic", offsetof(struct cfg, pub_temperature_topic)},
	        {"lwTopic", offsetof(struct cfg, pub_lw_topic)},
	        {"timestamp_fieldname", offsetof(struct cfg, pub_ts_field)},
	};
	const struct cfg *cfg = api->a_cfg;
	size_t i;

	buf_append_str(b, ",\"publish\":{");
	for (i = 0; i < nitems(topics); i++) {
		const char *v = *(char *const *)(const void *)((const char *)cfg + topics[i].off);

		if (v == NULL)
			v = "";

		buf_appendf(b, "\"%s\":", topics[i].name);
		json_append_string(b, v, strlen(v));
		buf_putc(b, ',');
	}
	buf_appendf(b,
	            "\"eventActive\":%s,\"progressActive\":%s,\"progressRetain\":%s,"
	            "\"temperatureActive\":%s,\"lwActive\":%s,\"lwRetain\":%s,"
	            "\"lwHostTimeout\":%u,\"hostUp\":%s}",
	            cfg->pub_event_active ? "true" : "false",
	            cfg->pub_progress_active ? "true" : "false",
	            cfg->pub_progress_retain ? "true" : "false",
	            cfg->pub_temperature_active ? "true" : "false",
	            cfg_lw_enabled(cfg) ? "true" : "false",
	            cfg->broker_lw_retain ? "true" : "false", cfg->pub_lw_host_timeout,
	            api->a_presence == NULL             ? "null"
	            : presence_host_up(api->a_presence) ? "true"
	                                                : "false");
}

static void api_status(struct api *api, struct http_response *resp)
{
	struct api_figures f;
	struct buf *b = &resp->body;
	size_t i;

	api_figures(api, &f);
	buf_reset(b);
	buf_append_str(b, "{\"version\":");
	json_append_string(b, PACKAGE_VERSION, strlen(PACKAGE_VERSION));
	buf_appendf(b, ",\"connected\":%s,\"broker\":\"", f.mq.connected ? "true" : "false");
	buf_reset(&api->a_topic);
	api_broker(api, &api->a_topic);
	buf_append(b, buf_data(&api->a_topic), buf_len(&api->a_topic));
	buf_appendf(b,
	            "\",\"uptime\":%" PRIu64 ",\"queue\":{\"messages\":%zu,\"bytes\":%zu},"
	            "\"inflight\":%zu,\"acks_held\":%zu,\"subscriptions\":%zu,\"counters\":{",
	            f.uptime, f.mq.queue_messages, f.mq.queue_bytes, f.mq.inflight, f.mq.acks_held,
	            api->a_reg != NULL ? registry_count(api->a_reg) : (size_t)0);
	for (i = 0; i < nitems(api_counters); i++)
		buf_appendf(b, "\"%s\":%" PRIu64 ",", api_counters[i].name,
		            api_counter_value(api, &f, &api_counters[i]));
	buf_appendf(b,
	            "\"http_1xx\":%" PRIu64 ",\"http_2xx\":%" PRIu64 ",\"http_3xx\":%" PRIu64
	            ",\"http_4xx\":%" PRIu64 ",\"http_5xx\":%" PRIu64 "}",
	            f.http.responses[1], f.http.responses[2], f.http.responses[3],
	            f.http.responses[4], f.http.responses[5]);
	api_status_publish(api, b);
	buf_putc(b, '}');
	resp->status = 200;
}

static void api_health(struct api *api, struct http_response *resp)
{
	if (mqtt_client_connected(api->a_mc)) {
		resp->status = 200;
		buf_reset(&resp->body);
		buf_append_str(&resp->body, "{\"status\":\"ok\"}");
		return;
	}
	http_response_error(resp, 503, "not_connected", "not connected to the broker");
}

static void api_metrics(struct api *api, struct http_response *resp)
{
	static const char *const classes[] = {NULL, "1xx", "2xx", "3xx", "4xx", "5xx"};
	struct api_figures f;
	struct buf *b = &resp->body;
	size_t i;

	api_figures(api, &f);
	buf_reset(b);
	for (i = 0; i < nitems(api_counters); i++)
		buf_appendf(b,
		            "# HELP octomqttd_%s_total %s\n# TYPE octomqttd_%s_total counter\n"
		            "octomqttd_%s_total %" PRIu64 "\n",
		            api_counters[i].name, api_counters[i].help, api_counters[i].name,
		            api_counters[i].name, api_counter_value(api, &f, &api_counters[i]));
	buf_append_str(b, "# HELP octomqttd_http_responses_total HTTP responses sent, by status "
	                  "class.\n# TYPE octomqttd_http_responses_total counter\n");
	for (i = 1; i < nitems(classes); i++)
		buf_appendf(b, "octomqttd_http_responses_total{class=\"%s\"} %" PRIu64 "\n",
		            classes[i], f.http.responses[i]);
	buf_appendf(b,
	            "# HELP octomqttd_connected 1 when connected to the broker.\n"
	            "# TYPE octomqttd_connected gauge\noctomqttd_connected %d\n"
	            "# HELP octomqttd_queue_messages Messages in the offline queue.\n"
	            "# TYPE octomqttd_queue_messages gauge\noctomqttd_queue_messages %zu\n"
	            "# HELP octomqttd_queue_bytes Bytes in the offline queue.\n"
	            "# TYPE octomqttd_queue_bytes gauge\noctomqttd_queue_bytes %zu\n"
	            "# HELP octomqttd_inflight QoS 1/2 messages not yet acknowledged.\n"
	            "# TYPE octomqttd_inflight gauge\noctomqttd_inflight %zu\n"
	            "# HELP octomqttd_acks_held Inbound QoS 1/2 messages whose acknowledgement "
	            "waits for their webhook deliveries.\n"
	            "# TYPE octomqttd_acks_held gauge\noctomqttd_acks_held %zu\n"
	            "# HELP octomqttd_http_connections Open HTTP connections.\n"
	            "# TYPE octomqttd_http_connections gauge\noctomqttd_http_connections %zu\n"
	            "# HELP octomqttd_uptime_seconds Seconds since start.\n"
	            "# TYPE octomqttd_uptime_seconds gauge\noctomqttd_uptime_seconds %" PRIu64 "\n",
	            f.mq.connected ? 1 : 0, f.mq.queue_messages, f.mq.queue_bytes, f.mq.inflight,
	            f.mq.acks_held, f.http.connections, f.uptime);
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static bool api_path_is(const struct http_request *req, const char *path)
{
	return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

/*
 * POST /presence (heartbeat) and DELETE /presence (goodbye), DESIGN §5:
 * an empty body, 204; 409 presence_disabled when publish.lwHostTimeout is 0.
 */
static void api_presence(struct api *api, const struct http_request *req,
                         struct http_response *resp)
{
	if (req->method != HTTP_POST && req->method != HTTP_DELETE) {
		resp->allow = "POST, DELETE";
		http_response_error(resp, 405, "method_not_allowed",
		                    "only POST and DELETE are allowed on /presence");
		return;
	}
	if (req->body_len > 0) {
		http_response_error(resp, 400, "invalid_body", "/presence takes an empty body");
		return;
	}
	if (api->a_presence == NULL) {
		http_response_error(resp, 409, "presence_disabled",
		                    "publish.lwHostTimeout is 0: the status topic follows the "
		                    "daemon only");
		return;
	}
	if (req->method == HTTP_POST)
		presence_beat(api->a_presence);
	else
		presence_gone(api->a_presence);
	resp->status = 204;
	buf_reset(&resp->body);
}

static const struct {
	const char *path;
	void (*fn)(struct api *, struct http_response *);
} api_get_routes[] = {
        {"/status", api_status},
        {"/health", api_health},
        {"/metrics", api_metrics},
};

/*
 * http.token: "Authorization: Bearer <token>" (scheme case-insensitive,
 * RFC 6750). The comparison takes the same time wherever the first
 * difference is, so the token cannot be guessed byte by byte from timing.
 */
static bool api_authorized(const struct api *api, const struct http_request *req)
{
	const char *token = api->a_cfg->http_token;
	const struct http_header *h;
	size_t tlen, vlen, i;
	unsigned char diff;

	if (token == NULL)
		return true;
	h = http_request_header(req, "Authorization");
	if (h == NULL || h->value_len < 7 || strncasecmp(h->value, "Bearer ", 7) != 0)
		return false;
	tlen = strlen(token);
	vlen = h->value_len - 7;
	diff = vlen != tlen;
	for (i = 0; i < tlen; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < vlen ? h->value[7 + i] : 0);
	return diff == 0;
}

/* The POST routes: an exact path, or a prefix whose rest is the name. */
static const struct {
	const char *path;
	bool prefix;
	const char *what; /* the route as the 405 message names it */
	void (*fn)(struct api *, const struct http_request *, const char *, size_t,
	           struct http_response *);
} api_post_routes[] = {
        {API_EVENTS_PREFIX, true, "/events/{name}", api_post_event},
        {"/progress/", true, "/progress/{kind}", api_post_progress},
        {"/temperature", false, "/temperature", api_post_temperature},
        {"/publish", false, "/publish", api_post_publish},
};

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	size_t i;

	if (!api_authorized(api, req)) {
		resp->www_authenticate = "Bearer realm=\"octomqttd\"";
		http_response_error(resp, 401, "unauthorized",
		                    "missing or wrong bearer token (http.token)");
		return;
	}

	for (i = 0; i < nitems(api_get_routes); i++) {
		if (!api_path_is(req, api_get_routes[i].path))
			continue;
		if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
			resp->allow = "GET, HEAD";
			http_response_error(resp, 405, "method_not_allowed",
			                    "only GET and HEAD are allowed here");
			return;
		}
		api_get_routes[i].fn(api, resp);
		return;
	}

	if (api_path_is(req, "/presence")) {
		api_presence(api, req, resp);
		return;
	}
	if (api->a_reg != NULL &&
	    (api_path_is(req, API_SUBS_PATH) ||
	     (req->path_len > sizeof(API_SUBS_PATH) &&
	      memcmp(req->path, API_SUBS_PATH "/", sizeof(API_SUBS_PATH)) == 0))) {
		api_subscriptions(api, req, resp);
		return;
	}
	for (i = 0; i < nitems(api_post_routes); i++) {
		const char *path = api_post_routes[i].path;
		size_t n = strlen(path);

		if (api_post_routes[i].prefix ? req->path_len < n || memcmp(req->path, path, n) != 0
		                              : !api_path_is(req, path))
			continue;
		if (req->method != HTTP_POST) {
			resp->allow = "POST";
			buf_reset(&api->a_payload);
			buf_appendf(&api->a_payload, "only POST is allowed on %s",
			            api_post_routes[i].what);
			buf_putc(&api->a_payload, '\0');
			http_response_error(resp, 405, "method_not_allowed",
			                    buf_data(&api->a_payload));
			return;
		}
		api_post_routes[i].fn(api, req, req->path + n, req->path_len - n, resp);
		return;
	}
	buf_reset(&api->a_payload);
	buf_appendf(&api->a_payload, "no such route: %.*s", (int)req->path_len, req->path);
	buf_putc(&api->a_payload, '\0');
	http_response_error(resp, 404, "not_found", buf_data(&api->a_payload));
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}
