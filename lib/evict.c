/* evict.c - LRU leaves in a lazy binary min-heap of (stamp, node). */
#include "evict.h"

#include "alloc.h"
#include "position.h"
#include "reclaim.h"
#include "successors.h"

/* A held entry with this stamp is a candidate marked for eviction; others
 * are pinned leaves waiting to go back into the heap. */
#define CANDIDATE UINT64_MAX

static uint64_t stamp_of(const ircache__node *n)
{
    return atomic_load_explicit(&n->stamp, memory_order_relaxed);
}

static void sift_up(ircache__lru_entry *h, size_t i)
{
    ircache__lru_entry e = h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h[up].stamp <= e.stamp)
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = e;
}

static void sift_down(ircache__lru_entry *h, size_t count, size_t i)
{
    ircache__lru_entry e = h[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= count)
            break;
        if (child + 1 < count && h[child + 1].stamp < h[child].stamp)
            child++;
        if (h[child].stamp >= e.stamp)
            break;
        h[i] = h[child];
        i = child;
    }
    h[i] = e;
}

static void push_entry(ircache *c, ircache__lru_entry e)
{
    c->lru[c->lru_count] = e;
    sift_up(c->lru, c->lru_count++);
}

static ircache__lru_entry pop(ircache *c)
{
    ircache__lru_entry top = c->lru[0];
    c->lru[0] = c->lru[--c->lru_count];
    if (c->lru_count > 0)
        sift_down(c->lru, c->lru_count, 0);
    return top;
}

static int bounded(const ircache *c)
{
    return c->lru_bounded;
}

/* Moves the heap to arrays of capacity entries (at least lru_count). */
static int resize_heap(ircache *c, size_t capacity)
{
    ircache__lru_entry *heap = ircache__malloc(capacity * sizeof *heap);
    ircache__lru_entry *held = ircache__malloc(capacity * sizeof *held);
    if (heap == NULL || held == NULL) {
        ircache__free(heap);
        ircache__free(held);
        return IRCACHE_ENOMEM;
    }
    for (size_t i = 0; i < c->lru_count; i++)
        heap[i] = c->lru[i];
    ircache__free(c->lru);
    ircache__free(c->lru_held);
    c->lru = heap;
    c->lru_held = held;
    c->lru_capacity = capacity;
    return 0;
}

int ircache__lru_reserve(ircache *c)
{
    if (!bounded(c) || c->lru_count < c->lru_capacity)
        return 0;
    return resize_heap(c, c->lru_capacity != 0 ? c->lru_capacity * 2 : 64);
}

void ircache__lru_note_leaf(ircache *c, ircache__node *n)
{
    if (!bounded(c) || n == &c->root)
        return;
    if (ircache__node_flags(n, memory_order_relaxed) & IRCACHE__NODE_QUEUED)
        return; /* its old entry is still in the heap and will do */
    ircache__node_set_flags(n, IRCACHE__NODE_QUEUED);
    push_entry(c, (ircache__lru_entry){stamp_of(n), n});
}

struct leaf_scan {
    ircache *c;
    size_t leaves;
    int fill;
};

static void scan_leaf(ircache__node *n, void *ctx)
{
    struct leaf_scan *scan = ctx;
    ircache__node_clear_flags(n, IRCACHE__NODE_QUEUED, memory_order_relaxed);
    if (atomic_load_explicit(&n->succ, memory_order_relaxed) != 0 ||
        (ircache__node_flags(n, memory_order_relaxed) & IRCACHE__NODE_DEAD))
        return;
    scan->leaves++;
    if (scan->fill)
        ircache__lru_note_leaf(scan->c, n);
}

/* Frees the heap and its entries; whether the cache is bounded stays. */
static void drop_heap(ircache *c)
{
    ircache__free(c->lru);
    ircache__free(c->lru_held);
    c->lru = c->lru_held = NULL;
    c->lru_count = c->lru_capacity = 0;
}

int ircache__lru_rebuild(ircache *c, uint64_t max_nodes)
{
    struct leaf_scan scan = {c, 0, 0};
    if (max_nodes == 0) {
        drop_heap(c);
        c->lru_bounded = 0;
        return 0;
    }
    if (bounded(c))
        return 0; /* the heap is current */
    ircache__node_store_visit(&c->store, scan_leaf, &scan);
    if (resize_heap(c, scan.leaves + 64) != 0)
        return IRCACHE_ENOMEM;
    c->lru_bounded = 1;
    scan.fill = 1;
    ircache__node_store_visit(&c->store, scan_leaf, &scan);
    return 0;
}

void ircache__lru_forget_all(ircache *c)
{
    /* The heap goes with the nodes (a cleared cache holds no memory for
     * nodes: ircache_stats.bytes); the next insert grows it again. */
    drop_heap(c);
}

/* Pops entries until one is an evictable leaf; NULL when none is left.
 * Pinned leaves are held until the pass ends. */
static ircache__node *next_candidate(ircache *c, size_t *held)
{
    while (c->lru_count > 0) {
        ircache__lru_entry e = pop(c);
        ircache__node *n = e.node;
        if (atomic_load_explicit(&n->succ, memory_order_relaxed) != 0) {
            /* Grew a successor since: an entry again when it is a leaf. */
            ircache__node_clear_flags(n, IRCACHE__NODE_QUEUED, memory_order_relaxed);
            continue;
        }
        if (e.stamp != stamp_of(n)) {
            push_entry(c, (ircache__lru_entry){stamp_of(n), n}); /* used since */
            continue;
        }
        if (ircache__position_pins(c, n)) {
            c->lru_held[(*held)++] = e;
            continue;
        }
        return n;
    }
    return NULL;
}

static void unlink_leaf(ircache *c, ircache__node *n, ircache__dead_list *dead)
{
    ircache__node *parent = n->parent;
    ircache__succ_remove(c, parent, n);
    ircache__node_set_flags(n, IRCACHE__NODE_DEAD);
    c->nodes--;
    c->evictions++;
    const ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    ircache__op_add_departed(kind->op, ircache__node_hits(n));
    n->parent = NULL;
    *dead->tail = n;
    dead->tail = &n->parent;
    if (atomic_load_explicit(&parent->succ, memory_order_relaxed) == 0)
        ircache__lru_note_leaf(c, parent);
}

/* A round picks at most this many candidates (a grace period each round). */
#define ROUND_MAX 64

/* 1 when unlinking n and the candidates already marked in this round
 * (held[first..held)) would leave n's parent a leaf. */
static int empties_parent(const ircache *c, const ircache__node *n, size_t first, size_t held)
{
    const ircache__node *parent = n->parent;
    if (parent == &c->root)
        return 0;
    uint32_t going = 1;
    for (size_t i = first; i < held; i++)
        if (c->lru_held[i].stamp == CANDIDATE && c->lru_held[i].node->parent == parent)
            going++;
    return going == ircache__succ_count(parent);
}

/* Other threads may be stepping onto a candidate right now: mark a round of
 * candidates DYING (lookups treat them as absent), let every lookup in
 * flight finish, and only then trust what the positions say. Candidates
 * stay hidden until they are unlinked; only pinned ones are shown again.
 * A round ends at a candidate whose parent it would leave a leaf: that
 * parent then competes with the other leaves in the next round, exactly as
 * when nodes go one at a time. Returns the number of candidates marked;
 * *unlinked counts those that went. */
static size_t evict_round(ircache *c, const ircache__position *self, ircache__dead_list *dead,
                          size_t want, size_t *held, size_t *unlinked)
{
    size_t first = *held, marked = 0;
    while (marked < want && marked < ROUND_MAX) {
        ircache__node *n = next_candidate(c, held);
        if (n == NULL)
            break;
        int last = empties_parent(c, n, first, *held);
        ircache__node_set_flags(n, IRCACHE__NODE_DYING);
        c->lru_held[(*held)++] = (ircache__lru_entry){CANDIDATE, n};
        marked++;
        if (last)
            break;
    }
    if (marked == 0)
        return 0;
    ircache__synchronize(c, self);
    size_t kept = first;
    for (size_t i = first; i < *held; i++) {
        ircache__lru_entry e = c->lru_held[i];
        if (e.stamp == CANDIDATE) {
            if (!ircache__position_pins(c, e.node)) {
                unlink_leaf(c, e.node, dead);
                ++*unlinked;
                continue;
            }
            ircache__node_clear_flags(e.node, IRCACHE__NODE_DYING, memory_order_release);
            e.stamp = stamp_of(e.node);
        }
        c->lru_held[kept++] = e;
    }
    *held = kept;
    return marked;
}

void ircache__evict(ircache *c, const ircache__position *self, ircache__dead_list *dead)
{
    uint64_t max = atomic_load_explicit(&c->max_nodes, memory_order_relaxed);
    if (max == 0 || c->nodes <= max || !bounded(c))
        return;
    size_t held = 0;
    if (!ircache__has_other_readers(c, self)) {
        /* Nobody else can move: what the positions say now holds. */
        while (c->nodes > max) {
            ircache__node *n = next_candidate(c, &held);
            if (n == NULL)
                break;
            unlink_leaf(c, n, dead);
        }
    } else {
        size_t unlinked = 0;
        while (c->nodes > max && evict_round(c, self, dead, (size_t)(c->nodes - max), &held, &unlinked) > 0)
            ;
        /* A lookup may have read a victim's address just before its unlink.
         * It sees the victim hidden (marked before the round's grace
         * period), so the payload may go now; but the slot may not be
         * reused until that lookup is over: the next grace period frees it,
         * which is usually the next eviction's first. */
        dead->unsettled |= unlinked > 0;
    }
    for (size_t i = 0; i < held; i++)
        push_entry(c, c->lru_held[i]);
    /* A lowered bound leaves the heap far larger than its entries: give
     * back all but twice them, past a quarter (so that growing and
     * shrinking do not alternate). Without memory it stays as it is. */
    if (c->lru_capacity > 64 && c->lru_count < c->lru_capacity / 4)
        (void)resize_heap(c, c->lru_count * 2 > 64 ? c->lru_count * 2 : 64);
}
