/*
 * test_bset: the broker subscription set kept one filter at a time
 * (issue 17) against topic_broker_set(), which computes it from scratch:
 * fixed cases of covering, joining and re-forming, then randomized adds
 * and removes where, after every flush, the filters subscribed at a model
 * broker must be exactly topic_broker_set() of what is registered.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bset.h"
#include "buf.h"
#include "compat.h"
#include "topic.h"
#include "check_compat.h"

/* The model broker: its subscriptions, and the changes as "+f;" / "-f;". */
#define MAXSUBS 512
static char *at_broker[MAXSUBS];
static size_t nat;
static char changes[4096];

static void on_change(void *ctx, const char *f, size_t len, bool subscribe)
{
	size_t i;

	(void)ctx;
	ck_assert_uint_eq(strlen(f), len);
	snprintf(changes + strlen(changes), sizeof(changes) - strlen(changes), "%c%s;",
	         subscribe ? '+' : '-', f);
	for (i = 0; i < nat && strcmp(at_broker[i], f) != 0; i++)
		;
	if (subscribe) {
		ck_assert_msg(i == nat, "subscribed twice to %s", f);
		ck_assert_uint_lt(nat, MAXSUBS);
		at_broker[nat++] = strdup(f);
	} else {
		ck_assert_msg(i < nat, "unsubscribed from %s, never subscribed", f);
		free(at_broker[i]);
		at_broker[i] = at_broker[--nat];
	}
}

static bool subscribed(const char *f)
{
	size_t i;

	for (i = 0; i < nat; i++)
		if (strcmp(at_broker[i], f) == 0)
			return true;
	return false;
}

static void setup(void)
{
	nat = 0;
	changes[0] = '\0';
}

static void teardown(void)
{
	while (nat > 0)
		free(at_broker[--nat]);
}

static void flush(struct bset *b)
{
	changes[0] = '\0';
	bset_flush(b, on_change, NULL);
}

static void add(struct bset *b, const char *f)
{
	bset_add(b, f, strlen(f));
	flush(b);
}

static void del(struct bset *b, const char *f)
{
	ck_assert(bset_remove(b, f, strlen(f)));
	flush(b);
}

START_TEST(covering_and_joining)
{
	struct bset *b = bset_new();

	add(b, "a/b");
	ck_assert_str_eq(changes, "+a/b;");
	/* Covered by a new one: the new one first, then the old one goes. */
	add(b, "a/#");
	ck_assert_str_eq(changes, "+a/#;-a/b;");
	/* Covered by what is there: nothing at the broker. */
	add(b, "a/#");
	ck_assert_str_eq(changes, "");
	add(b, "a/c/d");
	ck_assert_str_eq(changes, "");
	ck_assert_uint_eq(bset_count(b), 1);
	/* Overlapping: joined into one. */
	add(b, "+/q");
	ck_assert_str_eq(changes, "++/#;-a/#;");
	/* A '$' topic filter meets no leading wildcard: a set of its own. */
	add(b, "$SYS/x");
	ck_assert_str_eq(changes, "+$SYS/x;");
	ck_assert_uint_eq(bset_count(b), 2);
	/* One of two a/# gone: still registered, nothing changes. */
	del(b, "a/#");
	ck_assert_str_eq(changes, "");
	/* The last a/#: +/# re-forms from a/b, a/c/d and +/q, which do not
	 * overlap: three broker filters, subscribed before +/# goes. */
	del(b, "a/#");
	ck_assert_uint_eq(nat, 4);
	ck_assert(subscribed("a/b") && subscribed("a/c/d") && subscribed("+/q") &&
	          subscribed("$SYS/x"));
	ck_assert_uint_eq(strlen(changes), strlen("+a/b;+a/c/d;++/q;-+/#;"));
	ck_assert_str_eq(changes + strlen(changes) - 5, "-+/#;");
	del(b, "a/b");
	ck_assert_str_eq(changes, "-a/b;");
	ck_assert(!bset_remove(b, "a/b", 3));
	del(b, "a/c/d");
	ck_assert_str_eq(changes, "-a/c/d;");
	del(b, "+/q");
	del(b, "$SYS/x");
	ck_assert_str_eq(changes, "-$SYS/x;");
	ck_assert_uint_eq(bset_count(b), 0);
	ck_assert_uint_eq(nat, 0);
	bset_free(b);
}
END_TEST

/* Changes between flushes: what went and came back is neither. */
START_TEST(flush_nets_out)
{
	struct bset *b = bset_new();

	add(b, "x/y");
	bset_add(b, "x/#", 3);
	ck_assert(bset_remove(b, "x/#", 3));
	flush(b);
	ck_assert_str_eq(changes, "");
	ck_assert_uint_eq(nat, 1);
	/* z, then + covering it, one level deep (x/y is two): only + goes to
	 * the broker. */
	bset_add(b, "z", 1);
	bset_add(b, "+", 1);
	flush(b);
	ck_assert_str_eq(changes, "++;");
	ck_assert_uint_eq(bset_count(b), 2);
	bset_free(b);
}
END_TEST

/* One of a few levels, wildcards and '$' among them, so filters collide often. */
static const char *const levels[] = {"a", "b", "", "$s", "c", "+", "#"};

static void random_filter(struct buf *out, unsigned *seed)
{
	unsigned depth = 1 + (unsigned)rand_r(seed) % 4, i;

	buf_reset(out);
	for (i = 0; i < depth; i++) {
		const char *l = levels[(size_t)rand_r(seed) % nitems(levels)];

		if (i > 0)
			buf_putc(out, '/');
		if (l[0] == '#') {
			buf_putc(out, '#');
			break;
		}
		buf_append_str(out, l);
	}
	if (buf_len(out) == 0)
		buf_putc(out, 'a');
	buf_putc(out, '\0');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NFILTERS 120

/*
 * "+/#" and "#" match the same topics (a name has one level at least):
 * of the two, topic_broker_set keeps whichever came first and bset the
 * one its group started with. Compared as "#".
 */
static char *canon(char *f)
{
	return strcmp(f, "+/#") == 0 ? (char *)"#" : f;
}

/* The model broker holds exactly topic_broker_set(registered). */
static void check_against_batch(char filters[][32], const unsigned *count, unsigned round)
{
	struct topic_span f[NFILTERS * 3];
	struct buf want = BUF_INITIALIZER;
	char *w[MAXSUBS], *got[MAXSUBS];
	size_t n = 0, m, i;
	const char *p;

	for (i = 0; i < NFILTERS; i++) {
		for (unsigned k = 0; k < count[i]; k++) {
			f[n].s = filters[i];
			f[n++].len = strlen(filters[i]);
		}
	}
	m = topic_broker_set(f, n, &want);
	ck_assert_uint_le(m, MAXSUBS);
	for (i = 0, p = buf_data(&want); i < m; i++, p += strlen(p) + 1)
		w[i] = canon((char *)p);
	for (i = 0; i < nat; i++)
		got[i] = canon(at_broker[i]);
	qsort(w, m, sizeof(*w), cmp_str);
	qsort(got, nat, sizeof(*got), cmp_str);
	if (getenv("BSET_DEBUG") != NULL) {
		fprintf(stderr, "round %u registered:", round);
		for (i = 0; i < n; i++)
			fprintf(stderr, " %s", f[i].s);
		fprintf(stderr, "\n  batch:");
		for (i = 0; i < m; i++)
			fprintf(stderr, " %s", w[i]);
		fprintf(stderr, "\n  bset:");
		for (i = 0; i < nat; i++)
			fprintf(stderr, " %s", got[i]);
		fprintf(stderr, "\n");
	}
	if (m != nat)
		ck_abort_msg("round %u: %zu broker filters, topic_broker_set has %zu", round, nat,
		             m);
	for (i = 0; i < m; i++)
		if (strcmp(w[i], got[i]) != 0)
			ck_abort_msg("round %u: broker has %s where topic_broker_set has %s", round,
			             got[i], w[i]);
	buf_free(&want);
}

START_TEST(random_cross_check)
{
	static char filters[NFILTERS][32];
	static unsigned count[NFILTERS];
	struct bset *b = bset_new();
	struct buf buf = BUF_INITIALIZER;
	unsigned seed = 20261205u + (unsigned)_i, round, i;

	for (i = 0; i < NFILTERS; i++) {
		random_filter(&buf, &seed);
		memcpy(filters[i], buf_data(&buf), buf_len(&buf));
		count[i] = 0;
	}
	for (round = 0; round < 1500; round++) {
		/* One to three changes a flush, adds a little likelier. */
		unsigned k = 1 + (unsigned)rand_r(&seed) % 3;

		while (k-- > 0) {
			i = (unsigned)rand_r(&seed) % NFILTERS;
			if (count[i] > 0 && rand_r(&seed) % 5 < 2) {
				ck_assert(bset_remove(b, filters[i], strlen(filters[i])));
				count[i]--;
			} else if (count[i] < 3) {
				bset_add(b, filters[i], strlen(filters[i]));
				count[i]++;
			}
		}
		flush(b);
		ck_assert_uint_eq(bset_count(b), nat);
		check_against_batch(filters, count, round);
	}
	for (i = 0; i < NFILTERS; i++)
		while (count[i]-- > 0)
			ck_assert(bset_remove(b, filters[i], strlen(filters[i])));
	flush(b);
	ck_assert_uint_eq(nat, 0);
	ck_assert_uint_eq(bset_count(b), 0);
	buf_free(&buf);
	bset_free(b);
}
END_TEST

/* 100,000 filters that do not overlap: one broker filter each. */
START_TEST(many_disjoint)
{
	struct bset *b = bset_new();
	char f[32];
	unsigned i;

	for (i = 0; i < 100000; i++) {
		snprintf(f, sizeof(f), "printer/%u/state", i);
		bset_add(b, f, strlen(f));
	}
	ck_assert_uint_eq(bset_count(b), 100000);
	bset_add(b, "printer/+/state", 15);
	ck_assert_uint_eq(bset_count(b), 1);
	ck_assert(bset_remove(b, "printer/+/state", 15));
	ck_assert_uint_eq(bset_count(b), 100000);
	for (i = 0; i < 100000; i++) {
		snprintf(f, sizeof(f), "printer/%u/state", i);
		ck_assert(bset_remove(b, f, strlen(f)));
	}
	ck_assert_uint_eq(bset_count(b), 0);
	bset_free(b);
}
END_TEST

static Suite *bset_suite(void)
{
	Suite *s = suite_create("bset");
	TCase *tc = tcase_create("bset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, covering_and_joining);
	tcase_add_test(tc, flush_nets_out);
	tcase_add_loop_test(tc, random_cross_check, 0, 8);
	tcase_add_test(tc, many_disjoint);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(bset_suite)
