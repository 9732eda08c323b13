/*
 * compat.h: small portable helpers shared by every module (no state).
 */
#ifndef OCTO_COMPAT_H
#define OCTO_COMPAT_H

#include <stddef.h>
#include <time.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN     __attribute__((noreturn))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_NORETURN
#endif

/*
 * The wall clock in seconds, as time(NULL), through clock_gettime(), which
 * the loop's monotonic clock uses too (the vDSO: no system call).
 */
static inline time_t wall_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

#endif
