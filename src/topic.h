/*
 * topic: MQTT topic name and filter rules (pure).
 *
 * A topic name is 1..65535 bytes of valid UTF-8 with no '+', '#' or NUL
 * (MQTT 3.1.1 §4.7). Later: filter validation, matching, covering sets.
 */
#ifndef OCTO_TOPIC_H
#define OCTO_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define TOPIC_MAX_LEN 65535

/* true if valid; otherwise false and *why names the problem (static text). */
bool topic_name_valid(const char *s, size_t len, const char **why);
/* Pure UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t len);

#endif
