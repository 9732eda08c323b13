/*
 * buf: growable byte buffer with consume/compact. No I/O.
 *
 * Bytes live in b_data[b_off .. b_len); b_off advances on consume and the
 * buffer is compacted lazily when more room is needed. Allocation failure is
 * fatal (fatalx "out of memory"): callers never check.
 */
#ifndef OCTO_BUF_H
#define OCTO_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "compat.h"

struct buf {
	char *b_data;
	size_t b_off; /* first unconsumed byte */
	size_t b_len; /* end of valid bytes */
	size_t b_cap; /* allocated size */
};

#define BUF_INITIALIZER                                                                            \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Empty the buffer, keep the allocation. */
void buf_reset(struct buf *b);
/* buf_reserve's slow path: compact or grow. */
void buf_grow(struct buf *b, size_t extra);
void buf_append_str(struct buf *b, const char *s);
void buf_appendf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
void buf_vappendf(struct buf *b, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
/* Decimal text of v, as printf's %llu / %lld would write it (no padding). */
void buf_append_uint(struct buf *b, unsigned long long v);
void buf_append_int(struct buf *b, long long v);
/* Drop n bytes from the front (n <= buf_len). */
void buf_consume(struct buf *b, size_t n);
/* Move unconsumed bytes to the start of the allocation. */
void buf_compact(struct buf *b);
/* After writing n bytes directly at buf_tail() (after buf_reserve). */
void buf_produced(struct buf *b, size_t n);
/* Keep the first n bytes (n <= buf_len(b)), drop the rest. */
void buf_truncate(struct buf *b, size_t n);
/* Shrink the allocation back to at most `keep` bytes if it is empty and larger. */
void buf_shrink(struct buf *b, size_t keep);
/* Append everything read from fd until EOF. 0, or -1 with errno set. */
int buf_read_fd(struct buf *b, int fd);
/* Write all of b's bytes to fd (EINTR retried). 0, or -1 with errno set. */
int buf_write_fd(const struct buf *b, int fd);
/*
 * The one atomic file writer: b's bytes to tmp (created 0600, truncated),
 * fsync()ed, renamed over path, and path's directory fsync()ed, so path
 * holds the old contents or the new ones, never a mix. 0, or -1 with
 * errno set (tmp may remain; the caller decides).
 */
int buf_replace_file(const struct buf *b, const char *path, const char *tmp);

/* NULL for a buffer never grown (NULL + 0 is undefined behaviour in C). */
static inline char *buf_data(const struct buf *b)
{
	return b->b_data == NULL ? NULL : b->b_data + b->b_off;
}
static inline size_t buf_len(const struct buf *b)
{
	return b->b_len - b->b_off;
}
static inline char *buf_tail(const struct buf *b)
{
	return b->b_data == NULL ? NULL : b->b_data + b->b_len;
}
static inline size_t buf_avail(const struct buf *b)
{
	return b->b_cap - b->b_len;
}

/*
 * Make room for at least `extra` more bytes at buf_tail(). This and the
 * two below are inline: the hot paths append a few bytes at a time to a
 * buffer that already has the room.
 */
static inline void buf_reserve(struct buf *b, size_t extra)
{
	if (buf_avail(b) < extra)
		buf_grow(b, extra);
}

static inline void buf_append(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	buf_reserve(b, len);
	memcpy(buf_tail(b), data, len);
	b->b_len += len;
}

static inline void buf_putc(struct buf *b, int c)
{
	buf_reserve(b, 1);
	b->b_data[b->b_len++] = (char)c;
}

#endif
