/* check.h - the assertions of the C tests: each failure prints file:line and
 * both values, and the test binary exits non-zero at the end. */
#ifndef IRCACHE_TEST_CHECK_H
#define IRCACHE_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            check_failures++;                                             \
        }                                                                 \
    } while (0)

#define CHECK(cond) CHECK_MSG(cond, "%s", #cond)

#define CHECK_INT(actual, expected)                                                     \
    do {                                                                                \
        long long check_a_ = (long long)(actual), check_e_ = (long long)(expected);     \
        CHECK_MSG(check_a_ == check_e_, "%s is %lld, expected %lld", #actual, check_a_, \
                  check_e_);                                                            \
    } while (0)

#define CHECK_U64(actual, expected)                                                        \
    do {                                                                                   \
        uint64_t check_a_ = (uint64_t)(actual), check_e_ = (uint64_t)(expected);           \
        CHECK_MSG(check_a_ == check_e_, "%s is %" PRIu64 ", expected %" PRIu64, #actual,   \
                  check_a_, check_e_);                                                     \
    } while (0)

#define CHECK_PTR(actual, expected)                                                          \
    do {                                                                                     \
        const void *check_a_ = (actual), *check_e_ = (expected);                             \
        CHECK_MSG(check_a_ == check_e_, "%s is %p, expected %p", #actual, check_a_, check_e_); \
    } while (0)

#define CHECK_STR(actual, expected)                                                         \
    do {                                                                                    \
        const char *check_a_ = (actual), *check_e_ = (expected);                            \
        CHECK_MSG(check_a_ != NULL && strcmp(check_a_, check_e_) == 0,                      \
                  "%s is \"%s\", expected \"%s\"", #actual, check_a_ ? check_a_ : "(null)", \
                  check_e_);                                                                \
    } while (0)

/* Contains: the haystack holds the needle. */
#define CHECK_CONTAINS(haystack, needle)                                                         \
    do {                                                                                         \
        const char *check_h_ = (haystack), *check_n_ = (needle);                                 \
        CHECK_MSG(check_h_ != NULL && strstr(check_h_, check_n_) != NULL,                        \
                  "%s is \"%s\", which lacks \"%s\"", #haystack, check_h_ ? check_h_ : "(null)", \
                  check_n_);                                                                     \
    } while (0)

/* A fatal check: the rest of the test would only crash. */
#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define RUN(test)                                 \
    do {                                          \
        int check_before_ = check_failures;       \
        test();                                   \
        fprintf(stderr, "%s %s\n",                \
                check_failures == check_before_ ? "ok  " : "FAIL", #test); \
    } while (0)

static inline int check_exit_code(void)
{
    return check_failures == 0 ? 0 : 1;
}

#endif
