/*
 * test_tls: the tls module against an mbedtls server in the same process,
 * over a non-blocking socketpair, both ends driven in turn. Checks the
 * handshake, decrypted bytes held by mbedtls (tls_pending), a write that
 * could not finish retried with a longer buffer (every byte counted once,
 * in order), verification failures in words, the config file errors
 * naming the file at fault, a peer that is not TLS, and the plain-socket
 * path (NULL session) that a build without TLS keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_compat.h"
#include "config.h"
#include "loop.h"
#include "tls.h"

#ifdef HAVE_TLS
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_* */
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "tls_fixtures.h"
#endif

static int fds[2]; /* [0] the client (tls module), [1] the test's server */
static char dir[64];

static void pair(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK), 0);
}

/* The plain path: recv/send semantics, EAGAIN as errno. */
START_TEST(plain_socket)
{
	char err[ERR_LEN], b[16];

	pair();
	ck_assert_int_eq(tls_send(NULL, fds[0], "abc", 3, err, sizeof(err)), 3);
	ck_assert_int_eq(tls_recv(NULL, fds[1], b, sizeof(b), err, sizeof(err)), 3);
	ck_assert(memcmp(b, "abc", 3) == 0);
	errno = 0;
	ck_assert_int_eq(tls_recv(NULL, fds[1], b, sizeof(b), err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(!tls_pending(NULL));
	close(fds[0]);
	ck_assert_int_eq(tls_recv(NULL, fds[1], b, sizeof(b), err, sizeof(err)), 0);
	close(fds[1]);
}
END_TEST

#ifndef HAVE_TLS

START_TEST(not_built)
{
	struct tls_conf_opts o = {NULL, NULL, NULL, true, true};
	char err[ERR_LEN];

	ck_assert(!tls_available());
	ck_assert_ptr_null(tls_conf_new(&o, NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "--without-tls"));
}
END_TEST

#else

static const char *srv_cert; /* the server's certificate (PEM); default FX_SRV_CRT */
static char sni[256];        /* the SNI name the server got ("" if none) */

static void unpair(void)
{
	close(fds[0]);
	close(fds[1]);
}

/* ---- files ---- */

static char *fixture(const char *name, const char *pem)
{
	static char paths[8][128];
	static int n;
	char *p = paths[n++ % 8];
	FILE *f;

	snprintf(p, 128, "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(pem, f);
	fclose(f);
	return p;
}

static struct tls_conf *client_conf(bool check_name)
{
	struct tls_conf_opts o = {fixture("ca.crt", FX_CA_CRT), NULL, NULL, true, check_name};
	char err[ERR_LEN];
	struct tls_conf *c = tls_conf_new(&o, NULL, err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

/* ---- the server ---- */

struct srv {
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	int rc; /* of the last handshake step */
	/* Raw bytes taken out of the socket (srv_hold) that mbedtls reads first. */
	unsigned char *hold;
	size_t hold_len, hold_off;
};

static int srv_send(void *ctx, const unsigned char *b, size_t n)
{
	ssize_t r = send(fds[1], b, n, MSG_NOSIGNAL);

	(void)ctx;
	if (r < 0)
		return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)r;
}

static int srv_recv(void *ctx, unsigned char *b, size_t n)
{
	struct srv *s = ctx;
	ssize_t r;

	if (s->hold_off < s->hold_len) {
		size_t k = s->hold_len - s->hold_off < n ? s->hold_len - s->hold_off : n;

		memcpy(b, s->hold + s->hold_off, k);
		s->hold_off += k;
		return (int)k;
	}
	r = recv(fds[1], b, n, 0);
	if (r < 0)
		return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
	return (int)r;
}

/* Empty the socket into the hold, so the client's writes find room. */
static void srv_hold(struct srv *s)
{
	for (;;) {
		ssize_t r;

		s->hold = realloc(s->hold, s->hold_len + 65536);
		ck_assert_ptr_nonnull(s->hold);
		r = recv(fds[1], s->hold + s->hold_len, 65536, 0);
		if (r <= 0)
			break;
		s->hold_len += (size_t)r;
	}
}

static int srv_sni(void *ctx, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
	(void)ctx;
	(void)ssl;
	snprintf(sni, sizeof(sni), "%.*s", (int)len, (const char *)name);
	return 0;
}

static void srv_init(struct srv *s)
{
	mbedtls_ssl_init(&s->ssl);
	mbedtls_ssl_config_init(&s->conf);
	mbedtls_x509_crt_init(&s->crt);
	mbedtls_pk_init(&s->key);
	mbedtls_entropy_init(&s->ent);
	mbedtls_ctr_drbg_init(&s->drbg);
	ck_assert_int_eq(mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->ent, NULL, 0),
	                 0);
	if (srv_cert == NULL)
		srv_cert = FX_SRV_CRT;
	ck_assert_int_eq(mbedtls_x509_crt_parse(&s->crt, (const unsigned char *)srv_cert,
	                                        strlen(srv_cert) + 1),
	                 0);
#if MBEDTLS_VERSION_MAJOR >= 3
	ck_assert_int_eq(mbedtls_pk_parse_key(&s->key, (const unsigned char *)FX_SRV_KEY,
	                                      sizeof(FX_SRV_KEY), NULL, 0, mbedtls_ctr_drbg_random,
	                                      &s->drbg),
	                 0);
#else
	ck_assert_int_eq(mbedtls_pk_parse_key(&s->key, (const unsigned char *)FX_SRV_KEY,
	                                      sizeof(FX_SRV_KEY), NULL, 0),
	                 0);
#endif
	ck_assert_int_eq(mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER,
	                                             MBEDTLS_SSL_TRANSPORT_STREAM,
	                                             MBEDTLS_SSL_PRESET_DEFAULT),
	                 0);
	mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &s->drbg);
	ck_assert_int_eq(mbedtls_ssl_conf_own_cert(&s->conf, &s->crt, &s->key), 0);
	sni[0] = '\0';
	mbedtls_ssl_conf_sni(&s->conf, srv_sni, NULL);
	/* The server may ask to renegotiate (our client refuses). */
	mbedtls_ssl_conf_renegotiation(&s->conf, MBEDTLS_SSL_RENEGOTIATION_ENABLED);
	mbedtls_ssl_conf_renegotiation_enforced(&s->conf, MBEDTLS_SSL_RENEGOTIATION_NOT_ENFORCED);
	ck_assert_int_eq(mbedtls_ssl_setup(&s->ssl, &s->conf), 0);
	s->hold = NULL;
	s->hold_len = s->hold_off = 0;
	mbedtls_ssl_set_bio(&s->ssl, s, srv_send, srv_recv, NULL);
	s->rc = MBEDTLS_ERR_SSL_WANT_READ;
}

static void srv_free(struct srv *s)
{
	free(s->hold);
	mbedtls_ssl_free(&s->ssl);
	mbedtls_ssl_config_free(&s->conf);
	mbedtls_x509_crt_free(&s->crt);
	mbedtls_pk_free(&s->key);
	mbedtls_ctr_drbg_free(&s->drbg);
	mbedtls_entropy_free(&s->ent);
}

static bool srv_want(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Both handshakes in turn until the client's is decided; its result. */
static int handshake(struct tls *t, struct srv *s, char *err, size_t errlen)
{
	int crc = TLS_AGAIN;

	for (int i = 0; i < 10000 && crc == TLS_AGAIN; i++) {
		crc = tls_handshake(t, err, errlen);
		if (srv_want(s->rc))
			s->rc = mbedtls_ssl_handshake(&s->ssl);
	}
	/* Let the server finish too (its last flight may still be queued). */
	for (int i = 0; i < 100 && srv_want(s->rc); i++)
		s->rc = mbedtls_ssl_handshake(&s->ssl);
	return crc;
}

static struct tls *connected(struct tls_conf *c, struct srv *s, const char *host)
{
	char err[ERR_LEN];
	struct tls *t;

	pair();
	srv_init(s);
	t = tls_new(c, fds[0], host, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_msg(handshake(t, s, err, sizeof(err)) == TLS_OK, "handshake: %s", err);
	ck_assert_int_eq(s->rc, 0);
	return t;
}

/* Read from the server side until n bytes came (or give up). */
static size_t srv_read(struct srv *s, unsigned char *out, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 100000 && got < n; i++) {
		int r = mbedtls_ssl_read(&s->ssl, out + got, n - got);

		if (r > 0)
			got += (size_t)r;
		else if (!srv_want(r))
			break;
	}
	return got;
}

START_TEST(handshake_and_pending)
{
	struct tls_conf *c = client_conf(true);
	struct srv s;
	struct tls *t = connected(c, &s, "localhost");
	char err[ERR_LEN], info[128];
	unsigned char rec[1000], got[4000];
	size_t n = 0;
	ssize_t r;

	ck_assert_ptr_nonnull(strstr(tls_describe(t, info, sizeof(info)), "TLSv1.2"));
	ck_assert_int_eq(tls_send(t, fds[0], "hello", 5, err, sizeof(err)), 5);
	ck_assert_uint_eq(srv_read(&s, got, 5), 5);
	ck_assert(memcmp(got, "hello", 5) == 0);

	/* Three records of 1000 bytes; read in pieces of 100. */
	for (int k = 0; k < 3; k++) {
		memset(rec, 'a' + k, sizeof(rec));
		ck_assert_int_eq(mbedtls_ssl_write(&s.ssl, rec, sizeof(rec)), (int)sizeof(rec));
	}
	r = tls_recv(t, fds[0], got, 100, err, sizeof(err));
	ck_assert_int_eq(r, 100);
	n = 100;
	/* The rest of the record is inside mbedtls: the socket will not say so. */
	ck_assert(tls_pending(t));
	while (tls_pending(t)) {
		r = tls_recv(t, fds[0], got + n, 100, err, sizeof(err));
		ck_assert_int_gt(r, 0);
		n += (size_t)r;
	}
	ck_assert_uint_eq(n, 1000);
	/* The other records are still in the socket. */
	for (int i = 0; i < 1000 && n < 3000; i++) {
		r = tls_recv(t, fds[0], got + n, sizeof(got) - n, err, sizeof(err));
		if (r > 0)
			n += (size_t)r;
	}
	ck_assert_uint_eq(n, 3000);
	for (size_t i = 0; i < 3000; i++)
		ck_assert_int_eq(got[i], 'a' + (int)(i / 1000));
	errno = 0;
	ck_assert_int_eq(tls_recv(t, fds[0], got, sizeof(got), err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(tls_want(t), LOOP_READ);

	/* close_notify is the end of the stream. */
	ck_assert_int_eq(mbedtls_ssl_close_notify(&s.ssl), 0);
	ck_assert_int_eq(tls_recv(t, fds[0], got, sizeof(got), err, sizeof(err)), 0);
	tls_free(t);
	srv_free(&s);
	tls_conf_free(c);
	unpair();
}
END_TEST

/*
 * A stream of TOTAL patterned bytes from the client to the server. Each
 * tls_send offers more than the last (a buffer that grows at its tail,
 * as mc_out does); the server reads only every third turn, so the socket
 * fills and writes must wait.
 */
struct stream {
	unsigned char *data, *got;
	size_t total, off, recvd, avail;
	int again; /* tls_send calls that waited (EAGAIN) */
};

static void stream_init(struct stream *st, size_t total, size_t avail)
{
	st->data = malloc(total);
	st->got = malloc(total);
	ck_assert(st->data != NULL && st->got != NULL);
	for (size_t i = 0; i < total; i++)
		st->data[i] = (unsigned char)(i * 7 + i / 251);
	st->total = total;
	st->off = st->recvd = 0;
	st->avail = avail;
	st->again = 0;
}

/* One client write of what is offered; 0, or -1 when it had to wait. */
static int stream_write(struct tls *t, struct stream *st)
{
	char err[ERR_LEN];
	ssize_t n;

	if (st->avail > st->total - st->off)
		st->avail = st->total - st->off;
	n = tls_send(t, fds[0], st->data + st->off, st->avail, err, sizeof(err));
	if (n > 0) {
		ck_assert_uint_le((size_t)n, st->avail);
		st->off += (size_t)n;
		return 0;
	}
	ck_assert_msg(errno == EAGAIN, "%s", err);
	ck_assert_int_eq(tls_want(t), LOOP_WRITE);
	st->again++;
	return -1;
}

/* Until the server has it all: every byte once, in order. */
static void stream_finish(struct tls *t, struct srv *s, struct stream *st)
{
	for (int i = 0; i < 200000 && st->recvd < st->total; i++) {
		if (st->off < st->total) {
			stream_write(t, st);
			st->avail += 3000; /* more appended meanwhile */
		}
		if (i % 3 == 0) {
			int r = mbedtls_ssl_read(&s->ssl, st->got + st->recvd,
			                         st->total - st->recvd);

			if (r > 0)
				st->recvd += (size_t)r;
			else
				ck_assert_msg(srv_want(r), "server read: -0x%04x", (unsigned)-r);
		}
	}
	ck_assert_uint_eq(st->off, st->total);
	ck_assert_uint_eq(st->recvd, st->total);
	ck_assert(memcmp(st->data, st->got, st->total) == 0);
	free(st->data);
	free(st->got);
}

/* The counts tls_send returns add up to what the server gets. */
START_TEST(want_write_retry)
{
	struct tls_conf *c = client_conf(true);
	struct srv s;
	struct tls *t = connected(c, &s, "localhost");
	struct stream st;
	int small = 4096;

	ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	stream_init(&st, 1 << 20, 1000);
	stream_finish(t, &s, &st);
	ck_assert_int_gt(st.again, 0);
	tls_free(t);
	srv_free(&s);
	tls_conf_free(c);
	unpair();
}
END_TEST

/*
 * A write is half sent when the server asks to renegotiate. Our read
 * refuses with an alert, and mbedtls sends the half-sent record first to
 * get the alert out: the retried write must not send those bytes again.
 */
START_TEST(renegotiation_during_write)
{
	struct tls_conf *c = client_conf(true);
	struct srv s;
	struct tls *t = connected(c, &s, "localhost");
	unsigned char tmp[256];
	char err[ERR_LEN];
	struct stream st;
	int small = 4096, rc;
	ssize_t n;

	ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	stream_init(&st, 1 << 18, 20000);
	/* 1. Write until a record is left half sent. */
	while (stream_write(t, &st) == 0)
		;
	/* 2. The server asks to renegotiate; 3. room in the socket for the
	 * whole record (else the read must fail: see tls_recv). */
	small = 1 << 20;
	ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	rc = mbedtls_ssl_renegotiate(&s.ssl);
	ck_assert_msg(rc == 0 || srv_want(rc), "renegotiate: -0x%04x", (unsigned)-rc);
	srv_hold(&s);
	/* 4. Our read meets the HelloRequest and refuses it. */
	n = tls_recv(t, fds[0], tmp, sizeof(tmp), err, sizeof(err));
	ck_assert_msg(n == -1 && errno == EAGAIN, "tls_recv: %zd %s", n, err);
	/* 5. Everything else. */
	stream_finish(t, &s, &st);
	tls_free(t);
	srv_free(&s);
	tls_conf_free(c);
	unpair();
}
END_TEST

/*
 * A peer named by an IP address: matched against the certificate's
 * iPAddress entries (which mbedtls 2.28 does not do), and no SNI is sent.
 */
START_TEST(ip_address_names)
{
	static const struct {
		const char *host, *cert;
		bool check_name, ok;
	} cases[] = {
	        {"127.0.0.1", FX_SRV_IP_CRT, true, true},  {"::1", FX_SRV_IP_CRT, true, true},
	        {"127.0.0.2", FX_SRV_IP_CRT, true, false}, {"::2", FX_SRV_IP_CRT, true, false},
	        {"127.0.0.1", FX_SRV_CRT, true, false},    /* names only */
	        {"127.0.0.2", FX_SRV_IP_CRT, false, true}, /* tls_insecure */
	        {"localhost", FX_SRV_IP_CRT, true, true},
	};
	char err[ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_conf *c = client_conf(cases[i].check_name);
		struct srv s;
		struct tls *t;
		int rc;

		srv_cert = cases[i].cert;
		pair();
		srv_init(&s);
		t = tls_new(c, fds[0], cases[i].host, err, sizeof(err));
		ck_assert_ptr_nonnull(t);
		rc = handshake(t, &s, err, sizeof(err));
		ck_assert_msg(rc == (cases[i].ok ? TLS_OK : TLS_FAIL), "%s: %d %s", cases[i].host,
		              rc, rc == TLS_FAIL ? err : "");
		if (!cases[i].ok)
			ck_assert_msg(strstr(err, "does not list the address") != NULL, "%s: %s",
			              cases[i].host, err);
		/* SNI carries names only (RFC 6066). */
		ck_assert_str_eq(sni, strcmp(cases[i].host, "localhost") == 0 ? "localhost" : "");
		tls_free(t);
		srv_free(&s);
		unpair();
		tls_conf_free(c);
		srv_cert = NULL;
	}
}
END_TEST

START_TEST(name_checked)
{
	struct tls_conf *c = client_conf(true), *insecure = client_conf(false);
	char err[ERR_LEN];
	struct srv s;
	struct tls *t;

	pair();
	srv_init(&s);
	t = tls_new(c, fds[0], "printer.example", err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(handshake(t, &s, err, sizeof(err)), TLS_FAIL);
	ck_assert_msg(strstr(err, "certificate was not accepted") != NULL &&
	                      strstr(err, "does not match") != NULL,
	              "%s", err);
	tls_free(t);
	srv_free(&s);
	unpair();

	/* tls_insecure: the same name is let through, the chain still checked. */
	t = connected(insecure, &s, "printer.example");
	tls_free(t);
	srv_free(&s);
	unpair();
	tls_conf_free(c);
	tls_conf_free(insecure);
}
END_TEST

/* A CA that did not sign the server: refused in words. */
START_TEST(untrusted)
{
	/* The server's own certificate as the only "CA": not its signer. */
	struct tls_conf_opts o = {fixture("srv-as-ca.crt", FX_SRV_CRT), NULL, NULL, true, true};
	char err[ERR_LEN];
	struct tls_conf *c = tls_conf_new(&o, NULL, err, sizeof(err));
	struct srv s;
	struct tls *t;

	ck_assert_msg(c != NULL, "%s", err);
	pair();
	srv_init(&s);
	t = tls_new(c, fds[0], "localhost", err, sizeof(err));
	ck_assert_int_eq(handshake(t, &s, err, sizeof(err)), TLS_FAIL);
	ck_assert_msg(strstr(err, "not correctly signed by the trusted CA") != NULL, "%s", err);
	tls_free(t);
	srv_free(&s);
	unpair();
	/* tls_verify = false: nothing is checked. */
	tls_conf_free(c);
	o.verify = false;
	c = tls_conf_new(&o, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	t = connected(c, &s, "localhost");
	tls_free(t);
	srv_free(&s);
	unpair();
	tls_conf_free(c);
}
END_TEST

START_TEST(garbage_peer)
{
	struct tls_conf *c = client_conf(true);
	static const char junk[] = "HTTP/1.0 400 Bad Request\r\n\r\nnot TLS at all";
	char err[ERR_LEN], hello[512];
	struct tls *t;
	int rc = TLS_AGAIN;

	pair();
	t = tls_new(c, fds[0], "localhost", err, sizeof(err));
	ck_assert_int_eq(tls_handshake(t, err, sizeof(err)), TLS_AGAIN);
	ck_assert_int_gt(read(fds[1], hello, sizeof(hello)), 0); /* the ClientHello */
	ck_assert_int_eq(write(fds[1], junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
	for (int i = 0; i < 10 && rc == TLS_AGAIN; i++)
		rc = tls_handshake(t, err, sizeof(err));
	ck_assert_int_eq(rc, TLS_FAIL);
	ck_assert_msg(strstr(err, "is this a TLS port?") != NULL, "%s", err);
	tls_free(t);
	unpair();

	/* A peer that closes during the handshake. */
	pair();
	t = tls_new(c, fds[0], "localhost", err, sizeof(err));
	ck_assert_int_eq(tls_handshake(t, err, sizeof(err)), TLS_AGAIN);
	close(fds[1]);
	rc = TLS_AGAIN;
	for (int i = 0; i < 10 && rc == TLS_AGAIN; i++)
		rc = tls_handshake(t, err, sizeof(err));
	ck_assert_int_eq(rc, TLS_FAIL);
	ck_assert_msg(strstr(err, "closed the connection during the handshake") != NULL, "%s", err);
	tls_free(t);
	close(fds[0]);
	tls_conf_free(c);
}
END_TEST

START_TEST(file_errors)
{
	struct tls_conf_opts o = {NULL, NULL, NULL, true, true};
	enum tls_file which;
	char err[ERR_LEN], missing[128];

	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	o.ca_file = missing;
	ck_assert_ptr_null(tls_conf_new(&o, &which, err, sizeof(err)));
	ck_assert_int_eq(which, TLS_FILE_CA);
	ck_assert_msg(strstr(err, "missing.pem: No such file or directory") != NULL, "%s", err);

	o.ca_file = fixture("junk.pem", "not a certificate\n");
	ck_assert_ptr_null(tls_conf_new(&o, &which, err, sizeof(err)));
	ck_assert_int_eq(which, TLS_FILE_CA);
	ck_assert_ptr_nonnull(strstr(err, "junk.pem: "));

	o.ca_file = fixture("ca.crt", FX_CA_CRT);
	o.cert_file = fixture("junk2.pem", "not a certificate\n");
	o.key_file = fixture("srv.key", FX_SRV_KEY);
	ck_assert_ptr_null(tls_conf_new(&o, &which, err, sizeof(err)));
	ck_assert_int_eq(which, TLS_FILE_CERT);
	ck_assert_msg(strstr(err, "not a usable PEM certificate") != NULL, "%s", err);

	o.cert_file = fixture("srv.crt", FX_SRV_CRT);
	o.key_file = fixture("other.key", FX_OTHER_KEY);
	ck_assert_ptr_null(tls_conf_new(&o, &which, err, sizeof(err)));
	ck_assert_int_eq(which, TLS_FILE_KEY);
	ck_assert_msg(strstr(err, "this key does not belong to the certificate") != NULL, "%s",
	              err);

	o.key_file = fixture("ca-as-key.pem", FX_CA_CRT);
	ck_assert_ptr_null(tls_conf_new(&o, &which, err, sizeof(err)));
	ck_assert_int_eq(which, TLS_FILE_KEY);
	ck_assert_msg(strstr(err, "not a usable private key") != NULL, "%s", err);

	/* The right pair loads. */
	o.key_file = fixture("srv.key", FX_SRV_KEY);
	{
		struct tls_conf *c = tls_conf_new(&o, &which, err, sizeof(err));

		ck_assert_msg(c != NULL, "%s", err);
		tls_conf_free(c);
	}
	ck_assert(tls_available());
}
END_TEST

#endif /* HAVE_TLS */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/octomqttd-tls.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, plain_socket);
#ifdef HAVE_TLS
	tcase_add_test(tc, handshake_and_pending);
	tcase_add_test(tc, want_write_retry);
	tcase_add_test(tc, renegotiation_during_write);
	tcase_add_test(tc, name_checked);
	tcase_add_test(tc, ip_address_names);
	tcase_add_test(tc, untrusted);
	tcase_add_test(tc, garbage_peer);
	tcase_add_test(tc, file_errors);
#else
	tcase_add_test(tc, not_built);
#endif
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(tls_suite)
