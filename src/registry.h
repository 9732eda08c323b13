/*
 * registry: the webhook subscriptions of DESIGN §5, persisted to
 * state.file.
 *
 * A subscription is (topic filter, URL, args, kwargs) with a stable id;
 * args and kwargs are kept as the JSON text the client sent (an array and
 * an object). Registering an identical one again returns the existing
 * entry. Every change is durable on disk before it is reported done; if
 * writing it fails, nothing changed. Lookups by id and by contents are
 * hash tables: O(1) at any size.
 *
 * The state is two files. state.file, the snapshot, is one JSON object:
 *   {"octomqttd_subscriptions": 1,
 *    "subscriptions": {"<id>": {"topic": "...", "url": "...",
 *                               "args": [...], "kwargs": {...}}, ...}}
 * state.file + ".log" holds the changes since, one JSON object a line:
 *   {"add": {"<id>": {"topic": ..., "url": ..., "args": ..., "kwargs": ...}}}
 *   {"remove": "<id>"}
 * A change is appended and fdatasync()ed before it is reported done (one
 * small write however many subscriptions there are: issue 17); once the
 * log holds more records than the snapshot has subscriptions (at least 64),
 * the snapshot is rewritten atomically (a temporary file, fsync, rename,
 * fsync of the directory) and the log emptied, so each change costs O(1)
 * amortised. Replaying a record the snapshot already holds changes
 * nothing, so a crash between the rename and the emptying loses nothing;
 * a last record without its newline (a crash while writing it, never
 * answered) is dropped with a warning.
 * registry_parse() and registry_replay() read them (pure, for tests and
 * fuzzing).
 */
#ifndef OCTO_REGISTRY_H
#define OCTO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define REGISTRY_ID_LEN 16

struct reg_entry {
	char id[REGISTRY_ID_LEN + 1];
	char *topic, *url;
	char *args, *kwargs; /* JSON text: an array, an object */
	uint64_t seq;        /* grows with registration order */
};

struct registry;

/* An empty registry that persists to path (NULL: never persisted). */
struct registry *registry_new(const char *path);
/*
 * Read the snapshot and replay the log into r (which must be empty). A
 * missing file is an empty registry. 0, or -1 with err naming the file
 * and the problem (r is empty then).
 */
int registry_load(struct registry *r, char *err, size_t errlen);
/* Parse state-file text into r (pure). 0, or -1 with *why (static text). */
int registry_parse(struct registry *r, const char *text, size_t len, const char **why);
/*
 * Replay log text over r (after registry_parse). *used: the bytes of
 * complete records (a torn last line is not); *records: how many. 0, or
 * -1 with *why (static text): r then holds part of the changes.
 */
int registry_replay(struct registry *r, const char *text, size_t len, size_t *used, size_t *records,
                    const char **why);
/* The snapshot text of r. */
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
/*
 * The i-th subscription (0 <= i < count), in registration order. Entries
 * stay where they are until removed: a pointer to one is good till then.
 */
const struct reg_entry *registry_at(const struct registry *r, size_t i);
const struct reg_entry *registry_find(const struct registry *r, const char *id);
/*
 * fn(ctx, e, true) after e was added by registry_add, fn(ctx, e, false)
 * before a registry_remove_* takes e away (e is still good then); not for
 * what registry_load reads. One hook; fn NULL removes it. How subs follows
 * the registry without comparing it whole after each change.
 */
typedef void registry_hook_fn(void *ctx, const struct reg_entry *e, bool added);
void registry_set_hook(struct registry *r, registry_hook_fn *fn, void *ctx);
/*
 * fdatasync() the changes logged since the last call (nothing to do: 0 at
 * once); main calls it, with the spool's, before the answers of a loop
 * pass go out (group commit). 0, or -1 with err; after a failure the
 * next call rewrites the snapshot instead.
 */
int registry_sync(struct registry *r, char *err, size_t errlen);
void registry_free(struct registry *r);

#endif
