/*
 * test_registry: subscriptions added, found, removed with the
 * mqtt_unsubscribe semantics, written to the state file and read back;
 * damaged state files refused with the file named; a failed write
 * changes nothing; the change log replayed, compacted, and a torn last
 * record dropped.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_compat.h"
#include "registry.h"

static char dir[] = "/tmp/octomqttd-reg.XXXXXX";
static char path[256];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/subscriptions.json", dir);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

static const struct reg_entry *add(struct registry *r, const char *topic, const char *url,
                                   const char *args, bool want_created)
{
	char err[256] = "";
	bool created;
	const struct reg_entry *e =
	        registry_add(r, topic, url, args, NULL, &created, err, sizeof(err));

	ck_assert_msg(e != NULL, "registry_add: %s", err);
	ck_assert(created == want_created);
	return e;
}

START_TEST(add_find_identical)
{
	struct registry *r = registry_new(path);
	const struct reg_entry *a, *b, *c;
	char id_a[REGISTRY_ID_LEN + 1];

	a = add(r, "octoprint/plugin/x/sub", "http://127.0.0.1:5000/cb", NULL, true);
	ck_assert_uint_eq(strlen(a->id), REGISTRY_ID_LEN);
	ck_assert_str_eq(a->args, "[]");
	ck_assert_str_eq(a->kwargs, "{}");
	strcpy(id_a, a->id);
	b = add(r, "octoprint/plugin/x/sub", "http://127.0.0.1:5000/cb", NULL, false);
	ck_assert_str_eq(b->id, id_a);
	/* Other args: another subscription. */
	c = add(r, "octoprint/plugin/x/sub", "http://127.0.0.1:5000/cb", "[1, \"a\"]", true);
	ck_assert_str_ne(c->id, id_a);
	ck_assert_str_eq(c->args, "[1, \"a\"]");
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_ptr_nonnull(registry_find(r, id_a));
	ck_assert_ptr_null(registry_find(r, "0000000000000000"));
	registry_free(r);
}
END_TEST

START_TEST(persisted_and_loaded)
{
	struct registry *r = registry_new(path), *back;
	char err[256] = "", ids[3][REGISTRY_ID_LEN + 1];
	size_t i;

	strcpy(ids[0],
	       add(r, "a/#", "http://127.0.0.1:1/x", "[\"\\u00e9\", {\"k\": null}]", true)->id);
	strcpy(ids[1], add(r, "+/b", "http://[::1]:2/y?q=1", NULL, true)->id);
	strcpy(ids[2], add(r, "t \"quoted\" \\", "http://127.0.0.1:3/z", NULL, true)->id);
	registry_free(r);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 3);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(registry_at(back, i)->id, ids[i]);
	ck_assert_str_eq(registry_at(back, 0)->args, "[\"\\u00e9\", {\"k\": null}]");
	ck_assert_str_eq(registry_at(back, 1)->url, "http://[::1]:2/y?q=1");
	ck_assert_str_eq(registry_at(back, 2)->topic, "t \"quoted\" \\");
	/* Adding the same again after a restart: the same id. */
	ck_assert_str_eq(
	        add(back, "a/#", "http://127.0.0.1:1/x", "[\"\\u00e9\", {\"k\": null}]", false)->id,
	        ids[0]);
	registry_free(back);
}
END_TEST

START_TEST(remove_semantics)
{
	struct registry *r = registry_new(path), *back;
	char err[256] = "", id[REGISTRY_ID_LEN + 1];

	add(r, "a", "http://127.0.0.1:1/u", NULL, true);
	add(r, "b", "http://127.0.0.1:1/u", NULL, true);
	add(r, "a", "http://127.0.0.1:1/u", "[1]", true);
	strcpy(id, add(r, "a", "http://127.0.0.1:1/other", NULL, true)->id);
	/* URL and exact topic: both "a" of that URL, not "b", not the other URL. */
	ck_assert_int_eq(registry_remove_url(r, "http://127.0.0.1:1/u", "a", err, sizeof(err)), 2);
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_int_eq(registry_remove_url(r, "http://127.0.0.1:1/u", "a/#", err, sizeof(err)),
	                 0);
	/* URL alone: all of it. */
	ck_assert_int_eq(registry_remove_url(r, "http://127.0.0.1:1/u", NULL, err, sizeof(err)), 1);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_int_eq(registry_remove_id(r, "ffffffffffffffff", err, sizeof(err)), 0);
	ck_assert_int_eq(registry_remove_id(r, id, err, sizeof(err)), 1);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
	back = registry_new(path);
	ck_assert_int_eq(registry_load(back, err, sizeof(err)), 0);
	ck_assert_uint_eq(registry_count(back), 0);
	registry_free(back);
}
END_TEST

/* A state file that cannot be written: the change is refused and undone. */
START_TEST(write_failure_changes_nothing)
{
	char bad[300], err[256] = "";
	struct registry *r;
	bool created;

	snprintf(bad, sizeof(bad), "%s/missing/subscriptions.json", dir);
	r = registry_new(bad);
	ck_assert_ptr_null(
	        registry_add(r, "a", "http://127.0.0.1/", NULL, NULL, &created, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "cannot write"));
	ck_assert_ptr_nonnull(strstr(err, bad));
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
}
END_TEST

static const char *const damaged[] = {
        "",
        "{",
        "[]",
        "{}",
        "{\"octomqttd_subscriptions\":2,\"subscriptions\":{}}",
        "{\"octomqttd_subscriptions\":1}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":[]}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{},\"x\":1}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"123\":{}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"000000000000000g\":{\"topic\":\"a\","
        "\"url\":\"u\"}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a\"}}"
        "}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a/#/"
        "b\",\"url\":\"u\"}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a\","
        "\"url\":\"u\",\"args\":{}}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a\","
        "\"url\":1}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a\","
        "\"url\":\"u\"},\"0000000000000001\":{\"topic\":\"b\",\"url\":\"u\"}}}",
        "{\"octomqttd_subscriptions\":1,\"subscriptions\":{\"0000000000000001\":{\"topic\":\"a\","
        "\"url\":\"u\",\"x\":1}}}",
};

START_TEST(damaged_files_refused)
{
	struct registry *r = registry_new(NULL);
	const char *why = NULL;

	ck_assert_msg(registry_parse(r, damaged[_i], strlen(damaged[_i]), &why) != 0,
	              "accepted: %s", damaged[_i]);
	ck_assert_ptr_nonnull(why);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
}
END_TEST

START_TEST(damaged_file_named)
{
	struct registry *r = registry_new(path);
	char err[512] = "";
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs("{\"octomqttd_subscriptions\":1,\"subscriptions\":{", f);
	fclose(f);
	ck_assert_int_eq(registry_load(r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "damaged") != NULL, "%s", err);
	registry_free(r);
	/* Nothing was changed: the file is still there as it was. */
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static long file_size(const char *name)
{
	struct stat st;

	return stat(name, &st) == 0 ? (long)st.st_size : -1;
}

/*
 * Each change is one record in the log; past the live count the snapshot
 * is rewritten and the log emptied. Whatever the mix, a reload holds the
 * same subscriptions in the same order.
 */
START_TEST(log_and_compaction)
{
	struct registry *r = registry_new(path), *back;
	char err[256] = "", logpath[300], url[64];
	size_t i;

	snprintf(logpath, sizeof(logpath), "%s.log", path);
	ck_assert_int_eq(registry_load(r, err, sizeof(err)), 0);
	add(r, "a/1", "http://127.0.0.1:1/x", NULL, true);
	/* The first change: a log record, no snapshot yet. */
	ck_assert_int_eq(file_size(path), -1);
	ck_assert_int_gt(file_size(logpath), 0);
	for (i = 2; i <= 200; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:1/%zu", i);
		add(r, "a/+", url, NULL, true);
	}
	/* Compacted on the way: the snapshot holds most, the log the rest. */
	ck_assert_int_gt(file_size(path), 0);
	ck_assert_int_lt(file_size(logpath), file_size(path));
	ck_assert_int_eq(registry_remove_url(r, "http://127.0.0.1:1/7", NULL, err, sizeof(err)), 1);
	ck_assert_int_eq(registry_remove_id(r, registry_at(r, 0)->id, err, sizeof(err)), 1);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 198);
	for (i = 0; i < registry_count(r); i++)
		ck_assert_str_eq(registry_at(back, i)->id, registry_at(r, i)->id);
	/* The loaded one goes on appending where the log ends. */
	add(back, "b", "http://127.0.0.1:1/y", NULL, true);
	registry_free(back);
	registry_free(r);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 199);
	ck_assert_str_eq(registry_at(back, 198)->topic, "b");
	registry_free(back);
}
END_TEST

/*
 * A crash while a record was written leaves it without its newline: it
 * was never answered, so it is dropped, and the next record replaces it.
 * Records the snapshot already holds (a compaction cut short) change
 * nothing.
 */
START_TEST(torn_and_repeated_records)
{
	struct registry *r = registry_new(path);
	char err[256] = "", logpath[300];
	const char *snap = "{\"octomqttd_subscriptions\":1,\"subscriptions\":{"
	                   "\"0000000000000001\":{\"topic\":\"a\",\"url\":\"u\"}}}\n";
	const char *log = "{\"add\":{\"0000000000000001\":{\"topic\":\"a\",\"url\":\"u\"}}}\n"
	                  "{\"remove\":\"00000000000000ff\"}\n"
	                  "{\"add\":{\"0000000000000002\":{\"topic\":\"b\",\"url\":\"u\"}}}\n"
	                  "{\"add\":{\"0000000000000003\":{\"topic\":\"c\",\"url\":";

	snprintf(logpath, sizeof(logpath), "%s.log", path);
	write_file(path, snap);
	write_file(logpath, log);
	ck_assert_msg(registry_load(r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_str_eq(registry_at(r, 1)->topic, "b");
	ck_assert_ptr_null(registry_find(r, "0000000000000003"));
	add(r, "d", "http://127.0.0.1:1/d", NULL, true);
	registry_free(r);
	r = registry_new(path);
	ck_assert_msg(registry_load(r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(r), 3);
	ck_assert_str_eq(registry_at(r, 2)->topic, "d");
	registry_free(r);
}
END_TEST

static const char *const damaged_logs[] = {
        "x\n",
        "{}\n",
        "\n",
        "{\"add\":{}}\n{\"remove\":1}\n",
        "{\"remove\":\"123\"}\n",
        "{\"add\":{\"0000000000000001\":{\"topic\":\"a\"}}}\n",
        "{\"add\":{\"0000000000000001\":{\"topic\":\"a\",\"url\":\"u\"}},\"remove\":"
        "\"0000000000000001\"}\n",
        /* The same id for another subscription. */
        "{\"add\":{\"0000000000000001\":{\"topic\":\"a\",\"url\":\"u\"}}}\n"
        "{\"add\":{\"0000000000000001\":{\"topic\":\"b\",\"url\":\"u\"}}}\n",
        "{\"clear\":true}\n",
};

START_TEST(damaged_logs_refused)
{
	struct registry *r = registry_new(path);
	char err[512] = "", logpath[300];

	snprintf(logpath, sizeof(logpath), "%s.log", path);
	write_file(logpath, damaged_logs[_i]);
	ck_assert_msg(registry_load(r, err, sizeof(err)) == -1, "accepted: %s", damaged_logs[_i]);
	ck_assert_msg(strstr(err, logpath) != NULL && strstr(err, "damaged") != NULL, "%s", err);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
	/* Nothing was changed. */
	ck_assert_int_eq(file_size(logpath), (long)strlen(damaged_logs[_i]));
}
END_TEST

/* The descriptor open on file name (the log), or -1. */
static int fd_on(const char *name)
{
	struct stat want, st;
	int fd;

	if (stat(name, &want) != 0)
		return -1;
	for (fd = 3; fd < 1024; fd++) {
		if (fstat(fd, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev)
			return fd;
	}
	return -1;
}

/*
 * Group commit (issue 18): a change is in the log at once (read back by
 * a new registry, as after kill -9) and fdatasync()ed by registry_sync(),
 * once for all changes since the last. A failed fdatasync is reported,
 * and the next sync rewrites the snapshot rather than trust the log.
 * (Fails before: there was no registry_sync().)
 */
START_TEST(sync_and_sync_failure)
{
	struct registry *r = registry_new(path), *back;
	char err[256] = "", logpath[300];
	int fd, saved, p[2];

	snprintf(logpath, sizeof(logpath), "%s.log", path);
	ck_assert_int_eq(registry_sync(r, err, sizeof(err)), 0);
	add(r, "a", "http://127.0.0.1:1/x", NULL, true);
	add(r, "b", "http://127.0.0.1:1/x", NULL, true);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 2);
	registry_free(back);
	ck_assert_int_eq(registry_sync(r, err, sizeof(err)), 0);

	/* A pipe in the log's place for the sync: fdatasync() fails. */
	add(r, "c", "http://127.0.0.1:1/x", NULL, true);
	fd = fd_on(logpath);
	ck_assert_int_ge(fd, 0);
	saved = dup(fd);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], fd), fd);
	ck_assert_int_eq(registry_sync(r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "fdatasync") != NULL && strstr(err, logpath) != NULL, "%s", err);
	ck_assert_int_eq(dup2(saved, fd), fd);
	close(saved);
	close(p[0]);
	close(p[1]);
	/* The next sync compacts: the snapshot holds all three, the log is empty. */
	ck_assert_msg(registry_sync(r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(file_size(logpath), 0);
	registry_free(r);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 3);
	registry_free(back);
}
END_TEST

/*
 * A failed write whose cut-back fails too closes the log with records in
 * it never synced (an earlier change, answered once synced): the next
 * sync must rewrite the snapshot, not report success with nothing
 * synced. (Fails before: registry_sync returned 0 with the log closed.)
 */
START_TEST(closed_log_sync_compacts)
{
	struct registry *r = registry_new(path), *back;
	char err[256] = "", logpath[300];
	bool created;
	int fd, p[2];

	snprintf(logpath, sizeof(logpath), "%s.log", path);
	add(r, "a", "http://127.0.0.1:1/x", NULL, true);
	fd = fd_on(logpath);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], fd), fd);
	/* pwrite and ftruncate on a pipe fail: the registry closes fd. */
	ck_assert_ptr_null(registry_add(r, "b", "http://127.0.0.1:1/x", NULL, NULL, &created, err,
	                                sizeof(err)));
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(file_size(path), -1); /* no snapshot yet: "a" is in the log */
	ck_assert_msg(registry_sync(r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_gt(file_size(path), 0); /* rewritten and synced, "a" in it */
	registry_free(r);
	back = registry_new(path);
	ck_assert_msg(registry_load(back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(registry_count(back), 1);
	ck_assert_str_eq(registry_at(back, 0)->topic, "a");
	registry_free(back);
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_find_identical);
	tcase_add_test(tc, persisted_and_loaded);
	tcase_add_test(tc, remove_semantics);
	tcase_add_test(tc, write_failure_changes_nothing);
	tcase_add_loop_test(tc, damaged_files_refused, 0, (int)nitems(damaged));
	tcase_add_test(tc, damaged_file_named);
	tcase_add_test(tc, log_and_compaction);
	tcase_add_test(tc, torn_and_repeated_records);
	tcase_add_loop_test(tc, damaged_logs_refused, 0, (int)nitems(damaged_logs));
	tcase_add_test(tc, sync_and_sync_failure);
	tcase_add_test(tc, closed_log_sync_compacts);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registry_suite)
