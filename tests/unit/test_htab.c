/*
 * test_htab: the one hash table and FNV-1a: the published test vectors,
 * and 10,000 nodes in, found, half out, the rest still found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "check_compat.h"

START_TEST(fnv_vectors)
{
	/* FNV-1a 64 of "", "a" and "foobar" (the FNV reference values). */
	ck_assert_uint_eq(htab_fnv(HTAB_FNV_BASIS, "", 0), 0xcbf29ce484222325ULL);
	ck_assert_uint_eq(htab_fnv(HTAB_FNV_BASIS, "a", 1), 0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(htab_fnv(HTAB_FNV_BASIS, "foobar", 6), 0x85944171f73967e8ULL);
	/* Continuing from a hash is hashing the concatenation. */
	ck_assert_uint_eq(htab_fnv(htab_fnv(HTAB_FNV_BASIS, "foo", 3), "bar", 3),
	                  0x85944171f73967e8ULL);
}
END_TEST

struct item {
	int key;
	struct htab_node node;
};

static struct item *find(const struct htab *t, int key)
{
	uint64_t h = htab_fnv(HTAB_FNV_BASIS, &key, sizeof(key));
	struct htab_node *n;

	for (n = htab_chain(t, h); n != NULL; n = n->hn_next) {
		struct item *it = HTAB_ENTRY(n, struct item, node);

		if (n->hn_hash == h && it->key == key)
			return it;
	}
	return NULL;
}

START_TEST(insert_find_remove)
{
	static struct item items[10000];
	struct htab t = {0};
	size_t i, seen = 0;

	ck_assert_ptr_null(find(&t, 1));
	for (i = 0; i < 10000; i++) {
		items[i].key = (int)i;
		htab_insert(&t, &items[i].node,
		            htab_fnv(HTAB_FNV_BASIS, &items[i].key, sizeof(int)));
	}
	ck_assert_uint_eq(t.ht_n, 10000);
	ck_assert_uint_ge(t.ht_nb, 10000);
	for (i = 0; i < 10000; i++)
		ck_assert_ptr_eq(find(&t, (int)i), &items[i]);
	ck_assert_ptr_null(find(&t, 10000));
	for (i = 0; i < 10000; i += 2)
		htab_remove(&t, &items[i].node);
	ck_assert_uint_eq(t.ht_n, 5000);
	for (i = 0; i < 10000; i++)
		ck_assert_ptr_eq(find(&t, (int)i), i % 2 ? &items[i] : NULL);
	for (i = 0; i < t.ht_nb; i++)
		for (struct htab_node *n = htab_bucket(&t, i); n != NULL; n = n->hn_next)
			seen++;
	ck_assert_uint_eq(seen, 5000);
	htab_free(&t);
	ck_assert_uint_eq(t.ht_nb, 0);
}
END_TEST

static Suite *htab_suite(void)
{
	Suite *s = suite_create("htab");
	TCase *tc = tcase_create("htab");

	tcase_add_test(tc, fnv_vectors);
	tcase_add_test(tc, insert_find_remove);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(htab_suite)
