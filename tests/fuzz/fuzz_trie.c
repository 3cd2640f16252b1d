/* fuzz_trie.c - a libFuzzer target: the input is a sequence of API calls on
 * one new cache, made from two threads' positions, and every result is
 * checked against the reference model of model.h.
 *
 * Input format: one byte per call, then the call's argument bytes (missing
 * bytes read as 0). In the call byte, bit 7 picks the thread; the low five
 * bits pick the call (see decode()). Thread 1's calls run on a helper
 * thread to which this thread hands each call and waits for it, so that
 * the calls are made one at a time in input order, as the model makes them.
 *
 * Checked after every call: its result (payload identity, return code), the
 * stats counters, the retains and releases seen by the owners (each payload
 * dropped by the call released exactly once, through its own owner, and no
 * other), op stats and dumps when asked for; at the end of the input, the
 * DOT dump, then ircache_free releasing every payload still held. When an
 * eviction meets leaves of equal stamp (two threads' uses the header leaves
 * unordered), the model asks which the library kept (library_has, a JSON
 * dump) and checks that some least-recently-used order keeps just those.
 *
 * FUZZ_TRIE_TRACE=1 in the environment prints each call as it is made. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ircache.h"
#include "job_thread.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- payloads and their owners ----------------------------------------- */

enum {
    OWNER_RETAINING, /* retain and release */
    OWNER_RELEASING, /* release only (NULL retain) */
    OWNER_NONE,      /* inserted with a NULL owner: never retained nor released */
    OWNER_COUNT
};

typedef struct payload {
    size_t number; /* the how-many-th insert of the input */
    int owner;
    long retains, releases;
    long expected_retains, expected_releases;
} payload;

static long retains_seen, releases_seen, retains_expected, releases_expected;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static void fail(const char *fmt, ...);

static const int owner_tags[OWNER_COUNT] = {OWNER_RETAINING, OWNER_RELEASING, OWNER_NONE};

static void on_retain(void *p, void *ctx)
{
    payload *pl = p;
    retains_seen++;
    pl->retains++;
    if (*(const int *)ctx != pl->owner)
        fail("payload of insert %zu (owner %d) retained through owner %d", pl->number, pl->owner,
             *(const int *)ctx);
}

static void on_release(void *p, void *ctx)
{
    payload *pl = p;
    releases_seen++;
    pl->releases++;
    if (*(const int *)ctx != pl->owner)
        fail("payload of insert %zu (owner %d) released through owner %d", pl->number, pl->owner,
             *(const int *)ctx);
}

static const ircache_owner owner_structs[2] = {
    {on_retain, on_release, (void *)&owner_tags[OWNER_RETAINING]},
    {NULL, on_release, (void *)&owner_tags[OWNER_RELEASING]},
};

static const ircache_owner *owner_ptr(int owner)
{
    return owner == OWNER_NONE ? NULL : &owner_structs[owner];
}

/* ---- keys ----------------------------------------------------------------- */

#define LONG_KEY 449 /* past the library's largest slab class (448) */

static unsigned char long_keys[3][LONG_KEY];

static void init_long_keys(void)
{
    memset(long_keys, 'x', sizeof long_keys);
    long_keys[1][LONG_KEY - 1] = 'A'; /* 1 and 2 differ in their last byte */
    long_keys[2][LONG_KEY - 1] = 'B';
}

/* A small alphabet, so that hits, forks and replacements happen: mostly one
 * byte, some two, the empty key both ways, the lengths where the library
 * changes its comparison (8, 16, 17) and slab class (448), rarely long. */
static void choose_key(uint8_t k, const void **key, size_t *len)
{
    static const char *const pairs[] = {"aa", "ab", "ba", "bb", "ca", "a\0"};
    static const char singles[] = "abcdefghij";
    k %= 32;
    if (k < 10 || k >= 24) {
        *key = &singles[k < 10 ? k : k - 24];
        *len = 1;
    } else if (k < 16) {
        *key = pairs[k - 10];
        *len = 2;
    } else if (k == 16) {
        *key = NULL;
        *len = 0;
    } else if (k == 17) {
        *key = "";
        *len = 0;
    } else if (k == 18) {
        *key = "0123456789abcdef";
        *len = 16;
    } else if (k == 19) {
        *key = "0123456789abcdefg";
        *len = 17;
    } else if (k == 20) {
        *key = "abcdefgh";
        *len = 8;
    } else if (k == 21) {
        *key = long_keys[0];
        *len = 300;
    } else {
        *key = long_keys[k - 21];
        *len = LONG_KEY;
    }
}

/* ---- the helper thread ------------------------------------------------- */

/* Thread 1. It lives from its first job until a THREAD_EXIT call (or the
 * process's end), so across inputs it meets new caches at the addresses of
 * freed ones. */
static job_thread thread1;

/* ---- temporary files ------------------------------------------------------- */

/* A directory per input, removed when the input passes: a failing input
 * leaves its last dumps behind, and nothing else is ever left. */
static int tracing; /* FUZZ_TRIE_TRACE is set */
static char temp_dir[4096];
static char dot_path[4200], json_path[4200], missing_path[4200];

static void make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(temp_dir, sizeof temp_dir, "%s/ircache-fuzz-XXXXXX", base != NULL && *base ? base : "/tmp");
    if (mkdtemp(temp_dir) == NULL) {
        perror("fuzz_trie: mkdtemp");
        abort();
    }
    snprintf(dot_path, sizeof dot_path, "%s/trie.dot", temp_dir);
    snprintf(json_path, sizeof json_path, "%s/trie.json", temp_dir);
    snprintf(missing_path, sizeof missing_path, "%s/missing/trie.dot", temp_dir);
}

static void remove_temp_dir(void)
{
    unlink(dot_path);
    unlink(json_path);
    if (rmdir(temp_dir) != 0) /* a file the library should not have left */
        fail("cannot remove %s: %s", temp_dir, strerror(errno));
}

/* At the process's end the helper thread goes first, with its positions
 * (freed by its exit hook): the leak check that runs after this (LSan's
 * handler was registered before) then has no pointer left that only a live
 * thread's thread-local storage holds. One 5-minute run reported such a
 * position as leaked at the end, never during the run. */
static void stop_helper_at_exit(void)
{
    job_thread_stop(&thread1);
}

static void init_once(void)
{
    init_long_keys();
    tracing = getenv("FUZZ_TRIE_TRACE") != NULL;
    atexit(stop_helper_at_exit);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf != NULL && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *grown = realloc(buf, (cap *= 2) + 1);
            if (grown == NULL)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

/* ---- one input ------------------------------------------------------------ */

enum call_kind {
    LOOKUP,
    LOOKUP_OWNED,
    INSERT,
    MARK_STEP,
    CLEAR,
    SET_MAX_NODES,
    SET_ENABLED,
    DUMP_DOT,
    DUMP_JSON,
    DUMP_BAD_PATH,
    GET_STATS,
    GET_OP_STATS,
    THREAD_EXIT,
};

static const char *const call_names[] = {
    "lookup",   "lookup_owned", "insert",    "mark_step",     "clear",     "set_max_nodes", "set_enabled",
    "dump_dot", "dump_json",    "dump_bad_path", "get_stats", "get_op_stats", "thread_exit",
};

typedef struct call {
    enum call_kind kind;
    int thread;
    const void *key;
    size_t key_len;
    size_t label;
    int owner;
    uint64_t value;
} call;

typedef struct run {
    ircache *c;
    model m;
    payload *payloads; /* one per insert call: never more than the input's bytes */
    size_t payload_count;
    size_t call_number;
    const call *now;
    uint64_t *held;    /* ids the library holds after the current call (library_has) */
    size_t held_count, held_capacity;
    int held_known;    /* held is of the current call */
} run;

static run *current; /* for fail() */

static void fail(const char *fmt, ...)
{
    fflush(stdout);
    if (current != NULL && current->now != NULL)
        fprintf(stderr, "fuzz_trie: call %zu (%s on thread %d): ", current->call_number,
                call_names[current->now->kind], current->now->thread);
    else
        fprintf(stderr, "fuzz_trie: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define EXPECT(cond, ...)       \
    do {                        \
        if (!(cond))            \
            fail(__VA_ARGS__);  \
    } while (0)

static void expect_text(const char *what, const char *got, const char *want)
{
    if (got != NULL && strcmp(got, want) == 0)
        return;
    fprintf(stderr, "---- %s written by the library:\n%s---- the model's:\n%s----\n", what,
            got != NULL ? got : "(unreadable)\n", want);
    fail("the %s differs from the model's", what);
}

static void check_stats(run *r)
{
    ircache_stats s;
    memset(&s, 0xff, sizeof s);
    EXPECT(ircache_get_stats(r->c, &s) == 0, "get_stats failed");
    const ircache_stats *w = &r->m.stats;
#define SAME(field)                                                                                  \
    EXPECT(s.field == w->field, "stats." #field " is %llu, the model says %llu",                     \
           (unsigned long long)s.field, (unsigned long long)w->field)
    SAME(nodes);
    SAME(hits);
    SAME(misses);
    SAME(inserts);
    SAME(forks);
    SAME(evictions);
    SAME(clears);
    SAME(max_nodes);
#undef SAME
    EXPECT(s.bytes >= s.nodes * 56, "stats.bytes is %llu for %llu nodes of 56 bytes at least",
           (unsigned long long)s.bytes, (unsigned long long)s.nodes);
}

/* The payloads the model dropped in this call were released once each (if
 * their owner releases), and nothing else was released or retained. */
static void check_callbacks(run *r)
{
    for (size_t i = 0; i < r->m.dropped_count; i++) {
        payload *p = r->m.dropped[i];
        if (p->owner != OWNER_NONE) {
            p->expected_releases++;
            releases_expected++;
        }
        EXPECT(p->releases == p->expected_releases,
               "payload of insert %zu released %ld times, expected %ld", p->number, p->releases,
               p->expected_releases);
    }
    EXPECT(releases_seen == releases_expected, "%ld releases so far, the model says %ld", releases_seen,
           releases_expected);
    EXPECT(retains_seen == retains_expected, "%ld retains so far, the model says %ld", retains_seen,
           retains_expected);
}

static void check_op_stats(run *r, size_t capacity)
{
    ircache_op_stats out[16];
    memset(out, 0xa5, sizeof out);
    int64_t n = ircache_get_op_stats(r->c, capacity ? out : NULL, capacity);
    EXPECT(n == (int64_t)r->m.op_count, "get_op_stats returned %lld, the model has %zu labels",
           (long long)n, r->m.op_count);
    for (size_t i = 0; i < capacity && i < r->m.op_count; i++) {
        const model_op *w = &r->m.ops[i];
        const char *name = model_labels[w->label].name;
        EXPECT(out[i].op != NULL && strcmp(out[i].op, name) == 0, "op %zu is \"%s\", expected \"%s\"", i,
               out[i].op != NULL ? out[i].op : "(null)", name);
        EXPECT(out[i].inserts == w->inserts && out[i].reused == w->reused,
               "op %zu (\"%s\"): %llu inserts, %llu reused; the model says %llu, %llu", i, name,
               (unsigned long long)out[i].inserts, (unsigned long long)out[i].reused,
               (unsigned long long)w->inserts, (unsigned long long)w->reused);
    }
    for (size_t i = r->m.op_count; i < capacity; i++) {
        ircache_op_stats untouched;
        memset(&untouched, 0xa5, sizeof untouched);
        EXPECT(memcmp(&out[i], &untouched, sizeof untouched) == 0, "op stats entry %zu written past the count", i);
    }
}

static void check_dump(run *r, int json)
{
    const char *path = json ? json_path : dot_path;
    int rc = json ? ircache_dump_json(r->c, path) : ircache_dump_dot(r->c, path);
    EXPECT(rc == 0, "dump to %s returned %d (%s)", path, rc, ircache_last_error());
    char *got = slurp(path);
    char *want = json ? model_json(&r->m) : model_dot(&r->m);
    expect_text(json ? "JSON dump" : "DOT dump", got, want);
    free(got);
    free(want);
}

/* model.library_has: the ids in a JSON dump made after the library's call,
 * made once per call when the model first asks (only when an eviction
 * meets leaves of equal stamps, which the header leaves unordered). */
static int library_has(void *ctx, uint64_t id)
{
    run *r = ctx;
    if (!r->held_known) {
        int rc = ircache_dump_json(r->c, json_path);
        EXPECT(rc == 0, "dump to %s returned %d (%s)", json_path, rc, ircache_last_error());
        char *text = slurp(json_path);
        EXPECT(text != NULL, "cannot read %s", json_path);
        r->held_count = 0;
        for (const char *at = text; (at = strstr(at, "{\"id\": ")) != NULL;) {
            at += strlen("{\"id\": ");
            if (r->held_count == r->held_capacity) {
                r->held_capacity = r->held_capacity ? 2 * r->held_capacity : 64;
                r->held = realloc(r->held, r->held_capacity * sizeof *r->held);
                EXPECT(r->held != NULL, "no memory for %zu ids", r->held_capacity);
            }
            r->held[r->held_count++] = strtoull(at, NULL, 10);
        }
        free(text);
        r->held_known = 1;
        if (tracing)
            fprintf(stderr, "   (equal stamps: the library holds %zu nodes after the call)\n",
                    r->held_count);
    }
    for (size_t i = 0; i < r->held_count; i++)
        if (r->held[i] == id)
            return 1;
    return 0;
}

static void trace(const call *k)
{
    fprintf(stderr, "%zu: thread %d %s", current->call_number, k->thread, call_names[k->kind]);
    if (k->kind == LOOKUP || k->kind == LOOKUP_OWNED || k->kind == INSERT) {
        fprintf(stderr, " key[%zu]=\"", k->key_len);
        for (size_t i = 0; i < k->key_len && i < 20; i++) {
            unsigned char ch = ((const unsigned char *)k->key)[i];
            if (ch >= 0x20 && ch < 0x7f)
                fputc(ch, stderr);
            else
                fprintf(stderr, "\\x%02x", ch);
        }
        fprintf(stderr, "%s\"", k->key_len > 20 ? "..." : "");
    }
    if (k->kind == INSERT)
        fprintf(stderr, " label %zu owner %d", k->label, k->owner);
    if (k->kind == LOOKUP_OWNED)
        fprintf(stderr, " owner %d", k->owner);
    if (k->kind == SET_MAX_NODES || k->kind == SET_ENABLED || k->kind == GET_OP_STATS ||
        k->kind == DUMP_BAD_PATH)
        fprintf(stderr, " %llu", (unsigned long long)k->value);
    fputc('\n', stderr);
}

/* Makes the call on the calling thread, mirrors it in the model, checks. */
static void make_call(run *r, const call *k)
{
    model *m = &r->m;
    m->dropped_count = 0; /* calls the model has no function for drop nothing */
    r->held_known = 0;
    switch (k->kind) {
    case LOOKUP:
    case LOOKUP_OWNED: {
        void *got = k->kind == LOOKUP ? ircache_lookup(r->c, k->key, k->key_len)
                                      : ircache_lookup_owned(r->c, k->key, k->key_len, owner_ptr(k->owner));
        void *want = model_lookup(m, k->thread, k->key, k->key_len, k->kind == LOOKUP ? -1 : k->owner);
        EXPECT(got == want, "returned the payload of insert %lld, the model says insert %lld",
               got ? (long long)((payload *)got)->number : -1LL,
               want ? (long long)((payload *)want)->number : -1LL);
        if (want != NULL && ((payload *)want)->owner == OWNER_RETAINING) {
            payload *p = want;
            p->expected_retains++;
            retains_expected++;
            EXPECT(p->retains == p->expected_retains, "payload of insert %zu retained %ld times, expected %ld",
                   p->number, p->retains, p->expected_retains);
        }
        break;
    }
    case INSERT: {
        payload *p = &r->payloads[r->payload_count];
        *p = (payload){.number = r->payload_count, .owner = k->owner};
        r->payload_count++;
        int rc = ircache_insert(r->c, k->key, k->key_len, model_labels[k->label].bytes, p, owner_ptr(k->owner));
        int want = model_insert(m, k->thread, k->key, k->key_len, k->label, k->owner, p);
        EXPECT(rc == want, "returned %d (%s), the model says %d", rc, ircache_last_error(), want);
        if (rc == IRCACHE_EDISABLED)
            EXPECT(strncmp(ircache_last_error(), ircache_strerror(rc), strlen(ircache_strerror(rc))) == 0,
                   "last error \"%s\" after %d", ircache_last_error(), rc);
        break;
    }
    case MARK_STEP:
        ircache_mark_step(r->c);
        model_mark_step(m, k->thread);
        break;
    case CLEAR:
        ircache_clear(r->c);
        model_clear(m);
        break;
    case SET_MAX_NODES: {
        int rc = ircache_set_max_nodes(r->c, k->value);
        model_set_max_nodes(m, k->value);
        EXPECT(rc == 0, "returned %d (%s)", rc, ircache_last_error());
        break;
    }
    case SET_ENABLED: {
        int rc = ircache_set_enabled(r->c, (int)k->value);
        model_set_enabled(m, (int)k->value);
        EXPECT(rc == 0, "returned %d", rc);
        EXPECT(ircache_is_enabled(r->c) == m->enabled, "is_enabled says %d, the model %d",
               ircache_is_enabled(r->c), m->enabled);
        break;
    }
    case DUMP_DOT:
    case DUMP_JSON:
        check_dump(r, k->kind == DUMP_JSON);
        break;
    case DUMP_BAD_PATH: {
        const char *path = k->value % 3 == 0 ? temp_dir : k->value % 3 == 1 ? missing_path : "";
        int json = (k->value / 3) % 2;
        int rc = json ? ircache_dump_json(r->c, path) : ircache_dump_dot(r->c, path);
        int want = path[0] == '\0' ? IRCACHE_EINVAL : IRCACHE_EIO;
        EXPECT(rc == want, "dump to \"%s\" returned %d, expected %d", path, rc, want);
        break;
    }
    case GET_STATS:
        break; /* done after every call */
    case GET_OP_STATS:
        check_op_stats(r, (size_t)k->value);
        break;
    case THREAD_EXIT:
        break; /* made by the main thread, see run_call */
    }
    check_callbacks(r);
    check_stats(r);
}

typedef struct job {
    run *r;
    const call *k;
} job;

static void call_job(void *arg)
{
    job *j = arg;
    make_call(j->r, j->k);
}

static void run_call(run *r, const call *k)
{
    r->now = k;
    if (tracing)
        trace(k);
    if (k->kind == THREAD_EXIT) {
        job_thread_stop(&thread1);
        model_thread_exit(&r->m, 1);
        check_callbacks(r);
        check_stats(r);
    } else if (k->thread == 1) {
        job j = {r, k};
        job_thread_run(&thread1, call_job, &j);
    } else {
        make_call(r, k);
    }
    r->call_number++;
}

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static uint8_t next_byte(reader *in)
{
    return in->p < in->end ? *in->p++ : 0;
}

/* One call from the input. The call byte's bit 7 picks the thread and its
 * low five bits the call: lookups and inserts most often. */
static call decode(reader *in)
{
    static const uint64_t bounds[] = {0, 1, 2, 3, 4, 5, 8, 64};
    uint8_t b = next_byte(in);
    call k = {.thread = b >> 7};
    unsigned code = b & 31u;
    if (code < 10)
        k.kind = LOOKUP;
    else if (code < 18)
        k.kind = INSERT;
    else if (code < 21)
        k.kind = MARK_STEP;
    else
        k.kind = (enum call_kind[]){CLEAR,     SET_MAX_NODES, SET_MAX_NODES, SET_ENABLED,  DUMP_DOT,
                                    DUMP_JSON, GET_STATS,     GET_OP_STATS,  LOOKUP_OWNED, THREAD_EXIT,
                                    DUMP_BAD_PATH}[code - 21];
    switch (k.kind) {
    case LOOKUP:
        choose_key(next_byte(in), &k.key, &k.key_len);
        break;
    case LOOKUP_OWNED:
        choose_key(next_byte(in), &k.key, &k.key_len);
        k.owner = next_byte(in) % OWNER_COUNT;
        break;
    case INSERT: {
        choose_key(next_byte(in), &k.key, &k.key_len);
        uint8_t a = next_byte(in);
        k.label = a % model_label_count;
        k.owner = (a / 16) % OWNER_COUNT;
        break;
    }
    case SET_MAX_NODES:
        k.value = bounds[next_byte(in) % 8];
        break;
    case SET_ENABLED:
        k.value = next_byte(in) & 1;
        break;
    case GET_OP_STATS:
        k.value = next_byte(in) % 12;
        break;
    case DUMP_BAD_PATH:
        k.value = next_byte(in) % 6;
        break;
    default:
        break;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);

    run r = {0};
    current = &r;
    make_temp_dir();
    r.c = ircache_new();
    if (r.c == NULL)
        fail("ircache_new returned NULL");
    model_init(&r.m);
    r.m.library_has = library_has;
    r.m.library_ctx = &r;
    r.payloads = calloc(size + 1, sizeof *r.payloads);
    if (r.payloads == NULL)
        fail("no memory for %zu payloads", size + 1);
    retains_seen = releases_seen = retains_expected = releases_expected = 0;

    reader in = {data, data + size};
    while (in.p < in.end) {
        call k = decode(&in);
        run_call(&r, &k);
    }

    /* The end: the whole trie once more, then free releases the rest. */
    call end = {.kind = DUMP_DOT};
    run_call(&r, &end);
    r.now = NULL;
    ircache_free(r.c);
    model_free_all(&r.m);
    check_callbacks(&r);
    for (size_t i = 0; i < r.payload_count; i++) {
        const payload *p = &r.payloads[i];
        EXPECT(p->releases == p->expected_releases && p->retains == p->expected_retains,
               "payload of insert %zu: %ld releases, %ld retains at the end; expected %ld, %ld", i,
               p->releases, p->retains, p->expected_releases, p->expected_retains);
        EXPECT(p->owner == OWNER_NONE || p->releases <= 1, "payload of insert %zu released %ld times", i,
               p->releases);
    }
    model_destroy(&r.m);
    free(r.payloads);
    free(r.held);
    remove_temp_dir();
    current = NULL;
    return 0;
}
