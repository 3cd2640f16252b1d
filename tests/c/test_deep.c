/* test_deep.c - a trace of one step with 10,000,000 chained ops: inserted,
 * dumped, cleared and freed on a thread with an explicit 8 MiB stack, and
 * 1,000,000 of them on a thread with only 64 KiB, which no recursion over
 * the depth of the trie could survive. Prints how long each phase took
 * and the peak memory of the process. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ircache.h"
#include "support.h"

#define LABEL "aten::add"

/* One byte per payload: the payload of node i is &released[i] and its
 * release adds one there, so "each released exactly once" is a scan. */
static unsigned char *released;
static _Atomic uint64_t total_releases;

static void release_byte(void *payload, void *ctx)
{
    (void)ctx;
    unsigned char *b = payload;
    if (*b < 255)
        (*b)++;
    atomic_fetch_add(&total_releases, 1);
}

static const ircache_owner byte_owner = {NULL, release_byte, NULL};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* First index whose byte is not `times`, or -1. */
static long first_not_released(size_t n, unsigned char times)
{
    for (size_t i = 0; i < n; i++)
        if (released[i] != times)
            return (long)i;
    return -1;
}

/* A single step of n ops, each the successor of the one before; 8-byte
 * keys (the op's index). */
static void insert_chain(ircache *c, size_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        int rc = ircache_insert(c, &i, sizeof i, LABEL, &released[i], &byte_owner);
        if (rc != 0) {
            fprintf(stderr, "insert %" PRIu64 " failed: %d %s\n", i, rc, ircache_last_error());
            REQUIRE(rc == 0);
        }
    }
}

/* Reads the DOT dump of a chain line by line and checks every line:
 *   digraph G {
 *   0 -> F
 *   F[label="aten::add, H hits"]
 *   F -> F+1
 *   ...
 *   }
 * and that there are 2n + 2 of them. Returns the last three lines in
 * tail (for the caller's explicit checks). */
static void check_chain_dump(const char *path, size_t n, uint64_t first, uint64_t hits,
                             char tail[3][64])
{
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lines = 0, bad_line = 0;
    char expected[128];
    memset(tail, 0, 3 * 64);
    while ((len = getline(&line, &cap, f)) > 0) {
        lines++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        memmove(tail[0], tail[1], 2 * sizeof tail[0]);
        snprintf(tail[2], 64, "%s", line);
        if (bad_line != 0)
            continue;
        uint64_t k = (lines - 2) / 2; /* the chain index of lines 2 and 3, 4 and 5... */
        if (lines == 1)
            snprintf(expected, sizeof expected, "digraph G {");
        else if (lines == 2 * (uint64_t)n + 2)
            snprintf(expected, sizeof expected, "}");
        else if (lines % 2 == 0)
            snprintf(expected, sizeof expected, "%" PRIu64 " -> %" PRIu64,
                     k == 0 ? 0 : first + k - 1, first + k);
        else
            snprintf(expected, sizeof expected, "%" PRIu64 "[label=\"" LABEL ", %" PRIu64 " hits\"]",
                     first + k, hits);
        if (strcmp(line, expected) != 0) {
            bad_line = lines;
            CHECK_MSG(0, "line %" PRIu64 " is \"%.80s\", expected \"%s\"", lines, line, expected);
        }
    }
    free(line);
    fclose(f);
    CHECK_U64(lines, 2 * (uint64_t)n + 2);
}

typedef struct deep_run {
    size_t n;
    int walk;  /* also look the whole chain up again on a second step */
    int again; /* re-insert after the clear and dump again (ids go on) */
} deep_run;

static void *run_chain(void *arg)
{
    const deep_run *r = arg;
    size_t n = r->n;
    char *dir = make_temp_dir();
    char *path = path_join(dir, "chain.dot");
    char tail[3][64];
    char want[3][64];
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    memset(released, 0, n);
    atomic_store(&total_releases, 0);

    double t0 = now();
    insert_chain(c, n);
    double t1 = now();
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, n);
    CHECK_U64(s.inserts, n);
    CHECK_U64(s.forks, 0);
    fprintf(stderr, "  %zu nodes: insert %.2f s (%" PRIu64 " bytes held)\n", n, t1 - t0, s.bytes);

    uint64_t hits = 0;
    if (r->walk) {
        ircache_mark_step(c);
        t0 = now();
        for (uint64_t i = 0; i < n; i++)
            if (ircache_lookup(c, &i, sizeof i) != &released[i]) {
                CHECK_MSG(0, "lookup %" PRIu64 " of the chain missed", i);
                break;
            }
        fprintf(stderr, "  %zu nodes: lookups %.2f s\n", n, now() - t0);
        hits = 1;
    }

    t0 = now();
    int rc = ircache_dump_dot(c, path);
    t1 = now();
    CHECK_MSG(rc == 0, "dump failed: %d %s", rc, ircache_last_error());
    check_chain_dump(path, n, 1, hits, tail);
    fprintf(stderr, "  %zu nodes: dump %.2f s, check %.2f s\n", n, t1 - t0, now() - t1);
    snprintf(want[0], 64, "%zu -> %zu", n - 1, n);
    snprintf(want[1], 64, "%zu[label=\"" LABEL ", %" PRIu64 " hits\"]", n, hits);
    snprintf(want[2], 64, "}");
    for (int i = 0; i < 3; i++)
        CHECK_STR(tail[i], want[i]);
    REQUIRE(unlink(path) == 0);
    CHECK_INT(count_dir_entries(dir), 0);

    t0 = now();
    ircache_clear(c);
    fprintf(stderr, "  %zu nodes: clear %.2f s\n", n, now() - t0);
    s = stats_of(c);
    CHECK_U64(s.nodes, 0);
    CHECK_U64(atomic_load(&total_releases), n);
    CHECK_INT(first_not_released(n, 1), -1);

    if (r->again) {
        /* A new chain after the clear: ids go on from n + 1. */
        insert_chain(c, n);
        CHECK_INT(ircache_dump_dot(c, path), 0);
        check_chain_dump(path, n, (uint64_t)n + 1, 0, tail);
        snprintf(want[0], 64, "%zu -> %zu", 2 * n - 1, 2 * n);
        CHECK_STR(tail[0], want[0]);
        REQUIRE(unlink(path) == 0);
    } else {
        insert_chain(c, n);
    }
    /* ircache_free of a deep chain releases each payload once more. */
    t0 = now();
    ircache_free(c);
    fprintf(stderr, "  %zu nodes: free %.2f s\n", n, now() - t0);
    CHECK_U64(atomic_load(&total_releases), 2 * (uint64_t)n);
    CHECK_INT(first_not_released(n, 2), -1);

    free(path);
    remove_temp_dir(dir);
    return NULL;
}

static void run_on_stack(size_t n, size_t stack, int walk, int again)
{
    pthread_attr_t attr;
    pthread_t t;
    deep_run r = {n, walk, again};
    REQUIRE(pthread_attr_init(&attr) == 0);
    int rc = pthread_attr_setstacksize(&attr, stack);
    CHECK_MSG(rc == 0, "pthread_attr_setstacksize(%zu) failed: %d", stack, rc);
    REQUIRE(rc == 0);
    REQUIRE(pthread_create(&t, &attr, run_chain, &r) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    pthread_attr_destroy(&attr);
}

#define BIG 10000000u
#define SMALL 1000000u

static void chain_of_ten_million_on_an_8_mib_stack(void)
{
    run_on_stack(BIG, (size_t)8 << 20, 0, 0);
}

static void chain_of_one_million_on_a_64_kib_stack(void)
{
    run_on_stack(SMALL, (size_t)64 << 10, 1, 1);
}

int main(void)
{
    released = calloc(BIG, 1);
    REQUIRE(released != NULL);
    double t0 = now();
    RUN(chain_of_one_million_on_a_64_kib_stack);
    RUN(chain_of_ten_million_on_an_8_mib_stack);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "total %.1f s, peak RSS %ld MiB\n", now() - t0, ru.ru_maxrss / 1024);
    free(released);
    return check_exit_code();
}
