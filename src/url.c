/*
 * url: webhook URLs parsed and checked (see url.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "net.h"
#include "tls.h"
#include "url.h"

static int url_err(char *err, size_t errlen, const char *msg, const char *url)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "'%s': %s", url, msg);
	return -1;
}

int url_parse(const char *url, struct url *out, char *err, size_t errlen)
{
	const char *a, *ae, *path;
	char auth[NET_HOST_LEN + 16];
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "https://", 8) == 0) {
		if (!tls_available())
			return url_err(err, errlen,
			               "https:// needs TLS, and octomqttd was built --without-tls",
			               url);
		out->tls = true;
		out->port = 443;
		a = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		out->port = 80;
		a = url + 7;
	} else {
		return url_err(err, errlen, "the URL must start with http:// or https://", url);
	}
	ae = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(ae - a)) != NULL)
		return url_err(err, errlen, "user information in the URL is not supported", url);
	if (strchr(url, '#') != NULL)
		return url_err(err, errlen, "a URL fragment ('#') is not allowed", url);
	n = (size_t)(ae - a);
	if (n == 0)
		return url_err(err, errlen, "the URL has no host", url);
	if (n >= sizeof(auth))
		return url_err(err, errlen, "the host is too long", url);
	memcpy(auth, a, n);
	auth[n] = '\0';
	if (net_split_hostport(auth, out->host, sizeof(out->host), &out->port, out->port, err,
	                       errlen) != 0)
		return -1;
	path = ae;
	for (const char *c = path; *c != '\0'; c++) {
		unsigned char ch = (unsigned char)*c;

		if (ch <= 0x20 || ch >= 0x7f)
			return url_err(
			        err, errlen,
			        "the path may hold only visible ASCII (percent-encode the rest)",
			        url);
	}
	if (*path == '/') {
		out->path = xstrdup(path);
	} else {
		out->path = xmalloc(strlen(path) + 2);
		out->path[0] = '/';
		strcpy(out->path + 1, path);
	}
	n = strlen(out->host) + 16;
	out->host_header = xmalloc(n);
	net_addr_text(out->host, 0, out->host_header, n);
	if (out->port != (out->tls ? 443 : 80))
		snprintf(out->host_header + strlen(out->host_header), n - strlen(out->host_header),
		         ":%u", out->port);
	return 0;
}

void url_free(struct url *u)
{
	free(u->path);
	free(u->host_header);
	u->path = u->host_header = NULL;
}
