/*
 * trie: MQTT topic filters in a tree of their levels, so that matching a
 * topic name costs its depth and the matches, not the number of filters
 * (pure; issue 17: 100,000 subscriptions at flat cost).
 *
 * Each node is one level of a filter ("a/+/#" is root → "a" → "+" → "#");
 * a node holds the values added under the filter that ends there. Exact
 * levels are found through one hash table of (parent, level) edges for the
 * whole tree, so a level with 100,000 siblings costs what one with two
 * does; '+' and '#' children hang off their parent directly. Matching
 * follows MQTT 3.1.1 §4.7 as topic_match() does: '+' is one whole level,
 * '#' the rest including none ("a/#" matches "a"), and a filter starting
 * with a wildcard matches no topic name starting with '$'.
 *
 * Values are the caller's pointers, never dereferenced. Allocation failure
 * is fatal (log's x* allocators).
 */
#ifndef OCTO_TRIE_H
#define OCTO_TRIE_H

#include <stdbool.h>
#include <stddef.h>

struct trie;

/* Called once per (filter, value) pair whose filter matches. */
typedef void trie_match_fn(void *ctx, void *value);

struct trie *trie_new(void);
/* Frees the tree, not the values. NULL is fine. */
void trie_free(struct trie *t);
/*
 * Add value under filter f (a valid filter, topic_filter_valid). The same
 * (filter, value) pair added twice is there twice: callers add each once.
 */
void trie_add(struct trie *t, const char *f, size_t flen, void *value);
/*
 * Remove one (filter, value) pair, and the levels no other filter uses.
 * true if it was there.
 */
bool trie_remove(struct trie *t, const char *f, size_t flen, void *value);
/*
 * fn(ctx, value) for every pair whose filter matches topic name
 * name (a valid topic name). Within one filter, values come in the order
 * they were added; between filters the order is the tree's. fn must not
 * change the trie.
 */
void trie_match(const struct trie *t, const char *name, size_t len, trie_match_fn *fn, void *ctx);
/*
 * fn(ctx, value) for every pair whose filter overlaps filter f (a valid
 * filter): some topic name matches both (topic_filters_overlap()). Costs
 * the levels it has to visit: all of a subtree under a '#' of f, all the
 * children of a level where f has '+'.
 */
void trie_overlap(const struct trie *t, const char *f, size_t flen, trie_match_fn *fn, void *ctx);
/* (filter, value) pairs held. */
size_t trie_count(const struct trie *t);

#endif
