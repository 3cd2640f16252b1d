/* lookup.c - the out-of-line ends of the hit path (lookup.h). */
#include "lookup.h"

#include <sched.h>

/* Not inlined into the lookups below: they reach it by a jump and keep no
 * registers for a call. */
IRCACHE__NOINLINE void *ircache__hit_retained(ircache__position *p, void *payload,
                                              const ircache_owner *owner)
{
    /* Still inside the lookup: the node cannot be dropped until it closes. */
    owner->retain(payload, owner->ctx);
    ircache__reader_close(p);
    ircache__count(&p->hits);
    return payload;
}

void *ircache__hit_shared(ircache *c, ircache__position *p, ircache__node *n)
{
    int shared = atomic_load_explicit(&c->shared, memory_order_acquire);
    ircache__node_count_hit(n, 1);
    atomic_store_explicit(&n->stamp, ircache__next_stamp(c, p, n), memory_order_relaxed);
    if (shared == IRCACHE__ALONE_BEHIND) {
        /* Caught up with the clock the departed thread published: the
         * inline path may stamp from this thread's clock alone again. An
         * arrival meanwhile has set IRCACHE__SHARED, and the exchange fails. */
        int behind = IRCACHE__ALONE_BEHIND;
        atomic_compare_exchange_strong_explicit(&c->shared, &behind, IRCACHE__ALONE, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    return ircache__hit_finish(p, n);
}

/* Where the gate shows a flag or a clear: fences if needed, misses while
 * disabled, and otherwise looks up from p's node, the root after a clear. */
static IRCACHE__ALWAYS_INLINE void *lookup_gated(ircache *c, ircache__position *p,
                                                 const void *key, uint32_t key_len, int owned,
                                                 const ircache_owner *want)
{
    uint64_t gate = ircache__reader_fence_gate(c, atomic_load_explicit(&c->gate, memory_order_acquire));
    if (gate & IRCACHE__GATE_DISABLED) {
        /* Neither moves nor counts. */
        ircache__reader_close(p);
        return NULL;
    }
    return ircache__lookup_at(c, p, ircache__position_node_at(c, p, gate), key, key_len, 0, owned,
                              want);
}

void *ircache__lookup_gated(ircache *c, ircache__position *p, const void *key,
                            uint32_t key_len)
{
    return lookup_gated(c, p, key, key_len, 0, NULL);
}

void *ircache__lookup_gated_owned(ircache *c, ircache__position *p, const void *key,
                                  uint32_t key_len, const ircache_owner *want)
{
    return lookup_gated(c, p, key, key_len, 1, want);
}

void *ircache__lookup_probing(ircache *c, ircache__position *p,
                              const ircache__succ_table *t, const void *key, uint32_t key_len)
{
    ircache__node *n = ircache__succ_probe(t, key, key_len, ircache__succ_hash(t, key, key_len, 0));
    return ircache__lookup_found(c, p, n, 0, NULL, 1);
}

/* The cache p is in, for the out-of-line ends of a table lookup: their
 * caller then needs one register less (lookup_from's c is p's cache). */
static inline ircache *cache_of(const ircache__position *p)
{
    return atomic_load_explicit(&p->cache, memory_order_relaxed);
}

/* The end of a lookup that found n in a table, reached by a jump. */
static IRCACHE__NOINLINE void *found_in_table(ircache__position *p, ircache__node *n)
{
    return ircache__lookup_found(cache_of(p), p, n, 0, NULL, 1);
}

/* Widths of the words a table lookup compares keys by. */
#define WORDS_OF_8 8 /* keys of 8 to 16 bytes: their first and last 8 bytes */
#define WORDS_OF_4 4 /* 4 to 7 bytes: their first and last 4 */
#define WORD_OF_3 1  /* 1 to 3 bytes: first, middle and last byte in one word */

/* The one word a key of 1 to 3 bytes hashes as (hash.h): its first, middle
 * and last bytes, which are all its bytes. */
static inline uint64_t word_of_3(const unsigned char *k, size_t len)
{
    return ((uint64_t)k[0] << 16) | ((uint64_t)k[len >> 1] << 8) | k[len - 1];
}

/* The width for a key of key_len bytes (1 to 16). */
static inline int width_for(size_t key_len)
{
    return key_len >= 8 ? WORDS_OF_8 : key_len >= 4 ? WORDS_OF_4 : WORD_OF_3;
}

/* 1 when n's key is the one of key_len bytes (1 to 16) whose first and last
 * words of this width are first and last (a constant at the inline call
 * sites; for WORD_OF_3, last is 0). */
static IRCACHE__ALWAYS_INLINE int key_words_equal(const ircache__node *n, uint64_t first, uint64_t last,
                                                  size_t key_len, int width)
{
    const unsigned char *nk = ircache__node_key(n);
    if (n->key_len != key_len)
        return 0;
    if (width == WORDS_OF_8)
        return ((ircache__load64(nk) ^ first) | (ircache__load64(nk + key_len - 8) ^ last)) == 0;
    if (width == WORDS_OF_4)
        return ((ircache__load32(nk) ^ first) | (ircache__load32(nk + key_len - 4) ^ last)) == 0;
    return word_of_3(nk, key_len) == first;
}

/* The probe for a key of 1 to 16 bytes whose first slot did not hold it:
 * out of line (the first slot holds 90% of keys: successors.c), but with no
 * new hash and no copy of the key, so that a key one slot further costs a
 * mispredicted branch and little else. It starts at the first slot again,
 * which also settles an empty or untagged one there. */
static IRCACHE__NOINLINE void *probe_table_words(ircache__position *p, const ircache__succ_table *t, uint64_t first,
                                                 uint64_t last, size_t key_len, uint64_t hash)
{
    if (IRCACHE__UNLIKELY(t->seed != 0))
        hash = ircache__hash_final(first, last, key_len, t->k1, t->k2, t->seed);
    ircache__slot tag = ircache__slot_tag(hash);
    for (uint32_t i = ircache__succ_start(t, hash);; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i & t->mask], memory_order_acquire);
        ircache__node *n;
        if (ircache__slot_tag_matches(v, tag))
            n = ircache__slot_tagged_node(v);
        else if (v == IRCACHE__SLOT_EMPTY)
            return found_in_table(p, NULL);
        else if (ircache__slot_untagged(v))
            n = (ircache__node *)v;
        else
            continue;
        if (key_words_equal(n, first, last, key_len, width_for(key_len)))
            return found_in_table(p, n);
    }
}

/* The lookup of a key of 1 to 16 bytes whose first and last words (as in
 * key_words_equal) are first and last: the two the hash reads (hash.h)
 * are the two the key comparison needs, loaded once. */
static IRCACHE__ALWAYS_INLINE void *lookup_table_words(ircache__position *p, const ircache__succ_table *t,
                                                       uint64_t first, uint64_t last, size_t key_len, int width)
{
    /* Linear only: a seeded table's k1 and k2 are 0, so this reads its
     * slot 0, whose key comparison fails (or finds the key: as good), and
     * the probe hashes with the seed. No branch on the way to the slot. */
    uint64_t hash = ircache__hash_linear(first, last, key_len, t->k1, t->k2);
    ircache__slot v = atomic_load_explicit(&t->slots[ircache__succ_start(t, hash) & t->mask], memory_order_acquire);
    if (IRCACHE__LIKELY(ircache__slot_tag_matches(v, ircache__slot_tag(hash)))) {
        ircache__node *n = ircache__slot_tagged_node(v);
        if (IRCACHE__LIKELY(key_words_equal(n, first, last, key_len, width)))
            return found_in_table(p, n);
    }
    return probe_table_words(p, t, first, last, key_len, hash);
}

/* Keys of 4 to 7 bytes (an int32 id) take words of 4 bytes, as the hash
 * does, and keys of 1 to 3 bytes (an int16 id) their one word; the empty
 * key the general probe. Out of line: inline, its registers would cost the
 * lookups of longer keys saves and restores. */
static IRCACHE__NOINLINE void *lookup_in_table_narrow(ircache__position *p, const ircache__succ_table *t,
                                                      const unsigned char *key, size_t key_len)
{
    if (key_len >= 4)
        return lookup_table_words(p, t, ircache__load32(key), ircache__load32(key + key_len - 4), key_len,
                                  WORDS_OF_4);
    if (key_len > 0)
        return lookup_table_words(p, t, word_of_3(key, key_len), 0, key_len, WORD_OF_3);
    return ircache__lookup_probing(cache_of(p), p, t, key, (uint32_t)key_len);
}

void *ircache__lookup_in_table_short(ircache__position *p, const ircache__succ_table *t,
                                     const void *key, size_t key_len)
{
    const unsigned char *k = key;
    if (IRCACHE__UNLIKELY(key_len < 8))
        return lookup_in_table_narrow(p, t, k, key_len);
    return lookup_table_words(p, t, ircache__load64(k), ircache__load64(k + key_len - 8), key_len, WORDS_OF_8);
}

void *ircache__lookup_in_table_owned(ircache *c, ircache__position *p,
                                     const ircache__succ_table *t, const void *key, uint32_t key_len,
                                     const ircache_owner *want)
{
    ircache__node *n = ircache__succ_find_in_table(t, key, key_len, 0);
    return ircache__lookup_found(c, p, n, 1, want, 1);
}

void *ircache__lookup_nested(ircache *c, ircache__position *p, const void *key, uint32_t key_len, int owned,
                             const ircache_owner *want)
{
    /* The section of the lookup whose callback this is protects this one
     * too (and was fenced, where the cache needs it); only that lookup
     * closes it. */
    uint64_t gate = atomic_load_explicit(&c->gate, memory_order_acquire);
    if (gate & IRCACHE__GATE_DISABLED)
        return NULL;
    ircache__node *n = ircache__succ_find(ircache__position_node_at(c, p, gate), key, key_len, 0);
    if (!ircache__lookup_hits(n, owned, want)) {
        ircache__count(&p->misses);
        return NULL;
    }
    int alone = atomic_load_explicit(&c->shared, memory_order_acquire) == IRCACHE__ALONE;
    /* The hit of the lookup whose callback this is may be pending, on n
     * too: written first, its stamp stays older than this one. Only while
     * alone: a writer settling it would have waited for this section. */
    if (alone)
        ircache__settle_own(p);
    ircache__node_count_hit(n, !alone);
    atomic_store_explicit(&n->stamp, ircache__next_stamp(c, p, n), memory_order_relaxed);
    atomic_store_explicit(&p->node, n, memory_order_relaxed);
    const ircache_owner *owner = atomic_load_explicit(&n->kind, memory_order_relaxed)->owner;
    void *payload = atomic_load_explicit(&n->payload, memory_order_relaxed);
    if (owner != NULL && owner->retain != NULL)
        owner->retain(payload, owner->ctx);
    ircache__count(&p->hits);
    return payload;
}

/* The node p stands on, with no replacement of it under way when this
 * looked, inside a section the caller closes (or the nested caller's);
 * NULL for the root or while disabled. A replacement hides the node
 * (IRCACHE__NODE_BUSY) until the lookups in progress have finished, this
 * thread's among them: so the wait happens outside any section. One that
 * begins after the look waits for the caller's section, and so leaves the
 * payload as it was until then. A nested call cannot leave its section,
 * and takes a hidden node as absent. */
static ircache__node *settled_node(ircache *c, ircache__position *p, int nested)
{
    for (;;) {
        uint64_t gate;
        if (nested) {
            gate = atomic_load_explicit(&c->gate, memory_order_acquire);
        } else {
            ircache__reader_open_unfenced(c, p);
            gate = ircache__reader_fence_gate(c, atomic_load_explicit(&c->gate, memory_order_acquire));
        }
        ircache__node *n = ircache__position_node_at(c, p, gate);
        if ((gate & IRCACHE__GATE_DISABLED) || n == &c->root)
            return NULL;
        uint32_t flags = ircache__node_flags(n, memory_order_acquire);
        if (!(flags & IRCACHE__NODE_UNSEEN))
            return n;
        if (nested)
            return NULL;
        ircache__reader_close(p);
        sched_yield();
    }
}

void *ircache__position_payload(ircache *c, ircache__position *p, const ircache_owner *want)
{
    /* Inside a retain callback the lookup's own section protects this. */
    int nested = ircache__reader_inside(p);
    void *payload = NULL;
    ircache__node *n = settled_node(c, p, nested);
    if (n != NULL && atomic_load_explicit(&n->kind, memory_order_relaxed)->owner == want) {
        payload = atomic_load_explicit(&n->payload, memory_order_relaxed);
        if (want != NULL && want->retain != NULL)
            want->retain(payload, want->ctx);
    }
    if (!nested)
        ircache__reader_close(p);
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
