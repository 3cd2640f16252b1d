/* lookup.h - the hit path, inline so that the exported ircache_lookup is
 * one function with no inner call but the owner's retain. */
#ifndef IRCACHE_LOOKUP_H
#define IRCACHE_LOOKUP_H

#include "cache.h"
#include "compiler.h"
#include "kinds.h"
#include "position.h"
#include "reclaim.h"
#include "successors.h"

/* The stamp for a node the calling thread uses now: later than anything
 * this thread did, than the node's last use, and than every use published
 * to the cache's clock (step marks publish their thread's uses while
 * another thread has a position, and a thread's arrival the uses of the one
 * alone before it; exits publish the exiting thread's, inserts and clears
 * every thread's), so that uses ordered across threads by one of those
 * keep their order. */
static inline uint64_t ircache__next_stamp(ircache *c, ircache__position *p, const ircache__node *n)
{
    uint64_t s = atomic_load_explicit(&p->clock, memory_order_relaxed);
    uint64_t shared = atomic_load_explicit(&c->clock, memory_order_relaxed);
    uint64_t last = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    if (shared > s)
        s = shared;
    if (last > s)
        s = last;
    atomic_store_explicit(&p->clock, ++s, memory_order_relaxed);
    return s;
}

/* Only the owning thread writes its counters: no read-modify-write needed. */
static inline void ircache__count(_Atomic uint64_t *counter)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The hit's last steps when the owner wants a retain: out of line, so that
 * the path without one needs no saved registers at all. */
void *ircache__hit_retained(ircache__position *p, uint64_t outer, void *payload,
                            const ircache_owner *owner);

/* Every lookup the inline path does not take: long keys, and threads whose
 * position is not in their fast slot. Arguments are valid; owned as below. */
void *ircache__lookup_general(ircache *c, const void *key, uint32_t key_len, int owned,
                              const ircache_owner *want);

/* The end of a lookup that found n (NULL: a miss) inside the section
 * ircache__reader_enter opened (outer is what it returned). owned as below. */
static IRCACHE__ALWAYS_INLINE void *ircache__lookup_found(ircache *c, ircache__position *p, uint64_t outer,
                                                          ircache__node *n, int owned,
                                                          const ircache_owner *want)
{
    if (IRCACHE__UNLIKELY(n == NULL ||
                          (ircache__node_flags(n, memory_order_acquire) & IRCACHE__NODE_UNSEEN) ||
                          (owned && atomic_load_explicit(&n->kind, memory_order_relaxed)->owner != want))) {
        ircache__reader_exit(p, outer);
        ircache__count(&p->misses);
        return NULL;
    }
    ircache__node_count_hit(n, atomic_load_explicit(&c->shared, memory_order_acquire));
    atomic_store_explicit(&n->stamp, ircache__next_stamp(c, p, n), memory_order_relaxed);
    atomic_store_explicit(&p->node, n, memory_order_relaxed);
    const ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    void *payload = atomic_load_explicit(&n->payload, memory_order_relaxed);
    const ircache_owner *owner = kind->owner;
    if (owner != NULL && owner->retain != NULL)
        return ircache__hit_retained(p, outer, payload, owner);
    ircache__reader_exit(p, outer);
    ircache__count(&p->hits);
    return payload;
}

/* A lookup whose node is not in the first slot it read in table t: the
 * probing loop, out of line, so that the inline path keeps no registers for
 * it. Called inside the section the caller opened. It hashes the key again:
 * a seventh argument would turn the caller's jump into a call. */
void *ircache__lookup_probing(ircache *c, ircache__position *p, uint64_t outer,
                              const ircache__succ_table *t, const void *key, uint32_t key_len);

/* A lookup by owner among the successors in a table, out of line: its extra
 * checks would cost the common lookups registers. */
void *ircache__lookup_in_table_owned(ircache *c, ircache__position *p, uint64_t outer,
                                     const ircache__succ_table *t, const void *key, uint32_t key_len,
                                     const ircache_owner *want);

/* short_keys and owned are constants at every call site: the checks they
 * turn off disappear. With owned, only nodes whose owner is want hit. */
static IRCACHE__ALWAYS_INLINE void *ircache__lookup_from(ircache *c, ircache__position *p, const void *key,
                                                         uint32_t key_len, int short_keys, int owned,
                                                         const ircache_owner *want)
{
    if (IRCACHE__UNLIKELY(!atomic_load_explicit(&c->enabled, memory_order_relaxed)))
        return NULL;
    uint64_t outer = ircache__reader_enter(c, p);
    ircache__node *at = ircache__position_node(c, p);
    uintptr_t s = atomic_load_explicit(&at->succ, memory_order_acquire);
    if (IRCACHE__UNLIKELY(s & IRCACHE__SUCC_TABLE_BIT)) {
        const ircache__succ_table *t = ircache__succ_as_table(s);
        if (owned)
            return ircache__lookup_in_table_owned(c, p, outer, t, key, key_len, want);
        ircache__node *n = ircache__succ_first_slot(t, key, key_len,
                                                    ircache__key_hash(key, key_len, c->hash_seed, short_keys),
                                                    short_keys);
        if (IRCACHE__UNLIKELY(n == NULL))
            return ircache__lookup_probing(c, p, outer, t, key, key_len);
        return ircache__lookup_found(c, p, outer, n, 0, NULL);
    }
    ircache__node *only = (ircache__node *)s;
    if (only != NULL && !ircache__node_key_equals(only, key, key_len, short_keys))
        only = NULL;
    return ircache__lookup_found(c, p, outer, only, owned, want);
}

/* 1 when the inline hit path may take this key: short and present. */
static IRCACHE__ALWAYS_INLINE int ircache__short_key_ok(const void *key, size_t key_len)
{
    return key_len <= IRCACHE__SHORT_KEY_MAX && (key != NULL || key_len == 0);
}

#endif
