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

/*
 * Append s as a JSON string literal: quoted; '"', '\\' and control
 * characters escaped (\n \r \t \b \f, others \u00XX); well-formed UTF-8
 * copied as is; a byte that is not part of well-formed UTF-8 becomes
 * \ufffd, so the output is always valid JSON.
 */
void json_append_string(struct buf *out, const char *s, size_t len);

/*
 * Is in[0..inlen) exactly one RFC 8259 JSON value (any type), optionally
 * surrounded by whitespace? 0, or -1 with *why set (static text, e.g.
 * "invalid JSON: unexpected end"). Arrays and objects may nest at most
 * 128 deep: jsmn's cost per closing bracket grows with the depth.
 */
int json_validate(const char *in, size_t inlen, const char **why);

/*
 * The event payload rewrite of DESIGN §5 "POST /events/{name}".
 * `in` is the request body: empty, whitespace-only or `null` means {}.
 * Output: the object's members, each member's key and value JSON text kept
 * byte for byte and in order, with `"_event":"<event>"` replacing any
 * existing `_event` (in its place) or appended, and, if ts_field is not
 * NULL, `"<ts_field>":<ts>` likewise. Members are separated by ',' and
 * key/value by ':', no other whitespace is added.
 * The output is the whole object, braces included. A member's key is
 * compared after decoding its escapes ("\u005fevent" is "_event"); members
 * after the first with the same key are removed. ts_field, if set, must
 * not be "_event". Appends to out (nothing on failure).
 * Returns 0, or -1 with *why set (static text) if `in` is not a JSON object
 * ("body must be a JSON object") or not JSON ("invalid JSON: ...").
 */
int json_event_payload(const char *in, size_t inlen, const char *event, size_t eventlen,
                       const char *ts_field, long long ts, struct buf *out, const char **why);

#endif
