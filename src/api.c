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
 * The routes are one table (api_routes below: method + path -> handler);
 * the 404 and 405 answers come from it. The handlers live in
 * api_publish.c, api_subs.c and api_status.c (struct api in api_local.h).
 * The topic and payload are built in buffers owned by struct api and
 * reused, so a request allocates nothing once they have grown.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_local.h"
#include "compat.h"
#include "json.h"
#include "log.h"

struct api *api_new(const struct api_opts *opts, struct mqtt_client *mc, time_t (*now)(void))
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->a_opts = opts;
	api->a_mc = mc;
	api->a_now = now;
	buf_init(&api->a_topic);
	buf_init(&api->a_payload);
	api->a_started = api_now(api);
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

time_t api_now(const struct api *api)
{
	return api->a_now != NULL ? api->a_now() : wall_clock();
}

/* {"accepted":true|false,...}: the answer to a publish. */
void api_accepted(struct api *api, struct http_response *resp, int status, bool accepted,
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
void api_refused(struct api *api, struct http_response *resp, enum mqtt_pub_result res)
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

/*
 * http.token: "Authorization: Bearer <token>" (scheme case-insensitive,
 * RFC 6750). The comparison takes the same time wherever the first
 * difference is, so the token cannot be guessed byte by byte from timing.
 */
static bool api_authorized(const struct api *api, const struct http_request *req)
{
	const char *token = api->a_opts->token;
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

/* The methods of the routes, as bits (an index of api_allow). */
enum {
	API_GET = 1 << 0,
	API_HEAD = 1 << 1,
	API_POST = 1 << 2,
	API_DELETE = 1 << 3,
};

/* The Allow header of a 405: the methods of a path's routes, in this order. */
static const char *const api_allow[] = {
        "",
        "GET",
        "HEAD",
        "GET, HEAD",
        "POST",
        "GET, POST",
        "HEAD, POST",
        "GET, HEAD, POST",
        "DELETE",
        "GET, DELETE",
        "HEAD, DELETE",
        "GET, HEAD, DELETE",
        "POST, DELETE",
        "GET, POST, DELETE",
        "HEAD, POST, DELETE",
        "GET, HEAD, POST, DELETE",
};

/* How a route's path takes the request's path. */
enum api_match {
	API_EXACT, /* all of it: fn */
	API_NAME,  /* a prefix, and the rest, maybe empty, is the name: name_fn */
	API_ID,    /* a prefix and at least one byte more, the name: name_fn */
};

/* The 405 messages of paths with more than one route. */
#define API_GET_ONLY  "only GET and HEAD are allowed here"
#define API_PRESENCE  "only POST and DELETE are allowed on /presence"
#define API_SUBS_LIST "GET, POST or DELETE on /subscriptions"

/*
 * Every route of DESIGN §5. A request goes to the route that takes its
 * path and method; a path that routes take with other methods only is
 * answered 405 (Allow: their methods; their message), any other path
 * 404. The /subscriptions routes exist once api_set_subscriptions() gave
 * a registry.
 */
static const struct api_route {
	unsigned methods; /* API_GET | ... */
	const char *path;
	enum api_match match;
	bool subs; /* needs api_set_subscriptions() */
	api_route_fn *fn;
	api_name_route_fn *name_fn;
	const char *not_allowed; /* the 405 message, the same for each route of a path */
} api_routes[] = {
        {API_GET | API_HEAD, "/status", API_EXACT, false, api_status, NULL, API_GET_ONLY},
        {API_GET | API_HEAD, "/health", API_EXACT, false, api_health, NULL, API_GET_ONLY},
        {API_GET | API_HEAD, "/metrics", API_EXACT, false, api_metrics, NULL, API_GET_ONLY},
        {API_POST, "/presence", API_EXACT, false, api_post_presence, NULL, API_PRESENCE},
        {API_DELETE, "/presence", API_EXACT, false, api_delete_presence, NULL, API_PRESENCE},
        {API_POST, "/subscriptions", API_EXACT, true, api_post_subscription, NULL, API_SUBS_LIST},
        {API_GET | API_HEAD, "/subscriptions", API_EXACT, true, api_list_subscriptions, NULL,
         API_SUBS_LIST},
        {API_DELETE, "/subscriptions", API_EXACT, true, api_delete_subscriptions, NULL,
         API_SUBS_LIST},
        {API_DELETE, "/subscriptions/", API_ID, true, NULL, api_delete_subscription,
         "only DELETE is allowed on /subscriptions/{id}"},
        {API_POST, "/events/", API_NAME, false, NULL, api_post_event,
         "only POST is allowed on /events/{name}"},
        {API_POST, "/progress/", API_NAME, false, NULL, api_post_progress,
         "only POST is allowed on /progress/{kind}"},
        {API_POST, "/temperature", API_EXACT, false, api_post_temperature, NULL,
         "only POST is allowed on /temperature"},
        {API_POST, "/publish", API_EXACT, false, api_post_publish, NULL,
         "only POST is allowed on /publish"},
};

static unsigned api_method_bit(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
		return API_GET;
	case HTTP_HEAD:
		return API_HEAD;
	case HTTP_POST:
		return API_POST;
	case HTTP_DELETE:
		return API_DELETE;
	default:
		return 0; /* PUT and the others: no route takes them */
	}
}

/* Does r take the request's path? Then *n is the length of r's path. */
static bool api_route_match(const struct api *api, const struct api_route *r,
                            const struct http_request *req, size_t *n)
{
	*n = strlen(r->path);
	if ((r->subs && api->a_reg == NULL) || req->path_len < *n ||
	    memcmp(req->path, r->path, *n) != 0)
		return false;
	switch (r->match) {
	case API_EXACT:
		return req->path_len == *n;
	case API_NAME:
		return true;
	default:
		return req->path_len > *n;
	}
}

static void api_not_found(struct api *api, const struct http_request *req,
                          struct http_response *resp)
{
	buf_reset(&api->a_payload);
	buf_appendf(&api->a_payload, "no such route: %.*s", (int)req->path_len, req->path);
	buf_putc(&api->a_payload, '\0');
	http_response_error(resp, 404, "not_found", buf_data(&api->a_payload));
	buf_reset(&api->a_payload);
	buf_shrink(&api->a_payload, API_BUF_KEEP);
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *api = ctx;
	const struct api_route *other = NULL; /* a route of the path, not of the method */
	unsigned method = api_method_bit(req->method), allowed = 0;
	size_t i, n;

	if (!api_authorized(api, req)) {
		resp->www_authenticate = "Bearer realm=\"octomqttd\"";
		http_response_error(resp, 401, "unauthorized",
		                    "missing or wrong bearer token (http.token)");
		return;
	}
	for (i = 0; i < nitems(api_routes); i++) {
		const struct api_route *r = &api_routes[i];

		if (!api_route_match(api, r, req, &n))
			continue;
		if ((r->methods & method) == 0) {
			allowed |= r->methods;
			other = r;
			continue;
		}
		if (r->match == API_EXACT)
			r->fn(api, req, resp);
		else
			r->name_fn(api, req, req->path + n, req->path_len - n, resp);
		/* What it accepted may be in queue.spool: answered once synced. */
		resp->sync = req->method != HTTP_GET && req->method != HTTP_HEAD;
		return;
	}
	if (other == NULL) {
		api_not_found(api, req, resp);
		return;
	}
	resp->allow = api_allow[allowed];
	http_response_error(resp, 405, "method_not_allowed", other->not_allowed);
}
