/*
 * fuzz_tls_handshake: a peer that answers our ClientHello with the input
 * (then closes), as a broker or webhook receiver gone wrong could. The
 * tls module must end in TLS_OK or TLS_FAIL with a message, never crash,
 * hang or leak; after a handshake that somehow succeeds, reads must end
 * the same way. Checks are off (tls_verify = false) so no file is read
 * and a forged certificate is not refused before mbedtls parses it.
 * Built --without-tls it does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "tls.h"

#define FUZZ_MAX 60000 /* fits the socket buffer: written in one go */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_conf *conf;
	char err[ERR_LEN], hello[4096];
	int fds[2], rc = TLS_AGAIN, bufsz = FUZZ_MAX * 2;
	struct tls *t;

	if (!tls_available())
		return 0; /* built --without-tls: nothing to fuzz */
	if (conf == NULL) {
		struct tls_conf_opts o = {NULL, NULL, NULL, false, false};

		signal(SIGPIPE, SIG_IGN);
		conf = tls_conf_new(&o, NULL, err, sizeof(err));
		FUZZ_ASSERT(conf != NULL);
	}
	if (size > FUZZ_MAX)
		size = FUZZ_MAX;
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	for (int i = 0; i < 2; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	t = tls_new(conf, fds[0], "localhost", err, sizeof(err));
	FUZZ_ASSERT(t != NULL);
	FUZZ_ASSERT(tls_handshake(t, err, sizeof(err)) == TLS_AGAIN);
	while (read(fds[1], hello, sizeof(hello)) > 0)
		;
	if (size > 0)
		FUZZ_ASSERT(write(fds[1], data, size) == (ssize_t)size);
	shutdown(fds[1], SHUT_WR);
	/* Everything is in the socket, then EOF: each step makes progress. */
	for (int i = 0; i < 1000 && rc == TLS_AGAIN; i++) {
		err[0] = '\0';
		rc = tls_handshake(t, err, sizeof(err));
		while (read(fds[1], hello, sizeof(hello)) > 0)
			;
	}
	FUZZ_ASSERT(rc != TLS_AGAIN);
	if (rc == TLS_FAIL)
		FUZZ_ASSERT(err[0] != '\0');
	for (int i = 0; rc == TLS_OK && i < 1000; i++) {
		ssize_t n = tls_recv(t, fds[0], hello, sizeof(hello), err, sizeof(err));

		if (n <= 0 && !(n < 0 && errno == EAGAIN && tls_pending(t)))
			break;
	}
	tls_free(t);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
