/*
 * api_local: what the files of api share, for them only: struct api, the
 * route handlers that the table in api.c names (api_publish.c, api_subs.c,
 * api_status.c), and the common answers (api.c).
 */
#ifndef OCTO_API_LOCAL_H
#define OCTO_API_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "http_server.h"
#include "mqtt_client.h" /* enum mqtt_pub_result */

/* A buffer that grew for a large request is given back above this size. */
#define API_BUF_KEEP 65536

struct registry;
struct subs;
struct webhook;
struct presence;
struct api_temp;

struct api {
	const struct api_opts *a_opts;
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
	/* POST /temperature: the last values published per sensor (api_publish.c). */
	struct api_temp *a_temps;
	size_t a_ntemps;
};

/*
 * A route of the table in api.c: called for a request whose method and
 * path it takes. Fills resp (status and JSON body).
 */
typedef void api_route_fn(struct api *api, const struct http_request *req,
                          struct http_response *resp);
/*
 * A route whose path ends in a name (/events/{name}, /subscriptions/{id}):
 * name[0..len) is the rest of the request's path, maybe empty, for the
 * route to check.
 */
typedef void api_name_route_fn(struct api *api, const struct http_request *req, const char *name,
                               size_t len, struct http_response *resp);

/* api_publish.c: POST /events/{name}, /progress/{kind}, /temperature, /publish. */
api_name_route_fn api_post_event, api_post_progress;
api_route_fn api_post_temperature, api_post_publish;
/* api_subs.c: POST, GET and DELETE /subscriptions, DELETE /subscriptions/{id}. */
api_route_fn api_post_subscription, api_list_subscriptions, api_delete_subscriptions;
api_name_route_fn api_delete_subscription;
/* api_status.c: POST and DELETE /presence, GET /status, /health, /metrics. */
api_route_fn api_post_presence, api_delete_presence, api_status, api_health, api_metrics;

/* The time now (api_new's now(), else the wall clock). */
time_t api_now(const struct api *api);
/*
 * {"accepted":true,"topic":a_topic} or {"accepted":false,"error":code,
 * "message":msg} with status: the answer to a publish.
 */
void api_accepted(struct api *api, struct http_response *resp, int status, bool accepted,
                  const char *code, const char *msg);
/* The answer to a publish that mqtt_client refused (503, or 413 too large). */
void api_refused(struct api *api, struct http_response *resp, enum mqtt_pub_result res);

#endif
