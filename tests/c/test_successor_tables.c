/* test_successor_tables.c - how a successor table spreads its keys.
 *
 * A lookup among many successors is nearly as fast as one at a single
 * successor when its key sits in the first slot it reads; each displaced
 * key costs a mispredicted branch. Tables take the hash's top bits, which
 * keep keys that differ by a counter apart, unless those crowd them; then
 * they mix (lib/successors.h). These cases read the root's table, so they
 * link the library's internals. */
#define IRCACHE_FAULT_INJECTION 1

#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "check.h"
#include "ircache.h"
#include "hash.h"
#include "successors.h"

#define SUCCESSORS 4096

/* A 16-byte key: two words that step by c1 and c2 per successor. */
typedef struct stepped_key {
    uint64_t first, last;
} stepped_key;

static stepped_key key_of(int64_t c1, int64_t c2, uint32_t i)
{
    stepped_key k = {(uint64_t)(c1 * (int64_t)i) + 1000u, (uint64_t)(c2 * (int64_t)i) + 77u};
    return k;
}

static const ircache__succ_table *root_table(ircache *c)
{
    return ircache__succ_as_table(atomic_load_explicit(&c->root.succ, memory_order_relaxed));
}

/* Inserts `count` successors of the root, keys first_i.. of the (c1, c2)
 * layout, each payload the address of its index in `ids`. */
static void insert_layout(ircache *c, int64_t c1, int64_t c2, uint32_t first_i, uint32_t count, uint32_t *ids)
{
    for (uint32_t i = first_i; i < first_i + count; i++) {
        stepped_key k = key_of(c1, c2, i);
        ids[i] = i;
        REQUIRE(ircache_insert(c, &k, sizeof k, "op", &ids[i], NULL) == 0);
        ircache_mark_step(c);
    }
}

/* Every key of the layout up to `count` finds its own payload. */
static void check_all_found(ircache *c, int64_t c1, int64_t c2, uint32_t count, const uint32_t *ids)
{
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < count; i++) {
        stepped_key k = key_of(c1, c2, i);
        wrong += ircache_lookup(c, &k, sizeof k) != &ids[i];
        ircache_mark_step(c);
    }
    CHECK_MSG(wrong == 0, "layout (%lld, %lld): %u of %u keys not found", (long long)c1, (long long)c2,
              wrong, count);
}

/* Inserts count successors of the root, the i-th key made by key(i), each
 * payload the address of ids[i]. */
static void insert_made(ircache *c, stepped_key (*key)(uint32_t), uint32_t count, uint32_t *made_ids)
{
    for (uint32_t i = 0; i < count; i++) {
        stepped_key k = key(i);
        made_ids[i] = i;
        REQUIRE(ircache_insert(c, &k, sizeof k, "op", &made_ids[i], NULL) == 0);
        ircache_mark_step(c);
    }
}

/* How many of those keys do not find their own payload. */
static uint32_t not_found_made(ircache *c, stepped_key (*key)(uint32_t), uint32_t count, const uint32_t *made_ids)
{
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < count; i++) {
        stepped_key k = key(i);
        wrong += ircache_lookup(c, &k, sizeof k) != &made_ids[i];
        ircache_mark_step(c);
    }
    return wrong;
}

static uint32_t ids[SUCCESSORS];

/* A counter in either word, or in the high half of one: the top bits put
 * no key out of its first slot, where a random function displaces about
 * 6% at this load. */
static void keys_that_differ_by_a_counter_are_never_displaced(void)
{
    static const int64_t layouts[][2] = {{1, 0}, {0, 1}, {(int64_t)1 << 32, 0}, {0, (int64_t)1 << 32}};
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        ircache *c = ircache_new();
        REQUIRE(c != NULL);
        insert_layout(c, layouts[l][0], layouts[l][1], 0, SUCCESSORS, ids);
        const ircache__succ_table *t = root_table(c);
        REQUIRE(t != NULL);
        CHECK_MSG(t->mix == 0 && t->displaced == 0, "layout (%lld, %lld): %s, %u of %u displaced",
                  (long long)layouts[l][0], (long long)layouts[l][1], t->mix ? "mixing" : "top bits",
                  t->displaced, t->live);
        check_all_found(c, layouts[l][0], layouts[l][1], SUCCESSORS, ids);
        ircache_free(c);
    }
}

/* Fields that step together can crowd the top bits of one multiplier or
 * another (a stride of 72 in the first word put consecutive keys half a
 * table apart under the first). Over a grid of such layouts, every
 * table displaces at most what the rebuild rule allows (successors.c:
 * about twice what random keys give), some by mixing, and every key is
 * found. */
#define GRID 12

static void no_layout_of_stepping_fields_crowds_a_table(void)
{
    unsigned mixing = 0, top_bits = 0;
    for (int64_t c1 = -GRID; c1 <= GRID; c1++) {
        for (int64_t c2 = -GRID; c2 <= GRID; c2++) {
            if (c1 == 0 && c2 == 0)
                continue;
            int64_t first = c1 == GRID ? 72 : c1; /* the stride of 72 in place of one */
            ircache *c = ircache_new();
            REQUIRE(c != NULL);
            insert_layout(c, first, c2, 0, SUCCESSORS, ids);
            const ircache__succ_table *t = root_table(c);
            REQUIRE(t != NULL);
            CHECK_MSG((uint64_t)t->displaced * 6 <= (uint64_t)t->live + 48,
                      "layout (%lld, %lld): %s, %u of %u displaced", (long long)first, (long long)c2,
                      t->mix ? "mixing" : "top bits", t->displaced, t->live);
            mixing += t->mix != 0;
            top_bits += t->mix == 0;
            check_all_found(c, first, c2, SUCCESSORS, ids);
            ircache_free(c);
        }
    }
    /* Both kinds of table were exercised. */
    CHECK(mixing > 0);
    CHECK(top_bits > 0);
}

/* A table chosen by keys that spread well can be crowded by the keys that
 * come after them, before it grows: it is built again, mixing. 2,048 keys
 * leave a table of 16,384 slots, which takes 3,072 before it grows; the
 * 1,000 that follow step by (6, -3), which would put 28% of the table's
 * keys out of their first slot. */
#define SPREAD_KEYS 2048u
#define CROWDING_KEYS 1000u

static stepped_key crowding_key(uint32_t i)
{
    stepped_key k = key_of(6, -3, i);
    k.first ^= (uint64_t)1 << 63; /* apart from the counters' keys */
    return k;
}

static void a_table_crowded_after_it_was_built_mixes(void)
{
    static uint32_t more[CROWDING_KEYS];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    insert_layout(c, 1, 0, 0, SPREAD_KEYS, ids);
    const ircache__succ_table *before = root_table(c);
    REQUIRE(before != NULL);
    CHECK(before->mix == 0);
    CHECK_INT(before->mask + 1, 16384);
    insert_made(c, crowding_key, CROWDING_KEYS, more);
    const ircache__succ_table *t = root_table(c);
    CHECK_MSG(t->mix != 0 && (uint64_t)t->displaced * 6 <= (uint64_t)t->live + 48,
              "%s, %u of %u displaced (capacity %u)", t->mix ? "mixing" : "top bits", t->displaced, t->live,
              t->mask + 1);
    check_all_found(c, 1, 0, SPREAD_KEYS, ids);
    CHECK_INT(not_found_made(c, crowding_key, CROWDING_KEYS, more), 0);
    ircache_free(c);
}

/* The linear hash is easy to solve: for any first word, some last word
 * gives any hash wanted. Keys made so all meet in one slot under every
 * multiplier and under mixing, which made inserts and lookups quadratic
 * (40,000 of them: 72 us an insert, 24 us a lookup). Such a table takes
 * the cache's seeded hash, which no one outside can predict. */
#define COLLIDING_KEYS 20000u

static stepped_key colliding_key(uint32_t i)
{
    uint64_t inverse = IRCACHE__HASH_K2; /* of K2 modulo 2^64, by Newton's steps */
    for (int step = 0; step < 6; step++)
        inverse *= 2 - IRCACHE__HASH_K2 * inverse;
    stepped_key k;
    k.first = (uint64_t)i * 0x10001u + 5u;
    uint64_t turned = (0 - k.first * IRCACHE__HASH_K1) * inverse; /* a * K1 + turned * K2 == 0 */
    k.last = ((turned << 32) | (turned >> 32)) ^ sizeof k;
    return k;
}

static void keys_made_to_collide_get_a_seeded_table(void)
{
    static uint32_t made[COLLIDING_KEYS];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    insert_made(c, colliding_key, COLLIDING_KEYS, made);
    const ircache__succ_table *t = root_table(c);
    REQUIRE(t != NULL);
    CHECK_MSG(t->seed != 0 && (uint64_t)t->displaced * 6 <= (uint64_t)t->live + 48,
              "%s, %u of %u displaced", t->seed ? "seeded" : "not seeded", t->displaced, t->live);
    CHECK_INT(not_found_made(c, colliding_key, COLLIDING_KEYS, made), 0);
    ircache_free(c);
}

/* How many of t's entries sit beyond their first slot, counted afresh. */
static uint32_t displaced_now(const ircache__succ_table *t)
{
    uint32_t displaced = 0;
    for (uint32_t j = 0; j <= t->mask; j++) {
        ircache__slot v = atomic_load_explicit(&t->slots[j], memory_order_relaxed);
        if (v == IRCACHE__SLOT_EMPTY || v == IRCACHE__SLOT_TOMBSTONE)
            continue;
        const ircache__node *n = ircache__slot_node(v);
        uint64_t hash = ircache__succ_hash(t, ircache__node_key(n), ircache__node_key_len(n), 0);
        displaced += (ircache__succ_start(t, hash) & t->mask) != j;
    }
    return displaced;
}

static stepped_key random_looking_key(uint32_t i)
{
    stepped_key k = {ircache__mix(i, IRCACHE__HASH_K1), ircache__mix(i, IRCACHE__HASH_K2)};
    return k;
}

/* A table counts its displaced entries to tell when later keys crowded it
 * (crowded_since); entries evicted from it leave that count, or a table
 * that only churns would be taken for a crowded one and rebuilt, mixing,
 * once per rebuild. Random-looking keys, about 6% of them displaced,
 * through a cache bounded to a quarter of them. */
#define CHURNED_KEYS 8192u

static void an_evicted_entry_leaves_the_displaced_count(void)
{
    static uint32_t churned[CHURNED_KEYS];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    REQUIRE(ircache_set_max_nodes(c, CHURNED_KEYS / 4) == 0);
    uint32_t checked = 0, displaced_seen = 0;
    for (uint32_t i = 0; i < CHURNED_KEYS; i++) {
        stepped_key k = random_looking_key(i);
        churned[i] = i;
        REQUIRE(ircache_insert(c, &k, sizeof k, "op", &churned[i], NULL) == 0);
        ircache_mark_step(c);
        if (i % 256 == 255) {
            const ircache__succ_table *t = root_table(c);
            REQUIRE(t != NULL);
            uint32_t now = displaced_now(t);
            CHECK_MSG(t->displaced == now, "after %u inserts: %u counted, %u displaced", i + 1, t->displaced, now);
            checked++;
            displaced_seen += now > 0;
        }
    }
    ircache_stats stats;
    REQUIRE(ircache_get_stats(c, &stats) == 0);
    CHECK(stats.evictions >= CHURNED_KEYS / 2); /* it churned */
    CHECK(displaced_seen > checked / 2);        /* with displaced entries to count */
    ircache_free(c);
}

/* A lookup takes the node in its key's first slot when the slot's tag (16
 * bits of the hash) is the key's, and compares the key by its first and
 * last words (lib/lookup.c). Keys that share a slot and a tag and one of
 * those words are told apart by the other, at each length class of that
 * comparison: found, in a table of 4 slots (the commonest fork), by
 * trying values of the bytes outside the shared word. */
#define MIN_SLOTS 4u /* a node's first table */

static int same_slot_and_tag(const ircache__succ_table *t, const unsigned char *a, const unsigned char *b,
                             size_t len)
{
    uint64_t ha = ircache__succ_hash(t, a, len, 1), hb = ircache__succ_hash(t, b, len, 1); /* len <= 16 */
    return (ircache__succ_start(t, ha) & t->mask) == (ircache__succ_start(t, hb) & t->mask) &&
           ircache__slot_tag(ha) == ircache__slot_tag(hb);
}

/* In `twin`, a copy of `key` with bytes [from, from + n) changed so that it
 * shares key's slot and tag in t; 0 when none is found. */
static int find_twin(const ircache__succ_table *t, const unsigned char *key, size_t len, size_t from, size_t n,
                     unsigned char *twin)
{
    for (uint64_t v = 1; v < ((uint64_t)1 << (8 * n)); v++) {
        memcpy(twin, key, len);
        for (size_t i = 0; i < n; i++)
            twin[from + i] ^= (unsigned char)(v >> (8 * i));
        if (same_slot_and_tag(t, key, twin, len))
            return 1;
    }
    return 0;
}

static void keys_in_one_slot_with_one_tag_are_told_apart_by_their_bytes(void)
{
    /* Length, and the bytes changed: [from, from + n), outside the first
     * word (of 8 bytes from 8 on, else of 4) or outside the last. */
    static const struct {
        size_t len, from, n;
    } cases[] = {{7, 4, 3}, {7, 0, 3}, {12, 8, 4}, {12, 0, 4}, {16, 8, 4}, {16, 4, 4}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len = cases[k].len, from = cases[k].from;
        unsigned char key[16], other[16], twin[16];
        int payload[3];
        for (size_t i = 0; i < len; i++) {
            key[i] = (unsigned char)(i * 37 + 11);
            other[i] = (unsigned char)(i * 53 + 3);
        }
        ircache *c = ircache_new();
        REQUIRE(c != NULL);
        REQUIRE(ircache_insert(c, key, len, "key", &payload[0], NULL) == 0);
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, other, len, "other", &payload[1], NULL) == 0);
        ircache_mark_step(c);
        const ircache__succ_table *t = root_table(c);
        REQUIRE(t != NULL && t->mask + 1 == MIN_SLOTS);
        REQUIRE(find_twin(t, key, len, from, cases[k].n, twin));
        CHECK_MSG(ircache_lookup(c, twin, len) == NULL, "%zu bytes, %zu changed from %zu: found another key",
                  len, cases[k].n, from);
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, twin, len, "twin", &payload[2], NULL) == 0);
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, key, len), &payload[0]);
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, twin, len), &payload[2]);
        ircache_mark_step(c);
        ircache_free(c);
    }
}

/* Keys of 1 to 3 bytes are compared as one word of their bytes: two keys
 * of 3 bytes with the same first byte in one slot with one tag (found
 * among the 65,536 such keys, as pairs meet in 18 bits) are told apart. */
static void three_byte_keys_in_one_slot_with_one_tag_are_told_apart(void)
{
    enum { CANDIDATES = 1 << 16, SIGNATURES = 1 << 18 };
    static uint32_t seen[SIGNATURES]; /* candidate + 1 by slot and tag */
    static const unsigned char a[3] = {'a', 'b', 'c'}, b[3] = {'x', 'y', 'z'};
    int payload[3];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    REQUIRE(ircache_insert(c, a, 3, "a", &payload[0], NULL) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, b, 3, "b", &payload[1], NULL) == 0);
    ircache_mark_step(c);
    const ircache__succ_table *t = root_table(c);
    REQUIRE(t != NULL && t->mask + 1 == MIN_SLOTS);
    unsigned char key[3] = {'k', 0, 0}, twin[3] = {'k', 0, 0};
    int found = 0;
    memset(seen, 0, sizeof seen);
    for (uint32_t v = 0; v < CANDIDATES && !found; v++) {
        unsigned char k[3] = {'k', (unsigned char)v, (unsigned char)(v >> 8)};
        uint64_t hash = ircache__succ_hash(t, k, 3, 1);
        uint32_t slot = ircache__succ_start(t, hash) & t->mask;
        uint32_t signature = (slot << 16) | (uint32_t)(ircache__slot_tag(hash) >> 48);
        if (seen[signature] != 0) {
            uint32_t other = seen[signature] - 1;
            key[1] = (unsigned char)other;
            key[2] = (unsigned char)(other >> 8);
            memcpy(twin, k, 3);
            found = 1;
        }
        seen[signature] = v + 1;
    }
    ircache_free(c);
    REQUIRE(found);
    /* A table of the same function holding key (and another) now. */
    c = ircache_new();
    REQUIRE(c != NULL);
    REQUIRE(ircache_insert(c, key, 3, "key", &payload[0], NULL) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, a, 3, "a", &payload[1], NULL) == 0);
    ircache_mark_step(c);
    t = root_table(c);
    REQUIRE(t != NULL && t->mask + 1 == MIN_SLOTS && same_slot_and_tag(t, key, twin, 3));
    CHECK_PTR(ircache_lookup(c, twin, 3), NULL);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, key, 3), &payload[0]);
    ircache_mark_step(c);
    ircache_free(c);
}

int main(void)
{
    RUN(keys_that_differ_by_a_counter_are_never_displaced);
    RUN(no_layout_of_stepping_fields_crowds_a_table);
    RUN(a_table_crowded_after_it_was_built_mixes);
    RUN(keys_made_to_collide_get_a_seeded_table);
    RUN(an_evicted_entry_leaves_the_displaced_count);
    RUN(keys_in_one_slot_with_one_tag_are_told_apart_by_their_bytes);
    RUN(three_byte_keys_in_one_slot_with_one_tag_are_told_apart);
    return check_exit_code();
}
