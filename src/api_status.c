/*
 * api_status: the routes of api about the daemon itself (DESIGN §5):
 * POST and DELETE /presence (the host's heartbeat and goodbye), GET
 * /status (state, counters and the publish settings as JSON), /health
 * and /metrics (the same figures in Prometheus text format). Part of api
 * (api_local.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "api_local.h"
#include "compat.h"
#include "json.h"
#include "mqtt_client.h"
#include "net.h"
#include "presence.h"
#include "registry.h"
#include "subs.h"
#include "webhook.h"

/*
 * POST /presence (heartbeat) and DELETE /presence (goodbye), DESIGN §5:
 * an empty body, 204; 409 presence_disabled when publish.lwHostTimeout is
 * 0. true when the request may go on.
 */
static bool api_presence_ok(struct api *api, const struct http_request *req,
                            struct http_response *resp)
{
	if (req->body_len > 0) {
		http_response_error(resp, 400, "invalid_body", "/presence takes an empty body");
		return false;
	}
	if (api->a_presence == NULL) {
		http_response_error(resp, 409, "presence_disabled",
		                    "publish.lwHostTimeout is 0: the status topic follows the "
		                    "daemon only");
		return false;
	}
	resp->status = 204;
	buf_reset(&resp->body);
	return true;
}

void api_post_presence(struct api *api, const struct http_request *req, struct http_response *resp)
{
	if (api_presence_ok(api, req, resp))
		presence_beat(api->a_presence);
}

void api_delete_presence(struct api *api, const struct http_request *req,
                         struct http_response *resp)
{
	if (api_presence_ok(api, req, resp))
		presence_gone(api->a_presence);
}

/* Everything /status and /metrics report, read at one moment. */
struct api_figures {
	struct mqtt_client_stats mq;
	struct http_server_stats http;
	struct webhook_stats wh;
	uint64_t messages, deliveries, undeliverable; /* subs */
	uint64_t uptime;
};

/*
 * The figures into f, and resp made a 200 with an empty body for them: the
 * start of /status and /metrics. Returns the body.
 */
static struct buf *api_figures(struct api *api, struct api_figures *f, struct http_response *resp)
{
	time_t now = api_now(api);

	memset(f, 0, sizeof(*f));
	mqtt_client_stats(api->a_mc, &f->mq);
	if (api->a_srv != NULL)
		http_server_stats(api->a_srv, &f->http);
	if (api->a_wh != NULL)
		webhook_stats(api->a_wh, &f->wh);
	if (api->a_subs != NULL)
		subs_stats(api->a_subs, &f->messages, &f->deliveries, &f->undeliverable);
	f->uptime = now > api->a_started ? (uint64_t)(now - api->a_started) : 0;
	resp->status = 200;
	buf_reset(&resp->body);
	return &resp->body;
}

static void api_broker(struct api *api, struct buf *out)
{
	char addr[NET_ADDR_LEN];

	buf_append_str(out, net_addr_text(api->a_opts->broker_host, api->a_opts->broker_port, addr,
	                                  sizeof(addr)));
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
        {"spool_syncs", API_MQ, offsetof(struct mqtt_client_stats, spool_syncs),
         "fdatasync()s of queue.spool: one per loop pass that accepted messages, "
         "before their answers (group commit)."},
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
        {"http_withheld", API_FIG, offsetof(struct api_figures, http.withheld),
         "Answers withdrawn and connections closed because queue.spool could not be "
         "synced to disk (logged; the host never saw an accepted)."},
        {"http_pauses", API_FIG, offsetof(struct api_figures, http.pauses),
         "Times requests that publish were held unread because the broker's outbound "
         "queue passed half its bounds (backpressure)."},
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
	        {"baseTopic", offsetof(struct api_opts, base_topic)},
	        {"eventTopic", offsetof(struct api_opts, event_topic)},
	        {"progressTopic", offsetof(struct api_opts, progress_topic)},
	        {"temperatureTopic", offsetof(struct api_opts, temperature_topic)},
	        {"lwTopic", offsetof(struct api_opts, lw_topic)},
	        {"timestamp_fieldname", offsetof(struct api_opts, ts_field)},
	};
	const struct api_opts *o = api->a_opts;
	size_t i;

	buf_append_str(b, ",\"publish\":{");
	for (i = 0; i < nitems(topics); i++) {
		const char *v =
		        *(const char *const *)(const void *)((const char *)o + topics[i].off);

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
	            o->event_active ? "true" : "false", o->progress_active ? "true" : "false",
	            o->progress_retain ? "true" : "false", o->temperature_active ? "true" : "false",
	            o->lw_enabled ? "true" : "false", o->lw_retain ? "true" : "false",
	            o->lw_host_timeout,
	            api->a_presence == NULL             ? "null"
	            : presence_host_up(api->a_presence) ? "true"
	                                                : "false");
}

void api_status(struct api *api, const struct http_request *req, struct http_response *resp)
{
	struct api_figures f;
	struct buf *b = api_figures(api, &f, resp);
	size_t i;
	(void)req;

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
}

void api_health(struct api *api, const struct http_request *req, struct http_response *resp)
{
	(void)req;
	if (mqtt_client_connected(api->a_mc)) {
		resp->status = 200;
		buf_reset(&resp->body);
		buf_append_str(&resp->body, "{\"status\":\"ok\"}");
		return;
	}
	http_response_error(resp, 503, "not_connected", "not connected to the broker");
}

void api_metrics(struct api *api, const struct http_request *req, struct http_response *resp)
{
	static const char *const classes[] = {NULL, "1xx", "2xx", "3xx", "4xx", "5xx"};
	struct api_figures f;
	struct buf *b = api_figures(api, &f, resp);
	size_t i;
	(void)req;

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
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
