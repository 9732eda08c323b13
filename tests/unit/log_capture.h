/*
 * log_capture.h: for unit tests that check log lines. The log goes to
 * stderr; between capture_begin() and capture_finish() stderr is a
 * temporary file whose text capture_finish() hands back. count_of()
 * counts a string's occurrences in such text.
 */
#ifndef OCTO_LOG_CAPTURE_H
#define OCTO_LOG_CAPTURE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_compat.h"

static int capture_saved = -1; /* the real stderr while capturing */
static FILE *capture_file;

static inline void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	ck_assert_ptr_nonnull(capture_file);
	capture_saved = dup(2);
	ck_assert_int_ge(capture_saved, 0);
	ck_assert_int_ge(dup2(fileno(capture_file), 2), 0);
}

/* Restore stderr; what was logged meanwhile goes to out (cut to outlen). */
static inline void capture_finish(char *out, size_t outlen)
{
	size_t n;

	fflush(stderr);
	ck_assert_int_ge(dup2(capture_saved, 2), 0);
	close(capture_saved);
	capture_saved = -1;
	rewind(capture_file);
	n = fread(out, 1, outlen - 1, capture_file);
	out[n] = '\0';
	fclose(capture_file);
}

/* Occurrences of `what` in `text`. */
static inline int count_of(const char *text, const char *what)
{
	int n = 0;

	for (text = strstr(text, what); text != NULL; text = strstr(text + 1, what))
		n++;
	return n;
}

#endif
