/* test_threads.c - what include/ircache.h promises about threads: one shared
 * trie, one position per thread, clears and evictions while others trace,
 * release callbacks that call back in, counters that add up, and threads
 * and caches that come and go.
 *
 * Ordering between threads comes from barriers, joins and atomics only;
 * stress loops are bounded by iteration counts. Worker threads never use
 * CHECK (check.h's counter is not atomic): they count violations in atomics
 * that the main thread checks after joining, or they act alone in a phase
 * between two barriers. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* ---- scripts: threads that act one at a time --------------------------- */

/* A script is a list of phases, each played by one actor while the others
 * wait at the barrier that ends it. Actor 0 is the main thread. */
typedef struct script {
    int phases;
    const int *actor; /* who plays each phase */
    void (*act)(struct script *s, int phase);
    ircache *c;
    void *ctx;
    pthread_barrier_t barrier;
} script;

typedef struct actor_arg {
    script *s;
    int who;
} actor_arg;

static void play(script *s, int who)
{
    for (int phase = 0; phase < s->phases; phase++) {
        if (s->actor[phase] == who)
            s->act(s, phase);
        pthread_barrier_wait(&s->barrier);
    }
}

static void *play_in_thread(void *arg)
{
    actor_arg *a = arg;
    play(a->s, a->who);
    return NULL;
}

static void run_script(script *s, int actors)
{
    pthread_t threads[8];
    actor_arg args[8];
    REQUIRE(actors <= 8);
    REQUIRE(pthread_barrier_init(&s->barrier, NULL, (unsigned)actors) == 0);
    for (int i = 1; i < actors; i++) {
        args[i] = (actor_arg){s, i};
        start_thread(&threads[i], play_in_thread, &args[i]);
    }
    play(s, 0);
    for (int i = 1; i < actors; i++)
        join_thread(threads[i]);
    pthread_barrier_destroy(&s->barrier);
}

/* ---- owners that check the order of retains and releases --------------- */

/* A retain of a payload whose release already ran, anywhere. */
static _Atomic long retains_after_release;
/* The last payload retained by this thread. */
static _Thread_local void *last_retained;

static void checking_retain(void *payload, void *ctx)
{
    (void)ctx;
    counted *p = payload;
    if (atomic_load(&p->releases) > 0)
        atomic_fetch_add(&retains_after_release, 1);
    atomic_fetch_add(&p->retains, 1);
    last_retained = payload;
}

static void checking_release(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}

static const ircache_owner checking_owner = {checking_retain, checking_release, NULL};

/* checking_retain after letting other threads run: a release that should
 * have waited for this retain then has time to come first. */
static void yielding_checking_retain(void *payload, void *ctx)
{
    sched_yield();
    checking_retain(payload, ctx);
}

static const ircache_owner yielding_checking_owner = {yielding_checking_retain, checking_release, NULL};

/* A payload of the stress cases. */
typedef struct tracked {
    counted n;            /* first: the owners see a counted; n.value is the key's id */
    _Atomic int returned; /* lookups that returned it */
    int inserted;         /* the insert succeeded (written by its inserter) */
} tracked;

static tracked *tracked_array(size_t n)
{
    tracked *t = calloc(n, sizeof *t);
    REQUIRE(t != NULL);
    return t;
}

/* Each payload inserted was released exactly once, others never; each was
 * retained exactly as often as a lookup returned it. */
static void check_tracked(const char *what, tracked *t, size_t n)
{
    long bad_release = -1, bad_retain = -1;
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&t[i].n.releases) != (t[i].inserted ? 1 : 0) && bad_release < 0)
            bad_release = (long)i;
        if (atomic_load(&t[i].n.retains) != atomic_load(&t[i].returned) && bad_retain < 0)
            bad_retain = (long)i;
    }
    CHECK_MSG(bad_release < 0, "%s: payload %ld (inserted %d) released %d times", what,
              bad_release, bad_release < 0 ? 0 : t[bad_release].inserted,
              bad_release < 0 ? 0 : atomic_load(&t[bad_release].n.releases));
    CHECK_MSG(bad_retain < 0, "%s: payload %ld retained %d times, returned %d times", what,
              bad_retain, bad_retain < 0 ? 0 : atomic_load(&t[bad_retain].n.retains),
              bad_retain < 0 ? 0 : atomic_load(&t[bad_retain].returned));
}

/* ---- positions are per thread ------------------------------------------ */

typedef struct path_payloads {
    int a, b, c, c2, x, y, z, w;
} path_payloads;

/* 0 builds a-b-c and x-y-z-w; then A (1) and B (2) take turns. */
static const int positions_actors[] = {0, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1};

static void positions_act(script *s, int phase)
{
    ircache *c = s->c;
    path_payloads *p = s->ctx;
    switch (phase) {
    case 0:
        REQUIRE(ircache_insert(c, KEY("a"), "a", &p->a, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("b"), "b", &p->b, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("c"), "c", &p->c, NULL) == 0);
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, KEY("x"), "x", &p->x, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("y"), "y", &p->y, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("z"), "z", &p->z, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("w"), "w", &p->w, NULL) == 0);
        break;
    case 1: /* A */
        CHECK_PTR(ircache_lookup(c, KEY("a")), &p->a);
        break;
    case 2: /* B moves; A stands at a */
        CHECK_PTR(ircache_lookup(c, KEY("x")), &p->x);
        CHECK_PTR(ircache_lookup(c, KEY("y")), &p->y);
        break;
    case 3: /* A goes on from a, not from B's y */
        CHECK_PTR(ircache_lookup(c, KEY("z")), NULL);
        CHECK_PTR(ircache_lookup(c, KEY("b")), &p->b);
        break;
    case 4: /* B goes on from y */
        CHECK_PTR(ircache_lookup(c, KEY("b")), NULL);
        CHECK_PTR(ircache_lookup(c, KEY("z")), &p->z);
        break;
    case 5: /* A's step boundary */
        ircache_mark_step(c);
        break;
    case 6: /* ... does not move B */
        CHECK_PTR(ircache_lookup(c, KEY("x")), NULL);
        CHECK_PTR(ircache_lookup(c, KEY("w")), &p->w);
        break;
    case 7: /* A is at the root */
        CHECK_PTR(ircache_lookup(c, KEY("a")), &p->a);
        break;
    case 8: /* B's step boundary */
        ircache_mark_step(c);
        break;
    case 9: /* ... does not move A; A inserts where it stands */
        CHECK_PTR(ircache_lookup(c, KEY("a")), NULL);
        CHECK_PTR(ircache_lookup(c, KEY("b")), &p->b);
        REQUIRE(ircache_insert(c, KEY("c2"), "c2", &p->c2, NULL) == 0);
        break;
    case 10: /* B sees A's insert under b, from the root */
        CHECK_PTR(ircache_lookup(c, KEY("a")), &p->a);
        CHECK_PTR(ircache_lookup(c, KEY("b")), &p->b);
        CHECK_PTR(ircache_lookup(c, KEY("c2")), &p->c2);
        break;
    case 11: /* A stands at c2 whatever B did */
        CHECK_PTR(ircache_lookup(c, KEY("c")), NULL);
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY("a")), &p->a);
        break;
    default:
        break;
    }
}

static void positions_are_per_thread(void)
{
    path_payloads p;
    script s = {.phases = (int)(sizeof positions_actors / sizeof positions_actors[0]),
                .actor = positions_actors,
                .act = positions_act,
                .c = ircache_new(),
                .ctx = &p};
    REQUIRE(s.c != NULL);
    run_script(&s, 3);
    ircache_stats st = stats_of(s.c);
    CHECK_U64(st.nodes, 8);
    CHECK_U64(st.hits, 12);
    CHECK_U64(st.misses, 5);
    ircache_free(s.c);
}

/* ---- the trie is shared ------------------------------------------------ */

typedef struct shared_payloads {
    int p, q, r;
} shared_payloads;

static const int shared_actors[] = {2, 1, 2, 1};

static void shared_act(script *s, int phase)
{
    ircache *c = s->c;
    shared_payloads *p = s->ctx;
    switch (phase) {
    case 0: /* B has a position before anything exists */
        CHECK_PTR(ircache_lookup(c, KEY("p")), NULL);
        break;
    case 1: /* A inserts p-q */
        REQUIRE(ircache_insert(c, KEY("p"), "p", &p->p, NULL) == 0);
        REQUIRE(ircache_insert(c, KEY("q"), "q", &p->q, NULL) == 0);
        break;
    case 2: /* B finds them and adds r under q */
        CHECK_PTR(ircache_lookup(c, KEY("p")), &p->p);
        CHECK_PTR(ircache_lookup(c, KEY("q")), &p->q);
        REQUIRE(ircache_insert(c, KEY("r"), "r", &p->r, NULL) == 0);
        break;
    case 3: /* A finds B's r */
        CHECK_PTR(ircache_lookup(c, KEY("r")), &p->r);
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY("p")), &p->p);
        CHECK_PTR(ircache_lookup(c, KEY("q")), &p->q);
        CHECK_PTR(ircache_lookup(c, KEY("r")), &p->r);
        break;
    default:
        break;
    }
}

/* While one thread inserts, another finds every node as soon as the insert
 * returned (published through an atomic counter). */
#define SHARED_KEYS 2000

typedef struct publisher {
    ircache *c;
    int payloads[SHARED_KEYS];
    _Atomic int published;
    _Atomic int wrong; /* lookups of published keys that missed or were wrong */
} publisher;

static void *publish_keys(void *arg)
{
    publisher *pub = arg;
    char key[16];
    for (int i = 0; i < SHARED_KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(pub->c);
        if (ircache_insert(pub->c, KEY(key), "k", &pub->payloads[i], NULL) != 0)
            atomic_fetch_add(&pub->wrong, 1);
        atomic_store_explicit(&pub->published, i + 1, memory_order_release);
    }
    return NULL;
}

static void *find_published_keys(void *arg)
{
    publisher *pub = arg;
    char key[16];
    for (int i = 0; i < SHARED_KEYS; i++) {
        while (atomic_load_explicit(&pub->published, memory_order_acquire) <= i)
            sched_yield();
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(pub->c);
        if (ircache_lookup(pub->c, KEY(key)) != &pub->payloads[i])
            atomic_fetch_add(&pub->wrong, 1);
    }
    return NULL;
}

static void the_trie_is_shared(void)
{
    shared_payloads p;
    script s = {.phases = 4, .actor = shared_actors, .act = shared_act, .c = ircache_new(), .ctx = &p};
    REQUIRE(s.c != NULL);
    run_script(&s, 3);
    ircache_stats st = stats_of(s.c);
    CHECK_U64(st.nodes, 3);
    CHECK_U64(st.inserts, 3);
    CHECK_U64(st.hits, 6);
    CHECK_U64(st.misses, 1);
    ircache_free(s.c);

    publisher *pub = calloc(1, sizeof *pub);
    REQUIRE(pub != NULL);
    pub->c = ircache_new();
    pthread_t writer, reader;
    start_thread(&reader, find_published_keys, pub);
    start_thread(&writer, publish_keys, pub);
    join_thread(writer);
    join_thread(reader);
    CHECK_INT(atomic_load(&pub->wrong), 0);
    CHECK_U64(stats_of(pub->c).hits, SHARED_KEYS);
    ircache_free(pub->c);
    free(pub);
}

/* ---- clear while others trace ------------------------------------------ */

#define CLEAR_TRACERS 3
#define CLEAR_STEPS 40000
#define CLEAR_DEPTH 5
#define CLEAR_FANOUT 3
#define CLEARS 4000

typedef struct clear_run {
    ircache *c;
    tracked *pool[CLEAR_TRACERS];
    size_t used[CLEAR_TRACERS];
    _Atomic long progress; /* operations done by all tracers */
    _Atomic int tracers_done;
    _Atomic long wrong_key, not_retained, insert_failed;
} clear_run;

typedef struct tracer_arg {
    clear_run *run;
    int index;
} tracer_arg;

/* Traces random paths over a small alphabet (so threads meet, fork and
 * replace each other's nodes), reusing what it finds and inserting the rest.
 * A key's id is depth * FANOUT + choice; a hit must carry that id.
 *
 * "A concurrent lookup either hits a node whose payload it retained before
 * the release, or misses": every payload a lookup returns must have been
 * retained by this very lookup (last_retained), and no retain may see a
 * release that already ran (checking_retain). Together: no lookup returns
 * a payload whose release ran before the lookup took its reference. */
static void *clear_tracer(void *arg)
{
    tracer_arg *a = arg;
    clear_run *run = a->run;
    tracked *pool = run->pool[a->index];
    size_t used = 0;
    uint32_t rng = 977u * (uint32_t)(a->index + 1);
    for (int step = 0; step < CLEAR_STEPS; step++) {
        ircache_mark_step(run->c);
        for (int d = 0; d < CLEAR_DEPTH; d++) {
            int choice = (int)(next_random(&rng) % CLEAR_FANOUT);
            char key[2] = {(char)('0' + d), (char)('a' + choice)};
            int id = d * CLEAR_FANOUT + choice;
            last_retained = NULL;
            tracked *hit = ircache_lookup(run->c, key, sizeof key);
            if (hit != NULL) {
                if (hit->n.value != id)
                    atomic_fetch_add(&run->wrong_key, 1);
                if (last_retained != hit)
                    atomic_fetch_add(&run->not_retained, 1);
                atomic_fetch_add(&hit->returned, 1);
            } else {
                tracked *mine = &pool[used++];
                mine->n.value = id;
                if (ircache_insert(run->c, key, sizeof key, "op", mine, &checking_owner) == 0)
                    mine->inserted = 1;
                else
                    atomic_fetch_add(&run->insert_failed, 1);
            }
            atomic_fetch_add(&run->progress, 1);
        }
    }
    run->used[a->index] = used;
    atomic_fetch_add(&run->tracers_done, 1);
    return NULL;
}

/* Clears CLEARS times, each after the tracers made some progress (or are
 * done), so that clears fall all over their traces. */
static void *clearer(void *arg)
{
    clear_run *run = arg;
    const long gap = (long)CLEAR_TRACERS * CLEAR_STEPS * CLEAR_DEPTH / CLEARS / 2;
    for (int i = 0; i < CLEARS; i++) {
        long target = atomic_load(&run->progress) + gap;
        while (atomic_load(&run->progress) < target &&
               atomic_load(&run->tracers_done) < CLEAR_TRACERS)
            sched_yield();
        ircache_clear(run->c);
    }
    return NULL;
}

static void clear_while_others_trace(void)
{
    static clear_run run;
    memset(&run, 0, sizeof run);
    atomic_store(&retains_after_release, 0);
    run.c = ircache_new();
    REQUIRE(run.c != NULL);
    for (int i = 0; i < CLEAR_TRACERS; i++)
        run.pool[i] = tracked_array(CLEAR_STEPS * CLEAR_DEPTH);
    pthread_t tracers[CLEAR_TRACERS], clearing;
    tracer_arg args[CLEAR_TRACERS];
    start_thread(&clearing, clearer, &run);
    for (int i = 0; i < CLEAR_TRACERS; i++) {
        args[i] = (tracer_arg){&run, i};
        start_thread(&tracers[i], clear_tracer, &args[i]);
    }
    for (int i = 0; i < CLEAR_TRACERS; i++)
        join_thread(tracers[i]);
    join_thread(clearing);

    CHECK_U64(stats_of(run.c).clears, CLEARS);
    ircache_free(run.c);
    CHECK_INT(atomic_load(&retains_after_release), 0);
    CHECK_INT(atomic_load(&run.wrong_key), 0);
    CHECK_INT(atomic_load(&run.not_retained), 0);
    CHECK_INT(atomic_load(&run.insert_failed), 0);
    long hits = 0;
    for (int i = 0; i < CLEAR_TRACERS; i++) {
        check_tracked("clear while tracing", run.pool[i], run.used[i]);
        for (size_t j = 0; j < run.used[i]; j++)
            hits += atomic_load(&run.pool[i][j].returned);
        free(run.pool[i]);
    }
    CHECK_MSG(hits > 1000, "only %ld hits: the tracers hardly met", hits);
}

/* ---- clear and reset move every position to the root ------------------- */

typedef struct reset_ctx {
    void (*clear)(ircache *c);
    counted *old, *fresh; /* a-b-c before the clear, a-b after */
} reset_ctx;

/* 0 builds a-b-c; tracer 1 stands at b, tracer 2 at a; 0 clears and builds
 * a new a-b; both tracers find the new a from the root. */
static const int reset_actors[] = {0, 1, 2, 0, 1, 2};

static void reset_act(script *s, int phase)
{
    ircache *c = s->c;
    reset_ctx *r = s->ctx;
    switch (phase) {
    case 0:
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, KEY("a"), "a", &r->old[0], &counting_owner) == 0);
        REQUIRE(ircache_insert(c, KEY("b"), "b", &r->old[1], &counting_owner) == 0);
        REQUIRE(ircache_insert(c, KEY("c"), "c", &r->old[2], &counting_owner) == 0);
        break;
    case 1:
        CHECK_PTR(ircache_lookup(c, KEY("a")), &r->old[0]);
        CHECK_PTR(ircache_lookup(c, KEY("b")), &r->old[1]);
        break;
    case 2:
        CHECK_PTR(ircache_lookup(c, KEY("a")), &r->old[0]);
        break;
    case 3:
        r->clear(c);
        CHECK_INT(counted_first_not_released_once(r->old, 3), -1);
        CHECK_U64(stats_of(c).nodes, 0);
        /* This thread stood at c: it is at the root too. */
        REQUIRE(ircache_insert(c, KEY("a"), "a", &r->fresh[0], &counting_owner) == 0);
        REQUIRE(ircache_insert(c, KEY("b"), "b", &r->fresh[1], &counting_owner) == 0);
        break;
    case 4:
        CHECK_PTR(ircache_lookup(c, KEY("a")), &r->fresh[0]);
        CHECK_PTR(ircache_lookup(c, KEY("b")), &r->fresh[1]);
        break;
    case 5:
        CHECK_PTR(ircache_lookup(c, KEY("b")), NULL);
        CHECK_PTR(ircache_lookup(c, KEY("a")), &r->fresh[0]);
        break;
    default:
        break;
    }
}

static void clear_own_cache(ircache *c)
{
    ircache_clear(c);
}

static void reset_default_cache(ircache *c)
{
    (void)c;
    ircache_reset();
}

static void clear_and_reset_move_every_position_to_the_root(void)
{
    for (int use_default = 0; use_default < 2; use_default++) {
        counted *old = counted_array(3), *fresh = counted_array(2);
        reset_ctx r = {use_default ? reset_default_cache : clear_own_cache, old, fresh};
        script s = {.phases = 6,
                    .actor = reset_actors,
                    .act = reset_act,
                    .c = use_default ? ircache_default() : ircache_new(),
                    .ctx = &r};
        REQUIRE(s.c != NULL);
        uint64_t clears_before = stats_of(s.c).clears;
        run_script(&s, 3);
        CHECK_U64(stats_of(s.c).clears, clears_before + 1);
        if (use_default)
            ircache_reset();
        else
            ircache_free(s.c);
        CHECK_INT(counted_first_not_released_once(fresh, 2), -1);
        CHECK_INT(counted_first_not_released_once(old, 3), -1);
        free(old);
        free(fresh);
    }
}

/* ---- release callbacks that call back in ------------------------------- */

/* Owner context of payloads whose release uses the same cache: stats, a
 * dump, a lookup, an insert (of a plain counted payload), and once, when
 * asked, a clear. */
typedef struct reentry {
    ircache *c;
    char *dot_path;
    counted *extras;
    size_t extra_cap, extra_used;
    int clear_at; /* which reentrant release clears the cache; -1: none */
    int releases; /* reentrant releases so far */
    int armed;    /* off for the final ircache_free */
    int failures; /* calls back in that failed */
} reentry;

static void reentrant_release(void *payload, void *ctx)
{
    reentry *r = ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    if (!r->armed)
        return;
    int n = r->releases++;
    ircache_stats s;
    if (ircache_get_stats(r->c, &s) != 0)
        r->failures++;
    if (ircache_dump_dot(r->c, r->dot_path) != 0)
        r->failures++;
    (void)ircache_lookup(r->c, KEY("probe")); /* never inserted: a miss */
    if (r->extra_used < r->extra_cap) {
        /* Taken before the insert: it may evict, and so release, and so
         * come back here before it returns. */
        size_t i = r->extra_used++;
        char key[32];
        snprintf(key, sizeof key, "extra%zu", i);
        if (ircache_insert(r->c, KEY(key), "extra", &r->extras[i], &counting_owner) != 0)
            r->failures++;
    }
    if (n == r->clear_at)
        ircache_clear(r->c);
}

typedef struct reentry_case {
    ircache *c;
    reentry r;
    ircache_owner owner;
    counted *items;
    char *dir;
    /* a thread registered with the cache that stays idle, when asked */
    pthread_t idle;
    pthread_barrier_t idle_barrier;
    int with_idle;
} reentry_case;

static void *idle_in_cache(void *arg)
{
    reentry_case *k = arg;
    (void)ircache_lookup(k->c, KEY("idle"));
    pthread_barrier_wait(&k->idle_barrier);
    pthread_barrier_wait(&k->idle_barrier);
    return NULL;
}

#define REENTRY_ITEMS 256

static void reentry_begin(reentry_case *k, int with_idle)
{
    memset(k, 0, sizeof *k);
    k->c = ircache_new();
    REQUIRE(k->c != NULL);
    k->items = counted_array(REENTRY_ITEMS);
    k->dir = make_temp_dir();
    k->r = (reentry){.c = k->c,
                     .dot_path = path_join(k->dir, "in-release.dot"),
                     .extras = counted_array(REENTRY_ITEMS),
                     .extra_cap = REENTRY_ITEMS,
                     .clear_at = -1,
                     .armed = 1};
    k->owner = (ircache_owner){checking_retain, reentrant_release, &k->r};
    k->with_idle = with_idle;
    if (with_idle) {
        REQUIRE(pthread_barrier_init(&k->idle_barrier, NULL, 2) == 0);
        start_thread(&k->idle, idle_in_cache, k);
        pthread_barrier_wait(&k->idle_barrier);
    }
}

static void put_reentrant(reentry_case *k, const char *key, int item)
{
    REQUIRE(ircache_insert(k->c, KEY(key), key, &k->items[item], &k->owner) == 0);
}

/* Frees the cache; every payload used was released exactly once. */
static void reentry_end(reentry_case *k, int items_used)
{
    if (k->with_idle) {
        pthread_barrier_wait(&k->idle_barrier);
        join_thread(k->idle);
        pthread_barrier_destroy(&k->idle_barrier);
    }
    CHECK_INT(k->r.failures, 0);
    k->r.armed = 0;
    ircache_free(k->c);
    CHECK_INT(counted_first_not_released_once(k->items, (size_t)items_used), -1);
    CHECK_INT(counted_total_releases(k->items + items_used, REENTRY_ITEMS - (size_t)items_used), 0);
    CHECK_INT(counted_first_not_released_once(k->r.extras, k->r.extra_used), -1);
    free(k->items);
    free(k->r.extras);
    free(k->r.dot_path);
    remove_temp_dir(k->dir);
}

static void release_calls_back_during_clear(int with_idle)
{
    reentry_case k;
    reentry_begin(&k, with_idle);
    char key[16];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(k.c);
        put_reentrant(&k, key, i);
    }
    k.r.clear_at = 3;
    ircache_clear(k.c);
    /* Eight releases, eight extras; the clear in the fourth release dropped
     * the first four extras. */
    CHECK_INT(counted_first_not_released_once(k.items, 8), -1);
    CHECK_INT(k.r.releases, 8);
    CHECK_INT((int)k.r.extra_used, 8);
    CHECK_INT(counted_first_not_released_once(k.r.extras, 4), -1);
    CHECK_INT(counted_total_releases(k.r.extras + 4, 4), 0);
    ircache_stats s = stats_of(k.c);
    CHECK_U64(s.clears, 2);
    CHECK_U64(s.nodes, 4);
    reentry_end(&k, 8);
}

static void release_calls_back_during_eviction(int with_idle)
{
    reentry_case k;
    reentry_begin(&k, with_idle);
    CHECK_INT(ircache_set_max_nodes(k.c, 3), 0);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(k.c);
        put_reentrant(&k, key, i);
    }
    ircache_stats s = stats_of(k.c);
    CHECK_MSG(s.evictions >= 7, "only %" PRIu64 " evictions", s.evictions);
    /* No clear, no replacement: every release so far was an eviction. */
    long released = counted_total_releases(k.items, 10) +
                    counted_total_releases(k.r.extras, k.r.extra_used);
    CHECK_U64(s.evictions, released);
    CHECK_U64(s.inserts, 10 + k.r.extra_used);
    CHECK_U64(s.nodes, s.inserts - s.evictions);
    CHECK_INT(k.r.releases, counted_total_releases(k.items, 10));
    reentry_end(&k, 10);
}

static void release_calls_back_during_replacement(int with_idle)
{
    reentry_case k;
    reentry_begin(&k, with_idle);
    ircache_mark_step(k.c);
    put_reentrant(&k, "r", 0);
    ircache_mark_step(k.c);
    put_reentrant(&k, "r", 1); /* releases item 0, which inserts extra0 under r */
    CHECK_INT(atomic_load(&k.items[0].releases), 1);
    CHECK_INT(atomic_load(&k.items[1].releases), 0);
    ircache_stats s = stats_of(k.c);
    CHECK_U64(s.inserts, 3);
    CHECK_U64(s.nodes, 2);

    /* Now the release of item 1 clears the cache, item 2 with it. */
    k.r.clear_at = k.r.releases;
    ircache_mark_step(k.c);
    put_reentrant(&k, "r", 2);
    CHECK_INT(counted_first_not_released_once(k.items, 3), -1);
    CHECK_U64(stats_of(k.c).clears, 1);
    reentry_end(&k, 3);
}

static void release_clears_during_a_long_eviction(int with_idle)
{
    reentry_case k;
    reentry_begin(&k, with_idle);
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(k.c);
        put_reentrant(&k, key, i);
    }
    ircache_mark_step(k.c);
    k.r.clear_at = 0;
    CHECK_INT(ircache_set_max_nodes(k.c, 1), 0);
    /* 199 to evict; the first release clears the cache, the rest go with
     * it, each once. */
    CHECK_INT(counted_first_not_released_once(k.items, 200), -1);
    CHECK_INT(k.r.releases, 200);
    CHECK_U64(stats_of(k.c).clears, 1);
    reentry_end(&k, 200);
}

/* ircache_free releases payloads too, and their release may call back into
 * the cache going away: every call returns, none stores anything (a
 * position or a node made then would outlive the cache), and the payload
 * an insert was refused stays the caller's. */
typedef struct freeing {
    ircache *c;
    char *dot_path;
    counted refused; /* offered to an insert from each release */
    int releases;
    int cleared;
    int unexpected; /* calls that did not answer as a freed cache should */
} freeing;

static void release_into_a_cache_being_freed(void *payload, void *ctx)
{
    freeing *f = ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    f->releases++;
    ircache_stats s;
    if (ircache_get_stats(f->c, &s) != 0 || s.nodes != 0)
        f->unexpected++;
    if (ircache_lookup(f->c, KEY("k1")) != NULL)
        f->unexpected++;
    ircache_mark_step(f->c);
    if (ircache_insert(f->c, KEY("late"), "late", &f->refused, &counting_owner) != IRCACHE_EINVAL ||
        strstr(ircache_last_error(), "freed") == NULL)
        f->unexpected++;
    if (ircache_dump_dot(f->c, f->dot_path) != 0)
        f->unexpected++;
    if (ircache_set_max_nodes(f->c, 1) != 0)
        f->unexpected++;
    if (!f->cleared) {
        f->cleared = 1;
        ircache_clear(f->c);
    }
}

static void release_calls_back_during_free(int with_idle)
{
    reentry_case k; /* for its idle thread and directory only */
    reentry_begin(&k, with_idle);
    freeing f = {.c = k.c, .dot_path = path_join(k.dir, "in-free.dot")};
    ircache_owner owner = {checking_retain, release_into_a_cache_being_freed, &f};
    char key[16];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if (i % 2 == 0)
            ircache_mark_step(k.c);
        REQUIRE(ircache_insert(k.c, KEY(key), key, &k.items[i], &owner) == 0);
    }
    /* This thread's position stands on k7 now: the calls back must not
     * use it once ircache_free has dropped it. */
    k.r.armed = 0;
    reentry_end(&k, 8); /* frees the cache, checks each item released once */
    CHECK_INT(f.releases, 8);
    CHECK_INT(f.unexpected, 0);
    CHECK_INT(atomic_load(&f.refused.releases), 0);
    free(f.dot_path);
}

static void release_may_call_back_into_the_same_cache(void)
{
    for (int with_idle = 0; with_idle < 2; with_idle++) {
        release_calls_back_during_clear(with_idle);
        release_calls_back_during_eviction(with_idle);
        release_calls_back_during_replacement(with_idle);
        release_clears_during_a_long_eviction(with_idle);
        release_calls_back_during_free(with_idle);
    }
}

/* ---- counters add up --------------------------------------------------- */

#define STATS_THREADS 4
#define STATS_STEPS 20000
#define STATS_DEPTH 4
#define STATS_FANOUT 2

typedef struct stats_run {
    ircache *c;
    pthread_barrier_t parked; /* the workers and the main thread */
    tracked *pool[STATS_THREADS];
    size_t used[STATS_THREADS];
    long lookups[STATS_THREADS], hits[STATS_THREADS], misses[STATS_THREADS],
        inserts[STATS_THREADS];
} stats_run;

typedef struct stats_arg {
    stats_run *run;
    int index;
} stats_arg;

static void *stats_worker(void *arg)
{
    stats_arg *a = arg;
    stats_run *run = a->run;
    int i = a->index;
    uint32_t rng = 31u * (uint32_t)(i + 7);
    for (int step = 0; step < STATS_STEPS; step++) {
        ircache_mark_step(run->c);
        for (int d = 0; d < STATS_DEPTH; d++) {
            char key[2] = {(char)('0' + d), (char)('a' + next_random(&rng) % STATS_FANOUT)};
            run->lookups[i]++;
            tracked *hit = ircache_lookup(run->c, key, sizeof key);
            if (hit != NULL) {
                atomic_fetch_add(&hit->returned, 1);
                run->hits[i]++;
                continue;
            }
            run->misses[i]++;
            tracked *mine = &run->pool[i][run->used[i]++];
            if (ircache_insert(run->c, key, sizeof key, "op", mine, &checking_owner) == 0) {
                mine->inserted = 1;
                run->inserts[i]++;
            }
        }
    }
    pthread_barrier_wait(&run->parked); /* done, position still alive */
    pthread_barrier_wait(&run->parked); /* the main thread has counted */
    return NULL;
}

static long sum(const long *v, int n)
{
    long total = 0;
    for (int i = 0; i < n; i++)
        total += v[i];
    return total;
}

static void stats_add_up_under_concurrency(void)
{
    static stats_run run;
    memset(&run, 0, sizeof run);
    atomic_store(&retains_after_release, 0);
    run.c = ircache_new();
    REQUIRE(run.c != NULL);
    REQUIRE(pthread_barrier_init(&run.parked, NULL, STATS_THREADS + 1) == 0);
    pthread_t threads[STATS_THREADS];
    stats_arg args[STATS_THREADS];
    for (int i = 0; i < STATS_THREADS; i++) {
        run.pool[i] = tracked_array(STATS_STEPS * STATS_DEPTH);
        args[i] = (stats_arg){&run, i};
        start_thread(&threads[i], stats_worker, &args[i]);
    }
    pthread_barrier_wait(&run.parked);
    long lookups = sum(run.lookups, STATS_THREADS), hits = sum(run.hits, STATS_THREADS),
         misses = sum(run.misses, STATS_THREADS), inserts = sum(run.inserts, STATS_THREADS);
    ircache_stats live = stats_of(run.c);
    CHECK_U64(live.hits + live.misses, lookups);
    CHECK_U64(live.hits, hits);
    CHECK_U64(live.misses, misses);
    CHECK_U64(live.inserts, inserts);
    pthread_barrier_wait(&run.parked);
    for (int i = 0; i < STATS_THREADS; i++)
        join_thread(threads[i]);
    pthread_barrier_destroy(&run.parked);

    /* The threads are gone; their counts stay. */
    ircache_stats after = stats_of(run.c);
    CHECK_U64(after.hits, hits);
    CHECK_U64(after.misses, misses);
    CHECK_U64(after.inserts, inserts);
    /* Replacements released their old payload: with no clear or eviction,
     * nodes + releases so far = inserts. */
    long released = 0;
    for (int i = 0; i < STATS_THREADS; i++)
        for (size_t j = 0; j < run.used[i]; j++)
            released += atomic_load(&run.pool[i][j].n.releases);
    CHECK_U64(after.nodes + (uint64_t)released, inserts);
    CHECK_MSG(hits > lookups / 2, "only %ld hits in %ld lookups", hits, lookups);
    ircache_free(run.c);
    for (int i = 0; i < STATS_THREADS; i++) {
        check_tracked("stats", run.pool[i], run.used[i]);
        free(run.pool[i]);
    }
    CHECK_INT(atomic_load(&retains_after_release), 0);
}

/* ---- hit counts stay exact as threads join and leave -------------------- */

/* A thread alone in a cache counts hits with plain stores; the moment a
 * second thread takes a position both must count with compare-and-swap,
 * and the first may be in the middle of a hit right then. Many short-lived
 * joiners, each arriving while the first thread is busy hitting, give the
 * race many chances. */

#define JOIN_DEPTH 4
#define JOIN_JOINERS 64
#define JOIN_JOINER_STEPS 500
#define JOIN_ALONE_STEPS 20

typedef struct join_run {
    ircache *c;
    _Atomic int chain_ready, stop;
    _Atomic long steps_alone_thread; /* steps of the thread that came first */
    _Atomic long hits, misses;
} join_run;

static const char *const join_keys[JOIN_DEPTH] = {"j0", "j1", "j2", "j3"};

/* One step over the chain; returns the hits. */
static long join_step(join_run *run)
{
    long hits = 0;
    for (int d = 0; d < JOIN_DEPTH; d++) {
        if (ircache_lookup(run->c, KEY(join_keys[d])) != NULL)
            hits++;
        else
            atomic_fetch_add(&run->misses, 1);
    }
    ircache_mark_step(run->c);
    return hits;
}

static void *join_first(void *arg)
{
    join_run *run = arg;
    static int payload;
    for (int d = 0; d < JOIN_DEPTH; d++)
        REQUIRE(ircache_insert(run->c, KEY(join_keys[d]), "op", &payload, NULL) == 0);
    ircache_mark_step(run->c);
    atomic_store(&run->chain_ready, 1);
    long hits = 0;
    while (!atomic_load(&run->stop)) {
        hits += join_step(run);
        atomic_fetch_add(&run->steps_alone_thread, 1);
    }
    atomic_fetch_add(&run->hits, hits);
    return NULL;
}

static void *join_later(void *arg)
{
    join_run *run = arg;
    long hits = 0;
    for (int i = 0; i < JOIN_JOINER_STEPS; i++)
        hits += join_step(run);
    atomic_fetch_add(&run->hits, hits);
    return NULL;
}

/* Waits (yielding) until the first thread has made `more` more steps. */
static void join_wait_steps(join_run *run, long more)
{
    long until = atomic_load(&run->steps_alone_thread) + more;
    while (atomic_load(&run->steps_alone_thread) < until)
        sched_yield();
}

/* Sum of the "hits" of every node of a JSON dump but the root's, and the
 * number of nodes that have exactly `each` hits. */
static void json_hits(const char *text, long each, long *sum, int *nodes_with_each)
{
    *sum = 0;
    *nodes_with_each = 0;
    for (const char *at = strstr(text, "\"hits\": "); at != NULL; at = strstr(at + 1, "\"hits\": ")) {
        long n = strtol(at + strlen("\"hits\": "), NULL, 10);
        *sum += n;
        if (n == each)
            ++*nodes_with_each;
    }
}

/* Dumps c as JSON to path and checks that each of its `nodes` nodes has
 * exactly `each` hits. */
static void check_every_node_has_hits(ircache *c, const char *path, long each, int nodes)
{
    REQUIRE(ircache_dump_json(c, path) == 0);
    char *text = read_file(path, NULL);
    REQUIRE(text != NULL);
    long sum;
    int exact;
    json_hits(text, each, &sum, &exact);
    CHECK_MSG(exact == nodes, "%d of %d nodes have %ld hits (all hits: %ld)", exact, nodes, each, sum);
    CHECK_U64(sum, each * nodes);
    free(text);
}

static void hit_counts_stay_exact_as_threads_join_and_leave(void)
{
    static join_run run;
    memset(&run, 0, sizeof run);
    run.c = ircache_new();
    REQUIRE(run.c != NULL);
    pthread_t first;
    start_thread(&first, join_first, &run);
    while (!atomic_load(&run.chain_ready))
        sched_yield();
    for (int j = 0; j < JOIN_JOINERS; j++) {
        join_wait_steps(&run, JOIN_ALONE_STEPS); /* alone again: plain stores */
        pthread_t later;
        start_thread(&later, join_later, &run);
        join_thread(later);
    }
    join_wait_steps(&run, JOIN_ALONE_STEPS);
    atomic_store(&run.stop, 1);
    join_thread(first);

    long steps = atomic_load(&run.steps_alone_thread) + (long)JOIN_JOINERS * JOIN_JOINER_STEPS;
    CHECK_INT(atomic_load(&run.misses), 0);
    CHECK_U64(atomic_load(&run.hits), steps * JOIN_DEPTH);
    CHECK_U64(stats_of(run.c).hits, steps * JOIN_DEPTH);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "hits.json");
    check_every_node_has_hits(run.c, path, steps, JOIN_DEPTH);
    free(path);
    remove_temp_dir(dir);
    ircache_free(run.c);
}

/* ---- the last hit of a thread alone, read by another thread ----------- */

/* A thread alone in a cache writes a hit among a table's successors into
 * the node only at its next hit (lib/settle.h). Whatever another thread
 * reads meanwhile must include it: the count, the op statistics, the
 * most-recently-used order and the eviction order. */

#define IDLE_KEYS 8
#define IDLE_ROUNDS 5

/* A tracer thread that pauses, alone in its cache, while the test thread
 * (which has no position there) reads it, and exits when told. */
typedef struct pausing_tracer {
    ircache *c;
    _Atomic int stop;
    _Atomic long hits;
    pthread_barrier_t paused, resumed;
    pthread_t thread;
} pausing_tracer;

static void start_pausing_tracer(pausing_tracer *t, void *(*trace)(void *))
{
    memset(t, 0, sizeof *t);
    t->c = ircache_new();
    REQUIRE(t->c != NULL);
    pthread_barrier_init(&t->paused, NULL, 2);
    pthread_barrier_init(&t->resumed, NULL, 2);
    start_thread(&t->thread, trace, t);
}

/* The tracer's side: pause until the test has read. */
static void pause_tracing(pausing_tracer *t)
{
    pthread_barrier_wait(&t->paused);
    pthread_barrier_wait(&t->resumed);
}

static void end_pausing_tracer(pausing_tracer *t)
{
    pthread_barrier_wait(&t->resumed);
    join_thread(t->thread);
}

static void free_pausing_tracer(pausing_tracer *t)
{
    pthread_barrier_destroy(&t->paused);
    pthread_barrier_destroy(&t->resumed);
    ircache_free(t->c);
}

static const char *const idle_keys[IDLE_KEYS] = {"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"};

static void *trace_then_idle(void *arg)
{
    pausing_tracer *t = arg;
    static int payload;
    for (int k = 0; k < IDLE_KEYS; k++) {
        REQUIRE(ircache_insert(t->c, KEY(idle_keys[k]), "w", &payload, NULL) == 0);
        ircache_mark_step(t->c);
    }
    for (int r = 0; r < IDLE_ROUNDS; r++) {
        for (int k = 0; k < IDLE_KEYS; k++) {
            CHECK_PTR(ircache_lookup(t->c, KEY(idle_keys[k])), &payload);
            ircache_mark_step(t->c);
        }
    }
    pause_tracing(t); /* alone in the cache, and idle */
    return NULL;
}

static uint64_t reused_of(ircache *c, const char *op)
{
    ircache_op_stats out[4];
    int64_t count = ircache_get_op_stats(c, out, 4);
    REQUIRE(count >= 0 && count <= 4);
    for (int64_t i = 0; i < count; i++)
        if (strcmp(out[i].op, op) == 0)
            return out[i].reused;
    return UINT64_MAX;
}

/* Where "0 -> <id>\n" starts in text, or -1. */
static long root_edge_at(const char *text, int id)
{
    char edge[32];
    snprintf(edge, sizeof edge, "0 -> %d\n", id);
    const char *at = strstr(text, edge);
    return at != NULL ? at - text : -1;
}

static void an_idle_thread_s_last_hit_counts_for_other_threads(void)
{
    static pausing_tracer t;
    start_pausing_tracer(&t, trace_then_idle);
    pthread_barrier_wait(&t.paused);

    /* This thread has no position in the cache: the tracer is alone. */
    char *dir = make_temp_dir();
    char *json = path_join(dir, "idle.json"), *dot = path_join(dir, "idle.dot");
    check_every_node_has_hits(t.c, json, IDLE_ROUNDS, IDLE_KEYS);
    CHECK_U64(reused_of(t.c, "w"), IDLE_KEYS * IDLE_ROUNDS);

    /* Most recently used first: w7 (id 8), the tracer's last hit, ..., w0. */
    REQUIRE(ircache_dump_dot(t.c, dot) == 0);
    char *text = read_file(dot, NULL);
    REQUIRE(text != NULL);
    for (int id = IDLE_KEYS; id > 1; id--)
        CHECK_MSG(root_edge_at(text, id) >= 0 && root_edge_at(text, id) < root_edge_at(text, id - 1),
                  "the edge to %d comes before the one to %d in\n%s", id, id - 1, text);
    free(text);

    /* Least recently used go first: w0..w3, not w7. */
    CHECK_INT(ircache_set_max_nodes(t.c, IDLE_KEYS / 2), 0);
    REQUIRE(ircache_dump_dot(t.c, dot) == 0);
    text = read_file(dot, NULL);
    REQUIRE(text != NULL);
    for (int id = 1; id <= IDLE_KEYS; id++)
        CHECK_MSG((root_edge_at(text, id) >= 0) == (id > IDLE_KEYS / 2), "node %d %s in\n%s", id,
                  id > IDLE_KEYS / 2 ? "was evicted" : "was kept", text);
    free(text);
    CHECK_U64(reused_of(t.c, "w"), IDLE_KEYS * IDLE_ROUNDS);

    end_pausing_tracer(&t);
    CHECK_U64(reused_of(t.c, "w"), IDLE_KEYS * IDLE_ROUNDS);
    free(json);
    free(dot);
    remove_temp_dir(dir);
    free_pausing_tracer(&t);
}

/* The same while the tracer runs: another thread dumps, reads the op
 * statistics, bounds the cache below the tracer's keys (evicting them)
 * and lifts the bound, and clears; every hit the tracer saw is counted
 * exactly once in the end, whichever thread wrote it into its node. */

#define BUSY_KEYS 64

static void *trace_until_stopped(void *arg)
{
    pausing_tracer *t = arg;
    static int payload;
    long hits = 0;
    while (!atomic_load(&t->stop)) {
        for (int k = 0; k < BUSY_KEYS; k++) {
            char key[8];
            snprintf(key, sizeof key, "b%d", k);
            if (ircache_lookup(t->c, KEY(key)) != NULL)
                hits++;
            else
                REQUIRE(ircache_insert(t->c, KEY(key), "b", &payload, NULL) == 0);
            ircache_mark_step(t->c);
        }
    }
    atomic_store(&t->hits, hits);
    pause_tracing(t); /* alone, its last hit maybe pending */
    return NULL;
}

static void hits_count_once_while_another_thread_reads_and_clears(void)
{
    static pausing_tracer t;
    start_pausing_tracer(&t, trace_until_stopped);
    char *dir = make_temp_dir();
    char *json = path_join(dir, "busy.json");
    for (int i = 0; i < 200; i++) {
        REQUIRE(ircache_dump_json(t.c, json) == 0);
        /* Counted first: an insert between the two calls would otherwise
         * show "b" missing and an insert made (the tracer's first one). */
        uint64_t inserted = stats_of(t.c).inserts;
        CHECK(reused_of(t.c, "b") != UINT64_MAX || inserted == 0);
        if (i % 50 == 49)
            ircache_clear(t.c);
        if (i % 20 == 10)
            CHECK_INT(ircache_set_max_nodes(t.c, (uint64_t)(i % 40 == 10 ? BUSY_KEYS / 4 : 0)), 0);
    }
    atomic_store(&t.stop, 1);
    pthread_barrier_wait(&t.paused);
    long hits = atomic_load(&t.hits);
    CHECK(hits > 0);
    CHECK_U64(reused_of(t.c, "b"), hits);
    end_pausing_tracer(&t);
    CHECK_U64(reused_of(t.c, "b"), hits);
    CHECK_U64(stats_of(t.c).hits, hits);
    free(json);
    remove_temp_dir(dir);
    free_pausing_tracer(&t);
}

/* ---- threads and caches that come and go ------------------------------- */

typedef struct coming_going {
    ircache *first, *second;
    int a, a2;
    pthread_barrier_t barrier;
    _Atomic int wrong;
} coming_going;

/* Uses the first cache, waits while it is freed, uses a new one, waits
 * while that one is freed too, then exits. */
static void *outlives_its_caches(void *arg)
{
    coming_going *g = arg;
    if (ircache_insert(g->first, KEY("a"), "a", &g->a, NULL) != 0)
        atomic_fetch_add(&g->wrong, 1);
    ircache_mark_step(g->first);
    if (ircache_lookup(g->first, KEY("a")) != &g->a) /* stands at a */
        atomic_fetch_add(&g->wrong, 1);
    pthread_barrier_wait(&g->barrier); /* 1: the main thread counts */
    pthread_barrier_wait(&g->barrier); /* 2: the first cache is freed, a second made */
    if (ircache_lookup(g->second, KEY("a")) != NULL) /* a miss, from the root */
        atomic_fetch_add(&g->wrong, 1);
    if (ircache_insert(g->second, KEY("a"), "a2", &g->a2, NULL) != 0)
        atomic_fetch_add(&g->wrong, 1);
    ircache_mark_step(g->second);
    if (ircache_lookup(g->second, KEY("a")) != &g->a2)
        atomic_fetch_add(&g->wrong, 1);
    pthread_barrier_wait(&g->barrier); /* 3: the main thread counts, frees */
    pthread_barrier_wait(&g->barrier); /* 4 */
    return NULL;
}

typedef struct short_lived {
    ircache *c;
    int hits, misses;
} short_lived;

static void *look_and_exit(void *arg)
{
    short_lived *t = arg;
    for (int i = 0; i < t->hits; i++) {
        ircache_mark_step(t->c);
        (void)ircache_lookup(t->c, KEY("a"));
    }
    for (int i = 0; i < t->misses; i++)
        (void)ircache_lookup(t->c, KEY("nothing"));
    return NULL;
}

static void threads_and_caches_come_and_go(void)
{
    /* A thread that exited leaves its counts in the cache. */
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    int a;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &a, NULL) == 0);
    short_lived t1 = {c, 5, 3}, t2 = {c, 2, 7};
    pthread_t t;
    start_thread(&t, look_and_exit, &t1);
    join_thread(t);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.hits, 5);
    CHECK_U64(s.misses, 3);
    start_thread(&t, look_and_exit, &t2);
    join_thread(t);
    s = stats_of(c);
    CHECK_U64(s.hits, 7);
    CHECK_U64(s.misses, 10);
    ircache_free(c);

    /* A cache freed while a thread that used it lives on (standing on one
     * of its nodes); the thread then uses a new cache, which may well get
     * the old one's address; that one is freed under it too before it
     * exits. */
    coming_going *g = calloc(1, sizeof *g);
    REQUIRE(g != NULL);
    g->first = ircache_new();
    REQUIRE(g->first != NULL);
    REQUIRE(pthread_barrier_init(&g->barrier, NULL, 2) == 0);
    start_thread(&t, outlives_its_caches, g);
    pthread_barrier_wait(&g->barrier); /* 1 */
    s = stats_of(g->first);
    CHECK_U64(s.hits, 1);
    CHECK_U64(s.nodes, 1);
    ircache_free(g->first);
    g->second = ircache_new();
    REQUIRE(g->second != NULL);
    pthread_barrier_wait(&g->barrier); /* 2 */
    pthread_barrier_wait(&g->barrier); /* 3 */
    s = stats_of(g->second);
    CHECK_U64(s.nodes, 1);
    CHECK_U64(s.hits, 1);
    CHECK_U64(s.misses, 1);
    CHECK_U64(s.inserts, 1);
    ircache_free(g->second);
    pthread_barrier_wait(&g->barrier); /* 4 */
    join_thread(t);
    CHECK_INT(atomic_load(&g->wrong), 0);
    pthread_barrier_destroy(&g->barrier);
    free(g);
}

/* ---- eviction while others trace --------------------------------------- */

#define EVICT_TRACERS 2
#define EVICT_INSERTS 100000
#define EVICT_DEPTH 3
#define EVICT_FANOUT 3
#define EVICT_BOUND 6

typedef struct evict_run {
    ircache *c;
    tracked *pool;
    size_t used;
    _Atomic long inserts_done;
    _Atomic int inserter_done;
    /* Pacing, so that neither side runs away from the other: each tracer
     * stays within 2 * inserter_steps + 4 steps, and the inserter does not
     * start step s before the tracers made s steps between them, unless a
     * tracer stands waiting for inserts not done yet (its want). No cycle of
     * waits: a tracer held back by the pace has made more than s steps
     * itself, and a standing tracer whose inserts were done goes on. */
    _Atomic long inserter_steps, tracer_steps;
    _Atomic long want[EVICT_TRACERS];
    _Atomic long wrong_node, not_retained, pinned_released, tracer_hits;
} evict_run;

/* A node's id is its path: base-4 digits of choice + 1, root first. */
static int path_id(int parent_id, int choice)
{
    return parent_id * 4 + choice + 1;
}

static int inserts_wanted(evict_run *run)
{
    long done = atomic_load(&run->inserts_done);
    for (int i = 0; i < EVICT_TRACERS; i++)
        if (atomic_load(&run->want[i]) > done)
            return 1;
    return 0;
}

/* The only thread that inserts (and so evicts): it inserts only after a
 * miss, so nothing is ever replaced and every release is an eviction. */
static void *evicting_inserter(void *arg)
{
    evict_run *run = arg;
    uint32_t rng = 4242;
    for (long step = 0; run->used < EVICT_INSERTS; step++) {
        atomic_store(&run->inserter_steps, step);
        while (atomic_load(&run->tracer_steps) < step && !inserts_wanted(run))
            sched_yield();
        ircache_mark_step(run->c);
        int depth = 1 + (int)(next_random(&rng) % EVICT_DEPTH), id = 0;
        for (int d = 0; d < depth && run->used < EVICT_INSERTS; d++) {
            int choice = (int)(next_random(&rng) % EVICT_FANOUT);
            char key[2] = {(char)('0' + d), (char)('a' + choice)};
            id = path_id(id, choice);
            tracked *hit = ircache_lookup(run->c, key, sizeof key);
            if (hit != NULL) {
                if (hit->n.value != id)
                    atomic_fetch_add(&run->wrong_node, 1);
                atomic_fetch_add(&hit->returned, 1);
                continue;
            }
            tracked *mine = &run->pool[run->used++];
            mine->n.value = id;
            if (ircache_insert(run->c, key, sizeof key, "op", mine, &checking_owner) == 0)
                mine->inserted = 1;
            atomic_fetch_add(&run->inserts_done, 1);
        }
    }
    atomic_store(&run->inserter_done, 1);
    return NULL;
}

/* Traces the same paths without inserting; wherever it stands, the node
 * must stay (no release) until it moves on. To give the inserter time to
 * evict it wrongly, it waits for two more inserts while standing there. */
typedef struct pinning_arg {
    evict_run *run;
    int index;
} pinning_arg;

static void *pinning_tracer(void *arg)
{
    evict_run *run = ((pinning_arg *)arg)->run;
    int index = ((pinning_arg *)arg)->index;
    uint32_t rng = 99u + 17u * (uint32_t)index;
    for (long step = 0; !atomic_load(&run->inserter_done); step++) {
        while (step > 2 * atomic_load(&run->inserter_steps) + 4 &&
               !atomic_load(&run->inserter_done))
            sched_yield();
        atomic_fetch_add(&run->tracer_steps, 1);
        ircache_mark_step(run->c);
        int depth = 1 + (int)(next_random(&rng) % EVICT_DEPTH), id = 0;
        tracked *standing = NULL;
        for (int d = 0; d < depth; d++) {
            int choice = (int)(next_random(&rng) % EVICT_FANOUT);
            char key[2] = {(char)('0' + d), (char)('a' + choice)};
            id = path_id(id, choice);
            last_retained = NULL;
            tracked *hit = ircache_lookup(run->c, key, sizeof key);
            if (hit == NULL)
                break;
            if (hit->n.value != id)
                atomic_fetch_add(&run->wrong_node, 1);
            if (last_retained != hit)
                atomic_fetch_add(&run->not_retained, 1);
            if (atomic_load(&hit->n.releases) != 0)
                atomic_fetch_add(&run->pinned_released, 1);
            atomic_fetch_add(&hit->returned, 1);
            atomic_fetch_add(&run->tracer_hits, 1);
            standing = hit;
        }
        if (standing == NULL)
            continue;
        long seen = atomic_load(&run->inserts_done);
        atomic_store(&run->want[index], seen + 2);
        while (atomic_load(&run->inserts_done) < seen + 2 && !atomic_load(&run->inserter_done))
            sched_yield();
        atomic_store(&run->want[index], 0);
        if (atomic_load(&standing->n.releases) != 0)
            atomic_fetch_add(&run->pinned_released, 1);
    }
    return NULL;
}

/* ---- the payload where a thread stands, while another replaces it ----- */

/* A lookup's payload may be replaced by another thread as soon as the
 * lookup returns; ircache_position_payload then gives what the node holds
 * now, retained, never a released one. */
#define REPLACEMENTS 20000

typedef struct replace_run {
    ircache *c;
    tracked *pool;
    _Atomic int done;
} replace_run;

static void *replacing_thread(void *arg)
{
    replace_run *run = arg;
    for (int i = 1; i <= REPLACEMENTS; i++) {
        ircache_mark_step(run->c);
        run->pool[i].inserted = 1; /* read at the end only */
        REQUIRE(ircache_insert(run->c, KEY("k"), "k", &run->pool[i], &yielding_checking_owner) == 0);
    }
    atomic_store(&run->done, 1);
    return NULL;
}

static void position_payload_while_another_thread_replaces(void)
{
    static replace_run run;
    run.c = ircache_new();
    REQUIRE(run.c != NULL);
    run.pool = tracked_array(REPLACEMENTS + 1);
    atomic_store(&run.done, 0);
    atomic_store(&retains_after_release, 0);
    run.pool[0].inserted = 1;
    REQUIRE(ircache_insert(run.c, KEY("k"), "k", &run.pool[0], &yielding_checking_owner) == 0);
    pthread_t replacer;
    start_thread(&replacer, replacing_thread, &run);
    long hits = 0, here = 0, outside = 0;
    while (!atomic_load(&run.done)) {
        ircache_mark_step(run.c);
        tracked *hit = ircache_lookup(run.c, KEY("k"));
        if (hit == NULL)
            continue; /* a replacement under way: a miss */
        hits++;
        atomic_fetch_add(&hit->returned, 1);
        tracked *now = ircache_position_payload(run.c, &yielding_checking_owner);
        if (now == NULL)
            continue; /* the next replacement under way */
        here++;
        atomic_fetch_add(&now->returned, 1);
        outside += now < run.pool || now > run.pool + REPLACEMENTS;
    }
    join_thread(replacer);
    ircache_free(run.c);
    CHECK_INT(outside, 0);
    CHECK_INT(atomic_load(&retains_after_release), 0);
    check_tracked("position payload while replacing", run.pool, REPLACEMENTS + 1);
    CHECK_MSG(hits > 0 && here > 0, "hits %ld, payloads where the thread stood %ld", hits, here);
    free(run.pool);
}

static void eviction_while_others_trace(void)
{
    static evict_run run;
    memset(&run, 0, sizeof run);
    atomic_store(&retains_after_release, 0);
    run.c = ircache_new();
    REQUIRE(run.c != NULL);
    run.pool = tracked_array(EVICT_INSERTS);
    CHECK_INT(ircache_set_max_nodes(run.c, EVICT_BOUND), 0);
    pthread_t inserter, tracers[EVICT_TRACERS];
    pinning_arg args[EVICT_TRACERS];
    for (int i = 0; i < EVICT_TRACERS; i++) {
        args[i] = (pinning_arg){&run, i};
        start_thread(&tracers[i], pinning_tracer, &args[i]);
    }
    start_thread(&inserter, evicting_inserter, &run);
    join_thread(inserter);
    for (int i = 0; i < EVICT_TRACERS; i++)
        join_thread(tracers[i]);

    ircache_stats s = stats_of(run.c);
    long released = 0;
    for (size_t i = 0; i < run.used; i++)
        released += atomic_load(&run.pool[i].n.releases);
    CHECK_U64(s.evictions, released);
    CHECK_U64(s.nodes, s.inserts - s.evictions);
    ircache_free(run.c);
    CHECK_INT(atomic_load(&run.wrong_node), 0);
    CHECK_INT(atomic_load(&run.not_retained), 0);
    CHECK_INT(atomic_load(&run.pinned_released), 0);
    CHECK_INT(atomic_load(&retains_after_release), 0);
    check_tracked("eviction while tracing", run.pool, run.used);
    CHECK_MSG(atomic_load(&run.tracer_hits) > 100, "the tracers hit only %ld times",
              atomic_load(&run.tracer_hits));
    free(run.pool);
}

int main(int argc, char **argv)
{
    /* The eviction race by itself, more rounds for more chances. */
    if (argc > 1 && strcmp(argv[1], "eviction-race") == 0) {
        for (int i = 0; i < 5; i++) /* a race: more rounds, more chances */
            RUN(eviction_while_others_trace);
        return check_exit_code();
    }
    REQUIRE(argc == 1);
    RUN(positions_are_per_thread);
    RUN(the_trie_is_shared);
    RUN(clear_while_others_trace);
    RUN(clear_and_reset_move_every_position_to_the_root);
    RUN(release_may_call_back_into_the_same_cache);
    RUN(stats_add_up_under_concurrency);
    RUN(hit_counts_stay_exact_as_threads_join_and_leave);
    RUN(an_idle_thread_s_last_hit_counts_for_other_threads);
    RUN(hits_count_once_while_another_thread_reads_and_clears);
    RUN(threads_and_caches_come_and_go);
    RUN(position_payload_while_another_thread_replaces);
    RUN(eviction_while_others_trace);
    return check_exit_code();
}
