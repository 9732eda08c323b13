/*
 * api: the HTTP routes of DESIGN §5 that this build serves. No I/O: each
 * request becomes at most one mqtt_client_publish() and a JSON answer in
 * resp->body.
 *
 *   POST /events/{name}   publish the event payload (202 / 400 / 503)
 *   other methods there   405 with Allow: POST
 *   any other path        404
 *
 * The topic and payload are built in buffers owned by struct api and
 * reused, so a request allocates nothing once they have grown.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "json.h"
#include "log.h"
#include "mqtt_client.h"

#define API_EVENTS_PREFIX  "/events/"
#define API_EVENT_NAME_MAX 128
#define API_TS_FIELD       "_timestamp"
/* A buffer that grew for a large request is given back above this size. */
#define API_BUF_KEEP 65536

struct api {
	const struct cfg *a_cfg;
	struct mqtt_client *a_mc;
	time_t (*a_now)(void);
	struct buf a_topic;   /* topic of the current event */
	struct buf a_payload; /* rewritten payload, or scratch for a message */
};

struct api *api_new(const struct cfg *cfg, struct mqtt_client *mc, time_t (*now)(void))
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->a_cfg = cfg;
	api->a_mc = mc;
	api->a_now = now;
	buf_init(&api->a_topic);
	buf_init(&api->a_payload);
	return api;
}

void api_free(struct api *api)
{
	if (api == NULL)
		return;
	buf_free(&api->a_topic);
	buf_free(&api->a_payload);
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

static bool api_event_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > API_EVENT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* baseTopic + eventTopic, with every "{event}" replaced by the name. */
static void api_event_topic(struct api *api, const char *name, size_t len)
{
	static const char placeholder[] = "{event}";
	const size_t plen = sizeof(placeholder) - 1;
	const char *t = api->a_cfg->pub_event_topic, *hit;

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

	if (!api_event_name_ok(name, len)) {
		http_response_error(resp, 400, "invalid_name",
		                    "event name must be 1-128 characters of A-Z a-z 0-9 _ . -");
		return;
	}
	if (cfg->pub_timestamp)
		ts = (long long)(api->a_now != NULL ? api->a_now() : time(NULL));
	buf_reset(&api->a_payload);
	if (json_event_payload(req->body, req->body_len, name, len,
	                       cfg->pub_timestamp ? API_TS_FIELD : NULL, ts, &api->a_payload,
	                       &why) < 0) {
		http_response_error(resp, 400, "invalid_json", why);
		return;
	}
	api_event_topic(api, name, len);
	/* Dropped events are still accepted: the host has nothing to retry. */
	if (!cfg->pub_event_active || cfg_event_excluded(cfg, name, len)) {
		log_debug("event %.*s dropped: %s", (int)len, name,
		          cfg->pub_event_active ? "excluded" : "eventActive is false");
		api_accepted(api, resp, 202, true, NULL, NULL);
		goto done;
	}
	res = mqtt_client_publish(api->a_mc, buf_data(&api->a_topic), buf_len(&api->a_topic),
	                          buf_data(&api->a_payload), buf_len(&api->a_payload), cfg->pub_qos,
	                          cfg->pub_retain, cfg->pub_queue_events);
	switch (res) {
	case MQTT_PUB_SENT:
	case MQTT_PUB_QUEUED:
		api_accepted(api, resp, 202, true, NULL, NULL);
		break;
	case MQTT_PUB_NOT_CONNECTED:
		api_accepted(api, resp, 503, false, "not_connected", "not connected to the broker");
		break;
	case MQTT_PUB_QUEUE_FULL:
		api_accepted(api, resp, 503, false, "queue_full",
		             "offline queue is full (queue.max_messages / queue.max_bytes)");
		break;
	default:
		log_warnx("event %.*s: unexpected publish result %d", (int)len, name, (int)res);
		http_response_error(resp, 500, "internal_error", "unexpected publish result");
		break;
	}
done:
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	const size_t plen = sizeof(API_EVENTS_PREFIX) - 1;

	if (req->path_len >= plen && memcmp(req->path, API_EVENTS_PREFIX, plen) == 0) {
		if (req->method != HTTP_POST) {
			resp->allow = "POST";
			http_response_error(resp, 405, "method_not_allowed",
			                    "only POST is allowed on /events/{name}");
			return;
		}
		api_post_event(api, req, req->path + plen, req->path_len - plen, resp);
		return;
	}
	buf_reset(&api->a_payload);
	buf_appendf(&api->a_payload, "no such route: %.*s", (int)req->path_len, req->path);
	buf_putc(&api->a_payload, '\0');
	http_response_error(resp, 404, "not_found", buf_data(&api->a_payload));
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}
