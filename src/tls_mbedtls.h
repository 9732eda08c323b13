/*
 * tls_mbedtls: the mbedtls half of tls, built as the loadable module
 * $(pkglibdir)/tls.so (linked with mbedtls) and reached only through
 * tls.c, which loads it the first time a TLS configuration is made. A
 * daemon without TLS in its configuration never maps mbedtls (about
 * 0.5 MB of RSS; doc/BENCHMARKS.md). Unit tests and fuzzers link it in
 * instead; tls.c then uses it directly.
 *
 * The module exports one symbol, tls_mbedtls_ops. Sessions are never
 * NULL here: tls.c does plain sockets itself.
 */
#ifndef OCTO_TLS_MBEDTLS_H
#define OCTO_TLS_MBEDTLS_H

#include "tls.h"

/* Bumped whenever struct tls_ops or what its calls mean changes. */
#define TLS_OPS_VERSION 1
#define TLS_OPS_SYMBOL  "tls_mbedtls_ops"
/* Where tls.c finds the module: the environment variable, else the path. */
#define TLS_MODULE_ENV  "OCTOMQTTD_TLS_MODULE"
#define TLS_MODULE_PATH PKGLIBDIR "/tls.so"

struct tls_ops {
	unsigned version; /* TLS_OPS_VERSION */
	size_t size;      /* sizeof(struct tls_ops) */
	/*
	 * As tls_conf_new(), with o->ca_file set when o->verify; *ignored:
	 * the certificates of the CA bundle that did not parse.
	 */
	struct tls_conf *(*conf_new)(const struct tls_conf_opts *o, enum tls_file *which,
	                             int *ignored, char *err, size_t errlen);
	void (*conf_free)(struct tls_conf *c);
	struct tls *(*session_new)(struct tls_conf *c, int fd, const char *host, char *err,
	                           size_t errlen);
	void (*session_free)(struct tls *t);
	int (*handshake)(struct tls *t, char *err, size_t errlen);
	int (*want)(const struct tls *t);
	const char *(*describe)(const struct tls *t, char *out, size_t outlen);
	ssize_t (*recv)(struct tls *t, void *buf, size_t len, char *err, size_t errlen);
	ssize_t (*send)(struct tls *t, const void *buf, size_t len, char *err, size_t errlen);
	bool (*pending)(const struct tls *t);
};

extern const struct tls_ops tls_mbedtls_ops;

#endif
