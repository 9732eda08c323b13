/*
 * trie: topic filters by level (see trie.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "trie.h"

enum tn_kind { TN_ROOT, TN_EXACT, TN_PLUS, TN_HASH };

struct tnode {
	struct tnode *parent;
	struct tnode *next;        /* the next node in its hash bucket */
	struct tnode *plus, *hash; /* the '+' and '#' children, also in the table */
	struct tnode *kids;        /* every child, through sib/psib (trie_overlap) */
	struct tnode *sib, *psib;
	size_t nchildren; /* children of every kind */
	void **values;    /* added under the filter that ends here */
	size_t nvalues, capvalues;
	size_t hv; /* hash of (parent, level) */
	enum tn_kind kind;
	size_t len;   /* of level */
	char level[]; /* the level's bytes ("+" and "#" for those), not NUL-terminated */
};

/*
 * Every node but the root is in one hash table keyed by (parent, level):
 * the exact children are found through it, and freeing walks it.
 */
struct trie {
	struct tnode *root;
	struct tnode **buckets;
	size_t nbuckets; /* a power of two */
	size_t nnodes;   /* in the table */
	size_t count;    /* (filter, value) pairs */
};

#define TRIE_MIN_BUCKETS 64

static size_t tr_hash(const struct tnode *parent, const char *s, size_t len)
{
	uint64_t h = htab_fnv(HTAB_FNV_BASIS, s, len);

	h ^= (uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h ^ (h >> 29));
}

struct trie *trie_new(void)
{
	struct trie *t = xcalloc(1, sizeof(*t));

	t->root = xcalloc(1, sizeof(*t->root));
	t->root->kind = TN_ROOT;
	t->nbuckets = TRIE_MIN_BUCKETS;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	return t;
}

static void tr_free_node(struct tnode *n)
{
	free(n->values);
	free(n);
}

void trie_free(struct trie *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		struct tnode *n, *next;

		for (n = t->buckets[i]; n != NULL; n = next) {
			next = n->next;
			tr_free_node(n);
		}
	}
	tr_free_node(t->root);
	free(t->buckets);
	free(t);
}

size_t trie_count(const struct trie *t)
{
	return t->count;
}

/* Double the table once it holds more nodes than buckets. */
static void tr_grow(struct trie *t)
{
	size_t n = t->nbuckets * 2, i;
	struct tnode **b = xcalloc(n, sizeof(*b));

	for (i = 0; i < t->nbuckets; i++) {
		struct tnode *c, *next;

		for (c = t->buckets[i]; c != NULL; c = next) {
			next = c->next;
			c->next = b[c->hv & (n - 1)];
			b[c->hv & (n - 1)] = c;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct tnode *tr_find(const struct trie *t, const struct tnode *parent, const char *s,
                             size_t len)
{
	size_t hv = tr_hash(parent, s, len);
	struct tnode *c;

	for (c = t->buckets[hv & (t->nbuckets - 1)]; c != NULL; c = c->next)
		if (c->hv == hv && c->parent == parent && c->len == len &&
		    (len == 0 || memcmp(c->level, s, len) == 0))
			return c;
	return NULL;
}

/* The child of parent for level s, made when missing. */
static struct tnode *tr_child(struct trie *t, struct tnode *parent, const char *s, size_t len)
{
	enum tn_kind kind = TN_EXACT;
	struct tnode *c;
	size_t slot;

	if (len == 1 && (s[0] == '+' || s[0] == '#')) {
		kind = s[0] == '+' ? TN_PLUS : TN_HASH;
		c = kind == TN_PLUS ? parent->plus : parent->hash;
	} else {
		c = tr_find(t, parent, s, len);
	}
	if (c != NULL)
		return c;
	if (t->nnodes >= t->nbuckets)
		tr_grow(t);
	c = xcalloc(1, sizeof(*c) + len);
	c->parent = parent;
	c->kind = kind;
	c->len = len;
	if (len > 0)
		memcpy(c->level, s, len);
	c->hv = tr_hash(parent, s, len);
	slot = c->hv & (t->nbuckets - 1);
	c->next = t->buckets[slot];
	t->buckets[slot] = c;
	t->nnodes++;
	parent->nchildren++;
	c->sib = parent->kids;
	if (parent->kids != NULL)
		parent->kids->psib = c;
	parent->kids = c;
	if (kind == TN_PLUS)
		parent->plus = c;
	else if (kind == TN_HASH)
		parent->hash = c;
	return c;
}

/* The length of the level starting at s, before end or the next '/'. */
static size_t tr_level(const char *s, const char *end)
{
	const char *slash = memchr(s, '/', (size_t)(end - s));

	return (size_t)((slash != NULL ? slash : end) - s);
}

void trie_add(struct trie *t, const char *f, size_t flen, void *value)
{
	const char *p = f, *end = f + flen;
	struct tnode *n = t->root;

	for (;;) {
		size_t len = tr_level(p, end);

		n = tr_child(t, n, p, len);
		if (p + len == end)
			break;
		p += len + 1;
	}
	if (n->nvalues == n->capvalues) {
		n->capvalues = n->capvalues ? n->capvalues * 2 : 1;
		n->values = xrealloc(n->values, n->capvalues * sizeof(*n->values));
	}
	n->values[n->nvalues++] = value;
	t->count++;
}

/* Unlink and free n, which holds nothing and has no children. */
static void tr_unlink(struct trie *t, struct tnode *n)
{
	struct tnode **pp = &t->buckets[n->hv & (t->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	t->nnodes--;
	n->parent->nchildren--;
	if (n->psib != NULL)
		n->psib->sib = n->sib;
	else
		n->parent->kids = n->sib;
	if (n->sib != NULL)
		n->sib->psib = n->psib;
	if (n->kind == TN_PLUS)
		n->parent->plus = NULL;
	else if (n->kind == TN_HASH)
		n->parent->hash = NULL;
	tr_free_node(n);
}

bool trie_remove(struct trie *t, const char *f, size_t flen, void *value)
{
	const char *p = f, *end = f + flen;
	struct tnode *n = t->root;
	size_t i;

	for (;;) {
		size_t len = tr_level(p, end);

		if (len == 1 && p[0] == '+')
			n = n->plus;
		else if (len == 1 && p[0] == '#')
			n = n->hash;
		else
			n = tr_find(t, n, p, len);
		if (n == NULL)
			return false;
		if (p + len == end)
			break;
		p += len + 1;
	}
	for (i = 0; i < n->nvalues && n->values[i] != value; i++)
		;
	if (i == n->nvalues)
		return false;
	memmove(&n->values[i], &n->values[i + 1], (n->nvalues - i - 1) * sizeof(*n->values));
	n->nvalues--;
	t->count--;
	while (n->kind != TN_ROOT && n->nvalues == 0 && n->nchildren == 0) {
		struct tnode *up = n->parent;

		tr_unlink(t, n);
		n = up;
	}
	return true;
}

static void tr_report(const struct tnode *n, trie_match_fn *fn, void *ctx)
{
	size_t i;

	for (i = 0; i < n->nvalues; i++)
		fn(ctx, n->values[i]);
}

/*
 * The filters below n matching the topic levels from p (NULL: past the
 * last level). Each node sits at one depth, so each is visited at most
 * once per match: the exact path is followed in the loop, '+' branches
 * recurse (as deep as the deepest filter's '+' levels).
 */
static void tr_walk(const struct trie *t, const struct tnode *n, const char *p, const char *end,
                    trie_match_fn *fn, void *ctx)
{
	while (n != NULL) {
		/* '$' topics: no wildcard matches their first level (§4.7.2). */
		bool wild = !(n->kind == TN_ROOT && p != NULL && p < end && p[0] == '$');
		const char *next;
		size_t len;

		if (n->hash != NULL && wild)
			tr_report(n->hash, fn, ctx); /* "a/#" matches "a" and everything below */
		if (p == NULL) {
			tr_report(n, fn, ctx);
			return;
		}
		len = tr_level(p, end);
		next = p + len < end ? p + len + 1 : NULL;
		if (n->plus != NULL && wild)
			tr_walk(t, n->plus, next, end, fn, ctx);
		/* Only wildcard children: no exact one to look for. */
		n = n->nchildren > (size_t)(n->plus != NULL) + (size_t)(n->hash != NULL)
		            ? tr_find(t, n, p, len)
		            : NULL;
		p = next;
	}
}

void trie_match(const struct trie *t, const char *name, size_t len, trie_match_fn *fn, void *ctx)
{
	tr_walk(t, t->root, name, name + len, fn, ctx);
}

/* Every value at n and below it; at the root, none under a '$' level. */
static void tr_report_all(const struct tnode *n, trie_match_fn *fn, void *ctx)
{
	const struct tnode *c;

	tr_report(n, fn, ctx);
	for (c = n->kids; c != NULL; c = c->sib) {
		if (n->kind == TN_ROOT && c->kind == TN_EXACT && c->len > 0 && c->level[0] == '$')
			continue;
		tr_report_all(c, fn, ctx);
	}
}

/*
 * The filters below n that can match a topic name some filter with the
 * levels from p (NULL: past its last level) also matches: the overlap of
 * topic_filters_overlap(), walked level by level.
 */
static void tr_overlap(const struct trie *t, const struct tnode *n, const char *p, const char *end,
                       trie_match_fn *fn, void *ctx)
{
	bool root = n->kind == TN_ROOT;
	const struct tnode *c;
	const char *next;
	size_t len;

	if (p == NULL) {
		tr_report(n, fn, ctx);
		if (n->hash != NULL)
			tr_report(n->hash, fn, ctx); /* "a/#" and "a" */
		return;
	}
	len = tr_level(p, end);
	next = p + len < end ? p + len + 1 : NULL;
	if (len == 1 && p[0] == '#') {
		/* "a/#" meets "a" and everything below it, but a leading '#'
		 * no '$' level. */
		tr_report_all(n, fn, ctx);
		return;
	}
	/* A stored leading wildcard never meets a '$' level, nor a filter's
	 * leading wildcard a stored '$' level. */
	if (!(root && p[0] == '$')) {
		if (n->hash != NULL)
			tr_report(n->hash, fn, ctx);
		if (n->plus != NULL)
			tr_overlap(t, n->plus, next, end, fn, ctx);
	}
	if (len == 1 && p[0] == '+') {
		for (c = n->kids; c != NULL; c = c->sib) {
			if (c->kind != TN_EXACT || (root && c->len > 0 && c->level[0] == '$'))
				continue;
			tr_overlap(t, c, next, end, fn, ctx);
		}
		return;
	}
	c = tr_find(t, n, p, len);
	if (c != NULL)
		tr_overlap(t, c, next, end, fn, ctx);
}

void trie_overlap(const struct trie *t, const char *f, size_t flen, trie_match_fn *fn, void *ctx)
{
	tr_overlap(t, t->root, f, f + flen, fn, ctx);
}
