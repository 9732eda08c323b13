/*
 * loop: the one select() of the daemon (see loop.h), after Redis's ae and
 * ae_select: master fd_sets copied before each select(), a per-fd record
 * indexed by the descriptor, timers in a list sorted by deadline, and a
 * FIFO of deferred work drained after every iteration's callbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "log.h"
#include "loop.h"

struct loop_fd {
	int lf_mask;
	loop_io_fn *lf_fn;
	void *lf_arg;
};

struct loop_timer {
	uint64_t lt_id;
	uint64_t lt_when; /* monotonic ms */
	uint64_t lt_pass; /* last firing pass that ran it */
	loop_timer_fn *lt_fn;
	void *lt_arg;
	struct loop_timer *lt_next;
};

struct loop_deferred {
	loop_defer_fn *ld_fn;
	void *ld_arg;
	struct loop_deferred *ld_next;
};

struct loop {
	struct loop_fd l_fds[FD_SETSIZE];
	fd_set l_rset, l_wset;       /* master sets */
	int l_maxfd;                 /* highest watched fd, -1 if none */
	struct loop_timer *l_timers; /* sorted by lt_when, then id */
	uint64_t l_next_id;
	uint64_t l_pass; /* timer firing passes so far */
	struct loop_deferred *l_defer_head, **l_defer_tail;
	loop_hook_fn *l_before_sleep;
	void *l_before_sleep_arg;
	uint64_t l_now;
	uint64_t l_firing;     /* id of the timer whose callback runs, 0 if none */
	bool l_firing_deleted; /* that timer deleted itself */
	bool l_stop;
};

uint64_t loop_clock_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		fatal("clock_gettime(CLOCK_MONOTONIC)");
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));

	FD_ZERO(&loop->l_rset);
	FD_ZERO(&loop->l_wset);
	loop->l_maxfd = -1;
	loop->l_next_id = 1;
	loop->l_defer_tail = &loop->l_defer_head;
	loop->l_now = loop_clock_ms();
	return loop;
}

static void loop_run_deferred(struct loop *loop)
{
	struct loop_deferred *d;

	/* Items added while draining are appended and run in this drain. */
	while ((d = loop->l_defer_head) != NULL) {
		loop->l_defer_head = d->ld_next;
		if (loop->l_defer_head == NULL)
			loop->l_defer_tail = &loop->l_defer_head;
		d->ld_fn(d->ld_arg);
		free(d);
	}
}

void loop_free(struct loop *loop)
{
	struct loop_timer *t;

	if (loop == NULL)
		return;
	loop_run_deferred(loop);
	while ((t = loop->l_timers) != NULL) {
		loop->l_timers = t->lt_next;
		free(t);
	}
	free(loop);
}

int loop_watch(struct loop *loop, int fd, int mask, loop_io_fn *fn, void *arg)
{
	struct loop_fd *lf;

	if (fd < 0 || fd >= FD_SETSIZE) {
		log_errorx("descriptor %d cannot be watched: select() takes only descriptors below "
		           "FD_SETSIZE (%d)",
		           fd, FD_SETSIZE);
		return -1;
	}
	lf = &loop->l_fds[fd];
	lf->lf_mask |= mask & (LOOP_READ | LOOP_WRITE);
	lf->lf_fn = fn;
	lf->lf_arg = arg;
	if (mask & LOOP_READ)
		FD_SET(fd, &loop->l_rset);
	if (mask & LOOP_WRITE)
		FD_SET(fd, &loop->l_wset);
	if (fd > loop->l_maxfd)
		loop->l_maxfd = fd;
	return 0;
}

void loop_unwatch(struct loop *loop, int fd, int mask)
{
	struct loop_fd *lf;

	if (fd < 0 || fd >= FD_SETSIZE)
		return;
	lf = &loop->l_fds[fd];
	if (lf->lf_mask == 0)
		return;
	lf->lf_mask &= ~mask;
	if (mask & LOOP_READ)
		FD_CLR(fd, &loop->l_rset);
	if (mask & LOOP_WRITE)
		FD_CLR(fd, &loop->l_wset);
	if (lf->lf_mask != 0)
		return;
	lf->lf_fn = NULL;
	lf->lf_arg = NULL;
	if (fd == loop->l_maxfd) {
		while (loop->l_maxfd >= 0 && loop->l_fds[loop->l_maxfd].lf_mask == 0)
			loop->l_maxfd--;
	}
}

static void loop_timer_insert(struct loop *loop, struct loop_timer *t)
{
	struct loop_timer **pp = &loop->l_timers;

	/* Equal deadlines fire in the order they were set. */
	while (*pp != NULL && (*pp)->lt_when <= t->lt_when)
		pp = &(*pp)->lt_next;
	t->lt_next = *pp;
	*pp = t;
}

uint64_t loop_timer_add(struct loop *loop, int64_t ms, loop_timer_fn *fn, void *arg)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	if (ms < 0)
		ms = 0;
	t->lt_id = loop->l_next_id++;
	t->lt_when = loop_clock_ms() + (uint64_t)ms;
	t->lt_fn = fn;
	t->lt_arg = arg;
	loop_timer_insert(loop, t);
	return t->lt_id;
}

void loop_timer_del(struct loop *loop, uint64_t id)
{
	struct loop_timer **pp, *t;

	if (id != 0 && id == loop->l_firing) {
		loop->l_firing_deleted = true;
		return;
	}
	for (pp = &loop->l_timers; (t = *pp) != NULL; pp = &t->lt_next) {
		if (t->lt_id == id) {
			*pp = t->lt_next;
			free(t);
			return;
		}
	}
}

void loop_set_before_sleep(struct loop *loop, loop_hook_fn *fn, void *arg)
{
	loop->l_before_sleep = fn;
	loop->l_before_sleep_arg = arg;
}

void loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg)
{
	struct loop_deferred *d = xcalloc(1, sizeof(*d));

	d->ld_fn = fn;
	d->ld_arg = arg;
	*loop->l_defer_tail = d;
	loop->l_defer_tail = &d->ld_next;
}

uint64_t loop_now(const struct loop *loop)
{
	return loop->l_now;
}

/*
 * Fire the timers due now. A timer is unlinked before its callback runs, so
 * the callback may delete itself (then its return value is ignored),
 * delete others, or add timers. Each timer runs at most once per pass:
 * timers added now, and repeating ones rescheduled with interval 0, wait
 * for the next iteration. Both are inserted behind every timer that was
 * already due, so meeting one at the head ends the pass.
 */
static void loop_fire_timers(struct loop *loop)
{
	uint64_t last_id = loop->l_next_id, now = loop_clock_ms(), pass = ++loop->l_pass;
	struct loop_timer *t;

	while ((t = loop->l_timers) != NULL && t->lt_when <= now) {
		int64_t next;

		if (t->lt_id >= last_id || t->lt_pass == pass)
			break;
		t->lt_pass = pass;
		loop->l_timers = t->lt_next;
		loop->l_firing = t->lt_id;
		loop->l_firing_deleted = false;
		next = t->lt_fn(loop, t->lt_id, t->lt_arg);
		loop->l_firing = 0;
		if (next == LOOP_TIMER_STOP || next < 0 || loop->l_firing_deleted) {
			free(t);
		} else {
			t->lt_when = loop_clock_ms() + (uint64_t)next;
			loop_timer_insert(loop, t);
		}
	}
}

/*
 * select() said EBADF: a descriptor was closed while still watched (a bug
 * in the caller). Forget such descriptors, loudly, instead of failing
 * every later select() in a busy loop.
 */
static void loop_drop_closed(struct loop *loop)
{
	int fd;

	for (fd = 0; fd <= loop->l_maxfd; fd++) {
		if (loop->l_fds[fd].lf_mask == 0 || fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		log_errorx("descriptor %d was closed while watched; no longer watched", fd);
		loop_unwatch(loop, fd, LOOP_READ | LOOP_WRITE);
	}
}

int loop_run_once(struct loop *loop, int64_t timeout_ms)
{
	fd_set rset, wset;
	struct timeval tv, *tvp = NULL;
	int64_t wait = timeout_ms;
	int n, fd, maxfd, ret;

	loop->l_now = loop_clock_ms();
	if (loop->l_before_sleep != NULL)
		loop->l_before_sleep(loop, loop->l_before_sleep_arg);
	/* Deferred work queued outside callbacks (or by the hook) runs first. */
	loop_run_deferred(loop);
	if (loop->l_timers != NULL) {
		uint64_t now = loop_clock_ms();
		int64_t due = loop->l_timers->lt_when > now
		                      ? (int64_t)(loop->l_timers->lt_when - now)
		                      : 0;

		if (wait < 0 || due < wait)
			wait = due;
	}
	if (wait >= 0) {
		tv.tv_sec = (time_t)(wait / 1000);
		tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
		tvp = &tv;
	}
	rset = loop->l_rset;
	wset = loop->l_wset;
	maxfd = loop->l_maxfd;
	n = select(maxfd + 1, &rset, &wset, NULL, tvp);
	loop->l_now = loop_clock_ms();
	ret = n;
	if (n < 0) {
		if (errno == EINTR) {
			ret = 0;
		} else {
			log_error("select");
			if (errno == EBADF)
				loop_drop_closed(loop);
		}
		n = 0;
	}
	for (fd = 0; n > 0 && fd <= maxfd; fd++) {
		bool r = FD_ISSET(fd, &rset), w = FD_ISSET(fd, &wset);
		struct loop_fd *lf = &loop->l_fds[fd];

		if (!r && !w)
			continue;
		n -= (int)r + (int)w;
		/* Re-check the mask before each call: an earlier callback may have
		 * removed this watcher. */
		if (r && (lf->lf_mask & LOOP_READ))
			lf->lf_fn(loop, fd, LOOP_READ, lf->lf_arg);
		if (w && (lf->lf_mask & LOOP_WRITE))
			lf->lf_fn(loop, fd, LOOP_WRITE, lf->lf_arg);
	}
	loop_fire_timers(loop);
	loop_run_deferred(loop);
	return ret;
}

void loop_run(struct loop *loop)
{
	loop->l_stop = false;
	while (!loop->l_stop)
		loop_run_once(loop, -1);
}

void loop_stop(struct loop *loop)
{
	loop->l_stop = true;
}
