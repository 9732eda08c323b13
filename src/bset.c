/*
 * bset: the broker subscription set, kept incrementally (see bset.h).
 */
#include <stdlib.h>
#include <string.h>

#include "bset.h"
#include "buf.h"
#include "htab.h"
#include "log.h"
#include "topic.h"
#include "trie.h"

/* A string key of one of bset's tables. */
struct bs_key {
	struct htab_node k_node;
	size_t k_len;
	char *k_s; /* NUL-terminated copy */
};

/* A registered filter: how many registrations, and its group. */
struct bs_member {
	struct bs_key m_key;
	size_t m_count;
	struct bs_group *m_group;
	struct bs_member *m_prev, *m_next; /* in the group */
};

/* A broker filter, alive (a group has it) or waiting for the flush. */
struct bs_bf {
	struct bs_key f_key;
	struct bs_group *f_group; /* NULL: no group has it now */
	bool f_at_broker;         /* subscribed as of the last flush */
	bool f_dirty;
	struct bs_bf *f_dnext;
};

struct bs_group {
	struct bs_bf *g_bf; /* its broker filter: the join of its members */
	struct bs_member *g_head;
	size_t g_n;
};

struct bset {
	struct htab b_members, b_bfs; /* of bs_member, bs_bf: by their key */
	struct trie *b_groups;        /* broker filter -> group */
	size_t b_ngroups;
	struct bs_bf *b_dirty;
	struct bs_bf **b_dirty_tail;
};

/* The groups a query found. */
struct bs_vec {
	struct bs_group **v;
	size_t n, cap;
};

static struct bs_key *tab_find(const struct htab *t, const char *s, size_t len)
{
	uint64_t h = htab_fnv(HTAB_FNV_BASIS, s, len);
	struct htab_node *n;

	for (n = htab_chain(t, h); n != NULL; n = n->hn_next) {
		struct bs_key *k = HTAB_ENTRY(n, struct bs_key, k_node);

		if (n->hn_hash == h && k->k_len == len && memcmp(k->k_s, s, len) == 0)
			return k;
	}
	return NULL;
}

static void tab_insert(struct htab *t, struct bs_key *k, const char *s, size_t len)
{
	k->k_len = len;
	k->k_s = xstrndup(s, len);
	htab_insert(t, &k->k_node, htab_fnv(HTAB_FNV_BASIS, s, len));
}

/* Take k out of t and free its string (not k). */
static void tab_delete(struct htab *t, struct bs_key *k)
{
	htab_remove(t, &k->k_node);
	free(k->k_s);
}

struct bset *bset_new(void)
{
	struct bset *b = xcalloc(1, sizeof(*b));

	b->b_groups = trie_new();
	b->b_dirty_tail = &b->b_dirty;
	return b;
}

/* Free every key of t (bs_member or bs_bf, both start with theirs). */
static void tab_free(struct htab *t, bool members)
{
	size_t i;

	for (i = 0; i < t->ht_nb; i++) {
		struct htab_node *n, *next;

		for (n = htab_bucket(t, i); n != NULL; n = next) {
			struct bs_key *k = HTAB_ENTRY(n, struct bs_key, k_node);
			struct bs_member *m = (struct bs_member *)k;

			next = n->hn_next;
			/* Every group has a member: each group goes with the first
			 * of its members met here, which unhooks the others. */
			if (members && m->m_group != NULL) {
				struct bs_group *g = m->m_group;
				struct bs_member *o;

				for (o = g->g_head; o != NULL; o = o->m_next)
					o->m_group = NULL;
				free(g);
			}
			free(k->k_s);
			free(k);
		}
	}
	htab_free(t);
}

void bset_free(struct bset *b)
{
	if (b == NULL)
		return;
	tab_free(&b->b_members, true);
	tab_free(&b->b_bfs, false);
	trie_free(b->b_groups);
	free(b);
}

size_t bset_count(const struct bset *b)
{
	return b->b_ngroups;
}

static void bs_dirty(struct bset *b, struct bs_bf *bf)
{
	if (bf->f_dirty)
		return;
	bf->f_dirty = true;
	bf->f_dnext = NULL;
	*b->b_dirty_tail = bf;
	b->b_dirty_tail = &bf->f_dnext;
}

/* Group g takes broker filter f (it had none, or another). */
static void bs_set_filter(struct bset *b, struct bs_group *g, const char *f, size_t len)
{
	struct bs_bf *bf = (struct bs_bf *)tab_find(&b->b_bfs, f, len);

	if (g->g_bf != NULL) {
		trie_remove(b->b_groups, g->g_bf->f_key.k_s, g->g_bf->f_key.k_len, g);
		g->g_bf->f_group = NULL;
		bs_dirty(b, g->g_bf);
	} else {
		b->b_ngroups++;
	}
	if (bf == NULL) {
		bf = xcalloc(1, sizeof(*bf));
		tab_insert(&b->b_bfs, &bf->f_key, f, len);
	}
	bf->f_group = g;
	bs_dirty(b, bf);
	g->g_bf = bf;
	trie_add(b->b_groups, bf->f_key.k_s, len, g);
}

/* Group g leaves the set (its members already went elsewhere or away). */
static void bs_group_free(struct bset *b, struct bs_group *g)
{
	trie_remove(b->b_groups, g->g_bf->f_key.k_s, g->g_bf->f_key.k_len, g);
	g->g_bf->f_group = NULL;
	bs_dirty(b, g->g_bf);
	b->b_ngroups--;
	free(g);
}

static void bs_link(struct bs_group *g, struct bs_member *m)
{
	m->m_group = g;
	m->m_prev = NULL;
	m->m_next = g->g_head;
	if (g->g_head != NULL)
		g->g_head->m_prev = m;
	g->g_head = m;
	g->g_n++;
}

static void bs_unlink(struct bs_member *m)
{
	struct bs_group *g = m->m_group;

	if (m->m_prev != NULL)
		m->m_prev->m_next = m->m_next;
	else
		g->g_head = m->m_next;
	if (m->m_next != NULL)
		m->m_next->m_prev = m->m_prev;
	g->g_n--;
	m->m_group = NULL;
}

static void bs_collect(void *ctx, void *value)
{
	struct bs_vec *v = ctx;

	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = value;
}

/*
 * Merge into the largest of the groups in v (taken out of the trie as
 * they are found) every other, and then every group the growing join j
 * overlaps, until none does; the result takes j as its filter.
 */
static struct bs_group *bs_merge(struct bset *b, struct bs_vec *v, struct buf *j)
{
	struct bs_group *big = NULL;
	struct buf next = BUF_INITIALIZER;
	size_t i;

	while (v->n > 0) {
		for (i = 0; i < v->n; i++) {
			struct bs_group *g = v->v[i];

			buf_reset(&next);
			topic_filter_join(buf_data(j), buf_len(j), g->g_bf->f_key.k_s,
			                  g->g_bf->f_key.k_len, &next);
			buf_reset(j);
			buf_append(j, buf_data(&next), buf_len(&next));
			trie_remove(b->b_groups, g->g_bf->f_key.k_s, g->g_bf->f_key.k_len, g);
			if (big == NULL || g->g_n > big->g_n) {
				struct bs_group *t = big;

				big = g;
				g = t;
			}
			if (g == NULL)
				continue;
			while (g->g_head != NULL) {
				struct bs_member *m = g->g_head;

				bs_unlink(m);
				bs_link(big, m);
			}
			/* Back in the trie so that bs_group_free finds it. */
			trie_add(b->b_groups, g->g_bf->f_key.k_s, g->g_bf->f_key.k_len, g);
			bs_group_free(b, g);
		}
		v->n = 0;
		trie_overlap(b->b_groups, buf_data(j), buf_len(j), bs_collect, v);
	}
	buf_free(&next);
	/* big is out of the trie: bs_set_filter puts it back under j. */
	trie_add(b->b_groups, big->g_bf->f_key.k_s, big->g_bf->f_key.k_len, big);
	bs_set_filter(b, big, buf_data(j), buf_len(j));
	return big;
}

/* Member m (in no group) joins the set: a group that covers it, a new one, or a merge. */
static void bs_place(struct bset *b, struct bs_member *m)
{
	struct bs_vec v = {0};
	struct buf j = BUF_INITIALIZER;
	struct bs_group *g;

	trie_overlap(b->b_groups, m->m_key.k_s, m->m_key.k_len, bs_collect, &v);
	if (v.n == 1 && topic_filter_covers(v.v[0]->g_bf->f_key.k_s, v.v[0]->g_bf->f_key.k_len,
	                                    m->m_key.k_s, m->m_key.k_len)) {
		bs_link(v.v[0], m);
	} else if (v.n == 0) {
		g = xcalloc(1, sizeof(*g));
		bs_set_filter(b, g, m->m_key.k_s, m->m_key.k_len);
		bs_link(g, m);
	} else {
		buf_append(&j, m->m_key.k_s, m->m_key.k_len);
		g = bs_merge(b, &v, &j);
		bs_link(g, m);
	}
	free(v.v);
	buf_free(&j);
}

void bset_add(struct bset *b, const char *f, size_t len)
{
	struct bs_member *m = (struct bs_member *)tab_find(&b->b_members, f, len);

	if (m != NULL) {
		m->m_count++;
		return;
	}
	m = xcalloc(1, sizeof(*m));
	tab_insert(&b->b_members, &m->m_key, f, len);
	m->m_count = 1;
	bs_place(b, m);
}

bool bset_remove(struct bset *b, const char *f, size_t len)
{
	struct bs_member *m = (struct bs_member *)tab_find(&b->b_members, f, len), *rest;
	struct bs_group *g;
	struct bs_member *keeper;

	if (m == NULL)
		return false;
	if (--m->m_count > 0)
		return true;
	g = m->m_group;
	bs_unlink(m);
	tab_delete(&b->b_members, &m->m_key);
	free(m);
	if (g->g_n == 0) {
		bs_group_free(b, g);
		return true;
	}
	/* Its broker filter still registered: it still covers them all. */
	keeper = (struct bs_member *)tab_find(&b->b_members, g->g_bf->f_key.k_s,
	                                      g->g_bf->f_key.k_len);
	if (keeper != NULL && keeper->m_group == g)
		return true;
	/* Else the group forms anew from what is left. */
	rest = g->g_head;
	g->g_head = NULL;
	g->g_n = 0;
	bs_group_free(b, g);
	while (rest != NULL) {
		struct bs_member *next = rest->m_next;

		rest->m_group = NULL;
		bs_place(b, rest);
		rest = next;
	}
	return true;
}

void bset_flush(struct bset *b, bset_change_fn *fn, void *ctx)
{
	struct bs_bf *bf, *next;

	for (bf = b->b_dirty; bf != NULL; bf = bf->f_dnext) {
		if (bf->f_group != NULL && !bf->f_at_broker) {
			fn(ctx, bf->f_key.k_s, bf->f_key.k_len, true);
			bf->f_at_broker = true;
		}
	}
	for (bf = b->b_dirty; bf != NULL; bf = bf->f_dnext) {
		if (bf->f_group == NULL && bf->f_at_broker) {
			fn(ctx, bf->f_key.k_s, bf->f_key.k_len, false);
			bf->f_at_broker = false;
		}
	}
	for (bf = b->b_dirty; bf != NULL; bf = next) {
		next = bf->f_dnext;
		bf->f_dirty = false;
		if (bf->f_group == NULL && !bf->f_at_broker) {
			tab_delete(&b->b_bfs, &bf->f_key);
			free(bf);
		}
	}
	b->b_dirty = NULL;
	b->b_dirty_tail = &b->b_dirty;
}
