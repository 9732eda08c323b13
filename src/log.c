/*
 * log: levelled logging to stderr or syslog (see log.h).
 *
 * One line per message. Control characters in the formatted text become
 * '?', so bytes from the network can never forge a log line. On stderr a
 * local ISO-8601 timestamp is prefixed unless stderr is the systemd
 * journal, which stamps lines itself.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static enum log_level log_level_cur = LOGL_INFO;
static bool log_to_syslog;
static bool log_stamp = true;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

/* Digits only, no sign or blanks; *end gets the first byte after them. */
static bool log_parse_ull(const char *s, const char **end, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (ULLONG_MAX - (unsigned)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*end = s;
	*out = v;
	return true;
}

/*
 * systemd sets JOURNAL_STREAM to "<dev>:<ino>" of the journal socket it
 * connected to our stdout/stderr. It is inherited by children whose stderr
 * may point elsewhere, so it only counts when it matches stderr itself.
 */
static bool log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM"), *p;
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || !log_parse_ull(js, &p, &dev) || *p != ':' ||
	    !log_parse_ull(p + 1, &p, &ino) || *p != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level, bool use_syslog)
{
	log_level_cur = level;
	log_to_syslog = use_syslog;
	log_stamp = !log_stderr_is_journal();
	if (use_syslog)
		openlog("octomqttd", LOG_PID, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

int log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < nitems(log_names); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= nitems(log_names))
		return "unknown";
	return log_names[level];
}

/*
 * One line, one write(2) to stderr: lines of several processes sharing the
 * stream do not interleave, and stdio's buffering is not involved.
 */
static void log_write(const char *stamp, const char *level, const char *msg)
{
	char line[LOG_LINE_MAX + 64];
	int len = snprintf(line, sizeof(line), "%soctomqttd: %s: %s\n", stamp, level, msg);
	size_t n = len < 0 ? 0 : (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
	size_t off = 0;
	int saved = errno;

	if (n > 0 && line[n - 1] != '\n')
		line[n - 1] = '\n'; /* cut short: still one line */
	while (off < n) {
		ssize_t k = write(STDERR_FILENO, line + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break; /* nowhere to say so */
		off += (size_t)k;
	}
	errno = saved;
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
        ATTR_PRINTF(3, 0);

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[LOG_LINE_MAX], stamp[32] = "";
	size_t n, i;

	if (level > log_level_cur)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (errnum != 0 && n < sizeof(msg) - 1)
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	for (i = 0; msg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f)
			msg[i] = '?';
	}
	if (log_to_syslog) {
		syslog(prio[level], "%s", msg);
		return;
	}
	if (log_stamp) {
		time_t t = wall_clock();
		struct tm tm;

		if (localtime_r(&t, &tm) != NULL)
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S ", &tm);
	}
	log_write(stamp, log_names[level], msg);
}

static void log_emit_fmt(enum log_level level, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void log_emit_fmt(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, 0, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level, with_errno)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
                                                                                                   \
		va_start(ap, fmt);                                                                 \
		log_emit(level, with_errno ? saved : 0, fmt, ap);                                  \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_error, LOGL_ERROR, 1)
LOG_FN(log_errorx, LOGL_ERROR, 0)
LOG_FN(log_warn, LOGL_WARN, 1)
LOG_FN(log_warnx, LOGL_WARN, 0)
LOG_FN(log_info, LOGL_INFO, 0)
LOG_FN(log_debug, LOGL_DEBUG, 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOGL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOGL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Rate-limited warnings (see log.h). The kinds are static structs of
 * their call sites, chained on first use so log_flush_limits() can find
 * them; nothing is allocated.
 */
static struct log_limit *log_limits;

static uint64_t log_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t (*log_clock)(void) = log_monotonic_ms;

void log_set_clock(uint64_t (*now_ms)(void))
{
	log_clock = now_ms != NULL ? now_ms : log_monotonic_ms;
}

/* n with a comma every three digits: 2121 -> "2,121". */
static void log_group_digits(char *out, size_t outlen, uint64_t n)
{
	char digits[24];
	size_t len, i, o = 0;

	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	len = strlen(digits);
	for (i = 0; i < len && o + 2 < outlen; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

/* The kind's summary line: its latest text, how often, over how long. */
static void log_limit_summary(struct log_limit *lim, uint64_t count, uint64_t now)
{
	char num[32];

	log_group_digits(num, sizeof(num), count);
	log_emit_fmt(lim->ll_level, "%s (repeated %s %s in the last %llu s)", lim->ll_text, num,
	             count == 1 ? "time" : "times",
	             (unsigned long long)((now - lim->ll_last_ms + 500) / 1000));
	lim->ll_last_ms = now;
	lim->ll_suppressed = 0;
}

static void log_limit_remember(struct log_limit *lim, enum log_level level, int errnum,
                               const char *fmt, va_list ap) ATTR_PRINTF(4, 0);

/* The kind's latest text (with strerror(errnum) when set) and level. */
static void log_limit_remember(struct log_limit *lim, enum log_level level, int errnum,
                               const char *fmt, va_list ap)
{
	size_t n;

	vsnprintf(lim->ll_text, sizeof(lim->ll_text), fmt, ap);
	n = strlen(lim->ll_text);
	if (errnum != 0 && n < sizeof(lim->ll_text) - 1)
		snprintf(lim->ll_text + n, sizeof(lim->ll_text) - n, ": %s", strerror(errnum));
	lim->ll_level = level;
}

static void log_limited(struct log_limit *lim, enum log_level level, int errnum, const char *fmt,
                        va_list ap) ATTR_PRINTF(4, 0);

static void log_limited(struct log_limit *lim, enum log_level level, int errnum, const char *fmt,
                        va_list ap)
{
	uint64_t now = log_clock();

	if (level > log_level_cur)
		return;
	if (!lim->ll_listed) {
		lim->ll_listed = true;
		lim->ll_next = log_limits;
		log_limits = lim;
	} else if (now - lim->ll_last_ms < LOG_LIMIT_INTERVAL_MS) {
		/* Within the interval: remember, count, write nothing. */
		log_limit_remember(lim, level, errnum, fmt, ap);
		lim->ll_suppressed++;
		return;
	}
	if (lim->ll_suppressed > 0) {
		/* The interval is over: this occurrence carries the summary. */
		log_limit_remember(lim, level, errnum, fmt, ap);
		log_limit_summary(lim, lim->ll_suppressed + 1, now);
		return;
	}
	lim->ll_last_ms = now;
	log_emit(level, errnum, fmt, ap);
}

void log_warnx_limited(struct log_limit *lim, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_limited(lim, LOGL_WARN, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warn_limited(struct log_limit *lim, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_limited(lim, LOGL_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_flush_limits(bool all)
{
	struct log_limit *lim;
	uint64_t now;

	if (log_limits == NULL)
		return;
	now = log_clock();
	for (lim = log_limits; lim != NULL; lim = lim->ll_next) {
		if (lim->ll_suppressed > 0 &&
		    (all || now - lim->ll_last_ms >= LOG_LIMIT_INTERVAL_MS))
			log_limit_summary(lim, lim->ll_suppressed, now);
	}
}

void log_info_limited(struct log_limit *lim, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_limited(lim, LOGL_INFO, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}
