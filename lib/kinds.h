/* kinds.h - interned op labels and (label, owner) pairs.
 *
 * A node points at one kind instead of holding its label and owner, which
 * keeps nodes at 64 bytes; labels are few (one per op type) and live until
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
    _Atomic uint64_t departed_reuses;  /* hits of nodes no longer held */
} ircache__op;

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
    uint64_t bytes;
} ircache__kinds;

static inline ircache__op *ircache__kinds_op(const ircache__kinds *k, size_t i)
{
    return k->ops.items[i];
}

/* Returns the kind for (label, owner), creating it if needed; label NULL is
 * the empty label. NULL when out of memory (nothing changed then). */
const ircache__kind *ircache__kind_intern(ircache__kinds *k, const char *label,
                                          const ircache_owner *owner);

/* Frees every op and kind. */
void ircache__kinds_release(ircache__kinds *k);

#endif
