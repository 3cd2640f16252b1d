/* test_cancel.c - pthread_cancel() and calls of the library: none of them
 * is a cancellation point (lib/cancel.h). A thread cancelled inside a dump
 * used to die in a file operation, holding the cache's lock for good or
 * leaving its temporary file; inside a release callback, leaving the
 * payloads after it unreleased.
 *
 * Each case cancels the thread before the call, while it waits at a
 * barrier (not a cancellation point), so that the cancel is pending during
 * the whole call: it must act only at the thread's own cancellation point
 * after the call has returned. No timing is involved. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

typedef struct cancelled_call {
    ircache *c;
    const char *path;          /* for dumps */
    pthread_barrier_t go;      /* passed once the cancel is pending */
    _Atomic int returned;      /* the call came back, with... */
    _Atomic int rc;            /* ...this result */
    void (*call)(struct cancelled_call *cc);
} cancelled_call;

static void *cancelled_thread(void *arg)
{
    cancelled_call *cc = arg;
    pthread_barrier_wait(&cc->go);
    cc->call(cc);
    atomic_store(&cc->returned, 1);
    pthread_testcancel(); /* the pending cancel acts here */
    return NULL;
}

/* Runs cc->call on a thread cancelled before it starts; 1 when the thread
 * ended cancelled after the call returned. */
static int run_cancelled(cancelled_call *cc)
{
    pthread_t t;
    void *result = NULL;
    CHECK_INT(pthread_barrier_init(&cc->go, NULL, 2), 0);
    start_thread(&t, cancelled_thread, cc);
    CHECK_INT(pthread_cancel(t), 0);
    pthread_barrier_wait(&cc->go);
    CHECK_INT(pthread_join(t, &result), 0);
    pthread_barrier_destroy(&cc->go);
    return result == PTHREAD_CANCELED && atomic_load(&cc->returned);
}

static ircache *cache_with_chain(int length)
{
    static int payload;
    ircache *c = ircache_new();
    char key[32];
    for (int i = 0; i < length; i++) {
        snprintf(key, sizeof key, "op %d", i);
        CHECK_INT(ircache_insert(c, KEY(key), "aten::\"mul\"\n", &payload, NULL), 0);
    }
    ircache_mark_step(c);
    return c;
}

/* ---- a dump ---------------------------------------------------------- */

static void call_dump(cancelled_call *cc)
{
    atomic_store(&cc->rc, ircache_dump_dot(cc->c, cc->path));
}

static void a_cancelled_dump_writes_its_file_and_leaves_the_cache_usable(void)
{
    /* Large enough for the helper thread that writes full buffers. */
    ircache *c = cache_with_chain(60000);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "cancelled.dot");
    char *expected_path = path_join(dir, "expected.dot");
    cancelled_call cc = {.c = c, .path = path, .call = call_dump};
    CHECK(run_cancelled(&cc));
    CHECK_INT(atomic_load(&cc.rc), 0);
    CHECK_INT(ircache_dump_dot(c, expected_path), 0);
    size_t got_size = 0, expected_size = 0;
    char *got = read_file(path, &got_size);
    char *expected = read_file(expected_path, &expected_size);
    CHECK(got != NULL && expected != NULL);
    CHECK(got_size > 1000000 && got_size == expected_size);
    CHECK(got != NULL && expected != NULL && memcmp(got, expected, expected_size) == 0);
    CHECK_INT(count_dir_entries(dir), 2); /* no temporary file left */
    /* The lock is free: a writer gets through. */
    CHECK_INT(ircache_insert(c, KEY("after"), "op", (void *)dir, NULL), 0);
    free(got);
    free(expected);
    free(expected_path);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
}

/* ---- releases ---------------------------------------------------------- */

/* A release that reaches a cancellation point, as one that logs or frees
 * through a runtime that does I/O may. */
static void testing_release(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
    pthread_testcancel();
}

static const ircache_owner testing_owner = {NULL, testing_release, NULL};

enum { RELEASED = 300 };

static ircache *cache_released_by_testing_owner(counted *payloads)
{
    ircache *c = ircache_new();
    char key[32];
    for (int i = 0; i < RELEASED; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_INT(ircache_insert(c, KEY(key), "op", &payloads[i], &testing_owner), 0);
        ircache_mark_step(c);
    }
    return c;
}

static void call_clear(cancelled_call *cc)
{
    ircache_clear(cc->c);
}

static void call_free(cancelled_call *cc)
{
    ircache_free(cc->c);
}

static void call_bound(cancelled_call *cc)
{
    atomic_store(&cc->rc, ircache_set_max_nodes(cc->c, 1));
}

static counted replacement;

static void call_replace(cancelled_call *cc)
{
    atomic_store(&cc->rc, ircache_insert(cc->c, KEY("k0"), "op", &replacement, NULL));
}

/* A new leaf past a bound of RELEASED: evicts the least recently used. */
static void call_insert_past_bound(cancelled_call *cc)
{
    atomic_store(&cc->rc, ircache_insert(cc->c, KEY("new"), "op", &replacement, NULL));
}

/* Runs call on a cancelled thread over RELEASED payloads (leaves of the
 * root; the cache bounded to bound nodes first); checks that the call
 * returned, then that the releases it made, exactly `released` of them,
 * came once each. Every payload is released once in the end. */
static void check_cancelled_call(void (*call)(cancelled_call *), uint64_t bound, long released)
{
    counted *payloads = counted_array(RELEASED);
    ircache *c = cache_released_by_testing_owner(payloads);
    CHECK_INT(ircache_set_max_nodes(c, bound), 0);
    cancelled_call cc = {.c = c, .call = call};
    CHECK(run_cancelled(&cc));
    CHECK_INT(atomic_load(&cc.rc), 0);
    CHECK_INT(counted_total_releases(payloads, RELEASED), released);
    long twice = -1;
    for (int i = 0; i < RELEASED; i++)
        if (atomic_load(&payloads[i].releases) > 1)
            twice = i;
    CHECK_INT(twice, -1);
    if (call != call_free)
        ircache_free(c);
    CHECK_INT(counted_first_not_released_once(payloads, RELEASED), -1);
    free(payloads);
}

static void a_cancelled_clear_releases_every_payload(void)
{
    check_cancelled_call(call_clear, 0, RELEASED);
}

static void a_cancelled_free_releases_every_payload(void)
{
    check_cancelled_call(call_free, 0, RELEASED);
}

static void a_cancelled_bound_releases_every_evicted_payload(void)
{
    check_cancelled_call(call_bound, 0, RELEASED - 1);
}

static void a_cancelled_replacement_releases_the_old_payload(void)
{
    check_cancelled_call(call_replace, 0, 1);
}

static void a_cancelled_insert_releases_what_it_evicts(void)
{
    check_cancelled_call(call_insert_past_bound, RELEASED, 1);
}

int main(void)
{
    RUN(a_cancelled_dump_writes_its_file_and_leaves_the_cache_usable);
    RUN(a_cancelled_clear_releases_every_payload);
    RUN(a_cancelled_free_releases_every_payload);
    RUN(a_cancelled_bound_releases_every_evicted_payload);
    RUN(a_cancelled_replacement_releases_the_old_payload);
    RUN(a_cancelled_insert_releases_what_it_evicts);
    return check_exit_code();
}
