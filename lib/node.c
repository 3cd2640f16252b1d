/* node.c - slab storage for nodes. */
#include "node.h"

#include "alloc.h"

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

static ircache__slab *slab_new(ircache__node_store *s, size_t slot_size, size_t capacity)
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
    slab->next = s->slabs;
    if (s->slabs != NULL)
        s->slabs->prev = slab;
    s->slabs = slab;
    s->bytes += slab->bytes;
    return slab;
}

static void slab_unlink_and_free(ircache__node_store *s, ircache__slab *slab)
{
    if (slab->prev != NULL)
        slab->prev->next = slab->next;
    else
        s->slabs = slab->next;
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

ircache__node *ircache__node_alloc(ircache__node_store *s, uint32_t key_len)
{
    size_t slot_size = sizeof(ircache__node) + key_class(key_len) * 8u;
    ircache__node *n;
    if (key_len > IRCACHE__SMALL_KEY_MAX) {
        ircache__slab *slab = slab_new(s, slot_size, 1);
        if (slab == NULL)
            return NULL;
        slab->used = 1;
        n = slot_at(slab, 0);
    } else {
        size_t c = key_class(key_len);
        n = s->free_slots[c];
        if (n != NULL) {
            s->free_slots[c] = n->parent;
        } else {
            ircache__slab *slab = s->carving[c];
            if (slab == NULL || slab->used == slab->capacity) {
                size_t capacity = slab == NULL ? SLAB_FIRST_SLOTS : slab->capacity * 2u;
                if (capacity * slot_size > SLAB_MAX_BYTES)
                    capacity = SLAB_MAX_BYTES / slot_size;
                if (capacity < SLAB_FIRST_SLOTS)
                    capacity = SLAB_FIRST_SLOTS;
                slab = slab_new(s, slot_size, capacity);
                if (slab == NULL)
                    return NULL;
                s->carving[c] = slab;
            }
            n = slot_at(slab, slab->used++);
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
        slab_unlink_and_free(s, slab_of_large(n));
        return;
    }
    size_t c = key_class(key_len);
    n->parent = s->free_slots[c];
    s->free_slots[c] = n;
}

void ircache__node_store_visit(const ircache__node_store *s,
                               void (*visit)(ircache__node *n, void *ctx), void *ctx)
{
    for (ircache__slab *slab = s->slabs; slab != NULL; slab = slab->next) {
        for (size_t i = 0; i < slab->used; i++) {
            ircache__node *n = slot_at(slab, i);
            if (atomic_load_explicit(&n->kind, memory_order_relaxed) != NULL)
                visit(n, ctx);
        }
    }
}

void ircache__node_store_release(ircache__node_store *s)
{
    ircache__slab *slab = s->slabs;
    while (slab != NULL) {
        ircache__slab *next = slab->next;
        ircache__free(slab);
        slab = next;
    }
    memset(s, 0, sizeof *s);
}
