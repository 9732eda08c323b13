/*
 * loadgen: the load generator of contrib/bench. One process, one thread,
 * everything on 127.0.0.1.
 *
 *   loadgen http -p PORT -c CONNS (-d SECONDS | -n COUNT) [-e EVENT] [-b BYTES | -B BYTES]
 *                [-a TOKEN] [-r RATE] [-t TOPIC -q QOS] [-S URL [-f FIRST]] [-o FILE]
 *                [-l FILE [-L MS]] [-R]
 *       CONNS keep-alive connections, each a closed loop: POST /events/EVENT
 *       with a BYTES-long JSON object (default 60), wait for the whole
 *       answer (Content-Length), send the next. Stops after SECONDS or
 *       COUNT requests in all; prints requests/s, the latency percentiles
 *       (send of the first byte to the last byte of the answer, monotonic
 *       clock), and the answers by status. The object is {"n":N,"pad":...}
 *       with N = 1000000000 + the request's number (from 0), ten digits.
 *       With -r, at most RATE requests a second in all: request i does not
 *       start before i / RATE seconds. With -t, POST /publish instead:
 *       {"topic":TOPIC,"qos":QOS,"allow_queueing":true,"payload":<the
 *       object>}. With -S, POST /subscriptions instead: {"topic":
 *       "bench/sub/N","url":URL}, N = 1000000000 + FIRST (default 0) + the
 *       request's number, so each registers a new subscription (201).
 *       With -o, FILE gets a line "N STATUS" for each request
 *       not answered 2xx (STATUS 0: no answer, the connection failed).
 *       With -l, FILE gets a line "N STATUS MS UNIXTIME" for each answer
 *       that took MS (default 1000) ms or more, UNIXTIME (seconds, ms
 *       precision) when it was complete. With -R a refused or failed
 *       connect is not fatal: the connection is tried again every 0.1 s
 *       while the run lasts (a daemon being restarted). The report adds
 *       issued= (requests started) and slowest_n=, slowest_at= (the
 *       slowest answer's N and UNIXTIME).
 *       With -B BYTES (26 to 64 MiB, instead of -b; not with -P) the body
 *       is BYTES long and built once: {"n":1000000000,"data":"<base64>"}
 *       for events; with -t, {"topic":TOPIC,"qos":QOS,"allow_queueing":
 *       true,"payload_base64":"<base64>"} (the camera snapshot of the
 *       OctoPrint plugin's raw_data), its base64 text padded so that the
 *       whole body is BYTES long, give or take 3 bytes.
 *   loadgen copy-ref -s BYTES -n COUNT
 *       The reference of contrib/bench's large payloads: COUNT times a
 *       memcpy() of BYTES into a buffer and a write() of them into a
 *       socket pair whose other end a child process reads and discards.
 *       Prints this process's CPU time (CLOCK_PROCESS_CPUTIME_ID) per
 *       memcpy + write as ref_us=.
 *   loadgen mqtt-pub -p PORT -n COUNT -t TOPIC -s BYTES [-c CONNS] [-k PER_WRITE] [-r]
 *       A raw MQTT 3.1.1 client: CONNECT, CONNACK, COUNT QoS 0 PUBLISH of a
 *       BYTES-long payload to TOPIC written as fast as the socket takes
 *       them, DISCONNECT; the time runs until the broker closes the
 *       connection, i.e. until it has read everything. By default one
 *       connection writes as many whole packets per write() as fit in
 *       64 KiB. With -c, CONNS connections share the COUNT messages; with
 *       -k, each write() carries at most PER_WRITE packets (-k 1: one
 *       system call per message, as a client publishing each event as it
 *       comes would make). With -r each write() ends with a PINGREQ and
 *       the connection waits for the PINGRESP before its next write: a
 *       closed loop of one round trip per write, like the HTTP clients'.
 *   loadgen mqtt-pub -p PORT -n COUNT -t TOPIC -s BYTES -q 1 [-w WINDOW] [-N]
 *       One connection, COUNT QoS 1 PUBLISH, at most WINDOW (default 100,
 *       at most 65535) not yet acknowledged at any time; the time runs
 *       until the last PUBACK is in. acked= says how many came.
 *       With -N (QoS 0 without -c/-k/-r, or QoS 1) the payload of message i
 *       (from 0) starts with "{" and i in ten digits (BYTES at least 12),
 *       for http-sink to check. start_ns= is the CLOCK_MONOTONIC time of
 *       the first write, to compare with http-sink's last_ns=.
 *   loadgen mqtt-sub -p PORT -t FILTER [-n COUNT] [-i IDLE] [-T MAX]
 *       CONNECT, SUBSCRIBE FILTER at QoS 0, prints "ready" once the SUBACK
 *       is in, then counts PUBLISH packets until COUNT arrived, IDLE
 *       seconds (default 1) passed without one after the first, or MAX
 *       seconds (default 60) passed in all. The rate is taken between the
 *       first and the last message.
 *   loadgen http-sink -p PORT [-n COUNT] [-i IDLE] [-T MAX]
 *       An HTTP/1.1 receiver on 127.0.0.1:PORT: prints "ready" once it
 *       listens, accepts any number of keep-alive connections, reads
 *       requests (bodies by Content-Length; pipelined ones too) and
 *       answers each "200 OK" with no body. Stops when COUNT requests
 *       arrived, IDLE seconds (default 2) passed without one after the
 *       first, or MAX seconds (default 60) in all. When a body holds
 *       "payload": "{NNNNNNNNNN (mqtt-pub -N through the daemon's webhook
 *       body) with NNNNNNNNNN < COUNT, it counts distinct numbers,
 *       duplicates and numbers that came after a higher one (reordered).
 *       first_ns= and last_ns= are CLOCK_MONOTONIC times of the reads
 *       that completed the first and the last request. SIGTERM or SIGINT
 *       stops it too (end=signal), with the same report.
 *
 * Results are one line of key=value pairs on stdout, for a script to pick
 * apart. Errors go to stderr: exit 1, or 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_CONNS    1000
#define LG_MAX_SECONDS  3600
#define LG_MAX_COUNT    100000000UL
#define LG_REQ_MAX      4096  /* one request: headers and body */
#define LG_MAX_DEPTH    64    /* -P: requests in flight per connection */
#define LG_RESP_MAX     16384 /* one answer: headers and body */
#define LG_BODY_MIN     25    /* {"n":NNNNNNNNNN,"pad":""} */
#define LG_BODY_MAX     2048
#define LG_BIG_MIN      26 /* {"n":NNNNNNNNNN,"data":""} and one more */
#define LG_BIG_MAX      (64UL * 1024 * 1024)
#define LG_PAYLOAD_MAX  65536
#define LG_DRAIN_NS     (5 * LG_NS)       /* wait for answers after the end */
#define LG_MQTT_WAIT_NS (10 * LG_NS)      /* CONNACK, SUBACK, broker's close */
#define LG_MQTT_RBUF    (4 * 1024 * 1024) /* packets of -B bodies fit */
#define LG_PUB_BATCH    65536             /* bytes of PUBLISH packets per write() */
#define LG_NS           1000000000ULL
#define LG_SINK_BUF     (256 * 1024) /* one connection's unanswered requests */
#define LG_SEQ_DIGITS   10

static void lg_usage(const char *why)
{
	FILE *out = why != NULL ? stderr : stdout;

	if (why != NULL)
		fprintf(stderr, "loadgen: %s\n", why);
	fprintf(out, "usage: loadgen http -p PORT -c CONNS (-d SECONDS | -n COUNT) [-e EVENT]\n"
	             "                    [-b BYTES | -B BYTES] [-a TOKEN] [-P DEPTH] [-r RATE]\n"
	             "                    [-t TOPIC -q QOS] [-S URL [-f FIRST]] [-o FILE] [-l FILE "
	             "[-L MS]] [-R]\n"
	             "       loadgen mqtt-pub -p PORT -n COUNT -t TOPIC -s BYTES [-c CONNS]\n"
	             "                        [-k PER_WRITE] [-r] [-q 0|1] [-w WINDOW] [-N]\n"
	             "       loadgen mqtt-sub -p PORT -t FILTER [-n COUNT] [-i IDLE] [-T MAX]\n"
	             "       loadgen http-sink -p PORT [-n COUNT] [-i IDLE] [-T MAX]\n"
	             "       loadgen copy-ref -s BYTES -n COUNT\n");
	exit(why != NULL ? 2 : 0);
}

__attribute__((format(printf, 1, 2), noreturn)) static void lg_die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A decimal number in [min, max]: digits only, no sign, no spaces. */
static unsigned long lg_number(const char *s, unsigned long min, unsigned long max,
                               const char *what)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		lg_usage(what);
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			lg_usage(what);
		if (v > (max - (unsigned long)(*p - '0')) / 10)
			lg_usage(what);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min)
		lg_usage(what);
	return v;
}

static uint64_t lg_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		lg_die("clock_gettime: %s", strerror(errno));
	return (uint64_t)ts.tv_sec * LG_NS + (uint64_t)ts.tv_nsec;
}

/* poll() timeout in ms until DEADLINE (ns), rounded up, at least 0. */
static int lg_poll_ms(uint64_t deadline)
{
	uint64_t now = lg_now();

	if (deadline <= now)
		return 0;
	if (deadline - now > 60 * LG_NS)
		return 60000;
	return (int)((deadline - now + 999999) / 1000000);
}

/* A blocking TCP connection to 127.0.0.1:PORT with Nagle off. */
/* A connection to 127.0.0.1:PORT; -1 (errno set) if quiet, else fatal. */
static int lg_connect_as(unsigned port, bool quiet)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		lg_die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (!quiet)
			lg_die("connect 127.0.0.1:%u: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int lg_connect(unsigned port)
{
	return lg_connect_as(port, false);
}

static void lg_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		lg_die("fcntl: %s", strerror(errno));
}

/* Write all of P (blocking socket). */
static void lg_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			lg_die("write: %s", w < 0 ? strerror(errno) : "wrote nothing");
		c += w;
		n -= (size_t)w;
	}
}

/* ---- http mode ---- */

/*
 * One connection keeps up to h_depth requests outstanding (-P; 1: the
 * closed loop of one request, one answer). c_sent_at is a ring of their
 * start times, oldest at c_head.
 */
struct lg_conn {
	int c_fd;
	char c_out[LG_REQ_MAX * LG_MAX_DEPTH];
	size_t c_out_len, c_out_off; /* request bytes, bytes written */
	char c_in[LG_RESP_MAX];
	size_t c_in_len;
	uint64_t c_sent_at[LG_MAX_DEPTH]; /* when each request was issued */
	uint64_t c_seq[LG_MAX_DEPTH];     /* and its N */
	uint64_t c_retry_at;              /* -R: connect again at (c_fd -1) */
	const char *c_big;                /* -B: the request, when it is the one written */
	unsigned c_head, c_busy;          /* oldest outstanding; how many */
};

struct lg_http {
	unsigned h_port;
	const char *h_event;
	const char *h_token;
	const char *h_topic; /* -t: POST /publish to this topic */
	unsigned h_qos;
	const char *h_sub_url; /* -S: POST /subscriptions of bench/sub/N to this URL */
	uint64_t h_first;      /* -f: added to N */
	FILE *h_failed;        /* -o: "N STATUS" of each request not answered 2xx */
	FILE *h_slow;          /* -l: "N STATUS MS UNIXTIME" of each slow answer */
	uint64_t h_slow_ns;
	bool h_retry; /* -R: a failed connect is tried again */
	uint64_t h_max_lat, h_max_seq;
	double h_max_at;
	uint64_t h_rate;  /* -r: requests a second, 0 unlimited */
	uint64_t h_start; /* when the run started */
	size_t h_body;
	char *h_big; /* -B: the whole request, built once */
	size_t h_big_len;
	unsigned h_depth;  /* requests in flight per connection */
	uint64_t h_issued; /* requests started */
	uint64_t h_limit;  /* COUNT, 0 with -d */
	uint64_t h_end;    /* -d: no new request after this, else 0 */
	uint64_t *h_lat;   /* latencies of complete answers, ns */
	size_t h_nlat, h_cap;
	uint64_t h_status[6]; /* answers by class, [2] excluding 202 */
	uint64_t h_202, h_errors;
	uint64_t h_last_done;
};

static int lg_http_more(const struct lg_http *h)
{
	if (h->h_limit > 0)
		return h->h_issued < h->h_limit;
	return lg_now() < h->h_end;
}

/* -r: the next request may start now (request i at start + i / RATE). */
static int lg_http_due(const struct lg_http *h)
{
	return h->h_rate == 0 || (lg_now() - h->h_start) * h->h_rate >= h->h_issued * LG_NS;
}

static int lg_http_write(struct lg_conn *c);

/* Queue one more request on c (c->c_busy < h_depth). */
static void lg_http_request(struct lg_http *h, struct lg_conn *c)
{
	char body[LG_BODY_MAX + 1], wrapped[LG_REQ_MAX];
	size_t pad = h->h_body - LG_BODY_MIN;
	uint64_t seq = 1000000000ULL + (h->h_first + h->h_issued) % 1000000000ULL;
	const char *path = h->h_sub_url != NULL ? "subscriptions"
	                   : h->h_topic != NULL ? "publish"
	                                        : "events/";
	int n;

	if (h->h_big != NULL) {
		/* -B (depth 1): the one request, written from where it is. */
		c->c_big = h->h_big;
		c->c_out_len = h->h_big_len;
		c->c_out_off = 0;
		c->c_sent_at[c->c_head] = lg_now();
		c->c_seq[c->c_head] = seq;
		c->c_busy++;
		h->h_issued++;
		return;
	}
	c->c_big = NULL;
	/* Keep only what is not written yet: at most h_depth requests. */
	if (c->c_out_off > 0) {
		memmove(c->c_out, c->c_out + c->c_out_off, c->c_out_len - c->c_out_off);
		c->c_out_len -= c->c_out_off;
		c->c_out_off = 0;
	}

	/* Ten digits without a leading zero: valid JSON, the same size each time. */
	n = snprintf(body, sizeof(body), "{\"n\":%llu,\"pad\":\"%*s\"}", (unsigned long long)seq,
	             (int)pad, "");
	memset(body + 23, 'x', pad); /* after {"n":NNNNNNNNNN,"pad":" */
	if (h->h_sub_url != NULL) {
		n = snprintf(wrapped, sizeof(wrapped),
		             "{\"topic\":\"bench/sub/%llu\",\"url\":\"%s\"}",
		             (unsigned long long)seq, h->h_sub_url);
		if (n < 0 || (size_t)n >= sizeof(wrapped))
			lg_die("request too long");
	} else if (h->h_topic != NULL) {
		n = snprintf(wrapped, sizeof(wrapped),
		             "{\"topic\":\"%s\",\"qos\":%u,\"allow_queueing\":true,\"payload\":%s}",
		             h->h_topic, h->h_qos, body);
		if (n < 0 || (size_t)n >= sizeof(wrapped))
			lg_die("request too long");
	}
	n = snprintf(c->c_out + c->c_out_len, sizeof(c->c_out) - c->c_out_len,
	             "POST /%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Content-Type: application/json\r\n%s%s%sContent-Length: %d\r\n\r\n%s",
	             path, h->h_sub_url != NULL || h->h_topic != NULL ? "" : h->h_event,
	             h->h_token != NULL ? "Authorization: Bearer " : "",
	             h->h_token != NULL ? h->h_token : "", h->h_token != NULL ? "\r\n" : "", n,
	             h->h_sub_url != NULL || h->h_topic != NULL ? wrapped : body);
	if (n < 0 || (size_t)n >= sizeof(c->c_out) - c->c_out_len)
		lg_die("request too long");
	c->c_out_len += (size_t)n;
	c->c_sent_at[(c->c_head + c->c_busy) % LG_MAX_DEPTH] = lg_now();
	c->c_seq[(c->c_head + c->c_busy) % LG_MAX_DEPTH] = seq;
	c->c_busy++;
	h->h_issued++;
}

/* Fill c's pipeline while requests remain, and write; -1 on an error. */
static int lg_http_fill(struct lg_http *h, struct lg_conn *c)
{
	while (c->c_busy < h->h_depth && lg_http_more(h) && lg_http_due(h))
		lg_http_request(h, c);
	return lg_http_write(c);
}

/*
 * One answer at the start of P: 1 and *status, *total (bytes of head and
 * body), *close set when complete; 0 when more bytes are needed; -1 when
 * it is not an HTTP/1.x answer with a Content-Length.
 */
static int lg_parse_response(const char *p, size_t n, int *status, size_t *total, int *close)
{
	const char *end, *line, *eol;
	long long clen = -1;

	end = memmem(p, n, "\r\n\r\n", 4);
	if (end == NULL)
		return n >= LG_RESP_MAX ? -1 : 0;
	if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' ||
	    p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
		return -1;
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	*close = 0;
	/* The status line ends at the first CRLF, at END if no header follows. */
	line = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
	for (line += 2; line < end + 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if (eol == NULL)
			return -1;
		if (eol - line > 15 && strncasecmp(line, "content-length:", 15) == 0) {
			const char *d = line + 15;

			while (d < eol && (*d == ' ' || *d == '\t'))
				d++;
			clen = 0;
			for (; d < eol && *d >= '0' && *d <= '9'; d++)
				if ((clen = clen * 10 + (*d - '0')) > LG_RESP_MAX)
					return -1;
		} else if (eol - line > 11 && strncasecmp(line, "connection:", 11) == 0 &&
		           memmem(line, (size_t)(eol - line), "close", 5) != NULL) {
			*close = 1;
		}
	}
	if (clen < 0)
		return -1;
	*total = (size_t)(end + 4 - p) + (size_t)clen;
	if (*total > LG_RESP_MAX)
		return -1;
	return n >= *total;
}

static double lg_unixtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lg_http_record(struct lg_http *h, int status, uint64_t lat, uint64_t seq)
{
	if (h->h_failed != NULL && status / 100 != 2)
		fprintf(h->h_failed, "%llu %d\n", (unsigned long long)seq, status);
	if (h->h_slow != NULL && lat >= h->h_slow_ns)
		fprintf(h->h_slow, "%llu %d %.3f %.3f\n", (unsigned long long)seq, status,
		        (double)lat / 1e6, lg_unixtime());
	if (lat >= h->h_max_lat) {
		h->h_max_lat = lat;
		h->h_max_seq = seq;
		h->h_max_at = lg_unixtime();
	}
	if (h->h_nlat == h->h_cap) {
		h->h_cap = h->h_cap ? h->h_cap * 2 : 65536;
		h->h_lat = realloc(h->h_lat, h->h_cap * sizeof(*h->h_lat));
		if (h->h_lat == NULL)
			lg_die("out of memory");
	}
	h->h_lat[h->h_nlat++] = lat;
	if (status == 202)
		h->h_202++;
	else
		h->h_status[status / 100]++;
}

/* Open c's connection; with -R a failure leaves it to be tried again. */
static void lg_http_connect(struct lg_http *h, struct lg_conn *c)
{
	c->c_fd = lg_connect_as(h->h_port, h->h_retry);
	if (c->c_fd >= 0)
		lg_nonblock(c->c_fd);
	else
		c->c_retry_at = lg_now() + LG_NS / 10;
}

/* Drop the connection after an error and, while requests remain, open another. */
static void lg_http_reset(struct lg_http *h, struct lg_conn *c, const char *why)
{
	unsigned i;

	if (why != NULL) {
		h->h_errors++;
		if (h->h_errors <= 5)
			fprintf(stderr, "loadgen: connection %d: %s\n", c->c_fd, why);
	}
	/* The requests outstanding get no answer. */
	for (i = 0; h->h_failed != NULL && i < c->c_busy; i++)
		fprintf(h->h_failed, "%llu 0\n",
		        (unsigned long long)c->c_seq[(c->c_head + i) % LG_MAX_DEPTH]);
	close(c->c_fd);
	c->c_fd = -1;
	c->c_busy = 0;
	c->c_head = 0;
	c->c_in_len = 0;
	c->c_out_len = c->c_out_off = 0;
	if (lg_http_more(h))
		lg_http_connect(h, c);
}

/* Write what is left of the request; 0, or -1 on an error. */
static int lg_http_write(struct lg_conn *c)
{
	while (c->c_out_off < c->c_out_len) {
		const char *out = c->c_big != NULL ? c->c_big : c->c_out;
		ssize_t w = write(c->c_fd, out + c->c_out_off, c->c_out_len - c->c_out_off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		c->c_out_off += (size_t)w;
	}
	return 0;
}

/* Read and handle the answers that arrived; the next requests go out at once. */
static void lg_http_read(struct lg_http *h, struct lg_conn *c)
{
	int status, close_after, rc;
	size_t total, off = 0;
	ssize_t r;

	r = read(c->c_fd, c->c_in + c->c_in_len, sizeof(c->c_in) - c->c_in_len);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		lg_http_reset(h, c, r < 0 ? strerror(errno) : "closed by the server");
		return;
	}
	c->c_in_len += (size_t)r;
	while ((rc = lg_parse_response(c->c_in + off, c->c_in_len - off, &status, &total,
	                               &close_after)) != 0) {
		if (rc < 0 || c->c_busy == 0) {
			/* Only answers to requests outstanding may arrive. */
			lg_http_reset(h, c, "bad or unexpected answer");
			return;
		}
		h->h_last_done = lg_now();
		lg_http_record(h, status, h->h_last_done - c->c_sent_at[c->c_head],
		               c->c_seq[c->c_head]);
		c->c_head = (c->c_head + 1) % LG_MAX_DEPTH;
		c->c_busy--;
		off += total;
		if (close_after) {
			/* Requests sent after it are not answered: counted as errors. */
			h->h_errors += c->c_busy;
			lg_http_reset(h, c, NULL);
			return;
		}
	}
	memmove(c->c_in, c->c_in + off, c->c_in_len - off);
	c->c_in_len -= off;
	if (lg_http_fill(h, c) != 0)
		lg_http_reset(h, c, "write failed");
}

static int lg_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double lg_pct(const struct lg_http *h, unsigned pct)
{
	size_t rank;

	if (h->h_nlat == 0)
		return 0;
	rank = (h->h_nlat * pct + 99) / 100;
	return (double)h->h_lat[rank > 0 ? rank - 1 : 0] / 1e6;
}

/* BYTES characters of base64 text (a multiple of 4, '=' padded) at p. */
static void lg_base64_fill(char *p, size_t n)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t x = 2463534242u;
	size_t i;

	for (i = 0; i < n; i++) {
		/* xorshift32: bytes that look like a JPEG's, not a run of one letter. */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = alphabet[x & 63];
	}
	/* The last group ends in "A=": its left-over bits are zero. */
	if (n >= 4) {
		p[n - 2] = 'A';
		p[n - 1] = '=';
	}
}

/* -B: the one request of every connection, a body of about `big` bytes. */
static void lg_big_request(struct lg_http *h, size_t big)
{
	char head[2048], pre[1200];
	size_t plen, b64;
	int n;

	if (h->h_topic != NULL)
		n = snprintf(pre, sizeof(pre),
		             "{\"topic\":\"%s\",\"qos\":%u,\"allow_queueing\":true,"
		             "\"payload_base64\":\"",
		             h->h_topic, h->h_qos);
	else
		n = snprintf(pre, sizeof(pre), "{\"n\":1000000000,\"data\":\"");
	if (n < 0 || (size_t)n >= sizeof(pre))
		lg_die("request too long");
	plen = (size_t)n;
	if (big < plen + 2 + 4)
		lg_usage("-B BYTES too small for the body's members");
	b64 = (big - plen - 2) / 4 * 4;
	n = snprintf(head, sizeof(head),
	             "POST /%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Content-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n",
	             h->h_topic != NULL ? "publish" : "events/",
	             h->h_topic != NULL ? "" : h->h_event,
	             h->h_token != NULL ? "Authorization: Bearer " : "",
	             h->h_token != NULL ? h->h_token : "", h->h_token != NULL ? "\r\n" : "",
	             plen + b64 + 2);
	if (n < 0 || (size_t)n >= sizeof(head))
		lg_die("request too long");
	h->h_big_len = (size_t)n + plen + b64 + 2;
	h->h_big = malloc(h->h_big_len);
	if (h->h_big == NULL)
		lg_die("out of memory");
	memcpy(h->h_big, head, (size_t)n);
	memcpy(h->h_big + n, pre, plen);
	lg_base64_fill(h->h_big + (size_t)n + plen, b64);
	memcpy(h->h_big + h->h_big_len - 2, "\"}", 2);
}

static int lg_http_main(int argc, char **argv)
{
	struct lg_http h;
	struct lg_conn *conns;
	struct pollfd *pfd;
	unsigned nconns = 0, secs = 0, i, d, open, missing;
	size_t big = 0;
	bool retrying;
	uint64_t start, drain_end = 0;
	double elapsed;
	int opt;

	memset(&h, 0, sizeof(h));
	h.h_event = "Bench";
	h.h_body = 60;
	h.h_depth = 1;
	h.h_slow_ns = LG_NS;
	while ((opt = getopt(argc, argv, "p:c:d:n:e:b:B:a:P:r:t:q:S:f:o:l:L:R")) != -1) {
		switch (opt) {
		case 'p':
			h.h_port = (unsigned)lg_number(optarg, 1, 65535, "PORT must be 1-65535");
			break;
		case 'c':
			nconns = (unsigned)lg_number(optarg, 1, LG_MAX_CONNS,
			                             "CONNS must be 1-1000");
			break;
		case 'd':
			secs = (unsigned)lg_number(optarg, 1, LG_MAX_SECONDS,
			                           "SECONDS must be 1-3600");
			break;
		case 'n':
			h.h_limit = lg_number(optarg, 1, LG_MAX_COUNT, "COUNT must be 1-100000000");
			break;
		case 'e':
			h.h_event = optarg;
			if (strlen(optarg) < 1 || strlen(optarg) > 128 ||
			    strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                   "0123456789_.-") != strlen(optarg))
				lg_usage("EVENT must be 1-128 of [A-Za-z0-9_.-]");
			break;
		case 'b':
			h.h_body = lg_number(optarg, LG_BODY_MIN, LG_BODY_MAX,
			                     "BYTES must be 25-2048");
			break;
		case 'B':
			big = lg_number(optarg, LG_BIG_MIN, LG_BIG_MAX,
			                "BYTES must be 26-67108864");
			break;
		case 'a':
			h.h_token = optarg;
			if (strlen(optarg) > 1024 || strpbrk(optarg, "\r\n") != NULL)
				lg_usage("bad TOKEN");
			break;
		case 'P':
			h.h_depth =
			        (unsigned)lg_number(optarg, 1, LG_MAX_DEPTH, "DEPTH must be 1-64");
			break;
		case 'r':
			h.h_rate = lg_number(optarg, 1, 100000, "RATE must be 1-100000");
			break;
		case 't':
			h.h_topic = optarg;
			if (strlen(optarg) < 1 || strlen(optarg) > 1024 ||
			    strpbrk(optarg, "\"\\+#") != NULL)
				lg_usage("TOPIC must be 1-1024 bytes, without \", \\, + or #");
			break;
		case 'q':
			h.h_qos = (unsigned)lg_number(optarg, 0, 2, "QOS must be 0, 1 or 2");
			break;
		case 'S':
			h.h_sub_url = optarg;
			if (strlen(optarg) < 1 || strlen(optarg) > 1024 ||
			    strpbrk(optarg, "\"\\") != NULL)
				lg_usage("URL must be 1-1024 bytes, without \" or \\");
			break;
		case 'f':
			h.h_first = lg_number(optarg, 0, 100000000, "FIRST must be 0-100000000");
			break;
		case 'o':
			h.h_failed = fopen(optarg, "w");
			if (h.h_failed == NULL)
				lg_die("%s: %s", optarg, strerror(errno));
			break;
		case 'l':
			h.h_slow = fopen(optarg, "w");
			if (h.h_slow == NULL)
				lg_die("%s: %s", optarg, strerror(errno));
			break;
		case 'L':
			h.h_slow_ns = lg_number(optarg, 0, 3600000, "MS must be 0-3600000") *
			              (LG_NS / 1000);
			break;
		case 'R':
			h.h_retry = true;
			break;
		default:
			lg_usage("unknown option");
		}
	}
	if (optind != argc || h.h_port == 0 || nconns == 0 || (secs == 0) == (h.h_limit == 0))
		lg_usage("http needs -p, -c and one of -d, -n");
	if (big > 0 && h.h_depth != 1)
		lg_usage("-B goes with one request at a time (no -P)");
	if (big > 0)
		lg_big_request(&h, big);

	conns = calloc(nconns, sizeof(*conns));
	pfd = calloc(nconns, sizeof(*pfd));
	if (conns == NULL || pfd == NULL)
		lg_die("out of memory");
	start = lg_now();
	h.h_start = start;
	h.h_end = start + (uint64_t)secs * LG_NS;
	h.h_last_done = start;
	for (i = 0; i < nconns; i++)
		lg_http_connect(&h, &conns[i]);

	for (;;) {
		uint64_t wake;

		open = missing = 0;
		retrying = false;
		for (i = 0; i < nconns; i++) {
			struct lg_conn *c = &conns[i];

			/* -R: a connection refused earlier, tried again while the run lasts. */
			if (c->c_fd < 0 && h.h_retry && lg_http_more(&h)) {
				if (lg_now() >= c->c_retry_at)
					lg_http_connect(&h, c);
				retrying |= c->c_fd < 0;
			}

			/*
			 * An idle connection (a new one after an error) starts
			 * its loop; past the end it has nothing left to do.
			 */
			if (c->c_fd >= 0 && !c->c_busy) {
				if (lg_http_more(&h)) {
					if (lg_http_fill(&h, c) != 0)
						lg_http_reset(&h, c, "write failed");
				} else {
					close(c->c_fd);
					c->c_fd = -1;
				}
			}
			pfd[i].fd = c->c_fd;
			pfd[i].events = POLLIN;
			if (c->c_fd >= 0 && c->c_out_off < c->c_out_len)
				pfd[i].events |= POLLOUT;
			pfd[i].revents = 0;
			open += c->c_fd >= 0;
			missing += c->c_fd >= 0 ? c->c_busy : 0;
		}
		if (open == 0 && !retrying)
			break;
		if (!lg_http_more(&h) && drain_end == 0)
			drain_end = lg_now() + LG_DRAIN_NS;
		if (drain_end != 0 && lg_now() >= drain_end) {
			fprintf(stderr, "loadgen: %u answers still missing\n", missing);
			h.h_errors += missing;
			for (i = 0; h.h_failed != NULL && i < nconns; i++) {
				struct lg_conn *c = &conns[i];

				for (d = 0; c->c_fd >= 0 && d < c->c_busy; d++)
					fprintf(h.h_failed, "%llu 0\n",
					        (unsigned long long)
					                c->c_seq[(c->c_head + d) % LG_MAX_DEPTH]);
			}
			break;
		}
		wake = drain_end != 0 ? drain_end : h.h_limit > 0 ? lg_now() + LG_NS : h.h_end;
		if (drain_end == 0 && h.h_rate > 0) {
			/* -r: when the next request is due (rounded up to a whole ns). */
			uint64_t next = start + (h.h_issued * LG_NS + h.h_rate - 1) / h.h_rate;

			if (next < wake)
				wake = next;
		}
		if (retrying && lg_now() + LG_NS / 10 < wake)
			wake = lg_now() + LG_NS / 10;
		if (poll(pfd, nconns, lg_poll_ms(wake)) < 0 && errno != EINTR)
			lg_die("poll: %s", strerror(errno));
		for (i = 0; i < nconns; i++) {
			struct lg_conn *c = &conns[i];

			if (c->c_fd < 0 || pfd[i].revents == 0)
				continue;
			if ((pfd[i].revents & POLLOUT) && lg_http_write(c) != 0) {
				lg_http_reset(&h, c, "write failed");
				continue;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				lg_http_read(&h, c);
		}
	}

	qsort(h.h_lat, h.h_nlat, sizeof(*h.h_lat), lg_cmp_u64);
	elapsed = (double)(h.h_last_done - start) / 1e9;
	printf("mode=http conns=%u depth=%u seconds=%.3f requests=%zu rps=%.0f p50_ms=%.3f "
	       "p99_ms=%.3f "
	       "max_ms=%.3f status_202=%llu status_2xx_other=%llu status_4xx=%llu "
	       "status_5xx=%llu non_202=%llu errors=%llu issued=%llu slowest_n=%llu "
	       "slowest_at=%.3f\n",
	       nconns, h.h_depth, elapsed, h.h_nlat, elapsed > 0 ? (double)h.h_nlat / elapsed : 0.0,
	       lg_pct(&h, 50), lg_pct(&h, 99), lg_pct(&h, 100), (unsigned long long)h.h_202,
	       (unsigned long long)h.h_status[2], (unsigned long long)h.h_status[4],
	       (unsigned long long)h.h_status[5], (unsigned long long)(h.h_nlat - h.h_202),
	       (unsigned long long)h.h_errors, (unsigned long long)h.h_issued,
	       (unsigned long long)h.h_max_seq, h.h_max_at);
	for (i = 0; i < nconns; i++)
		if (conns[i].c_fd >= 0)
			close(conns[i].c_fd);
	free(conns);
	free(pfd);
	free(h.h_lat);
	if (h.h_failed != NULL && fclose(h.h_failed) != 0)
		lg_die("-o: %s", strerror(errno));
	if (h.h_slow != NULL && fclose(h.h_slow) != 0)
		lg_die("-l: %s", strerror(errno));
	return h.h_errors > 0 || h.h_nlat == 0;
}

/* ---- MQTT 3.1.1, the few packets both MQTT modes need ---- */

#define LG_MQTT_CONNECT    0x10
#define LG_MQTT_CONNACK    0x20
#define LG_MQTT_PUBLISH    0x30
#define LG_MQTT_PUBACK     0x40
#define LG_MQTT_SUBSCRIBE  0x82 /* type 8, reserved flags 0010 */
#define LG_MQTT_SUBACK     0x90
#define LG_MQTT_PINGREQ    0xc0
#define LG_MQTT_DISCONNECT 0xe0

/*
 * The "remaining length" of the fixed header: 7 bits a byte, least
 * significant group first, the top bit saying another byte follows; at
 * most four bytes (268435455).
 */
static size_t lg_mqtt_put_len(unsigned char *p, size_t len)
{
	size_t n = 0;

	do {
		unsigned char b = len % 128;

		len /= 128;
		p[n++] = b | (len > 0 ? 0x80 : 0);
	} while (len > 0);
	return n;
}

static size_t lg_mqtt_put_str(unsigned char *p, const char *s, size_t len)
{
	p[0] = (unsigned char)(len >> 8);
	p[1] = (unsigned char)len;
	memcpy(p + 2, s, len);
	return len + 2;
}

/* CONNECT with a clean session, no keepalive (the runs are short), CLIENT_ID. */
static void lg_mqtt_connect(int fd, const char *client_id)
{
	unsigned char pkt[128];
	size_t idlen = strlen(client_id), rl = 10 + 2 + idlen, n = 0;

	pkt[n++] = LG_MQTT_CONNECT;
	n += lg_mqtt_put_len(pkt + n, rl);
	n += lg_mqtt_put_str(pkt + n, "MQTT", 4);
	pkt[n++] = 4;    /* protocol level 3.1.1 */
	pkt[n++] = 0x02; /* clean session */
	pkt[n++] = 0;    /* keepalive 0: off */
	pkt[n++] = 0;
	n += lg_mqtt_put_str(pkt + n, client_id, idlen);
	lg_write_all(fd, pkt, n);
}

struct lg_rbuf {
	unsigned char *r_data;
	size_t r_off, r_len; /* unread bytes are [r_off, r_len) */
	uint64_t r_read_at;  /* when the last read() returned */
};

/*
 * The next packet from FD: 1 with *type (the first byte), *body and *blen
 * (the bytes after the fixed header, valid until the next call); 0 when
 * DEADLINE passed first; -1 when the broker closed the connection.
 */
static int lg_mqtt_next(int fd, struct lg_rbuf *rb, uint64_t deadline, unsigned *type,
                        const unsigned char **body, size_t *blen)
{
	for (;;) {
		size_t avail = rb->r_len - rb->r_off, rl = 0, hdr = 1;
		const unsigned char *p = rb->r_data + rb->r_off;
		unsigned shift = 0;
		struct pollfd pfd;
		ssize_t r;

		while (hdr < avail && hdr <= 4) {
			rl |= (size_t)(p[hdr] & 0x7f) << shift;
			shift += 7;
			if ((p[hdr++] & 0x80) == 0)
				break;
			if (hdr == 5)
				lg_die("malformed remaining length from the broker");
		}
		if (avail >= 2 && hdr > 1 && (p[hdr - 1] & 0x80) == 0) {
			if (hdr + rl > LG_MQTT_RBUF)
				lg_die("packet of %zu bytes from the broker is too large", rl);
			if (avail >= hdr + rl) {
				*type = p[0];
				*body = p + hdr;
				*blen = rl;
				rb->r_off += hdr + rl;
				return 1;
			}
		}
		/*
		 * Need more: move the partial packet to the front when the
		 * room after it runs short (not on every read: a large
		 * packet would be moved once per read).
		 */
		if (rb->r_off > 0 &&
		    LG_MQTT_RBUF - rb->r_len < 65536 + (avail < hdr + rl ? hdr + rl - avail : 0)) {
			memmove(rb->r_data, p, avail);
			rb->r_off = 0;
			rb->r_len = avail;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, lg_poll_ms(deadline));
		if (r < 0 && errno != EINTR)
			lg_die("poll: %s", strerror(errno));
		if (r == 0 && lg_now() >= deadline)
			return 0;
		if (r <= 0)
			continue;
		r = read(fd, rb->r_data + rb->r_len, LG_MQTT_RBUF - rb->r_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			lg_die("read: %s", strerror(errno));
		if (r == 0)
			return -1;
		rb->r_len += (size_t)r;
		rb->r_read_at = lg_now();
	}
}

/* Wait for a packet of TYPE (the first byte) within the MQTT deadline. */
static void lg_mqtt_expect(int fd, struct lg_rbuf *rb, unsigned want, const char *name,
                           const unsigned char **body, size_t *blen)
{
	unsigned type;
	int rc;

	rc = lg_mqtt_next(fd, rb, lg_now() + LG_MQTT_WAIT_NS, &type, body, blen);
	if (rc == 0)
		lg_die("no %s within %llu s", name, LG_MQTT_WAIT_NS / LG_NS);
	if (rc < 0)
		lg_die("the broker closed the connection before %s", name);
	if (type != want)
		lg_die("expected %s, got packet type %u", name, type >> 4);
}

static void lg_mqtt_handshake(int fd, struct lg_rbuf *rb, const char *client_id)
{
	const unsigned char *b;
	size_t bl;

	lg_mqtt_connect(fd, client_id);
	lg_mqtt_expect(fd, rb, LG_MQTT_CONNACK, "CONNACK", &b, &bl);
	if (bl != 2 || b[1] != 0)
		lg_die("CONNACK refused (return code %u)", bl == 2 ? b[1] : 255u);
}

static void lg_mqtt_disconnect(int fd)
{
	unsigned char pkt[2] = {LG_MQTT_DISCONNECT, 0};

	lg_write_all(fd, pkt, sizeof(pkt));
}

static void lg_rbuf_init(struct lg_rbuf *rb)
{
	memset(rb, 0, sizeof(*rb));
	rb->r_data = malloc(LG_MQTT_RBUF);
	if (rb->r_data == NULL)
		lg_die("out of memory");
}

static size_t lg_topic_arg(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 1024)
		lg_usage("TOPIC must be 1-1024 bytes");
	return n;
}

/* ---- mqtt-pub ---- */

struct lg_pub {
	int p_fd;
	unsigned long p_left; /* messages not yet in a write() */
	size_t p_off, p_len;  /* the write() under way: bytes of batch done, in all */
	int p_state;          /* 0 publishing, 1 DISCONNECT sent, 2 closed by the broker */
	size_t p_pong;        /* -r: bytes of PINGRESP still awaited, 0 when none */
};

/*
 * -c and -k: CONNS non-blocking connections, each writing its share of
 * COUNT in writes of at most PER_WRITE packets (taken from BATCH, which
 * holds PER_WRITE copies of one packet of PKTLEN bytes), then DISCONNECT.
 * With rtt, each write ends with a PINGREQ (BATCH has room for it after
 * the PER_WRITE packets) and the
 * next waits for the PINGRESP. Returns when the broker has closed every
 * connection; *start is when all
 * were connected (CONNACK in), *written when the last DISCONNECT went out.
 */
static void lg_pub_many(unsigned port, unsigned conns, unsigned long count, size_t per_write,
                        unsigned char *batch, size_t pktlen, bool rtt, uint64_t *start,
                        uint64_t *written)
{
	struct lg_pub *pb = calloc(conns, sizeof(*pb));
	struct pollfd *pfd = calloc(conns, sizeof(*pfd));
	char client_id[64], sink[4096];
	struct lg_rbuf rb;
	unsigned i, open = conns;
	uint64_t deadline = 0;

	if (pb == NULL || pfd == NULL)
		lg_die("out of memory");
	if (rtt) {
		batch[per_write * pktlen] = LG_MQTT_PINGREQ;
		batch[per_write * pktlen + 1] = 0;
	}
	lg_rbuf_init(&rb);
	for (i = 0; i < conns; i++) {
		snprintf(client_id, sizeof(client_id), "loadgen-pub-%ld-%u", (long)getpid(), i);
		pb[i].p_fd = lg_connect(port);
		rb.r_off = rb.r_len = 0;
		lg_mqtt_handshake(pb[i].p_fd, &rb, client_id);
		lg_nonblock(pb[i].p_fd);
		pb[i].p_left = count / conns + (i < count % conns ? 1 : 0);
	}
	free(rb.r_data);
	*start = lg_now();
	*written = 0;
	while (open > 0) {
		for (i = 0; i < conns; i++) {
			pfd[i].fd = pb[i].p_state == 2 ? -1 : pb[i].p_fd;
			pfd[i].events = pb[i].p_state == 0 && pb[i].p_pong == 0 ? POLLOUT : POLLIN;
			pfd[i].revents = 0;
		}
		if (*written != 0 && lg_now() >= deadline)
			lg_die("the broker did not close the connection after DISCONNECT");
		if (poll(pfd, conns, *written != 0 ? lg_poll_ms(deadline) : 1000) < 0 &&
		    errno != EINTR)
			lg_die("poll: %s", strerror(errno));
		for (i = 0; i < conns; i++) {
			struct lg_pub *p = &pb[i];
			ssize_t r;

			if (pfd[i].revents == 0)
				continue;
			if (p->p_state == 0 && p->p_pong > 0) {
				/* A QoS 0 publisher gets nothing but PINGRESP (d0 00). */
				r = read(p->p_fd, sink, p->p_pong);
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (r <= 0)
					lg_die("read: %s", r < 0 ? strerror(errno) : "closed");
				p->p_pong -= (size_t)r;
				if (p->p_pong > 0)
					continue;
			}
			if (p->p_state == 1) {
				/* Anything the broker says is ignored; EOF is the end. */
				r = read(p->p_fd, sink, sizeof(sink));
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (r < 0)
					lg_die("read: %s", strerror(errno));
				if (r == 0) {
					p->p_state = 2;
					close(p->p_fd);
					open--;
				}
				continue;
			}
			if (p->p_len == 0 && p->p_left > 0) {
				size_t k = p->p_left < per_write ? p->p_left : per_write;

				p->p_left -= k;
				/* The last k packets of the batch, then the PINGREQ after it. */
				p->p_off = (per_write - k) * pktlen;
				p->p_len = per_write * pktlen + (rtt ? 2 : 0);
			}
			if (p->p_len > 0) {
				r = write(p->p_fd, batch + p->p_off, p->p_len - p->p_off);
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (r <= 0)
					lg_die("write: %s",
					       r < 0 ? strerror(errno) : "wrote nothing");
				p->p_off += (size_t)r;
				if (p->p_off < p->p_len)
					continue;
				p->p_len = 0;
				if (rtt) {
					p->p_pong = 2;
					continue;
				}
			}
			if (p->p_len == 0 && p->p_left == 0) {
				/* Blocking again for the two bytes of DISCONNECT. */
				if (fcntl(p->p_fd, F_SETFL,
				          fcntl(p->p_fd, F_GETFL) & ~O_NONBLOCK) != 0)
					lg_die("fcntl: %s", strerror(errno));
				lg_mqtt_disconnect(p->p_fd);
				shutdown(p->p_fd, SHUT_WR);
				p->p_state = 1;
				*written = lg_now();
				deadline = *written + LG_MQTT_WAIT_NS;
			}
		}
	}
	free(pb);
	free(pfd);
}

/* -N: the ten digits of SEQ at P. */
static void lg_stamp(unsigned char *p, unsigned long seq)
{
	int i;

	for (i = LG_SEQ_DIGITS - 1; i >= 0; i--) {
		p[i] = (unsigned char)('0' + seq % 10);
		seq /= 10;
	}
}

/*
 * -q 1: COUNT QoS 1 PUBLISH on FD (CONNACK in), copies of PKT (PKTLEN
 * bytes, its packet identifier at ID_OFF, with -N the number at SEQ_OFF,
 * else SEQ_OFF is 0), at most WINDOW not yet acknowledged; whole packets,
 * up to 64 KiB per write(). Returns when every PUBACK is in, with
 * *written (the last PUBLISH went out) and *acked (the last PUBACK read).
 */
static void lg_pub_qos1(int fd, struct lg_rbuf *rb, unsigned long count, size_t window,
                        const unsigned char *pkt, size_t pktlen, size_t id_off, size_t seq_off,
                        uint64_t *written, uint64_t *acked)
{
	size_t cap = pktlen > LG_PUB_BATCH ? pktlen : LG_PUB_BATCH, out_off = 0, out_len = 0;
	unsigned char *out = malloc(cap);
	unsigned long next = 0, nacked = 0;
	uint64_t progress = lg_now();

	if (out == NULL)
		lg_die("out of memory");
	lg_nonblock(fd);
	*written = *acked = 0;
	while (nacked < count) {
		struct pollfd pfd;
		const unsigned char *b;
		unsigned type;
		size_t blen;
		int rc;

		if (out_off == out_len) {
			out_off = out_len = 0;
			while (next < count && next - nacked < window &&
			       (out_len == 0 || out_len + pktlen <= cap)) {
				unsigned id = (unsigned)(next % 65535) + 1;

				memcpy(out + out_len, pkt, pktlen);
				out[out_len + id_off] = (unsigned char)(id >> 8);
				out[out_len + id_off + 1] = (unsigned char)id;
				if (seq_off > 0)
					lg_stamp(out + out_len + seq_off, next);
				out_len += pktlen;
				next++;
			}
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (out_off < out_len ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, lg_poll_ms(progress + LG_MQTT_WAIT_NS)) < 0 && errno != EINTR)
			lg_die("poll: %s", strerror(errno));
		if (lg_now() >= progress + LG_MQTT_WAIT_NS)
			lg_die("QoS 1: no progress for %llu s (%lu of %lu acknowledged)",
			       LG_MQTT_WAIT_NS / LG_NS, nacked, count);
		if ((pfd.revents & POLLOUT) != 0) {
			ssize_t w = write(fd, out + out_off, out_len - out_off);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				lg_die("write: %s", strerror(errno));
			if (w > 0) {
				out_off += (size_t)w;
				progress = lg_now();
				if (out_off == out_len && next == count)
					*written = progress;
			}
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		/* Every whole packet that is in; a deadline in the past: no waiting. */
		while ((rc = lg_mqtt_next(fd, rb, 0, &type, &b, &blen)) == 1) {
			if (type != LG_MQTT_PUBACK)
				continue;
			nacked++;
			*acked = progress = rb->r_read_at;
		}
		if (rc < 0)
			lg_die("the broker closed the connection (%lu of %lu acknowledged)", nacked,
			       count);
	}
	free(out);
}

static int lg_pub_main(int argc, char **argv)
{
	unsigned port = 0, conns = 0;
	unsigned long count = 0, size = 0, i;
	const char *topic = NULL;
	unsigned char *batch, *pkt;
	size_t tlen = 0, pktlen, per_batch, rl, per_write = 0, window = 100, id_off = 0;
	size_t seq_off = 0;
	unsigned qos = 0;
	bool rtt = false, number = false;
	char client_id[64];
	struct lg_rbuf rb;
	uint64_t start, written, closed, deadline;
	unsigned type;
	const unsigned char *b;
	int fd, opt, rc;

	while ((opt = getopt(argc, argv, "p:n:t:s:c:k:rq:w:N")) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)lg_number(optarg, 1, 65535, "PORT must be 1-65535");
			break;
		case 'n':
			count = lg_number(optarg, 1, LG_MAX_COUNT, "COUNT must be 1-100000000");
			break;
		case 'c':
			conns = (unsigned)lg_number(optarg, 1, LG_MAX_CONNS,
			                            "CONNS must be 1-1000");
			break;
		case 'k':
			per_write = lg_number(optarg, 1, LG_PUB_BATCH, "PER_WRITE must be 1-65536");
			break;
		case 'r':
			rtt = true;
			break;
		case 'q':
			qos = (unsigned)lg_number(optarg, 0, 1, "QoS must be 0 or 1");
			break;
		case 'w':
			window = lg_number(optarg, 1, 65535, "WINDOW must be 1-65535");
			break;
		case 'N':
			number = true;
			break;
		case 't':
			topic = optarg;
			tlen = lg_topic_arg(optarg);
			break;
		case 's':
			size = lg_number(optarg, 0, LG_PAYLOAD_MAX, "BYTES must be 0-65536");
			break;
		default:
			lg_usage("unknown option");
		}
	}
	if (optind != argc || port == 0 || count == 0 || topic == NULL)
		lg_usage("mqtt-pub needs -p, -n, -t and -s");
	if ((qos > 0 || number) && (conns > 0 || per_write > 0 || rtt))
		lg_usage("-q 1 and -N go with one connection: not with -c, -k or -r");
	if (number && size < LG_SEQ_DIGITS + 2)
		lg_usage("-N needs BYTES of at least 12");

	/*
	 * One PUBLISH (QoS 0: no packet id), copied into a batch of whole
	 * packets (QoS 1: into each write() by lg_pub_qos1).
	 */
	rl = 2 + tlen + (qos > 0 ? 2 : 0) + size;
	pkt = malloc(5 + rl);
	if (pkt == NULL)
		lg_die("out of memory");
	pktlen = 0;
	pkt[pktlen++] = LG_MQTT_PUBLISH | (qos << 1);
	pktlen += lg_mqtt_put_len(pkt + pktlen, rl);
	pktlen += lg_mqtt_put_str(pkt + pktlen, topic, tlen);
	if (qos > 0) {
		id_off = pktlen;
		pktlen += 2;
	}
	memset(pkt + pktlen, 'x', size);
	if (size >= 2) {
		pkt[pktlen] = '{';
		pkt[pktlen + size - 1] = '}';
	}
	if (number)
		seq_off = pktlen + 1;
	pktlen += size;
	per_batch = LG_PUB_BATCH / pktlen > 0 ? LG_PUB_BATCH / pktlen : 1;
	if (per_write > 0 && per_write < per_batch)
		per_batch = per_write;
	batch = malloc(per_batch * pktlen + 2); /* + 2: room for a PINGREQ (-r) */
	if (batch == NULL)
		lg_die("out of memory");
	for (i = 0; i < per_batch; i++)
		memcpy(batch + i * pktlen, pkt, pktlen);

	if (conns > 0 || per_write > 0 || rtt) {
		if (conns == 0)
			conns = 1;
		lg_pub_many(port, conns, count, per_batch, batch, pktlen, rtt, &start, &written);
		closed = lg_now();
		goto report;
	}
	conns = 1;

	snprintf(client_id, sizeof(client_id), "loadgen-pub-%ld", (long)getpid());
	lg_rbuf_init(&rb);
	fd = lg_connect(port);
	lg_mqtt_handshake(fd, &rb, client_id);

	start = lg_now();
	if (qos > 0) {
		lg_pub_qos1(fd, &rb, count, window, pkt, pktlen, id_off, seq_off, &written,
		            &closed);
		lg_mqtt_disconnect(fd);
		close(fd);
		free(rb.r_data);
		goto report;
	}
	for (i = 0; i < count; i += per_batch) {
		size_t k = count - i < per_batch ? count - i : per_batch, j;

		for (j = 0; number && j < k; j++)
			lg_stamp(batch + j * pktlen + seq_off, i + j);
		lg_write_all(fd, batch, k * pktlen);
	}
	lg_mqtt_disconnect(fd);
	written = lg_now();
	/* The broker closes the connection once it has read up to DISCONNECT. */
	shutdown(fd, SHUT_WR);
	deadline = written + LG_MQTT_WAIT_NS;
	while ((rc = lg_mqtt_next(fd, &rb, deadline, &type, &b, &rl)) == 1)
		;
	if (rc == 0)
		lg_die("the broker did not close the connection after DISCONNECT");
	closed = lg_now();
	close(fd);
	free(rb.r_data);

report:
	/* QoS 1: the time runs until the last PUBACK, every message acknowledged. */
	printf("mode=mqtt-pub sent=%lu payload=%lu packet=%zu conns=%u per_write=%zu rtt=%d "
	       "write_seconds=%.3f seconds=%.3f rate=%.0f qos=%u window=%zu acked=%lu "
	       "start_ns=%llu\n",
	       count, size, pktlen, conns, per_batch, rtt, (double)(written - start) / 1e9,
	       (double)(closed - start) / 1e9, (double)count / ((double)(closed - start) / 1e9),
	       qos, qos > 0 ? window : 0, qos > 0 ? count : 0, (unsigned long long)start);
	free(batch);
	free(pkt);
	return 0;
}

/* ---- mqtt-sub ---- */

static int lg_sub_main(int argc, char **argv)
{
	unsigned port = 0;
	unsigned long want = 0, idle = 1, max = 60, got = 0;
	const char *filter = NULL;
	unsigned char pkt[1100];
	size_t flen = 0, n = 0, blen, last_payload = 0;
	char client_id[64];
	struct lg_rbuf rb;
	uint64_t start, first = 0, last = 0, deadline;
	const unsigned char *b;
	unsigned type;
	int fd, opt, rc;
	double span;

	while ((opt = getopt(argc, argv, "p:t:n:i:T:")) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)lg_number(optarg, 1, 65535, "PORT must be 1-65535");
			break;
		case 't':
			filter = optarg;
			flen = lg_topic_arg(optarg);
			break;
		case 'n':
			want = lg_number(optarg, 1, LG_MAX_COUNT, "COUNT must be 1-100000000");
			break;
		case 'i':
			idle = lg_number(optarg, 1, LG_MAX_SECONDS, "IDLE must be 1-3600");
			break;
		case 'T':
			max = lg_number(optarg, 1, LG_MAX_SECONDS, "MAX must be 1-3600");
			break;
		default:
			lg_usage("unknown option");
		}
	}
	if (optind != argc || port == 0 || filter == NULL)
		lg_usage("mqtt-sub needs -p and -t");

	snprintf(client_id, sizeof(client_id), "loadgen-sub-%ld", (long)getpid());
	lg_rbuf_init(&rb);
	fd = lg_connect(port);
	lg_mqtt_handshake(fd, &rb, client_id);

	pkt[n++] = LG_MQTT_SUBSCRIBE;
	n += lg_mqtt_put_len(pkt + n, 2 + 2 + flen + 1);
	pkt[n++] = 0; /* packet identifier 1 */
	pkt[n++] = 1;
	n += lg_mqtt_put_str(pkt + n, filter, flen);
	pkt[n++] = 0; /* requested QoS */
	lg_write_all(fd, pkt, n);
	lg_mqtt_expect(fd, &rb, LG_MQTT_SUBACK, "SUBACK", &b, &blen);
	if (blen != 3 || b[0] != 0 || b[1] != 1 || b[2] == 0x80)
		lg_die("subscription to %s refused", filter);
	printf("ready\n");
	fflush(stdout);

	start = lg_now();
	for (;;) {
		deadline = start + (uint64_t)max * LG_NS;
		if (got > 0 && last + (uint64_t)idle * LG_NS < deadline)
			deadline = last + (uint64_t)idle * LG_NS;
		rc = lg_mqtt_next(fd, &rb, deadline, &type, &b, &blen);
		if (rc <= 0)
			break;
		if ((type & 0xf0) != LG_MQTT_PUBLISH)
			continue;
		/* Time of the read() that brought the packet in. */
		last = rb.r_read_at;
		if (got++ == 0)
			first = last;
		if (blen >= 2) {
			size_t tl = (size_t)b[0] << 8 | b[1];

			last_payload = blen - 2 - tl - ((type & 0x06) != 0 ? 2 : 0);
		}
		if (want > 0 && got >= want)
			break;
	}
	if (rc >= 0)
		lg_mqtt_disconnect(fd);
	close(fd);

	span = (double)(last - first) / 1e9;
	printf("mode=mqtt-sub received=%lu payload=%zu seconds=%.3f rate=%.0f end=%s\n", got,
	       last_payload, span, got > 1 && span > 0 ? (double)(got - 1) / span : 0.0,
	       rc < 0                    ? "closed"
	       : want > 0 && got >= want ? "count"
	                                 : "timeout");
	free(rb.r_data);
	return rc < 0;
}

/* ---- http-sink ---- */

static volatile sig_atomic_t lg_sink_stop;

static void lg_sink_on_signal(int sig)
{
	(void)sig;
	lg_sink_stop = 1;
}

struct lg_sconn {
	int s_fd;
	char *s_in; /* LG_SINK_BUF bytes */
	size_t s_in_len;
	size_t s_owed; /* answers not yet written in full: bytes of them left */
};

struct lg_sink {
	unsigned long k_want, k_got, k_bad;
	unsigned long k_distinct, k_dups, k_reordered, k_max_seq;
	bool k_any_seq;
	unsigned char *k_seen; /* one byte per number < COUNT; NULL without -n */
	uint64_t k_first, k_last;
	unsigned long long k_bytes;
};

static const char lg_sink_answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
#define LG_SINK_ANSWER_LEN (sizeof(lg_sink_answer) - 1)

/* The number after "payload": "{ in BODY, if mqtt-pub -N put one there. */
static void lg_sink_seq(struct lg_sink *k, const char *body, size_t n)
{
	const char *p = memmem(body, n, "\"payload\":", 10), *end = body + n;
	unsigned long seq = 0;
	int i;

	if (p == NULL || k->k_seen == NULL)
		return;
	for (p += 10; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	if (end - p < LG_SEQ_DIGITS + 2 || p[0] != '"' || p[1] != '{')
		return;
	for (i = 0, p += 2; i < LG_SEQ_DIGITS; i++, p++) {
		if (*p < '0' || *p > '9')
			return;
		seq = seq * 10 + (unsigned long)(*p - '0');
	}
	if (seq >= k->k_want)
		return;
	if (k->k_seen[seq]++ != 0)
		k->k_dups++;
	else
		k->k_distinct++;
	if (k->k_any_seq && seq < k->k_max_seq)
		k->k_reordered++;
	if (!k->k_any_seq || seq > k->k_max_seq)
		k->k_max_seq = seq;
	k->k_any_seq = true;
}

/*
 * The whole requests at the start of C's input: counted and answered.
 * 0, or -1 when the connection is to be dropped (not HTTP/1.x with a
 * Content-Length, or larger than the buffer).
 */
static int lg_sink_requests(struct lg_sink *k, struct lg_sconn *c, uint64_t now)
{
	size_t off = 0;

	for (;;) {
		const char *p = c->s_in + off, *end, *line, *eol;
		size_t n = c->s_in_len - off, total;
		long long clen = 0;

		end = memmem(p, n, "\r\n\r\n", 4);
		if (end == NULL) {
			if (n >= LG_SINK_BUF)
				return -1;
			break;
		}
		line = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (memmem(p, (size_t)(line - p), " HTTP/1.", 8) == NULL)
			return -1;
		for (line += 2; line < end + 2; line = eol + 2) {
			eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
			if (eol - line > 15 && strncasecmp(line, "content-length:", 15) == 0) {
				const char *d = line + 15;

				while (d < eol && (*d == ' ' || *d == '\t'))
					d++;
				for (clen = 0; d < eol && *d >= '0' && *d <= '9'; d++)
					if ((clen = clen * 10 + (*d - '0')) > LG_SINK_BUF)
						return -1;
			} else if (eol - line > 18 &&
			           strncasecmp(line, "transfer-encoding:", 18) == 0) {
				return -1; /* chunked bodies: not from this daemon */
			}
		}
		total = (size_t)(end + 4 - p) + (size_t)clen;
		if (total > LG_SINK_BUF)
			return -1;
		if (n < total)
			break;
		if (strncmp(p, "POST ", 5) != 0)
			k->k_bad++;
		lg_sink_seq(k, end + 4, (size_t)clen);
		k->k_bytes += total;
		if (k->k_got++ == 0)
			k->k_first = now;
		k->k_last = now;
		c->s_owed += LG_SINK_ANSWER_LEN;
		off += total;
	}
	memmove(c->s_in, c->s_in + off, c->s_in_len - off);
	c->s_in_len -= off;
	return 0;
}

/* Write the answers owed (all the same bytes); 0, or -1 on an error. */
static int lg_sink_write(struct lg_sconn *c)
{
	static char chunk[64 * LG_SINK_ANSWER_LEN];
	size_t i;

	if (chunk[0] == '\0')
		for (i = 0; i < sizeof(chunk); i += LG_SINK_ANSWER_LEN)
			memcpy(chunk + i, lg_sink_answer, LG_SINK_ANSWER_LEN);
	while (c->s_owed > 0) {
		/* Where in an answer the bytes still owed start. */
		size_t at = (LG_SINK_ANSWER_LEN - c->s_owed % LG_SINK_ANSWER_LEN) %
		            LG_SINK_ANSWER_LEN,
		       n = c->s_owed < sizeof(chunk) - at ? c->s_owed : sizeof(chunk) - at;
		ssize_t w;

		w = write(c->s_fd, chunk + at, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		c->s_owed -= (size_t)w;
	}
	return 0;
}

static void lg_sink_close(struct lg_sconn *c)
{
	close(c->s_fd);
	free(c->s_in);
	c->s_fd = -1;
	c->s_in = NULL;
	c->s_in_len = c->s_owed = 0;
}

static int lg_sink_main(int argc, char **argv)
{
	struct lg_sink k;
	struct sigaction sa_stop;
	struct lg_sconn conns[LG_MAX_CONNS];
	struct pollfd pfd[LG_MAX_CONNS + 1];
	struct sockaddr_in sa;
	unsigned port = 0, nconns = 0, open = 0, open_max = 0, accepted = 0, dropped = 0, i;
	unsigned long idle = 2, max = 60;
	uint64_t start, deadline;
	const char *end = "timeout";
	int lfd, opt, one = 1;
	double span;

	memset(&k, 0, sizeof(k));
	while ((opt = getopt(argc, argv, "p:n:i:T:")) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)lg_number(optarg, 1, 65535, "PORT must be 1-65535");
			break;
		case 'n':
			k.k_want = lg_number(optarg, 1, LG_MAX_COUNT, "COUNT must be 1-100000000");
			break;
		case 'i':
			idle = lg_number(optarg, 1, LG_MAX_SECONDS, "IDLE must be 1-3600");
			break;
		case 'T':
			max = lg_number(optarg, 1, LG_MAX_SECONDS, "MAX must be 1-3600");
			break;
		default:
			lg_usage("unknown option");
		}
	}
	if (optind != argc || port == 0)
		lg_usage("http-sink needs -p");
	if (k.k_want > 0 && (k.k_seen = calloc(k.k_want, 1)) == NULL)
		lg_die("out of memory");
	/* No SA_RESTART: poll() returns EINTR and the loop sees the flag. */
	memset(&sa_stop, 0, sizeof(sa_stop));
	sa_stop.sa_handler = lg_sink_on_signal;
	sigemptyset(&sa_stop.sa_mask);
	sigaction(SIGTERM, &sa_stop, NULL);
	sigaction(SIGINT, &sa_stop, NULL);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		lg_die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		lg_die("bind 127.0.0.1:%u: %s", port, strerror(errno));
	if (listen(lfd, 128) != 0)
		lg_die("listen: %s", strerror(errno));
	lg_nonblock(lfd);
	printf("ready\n");
	fflush(stdout);

	start = lg_now();
	for (;;) {
		uint64_t now;

		deadline = start + (uint64_t)max * LG_NS;
		if (k.k_got > 0 && k.k_last + (uint64_t)idle * LG_NS < deadline)
			deadline = k.k_last + (uint64_t)idle * LG_NS;
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i].s_fd;
			pfd[i + 1].events = POLLIN | (conns[i].s_owed > 0 ? POLLOUT : 0);
			pfd[i + 1].revents = 0;
		}
		if (lg_sink_stop) {
			end = "signal";
			break;
		}
		if (poll(pfd, nconns + 1, lg_poll_ms(deadline)) < 0 && errno != EINTR)
			lg_die("poll: %s", strerror(errno));
		now = lg_now();
		if (now >= deadline)
			break;
		for (i = 0; i < nconns; i++) {
			struct lg_sconn *c = &conns[i];
			ssize_t r;

			if (c->s_fd < 0 || pfd[i + 1].revents == 0)
				continue;
			if ((pfd[i + 1].revents & POLLOUT) != 0 && lg_sink_write(c) != 0) {
				lg_sink_close(c);
				dropped++;
				open--;
				continue;
			}
			if ((pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
				continue;
			r = read(c->s_fd, c->s_in + c->s_in_len, LG_SINK_BUF - c->s_in_len);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				continue;
			if (r <= 0) {
				/* The daemon closing an idle connection is no error. */
				if (r < 0 || c->s_in_len > 0)
					dropped++;
				lg_sink_close(c);
				open--;
				continue;
			}
			c->s_in_len += (size_t)r;
			if (lg_sink_requests(&k, c, now) != 0 || lg_sink_write(c) != 0) {
				if (k.k_bad++ < 5)
					fprintf(stderr, "loadgen: http-sink: a bad request\n");
				lg_sink_close(c);
				dropped++;
				open--;
			}
		}
		if (k.k_want > 0 && k.k_got >= k.k_want) {
			end = "count";
			break;
		}
		if ((pfd[0].revents & POLLIN) != 0) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				lg_die("accept: %s", strerror(errno));
			if (fd >= 0) {
				/* A free slot, or a new one at the end. */
				for (i = 0; i < nconns && conns[i].s_fd >= 0; i++)
					;
				if (i == LG_MAX_CONNS)
					lg_die("more than %d connections at once", LG_MAX_CONNS);
				if (i == nconns)
					nconns++;
				lg_nonblock(fd);
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				conns[i].s_fd = fd;
				conns[i].s_in = malloc(LG_SINK_BUF);
				conns[i].s_in_len = conns[i].s_owed = 0;
				if (conns[i].s_in == NULL)
					lg_die("out of memory");
				accepted++;
				if (++open > open_max)
					open_max = open;
			}
		}
	}
	/* Answers still owed go out (blocking) before the connections close. */
	for (i = 0; i < nconns; i++) {
		if (conns[i].s_fd < 0)
			continue;
		if (conns[i].s_owed > 0) {
			fcntl(conns[i].s_fd, F_SETFL, fcntl(conns[i].s_fd, F_GETFL) & ~O_NONBLOCK);
			lg_sink_write(&conns[i]);
		}
		lg_sink_close(&conns[i]);
	}
	close(lfd);

	span = (double)(k.k_last - k.k_first) / 1e9;
	printf("mode=http-sink requests=%lu bytes=%llu bad=%lu conns=%u conns_max=%u "
	       "conns_dropped=%u distinct=%lu dups=%lu reordered=%lu first_ns=%llu last_ns=%llu "
	       "seconds=%.3f rate=%.0f end=%s\n",
	       k.k_got, k.k_bytes, k.k_bad, accepted, open_max, dropped, k.k_distinct, k.k_dups,
	       k.k_reordered, (unsigned long long)k.k_first, (unsigned long long)k.k_last, span,
	       k.k_got > 1 && span > 0 ? (double)(k.k_got - 1) / span : 0.0, end);
	free(k.k_seen);
	return k.k_bad > 0;
}

/* ---- copy-ref mode ---- */

static int lg_ref_main(int argc, char **argv)
{
	size_t bytes = 0, i, off;
	unsigned long count = 0;
	struct timespec t0, t1;
	char *src, *dst;
	int opt, sv[2];
	pid_t child;
	double us;

	while ((opt = getopt(argc, argv, "s:n:")) != -1) {
		switch (opt) {
		case 's':
			bytes = lg_number(optarg, 1, LG_BIG_MAX, "BYTES must be 1-67108864");
			break;
		case 'n':
			count = lg_number(optarg, 1, LG_MAX_COUNT, "COUNT must be 1-100000000");
			break;
		default:
			lg_usage("unknown option");
		}
	}
	if (optind != argc || bytes == 0 || count == 0)
		lg_usage("copy-ref needs -s and -n");
	src = malloc(bytes);
	dst = malloc(bytes);
	if (src == NULL || dst == NULL)
		lg_die("out of memory");
	lg_base64_fill(src, bytes);
	memset(dst, 0, bytes);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		lg_die("socketpair: %s", strerror(errno));
	if ((child = fork()) < 0)
		lg_die("fork: %s", strerror(errno));
	if (child == 0) {
		static char sink[65536];

		close(sv[0]);
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < count; i++) {
		memcpy(dst, src, bytes);
		/* Keep the compiler from dropping the copy. */
		src[i % bytes] ^= dst[(i * 7) % bytes] & 1;
		for (off = 0; off < bytes;) {
			ssize_t w = write(sv[0], dst + off, bytes - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				lg_die("write: %s", strerror(errno));
			off += (size_t)w;
		}
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	close(sv[0]);
	waitpid(child, NULL, 0);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
	     (double)count;
	printf("mode=copy-ref bytes=%zu count=%lu ref_us=%.1f\n", bytes, count, us);
	free(src);
	free(dst);
	return 0;
}

int main(int argc, char **argv)
{
	/* A server that closes on us must not kill the run with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "http") == 0)
		return lg_http_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "mqtt-pub") == 0)
		return lg_pub_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "mqtt-sub") == 0)
		return lg_sub_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "http-sink") == 0)
		return lg_sink_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "copy-ref") == 0)
		return lg_ref_main(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "-h") == 0)
		lg_usage(NULL);
	lg_usage("the first argument is http, mqtt-pub, mqtt-sub, http-sink or copy-ref");
	return 2;
}
