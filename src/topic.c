/*
 * topic: MQTT topic names and filters (MQTT 3.1.1 §1.5.3, §4.7), pure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "topic.h"

/*
 * Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80), or 0.
 * Rejects overlong forms, UTF-16 surrogates (U+D800..DFFF) and anything
 * above U+10FFFF, following the table in RFC 3629 §4.
 */
size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range is narrowed for the lead bytes that could
	 * otherwise spell an overlong form, a surrogate or > U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = utf8_seq_len(p, (size_t)(end - p));
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

bool topic_name_valid(const char *s, size_t len, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "topic is empty";
		return false;
	}
	if (len > 65535) {
		*why = "topic is longer than 65535 bytes";
		return false;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '\0') {
			*why = "topic contains a NUL character";
			return false;
		}
		if (s[i] == '+' || s[i] == '#') {
			*why = "topic contains a wildcard ('+' or '#')";
			return false;
		}
	}
	if (!utf8_valid(s, len)) {
		*why = "topic is not valid UTF-8";
		return false;
	}
	return true;
}

bool topic_filter_valid(const char *s, size_t len, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "topic filter is empty";
		return false;
	}
	if (len > TOPIC_MAX_LEN) {
		*why = "topic filter is longer than 65535 bytes";
		return false;
	}
	for (i = 0; i < len; i++) {
		bool level_start = i == 0 || s[i - 1] == '/';
		bool level_end = i + 1 == len || s[i + 1] == '/';

		if (s[i] == '\0') {
			*why = "topic filter contains a NUL character";
			return false;
		}
		if (s[i] == '+' && !(level_start && level_end)) {
			*why = "'+' must be a whole level of the topic filter";
			return false;
		}
		if (s[i] == '#' && !(level_start && i + 1 == len)) {
			*why = "'#' must be the last level of the topic filter, alone";
			return false;
		}
	}
	if (!utf8_valid(s, len)) {
		*why = "topic filter is not valid UTF-8";
		return false;
	}
	return true;
}

/* End of the level starting at s[i] (index of '/' or len). */
static size_t topic_level_end(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != '/')
		i++;
	return i;
}

bool topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
	size_t fi = 0, ti = 0;

	/* §4.7.2: a leading wildcard does not match a topic starting with '$'. */
	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		size_t fe = topic_level_end(f, flen, fi), te;

		if (fe - fi == 1 && f[fi] == '#')
			return true; /* the rest, the parent level included */
		te = topic_level_end(t, tlen, ti);
		if (!(fe - fi == 1 && f[fi] == '+') &&
		    (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0))
			return false;
		if (fe == flen && te == tlen)
			return true;
		if (fe == flen)
			return false;
		if (te == tlen) {
			/* "a/#" matches "a": the filter may go on with exactly "/#". */
			return flen - fe == 2 && f[fe + 1] == '#';
		}
		fi = fe + 1;
		ti = te + 1;
	}
}

bool topic_filter_covers(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t ai = 0, bi = 0;

	/* a with a leading wildcard matches no '$' topic; b may name some. */
	if (alen > 0 && (a[0] == '+' || a[0] == '#') && blen > 0 && b[0] == '$')
		return false;
	for (;;) {
		size_t ae = topic_level_end(a, alen, ai), be = topic_level_end(b, blen, bi);
		bool a_hash = ae - ai == 1 && a[ai] == '#', a_plus = ae - ai == 1 && a[ai] == '+';
		bool b_hash = be - bi == 1 && b[bi] == '#', b_plus = be - bi == 1 && b[bi] == '+';

		if (a_hash)
			return true;
		/* b goes on to any depth, a does not; except that a whole "#"
		 * matches no fewer than one level, so "+/#" is the same filter. */
		if (b_hash)
			return bi == 0 && a_plus && alen - ae == 2 && a[ae + 1] == '#';
		if (b_plus && !a_plus)
			return false;
		if (!a_plus && (ae - ai != be - bi || memcmp(a + ai, b + bi, ae - ai) != 0))
			return false;
		if (ae == alen && be == blen)
			return true;
		if (ae == alen)
			return false; /* b is deeper */
		if (be == blen) {
			/* b stops here: only a remaining "/#" still matches it. */
			return alen - ae == 2 && a[ae + 1] == '#';
		}
		ai = ae + 1;
		bi = be + 1;
	}
}

void topic_covering_set(const struct topic_span *f, size_t n, bool *needed)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		needed[i] = true;
		for (j = 0; j < n && needed[i]; j++) {
			if (j == i || !topic_filter_covers(f[j].s, f[j].len, f[i].s, f[i].len))
				continue;
			/* Two that cover each other (equal ones): the first stays. */
			if (!topic_filter_covers(f[i].s, f[i].len, f[j].s, f[j].len) || j < i)
				needed[i] = false;
		}
	}
}

/* Level i of filter s as [*b, *e); false when s has fewer levels. */
static bool topic_level(const char *s, size_t len, size_t *pos, const char **b, size_t *n)
{
	size_t e;

	if (*pos > len)
		return false;
	e = topic_level_end(s, len, *pos);
	*b = s + *pos;
	*n = e - *pos;
	*pos = e + 1;
	return true;
}

bool topic_filters_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t ai = 0, bi = 0, an = 0, bn = 0;
	const char *as = NULL, *bs = NULL;
	bool ha, hb;

	/* A leading wildcard never meets a '$' topic. */
	if ((a[0] == '+' || a[0] == '#') && b[0] == '$')
		return false;
	if ((b[0] == '+' || b[0] == '#') && a[0] == '$')
		return false;
	for (;;) {
		ha = topic_level(a, alen, &ai, &as, &an);
		hb = topic_level(b, blen, &bi, &bs, &bn);
		if (!ha && !hb)
			return true; /* the same depth: one topic matches both */
		if (!ha || !hb) {
			/* One ended: the other meets it only with a last "#". */
			return ha ? an == 1 && as[0] == '#' : bn == 1 && bs[0] == '#';
		}
		if ((an == 1 && as[0] == '#') || (bn == 1 && bs[0] == '#'))
			return true;
		if ((an == 1 && as[0] == '+') || (bn == 1 && bs[0] == '+'))
			continue;
		if (an != bn || memcmp(as, bs, an) != 0)
			return false;
	}
}

void topic_filter_join(const char *a, size_t alen, const char *b, size_t blen, struct buf *out)
{
	size_t ai = 0, bi = 0, an = 0, bn = 0;
	const char *as = NULL, *bs = NULL;
	bool ha, hb, first = true;

	for (;;) {
		ha = topic_level(a, alen, &ai, &as, &an);
		hb = topic_level(b, blen, &bi, &bs, &bn);
		if (!ha && !hb)
			return;
		if (!first)
			buf_putc(out, '/');
		first = false;
		if (!ha || !hb || (an == 1 && as[0] == '#') || (bn == 1 && bs[0] == '#')) {
			buf_putc(out, '#');
			return;
		}
		if (an == bn && memcmp(as, bs, an) == 0)
			buf_append(out, as, an);
		else
			buf_putc(out, '+');
	}
}

size_t topic_broker_set(const struct topic_span *f, size_t n, struct buf *out)
{
	struct topic_span *w = xcalloc(n ? n : 1, sizeof(*w));
	char **owned = xcalloc(n ? n : 1, sizeof(*owned));
	bool *needed = xcalloc(n ? n : 1, sizeof(*needed));
	size_t m = n, i, j, k;

	memcpy(w, f, n * sizeof(*w));
	for (;;) {
		/* Drop what another one covers. */
		topic_covering_set(w, m, needed);
		for (i = k = 0; i < m; i++) {
			if (needed[i]) {
				w[k] = w[i];
				owned[k++] = owned[i];
			} else {
				free(owned[i]);
			}
		}
		m = k;
		/* Two that still overlap become one that covers both. */
		for (i = 0; i < m; i++) {
			for (j = i + 1; j < m; j++) {
				if (topic_filters_overlap(w[i].s, w[i].len, w[j].s, w[j].len))
					goto join;
			}
		}
		break;
	join : {
		struct buf b = BUF_INITIALIZER;

		topic_filter_join(w[i].s, w[i].len, w[j].s, w[j].len, &b);
		free(owned[i]);
		owned[i] = xstrndup(buf_data(&b), buf_len(&b));
		w[i].s = owned[i];
		w[i].len = buf_len(&b);
		buf_free(&b);
	}
	}
	for (i = 0; i < m; i++) {
		buf_append(out, w[i].s, w[i].len);
		buf_putc(out, '\0');
		free(owned[i]);
	}
	free(w);
	free(owned);
	free(needed);
	return m;
}
