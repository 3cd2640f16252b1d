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
    char *raw;     /* the label as written between the quotes, hits included */
    size_t raw_len;
    char *op;      /* OP with \" \\ \n undone (control pictures kept) */
    size_t op_len;
} dot_node;

typedef struct dot_graph {
    dot_node *nodes;
    size_t n;
} dot_graph;

/* Parses text as the layout of ircache_dump_dot(): "digraph G {", node
 * pairs, "}", each line ending in '\n'; inside a label only \" \\ \n as
 * escapes and no raw control byte. Returns 0, or -1 with a reason in err. */
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

/* The dot program to run: /usr/bin/dot, else dot on PATH; NULL if none. */
const char *find_dot(void);

/* Runs `dot -T<format> -o /dev/null path`. Returns its exit status (or -1
 * when it could not run or died); *stderr_text (when not NULL) gets what it
 * printed on stderr, malloc'd. */
int run_dot(const char *dot, const char *format, const char *path, char **stderr_text);

/* Calls dump(c, path) with the file size limit (RLIMIT_FSIZE) lowered to
 * limit bytes and SIGXFSZ ignored, then restores both; *err gets
 * ircache_last_errno() right after the call. Returns what dump returned. */
int dump_with_file_size_limit(int (*dump)(ircache *, const char *), ircache *c, const char *path,
                              unsigned long limit, int *err);

#endif
