/* test_writer_thread.c - the helper that writes a large dump's buffers
 * (lib/writer_thread.h): bytes arrive whole and in order, a failed write
 * is reported to the caller and ends the writing, and the process's
 * signals are never delivered to it. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, pread */
#define IRCACHE_FAULT_INJECTION 1 /* ircache__fault_inject of lib/alloc.h */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "atomic_file.h"
#include "check.h"
#include "dotfile.h"
#include "ircache.h"
#include "support.h"
#include "writer_thread.h"

#define BUFFER 4096
#define BUFFERS 64

typedef struct drain {
    int fd;
    unsigned char *got;
    size_t len, cap;
} drain;

/* Reads the pipe to its end. */
static void *read_all(void *arg)
{
    drain *d = arg;
    for (;;) {
        if (d->len == d->cap) {
            d->cap = d->cap ? 2 * d->cap : BUFFER;
            d->got = realloc(d->got, d->cap);
            REQUIRE(d->got != NULL);
        }
        ssize_t n = read(d->fd, d->got + d->len, d->cap - d->len);
        if (n < 0 && errno == EINTR)
            continue;
        REQUIRE(n >= 0);
        if (n == 0)
            return NULL;
        d->len += (size_t)n;
    }
}

/* Buffer i of a stream, each byte telling its buffer and place. */
static void fill(unsigned char *buf, size_t i)
{
    for (size_t j = 0; j < BUFFER; j++)
        buf[j] = (unsigned char)(i * 31u + j * 7u);
}

static void buffers_arrive_whole_and_in_order(void)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    drain d = {.fd = fds[0]};
    pthread_t reader;
    start_thread(&reader, read_all, &d);

    ircache__writer *w = ircache__writer_start(fds[1], BUFFER);
    REQUIRE(w != NULL);
    unsigned char *buf = malloc(BUFFER);
    REQUIRE(buf != NULL);
    int err = 0;
    for (size_t i = 0; i < BUFFERS; i++) {
        fill(buf, i);
        /* The helper writes this one; the caller gets the one before. */
        unsigned char *next = ircache__writer_hand(w, buf, BUFFER, -1, &err);
        CHECK(next != NULL && next != buf);
        buf = next;
    }
    CHECK_INT(err, 0);
    CHECK_INT(ircache__writer_finish(w), 0);
    free(buf);
    close(fds[1]);
    join_thread(reader);
    close(fds[0]);

    CHECK_U64(d.len, (uint64_t)BUFFERS * BUFFER);
    unsigned char *want = malloc(BUFFER);
    REQUIRE(want != NULL);
    for (size_t i = 0; i < BUFFERS && d.len == (size_t)BUFFERS * BUFFER; i++) {
        fill(want, i);
        CHECK_MSG(memcmp(d.got + i * BUFFER, want, BUFFER) == 0, "buffer %zu differs", i);
    }
    free(want);
    free(d.got);
}

/* A pipe with no reader: the helper's write fails with EPIPE (SIGPIPE,
 * blocked there, never reaches this process), the next hand and the finish
 * say so, and nothing after the failure is written. */
static void a_failed_write_is_reported_and_ends_the_writing(void)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    close(fds[0]);
    ircache__writer *w = ircache__writer_start(fds[1], BUFFER);
    REQUIRE(w != NULL);
    unsigned char *buf = calloc(1, BUFFER);
    REQUIRE(buf != NULL);
    int err = 0;
    /* The helper holds two buffers: the first two hands return before
     * any write, the third waits for the first. */
    for (int i = 0; i < 3; i++)
        buf = ircache__writer_hand(w, buf, BUFFER, -1, &err);
    CHECK_INT(err, EPIPE);
    CHECK_INT(ircache__writer_finish(w), EPIPE);
    free(buf);
    close(fds[1]);
}

/* A file written by offsets: each buffer is offered to the helper, and the
 * caller writes it itself whenever the helper is still busy; whoever wrote
 * which, the file holds every buffer in its place. The helper's write of a
 * buffer takes about as long as filling the next, so both happen. */
static void offered_buffers_land_at_their_offsets(void)
{
    char path[] = "/tmp/ircache-offsets-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    ircache__writer *w = ircache__writer_start(fd, BUFFER);
    REQUIRE(w != NULL);
    unsigned char *buf = malloc(BUFFER);
    REQUIRE(buf != NULL);
    int err = 0;
    size_t written_here = 0;
    for (size_t i = 0; i < BUFFERS; i++) {
        fill(buf, i);
        int64_t at = (int64_t)(i * BUFFER);
        unsigned char *spare = ircache__writer_offer(w, buf, BUFFER, at, &err);
        if (spare != NULL) {
            buf = spare;
        } else {
            CHECK_INT(ircache__write_all_at(fd, buf, BUFFER, at), 0);
            written_here++;
        }
    }
    CHECK_INT(err, 0);
    CHECK_INT(ircache__writer_finish(w), 0);
    free(buf);
    printf("     %zu of %d buffers written by the caller\n", written_here, BUFFERS);

    unsigned char *got = malloc((size_t)BUFFERS * BUFFER + 1);
    unsigned char *want = malloc(BUFFER);
    REQUIRE(got != NULL && want != NULL);
    ssize_t n = pread(fd, got, (size_t)BUFFERS * BUFFER + 1, 0);
    CHECK_INT(n, BUFFERS * BUFFER);
    for (size_t i = 0; i < BUFFERS && n == BUFFERS * BUFFER; i++) {
        fill(want, i);
        CHECK_MSG(memcmp(got + i * BUFFER, want, BUFFER) == 0, "buffer %zu differs", i);
    }
    free(want);
    free(got);
    close(fd);
    unlink(path);
}

static void write_all_writes_everything_or_says_why(void)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const char text[] = "0 -> 1\n";
    CHECK_INT(ircache__write_all(fds[1], text, sizeof text - 1), 0);
    char got[sizeof text] = {0};
    CHECK_INT((int)read(fds[0], got, sizeof got), (int)sizeof text - 1);
    CHECK_STR(got, text);
    close(fds[0]);
    CHECK_INT(ircache__write_all(fds[1], text, sizeof text - 1), EPIPE);
    close(fds[1]);
    CHECK_INT(ircache__write_all(fds[1], text, sizeof text - 1), EBADF);
}

/* A file of several output buffers, put in pieces of every size: whole and
 * in order, whether a helper writes its buffers or, when none can be had
 * (every allocation failing from the first put on), the caller does. */
static void a_large_file_is_whole_with_or_without_the_helper(int helper)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "large.dot");
    size_t total = 5 * IRCACHE__FILE_BUFFER_SIZE + 12345;
    unsigned char *want = malloc(total);
    REQUIRE(want != NULL);
    for (size_t i = 0; i < total; i++)
        want[i] = (unsigned char)(i * 131u >> 3);
    ircache__file f;
    REQUIRE(ircache__file_open(&f, path) == 0);
    if (!helper)
        ircache__fault_inject(1, 1);
    size_t at = 0, piece = 1;
    while (at < total) {
        size_t n = piece < total - at ? piece : total - at;
        /* Once past the first buffer, one piece larger than a buffer: it
         * goes after everything the helper still has to write. */
        if (at > IRCACHE__FILE_BUFFER_SIZE + 1000 && at < 2 * IRCACHE__FILE_BUFFER_SIZE &&
            total - at > IRCACHE__FILE_BUFFER_SIZE * 3 / 2)
            n = IRCACHE__FILE_BUFFER_SIZE * 3 / 2;
        ircache__file_put(&f, want + at, n);
        at += n;
        piece = piece * 3 % 4093 + 1;
    }
    CHECK_MSG((f.writer != NULL) == helper, "a helper %s", helper ? "was expected" : "was not expected");
    int rc = ircache__file_commit(&f);
    ircache__fault_inject(0, 0);
    CHECK_INT(rc, 0);
    size_t len = 0;
    unsigned char *got = (unsigned char *)read_file(path, &len);
    CHECK_MSG(got != NULL && len == total && memcmp(got, want, total) == 0, "the file differs (%zu bytes of %zu)",
              len, total);
    free(got);
    free(want);
    free(path);
    remove_temp_dir(dir);
}

static void a_large_file_is_whole_with_the_helper(void)
{
    a_large_file_is_whole_with_or_without_the_helper(1);
}

static void a_large_file_is_whole_without_the_helper(void)
{
    a_large_file_is_whole_with_or_without_the_helper(0);
}

/* A dump past RLIMIT_FSIZE, crossed in a buffer the helper writes: the
 * dump fails with EFBIG, leaves no temporary file and the old file as it
 * was, and the process gets one SIGXFSZ, as it would from its own write. */
static volatile sig_atomic_t xfsz_signals;

static void count_xfsz(int sig)
{
    (void)sig;
    xfsz_signals++;
}

static void a_dump_past_the_file_size_limit_fails_whole(void)
{
    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    static int x;
    char key[32];
    for (int i = 0; i < 40000; i++) { /* over 4 MiB of DOT */
        if (i % 100 == 0)
            ircache_mark_step(c);
        snprintf(key, sizeof key, "k%d", i);
        REQUIRE(ircache_insert(c, key, strlen(key), "a label long enough to make a megabyte quickly", &x, NULL) == 0);
    }
    char *dir = make_temp_dir();
    char *path = path_join(dir, "trie.dot");
    const char old_text[] = "digraph G {\n}\n";
    FILE *old_file = fopen(path, "w");
    REQUIRE(old_file != NULL && fputs(old_text, old_file) >= 0 && fclose(old_file) == 0);

    struct sigaction count = {0}, before;
    count.sa_handler = count_xfsz;
    sigemptyset(&count.sa_mask);
    REQUIRE(sigaction(SIGXFSZ, &count, &before) == 0);
    struct rlimit limit, lowered;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &limit) == 0);
    lowered = limit;
    lowered.rlim_cur = 2 * IRCACHE__FILE_BUFFER_SIZE + IRCACHE__FILE_BUFFER_SIZE / 2;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
    xfsz_signals = 0;
    int rc = ircache_dump_dot(c, path);
    int err = ircache_last_errno();
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
    REQUIRE(sigaction(SIGXFSZ, &before, NULL) == 0);

    CHECK_INT(rc, IRCACHE_EIO);
    CHECK_INT(err, EFBIG);
    CHECK_INT((int)xfsz_signals, 1);
    CHECK_INT(count_temp_files(dir), 0);
    size_t len = 0;
    char *text = read_file(path, &len);
    CHECK_MSG(text != NULL && strcmp(text, old_text) == 0, "the old file changed");
    free(text);
    /* And with the limit gone, the same dump succeeds. */
    CHECK_INT(ircache_dump_dot(c, path), 0);
    ircache_free(c);
    free(path);
    remove_temp_dir(dir);
}

int main(void)
{
    /* SIGPIPE as a process gets it by default (it kills): the helper's
     * write into a pipe without a reader must not. */
    signal(SIGPIPE, SIG_DFL);
    RUN(buffers_arrive_whole_and_in_order);
    RUN(a_failed_write_is_reported_and_ends_the_writing);
    RUN(a_large_file_is_whole_with_the_helper);
    RUN(a_large_file_is_whole_without_the_helper);
    RUN(a_dump_past_the_file_size_limit_fails_whole);
    /* This thread's own write into such a pipe would. */
    signal(SIGPIPE, SIG_IGN);
    RUN(offered_buffers_land_at_their_offsets);
    RUN(write_all_writes_everything_or_says_why);
    return check_exit_code();
}
