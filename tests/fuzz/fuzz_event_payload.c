/*
 * fuzz_event_payload: libFuzzer harness for json_event_payload().
 *
 * Input: one control byte, then a request body. The control byte picks the
 * event name (low bits), whether a timestamp member is added and its name.
 * On success the output must be valid JSON, an object with "_event"
 * exactly once at the top level (keys compared after unescaping) holding
 * the event name, the timestamp member likewise, and rewriting the output
 * again must give the same bytes (idempotence). On failure nothing may be
 * appended. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "buf.h"
#include "json.h"

#define FUZZ_TS      1700000000LL
#define FUZZ_TS_TEXT "1700000000"
/* Bytes already in the output buffer: the function must only append. */
#define FUZZ_PREFIX "prefix"

static const char *const fuzz_events[] = {
        "PrintStarted", "Startup", "ZChange", "Test", "a", "x.y-z_1", "_timestamp", "ts",
};

/* The code unit of a \uXXXX escape; the JSON is valid, so all four are hex. */
static unsigned fuzz_hex4(const char *s)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/*
 * Does the JSON string literal s[0..n) (quotes included) decode to want?
 * Only ASCII names are compared, so any \u escape above 0x7f is a mismatch.
 */
static bool fuzz_key_is(const char *s, size_t n, const char *want)
{
	size_t i = 1, w = 0, wlen = strlen(want);

	while (i + 1 < n) {
		unsigned c = (unsigned char)s[i++];

		if (c == '\\') {
			c = (unsigned char)s[i++];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				c = fuzz_hex4(s + i);
				i += 4;
				break;
			default:
				break; /* \" \\ \/ stand for themselves */
			}
		}
		if (w >= wlen || c != (unsigned char)want[w])
			return false;
		w++;
	}
	return w == wlen;
}

/* Length of the JSON string literal starting at s[0] == '"', quotes included. */
static size_t fuzz_string_len(const char *s, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	FUZZ_ASSERT(!"unterminated string in valid JSON");
	return n;
}

/*
 * Count the top-level members of the valid JSON object obj[0..n) whose key
 * is `key`; the value text of the last one goes to *val.
 */
static size_t fuzz_count_key(const char *obj, size_t n, const char *key, const char **val,
                             size_t *vallen)
{
	size_t i = 1, count = 0;

	/* The output has no whitespace between members, by contract. */
	while (i < n - 1) {
		size_t klen = fuzz_string_len(obj + i, n - i), vstart, depth = 0;
		bool is_key;

		FUZZ_ASSERT(obj[i] == '"');
		is_key = fuzz_key_is(obj + i, klen, key);
		i += klen;
		FUZZ_ASSERT(obj[i] == ':');
		vstart = ++i;
		while (i < n - 1 && (depth > 0 || obj[i] != ',')) {
			if (obj[i] == '"') {
				i += fuzz_string_len(obj + i, n - i);
				continue;
			}
			if (obj[i] == '{' || obj[i] == '[')
				depth++;
			else if (obj[i] == '}' || obj[i] == ']')
				depth--;
			i++;
		}
		if (is_key) {
			count++;
			*val = obj + vstart;
			*vallen = i - vstart;
		}
		if (obj[i] == ',')
			i++;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *event, *ts_field, *why = NULL, *val = NULL, *out;
	struct buf first = BUF_INITIALIZER, second = BUF_INITIALIZER;
	size_t elen, outlen, vallen = 0, plen = strlen(FUZZ_PREFIX);
	unsigned ctl;
	char *body, want[64];
	int rc;

	if (size < 1)
		return 0;
	ctl = data[0];
	event = fuzz_events[ctl % (sizeof(fuzz_events) / sizeof(fuzz_events[0]))];
	elen = strlen(event);
	ts_field = (ctl & 0x08) ? NULL : (ctl & 0x10) ? "time" : "_timestamp";
	/* An exact-size heap copy lets ASan see any read past the end. */
	body = malloc(size > 1 ? size - 1 : 1);
	memcpy(body, data + 1, size - 1);

	buf_append_str(&first, FUZZ_PREFIX);
	rc = json_event_payload(body, size - 1, event, elen, ts_field, FUZZ_TS, &first, &why);
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1 && why != NULL);
		FUZZ_ASSERT(buf_len(&first) == plen);
		goto done;
	}
	FUZZ_ASSERT(buf_len(&first) > plen && memcmp(buf_data(&first), FUZZ_PREFIX, plen) == 0);
	out = buf_data(&first) + plen;
	outlen = buf_len(&first) - plen;
	FUZZ_ASSERT(json_validate(out, outlen, &why) == 0);
	FUZZ_ASSERT(outlen >= 2 && out[0] == '{' && out[outlen - 1] == '}');

	FUZZ_ASSERT(fuzz_count_key(out, outlen, "_event", &val, &vallen) == 1);
	snprintf(want, sizeof(want), "\"%s\"", event);
	FUZZ_ASSERT(vallen == strlen(want) && memcmp(val, want, vallen) == 0);
	if (ts_field != NULL) {
		FUZZ_ASSERT(fuzz_count_key(out, outlen, ts_field, &val, &vallen) == 1);
		FUZZ_ASSERT(vallen == strlen(FUZZ_TS_TEXT) &&
		            memcmp(val, FUZZ_TS_TEXT, vallen) == 0);
	}

	/* The rewrite of a rewrite changes nothing. */
	rc = json_event_payload(out, outlen, event, elen, ts_field, FUZZ_TS, &second, &why);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(buf_len(&second) == outlen && memcmp(buf_data(&second), out, outlen) == 0);
done:
	buf_free(&first);
	buf_free(&second);
	free(body);
	return 0;
}
