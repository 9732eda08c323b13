/*
 * test_spool: the record codec (round trip, every truncation, every
 * single-bit flip) and the spool file in a private directory: replay in
 * order, done records, damaged and cut-short records skipped with the
 * intact ones kept, emptying, compaction, the lock.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_compat.h"
#include "log.h"
#include "spool.h"

static char dir[] = "/tmp/octomqttd-spool.XXXXXX";
static char path[256];
static char logpath[256];
static int saved_stderr = -1;

/* What replay handed back, as "qos:retain:topic=payload;", with "@id"
 * (and "r" for PUBREC) before the ';' for a message that went out. */
static struct buf replayed;

static void replay(void *ctx, const struct spool_msg *m)
{
	(*(int *)ctx)++;
	buf_appendf(&replayed, "%d:%d:%.*s=%.*s", m->qos, m->retain ? 1 : 0, (int)m->topic_len,
	            m->topic, (int)m->payload_len, (const char *)m->payload);
	if (m->packet_id != 0)
		buf_appendf(&replayed, "@%u%s", m->packet_id, m->pubrec ? "r" : "");
	buf_putc(&replayed, ';');
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_FILE);
	snprintf(logpath, sizeof(logpath), "%s.log", dir);
	buf_init(&replayed);
	log_init(LOGL_INFO, false);
	/* Log lines go to a file the tests read. */
	fflush(stderr);
	saved_stderr = dup(2);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(freopen(logpath, "w", stderr) != NULL ? 0 : -1, 0);
}

static void teardown(void)
{
	char cmd[600];

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, logpath);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	buf_free(&replayed);
}

/* Does the log so far hold `text`? */
static bool logged(const char *text)
{
	char all[8192];
	size_t n;
	FILE *f;

	fflush(stderr);
	f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(all, 1, sizeof(all) - 1, f);
	fclose(f);
	all[n] = '\0';
	return strstr(all, text) != NULL;
}

static struct spool *open_spool(int *n)
{
	char err[512] = "";
	struct spool *sp;

	*n = 0;
	buf_reset(&replayed);
	sp = spool_open(dir, replay, n, err, sizeof(err));
	ck_assert_msg(sp != NULL, "spool_open: %s", err);
	buf_putc(&replayed, '\0');
	return sp;
}

static uint64_t add(struct spool *sp, const char *topic, const char *payload, int qos)
{
	struct spool_msg m = {.qos = qos,
	                      .retain = qos == 1,
	                      .topic = topic,
	                      .topic_len = strlen(topic),
	                      .payload = payload,
	                      .payload_len = strlen(payload)};

	ck_assert_int_eq(spool_append(sp, &m), 0);
	return m.seq;
}

static off_t file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

START_TEST(test_codec_round_trip)
{
	struct spool_msg m = {.seq = 42,
	                      .qos = 2,
	                      .retain = true,
	                      .topic = "a/b",
	                      .topic_len = 3,
	                      .payload = "x\0y",
	                      .payload_len = 3},
	                 d;
	struct buf b = BUF_INITIALIZER;
	size_t used, i, bit;
	char type;

	spool_encode(&b, 'M', &m);
	spool_encode(&b, 'D', &m);
	ck_assert_int_eq(spool_decode((const uint8_t *)buf_data(&b), buf_len(&b), &type, &d, &used),
	                 SPOOL_OK);
	ck_assert_int_eq(type, 'M');
	ck_assert_uint_eq(d.seq, 42);
	ck_assert_int_eq(d.qos, 2);
	ck_assert(d.retain);
	ck_assert_uint_eq(d.topic_len, 3);
	ck_assert(memcmp(d.topic, "a/b", 3) == 0);
	ck_assert_uint_eq(d.payload_len, 3);
	ck_assert(memcmp(d.payload, "x\0y", 3) == 0);
	ck_assert_uint_eq(used, 9 + 12 + 6 + 4);
	ck_assert_int_eq(spool_decode((const uint8_t *)buf_data(&b) + used, buf_len(&b) - used,
	                              &type, &d, &i),
	                 SPOOL_OK);
	ck_assert_int_eq(type, 'D');
	ck_assert_uint_eq(d.seq, 42);
	ck_assert_uint_eq(used + i, buf_len(&b));
	/* Every cut of the first record asks for more. */
	for (i = 0; i < used; i++)
		ck_assert_int_eq(spool_decode((const uint8_t *)buf_data(&b), i, &type, &d, &bit),
		                 SPOOL_NEED_MORE);
	/* Every single-bit flip is caught. */
	for (i = 0; i < used; i++) {
		for (bit = 0; bit < 8; bit++) {
			size_t u;

			buf_data(&b)[i] ^= (char)(1 << bit);
			ck_assert_msg(spool_decode((const uint8_t *)buf_data(&b), used, &type, &d,
			                           &u) != SPOOL_OK,
			              "flip of byte %zu bit %zu accepted", i, bit);
			buf_data(&b)[i] ^= (char)(1 << bit);
		}
	}
	ck_assert_uint_eq(spool_resync((const uint8_t *)buf_data(&b), buf_len(&b), 1), used);
	ck_assert_uint_eq(spool_resync((const uint8_t *)buf_data(&b), buf_len(&b), used + 1),
	                  buf_len(&b));
	buf_free(&b);
}
END_TEST

START_TEST(test_codec_sent)
{
	struct spool_msg m = {.seq = 7, .packet_id = 65535, .pubrec = true}, d;
	struct buf b = BUF_INITIALIZER;
	size_t used, i, bit;
	char type;

	spool_encode(&b, 'P', &m);
	ck_assert_int_eq(spool_decode((const uint8_t *)buf_data(&b), buf_len(&b), &type, &d, &used),
	                 SPOOL_OK);
	ck_assert_int_eq(type, 'P');
	ck_assert_uint_eq(used, 9 + 11 + 4);
	ck_assert_uint_eq(d.seq, 7);
	ck_assert_uint_eq(d.packet_id, 65535);
	ck_assert(d.pubrec);
	for (i = 0; i < used; i++) {
		for (bit = 0; bit < 8; bit++) {
			size_t u;

			buf_data(&b)[i] ^= (char)(1 << bit);
			ck_assert_msg(spool_decode((const uint8_t *)buf_data(&b), used, &type, &d,
			                           &u) != SPOOL_OK,
			              "flip of byte %zu bit %zu accepted", i, bit);
			buf_data(&b)[i] ^= (char)(1 << bit);
		}
	}
	/* Packet id 0 is not an id: refused even with a good CRC. */
	buf_reset(&b);
	m.packet_id = 0;
	spool_encode(&b, 'P', &m);
	ck_assert_int_eq(spool_decode((const uint8_t *)buf_data(&b), buf_len(&b), &type, &d, &used),
	                 SPOOL_BAD);
	buf_free(&b);
}
END_TEST

/*
 * Messages that went out come back with their packet id and PUBREC state,
 * through the rewrite at start and a second start; an id claimed twice
 * (an earlier 'D' lost) stays with the later claim.
 */
START_TEST(test_sent_ids_kept)
{
	struct spool *sp;
	uint64_t s1, s2, s3, s4;
	int n;

	sp = open_spool(&n);
	s1 = add(sp, "t/1", "one", 1);
	s2 = add(sp, "t/2", "two", 2);
	s3 = add(sp, "t/3", "three", 2);
	s4 = add(sp, "t/4", "four", 2);
	spool_sent(sp, s1, 5, false);
	spool_sent(sp, s2, 6, false);
	spool_sent(sp, s2, 6, true);
	spool_sent(sp, s3, 9, false);
	spool_sent(sp, 999, 10, false); /* unknown: ignored */
	spool_sent(sp, s4, 9, false);   /* s3 acknowledged, its 'D' lost */
	spool_close(sp);
	for (int i = 0; i < 2; i++) {
		sp = open_spool(&n);
		ck_assert_int_eq(n, 4);
		ck_assert_str_eq(buf_data(&replayed),
		                 "1:1:t/1=one@5;2:0:t/2=two@6r;2:0:t/3=three;2:0:t/4=four@9;");
		spool_close(sp);
	}
	/* A new session: published again, not released. */
	sp = open_spool(&n);
	spool_sent(sp, s2, 6, false);
	spool_done(sp, s1);
	spool_close(sp);
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "2:0:t/2=two@6;2:0:t/3=three;2:0:t/4=four@9;");
	spool_close(sp);
}
END_TEST

START_TEST(test_replay_in_order)
{
	struct spool *sp;
	uint64_t s1, s2, s3;
	int n;

	sp = open_spool(&n);
	ck_assert_int_eq(n, 0);
	s1 = add(sp, "t/1", "one", 0);
	s2 = add(sp, "t/2", "two", 1);
	s3 = add(sp, "t/3", "three", 2);
	ck_assert(s1 < s2 && s2 < s3);
	ck_assert_uint_eq(spool_pending(sp), 3);
	spool_done(sp, s2);
	spool_done(sp, 999); /* unknown: ignored */
	ck_assert_uint_eq(spool_pending(sp), 2);
	spool_close(sp);

	sp = open_spool(&n);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(buf_data(&replayed), "0:0:t/1=one;2:0:t/3=three;");
	ck_assert(logged("2 message(s) from the last run"));
	ck_assert_uint_eq(spool_pending(sp), 2);
	/* Seqs go on after the replayed ones. */
	ck_assert_uint_gt(add(sp, "t/4", "four", 1), s3);
	spool_close(sp);
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "0:0:t/1=one;2:0:t/3=three;1:1:t/4=four;");
	spool_close(sp);
}
END_TEST

START_TEST(test_emptied_when_all_done)
{
	struct spool *sp;
	uint64_t s1, s2;
	int n;

	sp = open_spool(&n);
	s1 = add(sp, "t", "a", 1);
	s2 = add(sp, "t", "b", 1);
	ck_assert_int_gt(file_size(), 0);
	spool_done(sp, s2);
	spool_done(sp, s1);
	ck_assert_uint_eq(spool_pending(sp), 0);
	ck_assert_int_eq(file_size(), 0);
	ck_assert_uint_eq(spool_file_size(sp), 0);
	add(sp, "t", "c", 0);
	spool_close(sp);
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "0:0:t=c;");
	spool_close(sp);
}
END_TEST

/* A record cut short at the end (a kill -9 in the middle of a write). */
START_TEST(test_cut_short)
{
	struct spool *sp;
	int n;

	sp = open_spool(&n);
	add(sp, "t", "kept", 0);
	add(sp, "t", "cut", 0);
	spool_close(sp);
	ck_assert_int_eq(truncate(path, file_size() - 3), 0);
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "0:0:t=kept;");
	ck_assert(logged("record cut short at offset 30 (26 bytes), skipped"));
	spool_close(sp);
	/* The damage was reported once: the file was rewritten. */
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "0:0:t=kept;");
	spool_close(sp);
}
END_TEST

/* A fresh spool file with three messages of 31, 32 and 31 bytes. */
static void write_three(void)
{
	struct spool *sp;
	int n;

	unlink(path);
	sp = open_spool(&n);
	add(sp, "t", "first", 0);
	add(sp, "t", "second", 0);
	add(sp, "t", "third", 0);
	spool_close(sp);
}

/* A damaged record in the middle: only it is lost. */
START_TEST(test_damaged_middle)
{
	/* In the second record: its payload, its length field, its magic. */
	static const off_t hits[] = {31 + 9 + 12 + 1 + 2, 31 + 6, 31 + 1};
	struct spool *sp;
	size_t i;
	char c;
	int fd, n;

	for (i = 0; i < nitems(hits); i++) {
		write_three();
		fd = open(path, O_RDWR);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pread(fd, &c, 1, hits[i]), 1);
		c ^= 0x5a;
		ck_assert_int_eq(pwrite(fd, &c, 1, hits[i]), 1);
		close(fd);
		sp = open_spool(&n);
		ck_assert_msg(strcmp(buf_data(&replayed), "0:0:t=first;0:0:t=third;") == 0,
		              "damage at %ld: replayed %s", (long)hits[i], buf_data(&replayed));
		ck_assert(logged("damaged record at offset 31 (32 bytes), skipped"));
		ck_assert(logged("1 damaged record(s) skipped; the intact ones are kept"));
		spool_close(sp);
	}
}
END_TEST

START_TEST(test_compaction)
{
	struct spool *sp;
	char big[4096];
	uint64_t keep = 0, s;
	int n, i;

	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sp = open_spool(&n);
	keep = add(sp, "keep", "k", 1);
	for (i = 0; i < 600; i++) {
		s = add(sp, "t", big, 0);
		spool_done(sp, s);
		/* Never above the compaction bound plus one record much. */
		ck_assert_uint_lt(spool_file_size(sp), (1u << 20) + 2 * sizeof(big));
	}
	ck_assert_uint_eq(spool_pending(sp), 1);
	ck_assert_int_eq((off_t)spool_file_size(sp), file_size());
	spool_close(sp);
	sp = open_spool(&n);
	ck_assert_str_eq(buf_data(&replayed), "1:1:keep=k;");
	spool_done(sp, keep);
	spool_close(sp);
}
END_TEST

START_TEST(test_locked)
{
	char err[512];
	struct spool *sp;
	int n;

	sp = open_spool(&n);
	ck_assert_ptr_null(spool_open(dir, replay, &n, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "in use by another octomqttd"));
	spool_close(sp);
	sp = open_spool(&n);
	spool_close(sp);
}
END_TEST

START_TEST(test_bad_dir)
{
	char err[512], sub[300];
	int n = 0;

	snprintf(sub, sizeof(sub), "%s/missing", dir);
	ck_assert_ptr_null(spool_open(sub, replay, &n, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
	snprintf(sub, sizeof(sub), "%s/file", dir);
	close(open(sub, O_CREAT | O_WRONLY, 0600));
	ck_assert_ptr_null(spool_open(sub, replay, &n, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not a directory"));
}
END_TEST

/* The descriptor the spool writes path through. */
static int spool_fd(void)
{
	struct stat want, st;
	int fd;

	ck_assert_int_eq(stat(path, &want), 0);
	for (fd = 3; fd < 1024; fd++) {
		if (fstat(fd, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev)
			return fd;
	}
	ck_abort_msg("no descriptor open on %s", path);
	return -1;
}

/*
 * Group commit (issue 18): spool_append() writes, spool_sync() makes
 * every record since the last one durable with one fdatasync, and only
 * when there is one to make; a failed fdatasync is reported (not
 * forgotten: the next sync tries again). Fails before the change: there
 * was no spool_sync().
 */
START_TEST(test_sync_once_per_batch)
{
	char err[512] = "";
	struct spool *sp;
	int n, p[2], fd;

	sp = open_spool(&n);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_syncs(sp), 0);
	add(sp, "a", "1", 1);
	add(sp, "b", "2", 2);
	add(sp, "c", "3", 0);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_syncs(sp), 1);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_syncs(sp), 1);

	/* A pipe in the file's place: write() works, fdatasync() fails. */
	fd = spool_fd();
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], fd), fd);
	add(sp, "d", "4", 1);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "fdatasync") != NULL && strstr(err, path) != NULL, "%s", err);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), -1);
	ck_assert_uint_eq(spool_syncs(sp), 1);
	spool_close(sp);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * After a failed fdatasync the next sync rewrites the file (a new inode)
 * rather than trust a second fdatasync; and a rewrite that fails (its
 * temporary file cannot be made) leaves the index as it was, so the one
 * after it copies the right records. (Fails before: the second sync was
 * a plain fdatasync, and a failed rewrite left the index pointing into
 * the file it never wrote.)
 */
START_TEST(test_rewrite_after_sync_failure)
{
	char err[512] = "", tmpdir[300];
	struct spool *sp;
	struct stat before, after;
	int n, p[2], fd, saved;
	uint64_t s1;

	sp = open_spool(&n);
	s1 = add(sp, "t/1", "one", 1);
	add(sp, "t/2", "two", 1);
	add(sp, "t/3", "three", 2);
	spool_done(sp, s1);
	fd = spool_fd();
	ck_assert_int_eq(fstat(fd, &before), 0);
	saved = dup(fd);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], fd), fd);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), -1);
	ck_assert_int_eq(dup2(saved, fd), fd);
	close(saved);
	close(p[0]);
	close(p[1]);

	/* The rewrite's temporary file cannot be made: it fails, changes nothing. */
	snprintf(tmpdir, sizeof(tmpdir), "%s/queue.spool.tmp", dir);
	ck_assert_int_eq(mkdir(tmpdir, 0700), 0);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), -1);
	ck_assert_int_eq(rmdir(tmpdir), 0);
	ck_assert_msg(spool_sync(sp, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_ne(after.st_ino, before.st_ino);
	ck_assert_int_eq(spool_sync(sp, err, sizeof(err)), 0);
	spool_close(sp);

	sp = open_spool(&n);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(buf_data(&replayed), "1:1:t/2=two;2:0:t/3=three;");
	spool_close(sp);
}
END_TEST

static Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_codec_round_trip);
	tcase_add_test(tc, test_codec_sent);
	tcase_add_test(tc, test_sent_ids_kept);
	tcase_add_test(tc, test_replay_in_order);
	tcase_add_test(tc, test_emptied_when_all_done);
	tcase_add_test(tc, test_cut_short);
	tcase_add_test(tc, test_damaged_middle);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_locked);
	tcase_add_test(tc, test_bad_dir);
	tcase_add_test(tc, test_sync_once_per_batch);
	tcase_add_test(tc, test_rewrite_after_sync_failure);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(spool_suite)
