/* kinds.c - two small open-addressing sets: labels, then (label, owner). */
#include "kinds.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"

static int vec_reserve_one(ircache__ptr_vec *v)
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
    v->items = grown;
    v->capacity = next;
    return 0;
}

/* Where an item's probe starts: the index bits of its hash (hash.h). */
static size_t index_start(const ircache__ptr_index *x, uint64_t hash)
{
    unsigned shift = 64;
    for (size_t size = x->size; size > 1; size >>= 1)
        shift--;
    return ircache__hash_index(hash, shift);
}

static void index_place(ircache__ptr_index *x, void *item, uint64_t hash)
{
    size_t j = index_start(x, hash);
    while (x->slots[j] != NULL)
        j = (j + 1) & (x->size - 1);
    x->slots[j] = item;
}

/* Makes room for one more item, rebuilding the index from all items. */
static int index_reserve_one(ircache__ptr_index *x, const ircache__ptr_vec *all,
                             uint64_t (*hash_of)(const void *item))
{
    if ((all->count + 1) * 2 <= x->size)
        return 0;
    size_t next = x->size ? x->size * 2 : 16;
    void **fresh = ircache__calloc(next, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    ircache__free(x->slots);
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

static ircache__op *find_op(const ircache__kinds *k, const char *label, uint64_t h)
{
    for (size_t j = k->op_index.size ? index_start(&k->op_index, h) : 0, n = k->op_index.size; n != 0; j++) {
        ircache__op *op = k->op_index.slots[j & (n - 1)];
        if (op == NULL)
            break;
        if (op->hash == h && strcmp(op->label, label) == 0)
            return op;
    }
    return NULL;
}

static uint64_t kind_hash(const ircache__op *op, const ircache_owner *owner)
{
    return ircache__mix((uint64_t)(uintptr_t)op ^ IRCACHE__HASH_K1, (uint64_t)(uintptr_t)owner ^ IRCACHE__HASH_K2);
}

static ircache__kind *find_kind(const ircache__kinds *k, const ircache__op *op, const ircache_owner *owner)
{
    uint64_t h = kind_hash(op, owner);
    for (size_t j = k->kind_index.size ? index_start(&k->kind_index, h) : 0, n = k->kind_index.size; n != 0; j++) {
        ircache__kind *kind = k->kind_index.slots[j & (n - 1)];
        if (kind == NULL)
            break;
        if (kind->op == op && kind->owner == owner)
            return kind;
    }
    return NULL;
}

int ircache__kind_prepare(ircache__kinds *k, const char *label, const ircache_owner *owner,
                          ircache__kind_ticket *t)
{
    *t = (ircache__kind_ticket){NULL, NULL, NULL};
    if (label == NULL)
        label = "";
    if (k->last != NULL && k->last->owner == owner && strcmp(k->last->op->label, label) == 0) {
        t->found = k->last;
        return 0;
    }
    size_t len = strlen(label);
    uint64_t h = ircache__hash(label, len, IRCACHE__HASH_K1, IRCACHE__HASH_K2, 0);
    ircache__op *op = find_op(k, label, h);
    if (op != NULL && (t->found = find_kind(k, op, owner)) != NULL)
        return 0;
    /* Room in the sets first (growing them changes nothing visible). */
    if ((op == NULL && (index_reserve_one(&k->op_index, &k->ops, op_hash_of) != 0 ||
                        vec_reserve_one(&k->ops) != 0)) ||
        index_reserve_one(&k->kind_index, &k->kinds, kind_hash_of) != 0 ||
        vec_reserve_one(&k->kinds) != 0)
        return -1;
    if (op == NULL) {
        op = t->new_op = ircache__malloc(sizeof *op + len + 1);
        if (op == NULL)
            return -1;
        op->label = (char *)(op + 1);
        memcpy(op->label, label, len + 1);
        op->hash = h;
        op->inserts = 0;
        atomic_init(&op->departed_reuses, 0);
    }
    t->new_kind = ircache__malloc(sizeof *t->new_kind);
    if (t->new_kind == NULL) {
        ircache__kind_abandon(t);
        return -1;
    }
    t->new_kind->owner = owner;
    t->new_kind->op = op;
    t->new_kind->hash = kind_hash(op, owner);
    return 0;
}

const ircache__kind *ircache__kind_commit(ircache__kinds *k, ircache__kind_ticket *t)
{
    if (t->found != NULL)
        return k->last = t->found;
    if (t->new_op != NULL) {
        ircache__op *op = t->new_op;
        op->index = k->ops.count;
        index_place(&k->op_index, op, op->hash);
        k->ops.items[k->ops.count++] = op;
    }
    ircache__kind *kind = t->new_kind;
    index_place(&k->kind_index, kind, kind->hash);
    k->kinds.items[k->kinds.count++] = kind;
    *t = (ircache__kind_ticket){kind, NULL, NULL};
    return k->last = kind;
}

void ircache__kind_abandon(ircache__kind_ticket *t)
{
    ircache__free(t->new_kind);
    ircache__free(t->new_op);
    *t = (ircache__kind_ticket){NULL, NULL, NULL};
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
