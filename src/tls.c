/*
 * tls: the TLS calls of the daemon (see tls.h): plain sockets here, TLS
 * sessions in tls_mbedtls.c (built with HAVE_TLS only). Without HAVE_TLS
 * no tls_conf can be made, so no session exists: the calls that take one
 * are only ever given NULL.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "loop.h"
#include "tls.h"
#include "tls_mbedtls.h"

/* Plain sockets: the same contract as the TLS calls. */
static ssize_t tls_plain_recv(int fd, void *buf, size_t len, char *err, size_t errlen)
{
	ssize_t n = recv(fd, buf, len, 0);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		snprintf(err, errlen, "%s", strerror(errno));
	else if (n < 0)
		errno = EAGAIN;
	return n;
}

static ssize_t tls_plain_send(int fd, const void *buf, size_t len, char *err, size_t errlen)
{
	/* MSG_NOSIGNAL: a peer gone away must not raise SIGPIPE. */
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		snprintf(err, errlen, "%s", strerror(errno));
	else if (n < 0)
		errno = EAGAIN;
	return n;
}

/* The system CA bundle, first found. */
static const char *const tls_ca_places[] = {
#ifdef TLS_CA_BUNDLE
        TLS_CA_BUNDLE,
#endif
        "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
        "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
        "/etc/ssl/ca-bundle.pem",             /* openSUSE */
        "/etc/ssl/cert.pem",                  /* Alpine, the BSDs */
};

const char *tls_system_ca(void)
{
	for (size_t i = 0; i < nitems(tls_ca_places); i++)
		if (access(tls_ca_places[i], R_OK) == 0)
			return tls_ca_places[i];
	return NULL;
}

#ifndef HAVE_TLS

bool tls_available(void)
{
	return false;
}

struct tls_conf *tls_conf_new(const struct tls_conf_opts *o, enum tls_file *which, char *err,
                              size_t errlen)
{
	(void)o;
	if (which != NULL)
		*which = TLS_FILE_NONE;
	snprintf(err, errlen, "TLS is not available: octomqttd was built --without-tls");
	return NULL;
}

void tls_conf_free(struct tls_conf *c)
{
	(void)c;
}

struct tls *tls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen)
{
	(void)c;
	(void)fd;
	(void)host;
	snprintf(err, errlen, "TLS is not set up");
	return NULL;
}

void tls_free(struct tls *t)
{
	(void)t;
}

int tls_handshake(struct tls *t, char *err, size_t errlen)
{
	(void)t;
	snprintf(err, errlen, "TLS is not set up");
	return -1;
}

int tls_want(const struct tls *t)
{
	(void)t;
	return LOOP_READ;
}

const char *tls_describe(const struct tls *t, char *out, size_t outlen)
{
	(void)t;
	if (outlen > 0)
		out[0] = '\0';
	return out;
}

ssize_t tls_recv(struct tls *t, int fd, void *buf, size_t len, char *err, size_t errlen)
{
	(void)t;
	return tls_plain_recv(fd, buf, len, err, errlen);
}

ssize_t tls_send(struct tls *t, int fd, const void *buf, size_t len, char *err, size_t errlen)
{
	(void)t;
	return tls_plain_send(fd, buf, len, err, errlen);
}

bool tls_pending(const struct tls *t)
{
	(void)t;
	return false;
}

#else /* HAVE_TLS */

bool tls_available(void)
{
	return true;
}

struct tls_conf *tls_conf_new(const struct tls_conf_opts *o, enum tls_file *which, char *err,
                              size_t errlen)
{
	struct tls_conf_opts oo = *o;
	enum tls_file w = TLS_FILE_NONE;
	struct tls_conf *c;
	int ignored = 0;

	if (which != NULL)
		*which = TLS_FILE_NONE;
	if (oo.verify && oo.ca_file == NULL && (oo.ca_file = tls_system_ca()) == NULL) {
		if (which != NULL)
			*which = TLS_FILE_CA;
		snprintf(err, errlen,
		         "no system CA bundle found (install ca-certificates, or name a file)");
		return NULL;
	}
	c = tls_mbedtls_conf_new(&oo, &w, &ignored, err, errlen);
	if (which != NULL)
		*which = w;
	if (c != NULL && ignored > 0)
		log_debug("%s: %d certificate(s) could not be parsed and are ignored", oo.ca_file,
		          ignored);
	return c;
}

void tls_conf_free(struct tls_conf *c)
{
	if (c != NULL)
		tls_mbedtls_conf_free(c);
}

struct tls *tls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen)
{
	if (c == NULL) {
		snprintf(err, errlen, "TLS is not set up");
		return NULL;
	}
	return tls_mbedtls_new(c, fd, host, err, errlen);
}

void tls_free(struct tls *t)
{
	if (t != NULL)
		tls_mbedtls_free(t);
}

int tls_handshake(struct tls *t, char *err, size_t errlen)
{
	return tls_mbedtls_handshake(t, err, errlen);
}

int tls_want(const struct tls *t)
{
	return t != NULL ? tls_mbedtls_want(t) : LOOP_READ;
}

const char *tls_describe(const struct tls *t, char *out, size_t outlen)
{
	if (t == NULL) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	return tls_mbedtls_describe(t, out, outlen);
}

ssize_t tls_recv(struct tls *t, int fd, void *buf, size_t len, char *err, size_t errlen)
{
	if (t == NULL)
		return tls_plain_recv(fd, buf, len, err, errlen);
	return tls_mbedtls_recv(t, buf, len, err, errlen);
}

ssize_t tls_send(struct tls *t, int fd, const void *buf, size_t len, char *err, size_t errlen)
{
	if (t == NULL)
		return tls_plain_send(fd, buf, len, err, errlen);
	return tls_mbedtls_send(t, buf, len, err, errlen);
}

bool tls_pending(const struct tls *t)
{
	return t != NULL && tls_mbedtls_pending(t);
}

#endif /* HAVE_TLS */
