/* test_node_store.c - the slabs nodes live in go back to the allocator
 * when all their slots are free, whatever the store went through before:
 * checked on the store itself (lib/node.h), where which node sits in which
 * slot is known, and so which slabs can go. Nodes still held keep their
 * bytes; under ASan a slot handed out from a slab given back is an error. */
#define IRCACHE_FAULT_INJECTION 1

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "node.h"

enum { NODES = 40000, KEPT = 17000, KEY_LEN = 16 };

static ircache__node *take(ircache__node_store *s, uint32_t i)
{
    ircache__node *n = ircache__node_alloc(s, KEY_LEN);
    REQUIRE(n != NULL);
    memset(ircache__node_key(n), 0, KEY_LEN);
    memcpy(ircache__node_key(n), &i, sizeof i);
    return n;
}

/* bytes of a store that carved `count` nodes and freed none. */
static uint64_t bytes_for(uint32_t count)
{
    ircache__node_store s;
    memset(&s, 0, sizeof s);
    for (uint32_t i = 0; i < count; i++)
        take(&s, i);
    uint64_t bytes = s.bytes;
    ircache__node_store_release(&s);
    return bytes;
}

/* Every other node freed (no slab empties), the holes filled again (the
 * free list back to nothing), then the slots past KEPT freed: the slabs
 * they fill go, as in a store that only ever carved KEPT nodes. */
static void slabs_emptied_after_a_refill_go_back(void)
{
    ircache__node_store s;
    memset(&s, 0, sizeof s);
    ircache__node **slot = malloc(NODES * sizeof *slot);
    REQUIRE(slot != NULL);
    for (uint32_t i = 0; i < NODES; i++)
        slot[i] = take(&s, i);
    uint64_t full = s.bytes;
    for (uint32_t i = 0; i < NODES; i += 2)
        ircache__node_free(&s, slot[i]);
    CHECK_U64(s.bytes, full); /* every slab keeps a node */
    /* The refill takes the holes, in some order: every address in slot[]
     * holds a node again, and gets its index back as its key. */
    for (uint32_t i = 0; i < NODES; i += 2)
        take(&s, 0);
    CHECK_U64(s.bytes, full);
    for (uint32_t i = 0; i < NODES; i++)
        memcpy(ircache__node_key(slot[i]), &i, sizeof i);
    for (uint32_t i = KEPT; i < NODES; i++)
        ircache__node_free(&s, slot[i]);
    /* Past what KEPT nodes carved alone take, a slab of 64 KiB may hold
     * the last free slots, fewer than the 1,024 that start a sweep. */
    uint64_t reference = bytes_for(KEPT);
    CHECK_MSG(s.bytes <= reference + 2 * 65600, "%u nodes kept in %llu bytes; carved alone they take %llu", KEPT,
              (unsigned long long)s.bytes, (unsigned long long)reference);
    int damaged = 0;
    for (uint32_t i = 0; i < KEPT; i++) {
        uint32_t stored;
        memcpy(&stored, ircache__node_key(slot[i]), sizeof stored);
        damaged += stored != i;
    }
    CHECK_INT(damaged, 0);
    /* What the free list still holds lies in slabs kept: taking it all
     * back writes nowhere else (ASan), and carves nothing new. */
    uint64_t before = s.bytes;
    for (uint32_t i = KEPT; i < NODES; i++)
        slot[i] = take(&s, i);
    CHECK(s.bytes >= before);
    ircache__node_store_release(&s);
    free(slot);
}

/* A key class no node uses any more gives all its slabs back; one that
 * churns through a few nodes keeps its slab. */
static void an_empty_class_gives_its_slabs_back(void)
{
    ircache__node_store s;
    memset(&s, 0, sizeof s);
    ircache__node *kept = ircache__node_alloc(&s, 8);
    REQUIRE(kept != NULL);
    uint64_t one = s.bytes;
    ircache__node *n[200];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++)
            n[i] = take(&s, (uint32_t)i);
        CHECK(s.bytes > one);
        for (int i = 0; i < 200; i++)
            ircache__node_free(&s, n[i]);
        CHECK_U64(s.bytes, one); /* only the other class's slab */
    }
    for (int round = 0; round < 3; round++) {
        ircache__node *few[4];
        for (int i = 0; i < 4; i++)
            few[i] = take(&s, (uint32_t)i);
        uint64_t with_few = s.bytes;
        for (int i = 0; i < 4; i++)
            ircache__node_free(&s, few[i]);
        CHECK_U64(s.bytes, with_few); /* a slab of 16 slots stays */
    }
    ircache__node_free(&s, kept);
    ircache__node_store_release(&s);
}

int main(void)
{
    RUN(slabs_emptied_after_a_refill_go_back);
    RUN(an_empty_class_gives_its_slabs_back);
    return check_exit_code();
}
