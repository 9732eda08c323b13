/*
 * topic: MQTT topic name and filter rules (pure).
 *
 * A topic name is 1..65535 bytes of valid UTF-8 with no '+', '#' or NUL
 * (MQTT 3.1.1 §4.7). A filter may also hold '+' as a whole level and '#'
 * alone as the last level. Matching follows §4.7: "a/#" matches "a", and
 * a filter starting with a wildcard matches no topic starting with '$'.
 */
#ifndef OCTO_TOPIC_H
#define OCTO_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define TOPIC_MAX_LEN 65535

/* true if valid; otherwise false and *why names the problem (static text). */
bool topic_name_valid(const char *s, size_t len, const char **why);
/* Filter rules as for names, with '+' and '#' where §4.7.1 allows them. */
bool topic_filter_valid(const char *s, size_t len, const char **why);
/* Does (valid) filter f match (valid) topic name t? */
bool topic_match(const char *f, size_t flen, const char *t, size_t tlen);
/* Does every topic that filter b matches also match filter a? */
bool topic_filter_covers(const char *a, size_t alen, const char *b, size_t blen);

struct topic_span {
	const char *s;
	size_t len;
};
/*
 * The covering set of f[0..n): needed[i] is false when another filter
 * covers f[i] (of filters that cover each other, such as equal ones, the
 * first stays). Subscribing to the needed ones receives every message any
 * filter matches, each once. O(n^2) comparisons.
 */
void topic_covering_set(const struct topic_span *f, size_t n, bool *needed);

/* Can one topic name match both filters a and b? */
bool topic_filters_overlap(const char *a, size_t alen, const char *b, size_t blen);
/*
 * Append to out the most specific filter that covers both a and b:
 * levels that agree are kept, others become '+', and a difference in
 * depth or a '#' ends it with '#'. For a and b that overlap.
 */
void topic_filter_join(const char *a, size_t alen, const char *b, size_t blen, struct buf *out);

/*
 * The filters to subscribe at the broker for the registered filters
 * f[0..n): every topic some f[i] matches is matched by exactly one of them
 * (a filter another covers is dropped; two that overlap are joined), so a
 * broker that sends one copy per matching subscription still sends one.
 * Appended to out NUL-terminated, one after the other; returns how many.
 * O(n^2) and more: the daemon keeps the set with bset, one change at a
 * time. Public for the tests: test_bset checks bset against it.
 */
size_t topic_broker_set(const struct topic_span *f, size_t n, struct buf *out);

/* Pure UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t len);
/*
 * Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80, avail
 * bytes readable), or 0: overlong forms, UTF-16 surrogates and anything
 * above U+10FFFF are not (RFC 3629 §4). utf8_valid() is built on it.
 */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
