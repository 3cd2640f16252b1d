/* job_thread.c - see job_thread.h. */
#include "job_thread.h"

#include "check.h"

static void *job_thread_main(void *arg)
{
    job_thread *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (t->job == NULL && !t->quit)
            pthread_cond_wait(&t->cond, &t->lock);
        if (t->job == NULL)
            break;
        void (*job)(void *) = t->job;
        pthread_mutex_unlock(&t->lock);
        job(t->arg);
        pthread_mutex_lock(&t->lock);
        t->job = NULL;
        pthread_cond_broadcast(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

void job_thread_run(job_thread *t, void (*job)(void *), void *arg)
{
    if (!t->running) {
        REQUIRE(pthread_mutex_init(&t->lock, NULL) == 0);
        REQUIRE(pthread_cond_init(&t->cond, NULL) == 0);
        t->job = NULL;
        t->quit = 0;
        REQUIRE(pthread_create(&t->thread, NULL, job_thread_main, t) == 0);
        t->running = 1;
    }
    pthread_mutex_lock(&t->lock);
    t->job = job;
    t->arg = arg;
    pthread_cond_broadcast(&t->cond);
    while (t->job != NULL)
        pthread_cond_wait(&t->cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

void job_thread_stop(job_thread *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->quit = 1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    REQUIRE(pthread_join(t->thread, NULL) == 0);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    t->running = 0;
}
