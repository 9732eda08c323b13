/*
 * buf: growable byte buffer (see buf.h). Capacity doubles; the consumed
 * prefix is reclaimed lazily, when room is needed and moving the live
 * bytes is cheaper than growing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define BUF_MIN_CAP 256

void buf_init(struct buf *b)
{
	b->b_data = NULL;
	b->b_off = b->b_len = b->b_cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->b_data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->b_off = b->b_len = 0;
}

void buf_compact(struct buf *b)
{
	size_t live = buf_len(b);

	if (b->b_off == 0)
		return;
	if (live > 0)
		memmove(b->b_data, b->b_data + b->b_off, live);
	b->b_off = 0;
	b->b_len = live;
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t live = buf_len(b), need, cap;

	if (buf_avail(b) >= extra)
		return;
	if (extra > (size_t)-1 / 2 - live)
		fatalx("out of memory (buffer of %zu + %zu bytes)", live, extra);
	need = live + extra;
	/* Reuse the consumed prefix when that alone makes enough room. */
	if (b->b_off > 0 && b->b_cap >= need) {
		buf_compact(b);
		return;
	}
	buf_compact(b);
	cap = b->b_cap > 0 ? b->b_cap : BUF_MIN_CAP;
	while (cap < need)
		cap *= 2;
	b->b_data = xrealloc(b->b_data, cap);
	b->b_cap = cap;
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	buf_reserve(b, 64);
	n = vsnprintf(buf_tail(b), buf_avail(b), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fatalx("buf_vappendf: bad format");
	if ((size_t)n >= buf_avail(b)) {
		/* vsnprintf wants room for the NUL it always writes. */
		buf_reserve(b, (size_t)n + 1);
		va_copy(ap2, ap);
		n = vsnprintf(buf_tail(b), buf_avail(b), fmt, ap2);
		va_end(ap2);
		if (n < 0)
			fatalx("buf_vappendf: bad format");
	}
	b->b_len += (size_t)n;
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vappendf(b, fmt, ap);
	va_end(ap);
}

void buf_append_uint(struct buf *b, unsigned long long v)
{
	char tmp[20]; /* 18446744073709551615: 20 digits */
	size_t n = sizeof(tmp);

	/* Digits from the right, then one copy: no printf on hot paths. */
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	buf_append(b, tmp + n, sizeof(tmp) - n);
}

void buf_append_int(struct buf *b, long long v)
{
	if (v < 0) {
		buf_putc(b, '-');
		/* Negate in unsigned arithmetic: -LLONG_MIN does not fit. */
		buf_append_uint(b, 0ULL - (unsigned long long)v);
		return;
	}
	buf_append_uint(b, (unsigned long long)v);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		fatalx("buf_consume: %zu bytes asked, %zu held", n, buf_len(b));
	b->b_off += n;
	if (b->b_off == b->b_len)
		b->b_off = b->b_len = 0;
}

void buf_produced(struct buf *b, size_t n)
{
	if (n > buf_avail(b))
		fatalx("buf_produced: %zu bytes written, %zu reserved", n, buf_avail(b));
	b->b_len += n;
}

void buf_truncate(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		fatalx("buf_truncate: %zu bytes kept, %zu held", n, buf_len(b));
	b->b_len = b->b_off + n;
}

void buf_shrink(struct buf *b, size_t keep)
{
	if (buf_len(b) != 0 || b->b_cap <= keep)
		return;
	free(b->b_data);
	buf_init(b);
}

int buf_read_fd(struct buf *b, int fd)
{
	for (;;) {
		ssize_t k;

		buf_reserve(b, 65536);
		k = read(fd, buf_tail(b), buf_avail(b));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return 0;
		buf_produced(b, (size_t)k);
	}
}

int buf_write_fd(const struct buf *b, int fd)
{
	const char *p = buf_data(b);
	size_t n = buf_len(b);

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int buf_replace_file(const struct buf *b, const char *path, const char *tmp)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = -1, saved;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (buf_write_fd(b, fd) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		return -1;
	/* The rename is durable once the directory is. */
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		saved = errno;
		close(fd);
		errno = saved;
	}
	free(dir);
	return rc;
}
