/*
 * net: non-blocking TCP sockets and host:port parsing (see net.h).
 * Errors are written into the caller's buffer; nothing here logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "compat.h"
#include "log.h"
#include "net.h"

static int net_err(char *err, size_t errlen, const char *fmt, ...) ATTR_PRINTF(3, 4);

static int net_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Strict port: 1..65535, digits only; the message says what is wrong. */
static int net_parse_port(const char *in, const char *s, uint16_t *port, char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t i, len = strlen(s);

	if (len == 0)
		return net_err(err, errlen, "'%s': missing port after ':'", in);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return net_err(err, errlen, "'%s': port '%s' is not a number", in, s);
	}
	/* More than five digits: too large, or padded with zeros. */
	if (len > 5)
		return net_err(err, errlen, "'%s': port must be a number from 1 to 65535", in);
	for (i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v < 1 || v > 65535)
		return net_err(err, errlen, "'%s': port must be a number from 1 to 65535", in);
	*port = (uint16_t)v;
	return 0;
}

int net_split_hostport(const char *in, char *host, size_t hostlen, uint16_t *port,
                       uint16_t default_port, char *err, size_t errlen)
{
	const char *h, *p = NULL, *colon;
	size_t hlen;

	if (in[0] == '\0')
		return net_err(err, errlen, "empty address");
	if (in[0] == '[') {
		const char *close = strchr(in, ']');
		struct in6_addr a6;
		char tmp[INET6_ADDRSTRLEN + 1];

		if (close == NULL)
			return net_err(err, errlen, "'%s': missing ']' after IPv6 address", in);
		h = in + 1;
		hlen = (size_t)(close - h);
		if (hlen == 0 || hlen >= sizeof(tmp))
			return net_err(err, errlen, "'%s': bad IPv6 address", in);
		memcpy(tmp, h, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return net_err(err, errlen, "'%s': bad IPv6 address", in);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return net_err(err, errlen, "'%s': expected ':port' after ']'", in);
	} else {
		h = in;
		colon = strchr(in, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return net_err(err, errlen,
			               "'%s': an IPv6 address must be written in brackets, as [%s]",
			               in, in);
		hlen = colon != NULL ? (size_t)(colon - in) : strlen(in);
		if (colon != NULL)
			p = colon + 1;
		if (hlen == 0)
			return net_err(err, errlen, "'%s': missing host", in);
		for (size_t i = 0; i < hlen; i++) {
			char c = h[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
				return net_err(err, errlen, "'%s': bad character in host name", in);
		}
	}
	if (hlen >= hostlen)
		return net_err(err, errlen, "'%s': host name too long", in);
	if (p != NULL) {
		if (net_parse_port(in, p, port, err, errlen) != 0)
			return -1;
	} else if (default_port == 0) {
		return net_err(err, errlen, "'%s': missing ':port'", in);
	} else {
		*port = default_port;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return 0;
}

int net_set_nodelay(int fd)
{
	int on = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int net_set_notsent_lowat(int fd, unsigned bytes)
{
#ifdef TCP_NOTSENT_LOWAT
	return setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof(bytes));
#else
	(void)fd;
	(void)bytes;
	errno = ENOPROTOOPT;
	return -1;
#endif
}

const char *net_addr_text(const char *host, uint16_t port, char *out, size_t outlen)
{
	bool v6 = strchr(host, ':') != NULL;

	if (port == 0)
		snprintf(out, outlen, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
	else
		snprintf(out, outlen, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
	return out;
}

static int net_resolve(const char *host, uint16_t port, int flags, struct addrinfo **res,
                       const char *what, char *err, size_t errlen)
{
	struct addrinfo hints;
	char portstr[8], addr[NET_HOST_LEN + 16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, res);
	if (rc != 0) {
		net_addr_text(host, port, addr, sizeof(addr));
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s %s: %s", what, addr,
			         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	return 0;
}

/* A literal address as the one entry of an addrinfo list. */
struct net_literal {
	struct addrinfo l_ai;
	struct sockaddr_storage l_ss;
};

/*
 * host is an IPv4 or IPv6 address as inet_pton() reads it: no resolver.
 * getaddrinfo() would only parse it, with code of its own that an idle
 * daemon then maps. Anything else, scoped IPv6 addresses included, is
 * left to getaddrinfo().
 */
static bool net_literal(const char *host, uint16_t port, struct net_literal *l)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&l->l_ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&l->l_ss;

	memset(l, 0, sizeof(*l));
	if (host == NULL)
		return false;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		l->l_ai.ai_addrlen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		l->l_ai.ai_addrlen = sizeof(*s6);
	} else {
		return false;
	}
	l->l_ai.ai_family = l->l_ss.ss_family;
	l->l_ai.ai_socktype = SOCK_STREAM;
	l->l_ai.ai_protocol = IPPROTO_TCP;
	l->l_ai.ai_addr = (struct sockaddr *)&l->l_ss;
	return true;
}

/*
 * Bind and listen (backlog >= 0) or start a non-blocking connect
 * (backlog < 0) on the addresses of host:port, in order, until one works.
 * The fd, or -1 with "listen|connect ADDR: reason" in err.
 */
static int net_open(const char *host, uint16_t port, int backlog, char *err, size_t errlen)
{
	const char *what = backlog >= 0 ? "listen" : "connect";
	struct net_literal lit;
	struct addrinfo *res, *ai;
	char addr[NET_HOST_LEN + 16];
	int fd = -1, on = 1, saved = 0;
	bool literal = net_literal(host, port, &lit);

	if (literal)
		res = &lit.l_ai;
	else if (net_resolve(host, port, backlog >= 0 ? AI_PASSIVE : 0, &res, what, err, errlen) !=
	         0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (backlog >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
			if (ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
				break;
		} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			/* In progress counts: completion is reported by writability. */
			net_set_nodelay(fd);
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (!literal)
		freeaddrinfo(res);
	if (fd < 0) {
		net_addr_text(host, port, addr, sizeof(addr));
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s %s: %s", what, addr, strerror(saved));
	}
	return fd;
}

int net_listen(const char *host, uint16_t port, int backlog, char *err, size_t errlen)
{
	return net_open(host, port, backlog < 0 ? 0 : backlog, err, errlen);
}

int net_accept(int lfd, char *peer, size_t peerlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	if (peer != NULL && peerlen > 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			net_addr_text(ip, ntohs(s6->sin6_port), peer, peerlen);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			const unsigned char *a = (const unsigned char *)&s4->sin_addr;

			/*
			 * What inet_ntop() prints, formatted here: its own
			 * sprintf() format would map one more page range of
			 * libc into an idle daemon (BENCHMARKS.md, idle RSS).
			 */
			snprintf(peer, peerlen, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3],
			         ntohs(s4->sin_port));
		} else {
			snprintf(peer, peerlen, "unknown");
		}
	}
	return fd;
}

int net_connect(const char *host, uint16_t port, char *err, size_t errlen)
{
	return net_open(host, port, -1, err, errlen);
}

int net_connect_result(int fd, char *err, size_t errlen)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		soerr = errno;
	if (soerr == 0)
		return 0;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", strerror(soerr));
	return -1;
}

int net_cidr_parse(const char *s, struct net_cidr *out, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;
	char *end;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr)) {
		snprintf(err, errlen, "'%s': not an address or address/prefix", s);
		return -1;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", addr);
		return -1;
	}
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3) {
			snprintf(err, errlen, "'%s': bad prefix length", s);
			return -1;
		}
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > out->prefix) {
			snprintf(err, errlen, "'%s': prefix length must be 0 to %u", s,
			         out->prefix);
			return -1;
		}
		out->prefix = (unsigned)prefix;
	}
	return 0;
}

bool net_cidr_contains(const struct net_cidr *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a;
	int family = sa->sa_family;
	unsigned full, rest;

	if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			a += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	if (family != c->family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ c->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool net_addr_allowed(const char *addr, const struct net_cidr *allow, size_t n)
{
	struct sockaddr_storage ss;
	size_t i;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return false;
	for (i = 0; i < n; i++) {
		if (net_cidr_contains(&allow[i], (struct sockaddr *)&ss))
			return true;
	}
	return false;
}

size_t net_addrs_outside(char *const *addrs, size_t naddrs, const struct net_cidr *allow, size_t n)
{
	size_t i;

	for (i = 0; i < naddrs; i++) {
		if (!net_addr_allowed(addrs[i], allow, n))
			break;
	}
	return i;
}

bool net_addr_literal(const char *host)
{
	struct net_literal l;

	return net_literal(host, 0, &l);
}

void net_addrs_free(char **addrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

int net_lookup(const char *host, char ***addrs, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char text[INET6_ADDRSTRLEN];
	char **out = NULL;
	size_t k = 0, i;
	int rc;

	if (net_addr_literal(host)) {
		out = xmalloc(sizeof(*out));
		out[k++] = xstrdup(host);
		goto done;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return net_err(err, errlen, "cannot resolve '%s': %s", host,
		               rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		const void *a;
		bool seen = false;

		if (ai->ai_family == AF_INET)
			a = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, a, text, sizeof(text)) == NULL)
			continue;
		for (i = 0; i < k; i++)
			seen = seen || strcmp(out[i], text) == 0;
		if (seen)
			continue;
		out = xrealloc(out, (k + 1) * sizeof(*out));
		out[k++] = xstrdup(text);
	}
	freeaddrinfo(res);
	if (k == 0) {
		free(out);
		return net_err(err, errlen, "cannot resolve '%s': no IPv4 or IPv6 address", host);
	}
done:
	*addrs = out;
	*n = k;
	return 0;
}
