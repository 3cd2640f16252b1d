/* test_regressions_fork.c - fork() while another thread creates the default
 * cache (fork_default_once.c), a process of its own: the default cache must
 * not exist before the case starts, and this file replaces getenv.
 *
 * The header: "the child may use every cache at once, whatever other
 * threads of the parent were doing". A thread's first ircache_default()
 * reads IRCACHE_MAX_NODES after it linked the cache into the registry of
 * caches that fork() handles; this getenv holds it there while the main
 * thread forks. The child's ircache_default() then creates the cache again
 * (pthread_once starts over in a child): before the fix that linked it into
 * the registry a second time, as a loop, and the child's next fork() hung
 * walking it. */
#define _GNU_SOURCE

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

#define CHILD_SECONDS 15 /* a child that hangs is killed after this */

/* ThreadSanitizer replaces pthread_once with its own, which does not start
 * over in a child: there the child waits forever for the parent's thread,
 * whatever the library does (UNDER_TSAN: support.h). Meson counts exit
 * status 77 as skipped. */

extern char **environ;

/* ---- a getenv that can hold the thread calling it ---------------------- */

static pthread_mutex_t hold_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int holding; /* a thread waits in getenv */
static int let_go;  /* it may return */
static _Atomic pid_t hold_in; /* the process whose getenv holds; 0: none */

/* The library reads its environment through this (the executable's
 * definition comes first); the first read of IRCACHE_MAX_NODES in the
 * process hold_in names waits until the main thread lets it go. */
char *getenv(const char *name)
{
    pid_t hold = atomic_load(&hold_in);
    if (hold != 0 && strcmp(name, "IRCACHE_MAX_NODES") == 0 && getpid() == hold) {
        atomic_store(&hold_in, 0);
        pthread_mutex_lock(&hold_mutex);
        holding = 1;
        pthread_cond_broadcast(&hold_cond);
        while (!let_go)
            pthread_cond_wait(&hold_cond, &hold_mutex);
        pthread_mutex_unlock(&hold_mutex);
    }
    size_t len = strlen(name);
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* ---- the case ---------------------------------------------------------- */

static void *first_use(void *arg)
{
    (void)arg;
    (void)ircache_default();
    return NULL;
}

/* The default cache works: an insert, a hit, a reset that releases. */
static int default_cache_works(void)
{
    static int payload;
    ircache *d = ircache_default();
    ircache_mark_step(d);
    if (ircache_insert(d, KEY("after-fork"), "op", &payload, NULL) != 0)
        return 0;
    ircache_mark_step(d);
    if (ircache_lookup(d, KEY("after-fork")) != &payload)
        return 0;
    ircache_stats s;
    if (ircache_get_stats(d, &s) != 0 || s.nodes != 1)
        return 0;
    ircache_reset();
    return ircache_get_stats(d, &s) == 0 && s.nodes == 0;
}

/* 0 when the child of the fork did all it should: 1 the default cache did
 * not work, 2 a fork failed, 3 the grandchild failed. */
static int child_main(void)
{
    alarm(CHILD_SECONDS);
    if (!default_cache_works())
        return 1;
    pid_t grandchild = fork(); /* walks the registry of caches */
    if (grandchild < 0)
        return 2;
    if (grandchild == 0)
        _exit(default_cache_works() ? 0 : 1);
    int status;
    if (waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return 3;
    return default_cache_works() ? 0 : 1;
}

static void fork_while_the_default_cache_is_being_created_leaves_a_usable_child(void)
{
    atomic_store(&hold_in, getpid());
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, first_use, NULL) == 0);
    pthread_mutex_lock(&hold_mutex);
    while (!holding)
        pthread_cond_wait(&hold_cond, &hold_mutex);
    pthread_mutex_unlock(&hold_mutex);

    /* The other thread is inside the default cache's creation. */
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0)
        _exit(child_main());

    pthread_mutex_lock(&hold_mutex);
    let_go = 1;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_mutex);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_MSG(default_cache_works(), "the parent's default cache does not work");

    int status;
    REQUIRE(waitpid(child, &status, 0) == child);
    if (WIFSIGNALED(status))
        CHECK_MSG(0, "the child was killed by signal %d (%s)%s", WTERMSIG(status),
                  strsignal(WTERMSIG(status)),
                  WTERMSIG(status) == SIGALRM ? ": it hung" : "");
    else
        CHECK_MSG(WEXITSTATUS(status) == 0, "the child exited with %d", WEXITSTATUS(status));

    /* And the parent can still fork. */
    child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(CHILD_SECONDS);
        _exit(default_cache_works() ? 0 : 1);
    }
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a later child of the parent failed (status %#x)", (unsigned)status);
}

int main(void)
{
    if (UNDER_TSAN) {
        fputs("skip fork_while_the_default_cache_is_being_created_leaves_a_usable_child: "
              "ThreadSanitizer's pthread_once does not start over in a child\n", stderr);
        return 77;
    }
    RUN(fork_while_the_default_cache_is_being_created_leaves_a_usable_child);
    return check_exit_code();
}
