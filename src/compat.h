/*
 * compat.h: small portable helpers shared by every module (no state).
 */
#ifndef OCTO_COMPAT_H
#define OCTO_COMPAT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The one size of every error buffer (the err/errlen pairs of all modules,
 * and the messages built from them): room for a reason with its context.
 */
#define ERR_LEN 1024
/*
 * snprintf() of an error text built from another one ("connect: %s"): at
 * most ERR_LEN - 1 bytes, cut on purpose (the compiler is told so).
 */
#define err_printf(buf, len, ...)                                                                  \
	do {                                                                                       \
		if (snprintf((buf), (len), __VA_ARGS__) >= (int)(len))                             \
			(buf)[(len)-1] = '\0';                                                     \
	} while (0)

/* Value of a hex digit (either case), -1 for any other byte. */
static inline int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN     __attribute__((noreturn))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_NORETURN
#endif

/*
 * The wall clock in seconds, as time(NULL), through clock_gettime(), which
 * the loop's monotonic clock uses too (the vDSO: no system call). The
 * coarse clock where there is one: it is what time() reads on Linux, so
 * the two never disagree at a second's edge (the fine clock can be a
 * tick ahead of time()).
 */
static inline time_t wall_clock(void)
{
	struct timespec ts;

#ifdef CLOCK_REALTIME_COARSE
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
#else
	clock_gettime(CLOCK_REALTIME, &ts);
#endif
	return ts.tv_sec;
}

#endif
