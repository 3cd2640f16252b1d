/* error.c - one table gives the codes' texts; the last error is per thread
 * so that concurrent callers never see each other's messages. */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r, which fills a buffer */

#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define IRCACHE_ERRORS(X)                                   \
    X(IRCACHE_EINVAL, "invalid argument")                   \
    X(IRCACHE_ENOMEM, "out of memory")                      \
    X(IRCACHE_EIO, "input/output error")                    \
    X(IRCACHE_EDISABLED, "the cache is disabled")

/* Long enough for a path of PATH_MAX bytes plus the system's reason. The
 * buffer is allocated on a thread's first failure, so that the library's
 * thread-local data stays a few bytes: small enough for the static TLS
 * space glibc keeps for libraries loaded with dlopen. */
#define LAST_ERROR_SIZE 4352
#define FALLBACK_SIZE 96 /* when even that allocation failed */

static _Thread_local char *last_error;
static _Thread_local char fallback[FALLBACK_SIZE];
static _Thread_local int last_errno;

static pthread_key_t buffer_key;
static pthread_once_t buffer_key_once = PTHREAD_ONCE_INIT;
static int buffer_key_ok;

/* At thread exit. Later key destructors of this thread may still fail a
 * call: they then get a fresh buffer, never the freed one. */
static void free_buffer(void *text)
{
    if (last_error == text)
        last_error = NULL;
    free(text);
}

static void make_buffer_key(void)
{
    buffer_key_ok = pthread_key_create(&buffer_key, free_buffer) == 0;
}

/* This thread's message buffer, and its size. */
static char *buffer(size_t *size)
{
    if (last_error == NULL) {
        (void)pthread_once(&buffer_key_once, make_buffer_key);
        char *fresh = buffer_key_ok ? malloc(LAST_ERROR_SIZE) : NULL;
        if (fresh != NULL && pthread_setspecific(buffer_key, fresh) == 0) {
            last_error = fresh;
        } else {
            free(fresh);
            *size = sizeof fallback;
            return fallback;
        }
    }
    *size = LAST_ERROR_SIZE;
    return last_error;
}

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
    if (last_error != NULL && last_error[0] != '\0')
        return last_error;
    return fallback;
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
    size_t size;
    char *text = buffer(&size);
    if (text != fallback)
        fallback[0] = '\0'; /* the buffer holds the newest message now */
    last_errno = err;
    int n = snprintf(text, size, "%s: ", ircache_strerror(code));
    if (n < 0 || (size_t)n >= size)
        return;
    int m = vsnprintf(text + n, size - (size_t)n, fmt, ap);
    if (err != 0 && m >= 0 && (size_t)(n + m) < size) {
        char reason[256];
        snprintf(text + n + m, size - (size_t)(n + m), ": %s",
                 strerror_r(err, reason, sizeof reason) == 0 ? reason : "unknown system error");
    }
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
