/* lookup.c - the out-of-line ends of the hit path (lookup.h). */
#include "lookup.h"

/* Not inlined into the lookups below: they reach it by a jump and keep no
 * registers for a call. */
IRCACHE__NOINLINE void *ircache__hit_retained(ircache__position *p, uint64_t outer, void *payload,
                                              const ircache_owner *owner)
{
    /* Still inside the lookup: the node cannot be dropped until the exit. */
    owner->retain(payload, owner->ctx);
    ircache__reader_exit(p, outer);
    ircache__count(&p->hits);
    return payload;
}

void *ircache__lookup_probing(ircache *c, ircache__position *p, uint64_t outer,
                              const ircache__succ_table *t, const void *key, uint32_t key_len)
{
    ircache__node *n = ircache__succ_probe(t, key, key_len, ircache__hash(key, key_len, c->hash_seed));
    return ircache__lookup_found(c, p, outer, n, 0, NULL);
}

void *ircache__lookup_in_table_owned(ircache *c, ircache__position *p, uint64_t outer,
                                     const ircache__succ_table *t, const void *key, uint32_t key_len,
                                     const ircache_owner *want)
{
    ircache__node *n = ircache__succ_find_in_table(t, key, key_len, c->hash_seed, 0);
    return ircache__lookup_found(c, p, outer, n, 1, want);
}

void *ircache__lookup_general(ircache *c, const void *key, uint32_t key_len, int owned,
                              const ircache_owner *want)
{
    ircache__position *p = ircache__position_get(c);
    if (p == NULL)
        return NULL;
    return owned ? ircache__lookup_from(c, p, key, key_len, 0, 1, want)
                 : ircache__lookup_from(c, p, key, key_len, 0, 0, NULL);
}
