/* alloc.h - every allocation of the library goes through here, so that one
 * switch can make the N-th allocation fail in the fault-injection tests. */
#ifndef IRCACHE_ALLOC_H
#define IRCACHE_ALLOC_H

#include <stddef.h>

void *ircache__malloc(size_t size);
void *ircache__calloc(size_t count, size_t size);
/* size is rounded up to a multiple of align. */
void *ircache__aligned_alloc(size_t align, size_t size);
void ircache__free(void *p);

#ifdef IRCACHE_FAULT_INJECTION
/* Test builds only: the countdown-th allocation from now fails (1 = the
 * next one), and so does every later one while *sticky* is set; 0 disables.
 * Returns how many allocations were attempted since the last call. */
long ircache__fault_inject(long countdown, int sticky);
#endif

#endif
