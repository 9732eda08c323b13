/*
 * net: non-blocking TCP sockets, address parsing, host lookups and address
 * blocks.
 *
 * Functions return a descriptor or 0 on success and -1 on failure, with a
 * message in the caller's err buffer (Redis anet convention): the caller
 * decides how to log.
 */
#ifndef OCTO_NET_H
#define OCTO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define NET_HOST_LEN 256

/*
 * Pure: split "host", "host:port", "1.2.3.4:port", "[v6]" or "[v6]:port".
 * Without a port, *port = default_port (which may be 0 meaning required:
 * then a missing port is an error). Ports are 1..65535, strictly parsed.
 */
int net_split_hostport(const char *in, char *host, size_t hostlen, uint16_t *port,
                       uint16_t default_port, char *err, size_t errlen);

/*
 * Listening socket on host:port (numeric or name; port 0 picks a free one):
 * SO_REUSEADDR, IPV6_V6ONLY for IPv6, non-blocking, CLOEXEC. The first
 * address that binds is used.
 */
int net_listen(const char *host, uint16_t port, int backlog, char *err, size_t errlen);
/* Accept one connection, non-blocking, CLOEXEC; -1 with errno EAGAIN when none. */
int net_accept(int lfd, char *peer, size_t peerlen);
/*
 * Start a non-blocking connect to host:port (TCP_NODELAY, CLOEXEC). The
 * addresses of the name are tried in order until one connect() does not
 * fail at once; EINPROGRESS counts as started. Returns the fd; completion
 * is signalled by writability, then call net_connect_result. Names are
 * resolved with getaddrinfo(), which may block; an address that
 * inet_pton() reads (IPv4, IPv6 without a scope) is used as it is, here
 * and in net_listen().
 */
int net_connect(const char *host, uint16_t port, char *err, size_t errlen);
/* 0 if the connect on fd succeeded, else -1 with strerror(SO_ERROR) in err. */
int net_connect_result(int fd, char *err, size_t errlen);

/*
 * An address block: "127.0.0.0/8", "::1" (a single address), "fe80::/10".
 * net_cidr_parse is pure: 0, or -1 with err. net_cidr_contains: is the
 * address (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as its
 * IPv4 address) in the block?
 */
struct net_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};
struct sockaddr;
int net_cidr_parse(const char *s, struct net_cidr *out, char *err, size_t errlen);
bool net_cidr_contains(const struct net_cidr *c, const struct sockaddr *sa);
/*
 * Is addr, a numeric IPv4 or IPv6 address (no brackets), inside one of the
 * n blocks? false for text that is not an address.
 */
bool net_addr_allowed(const char *addr, const struct net_cidr *allow, size_t n);
/*
 * The index of the first of the naddrs addresses (numeric text) that is
 * outside every one of the n blocks, or naddrs when all are inside.
 */
size_t net_addrs_outside(char *const *addrs, size_t naddrs, const struct net_cidr *allow, size_t n);

/* Is host a numeric IPv4 or IPv6 address (no brackets)? */
bool net_addr_literal(const char *host);
/*
 * The addresses of host as numeric text (no brackets), in the order
 * getaddrinfo() gives them, each once. A literal IPv4 or IPv6 address is
 * itself, without a lookup; a name is looked up with getaddrinfo(), which
 * may block. 0 with *addrs (*n >= 1 strings; free with net_addrs_free),
 * or -1 with err ("cannot resolve 'HOST': ...").
 */
int net_lookup(const char *host, char ***addrs, size_t *n, char *err, size_t errlen);
void net_addrs_free(char **addrs, size_t n);

/* 0 or -1 with errno set. */
int net_set_nodelay(int fd);
/*
 * TCP_NOTSENT_LOWAT: the kernel keeps at most about `bytes` written but
 * not yet sent (waiting for the peer's window); beyond that, writes return
 * EAGAIN and select() waits. Bytes in flight are not limited. 0, or -1 with
 * errno set (ENOPROTOOPT where the option does not exist).
 */
int net_set_notsent_lowat(int fd, unsigned bytes);
/*
 * "host:port" into out, an IPv6 address in brackets ("[::1]:1883"); port
 * 0: the host alone ("[::1]"). Returns out.
 */
const char *net_addr_text(const char *host, uint16_t port, char *out, size_t outlen);
/* Room for net_addr_text() of a host of up to NET_HOST_LEN. */
#define NET_ADDR_LEN (NET_HOST_LEN + 16)

#endif
