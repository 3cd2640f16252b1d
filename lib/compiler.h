/* compiler.h - hints for the hot path, empty where unsupported. */
#ifndef IRCACHE_COMPILER_H
#define IRCACHE_COMPILER_H

#if defined(__GNUC__)
#define IRCACHE__LIKELY(x) __builtin_expect(!!(x), 1)
#define IRCACHE__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define IRCACHE__COLD __attribute__((cold, noinline))
#define IRCACHE__ALWAYS_INLINE inline __attribute__((always_inline))
#define IRCACHE__NOINLINE __attribute__((noinline))
/* Tells the optimiser a fact it cannot prove, to drop a redundant test. */
#define IRCACHE__ASSUME(x)           \
    do {                             \
        if (!(x))                    \
            __builtin_unreachable(); \
    } while (0)
#else
#define IRCACHE__LIKELY(x) (x)
#define IRCACHE__UNLIKELY(x) (x)
#define IRCACHE__COLD
#define IRCACHE__ALWAYS_INLINE inline
#define IRCACHE__NOINLINE
#define IRCACHE__ASSUME(x) ((void)0)
#endif

#endif
