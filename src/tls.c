/*
 * tls: the TLS calls of the daemon (see tls.h): plain sockets here, TLS
 * sessions in the mbedtls module (tls_mbedtls.c), which is loaded with
 * dlopen() the first time a TLS configuration is made, so a daemon
 * without TLS never maps mbedtls.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Never reached: there are no sessions. */
static const struct tls_ops *tls_ops;

struct tls_conf *tls_conf_new(const struct tls_conf_opts *o, enum tls_file *which, char *err,
                              size_t errlen)
{
	(void)o;
	if (which != NULL)
		*which = TLS_FILE_NONE;
	snprintf(err, errlen, "TLS is not available: octomqttd was built --without-tls");
	return NULL;
}

#else /* HAVE_TLS */

bool tls_available(void)
{
	return true;
}

/*
 * Linked in (unit tests, fuzzers): used as it is. In the daemon this weak
 * reference stays NULL and the module is loaded instead.
 */
extern const struct tls_ops tls_mbedtls_ops __attribute__((weak));

static const struct tls_ops *tls_ops;

/* The module: $OCTOMQTTD_TLS_MODULE if set (tests, a build tree), else the installed one. */
static const struct tls_ops *tls_load(char *err, size_t errlen)
{
	const struct tls_ops *ops;
	const char *path;
	void *h;

	if (tls_ops != NULL)
		return tls_ops;
	if (&tls_mbedtls_ops != NULL)
		return tls_ops = &tls_mbedtls_ops;
	path = getenv(TLS_MODULE_ENV);
	if (path == NULL || path[0] == '\0')
		path = TLS_MODULE_PATH;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		/* dlerror() names the file and says why. */
		snprintf(err, errlen, "cannot load the TLS module: %s", dlerror());
		return NULL;
	}
	ops = dlsym(h, TLS_OPS_SYMBOL);
	if (ops == NULL) {
		snprintf(err, errlen, "%s: not an octomqttd TLS module (no %s)", path,
		         TLS_OPS_SYMBOL);
	} else if (ops->version != TLS_OPS_VERSION || ops->size != sizeof(*ops)) {
		snprintf(err, errlen,
		         "%s: TLS module of another octomqttd version (interface %u, this "
		         "daemon needs %u); reinstall octomqttd",
		         path, ops->version, TLS_OPS_VERSION);
		ops = NULL;
	}
	if (ops == NULL) {
		dlclose(h);
		return NULL;
	}
	/* Kept loaded until exit: sessions may come and go all the time. */
	log_debug("TLS module %s loaded", path);
	return tls_ops = ops;
}

struct tls_conf *tls_conf_new(const struct tls_conf_opts *o, enum tls_file *which, char *err,
                              size_t errlen)
{
	const struct tls_ops *ops = tls_load(err, errlen);
	struct tls_conf_opts oo = *o;
	enum tls_file w = TLS_FILE_NONE;
	struct tls_conf *c;
	int ignored = 0;

	if (which != NULL)
		*which = TLS_FILE_NONE;
	if (ops == NULL)
		return NULL;
	if (oo.verify && oo.ca_file == NULL && (oo.ca_file = tls_system_ca()) == NULL) {
		if (which != NULL)
			*which = TLS_FILE_CA;
		snprintf(err, errlen,
		         "no system CA bundle found (install ca-certificates, or name a file)");
		return NULL;
	}
	c = ops->conf_new(&oo, &w, &ignored, err, errlen);
	if (which != NULL)
		*which = w;
	if (c != NULL && ignored > 0)
		log_debug("%s: %d certificate(s) could not be parsed and are ignored", oo.ca_file,
		          ignored);
	return c;
}

#endif /* HAVE_TLS */

/*
 * A tls_conf or session exists only once tls_ops is set, so the calls
 * below need no other check.
 */
void tls_conf_free(struct tls_conf *c)
{
	if (c != NULL)
		tls_ops->conf_free(c);
}

struct tls *tls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen)
{
	if (tls_ops == NULL || c == NULL) {
		snprintf(err, errlen, "TLS is not set up");
		return NULL;
	}
	return tls_ops->session_new(c, fd, host, err, errlen);
}

void tls_free(struct tls *t)
{
	if (t != NULL)
		tls_ops->session_free(t);
}

int tls_handshake(struct tls *t, char *err, size_t errlen)
{
	return tls_ops->handshake(t, err, errlen);
}

int tls_want(const struct tls *t)
{
	return t != NULL ? tls_ops->want(t) : LOOP_READ;
}

const char *tls_describe(const struct tls *t, char *out, size_t outlen)
{
	if (t == NULL) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	return tls_ops->describe(t, out, outlen);
}

ssize_t tls_recv(struct tls *t, int fd, void *buf, size_t len, char *err, size_t errlen)
{
	if (t == NULL)
		return tls_plain_recv(fd, buf, len, err, errlen);
	return tls_ops->recv(t, buf, len, err, errlen);
}

ssize_t tls_send(struct tls *t, int fd, const void *buf, size_t len, char *err, size_t errlen)
{
	if (t == NULL)
		return tls_plain_send(fd, buf, len, err, errlen);
	return tls_ops->send(t, buf, len, err, errlen);
}

bool tls_pending(const struct tls *t)
{
	return t != NULL && tls_ops->pending(t);
}
