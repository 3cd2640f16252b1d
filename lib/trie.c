/* trie.c - lookup takes no lock; everything that changes the shape holds
 * the cache lock and hands payload releases to after the unlock. */
#include "trie.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cancel.h"
#include "error.h"
#include "evict.h"
#include "kinds.h"
#include "lookup.h"
#include "position.h"
#include "reclaim.h"
#include "release.h"
#include "settle.h"
#include "successors.h"

void ircache__clock_publish(ircache *c, uint64_t at_least)
{
    uint64_t seen = atomic_load_explicit(&c->clock, memory_order_relaxed);
    while (seen < at_least &&
           !atomic_compare_exchange_weak_explicit(&c->clock, &seen, at_least, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void ircache__trie_mark_step(ircache *c)
{
    ircache__position *p = ircache__position_find(c);
    if (p == NULL)
        return; /* a thread without a position is at the root already */
    ircache__position_reset(c, p);
    /* Publish this thread's uses, so that later lookups anywhere stamp
     * after them; a shared write per step, not per lookup. A thread alone
     * in the cache need not: the next thread to register reads every
     * position's clock once the lookups that may have read IRCACHE__ALONE
     * are over, and each lookup's clock store comes before the release that
     * ends it (position.c). A stale IRCACHE__ALONE read here is therefore
     * harmless; once a lookup of this thread has read the new value, so
     * does every later step mark. */
    if (atomic_load_explicit(&c->shared, memory_order_relaxed) == IRCACHE__ALONE)
        return;
    uint64_t mine = atomic_load_explicit(&p->clock, memory_order_relaxed);
    if (atomic_load_explicit(&c->clock, memory_order_relaxed) < mine)
        ircache__clock_publish(c, mine);
}

/* Replaced tables wait for a grace period; a thread alone in the cache
 * frees them at once, others once they add up to something. */
static void maybe_free_retired(ircache *c, const ircache__position *self)
{
    if (c->retired == NULL)
        return;
    if (!ircache__has_other_readers(c, self) || c->retired_bytes > c->table_bytes / 2 + 65536u)
        ircache__synchronize(c, self);
}

static ircache__release replace(ircache *c, ircache__position *p, ircache__node *n,
                                const ircache__kind *kind, void *payload)
{
    ircache__release old = ircache__release_of(n);
    const ircache__kind *old_kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    if (ircache__has_other_readers(c, p)) {
        /* A reader must never pair the old payload with the new owner, nor
         * retain a payload after its release: hide the node, wait. */
        ircache__node_set_flags(n, IRCACHE__NODE_BUSY);
        ircache__synchronize(c, p);
    }
    ircache__op_add_departed(old_kind->op, ircache__node_hits(n));
    ircache__node_reset_hits(n);
    atomic_store_explicit(&n->payload, payload, memory_order_relaxed);
    atomic_store_explicit(&n->kind, kind, memory_order_relaxed);
    ircache__node_clear_flags(n, IRCACHE__NODE_BUSY, memory_order_release);
    return old;
}

/* A new successor of parent; NULL, with nothing changed, when out of
 * memory. Every step that can fail comes before the first that shows. */
static ircache__node *attach(ircache *c, ircache__node *parent, const void *key, uint32_t key_len,
                             ircache__kind_ticket *ticket, void *payload)
{
    if (ircache__lru_reserve(c) != 0)
        return NULL;
    ircache__node *n = ircache__node_alloc(&c->store, key_len);
    if (n == NULL)
        return NULL;
    if (ircache__succ_reserve(c, parent) != 0) {
        ircache__node_free(&c->store, n);
        return NULL;
    }
    const ircache__kind *kind = ircache__kind_commit(&c->kinds, ticket);
    atomic_init(&n->succ, 0);
    n->parent = parent;
    atomic_init(&n->payload, payload);
    atomic_init(&n->kind, kind);
    atomic_init(&n->id_flags, ++c->next_id << 8);
    atomic_init(&n->stamp, 0); /* hits and key_len: set by ircache__node_alloc */
    if (key_len)
        memcpy(ircache__node_key(n), key, key_len);
    if (ircache__succ_count(parent) > 0)
        c->forks++;
    ircache__succ_add(parent, n);
    c->nodes++;
    return n;
}

int ircache__trie_insert(ircache *c, const void *key, uint32_t key_len, const char *op,
                         void *payload, const ircache_owner *owner)
{
    if (atomic_load_explicit(&c->closing, memory_order_relaxed))
        return ircache__fail(IRCACHE_EINVAL, "insert into a cache being freed");
    ircache__position *p = ircache__position_get(c);
    if (p == NULL)
        return IRCACHE_ENOMEM;
    if (atomic_load_explicit(&c->gate, memory_order_relaxed) & IRCACHE__GATE_DISABLED)
        return ircache__fail(IRCACHE_EDISABLED, "insert into a disabled cache");
    ircache__lock(c);
    int settled = ircache__settle_begin(c, p);
    /* Every thread's uses so far come before this insert (they may not have
     * marked a step since): publish the newest before stamping. */
    ircache__clock_publish(c, ircache__positions_newest_clock(c));
    ircache__node *parent = ircache__position_node(c, p);
    ircache__node *n = ircache__succ_find(parent, key, key_len, 0);
    ircache__kind_ticket ticket;
    if (ircache__kind_prepare(&c->kinds, op, owner, &ticket) != 0) {
        ircache__settle_end(c, settled);
        ircache__unlock(c);
        return ircache__fail(IRCACHE_ENOMEM, "no memory for the op label");
    }
    const ircache__kind *kind;
    ircache__release old = {NULL, NULL};
    ircache__dead_list dead;
    ircache__dead_list_init(&dead);
    ircache__grave grave;
    if (n != NULL) {
        kind = ircache__kind_commit(&c->kinds, &ticket);
        old = replace(c, p, n, kind, payload);
    } else {
        n = attach(c, parent, key, key_len, &ticket, payload);
        if (n == NULL) {
            ircache__kind_abandon(&ticket);
            ircache__settle_end(c, settled);
            ircache__unlock(c);
            return ircache__fail(IRCACHE_ENOMEM, "no memory for a node with a %u-byte key", key_len);
        }
        kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    }
    atomic_store_explicit(&n->stamp, ircache__next_stamp(c, p, n), memory_order_relaxed);
    ircache__clock_publish(c, atomic_load_explicit(&p->clock, memory_order_relaxed));
    atomic_store_explicit(&p->node, n, memory_order_relaxed);
    c->inserts++;
    kind->op->inserts++;
    if (old.payload == NULL)
        ircache__lru_note_leaf(c, n);
    ircache__evict(c, p, &dead);
    maybe_free_retired(c, p);
    ircache__grave_open(c, &grave, &dead);
    ircache__settle_end(c, settled);
    ircache__unlock(c);
    if (old.payload != NULL || grave.batch_count != 0) {
        int cancel = ircache__cancel_off();
        ircache__release_call(old);
        ircache__grave_close(c, &grave);
        ircache__cancel_restore(cancel);
    }
    return 0;
}

/* What a clear hands from under the lock to the releases after it. While
 * it releases, it is on the cache's list of clearings: the op statistics
 * count its nodes' hits there, the releases add them up per op, and the
 * sums join the ops' departed counts, under the lock, as it leaves the
 * list. So no count drops while a clear calls releases, and the nodes are
 * read once (a pass under the lock would cost a clear of a million nodes
 * 4 ms more). */
struct ircache__clearing {
    ircache__node_store store;
    ircache__node root_successors; /* carries the root's old successor index */
    uint64_t *op_hits;             /* by op index; NULL: counted already */
    size_t op_count;
    pthread_t thread;              /* the one clearing */
    struct ircache__clearing *next, **prev_next;
};

/* A node taken over from a grave had its hits counted when unlinked. */
static int counts_for_its_op(const ircache__node *n)
{
    return !(ircache__node_flags(n, memory_order_relaxed) & IRCACHE__NODE_DEAD);
}

static void count_departing_node(ircache__node *n, void *ctx)
{
    (void)ctx;
    if (counts_for_its_op(n))
        ircache__op_add_departed(atomic_load_explicit(&n->kind, memory_order_relaxed)->op, ircache__node_hits(n));
}

/* Under the lock, once no lookup can hit them any more: the detached
 * nodes' hits count as departed from now on. */
static void count_departing(struct ircache__clearing *d)
{
    ircache__node_store_visit(&d->store, count_departing_node, NULL);
}

static void release_detached_node(ircache__node *n, void *ctx)
{
    struct ircache__clearing *d = ctx;
    if (d->op_hits != NULL && counts_for_its_op(n))
        d->op_hits[atomic_load_explicit(&n->kind, memory_order_relaxed)->op->index] += ircache__node_hits(n);
    ircache__release_call(ircache__release_of(n));
    ircache__succ_free_detached(n);
}

static void release_detached(struct ircache__clearing *d)
{
    int cancel = ircache__cancel_off();
    ircache__node_store_visit(&d->store, release_detached_node, d);
    ircache__succ_free_detached(&d->root_successors);
    ircache__cancel_restore(cancel);
}

/* Under the lock, once no lookup can hit the detached nodes any more: on
 * the list, or (no memory for the sums) their hits counted now. */
static void clearing_begin(ircache *c, struct ircache__clearing *d)
{
    d->op_count = c->kinds.ops.count;
    d->op_hits = d->op_count > 0 ? ircache__calloc(d->op_count, sizeof *d->op_hits) : NULL;
    if (d->op_hits == NULL) {
        count_departing(d);
        return;
    }
    d->thread = pthread_self();
    d->next = c->clearing;
    d->prev_next = &c->clearing;
    if (c->clearing != NULL)
        c->clearing->prev_next = &d->next;
    c->clearing = d;
}

/* After the releases: the sums join the departed counts as the clearing
 * leaves the list; then the nodes' memory goes. */
static void clearing_end(ircache *c, struct ircache__clearing *d)
{
    if (d->op_hits != NULL) {
        ircache__lock(c);
        for (size_t i = 0; i < d->op_count; i++)
            if (d->op_hits[i] != 0)
                ircache__op_add_departed(ircache__kinds_op(&c->kinds, i), d->op_hits[i]);
        *d->prev_next = d->next;
        if (d->next != NULL)
            d->next->prev_next = d->prev_next;
        ircache__unlock(c);
        ircache__free(d->op_hits);
    }
    ircache__node_store_release(&d->store);
}

void ircache__trie_forget_clearings(ircache *c)
{
    /* The forking thread's own clears (a fork from a release) go on here. */
    struct ircache__clearing **link = &c->clearing;
    while (*link != NULL) {
        struct ircache__clearing *d = *link;
        if (pthread_equal(d->thread, pthread_self())) {
            d->prev_next = link;
            link = &d->next;
            continue;
        }
        count_departing(d);
        *link = d->next;
    }
}

void ircache__trie_visit_clearings(ircache *c, void (*visit)(ircache__node *n, void *ctx), void *ctx)
{
    for (struct ircache__clearing *d = c->clearing; d != NULL; d = d->next)
        ircache__node_store_visit(&d->store, visit, ctx);
}

/* Unlinks every node under the lock; the caller waits a grace period, then
 * releases them. */
static void detach_all(ircache *c, struct ircache__clearing *d)
{
    ircache__graves_take_over(c);
    d->store = c->store;
    memset(&c->store, 0, sizeof c->store);
    atomic_init(&d->root_successors.succ,
                atomic_exchange_explicit(&c->root.succ, 0, memory_order_release));
    /* An add, not a store: ircache_set_enabled changes the flags without the lock. */
    atomic_fetch_add_explicit(&c->gate, IRCACHE__GATE_GEN_ONE, memory_order_release);
    c->nodes = 0;
    c->table_bytes = 0;
    ircache__lru_forget_all(c);
}

void ircache__trie_clear(ircache *c)
{
    ircache__position *self = ircache__position_find(c);
    struct ircache__clearing d;
    ircache__lock(c);
    /* Pending hits count in the op statistics. */
    int settled = ircache__settle_begin(c, self);
    /* Uses before the clear come before any use after it. */
    ircache__clock_publish(c, ircache__positions_newest_clock(c));
    detach_all(c, &d);
    c->clears++;
    ircache__synchronize(c, self);
    clearing_begin(c, &d);
    ircache__settle_end(c, settled);
    ircache__unlock(c);
    release_detached(&d);
    clearing_end(c, &d);
}

int ircache__trie_set_max_nodes(ircache *c, uint64_t max_nodes)
{
    ircache__position *self = ircache__position_find(c);
    ircache__dead_list dead;
    ircache__dead_list_init(&dead);
    ircache__grave grave;
    ircache__lock(c);
    /* Eviction reads stamps and counts: settled, if it will run, until the
     * nodes it drops are gone. The heap tolerates stale stamps. */
    int settled = max_nodes != 0 && c->nodes > max_nodes ? ircache__settle_begin(c, self)
                                                         : IRCACHE__SETTLE_UNCHANGED;
    if (ircache__lru_rebuild(c, max_nodes) != 0) {
        ircache__settle_end(c, settled);
        ircache__unlock(c);
        return ircache__fail(IRCACHE_ENOMEM, "no memory for the eviction order of %llu nodes",
                             (unsigned long long)c->nodes);
    }
    atomic_store_explicit(&c->max_nodes, max_nodes, memory_order_relaxed);
    ircache__evict(c, self, &dead);
    ircache__grave_open(c, &grave, &dead);
    /* The victims' slots (and the tables they leave) wait for a grace
     * period: an insert's next eviction gives one, but a lowered bound may
     * have dropped most of the cache, and lookups alone give none. Slots
     * an earlier eviction left waiting go too. */
    if (c->retired != NULL || c->store.unlinked != NULL)
        ircache__synchronize(c, self);
    ircache__settle_end(c, settled);
    ircache__unlock(c);
    int cancel = ircache__cancel_off();
    ircache__grave_close(c, &grave);
    ircache__cancel_restore(cancel);
    return 0;
}

static uint64_t next_serial(void)
{
    static _Atomic uint64_t serials = 1;
    return atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed);
}

int ircache__trie_init(ircache *c)
{
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return IRCACHE_ENOMEM;
    ircache__reclaim_init();
    atomic_init(&c->epoch, 1);
    atomic_init(&c->gate, atomic_load(&ircache__reader_fence) ? IRCACHE__GATE_FENCE : 0);
    atomic_init(&c->shared, IRCACHE__ALONE);
    atomic_init(&c->closing, 0);
    atomic_init(&c->clock, 0);
    atomic_init(&c->max_nodes, 0);
    atomic_init(&c->root.succ, 0);
    atomic_init(&c->root.kind, NULL);
    atomic_init(&c->root.id_flags, 0);
    atomic_init(&c->root.hits, 0);
    c->root.key_len = 0;
    c->serial = next_serial();
    /* For the tables whose keys collide under every slot function that
     * does not depend on it (successors.c): keys made to collide would
     * have to guess it. */
    c->hash_seed = ircache__mix((uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL), c->serial) | 1;
    return 0;
}

void ircache__trie_destroy(ircache *c)
{
    struct ircache__clearing d;
    detach_all(c, &d);
    count_departing(&d);
    d.op_hits = NULL;
    ircache__free_retired(c);
    release_detached(&d);
    ircache__node_store_release(&d.store);
    ircache__lru_rebuild(c, 0);
    ircache__kinds_release(&c->kinds);
    pthread_mutex_destroy(&c->lock);
}
