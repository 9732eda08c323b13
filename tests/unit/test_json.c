/*
 * test_json: RFC 8259 validation, string escaping and the event payload
 * rewrite of DESIGN §5 (member text kept byte for byte, _event and the
 * timestamp replaced in place or appended, everything that is not a JSON
 * object refused).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "check_compat.h"

#define TS     1700000000LL
#define TS_STR "1700000000"

/* A test input: explicit length so NUL bytes can be part of it. */
struct bytes {
	const char *s;
	size_t len;
};
#define B(lit)                                                                                     \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}

static char *rewrite(const char *in, size_t len, const char *event, const char *ts_field, int *rc,
                     const char **why)
{
	struct buf out = BUF_INITIALIZER;
	char *s;

	*why = NULL;
	*rc = json_event_payload(in, len, event, strlen(event), ts_field, TS, &out, why);
	s = strndup(buf_len(&out) > 0 ? buf_data(&out) : "", buf_len(&out));
	buf_free(&out);
	return s;
}

/* ---- the rewrite of valid objects ---- */

static const struct rewrite_case {
	struct bytes in;
	const char *ts_field;
	const char *want;
} rewrite_cases[] = {
        {B(""), "_timestamp", "{\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        {B("null"), "_timestamp", "{\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        {B(" \t\r\n "), "_timestamp", "{\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        {B("\n null \n"), "_timestamp", "{\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        {B("{}"), "_timestamp", "{\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        {B(" { \n } "), NULL, "{\"_event\":\"Ev\"}"},
        {B(""), NULL, "{\"_event\":\"Ev\"}"},
        {B("{\"a\":1}"), "_timestamp", "{\"a\":1,\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        /* whitespace between tokens goes, whitespace inside values stays */
        {B(" {\n  \"a\" : 1 ,\n  \"b\" :\t[1, 2, {\"c\": \"d\"}] ,\"e\":{ \"f\" : [ ] }\n} \n"),
         NULL, "{\"a\":1,\"b\":[1, 2, {\"c\": \"d\"}],\"e\":{ \"f\" : [ ] },\"_event\":\"Ev\"}"},
        /* escapes are copied as written, not re-encoded */
        {B("{\"s\":\"a\\\"b\\\\c\\n\\u00e9\\/\\uD83D\\uDED1\"}"), NULL,
         "{\"s\":\"a\\\"b\\\\c\\n\\u00e9\\/\\uD83D\\uDED1\",\"_event\":\"Ev\"}"},
        {B("{\"j\xc3\xbcrgen\":\"stop \xf0\x9f\x9b\x91 \xe2\x82\xac\"}"), NULL,
         "{\"j\xc3\xbcrgen\":\"stop \xf0\x9f\x9b\x91 \xe2\x82\xac\",\"_event\":\"Ev\"}"},
        {B("{\"t\":true,\"f\":false,\"n\":null,\"e\":\"\"}"), NULL,
         "{\"t\":true,\"f\":false,\"n\":null,\"e\":\"\",\"_event\":\"Ev\"}"},
        /* numbers keep their spelling */
        {B("{\"n\":1.0E+2,\"m\":-0,\"k\":0.5e-3,\"big\":123456789012345678901234567890}"), NULL,
         "{\"n\":1.0E+2,\"m\":-0,\"k\":0.5e-3,\"big\":123456789012345678901234567890,"
         "\"_event\":\"Ev\"}"},
        /* _event replaced where it stands */
        {B("{\"_event\":\"old\",\"a\":1}"), "_timestamp",
         "{\"_event\":\"Ev\",\"a\":1,\"_timestamp\":" TS_STR "}"},
        {B("{\"a\":1,\"_event\":{\"x\":[1]},\"b\":2}"), NULL,
         "{\"a\":1,\"_event\":\"Ev\",\"b\":2}"},
        {B("{\"a\":1, \"_event\" : null }"), NULL, "{\"a\":1,\"_event\":\"Ev\"}"},
        /* duplicates after the first go */
        {B("{\"_event\":1,\"a\":2,\"_event\":3}"), NULL, "{\"_event\":\"Ev\",\"a\":2}"},
        {B("{\"_event\":1,\"_event\":2}"), NULL, "{\"_event\":\"Ev\"}"},
        {B("{\"a\":0,\"_event\":1,\"_event\":2,\"b\":3,\"_event\":4}"), NULL,
         "{\"a\":0,\"_event\":\"Ev\",\"b\":3}"},
        /* keys compare decoded */
        {B("{\"\\u005fevent\":\"x\",\"a\":1}"), NULL, "{\"_event\":\"Ev\",\"a\":1}"},
        {B("{\"a\":1,\"\\u005F\\u0065\\u0076ent\":2,\"_event\":3}"), NULL,
         "{\"a\":1,\"_event\":\"Ev\"}"},
        /* near misses are ordinary members */
        {B("{\"_events\":1,\"_Event\":2,\"_even\":3,\"event\":4,\"\":5}"), NULL,
         "{\"_events\":1,\"_Event\":2,\"_even\":3,\"event\":4,\"\":5,\"_event\":\"Ev\"}"},
        /* only top-level members are replaced */
        {B("{\"o\":{\"_event\":1,\"_timestamp\":2}}"), "_timestamp",
         "{\"o\":{\"_event\":1,\"_timestamp\":2},\"_event\":\"Ev\",\"_timestamp\":" TS_STR "}"},
        /* timestamp replaced in place, _event appended after it */
        {B("{\"_timestamp\":\"old\",\"a\":1}"), "_timestamp",
         "{\"_timestamp\":" TS_STR ",\"a\":1,\"_event\":\"Ev\"}"},
        {B("{\"_timestamp\":1,\"_event\":2,\"_timestamp\":3}"), "_timestamp",
         "{\"_timestamp\":" TS_STR ",\"_event\":\"Ev\"}"},
        {B("{\"\\u005ftimestamp\":1}"), "_timestamp",
         "{\"_timestamp\":" TS_STR ",\"_event\":\"Ev\"}"},
        /* without a timestamp field an existing _timestamp is just a member */
        {B("{\"_timestamp\":5}"), NULL, "{\"_timestamp\":5,\"_event\":\"Ev\"}"},
        /* another timestamp name; a surrogate pair escape decodes to the UTF-8 key */
        {B("{\"when\":0}"), "when", "{\"when\":" TS_STR ",\"_event\":\"Ev\"}"},
        {B("{\"t\\ud83d\\uded1\":0}"), "t\xf0\x9f\x9b\x91",
         "{\"t\xf0\x9f\x9b\x91\":" TS_STR ",\"_event\":\"Ev\"}"},
        /* a lone surrogate key matches nothing but is valid JSON */
        {B("{\"\\ud800\":1}"), NULL, "{\"\\ud800\":1,\"_event\":\"Ev\"}"},
};

START_TEST(test_rewrite)
{
	const struct rewrite_case *c = &rewrite_cases[_i];
	const char *why;
	int rc;
	char *got = rewrite(c->in.s, c->in.len, "Ev", c->ts_field, &rc, &why);

	ck_assert_msg(rc == 0, "case %d: rc %d (%s)", _i, rc, why ? why : "");
	ck_assert_str_eq(got, c->want);
	/* The output is JSON itself. */
	ck_assert_int_eq(json_validate(got, strlen(got), &why), 0);
	free(got);
}
END_TEST

START_TEST(test_rewrite_null_body_pointer)
{
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;

	ck_assert_int_eq(json_event_payload(NULL, 0, "E", 1, NULL, 0, &out, &why), 0);
	ck_assert_uint_eq(buf_len(&out), strlen("{\"_event\":\"E\"}"));
	ck_assert(memcmp(buf_data(&out), "{\"_event\":\"E\"}", buf_len(&out)) == 0);
	buf_free(&out);
}
END_TEST

START_TEST(test_rewrite_escapes_event_name)
{
	const char *why;
	int rc;
	char *got = rewrite("{}", 2, "a\"b\\c\n", NULL, &rc, &why);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got, "{\"_event\":\"a\\\"b\\\\c\\n\"}");
	free(got);
}
END_TEST

START_TEST(test_rewrite_negative_and_zero_ts)
{
	struct buf out = BUF_INITIALIZER;
	const char *why;

	ck_assert_int_eq(json_event_payload("{}", 2, "E", 1, "ts", -5, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "{\"_event\":\"E\",\"ts\":-5}");
	buf_reset(&out);
	ck_assert_int_eq(json_event_payload("{}", 2, "E", 1, "ts", 0, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "{\"_event\":\"E\",\"ts\":0}");
	buf_free(&out);
}
END_TEST

/* The output is appended: what is already in the buffer stays. */
START_TEST(test_rewrite_appends)
{
	struct buf out = BUF_INITIALIZER;
	const char *why;

	buf_append_str(&out, "X");
	ck_assert_int_eq(json_event_payload("{\"a\":1}", 7, "E", 1, NULL, 0, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "X{\"a\":1,\"_event\":\"E\"}");
	buf_free(&out);
}
END_TEST

/* Many members: more tokens than fit on the stack. */
START_TEST(test_rewrite_many_members)
{
	struct buf in = BUF_INITIALIZER, want = BUF_INITIALIZER, out = BUF_INITIALIZER;
	const char *why;
	int i;

	buf_putc(&in, '{');
	buf_putc(&want, '{');
	for (i = 0; i < 500; i++) {
		buf_appendf(&in, "%s \"k%d\" : [%d, \"v\"]", i ? "," : "", i, i);
		buf_appendf(&want, "%s\"k%d\":[%d, \"v\"]", i ? "," : "", i, i);
		if (i == 250) {
			buf_append_str(&in, ",\"_event\":0");
			buf_append_str(&want, ",\"_event\":\"E\"");
		}
	}
	buf_putc(&in, '}');
	buf_append_str(&want, "}");
	ck_assert_int_eq(
	        json_event_payload(buf_data(&in), buf_len(&in), "E", 1, NULL, 0, &out, &why), 0);
	ck_assert_uint_eq(buf_len(&out), buf_len(&want));
	ck_assert(memcmp(buf_data(&out), buf_data(&want), buf_len(&want)) == 0);
	buf_free(&in);
	buf_free(&want);
	buf_free(&out);
}
END_TEST

static void nest(struct buf *b, size_t depth, bool objects)
{
	size_t i;

	for (i = 0; i < depth; i++)
		buf_append_str(b, objects ? "{\"k\":" : "[");
	buf_append_str(b, "0");
	for (i = 0; i < depth; i++)
		buf_putc(b, objects ? '}' : ']');
}

/* Nesting up to 128 levels is accepted, deeper is refused. */
START_TEST(test_nesting_limit)
{
	struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER;
	const char *why;

	buf_append_str(&in, "{\"d\":");
	nest(&in, 127, _i);
	buf_putc(&in, '}');
	ck_assert_int_eq(
	        json_event_payload(buf_data(&in), buf_len(&in), "E", 1, NULL, 0, &out, &why), 0);
	ck_assert_uint_eq(buf_len(&out), buf_len(&in) + strlen(",\"_event\":\"E\""));
	buf_reset(&in);
	buf_reset(&out);
	buf_append_str(&in, "{\"d\":");
	nest(&in, 128, _i);
	buf_putc(&in, '}');
	ck_assert_int_eq(
	        json_event_payload(buf_data(&in), buf_len(&in), "E", 1, NULL, 0, &out, &why), -1);
	ck_assert_str_eq(why, "invalid JSON: nested too deeply");
	ck_assert_uint_eq(buf_len(&out), 0);
	/* Brackets inside strings do not count. */
	buf_reset(&in);
	buf_append_str(&in, "{\"s\":\"");
	nest(&in, 1000, false);
	buf_append_str(&in, "\\\"[\"}");
	ck_assert_int_eq(json_validate(buf_data(&in), buf_len(&in), &why), 0);
	buf_free(&in);
	buf_free(&out);
}
END_TEST

/* A 1 MiB body of nested brackets at the limit stays fast (no quadratic close). */
START_TEST(test_nesting_worst_case_size)
{
	struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER;
	const char *why;

	buf_append_str(&in, "{\"d\":[");
	while (buf_len(&in) < 1024 * 1024) {
		nest(&in, 126, false);
		buf_putc(&in, ',');
	}
	buf_append_str(&in, "0]}");
	ck_assert_int_eq(
	        json_event_payload(buf_data(&in), buf_len(&in), "E", 1, NULL, 0, &out, &why), 0);
	buf_free(&in);
	buf_free(&out);
}
END_TEST

/* ---- valid JSON that is not an object ---- */

static const struct bytes not_object_cases[] = {
        B("[]"),     B("[1,2]"), B(" [{}] "), B("\"s\""), B("1"),
        B("-0.5e1"), B("0"),     B("true"),   B("false"), B(" 12 "),
};

START_TEST(test_not_object)
{
	const struct bytes *c = &not_object_cases[_i];
	const char *why;
	int rc;
	char *got = rewrite(c->s, c->len, "E", NULL, &rc, &why);

	ck_assert_msg(rc == -1, "case %d accepted: %s", _i, got);
	ck_assert_str_eq(why, "body must be a JSON object");
	ck_assert_str_eq(got, "");
	ck_assert_int_eq(json_validate(c->s, c->len, &why), 0);
	free(got);
}
END_TEST

/* ---- invalid JSON ---- */

static const struct invalid_case {
	struct bytes in;
	const char *why; /* NULL: any "invalid JSON: ..." */
} invalid_cases[] = {
        /* structure */
        {B("{"), "invalid JSON: unexpected end"},
        {B("{\"a\":1"), "invalid JSON: unexpected end"},
        {B("{\"a\":[1,2"), "invalid JSON: unexpected end"},
        {B("{\"a\":\"unterminated}"), "invalid JSON: unexpected end"},
        {B("{\"a\":}"), "invalid JSON: object member without a value"},
        {B("{\"a\"}"), "invalid JSON: object member without a value"},
        {B("{\"a\",\"b\":1}"), NULL},
        {B("{\"a\" 1}"), NULL},
        {B("{\"a\" \"b\"}"), NULL},
        {B("{\"a\":1,}"), NULL},
        {B("{,\"a\":1}"), NULL},
        {B("{\"a\":1 \"b\":2}"), NULL},
        {B("{\"a\":1,,\"b\":2}"), NULL},
        {B("{\"a\"::1}"), NULL},
        {B("{\"a\":1:2}"), NULL},
        {B("{\"a\":\"b\":\"c\"}"), NULL},
        {B("{\"a\":{\"b\":1}:2}"), NULL},
        {B("{1:2}"), NULL},
        {B("{a:1}"), NULL},
        {B("{'a':1}"), NULL},
        {B("{[]:1}"), NULL},
        {B("{\"a\":[1,]}"), NULL},
        {B("{\"a\":[,1]}"), NULL},
        {B("{\"a\":[1 2]}"), NULL},
        {B("{\"a\":[1,,2]}"), NULL},
        {B("{\"a\":[\"k\":1]}"), NULL},
        {B("{\"a\":[true\"b\"]}"), NULL},
        {B("{\"a\":[\"b\"true]}"), NULL},
        {B("{\"a\":[1,2}"), NULL},
        {B("{\"a\":1]"), NULL},
        {B("[1}"), NULL},
        {B("}"), NULL},
        {B("]"), NULL},
        {B(":"), NULL},
        {B(","), NULL},
        /* more than one value, trailing bytes */
        {B("{\"a\":1}}"), NULL},
        {B("{\"a\":1}]"), NULL},
        {B("{\"a\":1} {}"), "invalid JSON: more than one value or trailing characters"},
        {B("{} x"), NULL},
        {B("{},"), NULL},
        {B("{}//"), NULL},
        {B("/* c */{}"), NULL},
        {B("\xef\xbb\xbf{}"), NULL},
        {B("{}\0"), "invalid JSON: NUL byte"},
        {B("{\"a\0\":1}"), "invalid JSON: NUL byte"},
        /* numbers */
        {B("{\"a\":01}"), "invalid JSON: bad number"},
        {B("{\"a\":-01}"), "invalid JSON: bad number"},
        {B("{\"a\":00}"), "invalid JSON: bad number"},
        {B("{\"a\":+1}"), NULL},
        {B("{\"a\":.5}"), NULL},
        {B("{\"a\":1.}"), "invalid JSON: bad number"},
        {B("{\"a\":1.e5}"), "invalid JSON: bad number"},
        {B("{\"a\":0x10}"), "invalid JSON: bad number"},
        {B("{\"a\":-}"), "invalid JSON: bad number"},
        {B("{\"a\":--1}"), "invalid JSON: bad number"},
        {B("{\"a\":1e}"), "invalid JSON: bad number"},
        {B("{\"a\":1e+}"), "invalid JSON: bad number"},
        {B("{\"a\":1E5.0}"), "invalid JSON: bad number"},
        {B("{\"a\":1-2}"), "invalid JSON: bad number"},
        {B("{\"a\":NaN}"), NULL},
        {B("{\"a\":Infinity}"), NULL},
        {B("{\"a\":-Infinity}"), "invalid JSON: bad number"},
        /* literals */
        {B("{\"a\":tru}"), "invalid JSON: bad literal (true, false, null)"},
        {B("{\"a\":truefalse}"), "invalid JSON: bad literal (true, false, null)"},
        {B("{\"a\":nulll}"), "invalid JSON: bad literal (true, false, null)"},
        {B("{\"a\":fals}"), "invalid JSON: bad literal (true, false, null)"},
        {B("{\"a\":True}"), NULL},
        {B("{\"a\":undefined}"), NULL},
        /* strings: control characters, escapes */
        {B("{\"a\":\"x\ty\"}"), "invalid JSON: control character in string"},
        {B("{\"a\":\"x\ny\"}"), "invalid JSON: control character in string"},
        {B("{\"a\":\"\x01\"}"), "invalid JSON: control character in string"},
        {B("{\"a\x1f\":1}"), "invalid JSON: control character in string"},
        {B("{\"a\":\"\\x41\"}"), "invalid JSON: bad escape in string"},
        {B("{\"a\":\"\\'\"}"), "invalid JSON: bad escape in string"},
        {B("{\"a\":\"\\U0041\"}"), "invalid JSON: bad escape in string"},
        {B("{\"a\":\"\\u12G4\"}"), "invalid JSON: bad escape in string"},
        {B("{\"a\":\"\\u12\"}"), "invalid JSON: bad escape in string"},
        {B("{\"a\":\"\\"), "invalid JSON: unexpected end"},
        {B("{\"a\":\"\\u00"), "invalid JSON: unexpected end"},
        /* strings: UTF-8 */
        {B("{\"a\":\"\xc0\xaf\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xc1\xbf\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xe0\x80\xaf\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xf0\x80\x80\xaf\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xed\xa0\x80\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xed\xbf\xbf\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xf4\x90\x80\x80\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xf5\x80\x80\x80\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xff\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\x80\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xc3\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"a\":\"\xe2\x82\"}"), "invalid JSON: invalid UTF-8 in string"},
        {B("{\"\xc3(\":1}"), "invalid JSON: invalid UTF-8 in string"},
        /* bytes outside strings */
        {B("{\"a\":\xc3\xa9}"), NULL},
        {B("{\"a\":1\x0b}"), NULL},
        {B("\x0c{}"), NULL},
};

START_TEST(test_invalid)
{
	const struct invalid_case *c = &invalid_cases[_i];
	const char *why;
	int rc;
	char *got = rewrite(c->in.s, c->in.len, "E", "_timestamp", &rc, &why);

	ck_assert_msg(rc == -1, "case %d accepted: %s", _i, got);
	ck_assert_str_eq(got, "");
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strncmp(why, "invalid JSON: ", 14) == 0, "case %d: why %s", _i, why);
	if (c->why != NULL)
		ck_assert_str_eq(why, c->why);
	why = NULL;
	ck_assert_int_eq(json_validate(c->in.s, c->in.len, &why), -1);
	ck_assert_ptr_nonnull(why);
	free(got);
}
END_TEST

/* ---- json_validate on documents of any type ---- */

static const struct bytes valid_cases[] = {
        B("1"),
        B("-0"),
        B("0.5e-3"),
        B("1E+2"),
        B("-12.5E10"),
        B("true"),
        B(" null "),
        B("\"a\""),
        B("\"\""),
        B("[]"),
        B("{ }"),
        B("[ ]"),
        B("[1,[2,[3,{}]]]"),
        B("{\"a\":{\"b\":{}}}"),
        B("{\"\":\"\"}"),
        B("\"\\u0000\""),
        B("\"\\ud800\""),
        B("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
        B("\"\xf0\x9f\x9b\x91\xe2\x82\xac\xc3\xa9\x7f\""),
        B("\"\xf4\x8f\xbf\xbf\xef\xbf\xbf\xee\x80\x80\""),
        B("[true,false,null,0,-1,1.5,\"x\",[],{}]"),
        B("\r\n\t [ \"a\" , { \"b\" : [ ] } ] \r\n\t"),
};

START_TEST(test_valid)
{
	const struct bytes *c = &valid_cases[_i];
	const char *why = NULL;

	ck_assert_msg(json_validate(c->s, c->len, &why) == 0, "case %d (%s): %s", _i, c->s,
	              why ? why : "");
}
END_TEST

static const struct bytes invalid_doc_cases[] = {
        B(""),      B("   "), B("1 2"),    B("01"), B("-"),    B("nul"), B("\"a\" \"b\""),
        B("[] []"), B("1,"),  B("\"a\"1"), B("1."), B("{}{}"), B("\"a"), B("["),
};

START_TEST(test_invalid_doc)
{
	const struct bytes *c = &invalid_doc_cases[_i];
	const char *why = NULL;

	ck_assert_msg(json_validate(c->s, c->len, &why) == -1, "case %d (%s) accepted", _i, c->s);
	ck_assert_ptr_nonnull(why);
	ck_assert(strncmp(why, "invalid JSON: ", 14) == 0);
}
END_TEST

/* ---- json_append_string ---- */

static const struct escape_case {
	struct bytes in;
	const char *want;
} escape_cases[] = {
        {B(""), "\"\""},
        {B("plain text / 123"), "\"plain text / 123\""},
        {B("a\"b\\c"), "\"a\\\"b\\\\c\""},
        {B("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\""},
        {B("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\""},
        {B("a\0b"), "\"a\\u0000b\""},
        {B("j\xc3\xbcrgen \xf0\x9f\x9b\x91"), "\"j\xc3\xbcrgen \xf0\x9f\x9b\x91\""},
        {B("\xff"), "\"\\ufffd\""},
        {B("a\xc3"), "\"a\\ufffd\""},
        {B("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""},
        {B("\xc0\xaf!"), "\"\\ufffd\\ufffd!\""},
};

START_TEST(test_append_string)
{
	const struct escape_case *c = &escape_cases[_i];
	struct buf out = BUF_INITIALIZER;
	const char *why;

	json_append_string(&out, c->in.s, c->in.len);
	ck_assert_uint_eq(buf_len(&out), strlen(c->want));
	ck_assert(memcmp(buf_data(&out), c->want, buf_len(&out)) == 0);
	ck_assert_int_eq(json_validate(buf_data(&out), buf_len(&out), &why), 0);
	buf_free(&out);
}
END_TEST

/* base64: input -> decoded bytes (len), or len -1 for rejected input. */
static const struct {
	const char *in;
	const char *out;
	int len;
} b64_cases[] = {
        {"", "", 0},
        {"Zg==", "f", 1},
        {"Zg", "f", 1},
        {"Zm8=", "fo", 2},
        {"Zm8", "fo", 2},
        {"Zm9v", "foo", 3},
        {"Zm9vYmFy", "foobar", 6},
        {"AAD/", "\0\0\xff", 3},
        {"+/+/", "\xfb\xff\xbf", 3},
        {"Z", NULL, -1},
        {"Zm9vY", NULL, -1},
        {"Zg=", NULL, -1},
        {"Zg===", NULL, -1},
        {"Zm9v=", NULL, -1},
        {"=", NULL, -1},
        {"==", NULL, -1},
        {"Zh==", NULL, -1}, /* left-over bits not zero */
        {"Zm9=", NULL, -1},
        {"Zm 9v", NULL, -1},
        {"Zm9v\n", NULL, -1},
        {"Zm-_", NULL, -1},
        {"Z=g=", NULL, -1},
};

START_TEST(test_base64)
{
	struct buf out = BUF_INITIALIZER;
	int rc = json_base64_decode(b64_cases[_i].in, strlen(b64_cases[_i].in), &out);

	if (b64_cases[_i].len < 0) {
		ck_assert_msg(rc == -1, "'%s' accepted", b64_cases[_i].in);
	} else {
		ck_assert_msg(rc == 0, "'%s' refused", b64_cases[_i].in);
		ck_assert_uint_eq(buf_len(&out), (size_t)b64_cases[_i].len);
		ck_assert(memcmp(buf_data(&out), b64_cases[_i].out, buf_len(&out)) == 0);
	}
	buf_free(&out);
}
END_TEST

/*
 * The one-pass decoder (issue 17): a long input decodes to the bytes it
 * encodes; one bad character in any place of any group, or bad padding,
 * refuses it and leaves out as it was (what it held before, nothing
 * more).
 */
START_TEST(test_base64_long_and_bad)
{
	static const char bad[] = {' ', '-', '_', '=', '\n', '\0', '\x80', '\xff', '"', '.'};
	struct buf enc = BUF_INITIALIZER, out = BUF_INITIALIZER;
	unsigned char raw[3001];
	size_t i, k, pos;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + i / 256);
	json_base64_encode(raw, sizeof(raw), &enc);
	ck_assert_int_eq(json_base64_decode(buf_data(&enc), buf_len(&enc), &out), 0);
	ck_assert_uint_eq(buf_len(&out), sizeof(raw));
	ck_assert(memcmp(buf_data(&out), raw, sizeof(raw)) == 0);
	for (pos = 0; pos < 12; pos++) {
		for (k = 0; k < nitems(bad); k++) {
			char *s = xmalloc(buf_len(&enc));
			/* Places 0-3 of the first groups, then of the last full one. */
			size_t at = pos < 8 ? pos : buf_len(&enc) - 8 + (pos - 8);

			memcpy(s, buf_data(&enc), buf_len(&enc));
			if (s[at] == '=')
				at -= 2;
			s[at] = bad[k];
			buf_reset(&out);
			buf_append_str(&out, "kept");
			ck_assert_msg(json_base64_decode(s, buf_len(&enc), &out) == -1,
			              "0x%02x at %zu accepted", (unsigned char)bad[k], at);
			ck_assert_uint_eq(buf_len(&out), 4);
			ck_assert(memcmp(buf_data(&out), "kept", 4) == 0);
			free(s);
		}
	}
	/* The tail: 2 and 3 characters, padded or not, with and without bad bits. */
	buf_reset(&out);
	ck_assert_int_eq(json_base64_decode("Zm9vYg", 6, &out), 0);
	ck_assert_int_eq(json_base64_decode("Zm9vYmE=", 8, &out), 0);
	ck_assert_uint_eq(buf_len(&out), 9);
	ck_assert(memcmp(buf_data(&out), "foobfooba", 9) == 0);
	ck_assert_int_eq(json_base64_decode("Zm9vYh", 6, &out), -1);
	ck_assert_int_eq(json_base64_decode("Zm9vYmF=", 8, &out), -1);
	ck_assert_int_eq(json_base64_decode("Zm9vY-E=", 8, &out), -1);
	ck_assert_uint_eq(buf_len(&out), 9);
	buf_free(&enc);
	buf_free(&out);
}
END_TEST

/*
 * Long strings (over 256 bytes) are checked before jsmn and skipped by it
 * (issue 17): the same members, tokens and errors as short ones. Each
 * document is tried with its "L" replaced by a 300-byte run (long) and by
 * one byte (short); both must give the same result and the same why.
 */
static const struct {
	const char *doc;
	const char *why; /* NULL: valid */
} long_cases[] = {
        {"{\"a\":\"L\",\"b\":1}", NULL},
        {"{\"L\":\"L\",\"L2\":[\"L\",{\"k\":\"L\"}],\"n\":null}", NULL},
        {"[\"L\",\"L\",\"L\",\"L\",\"L\",\"L\",\"L\",\"L\",\"L\",\"L\"]", NULL},
        {"\"L\"", NULL},
        {"{\"a\":\"L\\u00e9\\\"\\\\L\"}", NULL},
        {"{\"a\":\"L\" \"b\":1}", "invalid JSON: expected ',' between values"},
        {"{\"a\" \"L\"}", "invalid JSON: object member without a value"},
        {"{\"a\":\"L\\x\"}", "invalid JSON: bad escape in string"},
        {"{\"a\":\"L\\u12\"}", "invalid JSON: bad escape in string"},
        {"{\"a\":\"L\x01\"}", "invalid JSON: control character in string"},
        {"{\"a\":\"L\xc3\"}", "invalid JSON: invalid UTF-8 in string"},
        {"{\"a\":\"L", "invalid JSON: unexpected end"},
        {"{\"a\":\"L\"", "invalid JSON: unexpected end"},
        {"{\"a\":\"L\"}}", "invalid JSON: unexpected character"},
        {"{\"a\":\"L\"} x", "invalid JSON: unexpected character"},
        {"{\"a\":x\"L\"}", "invalid JSON: unexpected character"},
        {"{\"a\":1\"L\"}", "invalid JSON: bad number"},
        {"{\"a\":[\"L\":1]}", NULL /* the same error both ways, whatever jsmn says */},
};

/* long_cases[i].doc with each L as n bytes of 'x'. */
static char *long_doc(const char *doc, size_t n, size_t *len)
{
	struct buf b = BUF_INITIALIZER;
	size_t i;

	for (; *doc != '\0'; doc++) {
		if (*doc != 'L') {
			buf_putc(&b, *doc);
			continue;
		}
		for (i = 0; i < n; i++)
			buf_putc(&b, 'x');
	}
	*len = buf_len(&b);
	buf_putc(&b, '\0');
	return b.b_data;
}

START_TEST(test_long_strings)
{
	const char *why_long = NULL, *why_short = NULL;
	size_t nlong, nshort;
	char *dl = long_doc(long_cases[_i].doc, 300, &nlong);
	char *ds = long_doc(long_cases[_i].doc, 1, &nshort);
	int rl = json_validate(dl, nlong, &why_long), rs = json_validate(ds, nshort, &why_short);
	struct buf ol = BUF_INITIALIZER, os = BUF_INITIALIZER;

	ck_assert_int_eq(rl, rs);
	if (rl < 0)
		ck_assert_str_eq(why_long, why_short);
	if (long_cases[_i].why != NULL) {
		ck_assert_int_eq(rl, -1);
		ck_assert_str_eq(why_long, long_cases[_i].why);
	} else if (_i < 5) {
		ck_assert_msg(rl == 0, "case %d: %s", _i, why_long);
	}
	/* The rewrite keeps every member byte for byte, long or short. */
	rl = json_event_payload(dl, nlong, "E", 1, "_ts", 1, &ol, &why_long);
	rs = json_event_payload(ds, nshort, "E", 1, "_ts", 1, &os, &why_short);
	ck_assert_int_eq(rl, rs);
	if (rl == 0 && dl[0] == '{')
		ck_assert_uint_eq(buf_len(&ol) - buf_len(&os), nlong - nshort);
	free(dl);
	free(ds);
	buf_free(&ol);
	buf_free(&os);
}
END_TEST

/* Many tokens (over the 64 parsed without allocating) and a long string. */
START_TEST(test_long_string_many_tokens)
{
	struct buf b = BUF_INITIALIZER, out = BUF_INITIALIZER;
	const char *why = NULL;
	int i;

	buf_append_str(&b, "{\"big\":\"");
	for (i = 0; i < 5000; i++)
		buf_putc(&b, 'A' + i % 26);
	buf_append_str(&b, "\"");
	for (i = 0; i < 100; i++)
		buf_appendf(&b, ",\"k%d\":[%d]", i, i);
	buf_putc(&b, '}');
	ck_assert_int_eq(json_event_payload(buf_data(&b), buf_len(&b), "E", 1, NULL, 0, &out, &why),
	                 0);
	/* Every member and _event, nothing else added. */
	ck_assert_uint_eq(buf_len(&out), buf_len(&b) + strlen(",\"_event\":\"E\""));
	buf_free(&b);
	buf_free(&out);
}
END_TEST

/* Encoding: the padded form of every valid case, and a round trip of all byte values. */
START_TEST(test_base64_encode)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} enc[] = {
	        {"", 0, ""},
	        {"f", 1, "Zg=="},
	        {"fo", 2, "Zm8="},
	        {"foo", 3, "Zm9v"},
	        {"foob", 4, "Zm9vYg=="},
	        {"fooba", 5, "Zm9vYmE="},
	        {"foobar", 6, "Zm9vYmFy"},
	        {"\0\0\xff", 3, "AAD/"},
	        {"\xfb\xff\xbf", 3, "+/+/"},
	};
	struct buf out = BUF_INITIALIZER, back = BUF_INITIALIZER;
	unsigned char all[256];
	size_t i, n;

	for (i = 0; i < nitems(enc); i++) {
		buf_reset(&out);
		buf_append_str(&out, "x");
		json_base64_encode(enc[i].in, enc[i].len, &out);
		ck_assert_uint_eq(buf_len(&out), 1 + strlen(enc[i].out));
		ck_assert(memcmp(buf_data(&out) + 1, enc[i].out, strlen(enc[i].out)) == 0);
	}
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	for (n = 0; n <= sizeof(all); n++) {
		buf_reset(&out);
		buf_reset(&back);
		json_base64_encode(all, n, &out);
		ck_assert_uint_eq(buf_len(&out), (n + 2) / 3 * 4);
		ck_assert_int_eq(json_base64_decode(buf_data(&out), buf_len(&out), &back), 0);
		ck_assert_uint_eq(buf_len(&back), n);
		ck_assert(n == 0 || memcmp(buf_data(&back), all, n) == 0);
	}
	buf_free(&out);
	buf_free(&back);
}
END_TEST

/* Records each member as "key=kind:value;" (key decoded). */
static int each_record(void *ctx, const struct json_member *m, const char **why)
{
	struct buf *out = ctx;
	const char *err = NULL;

	if (json_key_is(m, "stop")) {
		*why = "stopped";
		return -1;
	}
	if (json_string_decode(m->key - 1, m->key_len + 2, out, &err) < 0)
		buf_append_str(out, "?");
	buf_appendf(out, "=%d:%.*s;", (int)m->kind, (int)m->value_len, m->value);
	return 0;
}

START_TEST(test_object_each)
{
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;

	static const char doc[] = "{\"a\":1, \"b\\u0041\" : \"x\\n\",\"c\":{\"d\":[true]},"
	                          "\"e\":[],\"f\":false,\"g\":null,\"h\":true}";

	ck_assert_int_eq(json_object_each(doc, sizeof(doc) - 1, each_record, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "a=3:1;bA=2:\"x\\n\";c=0:{\"d\":[true]};e=1:[];f=5:false;"
	                                 "g=6:null;h=4:true;");
	buf_reset(&out);
	ck_assert_int_eq(
	        json_object_each("{\"a\":1,\"stop\":2,\"z\":3}", 22, each_record, &out, &why), -1);
	ck_assert_str_eq(why, "stopped");
	ck_assert_int_eq(json_object_each("[1]", 3, each_record, &out, &why), -1);
	ck_assert_str_eq(why, "body must be a JSON object");
	ck_assert_int_eq(json_object_each("{\"a\":}", 6, each_record, &out, &why), -1);
	ck_assert_int_eq(json_object_each("{}", 2, each_record, &out, &why), 0);
	buf_free(&out);
}
END_TEST

START_TEST(test_string_decode)
{
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;
	static const char in[] =
	        "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\xc3\xa9\"";

	ck_assert_int_eq(json_string_decode(in, sizeof(in) - 1, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out),
	                 "a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9");
	buf_reset(&out);
	ck_assert_int_eq(json_string_decode("\"x\\ud800y\"", 10, &out, &why), -1);
	ck_assert_str_eq(why, "string holds a lone surrogate escape (no UTF-8 for it)");
	ck_assert_int_eq(json_string_decode("\"\\udc00\"", 8, &out, &why), -1);
	buf_free(&out);
}
END_TEST

/* Without an event name, _event is an ordinary member. */
START_TEST(test_rewrite_no_event)
{
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;

	static const char doc[] = "{\"_event\":1,\"_timestamp\":2,\"_timestamp\":3}";

	ck_assert_int_eq(
	        json_event_payload(doc, sizeof(doc) - 1, NULL, 0, "_timestamp", 7, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "{\"_event\":1,\"_timestamp\":7}");
	buf_reset(&out);
	ck_assert_int_eq(json_event_payload("{}", 2, NULL, 0, "ts", 7, &out, &why), 0);
	buf_putc(&out, '\0');
	ck_assert_str_eq(buf_data(&out), "{\"ts\":7}");
	buf_free(&out);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("rewrite");

	tcase_add_loop_test(tc, test_rewrite, 0, (int)nitems(rewrite_cases));
	tcase_add_test(tc, test_rewrite_null_body_pointer);
	tcase_add_test(tc, test_rewrite_escapes_event_name);
	tcase_add_test(tc, test_rewrite_negative_and_zero_ts);
	tcase_add_test(tc, test_rewrite_appends);
	tcase_add_test(tc, test_rewrite_many_members);
	tcase_add_loop_test(tc, test_nesting_limit, 0, 2);
	tcase_add_test(tc, test_nesting_worst_case_size);
	tcase_add_loop_test(tc, test_not_object, 0, (int)nitems(not_object_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_loop_test(tc, test_invalid, 0, (int)nitems(invalid_cases));
	tcase_add_loop_test(tc, test_valid, 0, (int)nitems(valid_cases));
	tcase_add_loop_test(tc, test_invalid_doc, 0, (int)nitems(invalid_doc_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_add_loop_test(tc, test_base64, 0, (int)nitems(b64_cases));
	tcase_add_test(tc, test_base64_encode);
	tcase_add_test(tc, test_base64_long_and_bad);
	tcase_add_loop_test(tc, test_long_strings, 0, (int)nitems(long_cases));
	tcase_add_test(tc, test_long_string_many_tokens);
	tcase_add_test(tc, test_object_each);
	tcase_add_test(tc, test_string_decode);
	tcase_add_test(tc, test_rewrite_no_event);
	suite_add_tcase(s, tc);

	tc = tcase_create("escape");
	tcase_add_loop_test(tc, test_append_string, 0, (int)nitems(escape_cases));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(json_suite)
