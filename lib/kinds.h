/* kinds.h - interned op labels and (label, owner) pairs.
 *
 * A node points at one kind instead of holding its label and owner, which
 * keeps nodes small; labels are few (one per op type) and live until
 * the cache is freed, which also makes them the home of per-op counters. */
#ifndef IRCACHE_KINDS_H
#define IRCACHE_KINDS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ircache.h"

typedef struct ircache__op {
    char *label;
    uint64_t hash;
    size_t index;                      /* position in first-seen order */
    uint64_t inserts;                  /* under the cache lock */
    _Atomic uint64_t departed_reuses;  /* hits of nodes no longer held; written under the lock */
} ircache__op;

/* Adds the hits of a node no longer held to its op's count. Every writer
 * holds the cache lock: a plain add, not a locked one. */
static inline void ircache__op_add_departed(ircache__op *op, uint64_t hits)
{
    atomic_store_explicit(&op->departed_reuses,
                          atomic_load_explicit(&op->departed_reuses, memory_order_relaxed) + hits,
                          memory_order_relaxed);
}

typedef struct ircache__kind {
    const ircache_owner *owner;
    ircache__op *op;
    uint64_t hash;
} ircache__kind;

/* A growable array of pointers, and an open-addressing index over it. */
typedef struct ircache__ptr_vec {
    void **items;
    size_t count, capacity;
} ircache__ptr_vec;

typedef struct ircache__ptr_index {
    void **slots; /* NULL = empty; size is a power of two, at most half full */
    size_t size;
} ircache__ptr_index;

typedef struct ircache__kinds {
    ircache__ptr_vec ops;          /* ircache__op *, in first-seen order */
    ircache__ptr_index op_index;   /* by label */
    ircache__ptr_vec kinds;        /* ircache__kind * */
    ircache__ptr_index kind_index; /* by (op, owner) */
    const ircache__kind *last;     /* runtimes insert the same few kinds in a row */
} ircache__kinds;

static inline ircache__op *ircache__kinds_op(const ircache__kinds *k, size_t i)
{
    return k->ops.items[i];
}

/* Interning in two steps, so that a caller whose later steps fail can give
 * up with nothing changed: prepare does every allocation, commit cannot
 * fail. */
typedef struct ircache__kind_ticket {
    const ircache__kind *found; /* the kind exists already: nothing to commit */
    ircache__op *new_op;        /* allocated, not yet in the set */
    ircache__kind *new_kind;    /* allocated, not yet in the set */
} ircache__kind_ticket;

/* Finds or prepares the kind for (label, owner); label NULL is the empty
 * label. Returns 0, or -1 when out of memory (nothing to abandon then). */
int ircache__kind_prepare(ircache__kinds *k, const char *label, const ircache_owner *owner,
                          ircache__kind_ticket *t);

/* The kind, entered into the sets if it was new. */
const ircache__kind *ircache__kind_commit(ircache__kinds *k, ircache__kind_ticket *t);

/* Gives a prepared kind up. */
void ircache__kind_abandon(ircache__kind_ticket *t);

/* Frees every op and kind. */
void ircache__kinds_release(ircache__kinds *k);

#endif
