/* test_regressions_internal.c - what a review of lib/ proved broken, for the
 * cases that need the library's internals: the hit counter of a node at its
 * limit (hits_wrap.c), a failed insert's label (insert_fail_label.c), and
 * evicted nodes that wait for their release because the array for their
 * releases could not be had (the out-of-memory side of grave_rebuild.c).
 * Linked with ircache_testing: the same sources with the allocation-failure
 * switch. Only the main thread uses CHECK. */
#define _POSIX_C_SOURCE 200809L
#define IRCACHE_FAULT_INJECTION 1

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "ircache.h"
#include "node.h"
#include "support.h"

/* ---- the hit count at its limit (hits_wrap.c) -------------------------- */

/* A node's hit count stops at 2^32 - 1 rather than wrap (and, when it
 * shared a word with the key length, never reached into it). Before the fix two threads hitting at the
 * limit at once could carry it past the limit (each added, then one undid),
 * and the count wrapped to a small number. That takes a thread to add
 * between another's add and undo: many short rounds, each started with
 * every thread running, make it near certain. */
#define HITS_LIMIT 0xffffffffull
#define HITS_KEY_LEN 8u
#define HITS_MAX_THREADS 8
#define HITS_ROUNDS 32

static ircache__node hit_node;

static void set_hits(uint64_t hits)
{
    atomic_store(&hit_node.hits, (uint32_t)hits);
    hit_node.key_len = HITS_KEY_LEN;
}

typedef struct hammer {
    _Atomic int *ready; /* threads at the start line */
    int threads;
    long calls;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    atomic_fetch_add(h->ready, 1);
    while (atomic_load(h->ready) < h->threads)
        sched_yield();
    for (long i = 0; i < h->calls; i++)
        ircache__node_count_hit(&hit_node, 1);
    return NULL;
}

/* threads threads hit the node calls times each, from start hits. */
static void hammer_from(uint64_t start, int threads, long calls)
{
    set_hits(start);
    _Atomic int ready = 0;
    hammer h[HITS_MAX_THREADS];
    pthread_t t[HITS_MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        h[i] = (hammer){.ready = &ready, .threads = threads, .calls = calls};
        REQUIRE(pthread_create(&t[i], NULL, hammer_main, &h[i]) == 0);
    }
    for (int i = 0; i < threads; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
}

/* HITS_ROUNDS rounds from start; each must end at the limit. */
static void hammer_rounds(uint64_t start, int threads, long calls)
{
    int wrong_rounds = 0, first_wrong = -1;
    uint64_t first_hits = 0;
    uint32_t first_len = 0;
    for (int round = 0; round < HITS_ROUNDS; round++) {
        hammer_from(start, threads, calls);
        uint64_t hits = ircache__node_hits(&hit_node);
        uint32_t len = ircache__node_key_len(&hit_node);
        if (hits == HITS_LIMIT && len == HITS_KEY_LEN)
            continue;
        if (wrong_rounds++ == 0) {
            first_wrong = round;
            first_hits = hits;
            first_len = len;
        }
    }
    CHECK_MSG(wrong_rounds == 0,
              "%d of %d rounds of %d threads from %" PRIu64 " hits ended off the limit; round "
              "%d ended at %" PRIu64 " hits with key length %u", wrong_rounds, HITS_ROUNDS,
              threads, start, first_wrong, first_hits, first_len);
}

static void the_hit_count_stops_at_its_limit(void)
{
    /* One thread, by either path: the plain one (the cache's only thread)
     * and the compare-and-swap. */
    for (int shared = 0; shared <= 1; shared++) {
        set_hits(HITS_LIMIT - 2);
        for (int i = 0; i < 10; i++)
            ircache__node_count_hit(&hit_node, shared);
        CHECK_U64(ircache__node_hits(&hit_node), HITS_LIMIT);
        CHECK_INT(ircache__node_key_len(&hit_node), HITS_KEY_LEN);
    }

    /* Two threads hitting at once, at the limit. */
    hammer_rounds(HITS_LIMIT, 2, 500000);

    /* Below the limit every hit counts exactly. */
    hammer_from(1000, 2, 100000);
    CHECK_U64(ircache__node_hits(&hit_node), 1000 + 2 * 100000);
    CHECK_INT(ircache__node_key_len(&hit_node), HITS_KEY_LEN);
}

/* Threads counting up to the limit and past it: a thread held up between
 * reading the count and adding to it, while others count up to the limit,
 * must not carry it past (it used to wrap: shown under ThreadSanitizer in
 * most runs, in plain builds now and then). "hits-crossing" runs it alone. */
static void the_hit_count_stops_at_its_limit_when_threads_count_up_to_it(void)
{
    hammer_rounds(HITS_LIMIT - 500000, HITS_MAX_THREADS, 200000);
}

/* ---- a failed insert (insert_fail_label.c) ----------------------------- */

/* "On failure nothing changes": every allocation of an insert fails in
 * turn; the failed insert must leave no label (nor a new owner of an
 * existing label) in ircache_get_op_stats, no node, no count. Before the fix
 * the label was interned first and stayed when a later allocation failed. */
static int64_t op_count(ircache *c)
{
    return ircache_get_op_stats(c, NULL, 0);
}

static void release_count(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}

static const ircache_owner owner_a = {NULL, release_count, NULL};
static const ircache_owner owner_b = {NULL, release_count, NULL};

/* Inserts key with label op, first with every allocation failing in turn.
 * Returns how many inserts failed before one succeeded. */
static int insert_through_failures(ircache *c, const char *key, const char *op,
                                   counted *payload, const ircache_owner *owner)
{
    ircache_stats before = stats_of(c);
    int64_t ops_before = op_count(c);
    int failed = 0;
    for (long n = 1; n < 200; n++) {
        ircache_mark_step(c);
        (void)ircache__fault_inject(n, 0);
        int rc = ircache_insert(c, KEY(key), op, payload, owner);
        long attempts = ircache__fault_inject(0, 0);
        if (rc == 0) {
            CHECK_MSG(attempts < n, "insert %s succeeded although allocation %ld failed", key, n);
            return failed;
        }
        failed++;
        CHECK_INT(rc, IRCACHE_ENOMEM);
        CHECK_MSG(op_count(c) == ops_before,
                  "allocation %ld of %ld failed: %lld labels, %lld before the insert (%s)", n,
                  attempts, (long long)op_count(c), (long long)ops_before, ircache_last_error());
        ircache_stats after = stats_of(c);
        CHECK_U64(after.nodes, before.nodes);
        CHECK_U64(after.inserts, before.inserts);
        CHECK_U64(after.forks, before.forks);
        /* Not compared: after.bytes. Room a failed insert grew in the label
         * sets before the failing allocation stays, and bytes counts it. */
        CHECK_INT(atomic_load(&payload->releases), 0);
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY(key)), NULL);
    }
    CHECK_MSG(0, "insert %s never succeeded", key);
    return failed;
}

static void a_failed_insert_leaves_no_label(void)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    counted *items = counted_array(3);
    (void)ircache_lookup(c, KEY("nothing")); /* this thread's position exists */

    /* A new label. */
    CHECK_MSG(insert_through_failures(c, "k1", "aten::first", &items[0], &owner_a) > 0,
              "no allocation of a new label's insert could be made to fail");
    ircache_op_stats ops[4];
    CHECK_INT(ircache_get_op_stats(c, ops, 4), 1);
    CHECK_STR(ops[0].op, "aten::first");
    CHECK_U64(ops[0].inserts, 1);

    /* The same label with another owner: a new kind, no new label. */
    CHECK_MSG(insert_through_failures(c, "k2", "aten::first", &items[1], &owner_b) > 0,
              "no allocation of a new owner's insert could be made to fail");
    CHECK_INT(ircache_get_op_stats(c, ops, 4), 1);
    CHECK_U64(ops[0].inserts, 2);

    /* A second new label beside the first. */
    (void)insert_through_failures(c, "k3", "aten::second", &items[2], &owner_a);
    CHECK_INT(ircache_get_op_stats(c, ops, 4), 2);
    CHECK_STR(ops[1].op, "aten::second");
    CHECK_U64(ops[1].inserts, 1);

    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 3);
    CHECK_U64(s.inserts, 3);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("k2")), &items[1]);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(items, 3), -1);
    free(items);
}

/* ---- evicted nodes waiting for their release (grave_rebuild.c) --------- */

/* An eviction of more than one batch copies the releases past the first
 * batch into an array; when that array cannot be had, the rest wait in the
 * node store, unlinked, and the evicting call releases them batch by batch.
 * Meanwhile a release may call anything: rebuild the eviction order (bound
 * 0, then 5), ask for op stats, clear. Those nodes must then be neither
 * evicted again (released twice) nor counted again (their hits went to their
 * label when they were unlinked). Every allocation of the call fails in
 * turn, that array's among them. */
#define WAIT_NODES 200

typedef struct waiting {
    ircache *c;
    counted *items;
    int mode;          /* what the first release does: 0 rebuild, 1 clear */
    int acted;
    long wrong_reuse;  /* op stats that did not add up to WAIT_NODES hits */
} waiting;

static void check_reuse(waiting *w)
{
    ircache_op_stats op;
    int64_t n = ircache_get_op_stats(w->c, &op, 1);
    if (n == IRCACHE_ENOMEM)
        return; /* the injected failure fell here */
    if (n != 1 || op.reused != WAIT_NODES)
        w->wrong_reuse++;
}

static void waiting_release(void *payload, void *ctx)
{
    waiting *w = ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    if (w->acted)
        return;
    w->acted = 1;
    check_reuse(w);
    if (w->mode == 0) {
        (void)ircache_set_max_nodes(w->c, 0); /* may fail: the injected failure */
        (void)ircache_set_max_nodes(w->c, 5);
    } else {
        ircache_clear(w->c);
    }
    check_reuse(w);
}

/* Returns 1 while the fault point n was reached. */
static int evict_with_failure(int mode, long n)
{
    waiting w = {.c = ircache_new(), .items = counted_array(WAIT_NODES), .mode = mode};
    REQUIRE(w.c != NULL);
    const ircache_owner owner = {NULL, waiting_release, &w};
    char key[16];
    for (int i = 0; i < WAIT_NODES; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(w.c);
        REQUIRE(ircache_insert(w.c, KEY(key), "op", &w.items[i], &owner) == 0);
    }
    for (int i = 0; i < WAIT_NODES; i++) { /* one hit each, oldest first */
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(w.c);
        REQUIRE(ircache_lookup(w.c, KEY(key)) == &w.items[i]);
    }
    ircache_mark_step(w.c);
    (void)ircache__fault_inject(n, 0);
    int rc = ircache_set_max_nodes(w.c, 10);
    long attempts = ircache__fault_inject(0, 0);
    CHECK_MSG(rc == 0 || rc == IRCACHE_ENOMEM, "mode %d, allocation %ld: set_max_nodes gave %d",
              mode, n, rc);
    long bad = -1;
    for (int i = 0; i < WAIT_NODES && bad < 0; i++)
        if (atomic_load(&w.items[i].releases) > 1)
            bad = i;
    CHECK_MSG(bad < 0, "mode %d, allocation %ld failed: payload %ld released %d times", mode, n,
              bad, bad < 0 ? 0 : atomic_load(&w.items[bad].releases));
    ircache_stats s = stats_of(w.c);
    CHECK_MSG(s.nodes == (uint64_t)(WAIT_NODES - counted_total_releases(w.items, WAIT_NODES)),
              "mode %d, allocation %ld failed: %" PRIu64 " nodes, %ld released", mode, n,
              s.nodes, counted_total_releases(w.items, WAIT_NODES));
    CHECK_MSG(w.wrong_reuse == 0, "mode %d, allocation %ld failed: op stats counted %ld times "
              "a reuse other than %d", mode, n, w.wrong_reuse, WAIT_NODES);
    ircache_op_stats op;
    CHECK_INT(ircache_get_op_stats(w.c, &op, 1), 1);
    CHECK_MSG(op.reused == WAIT_NODES, "mode %d, allocation %ld failed: reused %" PRIu64, mode,
              n, op.reused);
    w.acted = 1;
    ircache_free(w.c);
    bad = counted_first_not_released_once(w.items, WAIT_NODES);
    CHECK_MSG(bad < 0, "mode %d, allocation %ld failed: after free payload %ld released %d times",
              mode, n, bad, bad < 0 ? 1 : atomic_load(&w.items[bad].releases));
    free(w.items);
    return attempts >= n;
}

static void an_evicted_node_is_released_once_when_the_bound_is_rebuilt_out_of_memory(void)
{
    long n = 1;
    while (evict_with_failure(0, n))
        n++;
    CHECK_MSG(n > 3, "only %ld allocations to fail", n - 1);
}

static void an_evicted_nodes_hits_are_counted_once_out_of_memory(void)
{
    long n = 1;
    while (evict_with_failure(1, n))
        n++;
    CHECK_MSG(n > 3, "only %ld allocations to fail", n - 1);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "hits-crossing") == 0)
            RUN(the_hit_count_stops_at_its_limit_when_threads_count_up_to_it);
        else
            REQUIRE(!"unknown case");
        return check_exit_code();
    }
    RUN(the_hit_count_stops_at_its_limit);
    RUN(the_hit_count_stops_at_its_limit_when_threads_count_up_to_it);
    RUN(a_failed_insert_leaves_no_label);
    RUN(an_evicted_node_is_released_once_when_the_bound_is_rebuilt_out_of_memory);
    RUN(an_evicted_nodes_hits_are_counted_once_out_of_memory);
    return check_exit_code();
}
