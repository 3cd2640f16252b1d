/* test_dump.c - ircache_dump_dot(), ircache_dump_json() and ircache_dump():
 * PyTorch's exact DOT layout (against a dump PyTorch wrote), successors
 * most recently used first, labels that any bytes cannot break, the JSON
 * document, and the file rules (whole or nothing, modes, symlinks,
 * non-regular files, odd path names). */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dumpcheck.h"
#include "ircache.h"
#include "support.h"

typedef int (*dump_fn)(ircache *, const char *);

/* The whole dump of c as text (dump is ircache_dump_dot or _json). */
static char *dump_text(ircache *c, dump_fn dump, size_t *len)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "dump.out");
    int rc = dump(c, path);
    CHECK_MSG(rc == 0, "dump failed: %d %s", rc, ircache_last_error());
    char *text = read_file(path, len);
    REQUIRE(text != NULL);
    free(path);
    remove_temp_dir(dir);
    return text;
}

/* ---- PyTorch's layout --------------------------------------------------- */

#define DD "lazy_tensors::device_data"
#define NORMAL "aten::normal_functional"

/* Six training steps of a small model as PyTorch's lazy tensor core traced
 * them; the reference dump was written after the sixth. The order is read
 * off the reference: ids are creation order, and a node's hits are the
 * lookups that found it after it was made.
 *   step 1 creates 1..12 (weight init: device_data, normal_functional, ...)
 *   step 2 hits 1, then forks under it and creates 13..22
 *   step 3 misses at the root and creates 23..31
 *   step 4 hits 23..28, forks under 28 and creates 32 (mul), 33 (sum)
 *   steps 5 and 6 hit 23..31, so 29 is 28's most recently used successor. */
static const char *const step1[] = {DD,          NORMAL, DD,          NORMAL,
                                    "aten::mm",  "aten::relu", DD, DD,
                                    "aten::add", DD,          "aten::mul", "aten::sum"};
static const char *const step2[] = {DD, DD,          "aten::mm", "aten::relu", DD,        DD,
                                    "aten::add",    DD,          DD,         "aten::sub", "aten::sum"};
static const char *const step3[] = {"aten::mm", "aten::relu", DD,         DD,         "aten::add",
                                    DD,         DD,           "aten::sub", "aten::sum"};
static const char *const step4[] = {"aten::mm", "aten::relu", DD,         DD,
                                    "aten::add", DD,          "aten::mul", "aten::sum"};

typedef struct runtime {
    ircache *c;
    counted *made;
    size_t n_made, cap;
} runtime;

/* One step as a runtime traces it: reuse on a hit, else make the node and
 * insert it (the key is the op: siblings never share an op here). Returns
 * the number of reused nodes. */
static int trace_step(runtime *rt, const char *const *ops, size_t n)
{
    int reused = 0;
    for (size_t i = 0; i < n; i++) {
        counted *hit = ircache_lookup(rt->c, KEY(ops[i]));
        if (hit != NULL) {
            reused++;
            continue;
        }
        REQUIRE(rt->n_made < rt->cap);
        REQUIRE(ircache_insert(rt->c, KEY(ops[i]), ops[i], &rt->made[rt->n_made++],
                               &counting_owner) == 0);
    }
    ircache_mark_step(rt->c);
    return reused;
}

static void build_reference_trie(runtime *rt)
{
    CHECK_INT(trace_step(rt, step1, sizeof step1 / sizeof *step1), 0);
    CHECK_INT(trace_step(rt, step2, sizeof step2 / sizeof *step2), 1);
    CHECK_INT(trace_step(rt, step3, sizeof step3 / sizeof *step3), 0);
    CHECK_INT(trace_step(rt, step4, sizeof step4 / sizeof *step4), 6);
    CHECK_INT(trace_step(rt, step3, sizeof step3 / sizeof *step3), 9);
    CHECK_INT(trace_step(rt, step3, sizeof step3 / sizeof *step3), 9);
}

static char *reference_bytes(size_t *len)
{
    const char *path = getenv("IRCACHE_REFERENCE_DOT");
    REQUIRE(path != NULL && *path);
    char *text = read_file(path, len);
    CHECK_MSG(text != NULL, "cannot read the reference dump %s", path);
    REQUIRE(text != NULL);
    return text;
}

/* The copy committed in tests/data is the file PyTorch wrote: compare it
 * with the original where the original is at hand. */
static void reference_copy_matches_the_original(void)
{
    const char *original = getenv("IRCACHE_SHARED_REFERENCE_DOT");
    size_t copy_len, orig_len;
    char *copy = reference_bytes(&copy_len);
    char *orig = original != NULL ? read_file(original, &orig_len) : NULL;
    if (orig == NULL) {
        fprintf(stderr, "note: %s not found; the committed copy is not compared with it\n",
                original ? original : "(IRCACHE_SHARED_REFERENCE_DOT unset)");
    } else {
        CHECK_MSG(copy_len == orig_len && memcmp(copy, orig, copy_len) == 0,
                  "tests/data copy differs from %s", original);
    }
    free(copy);
    free(orig);
}

static void dot_layout_matches_pytorch_byte_for_byte(void)
{
    size_t ref_len, got_len;
    char *ref = reference_bytes(&ref_len);
    ircache *c = ircache_new();
    runtime rt = {c, counted_array(64), 0, 64};
    build_reference_trie(&rt);
    CHECK_U64(rt.n_made, 33);
    CHECK_U64(stats_of(c).nodes, 33);
    char *got = dump_text(c, ircache_dump_dot, &got_len);
    CHECK_MSG(got_len == ref_len && memcmp(got, ref, ref_len) == 0,
              "the dump differs from the reference:\n--- got (%zu bytes)\n%s--- reference (%zu "
              "bytes)\n%s",
              got_len, got, ref_len, ref);
    /* Dumping changes nothing: a second dump is the same. */
    size_t again_len;
    char *again = dump_text(c, ircache_dump_dot, &again_len);
    CHECK(again_len == got_len && memcmp(again, got, got_len) == 0);
    free(again);
    free(got);
    free(ref);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(rt.made, rt.n_made), -1);
    free(rt.made);
}

/* ---- most recently used first ------------------------------------------- */

static void check_dot(ircache *c, const char *expected)
{
    char *got = dump_text(c, ircache_dump_dot, NULL);
    CHECK_STR(got, expected);
    free(got);
}

/* A new cache whose root has n successors, "a", "b", ... holding p[0],
 * p[1], ..., inserted in that order, a step apart. */
static ircache *cache_with_siblings(counted *p, int n)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    for (int i = 0; i < n; i++) {
        const char key[2] = {(char)('a' + i), '\0'};
        REQUIRE(ircache_insert(c, KEY(key), key, &p[i], &counting_owner) == 0);
        ircache_mark_step(c);
    }
    return c;
}

static void *lookup_a_from_another_thread(void *arg)
{
    ircache *c = arg;
    /* This thread's position starts at the root: it sees the shared trie. */
    return ircache_lookup(c, KEY("a"));
}

static void successors_are_listed_most_recently_used_first(void)
{
    counted *p = counted_array(8);
    ircache *c = cache_with_siblings(p, 3);
    /* Freshly inserted: the newest first. */
    check_dot(c, "digraph G {\n"
                 "0 -> 3\n3[label=\"c, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 0 hits\"]\n"
                 "0 -> 1\n1[label=\"a, 0 hits\"]\n"
                 "}\n");

    /* A lookup of the oldest moves it to the front. */
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n"
                 "0 -> 1\n1[label=\"a, 1 hits\"]\n"
                 "0 -> 3\n3[label=\"c, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 0 hits\"]\n"
                 "}\n");

    /* The same rule one level down: x then y under a, then x used again. */
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    REQUIRE(ircache_insert(c, KEY("x"), "x", &p[3], &counting_owner) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    REQUIRE(ircache_insert(c, KEY("y"), "y", &p[4], &counting_owner) == 0);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n"
                 "0 -> 1\n1[label=\"a, 3 hits\"]\n"
                 "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                 "1 -> 4\n4[label=\"x, 0 hits\"]\n"
                 "0 -> 3\n3[label=\"c, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 0 hits\"]\n"
                 "}\n");
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    CHECK_PTR(ircache_lookup(c, KEY("x")), &p[3]);
    ircache_mark_step(c);
    /* A miss uses nothing: the order stays. */
    CHECK_PTR(ircache_lookup(c, KEY("zzz")), NULL);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n"
                 "0 -> 1\n1[label=\"a, 4 hits\"]\n"
                 "1 -> 4\n4[label=\"x, 1 hits\"]\n"
                 "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                 "0 -> 3\n3[label=\"c, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 0 hits\"]\n"
                 "}\n");

    /* b is used, then c is replaced (an insert uses the node; its hits
     * restart at 0 and its label changes). */
    CHECK_PTR(ircache_lookup(c, KEY("b")), &p[1]);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("c"), "c2", &p[5], &counting_owner) == 0);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n"
                 "0 -> 3\n3[label=\"c2, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 1 hits\"]\n"
                 "0 -> 1\n1[label=\"a, 4 hits\"]\n"
                 "1 -> 4\n4[label=\"x, 1 hits\"]\n"
                 "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                 "}\n");

    /* The trie is shared: a lookup on another thread moves a to the front. */
    pthread_t t;
    void *got;
    REQUIRE(pthread_create(&t, NULL, lookup_a_from_another_thread, c) == 0);
    REQUIRE(pthread_join(t, &got) == 0);
    CHECK_PTR(got, &p[0]);
    check_dot(c, "digraph G {\n"
                 "0 -> 1\n1[label=\"a, 5 hits\"]\n"
                 "1 -> 4\n4[label=\"x, 1 hits\"]\n"
                 "1 -> 5\n5[label=\"y, 0 hits\"]\n"
                 "0 -> 3\n3[label=\"c2, 0 hits\"]\n"
                 "0 -> 2\n2[label=\"b, 1 hits\"]\n"
                 "}\n");
    ircache_free(c);
    CHECK_INT(counted_total_releases(p, 6), 6);
    free(p);
}

static void *lookup_b_from_another_thread(void *arg)
{
    return ircache_lookup(arg, KEY("b"));
}

/* A thread alone in a cache need not publish its clock at step marks; the
 * next thread to arrive must still use nodes after everything the first one
 * used before it arrived. a's hits come after b's insert, so b's stamp
 * taken from the last insert alone would leave b behind a. Twice: the first
 * thread is alone again once the second has gone. */
static void a_new_thread_uses_nodes_after_the_lone_thread(void)
{
    counted *p = counted_array(2);
    ircache *c = cache_with_siblings(p, 2);
    for (int round = 1; round <= 2; round++) {
        for (int i = 0; i < 3; i++) {
            CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
            ircache_mark_step(c);
        }
        pthread_t t;
        void *got;
        REQUIRE(pthread_create(&t, NULL, lookup_b_from_another_thread, c) == 0);
        REQUIRE(pthread_join(t, &got) == 0);
        CHECK_PTR(got, &p[1]);
        char expected[160];
        snprintf(expected, sizeof expected,
                 "digraph G {\n0 -> 2\n2[label=\"b, %d hits\"]\n0 -> 1\n1[label=\"a, %d hits\"]\n}\n",
                 round, 3 * round);
        check_dot(c, expected);
    }
    ircache_free(c);
    CHECK_INT(counted_total_releases(p, 2), 2);
    free(p);
}

static void *use_b_three_times(void *arg)
{
    void *got = NULL;
    for (int i = 0; i < 3; i++) {
        got = ircache_lookup(arg, KEY("b"));
        ircache_mark_step(arg);
    }
    return got;
}

/* A thread that leaves publishes its clock, and the thread it leaves alone
 * stamps from its own clock only once it has caught up with that one: a's
 * single hit, after the other thread has gone, comes after b's three there,
 * though this thread's own clock is behind them. */
static void a_thread_left_alone_uses_nodes_after_the_departed_one(void)
{
    counted *p = counted_array(2);
    ircache *c = cache_with_siblings(p, 2);
    pthread_t t;
    void *got;
    REQUIRE(pthread_create(&t, NULL, use_b_three_times, c) == 0);
    REQUIRE(pthread_join(t, &got) == 0);
    CHECK_PTR(got, &p[1]);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n0 -> 1\n1[label=\"a, 1 hits\"]\n0 -> 2\n2[label=\"b, 3 hits\"]\n}\n");
    /* Caught up: its next uses keep their order too. */
    CHECK_PTR(ircache_lookup(c, KEY("b")), &p[1]);
    ircache_mark_step(c);
    check_dot(c, "digraph G {\n0 -> 2\n2[label=\"b, 4 hits\"]\n0 -> 1\n1[label=\"a, 1 hits\"]\n}\n");
    ircache_free(c);
    CHECK_INT(counted_total_releases(p, 2), 2);
    free(p);
}

/* ---- labels that try to break the file ---------------------------------- */

/* expect is the label as written between the quotes (", 0 hits" left
 * out); '@' in it stands for one or more U+FFFD, since the header does not
 * say how many replacement characters one invalid sequence becomes. */
typedef struct label_case {
    const char *op;
    const char *expect;
} label_case;

static const label_case label_cases[] = {
    {"say \"hi\"", "say \\\"hi\\\""},
    {"\"", "\\\""},
    {"back\\slash\\", "back\\\\slash\\\\"},
    {"two\nlines\n", "two\\nlines\\n"},
    {"tab\there", "tab\xe2\x90\x89here"},                         /* U+2409 */
    {"soh\x01", "soh\xe2\x90\x81"},                               /* U+2401 */
    {"\x1b[31mred\x1b[0m", "\xe2\x90\x9b[31mred\xe2\x90\x9b[0m"}, /* U+241B */
    {"del\x7f", "del\xe2\x90\xa1"},                               /* U+2421 */
    {"cr\r us\x1f", "cr\xe2\x90\x8d us\xe2\x90\x9f"},             /* U+240D, U+241F */
    {"caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80"},
    {"\xef\xbb\xbf" "bom", "\xef\xbb\xbf" "bom"},
    {"a, 5 hits", "a, 5 hits"},
    {"lone ff\xff!", "lone ff@!"},
    {"truncated\xe2\x82!", "truncated@!"},
    {"truncated at the end\xe2\x82", "truncated at the end@"},
    {"overlong\xc0\xaf!", "overlong@!"},
    {"overlong3\xe0\x80\xaf!", "overlong3@!"},
    {"surrogate\xed\xa0\x80!", "surrogate@!"},
    {"above max\xf4\x90\x80\x80!", "above max@!"},
    {"f5\xf5\x80\x80\x80!", "f5@!"},
    {"continuations\x80\xbf!", "continuations@!"},
    {"\xe2\x82\"", "@\\\""},
    {"\xe2\\", "@\\\\"},
    {"\xe2\n", "@\\n"},
    {"\xe2\t", "@\xe2\x90\x89"},
    {"\xf0\x9f\x98x", "@x"},
    {"\xc3\xa9\xff\xe6\xbc\xa2", "\xc3\xa9@\xe6\xbc\xa2"},
    {"\xc3", "@"},
    {"nel\xc2\x85.", "nel\\n."},                            /* U+0085 */
    {"ls\xe2\x80\xa8ps\xe2\x80\xa9", "ls\\nps\\n"},          /* U+2028, U+2029 */
    {"c1 \xc2\x80\xc2\x9b[31m", "c1 @[31m"},                   /* U+0080, U+009B */
    {"nbsp\xc2\xa0 \xe2\x80\xa7", "nbsp\xc2\xa0 \xe2\x80\xa7"},    /* U+00A0, U+2027 stay */
    {"", ""},
    {NULL, ""},
};

#define N_LABEL_CASES (sizeof label_cases / sizeof *label_cases)

/* Does raw[0..len) match expect, where '@' is one or more U+FFFD? */
static int label_matches(const char *expect, const char *raw, size_t len)
{
    static const char fffd[] = "\xef\xbf\xbd";
    size_t i = 0;
    for (const char *e = expect; *e; e++) {
        if (*e == '@') {
            if (len - i < 3 || memcmp(raw + i, fffd, 3) != 0)
                return 0;
            while (len - i >= 3 && memcmp(raw + i, fffd, 3) == 0)
                i += 3;
            continue;
        }
        if (i == len || raw[i] != *e)
            return 0;
        i++;
    }
    return i == len;
}

/* Long labels cross the writer's buffers: every byte escaped, and every
 * byte invalid. */
#define LONG_LABEL 100000

/* A long label in which every length of escaped unit (a plain byte, an
 * escape, characters of two, three and four bytes) meets the end of a
 * piece somewhere (lib/escape.h). */
static const char *long_mixed(void)
{
    static const char units[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"";
    static char text[LONG_LABEL + 1];
    size_t n = LONG_LABEL - LONG_LABEL % (sizeof units - 1);
    for (size_t i = 0; i < n; i++)
        text[i] = units[i % (sizeof units - 1)];
    text[n] = '\0';
    return text;
}

/* One plain byte, then quotes: escapes of two bytes at odd offsets, so
 * that a piece of an even size would end inside one. */
static const char *long_odd_quotes(void)
{
    static char text[LONG_LABEL / 4 + 2];
    text[0] = 'x';
    memset(text + 1, '"', LONG_LABEL / 4);
    text[LONG_LABEL / 4 + 1] = '\0';
    return text;
}

static ircache *tricky_cache(counted **payloads, char **long_quotes, char **long_invalid)
{
    ircache *c = ircache_new();
    *payloads = counted_array(N_LABEL_CASES + 4);
    for (size_t i = 0; i < N_LABEL_CASES; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        REQUIRE(ircache_insert(c, KEY(key), label_cases[i].op, &(*payloads)[i],
                               &counting_owner) == 0);
        ircache_mark_step(c);
    }
    *long_quotes = malloc(LONG_LABEL + 1);
    *long_invalid = malloc(LONG_LABEL + 1);
    REQUIRE(*long_quotes != NULL && *long_invalid != NULL);
    for (size_t i = 0; i < LONG_LABEL; i++) {
        (*long_quotes)[i] = "\"\\\n"[i % 3];
        (*long_invalid)[i] = (char)0xff;
    }
    (*long_quotes)[LONG_LABEL] = (*long_invalid)[LONG_LABEL] = '\0';
    REQUIRE(ircache_insert(c, KEY("long quotes"), *long_quotes, &(*payloads)[N_LABEL_CASES],
                           &counting_owner) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("long invalid"), *long_invalid,
                           &(*payloads)[N_LABEL_CASES + 1], &counting_owner) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("long mixed"), long_mixed(), &(*payloads)[N_LABEL_CASES + 2],
                           &counting_owner) == 0);
    ircache_mark_step(c);
    REQUIRE(ircache_insert(c, KEY("long odd quotes"), long_odd_quotes(),
                           &(*payloads)[N_LABEL_CASES + 3], &counting_owner) == 0);
    ircache_mark_step(c);
    return c;
}

static const dot_node *node_with_id(const dot_graph *g, uint64_t id)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->nodes[i].id == id)
            return &g->nodes[i];
    return NULL;
}

static void check_graphviz_parses(const char *path)
{
    const char *nop = find_graphviz("nop");
    if (nop == NULL) {
        fprintf(stderr, "note: Graphviz nop not found; the dump is not parsed by it\n");
        return;
    }
    char *err = NULL;
    int status = run_graphviz(nop, NULL, path, &err);
    CHECK_MSG(status == 0, "%s %s exited with %d: %s", nop, path, status, err ? err : "");
    free(err);
}

static void check_dot_accepts(const char *path)
{
    const char *dot = find_dot();
    if (dot == NULL) {
        fprintf(stderr, "note: Graphviz dot not found; the dump is not run through it\n");
        return;
    }
    static const char *const formats[] = {"svg", "canon"};
    for (size_t i = 0; i < 2; i++) {
        char *err = NULL;
        int status = run_graphviz(dot, formats[i], path, &err);
        CHECK_MSG(status == 0, "%s -T%s %s exited with %d: %s", dot, formats[i], path, status,
                  err ? err : "");
        if (status == 0 && err != NULL && *err)
            fprintf(stderr, "note: dot -T%s said: %s\n", formats[i], err);
        free(err);
    }
}

/* A line break of a DOT label once unescaped: a newline, or U+2424 past
 * DOT_LINE_BREAKS_MAX of them. */
static size_t put_dot_break(char *out, size_t *breaks)
{
    if (++*breaks <= DOT_LINE_BREAKS_MAX) {
        *out = '\n';
        return 1;
    }
    memcpy(out, "\xe2\x90\xa4", 3);
    return 3;
}

/* A JSON op (which keeps every character) as its DOT label reads once
 * unescaped: the line breaks U+0085, U+2028, U+2029 become newlines (as
 * newlines do) and the other C1 controls U+FFFD. */
static char *json_breaks_as_dot(const char *op, size_t op_len, size_t *len)
{
    char *out = malloc(op_len * 3 + 1); /* a newline may become 3 bytes */
    REQUIRE(out != NULL);
    size_t n = 0, breaks = 0;
    const unsigned char *p = (const unsigned char *)op;
    for (size_t i = 0; i < op_len;) {
        if (i + 1 < op_len && p[i] == 0xc2 && p[i + 1] <= 0x9f) {
            if (p[i + 1] == 0x85) {
                n += put_dot_break(out + n, &breaks);
            } else {
                memcpy(out + n, "\xef\xbf\xbd", 3);
                n += 3;
            }
            i += 2;
        } else if (i + 2 < op_len && p[i] == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            n += put_dot_break(out + n, &breaks);
            i += 3;
        } else if (p[i] == '\n') {
            n += put_dot_break(out + n, &breaks);
            i++;
        } else {
            out[n++] = (char)p[i++];
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static void dot_labels_escape_any_bytes(void)
{
    counted *payloads;
    char *long_quotes, *long_invalid;
    ircache *c = tricky_cache(&payloads, &long_quotes, &long_invalid);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "tricky.dot");
    REQUIRE(ircache_dump_dot(c, path) == 0);
    size_t len;
    char *text = read_file(path, &len);
    REQUIRE(text != NULL);

    size_t bad_at = 0;
    CHECK_MSG(utf8_valid(text, len, &bad_at), "invalid UTF-8 at byte %zu: \"%.40s\"", bad_at,
              text + bad_at);
    CHECK_MSG(memchr(text, '\0', len) == NULL, "a NUL byte in the dump");
    char err[256] = "";
    dot_graph g;
    int parsed = dot_parse(text, len, &g, err, sizeof err);
    CHECK_MSG(parsed == 0, "the dump does not parse: %s", err);
    if (parsed == 0) {
        CHECK_U64(g.n, N_LABEL_CASES + 4);
        for (size_t i = 0; i < N_LABEL_CASES; i++) {
            const dot_node *n = node_with_id(&g, i + 1);
            CHECK_MSG(n != NULL, "no node %zu", i + 1);
            if (n == NULL)
                continue;
            CHECK_U64(n->parent, 0);
            CHECK_U64(n->hits, 0);
            size_t suffix = strlen(", 0 hits");
            CHECK_MSG(n->raw_len >= suffix &&
                          label_matches(label_cases[i].expect, n->raw, n->raw_len - suffix),
                      "case %zu: label written as \"%s\", expected \"%s\" (@ = U+FFFD...)", i,
                      n->raw, label_cases[i].expect);
            CHECK_U64(n->pieces, 1);
        }
        const dot_node *q = node_with_id(&g, N_LABEL_CASES + 1);
        const dot_node *v = node_with_id(&g, N_LABEL_CASES + 2);
        const dot_node *m = node_with_id(&g, N_LABEL_CASES + 3);
        const dot_node *o = node_with_id(&g, N_LABEL_CASES + 4);
        REQUIRE(q != NULL && v != NULL && m != NULL && o != NULL);
        /* Quotes and backslashes come back through \" \\ \n unchanged (the
         * newlines past DOT_LINE_BREAKS_MAX as U+2424), and characters
         * across the ends of pieces (dot_parse checks their size). */
        size_t expect_len;
        char *expect = json_breaks_as_dot(long_quotes, LONG_LABEL, &expect_len);
        CHECK(expect_len > LONG_LABEL);
        CHECK(q->op_len == expect_len && memcmp(q->op, expect, expect_len) == 0);
        free(expect);
        CHECK(label_matches("@, 0 hits", v->raw, v->raw_len));
        CHECK(m->op_len == strlen(long_mixed()) && memcmp(m->op, long_mixed(), m->op_len) == 0);
        CHECK(o->op_len == strlen(long_odd_quotes()) && memcmp(o->op, long_odd_quotes(), o->op_len) == 0);
        CHECK(o->pieces >= 3);
        /* 200,000, 300,000 and about 109,000 bytes once escaped. */
        CHECK_U64(q->pieces, (2 * LONG_LABEL + DOT_PIECE_MAX - 1) / DOT_PIECE_MAX);
        CHECK(v->pieces >= 3 * LONG_LABEL / DOT_PIECE_MAX && m->pieces >= 6);
        dot_free(&g);
    }
    CHECK_INT(count_dir_entries(dir), 1);
    /* Graphviz's own parser (nop, no layout): it refuses a quoted string of
     * 16 KiB, whatever is in it, so it reads the long labels' pieces. */
    check_graphviz_parses(path);
    /* dot lays out the short labels together, and each long one alone: it
     * cannot lay out several nodes a million points wide (an edge of more
     * than 65,535 points is an error), and crashes on a label of 32,768
     * lines, which the long quotes would have without the U+2424. */
    ircache *short_only = ircache_new();
    counted *more = counted_array(N_LABEL_CASES);
    for (size_t i = 0; i < N_LABEL_CASES; i++) {
        REQUIRE(ircache_insert(short_only, &i, sizeof i, label_cases[i].op, &more[i], NULL) == 0);
        ircache_mark_step(short_only);
    }
    char *layout_path = path_join(dir, "short.dot");
    REQUIRE(ircache_dump_dot(short_only, layout_path) == 0);
    check_dot_accepts(layout_path);
    ircache_free(short_only);
    free(more);
    const char *longs[] = {long_quotes, long_invalid, long_mixed(), long_odd_quotes()};
    for (size_t i = 0; i < 4; i++) {
        ircache *alone = ircache_new();
        int payload;
        REQUIRE(ircache_insert(alone, KEY("k"), longs[i], &payload, NULL) == 0);
        REQUIRE(ircache_dump_dot(alone, layout_path) == 0);
        check_dot_accepts(layout_path);
        ircache_free(alone);
    }
    free(layout_path);

    free(text);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
    CHECK_INT(counted_first_not_released_once(payloads, N_LABEL_CASES + 4), -1);
    free(payloads);
    free(long_quotes);
    free(long_invalid);
}

/* ---- JSON ---------------------------------------------------------------- */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return n % 2 == 0;
}

static char *hex_of(const void *bytes, size_t n)
{
    char *out = malloc(2 * n + 1);
    REQUIRE(out != NULL);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", ((const unsigned char *)bytes)[i]);
    out[2 * n] = '\0';
    return out;
}

/* Parses the JSON dump of c, checks the documented fields on every node,
 * and checks that it lists the same nodes as the DOT dump, in the same
 * order, with the same parents, hits and ops. Returns the document. */
static json *check_json_against_dot(ircache *c)
{
    size_t jlen, dlen;
    char *jtext = dump_text(c, ircache_dump_json, &jlen);
    char *dtext = dump_text(c, ircache_dump_dot, &dlen);
    size_t bad_at = 0;
    CHECK_MSG(utf8_valid(jtext, jlen, &bad_at), "invalid UTF-8 in the JSON at byte %zu", bad_at);
    char err[256] = "";
    json *doc = json_parse(jtext, jlen, err, sizeof err);
    CHECK_MSG(doc != NULL, "the JSON dump does not parse: %s", err);
    dot_graph g;
    REQUIRE(dot_parse(dtext, dlen, &g, err, sizeof err) == 0);
    if (doc == NULL)
        goto out;
    CHECK(doc->type == JSON_OBJECT);
    const json *format = json_get(doc, "format");
    CHECK(format != NULL && format->type == JSON_STRING && strcmp(format->str, "ircache-trie") == 0);
    uint64_t version = 0;
    CHECK(json_u64(json_get(doc, "version"), &version) && version == 1);
    const json *nodes = json_get(doc, "nodes");
    CHECK(nodes != NULL && nodes->type == JSON_ARRAY);
    if (nodes == NULL || nodes->type != JSON_ARRAY)
        goto out;
    CHECK_U64(nodes->n, g.n + 1);
    if (nodes->n != g.n + 1)
        goto out;
    const json *root = nodes->items[0];
    uint64_t u;
    CHECK(json_u64(json_get(root, "id"), &u) && u == 0);
    CHECK(json_get(root, "parent") != NULL && json_get(root, "parent")->type == JSON_NULL);
    CHECK(json_get(root, "op") != NULL && json_get(root, "op")->type == JSON_NULL);
    CHECK(json_u64(json_get(root, "hits"), &u) && u == 0);
    CHECK(json_get(root, "key") != NULL && json_get(root, "key")->type == JSON_STRING &&
          json_get(root, "key")->len == 0);
    for (size_t i = 0; i < g.n; i++) {
        const json *n = nodes->items[i + 1];
        const dot_node *d = &g.nodes[i];
        uint64_t id, parent, hits;
        const json *op = json_get(n, "op"), *key = json_get(n, "key");
        CHECK_MSG(n->type == JSON_OBJECT && json_u64(json_get(n, "id"), &id) &&
                      json_u64(json_get(n, "parent"), &parent) &&
                      json_u64(json_get(n, "hits"), &hits) && op != NULL &&
                      op->type == JSON_STRING && key != NULL && key->type == JSON_STRING,
                  "JSON node %zu lacks a documented field", i + 1);
        if (!(n->type == JSON_OBJECT && json_u64(json_get(n, "id"), &id) &&
              json_u64(json_get(n, "parent"), &parent) && json_u64(json_get(n, "hits"), &hits) &&
              op != NULL && op->type == JSON_STRING && key != NULL && key->type == JSON_STRING))
            continue;
        CHECK_MSG(id == d->id && parent == d->parent && hits == d->hits,
                  "JSON node %zu is (id %" PRIu64 ", parent %" PRIu64 ", hits %" PRIu64
                  "), the DOT dump says (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
                  i + 1, id, parent, hits, d->id, d->parent, d->hits);
        CHECK_MSG(utf8_valid(op->str, op->len, NULL), "node %" PRIu64 ": op is not UTF-8", id);
        size_t plain_len, json_len;
        char *plain = dot_unpicture(d->op, d->op_len, &plain_len);
        char *as_dot = json_breaks_as_dot(op->str, op->len, &json_len);
        CHECK_MSG(plain_len == json_len && memcmp(plain, as_dot, plain_len) == 0,
                  "node %" PRIu64 ": JSON op \"%s\" differs from the DOT label \"%s\"", id,
                  op->str, d->op);
        free(plain);
        free(as_dot);
        CHECK_MSG(is_lower_hex(key->str, key->len), "node %" PRIu64 ": key \"%.60s\" is not hex",
                  id, key->str);
    }
out:
    dot_free(&g);
    free(jtext);
    free(dtext);
    return doc;
}

static const json *json_node_with_id(const json *doc, uint64_t id)
{
    const json *nodes = json_get(doc, "nodes");
    for (size_t i = 0; nodes != NULL && i < nodes->n; i++) {
        uint64_t got;
        if (json_u64(json_get(nodes->items[i], "id"), &got) && got == id)
            return nodes->items[i];
    }
    return NULL;
}

static void json_dump_is_valid_for_any_bytes(void)
{
    counted *payloads;
    char *long_quotes, *long_invalid;
    ircache *c = tricky_cache(&payloads, &long_quotes, &long_invalid);
    json *doc = check_json_against_dot(c);
    REQUIRE(doc != NULL);
    for (size_t i = 0; i < N_LABEL_CASES; i++) {
        const json *n = json_node_with_id(doc, i + 1);
        const json *op = json_get(n, "op"), *key = json_get(n, "key");
        REQUIRE(op != NULL && key != NULL && op->type == JSON_STRING);
        const char *label = label_cases[i].op ? label_cases[i].op : "";
        /* A label that is valid UTF-8 comes back exactly. */
        if (utf8_valid(label, strlen(label), NULL))
            CHECK_MSG(op->len == strlen(label) && memcmp(op->str, label, op->len) == 0,
                      "case %zu: JSON op is \"%s\", expected \"%s\"", i, op->str, label);
        char k[16];
        snprintf(k, sizeof k, "k%zu", i);
        char *hex = hex_of(k, strlen(k));
        CHECK_STR(key->str, hex);
        free(hex);
    }
    const json *q = json_get(json_node_with_id(doc, N_LABEL_CASES + 1), "op");
    REQUIRE(q != NULL && q->type == JSON_STRING);
    CHECK(q->len == LONG_LABEL && memcmp(q->str, long_quotes, LONG_LABEL) == 0);
    json_free(doc);
    ircache_free(c);
    free(payloads);
    free(long_quotes);
    free(long_invalid);
}

static void json_dump_of_the_reference_trie_matches_its_dot(void)
{
    ircache *c = ircache_new();
    runtime rt = {c, counted_array(64), 0, 64};
    build_reference_trie(&rt);
    json *doc = check_json_against_dot(c);
    REQUIRE(doc != NULL);
    const json *n23 = json_node_with_id(doc, 23);
    REQUIRE(n23 != NULL);
    CHECK_STR(json_get(n23, "op")->str, "aten::mm");
    char *hex = hex_of("aten::mm", 8);
    CHECK_STR(json_get(n23, "key")->str, hex);
    free(hex);
    json_free(doc);

    /* An empty cache: the root only. */
    ircache *empty = ircache_new();
    size_t len;
    char *text = dump_text(empty, ircache_dump_json, &len);
    char err[256] = "";
    doc = json_parse(text, len, err, sizeof err);
    CHECK_MSG(doc != NULL, "%s", err);
    CHECK(doc != NULL && json_get(doc, "nodes") != NULL && json_get(doc, "nodes")->n == 1);
    json_free(doc);
    free(text);
    char *dot = dump_text(empty, ircache_dump_dot, NULL);
    CHECK_STR(dot, "digraph G {\n}\n");
    free(dot);
    ircache_free(empty);
    ircache_free(c);
    free(rt.made);
}

/* ---- the checkers themselves ------------------------------------------- */

/* The readers above would make every test pass if they accepted anything:
 * they must refuse what a strict consumer refuses. */
static void checkers_refuse_broken_input(void)
{
    static const char *const bad_utf8[] = {"\xff", "a\xe2\x82", "\xc0\xaf", "\xe0\x80\xaf",
                                           "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                                           "\xf0\x9f\x98", "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++)
        CHECK_MSG(!utf8_valid(bad_utf8[i], strlen(bad_utf8[i]), NULL), "bad UTF-8 %zu accepted",
                  i);
    static const char good_utf8[] = "caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 \xed\x9f\xbf "
                                    "\xf4\x8f\xbf\xbf \xef\xbf\xbd \x7f";
    CHECK(utf8_valid(good_utf8, strlen(good_utf8), NULL));

    static const char *const bad_dot[] = {
        "digraph G {\n0 -> 1\n1[label=\"a, 0 hits]\n}\n",        /* not closed */
        "digraph G {\n0 -> 1\n1[label=\"a\"b, 0 hits\"]\n}\n",   /* raw quote */
        "digraph G {\n0 -> 1\n1[label=\"a\tb, 0 hits\"]\n}\n",   /* raw tab */
        "digraph G {\n0 -> 1\n1[label=\"a\\tb, 0 hits\"]\n}\n",  /* other escape */
        "digraph G {\n0 -> 1\n1[label=\"a, 0 hits\\\"]\n}\n",  /* escaped close */
        "digraph G {\n0 -> 1\n2[label=\"a, 0 hits\"]\n}\n",      /* other id */
        "digraph G {\n0 -> 1\n1[label=\"a, 0 hit\"]\n}\n",       /* not "hits" */
        "digraph G {\n0 -> 1\n1[label=\"a 0 hits\"]\n}\n",       /* no comma */
        "digraph G {\n0 -> 01\n01[label=\"a, 0 hits\"]\n}\n",    /* leading zero */
        "digraph G {\n0 -> 1\n1[label=\"a, 0 hits\"]\n",         /* no } */
        "digraph G {\n0 -> 1\n1[label=\"a, 0 hits\"]\n}",        /* no last newline */
        "digraph G {\n0 -> 1\n}\n",                              /* no label */
        "digraph G {\n}\n}\n",                                   /* text after } */
    };
    for (size_t i = 0; i < sizeof bad_dot / sizeof *bad_dot; i++) {
        dot_graph g;
        int rc = dot_parse(bad_dot[i], strlen(bad_dot[i]), &g, NULL, 0);
        CHECK_MSG(rc != 0, "bad DOT %zu accepted", i);
        if (rc == 0)
            dot_free(&g);
    }
    dot_graph g;
    static const char good_dot[] =
        "digraph G {\n0 -> 1\n1[label=\"a\\\"\\\\\\n, 5 hits, 12 hits\"]\n}\n";
    REQUIRE(dot_parse(good_dot, strlen(good_dot), &g, NULL, 0) == 0);
    CHECK_U64(g.n, 1);
    CHECK_U64(g.nodes[0].hits, 12);
    CHECK_STR(g.nodes[0].op, "a\"\\\n, 5 hits");
    dot_free(&g);

    static const char *const bad_json[] = {
        "{\"a\": 1,}", "[1, 2", "{\"a\" 1}", "\"tab\there\"", "\"\\ud800\"", "\"\\udc00x\"",
        "\"\\x\"",     "01",    "1.",      "[1] [2]",       "nul",        "{1: 2}",
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        json *v = json_parse(bad_json[i], strlen(bad_json[i]), NULL, 0);
        CHECK_MSG(v == NULL, "bad JSON %zu accepted: %s", i, bad_json[i]);
        json_free(v);
    }
    static const char good_json[] =
        " {\"a\": [0, -1.5e3, \"\\u00e9\\ud83d\\ude00\\n\\/\", null, true], \"b\": {}} ";
    json *v = json_parse(good_json, strlen(good_json), NULL, 0);
    REQUIRE(v != NULL);
    const json *a = json_get(v, "a");
    REQUIRE(a != NULL && a->type == JSON_ARRAY && a->n == 5);
    CHECK_STR(a->items[2]->str, "\xc3\xa9\xf0\x9f\x98\x80\n/");
    uint64_t u = 1;
    CHECK(json_u64(a->items[0], &u) && u == 0);
    CHECK(!json_u64(a->items[1], &u));
    json_free(v);

    CHECK(label_matches("a@b", "a\xef\xbf\xbd\xef\xbf\xbd" "b", 8));
    CHECK(!label_matches("a@b", "ab", 2));
    CHECK(!label_matches("ab", "abc", 3));
}

/* ---- the default cache -------------------------------------------------- */

static void dump_writes_the_default_cache(void)
{
    ircache *d = ircache_default();
    ircache_reset();
    int payload;
    REQUIRE(ircache_insert(d, KEY("only"), "aten::only", &payload, NULL) == 0);
    ircache_mark_step(d);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "default.dot");
    CHECK_INT(ircache_dump(path), 0);
    char *text = read_file(path, NULL);
    REQUIRE(text != NULL);
    /* Whatever id the node got, the layout is one edge from the root. */
    unsigned long id = 0;
    int end = 0;
    CHECK_MSG(sscanf(text, "digraph G {\n0 -> %lu\n%n", &id, &end) == 1 && end > 0 && id >= 1,
              "unexpected dump: %s", text);
    char expected[128];
    snprintf(expected, sizeof expected, "digraph G {\n0 -> %lu\n%lu[label=\"aten::only, 0 hits\"]\n}\n",
             id, id);
    CHECK_STR(text, expected);
    /* The same as dumping the default cache by hand. */
    char *by_hand = dump_text(d, ircache_dump_dot, NULL);
    CHECK_STR(by_hand, text);
    free(by_hand);
    free(text);

    ircache_reset();
    CHECK_INT(ircache_dump(path), 0);
    text = read_file(path, NULL);
    CHECK_STR(text, "digraph G {\n}\n");
    free(text);
    CHECK_INT(count_dir_entries(dir), 1);
    CHECK_INT(ircache_dump(NULL), IRCACHE_EINVAL);
    CHECK_INT(ircache_dump(""), IRCACHE_EINVAL);
    free(path);
    remove_temp_dir(dir);
}

/* ---- file rules ---------------------------------------------------------- */

/* A cache whose dump is known: two nodes. */
static ircache *small_cache(int *payloads)
{
    ircache *c = ircache_new();
    REQUIRE(ircache_insert(c, KEY("a"), "aten::a", &payloads[0], NULL) == 0);
    REQUIRE(ircache_insert(c, KEY("b"), "aten::b", &payloads[1], NULL) == 0);
    ircache_mark_step(c);
    return c;
}

static const char small_dot[] = "digraph G {\n0 -> 1\n1[label=\"aten::a, 0 hits\"]\n"
                                "1 -> 2\n2[label=\"aten::b, 0 hits\"]\n}\n";

static void check_file_is(const char *path, const char *expected)
{
    char *text = read_file(path, NULL);
    CHECK_MSG(text != NULL && strcmp(text, expected) == 0, "%s holds \"%s\", expected \"%s\"",
              path, text ? text : "(unreadable)", expected);
    free(text);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    return st.st_mode & 07777;
}

static void dump_replaces_a_file_atomically(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "graph.dot");
    char *hard = path_join(dir, "hardlink.dot");
    REQUIRE(write_file(path, "old content\n") == 0);
    REQUIRE(chmod(path, 0604) == 0);
    REQUIRE(link(path, hard) == 0);
    struct stat before, after;
    REQUIRE(stat(path, &before) == 0);
    int old_fd = open(path, O_RDONLY);
    REQUIRE(old_fd >= 0);

    mode_t old_umask = umask(027);
    CHECK_INT(ircache_dump_dot(c, path), 0);
    umask(old_umask);
    check_file_is(path, small_dot);
    /* A new file was renamed over the name: the old inode, still open here
     * and still named by the hard link, kept its bytes. */
    REQUIRE(stat(path, &after) == 0);
    CHECK_MSG(after.st_ino != before.st_ino, "the file was rewritten in place");
    char buf[64] = "";
    ssize_t got = pread(old_fd, buf, sizeof buf - 1, 0);
    CHECK_INT(got, 12);
    CHECK_STR(buf, "old content\n");
    close(old_fd);
    check_file_is(hard, "old content\n");
    /* The existing file's mode is kept, umask or not. */
    CHECK_INT(mode_of(path), 0604);
    CHECK_INT(count_dir_entries(dir), 2);

    /* The JSON dump follows the same rules. */
    REQUIRE(chmod(path, 0751) == 0);
    CHECK_INT(ircache_dump_json(c, path), 0);
    CHECK_INT(mode_of(path), 0751);
    char *text = read_file(path, NULL);
    CHECK(text != NULL && strncmp(text, "{", 1) == 0);
    free(text);
    CHECK_INT(count_dir_entries(dir), 2);

    free(path);
    free(hard);
    remove_temp_dir(dir);
    ircache_free(c);
}

static void new_file_gets_0666_less_the_umask(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    static const struct {
        mode_t umask, mode;
    } cases[] = {{027, 0640}, {077, 0600}, {022, 0644}, {0, 0666}, {0777, 0}};
    mode_t old_umask = umask(0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[32];
        snprintf(name, sizeof name, "dot-%zu", i);
        char *dot = path_join(dir, name);
        snprintf(name, sizeof name, "json-%zu", i);
        char *js = path_join(dir, name);
        umask(cases[i].umask);
        CHECK_INT(ircache_dump_dot(c, dot), 0);
        CHECK_INT(ircache_dump_json(c, js), 0);
        umask(0);
        CHECK_MSG(mode_of(dot) == cases[i].mode, "umask %03o: mode %03o, expected %03o",
                  (unsigned)cases[i].umask, (unsigned)mode_of(dot), (unsigned)cases[i].mode);
        CHECK_MSG(mode_of(js) == cases[i].mode, "umask %03o: JSON mode %03o, expected %03o",
                  (unsigned)cases[i].umask, (unsigned)mode_of(js), (unsigned)cases[i].mode);
        free(dot);
        free(js);
    }
    umask(old_umask);
    CHECK_INT(count_dir_entries(dir), 10);
    remove_temp_dir(dir);
    ircache_free(c);
}

/* A cache of n successors of the root, each with a label of its own
 * ("aten::op_number_<i>"): a dump of about 40 bytes a node. *payloads
 * gets their payloads, for the caller to free after the cache. */
static ircache *numbered_ops_cache(int n, counted **payloads)
{
    ircache *c = ircache_new();
    counted *p = counted_array((size_t)n);
    char label[64];
    for (int i = 0; i < n; i++) {
        snprintf(label, sizeof label, "aten::op_number_%d", i);
        REQUIRE(ircache_insert(c, &i, sizeof i, label, &p[i], NULL) == 0);
    }
    *payloads = p;
    return c;
}

static void failed_dump_leaves_no_file_behind(void)
{
    counted *p;
    ircache *c = numbered_ops_cache(2000, &p);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "big.dot");
    char *sub = path_join(dir, "sub");
    REQUIRE(mkdir(sub, 0755) == 0);
    REQUIRE(write_file(path, "previous dump\n") == 0);

    /* Fails while writing (more than the file size limit). */
    int err = 0;
    CHECK_INT(dump_with_file_size_limit(ircache_dump_dot, c, path, 4096, &err), IRCACHE_EIO);
    CHECK_INT(err, EFBIG);
    check_file_is(path, "previous dump\n");
    CHECK_INT(count_dir_entries(dir), 2);
    CHECK_INT(dump_with_file_size_limit(ircache_dump_json, c, path, 4096, &err), IRCACHE_EIO);
    CHECK_INT(err, EFBIG);
    check_file_is(path, "previous dump\n");
    CHECK_INT(count_dir_entries(dir), 2);
    /* Fails before writing (a directory). */
    CHECK_INT(ircache_dump_dot(c, sub), IRCACHE_EIO);
    CHECK_INT(count_dir_entries(dir), 2);
    CHECK_INT(count_dir_entries(sub), 0);
    /* And then succeeds with nothing left over either. */
    CHECK_INT(ircache_dump_dot(c, path), 0);
    CHECK_INT(count_dir_entries(dir), 2);

    free(path);
    free(sub);
    remove_temp_dir(dir);
    ircache_free(c);
    free(p);
}

/* 1 when files can be created unnamed in dir and named later, as dumps
 * do where they can (Linux's O_TMPFILE, which not every file system has,
 * and /proc to name them by). */
static int unnamed_files_work_in(const char *dir)
{
    int works = 0;
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char by_fd[64];
        snprintf(by_fd, sizeof by_fd, "/proc/thread-self/fd/%d", fd);
        works = access(by_fd, F_OK) == 0;
        close(fd);
    }
#else
    (void)dir;
#endif
    return works;
}

/* A process killed while it writes a dump (here by the SIGXFSZ of its file
 * size limit, which it does not catch), as a job killed for its memory
 * would be: the previous file stays as it was, and where the system can
 * write a file without a name until it is complete, nothing is left beside
 * it either (a named temporary file of the dump's first bytes was). */
static void a_dump_killed_midway_leaves_the_directory_as_it_was(void)
{
    counted *p;
    ircache *c = numbered_ops_cache(20000, &p);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "killed.dot");
    REQUIRE(write_file(path, "previous dump\n") == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* No core file, nor a core_pattern program (systemd-coredump). */
        struct rlimit no_core = {0, 0}, limit;
        if (setrlimit(RLIMIT_CORE, &no_core) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
            getrlimit(RLIMIT_FSIZE, &limit) != 0)
            _exit(2);
        limit.rlim_cur = 4096; /* the dump's first write goes past it */
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0 || signal(SIGXFSZ, SIG_DFL) == SIG_ERR)
            _exit(2);
        (void)ircache_dump_dot(c, path);
        _exit(3); /* not reached */
    }
    int status = wait_child(pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
    check_file_is(path, "previous dump\n");
    if (unnamed_files_work_in(dir))
        CHECK_INT(count_dir_entries(dir), 1);
    else
        fprintf(stderr, "  (no unnamed files in %s: a temporary file may stay)\n", dir);
    /* The next dump goes through, leaving nothing else. */
    CHECK_INT(ircache_dump_dot(c, path), 0);
    if (unnamed_files_work_in(dir))
        CHECK_INT(count_dir_entries(dir), 1);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
    free(p);
}

/* Makes linkat fail with EPERM in this process from now on, as an
 * AppArmor profile or a seccomp allow-list may: the way dumps name their
 * unnamed file. Returns 0, or -1 where the kernel refuses the filter. */
static int refuse_linkat(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_linkat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return -1;
    return 0;
}

/* Where the link that names the unnamed file is refused, the dump copies
 * it into a named file instead: it succeeds, with the same bytes, the
 * usual mode, and nothing left over; and so does the next one. */
static void a_dump_whose_link_is_refused_still_succeeds(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *expected = path_join(dir, "expected.dot");
    char *fresh = path_join(dir, "fresh.dot");
    char *kept = path_join(dir, "kept.dot");
    REQUIRE(ircache_dump_dot(c, expected) == 0);
    REQUIRE(write_file(kept, "previous dump\n") == 0 && chmod(kept, 0604) == 0);
    mode_t mask = umask(0);
    umask(mask);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (refuse_linkat() != 0)
            _exit(77);
        if (linkat(AT_FDCWD, expected, AT_FDCWD, "/nonexistent/x", 0) == 0 || errno != EPERM)
            _exit(2);
        _exit(ircache_dump_dot(c, fresh) == 0 && ircache_dump_dot(c, kept) == 0 ? 0 : 1);
    }
    int status = wait_child(pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77 || !unnamed_files_work_in(dir)) {
        fprintf(stderr, "  (no seccomp filter, or no unnamed files, here: nothing to check)\n");
    } else {
        CHECK_INT(WEXITSTATUS(status), 0);
        char *want = read_file(expected, NULL);
        REQUIRE(want != NULL);
        check_file_is(fresh, want);
        check_file_is(kept, want);
        free(want);
        struct stat st;
        CHECK(stat(fresh, &st) == 0 && (st.st_mode & 07777) == (0666 & ~mask));
        CHECK(stat(kept, &st) == 0 && (st.st_mode & 07777) == 0604);
        CHECK_INT(count_dir_entries(dir), 3);
    }
    free(expected);
    free(fresh);
    free(kept);
    remove_temp_dir(dir);
    ircache_free(c);
}

typedef struct {
    ircache *c;
    const char *path;
    int unshared; /* the thread could have a file table of its own */
    int rc;
} unshared_dump;

/* Dumps from a file table of its own, whose low descriptors are free where
 * the process's main table has the victim (see below). */
static void *dump_with_own_files(void *arg)
{
    unshared_dump *d = arg;
    d->rc = -1;
    if (unshare(CLONE_FILES) != 0) {
        d->unshared = 0; /* refused here (a container's seccomp profile) */
        return NULL;
    }
    d->unshared = 1;
    for (int fd = 3; fd < 60; fd++)
        close(fd);
    int null_fds[17];
    for (int i = 0; i < 17; i++) /* 3..19 taken: the dump's own land in 20..59 */
        null_fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    d->rc = ircache_dump_dot(d->c, d->path);
    for (int i = 0; i < 17; i++)
        if (null_fds[i] >= 0)
            close(null_fds[i]);
    return NULL;
}

/* A thread with a file table of its own (unshare(CLONE_FILES)) names its
 * dump's unnamed file by its own descriptor, not by the one of that number
 * in the process's main table: the dump holds the trie, and the file the
 * main table has there is left alone. */
static void a_dump_from_a_thread_with_its_own_files_names_its_own_file(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *victim = path_join(dir, "victim.txt");
    char *path = path_join(dir, "own.dot");
    char *expected = path_join(dir, "expected.dot");
    REQUIRE(ircache_dump_dot(c, expected) == 0);
    REQUIRE(write_file(victim, "not a dump\n") == 0);
    int held = open(victim, O_RDONLY | O_CLOEXEC);
    REQUIRE(held >= 0);
    for (int fd = 20; fd < 60; fd++)
        REQUIRE(dup2(held, fd) == fd);
    unshared_dump d = {c, path, 0, 0};
    pthread_t t;
    start_thread(&t, dump_with_own_files, &d);
    join_thread(t);
    for (int fd = 20; fd < 60; fd++)
        close(fd);
    close(held);
    if (!d.unshared) {
        fprintf(stderr, "  (unshare(CLONE_FILES) refused here: nothing to check)\n");
    } else {
        CHECK_INT(d.rc, 0);
        char *want = read_file(expected, NULL);
        REQUIRE(want != NULL);
        check_file_is(path, want);
        free(want);
        check_file_is(victim, "not a dump\n");
        struct stat st;
        CHECK(stat(victim, &st) == 0 && st.st_nlink == 1);
        CHECK_INT(count_dir_entries(dir), 3);
    }
    free(victim);
    free(path);
    free(expected);
    remove_temp_dir(dir);
    ircache_free(c);
}

static void dump_through_a_symlink_replaces_its_target(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *other = make_temp_dir();
    char *real = path_join(dir, "real.dot");
    char *rel_link = path_join(dir, "relative.dot");
    char *far = path_join(other, "far.dot");
    char *abs_link = path_join(dir, "absolute.dot");
    REQUIRE(write_file(real, "old\n") == 0);
    REQUIRE(chmod(real, 0600) == 0);
    REQUIRE(write_file(far, "old far\n") == 0);
    REQUIRE(symlink("real.dot", rel_link) == 0);
    REQUIRE(symlink(far, abs_link) == 0);

    CHECK_INT(ircache_dump_dot(c, rel_link), 0);
    struct stat st;
    REQUIRE(lstat(rel_link, &st) == 0);
    CHECK_MSG(S_ISLNK(st.st_mode), "the symlink was replaced by a file");
    char target[256] = "";
    CHECK_INT(readlink(rel_link, target, sizeof target - 1), 8);
    CHECK_STR(target, "real.dot");
    check_file_is(real, small_dot);
    CHECK_INT(mode_of(real), 0600);

    /* A symlink to a file in another directory: the temporary file goes
     * beside the target, and nothing is left in either directory. */
    CHECK_INT(ircache_dump_dot(c, abs_link), 0);
    REQUIRE(lstat(abs_link, &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    check_file_is(far, small_dot);
    CHECK_INT(count_dir_entries(dir), 3);
    CHECK_INT(count_dir_entries(other), 1);

    free(real);
    free(rel_link);
    free(far);
    free(abs_link);
    remove_temp_dir(dir);
    remove_temp_dir(other);
    ircache_free(c);
}

/* Whether path is still a symlink. */
static int is_symlink(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* A symlink whose target does not exist yet: the target is created, as
 * open() creates it, and the link stays. One into a missing directory, or
 * in a loop, fails with the system's reason and changes nothing. */
static void dump_through_a_dangling_symlink_creates_its_target(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *sub = path_join(dir, "sub");
    char *target = path_join(sub, "new.dot");
    char *link = path_join(dir, "link.dot");
    char *nowhere = path_join(dir, "nowhere.dot");
    char *loop_a = path_join(dir, "a.dot"), *loop_b = path_join(dir, "b.dot");
    REQUIRE(mkdir(sub, 0700) == 0);
    REQUIRE(symlink("sub/new.dot", link) == 0);
    REQUIRE(symlink("missing/x.dot", nowhere) == 0);
    REQUIRE(symlink("b.dot", loop_a) == 0);
    REQUIRE(symlink("a.dot", loop_b) == 0);

    CHECK_INT(ircache_dump_dot(c, link), 0);
    CHECK_MSG(is_symlink(link), "the symlink was replaced by a file");
    check_file_is(target, small_dot);

    CHECK_INT(ircache_dump_dot(c, nowhere), IRCACHE_EIO);
    CHECK_INT(ircache_last_errno(), ENOENT);
    CHECK_INT(ircache_dump_json(c, loop_a), IRCACHE_EIO);
    CHECK_INT(ircache_last_errno(), ELOOP);
    CHECK_CONTAINS(ircache_last_error(), "a.dot");
    CHECK(is_symlink(nowhere) && is_symlink(loop_a) && is_symlink(loop_b));
    CHECK_INT(count_dir_entries(dir), 5);
    CHECK_INT(count_dir_entries(sub), 1);

    free(sub);
    free(target);
    free(link);
    free(nowhere);
    free(loop_a);
    free(loop_b);
    remove_temp_dir(dir);
    ircache_free(c);
}

/* /dev/stdout, /dev/fd/N and /proc/self/fd/N name a file this process has
 * open: a dump goes into it at its offset, between what the process wrote
 * before and after, even when it is a regular file, which is not
 * replaced. With the descriptor closed it is an error, and a symlink to
 * the entry stays a symlink. */
static void dump_to_a_file_this_process_has_open_writes_into_it(void)
{
    if (access("/proc/self/fd", F_OK) != 0) {
        printf("skip: no /proc/self/fd\n");
        return;
    }
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *out = path_join(dir, "out.txt");
    char *link = path_join(dir, "out.link");
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    char dev_fd[64], proc_fd[64];
    snprintf(dev_fd, sizeof dev_fd, "/dev/fd/%d", fd);
    snprintf(proc_fd, sizeof proc_fd, "/proc/self/fd/%d", fd);
    REQUIRE(symlink(proc_fd, link) == 0);

    REQUIRE(write(fd, "before\n", 7) == 7);
    CHECK_INT(ircache_dump_dot(c, dev_fd), 0);
    REQUIRE(write(fd, "between\n", 8) == 8);
    CHECK_INT(ircache_dump_dot(c, link), 0);
    REQUIRE(write(fd, "after\n", 6) == 6);
    REQUIRE(close(fd) == 0);
    char expected[512];
    snprintf(expected, sizeof expected, "before\n%sbetween\n%safter\n", small_dot, small_dot);
    check_file_is(out, expected);

    CHECK_INT(ircache_dump_dot(c, link), IRCACHE_EIO);
    CHECK_INT(ircache_last_errno(), EBADF);
    CHECK(is_symlink(link));
    CHECK_INT(count_dir_entries(dir), 2);

    free(out);
    free(link);
    remove_temp_dir(dir);
    ircache_free(c);
}

typedef struct fifo_reader {
    const char *path;
    char *text;
    size_t len;
} fifo_reader;

static void *read_fifo(void *arg)
{
    fifo_reader *r = arg;
    r->text = read_file(r->path, &r->len);
    return NULL;
}

static void dump_to_non_regular_files(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    CHECK_INT(ircache_dump_dot(c, "/dev/null"), 0);
    CHECK_INT(ircache_dump_json(c, "/dev/null"), 0);
    struct stat st;
    REQUIRE(stat("/dev/null", &st) == 0);
    CHECK(S_ISCHR(st.st_mode));

    /* A FIFO is written directly, whole, and stays a FIFO. */
    char *dir = make_temp_dir();
    char *fifo = path_join(dir, "pipe");
    REQUIRE(mkfifo(fifo, 0600) == 0);
    fifo_reader r = {fifo, NULL, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_fifo, &r) == 0);
    CHECK_INT(ircache_dump_dot(c, fifo), 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_STR(r.text, small_dot);
    free(r.text);
    REQUIRE(lstat(fifo, &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK_INT(count_dir_entries(dir), 1);
    free(fifo);
    remove_temp_dir(dir);
    ircache_free(c);
}

static void odd_path_names_work(void)
{
    int payloads[2];
    ircache *c = small_cache(payloads);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "\xff\xfe-\xc0\xaf-\xe2\x82.dot");
    CHECK_INT(ircache_dump_dot(c, path), 0);
    check_file_is(path, small_dot);
    CHECK_INT(ircache_dump_dot(c, path), 0); /* and replaces it */
    check_file_is(path, small_dot);
    CHECK_INT(count_dir_entries(dir), 1);
    char *json_path = path_join(dir, "\x80\x01\x7f.json");
    CHECK_INT(ircache_dump_json(c, json_path), 0);
    char *text = read_file(json_path, NULL);
    CHECK(text != NULL && text[0] == '{');
    free(text);
    CHECK_INT(count_dir_entries(dir), 2);
    /* A name of NAME_MAX (255) bytes: the temporary name beside it must
     * still fit. */
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    char *long_path = path_join(dir, name);
    CHECK_INT(ircache_dump_dot(c, long_path), 0);
    check_file_is(long_path, small_dot);
    CHECK_INT(ircache_dump_dot(c, long_path), 0);
    CHECK_INT(count_dir_entries(dir), 3);
    free(long_path);
    free(json_path);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
}

int main(void)
{
    RUN(checkers_refuse_broken_input);
    RUN(reference_copy_matches_the_original);
    RUN(dot_layout_matches_pytorch_byte_for_byte);
    RUN(successors_are_listed_most_recently_used_first);
    RUN(a_new_thread_uses_nodes_after_the_lone_thread);
    RUN(a_thread_left_alone_uses_nodes_after_the_departed_one);
    RUN(dot_labels_escape_any_bytes);
    RUN(json_dump_is_valid_for_any_bytes);
    RUN(json_dump_of_the_reference_trie_matches_its_dot);
    RUN(dump_writes_the_default_cache);
    RUN(dump_replaces_a_file_atomically);
    RUN(new_file_gets_0666_less_the_umask);
    RUN(failed_dump_leaves_no_file_behind);
    RUN(a_dump_killed_midway_leaves_the_directory_as_it_was);
    RUN(a_dump_whose_link_is_refused_still_succeeds);
    RUN(a_dump_from_a_thread_with_its_own_files_names_its_own_file);
    RUN(dump_through_a_symlink_replaces_its_target);
    RUN(dump_through_a_dangling_symlink_creates_its_target);
    RUN(dump_to_a_file_this_process_has_open_writes_into_it);
    RUN(dump_to_non_regular_files);
    RUN(odd_path_names_work);
    return check_exit_code();
}
