/*
 * test_buf: append, consume, compaction, growth, formatted append, direct
 * writes after reserve, shrinking, misuse that must be fatal. Also the log
 * module, which this binary links too: line format, control characters,
 * errno text, level filter, the journal check, fatal exit status.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "check_compat.h"

START_TEST(append_integers)
{
	static const unsigned long long u[] = {
	        0, 1, 9, 10, 99, 100, 4294967295ULL, 1000000000000ULL, 18446744073709551615ULL};
	static const long long s[] = {
	        0, 1, -1, 9, -9, 10, -10, 1764067200LL, -2147483648LL, LLONG_MAX, LLONG_MIN};
	struct buf b = BUF_INITIALIZER;
	char want[32];
	size_t i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		buf_reset(&b);
		buf_append_str(&b, "x=");
		buf_append_uint(&b, u[i]);
		snprintf(want, sizeof(want), "x=%llu", u[i]);
		ck_assert_uint_eq(buf_len(&b), strlen(want));
		ck_assert_int_eq(memcmp(buf_data(&b), want, strlen(want)), 0);
	}
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		buf_reset(&b);
		buf_append_int(&b, s[i]);
		snprintf(want, sizeof(want), "%lld", s[i]);
		ck_assert_uint_eq(buf_len(&b), strlen(want));
		ck_assert_int_eq(memcmp(buf_data(&b), want, strlen(want)), 0);
	}
	/* Appends after what is there, growing the buffer as needed. */
	buf_reset(&b);
	for (i = 0; i < 1000; i++)
		buf_append_uint(&b, 1234567890);
	ck_assert_uint_eq(buf_len(&b), 10000);
	ck_assert_int_eq(memcmp(buf_data(&b) + 9990, "1234567890", 10), 0);
	buf_free(&b);
}
END_TEST

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

START_TEST(appendf_exact_fit)
{
	struct buf b = BUF_INITIALIZER;
	size_t avail;
	char *s;

	/* Output exactly as long as the free space: vsnprintf needs one more
	 * byte for its NUL, so the second pass must grow the buffer. */
	buf_reserve(&b, 64);
	avail = buf_avail(&b);
	s = malloc(avail + 1);
	memset(s, 'k', avail);
	s[avail] = '\0';
	buf_appendf(&b, "%s", s);
	ck_assert_uint_eq(buf_len(&b), avail);
	ck_assert_int_eq(memcmp(buf_data(&b), s, avail), 0);
	buf_appendf(&b, "%s", "");
	ck_assert_uint_eq(buf_len(&b), avail);
	free(s);
	buf_free(&b);
}
END_TEST

START_TEST(appendf_after_consume)
{
	struct buf b = BUF_INITIALIZER;
	int i;

	/* Interleaved produce/consume keeps the live bytes in order. */
	for (i = 0; i < 2000; i++) {
		buf_appendf(&b, "%04d", i);
		if (i % 3 == 2)
			buf_consume(&b, 8);
	}
	ck_assert_uint_eq(buf_len(&b), (size_t)(2000 * 4 - 666 * 8 * 1));
	ck_assert_int_eq(memcmp(buf_data(&b), "1332", 4), 0);
	ck_assert_int_eq(memcmp(buf_data(&b) + buf_len(&b) - 4, "1999", 4), 0);
	buf_free(&b);
}
END_TEST

/* Run fn in a child with stderr on a file; return its exit status and output. */
static int run_child(void (*fn)(void), char *out, size_t outlen)
{
	FILE *f = tmpfile();
	pid_t pid;
	int status = -1;
	size_t n;

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fileno(f), STDERR_FILENO);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	rewind(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void over_consume(void)
{
	struct buf b = BUF_INITIALIZER;

	log_init(LOGL_ERROR, false);
	buf_append(&b, "abc", 3);
	buf_consume(&b, 4);
}

static void over_produce(void)
{
	struct buf b = BUF_INITIALIZER;

	log_init(LOGL_ERROR, false);
	buf_reserve(&b, 8);
	buf_produced(&b, buf_avail(&b) + 1);
}

START_TEST(misuse_is_fatal)
{
	char out[1024];

	ck_assert_int_eq(run_child(over_consume, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "octomqttd: error: buf_consume: 4 bytes asked, 3 held"));
	ck_assert_int_eq(run_child(over_produce, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "buf_produced"));
}
END_TEST

/* stderr redirected to a temporary file for the duration of one check. */
struct capture {
	FILE *cap_f;
	int cap_saved;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	c->cap_f = tmpfile();
	ck_assert_ptr_nonnull(c->cap_f);
	c->cap_saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->cap_saved, 0);
	ck_assert_int_eq(dup2(fileno(c->cap_f), STDERR_FILENO), STDERR_FILENO);
}

static void capture_end(struct capture *c, char *out, size_t outlen)
{
	size_t n;

	fflush(stderr);
	dup2(c->cap_saved, STDERR_FILENO);
	close(c->cap_saved);
	rewind(c->cap_f);
	n = fread(out, 1, outlen - 1, c->cap_f);
	out[n] = '\0';
	fclose(c->cap_f);
}

/* "2026-11-25T07:01:02 " */
static int has_stamp(const char *s)
{
	const char *pat = "dddd-dd-ddTdd:dd:dd ";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (s[i] == '\0')
			return 0;
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	}
	return 1;
}

START_TEST(log_line_format)
{
	struct capture c;
	char out[2048];

	unsetenv("JOURNAL_STREAM");
	log_init(LOGL_INFO, false);
	capture_start(&c);
	log_info("hello %d", 7);
	capture_end(&c, out, sizeof(out));
	ck_assert_msg(has_stamp(out), "no timestamp: '%s'", out);
	ck_assert_str_eq(out + 20, "octomqttd: info: hello 7\n");
}
END_TEST

START_TEST(log_control_chars)
{
	struct capture c;
	char out[2048];

	unsetenv("JOURNAL_STREAM");
	log_init(LOGL_DEBUG, false);
	capture_start(&c);
	/* A forged second line, a terminal escape, DEL, CR and a tab. */
	log_debug("topic %s", "a\nocto: error: fake\x1b[31m\x7f\r\tz");
	capture_end(&c, out, sizeof(out));
	ck_assert_str_eq(out + 20, "octomqttd: debug: topic a?octo: error: fake?[31m???z\n");
	/* Bytes >= 0x80 (UTF-8) are kept. */
	capture_start(&c);
	log_info("caf\xc3\xa9");
	capture_end(&c, out, sizeof(out));
	ck_assert_str_eq(out + 20, "octomqttd: info: caf\xc3\xa9\n");
}
END_TEST

START_TEST(log_errno_and_levels)
{
	struct capture c;
	char out[2048];

	unsetenv("JOURNAL_STREAM");
	log_init(LOGL_WARN, false);
	capture_start(&c);
	errno = ENOENT;
	log_warn("open %s", "/x");
	/* Logging leaves errno alone. */
	ck_assert_int_eq(errno, ENOENT);
	log_warnx("plain");
	errno = EACCES;
	log_error("bind");
	log_errorx("no errno");
	log_info("filtered out");
	log_debug("filtered out");
	capture_end(&c, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "octomqttd: warn: open /x: No such file or directory\n"));
	ck_assert_ptr_nonnull(strstr(out, "octomqttd: warn: plain\n"));
	ck_assert_ptr_nonnull(strstr(out, "octomqttd: error: bind: Permission denied\n"));
	ck_assert_ptr_nonnull(strstr(out, "octomqttd: error: no errno\n"));
	ck_assert_ptr_null(strstr(out, "filtered"));
	ck_assert_int_eq(log_get_level(), LOGL_WARN);
	log_set_level(LOGL_DEBUG);
	ck_assert_int_eq(log_get_level(), LOGL_DEBUG);
}
END_TEST

START_TEST(log_long_message_is_one_line)
{
	struct capture c;
	char out[8192], *big = malloc(5000);

	memset(big, 'w', 4999);
	big[4999] = '\0';
	unsetenv("JOURNAL_STREAM");
	log_init(LOGL_INFO, false);
	capture_start(&c);
	errno = EPIPE;
	log_error("%s", big);
	capture_end(&c, out, sizeof(out));
	/* Truncated, but still a single terminated line. */
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	free(big);
}
END_TEST

START_TEST(log_journal_stream)
{
	struct capture c;
	struct stat st;
	char out[2048], js[64];

	capture_start(&c);
	/* stderr is the journal: systemd stamps, we do not. */
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOGL_INFO, false);
	log_info("one");
	/* Inherited from a parent but not our stderr: stamp. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_init(LOGL_INFO, false);
	log_info("two");
	/* Malformed values never match. */
	snprintf(js, sizeof(js), "%llu:%llu x", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOGL_INFO, false);
	log_info("three");
	capture_end(&c, out, sizeof(out));
	unsetenv("JOURNAL_STREAM");
	ck_assert_msg(strncmp(out, "octomqttd: info: one\n", 21) == 0, "'%s'", out);
	ck_assert_msg(has_stamp(out + 21), "'%s'", out);
	ck_assert_int_eq(strncmp(out + 21 + 20, "octomqttd: info: two\n", 21), 0);
	ck_assert_msg(has_stamp(out + 21 + 20 + 21), "'%s'", out);
	ck_assert_str_eq(out + 21 + 20 + 21 + 20, "octomqttd: info: three\n");
}
END_TEST

START_TEST(log_level_names)
{
	enum log_level l = LOGL_INFO;

	ck_assert_int_eq(log_level_parse("error", &l), 0);
	ck_assert_int_eq(l, LOGL_ERROR);
	ck_assert_int_eq(log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, LOGL_DEBUG);
	ck_assert_int_eq(log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, LOGL_WARN);
	ck_assert_int_eq(log_level_parse("info", &l), 0);
	ck_assert_int_eq(l, LOGL_INFO);
	/* Exact names only; *out untouched on failure. */
	ck_assert_int_eq(log_level_parse("INFO", &l), -1);
	ck_assert_int_eq(log_level_parse("warning", &l), -1);
	ck_assert_int_eq(log_level_parse("", &l), -1);
	ck_assert_int_eq(log_level_parse("info ", &l), -1);
	ck_assert_int_eq(l, LOGL_INFO);
	ck_assert_str_eq(log_level_name(LOGL_WARN), "warn");
	ck_assert_str_eq(log_level_name((enum log_level)9), "unknown");
}
END_TEST

static void call_fatalx(void)
{
	unsetenv("JOURNAL_STREAM");
	log_init(LOGL_ERROR, false);
	fatalx("broken %s", "invariant");
}

static void call_fatal(void)
{
	unsetenv("JOURNAL_STREAM");
	/* Logged at error even when the level hides everything else. */
	log_init(LOGL_ERROR, false);
	errno = EBADF;
	fatal("close");
}

START_TEST(fatal_exits_1)
{
	char out[1024];

	ck_assert_int_eq(run_child(call_fatalx, out, sizeof(out)), 1);
	ck_assert_str_eq(out + 20, "octomqttd: error: broken invariant\n");
	ck_assert_int_eq(run_child(call_fatal, out, sizeof(out)), 1);
	ck_assert_str_eq(out + 20, "octomqttd: error: close: Bad file descriptor\n");
}
END_TEST

/* buf_read_fd: everything up to EOF, appended; -1 on a bad descriptor. */
START_TEST(read_fd_whole_file)
{
	struct buf b = BUF_INITIALIZER;
	char path[] = "/tmp/octomqttd-buf.XXXXXX";
	int fd = mkstemp(path);
	size_t i;

	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(write(fd, i % 2 ? "b" : "a", 1), 1);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	buf_append_str(&b, "x");
	ck_assert_int_eq(buf_read_fd(&b, fd), 0);
	ck_assert_uint_eq(buf_len(&b), 100001);
	ck_assert_int_eq(buf_data(&b)[1], 'a');
	ck_assert_int_eq(buf_data(&b)[100000], 'b');
	close(fd);
	unlink(path);
	ck_assert_int_eq(buf_read_fd(&b, fd), -1);
	buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, append_consume);
	tcase_add_test(tc, append_integers);
	tcase_add_test(tc, growth_keeps_bytes);
	tcase_add_test(tc, compact_reuses_prefix);
	tcase_add_test(tc, compact_explicit);
	tcase_add_test(tc, appendf_small_and_large);
	tcase_add_test(tc, reserve_produced);
	tcase_add_test(tc, reset_and_shrink);
	tcase_add_test(tc, appendf_exact_fit);
	tcase_add_test(tc, appendf_after_consume);
	tcase_add_test(tc, misuse_is_fatal);
	suite_add_tcase(s, tc);
	tc = tcase_create("log");
	tcase_add_test(tc, log_line_format);
	tcase_add_test(tc, log_control_chars);
	tcase_add_test(tc, log_errno_and_levels);
	tcase_add_test(tc, log_long_message_is_one_line);
	tcase_add_test(tc, log_journal_stream);
	tcase_add_test(tc, log_level_names);
	tcase_add_test(tc, fatal_exits_1);
	tcase_add_test(tc, read_fd_whole_file);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(buf_suite)
