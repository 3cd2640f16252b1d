/* test_trie.c - the trie's rules on one thread: PyTorch's own trie-cache
 * cases, misses, replacement, ids, counters and the enabled switch. */
#include <string.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

/* Traces ops through the cache as a runtime would: reuse on a hit, create
 * and insert on a miss. Returns how many ops were reused. */
static int trace(ircache *c, const char *const *ops, size_t n, counted *made)
{
    int reused = 0;
    for (size_t i = 0; i < n; i++) {
        counted *hit = ircache_lookup(c, KEY(ops[i]));
        if (hit != NULL) {
            reused++;
            continue;
        }
        REQUIRE(ircache_insert(c, KEY(ops[i]), ops[i], &made[i], NULL) == 0);
    }
    ircache_mark_step(c);
    return reused;
}

/* PyTorch's TrieCache.TestSinglePath: the same three ops over several steps
 * are created once and reused afterwards, as the very same nodes. */
static void single_path_is_reused_over_steps(void)
{
    ircache *c = ircache_new();
    const char *ops[] = {"a", "b", "c"};
    counted made[3] = {{0}};
    CHECK_INT(trace(c, ops, 3, made), 0);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < 3; i++)
            CHECK_PTR(ircache_lookup(c, KEY(ops[i])), &made[i]);
        ircache_mark_step(c);
    }
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 3);
    CHECK_U64(s.inserts, 3);
    CHECK_U64(s.hits, 9);
    CHECK_U64(s.misses, 3);
    CHECK_U64(s.forks, 0);
    ircache_free(c);
}

/* PyTorch's TrieCache.TestTwoPaths: a, b, c then a, b, d fork after b; both
 * paths are reused on later steps. */
static void two_paths_fork_and_are_both_reused(void)
{
    ircache *c = ircache_new();
    const char *first[] = {"a", "b", "c"};
    const char *second[] = {"a", "b", "d"};
    counted made1[3] = {{0}}, made2[3] = {{0}};
    CHECK_INT(trace(c, first, 3, made1), 0);
    CHECK_INT(trace(c, second, 3, made2), 2);
    CHECK_U64(stats_of(c).forks, 1);
    CHECK_U64(stats_of(c).nodes, 4);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &made1[0]);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &made1[1]);
    CHECK_PTR(ircache_lookup(c, KEY("c")), &made1[2]);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &made1[0]);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &made1[1]);
    CHECK_PTR(ircache_lookup(c, KEY("d")), &made2[2]);
    ircache_free(c);
}

static void a_miss_leaves_the_position(void)
{
    ircache *c = ircache_new();
    int a, b;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &a, NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("b"), "b", &b, NULL) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &a);
    CHECK_PTR(ircache_lookup(c, KEY("zzz")), NULL);
    CHECK_PTR(ircache_lookup(c, KEY("a")), NULL); /* a is not a successor of a */
    CHECK_PTR(ircache_lookup(c, KEY("b")), &b);   /* still after a */
    ircache_free(c);
}

static void keys_compare_as_exact_bytes(void)
{
    ircache *c = ircache_new();
    int ab, abc, empty, zero;
    REQUIRE(ircache_insert(c, "ab", 2, "ab", &ab, NULL) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, "abc", 3, "abc", &abc, NULL) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, NULL, 0, "empty", &empty, NULL) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, "a\0b", 3, "zero", &zero, NULL) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "ab", 2), &ab);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "abc", 3), &abc);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "", 0), &empty);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "a\0b", 3), &zero);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "a", 1), NULL);
    CHECK_PTR(ircache_lookup(c, "a\0c", 3), NULL);
    CHECK_U64(stats_of(c).nodes, 4);
    CHECK_U64(stats_of(c).forks, 3);
    ircache_free(c);
}

/* Lookups among many successors read keys by length class (words of 8
 * bytes, of 4, bytes; lib/lookup.c): at every length up to 40, a key finds
 * its own node and no other, whichever byte tells it apart, and a key
 * with one byte changed, or one byte fewer, finds nothing. */
#define LONGEST_KEY 40

static void fill_key(unsigned char *key, size_t len, size_t changed, unsigned char flip)
{
    for (size_t i = 0; i < len; i++)
        key[i] = (unsigned char)(len * 31 + i * 7 + 1);
    if (changed < len)
        key[changed] ^= flip;
}

static void keys_of_every_length_find_only_themselves_in_a_table(void)
{
    /* Per length: the plain key, then one with each byte changed. */
    static int payloads[LONGEST_KEY + 1][LONGEST_KEY + 1];
    unsigned char key[LONGEST_KEY];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    for (size_t len = 0; len <= LONGEST_KEY; len++) {
        for (size_t changed = 0; changed <= len; changed++) {
            fill_key(key, len, changed, 0x80);
            REQUIRE(ircache_insert(c, key, len, "k", &payloads[len][changed], NULL) == 0);
            ircache_mark_step(c);
        }
    }
    unsigned wrong = 0, found_elsewhere = 0;
    for (size_t len = 0; len <= LONGEST_KEY; len++) {
        for (size_t changed = 0; changed <= len; changed++) {
            fill_key(key, len, changed, 0x80);
            wrong += ircache_lookup(c, key, len) != &payloads[len][changed];
            ircache_mark_step(c);
            if (changed < len) {
                fill_key(key, len, changed, 0x01);
                found_elsewhere += ircache_lookup(c, key, len) != NULL;
                ircache_mark_step(c);
            }
        }
        if (len > 1) { /* one byte fewer than 1 is the empty key, a key here */
            fill_key(key, len, len, 0);
            found_elsewhere += ircache_lookup(c, key, len - 1) != NULL;
            ircache_mark_step(c);
        }
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(found_elsewhere, 0);
    CHECK_U64(stats_of(c).nodes, (LONGEST_KEY + 1) * (LONGEST_KEY + 2) / 2);
    ircache_free(c);
}

static void insert_of_an_existing_key_replaces(void)
{
    ircache *c = ircache_new();
    counted *items = counted_array(3);
    REQUIRE(ircache_insert(c, KEY("a"), "old", &items[0], &counting_owner) == 0);
    REQUIRE(ircache_insert(c, KEY("b"), "b", &items[1], &counting_owner) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[0]);
    ircache_mark_step(c);
    /* Replace a: old payload released once, position moves to a, b stays a child. */
    REQUIRE(ircache_insert(c, KEY("a"), "new", &items[2], &counting_owner) == 0);
    CHECK_INT(atomic_load(&items[0].releases), 1);
    CHECK_INT(atomic_load(&items[2].releases), 0);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &items[1]);
    ircache_mark_step(c);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 2);
    CHECK_U64(s.inserts, 3);
    CHECK_U64(s.forks, 0);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &items[2]);

    ircache_op_stats ops[4];
    int64_t n = ircache_get_op_stats(c, ops, 4);
    REQUIRE(n == 3);
    CHECK_STR(ops[0].op, "old");
    CHECK_U64(ops[0].inserts, 1);
    CHECK_U64(ops[0].reused, 1);
    CHECK_STR(ops[2].op, "new");
    CHECK_U64(ops[2].inserts, 1);
    CHECK_U64(ops[2].reused, 1);
    ircache_free(c);
    CHECK_INT(atomic_load(&items[2].releases), 1);
    CHECK_INT(atomic_load(&items[1].releases), 1);
    free(items);
}

static void hit_count_restarts_on_replacement(void)
{
    ircache *c = ircache_new();
    char *dir = make_temp_dir();
    char *path = path_join(dir, "t.dot");
    int x, y;
    REQUIRE(ircache_insert(c, KEY("k"), "op", &x, NULL) == 0);
    for (int i = 0; i < 5; i++) {
        ircache_mark_step(c);
        CHECK_PTR(ircache_lookup(c, KEY("k")), &x);
    }
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("k"), "op2", &y, NULL) == 0);
    REQUIRE(ircache_dump_dot(c, path) == 0);
    char *text = read_file(path, NULL);
    CHECK_STR(text, "digraph G {\n0 -> 1\n1[label=\"op2, 0 hits\"]\n}\n");
    free(text);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
}

static void op_stats_count_inserts_and_reuse_per_label(void)
{
    ircache *c = ircache_new();
    int p[4];
    REQUIRE(ircache_insert(c, KEY("1"), "aten::mm", &p[0], NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("2"), "aten::relu", &p[1], NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("3"), "aten::mm", &p[2], NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("4"), NULL, &p[3], NULL) == 0);
    for (int step = 0; step < 2; step++) {
        ircache_mark_step(c);
        REQUIRE(ircache_lookup(c, KEY("1")) == &p[0]);
        REQUIRE(ircache_lookup(c, KEY("2")) == &p[1]);
        REQUIRE(ircache_lookup(c, KEY("3")) == &p[2]);
    }
    CHECK_INT(ircache_get_op_stats(c, NULL, 0), 3);
    ircache_op_stats ops[1];
    CHECK_INT(ircache_get_op_stats(c, ops, 1), 3); /* fills only what fits */
    CHECK_STR(ops[0].op, "aten::mm");
    CHECK_U64(ops[0].inserts, 2);
    CHECK_U64(ops[0].reused, 4);
    ircache_clear(c); /* reuse counts are cumulative: they survive a clear */
    ircache_op_stats all[3];
    REQUIRE(ircache_get_op_stats(c, all, 3) == 3);
    CHECK_U64(all[0].reused, 4);
    CHECK_STR(all[1].op, "aten::relu");
    CHECK_U64(all[1].reused, 2);
    CHECK_STR(all[2].op, "");
    CHECK_U64(all[2].inserts, 1);
    CHECK_U64(all[2].reused, 0);
    ircache_free(c);
}

static void disabled_cache_neither_finds_nor_stores(void)
{
    ircache *c = ircache_new();
    int a, b;
    CHECK_INT(ircache_is_enabled(c), 1);
    REQUIRE(ircache_insert(c, KEY("a"), "a", &a, NULL) == 0);
    ircache_mark_step(c);
    CHECK_INT(ircache_set_enabled(c, 0), 0);
    CHECK_INT(ircache_is_enabled(c), 0);
    CHECK_PTR(ircache_lookup(c, KEY("a")), NULL);
    CHECK_INT(ircache_insert(c, KEY("b"), "b", &b, NULL), IRCACHE_EDISABLED);
    CHECK_CONTAINS(ircache_last_error(), "disabled");
    ircache_stats s = stats_of(c);
    CHECK_U64(s.hits, 0);
    CHECK_U64(s.misses, 0);
    CHECK_U64(s.nodes, 1);
    CHECK_INT(ircache_set_enabled(c, 1), 0);
    /* The disabled lookup did not move: a is found from the root. */
    CHECK_PTR(ircache_lookup(c, KEY("a")), &a);
    ircache_free(c);
}

static void ids_count_in_creation_order_across_clears(void)
{
    ircache *c = ircache_new();
    char *dir = make_temp_dir();
    char *path = path_join(dir, "ids.dot");
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("b"), "b", &x, NULL) == 0);
    ircache_clear(c);
    CHECK_U64(stats_of(c).nodes, 0);
    CHECK_U64(stats_of(c).clears, 1);
    /* After a clear the position is at the root and ids go on from 3. */
    REQUIRE(ircache_insert(c, KEY("c"), "c", &x, NULL) == 0);
    REQUIRE(ircache_dump_dot(c, path) == 0);
    char *text = read_file(path, NULL);
    CHECK_STR(text, "digraph G {\n0 -> 3\n3[label=\"c, 0 hits\"]\n}\n");
    free(text);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
}

static void stats_bytes_grow_with_nodes(void)
{
    ircache *c = ircache_new();
    uint64_t empty = stats_of(c).bytes;
    int x;
    char key[16];
    for (int i = 0; i < 1000; i++) {
        memset(key, 0, sizeof key);
        memcpy(key, &i, sizeof i);
        REQUIRE(ircache_insert(c, key, sizeof key, "op", &x, NULL) == 0);
    }
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 1000);
    /* At least each node's key and a few words of links beside it. */
    CHECK_MSG(s.bytes >= empty + 1000 * (16 + 4 * 8), "bytes %" PRIu64 " too small", s.bytes);
    CHECK_MSG(s.bytes <= empty + 1000 * 128, "bytes %" PRIu64 " too large for 1000 nodes", s.bytes);
    ircache_clear(c);
    CHECK_U64(stats_of(c).bytes, empty);
    ircache_free(c);
}

/* bytes counts memory for the nodes held: none with none held, whether a
 * bound keeps an eviction order or not, and labels (kept across clears for
 * the op stats) aside. After the clear the bound still holds. */
static void a_cleared_cache_holds_no_bytes(void)
{
    for (int bound = 0; bound < 2; bound++) {
        ircache *c = ircache_new();
        REQUIRE(c != NULL);
        CHECK_U64(stats_of(c).bytes, 0);
        if (bound)
            CHECK_INT(ircache_set_max_nodes(c, 100), 0);
        int x;
        char key[16], label[16];
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < 300; i++) {
                snprintf(key, sizeof key, "k%d", i);
                snprintf(label, sizeof label, "op%d", i);
                if (i % 3 == 0)
                    ircache_mark_step(c);
                REQUIRE(ircache_insert(c, KEY(key), label, &x, NULL) == 0);
            }
            ircache_stats s = stats_of(c);
            CHECK(s.bytes > 0);
            CHECK_U64(s.nodes, bound ? 100 : 300);
            ircache_clear(c);
            s = stats_of(c);
            CHECK_U64(s.nodes, 0);
            CHECK_U64(s.bytes, 0);
        }
        CHECK_U64(stats_of(c).evictions, bound ? 400 : 0);
        ircache_free(c);
    }
}

/* The successor index of a wide node stays compact at every fan-out: a
 * cache whose nodes are all successors of the root holds, beside what a
 * chain of as many nodes holds, at most 96 bytes per successor (a table is
 * at most 3/16 full and at least half that after it grows: 43-85 bytes per
 * successor, plus its header). */
static void wide_nodes_cost_few_bytes_per_successor(void)
{
    ircache *wide = ircache_new(), *chain = ircache_new();
    REQUIRE(wide != NULL && chain != NULL);
    int x;
    char key[16];
    uint64_t worst = 0;
    uint32_t worst_at = 0;
    for (uint32_t n = 1; n <= 5000; n++) {
        memset(key, 0, sizeof key);
        memcpy(key, &n, sizeof n);
        ircache_mark_step(wide);
        REQUIRE(ircache_insert(wide, key, sizeof key, "op", &x, NULL) == 0);
        REQUIRE(ircache_insert(chain, key, sizeof key, "op", &x, NULL) == 0);
        uint64_t index = stats_of(wide).bytes - stats_of(chain).bytes;
        if (n >= 2 && index / n > worst) {
            worst = index / n;
            worst_at = n;
        }
        if (n >= 2)
            CHECK_MSG(index >= 8u * n, "%" PRIu32 " successors in %" PRIu64 " bytes: less than a slot each", n, index);
    }
    CHECK_MSG(worst <= 96, "%" PRIu64 " bytes of index per successor at %" PRIu32 " successors", worst, worst_at);
    ircache_free(wide);
    ircache_free(chain);
}

/* Two runtimes in one cache: each only ever gets its own payloads back. */
static void owned_lookup_hits_only_that_owners_nodes(void)
{
    static const ircache_owner mine = {NULL, NULL, NULL}, theirs = {NULL, NULL, NULL};
    ircache *c = ircache_new();
    int a, b, x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &a, &mine) == 0);
    REQUIRE(ircache_insert(c, KEY("b"), "b", &b, &theirs) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("n"), "n", &x, NULL) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup_owned(c, KEY("a"), &theirs), NULL); /* a miss: stays at the root */
    CHECK_PTR(ircache_lookup_owned(c, KEY("a"), &mine), &a);
    CHECK_PTR(ircache_lookup_owned(c, KEY("b"), &mine), NULL);  /* stays at a */
    CHECK_PTR(ircache_lookup_owned(c, KEY("b"), &theirs), &b);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup_owned(c, KEY("n"), &mine), NULL);
    CHECK_PTR(ircache_lookup_owned(c, KEY("n"), NULL), &x);
    ircache_mark_step(c);
    /* Keys longer than the inline path's take the general one: same rule. */
    char long_key[40];
    memset(long_key, 'k', sizeof long_key);
    REQUIRE(ircache_insert(c, long_key, sizeof long_key, "long", &x, &mine) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup_owned(c, long_key, sizeof long_key, &theirs), NULL);
    CHECK_PTR(ircache_lookup_owned(c, long_key, sizeof long_key, &mine), &x);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.hits, 4);
    CHECK_U64(s.misses, 4);
    CHECK_PTR(ircache_lookup_owned(NULL, KEY("a"), &mine), NULL);
    CHECK_CONTAINS(ircache_last_error(), "NULL");
    ircache_free(c);
}

/* A retain that asks, once, what the position holds: from inside the
 * lookup that moved it there. */
static ircache *nested_cache;
static void *nested_seen;
static int nested_depth;
static void retain_asking_position_payload(void *payload, void *ctx);
static const ircache_owner asking_owner = {retain_asking_position_payload, NULL, NULL};

static void retain_asking_position_payload(void *payload, void *ctx)
{
    (void)payload;
    (void)ctx;
    if (nested_depth++ == 0)
        nested_seen = ircache_position_payload(nested_cache, &asking_owner);
    nested_depth--;
}

static void *position_payload_in_a_new_thread(void *arg)
{
    return ircache_position_payload(arg, NULL);
}

/* What the node a thread stands on holds: retained, not counted, the
 * position kept; NULL at the root, for another owner, while disabled. */
static void position_payload_is_what_the_position_holds(void)
{
    static const ircache_owner theirs = {NULL, NULL, NULL};
    ircache *c = ircache_new();
    counted *p = counted_array(3);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), NULL); /* no position yet */
    REQUIRE(ircache_insert(c, KEY("a"), "a", &p[0], &counting_owner) == 0);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), &p[0]);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), &p[0]);
    CHECK_INT(p[0].retains, 2);
    CHECK_PTR(ircache_position_payload(c, &theirs), NULL);
    CHECK_PTR(ircache_position_payload(c, NULL), NULL);
    /* The position stayed at a: its successor is found from there. */
    REQUIRE(ircache_insert(c, KEY("b"), "b", &p[1], &counting_owner) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), NULL); /* the root */
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &p[1]);
    CHECK_INT(p[1].retains, 1);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.hits, 2); /* none counted by position_payload */
    /* Another thread stands at the root. */
    pthread_t t;
    void *seen = &p[2];
    start_thread(&t, position_payload_in_a_new_thread, c);
    REQUIRE(pthread_join(t, &seen) == 0);
    CHECK_PTR(seen, NULL);
    /* A replacement: the node holds the new payload. */
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("a"), "a2", &p[2], &counting_owner) == 0);
    CHECK_INT(p[0].releases, 1);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[2]);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), &p[2]);
    REQUIRE(ircache_set_enabled(c, 0) == 0);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), NULL);
    REQUIRE(ircache_set_enabled(c, 1) == 0);
    CHECK_PTR(ircache_position_payload(c, &counting_owner), &p[2]);
    /* From a retain callback, inside the lookup's own section. */
    int n;
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("n"), "n", &n, &asking_owner) == 0);
    ircache_mark_step(c);
    nested_cache = c;
    CHECK_PTR(ircache_lookup(c, KEY("n")), &n);
    CHECK_PTR(nested_seen, &n);
    CHECK_PTR(ircache_position_payload(c, &asking_owner), &n); /* the section was closed */
    ircache_clear(c); /* every position back at the root */
    CHECK_PTR(ircache_position_payload(c, &counting_owner), NULL);
    CHECK_PTR(ircache_position_payload(NULL, &counting_owner), NULL);
    CHECK_CONTAINS(ircache_last_error(), "NULL");
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(p, 3), -1);
    free(p);
}

static void version_matches_header(void)
{
    CHECK_INT(ircache_version_number(), IRCACHE_VERSION_NUMBER);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", IRCACHE_VERSION_MAJOR, IRCACHE_VERSION_MINOR,
             IRCACHE_VERSION_PATCH);
    CHECK_STR(ircache_version(), expected);
}

int main(void)
{
    RUN(single_path_is_reused_over_steps);
    RUN(two_paths_fork_and_are_both_reused);
    RUN(a_miss_leaves_the_position);
    RUN(keys_compare_as_exact_bytes);
    RUN(keys_of_every_length_find_only_themselves_in_a_table);
    RUN(insert_of_an_existing_key_replaces);
    RUN(hit_count_restarts_on_replacement);
    RUN(op_stats_count_inserts_and_reuse_per_label);
    RUN(disabled_cache_neither_finds_nor_stores);
    RUN(ids_count_in_creation_order_across_clears);
    RUN(stats_bytes_grow_with_nodes);
    RUN(a_cleared_cache_holds_no_bytes);
    RUN(wide_nodes_cost_few_bytes_per_successor);
    RUN(owned_lookup_hits_only_that_owners_nodes);
    RUN(position_payload_is_what_the_position_holds);
    RUN(version_matches_header);
    return check_exit_code();
}
