/*
 * log: levelled logging to stderr (default) or syslog.
 *
 * log_warn/log_error append ": strerror(errno)"; the x variants do not
 * (OpenBSD convention). fatal/fatalx log and exit(1): only for broken
 * invariants or out-of-memory, never for bad input.
 */
#ifndef OCTO_LOG_H
#define OCTO_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "compat.h"

enum log_level { LOGL_ERROR = 0, LOGL_WARN = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

void log_init(enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> 0 and *out, else -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_error(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_warn(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_info(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) ATTR_PRINTF(1, 2);
void fatal(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;
void fatalx(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

/* malloc/calloc/realloc/strdup that fatalx() on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * Rate-limited warnings, for log sites that a client or a full disk can
 * make repeat (one line per refused connection, per failed write). Each
 * such site has its own static struct log_limit, its "message kind":
 *
 *	static struct log_limit lim;
 *	log_warnx_limited(&lim, "http %s: refused ...", peer);
 *
 * The first occurrence is written at once. Those within
 * LOG_LIMIT_INTERVAL_MS of the last line written for the kind are
 * counted, not written; the next line of the kind is a summary, the text
 * of the latest occurrence followed by " (repeated 2,121 times in the
 * last 45 s)": the occurrences since the kind's last line, the seconds
 * since it. The summary is written by the next occurrence once the
 * interval has passed, or by log_flush_limits() (main calls it on every
 * loop iteration, and for all kinds at shutdown), so a burst that stops
 * is still summarised within about the interval. So a kind writes at
 * most one line per interval after its first.
 *
 * Never use these for what signals data loss (a message dropped, a
 * delivery given up, a record of the spool skipped): those are written
 * every time with the plain functions above.
 */
#define LOG_LIMIT_INTERVAL_MS 10000

struct log_limit {
	struct log_limit *ll_next; /* the kinds seen so far, for log_flush_limits() */
	bool ll_listed;
	uint64_t ll_last_ms;    /* log clock: when the kind's last line was written */
	uint64_t ll_suppressed; /* occurrences since that line */
	enum log_level ll_level;
	char ll_text[256]; /* the latest suppressed occurrence, formatted */
};

void log_warnx_limited(struct log_limit *lim, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* With ": strerror(errno)" appended, as log_warn. */
void log_warn_limited(struct log_limit *lim, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* At info, for a state that a load can make flap (backpressure on and off). */
void log_info_limited(struct log_limit *lim, const char *fmt, ...) ATTR_PRINTF(2, 3);
/*
 * Write the summary of every kind whose interval has passed with
 * occurrences untold; with all, of every kind with occurrences untold
 * (at shutdown, so no count is lost).
 */
void log_flush_limits(bool all);
/* The clock of the above, milliseconds (default: CLOCK_MONOTONIC); for tests. */
void log_set_clock(uint64_t (*now_ms)(void));

#endif
