/*
 * fakebroker: a scripted MQTT broker for the integration tests.
 *
 *   fakebroker [-D NAME=BYTES]... SCENARIO PORT
 *
 * Listens on 127.0.0.1:PORT and plays SCENARIO, one command a line. The
 * daemon's bytes must be exactly the ones expected; the answers are sent
 * byte for byte. The idea is the mosquitto project's client tests; the
 * code is ours.
 *
 * Commands:
 *   accept               wait for a connection (closing the current one)
 *   expect BYTES         the next bytes from the daemon are exactly these
 *   send BYTES           write these bytes to the daemon
 *   close                close the connection
 *   expect-closed MS     the daemon closes the connection within MS ms and
 *                        sends nothing more before that
 *   idle MS              nothing arrives for MS ms, and no close either
 *   mark                 remember the time now
 *   elapsed-max MS       at most MS ms have passed since the mark
 *   elapsed-min MS       at least MS ms have passed since the mark
 *   timeout MS           wait at most MS ms in accept/expect (default 10000)
 *   note TEXT            print "note TEXT" on stdout (the driver waits for it)
 *   repeat N             run the lines up to the matching `end` N times
 *                        (1-1000000; blocks nest); `end` closes the block
 *   define NAME BYTES    $NAME stands for BYTES from here on
 *   include FILE         read FILE (relative to this file's folder) here
 * `#` starts a comment outside quotes; blank lines are ignored.
 *
 * BYTES is a list of:
 *   3a 0002 c000         hex, two digits a byte, any number of bytes a word
 *   "text"               the bytes of text (\" and \\ escape)
 *   s"text"              an MQTT string: 2-byte big-endian length, then text
 *   [ BYTES ]            an MQTT remaining length (1-4 bytes), then BYTES
 *   $NAME                a definition (from `define` or -D NAME=BYTES)
 *
 * Progress goes to stdout, one line a step. Exit status: 0 when the whole
 * scenario ran, 1 on a mismatch, a timeout or a broken connection (with
 * expected and received bytes in hex), 2 on bad usage or a bad scenario,
 * 3 when PORT cannot be listened on (the driver then picks another).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "compat.h" /* hex_value */

#define FB_MAX_LINES  4096
#define FB_MAX_DEFS   128
#define FB_MAX_BYTES  65536
#define FB_MAX_DEPTH  8 /* includes, and repeat blocks, nested */
#define FB_DEFAULT_MS 10000
#define FB_CONTEXT_MS 200 /* after a mismatch: how long to collect more bytes to show */
#define FB_SHOW_BYTES 96

struct fb_bytes {
	unsigned char b[FB_MAX_BYTES];
	size_t n;
};

struct fb_line {
	char *text;
	const char *file;
	unsigned no;
};

struct fb_def {
	char *name;
	struct fb_bytes *val;
};

static struct fb_line fb_lines[FB_MAX_LINES];
static size_t fb_nlines;
static struct fb_def fb_defs[FB_MAX_DEFS];
static size_t fb_ndefs;
static const struct fb_line *fb_cur; /* the line being run, for messages */

static int fb_lfd = -1, fb_fd = -1;
static struct fb_bytes fb_in; /* received, not yet matched */
static long fb_timeout = FB_DEFAULT_MS;
static uint64_t fb_mark;

/* The repeat blocks being run: the line of each `repeat`, passes left. */
static struct {
	size_t line;
	long left;
} fb_rep[FB_MAX_DEPTH];
static size_t fb_nrep;

static uint64_t fb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fb_where(FILE *f)
{
	if (fb_cur != NULL)
		fprintf(f, "%s:%u: ", fb_cur->file, fb_cur->no);
}

static void fb_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fb_die(int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fakebroker: ");
	fb_where(stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* The driver keeps stdout; say it there too. */
	printf("FAILED: ");
	fb_where(stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(status);
}

static void fb_hex(FILE *f, const char *label, const unsigned char *b, size_t n)
{
	size_t i;

	fprintf(f, "  %-10s", label);
	for (i = 0; i < n && i < FB_SHOW_BYTES; i++)
		fprintf(f, "%s%02x", i == 0 ? "" : " ", b[i]);
	if (n > FB_SHOW_BYTES)
		fprintf(f, " ... (%zu bytes)", n);
	if (n == 0)
		fprintf(f, "(nothing)");
	fputc('\n', f);
}

static void fb_show(const char *what, const unsigned char *want, size_t wn,
                    const unsigned char *got, size_t gn)
{
	FILE *outs[2] = {stdout, stderr};
	size_t i;

	for (i = 0; i < 2; i++) {
		fprintf(outs[i], "FAILED: ");
		fb_where(outs[i]);
		fprintf(outs[i], "%s\n", what);
		if (want != NULL) {
			size_t k = 0;

			while (k < wn && k < gn && want[k] == got[k])
				k++;
			if (k < wn && k < gn)
				fprintf(outs[i], "  first difference at byte %zu\n", k);
			fb_hex(outs[i], "expected:", want, wn);
		}
		fb_hex(outs[i], "got:", got, gn);
		fflush(outs[i]);
	}
	exit(1);
}

/* Scenario reading: lines of FILE (and its includes) appended to fb_lines. */
static void fb_read(const char *path, int depth)
{
	char buf[8192];
	unsigned no = 0;
	FILE *f;

	if (depth > FB_MAX_DEPTH)
		fb_die(2, "%s: includes nested too deep", path);
	f = fopen(path, "r");
	if (f == NULL)
		fb_die(2, "%s: %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *s = buf, *e;
		bool quoted = false;

		no++;
		if (strchr(buf, '\n') == NULL && !feof(f))
			fb_die(2, "%s:%u: line too long", path, no);
		/* Cut the comment: `#` outside quotes. */
		for (e = s; *e != '\0'; e++) {
			if (*e == '\\' && quoted && e[1] != '\0')
				e++;
			else if (*e == '"')
				quoted = !quoted;
			else if (*e == '#' && !quoted)
				break;
		}
		*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			*--e = '\0';
		if (*s == '\0')
			continue;
		if (strncmp(s, "include ", 8) == 0) {
			const char *name = s + 8, *slash = strrchr(path, '/');
			char inc[4096];

			while (*name == ' ')
				name++;
			if (name[0] == '/' || slash == NULL)
				snprintf(inc, sizeof(inc), "%s", name);
			else
				snprintf(inc, sizeof(inc), "%.*s/%s", (int)(slash - path), path,
				         name);
			fb_read(inc, depth + 1);
			continue;
		}
		if (fb_nlines == FB_MAX_LINES)
			fb_die(2, "%s:%u: too many lines", path, no);
		fb_lines[fb_nlines].text = strdup(s);
		fb_lines[fb_nlines].file = strdup(path);
		fb_lines[fb_nlines].no = no;
		fb_nlines++;
	}
	fclose(f);
}

static void fb_put(struct fb_bytes *o, const void *p, size_t n)
{
	if (o->n + n > sizeof(o->b))
		fb_die(2, "more than %d bytes", FB_MAX_BYTES);
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static const struct fb_bytes *fb_lookup(const char *name, size_t len)
{
	size_t i;

	/* The latest definition wins. */
	for (i = fb_ndefs; i-- > 0;) {
		if (strlen(fb_defs[i].name) == len && memcmp(fb_defs[i].name, name, len) == 0)
			return fb_defs[i].val;
	}
	return NULL;
}

/* A quoted text at *pp (after its opening quote) into o. */
static void fb_parse_text(const char **pp, struct fb_bytes *o)
{
	const char *p = *pp;

	for (;; p++) {
		if (*p == '\0')
			fb_die(2, "unterminated \"");
		if (*p == '"')
			break;
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		fb_put(o, p, 1);
	}
	*pp = p + 1;
}

/* BYTES from *pp into o, up to the end or (inside a group) a `]`. */
static void fb_parse_bytes(const char **pp, struct fb_bytes *o, int depth)
{
	const char *p = *pp;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0') {
			if (depth > 0)
				fb_die(2, "missing ]");
			break;
		}
		if (*p == ']') {
			if (depth == 0)
				fb_die(2, "] without [");
			p++;
			break;
		}
		if (*p == '"') {
			p++;
			fb_parse_text(&p, o);
		} else if (*p == 's' && p[1] == '"') {
			struct fb_bytes *t = calloc(1, sizeof(*t));
			unsigned char len[2];

			p += 2;
			fb_parse_text(&p, t);
			len[0] = (unsigned char)(t->n >> 8);
			len[1] = (unsigned char)t->n;
			fb_put(o, len, 2);
			fb_put(o, t->b, t->n);
			free(t);
		} else if (*p == '[') {
			struct fb_bytes *g = calloc(1, sizeof(*g));
			unsigned char rl[4];
			size_t n = 0, v;

			p++;
			fb_parse_bytes(&p, g, depth + 1);
			/* Remaining length (MQTT 3.1.1 §2.2.3): 7 bits a byte, low first. */
			v = g->n;
			do {
				rl[n] = (unsigned char)(v % 128);
				v /= 128;
				if (v > 0)
					rl[n] |= 0x80;
				n++;
			} while (v > 0 && n < 4);
			fb_put(o, rl, n);
			fb_put(o, g->b, g->n);
			free(g);
		} else if (*p == '$') {
			const char *name = ++p;
			const struct fb_bytes *d;

			while (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			       (*p >= '0' && *p <= '9'))
				p++;
			d = fb_lookup(name, (size_t)(p - name));
			if (d == NULL)
				fb_die(2, "$%.*s is not defined", (int)(p - name), name);
			fb_put(o, d->b, d->n);
		} else if (hex_value((unsigned char)*p) >= 0) {
			while (hex_value((unsigned char)*p) >= 0) {
				unsigned char c;

				if (hex_value((unsigned char)p[1]) < 0)
					fb_die(2, "odd number of hex digits");
				c = (unsigned char)(hex_value((unsigned char)p[0]) * 16 +
				                    hex_value((unsigned char)p[1]));
				fb_put(o, &c, 1);
				p += 2;
			}
			if (*p != '\0' && *p != ' ' && *p != '\t' && *p != ']')
				fb_die(2, "bad character '%c' after hex digits", *p);
		} else {
			fb_die(2, "bad character '%c' in bytes", *p);
		}
	}
	*pp = p;
}

static void fb_define(const char *name, size_t len, const char *spec)
{
	struct fb_bytes *v = calloc(1, sizeof(*v));

	if (fb_ndefs == FB_MAX_DEFS)
		fb_die(2, "too many definitions");
	fb_parse_bytes(&spec, v, 0);
	fb_defs[fb_ndefs].name = strndup(name, len);
	fb_defs[fb_ndefs].val = v;
	fb_ndefs++;
}

static long fb_ms(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 3600000)
		fb_die(2, "expected milliseconds (0-3600000), got '%s'", s);
	return v;
}

/*
 * Wait for the connection to be readable until `deadline`; read what is
 * there into fb_in. 1: bytes read; 0: the deadline passed; -1: closed.
 */
static int fb_fill(uint64_t deadline)
{
	struct pollfd pfd = {.fd = fb_fd, .events = POLLIN};
	uint64_t now = fb_now();
	ssize_t n;
	int r;

	if (fb_fd < 0)
		fb_die(1, "no connection (use accept)");
	r = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
	if (r < 0 && errno != EINTR)
		fb_die(2, "poll: %s", strerror(errno));
	if (r <= 0)
		return 0;
	if (fb_in.n == sizeof(fb_in.b))
		fb_die(1, "more than %d bytes received and not expected", FB_MAX_BYTES);
	n = read(fb_fd, fb_in.b + fb_in.n, sizeof(fb_in.b) - fb_in.n);
	if (n < 0 && errno != ECONNRESET)
		fb_die(1, "read: %s", strerror(errno));
	if (n <= 0)
		return -1;
	fb_in.n += (size_t)n;
	return 1;
}

static void fb_consume(size_t n)
{
	memmove(fb_in.b, fb_in.b + n, fb_in.n - n);
	fb_in.n -= n;
}

static void fb_expect(const struct fb_bytes *want)
{
	uint64_t deadline = fb_now() + (uint64_t)fb_timeout;

	for (;;) {
		size_t n = fb_in.n < want->n ? fb_in.n : want->n;
		int r;

		if (memcmp(fb_in.b, want->b, n) != 0) {
			/* Collect a little more so the report shows the packet. */
			uint64_t more = fb_now() + FB_CONTEXT_MS;

			while (fb_in.n < want->n + 16 && fb_fill(more) > 0)
				;
			fb_show("expect: different bytes", want->b, want->n, fb_in.b, fb_in.n);
		}
		if (fb_in.n >= want->n)
			break;
		r = fb_fill(deadline);
		if (r == 0)
			fb_show("expect: timed out", want->b, want->n, fb_in.b, fb_in.n);
		if (r < 0)
			fb_show("expect: the daemon closed the connection", want->b, want->n,
			        fb_in.b, fb_in.n);
	}
	fb_consume(want->n);
}

static void fb_close(void)
{
	if (fb_fd >= 0)
		close(fb_fd);
	fb_fd = -1;
	fb_in.n = 0;
}

static void fb_accept(void)
{
	struct pollfd pfd = {.fd = fb_lfd, .events = POLLIN};
	int r;

	fb_close();
	r = poll(&pfd, 1, (int)fb_timeout);
	if (r < 0)
		fb_die(2, "poll: %s", strerror(errno));
	if (r == 0)
		fb_die(1, "accept: no connection within %ld ms", fb_timeout);
	fb_fd = accept(fb_lfd, NULL, NULL);
	if (fb_fd < 0)
		fb_die(1, "accept: %s", strerror(errno));
}

static void fb_send(const struct fb_bytes *b)
{
	size_t off = 0;

	if (fb_fd < 0)
		fb_die(1, "send: no connection (use accept)");
	while (off < b->n) {
		ssize_t n = send(fb_fd, b->b + off, b->n - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fb_die(1, "send: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* Nothing may arrive for ms; closed == true: the connection must close. */
static void fb_quiet(long ms, bool closed)
{
	uint64_t deadline = fb_now() + (uint64_t)ms;
	int r;

	if (fb_in.n > 0)
		fb_show(closed ? "expect-closed: bytes not expected" : "idle: bytes not expected",
		        NULL, 0, fb_in.b, fb_in.n);
	r = fb_fill(deadline);
	if (r > 0) {
		uint64_t more = fb_now() + FB_CONTEXT_MS;

		while (fb_fill(more) > 0)
			;
		fb_show(closed ? "expect-closed: bytes instead of a close" : "idle: bytes received",
		        NULL, 0, fb_in.b, fb_in.n);
	}
	if (closed && r == 0)
		fb_die(1, "expect-closed: still open after %ld ms", ms);
	if (!closed && r < 0)
		fb_die(1, "idle: the daemon closed the connection");
	if (closed)
		fb_close();
}

static void fb_run(void)
{
	size_t i;

	for (i = 0; i < fb_nlines; i++) {
		char *cmd = fb_lines[i].text, *arg = strchr(cmd, ' ');
		size_t clen = arg != NULL ? (size_t)(arg - cmd) : strlen(cmd);
		struct fb_bytes *b;

		fb_cur = &fb_lines[i];
		if (arg == NULL)
			arg = cmd + clen;
		while (*arg == ' ' || *arg == '\t')
			arg++;
#define IS(word) (clen == strlen(word) && memcmp(cmd, word, clen) == 0)
		if (IS("expect") || IS("send")) {
			const char *p = arg;

			b = calloc(1, sizeof(*b));
			fb_parse_bytes(&p, b, 0);
			if (b->n == 0)
				fb_die(2, "no bytes");
			if (IS("expect"))
				fb_expect(b);
			else
				fb_send(b);
			free(b);
		} else if (IS("accept")) {
			fb_accept();
		} else if (IS("close")) {
			fb_close();
		} else if (IS("expect-closed")) {
			fb_quiet(fb_ms(arg), true);
		} else if (IS("idle")) {
			fb_quiet(fb_ms(arg), false);
		} else if (IS("mark")) {
			fb_mark = fb_now();
		} else if (IS("elapsed-max") || IS("elapsed-min")) {
			long ms = fb_ms(arg), took = (long)(fb_now() - fb_mark);

			if (IS("elapsed-max") ? took > ms : took < ms)
				fb_die(1, "%.*s %ld: %ld ms passed since the mark", (int)clen, cmd,
				       ms, took);
			printf("%s:%u: %ld ms since the mark\n", fb_cur->file, fb_cur->no, took);
		} else if (IS("timeout")) {
			fb_timeout = fb_ms(arg);
		} else if (IS("note")) {
			printf("note %s\n", arg);
		} else if (IS("repeat")) {
			char *end;
			long n;

			errno = 0;
			n = strtol(arg, &end, 10);
			if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > 1000000)
				fb_die(2, "repeat N: N is 1-1000000, got '%s'", arg);
			if (fb_nrep == FB_MAX_DEPTH)
				fb_die(2, "repeat blocks nested too deep");
			fb_rep[fb_nrep].line = i;
			fb_rep[fb_nrep].left = n;
			fb_nrep++;
		} else if (IS("end")) {
			if (fb_nrep == 0)
				fb_die(2, "end without repeat");
			/* Back to the line after `repeat`, or out of the block. */
			if (--fb_rep[fb_nrep - 1].left > 0)
				i = fb_rep[fb_nrep - 1].line;
			else
				fb_nrep--;
		} else if (IS("define")) {
			const char *name = arg, *spec = strchr(arg, ' ');

			if (spec == NULL)
				fb_die(2, "define NAME BYTES");
			fb_define(name, (size_t)(spec - name), spec + 1);
		} else {
			fb_die(2, "unknown command '%.*s'", (int)clen, cmd);
		}
#undef IS
		printf("%s:%u: ok %s\n", fb_cur->file, fb_cur->no, cmd);
		fflush(stdout);
	}
	if (fb_nrep > 0)
		fb_die(2, "repeat without end");
	fb_cur = NULL;
}

static void fb_listen(const char *port_s)
{
	struct sockaddr_in sa;
	char *end;
	long port = strtol(port_s, &end, 10);
	int one = 1;

	if (*port_s == '\0' || *end != '\0' || port < 1 || port > 65535)
		fb_die(2, "bad port '%s'", port_s);
	fb_lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (fb_lfd < 0)
		fb_die(2, "socket: %s", strerror(errno));
	setsockopt(fb_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fb_lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fb_lfd, 8) != 0)
		fb_die(3, "cannot listen on 127.0.0.1:%ld: %s", port, strerror(errno));
	printf("listening on 127.0.0.1:%ld\n", port);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int ch;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "D:")) != -1) {
		const char *eq;

		if (ch != 'D' || (eq = strchr(optarg, '=')) == NULL) {
			fprintf(stderr, "usage: fakebroker [-D NAME=BYTES]... SCENARIO PORT\n");
			return 2;
		}
		fb_define(optarg, (size_t)(eq - optarg), eq + 1);
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: fakebroker [-D NAME=BYTES]... SCENARIO PORT\n");
		return 2;
	}
	fb_read(argv[optind], 0);
	fb_listen(argv[optind + 1]);
	fb_run();
	fb_close();
	printf("scenario complete\n");
	return 0;
}
