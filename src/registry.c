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

#include "htab.h"
#include "json.h"
#include "log.h"
#include "registry.h"
#include "topic.h"

#define REG_VERSION_KEY "octomqttd_subscriptions"
/*
 * More log records than the snapshot holds subscriptions (and at least
 * this many) trigger a compaction: the log stays about the snapshot's
 * size, and a run of n changes rewrites O(n) bytes in all.
 */
#define REG_COMPACT_MIN 64

/* An entry, and its links in the two hash tables (the entry comes first). */
struct reg_node {
	struct reg_entry n_e;
	struct reg_node *n_id_next; /* in r_idtab, by id */
	struct reg_node *n_ct_next; /* in r_cttab, by contents */
	uint64_t n_id_hash, n_ct_hash;
};

struct registry {
	char *r_path;            /* the snapshot, NULL: never persisted */
	char *r_log_path;        /* r_path + ".log": the changes since */
	struct reg_node **r_ent; /* in registration order */
	size_t r_n, r_cap;
	struct reg_node **r_idtab, **r_cttab; /* r_tabsize buckets each */
	size_t r_tabsize;                     /* a power of two, >= r_n */
	int r_log_fd;                         /* -1 until the first change */
	size_t r_log_records;                 /* in the log since the snapshot */
	size_t r_snap_n;                      /* subscriptions in the snapshot */
	off_t r_log_size;                     /* its complete records' bytes */
	uint64_t r_seq;                       /* the next reg_entry.seq */
	registry_hook_fn *r_hook;
	void *r_hook_ctx;
	bool r_unsynced;    /* log records written since the last fdatasync */
	bool r_sync_failed; /* an fdatasync failed: the next sync compacts */
};

#define REG_MIN_TAB 64

struct registry *registry_new(const char *path)
{
	struct registry *r = xcalloc(1, sizeof(*r));

	if (path != NULL) {
		size_t n = strlen(path);

		r->r_path = xstrdup(path);
		r->r_log_path = xmalloc(n + 5);
		memcpy(r->r_log_path, path, n);
		memcpy(r->r_log_path + n, ".log", 5);
	}
	r->r_log_fd = -1;
	r->r_tabsize = REG_MIN_TAB;
	r->r_idtab = xcalloc(r->r_tabsize, sizeof(*r->r_idtab));
	r->r_cttab = xcalloc(r->r_tabsize, sizeof(*r->r_cttab));
	return r;
}

static void reg_node_free(struct reg_node *n)
{
	if (n == NULL)
		return;
	free(n->n_e.topic);
	free(n->n_e.url);
	free(n->n_e.args);
	free(n->n_e.kwargs);
	free(n);
}

void registry_free(struct registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->r_n; i++)
		reg_node_free(r->r_ent[i]);
	if (r->r_log_fd >= 0) {
		if (r->r_unsynced)
			(void)fdatasync(r->r_log_fd); /* best effort at a stop */
		close(r->r_log_fd);
	}
	free(r->r_ent);
	free(r->r_idtab);
	free(r->r_cttab);
	free(r->r_path);
	free(r->r_log_path);
	free(r);
}

size_t registry_count(const struct registry *r)
{
	return r->r_n;
}

const struct reg_entry *registry_at(const struct registry *r, size_t i)
{
	return i < r->r_n ? &r->r_ent[i]->n_e : NULL;
}

/* FNV-1a over the four fields, NUL-separated: the ids are made of it. */
static uint64_t reg_hash(const char *topic, const char *url, const char *args, const char *kwargs,
                         uint64_t salt)
{
	const char *parts[4] = {topic, url, args, kwargs};
	uint64_t h = HTAB_FNV_BASIS ^ salt;
	size_t i;

	for (i = 0; i < 4; i++)
		h = htab_fnv(h, parts[i], strlen(parts[i]) + 1);
	return h;
}

static uint64_t reg_id_hash(const char *id)
{
	return htab_fnv(HTAB_FNV_BASIS, id, REGISTRY_ID_LEN);
}

static struct reg_node *reg_find_node(const struct registry *r, const char *id)
{
	uint64_t h;
	struct reg_node *n;

	if (strlen(id) != REGISTRY_ID_LEN)
		return NULL;
	h = reg_id_hash(id);
	for (n = r->r_idtab[h & (r->r_tabsize - 1)]; n != NULL; n = n->n_id_next)
		if (n->n_id_hash == h && memcmp(n->n_e.id, id, REGISTRY_ID_LEN) == 0)
			return n;
	return NULL;
}

const struct reg_entry *registry_find(const struct registry *r, const char *id)
{
	struct reg_node *n = reg_find_node(r, id);

	return n != NULL ? &n->n_e : NULL;
}

static bool reg_same(const struct reg_entry *e, const char *topic, const char *url,
                     const char *args, const char *kwargs)
{
	return strcmp(e->topic, topic) == 0 && strcmp(e->url, url) == 0 &&
	       strcmp(e->args, args) == 0 && strcmp(e->kwargs, kwargs) == 0;
}

static struct reg_node *reg_find_same(const struct registry *r, const char *topic, const char *url,
                                      const char *args, const char *kwargs)
{
	uint64_t h = reg_hash(topic, url, args, kwargs, 0);
	struct reg_node *n;

	for (n = r->r_cttab[h & (r->r_tabsize - 1)]; n != NULL; n = n->n_ct_next)
		if (n->n_ct_hash == h && reg_same(&n->n_e, topic, url, args, kwargs))
			return n;
	return NULL;
}

static void reg_link(struct registry *r, struct reg_node *n)
{
	size_t mask = r->r_tabsize - 1;

	n->n_id_next = r->r_idtab[n->n_id_hash & mask];
	r->r_idtab[n->n_id_hash & mask] = n;
	n->n_ct_next = r->r_cttab[n->n_ct_hash & mask];
	r->r_cttab[n->n_ct_hash & mask] = n;
}

static void reg_unlink(struct registry *r, struct reg_node *n)
{
	size_t mask = r->r_tabsize - 1;
	struct reg_node **pp;

	for (pp = &r->r_idtab[n->n_id_hash & mask]; *pp != n; pp = &(*pp)->n_id_next)
		;
	*pp = n->n_id_next;
	for (pp = &r->r_cttab[n->n_ct_hash & mask]; *pp != n; pp = &(*pp)->n_ct_next)
		;
	*pp = n->n_ct_next;
}

/* Append n (complete: id and fields set) in registration order, indexed. */
static void reg_insert(struct registry *r, struct reg_node *n)
{
	if (r->r_n == r->r_cap) {
		r->r_cap = r->r_cap ? r->r_cap * 2 : 8;
		r->r_ent = xrealloc(r->r_ent, r->r_cap * sizeof(*r->r_ent));
	}
	if (r->r_n >= r->r_tabsize) {
		size_t i;

		free(r->r_idtab);
		free(r->r_cttab);
		r->r_tabsize *= 2;
		r->r_idtab = xcalloc(r->r_tabsize, sizeof(*r->r_idtab));
		r->r_cttab = xcalloc(r->r_tabsize, sizeof(*r->r_cttab));
		for (i = 0; i < r->r_n; i++)
			reg_link(r, r->r_ent[i]);
	}
	n->n_e.seq = r->r_seq++;
	n->n_id_hash = reg_id_hash(n->n_e.id);
	n->n_ct_hash = reg_hash(n->n_e.topic, n->n_e.url, n->n_e.args, n->n_e.kwargs, 0);
	reg_link(r, n);
	r->r_ent[r->r_n++] = n;
}

/* One subscription as the state file writes it: "ID":{"topic":...}. */
static void reg_append_entry(struct buf *out, const struct reg_entry *e)
{
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

void registry_serialize(const struct registry *r, struct buf *out)
{
	size_t i;

	buf_append_str(out, "{\"" REG_VERSION_KEY "\":1,\"subscriptions\":{");
	for (i = 0; i < r->r_n; i++) {
		buf_append_str(out, i > 0 ? ",\n" : "\n");
		reg_append_entry(out, &r->r_ent[i]->n_e);
	}
	buf_append_str(out, "\n}}\n");
}

/*
 * Write the snapshot atomically and empty the log: the changes are in the
 * snapshot now. A crash in between replays the log over a snapshot that
 * already holds it, which changes nothing (registry_replay). 0, or -1
 * with err.
 */
static int reg_compact(struct registry *r, char *err, size_t errlen)
{
	struct buf out = BUF_INITIALIZER;
	char *tmp;
	int rc = 0;
	size_t n = strlen(r->r_path);

	registry_serialize(r, &out);
	tmp = xmalloc(n + 5);
	memcpy(tmp, r->r_path, n);
	memcpy(tmp + n, ".tmp", 5);
	if (buf_replace_file(&out, r->r_path, tmp) != 0) {
		snprintf(err, errlen, "state.file %s: cannot write: %s", r->r_path,
		         strerror(errno));
		unlink(tmp);
		rc = -1;
	} else if (r->r_log_fd >= 0 &&
	           (ftruncate(r->r_log_fd, 0) != 0 || fdatasync(r->r_log_fd) != 0)) {
		snprintf(err, errlen, "state.file %s: cannot empty: %s", r->r_log_path,
		         strerror(errno));
		rc = -1;
	} else {
		r->r_log_records = 0;
		r->r_log_size = 0;
		r->r_snap_n = r->r_n;
		r->r_unsynced = r->r_sync_failed = false; /* all in the synced snapshot */
	}
	free(tmp);
	buf_free(&out);
	return rc;
}

/* fsync the directory of path, so that a file just created there stays. */
static int reg_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".") : xstrndup(path, (size_t)(slash - path));
	int fd = open(*dir != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;

	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(dir);
	return rc;
}

static int reg_open_log(struct registry *r, char *err, size_t errlen)
{
	bool existed = access(r->r_log_path, F_OK) == 0;

	r->r_log_fd = open(r->r_log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	/* A torn last record (a crash while writing it; never answered) goes. */
	if (r->r_log_fd < 0 || ftruncate(r->r_log_fd, r->r_log_size) != 0 ||
	    (!existed && reg_sync_dir(r->r_log_path) != 0)) {
		snprintf(err, errlen, "state.file %s: cannot write: %s", r->r_log_path,
		         strerror(errno));
		if (r->r_log_fd >= 0)
			close(r->r_log_fd);
		r->r_log_fd = -1;
		return -1;
	}
	return 0;
}

/*
 * Append `rec` (whole records, each ending in '\n') to the log before the
 * change is applied; durable after the next registry_sync(), which main
 * calls before the answer goes out (group commit). On failure the log is
 * cut back to where it was and nothing changed. 0, or -1 with err.
 */
static int reg_log(struct registry *r, const struct buf *rec, size_t records, char *err,
                   size_t errlen)
{
	const char *p = buf_data(rec);
	size_t left = buf_len(rec);

	if (r->r_path == NULL)
		return 0;
	if (r->r_log_fd < 0 && reg_open_log(r, err, errlen) != 0)
		return -1;
	while (left > 0) {
		/* At the end of the complete records, whatever the file offset. */
		ssize_t k =
		        pwrite(r->r_log_fd, p, left, r->r_log_size + (off_t)(buf_len(rec) - left));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		p += k;
		left -= (size_t)k;
	}
	if (left > 0) {
		int e = errno == 0 ? EIO : errno;

		snprintf(err, errlen, "state.file %s: cannot write: %s", r->r_log_path,
		         strerror(e));
		if (ftruncate(r->r_log_fd, r->r_log_size) != 0) {
			/* The log may end in a partial record: start it again. */
			close(r->r_log_fd);
			r->r_log_fd = -1;
		}
		return -1;
	}
	r->r_log_size += (off_t)buf_len(rec);
	r->r_log_records += records;
	r->r_unsynced = true;
	return 0;
}

int registry_sync(struct registry *r, char *err, size_t errlen)
{
	if (!r->r_unsynced)
		return 0;
	/*
	 * After a failed fdatasync the kernel may have dropped the pages it
	 * could not write and report success next time; and a log closed
	 * after a failed write holds records never synced: rewrite it all.
	 */
	if (r->r_sync_failed || r->r_log_fd < 0)
		return reg_compact(r, err, errlen);
	if (fdatasync(r->r_log_fd) != 0) {
		snprintf(err, errlen, "state.file %s: fdatasync: %s", r->r_log_path,
		         strerror(errno));
		r->r_sync_failed = true;
		return -1;
	}
	r->r_unsynced = false;
	return 0;
}

/* After a logged change is applied: compact when the log has grown enough. */
static void reg_maybe_compact(struct registry *r)
{
	char err[ERR_LEN];

	if (r->r_path == NULL || r->r_log_records < REG_COMPACT_MIN ||
	    r->r_log_records <= r->r_snap_n)
		return;
	/* The change is durable in the log: a failed compaction only waits. */
	if (reg_compact(r, err, sizeof(err)) != 0) {
		static struct log_limit lim;

		log_warnx_limited(&lim, "%s (the changes stay in the log)", err);
	}
}

const struct reg_entry *registry_add(struct registry *r, const char *topic, const char *url,
                                     const char *args, const char *kwargs, bool *created, char *err,
                                     size_t errlen)
{
	struct reg_node *n;
	struct buf rec = BUF_INITIALIZER;
	uint64_t salt = 0;
	int rc;

	args = args != NULL ? args : "[]";
	kwargs = kwargs != NULL ? kwargs : "{}";
	*created = false;
	n = reg_find_same(r, topic, url, args, kwargs);
	if (n != NULL)
		return &n->n_e;
	n = xcalloc(1, sizeof(*n));
	/* A hash of the contents: the same subscription gets the same id
	 * again after being removed; a clash with another takes the next. */
	do {
		snprintf(n->n_e.id, sizeof(n->n_e.id), "%016llx",
		         (unsigned long long)reg_hash(topic, url, args, kwargs, salt++));
	} while (reg_find_node(r, n->n_e.id) != NULL);
	n->n_e.topic = xstrdup(topic);
	n->n_e.url = xstrdup(url);
	n->n_e.args = xstrdup(args);
	n->n_e.kwargs = xstrdup(kwargs);
	buf_append_str(&rec, "{\"add\":{");
	reg_append_entry(&rec, &n->n_e);
	buf_append_str(&rec, "}}\n");
	rc = reg_log(r, &rec, 1, err, errlen);
	buf_free(&rec);
	if (rc != 0) {
		reg_node_free(n);
		return NULL;
	}
	reg_insert(r, n);
	reg_maybe_compact(r);
	*created = true;
	if (r->r_hook != NULL)
		r->r_hook(r->r_hook_ctx, &n->n_e, true);
	return &n->n_e;
}

void registry_set_hook(struct registry *r, registry_hook_fn *fn, void *ctx)
{
	r->r_hook = fn;
	r->r_hook_ctx = ctx;
}

/* Drop the entries marked in drop[] from the order and the tables. */
static void reg_drop(struct registry *r, const bool *drop)
{
	size_t i, k = 0;

	for (i = 0; i < r->r_n; i++) {
		if (drop[i]) {
			if (r->r_hook != NULL)
				r->r_hook(r->r_hook_ctx, &r->r_ent[i]->n_e, false);
			reg_unlink(r, r->r_ent[i]);
			reg_node_free(r->r_ent[i]);
		} else {
			r->r_ent[k++] = r->r_ent[i];
		}
	}
	r->r_n = k;
}

/*
 * Remove the entries for which drop[i] holds: logged first (one record
 * each, one fdatasync), then dropped. The number removed or -1.
 */
static long reg_remove(struct registry *r, const bool *drop, char *err, size_t errlen)
{
	struct buf rec = BUF_INITIALIZER;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < r->r_n; i++) {
		if (!drop[i])
			continue;
		buf_append_str(&rec, "{\"remove\":");
		json_append_string(&rec, r->r_ent[i]->n_e.id, REGISTRY_ID_LEN);
		buf_append_str(&rec, "}\n");
		n++;
	}
	if (n == 0) {
		buf_free(&rec);
		return 0;
	}
	rc = reg_log(r, &rec, n, err, errlen);
	buf_free(&rec);
	if (rc != 0)
		return -1;
	reg_drop(r, drop);
	reg_maybe_compact(r);
	return (long)n;
}

long registry_remove_url(struct registry *r, const char *url, const char *topic, char *err,
                         size_t errlen)
{
	bool *drop = xcalloc(r->r_n ? r->r_n : 1, sizeof(*drop));
	size_t i;
	long rc;

	for (i = 0; i < r->r_n; i++)
		drop[i] = strcmp(r->r_ent[i]->n_e.url, url) == 0 &&
		          (topic == NULL || strcmp(r->r_ent[i]->n_e.topic, topic) == 0);
	rc = reg_remove(r, drop, err, errlen);
	free(drop);
	return rc;
}

int registry_remove_id(struct registry *r, const char *id, char *err, size_t errlen)
{
	struct reg_node *n = reg_find_node(r, id);
	bool *drop;
	size_t i;
	long rc;

	if (n == NULL)
		return 0;
	drop = xcalloc(r->r_n, sizeof(*drop));
	for (i = 0; i < r->r_n; i++)
		drop[i] = r->r_ent[i] == n;
	rc = reg_remove(r, drop, err, errlen);
	free(drop);
	return (int)rc;
}

/* Parsing: the state file, level by level; the log, record by record. */
struct reg_parse {
	struct registry *p_reg;
	struct reg_entry *p_e;
	struct buf p_tmp;
	bool p_version;
	bool p_subs;
	bool p_replay; /* log records: an id seen again is the same subscription */
	int p_op;      /* the record's operations so far */
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

/* A 16-hex-digit subscription id. */
static bool reg_id_valid(const char *s, size_t len)
{
	size_t i;

	if (len != REGISTRY_ID_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	return true;
}

/* "ID": {"topic": ..., "url": ..., "args": [...], "kwargs": {...}}, into a new node. */
static struct reg_node *reg_parse_entry(struct reg_parse *p, const struct json_member *m,
                                        const char **why)
{
	struct reg_node *n;
	const char *fwhy;

	if (m->kind != JSON_OBJECT || m->key_len != REGISTRY_ID_LEN) {
		*why = "a subscription must be an object under a 16-digit id";
		return NULL;
	}
	if (!reg_id_valid(m->key, m->key_len)) {
		*why = "a subscription id must be 16 hex digits";
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	memcpy(n->n_e.id, m->key, REGISTRY_ID_LEN);
	p->p_e = &n->n_e;
	if (json_object_each(m->value, m->value_len, reg_sub_member, p, why) < 0)
		goto bad;
	if (n->n_e.topic == NULL || n->n_e.url == NULL) {
		*why = "a subscription without topic or url";
		goto bad;
	}
	if (!topic_filter_valid(n->n_e.topic, strlen(n->n_e.topic), &fwhy)) {
		*why = fwhy;
		goto bad;
	}
	if (n->n_e.args == NULL)
		n->n_e.args = xstrdup("[]");
	if (n->n_e.kwargs == NULL)
		n->n_e.kwargs = xstrdup("{}");
	return n;
bad:
	reg_node_free(n);
	return NULL;
}

static int reg_subscription(void *ctx, const struct json_member *m, const char **why)
{
	struct reg_parse *p = ctx;
	struct reg_node *n = reg_parse_entry(p, m, why), *old;

	if (n == NULL)
		return -1;
	old = reg_find_node(p->p_reg, n->n_e.id);
	if (old != NULL) {
		/* A log record the snapshot already holds (a compaction cut short). */
		bool same = p->p_replay && reg_same(&old->n_e, n->n_e.topic, n->n_e.url,
		                                    n->n_e.args, n->n_e.kwargs);

		reg_node_free(n);
		if (same)
			return 0;
		*why = "the same subscription id twice";
		return -1;
	}
	reg_insert(p->p_reg, n);
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

static void reg_clear(struct registry *r)
{
	size_t i;

	for (i = 0; i < r->r_n; i++)
		reg_node_free(r->r_ent[i]);
	r->r_n = 0;
	memset(r->r_idtab, 0, r->r_tabsize * sizeof(*r->r_idtab));
	memset(r->r_cttab, 0, r->r_tabsize * sizeof(*r->r_cttab));
}

int registry_parse(struct registry *r, const char *text, size_t len, const char **why)
{
	struct reg_parse p;
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
	if (rc != 0)
		reg_clear(r);
	return rc;
}

/* One log record: {"add": {"ID": {...}}} or {"remove": "ID"}. */
static int reg_record(void *ctx, const struct json_member *m, const char **why)
{
	struct reg_parse *p = ctx;

	if (p->p_op++ > 0) {
		*why = "a log record with more than one change";
		return -1;
	}
	if (json_key_is(m, "add") && m->kind == JSON_OBJECT)
		return json_object_each(m->value, m->value_len, reg_subscription, p, why);
	if (json_key_is(m, "remove") && m->kind == JSON_STRING &&
	    reg_id_valid(m->value + 1, m->value_len - 2)) {
		char id[REGISTRY_ID_LEN + 1];
		struct reg_node *n;
		bool *drop;
		size_t i;

		memcpy(id, m->value + 1, REGISTRY_ID_LEN);
		id[REGISTRY_ID_LEN] = '\0';
		n = reg_find_node(p->p_reg, id);
		if (n == NULL)
			return 0; /* removed before the snapshot was written */
		drop = xcalloc(p->p_reg->r_n, sizeof(*drop));
		for (i = 0; i < p->p_reg->r_n; i++)
			drop[i] = p->p_reg->r_ent[i] == n;
		reg_drop(p->p_reg, drop);
		free(drop);
		return 0;
	}
	*why = "a log record that is neither an add nor a remove";
	return -1;
}

int registry_replay(struct registry *r, const char *text, size_t len, size_t *used, size_t *records,
                    const char **why)
{
	struct reg_parse p;
	size_t off = 0;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.p_reg = r;
	p.p_replay = true;
	buf_init(&p.p_tmp);
	*records = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);

		if (nl == NULL)
			break; /* torn: never made durable, never answered */
		p.p_op = 0;
		if (json_object_each(text + off, (size_t)(nl - (text + off)), reg_record, &p, why) <
		            0 ||
		    p.p_op == 0) {
			if (p.p_op == 0)
				*why = "an empty log record";
			rc = -1;
			break;
		}
		(*records)++;
		off = (size_t)(nl - text) + 1;
	}
	*used = off;
	buf_free(&p.p_tmp);
	return rc;
}

/* Read path into text: 0, 1 when it does not exist, -1 with err. */
static int reg_read(const char *path, struct buf *text, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen,
		         "state.file %s cannot be read (%s); fix its permissions, or move it "
		         "aside to start with no subscriptions",
		         path, strerror(errno));
		return -1;
	}
	if (buf_read_fd(text, fd) != 0) {
		snprintf(err, errlen,
		         "state.file %s cannot be read (%s); fix it, or move it aside to start "
		         "with no subscriptions",
		         path, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

static int reg_damaged(const char *path, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "state.file %s is damaged (%s); nothing was changed: fix it, or move it "
	         "aside (mv %s %s.bad) to start with no subscriptions",
	         path, why, path, path);
	return -1;
}

int registry_load(struct registry *r, char *err, size_t errlen)
{
	struct buf text = BUF_INITIALIZER;
	const char *why = NULL;
	size_t used, records;
	int rc;

	if (r->r_path == NULL)
		return 0;
	rc = reg_read(r->r_path, &text, err, errlen);
	if (rc == 0 && registry_parse(r, buf_data(&text), buf_len(&text), &why) != 0)
		rc = reg_damaged(r->r_path, why, err, errlen);
	if (rc < 0)
		goto out;
	r->r_snap_n = r->r_n;
	buf_reset(&text);
	rc = reg_read(r->r_log_path, &text, err, errlen);
	if (rc == 0 &&
	    registry_replay(r, buf_data(&text), buf_len(&text), &used, &records, &why) != 0) {
		reg_clear(r);
		rc = reg_damaged(r->r_log_path, why, err, errlen);
	}
	if (rc == 0) {
		if (used < buf_len(&text))
			log_warnx("state.file %s: a change cut short by a crash (%zu bytes, never "
			          "answered) is dropped",
			          r->r_log_path, buf_len(&text) - used);
		r->r_log_size = (off_t)used;
		r->r_log_records = records;
	}
	rc = rc < 0 ? -1 : 0;
out:
	buf_free(&text);
	return rc;
}
