/* position.h - where in each cache each thread stands.
 *
 * A position is created the first time a thread uses a cache, lives in both
 * the thread's list and the cache's list, and goes away when the thread
 * exits (folding its counters into the cache) or, for a freed cache, the
 * next time the thread looks for a position. A lookup finds its position in
 * a one-entry thread-local cache first. */
#ifndef IRCACHE_POSITION_H
#define IRCACHE_POSITION_H

#include "cache.h"
#include "compiler.h"

/* The cache this thread used last and its position there. The serial tells
 * a new cache from a freed one that had the same address. */
typedef struct ircache__tls_slot {
    ircache *cache;
    uint64_t serial;
    ircache__position *position;
} ircache__tls_slot;

/* Global-dynamic TLS (the default for shared libraries), so the library
 * loads with dlopen into any process; TLS descriptors (-mtls-dialect=gnu2,
 * where the compiler has them) make the access nearly as cheap as
 * initial-exec when static TLS space is left. */
extern _Thread_local ircache__tls_slot ircache__tls;

/* What an empty slot points at, never a cache anybody holds: a slot that
 * matches a caller's pointer proves that pointer valid (not NULL). */
extern ircache ircache__no_cache;

ircache__position *ircache__position_slow(ircache *c, int create);

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
#define IRCACHE__THREAD_ID() ((uintptr_t)__builtin_thread_pointer())
#endif

/* Registers p as c's first thread if it has none (cache lock held). */
void ircache__position_claim_first(ircache *c, ircache__position *p);

/* The calling thread's position in c without a call: its own (when it is
 * c's first thread) or its thread-local slot's; NULL otherwise. c may be
 * NULL (then NULL). */
static IRCACHE__ALWAYS_INLINE ircache__position *ircache__position_fast(ircache *c)
{
#ifdef IRCACHE__THREAD_ID
    if (IRCACHE__LIKELY(c != NULL) &&
        atomic_load_explicit(&c->first_thread, memory_order_acquire) == IRCACHE__THREAD_ID()) {
        /* Set before first_thread was published, cleared only by this thread's exit. */
        IRCACHE__ASSUME(c->first_position != NULL);
        return c->first_position;
    }
#endif
    ircache__tls_slot *slot = &ircache__tls;
    if (slot->cache == c && slot->serial == c->serial)
        return slot->position;
    return NULL;
}

/* The calling thread's position in c, created on first use; NULL (with the
 * last error set) only when out of memory. */
static inline ircache__position *ircache__position_get(ircache *c)
{
    ircache__position *p = ircache__position_fast(c);
    return IRCACHE__LIKELY(p != NULL) ? p : ircache__position_slow(c, 1);
}

/* As ircache__position_get, but NULL when the thread has none yet. */
static inline ircache__position *ircache__position_find(ircache *c)
{
    ircache__position *p = ircache__position_fast(c);
    return IRCACHE__LIKELY(p != NULL) ? p : ircache__position_slow(c, 0);
}

/* Moves p back to the root of the current generation. */
static inline void ircache__position_reset(ircache *c, ircache__position *p)
{
    atomic_store_explicit(&p->node, &c->root, memory_order_relaxed);
    atomic_store_explicit(&p->gen, ircache__gate_gen(atomic_load_explicit(&c->gate, memory_order_acquire)),
                          memory_order_relaxed);
}

/* The node p stands on, given the gate the caller read (acquire) inside its
 * reader section: the root if a clear happened since p moved. Owner thread
 * only. */
static inline ircache__node *ircache__position_node_at(ircache *c, ircache__position *p, uint64_t gate)
{
    uint64_t gen = ircache__gate_gen(gate);
    if (IRCACHE__UNLIKELY(atomic_load_explicit(&p->gen, memory_order_relaxed) != gen)) {
        atomic_store_explicit(&p->node, &c->root, memory_order_relaxed);
        atomic_store_explicit(&p->gen, gen, memory_order_relaxed);
        return &c->root;
    }
    return atomic_load_explicit(&p->node, memory_order_relaxed);
}

/* As ircache__position_node_at, reading the gate itself. */
static inline ircache__node *ircache__position_node(ircache *c, ircache__position *p)
{
    return ircache__position_node_at(c, p, atomic_load_explicit(&c->gate, memory_order_acquire));
}

/* The newest stamp any thread's position has given (cache lock held). */
uint64_t ircache__positions_newest_clock(const ircache *c);

/* 1 when some position of c stands on n now (cache lock held). */
int ircache__position_pins(const ircache *c, const ircache__node *n);

/* Cache being freed (registry and cache locks held): its positions are
 * unlinked from it; their threads free them later. */
void ircache__positions_detach(ircache *c);

/* In a fork child (cache lock held): drops the positions of threads that
 * do not exist in the child. */
void ircache__positions_forget_other_threads(ircache *c);

#endif
