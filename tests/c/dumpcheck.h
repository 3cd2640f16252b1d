/* dumpcheck.h - reading dumps back the way a strict consumer would: a
 * UTF-8 validator, a parser of the DOT layout of include/ircache.h, a small
 * JSON parser, and a runner for Graphviz's dot when it is installed. */
#ifndef IRCACHE_TEST_DUMPCHECK_H
#define IRCACHE_TEST_DUMPCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ircache.h"

/* 1 if s[0..n) is valid UTF-8 by RFC 3629 (no overlong forms, no
 * surrogates, nothing above U+10FFFF); else 0 with *bad_at (when not NULL)
 * set to the offset of the first invalid sequence. */
int utf8_valid(const void *s, size_t n, size_t *bad_at);

/* One node of a DOT dump: the "PARENT -> ID" line and the
 * "ID[label="OP, N hits"]" line after it. */
typedef struct dot_node {
    uint64_t parent, id, hits;
    char *raw;     /* the label as written between the quotes, hits included;
                      the pieces of a long one joined */
    size_t raw_len;
    size_t pieces; /* quoted strings the label was written as ("a" + "b": 2) */
    char *op;      /* OP with \" \\ \n undone (control pictures kept) */
    size_t op_len;
} dot_node;

typedef struct dot_graph {
    dot_node *nodes;
    size_t n;
} dot_graph;

/* Parses text as the layout of ircache_dump_dot(): "digraph G {", node
 * pairs, "}", each line ending in '\n'; inside a label only \" \\ \n as
 * escapes and no raw control byte; a label may be quoted strings joined by
 * " + ", each of at most DOT_PIECE_MAX bytes, the last with the hits
 * (Graphviz refuses a quoted string of 16 KiB). Returns 0, or -1 with a
 * reason in err. */
#define DOT_PIECE_MAX 16000u

/* Line breaks a DOT label writes as \n; later ones are U+2424 (Graphviz
 * 2.43 crashes laying out a label of 32,768 lines). */
#define DOT_LINE_BREAKS_MAX 32000u
int dot_parse(const char *text, size_t len, dot_graph *out, char *err, size_t err_size);
void dot_free(dot_graph *g);

/* The op of a DOT label with the control pictures turned back into the
 * control bytes they stand for (U+2400+c -> c, U+2421 -> 0x7f). malloc'd;
 * *len gets its length. */
char *dot_unpicture(const char *op, size_t op_len, size_t *len);

/* A parsed JSON value. Strings are decoded to UTF-8 bytes; numbers keep
 * their text. */
typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json {
    json_type type;
    int boolean;
    char *str; /* JSON_STRING: decoded bytes; JSON_NUMBER: the literal */
    size_t len;
    struct json **items; /* JSON_ARRAY and JSON_OBJECT values */
    char **keys;         /* JSON_OBJECT member names (decoded, NUL-terminated) */
    size_t n;
} json;

/* Parses a whole JSON document (RFC 8259: one value, whitespace around).
 * Returns the value, or NULL with a reason in err. */
json *json_parse(const char *text, size_t len, char *err, size_t err_size);
void json_free(json *v);

/* The member named key of an object, or NULL. */
const json *json_get(const json *obj, const char *key);

/* 1 and *out when v is a number written as a plain non-negative integer. */
int json_u64(const json *v, uint64_t *out);

/* The Graphviz program to run (dot, nop): /usr/bin/PROGRAM, else PROGRAM
 * on PATH; NULL if none. Points into a buffer the next call reuses. */
const char *find_graphviz(const char *program);
const char *find_dot(void);

/* Runs `PROGRAM -T<format> -o /dev/null path`, or `PROGRAM path` with its
 * output thrown away when format is NULL. Returns its exit status (or -1
 * when it could not run or died); *stderr_text (when not NULL) gets what it
 * printed on stderr, malloc'd. */
int run_graphviz(const char *program, const char *format, const char *path, char **stderr_text);

/* Calls dump(c, path) with the file size limit (RLIMIT_FSIZE) lowered to
 * limit bytes and SIGXFSZ ignored, then restores both; *err gets
 * ircache_last_errno() right after the call. Returns what dump returned. */
int dump_with_file_size_limit(int (*dump)(ircache *, const char *), ircache *c, const char *path,
                              unsigned long limit, int *err);

#endif
