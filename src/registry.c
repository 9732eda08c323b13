/*
 * registry: webhook subscriptions and their state file (see registry.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "registry.h"
#include "topic.h"

#define REG_VERSION_KEY "octomqttd_subscriptions"

struct registry {
	char *r_path;
	struct reg_entry *r_ent;
	size_t r_n, r_cap;
};

struct registry *registry_new(const char *path)
{
	struct registry *r = xcalloc(1, sizeof(*r));

	r->r_path = path != NULL ? xstrdup(path) : NULL;
	return r;
}

static void reg_entry_free(struct reg_entry *e)
{
	free(e->topic);
	free(e->url);
	free(e->args);
	free(e->kwargs);
}

void registry_free(struct registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->r_n; i++)
		reg_entry_free(&r->r_ent[i]);
	free(r->r_ent);
	free(r->r_path);
	free(r);
}

size_t registry_count(const struct registry *r)
{
	return r->r_n;
}

const struct reg_entry *registry_at(const struct registry *r, size_t i)
{
	return i < r->r_n ? &r->r_ent[i] : NULL;
}

const struct reg_entry *registry_find(const struct registry *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->r_n; i++) {
		if (strcmp(r->r_ent[i].id, id) == 0)
			return &r->r_ent[i];
	}
	return NULL;
}

/* FNV-1a over the four fields, NUL-separated. */
static uint64_t reg_hash(const char *topic, const char *url, const char *args, const char *kwargs,
                         uint64_t salt)
{
	const char *parts[4] = {topic, url, args, kwargs};
	uint64_t h = 0xcbf29ce484222325ull ^ salt;
	size_t i;

	for (i = 0; i < 4; i++) {
		const unsigned char *p = (const unsigned char *)parts[i];

		do {
			h ^= *p;
			h *= 0x100000001b3ull;
		} while (*p++ != '\0');
	}
	return h;
}

static struct reg_entry *reg_push(struct registry *r)
{
	if (r->r_n == r->r_cap) {
		r->r_cap = r->r_cap ? r->r_cap * 2 : 8;
		r->r_ent = xrealloc(r->r_ent, r->r_cap * sizeof(*r->r_ent));
	}
	memset(&r->r_ent[r->r_n], 0, sizeof(r->r_ent[0]));
	return &r->r_ent[r->r_n++];
}

void registry_serialize(const struct registry *r, struct buf *out)
{
	size_t i;

	buf_append_str(out, "{\"" REG_VERSION_KEY "\":1,\"subscriptions\":{");
	for (i = 0; i < r->r_n; i++) {
		const struct reg_entry *e = &r->r_ent[i];

		buf_append_str(out, i > 0 ? ",\n" : "\n");
		json_append_string(out, e->id, strlen(e->id));
		buf_append_str(out, ":{\"topic\":");
		json_append_string(out, e->topic, strlen(e->topic));
		buf_append_str(out, ",\"url\":");
		json_append_string(out, e->url, strlen(e->url));
		buf_append_str(out, ",\"args\":");
		buf_append_str(out, e->args);
		buf_append_str(out, ",\"kwargs\":");
		buf_append_str(out, e->kwargs);
		buf_putc(out, '}');
	}
	buf_append_str(out, "\n}}\n");
}

/* Write the state file atomically. 0, or -1 with err. */
static int reg_persist(struct registry *r, char *err, size_t errlen)
{
	struct buf out = BUF_INITIALIZER;
	char *tmp;
	int rc = 0;
	size_t n;

	if (r->r_path == NULL)
		return 0;
	registry_serialize(r, &out);
	n = strlen(r->r_path);
	tmp = xmalloc(n + 5);
	memcpy(tmp, r->r_path, n);
	memcpy(tmp + n, ".tmp", 5);
	if (buf_replace_file(&out, r->r_path, tmp) != 0) {
		snprintf(err, errlen, "state.file %s: cannot write: %s", r->r_path,
		         strerror(errno));
		unlink(tmp);
		rc = -1;
	}
	free(tmp);
	buf_free(&out);
	return rc;
}

static bool reg_same(const struct reg_entry *e, const char *topic, const char *url,
                     const char *args, const char *kwargs)
{
	return strcmp(e->topic, topic) == 0 && strcmp(e->url, url) == 0 &&
	       strcmp(e->args, args) == 0 && strcmp(e->kwargs, kwargs) == 0;
}

const struct reg_entry *registry_add(struct registry *r, const char *topic, const char *url,
                                     const char *args, const char *kwargs, bool *created, char *err,
                                     size_t errlen)
{
	struct reg_entry *e;
	uint64_t salt = 0;
	size_t i;

	args = args != NULL ? args : "[]";
	kwargs = kwargs != NULL ? kwargs : "{}";
	*created = false;
	for (i = 0; i < r->r_n; i++) {
		if (reg_same(&r->r_ent[i], topic, url, args, kwargs))
			return &r->r_ent[i];
	}
	e = reg_push(r);
	/* A hash of the contents: the same subscription gets the same id
	 * again after being removed; a clash with another takes the next. */
	do {
		snprintf(e->id, sizeof(e->id), "%016llx",
		         (unsigned long long)reg_hash(topic, url, args, kwargs, salt++));
	} while (registry_find(r, e->id) != e);
	e->topic = xstrdup(topic);
	e->url = xstrdup(url);
	e->args = xstrdup(args);
	e->kwargs = xstrdup(kwargs);
	if (reg_persist(r, err, errlen) != 0) {
		reg_entry_free(e);
		r->r_n--;
		return NULL;
	}
	*created = true;
	return e;
}

/*
 * Remove the entries for which drop[i] holds, persisting; on failure put
 * everything back. Returns the number removed or -1.
 */
static long reg_remove(struct registry *r, const bool *drop, char *err, size_t errlen)
{
	struct reg_entry *keep = xmalloc((r->r_n ? r->r_n : 1) * sizeof(*keep)), *old = r->r_ent;
	size_t i, n = 0, total = r->r_n;

	for (i = 0; i < total; i++) {
		if (!drop[i])
			keep[n++] = old[i];
	}
	if (n == total) {
		free(keep);
		return 0;
	}
	r->r_ent = keep;
	r->r_n = n;
	if (reg_persist(r, err, errlen) != 0) {
		r->r_ent = old;
		r->r_n = total;
		free(keep);
		return -1;
	}
	for (i = 0; i < total; i++) {
		if (drop[i])
			reg_entry_free(&old[i]);
	}
	free(old);
	r->r_cap = total;
	return (long)(total - n);
}

long registry_remove_url(struct registry *r, const char *url, const char *topic, char *err,
                         size_t errlen)
{
	bool *drop = xcalloc(r->r_n ? r->r_n : 1, sizeof(*drop));
	size_t i;
	long rc;

	for (i = 0; i < r->r_n; i++)
		drop[i] = strcmp(r->r_ent[i].url, url) == 0 &&
		          (topic == NULL || strcmp(r->r_ent[i].topic, topic) == 0);
	rc = reg_remove(r, drop, err, errlen);
	free(drop);
	return rc;
}

int registry_remove_id(struct registry *r, const char *id, char *err, size_t errlen)
{
	bool *drop = xcalloc(r->r_n ? r->r_n : 1, sizeof(*drop));
	size_t i;
	long rc;

	for (i = 0; i < r->r_n; i++)
		drop[i] = strcmp(r->r_ent[i].id, id) == 0;
	rc = reg_remove(r, drop, err, errlen);
	free(drop);
	return (int)rc;
}

/* Parsing: the state file, level by level. */
struct reg_parse {
	struct registry *p_reg;
	struct reg_entry *p_e;
	struct buf p_tmp;
	bool p_version;
	bool p_subs;
};

/* The decoded string value of m, NUL-terminated, newly allocated. */
static char *reg_string(struct reg_parse *p, const struct json_member *m, const char **why)
{
	buf_reset(&p->p_tmp);
	if (m->kind != JSON_STRING ||
	    json_string_decode(m->value, m->value_len, &p->p_tmp, why) < 0)
		return NULL;
	if (buf_len(&p->p_tmp) == 0)
		return xstrdup("");
	if (memchr(buf_data(&p->p_tmp), '\0', buf_len(&p->p_tmp)) != NULL)
		return NULL;
	return xstrndup(buf_data(&p->p_tmp), buf_len(&p->p_tmp));
}

static int reg_sub_member(void *ctx, const struct json_member *m, const char **why)
{
	struct reg_parse *p = ctx;
	struct reg_entry *e = p->p_e;
	char **field = NULL;

	if (json_key_is(m, "topic"))
		field = &e->topic;
	else if (json_key_is(m, "url"))
		field = &e->url;
	else if (json_key_is(m, "args"))
		field = &e->args;
	else if (json_key_is(m, "kwargs"))
		field = &e->kwargs;
	if (field == NULL || *field != NULL) {
		*why = field == NULL ? "unknown member in a subscription" : "repeated member";
		return -1;
	}
	if (field == &e->args || field == &e->kwargs) {
		if (m->kind != (field == &e->args ? JSON_ARRAY : JSON_OBJECT)) {
			*why = "args must be an array and kwargs an object";
			return -1;
		}
		*field = xstrndup(m->value, m->value_len);
		return 0;
	}
	*field = reg_string(p, m, why);
	if (*field == NULL) {
		*why = "topic and url must be strings";
		return -1;
	}
	return 0;
}

static int reg_subscription(void *ctx, const struct json_member *m, const char **why)
{
	struct reg_parse *p = ctx;
	struct reg_entry *e;
	const char *fwhy;
	size_t i;

	if (m->kind != JSON_OBJECT || m->key_len != REGISTRY_ID_LEN) {
		*why = "a subscription must be an object under a 16-digit id";
		return -1;
	}
	for (i = 0; i < REGISTRY_ID_LEN; i++) {
		if (strchr("0123456789abcdef", m->key[i]) == NULL || m->key[i] == '\0') {
			*why = "a subscription id must be 16 hex digits";
			return -1;
		}
	}
	e = reg_push(p->p_reg);
	memcpy(e->id, m->key, REGISTRY_ID_LEN);
	if (registry_find(p->p_reg, e->id) != e) {
		*why = "the same subscription id twice";
		return -1;
	}
	p->p_e = e;
	if (json_object_each(m->value, m->value_len, reg_sub_member, p, why) < 0)
		return -1;
	if (e->topic == NULL || e->url == NULL) {
		*why = "a subscription without topic or url";
		return -1;
	}
	if (!topic_filter_valid(e->topic, strlen(e->topic), &fwhy)) {
		*why = fwhy;
		return -1;
	}
	if (e->args == NULL)
		e->args = xstrdup("[]");
	if (e->kwargs == NULL)
		e->kwargs = xstrdup("{}");
	return 0;
}

static int reg_top(void *ctx, const struct json_member *m, const char **why)
{
	struct reg_parse *p = ctx;

	if (json_key_is(m, REG_VERSION_KEY) && !p->p_version) {
		p->p_version = true;
		if (m->value_len != 1 || m->value[0] != '1') {
			*why = "unknown state file version";
			return -1;
		}
		return 0;
	}
	if (json_key_is(m, "subscriptions") && !p->p_subs && m->kind == JSON_OBJECT) {
		p->p_subs = true;
		return json_object_each(m->value, m->value_len, reg_subscription, p, why);
	}
	*why = "not an octomqttd state file (unexpected member)";
	return -1;
}

int registry_parse(struct registry *r, const char *text, size_t len, const char **why)
{
	struct reg_parse p;
	size_t i;
	int rc;

	memset(&p, 0, sizeof(p));
	p.p_reg = r;
	buf_init(&p.p_tmp);
	rc = json_object_each(text, len, reg_top, &p, why);
	if (rc == 0 && (!p.p_version || !p.p_subs)) {
		*why = "not an octomqttd state file (members missing)";
		rc = -1;
	}
	buf_free(&p.p_tmp);
	if (rc != 0) {
		for (i = 0; i < r->r_n; i++)
			reg_entry_free(&r->r_ent[i]);
		r->r_n = 0;
	}
	return rc;
}

int registry_load(struct registry *r, char *err, size_t errlen)
{
	struct buf text = BUF_INITIALIZER;
	const char *why = NULL;
	int fd, rc = 0;

	if (r->r_path == NULL)
		return 0;
	fd = open(r->r_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen,
		         "state.file %s cannot be read (%s); fix its permissions, or move it "
		         "aside to start with no subscriptions",
		         r->r_path, strerror(errno));
		return -1;
	}
	if (buf_read_fd(&text, fd) != 0) {
		snprintf(err, errlen,
		         "state.file %s cannot be read (%s); fix it, or move it aside to start "
		         "with no subscriptions",
		         r->r_path, strerror(errno));
		rc = -1;
	}
	close(fd);
	if (rc == 0 && registry_parse(r, buf_data(&text), buf_len(&text), &why) != 0) {
		snprintf(err, errlen,
		         "state.file %s is damaged (%s); nothing was changed: fix it, or move it "
		         "aside (mv %s %s.bad) to start with no subscriptions",
		         r->r_path, why, r->r_path, r->r_path);
		rc = -1;
	}
	buf_free(&text);
	return rc;
}
