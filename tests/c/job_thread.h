/* job_thread.h - a thread that runs one job at a time for another: the job
 * is handed over, and the caller waits until it is done. Tests use it to
 * make library calls as a second thread, in an order they choose. */
#ifndef IRCACHE_TEST_JOB_THREAD_H
#define IRCACHE_TEST_JOB_THREAD_H

#include <pthread.h>

/* Zero-initialised, it is ready: the thread starts with the first job. */
typedef struct job_thread {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void (*job)(void *);
    void *arg;
    int quit, running;
    pthread_t thread;
} job_thread;

/* Runs job(arg) on t's thread and returns when it is done. */
void job_thread_run(job_thread *t, void (*job)(void *), void *arg);

/* Ends t's thread, if it runs: its exit hooks have run when this returns,
 * and the next job starts a new thread. */
void job_thread_stop(job_thread *t);

#endif
