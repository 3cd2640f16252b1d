/* alloc.c - thin wrappers over the C allocator, plus the fault injector. */
#include "alloc.h"

#include <stdlib.h>

#ifdef IRCACHE_FAULT_INJECTION
#include <stdatomic.h>

static _Atomic long fault_countdown;
static _Atomic long fault_attempts;
static _Atomic int fault_sticky;

long ircache__fault_inject(long countdown, int sticky)
{
    atomic_store(&fault_countdown, countdown);
    atomic_store(&fault_sticky, sticky);
    return atomic_exchange(&fault_attempts, 0);
}

static int should_fail(void)
{
    atomic_fetch_add(&fault_attempts, 1);
    long left = atomic_load(&fault_countdown);
    while (left > 0) {
        long next = (left == 1 && atomic_load(&fault_sticky)) ? 1 : left - 1;
        if (atomic_compare_exchange_weak(&fault_countdown, &left, next))
            return left == 1;
    }
    return 0;
}
#else
static int should_fail(void)
{
    return 0;
}
#endif

void *ircache__malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size ? size : 1);
}

void *ircache__calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *ircache__aligned_alloc(size_t align, size_t size)
{
    size_t rounded = (size + align - 1) / align * align;
    if (rounded < size)
        return NULL;
    return should_fail() ? NULL : aligned_alloc(align, rounded ? rounded : align);
}

void ircache__free(void *p)
{
    free(p);
}
