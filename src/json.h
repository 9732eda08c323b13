/*
 * json: jsmn-based JSON access and building (pure, no I/O).
 *
 * jsmn (JSMN_STRICT, parent links) does the tokenizing; this module adds
 * the checks jsmn leaves out (number and literal grammar, control
 * characters and UTF-8 in strings, one top-level value, trailing bytes).
 */
#ifndef OCTO_JSON_H
#define OCTO_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Append s as a JSON string literal (quoted, escaped). */
void json_append_string(struct buf *out, const char *s, size_t len);

/*
 * The event payload rewrite of DESIGN §5 "POST /events/{name}".
 * `in` is the request body: empty, whitespace-only or `null` means {}.
 * Output: the object's members, each member's key and value JSON text kept
 * byte for byte and in order, with `"_event":"<event>"` replacing any
 * existing `_event` (in its place) or appended, and, if ts_field is not
 * NULL, `"<ts_field>":<ts>` likewise. Members are separated by ',' and
 * key/value by ':', no other whitespace is added.
 * Returns 0, or -1 with *why set (static text) if `in` is not a JSON object.
 */
int json_event_payload(const char *in, size_t inlen, const char *event, size_t eventlen,
                       const char *ts_field, long long ts, struct buf *out, const char **why);

#endif
