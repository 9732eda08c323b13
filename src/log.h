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

#endif
