/*
 * test_loop: fd watchers with their user pointer, removal during an
 * iteration, read before write, one-shot and repeating timers, timers
 * bounding the select() timeout, EINTR, the before-sleep hook, deferred
 * work, the FD_SETSIZE guard, a closed descriptor, loop_stop. Timing checks
 * use generous bounds only.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "check_compat.h"

#define DEADLINE_MS 5000

struct rec {
	int calls;
	int mask_seen;
	void *arg_seen;
	int order[16];
	int norder;
};

static void rec_push(struct rec *r, int v)
{
	if (r->norder < 16)
		r->order[r->norder++] = v;
}

/* Run iterations until *flag is set or the deadline passes. */
static void run_until(struct loop *loop, const int *flag)
{
	uint64_t end = loop_clock_ms() + DEADLINE_MS;

	while (!*flag && loop_clock_ms() < end)
		loop_run_once(loop, 50);
}

static void on_io(struct loop *loop, int fd, int mask, void *arg)
{
	struct rec *r = arg;
	char c;

	r->calls++;
	r->mask_seen |= mask;
	r->arg_seen = arg;
	if (mask & LOOP_READ) {
		ck_assert_int_eq(read(fd, &c, 1), 1);
		rec_push(r, c);
	}
	if (mask & LOOP_WRITE)
		loop_unwatch(loop, fd, LOOP_WRITE);
}

START_TEST(read_and_write_watchers)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_READ, on_io, &r), 0);
	ck_assert_int_eq(write(sv[1], "a", 1), 1);
	run_until(loop, &r.calls);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.mask_seen, LOOP_READ);
	ck_assert_ptr_eq(r.arg_seen, &r);
	ck_assert_int_eq(r.order[0], 'a');
	/* A socket is writable at once; the callback unwatches itself. */
	r.calls = 0;
	r.mask_seen = 0;
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_WRITE, on_io, &r), 0);
	run_until(loop, &r.calls);
	ck_assert_int_eq(r.mask_seen, LOOP_WRITE);
	r.calls = 0;
	loop_run_once(loop, 20);
	ck_assert_int_eq(r.calls, 0);
	loop_unwatch(loop, sv[0], LOOP_READ);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}
END_TEST

/* Records each call as 'R' or 'W' and drops WRITE when asked to. */
struct rw {
	char seen[8];
	int n;
	bool read_drops_write;
	uint64_t now_in_cb[8];
};

static void on_rw(struct loop *loop, int fd, int mask, void *arg)
{
	struct rw *x = arg;
	char c;

	if (x->n < 8) {
		x->now_in_cb[x->n] = loop_now(loop);
		x->seen[x->n++] = mask == LOOP_READ ? 'R' : mask == LOOP_WRITE ? 'W' : '?';
	}
	if (mask & LOOP_READ) {
		ck_assert_int_eq(read(fd, &c, 1), 1);
		if (x->read_drops_write)
			loop_unwatch(loop, fd, LOOP_WRITE);
	}
}

START_TEST(read_before_write)
{
	struct loop *loop = loop_new();
	struct rw x = {.n = 0};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "ab", 2), 2);
	/* Two calls add up to one watcher with both events. */
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_READ, on_rw, &x), 0);
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_WRITE, on_rw, &x), 0);
	ck_assert_int_eq(loop_run_once(loop, 1000), 2);
	ck_assert_int_eq(x.n, 2);
	ck_assert_int_eq(x.seen[0], 'R');
	ck_assert_int_eq(x.seen[1], 'W');
	/* loop_now does not move between callbacks of one iteration. */
	ck_assert_uint_eq(x.now_in_cb[0], x.now_in_cb[1]);
	/* Now the read callback drops WRITE: the pending write event is not
	 * delivered although select() reported it. */
	x.n = 0;
	x.read_drops_write = true;
	ck_assert_int_eq(loop_run_once(loop, 1000), 2);
	ck_assert_int_eq(x.n, 1);
	ck_assert_int_eq(x.seen[0], 'R');
	/* Only READ is left and there is nothing to read. */
	ck_assert_int_eq(loop_run_once(loop, 10), 0);
	ck_assert_int_eq(x.n, 1);
	loop_unwatch(loop, sv[0], LOOP_READ);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}
END_TEST

/* Two readable sockets; whichever callback runs first removes the other. */
struct pair {
	int fds[2];
	int calls[2];
};

static void on_remove_other(struct loop *loop, int fd, int mask, void *arg)
{
	struct pair *p = arg;
	int me = fd == p->fds[0] ? 0 : 1;

	p->calls[me]++;
	loop_unwatch(loop, p->fds[1 - me], LOOP_READ);
	loop_unwatch(loop, fd, LOOP_READ);
}

START_TEST(removed_watcher_not_called)
{
	struct loop *loop = loop_new();
	struct pair p = {{-1, -1}, {0, 0}};
	int a[2], b[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	p.fds[0] = a[0];
	p.fds[1] = b[0];
	ck_assert_int_eq(loop_watch(loop, a[0], LOOP_READ, on_remove_other, &p), 0);
	ck_assert_int_eq(loop_watch(loop, b[0], LOOP_READ, on_remove_other, &p), 0);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "y", 1), 1);
	loop_run_once(loop, 1000);
	/* Both were ready in the same select(); only one callback ran. */
	ck_assert_int_eq(p.calls[0] + p.calls[1], 1);
	loop_run_once(loop, 20);
	ck_assert_int_eq(p.calls[0] + p.calls[1], 1);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(loop);
}
END_TEST

struct tctx {
	struct rec *r;
	int tag;
	int repeat_left;
	int64_t interval;
	uint64_t fired_at[8];
	int nfired;
	uint64_t kill_id;
	struct loop *loop;
	int *done;
};

static int64_t on_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct tctx *t = arg;

	rec_push(t->r, t->tag);
	if (t->nfired < 8)
		t->fired_at[t->nfired] = loop_clock_ms();
	t->nfired++;
	if (t->kill_id != 0)
		loop_timer_del(loop, t->kill_id);
	if (t->repeat_left > 0) {
		t->repeat_left--;
		return t->interval;
	}
	if (t->done != NULL)
		*t->done = 1;
	return LOOP_TIMER_STOP;
}

static void never_io(struct loop *loop, int fd, int mask, void *arg)
{
	ck_abort_msg("callback for descriptor %d that must not be called", fd);
}

START_TEST(timers_fire_in_order)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	int done = 0;
	struct tctx t30 = {.r = &r, .tag = 30}, t10 = {.r = &r, .tag = 10};
	struct tctx t20 = {.r = &r, .tag = 20, .done = &done};
	uint64_t start = loop_clock_ms();

	loop_timer_add(loop, 60, on_timer, &t30);
	loop_timer_add(loop, 20, on_timer, &t10);
	loop_timer_add(loop, 40, on_timer, &t20);
	/* The last one (60 ms) sets nothing; wait for the 40 ms one, then more. */
	run_until(loop, &done);
	while (r.norder < 3 && loop_clock_ms() < start + DEADLINE_MS)
		loop_run_once(loop, 50);
	ck_assert_int_eq(r.norder, 3);
	ck_assert_int_eq(r.order[0], 10);
	ck_assert_int_eq(r.order[1], 20);
	ck_assert_int_eq(r.order[2], 30);
	/* Never early. */
	ck_assert_uint_ge(t10.fired_at[0] - start, 20);
	ck_assert_uint_ge(t30.fired_at[0] - start, 60);
	loop_free(loop);
}
END_TEST

START_TEST(repeating_timer)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	int done = 0;
	struct tctx t = {.r = &r, .tag = 1, .repeat_left = 3, .interval = 15, .done = &done};
	int i;

	loop_timer_add(loop, 15, on_timer, &t);
	run_until(loop, &done);
	ck_assert_int_eq(t.nfired, 4);
	for (i = 1; i < 4; i++)
		ck_assert_uint_ge(t.fired_at[i] - t.fired_at[i - 1], 15);
	loop_free(loop);
}
END_TEST

START_TEST(timer_deleted_by_other)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	int done = 0;
	struct tctx victim = {.r = &r, .tag = 2};
	struct tctx killer = {.r = &r, .tag = 1};
	struct tctx last = {.r = &r, .tag = 3, .done = &done};
	uint64_t vid;

	/* Both due in the same iteration: the killer fires first. */
	loop_timer_add(loop, 10, on_timer, &killer);
	vid = loop_timer_add(loop, 10, on_timer, &victim);
	killer.kill_id = vid;
	loop_timer_add(loop, 50, on_timer, &last);
	run_until(loop, &done);
	ck_assert_int_eq(killer.nfired, 1);
	ck_assert_int_eq(victim.nfired, 0);
	ck_assert_int_eq(last.nfired, 1);
	/* Deleting an unknown or fired id is harmless. */
	loop_timer_del(loop, vid);
	loop_timer_del(loop, 999999);
	loop_free(loop);
}
END_TEST

static int64_t self_delete(struct loop *loop, uint64_t id, void *arg)
{
	int *n = arg;

	(*n)++;
	loop_timer_del(loop, id);
	return 5; /* ignored: the timer is gone */
}

START_TEST(timer_deletes_itself)
{
	struct loop *loop = loop_new();
	int n = 0, i;

	loop_timer_add(loop, 1, self_delete, &n);
	for (i = 0; i < 10; i++)
		loop_run_once(loop, 20);
	/* Deleting itself wins over the interval it returned. */
	ck_assert_int_eq(n, 1);
	loop_free(loop);
}
END_TEST

struct dctx {
	struct rec *r;
	struct loop *loop;
	int tag;
	bool chain;
};

static void on_defer(void *arg)
{
	struct dctx *d = arg;

	rec_push(d->r, d->tag);
	if (d->chain) {
		static struct dctx next;

		next = (struct dctx){.r = d->r, .loop = d->loop, .tag = 99};
		loop_defer(d->loop, on_defer, &next);
	}
}

struct defer_io {
	struct rec *r;
	struct dctx d1, d2;
};

static void on_io_defer(struct loop *loop, int fd, int mask, void *arg)
{
	struct defer_io *x = arg;
	char c;

	ck_assert_int_eq(read(fd, &c, 1), 1);
	loop_defer(loop, on_defer, &x->d1);
	loop_defer(loop, on_defer, &x->d2);
	/* Deferred work has not run yet inside the callback. */
	ck_assert_int_eq(x->r->norder, 0);
	rec_push(x->r, 'c');
	loop_unwatch(loop, fd, LOOP_READ);
}

START_TEST(deferred_after_callbacks)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	struct defer_io x = {.r = &r};
	int sv[2];

	x.d1 = (struct dctx){.r = &r, .loop = loop, .tag = 1, .chain = true};
	x.d2 = (struct dctx){.r = &r, .loop = loop, .tag = 2};
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_READ, on_io_defer, &x), 0);
	ck_assert_int_eq(write(sv[1], "z", 1), 1);
	loop_run_once(loop, 1000);
	/* Callback, then deferred items in FIFO order, including one added
	 * while draining, all in the same iteration. */
	ck_assert_int_eq(r.norder, 4);
	ck_assert_int_eq(r.order[0], 'c');
	ck_assert_int_eq(r.order[1], 1);
	ck_assert_int_eq(r.order[2], 2);
	ck_assert_int_eq(r.order[3], 99);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}
END_TEST

START_TEST(loop_free_runs_deferred)
{
	struct loop *loop = loop_new();
	struct rec r = {0};
	struct dctx d = {.r = &r, .loop = loop, .tag = 7};

	loop_defer(loop, on_defer, &d);
	loop_free(loop);
	ck_assert_int_eq(r.norder, 1);
	ck_assert_int_eq(r.order[0], 7);
}
END_TEST

START_TEST(fd_setsize_refused)
{
	struct loop *loop = loop_new();
	struct rlimit rl;
	int fd;

	log_init(LOGL_ERROR, false);
	ck_assert_int_eq(loop_watch(loop, -1, LOOP_READ, never_io, NULL), -1);
	ck_assert_int_eq(loop_watch(loop, FD_SETSIZE, LOOP_READ, never_io, NULL), -1);
	ck_assert_int_eq(loop_watch(loop, FD_SETSIZE + 100, LOOP_WRITE, never_io, NULL), -1);
	/* A real open descriptor at FD_SETSIZE, when the limit allows one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max > FD_SETSIZE) {
		if (rl.rlim_cur <= FD_SETSIZE) {
			rl.rlim_cur = FD_SETSIZE + 1;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		fd = dup2(STDERR_FILENO, FD_SETSIZE);
		if (fd == FD_SETSIZE) {
			ck_assert_int_eq(
			        loop_watch(loop, fd, LOOP_READ | LOOP_WRITE, never_io, NULL), -1);
			/* Nothing was registered: an iteration runs without calling it. */
			loop_run_once(loop, 10);
			close(fd);
		}
	}
	loop_unwatch(loop, FD_SETSIZE, LOOP_READ);
	loop_free(loop);
}
END_TEST

struct spawner {
	struct loop *loop;
	int parent_runs;
	int child_runs;
	int zero_runs;
};

static int64_t on_child(struct loop *loop, uint64_t id, void *arg)
{
	struct spawner *sp = arg;

	sp->child_runs++;
	return LOOP_TIMER_STOP;
}

static int64_t on_parent(struct loop *loop, uint64_t id, void *arg)
{
	struct spawner *sp = arg;
	uint64_t child;

	sp->parent_runs++;
	child = loop_timer_add(loop, 0, on_child, sp);
	/* Ids only grow. */
	ck_assert_uint_gt(child, id);
	return LOOP_TIMER_STOP;
}

static int64_t on_zero_interval(struct loop *loop, uint64_t id, void *arg)
{
	struct spawner *sp = arg;

	sp->zero_runs++;
	return sp->zero_runs < 100 ? 0 : LOOP_TIMER_STOP;
}

START_TEST(timer_adds_timer)
{
	struct loop *loop = loop_new();
	struct spawner sp = {.loop = loop};

	ck_assert_uint_eq(loop_timer_add(loop, 0, on_parent, &sp), 1);
	ck_assert_uint_eq(loop_timer_add(loop, -5, on_zero_interval, &sp), 2);
	loop_run_once(loop, 1000);
	/* The child is due at once but waits for the next iteration, and a
	 * repeating timer with interval 0 runs once per iteration, not in a
	 * busy loop inside one. */
	ck_assert_int_eq(sp.parent_runs, 1);
	ck_assert_int_eq(sp.child_runs, 0);
	ck_assert_int_eq(sp.zero_runs, 1);
	loop_run_once(loop, 1000);
	ck_assert_int_eq(sp.child_runs, 1);
	ck_assert_int_eq(sp.zero_runs, 2);
	loop_free(loop);
}
END_TEST

static int64_t set_flag(struct loop *loop, uint64_t id, void *arg)
{
	*(int *)arg = 1;
	return LOOP_TIMER_STOP;
}

START_TEST(timer_bounds_select)
{
	struct loop *loop = loop_new();
	uint64_t start, took;
	int fired = 0, sv[2];

	/* A watched socket that never becomes readable: only the timer can
	 * end an unbounded wait. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(loop_watch(loop, sv[0], LOOP_READ, never_io, NULL), 0);
	/* start is read before the timer is added: the timer counts from
	 * its own reading of the clock, which a slow run (valgrind) may put
	 * a millisecond or more after ours. */
	start = loop_clock_ms();
	loop_timer_add(loop, 30, set_flag, &fired);
	ck_assert_int_eq(loop_run_once(loop, -1), 0);
	took = loop_clock_ms() - start;
	ck_assert_int_eq(fired, 1);
	ck_assert_uint_ge(took, 30);
	ck_assert_uint_lt(took, DEADLINE_MS);
	/* The nearer of the caller's timeout and the timer wins. */
	fired = 0;
	start = loop_clock_ms();
	loop_timer_add(loop, 20, set_flag, &fired);
	loop_run_once(loop, 60000);
	ck_assert_int_eq(fired, 1);
	ck_assert_uint_lt(loop_clock_ms() - start, DEADLINE_MS);
	/* Without timers the caller's timeout ends the wait. */
	start = loop_clock_ms();
	ck_assert_int_eq(loop_run_once(loop, 30), 0);
	took = loop_clock_ms() - start;
	ck_assert_uint_ge(took, 25);
	ck_assert_uint_lt(took, DEADLINE_MS);
	loop_unwatch(loop, sv[0], LOOP_READ);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}
END_TEST

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	got_alarm = 1;
}

START_TEST(eintr_returns)
{
	struct loop *loop = loop_new();
	struct sigaction sa, old;
	struct itimerval it = {.it_value = {.tv_usec = 50000}};
	uint64_t start;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: select() sees EINTR */
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
	got_alarm = 0;
	start = loop_clock_ms();
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* The only way out before 20 s is the signal. */
	ck_assert_int_eq(loop_run_once(loop, 20000), 0);
	ck_assert_int_eq(got_alarm, 1);
	ck_assert_uint_lt(loop_clock_ms() - start, 10000);
	sigaction(SIGALRM, &old, NULL);
	loop_free(loop);
}
END_TEST

struct hook {
	int runs;
	int deferred_seen;
	struct loop *loop;
};

static void hook_defer(void *arg)
{
	struct hook *h = arg;

	h->deferred_seen++;
}

static void before_sleep(struct loop *loop, void *arg)
{
	struct hook *h = arg;

	h->runs++;
	/* Work queued here is done before select() sleeps. */
	loop_defer(loop, hook_defer, h);
}

START_TEST(before_sleep_hook)
{
	struct loop *loop = loop_new();
	struct hook h = {.loop = loop};

	loop_set_before_sleep(loop, before_sleep, &h);
	loop_run_once(loop, 0);
	loop_run_once(loop, 0);
	ck_assert_int_eq(h.runs, 2);
	ck_assert_int_eq(h.deferred_seen, 2);
	loop_set_before_sleep(loop, NULL, NULL);
	loop_run_once(loop, 0);
	ck_assert_int_eq(h.runs, 2);
	loop_free(loop);
}
END_TEST

START_TEST(closed_fd_dropped)
{
	struct loop *loop = loop_new();
	int p[2];

	log_init(LOGL_ERROR, false);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(loop_watch(loop, p[0], LOOP_READ, never_io, NULL), 0);
	/* A caller bug: closed while still watched. select() fails once, the
	 * descriptor is forgotten, and later iterations work again. */
	close(p[0]);
	ck_assert_int_eq(loop_run_once(loop, 0), -1);
	ck_assert_int_eq(loop_run_once(loop, 0), 0);
	close(p[1]);
	loop_free(loop);
}
END_TEST

static int64_t stopper(struct loop *loop, uint64_t id, void *arg)
{
	loop_stop(loop);
	return LOOP_TIMER_STOP;
}

START_TEST(run_until_stop)
{
	struct loop *loop = loop_new();
	uint64_t start = loop_clock_ms();

	loop_timer_add(loop, 30, stopper, NULL);
	loop_run(loop);
	ck_assert_uint_ge(loop_clock_ms() - start, 30);
	ck_assert_uint_ge(loop_now(loop), start);
	loop_free(loop);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, read_and_write_watchers);
	tcase_add_test(tc, read_before_write);
	tcase_add_test(tc, removed_watcher_not_called);
	tcase_add_test(tc, timers_fire_in_order);
	tcase_add_test(tc, repeating_timer);
	tcase_add_test(tc, timer_deleted_by_other);
	tcase_add_test(tc, timer_deletes_itself);
	tcase_add_test(tc, deferred_after_callbacks);
	tcase_add_test(tc, loop_free_runs_deferred);
	tcase_add_test(tc, fd_setsize_refused);
	tcase_add_test(tc, timer_adds_timer);
	tcase_add_test(tc, timer_bounds_select);
	tcase_add_test(tc, eintr_returns);
	tcase_add_test(tc, before_sleep_hook);
	tcase_add_test(tc, closed_fd_dropped);
	tcase_add_test(tc, run_until_stop);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(loop_suite)
