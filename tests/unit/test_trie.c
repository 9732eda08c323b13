/*
 * test_trie: the topic-filter trie (issue 17) against the linear matcher
 * it replaces: fixed cases for wildcards and '$' topics, then randomized
 * filters and names where every trie_match must report exactly the
 * filters topic_match accepts, through adds and removes (and trie_overlap
 * against topic_filters_overlap).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "topic.h"
#include "trie.h"
#include "check_compat.h"

/* Counts the matches of each value (values are 1-based indexes into a hits array). */
struct hits {
	unsigned n[512];
	unsigned total;
};

static void count_hit(void *ctx, void *value)
{
	struct hits *h = ctx;
	uintptr_t i = (uintptr_t)value;

	ck_assert_uint_lt(i, nitems(h->n));
	h->n[i]++;
	h->total++;
}

static unsigned match_count(struct trie *t, const char *name)
{
	struct hits h;

	memset(&h, 0, sizeof(h));
	trie_match(t, name, strlen(name), count_hit, &h);
	return h.total;
}

static const struct {
	const char *filter, *name;
	bool match;
} cases[] = {
        {"a/b", "a/b", true},
        {"a/b", "a/c", false},
        {"a/b", "a", false},
        {"a/b", "a/b/c", false},
        {"a/+", "a/b", true},
        {"a/+", "a", false},
        {"a/+", "a/b/c", false},
        {"a/+", "a/", true},
        {"+", "a", true},
        {"+", "/a", false},
        {"+/+", "/a", true},
        {"+/+", "/", true},
        {"/+", "/", true},
        {"#", "a/b/c", true},
        {"#", "/", true},
        {"a/#", "a", true},
        {"a/#", "a/b/c", true},
        {"a/#", "ab", false},
        {"+/#", "a", true},
        {"+/b/#", "a/b", true},
        {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},
        {"#", "$SYS/x", false},
        {"+/x", "$SYS/x", false},
        {"$SYS/#", "$SYS/x", true},
        {"$SYS/+", "$SYS/x", true},
        {"$SYS", "$SYS", true},
        {"a/$x", "a/$x", true},
        {"a/+", "a/$x", true},
        {"a/#", "a/$x/y", true},
        {"\xc3\xbc/+", "\xc3\xbc/k", true},
};

START_TEST(fixed_cases)
{
	struct trie *t = trie_new();

	trie_add(t, cases[_i].filter, strlen(cases[_i].filter), (void *)(uintptr_t)1);
	ck_assert_uint_eq(match_count(t, cases[_i].name), cases[_i].match ? 1 : 0);
	/* The linear matcher agrees: the table itself is right. */
	ck_assert_int_eq(topic_match(cases[_i].filter, strlen(cases[_i].filter), cases[_i].name,
	                             strlen(cases[_i].name)),
	                 cases[_i].match);
	ck_assert(trie_remove(t, cases[_i].filter, strlen(cases[_i].filter), (void *)(uintptr_t)1));
	ck_assert_uint_eq(match_count(t, cases[_i].name), 0);
	ck_assert_uint_eq(trie_count(t), 0);
	trie_free(t);
}
END_TEST

START_TEST(values_and_removal)
{
	struct trie *t = trie_new();

	trie_add(t, "a/+", 3, (void *)(uintptr_t)1);
	trie_add(t, "a/+", 3, (void *)(uintptr_t)2);
	trie_add(t, "a/#", 3, (void *)(uintptr_t)3);
	trie_add(t, "a/b/c", 5, (void *)(uintptr_t)4);
	ck_assert_uint_eq(trie_count(t), 4);
	ck_assert_uint_eq(match_count(t, "a/b"), 3);
	ck_assert_uint_eq(match_count(t, "a/b/c"), 2);
	/* Not there: the wrong value, a filter never added, a prefix of one. */
	ck_assert(!trie_remove(t, "a/+", 3, (void *)(uintptr_t)9));
	ck_assert(!trie_remove(t, "x/+", 3, (void *)(uintptr_t)1));
	ck_assert(!trie_remove(t, "a/b", 3, (void *)(uintptr_t)4));
	ck_assert(trie_remove(t, "a/+", 3, (void *)(uintptr_t)1));
	ck_assert_uint_eq(match_count(t, "a/b"), 2);
	ck_assert(!trie_remove(t, "a/+", 3, (void *)(uintptr_t)1));
	ck_assert(trie_remove(t, "a/b/c", 5, (void *)(uintptr_t)4));
	ck_assert_uint_eq(match_count(t, "a/b/c"), 1);
	ck_assert_uint_eq(trie_count(t), 2);
	trie_free(t);
}
END_TEST

/* One of a few levels, wildcards and '$' among them, so filters collide often. */
static const char *const levels[] = {"a", "b", "", "$s", "\xc3\xbc", "+", "#"};

static void random_topic(struct buf *out, unsigned *seed, bool filter)
{
	unsigned depth = 1 + (unsigned)rand_r(seed) % 4, i;

	buf_reset(out);
	for (i = 0; i < depth; i++) {
		size_t n = filter ? nitems(levels) : nitems(levels) - 2;
		const char *l = levels[(size_t)rand_r(seed) % n];

		if (i > 0)
			buf_putc(out, '/');
		if (l[0] == '#') {
			buf_putc(out, '#'); /* only as the last level */
			break;
		}
		buf_append_str(out, l);
	}
	if (buf_len(out) == 0)
		buf_putc(out, 'a'); /* "" is neither a filter nor a name */
	buf_putc(out, '\0');
}

#define NFILTERS 300

START_TEST(random_cross_check)
{
	static char filters[NFILTERS][32];
	static bool present[NFILTERS];
	struct trie *t = trie_new();
	struct buf b = BUF_INITIALIZER;
	unsigned seed = 20261204u + (unsigned)_i, round, i;
	const char *why;
	size_t live = 0;

	for (i = 0; i < NFILTERS; i++) {
		random_topic(&b, &seed, true);
		ck_assert_uint_lt(buf_len(&b), sizeof(filters[i]));
		memcpy(filters[i], buf_data(&b), buf_len(&b));
		ck_assert(topic_filter_valid(filters[i], strlen(filters[i]), &why));
		present[i] = false;
	}
	for (round = 0; round < 2000; round++) {
		struct hits h;

		/* Add or remove one filter (value i + 1), then match a random name. */
		i = (unsigned)rand_r(&seed) % NFILTERS;
		if (present[i]) {
			ck_assert(trie_remove(t, filters[i], strlen(filters[i]),
			                      (void *)(uintptr_t)(i + 1)));
			live--;
		} else {
			trie_add(t, filters[i], strlen(filters[i]), (void *)(uintptr_t)(i + 1));
			live++;
		}
		present[i] = !present[i];
		ck_assert_uint_eq(trie_count(t), live);
		random_topic(&b, &seed, false);
		memset(&h, 0, sizeof(h));
		trie_match(t, buf_data(&b), strlen(buf_data(&b)), count_hit, &h);
		for (i = 0; i < NFILTERS; i++) {
			bool want = present[i] && topic_match(filters[i], strlen(filters[i]),
			                                      buf_data(&b), strlen(buf_data(&b)));

			if (h.n[i + 1] != (want ? 1u : 0u))
				ck_abort_msg("round %u: filter \"%s\" and name \"%s\": trie %u, "
				             "topic_match %d",
				             round, filters[i], buf_data(&b), h.n[i + 1], want);
		}
		/* The filters a random filter overlaps. */
		random_topic(&b, &seed, true);
		memset(&h, 0, sizeof(h));
		trie_overlap(t, buf_data(&b), strlen(buf_data(&b)), count_hit, &h);
		for (i = 0; i < NFILTERS; i++) {
			bool want = present[i] &&
			            topic_filters_overlap(filters[i], strlen(filters[i]),
			                                  buf_data(&b), strlen(buf_data(&b)));

			if (h.n[i + 1] != (want ? 1u : 0u))
				ck_abort_msg(
				        "round %u: filters \"%s\" and \"%s\": trie_overlap %u, "
				        "topic_filters_overlap %d",
				        round, filters[i], buf_data(&b), h.n[i + 1], want);
		}
	}
	/* Remove everything: the tree is empty again. */
	for (i = 0; i < NFILTERS; i++)
		if (present[i])
			ck_assert(trie_remove(t, filters[i], strlen(filters[i]),
			                      (void *)(uintptr_t)(i + 1)));
	ck_assert_uint_eq(trie_count(t), 0);
	ck_assert_uint_eq(match_count(t, "a"), 0);
	buf_free(&b);
	trie_free(t);
}
END_TEST

/* 100,000 siblings: the edge table grows, every one is found, all go again. */
START_TEST(many_siblings)
{
	struct trie *t = trie_new();
	char f[32];
	unsigned i;

	for (i = 0; i < 100000; i++) {
		snprintf(f, sizeof(f), "printer/%u/+", i);
		trie_add(t, f, strlen(f), (void *)(uintptr_t)1);
	}
	ck_assert_uint_eq(match_count(t, "printer/77777/x"), 1);
	ck_assert_uint_eq(match_count(t, "printer/100000/x"), 0);
	for (i = 0; i < 100000; i++) {
		snprintf(f, sizeof(f), "printer/%u/+", i);
		ck_assert(trie_remove(t, f, strlen(f), (void *)(uintptr_t)1));
	}
	ck_assert_uint_eq(trie_count(t), 0);
	ck_assert_uint_eq(match_count(t, "printer/77777/x"), 0);
	trie_free(t);
}
END_TEST

static Suite *trie_suite(void)
{
	Suite *s = suite_create("trie");
	TCase *tc = tcase_create("trie");

	tcase_add_loop_test(tc, fixed_cases, 0, (int)nitems(cases));
	tcase_add_test(tc, values_and_removal);
	tcase_add_loop_test(tc, random_cross_check, 0, 8);
	tcase_add_test(tc, many_siblings);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(trie_suite)
