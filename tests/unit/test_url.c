/*
 * test_url: the webhook URLs accepted and refused (url_parse, pure): the
 * host, port, path and Host: value of each good one, a message for each
 * bad one, https:// in a build with and without TLS.
 */
#include <stdio.h>
#include <string.h>

#include "check_compat.h"
#include "config.h"
#include "compat.h"
#include "url.h"

static const struct {
	const char *url;
	const char *host, *path, *host_header;
	unsigned port;
} good_urls[] = {
        {"http://127.0.0.1:8080/hook", "127.0.0.1", "/hook", "127.0.0.1:8080", 8080},
        {"http://localhost/", "localhost", "/", "localhost", 80},
        {"HTTP://Example.org", "Example.org", "/", "Example.org", 80},
        {"http://h:80/a?b=c&d=%20", "h", "/a?b=c&d=%20", "h", 80},
        {"http://h?x=1", "h", "/?x=1", "h", 80},
        {"http://[::1]:5000/x", "::1", "/x", "[::1]:5000", 5000},
        {"http://[fe80::1]/", "fe80::1", "/", "[fe80::1]", 80},
};

static const char *const bad_urls[] = {
        "ftp://h/",     "http://",           "http:///x",     "h:80/x",          "http://u@h/",
        "http://h/#f",  "http://h/a b",      "http://h:0/",   "http://h:99999/", "http://::1/",
        "http://[::1/", "http://h/\xc3\xa9", "http://h/\x01", "http://h:x/",     "http://h!/",
};

START_TEST(test_parse_url)
{
	struct url u;
	char err[ERR_LEN];
	size_t i;

	for (i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++) {
		ck_assert_msg(url_parse(good_urls[i].url, &u, err, sizeof(err)) == 0, "%s: %s",
		              good_urls[i].url, err);
		ck_assert_str_eq(u.host, good_urls[i].host);
		ck_assert_str_eq(u.path, good_urls[i].path);
		ck_assert_str_eq(u.host_header, good_urls[i].host_header);
		ck_assert_uint_eq(u.port, good_urls[i].port);
		url_free(&u);
	}
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(url_parse(bad_urls[i], &u, err, sizeof(err)) == -1, "%s accepted",
		              bad_urls[i]);
		ck_assert_msg(strlen(err) > 5, "%s: no message", bad_urls[i]);
		url_free(&u);
	}
#ifdef HAVE_TLS
	/* https: port 443 by default, left out of Host: then. */
	ck_assert_msg(url_parse("HTTPS://h/x", &u, err, sizeof(err)) == 0, "%s", err);
	ck_assert(u.tls);
	ck_assert_uint_eq(u.port, 443);
	ck_assert_str_eq(u.host_header, "h");
	url_free(&u);
	ck_assert_msg(url_parse("https://[::1]:8443/", &u, err, sizeof(err)) == 0, "%s", err);
	ck_assert(u.tls);
	ck_assert_uint_eq(u.port, 8443);
	ck_assert_str_eq(u.host_header, "[::1]:8443");
	url_free(&u);
	ck_assert_msg(url_parse("http://h:443/", &u, err, sizeof(err)) == 0, "%s", err);
	ck_assert(!u.tls);
	ck_assert_str_eq(u.host_header, "h:443");
	url_free(&u);
#else
	ck_assert(url_parse("https://h/", &u, err, sizeof(err)) == -1);
	ck_assert_ptr_nonnull(strstr(err, "--without-tls"));
#endif
}
END_TEST

static Suite *url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_url);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(url_suite)
