/* lookup.h - the hit path, inline so that the exported ircache_lookup is
 * one function with no inner call but the owner's retain. */
#ifndef IRCACHE_LOOKUP_H
#define IRCACHE_LOOKUP_H

#include "cache.h"
#include "compiler.h"
#include "kinds.h"
#include "position.h"
#include "reclaim.h"
#include "settle.h"
#include "successors.h"

/* The stamp for a node the calling thread uses now: later than anything
 * this thread did, than the node's last use, and than every use published
 * to the cache's clock (step marks publish their thread's uses while
 * another thread has a position, and a thread's arrival the uses of the one
 * alone before it; exits publish the exiting thread's, inserts and clears
 * every thread's), so that uses ordered across threads by one of those
 * keep their order. A thread alone in the cache (IRCACHE__ALONE) is ahead
 * of the other two already: its own clock suffices. */
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
void *ircache__hit_retained(ircache__position *p, void *payload,
                            const ircache_owner *owner);

/* A hit while the thread is not alone in the cache (c->shared is not
 * IRCACHE__ALONE): out of line, for the same reason. */
void *ircache__hit_shared(ircache *c, ircache__position *p, ircache__node *n);

/* Every lookup the inline path does not take: long keys, and threads whose
 * position is not in their fast slot. Arguments are valid; owned as below. */
void *ircache__lookup_general(ircache *c, const void *key, uint32_t key_len, int owned,
                              const ircache_owner *want);

/* A lookup from inside another one's retain callback (which the header
 * forbids, and which must not break anything all the same). */
void *ircache__lookup_nested(ircache *c, ircache__position *p, const void *key, uint32_t key_len, int owned,
                             const ircache_owner *want);

/* What ircache_position_payload returns for p, the calling thread's
 * position in c: the payload of the node p stands on, retained, if want
 * owns it; else NULL. Takes no lock, but waits while the node is hidden
 * (being replaced; chosen for eviction never, as p pins it). */
void *ircache__position_payload(ircache *c, ircache__position *p, const ircache_owner *want);

/* The lookups whose gate was not their position's gen: a disabled cache,
 * a fence to take or a clear since the position moved. Called inside the
 * section the caller opened, without a fence. */
void *ircache__lookup_gated(ircache *c, ircache__position *p, const void *key,
                            uint32_t key_len);
void *ircache__lookup_gated_owned(ircache *c, ircache__position *p, const void *key,
                                  uint32_t key_len, const ircache_owner *want);

/* The end of every hit, once counted and stamped: moves p to n and hands
 * out the payload. */
static IRCACHE__ALWAYS_INLINE void *ircache__hit_finish(ircache__position *p, ircache__node *n)
{
    atomic_store_explicit(&p->node, n, memory_order_relaxed);
    const ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    void *payload = atomic_load_explicit(&n->payload, memory_order_relaxed);
    const ircache_owner *owner = kind->owner;
    if (owner != NULL && owner->retain != NULL)
        return ircache__hit_retained(p, payload, owner);
    ircache__reader_close(p);
    ircache__count(&p->hits);
    return payload;
}

/* 1 when a lookup that found n (NULL: none) hits it: n is neither being
 * evicted nor replaced, and, with owned, its owner is want. */
static IRCACHE__ALWAYS_INLINE int ircache__lookup_hits(const ircache__node *n, int owned,
                                                       const ircache_owner *want)
{
    return n != NULL && !(ircache__node_flags(n, memory_order_acquire) & IRCACHE__NODE_UNSEEN) &&
           (!owned || atomic_load_explicit(&n->kind, memory_order_relaxed)->owner == want);
}

/* The end of a lookup that found n (NULL: a miss) inside the section
 * ircache__reader_open_unfenced opened. owned as below; in_table (a
 * constant at each call site): n's address came from a successor table,
 * whose slot may still be on its way from memory, so a thread alone leaves
 * the hit pending (settle.h). A sole successor's address comes from the
 * node the thread stands on, already read: counted at once. */
static IRCACHE__ALWAYS_INLINE void *ircache__lookup_found(ircache *c, ircache__position *p,
                                                          ircache__node *n, int owned,
                                                          const ircache_owner *want, int in_table)
{
    if (IRCACHE__UNLIKELY(!ircache__lookup_hits(n, owned, want))) {
        ircache__reader_close(p);
        ircache__count(&p->misses);
        return NULL;
    }
    if (IRCACHE__UNLIKELY(atomic_load_explicit(&c->shared, memory_order_acquire) != IRCACHE__ALONE))
        return ircache__hit_shared(c, p, n);
    /* Alone: no other thread hits n or stamps anything meanwhile. */
    uint64_t stamp = atomic_load_explicit(&p->clock, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->clock, stamp, memory_order_relaxed);
    if (in_table) {
        ircache__settle_and_defer(p, n, stamp);
    } else {
        /* A pending hit stays so: its node is not n, which was a table's
         * successor then, and only a writer, who settles first, makes a
         * table's last successor a sole one. */
        ircache__node_count_hit(n, 0);
        atomic_store_explicit(&n->stamp, stamp, memory_order_relaxed);
    }
    return ircache__hit_finish(p, n);
}

/* A lookup by owner among the successors in a table, out of line: its extra
 * checks would cost the common lookups registers. */
void *ircache__lookup_in_table_owned(ircache *c, ircache__position *p,
                                     const ircache__succ_table *t, const void *key, uint32_t key_len,
                                     const ircache_owner *want);

/* A lookup among the successors in table t of a key of at most
 * IRCACHE__SHORT_KEY_MAX bytes, out of line: the lookup that reaches it by
 * a jump then needs no saved registers for the hash and the table. */
void *ircache__lookup_in_table_short(ircache__position *p, const ircache__succ_table *t,
                                     const void *key, size_t key_len);

/* A lookup whose node is not in the first slot it read in table t: the
 * probing loop, out of line, so that the inline path keeps no registers for
 * it. Called inside the section the caller opened. It hashes the key again:
 * a seventh argument would turn the caller's jump into a call. */
void *ircache__lookup_probing(ircache *c, ircache__position *p,
                              const ircache__succ_table *t, const void *key, uint32_t key_len);

/* The lookup among the successors of at, p's node, inside the section the
 * caller opened. short_keys and owned are constants at every call site: the
 * checks they turn off disappear. With owned, only nodes whose owner is
 * want hit. */
static IRCACHE__ALWAYS_INLINE void *ircache__lookup_at(ircache *c, ircache__position *p,
                                                       const ircache__node *at, const void *key,
                                                       uint32_t key_len, int short_keys, int owned,
                                                       const ircache_owner *want)
{
    uintptr_t s = atomic_load_explicit(&at->succ, memory_order_acquire);
    if (IRCACHE__UNLIKELY(s & IRCACHE__SUCC_TABLE_BIT)) {
        const ircache__succ_table *t = ircache__succ_as_table(s);
        if (owned)
            return ircache__lookup_in_table_owned(c, p, t, key, key_len, want);
        if (short_keys)
            return ircache__lookup_in_table_short(p, t, key, key_len);
        ircache__node *n = ircache__succ_first_slot(t, key, key_len,
                                                    ircache__succ_hash(t, key, key_len, short_keys),
                                                    short_keys);
        if (IRCACHE__UNLIKELY(n == NULL))
            return ircache__lookup_probing(c, p, t, key, key_len);
        return ircache__lookup_found(c, p, n, 0, NULL, 1);
    }
    ircache__node *only = (ircache__node *)s;
    if (IRCACHE__UNLIKELY(only == NULL) || !ircache__node_key_equals(only, key, key_len, short_keys))
        only = NULL;
    return ircache__lookup_found(c, p, only, owned, want, 0);
}

/* A whole lookup from p. The gate, read once inside the section, equals
 * p's gen in the common case: enabled, no fence, no clear since p moved. */
static IRCACHE__ALWAYS_INLINE void *ircache__lookup_from(ircache *c, ircache__position *p, const void *key,
                                                         uint32_t key_len, int short_keys, int owned,
                                                         const ircache_owner *want)
{
    if (IRCACHE__UNLIKELY(ircache__reader_inside(p)))
        return ircache__lookup_nested(c, p, key, key_len, owned, want);
    ircache__reader_open_unfenced(c, p);
    if (IRCACHE__UNLIKELY(atomic_load_explicit(&c->gate, memory_order_acquire) !=
                          atomic_load_explicit(&p->gen, memory_order_relaxed)))
        return owned ? ircache__lookup_gated_owned(c, p, key, key_len, want)
                     : ircache__lookup_gated(c, p, key, key_len);
    return ircache__lookup_at(c, p, atomic_load_explicit(&p->node, memory_order_relaxed), key,
                              key_len, short_keys, owned, want);
}

/* 1 when the inline hit path may take this key: short and present. */
static IRCACHE__ALWAYS_INLINE int ircache__short_key_ok(const void *key, size_t key_len)
{
    return key_len <= IRCACHE__SHORT_KEY_MAX && (key != NULL || key_len == 0);
}

#endif
