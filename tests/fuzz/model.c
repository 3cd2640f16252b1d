/* model.c - the reference model of a cache (model.h): linear scans over
 * one array of nodes, recency as per-thread clocks and a shared one. */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOT 0

/* Bytes given to insert | op stats name | in a DOT dump | in a JSON dump. */
const model_label model_labels[] = {
    {"aten::add", "aten::add", "aten::add", "aten::add"},
    {"aten::mm", "aten::mm", "aten::mm", "aten::mm"},
    {NULL, "", "", ""},
    {"", "", "", ""},
    {"q\"uo\\te", "q\"uo\\te", "q\\\"uo\\\\te", "q\\\"uo\\\\te"},
    /* newline, tab (U+2409 in DOT) and 0x01 (U+2401 in DOT) */
    {"line\nbreak\ttab\x01", "line\nbreak\ttab\x01", "line\\nbreak\xe2\x90\x89tab\xe2\x90\x81",
     "line\\nbreak\\ttab\\u0001"},
    /* 0xff, then 0xc3 cut short by '(': one U+FFFD each */
    {"bad\xff\xc3(utf8", "bad\xff\xc3(utf8", "bad\xef\xbf\xbd\xef\xbf\xbd(utf8",
     "bad\xef\xbf\xbd\xef\xbf\xbd(utf8"},
    /* valid two-byte UTF-8, then DEL (U+2421 in DOT) */
    {"caf\xc3\xa9 \x7f", "caf\xc3\xa9 \x7f", "caf\xc3\xa9 \xe2\x90\xa1", "caf\xc3\xa9 \\u007f"},
    /* a three-byte sequence cut short by the end: one U+FFFD */
    {"cut\xe2\x90", "cut\xe2\x90", "cut\xef\xbf\xbd", "cut\xef\xbf\xbd"},
};
const size_t model_label_count = sizeof model_labels / sizeof model_labels[0];

static void *grow(void *items, size_t *capacity, size_t count, size_t size)
{
    if (count < *capacity)
        return items;
    size_t next = *capacity ? *capacity * 2 : 16;
    void *grown = realloc(items, next * size);
    if (grown == NULL) {
        perror("model: realloc");
        abort();
    }
    *capacity = next;
    return grown;
}

static void reset_nodes(model *m)
{
    for (size_t i = 0; i < m->node_count; i++)
        free(m->nodes[i].key);
    m->node_count = 1;
    m->nodes[ROOT] = (model_node){.parent = ROOT, .alive = 1};
    for (int t = 0; t < MODEL_THREADS; t++)
        m->position[t] = ROOT;
}

void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->nodes = grow(NULL, &m->node_capacity, 0, sizeof *m->nodes);
    reset_nodes(m);
    m->enabled = 1;
}

void model_destroy(model *m)
{
    for (size_t i = 0; i < m->node_count; i++)
        free(m->nodes[i].key);
    free(m->nodes);
    free(m->ops);
    free(m->dropped);
    memset(m, 0, sizeof *m);
}

static void begin_call(model *m)
{
    m->dropped_count = 0;
}

static void drop_payload(model *m, void *payload)
{
    m->dropped = grow(m->dropped, &m->dropped_capacity, m->dropped_count, sizeof *m->dropped);
    m->dropped[m->dropped_count++] = payload;
}

/* The live successor of parent whose key is key[0..key_len), or 0 (the
 * root is nobody's successor). */
static size_t find_successor(const model *m, size_t parent, const void *key, size_t key_len)
{
    for (size_t i = 1; i < m->node_count; i++) {
        const model_node *n = &m->nodes[i];
        if (n->alive && n->parent == parent && n->key_len == key_len &&
            (key_len == 0 || memcmp(n->key, key, key_len) == 0))
            return i;
    }
    return ROOT;
}

static model_op *op_named(model *m, size_t label)
{
    for (size_t i = 0; i < m->op_count; i++)
        if (strcmp(model_labels[m->ops[i].label].name, model_labels[label].name) == 0)
            return &m->ops[i];
    m->ops = grow(m->ops, &m->op_capacity, m->op_count, sizeof *m->ops);
    m->ops[m->op_count] = (model_op){.label = label};
    return &m->ops[m->op_count++];
}

/* ---- recency: the rule of model.h, one line each ---------------------- */

static uint64_t later(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Thread t hits or inserts node i. */
static void use(model *m, int t, size_t i)
{
    uint64_t s = later(later(m->thread_clock[t], m->clock), m->nodes[i].stamp) + 1;
    m->nodes[i].stamp = s;
    m->thread_clock[t] = s;
}

/* The shared clock catches up with thread t's uses. */
static void publish(model *m, int t)
{
    m->clock = later(m->clock, m->thread_clock[t]);
}

static void publish_all(model *m)
{
    for (int t = 0; t < MODEL_THREADS; t++)
        publish(m, t);
}

static int threads_with_positions(const model *m)
{
    int n = 0;
    for (int t = 0; t < MODEL_THREADS; t++)
        n += m->has_position[t];
    return n;
}

/* Thread t's first lookup or insert since it started. */
static void arrive(model *m, int t)
{
    if (m->has_position[t])
        return;
    m->has_position[t] = 1;
    if (threads_with_positions(m) == 2)
        publish_all(m); /* the one that was alone published nothing */
}

/* ---- eviction ------------------------------------------------------------- */

static int pinned(const model *m, size_t node)
{
    for (int t = 0; t < MODEL_THREADS; t++)
        if (m->position[t] == node)
            return 1;
    return 0;
}

static int evictable(const model *m, size_t i)
{
    const model_node *n = &m->nodes[i];
    return n->alive && n->children == 0 && !pinned(m, i);
}

static void unlink_leaf(model *m, size_t i)
{
    model_node *n = &m->nodes[i];
    n->alive = 0;
    m->nodes[n->parent].children--;
    m->stats.nodes--;
    m->stats.evictions++;
    drop_payload(m, n->payload);
}

/* Undoes unlink_leaf(m, i), the last one made. */
static void relink_leaf(model *m, size_t i)
{
    model_node *n = &m->nodes[i];
    n->alive = 1;
    m->nodes[n->parent].children++;
    m->stats.nodes++;
    m->stats.evictions--;
    m->dropped_count--;
}

/* Orders of equal-stamp leaves an eviction may try before it gives up. */
#define EVICT_TRIES 100000

/* Past the bound: an unpinned leaf of the lowest stamp goes, one at a time
 * (its parent may be the next leaf), until under the bound or no leaf can
 * go. Leaves of equal stamp may go in either order: from the first such
 * choice on (asking), every leaf that goes must be one the library let go,
 * and each equally old leaf is tried first in turn. Returns 1 when done, 0
 * (with nothing changed) when no order gives what the library kept. Without
 * m->library_has, equal stamps go by the lower id and it always returns 1. */
static int evict_from(model *m, int asking, long *tries)
{
    if (m->stats.max_nodes == 0 || m->stats.nodes <= m->stats.max_nodes)
        return 1;
    uint64_t oldest = UINT64_MAX;
    size_t equally_old = 0;
    for (size_t i = 1; i < m->node_count; i++) {
        if (!evictable(m, i) || m->nodes[i].stamp > oldest)
            continue;
        equally_old = m->nodes[i].stamp == oldest ? equally_old + 1 : 1;
        oldest = m->nodes[i].stamp;
    }
    if (equally_old == 0)
        return 1;
    if (equally_old > 1 && m->library_has != NULL)
        asking = 1;
    for (size_t i = 1; i < m->node_count; i++) {
        if (!evictable(m, i) || m->nodes[i].stamp != oldest)
            continue;
        if (asking && m->library_has(m->library_ctx, m->nodes[i].id))
            continue;
        if (--*tries < 0)
            return 0;
        unlink_leaf(m, i);
        if (evict_from(m, asking, tries))
            return 1;
        relink_leaf(m, i);
    }
    return 0;
}

static void evict(model *m)
{
    long tries = EVICT_TRIES;
    if (evict_from(m, 0, &tries))
        return;
    /* The library kept what no order of least recently used leaves keeps:
     * the model's own order, and the checks show where they part. */
    int (*has)(void *, uint64_t) = m->library_has;
    m->library_has = NULL;
    tries = EVICT_TRIES;
    evict_from(m, 0, &tries);
    m->library_has = has;
}

void *model_lookup(model *m, int thread, const void *key, size_t key_len, int want_owner)
{
    begin_call(m);
    arrive(m, thread);
    if (!m->enabled)
        return NULL;
    size_t i = find_successor(m, m->position[thread], key, key_len);
    if (i == ROOT || (want_owner >= 0 && m->nodes[i].owner != want_owner)) {
        m->stats.misses++;
        return NULL;
    }
    model_node *n = &m->nodes[i];
    m->stats.hits++;
    n->hits++;
    op_named(m, n->label)->reused++;
    use(m, thread, i);
    m->position[thread] = i;
    return n->payload;
}

int model_insert(model *m, int thread, const void *key, size_t key_len, size_t label, int owner,
                 void *payload)
{
    begin_call(m);
    arrive(m, thread);
    if (!m->enabled)
        return IRCACHE_EDISABLED;
    publish_all(m); /* every thread's uses come before an insert */
    size_t parent = m->position[thread];
    size_t i = find_successor(m, parent, key, key_len);
    if (i != ROOT) {
        /* Replacement: same node, new payload, label and owner, hits anew. */
        drop_payload(m, m->nodes[i].payload);
    } else {
        m->nodes = grow(m->nodes, &m->node_capacity, m->node_count, sizeof *m->nodes);
        i = m->node_count++;
        model_node *n = &m->nodes[i];
        *n = (model_node){.id = ++m->next_id, .parent = parent, .key_len = key_len, .alive = 1};
        n->key = malloc(key_len ? key_len : 1);
        if (n->key == NULL) {
            perror("model: malloc");
            abort();
        }
        if (key_len)
            memcpy(n->key, key, key_len);
        if (m->nodes[parent].children > 0)
            m->stats.forks++;
        m->nodes[parent].children++;
        m->stats.nodes++;
    }
    model_node *n = &m->nodes[i];
    n->payload = payload;
    n->label = label;
    n->owner = owner;
    n->hits = 0;
    use(m, thread, i);
    publish(m, thread);
    m->position[thread] = i;
    m->stats.inserts++;
    op_named(m, label)->inserts++;
    evict(m);
    return 0;
}

void model_mark_step(model *m, int thread)
{
    begin_call(m);
    m->position[thread] = ROOT;
    if (threads_with_positions(m) >= 2)
        publish(m, thread);
}

static void drop_all(model *m)
{
    for (size_t i = 1; i < m->node_count; i++)
        if (m->nodes[i].alive)
            drop_payload(m, m->nodes[i].payload);
    reset_nodes(m);
    m->stats.nodes = 0;
}

void model_clear(model *m)
{
    begin_call(m);
    publish_all(m); /* every thread's uses come before a clear */
    drop_all(m);
    m->stats.clears++;
}

void model_set_max_nodes(model *m, uint64_t max_nodes)
{
    begin_call(m);
    m->stats.max_nodes = max_nodes;
    evict(m);
}

void model_set_enabled(model *m, int enabled)
{
    begin_call(m);
    m->enabled = enabled != 0;
}

void model_thread_exit(model *m, int thread)
{
    begin_call(m);
    m->position[thread] = ROOT;
    m->has_position[thread] = 0;
    publish(m, thread);
    /* The next thread of this number starts at the shared clock. (It is
     * created later, at a clock as high or higher, but a thread's clock
     * counts only where it is above the shared one.) */
    m->thread_clock[thread] = m->clock;
}

void model_free_all(model *m)
{
    begin_call(m);
    drop_all(m);
}

/* ---- dumps ------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t len, capacity;
} text;

static void put(text *t, const char *s, size_t n)
{
    while (t->len + n + 1 > t->capacity) {
        t->capacity = t->capacity ? t->capacity * 2 : 1024;
        t->s = realloc(t->s, t->capacity);
        if (t->s == NULL) {
            perror("model: realloc");
            abort();
        }
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void putu(text *t, uint64_t v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, v);
    puts_(t, digits);
}

static const model *sorting; /* for by_recent_use: qsort takes no context */

/* Highest stamp first; equal stamps (two threads' uses that nothing
 * ordered) by id, higher first. */
static int by_recent_use(const void *a, const void *b)
{
    const model_node *x = &sorting->nodes[*(const size_t *)a];
    const model_node *y = &sorting->nodes[*(const size_t *)b];
    if (x->stamp != y->stamp)
        return x->stamp > y->stamp ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id;
}

/* Pre-order from node, successors most recently used first. */
static void render(const model *m, size_t node, int json, text *t)
{
    if (node != ROOT) {
        const model_node *n = &m->nodes[node];
        const model_label *l = &model_labels[n->label];
        if (json) {
            puts_(t, ",\n{\"id\": ");
            putu(t, n->id);
            puts_(t, ", \"parent\": ");
            putu(t, m->nodes[n->parent].id);
            puts_(t, ", \"op\": \"");
            puts_(t, l->json);
            puts_(t, "\", \"hits\": ");
            putu(t, n->hits);
            puts_(t, ", \"key\": \"");
            for (size_t i = 0; i < n->key_len; i++) {
                char hex[3];
                snprintf(hex, sizeof hex, "%02x", n->key[i]);
                put(t, hex, 2);
            }
            puts_(t, "\"}");
        } else {
            putu(t, m->nodes[n->parent].id);
            puts_(t, " -> ");
            putu(t, n->id);
            puts_(t, "\n");
            putu(t, n->id);
            puts_(t, "[label=\"");
            puts_(t, l->dot);
            puts_(t, ", ");
            putu(t, n->hits);
            puts_(t, " hits\"]\n");
        }
    }
    size_t count = 0;
    for (size_t i = 1; i < m->node_count; i++)
        if (m->nodes[i].alive && m->nodes[i].parent == node)
            count++;
    if (count == 0)
        return;
    size_t *order = malloc(count * sizeof *order);
    if (order == NULL) {
        perror("model: malloc");
        abort();
    }
    size_t k = 0;
    for (size_t i = 1; i < m->node_count; i++)
        if (m->nodes[i].alive && m->nodes[i].parent == node)
            order[k++] = i;
    sorting = m;
    qsort(order, count, sizeof *order, by_recent_use);
    for (size_t i = 0; i < count; i++)
        render(m, order[i], json, t);
    free(order);
}

char *model_dot(const model *m)
{
    text t = {NULL, 0, 0};
    puts_(&t, "digraph G {\n");
    render(m, ROOT, 0, &t);
    puts_(&t, "}\n");
    return t.s;
}

char *model_json(const model *m)
{
    text t = {NULL, 0, 0};
    puts_(&t, "{\"format\": \"ircache-trie\", \"version\": 1, \"nodes\": [\n");
    puts_(&t, "{\"id\": 0, \"parent\": null, \"op\": null, \"hits\": 0, \"key\": \"\"}");
    render(m, ROOT, 1, &t);
    puts_(&t, "\n]}\n");
    return t.s;
}
