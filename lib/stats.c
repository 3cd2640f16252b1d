/* stats.c - counters are kept where they are cheapest to write (lookup
 * counts in each thread's position, per-node hits in the node) and added up
 * here, under the lock, when somebody asks. */
#include "stats.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "kinds.h"
#include "node.h"
#include "position.h"
#include "settle.h"
#include "trie.h"

uint64_t ircache__bytes(const ircache *c)
{
    return c->store.bytes + c->table_bytes + c->retired_bytes +
           (uint64_t)c->lru_capacity * 2u * sizeof(ircache__lru_entry);
}

void ircache__stats(ircache *c, ircache_stats *out)
{
    ircache__lock(c);
    uint64_t hits = c->departed_hits, misses = c->departed_misses;
    for (const ircache__position *p = c->positions; p != NULL; p = p->cache_next) {
        hits += atomic_load_explicit(&p->hits, memory_order_relaxed);
        misses += atomic_load_explicit(&p->misses, memory_order_relaxed);
    }
    out->nodes = c->nodes;
    out->bytes = ircache__bytes(c);
    out->hits = hits;
    out->misses = misses;
    out->inserts = c->inserts;
    out->forks = c->forks;
    out->evictions = c->evictions;
    out->clears = c->clears;
    out->max_nodes = atomic_load_explicit(&c->max_nodes, memory_order_relaxed);
    ircache__unlock(c);
}

struct reuse_sum {
    uint64_t *reused; /* indexed like the cache's ops */
};

static void add_reuse(ircache__node *n, void *ctx)
{
    struct reuse_sum *sum = ctx;
    if (ircache__node_flags(n, memory_order_relaxed) & IRCACHE__NODE_DEAD)
        return; /* its hits went to the op when it was unlinked */
    const ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    sum->reused[kind->op->index] += ircache__node_hits(n);
}

int64_t ircache__op_stats(ircache *c, ircache_op_stats *out, size_t capacity)
{
    ircache__position *self = capacity > 0 ? ircache__position_find(c) : NULL;
    ircache__lock(c);
    size_t count = c->kinds.ops.count;
    size_t filled = count < capacity ? count : capacity;
    if (filled > 0) {
        ircache__settle_for_reading(c, self);
        uint64_t *reused = ircache__calloc(count, sizeof *reused);
        if (reused == NULL) {
            ircache__unlock(c);
            return ircache__fail(IRCACHE_ENOMEM, "no memory to count reuse of %zu labels", count);
        }
        struct reuse_sum sum = {reused};
        ircache__node_store_visit(&c->store, add_reuse, &sum);
        ircache__trie_visit_clearings(c, add_reuse, &sum);
        for (size_t i = 0; i < filled; i++) {
            const ircache__op *op = ircache__kinds_op(&c->kinds, i);
            out[i].op = op->label;
            out[i].inserts = op->inserts;
            out[i].reused = reused[i] + atomic_load_explicit(&op->departed_reuses, memory_order_relaxed);
        }
        ircache__free(reused);
    }
    ircache__unlock(c);
    return (int64_t)count;
}
