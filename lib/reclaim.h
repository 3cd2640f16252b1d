/* reclaim.h - when memory and payloads a lookup may be reading can go.
 *
 * Lookups take no lock. A lookup announces itself by storing the cache's
 * epoch in its position's `active` word and clears it when done. A writer
 * that unlinked something waits for a grace period: it bumps the epoch, makes
 * every thread's earlier stores visible, then waits until every position is
 * outside a lookup or inside one that began after the bump. Only then does
 * it reuse memory or release payloads.
 *
 * Making other threads' stores visible needs a full barrier on both sides.
 * Where Linux's membarrier(PRIVATE_EXPEDITED) is available, the writer
 * issues it for every thread and a lookup pays only a compiler barrier; the
 * fallback is a real fence in every lookup. Writers are rare (clear,
 * eviction, replacement); lookups are the hot path. */
#ifndef IRCACHE_RECLAIM_H
#define IRCACHE_RECLAIM_H

#include <stdatomic.h>

#include "cache.h"

/* Nonzero once lookups must fence themselves (membarrier unavailable, or
 * refused after it was granted). Each cache carries it in its gate as
 * IRCACHE__GATE_FENCE, set when the cache is created or when its writer
 * first finds membarrier refused: a lookup reads the gate anyway. */
extern _Atomic int ircache__reader_fence;

/* Registers the process for membarrier once; safe to call repeatedly. */
void ircache__reclaim_init(void);

/* 1 when the calling thread is inside a reader section already (a lookup
 * from a retain callback): such a lookup neither opens nor closes one. */
static inline int ircache__reader_inside(const ircache__position *p)
{
    return atomic_load_explicit(&p->active, memory_order_relaxed) != 0;
}

/* Opens a section outside any other, without the fence. The caller then
 * loads c->gate and fences (ircache__reader_fence_gate) unless it found no
 * flag set. */
static inline void ircache__reader_open_unfenced(ircache *c, ircache__position *p)
{
    atomic_store_explicit(&p->active, atomic_load_explicit(&c->epoch, memory_order_acquire),
                          memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
}

/* Closes what ircache__reader_open_unfenced opened. */
static inline void ircache__reader_close(ircache__position *p)
{
    atomic_store_explicit(&p->active, 0, memory_order_release);
}

/* After ircache__reader_open_unfenced: fences if the cache needs it and
 * returns the gate as read after the fence. */
static inline uint64_t ircache__reader_fence_gate(ircache *c, uint64_t gate)
{
    if (gate & IRCACHE__GATE_FENCE) {
        atomic_thread_fence(memory_order_seq_cst);
        gate = atomic_load_explicit(&c->gate, memory_order_acquire);
    }
    return gate;
}

/* Waits until no lookup that began before the call can still see anything
 * unlinked before it, then frees the retired tables. Caller holds the lock;
 * self is the caller's own position (not waited for), or NULL. Costs nothing
 * when self is the only position of the cache. */
void ircache__synchronize(ircache *c, const ircache__position *self);

/* 1 when some other thread than self's may be inside a lookup of c. */
int ircache__has_other_readers(const ircache *c, const ircache__position *self);

/* Hands a table that readers may still see to the next grace period. */
void ircache__retire_table(ircache *c, ircache__succ_table *t);

/* Frees the retired tables now (caller knows no reader can see them). */
void ircache__free_retired(ircache *c);

#endif
