/* node.h - a node's layout and where nodes live.
 *
 * A node is 64 bytes followed by its key bytes. Nodes live in slabs, one
 * size class per key length rounded up to 8 bytes, so that a node costs no
 * allocator header and a clear frees a few slabs instead of every node.
 * Slots of freed nodes are reused only after a grace period (reclaim.h),
 * because lock-free lookups may still be reading them. */
#ifndef IRCACHE_NODE_H
#define IRCACHE_NODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ircache__kind;

/* Flags a lookup checks before it trusts a node. */
#define IRCACHE__NODE_DYING 1u  /* chosen for eviction: lookups treat it as absent */
#define IRCACHE__NODE_BUSY 2u   /* payload being replaced: lookups treat it as absent */
#define IRCACHE__NODE_UNSEEN (IRCACHE__NODE_DYING | IRCACHE__NODE_BUSY)
#define IRCACHE__NODE_QUEUED 4u /* has an entry in the eviction heap (writer only) */

typedef struct ircache__node {
    _Atomic uintptr_t succ;       /* successors: 0, a node, or a table | 1 (successors.h) */
    struct ircache__node *parent; /* NULL for the root; next free slot when free */
    _Atomic(void *) payload;
    /* label and owner; NULL marks a free slot */
    _Atomic(const struct ircache__kind *) kind;
    uint64_t id;
    _Atomic uint64_t hits;
    _Atomic uint64_t stamp;       /* last use, for MRU order and LRU eviction */
    uint32_t key_len;
    _Atomic uint32_t flags;
} ircache__node;

_Static_assert(sizeof(ircache__node) == 64, "a node is one cache line before its key");

static inline unsigned char *ircache__node_key(const ircache__node *n)
{
    return (unsigned char *)(n + 1);
}

static inline int ircache__node_key_equals(const ircache__node *n, const void *key, uint32_t len)
{
    return n->key_len == len && (len == 0 || memcmp(ircache__node_key(n), key, len) == 0);
}

typedef struct ircache__slab ircache__slab;

/* Size classes for keys up to this many bytes; longer keys get a slab each. */
#define IRCACHE__SMALL_KEY_MAX 448u
#define IRCACHE__NODE_CLASSES (IRCACHE__SMALL_KEY_MAX / 8 + 1)

typedef struct ircache__node_store {
    ircache__slab *slabs; /* every slab, most recent first */
    ircache__slab *carving[IRCACHE__NODE_CLASSES];
    ircache__node *free_slots[IRCACHE__NODE_CLASSES];
    uint64_t bytes;       /* memory held by slabs */
} ircache__node_store;

/* Returns an uninitialised node with room for key_len key bytes (its kind is
 * NULL), or NULL when out of memory. */
ircache__node *ircache__node_alloc(ircache__node_store *s, uint32_t key_len);

/* Returns n's slot to the store. The caller has made sure no reader can
 * still see n (a grace period has passed since n was unlinked). */
void ircache__node_free(ircache__node_store *s, ircache__node *n);

/* Calls visit(n, ctx) for every live node in the store, in no order. */
void ircache__node_store_visit(const ircache__node_store *s,
                               void (*visit)(ircache__node *n, void *ctx), void *ctx);

/* Frees every slab; the store becomes empty. Live nodes are not visited. */
void ircache__node_store_release(ircache__node_store *s);

#endif
