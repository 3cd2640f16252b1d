/* test_regressions.c - what a review of lib/ proved broken, each case named
 * for the promise of include/ircache.h it guards (the review's programs,
 * made deterministic): an eviction racing with lookups, a bound rebuilt
 * while evicted nodes wait for their release, a clear racing with a large
 * eviction, a retain that looks up again while a clear waits for it, a
 * failing call in a thread-exit destructor, and op statistics read while
 * a clear calls releases.
 *
 * The cases that need the library's internals (fault injection, the hit
 * counter) are in test_regressions_internal.c; fork() during the default
 * cache's creation, which needs a process of its own, in
 * test_regressions_fork.c.
 *
 * Ordering between threads comes from flags (a mutex and a condition
 * variable), barriers and joins; the one wait that cannot end on an event
 * (a clear that must NOT finish while a retain runs) is a bounded loop.
 * Only the main thread uses CHECK: other threads and callbacks that run on
 * them record what they saw in atomics. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

/* ---- flags: one thread raises, others wait ----------------------------- */

typedef struct flag {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int raised;
} flag;

static void flag_init(flag *f)
{
    REQUIRE(pthread_mutex_init(&f->mutex, NULL) == 0);
    REQUIRE(pthread_cond_init(&f->cond, NULL) == 0);
    f->raised = 0;
}

static void flag_destroy(flag *f)
{
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mutex);
}

static void flag_raise(flag *f)
{
    pthread_mutex_lock(&f->mutex);
    f->raised = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
}

static void flag_wait(flag *f)
{
    pthread_mutex_lock(&f->mutex);
    while (!f->raised)
        pthread_cond_wait(&f->cond, &f->mutex);
    pthread_mutex_unlock(&f->mutex);
}

/* ---- an eviction racing with lookups (evict_race.c) -------------------- */

/* One writer inserts key after key into a cache bounded at a few nodes, so
 * that nearly every insert evicts; readers look up the keys just inserted,
 * which are the ones being evicted; idle threads hold positions, so that
 * every eviction must wait for lookups in flight. Before the fix a lookup
 * could step onto a leaf being evicted (a retain after its release) or read
 * a slot already reused (a wrong payload, or a crash). Every RACE_PACE
 * inserts the writer waits for each reader to finish two sweeps, the second
 * begun while the writer waits (so it hits the RACE_BOUND nodes held): the
 * readers hit, however the threads are scheduled. */
#define RACE_INSERTS 40000
#define RACE_BOUND 4
#define RACE_READERS 2
#define RACE_IDLE 64 /* more positions to wait for: a wider window */
#define RACE_PACE 1000

typedef struct race_item {
    unsigned long long key;
    _Atomic int released; /* release calls */
    _Atomic int retained; /* retain calls */
} race_item;

typedef struct evict_race {
    ircache *c;
    race_item *items;                 /* items[i] has key i; [0] unused */
    _Atomic unsigned long long latest; /* the last key inserted */
    _Atomic int done;
    _Atomic long sweeps[RACE_READERS]; /* finished by each reader */
    pthread_barrier_t idle_barrier;
    _Atomic long hits, retain_after_release, wrong_payload, foreign_payload, double_release;
} evict_race;

static evict_race *race; /* the owner's callbacks find the run here */

static void race_retain(void *payload, void *ctx)
{
    (void)ctx;
    race_item *it = payload;
    if (atomic_load(&it->released) != 0)
        atomic_fetch_add(&race->retain_after_release, 1);
    atomic_fetch_add(&it->retained, 1);
}

static void race_release(void *payload, void *ctx)
{
    (void)ctx;
    race_item *it = payload;
    if (atomic_fetch_add(&it->released, 1) != 0)
        atomic_fetch_add(&race->double_release, 1);
}

static const ircache_owner race_owner = {race_retain, race_release, NULL};

/* Waits until every reader has finished two more sweeps. */
static void race_pace(evict_race *r)
{
    for (int j = 0; j < RACE_READERS; j++) {
        long target = atomic_load(&r->sweeps[j]) + 2;
        while (atomic_load(&r->sweeps[j]) < target)
            sched_yield();
    }
}

static void *race_writer(void *arg)
{
    evict_race *r = arg;
    for (unsigned long long i = 1; i <= RACE_INSERTS; i++) {
        if (i % RACE_PACE == 0)
            race_pace(r);
        race_item *it = &r->items[i];
        ircache_mark_step(r->c);
        if (ircache_insert(r->c, &it->key, sizeof it->key, "op", it, &race_owner) != 0)
            abort(); /* nothing here can fail: the run would mean nothing */
        atomic_store(&r->latest, i);
        ircache_mark_step(r->c);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

typedef struct race_reader_arg {
    evict_race *r;
    int index;
} race_reader_arg;

static void *race_reader(void *arg)
{
    evict_race *r = ((race_reader_arg *)arg)->r;
    _Atomic long *sweeps = &r->sweeps[((race_reader_arg *)arg)->index];
    while (!atomic_load(&r->done)) {
        unsigned long long latest = atomic_load(&r->latest);
        unsigned long long first = latest > RACE_BOUND ? latest - RACE_BOUND : 1;
        for (unsigned long long k = first; k <= latest; k++) {
            race_item *it = ircache_lookup(r->c, &k, sizeof k);
            if (it != NULL) {
                atomic_fetch_add(&r->hits, 1);
                uintptr_t at = (uintptr_t)it, base = (uintptr_t)r->items;
                if (at < base || at > (uintptr_t)&r->items[RACE_INSERTS] ||
                    (at - base) % sizeof *it != 0)
                    atomic_fetch_add(&r->foreign_payload, 1); /* not ours at all */
                else if (it->key != k)
                    atomic_fetch_add(&r->wrong_payload, 1);
            }
            ircache_mark_step(r->c);
        }
        atomic_fetch_add(sweeps, 1);
    }
    return NULL;
}

static void *race_idle(void *arg)
{
    evict_race *r = arg;
    unsigned long long nothing = 0; /* no key 0 is ever inserted */
    if (ircache_lookup(r->c, &nothing, sizeof nothing) != NULL)
        abort();
    pthread_barrier_wait(&r->idle_barrier); /* registered */
    pthread_barrier_wait(&r->idle_barrier); /* the run is over */
    return NULL;
}

static void evicting_while_others_look_up_never_hands_out_a_released_or_wrong_payload(void)
{
    static evict_race r;
    memset(&r, 0, sizeof r);
    race = &r;
    r.c = ircache_new();
    REQUIRE(r.c != NULL);
    r.items = calloc(RACE_INSERTS + 1, sizeof *r.items);
    REQUIRE(r.items != NULL);
    for (unsigned long long i = 0; i <= RACE_INSERTS; i++)
        r.items[i].key = i;
    CHECK_INT(ircache_set_max_nodes(r.c, RACE_BOUND), 0);

    pthread_t idle[RACE_IDLE], readers[RACE_READERS], writer;
    REQUIRE(pthread_barrier_init(&r.idle_barrier, NULL, RACE_IDLE + 1) == 0);
    for (int i = 0; i < RACE_IDLE; i++)
        start_thread(&idle[i], race_idle, &r);
    pthread_barrier_wait(&r.idle_barrier);
    race_reader_arg reader_args[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++) {
        reader_args[i] = (race_reader_arg){&r, i};
        start_thread(&readers[i], race_reader, &reader_args[i]);
    }
    start_thread(&writer, race_writer, &r);
    join_thread(writer);
    for (int i = 0; i < RACE_READERS; i++)
        join_thread(readers[i]);
    pthread_barrier_wait(&r.idle_barrier);
    for (int i = 0; i < RACE_IDLE; i++)
        join_thread(idle[i]);
    pthread_barrier_destroy(&r.idle_barrier);

    ircache_stats s = stats_of(r.c);
    CHECK_U64(s.inserts, RACE_INSERTS);
    CHECK_U64(s.nodes, RACE_BOUND);
    CHECK_U64(s.evictions, RACE_INSERTS - RACE_BOUND);
    ircache_free(r.c);
    CHECK_INT(atomic_load(&r.retain_after_release), 0);
    CHECK_INT(atomic_load(&r.wrong_payload), 0);
    CHECK_INT(atomic_load(&r.foreign_payload), 0);
    CHECK_INT(atomic_load(&r.double_release), 0);
    long not_once = -1;
    for (long i = 1; i <= RACE_INSERTS && not_once < 0; i++)
        if (atomic_load(&r.items[i].released) != 1)
            not_once = i;
    CHECK_MSG(not_once < 0, "payload %ld was released %d times", not_once,
              not_once < 0 ? 1 : atomic_load(&r.items[not_once].released));
    long least_hits = (long)(RACE_INSERTS / RACE_PACE) * RACE_READERS * RACE_BOUND;
    CHECK_MSG(atomic_load(&r.hits) >= least_hits, "the readers hit only %ld times (at least %ld)",
              atomic_load(&r.hits), least_hits);
    free(r.items);
    race = NULL;
}

/* ---- a bound rebuilt while evicted nodes wait (grave_rebuild.c) -------- */

/* An eviction of more than a batch of nodes releases them in batches; the
 * first release sets the bound to 0 and back (a release may call any
 * function), which rebuilds the eviction order from the nodes held. Before
 * the fix that order included the nodes still waiting for their release:
 * they were evicted and released again. */
#define REBUILD_NODES 200

typedef struct rebuild {
    ircache *c;
    counted *items;
    int toggled;
    int toggle_failures;
} rebuild;

static void rebuild_release(void *payload, void *ctx)
{
    rebuild *r = ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    if (r->toggled)
        return;
    r->toggled = 1;
    if (ircache_set_max_nodes(r->c, 0) != 0)
        r->toggle_failures++;
    if (ircache_set_max_nodes(r->c, 5) != 0)
        r->toggle_failures++;
}

static void an_evicted_node_is_released_once_when_the_bound_is_rebuilt(void)
{
    rebuild r = {.c = ircache_new(), .items = counted_array(REBUILD_NODES)};
    REQUIRE(r.c != NULL);
    const ircache_owner owner = {NULL, rebuild_release, &r};
    for (int i = 0; i < REBUILD_NODES; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(r.c);
        REQUIRE(ircache_insert(r.c, KEY(key), "op", &r.items[i], &owner) == 0);
    }
    ircache_mark_step(r.c);
    /* The 190 least recently used go; the first release lowers the bound to
     * 5 from inside, which takes 5 more. */
    CHECK_INT(ircache_set_max_nodes(r.c, 10), 0);
    CHECK_INT(r.toggled, 1);
    CHECK_INT(r.toggle_failures, 0);
    CHECK_INT(counted_first_not_released_once(r.items, REBUILD_NODES - 5), -1);
    CHECK_INT(counted_total_releases(r.items + REBUILD_NODES - 5, 5), 0);
    ircache_stats s = stats_of(r.c);
    CHECK_U64(s.nodes, 5);
    CHECK_U64(s.evictions, REBUILD_NODES - 5);
    CHECK_U64(s.max_nodes, 5);
    ircache_free(r.c);
    CHECK_INT(counted_first_not_released_once(r.items, REBUILD_NODES), -1);
    free(r.items);
}

/* ---- a clear during a large eviction (grave_takeover_timing.c) --------- */

/* The header: a release is called "before the call that dropped it
 * returns". An eviction of 190 nodes releases them in batches; its first
 * release starts a clear in another thread, and that clear's first release
 * holds the clear until the evicting call has returned. Before the fix the
 * clear took over the releases the eviction had not yet called: the
 * evicting call returned having released one batch, and the clear released
 * the rest later. (The header's one exception, an eviction out of memory,
 * does not arise here.) */
#define TAKEOVER_NODES 200
#define TAKEOVER_BOUND 10

typedef struct takeover {
    ircache *c;
    counted *items;
    pthread_t evictor, clearer;
    _Atomic int clear_started;
    _Atomic long by_evictor, by_clearer;
    flag clear_releasing; /* the clear's first release is running */
    flag evicted;         /* the evicting call has returned */
} takeover;

static void *takeover_clear(void *arg)
{
    takeover *t = arg;
    ircache_clear(t->c);
    return NULL;
}

static void takeover_release(void *payload, void *ctx)
{
    takeover *t = ctx;
    if (pthread_equal(pthread_self(), t->evictor)) {
        atomic_fetch_add(&t->by_evictor, 1);
        if (!atomic_exchange(&t->clear_started, 1)) {
            start_thread(&t->clearer, takeover_clear, t);
            flag_wait(&t->clear_releasing);
        }
    } else if (atomic_fetch_add(&t->by_clearer, 1) == 0) {
        flag_raise(&t->clear_releasing);
        flag_wait(&t->evicted); /* a slow release: it counts once the eviction returned */
    }
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}

static void an_eviction_releases_what_it_dropped_before_it_returns_while_a_clear_runs(void)
{
    static takeover t;
    memset(&t, 0, sizeof t);
    t.c = ircache_new();
    REQUIRE(t.c != NULL);
    t.items = counted_array(TAKEOVER_NODES);
    t.evictor = pthread_self();
    flag_init(&t.clear_releasing);
    flag_init(&t.evicted);
    const ircache_owner owner = {NULL, takeover_release, &t};
    for (int i = 0; i < TAKEOVER_NODES; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ircache_mark_step(t.c);
        REQUIRE(ircache_insert(t.c, KEY(key), "op", &t.items[i], &owner) == 0);
    }
    ircache_mark_step(t.c);
    CHECK_INT(ircache_set_max_nodes(t.c, TAKEOVER_BOUND), 0);
    /* Returned: the clear is still in its first release, so every release
     * counted now is the eviction's. */
    long at_return = counted_total_releases(t.items, TAKEOVER_NODES);
    long by_evictor = atomic_load(&t.by_evictor);
    long evicted_released = counted_total_releases(t.items, TAKEOVER_NODES - TAKEOVER_BOUND);
    flag_raise(&t.evicted);
    CHECK_INT(atomic_load(&t.clear_started), 1);
    if (atomic_load(&t.clear_started))
        join_thread(t.clearer);
    CHECK_INT(by_evictor, TAKEOVER_NODES - TAKEOVER_BOUND);
    CHECK_INT(at_return, TAKEOVER_NODES - TAKEOVER_BOUND);
    CHECK_INT(evicted_released, TAKEOVER_NODES - TAKEOVER_BOUND);
    /* The clear released the nodes that were left, and only those. */
    CHECK_INT(atomic_load(&t.by_clearer), TAKEOVER_BOUND);
    CHECK_INT(counted_first_not_released_once(t.items, TAKEOVER_NODES), -1);
    ircache_stats s = stats_of(t.c);
    CHECK_U64(s.nodes, 0);
    CHECK_U64(s.evictions, TAKEOVER_NODES - TAKEOVER_BOUND);
    CHECK_U64(s.clears, 1);
    ircache_free(t.c);
    CHECK_INT(counted_first_not_released_once(t.items, TAKEOVER_NODES), -1);
    flag_destroy(&t.clear_releasing);
    flag_destroy(&t.evicted);
    free(t.items);
}

/* ---- a clear while a retain runs (nested_lookup.c) --------------------- */

/* A retain runs "while the node it retains is protected from being
 * dropped": a clear started meanwhile must wait for it. The retain starts
 * the clear itself, waits until the clearing thread is about to call
 * ircache_clear, then gives it ample time to finish (it must not), and
 * notes whether the payload was released meanwhile. With a lookup inside
 * the retain (a miss), the outer lookup must stay protected: before the fix
 * the inner lookup's exit ended the outer one's protection, and the clear
 * released the payload the retain was still working on. (The header asks
 * retain not to call into the library, nor to take long; the library keeps
 * a lookup from within retain safe all the same, and this case checks
 * that.) */
#define RETAIN_PATIENCE 20000 /* yields while the clear must stay blocked */

typedef struct retain_case {
    ircache *c;
    counted item;
    int nested;
    int armed;                /* the next retain on the main thread acts */
    pthread_t clearer;
    flag clearing;            /* the clearer is about to call ircache_clear */
    int released_in_retain;   /* releases seen while the retain ran */
    void *inner_result;       /* what the lookup inside the retain returned */
} retain_case;

static retain_case *retaining;

static void *retain_clear(void *arg)
{
    retain_case *k = arg;
    flag_raise(&k->clearing);
    ircache_clear(k->c);
    return NULL;
}

static void clearing_retain(void *payload, void *ctx)
{
    (void)ctx;
    retain_case *k = retaining;
    counted *p = payload;
    atomic_fetch_add(&p->retains, 1);
    if (!k->armed)
        return;
    k->armed = 0;
    if (k->nested)
        k->inner_result = ircache_lookup(k->c, KEY("inner"));
    start_thread(&k->clearer, retain_clear, k);
    flag_wait(&k->clearing);
    for (int i = 0; i < RETAIN_PATIENCE && atomic_load(&p->releases) == 0; i++)
        sched_yield();
    k->released_in_retain = atomic_load(&p->releases);
}

static void counting_release(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}

static const ircache_owner clearing_owner = {clearing_retain, counting_release, NULL};

static void run_retain_case(int nested)
{
    static retain_case k;
    memset(&k, 0, sizeof k);
    retaining = &k;
    k.c = ircache_new();
    REQUIRE(k.c != NULL);
    k.nested = nested;
    k.inner_result = &k; /* anything but NULL: the inner lookup must miss */
    flag_init(&k.clearing);
    ircache_mark_step(k.c);
    REQUIRE(ircache_insert(k.c, KEY("a"), "a", &k.item, &clearing_owner) == 0);
    ircache_mark_step(k.c);
    k.armed = 1;
    CHECK_PTR(ircache_lookup(k.c, KEY("a")), &k.item);
    CHECK_INT(k.armed, 0);
    join_thread(k.clearer);
    CHECK_MSG(k.released_in_retain == 0,
              "the clear released the payload while its retain ran (nested lookup: %d)", nested);
    if (nested)
        CHECK_PTR(k.inner_result, NULL);
    CHECK_INT(atomic_load(&k.item.retains), 1);
    CHECK_INT(atomic_load(&k.item.releases), 1);
    CHECK_U64(stats_of(k.c).nodes, 0);
    ircache_free(k.c);
    CHECK_INT(atomic_load(&k.item.releases), 1);
    flag_destroy(&k.clearing);
    retaining = NULL;
}

static void a_clear_waits_for_retain(void)
{
    run_retain_case(0);
}

static void a_lookup_inside_retain_keeps_the_outer_protected(void)
{
    run_retain_case(1);
}

/* A lookup inside a retain that hits: it is a whole lookup (it counts,
 * moves the position and retains in turn), inside the outer lookup's
 * protection, and the outer lookup still returns its own payload. */
static ircache *looking_cache;
static _Atomic int looking_armed;
static void *looked_up;

static void looking_retain(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->retains, 1);
    if (atomic_exchange(&looking_armed, 0))
        looked_up = ircache_lookup(looking_cache, KEY("b"));
}

static const ircache_owner looking_owner = {looking_retain, counting_release, NULL};

static void a_lookup_inside_retain_may_hit(void)
{
    looking_cache = ircache_new();
    REQUIRE(looking_cache != NULL);
    counted *p = counted_array(2);
    REQUIRE(ircache_insert(looking_cache, KEY("a"), "a", &p[0], &looking_owner) == 0);
    REQUIRE(ircache_insert(looking_cache, KEY("b"), "b", &p[1], &looking_owner) == 0);
    ircache_mark_step(looking_cache);
    atomic_store(&looking_armed, 1);
    looked_up = NULL;
    CHECK_PTR(ircache_lookup(looking_cache, KEY("a")), &p[0]);
    CHECK_PTR(looked_up, &p[1]);
    CHECK_INT(atomic_load(&p[0].retains), 1);
    CHECK_INT(atomic_load(&p[1].retains), 1);
    ircache_stats st = stats_of(looking_cache);
    CHECK_U64(st.hits, 2);
    CHECK_U64(st.misses, 0);
    /* The inner lookup moved the position on to b: b has no successor. */
    CHECK_PTR(ircache_lookup(looking_cache, KEY("b")), NULL);
    ircache_free(looking_cache);
    CHECK_INT(counted_total_releases(p, 2), 2);
    free(p);
}

/* ---- a failing call at thread exit (error_tls_uaf.c) ------------------- */

/* "The text stays valid until the next failing call on this thread", and
 * the library never writes where it should not: also in a key destructor
 * that runs after the library freed the thread's message buffer. Before the
 * fix the thread-local pointer still named the freed buffer, and the failing
 * call wrote its message there. The destructor runs twice (it sets its key
 * again), so that its second run comes after every first-round destructor,
 * the library's included, whatever the order of the keys; there it fails a
 * call, then allocates a block of the buffer's size and fills it: the
 * message must not be in that block, nor change. */
#define ERROR_BUFFER_SIZE 4352 /* lib/error.c's LAST_ERROR_SIZE: the likeliest to reuse */

static pthread_key_t late_key;

typedef struct late_result {
    int runs;
    int message_ok;     /* the message read right after the failure */
    int message_kept;   /* unchanged after our allocation */
    int in_our_block;   /* the message lived in the block we allocated */
} late_result;

static late_result late;

static void late_destructor(void *value)
{
    late.runs++;
    if (late.runs == 1) {
        (void)pthread_setspecific(late_key, value); /* once more, next round */
        return;
    }
    ircache_mark_step(NULL); /* fails: records a message */
    const char *text = ircache_last_error();
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    late.message_ok = strstr(copy, "invalid argument") != NULL;
    char *block = malloc(ERROR_BUFFER_SIZE);
    if (block != NULL) {
        memset(block, 'X', ERROR_BUFFER_SIZE - 1);
        block[ERROR_BUFFER_SIZE - 1] = '\0';
    }
    const char *after = ircache_last_error();
    late.in_our_block = block != NULL && after >= block && after < block + ERROR_BUFFER_SIZE;
    late.message_kept = !late.in_our_block && strcmp(after, copy) == 0;
    free(block);
}

static void *fail_then_exit(void *arg)
{
    (void)arg;
    ircache_mark_step(NULL); /* the first failure: the library's buffer and key */
    if (pthread_key_create(&late_key, late_destructor) != 0)
        abort();
    (void)pthread_setspecific(late_key, &late);
    return NULL;
}

static void a_failing_call_in_a_late_thread_exit_destructor_keeps_its_message(void)
{
    memset(&late, 0, sizeof late);
    pthread_t t;
    start_thread(&t, fail_then_exit, NULL);
    join_thread(t);
    pthread_key_delete(late_key);
    CHECK_INT(late.runs, 2);
    CHECK_INT(late.message_ok, 1);
    CHECK_INT(late.in_our_block, 0);
    CHECK_INT(late.message_kept, 1);
}

/* ---- op statistics read while a clear calls releases ------------------- */

/* ircache_get_op_stats promises exact counts, and reused only ever grows:
 * monitoring reads it as PyTorch's IrNodeReused_<op> counters. A clear
 * used to move each node's hits into its op's count only as it released
 * that node, so a release (or another thread) reading the statistics
 * meanwhile saw reuses vanish, then come back. */
typedef struct reuse_probe {
    ircache *c;
    int releases;
    uint64_t least, most; /* reused, as the releases saw it */
} reuse_probe;

static void probing_release(void *payload, void *ctx)
{
    (void)payload;
    reuse_probe *probe = ctx;
    uint64_t reused = op_reused(probe->c, "mm");
    probe->least = reused < probe->least ? reused : probe->least;
    probe->most = reused > probe->most ? reused : probe->most;
    probe->releases++;
}

static void op_reuse_counts_hold_while_a_clear_calls_releases(void)
{
    enum { NODES = 50, ROUNDS = 4 };
    static int payloads[NODES];
    reuse_probe probe = {ircache_new(), 0, UINT64_MAX, 0};
    ircache *c = probe.c;
    ircache_owner owner = {NULL, probing_release, &probe};
    for (int i = 0; i < NODES; i++) {
        CHECK_INT(ircache_insert(c, &i, sizeof i, "mm", &payloads[i], &owner), 0);
        ircache_mark_step(c);
    }
    for (int round = 0; round < ROUNDS; round++)
        for (int i = 0; i < NODES; i++) {
            CHECK(ircache_lookup(c, &i, sizeof i) == &payloads[i]);
            ircache_mark_step(c);
        }
    CHECK(op_reused(c, "mm") == NODES * ROUNDS);
    ircache_clear(c);
    CHECK_INT(probe.releases, NODES);
    CHECK(probe.least == NODES * ROUNDS);
    CHECK(probe.most == NODES * ROUNDS);
    CHECK(op_reused(c, "mm") == NODES * ROUNDS);
    ircache_free(c);
}

/* A clear in a thread of its own whose first release waits at a gate. */
typedef struct gated_clear {
    ircache *c;
    ircache_owner owner; /* releases with this clear's gate */
    flag in_release, go;
    _Atomic int releases;
} gated_clear;

static void gated_release(void *payload, void *ctx)
{
    (void)payload;
    gated_clear *g = ctx;
    if (atomic_fetch_add(&g->releases, 1) == 0) {
        flag_raise(&g->in_release);
        flag_wait(&g->go);
    }
}

static void *gated_clearing(void *arg)
{
    ircache_clear(((gated_clear *)arg)->c);
    return NULL;
}

static void gated_clear_init(gated_clear *g, ircache *c)
{
    g->c = c;
    g->owner = (ircache_owner){NULL, gated_release, g};
    flag_init(&g->in_release);
    flag_init(&g->go);
    atomic_init(&g->releases, 0);
}

static void gated_clear_destroy(gated_clear *g)
{
    flag_destroy(&g->in_release);
    flag_destroy(&g->go);
}

/* n nodes labelled op under the root, each hit hits times. */
static void fill_and_hit(gated_clear *g, const char *op, int n, int hits)
{
    static int payload;
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%d", op, i);
        CHECK_INT(ircache_insert(g->c, KEY(key), op, &payload, &g->owner), 0);
        ircache_mark_step(g->c);
        for (int h = 0; h < hits; h++) {
            CHECK(ircache_lookup(g->c, KEY(key)) == &payload);
            ircache_mark_step(g->c);
        }
    }
}

/* The same, read by another thread while the clear's first release waits. */
static void op_reuse_counts_hold_for_another_thread_while_a_clear_calls_releases(void)
{
    enum { NODES = 50, ROUNDS = 3 };
    gated_clear g;
    gated_clear_init(&g, ircache_new());
    fill_and_hit(&g, "mm", NODES, ROUNDS);
    pthread_t clearing;
    start_thread(&clearing, gated_clearing, &g);
    flag_wait(&g.in_release);
    CHECK(op_reused(g.c, "mm") == NODES * ROUNDS); /* while the clear releases */
    flag_raise(&g.go);
    join_thread(clearing);
    CHECK_INT(atomic_load(&g.releases), NODES);
    CHECK(op_reused(g.c, "mm") == NODES * ROUNDS);
    ircache_free(g.c);
    gated_clear_destroy(&g);
}

/* Two clears releasing at once, the first to start finishing first: the
 * op statistics count each one's nodes until it is done, whatever the
 * order (the list of clearings loses no entry from its middle). */
static void op_reuse_counts_hold_while_two_clears_release_out_of_order(void)
{
    ircache *c = ircache_new();
    gated_clear first, second;
    gated_clear_init(&first, c);
    gated_clear_init(&second, c);
    pthread_t one, two;
    fill_and_hit(&first, "a", 20, 2);
    start_thread(&one, gated_clearing, &first);
    flag_wait(&first.in_release);
    fill_and_hit(&second, "b", 30, 3);
    start_thread(&two, gated_clearing, &second);
    flag_wait(&second.in_release);
    CHECK(op_reused(c, "a") == 40 && op_reused(c, "b") == 90);
    flag_raise(&first.go); /* the first clear ends while the second releases */
    join_thread(one);
    CHECK(op_reused(c, "a") == 40 && op_reused(c, "b") == 90);
    flag_raise(&second.go);
    join_thread(two);
    CHECK(op_reused(c, "a") == 40 && op_reused(c, "b") == 90);
    CHECK_INT(atomic_load(&first.releases), 20);
    CHECK_INT(atomic_load(&second.releases), 30);
    ircache_free(c);
    gated_clear_destroy(&first);
    gated_clear_destroy(&second);
}

int main(void)
{
    RUN(evicting_while_others_look_up_never_hands_out_a_released_or_wrong_payload);
    RUN(an_evicted_node_is_released_once_when_the_bound_is_rebuilt);
    RUN(an_eviction_releases_what_it_dropped_before_it_returns_while_a_clear_runs);
    RUN(a_clear_waits_for_retain);
    RUN(a_lookup_inside_retain_keeps_the_outer_protected);
    RUN(a_lookup_inside_retain_may_hit);
    RUN(a_failing_call_in_a_late_thread_exit_destructor_keeps_its_message);
    RUN(op_reuse_counts_hold_while_a_clear_calls_releases);
    RUN(op_reuse_counts_hold_for_another_thread_while_a_clear_calls_releases);
    RUN(op_reuse_counts_hold_while_two_clears_release_out_of_order);
    return check_exit_code();
}
