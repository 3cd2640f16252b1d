/* writer_thread.c - the helper thread of writer_thread.h. */
#define _POSIX_C_SOURCE 200809L /* sigset_t, pthread_sigmask */

#include "writer_thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "alloc.h"

int ircache__write_all_at(int fd, const void *p, size_t n, int64_t at)
{
    const unsigned char *from = p;
    while (n > 0) {
        ssize_t done = at < 0 ? write(fd, from, n) : pwrite(fd, from, n, (off_t)at);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (done == 0)
            return EIO;
        from += done;
        n -= (size_t)done;
        if (at >= 0)
            at += done;
    }
    return 0;
}

int ircache__write_all(int fd, const void *p, size_t n)
{
    return ircache__write_all_at(fd, p, n, -1);
}

/* Buffers the helper may hold: one it writes and one waiting, so that a
 * helper running a little behind never stops the caller. */
#define HELD 2

typedef struct handed {
    unsigned char *buf;
    size_t len;
    int64_t at; /* where it goes: see ircache__writer_hand */
} handed;

struct ircache__writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int fd;
    /* Guarded by lock. Every buffer is the caller's, in queue or a spare:
     * count + spares == HELD. */
    handed queue[HELD]; /* queue[0] is the one being written */
    int count;
    unsigned char *spare[HELD]; /* written, for the caller to fill */
    int spares;
    int stop;
    int err;            /* errno of the first failed write */
};

static void *write_handed_buffers(void *arg)
{
    ircache__writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->count == 0 && !w->stop)
            pthread_cond_wait(&w->changed, &w->lock);
        if (w->count == 0)
            break;
        handed h = w->queue[0];
        int failed = w->err != 0;
        pthread_mutex_unlock(&w->lock);
        int err = failed ? 0 : ircache__write_all_at(w->fd, h.buf, h.len, h.at);
        pthread_mutex_lock(&w->lock);
        if (err != 0 && w->err == 0)
            w->err = err;
        w->spare[w->spares++] = h.buf;
        for (int i = 1; i < w->count; i++)
            w->queue[i - 1] = w->queue[i];
        w->count--;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int start_thread(ircache__writer *w)
{
    /* Signals meant for the process go to its own threads, never to ours
     * (the caller raises SIGPIPE and SIGXFSZ itself: atomic_file.c). */
    sigset_t all, old;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        return -1;
    int rc = pthread_create(&w->thread, NULL, write_handed_buffers, w);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

/* The process that loaded the library: a process forked from it (of a
 * parent that may have had threads) starts none. */
static pid_t loaded_by;

#if defined(__GNUC__)
__attribute__((constructor)) static void note_loading_process(void)
{
    loaded_by = getpid();
}
#endif

ircache__writer *ircache__writer_start(int fd, size_t buffer_size)
{
    if (getpid() != loaded_by)
        return NULL;
    ircache__writer *w = ircache__malloc(sizeof *w);
    if (w == NULL)
        return NULL;
    *w = (ircache__writer){.fd = fd};
    for (; w->spares < HELD; w->spares++) {
        w->spare[w->spares] = ircache__malloc(buffer_size);
        if (w->spare[w->spares] == NULL)
            goto no_buffers;
    }
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        goto no_buffers;
    if (pthread_cond_init(&w->changed, NULL) != 0)
        goto no_cond;
    if (start_thread(w) != 0)
        goto no_thread;
    return w;
no_thread:
    pthread_cond_destroy(&w->changed);
no_cond:
    pthread_mutex_destroy(&w->lock);
no_buffers:
    while (w->spares > 0)
        ircache__free(w->spare[--w->spares]);
    ircache__free(w);
    return NULL;
}

/* Queues buf for the helper and returns a spare (lock held, a spare left). */
static unsigned char *swap_in(ircache__writer *w, unsigned char *buf, size_t len, int64_t at, int *err)
{
    w->queue[w->count++] = (handed){buf, len, at};
    if (w->err != 0)
        *err = w->err;
    pthread_cond_broadcast(&w->changed);
    return w->spare[--w->spares];
}

unsigned char *ircache__writer_hand(ircache__writer *w, unsigned char *buf, size_t len, int64_t at, int *err)
{
    pthread_mutex_lock(&w->lock);
    while (w->spares == 0)
        pthread_cond_wait(&w->changed, &w->lock);
    unsigned char *spare = swap_in(w, buf, len, at, err);
    pthread_mutex_unlock(&w->lock);
    return spare;
}

unsigned char *ircache__writer_offer(ircache__writer *w, unsigned char *buf, size_t len, int64_t at, int *err)
{
    pthread_mutex_lock(&w->lock);
    unsigned char *spare = NULL;
    if (w->spares > 0)
        spare = swap_in(w, buf, len, at, err);
    else if (w->err != 0)
        *err = w->err;
    pthread_mutex_unlock(&w->lock);
    return spare;
}

int ircache__writer_finish(ircache__writer *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->count > 0)
        pthread_cond_wait(&w->changed, &w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->changed);
    int err = w->err;
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    while (w->spares > 0)
        ircache__free(w->spare[--w->spares]);
    ircache__free(w);
    return err;
}
