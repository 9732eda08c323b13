/*
 * htab: the one chained hash table of the daemon's indexes (bset's
 * filters, mqtt_subset's filters, webhook's targets), and the one string
 * hash, FNV-1a 64 (the registry's ids are made of it too).
 *
 * Intrusive: a struct htab_node sits inside what is indexed (HTAB_ENTRY
 * gets back to it); the table only links nodes, the caller owns them and
 * compares keys while walking a chain. It doubles once it holds as many
 * nodes as buckets. Pure; allocation failure is fatal (log's x*).
 */
#ifndef OCTO_HTAB_H
#define OCTO_HTAB_H

#include <stddef.h>
#include <stdint.h>

#define HTAB_FNV_BASIS 0xcbf29ce484222325ULL

struct htab_node {
	struct htab_node *hn_next;
	uint64_t hn_hash;
};

struct htab {
	struct htab_node **ht_b;
	size_t ht_nb; /* a power of two, or 0 before the first insert */
	size_t ht_n;
};

/* The struct of type holding node pointer p in its member. */
#define HTAB_ENTRY(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* FNV-1a of p[0..len), continuing from h (HTAB_FNV_BASIS to start). */
uint64_t htab_fnv(uint64_t h, const void *p, size_t len);
void htab_insert(struct htab *t, struct htab_node *n, uint64_t hash);
/* n must be in t. */
void htab_remove(struct htab *t, struct htab_node *n);
/* The first node of the chain where nodes with this hash are (NULL: none). */
struct htab_node *htab_chain(const struct htab *t, uint64_t hash);
/* Bucket i (0 <= i < ht_nb) for walking every node, e.g. to free them. */
struct htab_node *htab_bucket(const struct htab *t, size_t i);
/* Frees the buckets, not the nodes. */
void htab_free(struct htab *t);

#endif
