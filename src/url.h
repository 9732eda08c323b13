/*
 * url: the http:// and https:// URLs of webhook subscriptions, parsed and
 * checked (pure: no I/O, no lookup). webhook parses a subscription's URL
 * with it, for a registration (webhook_check_url, the API's check) and
 * for a target (webhook_add_target).
 */
#ifndef OCTO_URL_H
#define OCTO_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

/* A parsed http:// or https:// URL. */
struct url {
	char host[NET_HOST_LEN]; /* name or address, without brackets */
	uint16_t port;           /* 80 (443 for https) if not given */
	bool tls;                /* https:// */
	char *path;              /* "/..." with the query, malloc'd ("/" if none given) */
	char *host_header;       /* Host: value ("h", "h:8080", "[::1]:81"), malloc'd */
};

/*
 * Pure: parse "http[s]://host[:port][/path][?query]" (scheme
 * case-insensitive; host a name, IPv4, or [IPv6]). No user info, no
 * fragment, no spaces, control or non-ASCII bytes in the path. 0, or -1
 * with err set (https:// in a build without TLS says so). Free with
 * url_free(), whatever the result.
 */
int url_parse(const char *url, struct url *out, char *err, size_t errlen);
void url_free(struct url *u);

#endif
