"""Writes the C source of ircache's cffi extension (API mode) at build time.

Run by Meson as ``python _build_cffi.py include/ircache.h out.c``. The cdef is
the header's region between the ``ircache-cdef-begin`` and ``ircache-cdef-end``
markers, so the binding can never drift from the header; the error codes and
version macros are declared as ``...`` for the compiler to fill in.
"""

import re
import sys

from cffi import FFI

BEGIN = "ircache-cdef-begin"
END = "ircache-cdef-end"

# What the package adds in C: a handle pairing a cache with the owner of the
# Python objects in it (its ctx names the cache's object table; its release
# calls back into Python), and lookup/insert shims that take that handle and
# the payload as the integer id of a Python object. Keys are `const void *`:
# bytes pass without a copy, and cffi refuses the lists and tuples it would
# turn into a `char *`. The handle owns an explicit cache: Python frees it
# (ffi.gc) when the last reference goes, a lookup closure's included.
SHIM_CDEF = """
typedef struct ircpy_cache ircpy_cache;
extern "Python" void _ircpy_release(void *payload, void *ctx);
ircpy_cache *ircpy_open(ircache *c, int owned, intptr_t table);
void ircpy_free(ircpy_cache *h);
intptr_t ircpy_lookup(const ircpy_cache *h, const void *key, size_t key_len);
intptr_t ircpy_begin_recovery(ircpy_cache *h);
void ircpy_end_recovery(ircpy_cache *h);
int ircpy_insert(const ircpy_cache *h, const void *key, size_t key_len, const char *op, intptr_t id);
void ircpy_stop_releases(void);
"""

SHIM_SOURCE = """
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "ircache.h"

static void _ircpy_release(void *payload, void *ctx); /* extern "Python", below */

/* Cleared when the interpreter exits: a C runtime may drop Python's nodes
 * later, and there is no Python left to tell. */
static _Atomic int ircpy_releasing = 1;

/* Releases held back while a thread recovers from a lookup whose payload
 * was replaced before Python could find its object (ircpy_begin_recovery). */
typedef struct ircpy_deferred {
    void **payloads;
    size_t count, cap;
} ircpy_deferred;

typedef struct ircpy_cache {
    ircache *cache;
    int owned;           /* the cache is freed with the handle */
    intptr_t table;      /* names the cache's object table to Python */
    ircache_owner owner; /* the cache keeps its address: lives as long; ctx is the handle */
    _Atomic int recovering;
    pthread_mutex_t lock; /* guards deferred, and recovering's last step */
    ircpy_deferred deferred;
} ircpy_cache;

static void ircpy_release_now(ircpy_cache *h, void *payload)
{
    if (atomic_load(&ircpy_releasing))
        _ircpy_release(payload, (void *)h->table);
}

/* 1 if the release of payload waits for the recovery under way. */
static int ircpy_defer(ircpy_cache *h, void *payload)
{
    int deferred = 0;
    pthread_mutex_lock(&h->lock);
    ircpy_deferred *d = &h->deferred;
    if (atomic_load(&h->recovering) > 0) {
        if (d->count == d->cap) {
            size_t cap = d->cap ? 2 * d->cap : 16;
            void **grown = realloc(d->payloads, cap * sizeof *grown);
            if (grown != NULL) {
                d->payloads = grown;
                d->cap = cap;
            }
        }
        if (d->count < d->cap) { /* out of memory: released now, the recovery may miss */
            d->payloads[d->count++] = payload;
            deferred = 1;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return deferred;
}

static void ircpy_release(void *payload, void *ctx)
{
    ircpy_cache *h = ctx;
    if (atomic_load(&h->recovering) > 0 && ircpy_defer(h, payload))
        return;
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
    return h;
}

static void ircpy_free(ircpy_cache *h)
{
    if (h->owned)
        ircache_free(h->cache);
    pthread_mutex_destroy(&h->lock);
    free(h->deferred.payloads);
    free(h);
}

static intptr_t ircpy_lookup(const ircpy_cache *h, const void *key, size_t key_len)
{
    return (intptr_t)ircache_lookup_owned(h->cache, key, key_len, &h->owner);
}

/* What the node this thread stands on holds now, its release (and every
 * other of this cache's) held back until ircpy_end_recovery: for a lookup
 * whose payload another thread replaced and released before Python found
 * its object. A release that could drop what this returns comes after the
 * recovery began (the library releases only once the lookups that could
 * see the payload, this one among them, are over), so it sees it. */
static intptr_t ircpy_begin_recovery(ircpy_cache *h)
{
    atomic_fetch_add(&h->recovering, 1);
    return (intptr_t)ircache_position_payload(h->cache, &h->owner);
}

static void ircpy_end_recovery(ircpy_cache *h)
{
    ircpy_deferred due = {NULL, 0, 0};
    pthread_mutex_lock(&h->lock);
    if (atomic_fetch_sub(&h->recovering, 1) == 1) {
        due = h->deferred;
        h->deferred = (ircpy_deferred){NULL, 0, 0};
    }
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < due.count; i++)
        ircpy_release_now(h, due.payloads[i]);
    free(due.payloads);
}

static int ircpy_insert(const ircpy_cache *h, const void *key, size_t key_len, const char *op, intptr_t id)
{
    return ircache_insert(h->cache, key, key_len, op, (void *)id, &h->owner);
}

static void ircpy_stop_releases(void)
{
    atomic_store(&ircpy_releasing, 0);
}
"""


def cdef_from_header(text: str) -> str:
    """The declarations of the marked region, plus the integer macros."""
    begin = text.index("*/", text.index(BEGIN)) + 2
    end = text.rindex("/*", 0, text.index(END, begin))
    region = text[begin:end].replace("IRCACHE_API ", "")
    if "#" in region:
        raise SystemExit("ircache.h: preprocessor lines inside the cdef region")
    macros = re.findall(r"^#define (IRCACHE_(?:E[A-Z]+|VERSION_[A-Z]+))\b", text, re.MULTILINE)
    return region + "".join(f"#define {name} ...\n" for name in macros)


def main(header: str, output: str) -> None:
    with open(header, encoding="utf-8") as f:
        text = f.read()
    ffi = FFI()
    ffi.cdef(cdef_from_header(text) + SHIM_CDEF)
    ffi.set_source("ircache._ircache_cffi", SHIM_SOURCE)
    ffi.emit_c_code(output)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: _build_cffi.py include/ircache.h output.c")
    main(sys.argv[1], sys.argv[2])
