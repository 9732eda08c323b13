/*
 * json_parse: part of `json`, its validating parser (json_parse.c), for
 * the rest of json (json.c), which reads what it parsed.
 *
 * json_parse() runs jsmn and checks what jsmn leaves out (see
 * json_parse.c); on success the document is its tokens in document order
 * (pre-order), each with its parent, whose offsets index the text.
 */
#ifndef OCTO_JSON_PARSE_H
#define OCTO_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * jsmn's types; jsmn itself is compiled into json_parse.c only, which
 * includes jsmn.h first (JSMN_STATIC) with the same JSMN_PARENT_LINKS
 * that the token layout depends on.
 */
#ifndef JSMN_H
#define JSMN_PARENT_LINKS
#define JSMN_HEADER
#include <jsmn.h>
#endif
#ifndef JSMN_PARENT_LINKS
#error "jsmn.h was included without JSMN_PARENT_LINKS: its tokens have no parent"
#endif

/* Documents up to this many tokens are parsed without allocating. */
#define JSON_STACK_TOKENS 64

/* Long strings (json_parse.c) checked while tokenizing, at most. */
#define JSON_MAX_LONG 8

/* A parsed document. */
struct json_doc {
	const char *js;
	size_t len;
	jsmntok_t *tok; /* ntok tokens in document order (pre-order) */
	int ntok;
	jsmntok_t stack[JSON_STACK_TOKENS];
	int checked[JSON_MAX_LONG]; /* string tokens checked already, in order */
	int nchecked;
};

/*
 * Tokenize and validate `len` bytes at js (one RFC 8259 value, see
 * json_validate()). On success d->tok holds the tokens (release with
 * json_doc_free()); on failure nothing is held and *why says why
 * (static text).
 */
int json_parse(struct json_doc *d, const char *js, size_t len, const char **why);
void json_doc_free(struct json_doc *d);

static inline bool json_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* First byte of a token's text: strings include their opening quote. */
static inline size_t json_tok_begin(const jsmntok_t *t)
{
	return (size_t)t->start - (t->type == JSMN_STRING ? 1 : 0);
}

/* One past a token's text: strings include their closing quote. */
static inline size_t json_tok_finish(const jsmntok_t *t)
{
	return (size_t)t->end + (t->type == JSMN_STRING ? 1 : 0);
}

#endif
