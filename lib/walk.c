/* walk.c - iterative pre-order with most recently used successors first. */
#include "walk.h"

#include <stdlib.h>

#include "alloc.h"
#include "error.h"
#include "successors.h"

typedef struct stack {
    ircache__node **items;
    size_t count, capacity;
} stack;

static int reserve(stack *s, size_t more)
{
    if (s->count + more <= s->capacity)
        return 0;
    size_t next = s->capacity ? s->capacity : 256;
    while (next < s->count + more)
        next *= 2;
    ircache__node **grown = ircache__malloc(next * sizeof *grown);
    if (grown == NULL)
        return ircache__fail(IRCACHE_ENOMEM, "no memory to walk the trie");
    for (size_t i = 0; i < s->count; i++)
        grown[i] = s->items[i];
    ircache__free(s->items);
    s->items = grown;
    s->capacity = next;
    return 0;
}

/* Stamps as they were when the children were listed: lookups may stamp a
 * node while the dump sorts, and qsort needs a comparison that holds still. */
typedef struct ordered {
    uint64_t stamp, id;
    ircache__node *node;
} ordered;

/* Least recently used first, so that the most recent ends on top of the
 * stack and is visited first. Ties (threads whose clocks met) go by id. */
static int older_first(const void *a, const void *b)
{
    const ordered *x = a, *y = b;
    if (x->stamp != y->stamp)
        return x->stamp < y->stamp ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Puts the k nodes at items[0..k) in order, oldest first. */
static int sort_children(ircache__node **items, uint32_t k, ordered **scratch, size_t *scratch_size)
{
    if (k > *scratch_size) {
        ordered *grown = ircache__malloc((size_t)k * sizeof *grown);
        if (grown == NULL)
            return ircache__fail(IRCACHE_ENOMEM, "no memory to order %u successors", k);
        ircache__free(*scratch);
        *scratch = grown;
        *scratch_size = k;
    }
    ordered *o = *scratch;
    for (uint32_t i = 0; i < k; i++)
        o[i] = (ordered){atomic_load_explicit(&items[i]->stamp, memory_order_relaxed),
                         ircache__node_id(items[i]), items[i]};
    qsort(o, k, sizeof *o, older_first);
    for (uint32_t i = 0; i < k; i++)
        items[i] = o[i].node;
    return 0;
}

int ircache__walk(ircache *c, int (*visit)(const ircache__node *n, void *ctx), void *ctx)
{
    stack s = {NULL, 0, 0};
    ordered *scratch = NULL;
    size_t scratch_size = 0;
    int rc = reserve(&s, 1);
    if (rc != 0)
        return rc;
    s.items[s.count++] = &c->root;
    while (s.count > 0) {
        ircache__node *n = s.items[--s.count];
        rc = visit(n, ctx);
        if (rc != 0)
            break;
        uint32_t k = ircache__succ_count(n);
        if (k == 0)
            continue;
        rc = reserve(&s, k);
        if (rc != 0)
            break;
        ircache__succ_list(n, s.items + s.count);
        if (k > 1 && (rc = sort_children(s.items + s.count, k, &scratch, &scratch_size)) != 0)
            break;
        s.count += k;
    }
    ircache__free(scratch);
    ircache__free(s.items);
    return rc;
}
