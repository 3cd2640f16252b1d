/* successors.c - writer side of the successor index. */
#include "successors.h"

#include "alloc.h"
#include "reclaim.h"

#define MIN_TABLE_CAPACITY 4u

static ircache__succ_table *table_new(ircache *c, uint32_t capacity)
{
    size_t bytes = sizeof(ircache__succ_table) + (size_t)capacity * sizeof(ircache__slot);
    ircache__succ_table *t = ircache__calloc(1, bytes);
    if (t == NULL)
        return NULL;
    t->mask = capacity - 1;
    t->shift = 64;
    for (uint32_t c2 = capacity; c2 > 1; c2 >>= 1)
        t->shift--;
    t->bytes = (uint32_t)bytes;
    c->table_bytes += bytes;
    return t;
}

static void table_place(ircache__succ_table *t, ircache__node *child, uint64_t seed)
{
    uint64_t hash = ircache__hash(ircache__node_key(child), ircache__node_key_len(child), seed);
    uint32_t i = ircache__succ_start(t, hash);
    while (atomic_load_explicit(&t->slots[i & t->mask], memory_order_relaxed) != IRCACHE__SLOT_EMPTY)
        i++;
    atomic_store_explicit(&t->slots[i & t->mask], ircache__slot_make(child, hash), memory_order_release);
    t->used++;
    t->live++;
}

/* How full a table may get (tombstones count: they lengthen probes as
 * entries do). A lookup costs little more than one at a single successor
 * only when its node is in the first slot it reads; in a table 3/8 full,
 * 81% are, 3/16 full 90%, 3/32 full 95%. The others cost a mispredicted
 * branch, which also throws away the work of the lookups the processor had
 * started after it. Measured among 1,536 successors: a lookup took 1.66-1.70
 * times one at a single successor in a table 3/8 full, 1.47-1.52 times in
 * one 3/16 full. So large tables stay at most 3/16 full (43-85 bytes of
 * table per successor); tables of up to 32 slots (forks of up to 12
 * successors, the common ones, whose few lines stay cached) may be 3/8
 * full, and the next size is 128 slots. A node's first table, 4 slots for
 * its first 2 successors, is the exception that keeps the commonest fork
 * small. */
#define SMALL_TABLE_CAPACITY 32u

static int within_load(uint64_t entries, uint64_t capacity)
{
    return entries * (capacity <= SMALL_TABLE_CAPACITY ? 8u : 16u) <= capacity * 3u;
}

/* At most 2^30 slots, so that slot counts fit 32 bits. */
#define MAX_TABLE_CAPACITY ((uint32_t)1 << 30)

/* Capacity for `live` entries at half the maximum load, so that as many
 * inserts as a rebuild moved come before the next (a large table that only
 * grows doubles), and so with room for one more (2 * live >= live + 1 when
 * live >= 1; an empty table's 4 slots hold one); 0 past MAX_TABLE_CAPACITY. */
static uint32_t capacity_for(uint32_t live)
{
    uint64_t capacity = MIN_TABLE_CAPACITY;
    while (!within_load(2 * (uint64_t)live, capacity))
        capacity *= 2;
    return capacity <= MAX_TABLE_CAPACITY ? (uint32_t)capacity : 0;
}

static ircache__succ_table *table_rebuilt(ircache *c, const ircache__succ_table *old, uint32_t capacity)
{
    ircache__succ_table *t = table_new(c, capacity);
    if (t == NULL)
        return NULL;
    for (uint32_t i = 0; i <= old->mask; i++) {
        ircache__slot v = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
        if (v != IRCACHE__SLOT_EMPTY && v != IRCACHE__SLOT_TOMBSTONE)
            table_place(t, ircache__slot_node(v), c->hash_seed);
    }
    return t;
}

static void publish_table(ircache__node *parent, ircache__succ_table *t)
{
    atomic_store_explicit(&parent->succ, (uintptr_t)t | IRCACHE__SUCC_TABLE_BIT, memory_order_release);
}

int ircache__succ_reserve(ircache *c, ircache__node *parent)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    if (s == 0)
        return 0;
    if (t == NULL) {
        /* One direct successor: the second needs a table. */
        t = table_new(c, MIN_TABLE_CAPACITY);
        if (t == NULL)
            return IRCACHE_ENOMEM;
        table_place(t, (ircache__node *)s, c->hash_seed);
        publish_table(parent, t);
        return 0;
    }
    if (within_load((uint64_t)t->used + 1, (uint64_t)t->mask + 1))
        return 0;
    uint32_t capacity = capacity_for(t->live);
    if (capacity == 0)
        return IRCACHE_ENOMEM;
    ircache__succ_table *bigger = table_rebuilt(c, t, capacity);
    if (bigger == NULL)
        return IRCACHE_ENOMEM;
    publish_table(parent, bigger);
    ircache__retire_table(c, t);
    return 0;
}

void ircache__succ_add(ircache *c, ircache__node *parent, ircache__node *child)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    if (s == 0) {
        atomic_store_explicit(&parent->succ, (uintptr_t)child, memory_order_release);
        return;
    }
    table_place(ircache__succ_as_table(s), child, c->hash_seed);
}

void ircache__succ_remove(ircache *c, ircache__node *parent, ircache__node *child)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    if (t == NULL) {
        atomic_store_explicit(&parent->succ, 0, memory_order_release);
        return;
    }
    uint32_t i = ircache__succ_start(
        t, ircache__hash(ircache__node_key(child), ircache__node_key_len(child), c->hash_seed));
    for (;; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i & t->mask], memory_order_relaxed);
        if (v != IRCACHE__SLOT_TOMBSTONE && ircache__slot_node(v) == child)
            break;
    }
    atomic_store_explicit(&t->slots[i & t->mask], IRCACHE__SLOT_TOMBSTONE, memory_order_release);
    if (--t->live > 1)
        return;
    /* Back to the direct form: the table goes once no reader can see it. */
    ircache__node *last = NULL;
    for (uint32_t j = 0; t->live == 1 && j <= t->mask; j++) {
        ircache__slot v = atomic_load_explicit(&t->slots[j], memory_order_relaxed);
        if (v != IRCACHE__SLOT_EMPTY && v != IRCACHE__SLOT_TOMBSTONE)
            last = ircache__slot_node(v);
    }
    atomic_store_explicit(&parent->succ, (uintptr_t)last, memory_order_release);
    ircache__retire_table(c, t);
}

void ircache__succ_free_detached(ircache__node *n)
{
    ircache__free(ircache__succ_as_table(atomic_load_explicit(&n->succ, memory_order_relaxed)));
}

ircache__node *ircache__succ_probe(const ircache__succ_table *t, const void *key, uint32_t len,
                                   uint64_t hash)
{
    ircache__slot tag = ircache__slot_tag(hash);
    for (uint32_t i = ircache__succ_start(t, hash);; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i & t->mask], memory_order_acquire);
        if (ircache__slot_tag_matches(v, tag)) {
            ircache__node *n = ircache__slot_tagged_node(v);
            if (ircache__node_key_equals(n, key, len, 0))
                return n;
        } else if (v == IRCACHE__SLOT_EMPTY) {
            return NULL;
        } else if (ircache__slot_untagged(v) && ircache__node_key_equals((ircache__node *)v, key, len, 0)) {
            return (ircache__node *)v;
        }
    }
}
