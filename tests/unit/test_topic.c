/*
 * test_topic: topic-name validity (MQTT 3.1.1 §4.7) and UTF-8 validity.
 */
#include <stdlib.h>
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

static Suite *topic_suite(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("topic");

	tcase_add_loop_test(tc, utf8_accepts, 0, (int)nitems(utf8_good));
	tcase_add_loop_test(tc, utf8_rejects, 0, (int)nitems(utf8_bad));
	tcase_add_loop_test(tc, topic_names, 0, (int)nitems(topics));
	tcase_add_test(tc, topic_length_limit);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(topic_suite)
