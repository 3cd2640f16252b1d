/* settle.h - the last hit of a thread alone in a cache, written late.
 *
 * A lookup that hits stores the node's count and stamp. The node's address
 * comes from the lookup's own loads, and a store whose address is still
 * unknown holds up the caller's next call: its loads of the key the caller
 * has just written wait for that address, so the next lookup cannot start
 * its loads until this one's have returned. Among a thousand successors a
 * lookup then cost 1.7-1.9 times one at a single successor, 1.15 times
 * without those two stores (bench/README.md).
 *
 * So a thread alone in a cache (IRCACHE__ALONE) leaves a hit's count and
 * stamp in its position (pending, pending_stamp) and writes them into the
 * node at its next hit, when the address is long known. Whatever reads
 * counts or stamps, or drops nodes, settles them first, under the lock:
 * a thread's own pending hit at once; another thread's after keeping it
 * from recording more (IRCACHE__SETTLING) and waiting for the lookups that
 * may still be recording one. */
#ifndef IRCACHE_SETTLE_H
#define IRCACHE_SETTLE_H

#include "cache.h"
#include "compiler.h"
#include "node.h"

/* The lookup side, in a thread alone (it read IRCACHE__ALONE inside its
 * reader section, so a writer settling would wait for the section first). */

/* Writes p's pending hit, if any, into its node, before p's thread uses a
 * node again: stamps then stay in the order of use. Returns 1 if there was
 * one. */
static IRCACHE__ALWAYS_INLINE int ircache__settle_pending(ircache__position *p, ircache__node *last)
{
    if (last == NULL)
        return 0;
    ircache__node_count_hit(last, 0);
    atomic_store_explicit(&last->stamp, atomic_load_explicit(&p->pending_stamp, memory_order_relaxed),
                          memory_order_relaxed);
    return 1;
}

static IRCACHE__ALWAYS_INLINE void ircache__settle_own(ircache__position *p)
{
    if (IRCACHE__UNLIKELY(ircache__settle_pending(p, atomic_load_explicit(&p->pending, memory_order_relaxed))))
        atomic_store_explicit(&p->pending, NULL, memory_order_relaxed);
}

/* Writes p's pending hit and leaves n's, stamped stamp, pending instead. */
static IRCACHE__ALWAYS_INLINE void ircache__settle_and_defer(ircache__position *p, ircache__node *n,
                                                              uint64_t stamp)
{
    ircache__settle_pending(p, atomic_load_explicit(&p->pending, memory_order_relaxed));
    atomic_store_explicit(&p->pending, n, memory_order_relaxed);
    atomic_store_explicit(&p->pending_stamp, stamp, memory_order_relaxed);
}

/* Writes p's pending hit, if any, into its node, with read-modify-writes:
 * another thread may hit that node meanwhile. Cache lock held, and p's
 * thread is not recording one (it is the caller, or the cache is
 * IRCACHE__SHARED or IRCACHE__SETTLING and its lookups that may have read
 * another state are over, or it has exited). */
void ircache__settle_position(ircache__position *p);

/* What ircache__settle_begin returns when it left c->shared as it was. */
#define IRCACHE__SETTLE_UNCHANGED (-1)

/* ircache__settle_position for every position of c (cache lock held, and
 * no thread of c recording: see there). */
void ircache__settle_all(ircache *c);

/* Settles every thread's pending hit in c, and keeps threads from
 * recording new ones until ircache__settle_end: what a writer does before
 * it drops nodes. Cache lock held; self is the caller's position in c, or
 * NULL. May wait for a grace period (only when another thread is alone in
 * c). Returns what ircache__settle_end needs. */
int ircache__settle_begin(ircache *c, ircache__position *self);

/* Lets threads record pending hits again; before the lock is dropped. */
void ircache__settle_end(ircache *c, int saved);

/* Settles every thread's pending hit in c for a writer that only reads
 * counts and stamps: threads may record hits again at once, later than
 * the call. Cache lock held; self as for ircache__settle_begin. */
void ircache__settle_for_reading(ircache *c, ircache__position *self);

#endif
