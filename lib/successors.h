/* successors.h - the successor index of a node: O(1) at any fan-out.
 *
 * node->succ is 0 (no successor), a node pointer (exactly one: the common
 * case of a straight trace costs one key comparison and no hashing), or a
 * table pointer with bit 0 set (two or more: open addressing by key hash,
 * with a byte of each key's hash beside its slot, so that a probe touches
 * only nodes that are likely the one sought, not every node on its way).
 * Lookups read it with acquire loads and no lock; writers hold the cache
 * lock, publish complete tables with release stores and never reuse a slot,
 * so a reader sees each slot go NULL -> node -> tombstone. A table that is
 * replaced stays readable until the next grace period. */
#ifndef IRCACHE_SUCCESSORS_H
#define IRCACHE_SUCCESSORS_H

#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"
#include "compiler.h"
#include "hash.h"
#include "node.h"

struct ircache__succ_table {
    uint32_t mask;  /* capacity - 1 */
    uint32_t shift; /* 64 - log2(capacity): see ircache__hash_index */
    uint32_t used;  /* slots ever filled, tombstones included */
    uint32_t live;
    uint32_t bytes;
    ircache__succ_table *retired_next;
    /* The slots, then as many tags (ircache__succ_tags): a slot's tag is
     * set before its node is published. */
    _Atomic(ircache__node *) slots[];
};

static inline unsigned char *ircache__succ_tags(const ircache__succ_table *t)
{
    return (unsigned char *)(uintptr_t)(t->slots + t->mask + 1);
}

/* The slot to start at and the tag, from one hash. */
static inline uint32_t ircache__succ_start(const ircache__succ_table *t, uint64_t hash)
{
    return (uint32_t)ircache__hash_index(hash, t->shift);
}

static inline unsigned char ircache__succ_tag(uint64_t hash)
{
    return (unsigned char)hash;
}

#define IRCACHE__SUCC_TABLE_BIT ((uintptr_t)1)
#define IRCACHE__TOMBSTONE ((ircache__node *)(uintptr_t)1)

static inline ircache__succ_table *ircache__succ_as_table(uintptr_t s)
{
    return (s & IRCACHE__SUCC_TABLE_BIT) ? (ircache__succ_table *)(s & ~IRCACHE__SUCC_TABLE_BIT) : NULL;
}

/* Reader side: the successor in table t whose key is key[0..len), or NULL.
 * short_keys as for ircache__node_key_equals. */
static inline ircache__node *ircache__succ_find_in_table(const ircache__succ_table *t, const void *key,
                                                         uint32_t len, uint64_t seed, int short_keys)
{
    uint64_t hash = ircache__hash(key, len, seed);
    unsigned char tag = ircache__succ_tag(hash);
    const unsigned char *tags = ircache__succ_tags(t);
    for (uint32_t i = ircache__succ_start(t, hash);; i++) {
        ircache__node *n = atomic_load_explicit(&t->slots[i & t->mask], memory_order_acquire);
        if (n == NULL)
            return NULL;
        /* The tag was written before the node was published: it is n's. */
        if (n != IRCACHE__TOMBSTONE && tags[i & t->mask] == tag &&
            ircache__node_key_equals(n, key, len, short_keys))
            return n;
    }
}

/* Reader side: the successor of parent whose key is key[0..len), or NULL. */
static inline ircache__node *ircache__succ_find(const ircache__node *parent, const void *key,
                                                uint32_t len, uint64_t seed, int short_keys)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_acquire);
    if (IRCACHE__LIKELY(!(s & IRCACHE__SUCC_TABLE_BIT))) {
        ircache__node *only = (ircache__node *)s;
        return only != NULL && ircache__node_key_equals(only, key, len, short_keys) ? only : NULL;
    }
    return ircache__succ_find_in_table(ircache__succ_as_table(s), key, len, seed, short_keys);
}

/* Writer side, all under the cache lock. */

/* Number of successors of n. */
uint32_t ircache__succ_count(const ircache__node *n);

/* Makes sure that adding one successor to parent cannot fail. Returns 0 or
 * IRCACHE_ENOMEM. */
int ircache__succ_reserve(ircache *c, ircache__node *parent);

/* Adds child (whose key is not among parent's successors) to parent; room
 * was reserved by ircache__succ_reserve. */
void ircache__succ_add(ircache *c, ircache__node *parent, ircache__node *child);

/* Removes child from parent's successors. Never allocates. */
void ircache__succ_remove(ircache *c, ircache__node *parent, ircache__node *child);

/* Copies parent's successors into out (room for ircache__succ_count). */
void ircache__succ_list(const ircache__node *parent, ircache__node **out);

/* Frees a detached node's table, if it has one (no reader can see it). */
void ircache__succ_free_detached(ircache__node *n);

#endif
