/* model.h - a reference model of one ircache, as include/ircache.h states
 * it, for the fuzz target to check the library against.
 *
 * Written to be obviously right, not fast: nodes sit in one array in
 * creation order, and every question (which successor has this key, which
 * leaf is least recently used, who stands where) is a linear scan. Uses are
 * numbered by one counter for the whole cache, so "most recently used" is
 * the order in which calls were made, whichever thread made them. */
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
    uint64_t last_use;      /* value of the use counter at its last hit or insert */
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
    uint64_t uses;
    uint64_t next_id;
    int enabled;
    ircache_stats stats;    /* bytes not modelled (left 0) */
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
