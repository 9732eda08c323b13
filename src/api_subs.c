/*
 * api_subs: the /subscriptions routes of api (DESIGN §5): register a
 * webhook subscription (its URL checked by webhook), list them, remove
 * them by URL (and topic) or by id. The registry keeps them; subs_sync()
 * makes the broker subscriptions follow. Part of api (api_local.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_local.h"
#include "compat.h"
#include "json.h"
#include "log.h"
#include "registry.h"
#include "subs.h"
#include "topic.h"
#include "webhook.h"

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

/*
 * POST /subscriptions: 201 and the new entry, 200 and the entry when the
 * same one was there; 400 bad request, 403 url_not_allowed, 500 when the
 * state file or the https CA bundle fails.
 */
void api_post_subscription(struct api *api, const struct http_request *req,
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

/* GET /subscriptions: {"subscriptions": [{id, topic, url, args, kwargs}, ...]} */
void api_list_subscriptions(struct api *api, const struct http_request *req,
                            struct http_response *resp)
{
	size_t i, n = registry_count(api->a_reg);
	(void)req;

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
void api_delete_subscriptions(struct api *api, const struct http_request *req,
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

/* DELETE /subscriptions/{id}: 200 {"removed": 1}, or 404. */
void api_delete_subscription(struct api *api, const struct http_request *req, const char *id,
                             size_t len, struct http_response *resp)
{
	char idz[REGISTRY_ID_LEN + 1], err[ERR_LEN];
	int rc;
	(void)req;

	if (len != REGISTRY_ID_LEN) {
		http_response_error(resp, 404, "not_found", "no such subscription");
		return;
	}
	memcpy(idz, id, REGISTRY_ID_LEN);
	idz[REGISTRY_ID_LEN] = '\0';
	rc = registry_remove_id(api->a_reg, idz, err, sizeof(err));
	if (rc < 0) {
		log_warnx("%s", err);
		http_response_error(resp, 500, "state_error", err);
	} else if (rc == 0) {
		http_response_error(resp, 404, "not_found", "no such subscription");
	} else {
		log_info("subscription %s removed", idz);
		api_removed(api, resp, 1);
	}
}
