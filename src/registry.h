/*
 * registry: the webhook subscriptions of DESIGN §5, persisted to
 * state.file.
 *
 * A subscription is (topic filter, URL, args, kwargs) with a stable id;
 * args and kwargs are kept as the JSON text the client sent (an array and
 * an object). Registering an identical one again returns the existing
 * entry. Every change is written to the state file atomically (a
 * temporary file, fsync, rename, fsync of the directory) before it is
 * reported done; if that fails the change is undone.
 *
 * The state file is one JSON object:
 *   {"octomqttd_subscriptions": 1,
 *    "subscriptions": {"<id>": {"topic": "...", "url": "...",
 *                               "args": [...], "kwargs": {...}}, ...}}
 * registry_parse() reads it (pure, for tests and fuzzing).
 */
#ifndef OCTO_REGISTRY_H
#define OCTO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define REGISTRY_ID_LEN 16

struct reg_entry {
	char id[REGISTRY_ID_LEN + 1];
	char *topic, *url;
	char *args, *kwargs; /* JSON text: an array, an object */
};

struct registry;

/* An empty registry that persists to path (NULL: never persisted). */
struct registry *registry_new(const char *path);
/*
 * Read path into r (which must be empty). A missing file is an empty
 * registry. 0, or -1 with err naming the file and the problem.
 */
int registry_load(struct registry *r, char *err, size_t errlen);
/* Parse state-file text into r (pure). 0, or -1 with *why (static text). */
int registry_parse(struct registry *r, const char *text, size_t len, const char **why);
/* The state-file text of r. */
void registry_serialize(const struct registry *r, struct buf *out);

/*
 * Add a subscription (args/kwargs: JSON text, NULL for [] / {}); strings
 * are copied. *created tells whether it is new. Returns the entry, or
 * NULL with err set when the state file could not be written (nothing
 * changed then).
 */
const struct reg_entry *registry_add(struct registry *r, const char *topic, const char *url,
                                     const char *args, const char *kwargs, bool *created, char *err,
                                     size_t errlen);
/*
 * Remove every subscription of url, or with topic (not NULL) only those
 * whose filter equals it exactly. The number removed, or -1 with err set
 * when the state file could not be written (nothing changed then).
 */
long registry_remove_url(struct registry *r, const char *url, const char *topic, char *err,
                         size_t errlen);
/* Remove the one with this id: 1, 0 if unknown, -1 with err (as above). */
int registry_remove_id(struct registry *r, const char *id, char *err, size_t errlen);

size_t registry_count(const struct registry *r);
/* The i-th subscription (0 <= i < count), in registration order. */
const struct reg_entry *registry_at(const struct registry *r, size_t i);
const struct reg_entry *registry_find(const struct registry *r, const char *id);
void registry_free(struct registry *r);

#endif
