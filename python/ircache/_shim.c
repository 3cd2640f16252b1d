/* _shim.c - the C side of the Python package, compiled into its cffi
 * extension (_build_cffi.py reads it; tests/c/test_shim.c includes it with
 * a stand-in for the Python callback). A handle pairs a cache with the
 * owner of the Python objects in it: payloads are the integer ids of the
 * objects, whose table Python keeps; the owner's release tells Python to
 * drop one. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "ircache.h"

static void _ircpy_release(void *payload, void *ctx); /* extern "Python", below */

/* Cleared when the interpreter's exit begins (the package's atexit hook):
 * a C runtime may drop Python's nodes later, and there is no Python left
 * to tell. */
static _Atomic int ircpy_releasing = 1;

/* Set on the thread that ran that hook, the one exiting the interpreter:
 * its own releases go on reaching Python until the interpreter finalizes
 * (an atexit handler that ran after the hook and cleared a cache frees its
 * objects). Other threads' stop at the hook: Python would end a thread
 * that enters it during finalization, in the middle of a release. */
static _Thread_local int ircpy_exiting_here;

/* The interpreters this process finalized: the last step of Py_FinalizeEx
 * (Py_AtExit) counts one. A handle opened before the count moved belongs
 * to one of them, whose objects are gone: its releases go nowhere. A host
 * may start Python again (Py_Initialize clears the finalizing flag below),
 * and that interpreter's tables reuse the ids of the first one's. */
static _Atomic unsigned ircpy_interpreters_gone;

/* 1 once the interpreter finalizes (after the atexit handlers). Not in the
 * limited API cffi compiles against, but exported by every CPython 3. */
#ifdef Py_PYTHON_H
#if PY_VERSION_HEX >= 0x030D0000
PyAPI_FUNC(int) Py_IsFinalizing(void);
#define ircpy_finalizing() Py_IsFinalizing()
#else
PyAPI_FUNC(int) _Py_IsFinalizing(void);
#define ircpy_finalizing() _Py_IsFinalizing()
#endif
#elif !defined(ircpy_finalizing)
#define ircpy_finalizing() 1 /* C tests without Python: define it to test */
#endif

/* Payloads, as a growable array. */
typedef struct ircpy_payloads {
    void **items;
    size_t count, cap;
} ircpy_payloads;

static int ircpy_payloads_add(ircpy_payloads *a, void *payload)
{
    if (a->count == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 8;
        void **grown = realloc(a->items, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        a->items = grown;
        a->cap = cap;
    }
    a->items[a->count++] = payload;
    return 0;
}

/* 1 if a holds payload. */
static int ircpy_payloads_has(const ircpy_payloads *a, const void *payload)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i] == payload)
            return 1;
    return 0;
}

/* Removes one entry equal to payload; 1 if there was one. */
static int ircpy_payloads_remove(ircpy_payloads *a, void *payload)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i] == payload) {
            a->items[i] = a->items[--a->count];
            return 1;
        }
    return 0;
}

/* A lookup's payload can be replaced and released by another thread before
 * Python finds its object (the package takes no retain). Python then
 * recovers: ircpy_begin_recovery asks the library what the node holds now
 * and pins it, ircpy_end_recovery unpins it once Python has the object. A
 * pinned payload's release waits for the unpin; releases that come while a
 * recovery has not pinned yet (it cannot know the payload before it has it)
 * wait for that. */
typedef struct ircpy_cache {
    ircache *cache;
    int owned;           /* the cache is freed with the handle */
    intptr_t table;      /* names the cache's object table to Python */
    ircache_owner owner; /* the cache keeps its address: lives as long; ctx is the handle */
    pthread_mutex_t lock; /* guards what follows */
    int pinning;             /* recoveries asking the library */
    ircpy_payloads pinned;   /* one entry per recovery that holds one */
    ircpy_payloads released; /* pinned payloads whose release came */
    ircpy_payloads waiting;  /* releases that came while pinning > 0 */
    struct ircpy_cache *next, *prev; /* in ircpy_handles */
    unsigned interpreter;            /* ircpy_interpreters_gone when opened */
} ircpy_cache;

/* The recovery this thread has begun, if any: ircpy_end_recovery does
 * nothing unless it matches, so Python may call it whatever happened. */
static _Thread_local ircpy_cache *ircpy_recovering;
static _Thread_local void *ircpy_recovered;
/* Recoveries begun inside that one (a finalizer's lookup): they pin nothing. */
static _Thread_local int ircpy_nested_recoveries;

/* Every open handle, so that fork() can take their locks: a child must not
 * inherit one held by a thread it does not have. */
static pthread_mutex_t ircpy_handles_lock = PTHREAD_MUTEX_INITIALIZER;
static ircpy_cache *ircpy_handles;
static pthread_once_t ircpy_fork_once = PTHREAD_ONCE_INIT;

static void ircpy_fork_prepare(void)
{
    pthread_mutex_lock(&ircpy_handles_lock);
    for (ircpy_cache *h = ircpy_handles; h != NULL; h = h->next)
        pthread_mutex_lock(&h->lock);
}

static void ircpy_fork_parent(void)
{
    for (ircpy_cache *h = ircpy_handles; h != NULL; h = h->next)
        pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&ircpy_handles_lock);
}

/* The recoveries under way were other threads': they end nowhere here.
 * What they held back goes at ircpy_flush_held (Python's own after-fork
 * hook: Python cannot be called from inside fork()). */
static void ircpy_fork_child(void)
{
    for (ircpy_cache *h = ircpy_handles; h != NULL; h = h->next) {
        /* This thread goes on in the child: its own pin stays (its
         * capacity is there, the pin was in the array). */
        void *mine = h == ircpy_recovering ? ircpy_recovered : NULL;
        int mine_pinned = mine != NULL && ircpy_payloads_has(&h->pinned, mine), mine_kept = 0;
        size_t kept = 0;
        h->pinning = 0;
        h->pinned.count = 0;
        if (mine_pinned)
            h->pinned.items[h->pinned.count++] = mine;
        else
            mine = NULL;
        for (size_t i = 0; i < h->released.count; i++) {
            void *payload = h->released.items[i];
            if (payload == mine && !mine_kept)
                mine_kept = 1, h->released.items[kept++] = payload;
            else if (ircpy_payloads_add(&h->waiting, payload) != 0)
                h->released.items[kept++] = payload; /* ircpy_flush_held takes it */
        }
        h->released.count = kept;
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_unlock(&ircpy_handles_lock);
}

static void ircpy_register_fork(void)
{
    (void)pthread_atfork(ircpy_fork_prepare, ircpy_fork_parent, ircpy_fork_child);
}

static void ircpy_release_now(ircpy_cache *h, void *payload)
{
    if (h->interpreter != atomic_load(&ircpy_interpreters_gone))
        return;
    if (atomic_load(&ircpy_releasing) || (ircpy_exiting_here && !ircpy_finalizing()))
        _ircpy_release(payload, (void *)h->table);
}

/* Releases every payload in a (taken from the handle: no lock held). */
static void ircpy_release_all(ircpy_cache *h, ircpy_payloads *a)
{
    for (size_t i = 0; i < a->count; i++)
        ircpy_release_now(h, a->items[i]);
    free(a->items);
}

/* Takes the waiting releases when no recovery is pinning (lock held). */
static ircpy_payloads ircpy_take_waiting(ircpy_cache *h)
{
    ircpy_payloads due = {NULL, 0, 0};
    if (h->pinning == 0) {
        due = h->waiting;
        h->waiting = (ircpy_payloads){NULL, 0, 0};
    }
    return due;
}

static void ircpy_release(void *payload, void *ctx)
{
    ircpy_cache *h = ctx;
    int now = 1;
    pthread_mutex_lock(&h->lock);
    if (ircpy_payloads_has(&h->pinned, payload))
        now = ircpy_payloads_add(&h->released, payload) != 0;
    if (now && h->pinning > 0)
        now = ircpy_payloads_add(&h->waiting, payload) != 0;
    pthread_mutex_unlock(&h->lock);
    if (now) /* also when out of memory: a recovery may then miss */
        ircpy_release_now(h, payload);
}

static ircpy_cache *ircpy_open(ircache *c, int owned, intptr_t table)
{
    ircpy_cache *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    h->cache = c;
    h->owned = owned;
    h->table = table;
    h->owner.release = ircpy_release;
    h->owner.ctx = h;
    h->interpreter = atomic_load(&ircpy_interpreters_gone);
    pthread_once(&ircpy_fork_once, ircpy_register_fork);
    pthread_mutex_lock(&ircpy_handles_lock);
    h->next = ircpy_handles;
    if (h->next != NULL)
        h->next->prev = h;
    ircpy_handles = h;
    pthread_mutex_unlock(&ircpy_handles_lock);
    return h;
}

static void ircpy_free(ircpy_cache *h)
{
    pthread_mutex_lock(&ircpy_handles_lock);
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        ircpy_handles = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&ircpy_handles_lock);
    if (h->owned)
        ircache_free(h->cache);
    pthread_mutex_destroy(&h->lock);
    free(h->pinned.items);
    free(h->released.items);
    free(h->waiting.items);
    free(h);
}

/* Not an object's id: what ircpy_lookup answers where the library refused
 * a key for its length (its NULL would read as a miss). */
#define IRCPY_KEY_TOO_LONG ((intptr_t)-1)

static intptr_t ircpy_lookup(const ircpy_cache *h, const void *key, size_t key_len)
{
    void *payload = ircache_lookup_owned(h->cache, key, key_len, &h->owner);
    if (payload == NULL && key_len > UINT32_MAX)
        return IRCPY_KEY_TOO_LONG;
    return (intptr_t)payload;
}

/* What the node this thread stands on holds now, pinned until
 * ircpy_end_recovery. A release that could drop it comes after the library
 * answered (it releases only once the lookups that could see the payload,
 * this one among them, are over): so it finds pinning raised, or the pin.
 * One recovery at a time per thread; a nested one pins nothing. */
static intptr_t ircpy_begin_recovery(ircpy_cache *h)
{
    if (ircpy_recovering != NULL) {
        ircpy_nested_recoveries++;
        return (intptr_t)ircache_position_payload(h->cache, &h->owner);
    }
    pthread_mutex_lock(&h->lock);
    h->pinning++;
    pthread_mutex_unlock(&h->lock);
    ircpy_recovering = h;
    void *payload = ircache_position_payload(h->cache, &h->owner);
    ircpy_recovered = payload;
    pthread_mutex_lock(&h->lock);
    h->pinning--;
    if (payload != NULL) {
        if (ircpy_payloads_add(&h->pinned, payload) != 0) {
            ircpy_recovered = NULL; /* out of memory: not pinned (a release stays waiting) */
        } else if (ircpy_payloads_remove(&h->waiting, payload) &&
                   ircpy_payloads_add(&h->released, payload) != 0) {
            h->waiting.items[h->waiting.count++] = payload; /* the slot just freed */
            (void)ircpy_payloads_remove(&h->pinned, payload);
            ircpy_recovered = NULL; /* out of memory: not pinned */
        }
    }
    ircpy_payloads due = ircpy_take_waiting(h);
    pthread_mutex_unlock(&h->lock);
    ircpy_release_all(h, &due);
    return (intptr_t)payload;
}

static void ircpy_end_recovery(ircpy_cache *h)
{
    if (ircpy_nested_recoveries > 0) {
        ircpy_nested_recoveries--;
        return;
    }
    if (ircpy_recovering != h)
        return; /* none begun, or another handle's */
    ircpy_recovering = NULL;
    void *payload = ircpy_recovered, *due = NULL;
    pthread_mutex_lock(&h->lock);
    if (payload != NULL && ircpy_payloads_remove(&h->pinned, payload)) {
        /* A recovery still asking may have been answered this payload
         * (its release came while this pin held it): it waits for that
         * recovery as a release that came meanwhile would. */
        if (!ircpy_payloads_has(&h->pinned, payload) && ircpy_payloads_remove(&h->released, payload) &&
            (h->pinning == 0 || ircpy_payloads_add(&h->waiting, payload) != 0))
            due = payload;
    }
    pthread_mutex_unlock(&h->lock);
    if (due != NULL)
        ircpy_release_now(h, due);
}

/* In a forked child: what the parent's recoveries held back goes now. */
static void ircpy_flush_held(ircpy_cache *h)
{
    for (;;) {
        void *unpinned = NULL;
        pthread_mutex_lock(&h->lock);
        ircpy_payloads due = ircpy_take_waiting(h);
        for (size_t i = 0; unpinned == NULL && i < h->released.count; i++) {
            if (!ircpy_payloads_has(&h->pinned, h->released.items[i])) {
                unpinned = h->released.items[i];
                h->released.items[i] = h->released.items[--h->released.count];
            }
        }
        pthread_mutex_unlock(&h->lock);
        ircpy_release_all(h, &due);
        if (unpinned == NULL)
            return;
        ircpy_release_now(h, unpinned);
    }
}

static int ircpy_insert(const ircpy_cache *h, const void *key, size_t key_len, const char *op, intptr_t id)
{
    return ircache_insert(h->cache, key, key_len, op, (void *)id, &h->owner);
}

static void ircpy_python_is_gone(void)
{
    atomic_fetch_add(&ircpy_interpreters_gone, 1);
}

/* At import: an interpreter started after one this process finalized
 * gets its releases (its handles are new). */
static void ircpy_start_releases(void)
{
    ircpy_exiting_here = 0;
    atomic_store(&ircpy_releasing, 1);
}

static void ircpy_stop_releases(void)
{
#ifdef Py_PYTHON_H
    /* Its table full, the exiting thread gets no exemption either. */
    if (Py_AtExit(ircpy_python_is_gone) == 0)
#else
    (void)ircpy_python_is_gone; /* C tests call it themselves */
#endif
        ircpy_exiting_here = 1;
    atomic_store(&ircpy_releasing, 0);
}
