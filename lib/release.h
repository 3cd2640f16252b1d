/* release.h - calling payload releases outside the lock.
 *
 * Nodes dropped under the lock (eviction) wait on a grave: a list the
 * dropping call works through in batches, copying each payload and owner
 * out and freeing the slot under the lock, then calling the releases after
 * unlocking. A release may call back into the library, even clear the same
 * cache: a clear takes over every grave's remaining nodes (they are still in
 * the node store, so it releases them once, with the rest). */
#ifndef IRCACHE_RELEASE_H
#define IRCACHE_RELEASE_H

#include "cache.h"

typedef struct ircache__release {
    void *payload;
    const ircache_owner *owner;
} ircache__release;

#define IRCACHE__RELEASE_BATCH 64

typedef struct ircache__grave {
    ircache__node *dead;           /* chained through parent; NULL once empty or taken */
    struct ircache__grave *next, *prev;
    ircache__release batch[IRCACHE__RELEASE_BATCH];
    size_t batch_count;
    int registered;                /* linked into the cache's graves */
} ircache__grave;

/* Under the lock: the release of one payload, to call after unlocking. */
static inline ircache__release ircache__release_of(const ircache__node *n)
{
    const struct ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    ircache__release r = {atomic_load_explicit(&n->payload, memory_order_relaxed), kind->owner};
    return r;
}

static inline void ircache__release_call(ircache__release r)
{
    if (r.owner != NULL && r.owner->release != NULL)
        r.owner->release(r.payload, r.owner->ctx);
}

/* Under the lock, before unlocking: takes the first batch off g->dead and
 * registers g with the cache if nodes remain. */
void ircache__grave_open(ircache *c, ircache__grave *g, ircache__node *dead);

/* After unlocking: releases every node of g, relocking between batches. */
void ircache__grave_close(ircache *c, ircache__grave *g);

/* Under the lock, in a clear: every grave's remaining nodes now belong to
 * the clear. */
void ircache__graves_take_over(ircache *c);

#endif
