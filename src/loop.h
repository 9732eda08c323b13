/*
 * loop: the daemon's only select() call. fd watchers with read/write
 * callbacks and a user pointer, monotonic timers (one-shot or repeating),
 * a before-sleep hook, and deferred work that runs after all callbacks of
 * an iteration (so nothing is freed inside its own callback).
 *
 * Descriptors >= FD_SETSIZE are refused: loop_watch() logs an error and
 * returns -1; they are never passed to FD_SET.
 *
 * Callbacks may add/remove watchers and timers, including their own. A
 * watcher removed during an iteration is not called again in it.
 */
#ifndef OCTO_LOOP_H
#define OCTO_LOOP_H

#include <stdint.h>

#define LOOP_READ  0x1
#define LOOP_WRITE 0x2

/* Timer callback return value: do not fire again. */
#define LOOP_TIMER_STOP (-1)

struct loop;

typedef void loop_io_fn(struct loop *loop, int fd, int mask, void *arg);
/* Returns the next interval in ms (>= 0) or LOOP_TIMER_STOP. */
typedef int64_t loop_timer_fn(struct loop *loop, uint64_t id, void *arg);
typedef void loop_hook_fn(struct loop *loop, void *arg);
typedef void loop_defer_fn(void *arg);

struct loop *loop_new(void);
/* Frees the loop and runs pending deferred work; does not close fds. */
void loop_free(struct loop *loop);

/*
 * Watch fd for the events in mask (adds to any already watched); one
 * callback and arg per fd (the last call wins). 0, or -1 if fd is out of
 * range (logged).
 */
int loop_watch(struct loop *loop, int fd, int mask, loop_io_fn *fn, void *arg);
/* Stop watching the events in mask; the fd is forgotten when none remain. */
void loop_unwatch(struct loop *loop, int fd, int mask);

/*
 * Fire fn after ms milliseconds (negative counts as 0) from the clock now;
 * returns an id > 0, increasing from 1. fn's return value reschedules it
 * that many ms after fn returned. A timer runs at most once per
 * iteration; one added by a timer callback runs in a later iteration.
 */
uint64_t loop_timer_add(struct loop *loop, int64_t ms, loop_timer_fn *fn, void *arg);
/* Cancel a timer; unknown or fired ids are ignored. */
void loop_timer_del(struct loop *loop, uint64_t id);

/*
 * Called before each select(); one hook (main's group commit of
 * queue.spool, as Redis's beforeSleep).
 */
void loop_set_before_sleep(struct loop *loop, loop_hook_fn *fn, void *arg);
/* Run fn(arg) after the current iteration's callbacks (deferred close). */
void loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg);

/*
 * Monotonic milliseconds, sampled when an iteration starts and again when
 * select() returns: constant during the iteration's callbacks.
 */
uint64_t loop_now(const struct loop *loop);
/* Monotonic milliseconds, read from the clock now. */
uint64_t loop_clock_ms(void);

/*
 * One iteration: before-sleep hook, select() for at most timeout_ms (-1:
 * until an event; the nearest timer shortens the wait), fd callbacks (read
 * before write), due timers, deferred work. Returns select()'s count of
 * ready events (0 on timeout or EINTR, so signal flags can be looked at),
 * or -1 if select() failed otherwise (logged; a watched descriptor that was
 * closed is dropped, so the loop does not spin).
 */
int loop_run_once(struct loop *loop, int64_t timeout_ms);
/*
 * Iterate until loop_stop(). Public for the tests: the loop's whole API as
 * in Redis ae; main calls loop_run_once() itself to act on signal flags.
 */
void loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
