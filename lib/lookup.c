/* lookup.c - the out-of-line ends of the hit path (lookup.h). */
#include "lookup.h"

void *ircache__hit_retained(ircache__position *p, uint64_t outer, void *payload,
                            const ircache_owner *owner)
{
    /* Still inside the lookup: the node cannot be dropped until the exit. */
    owner->retain(payload, owner->ctx);
    ircache__reader_exit(p, outer);
    ircache__count(&p->hits);
    return payload;
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
