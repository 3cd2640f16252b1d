/* model.h - a reference model of one ircache, as include/ircache.h states
 * it, for the fuzz target to check the library against.
 *
 * Written to be obviously right, not fast: nodes sit in one array in
 * creation order, and every question (which successor has this key, which
 * leaf is least recently used, who stands where) is a linear scan.
 *
 * Recency is what include/ircache.h ("Threads") promises: exact within a
 * thread, and across threads when a step mark of the thread that used
 * first, an insert, a clear or that thread's exit comes between the uses;
 * lookups of two threads with none of those between are ordered by each
 * thread's own clock. As stamps:
 *   - every thread has a clock, the cache has a shared clock C;
 *   - a hit or an insert by thread T stamps the node with
 *     s = max(T's clock, C, the node's stamp) + 1, and T's clock becomes s;
 *   - a step mark of T raises C to T's clock (publishes T's uses) while
 *     another thread has a position in the cache; a thread alone there
 *     publishes nothing, and the arrival of a second thread (its first
 *     lookup or insert with valid arguments, even on a disabled cache: the
 *     library gives it a position then) raises C to every thread's clock;
 *   - an insert raises C to every thread's clock before it stamps, and to
 *     T's clock after; a clear raises C to every thread's clock;
 *   - T's exit raises C to T's clock; a new thread's clock starts at C.
 * Dumps list successors by stamp, highest first, equal stamps by id, higher
 * first. Eviction takes an unpinned leaf of the lowest stamp. Two leaves
 * have the same stamp only when two threads stamped them with nothing
 * between to order the uses: either may go first (see model.library_has). */
#ifndef IRCACHE_FUZZ_MODEL_H
#define IRCACHE_FUZZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ircache.h"

/* Threads whose positions the model keeps (thread 0 is the caller's). */
#define MODEL_THREADS 2

/* Labels the fuzz target inserts with: the bytes given to ircache_insert
 * (NULL allowed), the op stats name they intern as, and how a DOT and a
 * JSON dump must write them (include/ircache.h: quote and backslash
 * escaped, a newline as \n, other controls as control pictures in DOT,
 * invalid UTF-8 as U+FFFD). */
typedef struct model_label {
    const char *bytes;
    const char *name;
    const char *dot;
    const char *json;
} model_label;

extern const model_label model_labels[];
extern const size_t model_label_count;

typedef struct model_node {
    uint64_t id;            /* 0 for the root */
    size_t parent;          /* index in nodes; the root's is its own */
    unsigned char *key;
    size_t key_len;
    size_t label;           /* index in model_labels */
    int owner;              /* the fuzz target's owner number */
    void *payload;
    uint64_t hits;
    uint64_t stamp;         /* its last hit or insert, as the rule above stamps it */
    size_t children;        /* live successors */
    int alive;
} model_node;

typedef struct model_op {
    size_t label;           /* first label inserted with this name */
    uint64_t inserts, reused;
} model_op;

typedef struct model {
    model_node *nodes;      /* nodes[0] is the root */
    size_t node_count, node_capacity;
    size_t position[MODEL_THREADS];
    model_op *ops;          /* in the order names were first inserted */
    size_t op_count, op_capacity;
    void **dropped;         /* payloads dropped by the current call */
    size_t dropped_count, dropped_capacity;
    uint64_t clock;                       /* the cache's shared clock C */
    uint64_t thread_clock[MODEL_THREADS]; /* each thread's clock */
    int has_position[MODEL_THREADS];      /* looked up or inserted since it started */
    uint64_t next_id;
    int enabled;
    ircache_stats stats;    /* bytes not modelled (left 0) */
    /* Asked only when an eviction meets two leaves of the same stamp
     * (which the header leaves unordered): 1 when the library still holds
     * the node of this id after the call being mirrored. The model then
     * takes the order of the library's choice, if any order of least
     * recently used leaves gives what the library kept. NULL: ties go to
     * the lower id. */
    int (*library_has)(void *ctx, uint64_t id);
    void *library_ctx;
} model;

void model_init(model *m);
void model_destroy(model *m);

/* Each call mirrors one library call. Payloads the call drops are listed
 * in m->dropped (emptied at the start of every call). */

/* want_owner < 0: ircache_lookup; otherwise ircache_lookup_owned with that
 * owner. Returns the payload the library must return (or NULL). */
void *model_lookup(model *m, int thread, const void *key, size_t key_len, int want_owner);

/* Returns what ircache_insert must return: 0 or IRCACHE_EDISABLED. */
int model_insert(model *m, int thread, const void *key, size_t key_len, size_t label, int owner,
                 void *payload);

void model_mark_step(model *m, int thread);
void model_clear(model *m);
void model_set_max_nodes(model *m, uint64_t max_nodes);
void model_set_enabled(model *m, int enabled);

/* The thread ended: its position is gone. */
void model_thread_exit(model *m, int thread);

/* ircache_free: every payload held is dropped. */
void model_free_all(model *m);

/* The dumps the library must write, as malloc'd NUL-terminated text. */
char *model_dot(const model *m);
char *model_json(const model *m);

#endif
