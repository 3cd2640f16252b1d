/* test_stress.c - the default cache under every kind of use at once:
 * threads tracing different and overlapping programs while one more thread
 * resets the cache, dumps it, changes its bound and reads its counters.
 *
 * What must hold at the end (after a final reset): every payload inserted
 * was released exactly once, and retained exactly as often as a lookup
 * returned it, never after its release; every dump file is complete and
 * nothing else is left in the directory; the counters add up to what the
 * threads did.
 *
 * Ordering between threads comes from joins and atomics only; the loops are
 * bounded by iteration counts. Worker threads never use CHECK (check.h's
 * counter is not atomic): they count violations in atomics that the main
 * thread checks after joining them. Registered twice: as it is, and with
 * IRCACHE_FORCE_READER_FENCE=1 (lookups fence themselves instead of the
 * writers' membarrier; lib/reclaim.c). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dotfile.h"
#include "ircache.h"
#include "support.h"

#define TRACERS 4
#define PROGRAMS 3 /* tracer t runs program t % PROGRAMS: tracers 0 and 3 replay one */
#define VARIANTS 3 /* each program's tail changes with the step */
#define DEPTH 8    /* ops per step */
#define SHARED 2   /* ops every program starts with */
#define COMMON 5   /* ops before a program's tail varies */
#define STEPS 10000 /* steps per tracer */
#define ROUNDS 1000 /* rounds of the disrupting thread */
#define KEY_SIZE 24
#define GAP ((long)TRACERS * STEPS * DEPTH / ROUNDS) /* lookups per round */

/* ---- programs ----------------------------------------------------------- */

/* keys[p][v][d]: the d-th op of program p in its variant v. Every program
 * starts with the same SHARED ops, then its own, then a tail that varies. */
static char keys[PROGRAMS][VARIANTS][DEPTH][KEY_SIZE];

static void make_programs(void)
{
    for (int p = 0; p < PROGRAMS; p++)
        for (int v = 0; v < VARIANTS; v++)
            for (int d = 0; d < DEPTH; d++) {
                if (d < SHARED)
                    snprintf(keys[p][v][d], KEY_SIZE, "op%d", d);
                else if (d < COMMON)
                    snprintf(keys[p][v][d], KEY_SIZE, "op%d.p%d", d, p);
                else
                    snprintf(keys[p][v][d], KEY_SIZE, "op%d.p%d.v%d", d, p, v);
            }
}

/* Every label in a dump is one of the keys (each node is labelled with its
 * key). */
static int is_a_key(const char *op, void *ctx)
{
    (void)ctx;
    for (int p = 0; p < PROGRAMS; p++)
        for (int v = 0; v < VARIANTS; v++)
            for (int d = 0; d < DEPTH; d++)
                if (strcmp(op, keys[p][v][d]) == 0)
                    return 1;
    return 0;
}

/* ---- payloads and their owner ------------------------------------------ */

typedef struct payload {
    const char *key;      /* the key it was inserted under */
    _Atomic int retains;  /* counted by the owner */
    _Atomic int releases; /* counted by the owner */
    _Atomic int returned; /* lookups that returned it */
    int inserted;         /* its insert succeeded (written by its tracer) */
} payload;

static _Atomic long retains_after_release;
static _Thread_local payload *last_retained;

static void counting_retain(void *p, void *ctx)
{
    (void)ctx;
    payload *x = p;
    if (atomic_load(&x->releases) != 0)
        atomic_fetch_add(&retains_after_release, 1);
    atomic_fetch_add(&x->retains, 1);
    last_retained = x;
}

static void counting_release(void *p, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((payload *)p)->releases, 1);
}

static const ircache_owner owner = {counting_retain, counting_release, NULL};

/* ---- the run ------------------------------------------------------------ */

typedef struct tracer {
    int index;
    payload *pool; /* one per possible miss */
    size_t used;
    long lookups, hits, misses, inserts;
} tracer;

static struct run {
    ircache *c;
    char *dir;
    tracer tracers[TRACERS];
    /* Pacing, so that the rounds fall all over the tracing: round r starts
     * once the tracers made r * GAP lookups (or are done), and a tracer
     * starts no step while they are two rounds' worth ahead of the
     * disrupting thread (or it is done). Neither waits for the other at
     * once: a round waiting means progress < r * GAP, a tracer waiting
     * means progress >= (r + 2) * GAP. */
    _Atomic long progress; /* lookups done by all tracers */
    _Atomic long rounds;   /* rounds done */
    _Atomic int tracers_done, disruptor_done;
    /* Violations seen by the threads. */
    _Atomic long wrong_key, not_retained, insert_failed, dump_failed, stats_wrong;
    /* What the disrupting thread did. */
    long resets, dumps, bound_changes, stats_reads;
    ircache_stats before; /* the counters before the run */
} run;

static void *trace(void *arg)
{
    tracer *t = arg;
    int program = t->index % PROGRAMS;
    for (int step = 0; step < STEPS; step++) {
        while (atomic_load(&run.progress) >= (atomic_load(&run.rounds) + 2) * GAP &&
               !atomic_load(&run.disruptor_done))
            sched_yield();
        ircache_mark_step(run.c);
        int variant = (step + t->index) % VARIANTS;
        for (int d = 0; d < DEPTH; d++) {
            const char *key = keys[program][variant][d];
            last_retained = NULL;
            payload *hit = ircache_lookup(run.c, key, strlen(key));
            t->lookups++;
            if (hit != NULL) {
                t->hits++;
                if (strcmp(hit->key, key) != 0)
                    atomic_fetch_add(&run.wrong_key, 1);
                if (last_retained != hit)
                    atomic_fetch_add(&run.not_retained, 1);
                atomic_fetch_add(&hit->returned, 1);
            } else {
                t->misses++;
                payload *mine = &t->pool[t->used++];
                mine->key = key;
                if (ircache_insert(run.c, key, strlen(key), key, mine, &owner) == 0) {
                    mine->inserted = 1;
                    t->inserts++;
                } else {
                    atomic_fetch_add(&run.insert_failed, 1);
                }
            }
            atomic_fetch_add(&run.progress, 1);
        }
    }
    atomic_fetch_add(&run.tracers_done, 1);
    return NULL;
}

/* The bounds the disrupting thread sets, one per round: unbounded every
 * other round, small bounds between. */
static uint64_t bound_of_round(int round)
{
    static const uint64_t small[] = {1, 4, 9, 20};
    return round % 2 == 0 ? 0 : small[(round / 2) % 4];
}

/* A snapshot must agree with what this thread alone changes (the bound,
 * the clears) and never go back on what only grows. */
static void check_snapshot(const ircache_stats *s, const ircache_stats *last, uint64_t bound)
{
    int ok = s->max_nodes == bound && s->clears == run.before.clears + (uint64_t)run.resets &&
             s->hits >= last->hits && s->misses >= last->misses && s->inserts >= last->inserts &&
             s->forks >= last->forks && s->evictions >= last->evictions &&
             s->inserts <= run.before.inserts + (uint64_t)TRACERS * STEPS * DEPTH;
    if (!ok)
        atomic_fetch_add(&run.stats_wrong, 1);
}

static void *disrupt(void *arg)
{
    (void)arg;
    ircache_stats last = run.before;
    uint64_t bound = 0;
    char name[32];
    for (int round = 0; round < ROUNDS; round++) {
        while (atomic_load(&run.progress) < round * GAP && atomic_load(&run.tracers_done) < TRACERS)
            sched_yield();

        if (round % 3 == 0) {
            ircache_reset();
            run.resets++;
        }
        snprintf(name, sizeof name, "dump-%04d.dot", round);
        char *path = path_join(run.dir, name);
        if (ircache_dump(path) != 0)
            atomic_fetch_add(&run.dump_failed, 1);
        free(path);
        run.dumps++;
        if (round % 2 == 1) { /* and over the same file again and again */
            path = path_join(run.dir, "latest.dot");
            if (ircache_dump(path) != 0)
                atomic_fetch_add(&run.dump_failed, 1);
            free(path);
        }
        bound = bound_of_round(round);
        if (ircache_set_max_nodes(run.c, bound) != 0)
            atomic_fetch_add(&run.stats_wrong, 1);
        run.bound_changes++;
        ircache_stats s;
        if (ircache_get_stats(run.c, &s) != 0)
            atomic_fetch_add(&run.stats_wrong, 1);
        else {
            check_snapshot(&s, &last, bound);
            last = s;
        }
        run.stats_reads++;
        atomic_store(&run.rounds, round + 1);
    }
    atomic_store(&run.disruptor_done, 1);
    /* Unbounded again: what the tracers leave stays for the checks. */
    if (ircache_set_max_nodes(run.c, 0) != 0)
        atomic_fetch_add(&run.stats_wrong, 1);
    return NULL;
}

static ircache_stats stats_now(void)
{
    ircache_stats s;
    memset(&s, 0xff, sizeof s);
    REQUIRE(ircache_get_stats(run.c, &s) == 0);
    return s;
}

/* Every file in the directory is a complete dump the run wrote: the numbered
 * ones, latest.dot and final.dot, nothing else. */
static void check_dump_files(void)
{
    char err[512], name[32];
    CHECK_INT(count_temp_files(run.dir), 0);
    CHECK_INT(count_dir_entries(run.dir), run.dumps + 2);
    for (long i = 0; i < run.dumps; i++) {
        snprintf(name, sizeof name, "dump-%04ld.dot", i);
        char *path = path_join(run.dir, name);
        CHECK_MSG(dot_file_check(path, is_a_key, NULL, err, sizeof err) >= 0, "%s", err);
        free(path);
    }
    char *path = path_join(run.dir, "latest.dot");
    CHECK_MSG(dot_file_check(path, is_a_key, NULL, err, sizeof err) >= 0, "%s", err);
    free(path);
}

static void stress_the_default_cache(void)
{
    memset(&run, 0, sizeof run);
    make_programs();
    run.c = ircache_default();
    run.dir = make_temp_dir();
    REQUIRE(ircache_set_enabled(run.c, 1) == 0);
    REQUIRE(ircache_set_max_nodes(run.c, 0) == 0);
    ircache_reset();
    run.before = stats_now();

    pthread_t tracers[TRACERS], disruptor;
    for (int i = 0; i < TRACERS; i++) {
        run.tracers[i].index = i;
        run.tracers[i].pool = calloc((size_t)STEPS * DEPTH, sizeof(payload));
        REQUIRE(run.tracers[i].pool != NULL);
    }
    REQUIRE(pthread_create(&disruptor, NULL, disrupt, NULL) == 0);
    for (int i = 0; i < TRACERS; i++)
        REQUIRE(pthread_create(&tracers[i], NULL, trace, &run.tracers[i]) == 0);
    for (int i = 0; i < TRACERS; i++)
        REQUIRE(pthread_join(tracers[i], NULL) == 0);
    REQUIRE(pthread_join(disruptor, NULL) == 0);

    CHECK_INT(atomic_load(&run.wrong_key), 0);
    CHECK_INT(atomic_load(&run.not_retained), 0);
    CHECK_INT(atomic_load(&run.insert_failed), 0);
    CHECK_INT(atomic_load(&run.dump_failed), 0);
    CHECK_INT(atomic_load(&run.stats_wrong), 0);
    CHECK_INT(atomic_load(&retains_after_release), 0);

    /* The counters add up to what the threads did. */
    long lookups = 0, hits = 0, misses = 0, inserts = 0, released = 0;
    for (int i = 0; i < TRACERS; i++) {
        tracer *t = &run.tracers[i];
        lookups += t->lookups;
        hits += t->hits;
        misses += t->misses;
        inserts += t->inserts;
        for (size_t j = 0; j < t->used; j++)
            released += atomic_load(&t->pool[j].releases);
    }
    CHECK_INT(lookups, (long)TRACERS * STEPS * DEPTH);
    ircache_stats s = stats_now();
    CHECK_U64((s.hits - run.before.hits) + (s.misses - run.before.misses), lookups);
    CHECK_U64(s.hits - run.before.hits, hits);
    CHECK_U64(s.misses - run.before.misses, misses);
    CHECK_U64(s.inserts - run.before.inserts, inserts);
    CHECK_U64(s.clears - run.before.clears, run.resets);
    CHECK_U64(s.max_nodes, 0);
    /* Each insert made a node or replaced one (releasing the old payload);
     * each node gone was released: what is left is the rest. */
    CHECK_U64(s.nodes + (uint64_t)released, inserts);

    /* A dump of the quiet cache holds exactly its nodes. */
    char err[512];
    char *final_path = path_join(run.dir, "final.dot");
    CHECK_INT(ircache_dump(final_path), 0);
    CHECK_INT(dot_file_check(final_path, is_a_key, NULL, err, sizeof err), (long)s.nodes);
    free(final_path);

    ircache_reset();
    ircache_stats after = stats_now();
    CHECK_U64(after.nodes, 0);
    CHECK_U64(after.clears, s.clears + 1);

    /* Every payload inserted was released exactly once, the others never;
     * each was retained exactly as often as a lookup returned it. */
    for (int i = 0; i < TRACERS; i++) {
        tracer *t = &run.tracers[i];
        long bad_release = -1, bad_retain = -1;
        for (size_t j = 0; j < t->used; j++) {
            payload *p = &t->pool[j];
            if (atomic_load(&p->releases) != p->inserted && bad_release < 0)
                bad_release = (long)j;
            if (atomic_load(&p->retains) != atomic_load(&p->returned) && bad_retain < 0)
                bad_retain = (long)j;
        }
        CHECK_MSG(bad_release < 0, "tracer %d: payload %ld (inserted %d) released %d times", i,
                  bad_release, bad_release < 0 ? 0 : t->pool[bad_release].inserted,
                  bad_release < 0 ? 0 : atomic_load(&t->pool[bad_release].releases));
        CHECK_MSG(bad_retain < 0, "tracer %d: payload %ld retained %d times, returned %d times",
                  i, bad_retain, bad_retain < 0 ? 0 : atomic_load(&t->pool[bad_retain].retains),
                  bad_retain < 0 ? 0 : atomic_load(&t->pool[bad_retain].returned));
    }

    check_dump_files();

    /* The run did stress something. */
    CHECK_MSG(hits > lookups / 4, "only %ld hits in %ld lookups", hits, lookups);
    CHECK_MSG(s.evictions > run.before.evictions, "no eviction in the whole run");
    CHECK_INT(run.resets, (ROUNDS + 2) / 3);
    CHECK_INT(run.dumps, ROUNDS);
    fprintf(stderr,
            "     %ld lookups (%ld hits), %ld inserts, %" PRIu64 " evictions, %ld resets, "
            "%ld dumps, %ld bound changes, %ld stats reads\n",
            lookups, hits, inserts, s.evictions - run.before.evictions, run.resets, run.dumps,
            run.bound_changes, run.stats_reads);

    for (int i = 0; i < TRACERS; i++)
        free(run.tracers[i].pool);
    remove_temp_dir(run.dir);
}

int main(void)
{
    RUN(stress_the_default_cache);
    return check_exit_code();
}
