/* cancel.h - calls of the library are not cancellation points.
 *
 * A thread cancelled (pthread_cancel) inside a dump would leave the cache
 * locked for good and its temporary file behind; inside a release
 * callback, the payloads after that one never released. So the parts of a
 * call that reach cancellation points (a dump's file operations and its
 * helper's waits) or call releases hold cancellation off, and a cancel
 * asked meanwhile acts at the caller's next cancellation point. */
#ifndef IRCACHE_CANCEL_H
#define IRCACHE_CANCEL_H

#include <pthread.h>

/* Returns the state to give back to ircache__cancel_restore. */
static inline int ircache__cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

static inline void ircache__cancel_restore(int old)
{
    int ignored;
    (void)pthread_setcancelstate(old, &ignored);
}

#endif
