/*
 * json_parse: part of `json`, RFC 8259 validation on top of jsmn (pure, no
 * I/O; see json_parse.h).
 *
 * jsmn tokenizes but accepts much that is not JSON (missing or doubled
 * separators, several top-level values, any primitive spelling, raw
 * control characters and bad UTF-8 in strings). json_parse() runs jsmn and
 * then walks the tokens once, checking that every byte outside a token is
 * whitespace or exactly the separator the grammar wants there, and that
 * every primitive and string token is well formed. Only then are the
 * tokens handed to the readers of json.c. Nothing recurses; work and
 * memory are linear in the input, given the nesting limit (JSON_MAX_DEPTH).
 */
#include <limits.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include "json.h"
#include "json_parse.h"
#include "log.h"
#include "topic.h"

/*
 * Deepest nesting of arrays and objects accepted. jsmn (with parent links)
 * looks for the container a ']' or '}' closes by climbing from the last
 * token, so each close costs up to the nesting depth: unbounded depth would
 * make a 1 MiB body of brackets take quadratic time in the event loop.
 */
#define JSON_MAX_DEPTH 128

#define JSON_WHY_END      "invalid JSON: unexpected end"
#define JSON_WHY_CHAR     "invalid JSON: unexpected character"
#define JSON_WHY_NUL      "invalid JSON: NUL byte"
#define JSON_WHY_BIG      "invalid JSON: too large"
#define JSON_WHY_DEEP     "invalid JSON: nested too deeply"
#define JSON_WHY_TRAILING "invalid JSON: more than one value or trailing characters"
#define JSON_WHY_COMMA    "invalid JSON: expected ',' between values"
#define JSON_WHY_COLON    "invalid JSON: expected ':' after an object key"
#define JSON_WHY_KEY      "invalid JSON: object key must be a string"
#define JSON_WHY_MEMBER   "invalid JSON: object member without a value"
#define JSON_WHY_NUMBER   "invalid JSON: bad number"
#define JSON_WHY_LITERAL  "invalid JSON: bad literal (true, false, null)"
#define JSON_WHY_CONTROL  "invalid JSON: control character in string"
#define JSON_WHY_ESCAPE   "invalid JSON: bad escape in string"
#define JSON_WHY_UTF8     "invalid JSON: invalid UTF-8 in string"

static bool json_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

#define JSON_ONES  0x0101010101010101ULL
#define JSON_HIGHS 0x8080808080808080ULL

/*
 * How many of the bytes at s[0..n) are, from the start, plain string
 * bytes: ASCII, not a control character, '"' or '\\' (a multiple of the
 * stride; the caller checks the rest a byte at a time). The string checks
 * copy nothing and skip such runs 16 bytes (SSE2) or 8 bytes (one 64-bit
 * word: a byte below n is found by (x - n) & ~x & 0x80..; a byte equal to
 * c is a zero byte of x ^ c) at a time: a 500 KB base64 string is
 * checked at memory speed.
 */
static size_t json_plain_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
	              space = _mm_set1_epi8(0x20);

	for (; n - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		/* Signed: bytes 0x80-0xff are negative, below ' ' like controls. */
		__m128i bad = _mm_or_si128(
		        _mm_cmplt_epi8(x, space),
		        _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));

		if (_mm_movemask_epi8(bad) != 0)
			break;
	}
#endif
	for (; n - i >= 8; i += 8) {
		uint64_t x, q, b;

		memcpy(&x, s + i, 8);
		q = x ^ (JSON_ONES * '"');
		b = x ^ (JSON_ONES * '\\');
		if (((x | ((x - JSON_ONES * 0x20) & ~x) | ((q - JSON_ONES) & ~q) |
		      ((b - JSON_ONES) & ~b)) &
		     JSON_HIGHS) != 0)
			break;
	}
	return i;
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
		i += json_plain_run(s + i, len - i);
		if (i >= len)
			break;
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

static bool json_is_container(const jsmntok_t *t)
{
	return t->type == JSMN_OBJECT || t->type == JSMN_ARRAY;
}

/* Is token i a long string that json_tokenize_longs() checked already? */
static bool json_was_checked(const struct json_doc *d, int i)
{
	int k;

	for (k = 0; k < d->nchecked; k++)
		if (d->checked[k] == i)
			return true;
	return false;
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
		if (json_was_checked(d, i))
			return 0;
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

/*
 * What json_prescan() found: a NUL byte, nesting over JSON_MAX_DEPTH, and
 * the strings over JSON_LONG_STRING bytes (at most JSON_MAX_LONG of them)
 * that passed json_check_string(): offsets of their opening and closing
 * quotes. json_tokenize() adds these itself instead of having jsmn walk
 * them a byte at a time.
 */
#define JSON_LONG_STRING 256

struct json_scan {
	bool nul, deep;
	size_t at[JSON_MAX_LONG], end[JSON_MAX_LONG];
	int n;
};

/*
 * The closing quote of the string whose contents start at js[from], found
 * with memchr() (a quote after an odd run of backslashes is escaped), or
 * len if there is none. Not a check: json_check_string() does that.
 */
static size_t json_string_end(const char *js, size_t from, size_t len)
{
	const char *q;
	size_t i = from, k;

	while ((q = memchr(js + i, '"', len - i)) != NULL) {
		i = (size_t)(q - js);
		for (k = 0; i - k > from && js[i - k - 1] == '\\'; k++)
			;
		if (k % 2 == 0)
			return i;
		i++;
	}
	return len;
}

/*
 * One pass over the text before jsmn: NUL bytes (jsmn stops at one), the
 * bracket nesting outside strings (jsmn's cost per closing bracket grows
 * with it), and each string checked by json_check_string(), which skips
 * plain runs 16 bytes at a time. A string that fails the check is skipped
 * as jsmn would skip it (json_string_end()) and looked at for a NUL; it
 * is explained later, in document order, as before.
 */
static void json_prescan(const char *js, size_t len, struct json_scan *sc)
{
	const char *ignored;
	size_t i, e, depth = 0;

	sc->nul = sc->deep = false;
	sc->n = 0;
	for (i = 0; i < len; i++) {
		if (js[i] == '"') {
			if (json_check_string(js, i + 1, len, &e, &ignored) == 0) {
				if (e - i > JSON_LONG_STRING && sc->n < JSON_MAX_LONG) {
					sc->at[sc->n] = i;
					sc->end[sc->n++] = e;
				}
			} else {
				e = json_string_end(js, i + 1, len);
				sc->nul |= memchr(js + i + 1, '\0', e - i - 1) != NULL;
			}
			i = e;
		} else if (js[i] == '\0') {
			sc->nul = true;
		} else if (js[i] == '[' || js[i] == '{') {
			sc->deep |= ++depth > JSON_MAX_DEPTH;
		} else if ((js[i] == ']' || js[i] == '}') && depth > 0) {
			depth--;
		}
	}
}

void json_doc_free(struct json_doc *d)
{
	if (d->tok != d->stack)
		free(d->tok);
	d->tok = NULL;
}

/*
 * A document that is a lone number or literal, starting at js[i]. In
 * strict mode jsmn wants a delimiter after every primitive, so it cannot
 * parse one: it is one token up to the first whitespace; anything after it
 * is caught as trailing bytes.
 */
static int json_parse_primitive(struct json_doc *d, size_t i, const char **why)
{
	const char *js = d->js;
	size_t e = i;

	while (e < d->len && !json_is_ws((unsigned char)js[e]))
		e++;
	d->tok[0] = (jsmntok_t){
	        .type = JSMN_PRIMITIVE, .start = (int)i, .end = (int)e, .size = 0, .parent = -1};
	d->ntok = 1;
	if (js[i] != '-' && !json_is_digit((unsigned char)js[i]) && js[i] != 't' && js[i] != 'f' &&
	    js[i] != 'n') {
		*why = JSON_WHY_CHAR;
		return -1;
	}
	return json_check_structure(d, why);
}

/*
 * jsmn into the stack array, but not over the long strings of *sc, which
 * json_prescan() checked: jsmn runs up to each one's opening quote, its
 * token is added as jsmn would have added it (jsmn_parse_string(): type,
 * contents' offsets, no size, the current parent; then the parent's size
 * is one more), and jsmn goes on after its closing quote. jsmn's loop
 * reads one byte at a time; this way a 500 KB string costs one pass of
 * json_check_string() (16 bytes a step) and nothing more. true if the
 * tokens are complete; false (nothing to free) when anything was not as
 * expected: a jsmn error or a full stack array, jsmn not stopped right
 * at the quote. The caller then runs jsmn over the whole text, so errors
 * and their explanations are jsmn's as before. A checked string is
 * valid for jsmn too (json_check_string() is the stricter), so success
 * gives the tokens jsmn alone would have given.
 */
static bool json_tokenize_longs(struct json_doc *d, const struct json_scan *sc)
{
	jsmn_parser parser;
	jsmntok_t *t;
	int k, rc;

	jsmn_init(&parser);
	d->nchecked = 0;
	for (k = 0; k <= sc->n; k++) {
		size_t upto = k < sc->n ? sc->at[k] : d->len;

		if (upto < parser.pos)
			return false;
		rc = jsmn_parse(&parser, d->js, upto, d->tok, JSON_STACK_TOKENS);
		if (k == sc->n) {
			d->ntok = rc > 0 ? rc : 0;
			return rc > 0;
		}
		if ((rc < 0 && rc != JSMN_ERROR_PART) || parser.pos != upto ||
		    parser.toknext >= JSON_STACK_TOKENS)
			return false;
		d->checked[d->nchecked++] = (int)parser.toknext;
		t = &d->tok[parser.toknext++];
		*t = (jsmntok_t){.type = JSMN_STRING,
		                 .start = (int)upto + 1,
		                 .end = (int)sc->end[k],
		                 .size = 0,
		                 .parent = parser.toksuper};
		if (parser.toksuper != -1)
			d->tok[parser.toksuper].size++;
		parser.pos = (unsigned)sc->end[k] + 1;
	}
	return false;
}

/* Run jsmn over the document into d->tok: 0, or -1 with *why (nothing held). */
static int json_tokenize(struct json_doc *d, const struct json_scan *sc, const char **why)
{
	const char *js = d->js;
	size_t len = d->len;
	jsmn_parser parser;
	int rc;

	/*
	 * Most documents fit the stack array: tokenize straight into it.
	 * jsmn with a token array checks everything its counting mode does
	 * and more, so success here is what counting and then filling would
	 * have given. Otherwise (too many tokens, or an error, whose
	 * explanation depends on which of the two passes saw it first)
	 * count first, then fill, as always.
	 */
	if (sc->n > 0 && json_tokenize_longs(d, sc))
		return 0;
	d->nchecked = 0;
	jsmn_init(&parser);
	d->ntok = jsmn_parse(&parser, js, len, d->tok, JSON_STACK_TOKENS);
	if (d->ntok > 0)
		return 0;
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
	if (d->ntok <= 0) {
		*why = d->ntok == 0 ? JSON_WHY_END : json_jsmn_why(js, len, d->ntok, parser.pos);
		json_doc_free(d);
		return -1;
	}
	return 0;
}

int json_parse(struct json_doc *d, const char *js, size_t len, const char **why)
{
	struct json_scan sc;
	size_t i = 0;

	d->js = js;
	d->len = len;
	d->tok = d->stack;
	d->ntok = 0;
	d->nchecked = 0;
	/* jsmn keeps offsets in int and stops at a NUL byte. */
	if (len > INT_MAX) {
		*why = JSON_WHY_BIG;
		return -1;
	}
	json_prescan(js, len, &sc);
	if (sc.nul) {
		*why = JSON_WHY_NUL;
		return -1;
	}
	while (i < len && json_is_ws((unsigned char)js[i]))
		i++;
	if (i == len) {
		*why = JSON_WHY_END;
		return -1;
	}
	if (js[i] != '{' && js[i] != '[' && js[i] != '"')
		return json_parse_primitive(d, i, why);
	if (sc.deep) {
		*why = JSON_WHY_DEEP;
		return -1;
	}
	if (json_tokenize(d, &sc, why) < 0)
		return -1;
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
