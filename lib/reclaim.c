/* reclaim.c - grace periods over the positions of a cache. */
#define _GNU_SOURCE /* syscall() */

#include "reclaim.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "alloc.h"
#include "successors.h"

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

_Atomic int ircache__reader_fence = 1;

static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void register_membarrier(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    /* Test hook: run the fallback (a fence in every lookup) on purpose. */
    const char *force = getenv("IRCACHE_FORCE_READER_FENCE");
    if (force != NULL && force[0] == '1')
        return;
    long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        atomic_store(&ircache__reader_fence, 0);
#endif
}

void ircache__reclaim_init(void)
{
    (void)pthread_once(&membarrier_once, register_membarrier);
}

/* Makes every reader's earlier stores visible to the caller. */
static void heavy_barrier(ircache *c)
{
    if (!(atomic_load_explicit(&c->gate, memory_order_relaxed) & IRCACHE__GATE_FENCE)) {
#if defined(__linux__) && defined(SYS_membarrier)
        if (!atomic_load_explicit(&ircache__reader_fence, memory_order_relaxed) &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
#endif
        /* Refused after it was granted (a seccomp filter installed later,
         * say), here or for another cache: this cache's lookups fence
         * themselves from now on. Those already past their entry without a
         * fence have had their store drain by the time a few scheduler
         * rounds have passed; that is the best left to do. */
        atomic_store(&ircache__reader_fence, 1);
        atomic_fetch_or_explicit(&c->gate, IRCACHE__GATE_FENCE, memory_order_relaxed);
        for (int i = 0; i < 100; i++)
            sched_yield();
    }
    atomic_thread_fence(memory_order_seq_cst);
}

int ircache__has_other_readers(const ircache *c, const ircache__position *self)
{
    return c->position_count > (self != NULL ? 1u : 0u);
}

void ircache__synchronize(ircache *c, const ircache__position *self)
{
    if (ircache__has_other_readers(c, self)) {
        uint64_t next = atomic_load_explicit(&c->epoch, memory_order_relaxed) + 1;
        atomic_store_explicit(&c->epoch, next, memory_order_release);
        heavy_barrier(c);
        for (ircache__position *p = c->positions; p != NULL; p = p->cache_next) {
            if (p == self)
                continue;
            for (;;) {
                uint64_t seen = atomic_load_explicit(&p->active, memory_order_acquire);
                if (seen == 0 || seen == next)
                    break;
                sched_yield();
            }
        }
    }
    ircache__free_retired(c);
    ircache__node_free_unlinked(&c->store);
}

void ircache__retire_table(ircache *c, ircache__succ_table *t)
{
    c->table_bytes -= t->bytes;
    c->retired_bytes += t->bytes;
    t->retired_next = c->retired;
    c->retired = t;
}

void ircache__free_retired(ircache *c)
{
    ircache__succ_table *t = c->retired;
    while (t != NULL) {
        ircache__succ_table *next = t->retired_next;
        ircache__free(t);
        t = next;
    }
    c->retired = NULL;
    c->retired_bytes = 0;
}
