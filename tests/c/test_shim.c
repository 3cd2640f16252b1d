/* test_shim.c - the Python package's C side (python/ircache/_shim.c), with
 * a stand-in for its Python callback that tracks every id: a lookup whose
 * payload another thread replaced recovers what the node holds now, and
 * that payload must stay unreleased until the recovery ends, whatever the
 * other recoveries and releases do, and every payload must be released
 * exactly once, also when memory runs out. */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

/* Failures injected into the shim's only allocation call. */
static _Atomic int realloc_fail_at; /* the Nth realloc from now fails; 0: none */
static _Atomic int reallocs;

static void *failing_realloc(void *p, size_t n)
{
    int at = atomic_load(&realloc_fail_at);
    if (at != 0 && atomic_fetch_add(&reallocs, 1) + 1 == at)
        return NULL;
    return realloc(p, n);
}

/* A replacement made by another thread while a recovery is asking: its
 * release comes before the recovery has pinned what it was answered. */
static void *position_payload_then_replace(ircache *c, const ircache_owner *owner);

/* Whether the interpreter is finalizing (after its atexit handlers). */
static _Atomic int finalizing;
#define ircpy_finalizing() atomic_load(&finalizing)

#define realloc failing_realloc
#define ircache_position_payload position_payload_then_replace
#include "_shim.c"
#undef ircache_position_payload
#undef realloc

/* ---- the stand-in for Python: ids and how often each was released ----- */

#define MAX_IDS (1u << 20)
static _Atomic unsigned char released_times[MAX_IDS];
static _Atomic uintptr_t next_id = 1;
static _Atomic long released_twice;

static void _ircpy_release(void *payload, void *ctx)
{
    (void)ctx;
    uintptr_t id = (uintptr_t)payload;
    if (atomic_fetch_add(&released_times[id], 1) != 0)
        atomic_fetch_add(&released_twice, 1);
}

static intptr_t new_id(void)
{
    uintptr_t id = atomic_fetch_add(&next_id, 1);
    REQUIRE(id < MAX_IDS);
    return (intptr_t)id;
}

static const char KEY[] = "key-0001";
#define KEY_LEN (sizeof KEY - 1)

static ircpy_cache *replace_target;
static _Atomic int replace_while_asking;
/* Lets other threads run between the library's answer and the pin: where a
 * release of the answer, let go too early, would come first. */
static _Atomic int yield_while_asking;

static void *replace_once(void *arg)
{
    (void)arg;
    ircache_mark_step(replace_target->cache);
    REQUIRE(ircpy_insert(replace_target, KEY, KEY_LEN, "op", new_id()) == 0);
    return NULL;
}

static void *position_payload_then_replace(ircache *c, const ircache_owner *owner)
{
    void *payload = ircache_position_payload(c, owner);
    for (int i = 0; i < atomic_load(&yield_while_asking); i++)
        sched_yield();
    if (atomic_exchange(&replace_while_asking, 0)) {
        pthread_t t;
        start_thread(&t, replace_once, NULL);
        join_thread(t);
    }
    return payload;
}

/* Every id handed out so far was released exactly once. */
static void check_each_released_once(const char *what)
{
    long missing = 0;
    for (uintptr_t id = 1; id < atomic_load(&next_id); id++)
        missing += atomic_load(&released_times[id]) != 1;
    CHECK_MSG(missing == 0, "%s: %ld ids not released exactly once", what, missing);
    CHECK_MSG(atomic_load(&released_twice) == 0, "%s: %ld releases of a released id", what,
              atomic_load(&released_twice));
}

/* ---- recoveries racing replacements ------------------------------------ */

#define RECOVERERS 3
#define REPLACERS 2
#define REPLACEMENTS 20000

static ircpy_cache *shared_handle;
static _Atomic int replacers_left;
static _Atomic long recoveries, dead_pins;

static void *recover_until_replaced(void *arg)
{
    (void)arg;
    while (atomic_load(&replacers_left) > 0) {
        ircache_mark_step(shared_handle->cache);
        if (ircpy_lookup(shared_handle, KEY, KEY_LEN) == 0)
            continue;
        for (int k = 0; k < 20; k++) {
            intptr_t pinned = ircpy_begin_recovery(shared_handle);
            if (pinned != 0) {
                atomic_fetch_add(&recoveries, 1);
                /* Python would now wait for the GIL: let the others run. */
                for (int i = 0; i < 10; i++)
                    sched_yield();
                if (atomic_load(&released_times[pinned]) != 0)
                    atomic_fetch_add(&dead_pins, 1);
            }
            ircpy_end_recovery(shared_handle);
        }
    }
    return NULL;
}

static void *replace_repeatedly(void *arg)
{
    (void)arg;
    for (int i = 0; i < REPLACEMENTS; i++) {
        ircache_mark_step(shared_handle->cache);
        REQUIRE(ircpy_insert(shared_handle, KEY, KEY_LEN, "op", new_id()) == 0);
    }
    atomic_fetch_sub(&replacers_left, 1);
    return NULL;
}

static void a_recovered_payload_stays_until_the_recovery_ends(void)
{
    shared_handle = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(shared_handle != NULL);
    REQUIRE(ircpy_insert(shared_handle, KEY, KEY_LEN, "op", new_id()) == 0);
    atomic_store(&replacers_left, REPLACERS);
    atomic_store(&yield_while_asking, 20);
    pthread_t threads[RECOVERERS + REPLACERS];
    for (int i = 0; i < RECOVERERS; i++)
        start_thread(&threads[i], recover_until_replaced, NULL);
    for (int i = 0; i < REPLACERS; i++)
        start_thread(&threads[RECOVERERS + i], replace_repeatedly, NULL);
    for (int i = 0; i < RECOVERERS + REPLACERS; i++)
        join_thread(threads[i]);
    atomic_store(&yield_while_asking, 0);
    CHECK_INT(shared_handle->pinned.count, 0);
    CHECK_INT(shared_handle->released.count, 0);
    CHECK_INT(shared_handle->waiting.count, 0);
    ircpy_free(shared_handle);
    CHECK_MSG(atomic_load(&dead_pins) == 0, "%ld of %ld recoveries saw their payload released",
              atomic_load(&dead_pins), atomic_load(&recoveries));
    CHECK_MSG(atomic_load(&recoveries) > 0, "no recovery found a payload");
    check_each_released_once("racing recoveries");
}

/* ---- out of memory ------------------------------------------------------ */

/* One recovery whose answer is replaced while it asks (its release comes
 * then), the fail_at-th allocation from that moment failing; or, with
 * in_end, a replacement while pinned and the allocation failing in the
 * end. The recovery may then miss, but no payload may be lost or released
 * twice. */
static void one_recovery_out_of_memory(int fail_at, int in_end)
{
    ircpy_cache *h = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(h != NULL);
    replace_target = h;
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", new_id()) == 0);
    ircache_mark_step(h->cache);
    REQUIRE(ircpy_lookup(h, KEY, KEY_LEN) != 0);
    if (!in_end) {
        atomic_store(&replace_while_asking, 1);
        atomic_store(&reallocs, 0);
        atomic_store(&realloc_fail_at, fail_at);
    }
    intptr_t pinned = ircpy_begin_recovery(h);
    atomic_store(&realloc_fail_at, 0);
    CHECK(pinned != 0);
    if (in_end) {
        replace_once(NULL);
        atomic_store(&reallocs, 0);
        atomic_store(&realloc_fail_at, fail_at);
    }
    ircpy_end_recovery(h);
    atomic_store(&realloc_fail_at, 0);
    ircpy_free(h);
    check_each_released_once(in_end ? "out of memory in the end" : "out of memory while asking");
}

static void releases_survive_allocation_failures(void)
{
    for (int fail_at = 1; fail_at <= 3; fail_at++) {
        one_recovery_out_of_memory(fail_at, 0);
        one_recovery_out_of_memory(fail_at, 1);
    }
}

/* ---- ending what never began -------------------------------------------- */

static void an_end_without_a_beginning_changes_nothing(void)
{
    ircpy_cache *h = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(h != NULL);
    replace_target = h;
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", new_id()) == 0);
    ircpy_end_recovery(h);
    intptr_t pinned = ircpy_begin_recovery(h);
    CHECK(pinned != 0);
    ircpy_end_recovery(h);
    ircpy_end_recovery(h);
    replace_once(NULL);
    CHECK_INT(atomic_load(&released_times[pinned]), 1);
    CHECK_INT(h->pinned.count + h->released.count + h->waiting.count, 0);
    ircpy_free(h);
    check_each_released_once("end without beginning");
}

/* ---- fork ----------------------------------------------------------------- */

/* A thread that stands on the node, recovers, and waits to end until told:
 * the fork comes in between. */
typedef struct recovering_thread {
    ircpy_cache *h;
    intptr_t pinned;
    pthread_barrier_t pinned_now, may_end;
} recovering_thread;

static void *recover_across_a_fork(void *arg)
{
    recovering_thread *r = arg;
    ircache_mark_step(r->h->cache);
    REQUIRE(ircpy_lookup(r->h, KEY, KEY_LEN) != 0);
    r->pinned = ircpy_begin_recovery(r->h);
    pthread_barrier_wait(&r->pinned_now);
    pthread_barrier_wait(&r->may_end);
    ircpy_end_recovery(r->h);
    return NULL;
}

/* The recovering thread does not exist in the child: there, what it pinned
 * goes once replaced, as ircpy_flush_held lets it (Python's after-fork
 * hook), and every payload is released once. */
static void a_child_forked_during_another_thread_s_recovery_releases_all(void)
{
    static recovering_thread r;
    r.h = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(r.h != NULL);
    replace_target = r.h;
    REQUIRE(ircpy_insert(r.h, KEY, KEY_LEN, "op", new_id()) == 0);
    REQUIRE(pthread_barrier_init(&r.pinned_now, NULL, 2) == 0);
    REQUIRE(pthread_barrier_init(&r.may_end, NULL, 2) == 0);
    pthread_t t;
    start_thread(&t, recover_across_a_fork, &r);
    pthread_barrier_wait(&r.pinned_now);
    CHECK(r.pinned != 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 10; i++)
            replace_once(NULL);
        ircpy_flush_held(r.h);
        int pinned_released = atomic_load(&released_times[r.pinned]) == 1;
        ircpy_free(r.h);
        long missing = 0;
        for (uintptr_t id = 1; id < atomic_load(&next_id); id++)
            missing += atomic_load(&released_times[id]) != 1;
        _exit(pinned_released && missing == 0 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child did not release every payload once (status %d)", status);
    /* In the parent the pin holds until the thread ends its recovery. */
    replace_once(NULL);
    CHECK_INT(atomic_load(&released_times[r.pinned]), 0);
    pthread_barrier_wait(&r.may_end);
    join_thread(t);
    CHECK_INT(atomic_load(&released_times[r.pinned]), 1);
    ircpy_free(r.h);
    pthread_barrier_destroy(&r.pinned_now);
    pthread_barrier_destroy(&r.may_end);
    check_each_released_once("fork during a recovery");
}

/* ---- exit ----------------------------------------------------------------- */

/* Exit begins on the thread that runs the package's atexit hook. */
static void *exit_here(void *arg)
{
    (void)arg;
    ircpy_stop_releases();
    return NULL;
}

/* After the interpreter began to exit, releases from other threads (a C
 * runtime's) reach no Python; those of the exiting thread (the clear of an
 * atexit handler that runs after the package's hook) do until the
 * interpreter finalizes. */
static void after_exit_begins_only_the_exiting_thread_s_releases_reach_python(void)
{
    ircpy_cache *h = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(h != NULL);
    intptr_t from_another = new_id(), from_atexit = new_id(), finalized = new_id();
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", from_another) == 0);
    pthread_t t;
    start_thread(&t, exit_here, NULL);
    join_thread(t);
    ircache_clear(h->cache); /* this thread did not begin the exit */
    CHECK_INT(atomic_load(&released_times[from_another]), 0);

    ircpy_stop_releases(); /* now it does */
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", from_atexit) == 0);
    ircache_clear(h->cache);
    CHECK_INT(atomic_load(&released_times[from_atexit]), 1);
    atomic_store(&finalizing, 1);
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", finalized) == 0);
    ircpy_free(h);
    CHECK_INT(atomic_load(&released_times[finalized]), 0);
    CHECK_INT(atomic_load(&released_times[from_another]), 0);
}

/* A host that finalizes Python and starts it again: the handles of the
 * interpreter that is gone release nothing (the new one's tables reuse
 * their ids); the new interpreter's get every release. */
static void a_new_interpreter_gets_its_releases_and_none_of_the_old_ones(void)
{
    ircpy_cache *old = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(old != NULL);
    intptr_t left = new_id();
    REQUIRE(ircpy_insert(old, KEY, KEY_LEN, "op", left) == 0);
    ircpy_stop_releases();        /* the first interpreter's atexit hook */
    atomic_store(&finalizing, 1); /* its finalization */
    ircpy_python_is_gone();       /* the last step of Py_FinalizeEx */
    atomic_store(&finalizing, 0); /* Py_Initialize again */
    ircpy_start_releases();       /* and the package's import */
    ircpy_cache *h = ircpy_open(ircache_new(), 1, 1);
    REQUIRE(h != NULL);
    intptr_t fresh = new_id();
    REQUIRE(ircpy_insert(h, KEY, KEY_LEN, "op", fresh) == 0);
    ircache_clear(old->cache);
    ircache_clear(h->cache);
    CHECK_INT(atomic_load(&released_times[left]), 0);
    CHECK_INT(atomic_load(&released_times[fresh]), 1);
    ircpy_free(old);
    ircpy_free(h);
}

int main(void)
{
    RUN(a_recovered_payload_stays_until_the_recovery_ends);
    RUN(releases_survive_allocation_failures);
    RUN(an_end_without_a_beginning_changes_nothing);
    RUN(a_child_forked_during_another_thread_s_recovery_releases_all);
    RUN(after_exit_begins_only_the_exiting_thread_s_releases_reach_python);
    RUN(a_new_interpreter_gets_its_releases_and_none_of_the_old_ones);
    return check_exit_code();
}
