/* test_memory.c - a bounded cache's memory follows the nodes it holds, not
 * the most it ever held: stats.bytes after key lengths drift from one size
 * class to the next, after the bound is lowered, and while another thread
 * holds a position (evicted slots then wait for a grace period), against a
 * cache that did the same work under the final conditions from the start.
 * Survivors keep their payloads, and every payload is released exactly
 * once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

enum { BOUND = 1500, PER_PHASE = 4000, PHASES = 12 };

/* Key number i of a phase that uses keys of 8 * phase + 1 to 8 * phase + 8
 * bytes: one node size class per phase. */
static size_t phase_key(unsigned char *key, int phase, uint32_t i)
{
    size_t len = (size_t)phase * 8 + 1 + i % 8;
    memset(key, 0xa5, len);
    memcpy(key, &i, sizeof i); /* phases start at 1: every key has 9 bytes or more */
    return len;
}

/* Inserts PER_PHASE keys of one phase under the root, item values from
 * first on, and returns how many were inserted. */
static uint32_t run_phase(ircache *c, int phase, counted *items, uint32_t first)
{
    unsigned char key[8 * PHASES + 8];
    for (uint32_t i = 0; i < PER_PHASE; i++) {
        size_t len = phase_key(key, phase, first + i);
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, key, len, "op", &items[first + i], &counting_owner) == 0);
    }
    ircache_mark_step(c);
    return PER_PHASE;
}

/* The last BOUND keys inserted (values first .. first + PER_PHASE) are all
 * there, each with its own payload. */
static void check_survivors(ircache *c, int phase, counted *items, uint32_t first)
{
    unsigned char key[8 * PHASES + 8];
    int wrong = 0;
    for (uint32_t i = first + PER_PHASE - BOUND; i < first + PER_PHASE; i++) {
        size_t len = phase_key(key, phase, i);
        ircache_mark_step(c);
        counted *found = ircache_lookup(c, key, len);
        wrong += found != &items[i]; /* retained: counted as a retain, not a release */
    }
    ircache_mark_step(c);
    CHECK_MSG(wrong == 0, "%d of the last %d keys of phase %d lost their payload", wrong, BOUND, phase);
}

static void memory_follows_the_bound_as_key_sizes_drift(void)
{
    size_t total = (size_t)PER_PHASE * (PHASES + 1);
    counted *items = counted_array(total);
    ircache *drifting = ircache_new(), *last_only = ircache_new();
    REQUIRE(drifting != NULL && last_only != NULL);
    REQUIRE(ircache_set_max_nodes(drifting, BOUND) == 0);
    REQUIRE(ircache_set_max_nodes(last_only, BOUND) == 0);
    uint32_t used = 0;
    for (int phase = 1; phase < PHASES; phase++) {
        used += run_phase(drifting, phase, items, used);
        check_survivors(drifting, phase, items, used - PER_PHASE);
    }
    uint32_t reference_first = used;
    used += run_phase(last_only, PHASES - 1, items, used);
    check_survivors(last_only, PHASES - 1, items, reference_first);
    uint64_t drifted = stats_of(drifting).bytes, reference = stats_of(last_only).bytes;
    CHECK_U64(stats_of(drifting).nodes, BOUND);
    /* Before slabs went back, this was the sum over every class seen:
     * about five times the reference here. */
    CHECK_MSG(drifted <= reference + reference / 8,
              "after %d size classes the cache holds %llu bytes, one class alone %llu", PHASES - 1,
              (unsigned long long)drifted, (unsigned long long)reference);
    ircache_free(drifting);
    ircache_free(last_only);
    CHECK_INT(counted_first_not_released_once(items, used), -1);
    free(items);
}

/* 20,000 nodes with 16-byte keys: CHAINS paths of CHAIN_LENGTH nodes from
 * the root, or as many successors of the root (fan_out). */
enum { CHAINS = 40, CHAIN_LENGTH = 500, GROWN = CHAINS * CHAIN_LENGTH, LOWERED = 1000 };

static uint32_t grow(ircache *c, counted *items, int fan_out)
{
    uint32_t n = 0;
    for (uint32_t chain = 0; chain < CHAINS; chain++) {
        ircache_mark_step(c);
        for (uint32_t depth = 0; depth < CHAIN_LENGTH; depth++, n++) {
            uint32_t key[4] = {chain, depth, n, 0x5eed};
            if (fan_out)
                ircache_mark_step(c);
            REQUIRE(ircache_insert(c, key, sizeof key, "op", &items[n], &counting_owner) == 0);
        }
    }
    ircache_mark_step(c);
    return n;
}

/* Grown unbounded, then bounded at LOWERED (alone or beside another
 * thread, which makes the victims' slots wait for a grace period), against
 * a cache that grew the same way under that bound from the start; lookups
 * alone follow, which give no grace period of their own. */
static void lowered_against_bounded(int fan_out, int beside)
{
    counted *items = counted_array(2 * (size_t)GROWN);
    ircache *lowered = ircache_new(), *bounded = ircache_new();
    REQUIRE(lowered != NULL && bounded != NULL);
    idle_thread *idle = beside ? idle_start(lowered) : NULL;
    uint32_t used = grow(lowered, items, fan_out);
    uint64_t grown = stats_of(lowered).bytes;
    REQUIRE(ircache_set_max_nodes(lowered, LOWERED) == 0);
    REQUIRE(ircache_lookup(lowered, KEY("absent")) == NULL);
    REQUIRE(ircache_set_max_nodes(bounded, LOWERED) == 0);
    used += grow(bounded, items + used, fan_out);
    CHECK_U64(stats_of(lowered).nodes, LOWERED);
    CHECK_U64(stats_of(bounded).nodes, LOWERED);
    uint64_t after = stats_of(lowered).bytes, reference = stats_of(bounded).bytes;
    /* Before slabs, tables and the eviction order shrank, the lowered
     * cache kept what 20,000 nodes took: 14 times the reference as
     * chains, 98 times as successors of the root. Now about twice, as
     * survivors sit in the last slabs, which are the largest. */
    CHECK_MSG(after <= 3 * reference,
              "%s%s, lowered from %d to %d nodes: %llu bytes (%llu before), bounded from the start %llu",
              fan_out ? "successors of the root" : "chains", beside ? " beside another thread" : "", GROWN,
              LOWERED, (unsigned long long)after, (unsigned long long)grown, (unsigned long long)reference);
    if (idle != NULL)
        idle_stop(idle);
    ircache_free(lowered);
    ircache_free(bounded);
    CHECK_INT(counted_first_not_released_once(items, used), -1);
    free(items);
}

static void lowering_the_bound_gives_memory_back(void)
{
    for (int fan_out = 0; fan_out <= 1; fan_out++)
        for (int beside = 0; beside <= 1; beside++)
            lowered_against_bounded(fan_out, beside);
}

/* Churn under a bound while the key sizes in use drift (three classes of
 * eight at a time), on chains of random length: slabs of a class that
 * falls out of use go back while nodes of the others live beside them.
 * Every node the cache still holds is found along its path with its own
 * payload, and they are as many as it counts. */
enum { CHURN_INSERTS = 60000, CHURN_BOUND = 300 };

typedef struct churn_item {
    int32_t parent; /* index of the item inserted before it on its chain; -1: the root */
    uint8_t len;
} churn_item;

static size_t churn_key(unsigned char *key, uint32_t i, size_t len)
{
    memset(key, 0x3c, len);
    memcpy(key, &i, sizeof i);
    return len;
}

/* 1 when item j is found along its path with its own payload; 0 when a
 * lookup on the way misses; -1 when one finds a wrong payload. */
static int find_along_path(ircache *c, const churn_item *items, counted *payloads, uint32_t j)
{
    uint32_t path[64];
    int depth = 0;
    for (int32_t at = (int32_t)j; at >= 0 && depth < 64; at = items[at].parent)
        path[depth++] = (uint32_t)at;
    REQUIRE(depth < 64);
    ircache_mark_step(c);
    unsigned char key[72];
    while (depth-- > 0) {
        uint32_t at = path[depth];
        counted *found = ircache_lookup(c, key, churn_key(key, at, items[at].len));
        if (found == NULL)
            return 0;
        if (found != &payloads[at])
            return -1;
    }
    return 1;
}

static void survivors_keep_their_payloads_as_classes_come_and_go(void)
{
    churn_item *items = calloc(CHURN_INSERTS, sizeof *items);
    counted *payloads = counted_array(CHURN_INSERTS);
    REQUIRE(items != NULL);
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    REQUIRE(ircache_set_max_nodes(c, CHURN_BOUND) == 0);
    uint64_t random = 0x2545f4914f6cdd1dull;
    int32_t last = -1;
    unsigned char key[72];
    for (uint32_t i = 0; i < CHURN_INSERTS; i++) {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        if (random % 4 == 0 || last < 0) {
            ircache_mark_step(c);
            last = -1;
        }
        uint32_t klass = (i / 5000 + (uint32_t)(random >> 8) % 3) % 8; /* keys of 8 * klass + 4 to + 8 bytes */
        items[i].len = (uint8_t)(8 * klass + 4 + (random >> 16) % 5);
        items[i].parent = last;
        REQUIRE(ircache_insert(c, key, churn_key(key, i, items[i].len), "op", &payloads[i], &counting_owner) == 0);
        last = (int32_t)i;
        if (i % 10000 == 9999) {
            int wrong = 0;
            for (uint32_t j = i - 999; j <= i; j++)
                wrong += find_along_path(c, items, payloads, j) < 0;
            CHECK_MSG(wrong == 0, "%d of the last 1000 nodes gave another's payload after %u inserts", wrong,
                      i + 1);
            last = -1;
        }
    }
    uint64_t found = 0;
    int wrong = 0;
    for (uint32_t j = 0; j < CHURN_INSERTS; j++) {
        int r = find_along_path(c, items, payloads, j);
        found += r > 0;
        wrong += r < 0;
    }
    CHECK_INT(wrong, 0);
    CHECK_U64(found, stats_of(c).nodes);
    CHECK(stats_of(c).nodes <= CHURN_BOUND);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(payloads, CHURN_INSERTS), -1);
    free(payloads);
    free(items);
}

enum { SIDE_INSERTS = 20000, SIDE_BOUND = 1000 };

/* bytes of a cache bounded at SIDE_BOUND after SIDE_INSERTS inserts under
 * the root, beside an idle thread or alone. */
static uint64_t bytes_after_churn(int beside, counted *payloads)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    REQUIRE(ircache_set_max_nodes(c, SIDE_BOUND) == 0);
    idle_thread *idle = beside ? idle_start(c) : NULL;
    for (uint32_t i = 0; i < SIDE_INSERTS; i++) {
        uint32_t key[4] = {i, 1, 2, 3};
        ircache_mark_step(c);
        REQUIRE(ircache_insert(c, key, sizeof key, "op", &payloads[i], &counting_owner) == 0);
    }
    uint64_t bytes = stats_of(c).bytes;
    CHECK_U64(stats_of(c).nodes, SIDE_BOUND);
    if (idle != NULL)
        idle_stop(idle);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(payloads, SIDE_INSERTS), -1);
    return bytes;
}

static void evicted_slots_are_reused_beside_another_thread(void)
{
    counted *alone_payloads = counted_array(SIDE_INSERTS), *beside_payloads = counted_array(SIDE_INSERTS);
    uint64_t alone = bytes_after_churn(0, alone_payloads), beside = bytes_after_churn(1, beside_payloads);
    /* Slots freed only after a grace period: at most one insert's
     * evictions wait at a time, not every evicted node since. */
    CHECK_MSG(beside <= alone + alone / 4, "beside another thread %llu bytes, alone %llu",
              (unsigned long long)beside, (unsigned long long)alone);
    free(alone_payloads);
    free(beside_payloads);
}

int main(void)
{
    RUN(memory_follows_the_bound_as_key_sizes_drift);
    RUN(lowering_the_bound_gives_memory_back);
    RUN(survivors_keep_their_payloads_as_classes_come_and_go);
    RUN(evicted_slots_are_reused_beside_another_thread);
    return check_exit_code();
}
