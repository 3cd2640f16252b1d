/* successors.c - writer side of the successor index. */
#include "successors.h"

#include <string.h>

#include "alloc.h"
#include "reclaim.h"

#define MIN_TABLE_CAPACITY 4u

/* The multipliers a table may apply to the hash before it takes the top
 * bits (successors.h), tried in turn: keys that step by one counter spread
 * evenly under most, each crowds some (in a simulation over two words
 * stepping by -32..32, none displaced under the first for 52% of the
 * layouts, under the better of the first two 76%, of all three 88%). */
static const uint64_t top_bits_multipliers[] = {1, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull};
#define TOP_BITS_CHOICES (sizeof top_bits_multipliers / sizeof top_bits_multipliers[0])

/* The multiplier of a table that mixes. Fixed, as the others are: a
 * cache's tables, and so its allocations, are the same from run to run
 * (test_faults counts on it), and a lookup costs the same. */
#define MIXING_MULTIPLIER 0xff51afd7ed558ccdull

/* The choices beyond the top-bits multipliers: mixing the linear hash, and
 * the cache's seeded hash, for keys that collide under every other (keys
 * made to: the linear hash is easy to solve). */
#define CHOICE_MIXING TOP_BITS_CHOICES
#define CHOICE_SEEDED (TOP_BITS_CHOICES + 1)

/* What a choice multiplies the hash by K1, K2 by (1 but for the top-bits
 * choices), and its tables' mix (successors.h: 0 but for mixing). */
static uint64_t multiplier_of(size_t choice)
{
    return choice < TOP_BITS_CHOICES ? top_bits_multipliers[choice] : 1;
}

static uint64_t mix_of(size_t choice)
{
    return choice == CHOICE_MIXING ? MIXING_MULTIPLIER : 0;
}

/* 64 - log2(capacity): the hash bits a table of capacity slots drops. */
static unsigned shift_for(uint32_t capacity)
{
    unsigned shift = 64;
    for (uint32_t c2 = capacity; c2 > 1; c2 >>= 1)
        shift--;
    return shift;
}

/* A new table whose slot function is the choice-th top-bits multiplier,
 * mixing or seeded. */
static ircache__succ_table *table_new(ircache *c, uint32_t capacity, size_t choice)
{
    size_t bytes = sizeof(ircache__succ_table) + (size_t)capacity * sizeof(ircache__slot);
    ircache__succ_table *t = ircache__calloc(1, bytes);
    if (t == NULL)
        return NULL;
    t->mask = capacity - 1;
    t->shift = shift_for(capacity);
    uint64_t m = multiplier_of(choice);
    /* The top bits of (hash by K1, K2) * m are those of the hash by K1 * m,
     * K2 * m: one multiply less on the way to the slot. */
    t->k1 = choice == CHOICE_SEEDED ? 0 : IRCACHE__HASH_K1 * m; /* lookup.c reads slot 0 */
    t->k2 = choice == CHOICE_SEEDED ? 0 : IRCACHE__HASH_K2 * m;
    t->mix = mix_of(choice);
    t->seed = choice == CHOICE_SEEDED ? c->hash_seed : 0;
    t->bytes = (uint32_t)bytes;
    c->table_bytes += bytes;
    return t;
}

/* Places child, whose hash in t is hash, in its first free slot from the
 * one the hash starts at. */
static void table_place_hashed(ircache__succ_table *t, ircache__node *child, uint64_t hash)
{
    uint32_t start = ircache__succ_start(t, hash), i = start;
    while (atomic_load_explicit(&t->slots[i & t->mask], memory_order_relaxed) != IRCACHE__SLOT_EMPTY)
        i++;
    atomic_store_explicit(&t->slots[i & t->mask], ircache__slot_make(child, hash), memory_order_release);
    t->used++;
    t->live++;
    t->displaced += i != start;
}

static void table_place(ircache__succ_table *t, ircache__node *child)
{
    table_place_hashed(t, child, ircache__succ_hash(t, ircache__node_key(child), ircache__node_key_len(child), 0));
}

/* How full a table may get (tombstones count: they lengthen probes as
 * entries do). A lookup costs little more than one at a single successor
 * only when its node is in the first slot it reads; in a table 3/8 full,
 * 81% are, 3/16 full 90%, 3/32 full 95%. The others cost a mispredicted
 * branch, which also throws away the work of the lookups the processor had
 * started after it. Measured among 1,536 successors: a lookup took 1.66-1.70
 * times one at a single successor in a table 3/8 full, 1.47-1.52 times in
 * one 3/16 full. So large tables stay at most 3/16 full (43-85 bytes of
 * table per successor); tables of up to 32 slots (forks of up to 12
 * successors, the common ones, whose few lines stay cached) may be 3/8
 * full, and the next size is 128 slots. A node's first table, 4 slots for
 * its first 2 successors, is the exception that keeps the commonest fork
 * small. */
#define SMALL_TABLE_CAPACITY 32u

static int within_load(uint64_t entries, uint64_t capacity)
{
    return entries * (capacity <= SMALL_TABLE_CAPACITY ? 8u : 16u) <= capacity * 3u;
}

/* At most 2^30 slots, so that slot counts fit 32 bits. */
#define MAX_TABLE_CAPACITY ((uint32_t)1 << 30)

/* Capacity for `live` entries at half the maximum load, so that as many
 * inserts as a rebuild moved come before the next (a large table that only
 * grows doubles), and so with room for one more (2 * live >= live + 1 when
 * live >= 1; an empty table's 4 slots hold one); 0 past MAX_TABLE_CAPACITY. */
static uint32_t capacity_for(uint32_t live)
{
    uint64_t capacity = MIN_TABLE_CAPACITY;
    while (!within_load(2 * (uint64_t)live, capacity))
        capacity *= 2;
    return capacity <= MAX_TABLE_CAPACITY ? (uint32_t)capacity : 0;
}

/* Few enough displaced keys to stop looking for a better slot function. */
static int spread_well(uint32_t displaced, uint32_t live)
{
    return (uint64_t)displaced * 64 <= live;
}

/* More displaced keys than about twice what random keys give at the most
 * a table gets (3/16 full: 9%), with room for a few in small tables. */
static int crowded(uint32_t displaced, uint32_t live)
{
    return (uint64_t)displaced * 6 > (uint64_t)live + 48;
}

/* Inserts may crowd a table later (the keys that chose its slot function
 * were fewer): it is then built again, mixing, or seeded if mixing would
 * crowd it too. A seeded table is left as it is. */
static int crowded_since(const ircache__succ_table *t)
{
    return t->seed == 0 && crowded(t->displaced, t->live);
}

/* How many of the keys whose hashes (by K1, K2) are hash[0..n) a table of
 * mask + 1 slots would place beyond their first slot under `choice`,
 * found by placing them in a bitmap: a table's hash under a top-bits
 * multiplier m is m times that hash (successors.h), so nothing else is
 * read. occupied: room for mask + 1 bits. */
static uint32_t displaced_under(const uint64_t *hash, uint32_t n, uint32_t mask, unsigned shift, size_t choice,
                                uint64_t *occupied)
{
    memset(occupied, 0, ((size_t)mask / 64 + 1) * sizeof *occupied);
    uint32_t displaced = 0;
    /* Stops once the table is crowded: keys that all collide would take
     * time quadratic in their number to place. */
    for (uint32_t k = 0; k < n && !crowded(displaced, n); k++) {
        uint32_t start = ircache__slot_start(hash[k] * multiplier_of(choice), mix_of(choice), shift) & mask;
        uint32_t i = start;
        while (occupied[i / 64] >> (i % 64) & 1)
            i = (i + 1) & mask;
        occupied[i / 64] |= (uint64_t)1 << (i % 64);
        displaced += i != start;
    }
    return displaced;
}

/* Of the slot functions, the one that displaces fewest of the n keys
 * whose hashes (by K1, K2) are hash[0..n) in a table of mask + 1 slots:
 * the top-bits multipliers in turn (unless may_keep_top_bits is 0), then
 * mixing, stopping at one that spreads them well; the seeded hash if even
 * the best crowds the table (keys that collide in all 64 bits, as keys
 * made to would). Which one depends on the keys alone, so that a cache's
 * allocations are the same from run to run (test_faults counts on it).
 * occupied: room for mask + 1 bits. */
static size_t best_choice(const uint64_t *hash, uint32_t n, uint32_t mask, unsigned shift, int may_keep_top_bits,
                          uint64_t *occupied)
{
    uint32_t fewest = UINT32_MAX;
    size_t best = CHOICE_MIXING;
    for (size_t choice = may_keep_top_bits ? 0 : CHOICE_MIXING; choice <= CHOICE_MIXING; choice++) {
        uint32_t displaced = displaced_under(hash, n, mask, shift, choice, occupied);
        if (displaced < fewest) {
            fewest = displaced;
            best = choice;
        }
        if (spread_well(fewest, n))
            break;
    }
    return crowded(fewest, n) ? CHOICE_SEEDED : best;
}

/* old's entries in a new table of capacity slots, under the best slot
 * function for them (may_keep_top_bits 0: not the top bits, which crowded
 * the table since it was built). Each key is read and hashed once: its
 * hash under any choice but the seeded one follows from the one by K1, K2.
 * NULL when out of memory. */
static ircache__succ_table *table_rebuilt(ircache *c, const ircache__succ_table *old, uint32_t capacity,
                                          int may_keep_top_bits)
{
    uint32_t mask = capacity - 1, n = 0;
    ircache__node **nodes = ircache__malloc((size_t)old->live * sizeof *nodes);
    uint64_t *hash = ircache__malloc((size_t)old->live * sizeof *hash);
    uint64_t *occupied = ircache__malloc(((size_t)mask / 64 + 1) * sizeof *occupied);
    ircache__succ_table *t = NULL;
    if (nodes == NULL || hash == NULL || occupied == NULL)
        goto out;
    for (uint32_t i = 0; i <= old->mask && n < old->live; i++) {
        ircache__slot v = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
        if (v != IRCACHE__SLOT_EMPTY && v != IRCACHE__SLOT_TOMBSTONE) {
            nodes[n] = ircache__slot_node(v);
            hash[n] = ircache__hash(ircache__node_key(nodes[n]), ircache__node_key_len(nodes[n]), IRCACHE__HASH_K1,
                                    IRCACHE__HASH_K2, 0);
            n++;
        }
    }
    unsigned shift = shift_for(capacity);
    /* Keys that collided under every other choice once still do. */
    size_t choice = old->seed != 0 ? CHOICE_SEEDED : best_choice(hash, n, mask, shift, may_keep_top_bits, occupied);
    t = table_new(c, capacity, choice);
    if (t == NULL)
        goto out;
    uint64_t m = multiplier_of(choice);
    for (uint32_t k = 0; k < n; k++) {
        if (choice == CHOICE_SEEDED)
            table_place(t, nodes[k]);
        else
            table_place_hashed(t, nodes[k], hash[k] * m);
    }
out:
    ircache__free(nodes);
    ircache__free(hash);
    ircache__free(occupied);
    return t;
}

static void publish_table(ircache__node *parent, ircache__succ_table *t)
{
    atomic_store_explicit(&parent->succ, (uintptr_t)t | IRCACHE__SUCC_TABLE_BIT, memory_order_release);
}

/* Replaces parent's table t by its entries rebuilt at capacity (as
 * table_rebuilt); t goes once no reader can see it. 0, or -1 when out of
 * memory (t stays). */
static int rebuild_table(ircache *c, ircache__node *parent, ircache__succ_table *t, uint32_t capacity,
                         int may_keep_top_bits)
{
    ircache__succ_table *rebuilt = table_rebuilt(c, t, capacity, may_keep_top_bits);
    if (rebuilt == NULL)
        return -1;
    publish_table(parent, rebuilt);
    ircache__retire_table(c, t);
    return 0;
}

int ircache__succ_reserve(ircache *c, ircache__node *parent)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    if (s == 0)
        return 0;
    if (t == NULL) {
        /* One direct successor: the second needs a table. */
        t = table_new(c, MIN_TABLE_CAPACITY, 0);
        if (t == NULL)
            return IRCACHE_ENOMEM;
        table_place(t, (ircache__node *)s);
        publish_table(parent, t);
        return 0;
    }
    int crowded = crowded_since(t), fits = within_load((uint64_t)t->used + 1, (uint64_t)t->mask + 1);
    if (!crowded && fits)
        return 0;
    uint32_t capacity = capacity_for(t->live);
    if (capacity == 0 || rebuild_table(c, parent, t, capacity, !crowded) != 0)
        return crowded && fits ? 0 : IRCACHE_ENOMEM; /* a crowded table with room left still takes one more */
    return 0;
}

void ircache__succ_add(ircache__node *parent, ircache__node *child)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    if (s == 0) {
        atomic_store_explicit(&parent->succ, (uintptr_t)child, memory_order_release);
        return;
    }
    table_place(ircache__succ_as_table(s), child);
}

/* A table with eight times the slots it would be built with for its
 * entries is rebuilt at that size, so that a node whose successors were
 * mostly evicted holds no more than its successors need. Its next growth
 * is then twice as many successors away, its next shrink seven eighths of
 * them: each rebuild is paid by as many removals or inserts. Without
 * memory it stays as it is. */
static void shrink_if_sparse(ircache *c, ircache__node *parent, ircache__succ_table *t)
{
    /* capacity_for gives more than five slots an entry, so that only a
     * table with more than 42 an entry can shrink: the common case is
     * ruled out without its loop. */
    if ((uint64_t)t->live * 42u >= (uint64_t)t->mask + 1u)
        return;
    uint32_t capacity = capacity_for(t->live);
    if (capacity != 0 && (uint64_t)capacity * 8u <= (uint64_t)t->mask + 1u)
        (void)rebuild_table(c, parent, t, capacity, !crowded_since(t));
}

void ircache__succ_remove(ircache *c, ircache__node *parent, ircache__node *child)
{
    uintptr_t s = atomic_load_explicit(&parent->succ, memory_order_relaxed);
    ircache__succ_table *t = ircache__succ_as_table(s);
    if (t == NULL) {
        atomic_store_explicit(&parent->succ, 0, memory_order_release);
        return;
    }
    uint32_t start = ircache__succ_start(
        t, ircache__succ_hash(t, ircache__node_key(child), ircache__node_key_len(child), 0));
    uint32_t i = start;
    for (;; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i & t->mask], memory_order_relaxed);
        if (v != IRCACHE__SLOT_TOMBSTONE && ircache__slot_node(v) == child)
            break;
    }
    atomic_store_explicit(&t->slots[i & t->mask], IRCACHE__SLOT_TOMBSTONE, memory_order_release);
    /* As table_place_hashed counted it: a table that only churns is not
     * taken for a crowded one (crowded_since). */
    t->displaced -= i != start;
    if (--t->live > 1) {
        shrink_if_sparse(c, parent, t);
        return;
    }
    /* Back to the direct form: the table goes once no reader can see it. */
    ircache__node *last = NULL;
    for (uint32_t j = 0; t->live == 1 && j <= t->mask; j++) {
        ircache__slot v = atomic_load_explicit(&t->slots[j], memory_order_relaxed);
        if (v != IRCACHE__SLOT_EMPTY && v != IRCACHE__SLOT_TOMBSTONE)
            last = ircache__slot_node(v);
    }
    atomic_store_explicit(&parent->succ, (uintptr_t)last, memory_order_release);
    ircache__retire_table(c, t);
}

void ircache__succ_free_detached(ircache__node *n)
{
    ircache__free(ircache__succ_as_table(atomic_load_explicit(&n->succ, memory_order_relaxed)));
}

ircache__node *ircache__succ_probe(const ircache__succ_table *t, const void *key, uint32_t len,
                                   uint64_t hash)
{
    ircache__slot tag = ircache__slot_tag(hash);
    for (uint32_t i = ircache__succ_start(t, hash);; i++) {
        ircache__slot v = atomic_load_explicit(&t->slots[i & t->mask], memory_order_acquire);
        if (ircache__slot_tag_matches(v, tag)) {
            ircache__node *n = ircache__slot_tagged_node(v);
            if (ircache__node_key_equals(n, key, len, 0))
                return n;
        } else if (v == IRCACHE__SLOT_EMPTY) {
            return NULL;
        } else if (ircache__slot_untagged(v) && ircache__node_key_equals((ircache__node *)v, key, len, 0)) {
            return (ircache__node *)v;
        }
    }
}
