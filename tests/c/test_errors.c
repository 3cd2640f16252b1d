/* test_errors.c - every bad argument gets its documented code and never a
 * crash; ircache_last_error() and ircache_last_errno() tell what happened,
 * per thread; the file errors of the dumps (directory, missing directory,
 * read-only place, full disk); extreme but valid keys. */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dotfile.h"
#include "dumpcheck.h"
#include "ircache.h"
#include "support.h"

static int contains_nocase(const char *haystack, const char *needle)
{
    return haystack != NULL && strcasestr(haystack, needle) != NULL;
}

/* Makes this thread's last error a known one (an empty path) with errno 0,
 * so that the next failure visibly replaces it. */
static const char *reset_last_error(ircache *c)
{
    REQUIRE(ircache_dump_dot(c, "") == IRCACHE_EINVAL);
    return ircache_last_error();
}

static char sentinel[256];

static void arm(ircache *c)
{
    snprintf(sentinel, sizeof sentinel, "%s", reset_last_error(c));
}

/* The last error was replaced by one that says the cache is NULL, and had
 * no system cause. */
#define CHECK_NULL_CACHE_ERROR(what)                                                         \
    do {                                                                                     \
        const char *msg_ = ircache_last_error();                                             \
        CHECK_MSG(msg_ != NULL && strcmp(msg_, sentinel) != 0 && contains_nocase(msg_, "null"), \
                  "%s: last error \"%s\" does not tell that the cache is NULL", what,        \
                  msg_ ? msg_ : "(null)");                                                   \
        CHECK_INT(ircache_last_errno(), 0);                                                  \
    } while (0)

static void null_cache_is_refused_by_every_function(void)
{
    ircache *c = ircache_new();
    char *dir = make_temp_dir();
    char *path = path_join(dir, "never.dot");
    counted *p = counted_array(1);
    ircache_stats s;
    ircache_op_stats ops[2];

    ircache_free(NULL); /* documented: nothing happens */

    arm(c);
    CHECK_PTR(ircache_lookup(NULL, KEY("a")), NULL);
    CHECK_NULL_CACHE_ERROR("ircache_lookup");
    arm(c);
    CHECK_INT(ircache_insert(NULL, KEY("a"), "a", &p[0], &counting_owner), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_insert");
    CHECK_INT(atomic_load(&p[0].releases), 0); /* the caller keeps its payload */
    arm(c);
    CHECK_INT(ircache_dump_dot(NULL, path), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_dump_dot");
    arm(c);
    CHECK_INT(ircache_dump_json(NULL, path), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_dump_json");
    CHECK_INT(count_dir_entries(dir), 0);
    arm(c);
    CHECK_INT(ircache_get_stats(NULL, &s), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_get_stats");
    arm(c);
    CHECK_INT(ircache_get_op_stats(NULL, ops, 2), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_get_op_stats");
    arm(c);
    CHECK_INT(ircache_set_max_nodes(NULL, 10), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_set_max_nodes");
    arm(c);
    CHECK_INT(ircache_set_enabled(NULL, 1), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_set_enabled");
    arm(c);
    CHECK_INT(ircache_is_enabled(NULL), IRCACHE_EINVAL);
    CHECK_NULL_CACHE_ERROR("ircache_is_enabled");
    arm(c);
    ircache_clear(NULL); /* documented: ignored, with EINVAL in the last error */
    CHECK_NULL_CACHE_ERROR("ircache_clear");
    /* Documented as ignored, with no word on the last error: only must not
     * crash. */
    arm(c);
    ircache_mark_step(NULL);
    if (strcmp(ircache_last_error(), sentinel) == 0)
        fprintf(stderr, "note: ircache_mark_step(NULL) leaves the last error as it was\n");
    else
        CHECK_NULL_CACHE_ERROR("ircache_mark_step");

    /* The cache given is untouched by all of this. */
    s = stats_of(c);
    CHECK_U64(s.nodes, 0);
    CHECK_U64(s.inserts, 0);
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
    free(p);
}

static void null_out_arrays_are_refused(void)
{
    ircache *c = ircache_new();
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    arm(c);
    CHECK_INT(ircache_get_stats(c, NULL), IRCACHE_EINVAL);
    CHECK(strcmp(ircache_last_error(), sentinel) != 0);
    arm(c);
    CHECK_INT(ircache_get_op_stats(c, NULL, 3), IRCACHE_EINVAL);
    CHECK(strcmp(ircache_last_error(), sentinel) != 0);
    /* NULL with capacity 0 is the documented way to ask for the count. */
    CHECK_INT(ircache_get_op_stats(c, NULL, 0), 1);
    ircache_free(c);
}

static void bad_keys_are_refused(void)
{
    ircache *c = ircache_new();
    counted *p = counted_array(4);
    REQUIRE(ircache_insert(c, KEY("a"), "a", &p[0], &counting_owner) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    ircache_stats before = stats_of(c);

    /* NULL key with a length. */
    arm(c);
    CHECK_PTR(ircache_lookup(c, NULL, 3), NULL);
    CHECK_MSG(strcmp(ircache_last_error(), sentinel) != 0 &&
                  contains_nocase(ircache_last_error(), "key"),
              "last error \"%s\" does not name the key", ircache_last_error());
    CHECK_INT(ircache_last_errno(), 0);
    arm(c);
    CHECK_INT(ircache_insert(c, NULL, 3, "x", &p[1], &counting_owner), IRCACHE_EINVAL);
    CHECK_MSG(strcmp(ircache_last_error(), sentinel) != 0 &&
                  contains_nocase(ircache_last_error(), "key"),
              "last error \"%s\" does not name the key", ircache_last_error());

    /* A length over UINT32_MAX, with a pointer the library must not read
     * that far. */
#if SIZE_MAX > UINT32_MAX
    char small[8] = "abcdefg";
    size_t huge = (size_t)UINT32_MAX + 1;
    arm(c);
    CHECK_PTR(ircache_lookup(c, small, huge), NULL);
    CHECK(strcmp(ircache_last_error(), sentinel) != 0);
    arm(c);
    CHECK_INT(ircache_insert(c, small, huge, "x", &p[1], &counting_owner), IRCACHE_EINVAL);
    CHECK(strcmp(ircache_last_error(), sentinel) != 0);
    arm(c);
    CHECK_INT(ircache_insert(c, small, SIZE_MAX, "x", &p[1], &counting_owner), IRCACHE_EINVAL);
    CHECK(strcmp(ircache_last_error(), sentinel) != 0);
#else
    fprintf(stderr, "note: size_t is 32 bits: no key can be longer than UINT32_MAX\n");
#endif

    /* NULL payload. */
    arm(c);
    CHECK_INT(ircache_insert(c, KEY("b"), "b", NULL, &counting_owner), IRCACHE_EINVAL);
    CHECK_MSG(strcmp(ircache_last_error(), sentinel) != 0 &&
                  contains_nocase(ircache_last_error(), "payload"),
              "last error \"%s\" does not name the payload", ircache_last_error());
    CHECK_INT(ircache_insert(c, KEY("b"), "b", NULL, NULL), IRCACHE_EINVAL);

    /* Nothing was stored or counted, and no payload was released. */
    ircache_stats after = stats_of(c);
    CHECK_U64(after.nodes, before.nodes);
    CHECK_U64(after.bytes, before.bytes);
    CHECK_U64(after.inserts, before.inserts);
    CHECK_U64(after.forks, before.forks);
    CHECK_U64(after.hits, before.hits);
    CHECK_INT(ircache_get_op_stats(c, NULL, 0), 1);
    CHECK_INT(counted_total_releases(p, 4), 0);
    /* The position stayed at a: b goes under a. */
    REQUIRE(ircache_insert(c, KEY("b"), "b", &p[2], &counting_owner) == 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, KEY("a")), &p[0]);
    CHECK_PTR(ircache_lookup(c, KEY("b")), &p[2]);
    ircache_free(c);
    CHECK_INT(counted_total_releases(p, 4), 2);
    free(p);
}

typedef int (*dump_fn)(ircache *, const char *);

static const struct {
    const char *name;
    dump_fn fn;
} dumps[] = {{"ircache_dump_dot", ircache_dump_dot}, {"ircache_dump_json", ircache_dump_json}};

#define N_DUMPS (sizeof dumps / sizeof *dumps)

/* dump(c, path) fails with IRCACHE_EIO, errno err (any nonzero errno when
 * err is -1), and a message that names the path. */
static void check_io_failure(ircache *c, dump_fn dump, const char *name, const char *path, int err)
{
    arm(c);
    int rc = dump(c, path);
    CHECK_MSG(rc == IRCACHE_EIO, "%s(\"%s\") returned %d, expected IRCACHE_EIO", name, path, rc);
    int got = ircache_last_errno();
    if (err == -1)
        CHECK_MSG(got != 0, "%s(\"%s\"): no errno", name, path);
    else
        CHECK_MSG(got == err, "%s(\"%s\"): errno %d (%s), expected %d (%s)", name, path, got,
                  strerror(got), err, strerror(err));
    CHECK_MSG(strstr(ircache_last_error(), path) != NULL,
              "%s: the last error \"%s\" does not name the path \"%s\"", name,
              ircache_last_error(), path);
}

static void bad_paths_are_refused(void)
{
    ircache *c = ircache_new();
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    char *dir = make_temp_dir();
    char *sub = path_join(dir, "subdir");
    REQUIRE(mkdir(sub, 0755) == 0);
    char *sub_slash = path_join(sub, "");
    char *missing = path_join(dir, "missing/graph.dot");
    char *file = path_join(dir, "file");
    REQUIRE(write_file(file, "a file\n") == 0);
    char *under_file = path_join(file, "graph.dot");
    /* Names with a trailing slash, which open() never creates a file by. */
    char *new_slash = path_join(dir, "new.dot/");
    char *missing_slash = path_join(dir, "missing/new.dot/");
    char *file_slash = path_join(file, "");

    for (size_t i = 0; i < N_DUMPS; i++) {
        /* NULL and empty paths: bad arguments, no system cause. */
        check_io_failure(c, dumps[i].fn, dumps[i].name, sub, -1); /* gives errno a value */
        CHECK_INT(dumps[i].fn(c, NULL), IRCACHE_EINVAL);
        CHECK_INT(ircache_last_errno(), 0);
        CHECK_MSG(contains_nocase(ircache_last_error(), "path"),
                  "%s(NULL): last error \"%s\" does not name the path", dumps[i].name,
                  ircache_last_error());
        check_io_failure(c, dumps[i].fn, dumps[i].name, sub, -1);
        CHECK_INT(dumps[i].fn(c, ""), IRCACHE_EINVAL);
        CHECK_INT(ircache_last_errno(), 0);
        CHECK_MSG(contains_nocase(ircache_last_error(), "path"),
                  "%s(\"\"): last error \"%s\" does not name the path", dumps[i].name,
                  ircache_last_error());

        check_io_failure(c, dumps[i].fn, dumps[i].name, sub, EISDIR);
        check_io_failure(c, dumps[i].fn, dumps[i].name, sub_slash, EISDIR);
        check_io_failure(c, dumps[i].fn, dumps[i].name, missing, ENOENT);
        check_io_failure(c, dumps[i].fn, dumps[i].name, under_file, ENOTDIR);
        /* The errors open(path, O_WRONLY | O_CREAT) gives. */
        check_io_failure(c, dumps[i].fn, dumps[i].name, new_slash, EISDIR);
        check_io_failure(c, dumps[i].fn, dumps[i].name, missing_slash, ENOENT);
        check_io_failure(c, dumps[i].fn, dumps[i].name, file_slash, EISDIR);
    }
    /* ircache_dump() on the default cache: the same rules. */
    CHECK_INT(ircache_dump(NULL), IRCACHE_EINVAL);
    CHECK_STR(ircache_last_error(), "invalid argument: dump: the path is NULL");
    CHECK_INT(ircache_dump(""), IRCACHE_EINVAL);
    CHECK_STR(ircache_last_error(), "invalid argument: dump: the path is empty");
    CHECK_INT(ircache_dump(sub), IRCACHE_EIO);
    CHECK_INT(ircache_last_errno(), EISDIR);
    CHECK_INT(ircache_dump(missing), IRCACHE_EIO);
    CHECK_INT(ircache_last_errno(), ENOENT);

    /* Nothing was created anywhere, and the directory is still one. */
    CHECK_INT(count_dir_entries(dir), 2);
    CHECK_INT(count_dir_entries(sub), 0);
    struct stat st;
    REQUIRE(stat(sub, &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    free(sub);
    free(sub_slash);
    free(missing);
    free(under_file);
    free(new_slash);
    free(missing_slash);
    free(file_slash);
    free(file);
    remove_temp_dir(dir);
    ircache_free(c);
}

/* A directory that refuses new files. Permission bits do not stop root,
 * so root gets places that even root cannot write. */
static void read_only_places_are_refused(void)
{
    ircache *c = ircache_new();
    int x, tried = 0;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    if (geteuid() != 0) {
        char *dir = make_temp_dir();
        char *path = path_join(dir, "graph.dot");
        REQUIRE(chmod(dir, 0555) == 0);
        for (size_t i = 0; i < N_DUMPS; i++)
            check_io_failure(c, dumps[i].fn, dumps[i].name, path, EACCES);
        REQUIRE(chmod(dir, 0755) == 0);
        CHECK_INT(count_dir_entries(dir), 0);
        free(path);
        remove_temp_dir(dir);
        tried++;
    }
    static const char *const places[] = {"/sys/ircache-test.dot", "/proc/self/ircache-test.dot"};
    for (size_t p = 0; p < sizeof places / sizeof *places; p++) {
        struct stat st;
        const char *dir = p == 0 ? "/sys" : "/proc/self";
        if (stat(dir, &st) != 0 || lstat(places[p], &st) == 0)
            continue; /* not there, or something already has the name */
        for (size_t i = 0; i < N_DUMPS; i++) {
            check_io_failure(c, dumps[i].fn, dumps[i].name, places[p], -1);
            if (lstat(places[p], &st) == 0) {
                CHECK_MSG(0, "%s created %s", dumps[i].name, places[p]);
                unlink(places[p]);
            }
        }
        tried++;
    }
    if (tried == 0)
        fprintf(stderr, "note: no read-only place found; the case is skipped\n");
    ircache_free(c);
}

/* A file its owner made read-only: writing into it would be refused, so
 * replacing it is too (root, whom permission bits do not stop, replaces
 * it, as it could write into it). Run as nobody in a child when the test
 * runs as root. */
static int read_only_file_case(void)
{
    ircache *c = ircache_new();
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    char *dir = make_temp_dir();
    char *path = path_join(dir, "graph.dot");
    static const char old[] = "digraph G {\n}\n";
    REQUIRE(write_file(path, old) == 0);
    REQUIRE(chmod(path, 0444) == 0);
    for (size_t i = 0; i < N_DUMPS; i++) {
        check_io_failure(c, dumps[i].fn, dumps[i].name, path, EACCES);
        char *now = read_file(path, NULL);
        CHECK_MSG(now != NULL && strcmp(now, old) == 0, "%s changed the read-only file", dumps[i].name);
        free(now);
        struct stat st;
        REQUIRE(stat(path, &st) == 0);
        CHECK_INT(st.st_mode & 07777, 0444);
        CHECK_INT(count_dir_entries(dir), 1);
    }
    free(path);
    remove_temp_dir(dir);
    ircache_free(c);
    return check_failures;
}

static void a_read_only_file_is_refused_and_kept(void)
{
    if (geteuid() != 0) {
        read_only_file_case();
        return;
    }
    fflush(NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        check_failures = 0; /* the child's own, not the parent's so far */
        _exit(read_only_file_case() == 0 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        fprintf(stderr, "note: cannot become an unprivileged user; the case is skipped\n");
        return;
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unprivileged child failed (status %d)", status);
}

/* A path of PATH_MAX - 1 bytes, the longest open() takes, through
 * directories of up to 200-byte names to a file of 20: the dump writes it
 * (its temporary file used to be named by a path 22 bytes longer, and
 * failed with ENAMETOOLONG). */
static void the_longest_path_is_written(void)
{
    enum { NAME = 20, MAX_DEPTH = PATH_MAX / 2 };
    ircache *c = ircache_new();
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    char *top = make_temp_dir();
    char path[PATH_MAX];
    size_t ends[MAX_DEPTH]; /* where each directory's path ends */
    size_t len = (size_t)snprintf(path, sizeof path, "%s", top);
    int depth = 0;
    while (len < PATH_MAX - 1 - 1 - NAME - 1) {
        size_t room = PATH_MAX - 1 - len - 1 - NAME - 1; /* for "/<dir>" then "/<name>" */
        size_t dir_len = room > 200 ? 200 : room;
        path[len] = '/';
        memset(path + len + 1, 'd', dir_len);
        len += 1 + dir_len;
        path[len] = '\0';
        REQUIRE(mkdir(path, 0700) == 0);
        ends[depth++] = len;
    }
    path[len] = '/';
    memset(path + len + 1, 'f', NAME);
    path[len + 1 + NAME] = '\0';
    REQUIRE(strlen(path) == PATH_MAX - 1);
    for (size_t i = 0; i < N_DUMPS; i++) {
        int rc = dumps[i].fn(c, path);
        CHECK_MSG(rc == 0, "%s of a %d-byte path: %d (%s)", dumps[i].name, PATH_MAX - 1, rc,
                  ircache_last_error());
        char *text = read_file(path, NULL);
        CHECK(text != NULL && (strstr(text, "a, 0 hits") != NULL || strstr(text, "\"a\"") != NULL));
        free(text);
        path[len] = '\0';
        CHECK_INT(count_dir_entries(path), rc == 0 ? 1 : 0); /* no temporary file left */
        path[len] = '/';
    }
    unlink(path);
    while (depth > 0) {
        path[ends[--depth]] = '\0';
        REQUIRE(rmdir(path) == 0);
    }
    remove_temp_dir(top);
    ircache_free(c);
}

/* A full disk, simulated by the file size limit: the write fails with
 * EFBIG, the file at the path keeps its bytes and no temporary file is
 * left. Sizes around the writer's buffering (1 MiB): dumps that fit one
 * buffer (the failure comes when the last bytes are written) and one of
 * nearly 4 MiB, whose failure is known by the third full buffer, while
 * nodes are still being formatted, and must end the walk (above 3 MiB for
 * that: keep the labels this long). Without the limit, each dump is then
 * read back whole. */
static void full_disk_leaves_the_old_file(void)
{
    static const int sizes[] = {300, 3000, 60000};
    static const unsigned long limits[] = {1, 4096};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        ircache *c = ircache_new();
        counted *p = counted_array((size_t)sizes[z]);
        char label[64];
        for (int i = 0; i < sizes[z]; i++) {
            snprintf(label, sizeof label, "aten::operation_number_%d", i);
            REQUIRE(ircache_insert(c, &i, sizeof i, label, &p[i], NULL) == 0);
        }
        char *dir = make_temp_dir();
        char *path = path_join(dir, "graph.dot");
        static const char old[] = "digraph G {\n0 -> 7\n7[label=\"old, 1 hits\"]\n}\n";
        REQUIRE(write_file(path, old) == 0);
        REQUIRE(chmod(path, 0640) == 0);
        for (size_t i = 0; i < N_DUMPS; i++)
            for (size_t l = 0; l < 2; l++) {
                int err = 0;
                arm(c);
                int rc = dump_with_file_size_limit(dumps[i].fn, c, path, limits[l], &err);
                CHECK_MSG(rc == IRCACHE_EIO, "%s with %d nodes, limit %lu: returned %d",
                          dumps[i].name, sizes[z], limits[l], rc);
                CHECK_MSG(err == EFBIG, "%s with %d nodes, limit %lu: errno %d (%s)",
                          dumps[i].name, sizes[z], limits[l], err, strerror(err));
                CHECK_MSG(strstr(ircache_last_error(), path) != NULL,
                          "last error \"%s\" does not name the path", ircache_last_error());
                size_t len;
                char *now = read_file(path, &len);
                CHECK_MSG(now != NULL && len == sizeof old - 1 && memcmp(now, old, len) == 0,
                          "the file was changed: \"%s\"", now ? now : "(gone)");
                free(now);
                struct stat st;
                REQUIRE(stat(path, &st) == 0);
                CHECK_INT(st.st_mode & 07777, 0640);
                CHECK_INT(count_dir_entries(dir), 1);
            }
        /* Without the limit the same dump goes through, every node in it. */
        CHECK_INT(ircache_dump_dot(c, path), 0);
        CHECK_INT(count_dir_entries(dir), 1);
        char why[256];
        long nodes = dot_file_check(path, NULL, NULL, why, sizeof why);
        CHECK_MSG(nodes == sizes[z], "%d nodes dumped as %ld: %s", sizes[z], nodes, nodes < 0 ? why : "");
        free(path);
        remove_temp_dir(dir);
        ircache_free(c);
        free(p);
    }
}

/* A non-regular file is written directly: its write errors are reported
 * the same way. */
static void full_device_is_reported(void)
{
    struct stat st;
    if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) {
        fprintf(stderr, "note: no /dev/full; the case is skipped\n");
        return;
    }
    ircache *c = ircache_new();
    int x;
    REQUIRE(ircache_insert(c, KEY("a"), "a", &x, NULL) == 0);
    for (size_t i = 0; i < N_DUMPS; i++)
        check_io_failure(c, dumps[i].fn, dumps[i].name, "/dev/full", ENOSPC);
    REQUIRE(stat("/dev/full", &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    ircache_free(c);
}

static void freeing_null_or_the_default_is_harmless(void)
{
    ircache_free(NULL);
    ircache *d = ircache_default();
    REQUIRE(d != NULL);
    ircache_reset();
    int x;
    REQUIRE(ircache_insert(d, KEY("kept"), "kept", &x, NULL) == 0);
    ircache_mark_step(d);
    arm(d);
    ircache_free(d); /* ignored, with IRCACHE_EINVAL in the last error */
    CHECK_MSG(strcmp(ircache_last_error(), sentinel) != 0 && *ircache_last_error(),
              "freeing the default cache left no error: \"%s\"", ircache_last_error());
    CHECK_INT(ircache_last_errno(), 0);
    /* Still the same, still working, still holding its node. */
    CHECK_PTR(ircache_default(), d);
    CHECK_U64(stats_of(d).nodes, 1);
    CHECK_PTR(ircache_lookup(d, KEY("kept")), &x);
    ircache_mark_step(d);
    ircache_reset();
    CHECK_U64(stats_of(d).nodes, 0);
}

static void strerror_knows_every_code(void)
{
    static const int known[] = {IRCACHE_EINVAL, IRCACHE_ENOMEM, IRCACHE_EIO, IRCACHE_EDISABLED};
    static const char *const words[] = {"argument", "memory", "", "disabled"};
    static const int unknown[] = {1, 2, -5, -6, -100, 42, INT_MIN, INT_MAX};
    const char *texts[5];
    CHECK_STR(ircache_strerror(0), "success");
    texts[0] = ircache_strerror(0);
    for (size_t i = 0; i < 4; i++) {
        const char *t = ircache_strerror(known[i]);
        CHECK_MSG(t != NULL && *t, "ircache_strerror(%d) is empty", known[i]);
        if (t == NULL)
            continue;
        texts[i + 1] = t;
        CHECK_MSG(contains_nocase(t, words[i]), "ircache_strerror(%d) is \"%s\", lacking \"%s\"",
                  known[i], t, words[i]);
        CHECK_PTR(ircache_strerror(known[i]), t); /* static text */
    }
    const char *eio = ircache_strerror(IRCACHE_EIO);
    CHECK_MSG(eio != NULL && (contains_nocase(eio, "I/O") || contains_nocase(eio, "file") ||
                              contains_nocase(eio, "input")),
              "ircache_strerror(IRCACHE_EIO) is \"%s\"", eio ? eio : "(null)");
    for (size_t i = 0; i < 5; i++)
        for (size_t j = i + 1; j < 5; j++)
            CHECK_MSG(strcmp(texts[i], texts[j]) != 0, "codes share the text \"%s\"", texts[i]);
    for (size_t u = 0; u < sizeof unknown / sizeof *unknown; u++) {
        const char *t = ircache_strerror(unknown[u]);
        CHECK_MSG(t != NULL && *t, "ircache_strerror(%d) is NULL or empty", unknown[u]);
        if (t == NULL)
            continue;
        for (size_t i = 0; i < 5; i++)
            CHECK_MSG(strcmp(t, texts[i]) != 0, "unknown code %d reads as \"%s\"", unknown[u], t);
    }
    /* The numbers themselves are fixed forever. */
    CHECK_INT(IRCACHE_EINVAL, -1);
    CHECK_INT(IRCACHE_ENOMEM, -2);
    CHECK_INT(IRCACHE_EIO, -3);
    CHECK_INT(IRCACHE_EDISABLED, -4);
}

/* ---- the last error is per thread --------------------------------------- */

typedef struct thread_b {
    ircache *c;
    char *path;
    char first[256];
    int first_errno;
    char after[512];
    int after_errno;
} thread_b;

static void *fail_in_thread_b(void *arg)
{
    thread_b *b = arg;
    snprintf(b->first, sizeof b->first, "%s", ircache_last_error());
    b->first_errno = ircache_last_errno();
    (void)ircache_dump_dot(b->c, b->path); /* a directory: EISDIR */
    snprintf(b->after, sizeof b->after, "%s", ircache_last_error());
    b->after_errno = ircache_last_errno();
    return NULL;
}

typedef struct thread_a {
    ircache *c;
    char *dir;
    int ok;
} thread_a;

static void *thread_a_main(void *arg)
{
    thread_a *a = arg;
    /* A thread that never failed sees an empty message and errno 0. */
    CHECK_STR(ircache_last_error(), "");
    CHECK_INT(ircache_last_errno(), 0);
    int x;
    REQUIRE(ircache_insert(a->c, KEY("a"), "a", &x, NULL) == 0);
    CHECK_STR(ircache_last_error(), "");

    char *missing = path_join(a->dir, "missing/a.dot");
    CHECK_INT(ircache_dump_dot(a->c, missing), IRCACHE_EIO);
    const char *mine = ircache_last_error();
    char copy[512];
    snprintf(copy, sizeof copy, "%s", mine);
    CHECK_CONTAINS(copy, missing);
    CHECK_INT(ircache_last_errno(), ENOENT);

    /* Successes do not clear it. */
    char *ok_path = path_join(a->dir, "ok.dot");
    CHECK_INT(ircache_dump_dot(a->c, ok_path), 0);
    CHECK_INT(ircache_insert(a->c, KEY("b"), "b", &x, NULL), 0);
    CHECK_PTR(ircache_lookup(a->c, KEY("nothing")), NULL); /* a miss is no failure */
    CHECK_STR(ircache_last_error(), copy);
    CHECK_INT(ircache_last_errno(), ENOENT);

    /* Thread B fails differently; A's message and errno stay, and the
     * pointer A holds still reads the same. */
    thread_b b;
    memset(&b, 0, sizeof b);
    b.c = a->c;
    b.path = a->dir;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fail_in_thread_b, &b) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_STR(b.first, "");
    CHECK_INT(b.first_errno, 0);
    CHECK_CONTAINS(b.after, a->dir);
    CHECK_INT(b.after_errno, EISDIR);
    CHECK_STR(ircache_last_error(), copy);
    CHECK_STR(mine, copy);
    CHECK_INT(ircache_last_errno(), ENOENT);
    free(missing);
    free(ok_path);
    a->ok = 1;
    return NULL;
}

static void last_error_is_per_thread(void)
{
    ircache *c = ircache_new();
    char *dir = make_temp_dir();
    /* The main thread failed before; the new threads must not see it. */
    CHECK_INT(ircache_dump_dot(c, NULL), IRCACHE_EINVAL);
    char main_copy[512];
    snprintf(main_copy, sizeof main_copy, "%s", ircache_last_error());
    thread_a a = {c, dir, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, thread_a_main, &a) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(a.ok);
    CHECK_STR(ircache_last_error(), main_copy);
    CHECK_INT(ircache_last_errno(), 0);
    remove_temp_dir(dir);
    ircache_free(c);
}

/* ---- extreme but valid keys --------------------------------------------- */

static void empty_and_one_mib_keys_work(void)
{
    ircache *c = ircache_new();
    counted *p = counted_array(3);
    size_t big_len = (size_t)1 << 20;
    unsigned char *big = malloc(big_len);
    REQUIRE(big != NULL);
    uint32_t state = 12345;
    for (size_t i = 0; i < big_len; i++) {
        state = state * 1103515245u + 12345u;
        big[i] = (unsigned char)(state >> 24);
    }
    /* Empty key (NULL allowed with length 0, the same key as ""). */
    CHECK_INT(ircache_insert(c, NULL, 0, "empty", &p[0], &counting_owner), 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, "", 0), &p[0]);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, NULL, 0), &p[0]);
    /* Under it, a 1 MiB key. */
    CHECK_INT(ircache_insert(c, big, big_len, "big", &p[1], &counting_owner), 0);
    ircache_mark_step(c);
    CHECK_PTR(ircache_lookup(c, NULL, 0), &p[0]);
    CHECK_PTR(ircache_lookup(c, big, big_len - 1), NULL);
    big[big_len - 1] ^= 1;
    CHECK_PTR(ircache_lookup(c, big, big_len), NULL);
    big[big_len - 1] ^= 1;
    CHECK_PTR(ircache_lookup(c, big, big_len), &p[1]);
    /* And under that, the empty key again (a different node). */
    CHECK_INT(ircache_insert(c, "", 0, "empty2", &p[2], &counting_owner), 0);
    ircache_mark_step(c);
    ircache_stats s = stats_of(c);
    CHECK_U64(s.nodes, 3);
    CHECK_MSG(s.bytes >= big_len, "bytes %" PRIu64 " do not count the 1 MiB key", s.bytes);

    char *dir = make_temp_dir();
    char *dot = path_join(dir, "keys.dot");
    char *js = path_join(dir, "keys.json");
    CHECK_INT(ircache_dump_dot(c, dot), 0);
    char *text = read_file(dot, NULL);
    /* empty: found by "", NULL, then NULL again before big. */
    CHECK_STR(text, "digraph G {\n0 -> 1\n1[label=\"empty, 3 hits\"]\n1 -> 2\n"
                    "2[label=\"big, 1 hits\"]\n2 -> 3\n3[label=\"empty2, 0 hits\"]\n}\n");
    free(text);
    CHECK_INT(ircache_dump_json(c, js), 0);
    size_t len;
    text = read_file(js, &len);
    REQUIRE(text != NULL);
    char err[256] = "";
    json *doc = json_parse(text, len, err, sizeof err);
    CHECK_MSG(doc != NULL, "the JSON dump does not parse: %s", err);
    const json *nodes = json_get(doc, "nodes");
    CHECK(nodes != NULL && nodes->type == JSON_ARRAY && nodes->n == 4);
    if (nodes != NULL && nodes->n == 4) {
        const json *k1 = json_get(nodes->items[1], "key");
        const json *k2 = json_get(nodes->items[2], "key");
        const json *k3 = json_get(nodes->items[3], "key");
        CHECK(k1 != NULL && k1->type == JSON_STRING && k1->len == 0);
        CHECK(k3 != NULL && k3->type == JSON_STRING && k3->len == 0);
        CHECK(k2 != NULL && k2->type == JSON_STRING && k2->len == 2 * big_len);
        if (k2 != NULL && k2->len == 2 * big_len) {
            size_t bad = big_len;
            for (size_t i = 0; i < big_len && bad == big_len; i++) {
                char pair[3];
                snprintf(pair, sizeof pair, "%02x", big[i]);
                if (memcmp(k2->str + 2 * i, pair, 2) != 0)
                    bad = i;
            }
            CHECK_MSG(bad == big_len, "the hex key differs at byte %zu", bad);
        }
    }
    json_free(doc);
    free(text);
    CHECK_INT(count_dir_entries(dir), 2);
    free(dot);
    free(js);
    remove_temp_dir(dir);
    ircache_clear(c);
    CHECK_INT(counted_first_not_released_once(p, 3), -1);
    ircache_free(c);
    free(big);
    free(p);
}

int main(void)
{
    RUN(null_cache_is_refused_by_every_function);
    RUN(null_out_arrays_are_refused);
    RUN(bad_keys_are_refused);
    RUN(bad_paths_are_refused);
    RUN(read_only_places_are_refused);
    RUN(a_read_only_file_is_refused_and_kept);
    RUN(the_longest_path_is_written);
    RUN(full_disk_leaves_the_old_file);
    RUN(full_device_is_reported);
    RUN(freeing_null_or_the_default_is_harmless);
    RUN(strerror_knows_every_code);
    RUN(last_error_is_per_thread);
    RUN(empty_and_one_mib_keys_work);
    return check_exit_code();
}
