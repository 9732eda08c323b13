/*
 * test_topic: topic-name validity (MQTT 3.1.1 §4.7) and UTF-8 validity.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "topic.h"
#include "check_compat.h"

struct bytes {
	const char *s;
	size_t len;
};
#define B(lit)                                                                                     \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}

static const struct bytes utf8_good[] = {
        B(""),
        B("plain ascii"),
        B("j\xc3\xbcrgen"),    /* ü, 2 bytes */
        B("\xe2\x82\xac"),     /* €, 3 bytes */
        B("\xf0\x9f\x96\xa8"), /* 🖨, 4 bytes */
        B("\xc2\x80"),         /* U+0080, smallest 2-byte */
        B("\xe0\xa0\x80"),     /* U+0800, smallest 3-byte */
        B("\xf0\x90\x80\x80"), /* U+10000, smallest 4-byte */
        B("\xf4\x8f\xbf\xbf"), /* U+10FFFF, the largest */
        B("\xed\x9f\xbf"),     /* U+D7FF, just below the surrogates */
        B("\xee\x80\x80"),     /* U+E000, just above */
};

static const struct bytes utf8_bad[] = {
        B("\x80"), /* lone continuation */
        B("\xbf"),
        B("\xc0\xaf"),         /* overlong '/' */
        B("\xc1\xbf"),         /* overlong */
        B("\xe0\x80\xaf"),     /* overlong 3-byte */
        B("\xf0\x80\x80\xaf"), /* overlong 4-byte */
        B("\xed\xa0\x80"),     /* U+D800 surrogate */
        B("\xed\xbf\xbf"),     /* U+DFFF surrogate */
        B("\xf4\x90\x80\x80"), /* U+110000 */
        B("\xf5\x80\x80\x80"), /* lead byte beyond range */
        B("\xff"),
        B("\xc3"),         /* truncated 2-byte */
        B("\xe2\x82"),     /* truncated 3-byte */
        B("\xf0\x9f\x96"), /* truncated 4-byte */
        B("ab\xc3(cd"),    /* bad continuation */
};

START_TEST(utf8_accepts)
{
	ck_assert_msg(utf8_valid(utf8_good[_i].s, utf8_good[_i].len), "case %d", _i);
}
END_TEST

START_TEST(utf8_rejects)
{
	ck_assert_msg(!utf8_valid(utf8_bad[_i].s, utf8_bad[_i].len), "case %d", _i);
}
END_TEST

static const struct {
	struct bytes t;
	const char *why; /* NULL: valid */
} topics[] = {
        {B("octoprint/event/PrintStarted"), NULL},
        {B("/"), NULL},
        {B("a//b"), NULL},
        {B(" space ok "), NULL},
        {B("$SYS/x"), NULL},
        {B("j\xc3\xbcrgen/\xf0\x9f\x96\xa8"), NULL},
        {B(""), "empty"},
        {B("a/+/b"), "wildcard"},
        {B("a/#"), "wildcard"},
        {B("a+b"), "wildcard"},
        {B("a\0b"), "NUL"},
        {B("a/\xc0\xaf"), "UTF-8"},
        {B("\xed\xa0\x80"), "UTF-8"},
};

START_TEST(topic_names)
{
	const char *why = NULL;
	bool ok = topic_name_valid(topics[_i].t.s, topics[_i].t.len, &why);

	if (topics[_i].why == NULL) {
		ck_assert_msg(ok, "case %d refused: %s", _i, why);
	} else {
		ck_assert_msg(!ok, "case %d accepted", _i);
		ck_assert_msg(strstr(why, topics[_i].why) != NULL, "case %d: '%s'", _i, why);
	}
}
END_TEST

START_TEST(topic_length_limit)
{
	char *t = malloc(65536);
	const char *why = NULL;

	memset(t, 'a', 65536);
	ck_assert(topic_name_valid(t, 65535, &why));
	ck_assert(!topic_name_valid(t, 65536, &why));
	ck_assert_ptr_nonnull(strstr(why, "65535"));
	free(t);
}
END_TEST

static const struct {
	const char *f;
	const char *why; /* NULL: valid */
} filters[] = {
        {"a", NULL},
        {"#", NULL},
        {"+", NULL},
        {"a/#", NULL},
        {"+/+/#", NULL},
        {"/+/", NULL},
        {"$SYS/#", NULL},
        {"a//+", NULL},
        {"", "topic filter is empty"},
        {"a#", "'#' must be the last level of the topic filter, alone"},
        {"a/#/b", "'#' must be the last level of the topic filter, alone"},
        {"#/", "'#' must be the last level of the topic filter, alone"},
        {"a/b#", "'#' must be the last level of the topic filter, alone"},
        {"a+", "'+' must be a whole level of the topic filter"},
        {"+a/b", "'+' must be a whole level of the topic filter"},
        {"a/++", "'+' must be a whole level of the topic filter"},
        {"a/\xff", "topic filter is not valid UTF-8"},
};

START_TEST(filter_rules)
{
	const char *why = NULL;
	bool ok = topic_filter_valid(filters[_i].f, strlen(filters[_i].f), &why);

	if (filters[_i].why == NULL) {
		ck_assert_msg(ok, "'%s' refused: %s", filters[_i].f, why);
	} else {
		ck_assert_msg(!ok, "'%s' accepted", filters[_i].f);
		ck_assert_str_eq(why, filters[_i].why);
	}
}
END_TEST

START_TEST(filter_nul)
{
	const char *why = NULL;

	ck_assert(!topic_filter_valid("a\0b", 3, &why));
	ck_assert_str_eq(why, "topic filter contains a NUL character");
}
END_TEST

/* filter, topic, match? (MQTT 3.1.1 §4.7 and its examples) */
static const struct {
	const char *f, *t;
	bool match;
} matches[] = {
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/#", "sport", true},
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player1/tournament", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"#", "a/b/c", true},
        {"#", "/", true},
        {"#", "$SYS/x", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"a/$x", "a/$x", true},
        {"+/$x", "a/$x", true},
        {"a/b", "a/b", true},
        {"a/b", "a/bc", false},
        {"a/b", "a", false},
        {"a", "a/b", false},
        {"a/+/c", "a//c", true},
        {"a/+/c", "a/b/d", false},
        {"a/#", "b", false},
        {"a/b/#", "a", false},
        {"a/#", "ab", false},
};

START_TEST(matching)
{
	ck_assert_msg(topic_match(matches[_i].f, strlen(matches[_i].f), matches[_i].t,
	                          strlen(matches[_i].t)) == matches[_i].match,
	              "'%s' vs '%s'", matches[_i].f, matches[_i].t);
}
END_TEST

/* a covers b? */
static const struct {
	const char *a, *b;
	bool covers;
} covers[] = {
        {"#", "a/b", true},      {"#", "a/#", true},           {"#", "+", true},
        {"#", "$SYS/#", false},  {"$SYS/#", "$SYS/a/+", true}, {"a/#", "a", true},
        {"a/#", "a/b/c", true},  {"a/#", "a/+/#", true},       {"a/+/#", "a/#", false},
        {"a/+", "a/b", true},    {"a/+", "a/+", true},         {"a/+", "a/#", false},
        {"a/+", "a/b/c", false}, {"a/b", "a/+", false},        {"a/b", "a/b", true},
        {"+/b", "a/b", true},    {"+/b", "$x/b", false},       {"+/+", "+/b", true},
        {"a", "a/#", false},     {"a/b/#", "a/#", false},      {"+/#", "#", true},
        {"#", "+/#", true},      {"a/b/c", "a/b", false},      {"a/b", "a/b/c", false},
};

START_TEST(covering)
{
	ck_assert_msg(topic_filter_covers(covers[_i].a, strlen(covers[_i].a), covers[_i].b,
	                                  strlen(covers[_i].b)) == covers[_i].covers,
	              "'%s' covers '%s'", covers[_i].a, covers[_i].b);
}
END_TEST

/* covers(a, b) agrees with matching, on a set of topics. */
START_TEST(covering_agrees_with_matching)
{
	static const char *const fs[] = {"#",   "+",      "a",     "a/#", "a/+",   "+/b", "a/b",
	                                 "+/+", "$SYS/#", "a/+/#", "+/#", "a/b/c", "/+",  "a//+"};
	static const char *const ts[] = {"a",      "b",  "a/b",  "a/c", "x/b",  "a/b/c",
	                                 "$SYS/a", "/a", "a//b", "a/",  "$SYS", "q/r/s"};
	size_t i, j, k;

	for (i = 0; i < nitems(fs); i++) {
		for (j = 0; j < nitems(fs); j++) {
			bool sub = true;

			for (k = 0; k < nitems(ts); k++) {
				if (topic_match(fs[j], strlen(fs[j]), ts[k], strlen(ts[k])) &&
				    !topic_match(fs[i], strlen(fs[i]), ts[k], strlen(ts[k])))
					sub = false;
			}
			/* Covering implies matching-subset on every topic tried. */
			if (topic_filter_covers(fs[i], strlen(fs[i]), fs[j], strlen(fs[j])))
				ck_assert_msg(sub, "'%s' said to cover '%s'", fs[i], fs[j]);
		}
	}
}
END_TEST

START_TEST(covering_set)
{
	static const struct topic_span f[] = {
	        {"a/b", 3}, {"a/#", 3}, {"c", 1}, {"a/#", 3}, {"+/x", 3}, {"$SYS/x", 6}, {"c", 1},
	};
	bool needed[nitems(f)];

	topic_covering_set(f, nitems(f), needed);
	ck_assert(!needed[0]); /* under a/# */
	ck_assert(needed[1]);
	ck_assert(needed[2]);
	ck_assert(!needed[3]); /* the second a/# */
	ck_assert(needed[4]);
	ck_assert(needed[5]); /* +/x does not reach $SYS */
	ck_assert(!needed[6]);
}
END_TEST

static const struct {
	const char *a, *b;
	bool overlap;
	const char *join;
} pairs[] = {
        {"a/+", "+/b", true, "+/+"},       {"a/b", "a/c", false, NULL},
        {"a/#", "a", true, "a/#"},         {"a", "a/b", false, NULL},
        {"a/+/c", "a/b/#", true, "a/+/#"}, {"#", "$SYS/x", false, NULL},
        {"+/x", "$SYS/x", false, NULL},    {"$SYS/+", "$SYS/a", true, "$SYS/+"},
        {"a/b/c", "a/+/d", false, NULL},   {"+", "+/+", false, NULL},
        {"a/+/+", "a/b/#", true, "a/+/#"}, {"x/y", "x/y", true, "x/y"},
};

START_TEST(overlap_and_join)
{
	struct buf b = BUF_INITIALIZER;
	const char *a = pairs[_i].a, *c = pairs[_i].b;

	ck_assert_msg(topic_filters_overlap(a, strlen(a), c, strlen(c)) == pairs[_i].overlap,
	              "'%s' / '%s'", a, c);
	ck_assert(topic_filters_overlap(c, strlen(c), a, strlen(a)) == pairs[_i].overlap);
	if (pairs[_i].join != NULL) {
		topic_filter_join(a, strlen(a), c, strlen(c), &b);
		buf_putc(&b, '\0');
		ck_assert_str_eq(buf_data(&b), pairs[_i].join);
		/* The join covers both. */
		ck_assert(topic_filter_covers(buf_data(&b), strlen(buf_data(&b)), a, strlen(a)));
		ck_assert(topic_filter_covers(buf_data(&b), strlen(buf_data(&b)), c, strlen(c)));
	}
	buf_free(&b);
}
END_TEST

/* Registered filters -> broker filters ('|'-separated, in order). */
static const struct {
	const char *in;
	const char *out;
} broker_sets[] = {
        {"a/b|a/#|c", "a/#|c"},         {"a/+|+/b", "+/+"},
        {"a/+|+/b|a/b/c", "+/+|a/b/c"}, {"x|x|x", "x"},
        {"$SYS/#|#", "$SYS/#|#"},       {"a/b|a/c|a/d", "a/b|a/c|a/d"},
        {"a/+/c|a/b/#|z", "a/+/#|z"},   {"", ""},
};

START_TEST(broker_set)
{
	struct topic_span f[8];
	struct buf out = BUF_INITIALIZER, got = BUF_INITIALIZER;
	char in[128], *p, *save = NULL;
	size_t n = 0, m, i;

	snprintf(in, sizeof(in), "%s", broker_sets[_i].in);
	for (p = strtok_r(in, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save)) {
		f[n].s = p;
		f[n++].len = strlen(p);
	}
	m = topic_broker_set(f, n, &out);
	for (i = 0, p = buf_data(&out); i < m; i++, p += strlen(p) + 1)
		buf_appendf(&got, "%s%s", i ? "|" : "", p);
	buf_putc(&got, '\0');
	ck_assert_str_eq(buf_data(&got), broker_sets[_i].out);
	buf_free(&out);
	buf_free(&got);
}
END_TEST

static Suite *topic_suite(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("topic");

	tcase_add_loop_test(tc, utf8_accepts, 0, (int)nitems(utf8_good));
	tcase_add_loop_test(tc, utf8_rejects, 0, (int)nitems(utf8_bad));
	tcase_add_loop_test(tc, topic_names, 0, (int)nitems(topics));
	tcase_add_test(tc, topic_length_limit);
	tcase_add_loop_test(tc, filter_rules, 0, (int)nitems(filters));
	tcase_add_test(tc, filter_nul);
	tcase_add_loop_test(tc, matching, 0, (int)nitems(matches));
	tcase_add_loop_test(tc, covering, 0, (int)nitems(covers));
	tcase_add_test(tc, covering_agrees_with_matching);
	tcase_add_test(tc, covering_set);
	tcase_add_loop_test(tc, overlap_and_join, 0, (int)nitems(pairs));
	tcase_add_loop_test(tc, broker_set, 0, (int)nitems(broker_sets));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(topic_suite)
