/*
 * cfg_line: part of `cfg`, one line of the config file (see cfg_line.h):
 * the split into key and value, then the setter of the key's type, from
 * a table indexed by type, checks the value and stores it at the key's
 * field offset in struct cfg. Every message is "FILE:LINE: key: ...".
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "cfg_line.h"
#include "events.h"
#include "net.h"
#include "topic.h"

int cfg_fail(struct cfg_parse *cp, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (line > 0)
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s:%u: ", cp->cp_name, line);
	else
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s: ", cp->cp_name);
	if (n < 0 || (size_t)n >= cp->cp_errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(cp->cp_err + n, cp->cp_errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void cfg_free_list(char **list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

/* The field of struct cfg that key k sets. */
static void *cfg_field(struct cfg_parse *cp, const struct cfg_key *k)
{
	return (char *)cp->cp_cfg + k->k_off;
}

/* Replace the string *field with a copy of v. */
static void cfg_str_replace(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

/*
 * A comma-separated value: fn for each item, blanks around it trimmed.
 * An empty value has no items; an empty item after a ',' is an error.
 */
typedef int cfg_item_fn(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                        void *ctx);
static int cfg_each_item(struct cfg_parse *cp, const struct cfg_key *k, const char *v,
                         cfg_item_fn *fn, void *ctx)
{
	const char *p = v;

	while (*p != '\0') {
		const char *start, *end, *next;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		next = strchr(p, ',');
		end = next != NULL ? next : p + strlen(p);
		p = next != NULL ? next + 1 : end;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (fn(cp, k, start, (size_t)(end - start), ctx) != 0)
			return -1;
		if (next != NULL && *p == '\0')
			return cfg_fail(cp, cp->cp_line, "%s: empty item after ','", k->k_name);
	}
	return 0;
}

struct cfg_names {
	char **n_list;
	size_t n_n, n_cap;
};

static int cfg_event_item(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                          void *ctx)
{
	struct cfg_names *names = ctx;

	if (!events_name_valid(s, len))
		return cfg_fail(cp, cp->cp_line,
		                "%s: '%.*s' is not an event name (1-128 characters of "
		                "A-Z a-z 0-9 _ . -)",
		                k->k_name, (int)len, s);
	if (names->n_n == names->n_cap) {
		names->n_cap = names->n_cap ? names->n_cap * 2 : 4;
		names->n_list = xrealloc(names->n_list, (names->n_cap + 1) * sizeof(char *));
	}
	names->n_list[names->n_n++] = xstrndup(s, len);
	names->n_list[names->n_n] = NULL;
	return 0;
}

static int cfg_set_evlist(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	char ***field = cfg_field(cp, k);
	struct cfg_names names = {xcalloc(1, sizeof(char *)), 0, 0};

	if (cfg_each_item(cp, k, v, cfg_event_item, &names) != 0) {
		cfg_free_list(names.n_list);
		return -1;
	}
	cfg_free_list(*field);
	*field = names.n_list;
	return 0;
}

static int cfg_cidr_item(struct cfg_parse *cp, const struct cfg_key *k, const char *s, size_t len,
                         void *ctx)
{
	struct cfg *cfg = ctx;
	char item[128], err[ERR_LEN];

	if (len >= sizeof(item))
		return cfg_fail(cp, cp->cp_line, "%s: '%.*s' is too long for an address block",
		                k->k_name, (int)len, s);
	memcpy(item, s, len);
	item[len] = '\0';
	cfg->webhook_allow = xrealloc(cfg->webhook_allow,
	                              (cfg->webhook_allow_n + 1) * sizeof(*cfg->webhook_allow));
	if (net_cidr_parse(item, &cfg->webhook_allow[cfg->webhook_allow_n], err, sizeof(err)) != 0)
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
	cfg->webhook_allow_n++;
	return 0;
}

static int cfg_set_cidrlist(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;

	free(cfg->webhook_allow);
	cfg->webhook_allow = NULL;
	cfg->webhook_allow_n = 0;
	return cfg_each_item(cp, k, v, cfg_cidr_item, cfg);
}

static int cfg_set_url(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;
	char host[NET_HOST_LEN], err[ERR_LEN];
	uint16_t port = 0;
	const char *rest = v;

	if (strncmp(v, "mqtts://", 8) == 0) {
		rest = v + 8;
		cp->cp_url_tls = true;
	} else if (strncmp(v, "mqtt://", 7) == 0) {
		rest = v + 7;
		cp->cp_url_plain = true;
	} else if (strstr(v, "://") != NULL) {
		return cfg_fail(cp, cp->cp_line,
		                "%s: unknown scheme in '%s' (expected mqtt:// or mqtts://)",
		                k->k_name, v);
	}
	if (rest[0] != '\0' && rest[strlen(rest) - 1] == '/')
		return cfg_fail(cp, cp->cp_line, "%s: '%s': a path is not allowed", k->k_name, v);
	if (net_split_hostport(rest, host, sizeof(host), &port, 1883, err, sizeof(err)) != 0)
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
	cp->cp_url_port = strchr(rest[0] == '[' ? strchr(rest, ']') : rest, ':') != NULL;
	cfg_str_replace(&cfg->broker_host, host);
	if (cp->cp_url_port)
		cfg->broker_port = port;
	return 0;
}

/* CT_STRING: a length in [k_min, k_max] (k_max 0: any). */
static int cfg_set_string(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	if (strlen(v) < k->k_min || (k->k_max > 0 && strlen(v) > k->k_max))
		return cfg_fail(cp, cp->cp_line,
		                "%s: expected %" PRIu64 " to %" PRIu64 " bytes, got %zu", k->k_name,
		                k->k_min, k->k_max, strlen(v));
	cfg_str_replace((char **)cfg_field(cp, k), v);
	return 0;
}

/* CT_TOKEN: a string of visible ASCII. */
static int cfg_set_token(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	for (const char *c = v; *c != '\0'; c++) {
		if (*c < 0x21 || *c > 0x7e)
			return cfg_fail(cp, cp->cp_line,
			                "%s: only visible ASCII characters are allowed "
			                "(no spaces)",
			                k->k_name);
	}
	return cfg_set_string(cp, k, v);
}

static int cfg_set_topic(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	const char *why;

	if (v[0] != '\0' && !topic_name_valid(v, strlen(v), &why))
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, why);
	cfg_str_replace((char **)cfg_field(cp, k), v);
	return 0;
}

static int cfg_set_bool(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	bool *field = cfg_field(cp, k);

	if (strcmp(v, "true") == 0)
		*field = true;
	else if (strcmp(v, "false") == 0)
		*field = false;
	else
		return cfg_fail(cp, cp->cp_line, "%s: expected true or false, got '%s'", k->k_name,
		                v);
	return 0;
}

/* CT_UINT, CT_SIZE, CT_QOS, CT_PORT: an integer in [k_min, k_max]. */
static int cfg_set_integer(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	void *field = cfg_field(cp, k);
	uint64_t u;

	if (cfg_parse_u64(v, k->k_min, k->k_max, &u) != 0)
		return cfg_fail(cp, cp->cp_line,
		                "%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'",
		                k->k_name, k->k_min, k->k_max, v);
	if (k->k_type == CT_UINT)
		*(unsigned *)field = (unsigned)u;
	else if (k->k_type == CT_SIZE)
		*(size_t *)field = (size_t)u;
	else if (k->k_type == CT_QOS)
		*(int *)field = (int)u;
	else
		*(uint16_t *)field = (uint16_t)u;
	return 0;
}

static int cfg_set_listen(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;
	char host[NET_HOST_LEN], err[ERR_LEN];
	uint16_t port;

	if (net_split_hostport(v, host, sizeof(host), &port, 0, err, sizeof(err)) != 0)
		return cfg_fail(cp, cp->cp_line, "%s: %s", k->k_name, err);
	cfg_str_replace(&cfg->http_listen_host, host);
	cfg->http_listen_port = port;
	return 0;
}

static int cfg_set_protocol(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	struct cfg *cfg = cp->cp_cfg;

	if (strcmp(v, "MQTTv311") == 0)
		cfg->broker_protocol = MQTT_PROTO_V311;
	else if (strcmp(v, "MQTTv31") == 0)
		cfg->broker_protocol = MQTT_PROTO_V31;
	else
		return cfg_fail(cp, cp->cp_line, "%s: expected MQTTv311 or MQTTv31, got '%s'",
		                k->k_name, v);
	return 0;
}

static int cfg_set_loglevel(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	if (log_level_parse(v, &cp->cp_cfg->log_level) != 0)
		return cfg_fail(cp, cp->cp_line,
		                "%s: expected error, warn, info or debug, got '%s'", k->k_name, v);
	return 0;
}

/*
 * CT_RETAIN: true / false, or the events to retain (OctoPrint-MQTT
 * retained ZChange and FirmwareData: say so with a list).
 */
static int cfg_set_retain(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "on") == 0 ||
	    strcasecmp(v, "off") == 0 ||
	    ((strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) &&
	     strcmp(v, "true") != 0 && strcmp(v, "false") != 0) ||
	    strcmp(v, "1") == 0 || strcmp(v, "0") == 0)
		return cfg_fail(cp, cp->cp_line,
		                "%s: expected true, false or event names, got '%s'", k->k_name, v);
	cp->cp_cfg->pub_retain = strcmp(v, "true") == 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		v = "";
	return cfg_set_evlist(cp, k, v);
}

/* CT_FLOAT: digits, optionally '.' and digits, at most k_max. */
static int cfg_set_float(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	const char *c = v;
	char *end;
	double d;

	while (*c >= '0' && *c <= '9')
		c++;
	if (c == v || (*c == '.' && (c[1] < '0' || c[1] > '9')))
		c = v; /* marks it bad */
	if (c != v && *c == '.')
		for (c++; *c >= '0' && *c <= '9'; c++)
			;
	d = strtod(v, &end);
	if (c == v || *c != '\0' || end != c || d > (double)k->k_max)
		return cfg_fail(cp, cp->cp_line,
		                "%s: expected a number from 0 to %" PRIu64 " (like 0.5), got '%s'",
		                k->k_name, k->k_max, v);
	*(double *)cfg_field(cp, k) = d;
	return 0;
}

typedef int cfg_setter_fn(struct cfg_parse *cp, const struct cfg_key *k, const char *v);

/* The setter of each type of the key table. */
static cfg_setter_fn *const cfg_setters[] = {
        [CT_STRING] = cfg_set_string,     [CT_TOPIC] = cfg_set_topic,
        [CT_BOOL] = cfg_set_bool,         [CT_UINT] = cfg_set_integer,
        [CT_SIZE] = cfg_set_integer,      [CT_QOS] = cfg_set_integer,
        [CT_URL] = cfg_set_url,           [CT_LISTEN] = cfg_set_listen,
        [CT_PROTOCOL] = cfg_set_protocol, [CT_LOGLEVEL] = cfg_set_loglevel,
        [CT_EVLIST] = cfg_set_evlist,     [CT_CIDRLIST] = cfg_set_cidrlist,
        [CT_RETAIN] = cfg_set_retain,     [CT_FLOAT] = cfg_set_float,
        [CT_PORT] = cfg_set_integer,      [CT_TOKEN] = cfg_set_token,
};

int cfg_set_value(struct cfg_parse *cp, const struct cfg_key *k, const char *v)
{
	if ((size_t)k->k_type >= nitems(cfg_setters) || cfg_setters[k->k_type] == NULL)
		return cfg_fail(cp, cp->cp_line, "%s: internal error: unknown type", k->k_name);
	return cfg_setters[k->k_type](cp, k, v);
}

static bool cfg_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool cfg_space(char c)
{
	return c == ' ' || c == '\t';
}

int cfg_split_line(struct cfg_parse *cp, const char *s, size_t len, struct buf *key,
                   struct buf *val)
{
	size_t i = 0, kend;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	while (i < len && cfg_space(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	buf_reset(key);
	buf_reset(val);
	while (i < len && cfg_key_char(s[i]))
		buf_putc(key, s[i++]);
	kend = i;
	while (i < len && cfg_space(s[i]))
		i++;
	if (buf_len(key) == 0)
		return cfg_fail(cp, cp->cp_line, "expected a key before '='");
	if (i == len || s[i] != '=') {
		if (i < len && i == kend)
			return cfg_fail(cp, cp->cp_line, "bad character '%c' in key", s[i]);
		return cfg_fail(cp, cp->cp_line, "expected '=' after '%.*s'", (int)buf_len(key),
		                buf_data(key));
	}
	i++;
	while (i < len && cfg_space(s[i]))
		i++;
	if (i < len && s[i] == '"') {
		for (i++;; i++) {
			if (i == len)
				return cfg_fail(cp, cp->cp_line, "unterminated quoted value");
			if (s[i] == '"')
				break;
			if (s[i] == '\\') {
				if (i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
					buf_putc(val, s[++i]);
					continue;
				}
				return cfg_fail(cp, cp->cp_line,
				                "bad escape in quoted value (only \\\" and \\\\)");
			}
			buf_putc(val, s[i]);
		}
		for (i++; i < len && cfg_space(s[i]); i++)
			;
		if (i < len && s[i] != '#')
			return cfg_fail(cp, cp->cp_line, "unexpected text after the closing quote");
	} else {
		size_t end = i;

		while (end < len && s[end] != '#')
			end++;
		while (end > i && cfg_space(s[end - 1]))
			end--;
		buf_append(val, s + i, end - i);
	}
	buf_putc(val, '\0');
	buf_putc(key, '\0');
	return 1;
}
