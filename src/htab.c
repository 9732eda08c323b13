/*
 * htab: chained hash table and FNV-1a (see htab.h).
 */
#include <stdlib.h>

#include "htab.h"
#include "log.h"

uint64_t htab_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len-- > 0) {
		h ^= *s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void htab_grow(struct htab *t)
{
	size_t n = t->ht_nb ? t->ht_nb * 2 : 16, i;
	struct htab_node **b = xcalloc(n, sizeof(*b));

	for (i = 0; i < t->ht_nb; i++) {
		struct htab_node *c, *next;

		for (c = t->ht_b[i]; c != NULL; c = next) {
			next = c->hn_next;
			c->hn_next = b[c->hn_hash & (n - 1)];
			b[c->hn_hash & (n - 1)] = c;
		}
	}
	free(t->ht_b);
	t->ht_b = b;
	t->ht_nb = n;
}

void htab_insert(struct htab *t, struct htab_node *n, uint64_t hash)
{
	size_t i;

	if (t->ht_n >= t->ht_nb)
		htab_grow(t);
	n->hn_hash = hash;
	i = hash & (t->ht_nb - 1);
	n->hn_next = t->ht_b[i];
	t->ht_b[i] = n;
	t->ht_n++;
}

void htab_remove(struct htab *t, struct htab_node *n)
{
	struct htab_node **pp = &t->ht_b[n->hn_hash & (t->ht_nb - 1)];

	while (*pp != n)
		pp = &(*pp)->hn_next;
	*pp = n->hn_next;
	t->ht_n--;
}

struct htab_node *htab_chain(const struct htab *t, uint64_t hash)
{
	return t->ht_nb > 0 ? t->ht_b[hash & (t->ht_nb - 1)] : NULL;
}

struct htab_node *htab_bucket(const struct htab *t, size_t i)
{
	return t->ht_b[i];
}

void htab_free(struct htab *t)
{
	free(t->ht_b);
	t->ht_b = NULL;
	t->ht_nb = t->ht_n = 0;
}
