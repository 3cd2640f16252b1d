/* cache.h - the layout of a cache and of a thread's position in it.
 *
 * Who may touch what:
 * - lookups (any thread, no lock) read the trie and write only their own
 *   position and the hit counter and stamp of the node they hit;
 * - everything that changes the trie's shape holds `lock`;
 * - memory a lookup may be reading is reused only after a grace period
 *   (reclaim.h). */
#ifndef IRCACHE_CACHE_H
#define IRCACHE_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ircache.h"
#include "kinds.h"
#include "node.h"

typedef struct ircache__position ircache__position;
typedef struct ircache__succ_table ircache__succ_table;

/* The low bits of ircache.gate. A position's gen never has them, so that
 * a lookup that finds gate equal to it knows at once that the cache is
 * enabled, that it needs no fence and that no clear moved it to the root. */
#define IRCACHE__GATE_DISABLED 1u /* ircache_set_enabled(c, 0) */
#define IRCACHE__GATE_FENCE 2u    /* lookups fence on entry (reclaim.c) */
#define IRCACHE__GATE_FLAGS ((uint64_t)3)
#define IRCACHE__GATE_GEN_ONE ((uint64_t)4) /* a clear adds it */

static inline uint64_t ircache__gate_gen(uint64_t gate)
{
    return gate & ~IRCACHE__GATE_FLAGS;
}

/* The values of ircache.shared. */
#define IRCACHE__ALONE 0        /* at most one thread, whose clock is ahead of every stamp */
#define IRCACHE__SHARED 1       /* two threads or more */
#define IRCACHE__ALONE_BEHIND 2 /* one thread, behind the clock a departed one published */
#define IRCACHE__SETTLING 3     /* one thread, whose last hit a writer is settling (settle.h) */

typedef struct ircache__lru_entry {
    uint64_t stamp;
    ircache__node *node;
} ircache__lru_entry;

struct ircache {
    /* Read by every lookup, written rarely: one cache line of its own. */
    _Alignas(64) _Atomic uint64_t epoch; /* grace-period counter, never 0 */
    /* The generation (clears so far) and the IRCACHE__GATE_* flags in one
     * word, so that a lookup checks all three with one comparison against
     * its position's gen: see below. */
    _Atomic uint64_t gate;
    /* IRCACHE__SHARED while more than one thread has a position here: hit
     * counts then need a read-modify-write and stamps the cache's clock. A
     * thread's registration sets it and waits for a grace period before its
     * first lookup, so that every lookup that read IRCACHE__ALONE is over by
     * then; the last but one to leave sets IRCACHE__ALONE_BEHIND with a
     * release (position.c). */
    _Atomic int shared;
    uint64_t serial;                     /* unique per cache in this process */
    uint64_t hash_seed;                  /* random, never 0: see successors.c */
    /* The first thread to use the cache (its thread pointer) and its
     * position: that thread finds it here, without a thread-local access. */
    _Atomic uintptr_t first_thread;
    ircache__position *first_position;

    /* The root changes with every insert under it: a line of its own. */
    _Alignas(64) ircache__node root;

    /* The latest stamp published (lookup.h, ircache__next_stamp). A thread
     * alone in the cache does not publish at step marks: position.c. */
    _Alignas(64) _Atomic uint64_t clock;

    /* Everything below is guarded by lock. */
    _Alignas(64) pthread_mutex_t lock;
    ircache__position *positions; /* every thread's position in this cache */
    size_t position_count;
    ircache__node_store store;
    ircache__kinds kinds;
    ircache__lru_entry *lru;      /* min-heap of leaves by stamp, when bounded */
    ircache__lru_entry *lru_held; /* entries popped during an eviction pass */
    size_t lru_count, lru_capacity;
    int lru_bounded;              /* the heap is kept (max_nodes set); it may be empty */
    struct ircache__grave *graves; /* evicted nodes whose releases are pending */
    struct ircache__clearing *clearing; /* clears calling releases (trie.c) */
    ircache__succ_table *retired; /* tables replaced since the last grace period */
    uint64_t retired_bytes;
    uint64_t table_bytes;         /* live successor tables */
    uint64_t next_id;
    uint64_t nodes;
    uint64_t inserts, forks, evictions, clears;
    _Atomic uint64_t max_nodes;
    uint64_t departed_hits, departed_misses; /* of positions already gone */
    int is_default;
    /* Set by ircache_free before it releases payloads: a release callback
     * calling back into the cache finds no position and can store nothing. */
    _Atomic int closing;
    ircache *registry_next, *registry_prev;  /* guarded by the registry lock */
};

struct ircache__position {
    /* Written by the owning thread on every lookup. */
    _Alignas(64) _Atomic uint64_t active; /* epoch seen on entering a lookup, 0 outside */
    _Atomic(ircache__node *) node;
    _Atomic uint64_t gen;                 /* the cache's gate, flags clear, when node was set */
    _Atomic uint64_t hits, misses;
    _Atomic uint64_t clock;               /* this thread's last stamp (read under lock by others) */
    /* The last hit of a thread alone, not yet counted in its node (settle.h). */
    _Atomic(ircache__node *) pending;
    _Atomic uint64_t pending_stamp;
    /* Owner's bookkeeping. */
    _Atomic(ircache *) cache; /* NULL once the cache was freed */
    uint64_t cache_serial;
    pthread_t owner;
    ircache__position *thread_next;
    /* Guarded by the cache's lock. */
    ircache__position *cache_next, *cache_prev;
};

/* Locks that never fail on a valid mutex; a failure would be a bug. */
static inline void ircache__lock(ircache *c)
{
    (void)pthread_mutex_lock(&c->lock);
}

static inline void ircache__unlock(ircache *c)
{
    (void)pthread_mutex_unlock(&c->lock);
}

/* Memory the cache holds for its nodes (under lock): node storage with the
 * room it keeps, successor tables and the eviction heap. Not the label
 * registry, which outlives clears for the op statistics. */
uint64_t ircache__bytes(const ircache *c);

#endif
