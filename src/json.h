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
/* Public for the tests: the tests check that what the daemon builds is valid JSON. */
int json_validate(const char *in, size_t inlen, const char **why);

/*
 * The event payload rewrite of DESIGN §5 "POST /events/{name}".
 * `in` is the request body: empty, whitespace-only or `null` means {}.
 * Output: the object's members, each member's key and value JSON text kept
 * byte for byte and in order, with `"_event":"<event>"` replacing any
 * existing `_event` (in its place) or appended (unless event is NULL:
 * then `_event` is an ordinary member), and, if ts_field is not
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

/*
 * The members of a JSON object, for a request body read field by field.
 * key/key_len: the key between its quotes, escapes not decoded (compare
 * with json_key_is()); value/value_len: the value's JSON text, a string
 * with its quotes (decode with json_string_decode()).
 */
enum json_kind {
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL
};
struct json_member {
	const char *key;
	size_t key_len;
	enum json_kind kind;
	const char *value;
	size_t value_len;
};
typedef int (*json_member_fn)(void *ctx, const struct json_member *m, const char **why);
/*
 * Validate in[0..inlen) and call fn for each member of its top-level
 * object, in document order. Returns 0; -1 with *why set when the text is
 * not JSON, not an object ("body must be a JSON object"), or when fn
 * returned -1 (fn sets *why; the walk stops there).
 */
int json_object_each(const char *in, size_t inlen, json_member_fn fn, void *ctx, const char **why);
/* Is the member's key, decoded, exactly `name`? */
bool json_key_is(const struct json_member *m, const char *name);
/*
 * Append the decoded UTF-8 of a JSON string value (text with its quotes,
 * as json_object_each() gives it). -1 with *why if it holds a lone
 * surrogate escape such as "\ud800", which has no UTF-8 encoding.
 */
int json_string_decode(const char *text, size_t len, struct buf *out, const char **why);
/*
 * RFC 4648 base64, standard alphabet, '=' padding optional: append the
 * decoded bytes to out. -1 (out may hold part of the output) for any other
 * character, a bad length or padding, or non-zero left-over bits.
 */
int json_base64_decode(const char *s, size_t len, struct buf *out);
/* RFC 4648 base64 of data[0..len), standard alphabet, '=' padded, appended to out. */
void json_base64_encode(const void *data, size_t len, struct buf *out);

#endif
