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

/* Least recently used first, so that the most recent ends on top of the
 * stack and is visited first. Ties (threads whose clocks met) go by id. */
static int older_first(const void *a, const void *b)
{
    const ircache__node *x = *(const ircache__node *const *)a;
    const ircache__node *y = *(const ircache__node *const *)b;
    uint64_t sx = atomic_load_explicit(&x->stamp, memory_order_relaxed);
    uint64_t sy = atomic_load_explicit(&y->stamp, memory_order_relaxed);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    uint64_t ix = ircache__node_id(x), iy = ircache__node_id(y);
    return ix < iy ? -1 : ix > iy;
}

int ircache__walk(ircache *c, int (*visit)(const ircache__node *n, void *ctx), void *ctx)
{
    stack s = {NULL, 0, 0};
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
        if (k > 1)
            qsort(s.items + s.count, k, sizeof *s.items, older_first);
        s.count += k;
    }
    ircache__free(s.items);
    return rc;
}
