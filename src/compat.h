/*
 * compat.h: small portable helpers shared by every module (no state).
 */
#ifndef OCTO_COMPAT_H
#define OCTO_COMPAT_H

#include <stddef.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN     __attribute__((noreturn))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_NORETURN
#endif

#endif
