/*
 * json: RFC 8259 validation on top of jsmn, string escaping, and the event
 * payload rewrite of DESIGN §5 (pure, no I/O).
 *
 * jsmn tokenizes but accepts much that is not JSON (missing or doubled
 * separators, several top-level values, any primitive spelling, raw
 * control characters and bad UTF-8 in strings). json_parse() runs jsmn and
 * then walks the tokens once, checking that every byte outside a token is
 * whitespace or exactly the separator the grammar wants there, and that
 * every primitive and string token is well formed. Only then is the token
 * array handed to the rewrite. Nothing recurses; work and memory are
 * linear in the input, given the nesting limit (JSON_MAX_DEPTH).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include "json.h"
#include "log.h"
#include "topic.h"

/* Documents up to this many tokens are parsed without allocating. */
#define JSON_STACK_TOKENS 64
/*
 * Deepest nesting of arrays and objects accepted. jsmn (with parent links)
 * looks for the container a ']' or '}' closes by climbing from the last
 * token, so each close costs up to the nesting depth: unbounded depth would
 * make a 1 MiB body of brackets take quadratic time in the event loop.
 */
#define JSON_MAX_DEPTH 128

#define JSON_WHY_END       "invalid JSON: unexpected end"
#define JSON_WHY_CHAR      "invalid JSON: unexpected character"
#define JSON_WHY_NUL       "invalid JSON: NUL byte"
#define JSON_WHY_BIG       "invalid JSON: too large"
#define JSON_WHY_DEEP      "invalid JSON: nested too deeply"
#define JSON_WHY_TRAILING  "invalid JSON: more than one value or trailing characters"
#define JSON_WHY_COMMA     "invalid JSON: expected ',' between values"
#define JSON_WHY_COLON     "invalid JSON: expected ':' after an object key"
#define JSON_WHY_KEY       "invalid JSON: object key must be a string"
#define JSON_WHY_MEMBER    "invalid JSON: object member without a value"
#define JSON_WHY_NUMBER    "invalid JSON: bad number"
#define JSON_WHY_LITERAL   "invalid JSON: bad literal (true, false, null)"
#define JSON_WHY_CONTROL   "invalid JSON: control character in string"
#define JSON_WHY_ESCAPE    "invalid JSON: bad escape in string"
#define JSON_WHY_UTF8      "invalid JSON: invalid UTF-8 in string"
#define JSON_WHY_NOTOBJECT "body must be a JSON object"

struct json_doc {
	const char *js;
	size_t len;
	jsmntok_t *tok; /* ntok tokens in document order (pre-order) */
	int ntok;
	jsmntok_t stack[JSON_STACK_TOKENS];
};

static bool json_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool json_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Check the string whose contents start at js[from] (after the opening
 * quote). On success *end is the offset of the closing quote.
 */
static int json_check_string(const char *js, size_t from, size_t len, size_t *end, const char **why)
{
	const unsigned char *s = (const unsigned char *)js;
	size_t i = from, n;
	int k;

	while (i < len) {
		if (s[i] == '"') {
			*end = i;
			return 0;
		}
		if (s[i] < 0x20) {
			*why = JSON_WHY_CONTROL;
			return -1;
		}
		if (s[i] == '\\') {
			if (i + 1 >= len)
				break;
			switch (s[i + 1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				i += 2;
				continue;
			case 'u':
				for (k = 0; k < 4; k++) {
					if (i + 2 + k >= len)
						goto partial;
					if (hex_value(s[i + 2 + k]) < 0) {
						*why = JSON_WHY_ESCAPE;
						return -1;
					}
				}
				i += 6;
				continue;
			default:
				*why = JSON_WHY_ESCAPE;
				return -1;
			}
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq_len(s + i, len - i);
		if (n == 0) {
			*why = JSON_WHY_UTF8;
			return -1;
		}
		i += n;
	}
partial:
	*why = JSON_WHY_END;
	return -1;
}

/* RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool json_number_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !json_is_digit(s[i]))
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && json_is_digit(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !json_is_digit(s[i]))
			return false;
		while (i < n && json_is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !json_is_digit(s[i]))
			return false;
		while (i < n && json_is_digit(s[i]))
			i++;
	}
	return i == n;
}

static int json_check_primitive(const char *js, size_t start, size_t end, const char **why)
{
	const unsigned char *s = (const unsigned char *)js + start;
	size_t n = end - start;

	if (s[0] == '-' || json_is_digit(s[0])) {
		if (json_number_ok(s, n))
			return 0;
		*why = JSON_WHY_NUMBER;
		return -1;
	}
	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	    (n == 4 && memcmp(s, "null", 4) == 0))
		return 0;
	*why = JSON_WHY_LITERAL;
	return -1;
}

/*
 * The bytes js[from..to) must be whitespace, or, if sep is not 0,
 * whitespace around exactly one sep.
 */
static bool json_gap_ok(const char *js, size_t from, size_t to, char sep)
{
	size_t i = from;

	while (i < to && json_is_ws((unsigned char)js[i]))
		i++;
	if (sep != 0) {
		if (i >= to || js[i] != sep)
			return false;
		i++;
		while (i < to && json_is_ws((unsigned char)js[i]))
			i++;
	}
	return i == to;
}

/* First byte of a token's text: strings include their opening quote. */
static size_t json_tok_begin(const jsmntok_t *t)
{
	return (size_t)t->start - (t->type == JSMN_STRING ? 1 : 0);
}

/* One past a token's text: strings include their closing quote. */
static size_t json_tok_finish(const jsmntok_t *t)
{
	return (size_t)t->end + (t->type == JSMN_STRING ? 1 : 0);
}

static bool json_is_container(const jsmntok_t *t)
{
	return t->type == JSMN_OBJECT || t->type == JSMN_ARRAY;
}

/* Check one token on its own and against its parent. */
static int json_check_token(const struct json_doc *d, int i, const char **why)
{
	const jsmntok_t *t = &d->tok[i];
	int p = t->parent;
	size_t end;

	if (p >= 0) {
		const jsmntok_t *pt = &d->tok[p];

		if (pt->type == JSMN_OBJECT && t->type != JSMN_STRING) {
			*why = JSON_WHY_KEY;
			return -1;
		}
		/* A string parent is a key; only object members have one. */
		if (pt->type == JSMN_PRIMITIVE ||
		    (pt->type == JSMN_STRING &&
		     (pt->parent < 0 || d->tok[pt->parent].type != JSMN_OBJECT))) {
			*why = JSON_WHY_COMMA;
			return -1;
		}
	}
	if (t->type == JSMN_STRING) {
		bool is_key = p >= 0 && d->tok[p].type == JSMN_OBJECT;

		if (is_key && t->size != 1) {
			*why = t->size == 0 ? JSON_WHY_MEMBER : JSON_WHY_COMMA;
			return -1;
		}
		if (!is_key && t->size != 0) {
			*why = JSON_WHY_COMMA;
			return -1;
		}
		if (json_check_string(d->js, (size_t)t->start, d->len, &end, why) < 0)
			return -1;
		if (end != (size_t)t->end) {
			*why = JSON_WHY_CHAR;
			return -1;
		}
	} else if (t->type == JSMN_PRIMITIVE) {
		if (t->size != 0) {
			*why = JSON_WHY_COMMA;
			return -1;
		}
		return json_check_primitive(d->js, (size_t)t->start, (size_t)t->end, why);
	}
	return 0;
}

/*
 * Walk the tokens in document order and check the bytes between them.
 * Before token i comes, in valid JSON, one of: its parent's opening
 * bracket (first child), its key and a ':' (member value), or the end of
 * the previous sibling and a ','. The end of the previous sibling is found
 * by climbing from token i-1 to i's parent, checking that each container
 * passed on the way holds only whitespace after its last child. The same
 * climb to the root with a virtual token at the end checks the trailer.
 */
static int json_check_structure(const struct json_doc *d, const char **why)
{
	int i, a, p;
	size_t pos;

	if (!json_gap_ok(d->js, 0, json_tok_begin(&d->tok[0]), 0)) {
		*why = JSON_WHY_CHAR;
		return -1;
	}
	if (json_check_token(d, 0, why) < 0)
		return -1;
	for (i = 1; i <= d->ntok; i++) {
		const jsmntok_t *prev = &d->tok[i - 1];
		const jsmntok_t *t = i < d->ntok ? &d->tok[i] : NULL;

		p = t != NULL ? t->parent : -1;
		if (t != NULL && p == i - 1) {
			if (json_is_container(prev)) {
				if (!json_gap_ok(d->js, (size_t)prev->start + 1, json_tok_begin(t),
				                 0)) {
					*why = JSON_WHY_CHAR;
					return -1;
				}
			} else if (!json_gap_ok(d->js, json_tok_finish(prev), json_tok_begin(t),
			                        ':')) {
				*why = JSON_WHY_COLON;
				return -1;
			}
		} else {
			/* prev has no children left: if a container, it is empty. */
			if (json_is_container(prev) && !json_gap_ok(d->js, (size_t)prev->start + 1,
			                                            (size_t)prev->end - 1, 0)) {
				*why = JSON_WHY_CHAR;
				return -1;
			}
			pos = json_tok_finish(prev);
			for (a = prev->parent; a != p; a = d->tok[a].parent) {
				if (a < 0) {
					*why = JSON_WHY_CHAR;
					return -1;
				}
				if (!json_is_container(&d->tok[a]))
					continue;
				if (!json_gap_ok(d->js, pos, (size_t)d->tok[a].end - 1, 0)) {
					*why = JSON_WHY_COMMA;
					return -1;
				}
				pos = (size_t)d->tok[a].end;
			}
			if (t == NULL) {
				if (!json_gap_ok(d->js, pos, d->len, 0)) {
					*why = JSON_WHY_TRAILING;
					return -1;
				}
				break;
			}
			if (p < 0) {
				*why = JSON_WHY_TRAILING;
				return -1;
			}
			if (!json_is_container(&d->tok[p]) ||
			    !json_gap_ok(d->js, pos, json_tok_begin(t), ',')) {
				*why = JSON_WHY_COMMA;
				return -1;
			}
		}
		if (json_check_token(d, i, why) < 0)
			return -1;
	}
	return 0;
}

/* Explain a jsmn failure at parser position pos. */
static const char *json_jsmn_why(const char *js, size_t len, int rc, unsigned pos)
{
	const char *why = JSON_WHY_CHAR;
	size_t end;

	if (rc == JSMN_ERROR_PART)
		return JSON_WHY_END;
	/* jsmn rewinds to the opening quote of a string it rejects. */
	if (pos < len && js[pos] == '"' && json_check_string(js, pos + 1, len, &end, &why) < 0)
		return why;
	return JSON_WHY_CHAR;
}

/* Is the bracket nesting (outside strings) at most JSON_MAX_DEPTH? */
static bool json_depth_ok(const char *js, size_t len)
{
	size_t i, depth = 0;
	bool in_string = false;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (js[i] == '\\')
				i++;
			else if (js[i] == '"')
				in_string = false;
		} else if (js[i] == '"') {
			in_string = true;
		} else if (js[i] == '[' || js[i] == '{') {
			if (++depth > JSON_MAX_DEPTH)
				return false;
		} else if ((js[i] == ']' || js[i] == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

static void json_doc_free(struct json_doc *d)
{
	if (d->tok != d->stack)
		free(d->tok);
	d->tok = NULL;
}

/*
 * Tokenize and validate `len` bytes at js. On success d->tok holds the
 * tokens (release with json_doc_free()); on failure nothing is held.
 */
static int json_parse(struct json_doc *d, const char *js, size_t len, const char **why)
{
	jsmn_parser parser;
	size_t i = 0;
	int rc;

	d->js = js;
	d->len = len;
	d->tok = d->stack;
	d->ntok = 0;
	/* jsmn keeps offsets in int and stops at a NUL byte. */
	if (len > INT_MAX) {
		*why = JSON_WHY_BIG;
		return -1;
	}
	if (len > 0 && memchr(js, '\0', len) != NULL) {
		*why = JSON_WHY_NUL;
		return -1;
	}
	while (i < len && json_is_ws((unsigned char)js[i]))
		i++;
	if (i == len) {
		*why = JSON_WHY_END;
		return -1;
	}
	/*
	 * In strict mode jsmn wants a delimiter after every primitive, so it
	 * cannot parse a document that is a lone number or literal. Such a
	 * document is one token up to the first whitespace; anything after it
	 * is caught as trailing bytes.
	 */
	if (js[i] != '{' && js[i] != '[' && js[i] != '"') {
		size_t e = i;

		while (e < len && !json_is_ws((unsigned char)js[e]))
			e++;
		d->tok[0] = (jsmntok_t){.type = JSMN_PRIMITIVE,
		                        .start = (int)i,
		                        .end = (int)e,
		                        .size = 0,
		                        .parent = -1};
		d->ntok = 1;
		if (js[i] != '-' && !json_is_digit((unsigned char)js[i]) && js[i] != 't' &&
		    js[i] != 'f' && js[i] != 'n') {
			*why = JSON_WHY_CHAR;
			return -1;
		}
		return json_check_structure(d, why);
	}
	/* A document of at most JSON_MAX_DEPTH bytes cannot nest deeper. */
	if (len > JSON_MAX_DEPTH && !json_depth_ok(js, len)) {
		*why = JSON_WHY_DEEP;
		return -1;
	}
	/*
	 * Most documents fit the stack array: tokenize straight into it.
	 * jsmn with a token array checks everything its counting mode does
	 * and more, so success here is what counting and then filling would
	 * have given. Otherwise (too many tokens, or an error, whose
	 * explanation depends on which of the two passes saw it first)
	 * count first, then fill, as always.
	 */
	jsmn_init(&parser);
	d->ntok = jsmn_parse(&parser, js, len, d->tok, JSON_STACK_TOKENS);
	if (d->ntok > 0)
		goto parsed;
	jsmn_init(&parser);
	rc = jsmn_parse(&parser, js, len, NULL, 0);
	if (rc < 0) {
		*why = json_jsmn_why(js, len, rc, parser.pos);
		return -1;
	}
	if (rc > JSON_STACK_TOKENS)
		d->tok = xcalloc((size_t)rc, sizeof(*d->tok));
	jsmn_init(&parser);
	d->ntok = jsmn_parse(&parser, js, len, d->tok, (unsigned)(rc > 0 ? rc : 1));
parsed:
	if (d->ntok <= 0) {
		*why = d->ntok == 0 ? JSON_WHY_END : json_jsmn_why(js, len, d->ntok, parser.pos);
		json_doc_free(d);
		return -1;
	}
	if (json_check_structure(d, why) < 0) {
		json_doc_free(d);
		return -1;
	}
	return 0;
}

int json_validate(const char *in, size_t inlen, const char **why)
{
	struct json_doc d;

	if (json_parse(&d, in, inlen, why) < 0)
		return -1;
	json_doc_free(&d);
	return 0;
}

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

/* Value of a base64 character, -1 for any other byte. */
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
	return -1;
}

int json_base64_decode(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t acc = 0;
	size_t i, bits = 0, pad = 0;
	int v;

	/* Padding, if present, makes the length a multiple of 4. */
	while (len > 0 && p[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	buf_reserve(out, len / 4 * 3 + 2);
	for (i = 0; i < len; i++) {
		if ((v = json_b64_val(p[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (int)((acc >> bits) & 0xff));
		}
	}
	/* Left-over bits must be zero, or two encodings would give one result. */
	return (acc & ((1u << bits) - 1)) == 0 ? 0 : -1;
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
