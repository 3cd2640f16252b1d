/* evict.h - keeping a bounded cache under its bound.
 *
 * Only leaves can go, least recently used first. Lookups only write a
 * node's stamp, so the heap is lazy: each leaf has one entry whose stamp is
 * at most the node's; an entry that turns out stale when it reaches the top
 * is pushed again with the node's real stamp. The heap exists only while the
 * cache is bounded. All functions run under the cache lock. */
#ifndef IRCACHE_EVICT_H
#define IRCACHE_EVICT_H

#include "cache.h"

/* Room for one more entry, so that the insert after it cannot fail.
 * Returns 0 or IRCACHE_ENOMEM. No-op while unbounded. */
int ircache__lru_reserve(ircache *c);

/* n just became a leaf: give it an entry (room reserved). */
void ircache__lru_note_leaf(ircache *c, ircache__node *n);

/* Builds the heap from every leaf (the bound went from 0 to non-zero) or
 * drops it (bound 0). Returns 0 or IRCACHE_ENOMEM (nothing changed). */
int ircache__lru_rebuild(ircache *c, uint64_t max_nodes);

/* Forgets every entry (the nodes are gone). */
void ircache__lru_forget_all(ircache *c);

/* Nodes unlinked under the lock, chained through their parent field in the
 * order they went, waiting for their releases. unsettled: other threads'
 * lookups that began before the unlink may still be reading them, so that
 * their slots wait for the next grace period (ircache__node_free_later). */
typedef struct ircache__dead_list {
    ircache__node *head, **tail;
    int unsettled;
} ircache__dead_list;

static inline void ircache__dead_list_init(ircache__dead_list *d)
{
    d->head = NULL;
    d->tail = &d->head;
    d->unsettled = 0;
}

/* Evicts least recently used leaves while the cache is over its bound,
 * skipping leaves some position stands on, and appends them to *dead for
 * the caller to release outside the lock. self: the caller's position or
 * NULL. */
void ircache__evict(ircache *c, const ircache__position *self, ircache__dead_list *dead);

#endif
