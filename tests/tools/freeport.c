/*
 * freeport: loopback port helper for the integration tests.
 *
 *   freeport                  print a TCP port free on 127.0.0.1
 *   freeport -w PORT SECONDS  wait until 127.0.0.1:PORT accepts connections
 *   freeport -c PORT SECONDS  wait until 127.0.0.1:PORT refuses connections
 *
 * Exit 0 on success, 1 when the deadline passes, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: freeport [-w PORT SECONDS | -c PORT SECONDS]\n");
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	unsigned long v = 0;

	if (*s == '\0')
		usage();
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > max / 10)
			usage();
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > max)
		usage();
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 if a connect succeeds, 0 if refused (or any other failure). */
static int try_connect(unsigned port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0) {
		perror("freeport: socket");
		exit(2);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd;

	if (argc == 4 && (strcmp(argv[1], "-w") == 0 || strcmp(argv[1], "-c") == 0)) {
		unsigned port = (unsigned)number(argv[2], 65535);
		double end = now() + (double)number(argv[3], 3600);
		int want = argv[1][1] == 'w';
		struct timespec pause = {0, 20 * 1000 * 1000};

		if (port == 0)
			usage();
		while (try_connect(port) != want) {
			if (now() > end) {
				fprintf(stderr, "freeport: 127.0.0.1:%u still %s after %s s\n", port,
				        want ? "refuses connections" : "accepts connections",
				        argv[3]);
				return 1;
			}
			nanosleep(&pause, NULL);
		}
		return 0;
	}
	if (argc != 1)
		usage();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("freeport");
		return 2;
	}
	printf("%u\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}
