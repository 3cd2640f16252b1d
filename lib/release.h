/* release.h - calling payload releases outside the lock.
 *
 * Nodes dropped under the lock (eviction) go on a grave: before unlocking,
 * the dropping call copies every payload and owner out of them (a batch on
 * its stack, the rest in an array) and frees their slots (or, where other
 * threads' lookups may still read them, hands them to the store to free at
 * the next grace period), then calls the releases after unlocking, so each
 * release happens once, in that call, whatever other threads do meanwhile.
 * Only when that array cannot be allocated do the remaining nodes stay on
 * the grave, to be copied out in batches under the lock again; a clear in
 * between takes those over (they are still in the node store, marked DEAD)
 * and releases them itself. */
#ifndef IRCACHE_RELEASE_H
#define IRCACHE_RELEASE_H

#include "cache.h"
#include "evict.h"

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
    ircache__release *rest;        /* the releases past the batch, allocated */
    size_t rest_count;
    int registered;                /* linked into the cache's graves (no memory for rest) */
    int unsettled;                 /* the slots wait for a grace period (ircache__dead_list) */
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

/* Under the lock, before unlocking: takes the first batch off dead and
 * registers g with the cache if nodes remain. */
void ircache__grave_open(ircache *c, ircache__grave *g, const ircache__dead_list *dead);

/* After unlocking: releases every node of g, relocking between batches. */
void ircache__grave_close(ircache *c, ircache__grave *g);

/* Under the lock, in a clear: every grave's remaining nodes now belong to
 * the clear. */
void ircache__graves_take_over(ircache *c);

#endif
