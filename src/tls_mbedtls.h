/*
 * tls_mbedtls: the mbedtls half of tls, reached only through tls.c, which
 * does plain sockets itself (sessions are never NULL here). Built only
 * with HAVE_TLS; mbedtls is linked into the daemon like any other library.
 * Each call is the tls.h call of the same name without "_mbedtls".
 */
#ifndef OCTO_TLS_MBEDTLS_H
#define OCTO_TLS_MBEDTLS_H

#include "tls.h"

/*
 * As tls_conf_new(), with o->ca_file set when o->verify; *ignored: the
 * certificates of the CA bundle that did not parse.
 */
struct tls_conf *tls_mbedtls_conf_new(const struct tls_conf_opts *o, enum tls_file *which,
                                      int *ignored, char *err, size_t errlen);
void tls_mbedtls_conf_free(struct tls_conf *c);
struct tls *tls_mbedtls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen);
void tls_mbedtls_free(struct tls *t);
int tls_mbedtls_handshake(struct tls *t, char *err, size_t errlen);
int tls_mbedtls_want(const struct tls *t);
const char *tls_mbedtls_describe(const struct tls *t, char *out, size_t outlen);
ssize_t tls_mbedtls_recv(struct tls *t, void *buf, size_t len, char *err, size_t errlen);
ssize_t tls_mbedtls_send(struct tls *t, const void *buf, size_t len, char *err, size_t errlen);
bool tls_mbedtls_pending(const struct tls *t);

#endif
