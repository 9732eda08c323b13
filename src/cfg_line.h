/*
 * cfg_line: part of `cfg`, one line of the config file (cfg_line.c) for
 * the parser of the whole file (cfg.c): the line split into key and
 * value, and the value checked and stored by the type its key has in
 * cfg's key table.
 */
#ifndef OCTO_CFG_LINE_H
#define OCTO_CFG_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cfg.h"

enum cfg_type {
	CT_STRING,   /* char *, any text */
	CT_TOPIC,    /* char *, topic text that may be empty */
	CT_BOOL,     /* bool: true / false */
	CT_UINT,     /* unsigned, bounded */
	CT_SIZE,     /* size_t, bounded */
	CT_QOS,      /* int 0..2 */
	CT_URL,      /* broker.url -> broker_host (+ port) */
	CT_LISTEN,   /* http.listen -> http_listen_host/port */
	CT_PROTOCOL, /* broker.protocol */
	CT_LOGLEVEL, /* log.level */
	CT_EVLIST,   /* comma-separated event names */
	CT_CIDRLIST, /* comma-separated address blocks (webhook.allow) */
	CT_RETAIN,   /* true, false, or comma-separated event names */
	CT_FLOAT,    /* a non-negative decimal number */
	CT_PORT,     /* uint16_t 1..65535 */
	CT_TOKEN,    /* char *, visible ASCII only (an HTTP bearer token) */
};

struct cfg_key {
	const char *k_name;
	enum cfg_type k_type;
	size_t k_off;
	uint64_t k_min, k_max;
};

/* Parser state for one text. */
struct cfg_parse {
	struct cfg *cp_cfg;
	const char *cp_name;
	char *cp_err;
	size_t cp_errlen;
	unsigned cp_line;
	unsigned *cp_seen; /* line each key of cfg_keys was set on, 0 = unset */
	bool cp_url_port;  /* broker.url named a port */
	bool cp_url_tls;   /* broker.url is mqtts:// */
	bool cp_url_plain; /* broker.url is mqtt:// */
};

/*
 * Put "NAME:LINE: " (line 0: "NAME: ") and the message into cp's error
 * buffer; returns -1.
 */
int cfg_fail(struct cfg_parse *cp, unsigned line, const char *fmt, ...) ATTR_PRINTF(3, 4);
/* Free a NULL-terminated list of strings (NULL: nothing). */
void cfg_free_list(char **list);

/*
 * One line (without its newline) into key and value; value written into
 * `val` (unquoted, unescaped), both NUL-terminated. 1 if the line holds a
 * setting, 0 if blank or a comment, -1 on a syntax error (cfg_fail).
 */
int cfg_split_line(struct cfg_parse *cp, const char *s, size_t len, struct buf *key,
                   struct buf *val);
/* Check v as a value of key k and store it in cp's cfg: 0, or -1 (cfg_fail). */
int cfg_set_value(struct cfg_parse *cp, const struct cfg_key *k, const char *v);

#endif
