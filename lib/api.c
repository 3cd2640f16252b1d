/* api.c - the exported functions: check arguments, pick the cache, call
 * inward, and record what went wrong. Nothing below this file checks
 * arguments again. */
#include <stdint.h>
#include <string.h>

#include "ircache.h"

#include "alloc.h"
#include "compiler.h"
#include "default.h"
#include "dump.h"
#include "error.h"
#include "lookup.h"
#include "position.h"
#include "registry.h"
#include "stats.h"
#include "trie.h"

#define IRCACHE__STR(x) #x
#define IRCACHE__XSTR(x) IRCACHE__STR(x)

/* Why lookup or insert refused its key; returns the error recorded. */
static IRCACHE__COLD int bad_key(const ircache *c, const void *key, size_t key_len, const char *what)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "%s: the cache is NULL", what);
    if (key == NULL && key_len != 0)
        return ircache__fail(IRCACHE_EINVAL, "%s: the key is NULL but its length is %zu", what, key_len);
    return ircache__fail(IRCACHE_EINVAL, "%s: the key is %zu bytes; keys must be shorter than 4 GiB", what,
                         key_len);
}

IRCACHE_API ircache *ircache_new(void)
{
    ircache *c = ircache__aligned_alloc(64, sizeof *c);
    if (c == NULL) {
        ircache__fail(IRCACHE_ENOMEM, "no memory for a new cache");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    if (ircache__trie_init(c) != 0) {
        ircache__free(c);
        ircache__fail(IRCACHE_ENOMEM, "cannot create the lock of a new cache");
        return NULL;
    }
    ircache__registry_add(c);
    return c;
}

IRCACHE_API void ircache_free(ircache *c)
{
    if (c == NULL)
        return;
    if (c->is_default) {
        ircache__fail(IRCACHE_EINVAL, "the default cache is never freed");
        return;
    }
    ircache__registry_lock();
    ircache__registry_remove_locked(c);
    ircache__lock(c);
    atomic_store_explicit(&c->closing, 1, memory_order_relaxed);
    ircache__positions_detach(c);
    ircache__unlock(c);
    ircache__registry_unlock();
    ircache__trie_destroy(c);
    ircache__free(c);
}

IRCACHE_API ircache *ircache_default(void)
{
    return ircache__default();
}

static inline int key_ok(const ircache *c, const void *key, size_t key_len)
{
    return c != NULL && (key != NULL || key_len == 0) && key_len <= UINT32_MAX;
}

/* A lookup's answer to a bad argument, reached by a jump: the lookup itself
 * then needs no stack frame. */
static IRCACHE__COLD void *lookup_refused(const ircache *c, const void *key, size_t key_len)
{
    bad_key(c, key, key_len, "lookup");
    return NULL;
}

/* Both lookups; owned and owner are constants at each call (see lookup.h). */
static IRCACHE__ALWAYS_INLINE void *lookup(ircache *c, const void *key, size_t key_len, int owned,
                                           const ircache_owner *owner)
{
    ircache__position *p = ircache__position_fast(c);
    if (IRCACHE__LIKELY(p != NULL && ircache__short_key_ok(key, key_len)))
        return ircache__lookup_from(c, p, key, (uint32_t)key_len, 1, owned, owner);
    if (!key_ok(c, key, key_len))
        return lookup_refused(c, key, key_len);
    return ircache__lookup_general(c, key, (uint32_t)key_len, owned, owner);
}

IRCACHE_API void *ircache_lookup(ircache *c, const void *key, size_t key_len)
{
    return lookup(c, key, key_len, 0, NULL);
}

IRCACHE_API void *ircache_lookup_owned(ircache *c, const void *key, size_t key_len,
                                       const ircache_owner *owner)
{
    return lookup(c, key, key_len, 1, owner);
}

IRCACHE_API void *ircache_position_payload(ircache *c, const ircache_owner *owner)
{
    if (c == NULL) {
        ircache__fail(IRCACHE_EINVAL, "position_payload: the cache is NULL");
        return NULL;
    }
    /* A thread with no position yet stands at the root. */
    ircache__position *p = ircache__position_find(c);
    return p != NULL ? ircache__position_payload(c, p, owner) : NULL;
}

IRCACHE_API int ircache_insert(ircache *c, const void *key, size_t key_len, const char *op,
                               void *payload, const ircache_owner *owner)
{
    if (!key_ok(c, key, key_len))
        return bad_key(c, key, key_len, "insert");
    if (payload == NULL)
        return ircache__fail(IRCACHE_EINVAL, "insert: the payload is NULL");
    return ircache__trie_insert(c, key, (uint32_t)key_len, op, payload, owner);
}

IRCACHE_API void ircache_mark_step(ircache *c)
{
    if (c == NULL) {
        ircache__fail(IRCACHE_EINVAL, "mark_step: the cache is NULL");
        return;
    }
    ircache__trie_mark_step(c);
}

IRCACHE_API void ircache_clear(ircache *c)
{
    if (c == NULL) {
        ircache__fail(IRCACHE_EINVAL, "clear: the cache is NULL");
        return;
    }
    ircache__trie_clear(c);
}

IRCACHE_API int ircache_dump_dot(ircache *c, const char *path)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "dump: the cache is NULL");
    return ircache__dump_dot(c, path);
}

IRCACHE_API int ircache_dump_json(ircache *c, const char *path)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "dump: the cache is NULL");
    return ircache__dump_json(c, path);
}

IRCACHE_API int ircache_dump(const char *dot_file_name)
{
    return ircache__dump_dot(ircache__default(), dot_file_name);
}

IRCACHE_API void ircache_reset(void)
{
    ircache__trie_clear(ircache__default());
}

IRCACHE_API int ircache_get_stats(ircache *c, ircache_stats *out)
{
    if (c == NULL || out == NULL)
        return ircache__fail(IRCACHE_EINVAL, "get_stats: %s is NULL", c == NULL ? "the cache" : "out");
    ircache__stats(c, out);
    return 0;
}

IRCACHE_API int64_t ircache_get_op_stats(ircache *c, ircache_op_stats *out, size_t capacity)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "get_op_stats: the cache is NULL");
    if (out == NULL && capacity != 0)
        return ircache__fail(IRCACHE_EINVAL, "get_op_stats: out is NULL but capacity is %zu", capacity);
    return ircache__op_stats(c, out, capacity);
}

IRCACHE_API int ircache_set_max_nodes(ircache *c, uint64_t max_nodes)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "set_max_nodes: the cache is NULL");
    return ircache__trie_set_max_nodes(c, max_nodes);
}

IRCACHE_API int ircache_set_enabled(ircache *c, int enabled)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "set_enabled: the cache is NULL");
    if (enabled)
        atomic_fetch_and_explicit(&c->gate, ~(uint64_t)IRCACHE__GATE_DISABLED, memory_order_relaxed);
    else
        atomic_fetch_or_explicit(&c->gate, IRCACHE__GATE_DISABLED, memory_order_relaxed);
    return 0;
}

IRCACHE_API int ircache_is_enabled(ircache *c)
{
    if (c == NULL)
        return ircache__fail(IRCACHE_EINVAL, "is_enabled: the cache is NULL");
    return !(atomic_load_explicit(&c->gate, memory_order_relaxed) & IRCACHE__GATE_DISABLED);
}

IRCACHE_API const char *ircache_version(void)
{
    return IRCACHE__XSTR(IRCACHE_VERSION_MAJOR) "." IRCACHE__XSTR(IRCACHE_VERSION_MINOR) "." IRCACHE__XSTR(
        IRCACHE_VERSION_PATCH);
}

IRCACHE_API int ircache_version_number(void)
{
    return IRCACHE_VERSION_NUMBER;
}
