/* writer_thread.c - the helper thread of writer_thread.h. */
#define _POSIX_C_SOURCE 200809L /* sigset_t, pthread_sigmask */

#include "writer_thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "alloc.h"

int ircache__write_all(int fd, const void *p, size_t n)
{
    const unsigned char *at = p;
    while (n > 0) {
        ssize_t done = write(fd, at, n);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (done == 0)
            return EIO;
        at += done;
        n -= (size_t)done;
    }
    return 0;
}

struct ircache__writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int fd;
    /* Guarded by lock. */
    unsigned char *held; /* the buffer the helper writes or has written */
    size_t held_len;
    int busy;            /* held is not written yet */
    int stop;
    int err;             /* errno of the first failed write */
};

static void *write_handed_buffers(void *arg)
{
    ircache__writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->busy && !w->stop)
            pthread_cond_wait(&w->changed, &w->lock);
        if (!w->busy)
            break;
        unsigned char *buf = w->held;
        size_t len = w->held_len;
        int failed = w->err != 0;
        pthread_mutex_unlock(&w->lock);
        int err = failed ? 0 : ircache__write_all(w->fd, buf, len);
        pthread_mutex_lock(&w->lock);
        if (err != 0 && w->err == 0)
            w->err = err;
        w->busy = 0;
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
    w->held = ircache__malloc(buffer_size);
    if (w->held == NULL)
        goto no_buffer;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        goto no_lock;
    if (pthread_cond_init(&w->changed, NULL) != 0)
        goto no_cond;
    if (start_thread(w) != 0)
        goto no_thread;
    return w;
no_thread:
    pthread_cond_destroy(&w->changed);
no_cond:
    pthread_mutex_destroy(&w->lock);
no_lock:
    ircache__free(w->held);
no_buffer:
    ircache__free(w);
    return NULL;
}

/* Waits until the helper has written what it holds (lock held). */
static void wait_idle(ircache__writer *w)
{
    while (w->busy)
        pthread_cond_wait(&w->changed, &w->lock);
}

unsigned char *ircache__writer_hand(ircache__writer *w, unsigned char *buf, size_t len, int *err)
{
    pthread_mutex_lock(&w->lock);
    wait_idle(w);
    unsigned char *written = w->held;
    w->held = buf;
    w->held_len = len;
    w->busy = 1;
    if (w->err != 0)
        *err = w->err;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    return written;
}

int ircache__writer_finish(ircache__writer *w)
{
    pthread_mutex_lock(&w->lock);
    wait_idle(w);
    w->stop = 1;
    pthread_cond_broadcast(&w->changed);
    int err = w->err;
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    ircache__free(w->held);
    ircache__free(w);
    return err;
}
