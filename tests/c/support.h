/* support.h - what several C tests need: payloads that count their retains
 * and releases, temporary directories, reading files back. */
#ifndef IRCACHE_TEST_SUPPORT_H
#define IRCACHE_TEST_SUPPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "ircache.h"

/* 1 in a ThreadSanitizer build (gcc or clang), else 0. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* A NUL-terminated string as a key: pointer and length. */
#define KEY(s) (s), strlen(s)

/* The cache's counters (the test exits if they cannot be had). */
ircache_stats stats_of(ircache *c);

/* The reuse count of op in the cache's op statistics; UINT64_MAX when the
 * label is not among its first 64. */
uint64_t op_reused(ircache *c, const char *op);

/* pthread_create / pthread_join that end the test when they fail. */
void start_thread(pthread_t *t, void *(*fn)(void *), void *arg);
void join_thread(pthread_t t);
/* Waits for the child pid (through EINTR); its status, as waitpid's. */
int wait_child(pid_t pid);

/* A thread that used a cache once (a miss at the root, under a key no test
 * inserts: it pins nothing) and then waits, registered, until idle_stop:
 * the cache must then assume lookups of another thread may be in flight. */
typedef struct idle_thread idle_thread;

idle_thread *idle_start(ircache *c);
void idle_stop(idle_thread *t);

/* A payload whose owner counts what the cache did with it. */
typedef struct counted {
    int value;
    _Atomic int retains;
    _Atomic int releases;
} counted;

/* Owner whose retain/release count on the counted payload. */
extern const ircache_owner counting_owner;

/* An array of n counted payloads, values 0..n-1 (free with free()). */
counted *counted_array(size_t n);

/* Sum of releases over an array; and the first index released != once. */
long counted_total_releases(const counted *items, size_t n);
long counted_first_not_released_once(const counted *items, size_t n);

/* A fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *make_temp_dir(void);

/* Removes the directory and the files in it (not recursive beyond that). */
void remove_temp_dir(char *dir);

/* dir/name as a malloc'd string. */
char *path_join(const char *dir, const char *name);

/* The whole file as a NUL-terminated malloc'd string, or NULL; *size gets
 * the byte count when not NULL. */
char *read_file(const char *path, size_t *size);

/* Writes text to path (creating or truncating it); returns 0 on success. */
int write_file(const char *path, const char *text);

/* Number of entries in dir, . and .. excluded. */
int count_dir_entries(const char *dir);

#endif
