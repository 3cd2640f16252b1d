/* successors.h - the successor index of a node: O(1) at any fan-out.
 *
 * node->succ is 0 (no successor), a node pointer (exactly one: the common
 * case of a straight trace costs one key comparison and no hashing), or a
 * table pointer with bit 0 set (two or more: open addressing by key hash,
 * each slot carrying 16 bits of its key's hash beside the node's address,
 * so that a probe touches only nodes likely to be the one sought and reads
 * one cache line of the table, not two).
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

/* A slot: 0 (empty), 1 (a tombstone: its node was removed; never reused),
 * or a node's address. On 64-bit systems an address below 2^48 (every one
 * a Linux process gets unless it asks for more) also carries a tag: bit 2
 * set (nodes are 8-byte aligned) and 16 bits of the key's hash on top. An
 * untagged address is compared by key, as any tag match is. */
typedef uintptr_t ircache__slot;

#define IRCACHE__SLOT_EMPTY ((ircache__slot)0)
#define IRCACHE__SLOT_TOMBSTONE ((ircache__slot)1)

#if UINTPTR_MAX > 0xffffffffu
#define IRCACHE__SLOT_TAGGED ((ircache__slot)4)
#define IRCACHE__SLOT_ADDRESS ((((ircache__slot)1) << 48) - 8) /* bits 3..47 */

static inline ircache__slot ircache__slot_tag(uint64_t hash)
{
    /* Mixed: the keys that meet in one slot share the hash's top bits, and
     * in a linear hash its low bits depend on the keys' low bits alone. */
    return (((hash * IRCACHE__HASH_K2) >> 48) << 48) | IRCACHE__SLOT_TAGGED;
}

static inline ircache__slot ircache__slot_make(const ircache__node *n, uint64_t hash)
{
    ircache__slot address = (ircache__slot)n;
    return (address >> 48) == 0 ? address | ircache__slot_tag(hash) : address;
}

static inline ircache__node *ircache__slot_node(ircache__slot v)
{
    return (ircache__node *)((v & IRCACHE__SLOT_TAGGED) ? (v & IRCACHE__SLOT_ADDRESS) : v);
}

static inline ircache__node *ircache__slot_tagged_node(ircache__slot v)
{
    return (ircache__node *)(v & IRCACHE__SLOT_ADDRESS);
}

/* 1 when v is a tagged node address whose tag is tag (empty slots and
 * tombstones carry no tag). */
static inline int ircache__slot_tag_matches(ircache__slot v, ircache__slot tag)
{
    return (v & ~IRCACHE__SLOT_ADDRESS) == tag;
}

/* 1 when v is a node address without a tag (one at or above 2^48). */
static inline int ircache__slot_untagged(ircache__slot v)
{
    return v > IRCACHE__SLOT_TOMBSTONE && !(v & IRCACHE__SLOT_TAGGED);
}
#else
static inline ircache__slot ircache__slot_tag(uint64_t hash)
{
    (void)hash;
    return 0;
}

static inline ircache__slot ircache__slot_make(const ircache__node *n, uint64_t hash)
{
    (void)hash;
    return (ircache__slot)n;
}

static inline ircache__node *ircache__slot_node(ircache__slot v)
{
    return (ircache__node *)v;
}

static inline int ircache__slot_tag_matches(ircache__slot v, ircache__slot tag)
{
    (void)v;
    (void)tag;
    return 0;
}

static inline ircache__node *ircache__slot_tagged_node(ircache__slot v)
{
    return (ircache__node *)v;
}

static inline int ircache__slot_untagged(ircache__slot v)
{
    return v > IRCACHE__SLOT_TOMBSTONE;
}
#endif

struct ircache__succ_table {
    uint32_t mask;  /* capacity - 1 */
    uint32_t shift; /* 64 - log2(capacity) */
    /* The slot function: the top bits of the key's hash by k1 and k2
     * (ircache__succ_hash), or, where mix is not 0, of that hash's halves
     * folded and multiplied by mix (ircache__succ_start); where seed is not
     * 0, of the key's seeded hash (hash.h). */
    uint64_t k1, k2, mix, seed;
    uint32_t used;      /* slots ever filled, tombstones included */
    uint32_t live;
    uint32_t displaced; /* live entries placed beyond their first slot */
    uint32_t bytes;
    ircache__succ_table *retired_next;
    _Atomic ircache__slot slots[];
};

/* The slot to start at, from the key's hash in a table whose mix and shift
 * these are (ircache__succ_start: in t). A table takes the top
 * bits of a linear hash, which keep keys that differ by a counter apart
 * (none displaced, where a random function displaces about half the
 * table's load: 6% at 1/8 full, each a mispredicted lookup). Keys whose
 * fields step together can crowd them, so a table that finds more of its
 * keys displaced than random keys would tries other multipliers, and in
 * the end mixes (successors.c): rarely, so the branch is predicted. */
static inline uint32_t ircache__slot_start(uint64_t hash, uint64_t mix, unsigned shift)
{
    if (IRCACHE__UNLIKELY(mix != 0))
        hash = (hash ^ (hash >> 32)) * mix;
    return (uint32_t)(hash >> shift);
}

static inline uint32_t ircache__succ_start(const ircache__succ_table *t, uint64_t hash)
{
    return ircache__slot_start(hash, t->mix, t->shift);
}

/* The hash of key[0..len) in table t. short_keys as for ircache__key_hash. */
static inline uint64_t ircache__succ_hash(const ircache__succ_table *t, const void *key, size_t len, int short_keys)
{
    return ircache__key_hash(key, len, short_keys, t->k1, t->k2, t->seed);
}

#define IRCACHE__SUCC_TABLE_BIT ((uintptr_t)1)

static inline ircache__succ_table *ircache__succ_as_table(uintptr_t s)
{
    return (s & IRCACHE__SUCC_TABLE_BIT) ? (ircache__succ_table *)(s & ~IRCACHE__SUCC_TABLE_BIT) : NULL;
}

/* Reader side: the successor in table t whose key is key[0..len) and whose
 * hash is hash, or NULL, by probing from its first slot: what a lookup does
 * when that slot is not the node it seeks (a miss, a collision, an
 * untagged address). */
ircache__node *ircache__succ_probe(const ircache__succ_table *t, const void *key, uint32_t len,
                                   uint64_t hash);

/* Reader side: the node in the first slot a search for key[0..len), whose
 * hash is hash, reads in table t, if it is the one; else NULL (it may still
 * be in a later slot). Most hits are there: this part of a lookup is inline
 * and straight, the probing loop is not, so that the compiler keeps no
 * constants in saved registers for it. short_keys as for
 * ircache__node_key_equals. */
static inline ircache__node *ircache__succ_first_slot(const ircache__succ_table *t, const void *key,
                                                      uint32_t len, uint64_t hash, int short_keys)
{
    ircache__slot v = atomic_load_explicit(&t->slots[ircache__succ_start(t, hash) & t->mask], memory_order_acquire);
    if (IRCACHE__LIKELY(ircache__slot_tag_matches(v, ircache__slot_tag(hash)))) {
        ircache__node *n = ircache__slot_tagged_node(v);
        if (IRCACHE__LIKELY(ircache__node_key_equals(n, key, len, short_keys)))
            return n;
    }
    return NULL;
}

/* Reader side: the successor in table t whose key is key[0..len), or NULL. */
static inline ircache__node *ircache__succ_find_in_table(const ircache__succ_table *t, const void *key,
                                                         uint32_t len, int short_keys)
{
    uint64_t hash = ircache__succ_hash(t, key, len, short_keys);
    ircache__node *n = ircache__succ_first_slot(t, key, len, hash, short_keys);
    return n != NULL ? n : ircache__succ_probe(t, key, len, hash);
}

/* Reader side: the successor of parent whose key is key[0..len), or NULL. */
static inline ircache__node *ircache__succ_find(const ircache__node *parent, const void *key,
                                                uint32_t len, int short_keys)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_acquire);
    if (IRCACHE__LIKELY(!(s & IRCACHE__SUCC_TABLE_BIT))) {
        ircache__node *only = (ircache__node *)s;
        return only != NULL && ircache__node_key_equals(only, key, len, short_keys) ? only : NULL;
    }
    return ircache__succ_find_in_table(ircache__succ_as_table(s), key, len, short_keys);
}

/* Writer side, all under the cache lock. */

/* Number of successors of n. */
static inline uint32_t ircache__succ_count(const ircache__node *n)
{
    uintptr_t s = atomic_load_explicit(&n->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    return t != NULL ? t->live : s != 0;
}

/* Makes sure that adding one successor to parent cannot fail. Returns 0 or
 * IRCACHE_ENOMEM. */
int ircache__succ_reserve(ircache *c, ircache__node *parent);

/* Adds child (whose key is not among parent's successors) to parent; room
 * was reserved by ircache__succ_reserve. */
void ircache__succ_add(ircache__node *parent, ircache__node *child);

/* Removes child from parent's successors. Never allocates. */
void ircache__succ_remove(ircache *c, ircache__node *parent, ircache__node *child);

/* Copies parent's successors into out (room for ircache__succ_count). */
static inline void ircache__succ_list(const ircache__node *parent, ircache__node **out)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    if (t == NULL) {
        if (s != 0)
            out[0] = (ircache__node *)s;
        return;
    }
    size_t k = 0;
    for (uint32_t i = 0; i <= t->mask; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
        if (v != IRCACHE__SLOT_EMPTY && v != IRCACHE__SLOT_TOMBSTONE)
            out[k++] = ircache__slot_node(v);
    }
}

/* Frees a detached node's table, if it has one (no reader can see it). */
void ircache__succ_free_detached(ircache__node *n);

#endif
