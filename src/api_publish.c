/*
 * api_publish: the publishing routes of api (DESIGN §5): POST
 * /events/{name}, /progress/{kind}, /temperature and /publish. Each turns
 * its body into one or more mqtt_client_publish() calls and answers 202
 * (200 for /publish), 400 for a bad body or name, or what api_refused()
 * says for a publish refused. Part of api (api_local.h).
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api_local.h"
#include "compat.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "mqtt_client.h"
#include "topic.h"

/* POST /temperature: the last values published for one sensor. */
struct api_temp {
	char t_name[129];
	bool t_has_actual, t_has_target; /* false: null */
	double t_actual, t_target;
};

/* baseTopic + template into a_topic, every placeholder replaced by name. */
static void api_topic(struct api *api, const char *t, const char *placeholder, const char *name,
                      size_t len)
{
	const size_t plen = strlen(placeholder);
	const char *hit;

	buf_reset(&api->a_topic);
	buf_append_str(&api->a_topic, api->a_opts->base_topic);
	while ((hit = strstr(t, placeholder)) != NULL) {
		buf_append(&api->a_topic, t, (size_t)(hit - t));
		buf_append(&api->a_topic, name, len);
		t = hit + plen;
	}
	buf_append_str(&api->a_topic, t);
}

/* The time of a request, for the timestamp member. */
static long long api_time(const struct api *api)
{
	return (long long)api_now(api);
}

/* Answer a publish of an event or progress: 202, or 503 (413) refused. */
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
 * Why an event is dropped by the settings (publish.eventActive,
 * events_exclude, publish.events.<class>), or NULL: it is published.
 */
static const char *api_event_dropped(const struct api_opts *o, const char *name, size_t len)
{
	if (!o->event_active)
		return "eventActive is false";
	if (events_listed(o->events_exclude, name, len))
		return "excluded";
	if (!o->event_class[events_class(name, len)])
		return "its class is off (publish.events)";
	return NULL;
}

/*
 * POST /events/{name}: the body object plus the event and timestamp
 * members, to baseTopic + eventTopic with {event} = name.
 */
void api_post_event(struct api *api, const struct http_request *req, const char *name, size_t len,
                    struct http_response *resp)
{
	const struct api_opts *o = api->a_opts;
	const char *why = NULL, *dropped;
	long long ts = 0;

	if (!events_name_valid(name, len)) {
		http_response_error(resp, 400, "invalid_name",
		                    "event name must be 1-128 characters of A-Z a-z 0-9 _ . -");
		return;
	}
	if (o->timestamp)
		ts = api_time(api);
	buf_reset(&api->a_payload);
	if (json_event_payload(req->body, req->body_len, name, len,
	                       o->timestamp ? o->ts_field : NULL, ts, &api->a_payload, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	api_topic(api, o->event_topic, "{event}", name, len);
	/* Dropped events are still accepted: the host has nothing to retry. */
	if ((dropped = api_event_dropped(o, name, len)) != NULL) {
		log_debug("event %.*s dropped: %s", (int)len, name, dropped);
		api->a_events_filtered++;
		api_accepted(api, resp, 202, true, NULL, NULL);
	} else {
		api_publish_answer(api, resp,
		                   mqtt_client_publish_buf(
		                           api->a_mc, buf_data(&api->a_topic),
		                           buf_len(&api->a_topic), &api->a_payload, o->qos,
		                           o->retain || events_listed(o->retain_events, name, len),
		                           o->queue_events));
	}
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

/*
 * POST /progress/{kind}: the body object plus the timestamp member, to
 * baseTopic + progressTopic with {progress} = kind; answered like events.
 */
void api_post_progress(struct api *api, const struct http_request *req, const char *kind,
                       size_t len, struct http_response *resp)
{
	const struct api_opts *o = api->a_opts;
	const char *why = NULL;

	if (!events_name_valid(kind, len)) {
		http_response_error(resp, 400, "invalid_name",
		                    "progress kind must be 1-128 characters of A-Z a-z 0-9 _ . -");
		return;
	}
	buf_reset(&api->a_payload);
	if (json_event_payload(req->body, req->body_len, NULL, 0, o->ts_field, api_time(api),
	                       &api->a_payload, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	api_topic(api, o->progress_topic, "{progress}", kind, len);
	if (!o->progress_active) {
		api->a_events_filtered++;
		api_accepted(api, resp, 202, true, NULL, NULL);
	} else {
		api_publish_answer(api, resp,
		                   mqtt_client_publish_buf(api->a_mc, buf_data(&api->a_topic),
		                                           buf_len(&api->a_topic), &api->a_payload,
		                                           o->qos, o->progress_retain,
		                                           o->queue_events));
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

/*
 * One sensor of POST /temperature, published when it moved since the
 * reading last published (or was never published). 1 published, 0 not,
 * -1 answered (400, or the publish refused).
 */
static int api_temp_sensor(struct api *api, const struct json_member *s, long long ts,
                           struct http_response *resp)
{
	const struct api_opts *o = api->a_opts;
	struct api_reading r = {{"null", "null"}, {4, 4}, {false, false}, {0, 0}};
	struct api_temp *t;
	enum mqtt_pub_result res;
	const char *why = NULL;

	if (json_object_each(s->value, s->value_len, api_reading_member, &r, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return -1;
	}
	/* Zero or null actual and target: nothing connected there. */
	if ((!r.r_has[0] || r.r_val[0] == 0) && (!r.r_has[1] || r.r_val[1] == 0))
		return 0;
	t = api_temp_find(api, s->key, s->key_len);
	if (t != NULL &&
	    !api_moved(t->t_has_actual, t->t_actual, r.r_has[0], r.r_val[0],
	               o->temperature_threshold) &&
	    !api_moved(t->t_has_target, t->t_target, r.r_has[1], r.r_val[1], 0.1))
		return 0;
	buf_reset(&api->a_payload);
	buf_append_str(&api->a_payload, "{\"actual\":");
	buf_append(&api->a_payload, r.r_text[0], r.r_len[0]);
	buf_append_str(&api->a_payload, ",\"target\":");
	buf_append(&api->a_payload, r.r_text[1], r.r_len[1]);
	buf_putc(&api->a_payload, ',');
	json_append_string(&api->a_payload, o->ts_field, strlen(o->ts_field));
	buf_appendf(&api->a_payload, ":%lld}", ts);
	api_topic(api, o->temperature_topic, "{temp}", s->key, s->key_len);
	res = mqtt_client_publish(api->a_mc, buf_data(&api->a_topic), buf_len(&api->a_topic),
	                          buf_data(&api->a_payload), buf_len(&api->a_payload), o->qos,
	                          false, true);
	if (res != MQTT_PUB_SENT && res != MQTT_PUB_QUEUED) {
		api->a_events_refused++;
		api_refused(api, resp, res);
		return -1;
	}
	api->a_events++;
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
	return 1;
}

/*
 * POST /temperature: {"time": unix seconds or null, "<sensor>": {"actual":
 * n, "target": n}, ...}; each sensor that moved to baseTopic +
 * temperatureTopic with {temp} = its name.
 */
void api_post_temperature(struct api *api, const struct http_request *req,
                          struct http_response *resp)
{
	struct api_tempreq q;
	const char *why = NULL;
	long long ts;
	size_t i, published = 0;
	int rc;

	memset(&q, 0, sizeof(q));
	if (json_object_each(req->body, req->body_len, api_temp_member, &q, &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	ts = q.q_time != NULL ? q.q_ts : api_time(api);
	for (i = 0; i < q.q_n && api->a_opts->temperature_active; i++) {
		if ((rc = api_temp_sensor(api, &q.q_sensor[i], ts, resp)) < 0)
			return;
		published += (size_t)rc;
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
		if (json_event_payload(pl->value, pl->value_len, NULL, 0, api->a_opts->ts_field,
		                       api_time(api), &api->a_payload, why) < 0)
			return -1;
	} else if (pl != NULL) {
		buf_append(&api->a_payload, pl->value, pl->value_len);
	}
	return 0;
}

void api_post_publish(struct api *api, const struct http_request *req, struct http_response *resp)
{
	struct api_publish p;
	const char *why = NULL;
	enum mqtt_pub_result res;

	memset(&p, 0, sizeof(p));
	p.p_api = api;
	if (json_object_each(req->body, req->body_len, api_publish_member, &p, &why) < 0 ||
	    api_publish_build(&p, &why) < 0) {
		http_response_error(resp, 400, "bad_request", why);
		goto done;
	}
	/* The payload's bytes go to the queue as they are: no copy. */
	res = mqtt_client_publish_buf(api->a_mc, buf_data(&api->a_topic), buf_len(&api->a_topic),
	                              &api->a_payload, p.p_qos, p.p_retained, p.p_queue);
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
