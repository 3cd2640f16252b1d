/* support.c - helpers shared by the C tests. */
#define _GNU_SOURCE

#include "support.h"

#include "check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <unistd.h>

static void count_retain(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->retains, 1);
}

static void count_release(void *payload, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&((counted *)payload)->releases, 1);
}

const ircache_owner counting_owner = {count_retain, count_release, NULL};

counted *counted_array(size_t n)
{
    counted *items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL) {
        perror("calloc");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        items[i].value = (int)i;
    return items;
}

long counted_total_releases(const counted *items, size_t n)
{
    long total = 0;
    for (size_t i = 0; i < n; i++)
        total += atomic_load(&items[i].releases);
    return total;
}

long counted_first_not_released_once(const counted *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&items[i].releases) != 1)
            return (long)i;
    return -1;
}

char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *templ = path_join(base != NULL && *base ? base : "/tmp", "ircache-test-XXXXXX");
    if (mkdtemp(templ) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return templ;
}

void remove_temp_dir(char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = path_join(dir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (grown == NULL)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    if (size != NULL)
        *size = len;
    return buf;
}

int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

ircache_stats stats_of(ircache *c)
{
    ircache_stats s;
    memset(&s, 0xff, sizeof s); /* poison: every field must be written */
    REQUIRE(ircache_get_stats(c, &s) == 0);
    return s;
}

void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    REQUIRE(pthread_create(t, NULL, fn, arg) == 0);
}

void join_thread(pthread_t t)
{
    REQUIRE(pthread_join(t, NULL) == 0);
}

int wait_child(pid_t pid)
{
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    REQUIRE(waited == pid);
    return status;
}

uint64_t op_reused(ircache *c, const char *op)
{
    ircache_op_stats ops[64];
    int64_t n = ircache_get_op_stats(c, ops, 64);
    for (int64_t i = 0; i < n && i < 64; i++)
        if (strcmp(ops[i].op, op) == 0)
            return ops[i].reused;
    return UINT64_MAX;
}

struct idle_thread {
    pthread_t thread;
    pthread_barrier_t barrier;
    ircache *cache;
};

static void *idle_main(void *arg)
{
    idle_thread *t = arg;
    if (ircache_lookup(t->cache, KEY("idle")) != NULL)
        abort(); /* nothing is ever inserted under that key */
    pthread_barrier_wait(&t->barrier); /* registered */
    pthread_barrier_wait(&t->barrier); /* idle_stop */
    return NULL;
}

idle_thread *idle_start(ircache *c)
{
    idle_thread *t = malloc(sizeof *t);
    REQUIRE(t != NULL);
    t->cache = c;
    REQUIRE(pthread_barrier_init(&t->barrier, NULL, 2) == 0);
    start_thread(&t->thread, idle_main, t);
    pthread_barrier_wait(&t->barrier);
    return t;
}

void idle_stop(idle_thread *t)
{
    pthread_barrier_wait(&t->barrier);
    join_thread(t->thread);
    pthread_barrier_destroy(&t->barrier);
    free(t);
}
