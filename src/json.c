/*
 * json: string escaping, the event payload rewrite of DESIGN §5, the
 * members of an object and base64 (pure, no I/O). The validating parser
 * is json_parse.c; everything here reads the tokens it checked.
 */
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "json_parse.h"
#include "log.h"
#include "topic.h"

#define JSON_WHY_NOTOBJECT "body must be a JSON object"

/* ASCII that json_append_string() copies without escaping. */
static bool json_plain_ascii(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

void json_append_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, n;

	buf_reserve(out, len + 2);
	buf_putc(out, '"');
	while (i < len) {
		/* Copy the longest run that needs no escaping in one go. */
		run = i;
		while (run < len && json_plain_ascii(u[run]))
			run++;
		if (run > i) {
			buf_append(out, s + i, run - i);
			i = run;
			continue;
		}
		switch (u[i]) {
		case '"':
			buf_append(out, "\\\"", 2);
			break;
		case '\\':
			buf_append(out, "\\\\", 2);
			break;
		case '\n':
			buf_append(out, "\\n", 2);
			break;
		case '\r':
			buf_append(out, "\\r", 2);
			break;
		case '\t':
			buf_append(out, "\\t", 2);
			break;
		case '\b':
			buf_append(out, "\\b", 2);
			break;
		case '\f':
			buf_append(out, "\\f", 2);
			break;
		default:
			if (u[i] < 0x20) {
				char esc[6] = {'\\',           'u', '0', '0', hex[u[i] >> 4],
				               hex[u[i] & 0xf]};

				buf_append(out, esc, sizeof(esc));
				break;
			}
			n = utf8_seq_len(u + i, len - i);
			if (n > 0) {
				buf_append(out, s + i, n);
				i += n;
				continue;
			}
			/* Not UTF-8: keep the output valid JSON. */
			buf_append(out, "\\ufffd", 6);
			break;
		}
		i++;
	}
	buf_putc(out, '"');
}

/*
 * Next code point of the (validated) string contents js[*i..end), with
 * escapes decoded; a surrogate pair gives one code point, a lone surrogate
 * is returned as is (it matches no well-formed key).
 */
static uint32_t json_next_cp(const char *js, size_t *i, size_t end)
{
	const unsigned char *s = (const unsigned char *)js;
	uint32_t cp, lo;
	size_t n, k;

	if (s[*i] != '\\') {
		if (s[*i] < 0x80)
			return s[(*i)++];
		n = utf8_seq_len(s + *i, end - *i);
		cp = s[*i] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
		for (k = 1; k < n; k++)
			cp = (cp << 6) | (s[*i + k] & 0x3f);
		*i += n;
		return cp;
	}
	switch (s[*i + 1]) {
	case 'b':
		*i += 2;
		return '\b';
	case 'f':
		*i += 2;
		return '\f';
	case 'n':
		*i += 2;
		return '\n';
	case 'r':
		*i += 2;
		return '\r';
	case 't':
		*i += 2;
		return '\t';
	case 'u':
		break;
	default:
		*i += 2;
		return s[*i - 1];
	}
	cp = 0;
	for (k = 2; k < 6; k++)
		cp = (cp << 4) | (uint32_t)hex_value(s[*i + k]);
	*i += 6;
	if (cp >= 0xd800 && cp <= 0xdbff && *i + 6 <= end && s[*i] == '\\' && s[*i + 1] == 'u') {
		lo = 0;
		for (k = 2; k < 6; k++)
			lo = (lo << 4) | (uint32_t)hex_value(s[*i + k]);
		if (lo >= 0xdc00 && lo <= 0xdfff) {
			*i += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
	}
	return cp;
}

/* UTF-8 encoding of code point cp into enc: its length, 0 for a surrogate. */
static size_t json_utf8_put(uint32_t cp, unsigned char enc[4])
{
	if (cp < 0x80) {
		enc[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		enc[0] = (unsigned char)(0xc0 | (cp >> 6));
		enc[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	if (cp < 0x10000) {
		enc[0] = (unsigned char)(0xe0 | (cp >> 12));
		enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		enc[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	enc[0] = (unsigned char)(0xf0 | (cp >> 18));
	enc[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	enc[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	enc[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Do the (validated) string contents js[start..end), decoded, equal the
 * UTF-8 bytes want[0..wantlen)? */
static bool json_text_equals(const char *js, size_t start, size_t end, const char *want,
                             size_t wantlen)
{
	const unsigned char *w = (const unsigned char *)want;
	size_t i = start, k = 0, n;
	unsigned char enc[4];

	while (i < end) {
		n = json_utf8_put(json_next_cp(js, &i, end), enc);
		if (n == 0 || wantlen - k < n || memcmp(w + k, enc, n) != 0)
			return false;
		k += n;
	}
	return k == wantlen;
}

static bool json_tok_equals(const struct json_doc *d, const jsmntok_t *t, const char *want,
                            size_t wantlen)
{
	size_t n = (size_t)(t->end - t->start);

	/* Without escapes the (validated) text is its own decoding. */
	if (memchr(d->js + t->start, '\\', n) == NULL)
		return n == wantlen && memcmp(d->js + t->start, want, n) == 0;
	return json_text_equals(d->js, (size_t)t->start, (size_t)t->end, want, wantlen);
}

static void json_put_member_event(struct buf *out, const char *event, size_t eventlen)
{
	buf_append_str(out, "\"_event\":");
	json_append_string(out, event, eventlen);
}

static void json_put_member_ts(struct buf *out, const char *ts_field, long long ts)
{
	json_append_string(out, ts_field, strlen(ts_field));
	buf_putc(out, ':');
	buf_append_int(out, ts);
}

static bool json_is_null_body(const char *in, size_t inlen)
{
	size_t a = 0, b = inlen;

	while (a < b && json_is_ws((unsigned char)in[a]))
		a++;
	while (b > a && json_is_ws((unsigned char)in[b - 1]))
		b--;
	return a == b || (b - a == 4 && memcmp(in + a, "null", 4) == 0);
}

int json_event_payload(const char *in, size_t inlen, const char *event, size_t eventlen,
                       const char *ts_field, long long ts, struct buf *out, const char **why)
{
	struct json_doc d;
	bool seen_event = false, seen_ts = false, first = true;
	size_t ts_len = ts_field != NULL ? strlen(ts_field) : 0;
	const jsmntok_t *k, *v;
	int i;

	d.ntok = 0;
	d.tok = d.stack;
	if (!json_is_null_body(in, inlen)) {
		if (json_parse(&d, in, inlen, why) < 0)
			return -1;
		if (d.tok[0].type != JSMN_OBJECT) {
			json_doc_free(&d);
			*why = JSON_WHY_NOTOBJECT;
			return -1;
		}
	}
	/* Room for the usual case at once: the members, _event and the timestamp. */
	buf_reserve(out, inlen + eventlen + ts_len + 48);
	buf_putc(out, '{');
	/* The root's members are the keys whose parent is token 0. */
	for (i = 1; i < d.ntok; i++) {
		enum { COPY, EVENT, TS } what = COPY;

		k = &d.tok[i];
		if (k->parent != 0)
			continue;
		v = &d.tok[i + 1];
		if (event != NULL && json_tok_equals(&d, k, "_event", 6)) {
			if (seen_event)
				continue;
			seen_event = true;
			what = EVENT;
		} else if (ts_field != NULL && json_tok_equals(&d, k, ts_field, ts_len)) {
			if (seen_ts)
				continue;
			seen_ts = true;
			what = TS;
		}
		if (!first)
			buf_putc(out, ',');
		first = false;
		if (what == EVENT) {
			json_put_member_event(out, event, eventlen);
		} else if (what == TS) {
			json_put_member_ts(out, ts_field, ts);
		} else {
			buf_append(out, in + json_tok_begin(k),
			           json_tok_finish(k) - json_tok_begin(k));
			buf_putc(out, ':');
			buf_append(out, in + json_tok_begin(v),
			           json_tok_finish(v) - json_tok_begin(v));
		}
	}
	if (event != NULL && !seen_event) {
		if (!first)
			buf_putc(out, ',');
		first = false;
		json_put_member_event(out, event, eventlen);
	}
	if (ts_field != NULL && !seen_ts) {
		if (!first)
			buf_putc(out, ',');
		json_put_member_ts(out, ts_field, ts);
	}
	buf_putc(out, '}');
	json_doc_free(&d);
	return 0;
}

static enum json_kind json_tok_kind(const char *js, const jsmntok_t *t)
{
	switch (t->type) {
	case JSMN_OBJECT:
		return JSON_OBJECT;
	case JSMN_ARRAY:
		return JSON_ARRAY;
	case JSMN_STRING:
		return JSON_STRING;
	default:
		break;
	}
	switch (js[t->start]) {
	case 't':
		return JSON_TRUE;
	case 'f':
		return JSON_FALSE;
	case 'n':
		return JSON_NULL;
	default:
		return JSON_NUMBER;
	}
}

int json_object_each(const char *in, size_t inlen, json_member_fn fn, void *ctx, const char **why)
{
	struct json_doc d;
	struct json_member m;
	int i, rc = 0;

	if (json_parse(&d, in, inlen, why) < 0)
		return -1;
	if (d.tok[0].type != JSMN_OBJECT) {
		json_doc_free(&d);
		*why = JSON_WHY_NOTOBJECT;
		return -1;
	}
	for (i = 1; i < d.ntok && rc == 0; i++) {
		const jsmntok_t *k = &d.tok[i], *v = &d.tok[i + 1];

		if (k->parent != 0)
			continue;
		m.key = in + k->start;
		m.key_len = (size_t)(k->end - k->start);
		m.kind = json_tok_kind(in, v);
		m.value = in + json_tok_begin(v);
		m.value_len = json_tok_finish(v) - json_tok_begin(v);
		rc = fn(ctx, &m, why);
	}
	json_doc_free(&d);
	return rc < 0 ? -1 : 0;
}

bool json_key_is(const struct json_member *m, const char *name)
{
	return json_text_equals(m->key, 0, m->key_len, name, strlen(name));
}

int json_string_decode(const char *text, size_t len, struct buf *out, const char **why)
{
	size_t i = 1, end = len - 1, n;
	unsigned char enc[4];

	while (i < end) {
		n = json_utf8_put(json_next_cp(text, &i, end), enc);
		if (n == 0) {
			*why = "string holds a lone surrogate escape (no UTF-8 for it)";
			return -1;
		}
		buf_append(out, enc, n);
	}
	return 0;
}

/* Value of each base64 character; 0xff for any other byte. */
static int json_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return 0xff;
}

/*
 * The decoder's tables: json_b64_dec[k][c] is character c at place k of
 * a group of four, as the 32-bit word whose first three bytes in memory
 * are its bits of the group's three bytes (any byte order), and whose
 * fourth byte is 1 if c is not base64. A group is then four loads, three
 * ORs, a test and one 4-byte store (whose fourth byte the next group
 * overwrites). Filled once, on first use; 4 KiB.
 */
static uint32_t json_b64_dec[4][256];
static uint32_t json_b64_bad; /* the fourth byte's bits */

static void json_b64_fill(void)
{
	unsigned char w[4] = {0, 0, 0, 0xff};
	int k, c, v;
	uint32_t g;

	memcpy(&json_b64_bad, w, 4);
	for (k = 0; k < 4; k++) {
		for (c = 0; c < 256; c++) {
			v = json_b64_val((unsigned char)c);
			g = v == 0xff ? 0 : (uint32_t)v << (18 - 6 * k);
			w[0] = (unsigned char)(g >> 16);
			w[1] = (unsigned char)(g >> 8);
			w[2] = (unsigned char)g;
			w[3] = v == 0xff;
			memcpy(&json_b64_dec[k][c], w, 4);
		}
	}
}

/* The group of the four characters at p, as above. */
static uint32_t json_b64_group(const unsigned char *p)
{
	return json_b64_dec[0][p[0]] | json_b64_dec[1][p[1]] | json_b64_dec[2][p[2]] |
	       json_b64_dec[3][p[3]];
}

int json_base64_decode(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *w, last[4] = {'A', 'A', 'A', 'A'}, g[4];
	uint32_t x;
	size_t i, pad = 0, full, rest;

	if (json_b64_bad == 0)
		json_b64_fill();
	/* Padding, if present, makes the length a multiple of 4. */
	while (len > 0 && p[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	full = len / 4 * 4;
	rest = len - full;
	/*
	 * One pass, four characters to three bytes, straight into out's
	 * room (one byte more for the last 4-byte store); out is left as it
	 * was unless all of it is valid.
	 */
	buf_reserve(out, len / 4 * 3 + 4);
	w = (unsigned char *)buf_tail(out);
	for (i = 0; i < full; i += 4) {
		x = json_b64_group(p + i);
		if (x & json_b64_bad)
			return -1;
		memcpy(w, &x, 4);
		w += 3;
	}
	if (rest > 0) {
		/* 2 characters: one byte; 3: two bytes. 'A' (0) fills the group. */
		memcpy(last, p + i, rest);
		x = json_b64_group(last);
		memcpy(g, &x, 4);
		if ((x & json_b64_bad) || g[rest - 1] != 0)
			return -1; /* left-over bits must be zero: one encoding per result */
		memcpy(w, g, rest - 1);
		w += rest - 1;
	}
	buf_produced(out, (size_t)(w - (unsigned char *)buf_tail(out)));
	return 0;
}

void json_base64_encode(const void *data, size_t len, struct buf *out)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *w;
	size_t i;

	buf_reserve(out, (len + 2) / 3 * 4);
	w = buf_tail(out);
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*w++ = alphabet[v >> 18];
		*w++ = alphabet[(v >> 12) & 63];
		*w++ = alphabet[(v >> 6) & 63];
		*w++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		*w++ = alphabet[v >> 18];
		*w++ = alphabet[(v >> 12) & 63];
		*w++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*w++ = '=';
	}
	buf_produced(out, (size_t)(w - buf_tail(out)));
}
