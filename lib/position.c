/* position.c - per-thread positions and their lifetime. */
#include "position.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "reclaim.h"
#include "registry.h"
#include "settle.h"
#include "trie.h"

ircache ircache__no_cache;
_Thread_local ircache__tls_slot ircache__tls = {&ircache__no_cache, 0, NULL};

/* Every position this thread ever made, live or orphaned by a freed cache. */
static _Thread_local ircache__position *thread_positions;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;


void ircache__position_claim_first(ircache *c, ircache__position *p)
{
#ifdef IRCACHE__THREAD_ID
    if (atomic_load_explicit(&c->first_thread, memory_order_relaxed) == 0) {
        c->first_position = p;
        atomic_store_explicit(&c->first_thread, IRCACHE__THREAD_ID(), memory_order_release);
    }
#else
    (void)c;
    (void)p;
#endif
}

/* p's thread is gone (or going): it is no longer c's first thread. */
static void release_first(ircache *c, const ircache__position *p)
{
    if (c->first_position == p) {
        atomic_store_explicit(&c->first_thread, 0, memory_order_release);
        c->first_position = NULL;
    }
}

static void fold_and_unlink(ircache *c, ircache__position *p)
{
    ircache__settle_position(p);
    release_first(c, p);
    /* Its uses come before whatever other threads do after it is gone. */
    ircache__clock_publish(c, atomic_load_explicit(&p->clock, memory_order_relaxed));
    c->departed_hits += atomic_load_explicit(&p->hits, memory_order_relaxed);
    c->departed_misses += atomic_load_explicit(&p->misses, memory_order_relaxed);
    if (p->cache_prev != NULL)
        p->cache_prev->cache_next = p->cache_next;
    else
        c->positions = p->cache_next;
    if (p->cache_next != NULL)
        p->cache_next->cache_prev = p->cache_prev;
    c->position_count--;
    /* The thread left alone may count hits with plain stores again, once
     * its clock has caught up with the one published above; the release
     * makes the departed thread's last counts and that clock visible to it
     * first (lookups read shared with acquire). */
    if (c->position_count <= 1)
        atomic_store_explicit(&c->shared, IRCACHE__ALONE_BEHIND, memory_order_release);
}

static void forget_fast_slot(void)
{
    ircache__tls = (ircache__tls_slot){&ircache__no_cache, 0, NULL};
}

static void on_thread_exit(void *unused)
{
    (void)unused;
    ircache__registry_lock();
    ircache__position *p = thread_positions;
    while (p != NULL) {
        ircache__position *next = p->thread_next;
        ircache *c = atomic_load_explicit(&p->cache, memory_order_relaxed);
        if (c != NULL) {
            ircache__lock(c);
            fold_and_unlink(c, p);
            ircache__unlock(c);
        }
        ircache__free(p);
        p = next;
    }
    thread_positions = NULL;
    forget_fast_slot();
    ircache__registry_unlock();
}

static void make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

/* Frees this thread's positions in caches that were freed since. */
static void drop_orphans(void)
{
    ircache__position **link = &thread_positions;
    while (*link != NULL) {
        ircache__position *p = *link;
        if (atomic_load_explicit(&p->cache, memory_order_acquire) == NULL) {
            *link = p->thread_next;
            if (ircache__tls.position == p)
                forget_fast_slot();
            ircache__free(p);
        } else {
            link = &p->thread_next;
        }
    }
}

ircache__position *ircache__position_slow(ircache *c, int create)
{
    ircache__position *found = NULL;
    int orphans = 0;
    for (ircache__position *p = thread_positions; p != NULL; p = p->thread_next) {
        ircache *owner = atomic_load_explicit(&p->cache, memory_order_acquire);
        if (owner == NULL)
            orphans = 1;
        else if (owner == c && p->cache_serial == c->serial)
            found = p;
    }
    if (orphans)
        drop_orphans();
    if (found == NULL && create) {
        (void)pthread_once(&exit_key_once, make_exit_key);
        /* Without the exit hook a thread's position would outlive it; the
         * key is set before the position exists so the hook always runs. */
        if (!exit_key_ok || pthread_setspecific(exit_key, &exit_key) != 0) {
            ircache__fail(IRCACHE_ENOMEM, "cannot register this thread with the cache");
            return NULL;
        }
        found = ircache__aligned_alloc(64, sizeof *found);
        if (found == NULL) {
            ircache__fail(IRCACHE_ENOMEM, "no memory for this thread's position");
            return NULL;
        }
        memset(found, 0, sizeof *found);
        atomic_init(&found->cache, c);
        found->cache_serial = c->serial;
        found->owner = pthread_self();
        ircache__lock(c);
        if (atomic_load_explicit(&c->closing, memory_order_relaxed)) {
            /* A release callback of ircache_free: the cache is going, and a
             * position here would outlive it. */
            ircache__unlock(c);
            ircache__free(found);
            ircache__fail(IRCACHE_EINVAL, "the cache is being freed");
            return NULL;
        }
        atomic_init(&found->node, &c->root);
        atomic_init(&found->gen, ircache__gate_gen(atomic_load_explicit(&c->gate, memory_order_relaxed)));
        atomic_init(&found->clock, atomic_load_explicit(&c->clock, memory_order_relaxed));
        found->cache_next = c->positions;
        if (c->positions != NULL)
            c->positions->cache_prev = found;
        c->positions = found;
        c->position_count++;
        if (c->position_count == 2) {
            /* The thread that was alone counts hits with plain stores:
             * wait until each lookup of its that may have read shared as 0
             * is over. */
            atomic_store_explicit(&c->shared, IRCACHE__SHARED, memory_order_relaxed);
            ircache__synchronize(c, found);
            /* Nor will it write the hit it left pending (settle.h). */
            ircache__settle_all(c);
            /* Nor did it publish its clock at step marks. */
            ircache__clock_publish(c, ircache__positions_newest_clock(c));
            atomic_store_explicit(&found->clock, atomic_load_explicit(&c->clock, memory_order_relaxed),
                                  memory_order_relaxed);
        }
        ircache__position_claim_first(c, found);
        ircache__unlock(c);
        found->thread_next = thread_positions;
        thread_positions = found;
    }
    if (found != NULL)
        ircache__tls = (ircache__tls_slot){c, c->serial, found};
    return found;
}

uint64_t ircache__positions_newest_clock(const ircache *c)
{
    uint64_t newest = 0;
    for (const ircache__position *p = c->positions; p != NULL; p = p->cache_next) {
        uint64_t clock = atomic_load_explicit(&p->clock, memory_order_relaxed);
        if (clock > newest)
            newest = clock;
    }
    return newest;
}

int ircache__position_pins(const ircache *c, const ircache__node *n)
{
    uint64_t gen = ircache__gate_gen(atomic_load_explicit(&c->gate, memory_order_relaxed));
    for (const ircache__position *p = c->positions; p != NULL; p = p->cache_next) {
        if (atomic_load_explicit(&p->node, memory_order_acquire) == n &&
            atomic_load_explicit(&p->gen, memory_order_relaxed) == gen)
            return 1;
    }
    return 0;
}

void ircache__positions_detach(ircache *c)
{
    ircache__position *p = c->positions;
    while (p != NULL) {
        ircache__position *next = p->cache_next;
        atomic_store_explicit(&p->cache, NULL, memory_order_release);
        release_first(c, p);
        p = next;
    }
    c->positions = NULL;
    c->position_count = 0;
    atomic_store_explicit(&c->shared, IRCACHE__ALONE, memory_order_relaxed);
    if (ircache__tls.cache == c)
        forget_fast_slot();
    drop_orphans();
}

void ircache__positions_forget_other_threads(ircache *c)
{
    pthread_t self = pthread_self();
    ircache__position *p = c->positions;
    while (p != NULL) {
        ircache__position *next = p->cache_next;
        if (!pthread_equal(p->owner, self)) {
            fold_and_unlink(c, p);
            ircache__free(p);
        }
        p = next;
    }
}
