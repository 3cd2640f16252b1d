/* kinds.c - two small open-addressing sets: labels, then (label, owner). */
#include "kinds.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"

static int vec_reserve_one(ircache__ptr_vec *v, uint64_t *bytes)
{
    if (v->count < v->capacity)
        return 0;
    size_t next = v->capacity ? v->capacity * 2 : 8;
    void **grown = ircache__malloc(next * sizeof *grown);
    if (grown == NULL)
        return -1;
    if (v->count)
        memcpy(grown, v->items, v->count * sizeof *grown);
    ircache__free(v->items);
    *bytes += (next - v->capacity) * sizeof *grown;
    v->items = grown;
    v->capacity = next;
    return 0;
}

static void index_place(ircache__ptr_index *x, void *item, uint64_t hash)
{
    size_t j = (size_t)hash & (x->size - 1);
    while (x->slots[j] != NULL)
        j = (j + 1) & (x->size - 1);
    x->slots[j] = item;
}

/* Makes room for one more item, rebuilding the index from all items. */
static int index_reserve_one(ircache__ptr_index *x, const ircache__ptr_vec *all,
                             uint64_t (*hash_of)(const void *item), uint64_t *bytes)
{
    if ((all->count + 1) * 2 <= x->size)
        return 0;
    size_t next = x->size ? x->size * 2 : 16;
    void **fresh = ircache__calloc(next, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    ircache__free(x->slots);
    *bytes += (next - x->size) * sizeof *fresh;
    x->slots = fresh;
    x->size = next;
    for (size_t i = 0; i < all->count; i++)
        index_place(x, all->items[i], hash_of(all->items[i]));
    return 0;
}

static uint64_t op_hash_of(const void *item)
{
    return ((const ircache__op *)item)->hash;
}

static uint64_t kind_hash_of(const void *item)
{
    return ((const ircache__kind *)item)->hash;
}

static ircache__op *op_intern(ircache__kinds *k, const char *label)
{
    size_t len = strlen(label);
    uint64_t h = ircache__hash(label, len, 0);
    for (size_t j = (size_t)h, n = k->op_index.size; n != 0; j++) {
        ircache__op *op = k->op_index.slots[j & (n - 1)];
        if (op == NULL)
            break;
        if (op->hash == h && strcmp(op->label, label) == 0)
            return op;
    }
    if (index_reserve_one(&k->op_index, &k->ops, op_hash_of, &k->bytes) != 0 ||
        vec_reserve_one(&k->ops, &k->bytes) != 0)
        return NULL;
    ircache__op *op = ircache__malloc(sizeof *op + len + 1);
    if (op == NULL)
        return NULL;
    op->label = (char *)(op + 1);
    memcpy(op->label, label, len + 1);
    op->hash = h;
    op->index = k->ops.count;
    op->inserts = 0;
    atomic_init(&op->departed_reuses, 0);
    k->bytes += sizeof *op + len + 1;
    index_place(&k->op_index, op, h);
    k->ops.items[k->ops.count++] = op;
    return op;
}

const ircache__kind *ircache__kind_intern(ircache__kinds *k, const char *label,
                                          const ircache_owner *owner)
{
    if (label == NULL)
        label = "";
    if (k->last != NULL && k->last->owner == owner && strcmp(k->last->op->label, label) == 0)
        return k->last;
    ircache__op *op = op_intern(k, label);
    if (op == NULL)
        return NULL;
    uint64_t h = ircache__mix((uint64_t)(uintptr_t)op ^ IRCACHE__HASH_K1,
                              (uint64_t)(uintptr_t)owner ^ IRCACHE__HASH_K2);
    for (size_t j = (size_t)h, n = k->kind_index.size; n != 0; j++) {
        ircache__kind *kind = k->kind_index.slots[j & (n - 1)];
        if (kind == NULL)
            break;
        if (kind->op == op && kind->owner == owner)
            return k->last = kind;
    }
    if (index_reserve_one(&k->kind_index, &k->kinds, kind_hash_of, &k->bytes) != 0 ||
        vec_reserve_one(&k->kinds, &k->bytes) != 0)
        return NULL;
    ircache__kind *kind = ircache__malloc(sizeof *kind);
    if (kind == NULL)
        return NULL;
    kind->owner = owner;
    kind->op = op;
    kind->hash = h;
    k->bytes += sizeof *kind;
    index_place(&k->kind_index, kind, h);
    k->kinds.items[k->kinds.count++] = kind;
    return k->last = kind;
}

void ircache__kinds_release(ircache__kinds *k)
{
    for (size_t i = 0; i < k->kinds.count; i++)
        ircache__free(k->kinds.items[i]);
    for (size_t i = 0; i < k->ops.count; i++)
        ircache__free(k->ops.items[i]);
    ircache__free(k->kinds.items);
    ircache__free(k->kind_index.slots);
    ircache__free(k->ops.items);
    ircache__free(k->op_index.slots);
    memset(k, 0, sizeof *k);
}
