/*
 * test_buf: append, consume, compaction, growth, formatted append, direct
 * writes after reserve, shrinking.
 */
#include <string.h>

#include "buf.h"
#include "check_compat.h"

START_TEST(append_consume)
{
	struct buf b = BUF_INITIALIZER;

	buf_append_str(&b, "hello ");
	buf_append(&b, "world", 5);
	buf_putc(&b, '!');
	ck_assert_uint_eq(buf_len(&b), 12);
	ck_assert_int_eq(memcmp(buf_data(&b), "hello world!", 12), 0);
	buf_consume(&b, 6);
	ck_assert_uint_eq(buf_len(&b), 6);
	ck_assert_int_eq(memcmp(buf_data(&b), "world!", 6), 0);
	buf_consume(&b, 6);
	ck_assert_uint_eq(buf_len(&b), 0);
	/* Emptied by consume: the offset is back at the start. */
	ck_assert_uint_eq(b.b_off, 0);
	buf_free(&b);
	ck_assert_ptr_null(b.b_data);
}
END_TEST

START_TEST(growth_keeps_bytes)
{
	struct buf b = BUF_INITIALIZER;
	size_t i;

	for (i = 0; i < 100000; i++)
		buf_putc(&b, (int)(i % 251));
	ck_assert_uint_eq(buf_len(&b), 100000);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq((unsigned char)buf_data(&b)[i], i % 251);
	/* Capacity doubles: a power-of-two multiple of the first size. */
	ck_assert_uint_ge(b.b_cap, 100000);
	ck_assert_uint_lt(b.b_cap, 2 * 100000 + 512);
	buf_free(&b);
}
END_TEST

START_TEST(compact_reuses_prefix)
{
	struct buf b = BUF_INITIALIZER;
	size_t cap;
	char *data;

	buf_reserve(&b, 1000);
	cap = b.b_cap;
	data = b.b_data;
	buf_append(&b, "0123456789", 10);
	while (buf_avail(&b) >= 10)
		buf_append(&b, "abcdefghij", 10);
	buf_consume(&b, buf_len(&b) - 5);
	/* Room is found by moving the 5 live bytes, not by growing. */
	buf_reserve(&b, cap - 10);
	ck_assert_uint_eq(b.b_cap, cap);
	ck_assert_ptr_eq(b.b_data, data);
	ck_assert_uint_eq(b.b_off, 0);
	ck_assert_uint_eq(buf_len(&b), 5);
	ck_assert_int_eq(memcmp(buf_data(&b), "fghij", 5), 0);
	buf_free(&b);
}
END_TEST

START_TEST(compact_explicit)
{
	struct buf b = BUF_INITIALIZER;

	buf_append_str(&b, "xxxxabc");
	buf_consume(&b, 4);
	buf_compact(&b);
	ck_assert_uint_eq(b.b_off, 0);
	ck_assert_uint_eq(buf_len(&b), 3);
	ck_assert_int_eq(memcmp(b.b_data, "abc", 3), 0);
	buf_free(&b);
}
END_TEST

START_TEST(appendf_small_and_large)
{
	struct buf b = BUF_INITIALIZER;
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_appendf(&b, "%d-%s", 42, "x");
	ck_assert_uint_eq(buf_len(&b), 4);
	ck_assert_int_eq(memcmp(buf_data(&b), "42-x", 4), 0);
	buf_appendf(&b, "[%s]", big);
	ck_assert_uint_eq(buf_len(&b), 4 + 2 + 4999);
	ck_assert_int_eq(buf_data(&b)[4], '[');
	ck_assert_int_eq(buf_data(&b)[4 + 1 + 4999], ']');
	ck_assert_int_eq(buf_data(&b)[4 + 1 + 4998], 'q');
	buf_free(&b);
}
END_TEST

START_TEST(reserve_produced)
{
	struct buf b = BUF_INITIALIZER;

	buf_append_str(&b, "ab");
	buf_reserve(&b, 3);
	ck_assert_uint_ge(buf_avail(&b), 3);
	memcpy(buf_tail(&b), "cde", 3);
	buf_produced(&b, 3);
	ck_assert_uint_eq(buf_len(&b), 5);
	ck_assert_int_eq(memcmp(buf_data(&b), "abcde", 5), 0);
	buf_free(&b);
}
END_TEST

START_TEST(reset_and_shrink)
{
	struct buf b = BUF_INITIALIZER;

	buf_reserve(&b, 100000);
	buf_append_str(&b, "x");
	/* Not empty: shrink does nothing. */
	buf_shrink(&b, 1024);
	ck_assert_ptr_nonnull(b.b_data);
	buf_reset(&b);
	ck_assert_uint_eq(buf_len(&b), 0);
	ck_assert_uint_ge(b.b_cap, 100000);
	buf_shrink(&b, 1024);
	ck_assert_ptr_null(b.b_data);
	ck_assert_uint_eq(b.b_cap, 0);
	/* Still usable after shrinking. */
	buf_append_str(&b, "again");
	ck_assert_uint_eq(buf_len(&b), 5);
	/* Small buffers are kept. */
	buf_reset(&b);
	buf_shrink(&b, 1 << 20);
	ck_assert_ptr_nonnull(b.b_data);
	buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, append_consume);
	tcase_add_test(tc, growth_keeps_bytes);
	tcase_add_test(tc, compact_reuses_prefix);
	tcase_add_test(tc, compact_explicit);
	tcase_add_test(tc, appendf_small_and_large);
	tcase_add_test(tc, reserve_produced);
	tcase_add_test(tc, reset_and_shrink);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(buf_suite)
