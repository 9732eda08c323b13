/*
 * tls_mbedtls: mbedtls client sessions over non-blocking sockets (see tls.h
 * for the contract, tls_mbedtls.h for what tls.c calls here).
 *
 * Written against Debian's mbedtls 2.28; the few calls that changed in
 * 3.x are behind MBEDTLS_VERSION_MAJOR checks.
 *
 * Buffers: mbedtls allocates its record buffers per session at
 * mbedtls_ssl_setup(), sized by the library's compile-time
 * MBEDTLS_SSL_IN/OUT_CONTENT_LEN (16 KiB each in Debian's build, about
 * 33 KiB a session with overhead). They cannot be smaller here: a TLS
 * peer may send 16 KiB records, and Debian's build lacks
 * MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH. What we control is how many
 * sessions exist (one broker link; webhook connections are few per host)
 * and that the CA chain is parsed once per tls_conf, not per session.
 */
#include "config.h"

#ifdef HAVE_TLS

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "tls_mbedtls.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>
#include <sys/stat.h>

/* Encrypted bytes mbedtls still has to write (a private field in 3.x). */
#if MBEDTLS_VERSION_MAJOR >= 3
#define TLS_OUT_LEFT(ssl) ((ssl)->MBEDTLS_PRIVATE(out_left))
#else
#define TLS_OUT_LEFT(ssl) ((ssl)->out_left)
#endif

struct tls_conf {
	mbedtls_ssl_config c_ssl;
	mbedtls_x509_crt c_ca, c_cert;
	mbedtls_pk_context c_key;
	mbedtls_entropy_context c_entropy;
	mbedtls_ctr_drbg_context c_drbg;
	bool c_check_name; /* check the peer's name (not tls_insecure) */
};

struct tls {
	mbedtls_ssl_context t_ssl;
	const struct tls_conf *t_conf;
	unsigned char t_ip[16]; /* the peer named by an IP address: its bytes */
	size_t t_iplen;         /* 4 or 16; 0: the peer has a DNS name */
	int t_fd;
	int t_want;    /* LOOP_READ / LOOP_WRITE */
	int t_errno;   /* of a failed send()/recv() under mbedtls */
	size_t t_wlen; /* bytes of the record that WANT_WRITE left half sent */
};

/* mbedtls's text for an error code: "X509 - Read/write of file failed". */
static void tls_strerror(int rc, char *out, size_t outlen)
{
	mbedtls_strerror(rc, out, outlen);
	if (out[0] == '\0')
		snprintf(out, outlen, "mbedtls error -0x%04x", (unsigned)-rc);
}

static int tls_file_fail(enum tls_file *which, enum tls_file f, char *err, size_t errlen,
                         const char *path, const char *what, int rc)
{
	char e[200];

	if (which != NULL)
		*which = f;
	if (rc != 0) {
		tls_strerror(rc, e, sizeof(e));
		snprintf(err, errlen, "%s: %s (%s)", path, what, e);
	} else {
		snprintf(err, errlen, "%s: %s", path, what);
	}
	return -1;
}

/* The file must be readable; say why not in the words of the system. */
static int tls_readable(enum tls_file *which, enum tls_file f, const char *path, char *err,
                        size_t errlen)
{
	if (access(path, R_OK) != 0)
		return tls_file_fail(which, f, err, errlen, path, strerror(errno), 0);
	return 0;
}

static int tls_load_ca(struct tls_conf *c, const char *path, enum tls_file *which, int *ignored,
                       char *err, size_t errlen)
{
	struct stat st;
	int rc;

	if (tls_readable(which, TLS_FILE_CA, path, err, errlen) != 0)
		return -1;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		rc = mbedtls_x509_crt_parse_path(&c->c_ca, path);
	else
		rc = mbedtls_x509_crt_parse_file(&c->c_ca, path);
	/* rc > 0: that many certificates of a bundle did not parse; the rest did. */
	if (rc < 0)
		return tls_file_fail(which, TLS_FILE_CA, err, errlen, path,
		                     "cannot load the CA certificates", rc);
	if (c->c_ca.version == 0)
		return tls_file_fail(which, TLS_FILE_CA, err, errlen, path,
		                     "no CA certificate in it", 0);
	*ignored = rc;
	return 0;
}

static int tls_load_own(struct tls_conf *c, const struct tls_conf_opts *o, enum tls_file *which,
                        char *err, size_t errlen)
{
	int rc;

	if (tls_readable(which, TLS_FILE_CERT, o->cert_file, err, errlen) != 0)
		return -1;
	rc = mbedtls_x509_crt_parse_file(&c->c_cert, o->cert_file);
	if (rc != 0)
		return tls_file_fail(which, TLS_FILE_CERT, err, errlen, o->cert_file,
		                     "not a usable PEM certificate", rc < 0 ? rc : 0);
	if (tls_readable(which, TLS_FILE_KEY, o->key_file, err, errlen) != 0)
		return -1;
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_parse_keyfile(&c->c_key, o->key_file, NULL, mbedtls_ctr_drbg_random,
	                              &c->c_drbg);
#else
	rc = mbedtls_pk_parse_keyfile(&c->c_key, o->key_file, NULL);
#endif
	if (rc != 0)
		return tls_file_fail(which, TLS_FILE_KEY, err, errlen, o->key_file,
		                     "not a usable private key (PEM, without a passphrase)", rc);
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_check_pair(&c->c_cert.pk, &c->c_key, mbedtls_ctr_drbg_random, &c->c_drbg);
#else
	rc = mbedtls_pk_check_pair(&c->c_cert.pk, &c->c_key);
#endif
	if (rc != 0)
		return tls_file_fail(which, TLS_FILE_KEY, err, errlen, o->key_file,
		                     "this key does not belong to the certificate", 0);
	rc = mbedtls_ssl_conf_own_cert(&c->c_ssl, &c->c_cert, &c->c_key);
	if (rc != 0)
		return tls_file_fail(which, TLS_FILE_CERT, err, errlen, o->cert_file,
		                     "cannot be used as the client certificate", rc);
	return 0;
}

/* tls_insecure: the chain is checked, the name is not. */
static int tls_verify_no_name(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	(void)ctx;
	(void)crt;
	if (depth == 0)
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

struct tls_conf *tls_mbedtls_conf_new(const struct tls_conf_opts *o, enum tls_file *which,
                                      int *ignored, char *err, size_t errlen)
{
	static const char pers[] = "octomqttd";
	struct tls_conf *c = calloc(1, sizeof(*c));
	int rc;

	*which = TLS_FILE_NONE;
	*ignored = 0;
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mbedtls_ssl_config_init(&c->c_ssl);
	mbedtls_x509_crt_init(&c->c_ca);
	mbedtls_x509_crt_init(&c->c_cert);
	mbedtls_pk_init(&c->c_key);
	mbedtls_entropy_init(&c->c_entropy);
	mbedtls_ctr_drbg_init(&c->c_drbg);
	rc = mbedtls_ctr_drbg_seed(&c->c_drbg, mbedtls_entropy_func, &c->c_entropy,
	                           (const unsigned char *)pers, sizeof(pers) - 1);
	if (rc != 0) {
		char e[200];

		tls_strerror(rc, e, sizeof(e));
		snprintf(err, errlen, "cannot seed the random number generator: %s", e);
		goto fail;
	}
	rc = mbedtls_ssl_config_defaults(&c->c_ssl, MBEDTLS_SSL_IS_CLIENT,
	                                 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0) {
		snprintf(err, errlen, "mbedtls_ssl_config_defaults failed (-0x%04x)",
		         (unsigned)-rc);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&c->c_ssl, mbedtls_ctr_drbg_random, &c->c_drbg);
	if (o->verify) {
		if (tls_load_ca(c, o->ca_file, which, ignored, err, errlen) != 0)
			goto fail;
		mbedtls_ssl_conf_ca_chain(&c->c_ssl, &c->c_ca, NULL);
		mbedtls_ssl_conf_authmode(&c->c_ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
		c->c_check_name = o->check_name;
		if (!o->check_name)
			mbedtls_ssl_conf_verify(&c->c_ssl, tls_verify_no_name, NULL);
	} else {
		mbedtls_ssl_conf_authmode(&c->c_ssl, MBEDTLS_SSL_VERIFY_NONE);
	}
	if (o->cert_file != NULL && tls_load_own(c, o, which, err, errlen) != 0)
		goto fail;
	return c;
fail:
	tls_mbedtls_conf_free(c);
	return NULL;
}

void tls_mbedtls_conf_free(struct tls_conf *c)
{
	mbedtls_ssl_config_free(&c->c_ssl);
	mbedtls_x509_crt_free(&c->c_ca);
	mbedtls_x509_crt_free(&c->c_cert);
	mbedtls_pk_free(&c->c_key);
	mbedtls_ctr_drbg_free(&c->c_drbg);
	mbedtls_entropy_free(&c->c_entropy);
	free(c);
}

/* The socket under mbedtls: non-blocking, no SIGPIPE. */
static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls *t = ctx;
	ssize_t n = send(t->t_fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	t->t_errno = errno;
	return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
	                                             : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls *t = ctx;
	ssize_t n = recv(t->t_fd, buf, len, 0);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	t->t_errno = errno;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/*
 * A peer named by an IP address: its certificate must list that address
 * as an iPAddress subjectAltName (unless tls_insecure). mbedtls saw no
 * name to check, so the verdict on the name is set here.
 */
static int tls_verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct tls *t = ctx;
	const mbedtls_x509_sequence *san;

	if (depth != 0)
		return 0;
	*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (!t->t_conf->c_check_name)
		return 0;
	for (san = &crt->subject_alt_names; san != NULL; san = san->next) {
		const mbedtls_x509_buf *b = &san->buf;

		if ((b->tag & MBEDTLS_ASN1_TAG_CLASS_MASK) == MBEDTLS_ASN1_CONTEXT_SPECIFIC &&
		    (b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == MBEDTLS_X509_SAN_IP_ADDRESS &&
		    b->len == t->t_iplen && memcmp(b->p, t->t_ip, t->t_iplen) == 0)
			return 0;
	}
	*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

struct tls *tls_mbedtls_new(struct tls_conf *c, int fd, const char *host, char *err, size_t errlen)
{
	struct tls *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->t_fd = fd;
	t->t_conf = c;
	t->t_want = LOOP_WRITE;
	if (inet_pton(AF_INET, host, t->t_ip) == 1)
		t->t_iplen = 4;
	else if (inet_pton(AF_INET6, host, t->t_ip) == 1)
		t->t_iplen = 16;
	mbedtls_ssl_init(&t->t_ssl);
	rc = mbedtls_ssl_setup(&t->t_ssl, &c->c_ssl);
	/*
	 * A name is sent as SNI and checked by mbedtls. An address is not
	 * sent (RFC 6066 allows names only) and is checked here against the
	 * certificate's iPAddress entries, which mbedtls 2.28 does not match.
	 */
	if (rc == 0)
		rc = mbedtls_ssl_set_hostname(&t->t_ssl, t->t_iplen == 0 ? host : NULL);
	if (rc == 0 && t->t_iplen != 0)
		mbedtls_ssl_set_verify(&t->t_ssl, tls_verify_ip, t);
	if (rc != 0) {
		char e[200];

		tls_strerror(rc, e, sizeof(e));
		snprintf(err, errlen, "TLS session setup failed: %s", e);
		mbedtls_ssl_free(&t->t_ssl);
		free(t);
		return NULL;
	}
	mbedtls_ssl_set_bio(&t->t_ssl, t, tls_bio_send, tls_bio_recv, NULL);
	return t;
}

void tls_mbedtls_free(struct tls *t)
{
	/* Does nothing before the handshake is over; one try, no waiting. */
	(void)mbedtls_ssl_close_notify(&t->t_ssl);
	mbedtls_ssl_free(&t->t_ssl);
	free(t);
}

/* The alert descriptions a broker or server sends most often. */
static const char *tls_alert_name(int desc)
{
	switch (desc) {
	case 40:
		return "handshake_failure";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 44:
		return "certificate_revoked";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 48:
		return "unknown_ca";
	case 70:
		return "protocol_version";
	case 80:
		return "internal_error";
	case 112:
		return "unrecognized_name";
	case 116:
		return "certificate_required";
	default:
		return NULL;
	}
}

/* The errors of a peer that answered with something other than TLS. */
static bool tls_not_tls(int rc)
{
	switch (rc) {
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
#ifdef MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO /* 2.x; 3.x says DECODE_ERROR */
	case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
#endif
#ifdef MBEDTLS_ERR_SSL_DECODE_ERROR
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
#endif
		return true;
	default:
		return false;
	}
}

/* err = why the session failed with rc, in words. */
static void tls_explain(struct tls *t, int rc, bool handshake, char *err, size_t errlen)
{
	char e[200];

	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char info[512], line[512];
		uint32_t flags = mbedtls_ssl_get_verify_result(&t->t_ssl);
		size_t o = 0;

		/* One line: mbedtls's reasons (one a line) joined with "; ". */
		line[0] = '\0';
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		for (const char *p = info; *p != '\0';) {
			size_t n = strcspn(p, "\n");

			if (n > 0 && o < sizeof(line))
				o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%.*s",
				                      o > 0 ? "; " : "", (int)n, p);
			p += n + (p[n] == '\n');
		}
		if (t->t_iplen != 0 && (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) &&
		    o < sizeof(line)) {
			char ip[INET6_ADDRSTRLEN] = "";

			inet_ntop(t->t_iplen == 4 ? AF_INET : AF_INET6, t->t_ip, ip, sizeof(ip));
			snprintf(line + o, sizeof(line) - o, " (it does not list the address %s)",
			         ip);
		}
		snprintf(err, errlen, "the server's certificate was not accepted: %s", line);
		return;
	}
	if ((rc == MBEDTLS_ERR_NET_SEND_FAILED || rc == MBEDTLS_ERR_NET_RECV_FAILED ||
	     rc == MBEDTLS_ERR_NET_CONN_RESET) &&
	    t->t_errno != 0) {
		/* A peer that refuses us mid-handshake often just closes. */
		if (handshake && (t->t_errno == EPIPE || t->t_errno == ECONNRESET))
			snprintf(err, errlen,
			         "the peer closed the connection during the handshake (%s)",
			         strerror(t->t_errno));
		else
			snprintf(err, errlen, "%s", strerror(t->t_errno));
		return;
	}
	if (rc == MBEDTLS_ERR_SSL_CONN_EOF) {
		snprintf(err, errlen, "the peer closed the connection during the handshake");
		return;
	}
	tls_strerror(rc, e, sizeof(e));
#if MBEDTLS_VERSION_MAJOR < 3
	if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && t->t_ssl.in_msg != NULL) {
		int desc = t->t_ssl.in_msg[1];
		const char *name = tls_alert_name(desc);

		if (name != NULL)
			snprintf(err, errlen, "the peer refused us with the alert %s (%d)", name,
			         desc);
		else
			snprintf(err, errlen, "the peer refused us with alert %d", desc);
		return;
	}
#else
	(void)tls_alert_name;
#endif
	if (tls_not_tls(rc)) {
		snprintf(err, errlen, "%s (is this a TLS port?)", e);
		return;
	}
	snprintf(err, errlen, "%s", e);
}

int tls_mbedtls_handshake(struct tls *t, char *err, size_t errlen)
{
	int rc = mbedtls_ssl_handshake(&t->t_ssl);

	if (rc == 0)
		return TLS_OK;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		t->t_want = rc == MBEDTLS_ERR_SSL_WANT_READ ? LOOP_READ : LOOP_WRITE;
		return TLS_AGAIN;
	}
	tls_explain(t, rc, true, err, errlen);
	return TLS_FAIL;
}

int tls_mbedtls_want(const struct tls *t)
{
	return t->t_want;
}

const char *tls_mbedtls_describe(const struct tls *t, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s, %s", mbedtls_ssl_get_version(&t->t_ssl),
	         mbedtls_ssl_get_ciphersuite(&t->t_ssl));
	return out;
}

ssize_t tls_mbedtls_recv(struct tls *t, void *buf, size_t len, char *err, size_t errlen)
{
	int rc;

	for (;;) {
		rc = mbedtls_ssl_read(&t->t_ssl, buf, len);
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
		if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
#endif
		break;
	}
	if (rc > 0)
		return rc;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
		return 0;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
		t->t_want = LOOP_READ;
		errno = EAGAIN;
		return -1;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		/*
		 * A read that must write is mbedtls answering a renegotiation
		 * request (refused: renegotiation stays off) and finding the
		 * socket full. Finishing that write would need mbedtls's
		 * internal flush, and the next mbedtls_ssl_write() would take
		 * it for ours; so the connection ends here and is made anew.
		 */
		snprintf(err, errlen, "the peer asked to renegotiate while the socket was full");
		errno = EPROTO;
		return -1;
	}
	tls_explain(t, rc, false, err, errlen);
	errno = EPROTO;
	return -1;
}

ssize_t tls_mbedtls_send(struct tls *t, const void *buf, size_t len, char *err, size_t errlen)
{
	size_t n;
	int rc;

	/*
	 * mbedtls copied and encrypted the bytes of a write it could not
	 * finish; called again it flushes them and returns the length it is
	 * given now, so it must be given the same length.
	 */
	if (t->t_wlen != 0 && TLS_OUT_LEFT(&t->t_ssl) == 0) {
		/*
		 * The record went out meanwhile: an alert that mbedtls sent
		 * from a read (refusing a renegotiation) flushed it first.
		 * Asking again would encrypt the same bytes a second time.
		 */
		n = t->t_wlen;
		t->t_wlen = 0;
		return (ssize_t)n;
	}
	n = t->t_wlen != 0 && t->t_wlen <= len ? t->t_wlen : len;
	rc = mbedtls_ssl_write(&t->t_ssl, buf, n);
	if (rc >= 0) {
		t->t_wlen = 0;
		return rc;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		int max = mbedtls_ssl_get_max_out_record_payload(&t->t_ssl);

		/* A record of our bytes waits in mbedtls: n cut to one record. */
		t->t_wlen = max > 0 && (size_t)max < n ? (size_t)max : n;
		t->t_want = LOOP_WRITE;
		errno = EAGAIN;
		return -1;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
		/* mbedtls must read before it takes anything: nothing is held. */
		t->t_wlen = 0;
		t->t_want = LOOP_READ;
		errno = EAGAIN;
		return -1;
	}
	tls_explain(t, rc, false, err, errlen);
	errno = EPROTO;
	return -1;
}

bool tls_mbedtls_pending(const struct tls *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->t_ssl) > 0 ||
	       mbedtls_ssl_check_pending(&t->t_ssl) != 0;
}

#endif /* HAVE_TLS */
