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

/* Capacity that keeps `live` entries (plus one to come) at most half full. */
static uint32_t capacity_for(uint32_t live)
{
    uint32_t capacity = MIN_TABLE_CAPACITY;
    while (capacity < (live + 1) * 2)
        capacity *= 2;
    return capacity;
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
    /* Keep at least a quarter of the slots empty so that probes end soon. */
    if ((t->used + 1) * 4 <= (t->mask + 1) * 3)
        return 0;
    ircache__succ_table *bigger = table_rebuilt(c, t, capacity_for(t->live));
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
