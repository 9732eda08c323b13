/*
 * tls: mbedtls client sessions over a non-blocking socket, for the broker
 * link and https:// webhooks.
 *
 * A tls_conf holds what sessions share: the trusted CA chain, an optional
 * client certificate and key, the verification mode and a random number
 * generator. It is built once (at start-up, or at the first https webhook)
 * and must outlive its sessions. Building it reads and checks the files,
 * so `octomqttd -t` uses it to vet the configuration.
 *
 * A session wraps one connected, non-blocking TCP socket. The caller owns
 * the descriptor and its loop watchers: every call that cannot go on
 * returns "again" and tls_want() says which readiness (LOOP_READ or
 * LOOP_WRITE) it waits for. tls_recv()/tls_send() behave like recv()/
 * send() on the plain socket when the session is NULL, so a caller has one
 * I/O path for both.
 *
 * Built --without-tls, tls_conf_new() fails with a message saying so and
 * the NULL-session I/O still works.
 */
#ifndef OCTO_TLS_H
#define OCTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "compat.h"

struct tls_conf;
struct tls;

/* Which file tls_conf_new() failed on. */
enum tls_file { TLS_FILE_NONE, TLS_FILE_CA, TLS_FILE_CERT, TLS_FILE_KEY };

struct tls_conf_opts {
	const char *ca_file;   /* PEM bundle or a directory of them; NULL: the system store */
	const char *cert_file; /* client certificate (PEM), or NULL */
	const char *key_file;  /* its private key (PEM, unencrypted); with cert_file only */
	bool verify;           /* check the peer's chain against ca_file */
	bool check_name;       /* check the peer's name (false: tls_insecure) */
};

/* Was this build made with TLS? */
bool tls_available(void);
/*
 * The system CA bundle: the configure-time path if one was given, else the
 * first readable of the usual places (Debian, Fedora, openSUSE, Alpine).
 * NULL if none is there.
 */
const char *tls_system_ca(void);

/*
 * Read and check the files of o (a key that does not match its certificate
 * is an error). NULL with err set ("FILE: what is wrong") and *which naming
 * the file at fault (NULL which is allowed).
 */
struct tls_conf *tls_conf_new(const struct tls_conf_opts *o, enum tls_file *which, char *err,
                              size_t errlen);
void tls_conf_free(struct tls_conf *c);

/*
 * A client session over fd, which is connected. host is sent as SNI and
 * is the name the certificate must carry (unless check_name is off). NULL
 * with err set if mbedtls refuses (out of memory).
 */
struct tls *tls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen);
/* Send close_notify if the handshake had finished (best effort), free. */
void tls_free(struct tls *t);

#define TLS_OK    0
#define TLS_AGAIN 1
#define TLS_FAIL  (-1)

/*
 * Advance the handshake: TLS_OK when done, TLS_AGAIN (wait for tls_want()),
 * or TLS_FAIL with err saying why in words (the certificate problems
 * mbedtls found: "not signed by a trusted CA", "expired", "the name does
 * not match"; an alert from the peer; a peer that does not speak TLS).
 */
int tls_handshake(struct tls *t, char *err, size_t errlen);
/* LOOP_READ or LOOP_WRITE: what the last TLS_AGAIN / EAGAIN waits for. */
int tls_want(const struct tls *t);
/* The cipher suite and version agreed, for a log line ("" before). */
const char *tls_describe(const struct tls *t, char *out, size_t outlen);

/*
 * Like recv(fd, ...): > 0 bytes, 0 at the end of the stream (close_notify
 * or EOF), or -1 with errno EAGAIN (wait for tls_want(); LOOP_READ when t
 * is NULL) or another errno with err set. t NULL: plain recv() on fd.
 */
ssize_t tls_recv(struct tls *t, int fd, void *buf, size_t len, char *err, size_t errlen);
/*
 * Like send(fd, ..., MSG_NOSIGNAL): bytes taken (> 0), or -1 with errno
 * EAGAIN or another errno with err set. After EAGAIN call again with the
 * same bytes at the start of buf and at least the same len (mbedtls has
 * already encrypted them; a buffer that only grows at its tail and is
 * consumed from its head by the returned count does this). t NULL: plain
 * send() on fd.
 */
ssize_t tls_send(struct tls *t, int fd, const void *buf, size_t len, char *err, size_t errlen);
/*
 * Does the session hold received bytes not yet returned by tls_recv()? The
 * socket is not readable for them: call tls_recv() again before waiting.
 */
bool tls_pending(const struct tls *t);

#endif
