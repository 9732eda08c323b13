/*
 * api: the routes of DESIGN §5 (the list is at the top of api.c). Turns
 * requests into mqtt_client, registry/subs and presence calls and builds
 * the JSON answers; no I/O of its own. The routes are one table (api.c);
 * the publishing routes are in api_publish.c, /subscriptions in
 * api_subs.c, /presence, /status, /health and /metrics in api_status.c.
 */
#ifndef OCTO_API_H
#define OCTO_API_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "events.h" /* EVENTS_NCLASSES */
#include "http_server.h"

struct mqtt_client;
struct api;

/*
 * The settings the routes read (DESIGN §4; cfg_api_opts() fills them).
 * Strings and lists are not copied: they must outlive the api.
 */
struct api_opts {
	const char *token;       /* http.token; NULL: no authentication */
	const char *broker_host; /* /status "broker", with broker_port */
	uint16_t broker_port;

	/* publish.*: each topic is baseTopic + its template */
	const char *base_topic;            /* publish.baseTopic */
	const char *event_topic;           /* publish.eventTopic: {event} = the name */
	bool event_active;                 /* publish.eventActive */
	bool event_class[EVENTS_NCLASSES]; /* publish.events.<class> */
	char *const *events_exclude;       /* publish.events_exclude, NULL-terminated */
	bool retain;                       /* publish.retain = true: every event retained */
	char *const *retain_events;        /* publish.retain = a list: these, NULL-terminated */
	int qos;                           /* publish.qos: events, progress, temperatures */
	bool queue_events;                 /* publish.queue_events */
	bool timestamp;                    /* publish.timestamp: the member in events */
	const char *ts_field;              /* publish.timestamp_fieldname */
	const char *progress_topic;        /* publish.progressTopic: {progress} = the kind */
	bool progress_active;              /* publish.progressActive */
	bool progress_retain;              /* publish.progressRetain */
	const char *temperature_topic;     /* publish.temperatureTopic: {temp} = the sensor */
	bool temperature_active;           /* publish.temperatureActive */
	double temperature_threshold;      /* publish.temperatureThreshold */

	/* only reported by /status "publish" */
	const char *lw_topic;     /* publish.lwTopic (NULL: "") */
	bool lw_enabled;          /* will and status messages in use (cfg_lw_enabled) */
	bool lw_retain;           /* broker.lwRetain */
	unsigned lw_host_timeout; /* publish.lwHostTimeout */
};

/*
 * opts and mc must outlive the api; the routes read opts at each request.
 * now() may be NULL (then time(NULL)).
 */
struct api *api_new(const struct api_opts *opts, struct mqtt_client *mc, time_t (*now)(void));
void api_free(struct api *api);
/* The server whose response counters /status and /metrics report (main
 * sets it once both exist; without it they report zeros). */
void api_set_server(struct api *api, const struct http_server *srv);
/*
 * The webhook subscriptions (§5 /subscriptions routes; without them 404).
 * wh checks the URLs of registrations (webhook_check_url) and must not be
 * NULL.
 */
struct registry;
struct subs;
struct webhook;
void api_set_subscriptions(struct api *api, struct registry *reg, struct subs *subs,
                           struct webhook *wh);
/*
 * publish.lwHostTimeout > 0: POST/DELETE /presence drive p (without it
 * they answer 409 presence_disabled). p must outlive the api.
 */
struct presence;
void api_set_presence(struct api *api, struct presence *p);
/*
 * An http_handler_fn: ctx is the struct api. Serves every route of
 * DESIGN §5: POST /events/{name} (202 accepted, published or dropped by
 * publish.eventActive / events_exclude; 400 invalid_name / invalid_json;
 * 503 not_connected / queue_full), /progress/{kind}, /temperature,
 * /publish, /subscriptions (with api_set_subscriptions), POST/DELETE
 * /presence, GET /status, /health, /metrics; 401 without the token of
 * http.token; other methods on a known path get 405 with Allow, other
 * paths 404. The body is replaced by a compact JSON answer.
 */
void api_handle(void *ctx, const struct http_request *req, struct http_response *resp);

#endif
