/*
 * bset: the broker's subscription set for a multiset of topic filters,
 * kept up to date one filter at a time (pure; issue 17).
 *
 * The set is what topic_broker_set() computes from scratch: filters that
 * no two overlap, each the join (topic_filter_join) of a group of the
 * registered filters, so that a broker sending one copy per matching
 * subscription sends each message once. Groups are the closure of "their
 * joins overlap": adding a filter merges the groups it overlaps (found
 * through a trie of the broker filters, trie_overlap), and removing one
 * re-forms only its own group, and not even that while the group's
 * broker filter is itself still registered.
 *
 * Changes gather until bset_flush(), which reports each broker filter to
 * subscribe, then each to unsubscribe (so that in between a message may
 * come twice, never not at all); one that went and came back within the
 * same flush is neither.
 */
#ifndef OCTO_BSET_H
#define OCTO_BSET_H

#include <stdbool.h>
#include <stddef.h>

struct bset;

/* subscribe: true to subscribe filter f at the broker, false to unsubscribe. */
typedef void bset_change_fn(void *ctx, const char *f, size_t len, bool subscribe);

struct bset *bset_new(void);
void bset_free(struct bset *b);
/* One more registration of filter f (valid: topic_filter_valid). */
void bset_add(struct bset *b, const char *f, size_t len);
/* One registration of f fewer; false (and nothing changes) if it had none. */
bool bset_remove(struct bset *b, const char *f, size_t len);
/* Report the changes since the last flush. */
void bset_flush(struct bset *b, bset_change_fn *fn, void *ctx);
/* Broker filters in the set now (flushed or not). */
size_t bset_count(const struct bset *b);

#endif
