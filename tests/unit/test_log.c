/*
 * test_log: the rate-limited warnings of issue 18 (log_warnx_limited and
 * friends) on a clock the test sets: the first occurrence written, the
 * rest counted, one summary line with the exact count and seconds when
 * the next occurrence comes after the interval or log_flush_limits() runs;
 * at shutdown every held-back count is told; kinds are independent, and
 * a plain warning (what signals data loss) is never held back however
 * much a limited kind repeats. The rest of log is tested in test_buf.
 * (Fails before issue 18: no such functions.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "check_compat.h"
#include "log_capture.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static char out[1 << 20];

static void setup(void)
{
	log_init(LOGL_DEBUG, false);
	log_set_clock(fake_clock);
	fake_now = 1000000;
}

static void teardown(void)
{
	log_set_clock(NULL);
}

/* The example: 2,121 more after the first, the next one 45 s on. */
START_TEST(repeats_collapse)
{
	static struct log_limit lim;
	uint64_t t0 = fake_now;
	int i;

	capture_begin();
	for (i = 0; i < 2121; i++) {
		fake_now = t0 + (uint64_t)i * 4; /* all within the first 10 s */
		log_warnx_limited(&lim, "http 127.0.0.1:%d: refused", 1000 + i);
	}
	fake_now = t0 + 45000;
	log_warnx_limited(&lim, "http 127.0.0.1:%d: refused", 9999);
	capture_finish(out, sizeof(out));
	ck_assert_int_eq(count_of(out, "\n"), 2);
	ck_assert_int_eq(count_of(out, "octomqttd: warn: http 127.0.0.1:1000: refused\n"), 1);
	/* The occurrences since the last line (2,120 held back and this one), over 45 s. */
	ck_assert_int_eq(count_of(out, "octomqttd: warn: http 127.0.0.1:9999: refused (repeated "
	                               "2,121 times in the last 45 s)\n"),
	                 1);
}
END_TEST

/* Held back occurrences are told by log_flush_limits() once the interval is over. */
START_TEST(flush_after_interval)
{
	static struct log_limit lim;
	uint64_t t0 = fake_now;
	int i;

	capture_begin();
	for (i = 0; i < 5; i++)
		log_warn_limited((errno = ENOSPC, &lim), "spool x: cannot store a message %d", i);
	fake_now = t0 + LOG_LIMIT_INTERVAL_MS - 1;
	log_flush_limits(false); /* too early: nothing */
	fake_now = t0 + LOG_LIMIT_INTERVAL_MS;
	log_flush_limits(false);
	log_flush_limits(false); /* told once */
	/* A new window: the next occurrence is counted again, then told. */
	fake_now += 1000;
	log_warn_limited((errno = ENOSPC, &lim), "spool x: cannot store a message %d", 5);
	fake_now += LOG_LIMIT_INTERVAL_MS;
	log_flush_limits(false);
	capture_finish(out, sizeof(out));
	ck_assert_int_eq(count_of(out, "\n"), 3);
	ck_assert_int_eq(count_of(out, "warn: spool x: cannot store a message 0: No space left on "
	                               "device\n"),
	                 1);
	ck_assert_int_eq(count_of(out, "warn: spool x: cannot store a message 4: No space left on "
	                               "device (repeated 4 times in the last 10 s)\n"),
	                 1);
	ck_assert_int_eq(count_of(out, "warn: spool x: cannot store a message 5: No space left on "
	                               "device (repeated 1 time in the last 11 s)\n"),
	                 1);
}
END_TEST

/* At shutdown (all) every held-back count is told at once, only once. */
START_TEST(flush_all_at_shutdown)
{
	static struct log_limit lim, quiet;

	capture_begin();
	log_warnx_limited(&quiet, "told at once");
	log_warnx_limited(&lim, "first");
	fake_now += 1500;
	log_warnx_limited(&lim, "second");
	log_warnx_limited(&lim, "third");
	log_flush_limits(true);
	log_flush_limits(true);
	capture_finish(out, sizeof(out));
	ck_assert_int_eq(count_of(out, "\n"), 3);
	ck_assert_int_eq(count_of(out, "warn: told at once\n"), 1);
	ck_assert_int_eq(count_of(out, "warn: first\n"), 1);
	ck_assert_int_eq(count_of(out, "warn: third (repeated 2 times in the last 2 s)\n"), 1);
}
END_TEST

/* At most one line per kind per interval, whatever the rate; an occasional one is always written.
 */
START_TEST(one_line_per_interval)
{
	static struct log_limit lim, rare;
	uint64_t t0 = fake_now;
	int i;

	capture_begin();
	for (i = 0; i < 60000; i++) { /* 60 s, one every millisecond */
		fake_now = t0 + (uint64_t)i;
		log_warnx_limited(&lim, "flood");
		if (i % 20000 == 0)
			log_warnx_limited(&rare, "rare %d", i);
		log_flush_limits(false);
	}
	capture_finish(out, sizeof(out));
	ck_assert_int_eq(count_of(out, "warn: flood\n"), 1);
	ck_assert_int_eq(count_of(out, "warn: flood (repeated 10,000 times in the last 10 s)\n"),
	                 5);
	ck_assert_int_eq(count_of(out, "warn: rare "), 3);
	ck_assert_int_eq(count_of(out, "repeated"), 5);
}
END_TEST

/* A plain warning (a message dropped) is never held back by a limited flood. */
START_TEST(data_loss_never_suppressed)
{
	static struct log_limit lim;
	int i;

	capture_begin();
	for (i = 0; i < 1000; i++) {
		log_warnx_limited(&lim, "http 127.0.0.1:1: refused");
		log_warnx("mqtt: message %d to t/x (12 bytes) dropped", i);
		log_flush_limits(false);
	}
	capture_finish(out, sizeof(out));
	ck_assert_int_eq(count_of(out, ") dropped\n"), 1000);
	ck_assert_int_eq(count_of(out, "message 999 to t/x (12 bytes) dropped\n"), 1);
	ck_assert_int_eq(count_of(out, "refused"), 1);
}
END_TEST

/* Below the log level nothing is written or counted. */
START_TEST(level_filter)
{
	static struct log_limit lim;

	log_set_level(LOGL_ERROR);
	capture_begin();
	log_warnx_limited(&lim, "hidden");
	log_warnx_limited(&lim, "hidden");
	fake_now += LOG_LIMIT_INTERVAL_MS;
	log_flush_limits(false);
	capture_finish(out, sizeof(out));
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(lim.ll_suppressed, 0);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("limited");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, repeats_collapse);
	tcase_add_test(tc, flush_after_interval);
	tcase_add_test(tc, flush_all_at_shutdown);
	tcase_add_test(tc, one_line_per_interval);
	tcase_add_test(tc, data_loss_never_suppressed);
	tcase_add_test(tc, level_filter);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(log_suite)
