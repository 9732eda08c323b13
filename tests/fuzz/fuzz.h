/*
 * fuzz.h: what every libFuzzer harness here shares: the entry point's
 * prototype and an assertion that aborts (so libFuzzer keeps the input)
 * whatever NDEBUG says.
 */
#ifndef OCTO_FUZZ_H
#define OCTO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
