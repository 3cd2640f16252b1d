/* test_fork.c - fork() while other threads hold the cache busy.
 *
 * include/ircache.h: "the child may use every cache at once, whatever other
 * threads of the parent were doing; positions of threads that do not exist
 * in the child are forgotten". Each case forks while another thread is in
 * the middle of something: a long dump, tracing, a release callback of a
 * clear; and once from a thread that never used the library. In every child
 * the caches (the one that was busy and the default one) must be usable:
 * a lookup, an insert, a dump that is complete, a clear or reset; the child
 * must exit 0 before its alarm. One child forks again. The parent's threads
 * must go on and finish as if nothing happened.
 *
 * Ordering between threads comes from joins and atomics only, never from
 * timing. Worker threads never use CHECK (check.h's counter is not atomic);
 * children report through their exit status, and a line on stderr. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dotfile.h"
#include "dumpcheck.h"
#include "ircache.h"
#include "support.h"

#define CHILD_SECONDS 15 /* a child (or grandchild) that hangs is killed after this */

/* Exit statuses of a child. */
enum {
    CHILD_OK = 0,
    CHILD_FAILED = 1, /* a check failed (the reason is on stderr) */
};

/* ---- in a child --------------------------------------------------------- */

/* A line on stderr, in one write (the parent's threads may print too). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void say(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof line, "[pid %ld] ", (long)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    (void)!write(2, line, len);
}

#define CHILD_CHECK(cond)                                                          \
    do {                                                                           \
        if (!(cond)) {                                                             \
            say("%s:%d: in a child: check failed: %s", __FILE__, __LINE__, #cond); \
            return CHILD_FAILED;                                                   \
        }                                                                          \
    } while (0)

static uint64_t nodes_of(ircache *c)
{
    ircache_stats s;
    memset(&s, 0xff, sizeof s);
    return ircache_get_stats(c, &s) == 0 ? s.nodes : UINT64_MAX;
}

/* What a child does with a cache: a miss, an insert, a hit; a dump that is
 * complete and holds every node; a clear (ircache_reset for the default
 * cache) that releases the payload it inserted. known_key, when not NULL,
 * is a key under the root the child must find (the parent's trie came
 * along). */
static int child_uses(ircache *c, const char *known_key)
{
    static counted mine; /* one per child process: each has its own copy */
    int is_default = c == ircache_default();
    memset(&mine, 0, sizeof mine);
    ircache_mark_step(c);
    if (known_key != NULL) {
        CHILD_CHECK(ircache_lookup(c, KEY(known_key)) != NULL);
        ircache_mark_step(c);
    }
    CHILD_CHECK(ircache_lookup(c, KEY("made-in-a-child")) == NULL);
    CHILD_CHECK(ircache_insert(c, KEY("made-in-a-child"), "child", &mine, &counting_owner) == 0);
    ircache_mark_step(c);
    CHILD_CHECK(ircache_lookup(c, KEY("made-in-a-child")) == &mine);
    CHILD_CHECK(atomic_load(&mine.retains) == 1);
    uint64_t nodes = nodes_of(c);
    CHILD_CHECK(nodes >= 1 && nodes != UINT64_MAX);

    /* A dump in a directory of the child's own: complete, nothing else left. */
    char *dir = make_temp_dir();
    char *path = path_join(dir, "child.dot");
    char err[512];
    int rc = is_default ? ircache_dump(path) : ircache_dump_dot(c, path);
    if (rc != 0)
        say("the dump failed: %s", ircache_last_error());
    CHILD_CHECK(rc == 0);
    long in_file = dot_file_check(path, NULL, NULL, err, sizeof err);
    if (in_file < 0)
        say("%s", err);
    CHILD_CHECK(in_file >= 0 && (uint64_t)in_file == nodes);
    CHILD_CHECK(count_dir_entries(dir) == 1);
    free(path);
    remove_temp_dir(dir);

    if (is_default)
        ircache_reset();
    else
        ircache_clear(c);
    CHILD_CHECK(nodes_of(c) == 0);
    CHILD_CHECK(atomic_load(&mine.releases) == 1);
    ircache_mark_step(c);
    CHILD_CHECK(ircache_lookup(c, KEY("made-in-a-child")) == NULL);
    return CHILD_OK;
}

/* The status of a child as a sentence for a failed check; NULL when it
 * exited 0. */
static const char *child_failure(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WTERMSIG(status) == SIGALRM ? ": it hung" : "");
    else if (!WIFEXITED(status))
        snprintf(buf, size, "status %#x", (unsigned)status);
    else if (WEXITSTATUS(status) != 0)
        snprintf(buf, size, "exited with %d", WEXITSTATUS(status));
    else
        return NULL;
    return buf;
}

/* A child that forks again: the grandchild uses the caches too. */
static int fork_again(ircache *c)
{
    pid_t grandchild = fork();
    CHILD_CHECK(grandchild >= 0);
    if (grandchild == 0) {
        alarm(CHILD_SECONDS);
        int rc = child_uses(c, NULL);
        _exit(rc != CHILD_OK ? rc : child_uses(ircache_default(), NULL));
    }
    char why[128];
    const char *failure = child_failure(wait_child(grandchild), why, sizeof why);
    if (failure != NULL)
        say("the grandchild %s", failure);
    CHILD_CHECK(failure == NULL);
    return CHILD_OK;
}

static void expect_child_ok(pid_t pid, const char *what)
{
    char why[128];
    const char *failure = child_failure(wait_child(pid), why, sizeof why);
    CHECK_MSG(failure == NULL, "%s: the child %s", what, failure);
}

/* ---- a: in the middle of a long dump ----------------------------------- */

/* A trie whose DOT dump is megabytes: BRANCHES paths of LENGTH nodes under
 * the root, with long labels. */
#define BRANCHES 600
#define LENGTH 50
#define BIG_NODES (BRANCHES * LENGTH)
#define BIG_LABEL "a-label-long-enough-to-make-the-dump-take-a-while"

static void fill_big(ircache *c, counted *items)
{
    char key[32];
    for (int b = 0; b < BRANCHES; b++) {
        ircache_mark_step(c);
        for (int i = 0; i < LENGTH; i++) {
            snprintf(key, sizeof key, "b%d-%d", b, i);
            REQUIRE(ircache_insert(c, KEY(key), BIG_LABEL, &items[b * LENGTH + i],
                                   &counting_owner) == 0);
        }
    }
    ircache_mark_step(c);
}

/* The dump goes into a FIFO. Its reader takes the first bytes, then stops:
 * the dumping thread fills the pipe and blocks in a write, in the middle of
 * the walk (the dump is megabytes), holding the cache's lock. The main
 * thread forks. The library's fork handler must wait for that lock, so the
 * reader goes on only once the fork has begun: a prepare handler of this
 * test, registered after the library's and so run before it (POSIX: in the
 * opposite order of registration), tells it so. No timing anywhere: when
 * fork() is called, the dump is blocked mid-walk for certain. */
typedef struct dump_run {
    ircache *c;
    const char *fifo;
    int rc;                    /* of the dump */
    _Atomic int dump_returned; /* the dump call returned */
    char *text;                /* what came through the FIFO */
    size_t len;
    _Atomic int reading; /* the first bytes came through; the reader waits */
} dump_run;

static _Atomic int fork_hook_armed; /* the next fork lets the reader go on */
static _Atomic int fork_begun;
/* fork() returned in the parent. The reader lives until then: a thread that
 * had ended, unjoined, when the child was made is one ThreadSanitizer
 * reports as leaked when the child exits. */
static _Atomic int fork_returned;

static void note_fork_begun(void)
{
    if (atomic_load(&fork_hook_armed))
        atomic_store(&fork_begun, 1);
}

static void *dump_into_fifo(void *arg)
{
    dump_run *d = arg;
    d->rc = ircache_dump_dot(d->c, d->fifo);
    atomic_store(&d->dump_returned, 1);
    return NULL;
}

/* Reads the first bytes, waits for the fork to begin, reads the rest. */
static void *read_fifo(void *arg)
{
    dump_run *d = arg;
    int fd = open(d->fifo, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    size_t cap = 1 << 20;
    d->text = malloc(cap + 1);
    REQUIRE(d->text != NULL);
    for (;;) {
        if (d->len + 4096 > cap) {
            cap *= 2;
            d->text = realloc(d->text, cap + 1);
            REQUIRE(d->text != NULL);
        }
        ssize_t got = read(fd, d->text + d->len, 4096);
        if (got < 0 && errno == EINTR)
            continue;
        REQUIRE(got >= 0);
        if (got == 0)
            break;
        d->len += (size_t)got;
        if (!atomic_load(&d->reading)) {
            atomic_store(&d->reading, 1);
            while (!atomic_load(&fork_begun))
                sched_yield();
        }
    }
    d->text[d->len] = '\0';
    close(fd);
    while (!atomic_load(&fork_returned))
        sched_yield();
    return NULL;
}

static void fork_in_the_middle_of_a_long_dump(void)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    counted *items = counted_array(BIG_NODES);
    fill_big(c, items);
    char *dir = make_temp_dir();
    char *fifo = path_join(dir, "dump.fifo");
    REQUIRE(mkfifo(fifo, 0600) == 0);

    dump_run d = {.c = c, .fifo = fifo, .rc = 1};
    pthread_t reader, dumper;
    start_thread(&reader, read_fifo, &d);
    start_thread(&dumper, dump_into_fifo, &d);
    while (!atomic_load(&d.reading))
        sched_yield();

    /* The dumping thread is inside ircache_dump_dot, and stays there until
     * this fork has begun. */
    CHECK(!atomic_load(&d.dump_returned));
    atomic_store(&fork_returned, 0);
    atomic_store(&fork_hook_armed, 1);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(CHILD_SECONDS);
        int rc = child_uses(c, "b0-0");
        _exit(rc != CHILD_OK ? rc : child_uses(ircache_default(), NULL));
    }
    atomic_store(&fork_hook_armed, 0);
    atomic_store(&fork_returned, 1);

    /* The parent's dump goes on to the end, whole. fork_begun stays set
     * until the reader has seen it: the dump may have left the cache's
     * lock with its last buffers still to write, and then the fork does
     * not wait for the reader at all. */
    join_thread(dumper);
    join_thread(reader);
    atomic_store(&fork_begun, 0);
    CHECK_INT(d.rc, 0);
    dot_graph g;
    char err[256];
    int parsed = dot_parse(d.text, d.len, &g, err, sizeof err);
    CHECK_MSG(parsed == 0, "the dump through the FIFO: %s", err);
    if (parsed == 0) {
        CHECK_INT(g.n, BIG_NODES);
        dot_free(&g);
    }
    CHECK_MSG(d.len > 1000000, "the dump is only %zu bytes", d.len);
    free(d.text);
    expect_child_ok(child, "fork in the middle of a dump");

    /* The parent's cache is whole: every node still there, released once
     * each by a clear. */
    ircache_stats s;
    REQUIRE(ircache_get_stats(c, &s) == 0);
    CHECK_U64(s.nodes, BIG_NODES);
    CHECK_INT(counted_total_releases(items, BIG_NODES), 0);
    ircache_clear(c);
    CHECK_INT(counted_first_not_released_once(items, BIG_NODES), -1);
    ircache_free(c);
    free(items);
    free(fifo);
    remove_temp_dir(dir);
}

/* ---- b, d: while threads trace ----------------------------------------- */

#define TRACERS 3 /* two in the default cache, one in its own */
#define TRACE_STEPS 20000
#define TRACE_DEPTH 4
#define CLEAR_EVERY 64 /* steps; so that inserts go on all along */

typedef struct tracker {
    counted n;
    _Atomic int returned;
    int inserted;
} tracker;

typedef struct trace_run {
    ircache *own;      /* tracer 2 traces here */
    tracker *pool[TRACERS];
    size_t used[TRACERS];
    long lookups[TRACERS];
    _Atomic long progress; /* steps done by all tracers */
    _Atomic int stop;
    _Atomic long wrong;
    ircache_stats before_default;
} trace_run;

typedef struct tracer_arg {
    trace_run *run;
    int index;
} tracer_arg;

static void *trace(void *arg)
{
    tracer_arg *a = arg;
    trace_run *run = a->run;
    ircache *c = a->index == 2 ? run->own : ircache_default();
    tracker *pool = run->pool[a->index];
    size_t used = 0;
    for (int step = 0; step < TRACE_STEPS && !atomic_load(&run->stop); step++) {
        ircache_mark_step(c);
        for (int d = 0; d < TRACE_DEPTH; d++) {
            char key[16];
            snprintf(key, sizeof key, "%d.%d", d, (step + a->index) % 3);
            run->lookups[a->index]++;
            tracker *hit = ircache_lookup(c, KEY(key));
            if (hit != NULL) {
                atomic_fetch_add(&hit->returned, 1);
                continue;
            }
            tracker *mine = &pool[used++];
            if (ircache_insert(c, KEY(key), "traced", mine, &counting_owner) == 0)
                mine->inserted = 1;
            else
                atomic_fetch_add(&run->wrong, 1);
        }
        if (step % CLEAR_EVERY == CLEAR_EVERY - 1) {
            if (c == run->own)
                ircache_clear(c);
            else
                ircache_reset();
        }
        atomic_fetch_add(&run->progress, 1);
    }
    run->used[a->index] = used;
    return NULL;
}

typedef struct tracing {
    trace_run run;
    pthread_t threads[TRACERS];
    tracer_arg args[TRACERS];
} tracing;

static void start_tracing(tracing *t)
{
    memset(t, 0, sizeof *t);
    t->run.own = ircache_new();
    REQUIRE(t->run.own != NULL);
    ircache_reset();
    REQUIRE(ircache_get_stats(ircache_default(), &t->run.before_default) == 0);
    for (int i = 0; i < TRACERS; i++) {
        t->run.pool[i] = calloc((size_t)TRACE_STEPS * TRACE_DEPTH, sizeof(tracker));
        REQUIRE(t->run.pool[i] != NULL);
        t->args[i] = (tracer_arg){&t->run, i};
        start_thread(&t->threads[i], trace, &t->args[i]);
    }
}

/* Until the tracers made `steps` more steps (or cannot make more). */
static void wait_for_steps(tracing *t, long steps)
{
    long target = atomic_load(&t->run.progress) + steps;
    if (target > (long)TRACERS * TRACE_STEPS)
        target = (long)TRACERS * TRACE_STEPS;
    while (atomic_load(&t->run.progress) < target)
        sched_yield();
}

/* The tracers went on after the fork and stop normally; every payload they
 * inserted is released once, and the counts add up. */
static void stop_tracing(tracing *t)
{
    wait_for_steps(t, 200);
    atomic_store(&t->run.stop, 1);
    for (int i = 0; i < TRACERS; i++)
        join_thread(t->threads[i]);
    CHECK_INT(atomic_load(&t->run.wrong), 0);
    ircache_stats s;
    REQUIRE(ircache_get_stats(ircache_default(), &s) == 0);
    CHECK_U64((s.hits + s.misses) - (t->run.before_default.hits + t->run.before_default.misses),
              t->run.lookups[0] + t->run.lookups[1]);
    ircache_reset();
    ircache_free(t->run.own);
    for (int i = 0; i < TRACERS; i++) {
        long bad = -1;
        for (size_t j = 0; j < t->run.used[i]; j++) {
            tracker *p = &t->run.pool[i][j];
            if ((atomic_load(&p->n.releases) != p->inserted ||
                 atomic_load(&p->n.retains) != atomic_load(&p->returned)) &&
                bad < 0)
                bad = (long)j;
        }
        CHECK_MSG(bad < 0, "tracer %d: payload %ld released %d times (inserted %d), "
                  "retained %d times (returned %d)", i, bad,
                  bad < 0 ? 0 : atomic_load(&t->run.pool[i][bad].n.releases),
                  bad < 0 ? 0 : t->run.pool[i][bad].inserted,
                  bad < 0 ? 0 : atomic_load(&t->run.pool[i][bad].n.retains),
                  bad < 0 ? 0 : atomic_load(&t->run.pool[i][bad].returned));
        free(t->run.pool[i]);
    }
}

/* Several forks, each at a random point of the tracers' work (one of them
 * may hold the lock or be inside a lookup); the first child forks again. */
#define TRACE_FORKS 10

static void fork_while_threads_trace(void)
{
    static tracing t;
    pid_t children[TRACE_FORKS];
    start_tracing(&t);
    for (int i = 0; i < TRACE_FORKS; i++) {
        wait_for_steps(&t, 100);
        children[i] = fork();
        REQUIRE(children[i] >= 0);
        if (children[i] == 0) {
            alarm(CHILD_SECONDS);
            int rc = child_uses(t.run.own, NULL);
            if (rc == CHILD_OK)
                rc = child_uses(ircache_default(), NULL);
            if (rc == CHILD_OK && i == 0) {
                rc = fork_again(t.run.own);
                /* And after the grandchild, the child's caches still work. */
                if (rc == CHILD_OK)
                    rc = child_uses(t.run.own, NULL);
            }
            _exit(rc);
        }
    }
    stop_tracing(&t);
    for (int i = 0; i < TRACE_FORKS; i++)
        expect_child_ok(children[i], "fork while threads trace");
}

/* A thread that never called the library forks; its child uses the
 * caches. */
typedef struct fresh_forker {
    ircache *own;
    int status;
} fresh_forker;

static void *fork_from_here(void *arg)
{
    fresh_forker *f = arg;
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(CHILD_SECONDS);
        int rc = child_uses(ircache_default(), NULL);
        if (rc == CHILD_OK)
            rc = child_uses(f->own, NULL);
        if (rc == CHILD_OK)
            rc = fork_again(ircache_default());
        _exit(rc);
    }
    f->status = wait_child(child);
    return NULL;
}

#define FRESH_FORKS 5

static void fork_from_a_thread_that_never_used_the_cache(void)
{
    static tracing t;
    start_tracing(&t);
    for (int i = 0; i < FRESH_FORKS; i++) {
        wait_for_steps(&t, 100);
        fresh_forker f = {t.run.own, -1};
        pthread_t forker;
        start_thread(&forker, fork_from_here, &f);
        join_thread(forker);
        char why[128];
        const char *failure = child_failure(f.status, why, sizeof why);
        CHECK_MSG(failure == NULL, "the child of a fresh thread %s", failure);
    }
    stop_tracing(&t);
}

/* ---- c: inside a release callback of a clear --------------------------- */

#define HELD 100

typedef struct held_release {
    counted items[HELD];
    _Atomic int inside; /* a release callback is waiting */
    _Atomic int go;     /* it may return */
    ircache *c;
} held_release;

static held_release held;

/* Waits in the first release until the main thread has forked. */
static void waiting_release(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    int first = 0;
    if (atomic_compare_exchange_strong(&held.inside, &first, 1))
        while (!atomic_load(&held.go))
            sched_yield();
}

static const ircache_owner waiting_owner = {NULL, waiting_release, NULL};

static void *clear_held(void *arg)
{
    (void)arg;
    if (held.c == ircache_default())
        ircache_reset();
    else
        ircache_clear(held.c);
    return NULL;
}

/* Threads that fill their stacks, all alive at once: in a child, glibc
 * gives new threads the stacks of the parent's threads that do not exist
 * there (and of those that ended before), so whatever the library kept on
 * such a stack is overwritten. */
#define SCRIBBLERS 16

static pthread_barrier_t scribbled;

static void *scribble(void *arg)
{
    volatile unsigned char area[256 * 1024];
    memset((void *)area, 0xa5, sizeof area);
    pthread_barrier_wait(&scribbled);
    return arg;
}

static void scribble_on_free_stacks(void)
{
    if (UNDER_TSAN)
        return; /* ThreadSanitizer starts no thread in a child of threads */
    pthread_t t[SCRIBBLERS];
    REQUIRE(pthread_barrier_init(&scribbled, NULL, SCRIBBLERS) == 0);
    for (int i = 0; i < SCRIBBLERS; i++)
        start_thread(&t[i], scribble, NULL);
    for (int i = 0; i < SCRIBBLERS; i++)
        join_thread(t[i]);
    pthread_barrier_destroy(&scribbled);
}

static void fork_inside_a_release_callback_of_a_clear(void)
{
    for (int use_default = 0; use_default < 2; use_default++) {
        memset(&held, 0, sizeof held);
        held.c = use_default ? ircache_default() : ircache_new();
        REQUIRE(held.c != NULL);
        ircache_reset();
        char key[16];
        for (int i = 0; i < HELD; i++) {
            ircache_mark_step(held.c);
            snprintf(key, sizeof key, "held-%d", i);
            REQUIRE(ircache_insert(held.c, KEY(key), "held", &held.items[i], &waiting_owner) == 0);
        }
        pthread_t clearer;
        start_thread(&clearer, clear_held, NULL);
        while (!atomic_load(&held.inside))
            sched_yield();

        /* The clearing thread is inside a release callback. */
        pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            alarm(CHILD_SECONDS);
            /* The clear took every node before it released the first. */
            if (nodes_of(held.c) != 0) {
                say("the cleared cache has %llu nodes in the child",
                    (unsigned long long)nodes_of(held.c));
                _exit(CHILD_FAILED);
            }
            scribble_on_free_stacks();
            /* The held nodes were never hit: 0 reuses under their label. */
            ircache_op_stats ops[16];
            int64_t labels = ircache_get_op_stats(held.c, ops, 16);
            int64_t at = 0;
            while (at < labels && at < 16 && strcmp(ops[at].op, "held") != 0)
                at++;
            if (at == labels || at == 16 || ops[at].reused != 0) {
                say("the op statistics after the fork: %lld labels, \"held\" at %lld", (long long)labels,
                    (long long)at);
                _exit(CHILD_FAILED);
            }
            int rc = child_uses(held.c, NULL);
            if (rc == CHILD_OK && !use_default)
                rc = child_uses(ircache_default(), NULL);
            _exit(rc);
        }
        atomic_store(&held.go, 1);
        join_thread(clearer);
        CHECK_INT(counted_first_not_released_once(held.items, HELD), -1);
        CHECK_U64(nodes_of(held.c), 0);
        expect_child_ok(child, use_default ? "fork inside a release of a reset"
                                           : "fork inside a release of a clear");
        if (!use_default)
            ircache_free(held.c);
    }
}

/* ---- d: from a release of the forking thread's own clear ---------------- */

/* The child goes on with that clear: it releases the rest, and its op
 * statistics count the clear's hits once. */
#define OWN 40

static pid_t own_child = -1; /* 0 in the child */
static _Atomic int own_releases;

static void forking_release(void *payload, void *ctx)
{
    (void)payload;
    (void)ctx;
    if (atomic_fetch_add(&own_releases, 1) == 0)
        own_child = fork();
}

static const ircache_owner forking_owner = {NULL, forking_release, NULL};

static int after_the_clear(ircache *c)
{
    CHILD_CHECK(atomic_load(&own_releases) == OWN);
    CHILD_CHECK(op_reused(c, "own") == 2 * OWN);
    /* The list of clearings is whole: another clear comes and goes. */
    static int payload;
    CHILD_CHECK(ircache_insert(c, KEY("again"), "again", &payload, NULL) == 0);
    ircache_mark_step(c);
    CHILD_CHECK(ircache_lookup(c, KEY("again")) == &payload);
    ircache_clear(c);
    CHILD_CHECK(op_reused(c, "again") == 1);
    CHILD_CHECK(op_reused(c, "own") == 2 * OWN);
    return CHILD_OK;
}

static void fork_inside_a_release_of_the_forking_thread_s_clear(void)
{
    static int payloads[OWN];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    char key[16];
    for (int i = 0; i < OWN; i++) {
        snprintf(key, sizeof key, "own-%d", i);
        REQUIRE(ircache_insert(c, KEY(key), "own", &payloads[i], &forking_owner) == 0);
        ircache_mark_step(c);
        for (int hit = 0; hit < 2; hit++) {
            REQUIRE(ircache_lookup(c, KEY(key)) == &payloads[i]);
            ircache_mark_step(c);
        }
    }
    atomic_store(&own_releases, 0);
    own_child = -1;
    ircache_clear(c);
    if (own_child == 0) {
        alarm(CHILD_SECONDS);
        _exit(after_the_clear(c));
    }
    REQUIRE(own_child > 0);
    CHECK_INT(after_the_clear(c), CHILD_OK);
    expect_child_ok(own_child, "fork inside a release of the forking thread's own clear");
    ircache_free(c);
}

int main(void)
{
    /* The default cache exists before any thread does: its creation is
     * another case (test_regressions_fork.c). */
    REQUIRE(ircache_set_enabled(ircache_default(), 1) == 0);
    REQUIRE(ircache_set_max_nodes(ircache_default(), 0) == 0);
    /* After the library's own handlers (installed with the first cache). */
    REQUIRE(pthread_atfork(note_fork_begun, NULL, NULL) == 0);
    RUN(fork_in_the_middle_of_a_long_dump);
    RUN(fork_while_threads_trace);
    RUN(fork_inside_a_release_callback_of_a_clear);
    RUN(fork_inside_a_release_of_the_forking_thread_s_clear);
    RUN(fork_from_a_thread_that_never_used_the_cache);
    return check_exit_code();
}
