/* test_faults.c - allocation failure, everywhere a scenario allocates: for
 * every N until the scenario no longer reaches it, the N-th allocation of
 * the library fails (alone, and with every later one of the same call:
 * "sticky"), and then:
 * - the call that met it fails the documented way: IRCACHE_ENOMEM, NULL
 *   from ircache_new, NULL from a lookup with "out of memory" in
 *   ircache_last_error() when the thread's position cannot be created; a
 *   call with no way to fail must do its whole job anyway;
 * - that failure changed nothing: stats (bytes aside: reservations stay),
 *   DOT and JSON dumps, op stats, the dump directory and the files in it;
 *   a failed insert's payload was neither retained nor released;
 * - the same call made again (no more failures) gives what it gave in a
 *   run without failure, and so does every later call; checkpoints along
 *   the way compare stats, dumps and op stats with that run;
 * - after ircache_free every payload was released exactly once (and the
 *   sanitizer build's LeakSanitizer sees no leak).
 * Scenarios: a cache's whole life, and the first use of a cache by new
 * threads (their positions). Linked with ircache_testing: the library's
 * sources with the allocation-failure switch. Only the main thread uses
 * CHECK; helper threads only make calls and hand back their results. */
#define _POSIX_C_SOURCE 200809L
#define IRCACHE_FAULT_INJECTION 1

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "job_thread.h"
#include "ircache.h"
#include "support.h"

#define MAX_STEPS 400
#define MAX_CHECKPOINTS 8
#define ITEMS 256
#define THREADS 3 /* thread 0 is the main thread; 1 and 2 are helpers */
#define MISS (-1000) /* what a lookup that found nothing gives */

/* Two owners, so that labels come with more than one kind. */
static void count_release_b(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}
static const ircache_owner releasing_owner = {NULL, count_release_b, NULL};
static const ircache_owner *const owners[2] = {&counting_owner, &releasing_owner};

/* ---- what a cache looks like from outside ----------------------------- */

typedef struct snapshot {
    ircache_stats stats; /* bytes zeroed */
    char *dot, *json, *ops;
    int dump_entries;    /* files in the dump directory */
    char *dot_file, *json_file; /* the dump targets as they are, NULL if absent */
} snapshot;

static void snapshot_free(snapshot *s)
{
    free(s->dot);
    free(s->json);
    free(s->ops);
    free(s->dot_file);
    free(s->json_file);
    memset(s, 0, sizeof *s);
}

static char *ops_text(ircache *c)
{
    ircache_op_stats out[64];
    int64_t n = ircache_get_op_stats(c, out, 64);
    REQUIRE(n >= 0 && n <= 64);
    size_t cap = 64, len = 0;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    text[0] = '\0';
    for (int64_t i = 0; i < n; i++) {
        char line[256];
        int k = snprintf(line, sizeof line, "%s: %" PRIu64 " inserts, %" PRIu64 " reused\n", out[i].op,
                         out[i].inserts, out[i].reused);
        REQUIRE(k > 0 && (size_t)k < sizeof line);
        while (len + (size_t)k + 1 > cap) {
            text = realloc(text, cap *= 2);
            REQUIRE(text != NULL);
        }
        memcpy(text + len, line, (size_t)k + 1);
        len += (size_t)k;
    }
    return text;
}

/* ---- scenarios, run step by step --------------------------------------- */

enum kind {
    NEW, LOOKUP, INSERT, MARK_STEP, CLEAR, SET_MAX_NODES,
    DUMP_DOT, DUMP_JSON, OP_STATS, GET_STATS, THREAD_EXIT, FREE,
};

typedef struct action {
    enum kind kind;
    int thread;
    const char *key;
    size_t key_len;
    const char *op;
    int owner;
    int item;
    uint64_t value;
} action;

/* The run without failures, which every other run must match. */
typedef struct recording {
    int steps;
    const char *what[MAX_STEPS];
    int result[MAX_STEPS];
    long allocations[MAX_STEPS];
    snapshot checkpoint[MAX_CHECKPOINTS];
    int checkpoints;
    long total; /* allocations of the whole run */
} recording;

typedef struct runner {
    recording *rec;
    int reference; /* this is the run without failures: record it */
    long n;        /* the allocation that fails */
    int sticky;
    /* the run */
    ircache *c;
    counted *items;
    int next_item;
    char *dump_dir, *snap_dir, *dot_path, *json_path;
    job_thread helpers[THREADS]; /* [1] and [2]: each runs one call at a time */
    int has_position[THREADS];
    int step, checkpoints;
    long done;    /* allocations attempted so far */
    int hit_step; /* the step that attempted allocation n, or -1 */
    int failed;   /* the call failed (1), or did its job all the same (0) */
} runner;

static void take_snapshot(runner *r, snapshot *s)
{
    memset(s, 0, sizeof *s);
    REQUIRE(ircache_get_stats(r->c, &s->stats) == 0);
    s->stats.bytes = 0;
    char *dot = path_join(r->snap_dir, "snap.dot"), *json = path_join(r->snap_dir, "snap.json");
    REQUIRE(ircache_dump_dot(r->c, dot) == 0);
    REQUIRE(ircache_dump_json(r->c, json) == 0);
    s->dot = read_file(dot, NULL);
    s->json = read_file(json, NULL);
    REQUIRE(s->dot != NULL && s->json != NULL);
    free(dot);
    free(json);
    s->ops = ops_text(r->c);
    s->dump_entries = count_dir_entries(r->dump_dir);
    s->dot_file = read_file(r->dot_path, NULL);
    s->json_file = read_file(r->json_path, NULL);
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Returns how many fields differ, naming each. */
static int compare_snapshots(const runner *r, const snapshot *got, const snapshot *want, const char *when)
{
    int before = check_failures;
    const ircache_stats *g = &got->stats, *w = &want->stats;
#define SAME_STAT(f)                                                                                \
    CHECK_MSG(g->f == w->f, "N=%ld%s, %s: stats." #f " is %" PRIu64 ", expected %" PRIu64, r->n,     \
              r->sticky ? " sticky" : "", when, g->f, w->f)
    SAME_STAT(nodes);
    SAME_STAT(hits);
    SAME_STAT(misses);
    SAME_STAT(inserts);
    SAME_STAT(forks);
    SAME_STAT(evictions);
    SAME_STAT(clears);
    SAME_STAT(max_nodes);
#undef SAME_STAT
#define SAME_TEXT(f)                                                                                \
    CHECK_MSG(same_text(got->f, want->f), "N=%ld%s, %s: " #f " differs:\n%s\n---- expected:\n%s",  \
              r->n, r->sticky ? " sticky" : "", when, got->f ? got->f : "(none)",                  \
              want->f ? want->f : "(none)")
    SAME_TEXT(dot);
    SAME_TEXT(json);
    SAME_TEXT(ops);
    SAME_TEXT(dot_file);
    SAME_TEXT(json_file);
#undef SAME_TEXT
    CHECK_MSG(got->dump_entries == want->dump_entries,
              "N=%ld%s, %s: %d files in the dump directory, expected %d", r->n, r->sticky ? " sticky" : "",
              when, got->dump_entries, want->dump_entries);
    return check_failures - before;
}

typedef struct call {
    runner *r;
    const action *a;
    int result;
} call;

/* Makes the call on the calling thread; returns its result as an int. */
static int make_call(runner *r, const action *a)
{
    switch (a->kind) {
    case NEW:
        r->c = ircache_new();
        return r->c != NULL ? 0 : IRCACHE_ENOMEM;
    case LOOKUP: {
        (void)ircache_set_enabled(NULL, 0); /* a known last error, to tell a new one */
        counted *p = ircache_lookup(r->c, a->key, a->key_len);
        if (p != NULL)
            return (int)(p - r->items);
        const char *oom = ircache_strerror(IRCACHE_ENOMEM);
        return strncmp(ircache_last_error(), oom, strlen(oom)) == 0 ? IRCACHE_ENOMEM : MISS;
    }
    case INSERT:
        return ircache_insert(r->c, a->key, a->key_len, a->op, &r->items[a->item], owners[a->owner]);
    case MARK_STEP:
        ircache_mark_step(r->c);
        return 0;
    case CLEAR:
        ircache_clear(r->c);
        return 0;
    case SET_MAX_NODES:
        return ircache_set_max_nodes(r->c, a->value);
    case DUMP_DOT:
        return ircache_dump_dot(r->c, r->dot_path);
    case DUMP_JSON:
        return ircache_dump_json(r->c, r->json_path);
    case OP_STATS: {
        ircache_op_stats out[64];
        return (int)ircache_get_op_stats(r->c, out, 64);
    }
    case GET_STATS: {
        ircache_stats s;
        return ircache_get_stats(r->c, &s);
    }
    case FREE:
        ircache_free(r->c);
        r->c = NULL;
        return 0;
    case THREAD_EXIT:
        break;
    }
    return 0;
}

static void call_job(void *arg)
{
    call *k = arg;
    k->result = make_call(k->r, k->a);
}

static int perform(runner *r, const action *a)
{
    if (a->kind == THREAD_EXIT) {
        job_thread_stop(&r->helpers[a->thread]);
        return 0;
    }
    if (a->thread == 0)
        return make_call(r, a);
    call k = {r, a, 0};
    job_thread_run(&r->helpers[a->thread], call_job, &k);
    return k.result;
}

/* The documented way for this call to fail when out of memory, if any. */
static int may_fail(const runner *r, const action *a)
{
    switch (a->kind) {
    case NEW:
    case INSERT:
    case SET_MAX_NODES:
    case DUMP_DOT:
    case DUMP_JSON:
    case OP_STATS:
        return 1;
    case LOOKUP:
        return !r->has_position[a->thread]; /* only the position can fail */
    default:
        return 0;
    }
}

/* One call of the scenario: in the reference run, recorded; in the others,
 * made with the countdown to allocation n running, checked, and made again
 * if it failed. Returns the result the scenario goes on with. */
static int step(runner *r, const action *a, const char *what)
{
    int i = r->step++;
    REQUIRE(i < MAX_STEPS);
    recording *rec = r->rec;
    int armed = !r->reference && r->hit_step < 0;
    /* The reference run says which call will attempt allocation n: look
     * at the cache just before it. */
    int expected_here = armed && r->done + rec->allocations[i] >= r->n;
    snapshot before = {0};
    if (expected_here && r->c != NULL)
        take_snapshot(r, &before);
    (void)ircache__fault_inject(armed ? r->n - r->done : 0, r->sticky); /* drops the snapshot's count */
    int result = perform(r, a);
    long attempts = ircache__fault_inject(0, 0);
    r->done += attempts;

    if (r->reference) {
        rec->steps = i + 1;
        rec->what[i] = what;
        rec->result[i] = result;
        rec->allocations[i] = attempts;
        rec->total = r->done;
    } else if (armed && r->done >= r->n) {
        r->hit_step = i;
        CHECK_MSG(expected_here, "N=%ld%s: allocation %ld came in step %d (%s), not where the run "
                  "without failure had it", r->n, r->sticky ? " sticky" : "", r->n, i, what);
        if (result != rec->result[i]) {
            r->failed = 1;
            CHECK_MSG(result == IRCACHE_ENOMEM && may_fail(r, a),
                      "N=%ld%s: %s gave %d where the run without failure gave %d (%s)", r->n,
                      r->sticky ? " sticky" : "", what, result, rec->result[i], ircache_last_error());
            if (a->kind == INSERT) {
                counted *p = &r->items[a->item];
                CHECK_MSG(atomic_load(&p->releases) == 0 && atomic_load(&p->retains) == 0,
                          "N=%ld%s: the payload of the failed %s was released %d and retained %d times",
                          r->n, r->sticky ? " sticky" : "", what, atomic_load(&p->releases),
                          atomic_load(&p->retains));
            }
            if (expected_here && r->c != NULL) {
                snapshot after;
                take_snapshot(r, &after);
                char when[160];
                snprintf(when, sizeof when, "after the failed %s", what);
                compare_snapshots(r, &after, &before, when);
                snapshot_free(&after);
            }
            result = perform(r, a); /* again, nothing failing now */
        }
    }
    if (!r->reference)
        CHECK_MSG(result == rec->result[i], "N=%ld%s: %s gave %d, %d in the run without failure", r->n,
                  r->sticky ? " sticky" : "", what, result, rec->result[i]);
    if (a->kind == NEW)
        memset(r->has_position, 0, sizeof r->has_position);
    if ((a->kind == LOOKUP || a->kind == INSERT) && result != IRCACHE_ENOMEM)
        r->has_position[a->thread] = 1;
    if (a->kind == THREAD_EXIT)
        r->has_position[a->thread] = 0;
    snapshot_free(&before);
    return result;
}

/* Between two calls, nothing failing: the cache as the reference had it. */
static void checkpoint(runner *r)
{
    int i = r->checkpoints++;
    REQUIRE(i < MAX_CHECKPOINTS);
    snapshot s;
    take_snapshot(r, &s);
    if (r->reference) {
        r->rec->checkpoint[i] = s;
        r->rec->checkpoints = i + 1;
        return;
    }
    char when[64];
    snprintf(when, sizeof when, "at checkpoint %d", i + 1);
    compare_snapshots(r, &s, &r->rec->checkpoint[i], when);
    snapshot_free(&s);
}

/* ---- the calls, as the scenarios write them ---------------------------- */

#define KEY(s) (s), strlen(s)

static void s_new(runner *r)
{
    step(r, &(action){.kind = NEW}, "new");
}

/* Checks the hit (item) or miss (MISS) in every run, the reference too. */
static void s_lookup(runner *r, int thread, const char *key, size_t len, int want, const char *what)
{
    int got = step(r, &(action){.kind = LOOKUP, .thread = thread, .key = key, .key_len = len}, what);
    CHECK_MSG(got == want, "N=%ld: %s gave %d, expected %d", r->n, what, got, want);
}

/* A new payload each time; returns its item number. */
static int s_insert(runner *r, int thread, const char *key, size_t len, const char *op, int owner,
                    const char *what)
{
    int item = r->next_item++;
    REQUIRE(item < ITEMS);
    int rc = step(r, &(action){.kind = INSERT, .thread = thread, .key = key, .key_len = len, .op = op,
                               .owner = owner, .item = item}, what);
    CHECK_MSG(rc == 0, "N=%ld: %s gave %d", r->n, what, rc);
    return item;
}

static void s_simple(runner *r, enum kind kind, int thread, uint64_t value, const char *what)
{
    int rc = step(r, &(action){.kind = kind, .thread = thread, .value = value}, what);
    if (kind != OP_STATS)
        CHECK_MSG(rc == 0, "N=%ld: %s gave %d", r->n, what, rc);
}

static const char *const labels[] = {
    "aten::add", "aten::mm", "aten::relu", "aten::view", "aten::sum",
    "aten::mul", "aten::cat", "aten::expand", "aten::permute", "aten::softmax",
};

/* new; inserts with a fork point, root successors enough to grow the
 * table (and the label sets) several times, a long key; a replacement;
 * lookups; dumps; op stats; a bound that evicts more than a batch of 64 at
 * once, then one per insert, then a rebuilt eviction order; clear; free. */
static void whole_life(runner *r)
{
    char key[32];
    static char long_key[600];
    memset(long_key, 'k', sizeof long_key);

    s_new(r);
    s_lookup(r, 0, KEY("a"), MISS, "first lookup (this thread's position)");
    int a0 = s_insert(r, 0, KEY("a"), labels[0], 0, "insert a");
    s_insert(r, 0, KEY("b"), labels[1], 0, "insert b under a");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_lookup(r, 0, KEY("a"), a0, "lookup a");
    s_insert(r, 0, KEY("c"), labels[2], 1, "insert c under a (a fork)");
    for (int i = 0; i < 70; i++) {
        snprintf(key, sizeof key, "r%02d", i);
        s_simple(r, MARK_STEP, 0, 0, "mark_step");
        s_insert(r, 0, KEY(key), labels[i % 10], i % 2, "insert a root successor");
    }
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    int big = s_insert(r, 0, long_key, sizeof long_key, labels[3], 0, "insert a 600-byte key");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    int a1 = s_insert(r, 0, KEY("a"), labels[4], 1, "insert a again (a replacement)");
    CHECK_INT(atomic_load(&r->items[a0].releases), 1);
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_lookup(r, 0, KEY("a"), a1, "lookup the replaced a");
    s_lookup(r, 0, KEY("b"), a0 + 1, "lookup b");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_lookup(r, 0, long_key, sizeof long_key, big, "lookup the long key");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_lookup(r, 0, KEY("r05"), a0 + 3 + 5, "lookup r05");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_simple(r, DUMP_DOT, 0, 0, "dump_dot");
    s_simple(r, DUMP_JSON, 0, 0, "dump_json");
    s_simple(r, OP_STATS, 0, 0, "get_op_stats");
    s_simple(r, GET_STATS, 0, 0, "get_stats");
    checkpoint(r);

    s_simple(r, SET_MAX_NODES, 0, 8, "set_max_nodes(8): more than 64 evictions");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_insert(r, 0, KEY("s1"), labels[5], 0, "insert s1 past the bound");
    s_simple(r, DUMP_DOT, 0, 0, "dump_dot over the previous dump");
    s_simple(r, OP_STATS, 0, 0, "get_op_stats");
    s_simple(r, SET_MAX_NODES, 0, 0, "set_max_nodes(0)");
    s_simple(r, SET_MAX_NODES, 0, 4, "set_max_nodes(4): a new eviction order");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_insert(r, 0, KEY("s2"), labels[6], 1, "insert s2 past the bound");
    checkpoint(r);

    s_simple(r, CLEAR, 0, 0, "clear");
    s_insert(r, 0, KEY("a"), labels[0], 0, "insert a after the clear");
    s_insert(r, 0, KEY("z"), labels[7], 0, "insert z under a");
    s_simple(r, DUMP_JSON, 0, 0, "dump_json over the previous dump");
    checkpoint(r);
    s_simple(r, FREE, 0, 0, "free");
}

/* New threads' first calls: a lookup (thread 1) and an insert (thread 2)
 * create their positions; then a bound evicts beside them, thread 1 ends,
 * and a new thread 1 registers again. */
static void new_threads(runner *r)
{
    s_new(r);
    int a = s_insert(r, 0, KEY("a"), labels[0], 0, "insert a");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_lookup(r, 1, KEY("a"), a, "thread 1's first call: lookup a");
    int b = s_insert(r, 1, KEY("b"), labels[1], 1, "thread 1: insert b under a");
    s_insert(r, 2, KEY("c"), labels[2], 0, "thread 2's first call: insert c");
    s_lookup(r, 2, KEY("x"), MISS, "thread 2: lookup x under c");
    s_simple(r, MARK_STEP, 1, 0, "thread 1: mark_step");
    s_lookup(r, 1, KEY("a"), a, "thread 1: lookup a");
    s_lookup(r, 0, KEY("a"), a, "lookup a");
    s_lookup(r, 0, KEY("b"), b, "lookup b");
    s_simple(r, MARK_STEP, 0, 0, "mark_step");
    s_simple(r, DUMP_DOT, 2, 0, "thread 2: dump_dot");
    s_simple(r, OP_STATS, 1, 0, "thread 1: get_op_stats");
    checkpoint(r);
    s_simple(r, SET_MAX_NODES, 0, 2, "set_max_nodes(2) beside two threads");
    s_simple(r, THREAD_EXIT, 1, 0, "thread 1 ends");
    s_lookup(r, 1, KEY("a"), a, "a new thread 1's first call: lookup a");
    s_insert(r, 1, KEY("d"), labels[3], 1, "thread 1: insert d under a");
    s_simple(r, DUMP_JSON, 0, 0, "dump_json");
    checkpoint(r);
    s_simple(r, FREE, 0, 0, "free, threads 1 and 2 still there");
}

/* ---- driving ----------------------------------------------------------- */

static void run_scenario(runner *r, void (*scenario)(runner *r))
{
    r->items = counted_array(ITEMS);
    r->dump_dir = make_temp_dir();
    r->snap_dir = make_temp_dir();
    r->dot_path = path_join(r->dump_dir, "trie.dot");
    r->json_path = path_join(r->dump_dir, "trie.json");
    r->hit_step = -1;
    (void)ircache__fault_inject(0, 0);
    scenario(r);
    for (int t = 1; t < THREADS; t++)
        job_thread_stop(&r->helpers[t]);
    REQUIRE(r->c == NULL); /* the scenario freed it */
    long bad = counted_first_not_released_once(r->items, (size_t)r->next_item);
    CHECK_MSG(bad < 0, "N=%ld%s: payload %ld released %d times by the end", r->n, r->sticky ? " sticky" : "",
              bad, bad < 0 ? 1 : atomic_load(&r->items[bad].releases));
    CHECK_INT(counted_total_releases(r->items, ITEMS), r->next_item);
    free(r->dot_path);
    free(r->json_path);
    remove_temp_dir(r->dump_dir);
    remove_temp_dir(r->snap_dir);
    free(r->items);
}

static recording rec;

/* Every N from 1 until the scenario no longer reaches allocation N. */
static void exercise(const char *name, void (*scenario)(runner *r))
{
    memset(&rec, 0, sizeof rec);
    runner ref = {.rec = &rec, .reference = 1};
    run_scenario(&ref, scenario);
    REQUIRE(rec.total > 0);
    for (int sticky = 0; sticky <= 1; sticky++) {
        long n, failed = 0, absorbed = 0;
        char absorbers[256] = "";
        int before = check_failures;
        for (n = 1;; n++) {
            runner r = {.rec = &rec, .n = n, .sticky = sticky};
            run_scenario(&r, scenario);
            if (r.hit_step < 0)
                break;
            if (r.failed) {
                failed++;
            } else {
                absorbed++;
                const char *what = rec.what[r.hit_step];
                if (strstr(absorbers, what) == NULL && strlen(absorbers) + strlen(what) + 3 < sizeof absorbers)
                    snprintf(absorbers + strlen(absorbers), sizeof absorbers - strlen(absorbers), "%s%s",
                             absorbers[0] ? "; " : ": ", what);
            }
            if (check_failures > before)
                break; /* one run's report is enough */
        }
        if (check_failures > before)
            continue;
        CHECK_MSG(n == rec.total + 1, "%s: allocations %ld.. never attempted, %ld in the run without failure",
                  name, n, rec.total);
        printf("%s, %s: N = 1..%ld exercised: %ld calls failed with IRCACHE_ENOMEM, %ld did their job "
               "all the same%s\n", name, sticky ? "sticky" : "one failure", n - 1, failed, absorbed, absorbers);
        /* Which calls did what, once. */
        if (!sticky && getenv("TEST_FAULTS_VERBOSE") != NULL)
            for (int i = 0; i < rec.steps; i++)
                if (rec.allocations[i] > 0)
                    printf("  %ld allocations: %s\n", rec.allocations[i], rec.what[i]);
    }
    for (int i = 0; i < rec.checkpoints; i++)
        snapshot_free(&rec.checkpoint[i]);
}

static void a_whole_life_survives_every_allocation_failure(void)
{
    exercise("a cache's whole life", whole_life);
}

static void new_threads_survive_every_allocation_failure(void)
{
    exercise("new threads' first calls", new_threads);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(a_whole_life_survives_every_allocation_failure);
    RUN(new_threads_survive_every_allocation_failure);
    return check_exit_code();
}
