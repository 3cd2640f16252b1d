/* test_evict.c - ircache_set_max_nodes: which nodes go and when (least
 * recently used leaves, never one a position stands on, children before
 * their parent), what is released and counted, the MRU order of dumps, and
 * the default cache's IRCACHE_MAX_NODES / IRCACHE_DISABLE.
 *
 * Most cases run twice: alone, and beside an idle thread that has used the
 * cache, so that the cache must assume lookups of other threads may be in
 * flight. The answers must be the same. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

/* ---- releases in the order they happened ------------------------------ */

/* Every release of these tests runs on the thread that evicts, which is the
 * main thread: a plain log is enough. */
static int release_log[8192];
static int release_log_count;

static void log_retain(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->retains, 1);
}

static void log_release(void *payload, void *ctx)
{
    (void)ctx;
    counted *p = payload;
    atomic_fetch_add(&p->releases, 1);
    if (release_log_count < (int)(sizeof release_log / sizeof release_log[0]))
        release_log[release_log_count++] = p->value;
}

static const ircache_owner logging_owner = {log_retain, log_release, NULL};

/* The log as "v v v" (values of the released payloads, in order). */
static const char *log_text(void)
{
    static char text[1024];
    size_t len = 0;
    text[0] = '\0';
    for (int i = 0; i < release_log_count && len < sizeof text - 16; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, i ? " %d" : "%d", release_log[i]);
    return text;
}

/* The log sorted, for releases of one call, which come in no set order. */
static const char *sorted_log_text(void)
{
    for (int i = 1; i < release_log_count; i++)
        for (int j = i; j > 0 && release_log[j - 1] > release_log[j]; j--) {
            int t = release_log[j];
            release_log[j] = release_log[j - 1];
            release_log[j - 1] = t;
        }
    return log_text();
}

/* Index of value v in the log, or -1. */
static int log_index(int v)
{
    for (int i = 0; i < release_log_count; i++)
        if (release_log[i] == v)
            return i;
    return -1;
}

/* Inserts at the calling thread's position. */
static void put(ircache *c, const char *key, counted *p)
{
    REQUIRE(ircache_insert(c, KEY(key), key, p, &logging_owner) == 0);
}

/* Inserts as a successor of the root. */
static void put_at_root(ircache *c, const char *key, counted *p)
{
    ircache_mark_step(c);
    put(c, key, p);
}

static char *dump_text(ircache *c)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "t.dot");
    REQUIRE(ircache_dump_dot(c, path) == 0);
    char *text = read_file(path, NULL);
    REQUIRE(text != NULL);
    free(path);
    remove_temp_dir(dir);
    return text;
}

/* ---- running a case alone and beside an idle thread -------------------- */

#define MAX_ITEMS 4096

/* A case gets a fresh cache and MAX_ITEMS payloads (values 0..), and returns
 * how many of them it inserted. After ircache_free each of those must have
 * been released exactly once, and never retained more than it was hit. */
typedef size_t (*evict_case)(ircache *c, counted *items);

static void run_case(evict_case body, int beside_idle_thread)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    counted *items = counted_array(MAX_ITEMS);
    idle_thread *idle = beside_idle_thread ? idle_start(c) : NULL;
    release_log_count = 0;
    size_t used = body(c, items);
    if (idle != NULL)
        idle_stop(idle);
    ircache_free(c);
    long bad = counted_first_not_released_once(items, used);
    CHECK_MSG(bad < 0, "payload %ld was released %d times", bad,
              bad < 0 ? 1 : atomic_load(&items[bad].releases));
    CHECK_INT(counted_total_releases(items + used, MAX_ITEMS - used), 0);
    free(items);
}

#define BOTH_WAYS(name)                          \
    static void name##_alone(void)                \
    {                                             \
        run_case(name, 0);                        \
    }                                             \
    static void name##_beside_an_idle_thread(void) \
    {                                             \
        run_case(name, 1);                        \
    }

/* ---- the cases --------------------------------------------------------- */

/* The insert that makes the cache one node too many evicts the least
 * recently used leaf before it returns, and exactly one. */
static size_t crossing_the_bound_evicts_the_lru_leaf(ircache *c, counted *items)
{
    CHECK_INT(ircache_set_max_nodes(c, 3), 0);
    CHECK_U64(stats_of(c).max_nodes, 3);
    put_at_root(c, "a", &items[0]);
    put_at_root(c, "b", &items[1]);
    put_at_root(c, "c", &items[2]);
    CHECK_U64(stats_of(c).nodes, 3);
    CHECK_U64(stats_of(c).evictions, 0);
    CHECK_STR(log_text(), "");

    put_at_root(c, "d", &items[3]);
    CHECK_STR(log_text(), "0");
    CHECK_U64(stats_of(c).nodes, 3);
    CHECK_U64(stats_of(c).evictions, 1);

    put_at_root(c, "e", &items[4]);
    CHECK_STR(log_text(), "0 1");
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 3);
    CHECK_U64(s.evictions, 2);
    CHECK_U64(s.inserts, 5);

    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), NULL);
    CHECK_PTR(ircache_lookup(c, KEY("b")), NULL);
    const char *kept[] = {"c", "d", "e"};
    for (int i = 0; i < 3; i++) {
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY(kept[i])), &items[2 + i]);
    }
    return 5;
}
BOTH_WAYS(crossing_the_bound_evicts_the_lru_leaf)

/* Lowering the bound evicts at once, oldest first, down to the bound;
 * raising it evicts nothing. */
static size_t lowering_the_bound_evicts_at_once(ircache *c, counted *items)
{
    const char *keys[] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        put_at_root(c, keys[i], &items[i]);
    ircache_mark_step(c); /* nothing is pinned by this thread */
    CHECK_U64(stats_of(c).nodes, 6);

    /* Four go in one call; the header does not order their releases. */
    CHECK_INT(ircache_set_max_nodes(c, 2), 0);
    CHECK_STR(sorted_log_text(), "0 1 2 3");
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 2);
    CHECK_U64(s.evictions, 4);
    CHECK_U64(s.max_nodes, 2);

    CHECK_INT(ircache_set_max_nodes(c, 1), 0);
    CHECK_STR(sorted_log_text(), "0 1 2 3 4");
    CHECK_INT(release_log[4], 4);
    CHECK_U64(stats_of(c).nodes, 1);

    CHECK_INT(ircache_set_max_nodes(c, 10), 0);
    CHECK_INT(release_log_count, 5);
    CHECK_U64(stats_of(c).nodes, 1);
    CHECK_U64(stats_of(c).evictions, 5);
    CHECK_PTR(ircache_lookup(c, KEY("f")), &items[5]);
    return 6;
}
BOTH_WAYS(lowering_the_bound_evicts_at_once)

/* Only leaves go: a chain is eaten from its tail (one node per call, so
 * that the order of releases is the order of evictions). */
static size_t a_chain_is_evicted_from_its_tail(ircache *c, counted *items)
{
    ircache_mark_step(c);
    put(c, "a", &items[0]);
    put(c, "b", &items[1]);
    put(c, "c", &items[2]);
    put(c, "d", &items[3]);
    ircache_mark_step(c);

    CHECK_INT(ircache_set_max_nodes(c, 3), 0);
    CHECK_STR(log_text(), "3");
    CHECK_INT(ircache_set_max_nodes(c, 2), 0);
    CHECK_STR(log_text(), "3 2");
    CHECK_INT(ircache_set_max_nodes(c, 1), 0);
    CHECK_STR(log_text(), "3 2 1");
    CHECK_U64(stats_of(c).nodes, 1);
    CHECK_U64(stats_of(c).evictions, 3);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    return 4;
}
BOTH_WAYS(a_chain_is_evicted_from_its_tail)

/* This thread's position pins the only leaf of a chain: nothing can go, and
 * the cache stays above its bound until the position moves on. */
static size_t a_pinned_only_leaf_keeps_the_cache_above_its_bound(ircache *c, counted *items)
{
    ircache_mark_step(c);
    put(c, "a", &items[0]);
    put(c, "b", &items[1]);
    put(c, "c", &items[2]);
    put(c, "d", &items[3]); /* this thread stands at d */
    CHECK_INT(ircache_set_max_nodes(c, 2), 0);
    CHECK_STR(log_text(), "");
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 4);
    CHECK_U64(s.evictions, 0);
    CHECK_U64(s.max_nodes, 2);

    /* e at the root crosses the bound again; d is free now, then c and b
     * become leaves older than e. */
    put_at_root(c, "e", &items[4]);
    CHECK_STR(sorted_log_text(), "1 2 3");
    CHECK_U64(stats_of(c).nodes, 2);
    CHECK_U64(stats_of(c).evictions, 3);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    return 5;
}
BOTH_WAYS(a_pinned_only_leaf_keeps_the_cache_above_its_bound)

/* An interior node older than every leaf still waits for its children; once
 * they are gone it is a leaf like the others, and a hit makes it young. */
static size_t an_interior_node_goes_only_after_its_children(ircache *c, counted *items)
{
    ircache_mark_step(c);
    put(c, "a", &items[0]);
    put(c, "b", &items[1]); /* under a */
    put_at_root(c, "x", &items[2]);
    CHECK_INT(ircache_set_max_nodes(c, 3), 0);
    CHECK_STR(log_text(), "");

    /* Leaves: b, x, y (y pinned by this thread). a is the oldest node but
     * has a successor. */
    put_at_root(c, "y", &items[3]);
    CHECK_STR(log_text(), "1");
    CHECK_U64(stats_of(c).nodes, 3);

    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]); /* a: a leaf, used now */
    ircache_mark_step(c);
    CHECK_INT(ircache_set_max_nodes(c, 2), 0);
    CHECK_STR(log_text(), "1 2"); /* x was used before y and before a's hit */
    CHECK_INT(ircache_set_max_nodes(c, 1), 0);
    CHECK_STR(log_text(), "1 2 3"); /* y was inserted before a's hit */
    CHECK_U64(stats_of(c).nodes, 1);
    return 4;
}
BOTH_WAYS(an_interior_node_goes_only_after_its_children)

/* A hit makes a leaf recently used: it survives an older one. */
static size_t hits_reorder_the_lru(ircache *c, counted *items)
{
    CHECK_INT(ircache_set_max_nodes(c, 3), 0);
    put_at_root(c, "a", &items[0]);
    put_at_root(c, "b", &items[1]);
    put_at_root(c, "c", &items[2]);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    put_at_root(c, "d", &items[3]);
    CHECK_STR(log_text(), "1"); /* b, not a */

    /* Uses so far: a, b, c, a (hit), d. Now c is hit and e inserted: the
     * least recently used leaf is a (its hit came before d). */
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("c")), &items[2]);
    put_at_root(c, "e", &items[4]);
    CHECK_STR(log_text(), "1 0");
    CHECK_INT(atomic_load(&items[2].retains), 1);
    CHECK_U64(stats_of(c).evictions, 2);
    return 5;
}
BOTH_WAYS(hits_reorder_the_lru)

/* 0 means unbounded, from the start and when set again; setting a bound
 * again evicts at once, in LRU order. */
static size_t zero_means_unbounded(ircache *c, counted *items)
{
    char key[16];
    CHECK_U64(stats_of(c).max_nodes, 0);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_at_root(c, key, &items[i]);
    }
    ircache_mark_step(c);
    CHECK_INT(ircache_set_max_nodes(c, 0), 0);
    CHECK_U64(stats_of(c).nodes, 300);
    CHECK_U64(stats_of(c).evictions, 0);

    CHECK_INT(ircache_set_max_nodes(c, 100), 0);
    CHECK_U64(stats_of(c).nodes, 100);
    CHECK_U64(stats_of(c).evictions, 200);
    CHECK_INT(counted_total_releases(items, 200), 200);
    CHECK_INT(counted_total_releases(items + 200, 100), 0);

    CHECK_INT(ircache_set_max_nodes(c, 0), 0);
    for (int i = 300; i < 350; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_at_root(c, key, &items[i]);
    }
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 150);
    CHECK_U64(s.evictions, 200);
    CHECK_U64(s.max_nodes, 0);
    return 350;
}
BOTH_WAYS(zero_means_unbounded)

/* A model of the contract, step by step: every node's last use (insert or
 * hit), eviction of the least recently used leaf not under this thread's
 * position while over the bound. The cache must release exactly what the
 * model evicts, after every insert, and count it. */
#define MODEL_BOUND 12
#define MODEL_STEPS 400
#define MODEL_DEPTH 5
#define MODEL_FANOUT 3

typedef struct model_node {
    int parent; /* -1: a successor of the root */
    int key;
    int children;
    int alive;
    unsigned long last_use;
} model_node;

static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static size_t evictions_follow_a_model_of_the_contract(ircache *c, counted *items)
{
    static model_node m[MAX_ITEMS];
    int count = 0, alive = 0;
    unsigned long clock = 0, evicted = 0;
    uint32_t rng = 12345;
    int mismatches = 0;
    CHECK_INT(ircache_set_max_nodes(c, MODEL_BOUND), 0);
    for (int step = 0; step < MODEL_STEPS && count < MAX_ITEMS - MODEL_DEPTH; step++) {
        ircache_mark_step(c);
        int at = -1;
        int depth = 1 + (int)(next_random(&rng) % MODEL_DEPTH);
        for (int d = 0; d < depth; d++) {
            int k = (int)(next_random(&rng) % MODEL_FANOUT);
            char key[8];
            snprintf(key, sizeof key, "k%d", k);
            int child = -1;
            for (int i = 0; i < count; i++)
                if (m[i].alive && m[i].parent == at && m[i].key == k)
                    child = i;
            void *hit = ircache_lookup(c, KEY(key));
            if (child >= 0) {
                if (hit != &items[child])
                    mismatches++;
                m[child].last_use = ++clock;
                at = child;
                continue;
            }
            if (hit != NULL)
                mismatches++;
            int n = count++;
            m[n] = (model_node){at, k, 0, 1, ++clock};
            if (at >= 0)
                m[at].children++;
            alive++;
            at = n;
            put(c, key, &items[n]);
            while (alive > MODEL_BOUND) {
                int lru = -1;
                for (int i = 0; i < count; i++)
                    if (m[i].alive && m[i].children == 0 && i != at &&
                        (lru < 0 || m[i].last_use < m[lru].last_use))
                        lru = i;
                if (lru < 0)
                    break;
                m[lru].alive = 0;
                if (m[lru].parent >= 0)
                    m[m[lru].parent].children--;
                alive--;
                evicted++;
            }
            for (int i = 0; i < count; i++)
                if (atomic_load(&items[i].releases) != !m[i].alive)
                    mismatches++;
            ircache_stats s = stats_of(c);
            if (s.nodes != (uint64_t)alive || s.evictions != evicted)
                mismatches++;
            if (mismatches > 0) {
                CHECK_MSG(0, "step %d: the cache differs from the model (nodes %" PRIu64
                          ", model %d; evictions %" PRIu64 ", model %lu)",
                          step, s.nodes, alive, s.evictions, evicted);
                return (size_t)count;
            }
        }
    }
    CHECK_MSG(evicted > 100, "the model run evicted only %lu nodes", evicted);
    return (size_t)count;
}
BOTH_WAYS(evictions_follow_a_model_of_the_contract)

/* DOT lists successors most recently used first: inserts and hits are uses. */
static size_t dot_lists_successors_most_recently_used_first(ircache *c, counted *items)
{
    ircache_mark_step(c);
    put(c, "a", &items[0]); /* id 1 */
    put(c, "x", &items[1]); /* id 2, under a */
    put_at_root(c, "b", &items[2]); /* id 3 */
    put_at_root(c, "c", &items[3]); /* id 4 */
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    put(c, "y", &items[4]); /* id 5, under a */
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &items[2]);
    ircache_mark_step(c);
    /* Uses: a x b c a(hit) y b(hit). */
    char *text = dump_text(c);
    CHECK_STR(text, "digraph G {\n"
                    "0 -> 3\n3[label=\"b, 1 hits\"]\n"
                    "0 -> 1\n1[label=\"a, 1 hits\"]\n"
                    "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                    "1 -> 2\n2[label=\"x, 0 hits\"]\n"
                    "0 -> 4\n4[label=\"c, 0 hits\"]\n"
                    "}\n");
    free(text);

    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    CHECK_PTR(ircache_lookup(c, KEY("x")), &items[1]);
    ircache_mark_step(c);
    text = dump_text(c);
    CHECK_STR(text, "digraph G {\n"
                    "0 -> 1\n1[label=\"a, 2 hits\"]\n"
                    "1 -> 2\n2[label=\"x, 1 hits\"]\n"
                    "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                    "0 -> 3\n3[label=\"b, 1 hits\"]\n"
                    "0 -> 4\n4[label=\"c, 0 hits\"]\n"
                    "}\n");
    free(text);
    return 5;
}
BOTH_WAYS(dot_lists_successors_most_recently_used_first)

/* ---- cases that need a second thread at work --------------------------- */

/* Two threads take turns, in phases separated by a barrier. */
typedef struct duet {
    pthread_barrier_t barrier;
    ircache *c;
    counted *items;
    void (*other)(struct duet *d, int phase);
    int phases;
    void *expect; /* what the other thread's next lookup should return */
} duet;

static void *duet_other_main(void *arg)
{
    duet *d = arg;
    for (int phase = 0; phase < d->phases; phase++) {
        d->other(d, phase);
        pthread_barrier_wait(&d->barrier);
    }
    return NULL;
}

static void duet_start(duet *d, pthread_t *t)
{
    REQUIRE(pthread_barrier_init(&d->barrier, NULL, 2) == 0);
    REQUIRE(pthread_create(t, NULL, duet_other_main, d) == 0);
}

/* The main thread's side: waits for the other's phase to end. */
static void duet_next(duet *d)
{
    pthread_barrier_wait(&d->barrier);
}

static void duet_end(duet *d, pthread_t t)
{
    REQUIRE(pthread_join(t, NULL) == 0);
    pthread_barrier_destroy(&d->barrier);
}

/* The other thread: phase 0 steps onto a (the oldest leaf), phase 1 does
 * nothing (main lowers the bound), phase 2 inserts a1 under a and goes back
 * to the root, phase 3 nothing (main evicts), phase 4 looks for a. */
static void pinner(duet *d, int phase)
{
    switch (phase) {
    case 0:
        CHECK_PTR(ircache_lookup(d->c, KEY("a")), &d->items[0]);
        break;
    case 2:
        REQUIRE(ircache_insert(d->c, KEY("a1"), "a1", &d->items[5], &logging_owner) == 0);
        ircache_mark_step(d->c);
        break;
    case 4:
        CHECK_PTR(ircache_lookup(d->c, KEY("a")), d->expect);
        break;
    default:
        break;
    }
}

static void a_leaf_under_a_position_is_never_evicted(void)
{
    ircache *c = ircache_new();
    counted *items = counted_array(8);
    release_log_count = 0;
    put_at_root(c, "a", &items[0]);
    put_at_root(c, "b", &items[1]);
    put_at_root(c, "c", &items[2]); /* this thread stays at c */
    duet d = {.c = c, .items = items, .other = pinner, .phases = 5};
    pthread_t t;
    duet_start(&d, &t);
    duet_next(&d); /* phase 0: the other thread stands at a */

    /* Leaves a (pinned by the other thread, and the least recently used),
     * b, c (pinned by this thread): only b can go, and the cache stays
     * above its bound. */
    CHECK_INT(ircache_set_max_nodes(c, 1), 0);
    CHECK_STR(log_text(), "1");
    CHECK_INT(atomic_load(&items[0].releases), 0);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 2);
    CHECK_U64(s.evictions, 1);
    CHECK_U64(s.max_nodes, 1);
    /* d under c: c is no leaf any more, d is this thread's; a is pinned. */
    put(c, "d", &items[3]);
    CHECK_STR(log_text(), "1");
    CHECK_U64(stats_of(c).nodes, 3);
    duet_next(&d); /* phase 1 */

    duet_next(&d); /* phase 2: the other thread puts a1 under a, leaves */
    CHECK_U64(stats_of(c).nodes, 4);
    CHECK_STR(log_text(), "1");

    /* Nothing is pinned now: a-a1 and c-d go, children first, one per
     * call so that the log is the order of evictions. Which of the two
     * leaves is older depends on how the threads' uses compare. */
    ircache_mark_step(c);
    CHECK_INT(ircache_set_max_nodes(c, 4), 0);
    CHECK_STR(log_text(), "1");
    for (uint64_t bound = 3; bound >= 1; bound--) {
        CHECK_INT(ircache_set_max_nodes(c, bound), 0);
        CHECK_U64(stats_of(c).nodes, bound);
    }
    CHECK_INT(release_log_count, 4);
    CHECK_MSG(log_index(5) > 0 && log_index(3) > 0, "a1 and d go first: %s", log_text());
    CHECK_MSG(log_index(0) < 0 || log_index(0) > log_index(5), "a1 goes before a: %s",
              log_text());
    CHECK_MSG(log_index(2) < 0 || log_index(2) > log_index(3), "d goes before c: %s",
              log_text());
    d.expect = log_index(0) < 0 ? &items[0] : NULL;
    duet_next(&d); /* phase 3 */
    duet_next(&d); /* phase 4: the other thread looks for a from the root */
    duet_end(&d, t);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(items, 4), -1);
    CHECK_INT(atomic_load(&items[5].releases), 1);
    free(items);
}

/* The other thread: registers at once (phase 0), then (phase 2) hits k0
 * after the main thread has used every other node. */
static void late_user(duet *d, int phase)
{
    if (phase == 0)
        CHECK_PTR(ircache_lookup(d->c, KEY("nothing")), NULL);
    if (phase == 2) {
        CHECK_PTR(ircache_lookup(d->c, KEY("k0")), &d->items[0]);
        ircache_mark_step(d->c);
    }
}

/* Recency is the cache's, not a thread's: a hit by another thread, ordered
 * after every other use by the barrier, makes k0 the most recently used. */
static void a_hit_by_another_thread_is_the_latest_use(void)
{
    ircache *c = ircache_new();
    counted *items = counted_array(8);
    release_log_count = 0;
    duet d = {.c = c, .items = items, .other = late_user, .phases = 3};
    pthread_t t;
    duet_start(&d, &t);
    duet_next(&d); /* phase 0: the other thread has a position */
    const char *keys[] = {"k0", "k1", "k2", "k3"};
    for (int i = 0; i < 4; i++)
        put_at_root(c, keys[i], &items[i]);
    for (int i = 1; i < 4; i++) {
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY(keys[i])), &items[i]);
    }
    ircache_mark_step(c);
    duet_next(&d); /* phase 1 */
    duet_next(&d); /* phase 2: the other thread hits k0 */
    duet_end(&d, t);

    char *text = dump_text(c);
    CHECK_STR(text, "digraph G {\n"
                    "0 -> 1\n1[label=\"k0, 1 hits\"]\n"
                    "0 -> 4\n4[label=\"k3, 1 hits\"]\n"
                    "0 -> 3\n3[label=\"k2, 1 hits\"]\n"
                    "0 -> 2\n2[label=\"k1, 1 hits\"]\n"
                    "}\n");
    free(text);
    CHECK_INT(ircache_set_max_nodes(c, 3), 0);
    CHECK_STR(log_text(), "1");
    ircache_free(c);
    free(items);
}

/* ---- the default cache and the environment (one case per process) ----- */

static void default_cache_bounded_by_environment(void)
{
    ircache *c = ircache_default();
    counted *items = counted_array(5);
    release_log_count = 0;
    CHECK_U64(stats_of(c).max_nodes, 3);
    CHECK_INT(ircache_is_enabled(c), 1);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        put_at_root(c, keys[i], &items[i]);
    CHECK_STR(log_text(), "0 1");
    CHECK_U64(stats_of(c).nodes, 3);
    CHECK_U64(stats_of(c).evictions, 2);
    ircache_reset();
    CHECK_INT(counted_first_not_released_once(items, 5), -1);
    free(items);
}

static void default_cache_disabled_by_environment(void)
{
    ircache *c = ircache_default();
    counted item = {0};
    CHECK_INT(ircache_is_enabled(c), 0);
    CHECK_U64(stats_of(c).max_nodes, 0); /* IRCACHE_MAX_NODES is empty */
    CHECK_INT(ircache_insert(c, KEY("a"), "a", &item, &logging_owner), IRCACHE_EDISABLED);
    CHECK_PTR(ircache_lookup(c, KEY("a")), NULL);
    CHECK_U64(stats_of(c).nodes, 0);
    CHECK_INT(ircache_set_enabled(c, 1), 0);
    CHECK_INT(ircache_insert(c, KEY("a"), "a", &item, &logging_owner), 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &item);
    ircache_reset();
    CHECK_INT(atomic_load(&item.releases), 1);
}

static void default_cache_ignores_an_invalid_bound(void)
{
    ircache *c = ircache_default();
    counted *items = counted_array(10);
    CHECK_U64(stats_of(c).max_nodes, 0);
    char key[8];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_at_root(c, key, &items[i]);
    }
    CHECK_U64(stats_of(c).nodes, 10);
    CHECK_U64(stats_of(c).evictions, 0);
    ircache_reset();
    free(items);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "env-max-nodes") == 0)
            RUN(default_cache_bounded_by_environment);
        else if (strcmp(argv[1], "env-disable") == 0)
            RUN(default_cache_disabled_by_environment);
        else if (strcmp(argv[1], "env-invalid-max-nodes") == 0)
            RUN(default_cache_ignores_an_invalid_bound);
        else
            REQUIRE(!"unknown case");
        return check_exit_code();
    }
    RUN(crossing_the_bound_evicts_the_lru_leaf_alone);
    RUN(crossing_the_bound_evicts_the_lru_leaf_beside_an_idle_thread);
    RUN(lowering_the_bound_evicts_at_once_alone);
    RUN(lowering_the_bound_evicts_at_once_beside_an_idle_thread);
    RUN(a_chain_is_evicted_from_its_tail_alone);
    RUN(a_chain_is_evicted_from_its_tail_beside_an_idle_thread);
    RUN(a_pinned_only_leaf_keeps_the_cache_above_its_bound_alone);
    RUN(a_pinned_only_leaf_keeps_the_cache_above_its_bound_beside_an_idle_thread);
    RUN(an_interior_node_goes_only_after_its_children_alone);
    RUN(an_interior_node_goes_only_after_its_children_beside_an_idle_thread);
    RUN(hits_reorder_the_lru_alone);
    RUN(hits_reorder_the_lru_beside_an_idle_thread);
    RUN(zero_means_unbounded_alone);
    RUN(zero_means_unbounded_beside_an_idle_thread);
    RUN(evictions_follow_a_model_of_the_contract_alone);
    RUN(evictions_follow_a_model_of_the_contract_beside_an_idle_thread);
    RUN(dot_lists_successors_most_recently_used_first_alone);
    RUN(dot_lists_successors_most_recently_used_first_beside_an_idle_thread);
    RUN(a_leaf_under_a_position_is_never_evicted);
    RUN(a_hit_by_another_thread_is_the_latest_use);
    return check_exit_code();
}
