/*
 * api: the routes of DESIGN §5 (the list is at the top of api.c). Turns
 * requests into mqtt_client, registry/subs and presence calls and builds
 * the JSON answers; no I/O of its own.
 */
#ifndef OCTO_API_H
#define OCTO_API_H

#include <time.h>

#include "http_server.h"

struct cfg;
struct mqtt_client;
struct api;

/* cfg and mc must outlive the api. now() may be NULL (then time(NULL)). */
struct api *api_new(const struct cfg *cfg, struct mqtt_client *mc, time_t (*now)(void));
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
