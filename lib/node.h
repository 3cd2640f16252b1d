/* node.h - a node's layout and where nodes live.
 *
 * A node is 56 bytes followed by its key bytes. Nodes live in slabs, one
 * size class per key length rounded up to 8 bytes, so that a node costs no
 * allocator header and a clear frees a few slabs instead of every node.
 * Slots of freed nodes are reused, or their slabs freed, only after a grace
 * period (reclaim.h), because lock-free lookups may still be reading them. */
#ifndef IRCACHE_NODE_H
#define IRCACHE_NODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"

struct ircache__kind;

/* Flags a lookup checks before it trusts a node. */
#define IRCACHE__NODE_DYING 1u  /* chosen for eviction: lookups treat it as absent */
#define IRCACHE__NODE_BUSY 2u   /* payload being replaced: lookups treat it as absent */
#define IRCACHE__NODE_UNSEEN (IRCACHE__NODE_DYING | IRCACHE__NODE_BUSY)
#define IRCACHE__NODE_QUEUED 4u /* has an entry in the eviction heap (writer only) */
/* Unlinked, its release pending (writer only): still in the node store, but
 * counted, queued and stored as nothing any more. */
#define IRCACHE__NODE_DEAD 8u

typedef struct ircache__node {
    _Atomic uintptr_t succ;       /* successors: 0, a node, or a table | 1 (successors.h) */
    struct ircache__node *parent; /* NULL for the root; next free slot when free */
    _Atomic(void *) payload;
    /* label and owner; NULL marks a free slot */
    _Atomic(const struct ircache__kind *) kind;
    _Atomic uint64_t stamp;       /* last use, for MRU order and LRU eviction */
    _Atomic uint64_t id_flags;    /* id << 8 | IRCACHE__NODE_* flags: one word keeps the node at 56 bytes */
    _Atomic uint32_t hits;        /* stops at 2^32 - 1 */
    uint32_t key_len;             /* set before the node is published, then fixed */
} ircache__node;

_Static_assert(sizeof(ircache__node) == 56, "a node is 7 words before its key");

#define IRCACHE__NODE_FLAG_MASK 0xffu

static inline unsigned char *ircache__node_key(const ircache__node *n)
{
    return (unsigned char *)(n + 1);
}

/* Ids have 56 bits: 2.2 years of a billion inserts a second. */
static inline uint64_t ircache__node_id(const ircache__node *n)
{
    return atomic_load_explicit(&n->id_flags, memory_order_relaxed) >> 8;
}

static inline uint32_t ircache__node_flags(const ircache__node *n, memory_order order)
{
    return (uint32_t)(atomic_load_explicit(&n->id_flags, order) & IRCACHE__NODE_FLAG_MASK);
}

static inline void ircache__node_set_flags(ircache__node *n, uint32_t flags)
{
    atomic_fetch_or_explicit(&n->id_flags, flags, memory_order_relaxed);
}

static inline void ircache__node_clear_flags(ircache__node *n, uint32_t flags, memory_order order)
{
    atomic_fetch_and_explicit(&n->id_flags, ~(uint64_t)flags, order);
}

static inline uint32_t ircache__node_key_len(const ircache__node *n)
{
    return n->key_len;
}

static inline uint64_t ircache__node_hits(const ircache__node *n)
{
    return atomic_load_explicit(&n->hits, memory_order_relaxed);
}

#define IRCACHE__HITS_FULL UINT32_MAX

/* Counts a hit, never past 2^32 - 1. With shared (more than one thread has
 * a position in the cache: see ircache.shared), threads may hit the node at
 * once and a compare-and-swap keeps the count exact; otherwise the caller's
 * thread is the only one that can, and a plain increment does, without the
 * locked instruction that would stall every lookup behind its loads. */
static inline void ircache__node_count_hit(ircache__node *n, int shared)
{
    uint32_t hits = atomic_load_explicit(&n->hits, memory_order_relaxed);
    if (!shared) {
        /* Branch-free: the comparison's carry is the increment. */
        atomic_store_explicit(&n->hits, hits + (hits < IRCACHE__HITS_FULL), memory_order_relaxed);
        return;
    }
    while (hits != IRCACHE__HITS_FULL &&
           !atomic_compare_exchange_weak_explicit(&n->hits, &hits, hits + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* Restarts the hit count (writer, while no lookup can hit n). */
static inline void ircache__node_reset_hits(ircache__node *n)
{
    atomic_store_explicit(&n->hits, 0, memory_order_relaxed);
}

static inline uint64_t ircache__load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t ircache__load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Keys up to this length take the lookup path with no call in it. */
#define IRCACHE__SHORT_KEY_MAX 16u

/* Equality of two keys of len <= IRCACHE__SHORT_KEY_MAX bytes, inline:
 * a call to memcmp costs more than the comparison on the hit path. Words
 * overlap rather than read past the key. */
static inline int ircache__short_key_equals(const unsigned char *a, const unsigned char *b, uint32_t len)
{
    if (len >= 8)
        return ((ircache__load64(a) ^ ircache__load64(b)) |
                (ircache__load64(a + len - 8) ^ ircache__load64(b + len - 8))) == 0;
    if (len >= 4)
        return ((ircache__load32(a) ^ ircache__load32(b)) |
                (ircache__load32(a + len - 4) ^ ircache__load32(b + len - 4))) == 0;
    for (uint32_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* short_keys: the caller knows len <= IRCACHE__SHORT_KEY_MAX (a constant
 * at each call site, so the other branch disappears). */
static inline int ircache__node_key_equals(const ircache__node *n, const void *key, uint32_t len,
                                           int short_keys)
{
    if (n->key_len != len)
        return 0;
    if (short_keys || len <= IRCACHE__SHORT_KEY_MAX)
        return ircache__short_key_equals(ircache__node_key(n), key, len);
    return memcmp(ircache__node_key(n), key, len) == 0;
}

typedef struct ircache__slab ircache__slab;

/* Size classes for keys up to this many bytes; longer keys get a slab each. */
#define IRCACHE__SMALL_KEY_MAX 448u
#define IRCACHE__NODE_CLASSES (IRCACHE__SMALL_KEY_MAX / 8 + 1)

/* Nodes of each key class (keys of 8 * class bytes or less) live in slabs
 * of their class, and freed slots go on their class's free list. */
typedef struct ircache__node_store {
    ircache__slab *slabs[IRCACHE__NODE_CLASSES];   /* most recent first */
    ircache__slab *carving[IRCACHE__NODE_CLASSES]; /* where new slots come from */
    ircache__node *free_slots[IRCACHE__NODE_CLASSES];
    uint64_t free_count[IRCACHE__NODE_CLASSES];    /* slots on free_slots */
    uint64_t carved[IRCACHE__NODE_CLASSES];        /* slots handed out by the class's slabs */
    uint64_t sweep_low[IRCACHE__NODE_CLASSES];     /* lowest free_count since the last look for empty slabs */
    ircache__slab *large; /* one slab per node whose key is longer */
    ircache__node *unlinked; /* freed once a grace period has passed (through parent) */
    uint64_t bytes;       /* memory held by slabs */
} ircache__node_store;

/* Returns a node with room for key_len key bytes, or NULL when out of
 * memory. Only its kind (NULL), hit count (0) and key length are set. */
ircache__node *ircache__node_alloc(ircache__node_store *s, uint32_t key_len);

/* Returns n's slot to the store. The caller has made sure no reader can
 * still see n (a grace period has passed since n was unlinked). Slabs whose
 * every slot is free go back to the allocator now and then, so that the
 * store follows the nodes held rather than the most there ever were of
 * each key class. */
void ircache__node_free(ircache__node_store *s, ircache__node *n);

/* Hands n to the store to be freed at the next ircache__node_free_unlinked:
 * for a node unlinked without a grace period since, whose payload is
 * released already. From now on n is no longer live (the store's visits
 * skip it). */
void ircache__node_free_later(ircache__node_store *s, ircache__node *n);

/* ircache__node_free for every node handed to ircache__node_free_later:
 * the caller has let a grace period pass since then. */
void ircache__node_free_unlinked(ircache__node_store *s);

/* Calls visit(n, ctx) for every live node in the store, in no order. */
void ircache__node_store_visit(const ircache__node_store *s,
                               void (*visit)(ircache__node *n, void *ctx), void *ctx);

/* Frees every slab; the store becomes empty. Live nodes are not visited. */
void ircache__node_store_release(ircache__node_store *s);

#endif
