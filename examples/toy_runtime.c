/* toy_runtime.c - the README's C example as a whole program.
 *
 * A toy lazy runtime whose IR nodes are reference counted traces the same
 * small training step a few times through the default cache, then prints
 * the statistics, dumps the trie and resets it. It exits non-zero if a node
 * leaked (and the sanitized test run catches one dropped twice), so
 * `meson test` keeps the example honest.
 *
 *   toy_runtime [trie.dot]
 */
#include <ircache.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The runtime's side: an IR node with a reference count. */
typedef struct Node {
    int refs;
    char op[24];
} Node;

typedef struct OpKey {
    char op[24];
    uint32_t operands[2]; /* ids of the operand nodes */
} OpKey;

static long nodes_alive;

static Node *build_node(const OpKey *key)
{
    Node *n = malloc(sizeof *n);
    if (n == NULL)
        abort();
    n->refs = 1;
    memcpy(n->op, key->op, sizeof n->op);
    nodes_alive++;
    return n;
}

static void runtime_node_ref(Node *n)
{
    n->refs++;
}

static void runtime_node_unref(Node *n)
{
    if (--n->refs == 0) {
        free(n);
        nodes_alive--;
    }
}

/* How the cache shares nodes with the runtime (see ircache_owner). */
static void keep_node(void *payload, void *ctx)
{
    (void)ctx;
    runtime_node_ref(payload);
}

static void drop_node(void *payload, void *ctx)
{
    (void)ctx;
    runtime_node_unref(payload);
}

static const ircache_owner nodes = {keep_node, drop_node, NULL};

/* At each op: reuse the node the last steps built here, or build it. */
static Node *trace_op(const OpKey *key)
{
    ircache *c = ircache_default();
    /* Only our own nodes hit: the default cache is shared with Python and
     * other runtimes, whose payloads are not Nodes. Retained for us. */
    Node *n = ircache_lookup_owned(c, key, sizeof *key, &nodes);
    if (n == NULL) {
        n = build_node(key);
        runtime_node_ref(n); /* the cache's own reference */
        if (ircache_insert(c, key, sizeof *key, key->op, n, &nodes) != 0) {
            runtime_node_unref(n); /* not cached: the reference stays ours alone */
            fprintf(stderr, "not cached: %s\n", ircache_last_error());
        }
    }
    return n;
}

static void trace(const char *op, uint32_t a, uint32_t b)
{
    OpKey key;
    memset(&key, 0, sizeof key); /* every byte is part of the key */
    snprintf(key.op, sizeof key.op, "%s", op);
    key.operands[0] = a;
    key.operands[1] = b;
    Node *n = trace_op(&key);
    runtime_node_unref(n); /* done with it here: a real graph would hold it */
}

/* One training step: a layer, a second layer on odd steps only, then the
 * loss. The trie forks after the first layer. */
static void training_step(int step)
{
    static const char *const layer[] = {"aten::mm", "aten::add", "aten::relu"};
    for (uint32_t l = 0; l < (step % 2 ? 2u : 1u); l++)
        for (uint32_t i = 0; i < 3; i++)
            trace(layer[i], l * 3 + i, l);
    trace("aten::sum", 99, 0);
    ircache_mark_step(ircache_default());
}

int main(int argc, char **argv)
{
    const char *dot = argc > 1 ? argv[1] : "toy-runtime.dot";
    for (int step = 0; step < 6; step++)
        training_step(step);

    ircache_stats s;
    if (ircache_get_stats(ircache_default(), &s) != 0)
        return fprintf(stderr, "stats: %s\n", ircache_last_error()), 1;
    printf("libircache %s: %" PRIu64 " nodes, %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " forks\n",
           ircache_version(), s.nodes, s.hits, s.misses, s.forks);

    if (ircache_dump(dot) != 0)
        return fprintf(stderr, "dump: %s\n", ircache_last_error()), 1;
    printf("wrote %s\n", dot);

    /* The cache held one reference to each node it kept; reset gives them
     * back, and every node the runtime built is gone. */
    ircache_reset();
    if (nodes_alive != 0)
        return fprintf(stderr, "%ld nodes still alive after reset\n", nodes_alive), 1;
    return 0;
}
