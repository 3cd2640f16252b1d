/* default.c - the process-wide default cache, shared by every runtime and
 * language in the process; static storage, so that getting it cannot fail. */
#include "default.h"

#include <errno.h>
#include <stdlib.h>

#include "registry.h"
#include "trie.h"

static ircache default_cache;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* IRCACHE_MAX_NODES: a decimal count; anything else leaves the cache
 * unbounded, since there is nobody to report a bad value to. */
static uint64_t max_nodes_from_environment(void)
{
    const char *text = getenv("IRCACHE_MAX_NODES");
    if (text == NULL || *text < '0' || *text > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    return (uint64_t)value;
}

static int disabled_by_environment(void)
{
    const char *text = getenv("IRCACHE_DISABLE");
    return text != NULL && text[0] == '1' && text[1] == '\0';
}

static void create_default(void)
{
    /* A default mutex needs no memory: init cannot fail here in practice,
     * and ircache_default() has no way to fail anyway. */
    (void)ircache__trie_init(&default_cache);
    default_cache.is_default = 1;
    ircache__registry_add(&default_cache);
    uint64_t max_nodes = max_nodes_from_environment();
    if (max_nodes != 0)
        (void)ircache__trie_set_max_nodes(&default_cache, max_nodes);
    if (disabled_by_environment())
        atomic_fetch_or(&default_cache.gate, IRCACHE__GATE_DISABLED);
}

ircache *ircache__default(void)
{
    (void)pthread_once(&default_once, create_default);
    return &default_cache;
}
