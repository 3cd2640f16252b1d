/* node.c - slab storage for nodes. */
#include "node.h"

#include "alloc.h"

#include <stdlib.h>

struct ircache__slab {
    ircache__slab *next;
    ircache__slab *prev;
    size_t slot_size; /* bytes per node, key included */
    size_t capacity;  /* slots */
    size_t used;      /* slots handed out so far, from the start */
    size_t bytes;     /* bytes allocated for this slab */
    _Alignas(64) unsigned char slots[];
};

/* Slabs start small, so that a cache of a few nodes stays small, and double
 * up to this size. */
#define SLAB_FIRST_SLOTS 16u
#define SLAB_MAX_BYTES (64u * 1024u)

static size_t key_class(uint32_t key_len)
{
    return ((size_t)key_len + 7u) / 8u;
}

/* A new slab at the head of *list. */
static ircache__slab *slab_new(ircache__node_store *s, ircache__slab **list, size_t slot_size, size_t capacity)
{
    size_t bytes = offsetof(ircache__slab, slots) + slot_size * capacity;
    ircache__slab *slab = ircache__aligned_alloc(64, bytes);
    if (slab == NULL)
        return NULL;
    slab->slot_size = slot_size;
    slab->capacity = capacity;
    slab->used = 0;
    slab->bytes = (bytes + 63u) / 64u * 64u;
    slab->prev = NULL;
    slab->next = *list;
    if (*list != NULL)
        (*list)->prev = slab;
    *list = slab;
    s->bytes += slab->bytes;
    return slab;
}

static void slab_unlink_and_free(ircache__node_store *s, ircache__slab **list, ircache__slab *slab)
{
    if (slab->prev != NULL)
        slab->prev->next = slab->next;
    else
        *list = slab->next;
    if (slab->next != NULL)
        slab->next->prev = slab->prev;
    s->bytes -= slab->bytes;
    ircache__free(slab);
}

static ircache__node *slot_at(ircache__slab *slab, size_t i)
{
    return (ircache__node *)(void *)(slab->slots + i * slab->slot_size);
}

static ircache__slab *slab_of_large(ircache__node *n)
{
    return (ircache__slab *)(void *)((unsigned char *)n - offsetof(ircache__slab, slots));
}

/* Free slots that make a class worth a look for empty slabs: about one
 * slab of the largest size. */
#define SWEEP_MIN_FREE 1024u

/* A class left with no node gives its slabs back once it had this many
 * slots: fewer are little memory, and a class that churns through a few
 * nodes then keeps its slab rather than allocating it again each time. */
#define EMPTY_CLASS_MIN 64u

/* A slab of the class being swept, and how many of its slots are free. */
typedef struct slab_tally {
    ircache__slab *slab;
    size_t free;
} slab_tally;

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const slab_tally *)a)->slab, y = (uintptr_t)((const slab_tally *)b)->slab;
    return (x > y) - (x < y);
}

/* The tally of the slab that holds n: the last of the count tallies,
 * sorted by address, whose slab starts at or before n. */
static slab_tally *tally_of(slab_tally *t, size_t count, const ircache__node *n)
{
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)t[mid].slab <= (uintptr_t)n)
            lo = mid;
        else
            hi = mid;
    }
    return &t[lo];
}

static int all_free(const slab_tally *t)
{
    return t->free == t->slab->used;
}

/* 1 when a class's free list of free_now slots, down to low at its lowest
 * since the last look for empty slabs, is worth another: grown by half
 * (at least SWEEP_MIN_FREE). A sweep reads all of the class's slabs and
 * sorts them, so that a free costs O((1 + slabs / SWEEP_MIN_FREE) log
 * slabs), amortized; a class that empties gives its slabs back at once
 * besides (ircache__node_free). Measured from the lowest point, slabs
 * emptied after the list was refilled are not left to a stale mark. */
static int worth_a_sweep(uint64_t free_now, uint64_t low)
{
    return free_now >= low + (low / 2 > SWEEP_MIN_FREE ? low / 2 : SWEEP_MIN_FREE);
}

/* Frees the slabs of class c whose every slot is free, and takes their
 * slots off the free list. Without memory for the tallies it only puts
 * the next look off. */
static IRCACHE__NOINLINE void sweep_class(ircache__node_store *s, size_t c)
{
    size_t count = 0;
    for (ircache__slab *slab = s->slabs[c]; slab != NULL; slab = slab->next)
        count++;
    slab_tally *t = ircache__malloc(count * sizeof *t);
    s->sweep_low[c] = s->free_count[c]; /* with no tallies, only the next look is put off */
    if (t == NULL)
        return;
    count = 0;
    for (ircache__slab *slab = s->slabs[c]; slab != NULL; slab = slab->next)
        t[count++] = (slab_tally){slab, 0};
    qsort(t, count, sizeof *t, by_address);
    for (ircache__node *n = s->free_slots[c]; n != NULL; n = n->parent)
        tally_of(t, count, n)->free++;
    ircache__node **link = &s->free_slots[c];
    for (ircache__node *n = *link; n != NULL; n = n->parent) {
        if (!all_free(tally_of(t, count, n))) {
            *link = n;
            link = &n->parent;
        } else {
            s->free_count[c]--;
        }
    }
    *link = NULL;
    for (size_t i = 0; i < count; i++) {
        if (!all_free(&t[i]))
            continue;
        if (s->carving[c] == t[i].slab)
            s->carving[c] = NULL;
        s->carved[c] -= t[i].slab->used;
        slab_unlink_and_free(s, &s->slabs[c], t[i].slab);
    }
    ircache__free(t);
    s->sweep_low[c] = s->free_count[c];
}

ircache__node *ircache__node_alloc(ircache__node_store *s, uint32_t key_len)
{
    size_t slot_size = sizeof(ircache__node) + key_class(key_len) * 8u;
    ircache__node *n;
    if (key_len > IRCACHE__SMALL_KEY_MAX) {
        ircache__slab *slab = slab_new(s, &s->large, slot_size, 1);
        if (slab == NULL)
            return NULL;
        slab->used = 1;
        n = slot_at(slab, 0);
    } else {
        size_t c = key_class(key_len);
        n = s->free_slots[c];
        if (n != NULL) {
            s->free_slots[c] = n->parent;
            uint64_t left = --s->free_count[c];
            if (left < s->sweep_low[c])
                s->sweep_low[c] = left;
        } else {
            ircache__slab *slab = s->carving[c];
            if (slab == NULL || slab->used == slab->capacity) {
                size_t capacity = slab == NULL ? SLAB_FIRST_SLOTS : slab->capacity * 2u;
                if (capacity * slot_size > SLAB_MAX_BYTES)
                    capacity = SLAB_MAX_BYTES / slot_size;
                if (capacity < SLAB_FIRST_SLOTS)
                    capacity = SLAB_FIRST_SLOTS;
                slab = slab_new(s, &s->slabs[c], slot_size, capacity);
                if (slab == NULL)
                    return NULL;
                s->carving[c] = slab;
            }
            n = slot_at(slab, slab->used++);
            s->carved[c]++;
        }
    }
    atomic_init(&n->kind, NULL);
    atomic_init(&n->hits, 0);
    n->key_len = key_len;
    return n;
}

void ircache__node_free(ircache__node_store *s, ircache__node *n)
{
    atomic_store_explicit(&n->kind, NULL, memory_order_relaxed);
    uint32_t key_len = ircache__node_key_len(n);
    if (key_len > IRCACHE__SMALL_KEY_MAX) {
        slab_unlink_and_free(s, &s->large, slab_of_large(n));
        return;
    }
    size_t c = key_class(key_len);
    n->parent = s->free_slots[c];
    s->free_slots[c] = n;
    uint64_t free_now = ++s->free_count[c];
    if (IRCACHE__UNLIKELY(free_now == s->carved[c] ? free_now >= EMPTY_CLASS_MIN
                                                   : worth_a_sweep(free_now, s->sweep_low[c])))
        sweep_class(s, c);
}

void ircache__node_free_later(ircache__node_store *s, ircache__node *n)
{
    atomic_store_explicit(&n->kind, NULL, memory_order_relaxed);
    n->parent = s->unlinked;
    s->unlinked = n;
}

void ircache__node_free_unlinked(ircache__node_store *s)
{
    ircache__node *n = s->unlinked;
    s->unlinked = NULL;
    while (n != NULL) {
        ircache__node *next = n->parent;
        ircache__node_free(s, n);
        n = next;
    }
}

static void visit_list(ircache__slab *slab, void (*visit)(ircache__node *n, void *ctx), void *ctx)
{
    for (; slab != NULL; slab = slab->next) {
        for (size_t i = 0; i < slab->used; i++) {
            ircache__node *n = slot_at(slab, i);
            if (atomic_load_explicit(&n->kind, memory_order_relaxed) != NULL)
                visit(n, ctx);
        }
    }
}

static void free_list(ircache__slab *slab)
{
    while (slab != NULL) {
        ircache__slab *next = slab->next;
        ircache__free(slab);
        slab = next;
    }
}

void ircache__node_store_visit(const ircache__node_store *s,
                               void (*visit)(ircache__node *n, void *ctx), void *ctx)
{
    for (size_t c = 0; c < IRCACHE__NODE_CLASSES; c++)
        visit_list(s->slabs[c], visit, ctx);
    visit_list(s->large, visit, ctx);
}

void ircache__node_store_release(ircache__node_store *s)
{
    for (size_t c = 0; c < IRCACHE__NODE_CLASSES; c++)
        free_list(s->slabs[c]);
    free_list(s->large);
    memset(s, 0, sizeof *s);
}
