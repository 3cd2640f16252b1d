/* error.c - one table gives the codes' texts; the last error is per thread
 * so that concurrent callers never see each other's messages. */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r, which fills a buffer */

#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define IRCACHE_ERRORS(X)                                   \
    X(IRCACHE_EINVAL, "invalid argument")                   \
    X(IRCACHE_ENOMEM, "out of memory")                      \
    X(IRCACHE_EIO, "input/output error")                    \
    X(IRCACHE_EDISABLED, "the cache is disabled")

/* Long enough for a path of PATH_MAX bytes plus the system's reason. */
#define LAST_ERROR_SIZE 4352

static _Thread_local char last_error[LAST_ERROR_SIZE];
static _Thread_local int last_errno;

IRCACHE_API const char *ircache_strerror(int code)
{
    if (code == 0)
        return "success";
#define IRCACHE_ERROR_CASE(name, text) \
    if (code == name)                  \
        return text;
    IRCACHE_ERRORS(IRCACHE_ERROR_CASE)
#undef IRCACHE_ERROR_CASE
    return "unknown error";
}

IRCACHE_API const char *ircache_last_error(void)
{
    return last_error;
}

IRCACHE_API int ircache_last_errno(void)
{
    return last_errno;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void record(int code, int err, const char *fmt, va_list ap)
{
    int n = snprintf(last_error, sizeof last_error, "%s: ", ircache_strerror(code));
    if (n < 0 || (size_t)n >= sizeof last_error)
        return;
    int m = vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    if (err != 0 && m >= 0 && (size_t)(n + m) < sizeof last_error) {
        char reason[256];
        snprintf(last_error + n + m, sizeof last_error - (size_t)(n + m), ": %s",
                 strerror_r(err, reason, sizeof reason) == 0 ? reason : "unknown system error");
    }
    last_errno = err;
}

int ircache__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int ircache__fail_errno(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(IRCACHE_EIO, err, fmt, ap);
    va_end(ap);
    return IRCACHE_EIO;
}
