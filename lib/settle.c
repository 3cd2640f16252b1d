/* settle.c - writing the pending hits of threads alone into their nodes. */
#include "settle.h"

#include "reclaim.h"

void ircache__settle_position(ircache__position *p)
{
    ircache__node *n = atomic_load_explicit(&p->pending, memory_order_relaxed);
    if (n == NULL)
        return;
    ircache__node_count_hit(n, 1);
    uint64_t stamp = atomic_load_explicit(&p->pending_stamp, memory_order_relaxed);
    uint64_t seen = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    /* A newer use of n by another route keeps its stamp. */
    while (seen < stamp && !atomic_compare_exchange_weak_explicit(&n->stamp, &seen, stamp, memory_order_relaxed,
                                                                   memory_order_relaxed))
        ;
    atomic_store_explicit(&p->pending, NULL, memory_order_relaxed);
}

void ircache__settle_all(ircache *c)
{
    for (ircache__position *p = c->positions; p != NULL; p = p->cache_next)
        ircache__settle_position(p);
}

int ircache__settle_begin(ircache *c, ircache__position *self)
{
    int state = atomic_load_explicit(&c->shared, memory_order_relaxed);
    /* Shared: the arrival that made it so settled the thread that was
     * alone, and no thread records a hit while it lasts. */
    if (state == IRCACHE__SHARED || c->position_count == 0)
        return IRCACHE__SETTLE_UNCHANGED;
    if (self != NULL && c->position_count == 1) {
        /* The one thread that may record is the caller, here and not in a
         * lookup of its own but the one whose callback this may be, which
         * recorded its hit before calling back. Others need the lock to
         * take a position. */
        ircache__settle_position(self);
        return IRCACHE__SETTLE_UNCHANGED;
    }
    /* Another thread is alone in c and may be inside a lookup. The exchange
     * fails only when that thread moves IRCACHE__ALONE_BEHIND to
     * IRCACHE__ALONE (lookup.c): try again from there. */
    while (!atomic_compare_exchange_weak_explicit(&c->shared, &state, IRCACHE__SETTLING, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    /* Lookups that began from here on read IRCACHE__SETTLING and record
     * nothing; those that may have read the state before are over after a
     * grace period, and their stores visible. */
    ircache__synchronize(c, self);
    ircache__settle_all(c);
    return state;
}

void ircache__settle_end(ircache *c, int saved)
{
    /* The release pairs with the acquire load of shared in lookups: one
     * that reads the state restored also reads its pending hit cleared. */
    if (saved != IRCACHE__SETTLE_UNCHANGED)
        atomic_store_explicit(&c->shared, saved, memory_order_release);
}

void ircache__settle_for_reading(ircache *c, ircache__position *self)
{
    ircache__settle_end(c, ircache__settle_begin(c, self));
}
