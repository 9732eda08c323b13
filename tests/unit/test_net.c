/*
 * test_net: host:port parsing (good and bad inputs), listen / connect /
 * accept on loopback, a refused connect reported, IPv6 loopback if present;
 * address blocks, and the addresses of a host (literal or from /etc/hosts)
 * and whether they are allowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "net.h"
#include "check_compat.h"

static const struct {
	const char *in;
	uint16_t def;
	const char *host;
	uint16_t port;
} good[] = {
        {"localhost", 1883, "localhost", 1883},
        {"broker.lan:1884", 1883, "broker.lan", 1884},
        {"127.0.0.1:5883", 0, "127.0.0.1", 5883},
        {"10.0.0.1", 1, "10.0.0.1", 1},
        {"[::1]:8883", 0, "::1", 8883},
        {"[fe80::1]", 1883, "fe80::1", 1883},
        {"h:65535", 0, "h", 65535},
        {"my_host-1.example", 80, "my_host-1.example", 80},
        {"h:00080", 0, "h", 80},
        {"[::ffff:10.0.0.1]:1", 0, "::ffff:10.0.0.1", 1},
        {"[2001:db8::42]:65535", 1883, "2001:db8::42", 65535},
};

static const struct {
	const char *in;
	uint16_t def;
	const char *why;
} bad[] = {
        {"", 1883, "empty"},
        {"host:", 1883, "missing port after ':'"},
        {"[::1]:", 1883, "missing port after ':'"},
        {":80", 1883, "missing host"},
        {":", 1883, "missing host"},
        {"host:0", 1883, "from 1 to 65535"},
        {"host:00000", 1883, "from 1 to 65535"},
        {"host:65536", 1883, "from 1 to 65535"},
        {"host:99999999999999999999999", 1883, "from 1 to 65535"},
        {"host:12a", 1883, "port '12a' is not a number"},
        {"host:+80", 1883, "not a number"},
        {"host:-1", 1883, "not a number"},
        {"host: 80", 1883, "not a number"},
        {"host:80 ", 1883, "not a number"},
        {"host:0x50", 1883, "not a number"},
        {"host:000080", 1883, "from 1 to 65535"},
        {"host", 0, "missing ':port'"},
        {"[::1]", 0, "missing ':port'"},
        {"1.2.3.4:80:90", 1883, "brackets"},
        {"::1", 1883, "brackets"},
        {"[::1", 1883, "']'"},
        {"[::1]x", 1883, "':port'"},
        {"[]:80", 1883, "IPv6"},
        {"[zz::1]:80", 1883, "IPv6"},
        {"ho st:80", 1883, "bad character"},
        {"host/x", 1883, "bad character"},
};

START_TEST(split_good)
{
	char host[NET_HOST_LEN], err[ERR_LEN];
	uint16_t port = 0;

	ck_assert_int_eq(net_split_hostport(good[_i].in, host, sizeof(host), &port, good[_i].def,
	                                    err, sizeof(err)),
	                 0);
	ck_assert_str_eq(host, good[_i].host);
	ck_assert_uint_eq(port, good[_i].port);
}
END_TEST

START_TEST(split_bad)
{
	char host[NET_HOST_LEN], err[ERR_LEN] = "";
	uint16_t port = 0;

	ck_assert_int_eq(net_split_hostport(bad[_i].in, host, sizeof(host), &port, bad[_i].def, err,
	                                    sizeof(err)),
	                 -1);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "'%s': message '%s' lacks '%s'", bad[_i].in,
	              err, bad[_i].why);
}
END_TEST

START_TEST(split_host_too_long)
{
	char host[8], err[ERR_LEN] = "";
	uint16_t port;

	ck_assert_int_eq(
	        net_split_hostport("abcdefgh:1", host, sizeof(host), &port, 0, err, sizeof(err)),
	        -1);
	ck_assert_ptr_nonnull(strstr(err, "too long"));
}
END_TEST

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int wait_fd(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	return poll(&pfd, 1, 5000);
}

/* Every socket handed out is non-blocking and close-on-exec. */
static void assert_fd_flags(int fd)
{
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* getaddrinfo() calls, counted through -Wl,--wrap=getaddrinfo (tests/include.am). */
static int resolver_calls;

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
	resolver_calls++;
	return __real_getaddrinfo(node, service, hints, res);
}

static void listen_connect_accept(const char *host, const char *peer_prefix)
{
	char err[ERR_LEN], peer[64];
	int lfd, cfd, afd = -1, i, on = 0;
	socklen_t sl = sizeof(on);
	uint16_t port;

	lfd = net_listen(host, 0, 16, err, sizeof(err));
	ck_assert_msg(lfd >= 0, "%s", err);
	port = bound_port(lfd);
	ck_assert_uint_gt(port, 0);
	cfd = net_connect(host, port, err, sizeof(err));
	ck_assert_msg(cfd >= 0, "%s", err);
	ck_assert_int_eq(wait_fd(cfd, POLLOUT), 1);
	ck_assert_int_eq(net_connect_result(cfd, err, sizeof(err)), 0);
	for (i = 0; i < 100 && afd < 0; i++) {
		wait_fd(lfd, POLLIN);
		afd = net_accept(lfd, peer, sizeof(peer));
	}
	ck_assert_int_ge(afd, 0);
	assert_fd_flags(lfd);
	assert_fd_flags(cfd);
	assert_fd_flags(afd);
	ck_assert_int_eq(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &on, &sl), 0);
	ck_assert_int_ne(on, 0);
	ck_assert_msg(strncmp(peer, peer_prefix, strlen(peer_prefix)) == 0, "peer %s", peer);
	/* Nothing more to accept: -1 with EAGAIN, never blocks. */
	ck_assert_int_eq(net_accept(lfd, peer, sizeof(peer)), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	/* The two ends are really connected. */
	ck_assert_int_eq(write(cfd, "ping", 4), 4);
	ck_assert_int_eq(wait_fd(afd, POLLIN), 1);
	ck_assert_int_eq(read(afd, peer, sizeof(peer)), 4);
	ck_assert_int_eq(memcmp(peer, "ping", 4), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

START_TEST(loopback_v4)
{
	/* A literal address needs no resolver. */
	resolver_calls = 0;
	listen_connect_accept("127.0.0.1", "127.0.0.1:");
	ck_assert_int_eq(resolver_calls, 0);
	/* What only getaddrinfo() reads as an address still works through it. */
	listen_connect_accept("127.1", "127.0.0.1:");
	ck_assert_int_eq(resolver_calls, 2);
}
END_TEST

START_TEST(loopback_v6)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	if (!ok)
		return; /* no IPv6 loopback on this machine */
	listen_connect_accept("::1", "[::1]:");
}
END_TEST

START_TEST(connect_refused)
{
	char err[ERR_LEN] = "", want[64];
	uint16_t port;
	int lfd, fd;

	/* A port that was just free: bind, note it, close. */
	lfd = net_listen("127.0.0.1", 0, 1, err, sizeof(err));
	ck_assert_int_ge(lfd, 0);
	port = bound_port(lfd);
	close(lfd);
	fd = net_connect("127.0.0.1", port, err, sizeof(err));
	if (fd < 0) {
		snprintf(want, sizeof(want), "connect 127.0.0.1:%u: Connection refused", port);
		ck_assert_str_eq(err, want);
		return;
	}
	ck_assert_int_eq(wait_fd(fd, POLLOUT), 1);
	ck_assert_int_eq(net_connect_result(fd, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "Connection refused");
	close(fd);
}
END_TEST

/* The broker link's bound on bytes waiting in the kernel (issue 17). */
START_TEST(notsent_lowat)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
#ifdef TCP_NOTSENT_LOWAT
	{
		unsigned v = 0;
		socklen_t len = sizeof(v);

		ck_assert_int_eq(net_set_notsent_lowat(fd, 65536), 0);
		ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len), 0);
		ck_assert_uint_eq(v, 65536);
	}
#else
	ck_assert_int_eq(net_set_notsent_lowat(fd, 65536), -1);
	ck_assert_int_eq(errno, ENOPROTOOPT);
#endif
	close(fd);
}
END_TEST

START_TEST(listen_bad_address)
{
	char err[ERR_LEN] = "";

	ck_assert_int_eq(net_listen("256.1.1.1", 80, 1, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "256.1.1.1:80"));
}
END_TEST

START_TEST(listen_port_in_use)
{
	char err[ERR_LEN] = "", want[64];
	int lfd;
	uint16_t port;

	lfd = net_listen("127.0.0.1", 0, 1, err, sizeof(err));
	ck_assert_msg(lfd >= 0, "%s", err);
	port = bound_port(lfd);
	ck_assert_int_eq(net_listen("127.0.0.1", port, 1, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "listen 127.0.0.1:%u: Address already in use", port);
	ck_assert_str_eq(err, want);
	close(lfd);
}
END_TEST

static const struct {
	const char *cidr;
	const char *addr;
	bool in;
} cidr_cases[] = {
        {"127.0.0.0/8", "127.0.0.1", true},
        {"127.0.0.0/8", "127.255.255.255", true},
        {"127.0.0.0/8", "128.0.0.1", false},
        {"127.0.0.0/8", "::ffff:127.0.0.1", true},
        {"127.0.0.0/8", "::1", false},
        {"::1", "::1", true},
        {"::1", "::2", false},
        {"::1", "127.0.0.1", false},
        {"10.1.2.3", "10.1.2.3", true},
        {"10.1.2.3", "10.1.2.4", false},
        {"192.168.0.0/23", "192.168.1.200", true},
        {"192.168.0.0/23", "192.168.2.1", false},
        {"0.0.0.0/0", "8.8.8.8", true},
        {"fe80::/10", "fe80::1", true},
        {"fe80::/10", "febf::1", true},
        {"fe80::/10", "fec0::1", false},
        {"::/0", "2001:db8::1", true},
        {"::/0", "1.2.3.4", false},
};

START_TEST(cidr_contains)
{
	struct net_cidr c;
	struct sockaddr_storage ss;
	char err[ERR_LEN];

	memset(&ss, 0, sizeof(ss));
	ck_assert_msg(net_cidr_parse(cidr_cases[_i].cidr, &c, err, sizeof(err)) == 0, "%s", err);
	if (strchr(cidr_cases[_i].addr, ':') != NULL) {
		ss.ss_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, cidr_cases[_i].addr,
		                           &((struct sockaddr_in6 *)&ss)->sin6_addr),
		                 1);
	} else {
		ss.ss_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, cidr_cases[_i].addr,
		                           &((struct sockaddr_in *)&ss)->sin_addr),
		                 1);
	}
	ck_assert_msg(net_cidr_contains(&c, (struct sockaddr *)&ss) == cidr_cases[_i].in,
	              "%s in %s", cidr_cases[_i].addr, cidr_cases[_i].cidr);
}
END_TEST

START_TEST(cidr_bad)
{
	static const char *const bad_cidrs[] = {"",
	                                        "/8",
	                                        "127.0.0.0/",
	                                        "127.0.0.0/33",
	                                        "::1/129",
	                                        "127.0.0.0/8x",
	                                        "localhost",
	                                        "127.0.0.0/-1",
	                                        "1.2.3.4/0008",
	                                        "[::1]"};
	struct net_cidr c;
	char err[ERR_LEN];
	size_t i;

	for (i = 0; i < nitems(bad_cidrs); i++) {
		err[0] = '\0';
		ck_assert_msg(net_cidr_parse(bad_cidrs[i], &c, err, sizeof(err)) == -1,
		              "'%s' accepted", bad_cidrs[i]);
		ck_assert_msg(err[0] != '\0', "no message for '%s'", bad_cidrs[i]);
	}
}
END_TEST

/* cidr_cases through net_addr_allowed, and lists of blocks. */
START_TEST(addr_allowed)
{
	struct net_cidr c[2];
	char err[ERR_LEN];
	size_t i;

	for (i = 0; i < nitems(cidr_cases); i++) {
		ck_assert_msg(net_cidr_parse(cidr_cases[i].cidr, &c[0], err, sizeof(err)) == 0,
		              "%s", err);
		ck_assert_msg(net_addr_allowed(cidr_cases[i].addr, c, 1) == cidr_cases[i].in,
		              "%s in %s", cidr_cases[i].addr, cidr_cases[i].cidr);
	}
	ck_assert_int_eq(net_cidr_parse("10.0.0.0/8", &c[0], err, sizeof(err)), 0);
	ck_assert_int_eq(net_cidr_parse("::1", &c[1], err, sizeof(err)), 0);
	ck_assert(net_addr_allowed("10.9.8.7", c, 2));
	ck_assert(net_addr_allowed("::1", c, 2));
	ck_assert(!net_addr_allowed("::1", c, 1));
	ck_assert(!net_addr_allowed("127.0.0.1", c, 2));
	ck_assert(!net_addr_allowed("10.0.0.1", c, 0)); /* an empty list allows nothing */
	/* Only numeric text is an address. */
	ck_assert(!net_addr_allowed("localhost", c, 2));
	ck_assert(!net_addr_allowed("[::1]", c, 2));
	ck_assert(!net_addr_allowed("", c, 2));
}
END_TEST

/* Every address of a name must be inside: the first one outside is named. */
START_TEST(addrs_outside)
{
	static char *const lo[] = {"127.0.0.1", "::1"};
	static char *const mixed[] = {"::1", "10.0.0.1", "127.0.0.1", "192.168.1.1"};
	struct net_cidr c[2];

	ck_assert_int_eq(net_cidr_parse("127.0.0.0/8", &c[0], NULL, 0), 0);
	ck_assert_int_eq(net_cidr_parse("::1", &c[1], NULL, 0), 0);
	ck_assert_uint_eq(net_addrs_outside(lo, 2, c, 2), 2);
	ck_assert_uint_eq(net_addrs_outside(lo, 2, c, 1), 1);
	ck_assert_uint_eq(net_addrs_outside(lo, 2, &c[1], 1), 0);
	ck_assert_uint_eq(net_addrs_outside(mixed, 1, c, 2), 1);
	ck_assert_uint_eq(net_addrs_outside(mixed, 4, c, 2), 1);
	ck_assert_uint_eq(net_addrs_outside(mixed + 2, 2, c, 2), 1);
	ck_assert_uint_eq(net_addrs_outside(lo, 2, c, 0), 0);
}
END_TEST

START_TEST(lookup)
{
	char **a = NULL, err[ERR_LEN];
	size_t n = 0, i;
	bool v4 = false;

	ck_assert(net_addr_literal("127.0.0.1"));
	ck_assert(net_addr_literal("::1"));
	ck_assert(!net_addr_literal("[::1]"));
	ck_assert(!net_addr_literal("localhost"));
	/* A literal is itself, as written. */
	ck_assert_int_eq(net_lookup("10.0.0.1", &a, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(a[0], "10.0.0.1");
	net_addrs_free(a, n);
	ck_assert_int_eq(net_lookup("0:0::1", &a, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(a[0], "0:0::1");
	net_addrs_free(a, n);
	/* A name from /etc/hosts: numeric text, each address once. */
	ck_assert_msg(net_lookup("localhost", &a, &n, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_ge(n, 1);
	for (i = 0; i < n; i++) {
		ck_assert(net_addr_literal(a[i]));
		v4 = v4 || strcmp(a[i], "127.0.0.1") == 0;
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(a[i], a[j]);
	}
	ck_assert(v4);
	net_addrs_free(a, n);
	/* An empty label: the resolver refuses it without asking DNS. */
	ck_assert_int_eq(net_lookup("no..such.invalid", &a, &n, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "cannot resolve 'no..such.invalid': ", 35) == 0, "%s", err);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("net");

	tcase_add_loop_test(tc, split_good, 0, (int)nitems(good));
	tcase_add_loop_test(tc, split_bad, 0, (int)nitems(bad));
	tcase_add_test(tc, split_host_too_long);
	tcase_add_test(tc, loopback_v4);
	tcase_add_test(tc, loopback_v6);
	tcase_add_test(tc, connect_refused);
	tcase_add_test(tc, notsent_lowat);
	tcase_add_test(tc, listen_bad_address);
	tcase_add_test(tc, listen_port_in_use);
	tcase_add_loop_test(tc, cidr_contains, 0, (int)nitems(cidr_cases));
	tcase_add_test(tc, cidr_bad);
	tcase_add_test(tc, addr_allowed);
	tcase_add_test(tc, addrs_outside);
	tcase_add_test(tc, lookup);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(net_suite)
