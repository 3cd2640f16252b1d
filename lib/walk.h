/* walk.h - the one traversal every dump uses: pre-order from the root,
 * successors most recently used first, with an explicit stack so that a
 * trace of any depth fits in any thread's stack. */
#ifndef IRCACHE_WALK_H
#define IRCACHE_WALK_H

#include "cache.h"

/* Calls visit(n, ctx) for the root and then every node (cache lock held).
 * visit returns 0 to go on, or a negative code that stops the walk.
 * Returns 0, visit's code, or IRCACHE_ENOMEM. */
int ircache__walk(ircache *c, int (*visit)(const ircache__node *n, void *ctx), void *ctx);

#endif
