/* error.h - the error table and the thread-local last error. */
#ifndef IRCACHE_ERROR_H
#define IRCACHE_ERROR_H

#include "ircache.h"

/* Records code with a printf-style detail as this thread's last error and
 * returns code, so that callers can write `return ircache__fail(...)`. */
int ircache__fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* As ircache__fail for a failed system call: appends strerror(err) to the
 * detail and records err for ircache_last_errno(). Returns IRCACHE_EIO. */
int ircache__fail_errno(int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
