/*
 * freeport: loopback port helper for the integration tests.
 *
 *   freeport                  print a TCP port that is free on 127.0.0.1
 *   freeport -w PORT SECONDS  wait until 127.0.0.1:PORT accepts connections
 *   freeport -c PORT SECONDS  wait until 127.0.0.1:PORT refuses connections
 *
 * PORT is 1-65535, SECONDS 0-3600 (0: one try). Exit 0 on success, 1 when
 * the deadline passes, 2 on bad usage or a system error.
 *
 * With FREEPORT_DIR set (make check sets it), a port is also claimed
 * there (mkdir DIR/PORT, atomic) and never handed out again within an
 * hour: a test that stops its broker and starts it again on the same
 * port keeps the port, even though the kernel would give it to the next
 * test's bind(port 0) meanwhile, which then met the other test's daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_SECONDS 3600
/* Pause between two connect attempts. */
#define FP_POLL_NS (20 * 1000 * 1000)
/* Ports claimed in FREEPORT_DIR are free again after this. */
#define FP_CLAIM_SECONDS 3600
#define FP_TRIES         200

/* Print the usage (to stderr after an error, with why) and exit. */
static void fp_usage(const char *why)
{
	FILE *out = why != NULL ? stderr : stdout;

	if (why != NULL)
		fprintf(stderr, "freeport: %s\n", why);
	fprintf(out,
	        "usage: freeport                  print a free TCP port on 127.0.0.1\n"
	        "       freeport -w PORT SECONDS  wait until 127.0.0.1:PORT accepts\n"
	        "       freeport -c PORT SECONDS  wait until 127.0.0.1:PORT refuses\n"
	        "PORT is 1-65535, SECONDS 0-%d\n",
	        FP_MAX_SECONDS);
	exit(why != NULL ? 2 : 0);
}

/* A decimal number in [min, max]: digits only, no sign, no spaces. */
static unsigned long fp_number(const char *s, unsigned long min, unsigned long max,
                               const char *what)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		fp_usage(what);
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			fp_usage(what);
		if (v > (max - (unsigned long)(*p - '0')) / 10)
			fp_usage(what);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min)
		fp_usage(what);
	return v;
}

static double fp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fp_loopback(struct sockaddr_in *sa, unsigned port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/*
 * 1 if a connect succeeds, 0 if it is refused (nothing listens), -1 if
 * neither is known (a listener with a full backlog drops the SYN and the
 * connect times out): that answer satisfies neither -w nor -c.
 */
static int fp_try_connect(unsigned port)
{
	struct timeval tv = {1, 0};
	struct sockaddr_in sa;
	int fd, rc;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "freeport: socket: %s\n", strerror(errno));
		exit(2);
	}
	/* Bounds a connect to a listener that does not answer. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	fp_loopback(&sa, port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		rc = 1;
	else
		rc = errno == ECONNREFUSED ? 0 : -1;
	close(fd);
	return rc;
}

static int fp_wait(int want_open, const char *port_arg, const char *secs_arg)
{
	unsigned port = (unsigned)fp_number(port_arg, 1, 65535, "PORT must be 1-65535");
	unsigned long secs = fp_number(secs_arg, 0, FP_MAX_SECONDS, "SECONDS must be 0-3600");
	double end = fp_now() + (double)secs;
	struct timespec pause = {0, FP_POLL_NS};

	while (fp_try_connect(port) != want_open) {
		if (fp_now() >= end) {
			fprintf(stderr,
			        "freeport: 127.0.0.1:%u did not %s connections within %lu s\n",
			        port, want_open ? "accept" : "refuse", secs);
			return 1;
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

static int fp_bind_any(void);

/* Claim port in dir: 1 if it is ours now, 0 if another test has it. */
static int fp_claim(const char *dir, unsigned port)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%u", dir, port);
	if (mkdir(path, 0700) == 0)
		return 1;
	if (errno != EEXIST) {
		fprintf(stderr, "freeport: mkdir %s: %s\n", path, strerror(errno));
		exit(2);
	}
	/* A claim from an earlier run long ago: take it over. */
	if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > FP_CLAIM_SECONDS &&
	    rmdir(path) == 0 && mkdir(path, 0700) == 0)
		return 1;
	return 0;
}

static int fp_free_port(void)
{
	const char *dir = getenv("FREEPORT_DIR");

	if (dir != NULL && *dir != '\0' && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "freeport: mkdir %s: %s\n", dir, strerror(errno));
		return 2;
	}
	for (int i = 0; i < FP_TRIES; i++) {
		int port = fp_bind_any();

		if (port < 0)
			return 2;
		if (dir == NULL || *dir == '\0' || fp_claim(dir, (unsigned)port)) {
			printf("%d\n", port);
			return 0;
		}
	}
	fprintf(stderr, "freeport: no unclaimed port after %d tries (FREEPORT_DIR=%s)\n", FP_TRIES,
	        dir);
	return 2;
}

/* A port the kernel says is free on 127.0.0.1 now, or -1. */
static int fp_bind_any(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "freeport: socket: %s\n", strerror(errno));
		return -1;
	}
	fp_loopback(&sa, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "freeport: bind 127.0.0.1:0: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return fp_free_port();
	if (argc == 4 && strcmp(argv[1], "-w") == 0)
		return fp_wait(1, argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "-c") == 0)
		return fp_wait(0, argv[2], argv[3]);
	if (argc == 2 && strcmp(argv[1], "-h") == 0)
		fp_usage(NULL);
	fp_usage(argc >= 2 && (strcmp(argv[1], "-w") == 0 || strcmp(argv[1], "-c") == 0)
	                 ? "-w and -c take PORT and SECONDS"
	                 : "unknown arguments");
	return 2;
}
